//! Migrations follow expand/contract so the previous release runs against the next schema
//! (README: "Upgrading and rolling back"). A migration may only add (tables, nullable or
//! defaulted columns, indexes) unless its file name says otherwise: `NNNN_contract_<what>` removes
//! what the previous release no longer uses, `NNNN_incompatible_<what>` breaks older releases
//! (they refuse to start on it).

use regex::Regex;

use crate::store::Dialect;

/// Migrations up to this version predate the rule (0004 rebuilds a SQLite table, 0009 re-keys
/// indexes; both keep every column the previous release used).
const RULE_FROM_VERSION: i64 = 10;

/// Why `sql` is not additive, if it is not: the first statement that removes or changes what
/// an older release may read or write.
fn not_additive(sql: &str) -> Option<String> {
    let code: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let rules = [
        (r"(?i)\bDROP\s+(COLUMN|TABLE)\b", "drops a column or table"),
        (r"(?i)\bRENAME\b", "renames"),
        (
            r"(?i)\bALTER\s+COLUMN\b",
            "changes a column (type, NOT NULL, default)",
        ),
    ];
    for (pattern, what) in rules {
        if let Some(m) = Regex::new(pattern).expect("pattern").find(&code) {
            return Some(format!("{what}: `{}`", m.as_str().trim()));
        }
    }
    let added = Regex::new(r"(?i)\bADD\s+COLUMN\b[^,;]*").expect("pattern");
    let not_null = Regex::new(r"(?i)\bNOT\s+NULL\b").expect("pattern");
    let default = Regex::new(r"(?i)\bDEFAULT\b").expect("pattern");
    added
        .find_iter(&code)
        .find(|m| not_null.is_match(m.as_str()) && !default.is_match(m.as_str()))
        .map(|m| {
            format!(
                "adds a NOT NULL column without a default (older releases do not fill it): `{}`",
                m.as_str().trim()
            )
        })
}

fn marked(description: &str) -> bool {
    let first = description.split([' ', '_']).next().unwrap_or_default();
    first.eq_ignore_ascii_case("contract") || first.eq_ignore_ascii_case("incompatible")
}

#[test]
fn every_migration_since_the_rule_is_additive_or_marked() {
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        for m in dialect.migrator().iter() {
            if m.version < RULE_FROM_VERSION || marked(&m.description) {
                continue;
            }
            if let Some(why) = not_additive(&m.sql) {
                panic!(
                    "{dialect:?} migration {} ({}) {why}; make it additive, or name it \
                     NNNN_contract_… / NNNN_incompatible_… (README: Upgrading and rolling back)",
                    m.version, m.description
                );
            }
        }
    }
}

#[test]
fn the_rule_tells_additive_from_breaking_statements() {
    for ok in [
        "ALTER TABLE merchants ADD COLUMN note TEXT;",
        "ALTER TABLE outbox ADD COLUMN topic TEXT NOT NULL DEFAULT 'transaction';",
        "CREATE INDEX x ON transactions (agreement_id);\n-- we never DROP COLUMN here",
        "CREATE TABLE refunds_v2 (id TEXT PRIMARY KEY, amount TEXT NOT NULL);",
    ] {
        assert_eq!(not_additive(ok), None, "{ok}");
    }
    for bad in [
        "ALTER TABLE merchants DROP COLUMN note;",
        "DROP TABLE legacy;",
        "ALTER TABLE merchants RENAME COLUMN name TO label;",
        "ALTER TABLE merchants ALTER COLUMN note SET NOT NULL;",
        "ALTER TABLE merchants ADD COLUMN region TEXT NOT NULL;",
    ] {
        assert!(not_additive(bad).is_some(), "{bad}");
    }
    assert!(marked("contract drop legacy note"));
    assert!(marked("incompatible rekey"));
    assert!(!marked("add contract id"));
}
