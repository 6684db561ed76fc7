//! The assembler and disassembler of the neurocore instruction set, and the `.bin` program
//! container: text ⇄ [`Program`] ⇄ bytes.
//!
//! * [`assemble`] turns a source file into a [`Program`], reporting every error it finds with
//!   `file:line:column`, the source line and a caret under the offending token;
//! * [`disassemble`] turns a [`Program`] back into source the assembler accepts
//!   (`assemble(&disassemble(&p), _) == Ok(p)`);
//! * [`bin`] reads and writes the `.bin` container (`spikemesh asm` / `spikemesh disasm`).
//!
//! The syntax is documented in `docs/ISA.md` (section *Assembly language*).

mod assemble;
pub mod bin;
mod disasm;
mod expr;
mod lex;
pub mod syntax;

pub use disasm::{disassemble, disassemble_with_kinds, format_instruction};

use crate::program::Program;
use std::collections::BTreeMap;
use std::fmt;

/// What a symbol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SymbolKind {
    /// A label in `.text`: an instruction address.
    Text,
    /// A label in `.data`: a data-memory word address.
    Data,
    /// A constant defined with `.equ`.
    Const,
}

/// An assembled program together with the kind of each of its symbols (which the `.bin`
/// container keeps so that the disassembler can print labels where they were).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assembly {
    /// The program.
    pub program: Program,
    /// The kind of every symbol of `program.symbols`.
    pub kinds: BTreeMap<String, SymbolKind>,
}

/// One located assembly error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsmError {
    /// The source's name (as given to [`assemble`]).
    pub origin: String,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// Width of the offending token in characters (at least 1).
    pub width: usize,
    /// What is wrong: the rule broken.
    pub message: String,
    /// The offending source line.
    pub source_line: String,
}

impl fmt::Display for AsmError {
    /// rustc style: message, location, the line, a caret line under the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = self.line.to_string();
        let pad = " ".repeat(num.len());
        // Reproduce tabs before the token so the caret lines up in any terminal.
        let lead: String = self
            .source_line
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, "error: {}", self.message)?;
        writeln!(f, "{pad}--> {}:{}:{}", self.origin, self.line, self.column)?;
        writeln!(f, "{pad} |")?;
        writeln!(f, "{num} | {}", self.source_line)?;
        write!(f, "{pad} | {lead}{}", "^".repeat(self.width.max(1)))
    }
}

impl std::error::Error for AsmError {}

/// Every error found in one source; never empty when returned by [`assemble`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsmErrors {
    /// The errors, in source order.
    pub errors: Vec<AsmError>,
}

impl fmt::Display for AsmErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.errors {
            writeln!(f, "{e}\n")?;
        }
        let origin = self.errors.first().map_or("", |e| e.origin.as_str());
        let n = self.errors.len();
        write!(
            f,
            "could not assemble `{origin}`: {n} error{}",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for AsmErrors {}

/// Assembles `source`; `origin` (usually the file name) is used in error locations.
///
/// Returns the program, or every error found (each located, with the source line and a caret).
pub fn assemble(source: &str, origin: &str) -> Result<Program, AsmErrors> {
    assemble::run(source, origin).map(|a| a.program)
}

/// As [`assemble`], also returning the kind of each symbol.
pub fn assemble_detailed(source: &str, origin: &str) -> Result<Assembly, AsmErrors> {
    assemble::run(source, origin)
}
