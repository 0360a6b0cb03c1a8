//! OPPWA adapter (stateless translator).
