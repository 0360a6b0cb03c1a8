//! Operator use cases, behind the CLI (and the console): merchants and their tokens, the master
//! key, and Billwerk webhook deliveries. They work on the store directly, not through [`App`](super::App):
//! no PSP call, no per-transaction lock.

pub mod deliveries;
pub mod keys;
pub mod merchants;
