//! The OPPWA simulator.
