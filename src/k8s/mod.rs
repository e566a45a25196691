//! Kubernetes: objects and the pure conversions from them to signals and evidence. The live
//! watchers, gatherers, executor and verifier build on these.

pub mod detect;
pub mod events;
pub mod execute;
pub mod facts;
pub mod gather;
pub mod objects;
pub mod watch;

#[cfg(test)]
mod tests;
