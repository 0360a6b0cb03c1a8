//! psp-integrator: a Billwerk+ Transform (Frisbii Transform) Integrator for OPPWA PSPs.

pub mod domain;
pub mod psp;
pub mod sim;
pub mod store;
