//! The Billwerk wire: strict request parsing (`wire`), checked commands (`commands`), response
//! DTOs, and the contract's error object.

pub mod commands;
pub mod error;
pub mod requests;
pub mod responses;
pub mod schema;
pub mod validate;
pub mod wire;

pub use error::{ApiError, ErrorObject, Failure, FlowError};
