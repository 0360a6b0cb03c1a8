//! Black-box API tests: the real service over HTTP, a real database, the OPPWA simulator.

mod harness;

mod auth_tenancy;
mod card_flow;
mod contract_shapes;
mod errors_validation;
mod idempotency;
mod psp_outcomes;
mod sepa_flow;
mod settings;
