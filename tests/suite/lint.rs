//! The schema lint: foreign keys without an index that serves them are found, indexed ones
//! (including by a usable partial index) are not.

use crate::util::*;

#[tokio::test(flavor = "multi_thread")]
async fn unindexed_foreign_keys_are_found_and_indexed_ones_are_not() {
    let client = fresh_db().await;
    client
        .batch_execute(
            "CREATE TABLE parent (id int PRIMARY KEY, a int, b int, UNIQUE (a, b));
             CREATE TABLE indexed (p int REFERENCES parent, x int);
             CREATE INDEX ON indexed (p, x);
             CREATE TABLE bare (p int REFERENCES parent);
             CREATE TABLE wrong_order (a int, b int, FOREIGN KEY (a, b) REFERENCES parent (a, b));
             CREATE INDEX ON wrong_order (b, a);
             CREATE TABLE partial_ok (p int REFERENCES parent);
             CREATE INDEX ON partial_ok (p) WHERE p IS NOT NULL;
             CREATE TABLE partial_bad (p int REFERENCES parent, open bool);
             CREATE INDEX partial_bad_open ON partial_bad (p) WHERE open;",
        )
        .await
        .unwrap();
    let found = loadtest::pg::lint::unindexed_foreign_keys(&client)
        .await
        .unwrap();
    let tables: Vec<&str> = found.iter().map(|f| f.table.as_str()).collect();
    assert_eq!(tables, ["bare", "partial_bad", "wrong_order"], "{found:?}");
    assert_eq!(found[2].columns, ["a", "b"]);
    assert!(
        found[1]
            .partial_index_not_counted
            .as_deref()
            .unwrap()
            .starts_with("partial_bad_open WHERE")
    );
    assert_eq!(found[0].references, "parent");
}
