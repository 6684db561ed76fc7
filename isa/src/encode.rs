//! The binary encoding of instructions: every [`Instruction`] as one canonical 32-bit word,
//! and back.
//!
//! # Layout
//!
//! Bits are numbered from the least significant (bit 0). Every word starts with a 6-bit
//! **primary opcode** in bits `0..6`; the opcode alone decides which of the operand fields
//! below the word uses. Operand fields sit at fixed positions shared by all formats:
//!
//! | field | bits | holds |
//! | --- | --- | --- |
//! | `op` | 0..6 | primary opcode |
//! | `a` | 6..10 | first operand: destination register, field or mask |
//! | `b` | 10..14 | second operand (first source) |
//! | `c` | 14..18 | third operand (second source) |
//! | `m` | 18..21 | governing mask of a vector instruction |
//! | `fn` | 21..25 | sub-operation: [`AluOp`], [`Cond`], [`Round`] or [`MaskOp`] index |
//! | `sh` | 25..30 | shift amount of a vector instruction |
//! | `imm16` | 16..32 | 16-bit immediate or offset |
//! | `off22` | 10..32 | signed 22-bit jump offset |
//! | `csr` | 10..13 | [`Csr`] index |
//! | `vm` | 10..13 | governing mask of `vmovi` |
//! | `ev` | 6..8 | [`Event`] index |
//!
//! Every bit an instruction's format does not use is **reserved and must be zero**, and every
//! field value has exactly one meaning, so the encoding is canonical:
//! `decode(w) == Ok(i)` implies `encode(&i) == Ok(w)`. Opcode 0 is unassigned, so executing
//! zeroed instruction memory is a decode fault rather than a run of `nop`s.
//! `docs/ISA.md` has one bit-field table per format.

use crate::insn::{AluOp, Cond, Csr, Event, Field, Instruction, Mask, MaskOp, RedOp, Reg, Round};
use bitvec::prelude::*;
use std::ops::Range;
use thiserror::Error;

/// The bits of one instruction word, least significant bit first.
type WordBits = BitArray<[u32; 1], Lsb0>;

/// Bit positions of the operand fields (see the module documentation).
pub mod field {
    use std::ops::Range;

    /// Primary opcode.
    pub const OP: Range<usize> = 0..6;
    /// First operand (destination).
    pub const A: Range<usize> = 6..10;
    /// Second operand.
    pub const B: Range<usize> = 10..14;
    /// Third operand.
    pub const C: Range<usize> = 14..18;
    /// Governing mask of vector instructions.
    pub const M: Range<usize> = 18..21;
    /// Sub-operation.
    pub const FN: Range<usize> = 21..25;
    /// Vector shift amount.
    pub const SH: Range<usize> = 25..30;
    /// 16-bit immediate or offset.
    pub const IMM16: Range<usize> = 16..32;
    /// Signed 22-bit jump offset.
    pub const OFF22: Range<usize> = 10..32;
    /// Control/status register index.
    pub const CSR: Range<usize> = 10..13;
    /// Governing mask of `vmovi`.
    pub const VM: Range<usize> = 10..13;
    /// Event index.
    pub const EV: Range<usize> = 6..8;
}

/// The primary opcodes (bits `0..6` of a word).
pub mod opcode {
    /// `nop`
    pub const NOP: u8 = 0x01;
    /// `halt`
    pub const HALT: u8 = 0x02;
    /// Scalar register–register ALU operation.
    pub const ALU: u8 = 0x04;
    /// `addi`
    pub const ADDI: u8 = 0x05;
    /// `lui`
    pub const LUI: u8 = 0x06;
    /// `ori`
    pub const ORI: u8 = 0x07;
    /// `ld`
    pub const LD: u8 = 0x08;
    /// `st`
    pub const ST: u8 = 0x09;
    /// `beq`; the other branches follow in [`crate::insn::Cond::ALL`] order (`BRANCH + cond`).
    pub const BRANCH: u8 = 0x10;
    /// `jal`
    pub const JAL: u8 = 0x18;
    /// `jr`
    pub const JR: u8 = 0x19;
    /// `csrr`
    pub const CSRR: u8 = 0x1A;
    /// `wait`
    pub const WAIT: u8 = 0x20;
    /// `barrier`
    pub const BARRIER: u8 = 0x21;
    /// `send`
    pub const SEND: u8 = 0x22;
    /// `recv`
    pub const RECV: u8 = 0x23;
    /// `vrange`
    pub const VRANGE: u8 = 0x28;
    /// Vector–vector ALU operation.
    pub const VALU: u8 = 0x29;
    /// Vector–scalar ALU operation.
    pub const VALUS: u8 = 0x2A;
    /// Vector shift by an immediate.
    pub const VSHIFTI: u8 = 0x2B;
    /// `vdecay`
    pub const VDECAY: u8 = 0x2C;
    /// `vmulsh.*`
    pub const VMULSHIFT: u8 = 0x2D;
    /// `vdecay` with a field of per-neuron constants
    pub const VDECAYF: u8 = 0x37;
    /// `vmovi`
    pub const VMOVI: u8 = 0x2E;
    /// `vmovs`
    pub const VMOVS: u8 = 0x2F;
    /// `vmov`
    pub const VMOV: u8 = 0x30;
    /// Vector–vector compare.
    pub const VCMP: u8 = 0x31;
    /// Vector–scalar compare.
    pub const VCMPS: u8 = 0x32;
    /// Mask–mask operation.
    pub const MASKALU: u8 = 0x33;
    /// `mcount`
    pub const MCOUNT: u8 = 0x34;
    /// `vspike`
    pub const VSPIKE: u8 = 0x35;
    /// `wload`
    pub const WLOAD: u8 = 0x38;
    /// `wstore`
    pub const WSTORE: u8 = 0x39;
    /// `wsign`
    pub const WSIGN: u8 = 0x3A;
    /// `vred.*`
    pub const VRED: u8 = 0x3B;
    /// `vget`
    pub const VGET: u8 = 0x3C;
    /// `vset`
    pub const VSET: u8 = 0x3D;
    /// `ald`
    pub const ALD: u8 = 0x24;
    /// `isqrt`
    pub const ISQRT: u8 = 0x0A;
    /// `vred.sumsq`
    pub const VREDSUMSQ: u8 = 0x3E;
    /// `vdivq`
    pub const VDIVQ: u8 = 0x36;
}

/// Smallest `Jal` offset the encoding holds (−2^21).
pub const JAL_OFF_MIN: i32 = -(1 << 21);
/// Largest `Jal` offset the encoding holds (2^21 − 1).
pub const JAL_OFF_MAX: i32 = (1 << 21) - 1;

/// An instruction the 32-bit encoding cannot represent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// A numeric operand lies outside the range its field holds.
    #[error("`{insn}`: field `{field}` = {value} is out of range {min}..={max}")]
    OutOfRange {
        /// The instruction's name (`Instruction` variant).
        insn: &'static str,
        /// The operand.
        field: &'static str,
        /// Its value.
        value: i64,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// A branch offset of zero (a branch to itself), which the ISA forbids.
    #[error("`{insn}`: field `{field}` = 0: a branch may not target itself")]
    ZeroOffset {
        /// The instruction's name.
        insn: &'static str,
        /// The operand.
        field: &'static str,
    },
    /// A sub-operation this instruction does not have (e.g. `VShiftI` with `Add`).
    #[error("`{insn}`: field `{field}` = {value} is not allowed: {rule}")]
    BadSubOp {
        /// The instruction's name.
        insn: &'static str,
        /// The operand.
        field: &'static str,
        /// The value given, in `Debug` form.
        value: String,
        /// The rule broken.
        rule: &'static str,
    },
}

/// A 32-bit word that is not the canonical encoding of any instruction.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The primary opcode is unassigned.
    #[error("word {word:#010x}: field `op` = {opcode:#04x} is not an assigned opcode")]
    UnknownOpcode {
        /// The word.
        word: u32,
        /// Its opcode.
        opcode: u8,
    },
    /// Bits the instruction's format reserves are set.
    #[error(
        "word {word:#010x}: reserved bits {bits:#010x} of `{insn}` are set (they must be zero)"
    )]
    ReservedBits {
        /// The word.
        word: u32,
        /// The instruction the opcode names.
        insn: &'static str,
        /// The reserved bits that are set.
        bits: u32,
    },
    /// A sub-operation field holds a value with no meaning.
    #[error("word {word:#010x}: field `{field}` = {value} of `{insn}` is not a valid {what}")]
    BadSubOp {
        /// The word.
        word: u32,
        /// The instruction the opcode names.
        insn: &'static str,
        /// The field.
        field: &'static str,
        /// Its value.
        value: u32,
        /// What the field should hold.
        what: &'static str,
    },
    /// An operand field names a register, field or mask that does not exist.
    #[error("word {word:#010x}: field `{field}` = {value} of `{insn}` is not a valid {what}")]
    BadOperand {
        /// The word.
        word: u32,
        /// The instruction the opcode names.
        insn: &'static str,
        /// The field.
        field: &'static str,
        /// Its value.
        value: u32,
        /// What the field should hold.
        what: &'static str,
    },
    /// A branch word with offset zero (forbidden: see [`EncodeError::ZeroOffset`]).
    #[error("word {word:#010x}: field `imm16` = 0 of `{insn}`: a branch may not target itself")]
    ZeroOffset {
        /// The word.
        word: u32,
        /// The instruction the opcode names.
        insn: &'static str,
    },
}

/// The name of an instruction (its `Instruction` variant), for messages.
pub fn insn_name(insn: &Instruction) -> &'static str {
    use Instruction::*;
    match insn {
        Nop => "Nop",
        Halt => "Halt",
        Alu { .. } => "Alu",
        Addi { .. } => "Addi",
        Lui { .. } => "Lui",
        Ori { .. } => "Ori",
        Ld { .. } => "Ld",
        St { .. } => "St",
        Branch { .. } => "Branch",
        Jal { .. } => "Jal",
        Jr { .. } => "Jr",
        Csrr { .. } => "Csrr",
        Wait { .. } => "Wait",
        Barrier => "Barrier",
        Send { .. } => "Send",
        Recv { .. } => "Recv",
        VRange { .. } => "VRange",
        VAlu { .. } => "VAlu",
        VAluS { .. } => "VAluS",
        VShiftI { .. } => "VShiftI",
        VDecay { .. } => "VDecay",
        VDecayF { .. } => "VDecayF",
        VMulShift { .. } => "VMulShift",
        VMovI { .. } => "VMovI",
        VMovS { .. } => "VMovS",
        VMov { .. } => "VMov",
        VCmp { .. } => "VCmp",
        VCmpS { .. } => "VCmpS",
        MaskAlu { .. } => "MaskAlu",
        MCount { .. } => "MCount",
        VSpike { .. } => "VSpike",
        WLoad { .. } => "WLoad",
        WStore { .. } => "WStore",
        WSign { .. } => "WSign",
        VRed { .. } => "VRed",
        VGet { .. } => "VGet",
        VSet { .. } => "VSet",
        ALd { .. } => "ALd",
        VRedSumSq { .. } => "VRedSumSq",
        ISqrt { .. } => "ISqrt",
        VDivQ { .. } => "VDivQ",
    }
}

/// The instruction an opcode names and the operand fields its format uses, or `None` for an
/// unassigned opcode.
pub fn layout(op: u8) -> Option<(&'static str, &'static [Range<usize>])> {
    use field::*;
    use opcode::*;
    const V3: &[Range<usize>] = &[A, B, C, M, FN];
    Some(match op {
        NOP => ("Nop", &[]),
        HALT => ("Halt", &[]),
        BARRIER => ("Barrier", &[]),
        ALU => ("Alu", &[A, B, C, FN]),
        ADDI => ("Addi", &[A, B, IMM16]),
        ORI => ("Ori", &[A, B, IMM16]),
        LD => ("Ld", &[A, B, IMM16]),
        ST => ("St", &[A, B, IMM16]),
        LUI => ("Lui", &[A, IMM16]),
        o if (BRANCH..BRANCH + 6).contains(&o) => ("Branch", &[A, B, IMM16]),
        JAL => ("Jal", &[A, OFF22]),
        JR => ("Jr", &[A]),
        CSRR => ("Csrr", &[A, CSR]),
        WAIT => ("Wait", &[EV]),
        SEND => ("Send", &[A, B]),
        RECV => ("Recv", &[A, B]),
        VRANGE => ("VRange", &[A, B]),
        VALU => ("VAlu", V3),
        VALUS => ("VAluS", V3),
        VSHIFTI => ("VShiftI", &[A, B, M, FN, SH]),
        VDECAY => ("VDecay", &[A, B, C, M]),
        VDECAYF => ("VDecayF", &[A, B, C, M]),
        VMULSHIFT => ("VMulShift", &[A, B, C, M, FN, SH]),
        VMOVI => ("VMovI", &[A, VM, IMM16]),
        VMOVS => ("VMovS", &[A, B, M]),
        VMOV => ("VMov", &[A, B, M]),
        VCMP => ("VCmp", V3),
        VCMPS => ("VCmpS", V3),
        MASKALU => ("MaskAlu", &[A, B, C, FN]),
        MCOUNT => ("MCount", &[A, B]),
        VSPIKE => ("VSpike", &[M]),
        WLOAD => ("WLoad", &[A, C, M]),
        WSTORE => ("WStore", &[B, C, M]),
        WSIGN => ("WSign", &[C]),
        VRED => ("VRed", &[A, B, M, FN]),
        VGET => ("VGet", &[A, B, C]),
        VSET => ("VSet", &[A, B, C]),
        ALD => ("ALd", &[A, B]),
        ISQRT => ("ISqrt", &[A, B, C]),
        VREDSUMSQ => ("VRedSumSq", &[A, B, C, M]),
        VDIVQ => ("VDivQ", &[A, B, C, M]),
        _ => return None,
    })
}

/// The bits of a word that the given fields (plus the opcode) occupy.
fn used_mask(fields: &[Range<usize>]) -> u32 {
    let mut bits = WordBits::ZERO;
    bits[field::OP].fill(true);
    for f in fields {
        bits[f.clone()].fill(true);
    }
    bits.into_inner()[0]
}

/// A word under construction.
struct WordWriter {
    bits: WordBits,
    insn: &'static str,
}

impl WordWriter {
    fn new(op: u8, insn: &'static str) -> Self {
        let mut bits = WordBits::ZERO;
        bits[field::OP].store_le(op);
        WordWriter { bits, insn }
    }

    fn put(&mut self, f: Range<usize>, value: u32) -> &mut Self {
        self.bits[f].store_le(value);
        self
    }

    fn reg(&mut self, f: Range<usize>, r: Reg) -> &mut Self {
        self.put(f, u32::from(r.index()))
    }

    fn field(&mut self, f: Range<usize>, x: Field) -> &mut Self {
        self.put(f, u32::from(x.index()))
    }

    fn mask(&mut self, f: Range<usize>, m: Mask) -> &mut Self {
        self.put(f, u32::from(m.index()))
    }

    fn shift(&mut self, name: &'static str, sh: u8) -> Result<&mut Self, EncodeError> {
        if sh > 31 {
            return Err(EncodeError::OutOfRange {
                insn: self.insn,
                field: name,
                value: i64::from(sh),
                min: 0,
                max: 31,
            });
        }
        Ok(self.put(field::SH, u32::from(sh)))
    }

    fn word(&self) -> u32 {
        self.bits.into_inner()[0]
    }
}

fn alu_index(op: AluOp) -> u32 {
    AluOp::ALL.iter().position(|&o| o == op).unwrap_or(0) as u32
}

fn cond_index(c: Cond) -> u32 {
    Cond::ALL.iter().position(|&o| o == c).unwrap_or(0) as u32
}

fn round_index(r: Round) -> u32 {
    Round::ALL.iter().position(|&o| o == r).unwrap_or(0) as u32
}

fn redop_index(o: RedOp) -> u32 {
    RedOp::ALL.iter().position(|&x| x == o).unwrap_or(0) as u32
}

fn maskop_index(m: MaskOp) -> u32 {
    MaskOp::ALL.iter().position(|&o| o == m).unwrap_or(0) as u32
}

fn csr_index(c: Csr) -> u32 {
    Csr::ALL.iter().position(|&o| o == c).unwrap_or(0) as u32
}

fn event_index(e: Event) -> u32 {
    Event::ALL.iter().position(|&o| o == e).unwrap_or(0) as u32
}

/// Whether `op` is one of the shifts `VShiftI` accepts.
pub fn is_shift(op: AluOp) -> bool {
    matches!(op, AluOp::Shl | AluOp::Sra | AluOp::Srl)
}

/// Encodes one instruction as its canonical 32-bit word.
///
/// Fails, naming the field, when an operand does not fit: a `Jal` offset outside
/// −2^21..=2^21−1, a branch offset of 0, a shift amount above 31, or a `VShiftI` whose
/// operation is not a shift.
pub fn encode(insn: &Instruction) -> Result<u32, EncodeError> {
    use field::*;
    use opcode::*;
    use Instruction::*;
    let name = insn_name(insn);
    let w = |op: u8| WordWriter::new(op, name);
    let word = match *insn {
        Nop => w(NOP).word(),
        Halt => w(HALT).word(),
        Barrier => w(BARRIER).word(),
        Alu { op, rd, rs, rt } => w(ALU)
            .reg(A, rd)
            .reg(B, rs)
            .reg(C, rt)
            .put(FN, alu_index(op))
            .word(),
        Addi { rd, rs, imm } => w(ADDI)
            .reg(A, rd)
            .reg(B, rs)
            .put(IMM16, u32::from(imm as u16))
            .word(),
        Ori { rd, rs, imm } => w(ORI)
            .reg(A, rd)
            .reg(B, rs)
            .put(IMM16, u32::from(imm))
            .word(),
        Ld { rd, base, off } => w(LD)
            .reg(A, rd)
            .reg(B, base)
            .put(IMM16, u32::from(off as u16))
            .word(),
        St { rs, base, off } => w(ST)
            .reg(A, rs)
            .reg(B, base)
            .put(IMM16, u32::from(off as u16))
            .word(),
        Lui { rd, imm } => w(LUI).reg(A, rd).put(IMM16, u32::from(imm)).word(),
        Branch { cond, rs, rt, off } => {
            if off == 0 {
                return Err(EncodeError::ZeroOffset {
                    insn: name,
                    field: "off",
                });
            }
            w(BRANCH + cond_index(cond) as u8)
                .reg(A, rs)
                .reg(B, rt)
                .put(IMM16, u32::from(off as u16))
                .word()
        }
        Jal { rd, off } => {
            if !(JAL_OFF_MIN..=JAL_OFF_MAX).contains(&off) {
                return Err(EncodeError::OutOfRange {
                    insn: name,
                    field: "off",
                    value: i64::from(off),
                    min: i64::from(JAL_OFF_MIN),
                    max: i64::from(JAL_OFF_MAX),
                });
            }
            w(JAL)
                .reg(A, rd)
                .put(OFF22, (off as u32) & ((1 << 22) - 1))
                .word()
        }
        Jr { rs } => w(JR).reg(A, rs).word(),
        Csrr { rd, csr } => w(CSRR).reg(A, rd).put(CSR, csr_index(csr)).word(),
        Wait { event } => w(WAIT).put(EV, event_index(event)).word(),
        Send { dst, payload } => w(SEND).reg(A, dst).reg(B, payload).word(),
        Recv { rd, ra } => w(RECV).reg(A, rd).reg(B, ra).word(),
        VRange { lo, hi } => w(VRANGE).reg(A, lo).reg(B, hi).word(),
        VAlu { op, fd, fa, fb, m } => w(VALU)
            .field(A, fd)
            .field(B, fa)
            .field(C, fb)
            .mask(M, m)
            .put(FN, alu_index(op))
            .word(),
        VAluS { op, fd, fa, rs, m } => w(VALUS)
            .field(A, fd)
            .field(B, fa)
            .reg(C, rs)
            .mask(M, m)
            .put(FN, alu_index(op))
            .word(),
        VShiftI { op, fd, fa, sh, m } => {
            if !is_shift(op) {
                return Err(EncodeError::BadSubOp {
                    insn: name,
                    field: "op",
                    value: format!("{op:?}"),
                    rule: "a shift by an immediate is one of Shl, Sra, Srl",
                });
            }
            w(VSHIFTI)
                .field(A, fd)
                .field(B, fa)
                .mask(M, m)
                .put(FN, alu_index(op))
                .shift("sh", sh)?
                .word()
        }
        VDecay { fd, fa, rs, m } => w(VDECAY)
            .field(A, fd)
            .field(B, fa)
            .reg(C, rs)
            .mask(M, m)
            .word(),
        VDecayF { fd, fa, fk, m } => w(VDECAYF)
            .field(A, fd)
            .field(B, fa)
            .field(C, fk)
            .mask(M, m)
            .word(),
        VMulShift {
            fd,
            fa,
            fb,
            sh,
            round,
            m,
        } => w(VMULSHIFT)
            .field(A, fd)
            .field(B, fa)
            .field(C, fb)
            .mask(M, m)
            .put(FN, round_index(round))
            .shift("sh", sh)?
            .word(),
        VMovI { fd, imm, m } => w(VMOVI)
            .field(A, fd)
            .mask(VM, m)
            .put(IMM16, u32::from(imm as u16))
            .word(),
        VMovS { fd, rs, m } => w(VMOVS).field(A, fd).reg(B, rs).mask(M, m).word(),
        VMov { fd, fa, m } => w(VMOV).field(A, fd).field(B, fa).mask(M, m).word(),
        VCmp {
            cond,
            md,
            fa,
            fb,
            m,
        } => w(VCMP)
            .mask(A, md)
            .field(B, fa)
            .field(C, fb)
            .mask(M, m)
            .put(FN, cond_index(cond))
            .word(),
        VCmpS {
            cond,
            md,
            fa,
            rs,
            m,
        } => w(VCMPS)
            .mask(A, md)
            .field(B, fa)
            .reg(C, rs)
            .mask(M, m)
            .put(FN, cond_index(cond))
            .word(),
        MaskAlu { op, md, ma, mb } => w(MASKALU)
            .mask(A, md)
            .mask(B, ma)
            .mask(C, mb)
            .put(FN, maskop_index(op))
            .word(),
        MCount { rd, m } => w(MCOUNT).reg(A, rd).mask(B, m).word(),
        VSpike { m } => w(VSPIKE).mask(M, m).word(),
        WLoad { fd, row, m } => w(WLOAD).field(A, fd).reg(C, row).mask(M, m).word(),
        WStore { fa, row, m } => w(WSTORE).field(B, fa).reg(C, row).mask(M, m).word(),
        WSign { row } => w(WSIGN).reg(C, row).word(),
        VRed { op, rd, fa, m } => w(VRED)
            .reg(A, rd)
            .field(B, fa)
            .mask(M, m)
            .put(FN, redop_index(op))
            .word(),
        VGet { rd, fa, rn } => w(VGET).reg(A, rd).field(B, fa).reg(C, rn).word(),
        VSet { fd, rn, rs } => w(VSET).field(A, fd).reg(B, rn).reg(C, rs).word(),
        ALd { rd, ra } => w(ALD).reg(A, rd).reg(B, ra).word(),
        VRedSumSq { hi, lo, fa, m } => w(VREDSUMSQ)
            .reg(A, hi)
            .field(B, fa)
            .reg(C, lo)
            .mask(M, m)
            .word(),
        ISqrt { rd, hi, lo } => w(ISQRT).reg(A, rd).reg(B, hi).reg(C, lo).word(),
        VDivQ { fd, fa, rs, m } => w(VDIVQ)
            .field(A, fd)
            .field(B, fa)
            .reg(C, rs)
            .mask(M, m)
            .word(),
    };
    Ok(word)
}

/// Reads the fields of one word being decoded.
struct WordReader {
    bits: WordBits,
    word: u32,
    insn: &'static str,
}

impl WordReader {
    fn get(&self, f: Range<usize>) -> u32 {
        self.bits[f].load_le::<u32>()
    }

    fn reg(&self, f: Range<usize>, name: &'static str) -> Result<Reg, DecodeError> {
        let v = self.get(f);
        Reg::new(v as u8).ok_or(self.bad_operand(name, v, "register (r0..r15)"))
    }

    fn field(&self, f: Range<usize>, name: &'static str) -> Result<Field, DecodeError> {
        let v = self.get(f);
        Field::new(v as u8).ok_or(self.bad_operand(name, v, "field (f0..f15)"))
    }

    fn mask(&self, f: Range<usize>, name: &'static str) -> Result<Mask, DecodeError> {
        let v = self.get(f);
        Mask::new(v as u8).ok_or(self.bad_operand(name, v, "mask (m0..m7)"))
    }

    fn bad_operand(&self, field: &'static str, value: u32, what: &'static str) -> DecodeError {
        DecodeError::BadOperand {
            word: self.word,
            insn: self.insn,
            field,
            value,
            what,
        }
    }

    fn sub<T: Copy>(&self, all: &[T], what: &'static str) -> Result<T, DecodeError> {
        let v = self.get(field::FN);
        all.get(v as usize).copied().ok_or(DecodeError::BadSubOp {
            word: self.word,
            insn: self.insn,
            field: "fn",
            value: v,
            what,
        })
    }

    fn imm_i16(&self) -> i16 {
        self.get(field::IMM16) as u16 as i16
    }

    fn imm_u16(&self) -> u16 {
        self.get(field::IMM16) as u16
    }

    fn sh(&self) -> u8 {
        self.get(field::SH) as u8
    }
}

/// Decodes one word into the instruction it canonically encodes.
///
/// Fails, naming the field and showing the word in hex, for an unassigned opcode, reserved
/// bits that are set, a sub-operation field with no meaning, an operand index that names no
/// register/field/mask, or a branch offset of zero.
pub fn decode(word: u32) -> Result<Instruction, DecodeError> {
    use field::*;
    use opcode::*;
    use Instruction::*;
    let bits = WordBits::new([word]);
    let op: u8 = bits[OP].load_le();
    let (insn, fields) = layout(op).ok_or(DecodeError::UnknownOpcode { word, opcode: op })?;
    let reserved = word & !used_mask(fields);
    if reserved != 0 {
        return Err(DecodeError::ReservedBits {
            word,
            insn,
            bits: reserved,
        });
    }
    let r = WordReader { bits, word, insn };
    let alu = "ALU operation (0..=15)";
    Ok(match op {
        NOP => Nop,
        HALT => Halt,
        BARRIER => Barrier,
        ALU => Alu {
            op: r.sub(&AluOp::ALL, alu)?,
            rd: r.reg(A, "rd")?,
            rs: r.reg(B, "rs")?,
            rt: r.reg(C, "rt")?,
        },
        ADDI => Addi {
            rd: r.reg(A, "rd")?,
            rs: r.reg(B, "rs")?,
            imm: r.imm_i16(),
        },
        ORI => Ori {
            rd: r.reg(A, "rd")?,
            rs: r.reg(B, "rs")?,
            imm: r.imm_u16(),
        },
        LD => Ld {
            rd: r.reg(A, "rd")?,
            base: r.reg(B, "base")?,
            off: r.imm_i16(),
        },
        ST => St {
            rs: r.reg(A, "rs")?,
            base: r.reg(B, "base")?,
            off: r.imm_i16(),
        },
        LUI => Lui {
            rd: r.reg(A, "rd")?,
            imm: r.imm_u16(),
        },
        o if (BRANCH..BRANCH + 6).contains(&o) => {
            let off = r.imm_i16();
            if off == 0 {
                return Err(DecodeError::ZeroOffset { word, insn });
            }
            Branch {
                cond: Cond::ALL[usize::from(o - BRANCH)],
                rs: r.reg(A, "rs")?,
                rt: r.reg(B, "rt")?,
                off,
            }
        }
        JAL => Jal {
            rd: r.reg(A, "rd")?,
            off: ((r.get(OFF22) << 10) as i32) >> 10,
        },
        JR => Jr {
            rs: r.reg(A, "rs")?,
        },
        CSRR => Csrr {
            rd: r.reg(A, "rd")?,
            csr: Csr::ALL[r.get(CSR) as usize],
        },
        WAIT => {
            let v = r.get(EV);
            let event = Event::ALL
                .get(v as usize)
                .copied()
                .ok_or(DecodeError::BadSubOp {
                    word,
                    insn,
                    field: "ev",
                    value: v,
                    what: "event (0 = sample, 1 = learn)",
                })?;
            Wait { event }
        }
        SEND => Send {
            dst: r.reg(A, "dst")?,
            payload: r.reg(B, "payload")?,
        },
        RECV => Recv {
            rd: r.reg(A, "rd")?,
            ra: r.reg(B, "ra")?,
        },
        VRANGE => VRange {
            lo: r.reg(A, "lo")?,
            hi: r.reg(B, "hi")?,
        },
        VALU => VAlu {
            op: r.sub(&AluOp::ALL, alu)?,
            fd: r.field(A, "fd")?,
            fa: r.field(B, "fa")?,
            fb: r.field(C, "fb")?,
            m: r.mask(M, "m")?,
        },
        VALUS => VAluS {
            op: r.sub(&AluOp::ALL, alu)?,
            fd: r.field(A, "fd")?,
            fa: r.field(B, "fa")?,
            rs: r.reg(C, "rs")?,
            m: r.mask(M, "m")?,
        },
        VSHIFTI => {
            let op = r.sub(&AluOp::ALL, alu)?;
            if !is_shift(op) {
                return Err(DecodeError::BadSubOp {
                    word,
                    insn,
                    field: "fn",
                    value: r.get(FN),
                    what: "shift (12 = shl, 13 = sra, 14 = srl)",
                });
            }
            VShiftI {
                op,
                fd: r.field(A, "fd")?,
                fa: r.field(B, "fa")?,
                sh: r.sh(),
                m: r.mask(M, "m")?,
            }
        }
        VDECAY => VDecay {
            fd: r.field(A, "fd")?,
            fa: r.field(B, "fa")?,
            rs: r.reg(C, "rs")?,
            m: r.mask(M, "m")?,
        },
        VDECAYF => VDecayF {
            fd: r.field(A, "fd")?,
            fa: r.field(B, "fa")?,
            fk: r.field(C, "fk")?,
            m: r.mask(M, "m")?,
        },
        VMULSHIFT => VMulShift {
            fd: r.field(A, "fd")?,
            fa: r.field(B, "fa")?,
            fb: r.field(C, "fb")?,
            sh: r.sh(),
            round: r.sub(&Round::ALL, "rounding mode (0..=3)")?,
            m: r.mask(M, "m")?,
        },
        VMOVI => VMovI {
            fd: r.field(A, "fd")?,
            imm: r.imm_i16(),
            m: r.mask(VM, "m")?,
        },
        VMOVS => VMovS {
            fd: r.field(A, "fd")?,
            rs: r.reg(B, "rs")?,
            m: r.mask(M, "m")?,
        },
        VMOV => VMov {
            fd: r.field(A, "fd")?,
            fa: r.field(B, "fa")?,
            m: r.mask(M, "m")?,
        },
        VCMP => VCmp {
            cond: r.sub(&Cond::ALL, "condition (0..=5)")?,
            md: r.mask(A, "md")?,
            fa: r.field(B, "fa")?,
            fb: r.field(C, "fb")?,
            m: r.mask(M, "m")?,
        },
        VCMPS => VCmpS {
            cond: r.sub(&Cond::ALL, "condition (0..=5)")?,
            md: r.mask(A, "md")?,
            fa: r.field(B, "fa")?,
            rs: r.reg(C, "rs")?,
            m: r.mask(M, "m")?,
        },
        MASKALU => MaskAlu {
            op: r.sub(&MaskOp::ALL, "mask operation (0..=3)")?,
            md: r.mask(A, "md")?,
            ma: r.mask(B, "ma")?,
            mb: r.mask(C, "mb")?,
        },
        MCOUNT => MCount {
            rd: r.reg(A, "rd")?,
            m: r.mask(B, "m")?,
        },
        VSPIKE => VSpike { m: r.mask(M, "m")? },
        WLOAD => WLoad {
            fd: r.field(A, "fd")?,
            row: r.reg(C, "row")?,
            m: r.mask(M, "m")?,
        },
        WSTORE => WStore {
            fa: r.field(B, "fa")?,
            row: r.reg(C, "row")?,
            m: r.mask(M, "m")?,
        },
        WSIGN => WSign {
            row: r.reg(C, "row")?,
        },
        VRED => VRed {
            op: r.sub(&RedOp::ALL, "reduction (0..=2)")?,
            rd: r.reg(A, "rd")?,
            fa: r.field(B, "fa")?,
            m: r.mask(M, "m")?,
        },
        VGET => VGet {
            rd: r.reg(A, "rd")?,
            fa: r.field(B, "fa")?,
            rn: r.reg(C, "rn")?,
        },
        VSET => VSet {
            fd: r.field(A, "fd")?,
            rn: r.reg(B, "rn")?,
            rs: r.reg(C, "rs")?,
        },
        ALD => ALd {
            rd: r.reg(A, "rd")?,
            ra: r.reg(B, "ra")?,
        },
        VREDSUMSQ => VRedSumSq {
            hi: r.reg(A, "hi")?,
            fa: r.field(B, "fa")?,
            lo: r.reg(C, "lo")?,
            m: r.mask(M, "m")?,
        },
        ISQRT => ISqrt {
            rd: r.reg(A, "rd")?,
            hi: r.reg(B, "hi")?,
            lo: r.reg(C, "lo")?,
        },
        VDIVQ => VDivQ {
            fd: r.field(A, "fd")?,
            fa: r.field(B, "fa")?,
            rs: r.reg(C, "rs")?,
            m: r.mask(M, "m")?,
        },
        _ => return Err(DecodeError::UnknownOpcode { word, opcode: op }),
    })
}

/// Encodes a whole instruction sequence; the error carries the index of the first instruction
/// that does not encode.
pub fn encode_all(text: &[Instruction]) -> Result<Vec<u32>, (usize, EncodeError)> {
    text.iter()
        .enumerate()
        .map(|(i, insn)| encode(insn).map_err(|e| (i, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcode_zero_is_unassigned_so_zeroed_memory_faults() {
        assert_eq!(
            decode(0),
            Err(DecodeError::UnknownOpcode { word: 0, opcode: 0 })
        );
    }

    #[test]
    fn operand_fields_of_a_format_do_not_overlap() {
        for op in 0..64u8 {
            if let Some((name, fields)) = layout(op) {
                let mut seen = 0u32;
                for f in fields.iter().chain(std::iter::once(&field::OP)) {
                    let m = used_mask(std::slice::from_ref(f)) & !used_mask(&[]);
                    let m = if *f == field::OP { used_mask(&[]) } else { m };
                    assert_eq!(seen & m, 0, "{name}: field {f:?} overlaps");
                    seen |= m;
                }
            }
        }
    }
}
