//! Schema versions across releases. Migrations follow expand/contract (README: "Upgrading and
//! rolling back"), so a release runs against the schema of the next one: a database carrying
//! migrations this build does not know is accepted (and reported), unless one of them is marked
//! incompatible by its file name (`NNNN_incompatible_<what>.sql`).

use sqlx::Row;

use super::dialect::Dialect;
use super::sql::SqlStore;
use super::{StoreError, StoreResult};

/// The first word of a migration's description (its file name after the version) that marks
/// it as breaking every release that does not know it. sqlx stores the description in
/// `_sqlx_migrations`, so an older binary can read the marker without the file.
pub const INCOMPATIBLE_MARKER: &str = "incompatible";

/// A migration applied to the database that this build does not know (a newer release ran it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignMigration {
    pub version: i64,
    /// From the file name: `0012_add_merchant_note.sql` → `add merchant note`.
    pub description: String,
}

impl ForeignMigration {
    /// Whether its file name marks it as breaking releases that do not know it.
    pub fn incompatible(&self) -> bool {
        self.description
            .split([' ', '_'])
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(INCOMPATIBLE_MARKER))
    }
}

impl std::fmt::Display for ForeignMigration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.version, self.description)
    }
}

/// How the database's schema relates to this build's migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Versions this build has that the database has not applied.
    pub pending: Vec<i64>,
    /// Applied migrations this build does not know, oldest first.
    pub newer: Vec<ForeignMigration>,
}

impl SchemaStatus {
    /// The newer migrations marked incompatible with this build.
    pub fn incompatible(&self) -> Vec<&ForeignMigration> {
        self.newer.iter().filter(|m| m.incompatible()).collect()
    }

    /// Why this build must not run on the database, if it must not.
    pub fn refusal(&self) -> Option<String> {
        let bad = self.incompatible();
        if bad.is_empty() {
            return None;
        }
        let list: Vec<String> = bad.iter().map(ToString::to_string).collect();
        Some(format!(
            "the database carries migration(s) {} that this build does not know and that are \
             marked incompatible with older releases; run the release that applied them (or a \
             later one), or restore the database from before them",
            list.join(", ")
        ))
    }

    /// `current` (newer compatible migrations included), `N pending` (this build's missing),
    /// or `incompatible: V, …` (newer ones this build must not run on).
    pub fn summary(&self) -> String {
        let bad = self.incompatible();
        if !bad.is_empty() {
            let versions: Vec<String> = bad.iter().map(|m| m.version.to_string()).collect();
            format!("incompatible: {}", versions.join(", "))
        } else if self.pending.is_empty() {
            "current".to_string()
        } else {
            format!("{} pending", self.pending.len())
        }
    }
}

impl SqlStore {
    /// Compares the applied migrations with this build's.
    pub(super) async fn schema_status_impl(&self) -> StoreResult<SchemaStatus> {
        let applied = self.applied_migrations().await?;
        let known = self.dialect.migrator();
        let pending = known
            .iter()
            .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
            .map(|m| m.version)
            .collect();
        let newer = applied
            .into_iter()
            .filter(|(v, _)| !known.iter().any(|m| m.version == *v))
            .map(|(version, description)| ForeignMigration {
                version,
                description,
            })
            .collect();
        Ok(SchemaStatus { pending, newer })
    }

    /// Applies this build's pending migrations; refuses a database carrying an unknown
    /// migration marked incompatible. Returns the status afterwards.
    pub(super) async fn migrate_impl(&self) -> StoreResult<SchemaStatus> {
        if let Some(why) = self.schema_status_impl().await?.refusal() {
            return Err(StoreError::Schema(why));
        }
        self.dialect.migrator().run(&self.pool).await?;
        self.schema_status_impl().await
    }

    /// `(version, description)` of every successfully applied migration, oldest first; none
    /// when the database was never migrated.
    async fn applied_migrations(&self) -> StoreResult<Vec<(i64, String)>> {
        let exists = match self.dialect {
            Dialect::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master \
                 WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Dialect::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()"
            }
        };
        let mut conn = self.conn().await?;
        let n: i64 = sqlx::query(exists)
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT version, description FROM _sqlx_migrations \
             WHERE success = $1 ORDER BY version",
        )
        .bind(true)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("version")?, r.try_get("description")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn foreign(version: i64, description: &str) -> ForeignMigration {
        ForeignMigration {
            version,
            description: description.into(),
        }
    }

    #[test]
    fn the_marker_is_the_first_word_of_the_description() {
        assert!(foreign(12, "incompatible drop legacy columns").incompatible());
        assert!(foreign(12, "Incompatible_rename").incompatible());
        assert!(!foreign(12, "add merchant note").incompatible());
        assert!(!foreign(12, "make incompatible things compatible").incompatible());
        assert!(!foreign(12, "incompatibles").incompatible());
    }

    #[test]
    fn refusal_names_only_the_incompatible_ones() {
        let ok = SchemaStatus {
            pending: vec![],
            newer: vec![foreign(10, "add note")],
        };
        assert_eq!(ok.refusal(), None);
        assert_eq!(ok.summary(), "current");
        let bad = SchemaStatus {
            pending: vec![9],
            newer: vec![foreign(10, "add note"), foreign(11, "incompatible drop x")],
        };
        let why = bad.refusal().expect("refused");
        assert!(why.contains("11 (incompatible drop x)"), "{why}");
        assert!(!why.contains("add note"), "{why}");
        assert_eq!(bad.summary(), "incompatible: 11");
        let behind = SchemaStatus {
            pending: vec![9],
            newer: vec![],
        };
        assert_eq!(behind.summary(), "1 pending");
    }

    /// Both dialects carry the same migrations under the same names, so the marker and the
    /// versions mean the same on either backend.
    #[test]
    fn both_dialects_have_the_same_versions_and_names() {
        let names = |d: Dialect| {
            d.migrator()
                .iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Dialect::Sqlite), names(Dialect::Postgres));
    }
}
