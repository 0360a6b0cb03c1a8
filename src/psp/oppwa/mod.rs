//! OPPWA adapter (stateless translator).

pub mod result_codes;
