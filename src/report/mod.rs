//! Incident reports rendered from the store.
