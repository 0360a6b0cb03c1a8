//! Reliable delivery of the thin Billwerk webhooks (§12) from the transactional outbox: the worker,
//! its retry schedule and the webhookTarget allow-list.

pub mod policy;
pub mod schedule;
pub mod worker;

#[cfg(test)]
mod tests;

pub use policy::TargetPolicy;
pub use worker::{RunReport, Worker};
