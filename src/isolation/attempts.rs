//! The cross-tenant attempts, generated from the catalog: as user A (or `anon`) against user
//! B, SELECT, UPDATE and DELETE B's rows of every exposed table, INSERT rows that belong to B or
//! hang under B's parent rows, read every view, and call every function with B's ids (and with
//! A's own ids and a negative amount).
//!
//! Each attempt is one transaction on the owner's connection, at REPEATABLE READ so that what
//! the owner reads before and after the attack is one snapshot plus the attack's own effect:
//! the owner picks B's rows, `SET LOCAL ROLE` becomes the attacker exactly as the API does, the
//! attack runs, `RESET ROLE` returns to the owner, who measures what the attack saw or changed;
//! then everything is rolled back, so the next attempt starts from the same data.

use super::catalog::{Catalog, Function, Relation};
use crate::Stop;
use crate::error::{Error, Result};
use crate::pg::actor::Actor;
use crate::report::isolation_model::{Attempt, Outcome};
use tokio_postgres::Client;
use uuid::Uuid;

/// An attacker and the user it goes after.
#[derive(Debug, Clone)]
pub struct Pair {
    pub actor: Actor,
    /// "A", "B", … or "anon".
    pub actor_label: String,
    pub victim: Uuid,
    pub victim_label: String,
}

impl Pair {
    fn actor_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::User(id) => Some(id),
            Actor::Owner | Actor::Anon => None,
        }
    }
}

/// What one attack statement did, before it is judged.
enum Attack {
    /// The statement failed: the SQLSTATE and message.
    Refused(String),
    /// It ran; what the owner measured afterwards.
    Ran(Measured),
}

enum Measured {
    /// Rows seen or touched that are not the attacker's.
    Foreign(u64),
    /// The victim's tables whose rows changed.
    Moved(Vec<String>),
}

/// Runs every attempt of every pair; returns them in order, and warnings about objects that
/// could not be attacked (no owner, an argument type loadtest cannot make).
pub async fn run(
    client: &Client,
    cat: &Catalog,
    pairs: &[Pair],
    stop: &Stop,
) -> Result<(Vec<Attempt>, Vec<String>)> {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for pair in pairs {
        for rel in &cat.relations {
            stop.check(Ok(()))?;
            if rel.owner.is_none() {
                if pair.actor_label == "anon" {
                    warnings.push(format!(
                        "{}: no column leads to auth.users, so whose rows are whose is unknown: \
                         not attacked",
                        rel.name
                    ));
                }
                continue;
            }
            if rel.view {
                out.push(view_select(client, rel, pair).await?);
            } else {
                out.extend(table(client, rel, pair).await?);
            }
        }
        for f in &cat.functions {
            stop.check(Ok(()))?;
            if f.returns == "trigger" || f.returns == "event_trigger" {
                continue;
            }
            if let Some(ty) = f.arg_types.iter().find(|t| argument(t, None, 1).is_none()) {
                if pair.actor_label == "anon" {
                    warnings.push(format!(
                        "{}: cannot make an argument of type {ty}: not called",
                        f.name
                    ));
                }
                continue;
            }
            out.push(rpc(client, cat, f, pair, false).await?);
            if pair.actor_id().is_some() && f.arg_types.iter().any(|t| numeric(t)) {
                out.push(rpc(client, cat, f, pair, true).await?);
            }
        }
    }
    Ok((out, warnings))
}

fn db(what: &str) -> impl FnOnce(tokio_postgres::Error) -> Error {
    Error::db(what)
}

async fn begin(client: &Client) -> Result<()> {
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .map_err(db("cannot open an attempt's transaction"))
}

async fn rollback(client: &Client) -> Result<()> {
    client
        .batch_execute("ROLLBACK")
        .await
        .map_err(db("cannot roll an attempt back"))
}

/// Becomes the attacker inside the open transaction.
async fn become_actor(client: &Client, actor: Actor) -> Result<()> {
    if let Some(sql) = actor.enter() {
        client
            .batch_execute(&sql)
            .await
            .map_err(db("cannot switch to the API role (SET ROLE)"))?;
    }
    Ok(())
}

async fn back_to_owner(client: &Client) -> Result<()> {
    client
        .batch_execute("RESET ROLE")
        .await
        .map_err(db("cannot switch back from the API role"))
}

fn refused(e: &tokio_postgres::Error) -> Attack {
    Attack::Refused(crate::pg::describe(e))
}

fn attempt(pair: &Pair, action: &str, object: &str, attack: Attack, what: &str) -> Attempt {
    let (outcome, detail) = match attack {
        Attack::Refused(why) => (Outcome::Blocked, format!("refused: {why}")),
        Attack::Ran(Measured::Foreign(0)) => {
            (Outcome::Blocked, format!("no row of another user {what}"))
        }
        Attack::Ran(Measured::Foreign(n)) => {
            (Outcome::Leaked, format!("{n} row(s) of other users {what}"))
        }
        Attack::Ran(Measured::Moved(m)) if m.is_empty() => (
            Outcome::Blocked,
            format!("nothing of {} moved", pair.victim_label),
        ),
        Attack::Ran(Measured::Moved(m)) => (Outcome::Leaked, m.join("; ")),
    };
    Attempt {
        actor: pair.actor_label.clone(),
        victim: pair.victim_label.clone(),
        action: action.to_string(),
        object: object.to_string(),
        outcome,
        detail,
    }
}

/// Every attempt on one table: read, change, delete and insert B's rows.
async fn table(client: &Client, rel: &Relation, pair: &Pair) -> Result<Vec<Attempt>> {
    let owner = rel.owner.as_deref().unwrap_or("NULL");
    let mut out = Vec::new();
    // SELECT: every row the attacker sees, then how many of them are not its own.
    begin(client).await?;
    become_actor(client, pair.actor).await?;
    let seen = client
        .query(&format!("SELECT t.ctid::text FROM {} t", rel.sql), &[])
        .await;
    let attack = match seen {
        Err(e) => refused(&e),
        Ok(rows) => {
            let ctids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            back_to_owner(client).await?;
            let n: i64 = client
                .query_one(
                    &format!(
                        "SELECT count(*) FROM {} t WHERE t.ctid = ANY($1::text[]::tid[]) AND \
                         ({owner}) IS DISTINCT FROM $2",
                        rel.sql
                    ),
                    &[&ctids, &pair.actor_id()],
                )
                .await
                .map_err(db("cannot check whose rows an attempt saw"))?
                .get(0);
            Attack::Ran(Measured::Foreign(n as u64))
        }
    };
    rollback(client).await?;
    out.push(attempt(pair, "select", &rel.name, attack, "seen"));

    let Some(column) = rel.columns.iter().find(|c| !c.generated) else {
        return Ok(out);
    };
    let set = crate::pg::quote_ident(&column.name);
    for (action, sql) in [
        (
            "update",
            format!(
                "UPDATE {} t SET {set} = t.{set} WHERE t.ctid = ANY($1::text[]::tid[])",
                rel.sql
            ),
        ),
        (
            "delete",
            format!(
                "DELETE FROM {} t WHERE t.ctid = ANY($1::text[]::tid[])",
                rel.sql
            ),
        ),
    ] {
        begin(client).await?;
        let victims = victim_ctids(client, rel, pair.victim).await?;
        if victims.is_empty() {
            rollback(client).await?;
            continue;
        }
        become_actor(client, pair.actor).await?;
        let attack = match client.execute(&sql, &[&victims]).await {
            Err(e) => refused(&e),
            Ok(n) => Attack::Ran(Measured::Foreign(n)),
        };
        rollback(client).await?;
        let what = if action == "update" {
            "changed"
        } else {
            "deleted"
        };
        out.push(attempt(pair, action, &rel.name, attack, what));
    }

    // INSERT a copy of one of B's rows: owned by B, or (without an owner column) under B's
    // parent row; then, as a user, one of A's own rows under each of B's parent rows.
    let direct = rel.owner_column.is_some();
    let action = if direct {
        "insert-as-victim"
    } else {
        "insert-under-victim-parent"
    };
    out.extend(insert(client, rel, pair, action, None).await?);
    if let (Some(col), Some(me)) = (&rel.owner_column, pair.actor_id())
        && !rel.owned_parents.is_empty()
    {
        let parents: Vec<String> = rel
            .owned_parents
            .iter()
            .map(|(fk, parent)| format!("{parent} ({fk})"))
            .collect();
        let a = insert(
            client,
            rel,
            pair,
            "insert-under-victim-parent",
            Some((col, me)),
        )
        .await?;
        out.extend(a.map(|mut x| {
            x.detail = format!(
                "own row under {}'s {}: {}",
                pair.victim_label,
                parents.join(", "),
                x.detail
            );
            x
        }));
    }
    Ok(out)
}

async fn victim_ctids(client: &Client, rel: &Relation, victim: Uuid) -> Result<Vec<String>> {
    let owner = rel.owner.as_deref().unwrap_or("NULL");
    let rows = client
        .query(
            &format!(
                "SELECT t.ctid::text FROM {} t WHERE ({owner}) = $1",
                rel.sql
            ),
            &[&victim],
        )
        .await
        .map_err(db("cannot read the victim's rows"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Inserts a copy of one of the victim's rows, its unique columns made fresh; with `own`, the
/// owner column set to the attacker. An insert that succeeds leaked; one stopped only by a
/// constraint (the policy let it through) is blocked but says so.
async fn insert(
    client: &Client,
    rel: &Relation,
    pair: &Pair,
    action: &str,
    own: Option<(&String, Uuid)>,
) -> Result<Option<Attempt>> {
    let owner = rel.owner.as_deref().unwrap_or("NULL");
    begin(client).await?;
    let row = client
        .query_opt(
            &format!(
                "SELECT to_jsonb(t) FROM {} t WHERE ({owner}) = $1 ORDER BY t.ctid LIMIT 1",
                rel.sql
            ),
            &[&pair.victim],
        )
        .await
        .map_err(db("cannot read a victim's row"))?;
    let Some(row) = row else {
        rollback(client).await?;
        return Ok(None);
    };
    let mut json: serde_json::Value = row.get(0);
    let mut columns = Vec::new();
    if let Some(obj) = json.as_object_mut() {
        for c in &rel.columns {
            if c.generated || (c.unique && c.has_default) {
                obj.remove(&c.name);
                continue;
            }
            if c.unique
                && c.textual
                && Some(&c.name) != rel.owner_column.as_ref()
                && let Some(serde_json::Value::String(v)) = obj.get_mut(&c.name)
            {
                v.push_str("-loadtest");
            }
            if let Some((col, me)) = own
                && &c.name == col
            {
                obj.insert(c.name.clone(), serde_json::Value::String(me.to_string()));
            }
            if obj.contains_key(&c.name) {
                columns.push(crate::pg::quote_ident(&c.name));
            }
        }
    }
    let list = columns.join(", ");
    let sql = format!(
        "INSERT INTO {} ({list}) SELECT {list} FROM jsonb_populate_record(NULL::{}, $1::jsonb)",
        rel.sql, rel.sql
    );
    become_actor(client, pair.actor).await?;
    let attack = match client.execute(&sql, &[&json]).await {
        Err(e) if e.code().is_some_and(|c| c.code().starts_with("23")) => Attack::Refused(format!(
            "{} (the policy let the row through; only a constraint stopped it)",
            crate::pg::describe(&e)
        )),
        Err(e) => refused(&e),
        Ok(n) => Attack::Ran(Measured::Foreign(n)),
    };
    rollback(client).await?;
    Ok(Some(attempt(pair, action, &rel.name, attack, "inserted")))
}

/// Reads a view as the attacker and counts the rows whose owner column is not the attacker.
async fn view_select(client: &Client, rel: &Relation, pair: &Pair) -> Result<Attempt> {
    let owner = rel.owner.as_deref().unwrap_or("NULL");
    begin(client).await?;
    become_actor(client, pair.actor).await?;
    let attack = match client
        .query_one(
            &format!(
                "SELECT count(*) FILTER (WHERE ({owner}) IS DISTINCT FROM $1) FROM {} t",
                rel.sql
            ),
            &[&pair.actor_id()],
        )
        .await
    {
        Err(e) => refused(&e),
        Ok(r) => Attack::Ran(Measured::Foreign(r.get::<_, i64>(0) as u64)),
    };
    rollback(client).await?;
    Ok(attempt(pair, "select", &rel.name, attack, "seen"))
}

fn numeric(ty: &str) -> bool {
    matches!(
        ty,
        "integer" | "bigint" | "smallint" | "numeric" | "real" | "double precision"
    )
}

/// An argument of a type as an SQL literal: `id` for uuid arguments, `amount` for numbers.
fn argument(ty: &str, id: Option<Uuid>, amount: i32) -> Option<String> {
    Some(match ty {
        "uuid" => format!("'{}'::uuid", id.unwrap_or(Uuid::nil())),
        t if numeric(t) => format!("({amount})::{t}"),
        "text" | "character varying" => "'loadtest'::text".into(),
        "boolean" => "true".into(),
        "jsonb" | "json" => format!("'{{}}'::{ty}"),
        "timestamp with time zone" | "timestamp without time zone" | "date" => {
            format!("now()::{ty}")
        }
        _ => return None,
    })
}

/// A user's ids that a function may take: the user's own id, then the `id` of one of the
/// user's rows in every owned table.
async fn ids_of(client: &Client, cat: &Catalog, user: Uuid) -> Result<Vec<(String, Uuid)>> {
    let mut out = vec![("auth.users id".to_string(), user)];
    for rel in cat
        .relations
        .iter()
        .filter(|r| !r.view && r.owner.is_some())
    {
        if !rel.columns.iter().any(|c| c.name == "id" && c.ty == "uuid") {
            continue;
        }
        let owner = rel.owner.as_deref().unwrap_or("NULL");
        let row = client
            .query_opt(
                &format!(
                    "SELECT t.id FROM {} t WHERE ({owner}) = $1 ORDER BY t.id LIMIT 1",
                    rel.sql
                ),
                &[&user],
            )
            .await
            .map_err(db("cannot read a user's ids"))?;
        if let Some(r) = row {
            out.push((format!("{} id", rel.name), r.get(0)));
        }
    }
    Ok(out)
}

/// One digest per owned table of a user's rows, in catalog order.
fn digest_sql(cat: &Catalog) -> (String, Vec<String>) {
    let owned: Vec<&Relation> = cat
        .relations
        .iter()
        .filter(|r| !r.view && r.owner.is_some())
        .collect();
    let parts: Vec<String> = owned
        .iter()
        .map(|r| {
            format!(
                "(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {} t \
                 WHERE ({}) = $1)",
                r.sql,
                r.owner.as_deref().unwrap_or("NULL")
            )
        })
        .collect();
    let sql = if parts.is_empty() {
        "SELECT ARRAY[]::text[] WHERE $1::uuid IS NOT NULL".to_string()
    } else {
        format!("SELECT ARRAY[{}]", parts.join(", "))
    };
    (sql, owned.iter().map(|r| r.name.clone()).collect())
}

async fn digest(client: &Client, sql: &str, user: Uuid) -> Result<Vec<String>> {
    Ok(client
        .query_one(sql, &[&user])
        .await
        .map_err(db("cannot digest a user's rows"))?
        .get::<_, Vec<Option<String>>>(0)
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

/// Calls a function with each of the victim's ids (or, `negative`, each of the attacker's own
/// ids with every number -1) and reports whose rows moved.
async fn rpc(
    client: &Client,
    cat: &Catalog,
    f: &Function,
    pair: &Pair,
    negative: bool,
) -> Result<Attempt> {
    let (target, label, amount, action) = match (negative, pair.actor_id()) {
        (true, Some(me)) => (me, pair.actor_label.clone(), -1, "rpc-negative-own"),
        _ => (pair.victim, pair.victim_label.clone(), 1, "rpc-victim-ids"),
    };
    let (dsql, tables) = digest_sql(cat);
    let ids = ids_of(client, cat, target).await?;
    let mut refusals = Vec::new();
    let mut moved = Vec::new();
    let uuid_names: Vec<String> = f
        .arg_types
        .iter()
        .enumerate()
        .filter(|(_, t)| *t == "uuid")
        .map(|(i, _)| {
            f.arg_names
                .get(i)
                .cloned()
                .filter(|n| !n.is_empty())
                .unwrap_or(format!("${}", i + 1))
        })
        .collect();
    let candidates: Vec<(String, Uuid)> = if uuid_names.is_empty() {
        vec![("no id".into(), target)]
    } else {
        ids
    };
    for (what, id) in &candidates {
        let args: Vec<String> = f
            .arg_types
            .iter()
            .map(|t| argument(t, Some(*id), amount).unwrap_or_default())
            .collect();
        let sql = format!("SELECT {}({})", f.sql, args.join(", "));
        begin(client).await?;
        let before = digest(client, &dsql, target).await?;
        become_actor(client, pair.actor).await?;
        if let Err(e) = client.batch_execute(&sql).await {
            refusals.push(crate::pg::describe(&e));
            rollback(client).await?;
            continue;
        }
        back_to_owner(client).await?;
        let after = digest(client, &dsql, target).await?;
        rollback(client).await?;
        let changed: Vec<&str> = tables
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (b, a))| b != a)
            .map(|(t, _)| t.as_str())
            .collect();
        if !changed.is_empty() {
            let with = if uuid_names.is_empty() {
                String::new()
            } else {
                format!("with {} = {label}'s {what}", uuid_names.join(", "))
            };
            let amounts = if negative { ", amounts -1" } else { "" };
            moved.push(format!(
                "{with}{amounts}: {label}'s rows of {} changed",
                changed.join(", ")
            ));
            break;
        }
    }
    let attack = if moved.is_empty() && refusals.len() == candidates.len() {
        Attack::Refused(refusals.first().cloned().unwrap_or_default())
    } else {
        Attack::Ran(Measured::Moved(moved))
    };
    let mut a = attempt(pair, action, &f.name, attack, "");
    if a.outcome == Outcome::Blocked && !refusals.is_empty() && refusals.len() < candidates.len() {
        a.detail = format!(
            "{} ({} of {} calls refused, e.g. {})",
            a.detail,
            refusals.len(),
            candidates.len(),
            refusals[0]
        );
    }
    if a.outcome == Outcome::Blocked && negative {
        a.detail = format!("own ids, amounts -1: {}", a.detail);
    }
    Ok(a)
}
