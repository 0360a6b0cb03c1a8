//! Black-box API tests: the real service over HTTP, a real database, the OPPWA simulator.

mod harness;
mod proxy;

mod auth_tenancy;
mod card_flow;
mod checkout_model;
mod checkout_page;
mod cli;
mod console;
mod contract_shapes;
mod crash;
mod crash_points;
mod crossing;
mod errors_validation;
mod failsafe;
mod hostile_input;
mod http_connections;
mod http_limits;
mod idempotency;
mod input_rules;
mod integrity;
mod logs;
mod model;
mod notifications;
mod operations;
mod outage;
mod psp_outcomes;
mod rate_limits;
mod readme_tour;
mod reconcile;
mod restart;
mod sepa_flow;
mod settings;
mod tls;
mod upgrade;
