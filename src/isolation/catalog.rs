//! What an attacker can reach, read from the migrated schema's catalog: the tables, views and
//! functions of the exposed schemas, who may use them, their policies, and for each table the
//! SQL that says which user owns a row (its column referencing `auth.users`, or its parent's,
//! through foreign keys). Attempts are generated from this, not from a hand-written list.

use crate::error::{Error, Result};
use crate::pg::quote_ident;
use std::collections::BTreeMap;
use tokio_postgres::Client;

/// A table or view of an exposed schema.
#[derive(Debug, Clone)]
pub struct Relation {
    pub oid: i64,
    /// `schema.name`, as reports show it.
    pub name: String,
    /// Quoted, for SQL.
    pub sql: String,
    pub view: bool,
    pub rls: bool,
    /// A view that runs with the caller's rights (`security_invoker`).
    pub security_invoker: bool,
    pub anon: Grants,
    pub authenticated: Grants,
    pub columns: Vec<ColumnInfo>,
    /// SQL of the owning user's id for alias `t`; `None` when no foreign-key path reaches
    /// `auth.users` (for a view: a column named like an owner column of a table).
    pub owner: Option<String>,
    /// The table's own column referencing `auth.users`, when it has one.
    pub owner_column: Option<String>,
    /// Single-column foreign keys to tables that have an owner: (column, parent).
    pub owned_parents: Vec<(String, String)>,
}

/// What a role may do with a relation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grants {
    pub select: bool,
    pub insert: bool,
    pub update: bool,
    pub delete: bool,
}

impl Grants {
    pub fn any(&self) -> bool {
        self.select || self.insert || self.update || self.delete
    }
}

#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    pub ty: String,
    pub has_default: bool,
    /// Generated or identity-always: never written by an INSERT.
    pub generated: bool,
    /// Part of a unique index or the primary key.
    pub unique: bool,
    /// text or varchar: a unique value can be made by appending to it.
    pub textual: bool,
}

/// A function of an exposed schema.
#[derive(Debug, Clone)]
pub struct Function {
    /// `schema.name(type,type)`, as reports show it.
    pub name: String,
    /// `schema.name`, quoted, for SQL.
    pub sql: String,
    pub security_definer: bool,
    pub fixed_search_path: bool,
    pub arg_names: Vec<String>,
    pub arg_types: Vec<String>,
    pub returns: String,
    pub source: String,
    pub anon: bool,
    pub authenticated: bool,
}

/// A row-level security policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `schema.table`.
    pub table: String,
    pub name: String,
    pub permissive: bool,
    pub roles: Vec<String>,
    /// SELECT, INSERT, UPDATE, DELETE or ALL.
    pub cmd: String,
    pub using: Option<String>,
    pub check: Option<String>,
}

impl Policy {
    /// Whether the policy applies to a role (`public` is every role).
    pub fn applies_to(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == "public" || r == role)
    }

    /// Whether it governs a command.
    pub fn governs(&self, cmd: &str) -> bool {
        self.cmd == "ALL" || self.cmd == cmd
    }
}

/// The exposed part of the schema.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub relations: Vec<Relation>,
    pub functions: Vec<Function>,
    pub policies: Vec<Policy>,
}

impl Catalog {
    pub fn policies_of<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a Policy> + 'a {
        self.policies.iter().filter(move |p| p.table == table)
    }
}

const RELATIONS: &str = "
SELECT c.oid::int8, n.nspname::text, c.relname::text, c.relkind IN ('v', 'm'), c.relrowsecurity,
       coalesce(c.reloptions, '{}')::text[],
       has_table_privilege('anon', c.oid, 'SELECT'), has_table_privilege('anon', c.oid, 'INSERT'),
       has_table_privilege('anon', c.oid, 'UPDATE'), has_table_privilege('anon', c.oid, 'DELETE'),
       has_table_privilege('authenticated', c.oid, 'SELECT'),
       has_table_privilege('authenticated', c.oid, 'INSERT'),
       has_table_privilege('authenticated', c.oid, 'UPDATE'),
       has_table_privilege('authenticated', c.oid, 'DELETE')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm')
ORDER BY 2, 3";

const COLUMNS: &str = "
SELECT a.attrelid::int8, a.attname::text, format_type(a.atttypid, a.atttypmod),
       a.atthasdef, a.attgenerated <> '' OR a.attidentity = 'a',
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique
               AND a.attnum = ANY(i.indkey)),
       a.atttypid IN ('text'::regtype, 'varchar'::regtype)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum";

/// Single-column foreign keys of every table (any schema: parents may live in `auth`).
const FOREIGN_KEYS: &str = "
SELECT con.conrelid::int8, a.attname::text, con.confrelid::int8, af.attname::text,
       a.attnotnull, format('%I.%I', pn.nspname, pc.relname)
FROM pg_constraint con
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
JOIN pg_attribute af ON af.attrelid = con.confrelid AND af.attnum = con.confkey[1]
JOIN pg_class pc ON pc.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE con.contype = 'f' AND array_length(con.conkey, 1) = 1
ORDER BY con.conrelid, NOT a.attnotnull, con.conkey[1]";

const FUNCTIONS: &str = "
SELECT n.nspname::text, p.proname::text,
       replace(oidvectortypes(p.proargtypes), ', ', ','), p.prosecdef,
       EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) s WHERE s LIKE 'search\\_path=%'),
       coalesce(p.proargnames[1:p.pronargs], '{}')::text[],
       array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) t),
       format_type(p.prorettype, NULL), coalesce(p.prosrc, ''),
       has_function_privilege('anon', p.oid, 'EXECUTE'),
       has_function_privilege('authenticated', p.oid, 'EXECUTE')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY($1) AND p.prokind = 'f'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
ORDER BY 1, 2, 3";

const POLICIES: &str = "
SELECT schemaname::text || '.' || tablename::text, policyname::text, permissive = 'PERMISSIVE',
       roles::text[], cmd, qual, with_check
FROM pg_policies WHERE schemaname = ANY($1) ORDER BY 1, 2";

/// Reads the exposed schemas' tables, views, functions and policies.
pub async fn read(client: &Client, schemas: &[String]) -> Result<Catalog> {
    let err = Error::db;
    let rows = client
        .query(RELATIONS, &[&schemas])
        .await
        .map_err(err("cannot read the exposed tables and views"))?;
    let mut relations: Vec<Relation> = rows
        .iter()
        .map(|r| {
            let (schema, name): (String, String) = (r.get(1), r.get(2));
            let options: Vec<String> = r.get(5);
            Relation {
                oid: r.get(0),
                name: format!("{schema}.{name}"),
                sql: format!("{}.{}", quote_ident(&schema), quote_ident(&name)),
                view: r.get(3),
                rls: r.get(4),
                security_invoker: options.iter().any(|o| {
                    matches!(
                        o.as_str(),
                        "security_invoker=true" | "security_invoker=on" | "security_invoker=1"
                    )
                }),
                anon: Grants {
                    select: r.get(6),
                    insert: r.get(7),
                    update: r.get(8),
                    delete: r.get(9),
                },
                authenticated: Grants {
                    select: r.get(10),
                    insert: r.get(11),
                    update: r.get(12),
                    delete: r.get(13),
                },
                columns: Vec::new(),
                owner: None,
                owner_column: None,
                owned_parents: Vec::new(),
            }
        })
        .collect();
    let cols = client
        .query(COLUMNS, &[&schemas])
        .await
        .map_err(err("cannot read the exposed columns"))?;
    for c in &cols {
        let oid: i64 = c.get(0);
        if let Some(rel) = relations.iter_mut().find(|r| r.oid == oid) {
            rel.columns.push(ColumnInfo {
                name: c.get(1),
                ty: c.get(2),
                has_default: c.get(3),
                generated: c.get(4),
                unique: c.get(5),
                textual: c.get(6),
            });
        }
    }
    let fks: Vec<Fk> = client
        .query(FOREIGN_KEYS, &[])
        .await
        .map_err(err("cannot read the foreign keys"))?
        .iter()
        .map(|r| Fk {
            table: r.get(0),
            column: r.get(1),
            parent: r.get(2),
            parent_column: r.get(3),
            parent_name: r.get(5),
        })
        .collect();
    let users: Option<i64> = client
        .query_opt("SELECT 'auth.users'::regclass::oid::int8", &[])
        .await
        .ok()
        .flatten()
        .map(|r| r.get(0));
    owners(&mut relations, &fks, users);
    let functions = client
        .query(FUNCTIONS, &[&schemas])
        .await
        .map_err(err("cannot read the exposed functions"))?
        .iter()
        .map(|r| {
            let (schema, name, args): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            Function {
                name: format!("{schema}.{name}({args})"),
                sql: format!("{}.{}", quote_ident(&schema), quote_ident(&name)),
                security_definer: r.get(3),
                fixed_search_path: r.get(4),
                arg_names: r.get(5),
                arg_types: r.get(6),
                returns: r.get(7),
                source: r.get(8),
                anon: r.get(9),
                authenticated: r.get(10),
            }
        })
        .collect();
    let policies = client
        .query(POLICIES, &[&schemas])
        .await
        .map_err(err("cannot read the policies"))?
        .iter()
        .map(|r| Policy {
            table: r.get(0),
            name: r.get(1),
            permissive: r.get(2),
            roles: r.get(3),
            cmd: r.get(4),
            using: r.get(5),
            check: r.get(6),
        })
        .collect();
    Ok(Catalog {
        relations,
        functions,
        policies,
    })
}

/// A single-column foreign key.
struct Fk {
    table: i64,
    column: String,
    parent: i64,
    parent_column: String,
    parent_name: String,
}

/// Fills every table's owner expression: its own column referencing `auth.users` (NOT NULL
/// ones first), else its parent's owner through a foreign key, up to three hops. A view's owner
/// is a column named like a table's owner column.
fn owners(relations: &mut [Relation], fks: &[Fk], users: Option<i64>) {
    let Some(users) = users else { return };
    let sql_of: BTreeMap<i64, String> = relations.iter().map(|r| (r.oid, r.sql.clone())).collect();
    let expr = |oid: i64, alias: &str, depth: usize| -> Option<String> {
        owner_expr(oid, alias, depth, fks, users, &sql_of)
    };
    let exprs: Vec<Option<String>> = relations
        .iter()
        .map(|r| if r.view { None } else { expr(r.oid, "t", 0) })
        .collect();
    let owner_columns: Vec<String> = fks
        .iter()
        .filter(|f| f.parent == users)
        .map(|f| f.column.clone())
        .collect();
    let owned: Vec<i64> = relations
        .iter()
        .zip(&exprs)
        .filter(|(_, e)| e.is_some())
        .map(|(r, _)| r.oid)
        .collect();
    for (r, e) in relations.iter_mut().zip(exprs) {
        r.owner = e;
        if r.view {
            r.owner = r
                .columns
                .iter()
                .find(|c| c.ty == "uuid" && owner_columns.contains(&c.name))
                .map(|c| format!("t.{}", quote_ident(&c.name)));
        }
        r.owner_column = fks
            .iter()
            .find(|f| !r.view && f.table == r.oid && f.parent == users)
            .map(|f| f.column.clone());
        r.owned_parents = fks
            .iter()
            .filter(|f| f.table == r.oid && f.parent != users && owned.contains(&f.parent))
            .map(|f| (f.column.clone(), f.parent_name.clone()))
            .collect();
    }
}

fn owner_expr(
    oid: i64,
    alias: &str,
    depth: usize,
    fks: &[Fk],
    users: i64,
    sql_of: &BTreeMap<i64, String>,
) -> Option<String> {
    let mine = fks.iter().filter(|f| f.table == oid);
    if let Some(f) = mine.clone().find(|f| f.parent == users) {
        return Some(format!("{alias}.{}", quote_ident(&f.column)));
    }
    if depth >= 3 {
        return None;
    }
    for f in mine.filter(|f| f.parent != oid) {
        let Some(parent_sql) = sql_of.get(&f.parent) else {
            continue;
        };
        let p = format!("p{}", depth + 1);
        if let Some(inner) = owner_expr(f.parent, &p, depth + 1, fks, users, sql_of) {
            return Some(format!(
                "(SELECT {inner} FROM {parent_sql} {p} WHERE {p}.{} = {alias}.{})",
                quote_ident(&f.parent_column),
                quote_ident(&f.column)
            ));
        }
    }
    None
}
