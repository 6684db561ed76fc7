//! An assembled program: the instruction words a core runs, its initial data memory, and the
//! symbols (labels and constants) the loader uses to find entry points and parameters.

use crate::insn::Instruction;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An assembled program, ready to load into a neurocore's instruction and data memories.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Program {
    /// The `.text` section: one instruction per word, starting at address 0.
    pub text: Vec<Instruction>,
    /// The `.data` section: the initial data-memory words, starting at address 0.
    pub data: Vec<i32>,
    /// Every label (its word address in its section) and named constant, by name. A `BTreeMap`
    /// keeps listings and serialisations deterministic.
    pub symbols: BTreeMap<String, i64>,
}

impl Program {
    /// The value of a symbol, if the program defines it.
    pub fn symbol(&self, name: &str) -> Option<i64> {
        self.symbols.get(name).copied()
    }
}
