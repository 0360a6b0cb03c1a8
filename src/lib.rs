//! psp-integrator: a Billwerk+ Transform (Frisbii Transform) Integrator that brings payment
//! service providers Billwerk does not support natively, one PSP family per adapter.

pub mod cli;
pub mod config;
pub mod console;
pub mod contract;
pub mod crypto;
pub mod domain;
pub mod flows;
pub mod http;
pub mod outbox;
pub mod psp;
pub mod sim;
pub mod startup;
pub mod store;
pub mod telemetry;

#[cfg(test)]
mod seam_tests;
#[cfg(test)]
pub(crate) mod testing;

// The old paths of `flows::operators`, kept until the console branch is merged onto the new ones.
#[doc(hidden)]
pub mod admin {
    pub use crate::flows::operators::{keys::*, merchants::*};
}
// The old path of `flows::operators::deliveries` (see `admin`).
#[doc(hidden)]
pub mod admin_deliveries {
    pub use crate::flows::operators::deliveries::*;
}
