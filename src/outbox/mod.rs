//! Outbound Billwerk webhooks (placeholder until the outbox worker lands).
pub mod policy;
