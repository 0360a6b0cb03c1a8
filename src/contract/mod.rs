//! Billwerk wire DTOs exactly as on the wire, the error object, and request validation.

pub mod canon;
pub mod error;
pub mod requests;
pub mod responses;
pub mod validate;

pub use error::{ApiError, ErrorObject};
