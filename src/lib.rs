//! psp-integrator: a Billwerk+ Transform (Frisbii Transform) Integrator that brings payment
//! service providers Billwerk does not support natively, one PSP family per adapter.

pub mod admin;
pub mod admin_deliveries;
pub mod cli;
pub mod config;
pub mod console;
pub mod contract;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod flows;
pub mod html;
pub mod http;
pub mod outbox;
pub mod pages;
pub mod psp;
pub mod sim;
pub mod startup;
pub mod store;
pub mod telemetry;

#[cfg(test)]
pub(crate) mod testing;
