//! The chip's binary interface: fixed-point number formats, the instruction set and its
//! encoding, the assembler and disassembler, the chip description and the chip-image format.
//!
//! This crate is the bottom of the dependency graph: `sim` (the chip) and `mapper` (the
//! compiler) both depend on it and on nothing of each other.
