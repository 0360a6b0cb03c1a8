//! Black-box API tests: the real service over HTTP, a real database, the OPPWA simulator.

mod harness;

mod auth_tenancy;
mod card_flow;
mod checkout_page;
mod cli;
mod contract_shapes;
mod crash;
mod errors_validation;
mod hostile_input;
mod idempotency;
mod integrity;
mod model;
mod notifications;
mod operations;
mod outage;
mod psp_outcomes;
mod readme_tour;
mod reconcile;
mod restart;
mod sepa_flow;
mod settings;
mod tls;
mod upgrade;
