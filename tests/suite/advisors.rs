//! loadtest's static lints against the Supabase CLI's database advisors (splinter) on the same
//! database: the app schema plus a migration with one defect (and one clean twin) for each lint
//! both implement. The CLI (`supabase@3.1.0` from npm; `.ci/run` installs it) must be on PATH:
//! without it this test fails and says how to install it, since a cross-check that silently
//! skipped would prove nothing. The deliberate differences are asserted as such and listed in
//! README ("Against the Supabase CLI's advisors").

use crate::util::*;
use loadtest::isolation::{catalog, lints};
use loadtest::pg::{compat, migrate};
use loadtest::report::isolation_model::Finding;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const VERSION: &str = "3.1.0";

/// One defect per lint, each beside a twin that must not be flagged.
const DEFECTS: &str = r#"
CREATE TABLE public.open_notes (id int PRIMARY KEY, body text);
GRANT SELECT, INSERT ON public.open_notes TO anon, authenticated;
CREATE TABLE public.private_ledger (id int PRIMARY KEY);
REVOKE ALL ON public.private_ledger FROM anon, authenticated;

CREATE VIEW public.all_executions AS SELECT id, user_id, status FROM public.workforce_executions;
GRANT SELECT ON public.all_executions TO authenticated;
CREATE VIEW public.invoker_view WITH (security_invoker = true) AS
    SELECT id FROM public.workforce_executions;
CREATE VIEW public.hidden_definer_view AS SELECT id FROM public.private_ledger;
REVOKE ALL ON public.hidden_definer_view FROM anon, authenticated;

CREATE FUNCTION public.loose_path(p int) RETURNS int LANGUAGE sql AS $$ SELECT p + 1 $$;
CREATE FUNCTION public.fixed_path(p int) RETURNS int LANGUAGE sql SET search_path = ''
    AS $$ SELECT p + 1 $$;
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE FUNCTION public.private_fn(p int) RETURNS int LANGUAGE sql AS $$ SELECT p $$;
REVOKE ALL ON FUNCTION public.private_fn(int) FROM PUBLIC, anon, authenticated;

CREATE TABLE public.wide_open (id int PRIMARY KEY, user_id uuid);
ALTER TABLE public.wide_open ENABLE ROW LEVEL SECURITY;
GRANT ALL ON public.wide_open TO anon, authenticated;
CREATE POLICY "anyone writes" ON public.wide_open FOR INSERT WITH CHECK (true);
CREATE POLICY "anyone reads" ON public.wide_open FOR SELECT USING (true);
CREATE POLICY "anyone updates" ON public.wide_open FOR UPDATE USING (true) WITH CHECK (true);
CREATE POLICY "anyone deletes" ON public.wide_open FOR DELETE USING (true);
CREATE POLICY "own rows, once per query" ON public.wide_open FOR ALL
    USING ((select auth.uid()) = user_id);
"#;

/// The `supabase` binary on PATH at the pinned version, or a failure that says how to get it.
fn supabase_cli() -> PathBuf {
    let install = format!(
        "install it with `npm install -g supabase@{VERSION}` (Debian: `apt-get install -y npm` \
         first; `.ci/run` does both)"
    );
    let path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("supabase"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("the Supabase CLI (`supabase`) is not on PATH: {install}"));
    let out = Command::new(&path)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{} --version: {e}; {install}", path.display()));
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        version,
        VERSION,
        "{} is version {version:?}; the cross-check is pinned to {VERSION}: {install}",
        path.display()
    );
    path
}

/// `supabase db advisors --remote=<url> --type all --level info --output-format json` on the
/// test's database (over the shared server's socket), run in an empty folder so no project
/// config is picked up; its `results`.
fn advisors(cli: &PathBuf, db: &str) -> Vec<Value> {
    let url = format!(
        "postgres:///{db}?host={}&port=5432&user=postgres",
        shared().socket_dir.display()
    );
    // Output goes to files: a pipe nobody reads while waiting would fill and stall the CLI.
    let dir = tempfile::tempdir().unwrap();
    let (out_file, err_file) = (dir.path().join("out.json"), dir.path().join("err.txt"));
    let mut child = Command::new(cli)
        .args(["db", "advisors", &format!("--remote={url}")])
        .args([
            "--type",
            "all",
            "--level",
            "info",
            "--output-format",
            "json",
        ])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap())
        .spawn()
        .expect("start the Supabase CLI");
    let began = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if began.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("supabase db advisors ran for more than 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        status.success(),
        "supabase db advisors failed: {}\n{stdout}",
        std::fs::read_to_string(&err_file).unwrap_or_default()
    );
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("advisors output is not JSON ({e}): {stdout}"));
    v["results"].as_array().expect("advisors `results`").clone()
}

fn theirs<'a>(results: &'a [Value], name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    results.iter().filter(move |r| r["name"] == name)
}

/// `schema.name` of a result's object.
fn object(r: &Value) -> String {
    format!(
        "{}.{}",
        r["metadata"]["schema"].as_str().unwrap(),
        r["metadata"]["name"].as_str().unwrap()
    )
}

/// The policy a result's detail names: "… policy `name` …".
fn policy_in_detail(r: &Value) -> String {
    let d = r["detail"].as_str().unwrap();
    let start = d.find("policy `").expect("a policy in the detail") + "policy `".len();
    d[start..][..d[start..].find('`').unwrap()].to_string()
}

fn ours<'a>(found: &'a [Finding], kind: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
    found.iter().filter(move |f| f.kind == kind)
}

/// The names in a finding's cause between double quotes: its policies.
fn quoted(cause: &str) -> Vec<String> {
    cause
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn set<T: Ord>(i: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    i.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn static_lints_agree_with_the_supabase_cli_advisors() {
    // First, so a missing CLI fails before any database work.
    let cli = supabase_cli();
    let db = test_db_name();
    let client = fresh_db().await;
    compat::apply(&client).await.unwrap();
    let builtin = migrate::load_builtin().unwrap();
    migrate::apply(&client, &builtin, |_| {}).await.unwrap();
    client.batch_execute(DEFECTS).await.unwrap();
    let cat = catalog::read(&client, &["public".to_string()])
        .await
        .unwrap();
    let found = lints::lint(&cat);
    let results = tokio::task::spawn_blocking(move || advisors(&cli, &db))
        .await
        .unwrap();

    // auth.uid() per row ↔ auth_rls_initplan: the same policies on the same tables.
    let theirs_initplan =
        set(theirs(&results, "auth_rls_initplan").map(|r| (object(r), policy_in_detail(r))));
    let ours_initplan = set(ours(&found, "auth-uid-per-row")
        .flat_map(|f| quoted(&f.cause).into_iter().map(|p| (f.object.clone(), p))));
    assert!(theirs_initplan.len() >= 24, "{theirs_initplan:?}");
    assert_eq!(ours_initplan, theirs_initplan);
    assert!(
        !ours_initplan
            .iter()
            .any(|(_, p)| p == "own rows, once per query")
    );

    // Security definer views the API may read ↔ security_definer_view.
    let want = set(["public.all_executions".to_string()]);
    assert_eq!(
        set(theirs(&results, "security_definer_view").map(object)),
        want
    );
    assert_eq!(
        set(ours(&found, "security-definer-view").map(|f| f.object.clone())),
        want
    );

    // Tables without RLS the API roles are granted ↔ rls_disabled_in_public.
    let want = set(["public.open_notes".to_string()]);
    assert_eq!(
        set(theirs(&results, "rls_disabled_in_public").map(object)),
        want
    );
    assert_eq!(
        set(ours(&found, "rls-disabled").map(|f| f.object.clone())),
        want
    );

    // Functions without a fixed search_path ↔ function_search_path_mutable (splinter names
    // functions without their argument types), trigger and unexposed functions included.
    let want = set(["public.loose_path", "public.private_fn", "public.touch"].map(String::from));
    assert_eq!(
        set(theirs(&results, "function_search_path_mutable").map(object)),
        want
    );
    assert_eq!(
        set(ours(&found, "mutable-search-path")
            .map(|f| f.object[..f.object.find('(').unwrap()].to_string())),
        want
    );

    // Always-true policies ↔ rls_policy_always_true: every one splinter flags, loadtest flags;
    // loadtest also flags SELECT-only ones, which splinter leaves out on purpose (public reads).
    let theirs_open =
        set(theirs(&results, "rls_policy_always_true").map(|r| (object(r), policy_in_detail(r))));
    let ours_open =
        set(ours(&found, "always-true-policy")
            .map(|f| (f.object.clone(), quoted(&f.cause).remove(0))));
    assert!(
        theirs_open.is_subset(&ours_open),
        "splinter flags always-true policies loadtest does not: {:?}",
        theirs_open.difference(&ours_open).collect::<Vec<_>>()
    );
    let only_ours = set(ours_open.difference(&theirs_open).cloned());
    let select_only = set(cat
        .policies
        .iter()
        .filter(|p| p.cmd == "SELECT")
        .map(|p| (p.table.clone(), p.name.clone())));
    assert!(only_ours.is_subset(&select_only), "{only_ours:?}");
    for p in [
        ("public.wide_open", "anyone reads"),
        ("public.blog_comments", "Comments are public"),
    ] {
        assert!(
            only_ours.contains(&(p.0.to_string(), p.1.to_string())),
            "{only_ours:?}"
        );
    }
    assert_eq!(
        theirs_open,
        set([
            ("public.wide_open", "anyone writes"),
            ("public.wide_open", "anyone updates"),
            ("public.wide_open", "anyone deletes")
        ]
        .map(|(t, p)| (t.to_string(), p.to_string())))
    );
}
