//! What the operator console (`crate::console`) reads and writes: operator accounts, sessions,
//! the audit log, the provider calls written with a transaction's changes, and the read-only
//! queries behind its pages (transaction search, timeline parts, attention lists, overview
//! figures). Every statement is one short query with `$N` placeholders, alike on both backends.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::decode::{self, TX_COLUMNS};
use super::outbox::{OUTBOX_COLUMNS, OutboxRow, outbox_row};
use super::sql::SqlStore;
use super::{StoreError, StoreResult, TransactionRecord};
use crate::domain::Ticks;

/// One call to the payment provider about a transaction, recorded with the change it led to
/// (`TxUpdate::psp_call`, same DB transaction). Never card or account data: the operation's
/// name, the provider's result code and text, and how long the call took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PspCallNote {
    /// What was asked: `preauth`, `capture`, `charge`, `refund`, `cancel`, `status`, …
    pub operation: String,
    pub result_code: Option<String>,
    pub description: Option<String>,
    /// Wall time of the call, in milliseconds.
    pub duration_ms: i64,
}

/// A recorded provider call, as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PspCallRecord {
    pub at: Ticks,
    pub note: PspCallNote,
}

/// A console operator. `merchants` empty: every merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRecord {
    pub id: String,
    pub name: String,
    /// `viewer` or `operator`.
    pub role: String,
    pub merchants: Vec<String>,
    pub created_at: Ticks,
}

/// One line of the console's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: Ticks,
    pub operator: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
}

/// A PSP notification as the timeline shows it (its body stays encrypted and unread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationLine {
    pub id: i64,
    pub received_at: Ticks,
    pub event: String,
    /// The verdict: `applied`, `duplicate`, `parked`, `contradiction …`, …
    pub outcome: String,
    pub parked: bool,
}

/// The transaction list's filters; every field is optional. Amounts compare exactly as
/// decimals; times are ticks on `created_at`.
#[derive(Debug, Clone, Default)]
pub struct TxFilter {
    /// Restrict to these merchants (an operator limited to some); empty: all.
    pub merchants: Vec<String>,
    pub merchant_id: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub created_from: Option<Ticks>,
    pub created_to: Option<Ticks>,
    pub amount_min: Option<String>,
    pub amount_max: Option<String>,
    pub billwerk_id: Option<String>,
    pub psp_tx_id: Option<String>,
    pub agreement_id: Option<String>,
    /// Keyset cursor: rows strictly older than this `(last_updated, id)`.
    pub before: Option<(Ticks, String)>,
    pub limit: i64,
}

/// Counts of one overview group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    pub merchant_id: String,
    pub psp: String,
    pub status: String,
    pub count: i64,
}

/// A decline (error) of a failed transaction, stored as JSON; grouped in Rust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclineCount {
    pub merchant_id: String,
    pub error_json: String,
    pub count: i64,
}

/// Notifications per verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictCount {
    pub merchant_id: String,
    pub outcome: String,
    pub count: i64,
}

/// The console's store.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// `Ok(false)`: an operator of that name exists.
    async fn create_operator(&self, op: &OperatorRecord, password_hash: &str) -> StoreResult<bool>;
    async fn list_operators(&self) -> StoreResult<Vec<OperatorRecord>>;
    /// The operator and their password hash.
    async fn operator_by_name(&self, name: &str) -> StoreResult<Option<(OperatorRecord, String)>>;
    /// Removes the operator and their sessions; `false` when there was none.
    async fn remove_operator(&self, name: &str) -> StoreResult<bool>;
    /// Replaces the password and ends the operator's sessions; `false` when there was none.
    async fn set_operator_password(&self, name: &str, password_hash: &str) -> StoreResult<bool>;

    async fn create_session(
        &self,
        token_hash: &str,
        operator_id: &str,
        csrf: &str,
        now: Ticks,
        expires_at: Ticks,
    ) -> StoreResult<()>;
    /// The live session's operator and CSRF token.
    async fn session(
        &self,
        token_hash: &str,
        now: Ticks,
    ) -> StoreResult<Option<(OperatorRecord, String)>>;
    /// Ends a session, and every expired one.
    async fn end_session(&self, token_hash: &str, now: Ticks) -> StoreResult<()>;

    async fn audit(&self, e: &AuditEntry) -> StoreResult<()>;
    /// Newest first.
    async fn list_audit(&self, limit: i64) -> StoreResult<Vec<AuditEntry>>;

    /// Newest change first, keyset-paginated (`TxFilter::before`).
    async fn search_transactions(&self, f: &TxFilter) -> StoreResult<Vec<TransactionRecord>>;
    /// A transaction by our id, whichever its merchant.
    async fn transaction_any(&self, id: &str) -> StoreResult<Option<TransactionRecord>>;
    async fn psp_calls(&self, merchant_id: &str, tx_id: &str) -> StoreResult<Vec<PspCallRecord>>;
    /// Records a PSP call about a transaction that led to no change of it (a status query
    /// that found nothing new, a lookup that found nothing, a failed query), in a statement of
    /// its own; a call that changes the transaction goes with the change (`TxUpdate::psp_call`).
    async fn record_psp_call(
        &self,
        merchant_id: &str,
        tx_id: &str,
        at: Ticks,
        call: &PspCallNote,
    ) -> StoreResult<()>;
    async fn notifications_of(
        &self,
        merchant_id: &str,
        tx_id: &str,
    ) -> StoreResult<Vec<NotificationLine>>;
    async fn deliveries_of(&self, merchant_id: &str, tx_id: &str) -> StoreResult<Vec<OutboxRow>>;

    /// Transactions still waiting for the reconciler whose next query is before `due_before`.
    async fn overdue_reconciles(
        &self,
        due_before: Ticks,
        limit: i64,
    ) -> StoreResult<Vec<TransactionRecord>>;
    /// History entries noting a contradiction since `since`: `(tx id, merchant, at, note)`.
    async fn contradictions(
        &self,
        since: Ticks,
        limit: i64,
    ) -> StoreResult<Vec<(String, String, Ticks, String)>>;

    async fn status_counts(&self, since: Ticks) -> StoreResult<Vec<StatusCount>>;
    async fn decline_counts(&self, since: Ticks) -> StoreResult<Vec<DeclineCount>>;
    async fn verdict_counts(&self, since: Ticks) -> StoreResult<Vec<VerdictCount>>;
    /// Successful webhook deliveries since `since`: `(merchant, ms from the change to the
    /// delivery)`, at most `limit` of the newest.
    async fn delivery_delays(&self, since: Ticks, limit: i64) -> StoreResult<Vec<(String, i64)>>;
}

const OPERATOR_COLUMNS: &str = "id, name, role, merchants, created_at";

fn operator(row: &AnyRow) -> StoreResult<OperatorRecord> {
    let merchants: String = row.try_get("merchants")?;
    Ok(OperatorRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        merchants: merchants
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        created_at: Ticks(row.try_get("created_at")?),
    })
}

fn audit_entry(row: &AnyRow) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        at: Ticks(row.try_get("at")?),
        operator: row.try_get("operator")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        outcome: row.try_get("outcome")?,
    })
}

fn txs(rows: &[AnyRow]) -> StoreResult<Vec<TransactionRecord>> {
    rows.iter().map(decode::transaction).collect()
}

/// Writes the history entry of a change together with the provider call it followed from, on
/// the change's DB transaction. On Postgres both rows go in one statement (a data-modifying
/// CTE), so recording the call costs no extra round trip; SQLite runs in-process, where a
/// second statement costs no network trip.
pub(super) async fn history_with_call(
    conn: &mut sqlx::AnyConnection,
    dialect: super::Dialect,
    tx: &TransactionRecord,
    at: Ticks,
    note: &str,
    c: &PspCallNote,
) -> StoreResult<()> {
    const CALL: &str = "INSERT INTO provider_calls (transaction_id, merchant_id, at, operation, \
        result_code, description, duration_ms) VALUES ($1, $2, $4, $6, $7, $8, $9)";
    const HISTORY: &str = "INSERT INTO transaction_history (transaction_id, merchant_id, status, \
        at, note) VALUES ($1, $2, $3, $4, $5)";
    match dialect {
        super::Dialect::Postgres => {
            let both = format!("WITH h AS ({HISTORY}) {CALL}");
            sqlx::query(&both)
                .bind(&tx.id)
                .bind(&tx.merchant_id)
                .bind(tx.status.name())
                .bind(at.0)
                .bind(note)
                .bind(&c.operation)
                .bind(&c.result_code)
                .bind(&c.description)
                .bind(c.duration_ms)
                .execute(&mut *conn)
                .await?;
        }
        super::Dialect::Sqlite => {
            super::transactions::insert_history(&mut *conn, tx, at, note).await?;
            sqlx::query(INSERT_CALL)
                .bind(&tx.id)
                .bind(&tx.merchant_id)
                .bind(at.0)
                .bind(&c.operation)
                .bind(&c.result_code)
                .bind(&c.description)
                .bind(c.duration_ms)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// One provider call on its own (`$1` transaction, `$2` merchant, `$3` at, then the note).
const INSERT_CALL: &str = "INSERT INTO provider_calls (transaction_id, merchant_id, at, operation, \
    result_code, description, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Binds text values in order onto a query built with `$N` placeholders.
enum Bind {
    Text(String),
    Int(i64),
}

/// Decodes every row with `decode`; the first column that does not decode fails the read.
fn decode_rows<T>(
    rows: &[AnyRow],
    decode: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> StoreResult<Vec<T>> {
    rows.iter()
        .map(decode)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

#[async_trait]
impl ConsoleStore for SqlStore {
    async fn create_operator(&self, op: &OperatorRecord, password_hash: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO console_operators (id, name, password_hash, role, merchants, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&op.id)
        .bind(&op.name)
        .bind(password_hash)
        .bind(&op.role)
        .bind(op.merchants.join(","))
        .bind(op.created_at.0)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_operators(&self) -> StoreResult<Vec<OperatorRecord>> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM console_operators ORDER BY name");
        let rows = sqlx::query(&sql)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        rows.iter().map(operator).collect()
    }

    async fn operator_by_name(&self, name: &str) -> StoreResult<Option<(OperatorRecord, String)>> {
        let sql = format!(
            "SELECT {OPERATOR_COLUMNS}, password_hash FROM console_operators WHERE name = $1"
        );
        let row = sqlx::query(&sql)
            .bind(name)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        row.map(|r| Ok((operator(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    async fn remove_operator(&self, name: &str) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let mut db = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query(
            "DELETE FROM console_sessions WHERE operator_id IN \
             (SELECT id FROM console_operators WHERE name = $1)",
        )
        .bind(name)
        .execute(&mut *db)
        .await?;
        let done = sqlx::query("DELETE FROM console_operators WHERE name = $1")
            .bind(name)
            .execute(&mut *db)
            .await?;
        db.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_operator_password(&self, name: &str, password_hash: &str) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let mut db = sqlx::Connection::begin(&mut *conn).await?;
        let done = sqlx::query("UPDATE console_operators SET password_hash = $1 WHERE name = $2")
            .bind(password_hash)
            .bind(name)
            .execute(&mut *db)
            .await?;
        sqlx::query(
            "DELETE FROM console_sessions WHERE operator_id IN \
             (SELECT id FROM console_operators WHERE name = $1)",
        )
        .bind(name)
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_session(
        &self,
        token_hash: &str,
        operator_id: &str,
        csrf: &str,
        now: Ticks,
        expires_at: Ticks,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_sessions (token_hash, operator_id, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(operator_id)
        .bind(csrf)
        .bind(now.0)
        .bind(expires_at.0)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    async fn session(
        &self,
        token_hash: &str,
        now: Ticks,
    ) -> StoreResult<Option<(OperatorRecord, String)>> {
        let row = sqlx::query(
            "SELECT o.id, o.name, o.role, o.merchants, o.created_at, s.csrf \
             FROM console_sessions s JOIN console_operators o ON o.id = s.operator_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now.0)
        .fetch_optional(&mut *self.conn().await?)
        .await?;
        row.map(|r| Ok((operator(&r)?, r.try_get("csrf")?)))
            .transpose()
    }

    async fn end_session(&self, token_hash: &str, now: Ticks) -> StoreResult<()> {
        sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1 OR expires_at <= $2")
            .bind(token_hash)
            .bind(now.0)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }

    async fn audit(&self, e: &AuditEntry) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_audit (at, operator, action, target, outcome) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(e.at.0)
        .bind(&e.operator)
        .bind(&e.action)
        .bind(&e.target)
        .bind(&e.outcome)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    async fn list_audit(&self, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, operator, action, target, outcome FROM console_audit \
             ORDER BY at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.iter().map(audit_entry).collect()
    }

    async fn search_transactions(&self, f: &TxFilter) -> StoreResult<Vec<TransactionRecord>> {
        let mut sql = format!("SELECT {TX_COLUMNS} FROM transactions WHERE 1 = 1");
        let mut binds: Vec<Bind> = Vec::new();
        let mut push = |sql: &mut String, clause: &str, b: Bind| {
            binds.push(b);
            sql.push_str(&clause.replace("$?", &format!("${}", binds.len())));
        };
        if !f.merchants.is_empty() {
            sql.push_str(" AND merchant_id IN (");
            for (i, m) in f.merchants.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                push(&mut sql, &format!("{sep}$?"), Bind::Text(m.clone()));
            }
            sql.push(')');
        }
        let text = |v: &Option<String>| v.clone().map(Bind::Text);
        for (clause, v) in [
            (" AND merchant_id = $?", text(&f.merchant_id)),
            (" AND kind = $?", text(&f.kind)),
            (" AND status = $?", text(&f.status)),
            (" AND billwerk_id = $?", text(&f.billwerk_id)),
            (" AND psp_tx_id = $?", text(&f.psp_tx_id)),
            (" AND agreement_id = $?", text(&f.agreement_id)),
            (
                " AND created_at >= $?",
                f.created_from.map(|t| Bind::Int(t.0)),
            ),
            (" AND created_at < $?", f.created_to.map(|t| Bind::Int(t.0))),
            (
                " AND CAST(requested_amount AS DECIMAL) >= CAST($? AS DECIMAL)",
                text(&f.amount_min),
            ),
            (
                " AND CAST(requested_amount AS DECIMAL) <= CAST($? AS DECIMAL)",
                text(&f.amount_max),
            ),
        ] {
            if let Some(b) = v {
                push(&mut sql, clause, b);
            }
        }
        if let Some((t, id)) = &f.before {
            // A row value, so both planners walk the (last_updated, id) index from the cursor.
            push(&mut sql, " AND (last_updated, id) < ($?", Bind::Int(t.0));
            push(&mut sql, ", $?)", Bind::Text(id.clone()));
        }
        push(
            &mut sql,
            " ORDER BY last_updated DESC, id DESC LIMIT $?",
            Bind::Int(f.limit),
        );
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&mut *self.conn().await?).await?;
        txs(&rows)
    }

    async fn transaction_any(&self, id: &str) -> StoreResult<Option<TransactionRecord>> {
        let sql = format!("SELECT {TX_COLUMNS} FROM transactions WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        row.as_ref().map(decode::transaction).transpose()
    }

    async fn psp_calls(&self, merchant_id: &str, tx_id: &str) -> StoreResult<Vec<PspCallRecord>> {
        let rows = sqlx::query(
            "SELECT at, operation, result_code, description, duration_ms FROM provider_calls \
             WHERE merchant_id = $1 AND transaction_id = $2 ORDER BY at, id",
        )
        .bind(merchant_id)
        .bind(tx_id)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        decode_rows(&rows, |r| {
            Ok(PspCallRecord {
                at: Ticks(r.try_get("at")?),
                note: PspCallNote {
                    operation: r.try_get("operation")?,
                    result_code: r.try_get("result_code")?,
                    description: r.try_get("description")?,
                    duration_ms: r.try_get("duration_ms")?,
                },
            })
        })
    }

    async fn record_psp_call(
        &self,
        merchant_id: &str,
        tx_id: &str,
        at: Ticks,
        c: &PspCallNote,
    ) -> StoreResult<()> {
        sqlx::query(INSERT_CALL)
            .bind(tx_id)
            .bind(merchant_id)
            .bind(at.0)
            .bind(&c.operation)
            .bind(&c.result_code)
            .bind(&c.description)
            .bind(c.duration_ms)
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }

    async fn notifications_of(
        &self,
        merchant_id: &str,
        tx_id: &str,
    ) -> StoreResult<Vec<NotificationLine>> {
        let rows = sqlx::query(
            "SELECT id, received_at, event, outcome, parked FROM notifications \
             WHERE merchant_id = $1 AND transaction_id = $2 ORDER BY received_at, id",
        )
        .bind(merchant_id)
        .bind(tx_id)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        decode_rows(&rows, |r| {
            Ok(NotificationLine {
                id: r.try_get("id")?,
                received_at: Ticks(r.try_get("received_at")?),
                event: r.try_get("event")?,
                outcome: r.try_get("outcome")?,
                parked: r.try_get::<i64, _>("parked")? != 0,
            })
        })
    }

    async fn deliveries_of(&self, merchant_id: &str, tx_id: &str) -> StoreResult<Vec<OutboxRow>> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE merchant_id = $1 AND transaction_id = $2 \
             ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(merchant_id)
            .bind(tx_id)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        rows.iter().map(outbox_row).collect()
    }

    async fn overdue_reconciles(
        &self,
        due_before: Ticks,
        limit: i64,
    ) -> StoreResult<Vec<TransactionRecord>> {
        let sql = format!(
            "SELECT {TX_COLUMNS} FROM transactions WHERE needs_reconcile = 1 \
             AND next_reconcile_at < $1 ORDER BY next_reconcile_at LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(due_before.0)
            .bind(limit)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        txs(&rows)
    }

    async fn contradictions(
        &self,
        since: Ticks,
        limit: i64,
    ) -> StoreResult<Vec<(String, String, Ticks, String)>> {
        let rows = sqlx::query(
            "SELECT transaction_id, merchant_id, at, note FROM transaction_history \
             WHERE at >= $1 AND note LIKE 'contradiction%' ORDER BY at DESC LIMIT $2",
        )
        .bind(since.0)
        .bind(limit)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        decode_rows(&rows, |r| {
            Ok((
                r.try_get("transaction_id")?,
                r.try_get("merchant_id")?,
                Ticks(r.try_get("at")?),
                r.try_get("note")?,
            ))
        })
    }

    async fn status_counts(&self, since: Ticks) -> StoreResult<Vec<StatusCount>> {
        let rows = sqlx::query(
            "SELECT t.merchant_id, m.psp, t.status, COUNT(*) AS n FROM transactions t \
             JOIN merchants m ON m.id = t.merchant_id WHERE t.created_at >= $1 \
             GROUP BY t.merchant_id, m.psp, t.status ORDER BY t.merchant_id, t.status",
        )
        .bind(since.0)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        decode_rows(&rows, |r| {
            Ok(StatusCount {
                merchant_id: r.try_get("merchant_id")?,
                psp: r.try_get("psp")?,
                status: r.try_get("status")?,
                count: r.try_get("n")?,
            })
        })
    }

    async fn decline_counts(&self, since: Ticks) -> StoreResult<Vec<DeclineCount>> {
        let rows = sqlx::query(
            "SELECT merchant_id, error, COUNT(*) AS n FROM transactions \
             WHERE created_at >= $1 AND status = 'Failed' AND error IS NOT NULL \
             GROUP BY merchant_id, error",
        )
        .bind(since.0)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        decode_rows(&rows, |r| {
            Ok(DeclineCount {
                merchant_id: r.try_get("merchant_id")?,
                error_json: r.try_get("error")?,
                count: r.try_get("n")?,
            })
        })
    }

    async fn verdict_counts(&self, since: Ticks) -> StoreResult<Vec<VerdictCount>> {
        let rows = sqlx::query(
            "SELECT merchant_id, outcome, COUNT(*) AS n FROM notifications \
             WHERE received_at >= $1 GROUP BY merchant_id, outcome ORDER BY merchant_id, outcome",
        )
        .bind(since.0)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        decode_rows(&rows, |r| {
            Ok(VerdictCount {
                merchant_id: r.try_get("merchant_id")?,
                outcome: r.try_get("outcome")?,
                count: r.try_get("n")?,
            })
        })
    }

    async fn delivery_delays(&self, since: Ticks, limit: i64) -> StoreResult<Vec<(String, i64)>> {
        // Ticks are 100 ns: / 10 000 gives milliseconds.
        let rows = sqlx::query(
            "SELECT o.merchant_id, a.at - o.pending_since AS delay FROM outbox_attempts a \
             JOIN outbox o ON o.id = a.outbox_id \
             WHERE a.at >= $1 AND a.http_status >= 200 AND a.http_status < 300 \
             ORDER BY a.at DESC LIMIT $2",
        )
        .bind(since.0)
        .bind(limit)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        decode_rows(&rows, |r| {
            let delay: i64 = r.try_get("delay")?;
            Ok((r.try_get("merchant_id")?, (delay / 10_000).max(0)))
        })
    }
}
