//! Simulators of payment service providers, for tests, demos and sandboxes.
pub mod billwerk;
pub mod mollie;
pub mod oppwa;
