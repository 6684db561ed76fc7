//! spikemesh: a cycle-accurate simulator of a many-core neuromorphic chip, with the chip's
//! compiler (the mapper), its firmware and its on-chip learning engine.
//!
//! This library is a thin facade over the workspace crates, so that end-to-end tests and
//! benchmarks can name every part through one path.

pub use firmware;
pub use isa;
pub use mapper;
pub use model;
pub use sim;
