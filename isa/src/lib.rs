//! The chip's binary interface: fixed-point number formats, the instruction set and its
//! encoding, the assembler and disassembler, the chip description and the chip-image format.
//!
//! This crate is the bottom of the dependency graph: `sim` (the chip) and `mapper` (the
//! compiler) both depend on it and on nothing of each other.
pub mod arith;
pub mod asm;
pub mod encode;
pub mod insn;
pub mod program;
pub use program::Program;
pub mod chip;
pub mod image;
pub mod output;
pub use chip::{ChipDescription, TileId};
pub use image::ChipImage;
