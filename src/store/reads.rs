//! Read-only queries on transactions and their appended children (history, items, chargebacks).

use sqlx::AnyConnection;

use super::decode::{self, TX_COLUMNS};
use super::sql::SqlStore;
use super::{Chargeback, HistoryEntry, PaymentItem, StoreResult, TransactionRecord};

impl SqlStore {
    /// One transaction matching `filter`, whose two placeholders are bound to `a` and `b`.
    pub(super) async fn tx_where(
        &self,
        filter: &str,
        a: &str,
        b: &str,
    ) -> StoreResult<Option<TransactionRecord>> {
        let sql = format!("SELECT {TX_COLUMNS} FROM transactions WHERE {filter}");
        let row = sqlx::query(&sql)
            .bind(a)
            .bind(b)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        row.as_ref().map(decode::transaction).transpose()
    }

    pub(super) async fn get_by_checkout_token_impl(
        &self,
        token: &str,
    ) -> StoreResult<Option<TransactionRecord>> {
        // The only lookup without a merchant: the unguessable token is the capability.
        let sql = format!("SELECT {TX_COLUMNS} FROM transactions WHERE checkout_token = $1");
        let row = sqlx::query(&sql)
            .bind(token)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        row.as_ref().map(decode::transaction).transpose()
    }

    pub(super) async fn list_children_impl(
        &self,
        merchant_id: &str,
        parent_id: &str,
    ) -> StoreResult<Vec<TransactionRecord>> {
        children_on(&mut *self.conn().await?, merchant_id, parent_id).await
    }

    pub(super) async fn list_items_impl(
        &self,
        merchant_id: &str,
        tx_id: &str,
    ) -> StoreResult<Vec<PaymentItem>> {
        items_on(&mut *self.conn().await?, merchant_id, tx_id).await
    }

    pub(super) async fn list_chargebacks_impl(
        &self,
        merchant_id: &str,
        tx_id: &str,
    ) -> StoreResult<Vec<Chargeback>> {
        chargebacks_on(&mut *self.conn().await?, merchant_id, tx_id).await
    }

    pub(super) async fn payment_parts_impl(
        &self,
        merchant_id: &str,
        tx_id: &str,
    ) -> StoreResult<super::PaymentParts> {
        let mut conn = self.conn().await?;
        Ok((
            items_on(&mut conn, merchant_id, tx_id).await?,
            chargebacks_on(&mut conn, merchant_id, tx_id).await?,
            children_on(&mut conn, merchant_id, tx_id).await?,
        ))
    }

    pub(super) async fn history_impl(
        &self,
        merchant_id: &str,
        tx_id: &str,
    ) -> StoreResult<Vec<HistoryEntry>> {
        let rows = sqlx::query(
            "SELECT status, at, note FROM transaction_history \
             WHERE merchant_id = $1 AND transaction_id = $2 ORDER BY id",
        )
        .bind(merchant_id)
        .bind(tx_id)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.iter().map(decode::history_entry).collect()
    }
}

/// Transactions whose parent is `parent_id` (refunds of a payment, captures of a preauth).
pub(super) async fn children_on(
    conn: &mut AnyConnection,
    merchant_id: &str,
    parent_id: &str,
) -> StoreResult<Vec<TransactionRecord>> {
    let sql = format!(
        "SELECT {TX_COLUMNS} FROM transactions WHERE merchant_id = $1 AND parent_id = $2 \
         ORDER BY created_at, id"
    );
    let rows = sqlx::query(&sql)
        .bind(merchant_id)
        .bind(parent_id)
        .fetch_all(conn)
        .await?;
    rows.iter().map(decode::transaction).collect()
}

pub(super) async fn items_on(
    conn: &mut AnyConnection,
    merchant_id: &str,
    tx_id: &str,
) -> StoreResult<Vec<PaymentItem>> {
    let rows = sqlx::query(
        "SELECT item_kind, external_item_id, amount, booking_date, description FROM payment_items \
         WHERE merchant_id = $1 AND transaction_id = $2 ORDER BY id",
    )
    .bind(merchant_id)
    .bind(tx_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(decode::payment_item).collect()
}

pub(super) async fn chargebacks_on(
    conn: &mut AnyConnection,
    merchant_id: &str,
    tx_id: &str,
) -> StoreResult<Vec<Chargeback>> {
    let rows = sqlx::query(
        "SELECT external_item_id, amount, booking_date, description, fee_amount, reason, \
         psp_reason_code, psp_reason_message FROM chargebacks \
         WHERE merchant_id = $1 AND transaction_id = $2 ORDER BY id",
    )
    .bind(merchant_id)
    .bind(tx_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(decode::chargeback).collect()
}
