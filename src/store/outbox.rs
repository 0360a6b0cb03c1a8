//! Outbox persistence for the Billwerk webhook worker: claim with a lease, record attempts,
//! finish, list and redeliver. (Filled in by the outbox work.)

use async_trait::async_trait;

use super::sql::SqlStore;

/// Outbox operations beyond the enqueue that `apply_update` performs.
#[async_trait]
pub trait OutboxStore: Send + Sync {}

#[async_trait]
impl OutboxStore for SqlStore {}
