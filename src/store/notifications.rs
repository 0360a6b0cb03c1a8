//! Inbound PSP notifications (raw, de-duplicated) and the look-ups the notification flow and the
//! reconciler need.

use async_trait::async_trait;

use super::sql::SqlStore;

/// Notification and reconciliation queries.
#[async_trait]
pub trait NotificationStore: Send + Sync {}

#[async_trait]
impl NotificationStore for SqlStore {}
