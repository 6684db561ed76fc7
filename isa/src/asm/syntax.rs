//! The assembly language's vocabulary: mnemonics of ALU operations, conditions, rounding
//! modes, mask operations, CSRs and events, shared by the assembler and the disassembler.

use crate::insn::{AluOp, Cond, Csr, Event, MaskOp, Round};

/// Scalar mnemonic of each ALU operation; the vector form adds a `v` prefix.
pub const ALU_MNEMONICS: [(&str, AluOp); 16] = [
    ("add", AluOp::Add),
    ("sub", AluOp::Sub),
    ("adds", AluOp::AddSat),
    ("subs", AluOp::SubSat),
    ("mul", AluOp::Mul),
    ("addw24", AluOp::AddWrap24),
    ("adds24", AluOp::AddSat24),
    ("min", AluOp::Min),
    ("max", AluOp::Max),
    ("and", AluOp::And),
    ("or", AluOp::Or),
    ("xor", AluOp::Xor),
    ("shl", AluOp::Shl),
    ("sra", AluOp::Sra),
    ("srl", AluOp::Srl),
    ("slt", AluOp::Slt),
];

/// Condition suffixes (`beq`, `vcmp.eq`, …).
pub const COND_NAMES: [(&str, Cond); 6] = [
    ("eq", Cond::Eq),
    ("ne", Cond::Ne),
    ("lt", Cond::Lt),
    ("le", Cond::Le),
    ("gt", Cond::Gt),
    ("ge", Cond::Ge),
];

/// Rounding suffixes of `vmulsh.*`.
pub const ROUND_NAMES: [(&str, Round); 4] = [
    ("floor", Round::Floor),
    ("tz", Round::TowardZero),
    ("ne", Round::NearestEven),
    ("sr", Round::Stochastic),
];

/// Mask-operation mnemonics.
pub const MASKOP_MNEMONICS: [(&str, MaskOp); 4] = [
    ("mand", MaskOp::And),
    ("mor", MaskOp::Or),
    ("mandn", MaskOp::AndNot),
    ("mxor", MaskOp::Xor),
];

/// CSR names accepted by `csrr`.
pub const CSR_NAMES: [(&str, Csr); 8] = [
    ("timestep", Csr::Timestep),
    ("neurons", Csr::Neurons),
    ("tileid", Csr::TileId),
    ("sample", Csr::Sample),
    ("cyclelo", Csr::CycleLo),
    ("inboxlen", Csr::InboxLen),
    ("lanes", Csr::Lanes),
    ("axons", Csr::Axons),
];

/// Event names accepted by `wait`.
pub const EVENT_NAMES: [(&str, Event); 2] = [("sample", Event::Sample), ("learn", Event::Learn)];

fn name_of<T: PartialEq + Copy>(table: &[(&'static str, T)], x: T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| *v == x)
        .map(|(n, _)| *n)
        .unwrap_or("?")
}

fn lookup<T: Copy>(table: &[(&'static str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The scalar mnemonic of an ALU operation (`add`, `adds24`, …).
pub fn alu_mnemonic(op: AluOp) -> &'static str {
    name_of(&ALU_MNEMONICS, op)
}

/// The ALU operation a scalar mnemonic names.
pub fn alu_op(name: &str) -> Option<AluOp> {
    lookup(&ALU_MNEMONICS, name)
}

/// The suffix of a condition (`eq`, `ge`, …).
pub fn cond_name(c: Cond) -> &'static str {
    name_of(&COND_NAMES, c)
}

/// The condition a suffix names.
pub fn cond(name: &str) -> Option<Cond> {
    lookup(&COND_NAMES, name)
}

/// The suffix of a rounding mode.
pub fn round_name(r: Round) -> &'static str {
    name_of(&ROUND_NAMES, r)
}

/// The rounding mode a suffix names.
pub fn round(name: &str) -> Option<Round> {
    lookup(&ROUND_NAMES, name)
}

/// The mnemonic of a mask operation.
pub fn maskop_mnemonic(op: MaskOp) -> &'static str {
    name_of(&MASKOP_MNEMONICS, op)
}

/// The mask operation a mnemonic names.
pub fn maskop(name: &str) -> Option<MaskOp> {
    lookup(&MASKOP_MNEMONICS, name)
}

/// The name of a CSR.
pub fn csr_name(c: Csr) -> &'static str {
    name_of(&CSR_NAMES, c)
}

/// The CSR a name names.
pub fn csr(name: &str) -> Option<Csr> {
    lookup(&CSR_NAMES, name)
}

/// The name of an event.
pub fn event_name(e: Event) -> &'static str {
    name_of(&EVENT_NAMES, e)
}

/// The event a name names.
pub fn event(name: &str) -> Option<Event> {
    lookup(&EVENT_NAMES, name)
}

/// Whether `name` is a valid symbol name: `[A-Za-z_][A-Za-z0-9_]*` that is not an operand
/// name (`r0`…, `f0`…, `m0`…, `acc`), or a local label `.L[A-Za-z0-9_]+`.
pub fn is_symbol_name(name: &str) -> bool {
    let body = name.strip_prefix(".L").unwrap_or(name);
    let local = body.len() != name.len();
    let mut chars = body.chars();
    let first_ok = match chars.next() {
        Some(c) => c.is_ascii_alphabetic() || c == '_' || (local && c.is_ascii_digit()),
        None => false,
    };
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && (local || operand_name(name).is_none())
}

/// Whether a symbol name is a local label (`.L…`), which the assembler does not export.
pub fn is_local(name: &str) -> bool {
    name.starts_with(".L")
}

/// The kind of operand an operand-shaped name denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperandName {
    /// `rN` (index not yet range-checked).
    Reg(u32),
    /// `fN` or `acc`.
    Field(u32),
    /// `mN`.
    Mask(u32),
}

/// If `name` has the shape of a register, field or mask operand (`r12`, `f3`, `acc`, `m9`),
/// which one and its index (which may be out of range). Case-insensitive.
pub fn operand_name(name: &str) -> Option<OperandName> {
    let lower = name.to_ascii_lowercase();
    if lower == "acc" {
        return Some(OperandName::Field(0));
    }
    let mut chars = lower.chars();
    let kind = chars.next()?;
    let digits = chars.as_str();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let index = digits.parse::<u32>().unwrap_or(u32::MAX);
    match kind {
        'r' => Some(OperandName::Reg(index)),
        'f' => Some(OperandName::Field(index)),
        'm' => Some(OperandName::Mask(index)),
        _ => None,
    }
}
