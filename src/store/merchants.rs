//! Merchants, their sealed settings and payment agreements.

use sqlx::Row;

use super::decode::{self, AGREEMENT_COLUMNS, MERCHANT_COLUMNS};
use super::sql::SqlStore;
use super::{AgreementRecord, MerchantRecord, StoreError, StoreResult};
use crate::domain::Ticks;

impl SqlStore {
    pub(super) async fn create_merchant_impl(
        &self,
        m: &MerchantRecord,
        token_hash: &[u8],
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO merchants (id, name, psp, token_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&m.id)
        .bind(&m.name)
        .bind(&m.psp)
        .bind(token_hash)
        .bind(m.created_at.0)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    pub(super) async fn list_merchants_impl(&self) -> StoreResult<Vec<MerchantRecord>> {
        let sql = format!("SELECT {MERCHANT_COLUMNS} FROM merchants ORDER BY name");
        let rows = sqlx::query(&sql)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        rows.iter().map(decode::merchant).collect()
    }

    pub(super) async fn merchant_by_token_hash_impl(
        &self,
        token_hash: &[u8],
        now: Ticks,
    ) -> StoreResult<Option<(MerchantRecord, Vec<u8>)>> {
        // The current token first (the hot path, one indexed lookup); a previous token only
        // when that finds nothing.
        let sql =
            format!("SELECT {MERCHANT_COLUMNS}, token_hash FROM merchants WHERE token_hash = $1");
        let mut conn = self.conn().await?;
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&mut *conn)
            .await?;
        let row = match row {
            Some(row) => Some(row),
            None => {
                let sql = format!(
                    "SELECT {MERCHANT_COLUMNS}, previous_token_hash AS token_hash FROM merchants \
                     WHERE previous_token_hash = $1 AND previous_token_expires_at > $2"
                );
                sqlx::query(&sql)
                    .bind(token_hash)
                    .bind(now.0)
                    .fetch_optional(&mut *conn)
                    .await?
            }
        };
        match row {
            None => Ok(None),
            Some(row) => {
                let hash: Vec<u8> = row.try_get("token_hash")?;
                Ok(Some((decode::merchant(&row)?, hash)))
            }
        }
    }

    pub(super) async fn find_merchant_impl(
        &self,
        id_or_name: &str,
    ) -> StoreResult<Option<MerchantRecord>> {
        // An id match wins over a (different) merchant whose name equals that id.
        let sql = format!(
            "SELECT {MERCHANT_COLUMNS} FROM merchants WHERE id = $1 OR name = $1 \
             ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(id_or_name)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        row.as_ref().map(decode::merchant).transpose()
    }

    pub(super) async fn rotate_token_impl(
        &self,
        merchant_id: &str,
        token_hash: &[u8],
        previous_until: Option<Ticks>,
    ) -> StoreResult<()> {
        // SET expressions read the row as it was: the replaced token becomes the previous one.
        let query = match previous_until {
            Some(until) => sqlx::query(
                "UPDATE merchants SET previous_token_hash = token_hash, \
                 previous_token_expires_at = $3, token_hash = $1 WHERE id = $2",
            )
            .bind(token_hash)
            .bind(merchant_id)
            .bind(until.0),
            None => sqlx::query(
                "UPDATE merchants SET previous_token_hash = NULL, \
                 previous_token_expires_at = NULL, token_hash = $1 WHERE id = $2",
            )
            .bind(token_hash)
            .bind(merchant_id),
        };
        let done = query.execute(&mut *self.conn().await?).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub(super) async fn set_merchant_disabled_impl(
        &self,
        merchant_id: &str,
        since: Option<Ticks>,
    ) -> StoreResult<()> {
        let query = match since {
            // Disabling twice keeps the first time.
            Some(at) => sqlx::query(
                "UPDATE merchants SET disabled_at = COALESCE(disabled_at, $1) WHERE id = $2",
            )
            .bind(at.0)
            .bind(merchant_id),
            None => sqlx::query("UPDATE merchants SET disabled_at = NULL WHERE id = $1")
                .bind(merchant_id),
        };
        let done = query.execute(&mut *self.conn().await?).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub(super) async fn get_settings_impl(
        &self,
        merchant_id: &str,
    ) -> StoreResult<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT sealed FROM merchant_settings WHERE merchant_id = $1")
            .bind(merchant_id)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        Ok(row.map(|r| r.try_get("sealed")).transpose()?)
    }

    pub(super) async fn put_settings_impl(
        &self,
        merchant_id: &str,
        sealed: &[u8],
        at: Ticks,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO merchant_settings (merchant_id, sealed, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (merchant_id) DO UPDATE \
             SET sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(merchant_id)
        .bind(sealed)
        .bind(at.0)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    pub(super) async fn get_agreement_impl(
        &self,
        merchant_id: &str,
        agreement_id: &str,
    ) -> StoreResult<Option<AgreementRecord>> {
        let sql = format!(
            "SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE merchant_id = $1 AND agreement_id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(merchant_id)
            .bind(agreement_id)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        row.as_ref().map(decode::agreement).transpose()
    }
}
