//! The compiler: model import, lowering, partitioning, placement, routing and chip-image emission.
pub mod place;
