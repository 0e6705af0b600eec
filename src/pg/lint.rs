//! Catalog checks on a migrated schema. For now: foreign keys without a supporting index, found
//! the way Supabase's database linter does — an index supports a foreign key when its leading
//! columns are the key's columns, in order. A partial index counts only when its predicate still
//! serves the key's lookups: `<key column> IS NOT NULL` does (a lookup by a parent's id never
//! looks for NULL); any other predicate does not, and the finding says so.

use tokio_postgres::Client;

/// One foreign key with no index to serve the lookups a DELETE or UPDATE of its parent makes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnindexedForeignKey {
    pub table: String,
    pub columns: Vec<String>,
    pub references: String,
    pub constraint: String,
    /// A partial index that leads with the key but whose predicate does not serve its lookups.
    pub partial_index_not_counted: Option<String>,
}

const QUERY: &str = r#"
WITH fk AS (
    SELECT c.oid, c.conname, c.conrelid, c.confrelid, c.conkey
    FROM pg_constraint c
    JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE c.contype = 'f'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'loadtest')
      AND n.nspname NOT LIKE 'pg_toast%'
),
candidates AS (
    SELECT fk.oid AS fk_oid, i.indexrelid, i.indpred IS NOT NULL AS partial,
           pg_get_expr(i.indpred, i.indrelid) AS predicate
    FROM fk
    JOIN pg_index i ON i.indrelid = fk.conrelid
    WHERE (i.indkey::int2[])[0:cardinality(fk.conkey) - 1] = fk.conkey
)
SELECT fk.conrelid::regclass::text AS tbl,
       array_agg(a.attname::text ORDER BY k.ord) AS cols,
       fk.confrelid::regclass::text AS refs,
       fk.conname::text,
       (SELECT array_agg(a2.attname::text) FROM unnest(fk.conkey) u(n)
          JOIN pg_attribute a2 ON a2.attrelid = fk.conrelid AND a2.attnum = u.n) AS keycols,
       (SELECT array_agg(c.indexrelid::regclass::text || '|' || coalesce(c.predicate, ''))
          FROM candidates c WHERE c.fk_oid = fk.oid) AS indexes
FROM fk
JOIN LATERAL unnest(fk.conkey) WITH ORDINALITY AS k(attnum, ord) ON true
JOIN pg_attribute a ON a.attrelid = fk.conrelid AND a.attnum = k.attnum
GROUP BY fk.oid, fk.conrelid, fk.confrelid, fk.conname, fk.conkey
ORDER BY 1, 4
"#;

/// Every foreign key of the database without a supporting index.
pub async fn unindexed_foreign_keys(
    client: &Client,
) -> Result<Vec<UnindexedForeignKey>, tokio_postgres::Error> {
    let rows = client.query(QUERY, &[]).await?;
    let mut out = Vec::new();
    for r in rows {
        let columns: Vec<String> = r.get(1);
        let indexes: Option<Vec<String>> = r.get(5);
        let mut partial_not_counted = None;
        let supported = indexes.unwrap_or_default().iter().any(|entry| {
            let (name, predicate) = entry.split_once('|').unwrap_or((entry, ""));
            if predicate.is_empty() || serves_lookups(predicate, &columns) {
                true
            } else {
                partial_not_counted = Some(format!("{name} WHERE {predicate}"));
                false
            }
        });
        if !supported {
            out.push(UnindexedForeignKey {
                table: r.get(0),
                columns,
                references: r.get(2),
                constraint: r.get(3),
                partial_index_not_counted: partial_not_counted,
            });
        }
    }
    Ok(out)
}

/// Whether a partial index's predicate keeps every row a foreign-key lookup can find: only
/// `col IS NOT NULL` conditions on the key's own columns, joined by AND.
fn serves_lookups(predicate: &str, columns: &[String]) -> bool {
    let p = predicate
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')');
    p.split(" AND ").all(|part| {
        let part = part
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim();
        part.strip_suffix(" IS NOT NULL")
            .is_some_and(|col| columns.iter().any(|c| c == col.trim_matches('"')))
    })
}

#[cfg(test)]
mod tests {
    use super::serves_lookups;

    #[test]
    fn only_not_null_predicates_on_the_key_serve_lookups() {
        let cols = vec!["parent_id".to_string()];
        assert!(serves_lookups("(parent_id IS NOT NULL)", &cols));
        assert!(!serves_lookups("(status = 'open'::text)", &cols));
        assert!(!serves_lookups(
            "((parent_id IS NOT NULL) AND (deleted_at IS NULL))",
            &cols
        ));
        assert!(!serves_lookups("(other_id IS NOT NULL)", &cols));
    }
}
