//! The programs the neurocores run, as assembly sources, assembled by the project's own
//! assembler (`isa::asm`) when loaded.
