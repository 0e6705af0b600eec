//! The Supabase compatibility layer (`src/pg/compat.sql`) called for real: `auth.uid()`,
//! `auth.role()`, `auth.email()` and `auth.jwt()` read the request's JWT claims as PostgREST
//! sets them (the `request.jwt.claims` JSON, and the older one-setting-per-claim form), and a
//! policy written with them lets the `authenticated` role see its own rows only.

use crate::util::*;

#[tokio::test]
async fn auth_functions_read_the_claims_and_policies_use_them() {
    let out = run(&[
        "migrate",
        "--keep",
        "--quiet",
        "--database-url",
        &shared().url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let kept = kept_db(&stderr(&out));
    let mut db = connect(&kept).await;
    let (alice, bob) = (
        "00000000-0000-4000-8000-00000000a11c",
        "00000000-0000-4000-8000-000000000b0b",
    );
    db.batch_execute(&format!(
        "CREATE TABLE public.notes (owner uuid NOT NULL, body text);
         ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY own ON public.notes FOR SELECT TO authenticated
           USING (owner = (select auth.uid()) AND (select auth.role()) = 'authenticated');
         GRANT SELECT ON public.notes TO authenticated;
         INSERT INTO public.notes VALUES ('{alice}', 'a1'), ('{alice}', 'a2'), ('{bob}', 'b1');"
    ))
    .await
    .unwrap();
    // No claims: nobody.
    let row = db
        .query_one(
            "SELECT auth.uid()::text, auth.role(), auth.jwt()::text",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<String>>(0), None);
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert_eq!(row.get::<_, Option<String>>(2), None);
    // As PostgREST does: the claims as JSON for the transaction, then the role.
    let claims =
        format!(r#"{{"sub": "{alice}", "role": "authenticated", "email": "alice@example.test"}}"#);
    let tx = db.transaction().await.unwrap();
    tx.execute(
        "SELECT set_config('request.jwt.claims', $1, true)",
        &[&claims],
    )
    .await
    .unwrap();
    tx.batch_execute("SET LOCAL ROLE authenticated")
        .await
        .unwrap();
    let row = tx
        .query_one(
            "SELECT auth.uid()::text, auth.role(), auth.email(), auth.jwt() ->> 'sub', \
                (SELECT string_agg(body, ',' ORDER BY body) FROM public.notes)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), alice);
    assert_eq!(row.get::<_, String>(1), "authenticated");
    assert_eq!(row.get::<_, String>(2), "alice@example.test");
    assert_eq!(row.get::<_, String>(3), alice);
    assert_eq!(row.get::<_, String>(4), "a1,a2", "alice sees her rows only");
    tx.rollback().await.unwrap();
    // The older form: one setting per claim.
    let tx = db.transaction().await.unwrap();
    tx.execute(
        "SELECT set_config('request.jwt.claim.sub', $1, true), \
                set_config('request.jwt.claim.role', 'authenticated', true)",
        &[&bob],
    )
    .await
    .unwrap();
    tx.batch_execute("SET LOCAL ROLE authenticated")
        .await
        .unwrap();
    let row = tx
        .query_one(
            "SELECT auth.uid()::text, auth.role(), \
                (SELECT string_agg(body, ',') FROM public.notes)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), bob);
    assert_eq!(row.get::<_, String>(1), "authenticated");
    assert_eq!(row.get::<_, String>(2), "b1");
    tx.rollback().await.unwrap();
    drop(db);
    drop_db(&kept).await;
}
