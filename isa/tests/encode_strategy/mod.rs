//! proptest strategies over the instruction set, shared by the encoding and assembler tests:
//! every `Instruction` variant, every operand over its whole encodable range.
#![allow(dead_code)]

use isa::insn::{AluOp, Cond, Csr, Event, Field, Instruction, Mask, MaskOp, RedOp, Reg, Round};
use proptest::prelude::*;
use proptest::sample::select;

/// Any register r0..r15.
pub fn reg() -> impl Strategy<Value = Reg> {
    (0..Reg::COUNT).prop_map(|i| Reg::new(i).unwrap())
}

/// Any field f0..f15.
pub fn field() -> impl Strategy<Value = Field> {
    (0..Field::COUNT).prop_map(|i| Field::new(i).unwrap())
}

/// Any mask m0..m7.
pub fn mask() -> impl Strategy<Value = Mask> {
    (0..Mask::COUNT).prop_map(|i| Mask::new(i).unwrap())
}

pub fn alu() -> impl Strategy<Value = AluOp> {
    select(AluOp::ALL.to_vec())
}

pub fn cond() -> impl Strategy<Value = Cond> {
    select(Cond::ALL.to_vec())
}

/// A branch offset: any non-zero i16.
pub fn branch_off() -> impl Strategy<Value = i16> {
    any::<i16>().prop_filter("a branch may not target itself", |&o| o != 0)
}

/// A jal offset over the whole 22-bit signed range.
pub fn jal_off() -> impl Strategy<Value = i32> {
    -(1i32 << 21)..(1i32 << 21)
}

/// Every non-jump instruction (operands over their full ranges).
pub fn straight_line() -> impl Strategy<Value = Instruction> {
    use Instruction as I;
    prop_oneof![
        Just(I::Nop),
        Just(I::Halt),
        Just(I::Barrier),
        (alu(), reg(), reg(), reg()).prop_map(|(op, rd, rs, rt)| I::Alu { op, rd, rs, rt }),
        (reg(), reg(), any::<i16>()).prop_map(|(rd, rs, imm)| I::Addi { rd, rs, imm }),
        (reg(), any::<u16>()).prop_map(|(rd, imm)| I::Lui { rd, imm }),
        (reg(), reg(), any::<u16>()).prop_map(|(rd, rs, imm)| I::Ori { rd, rs, imm }),
        (reg(), reg(), any::<i16>()).prop_map(|(rd, base, off)| I::Ld { rd, base, off }),
        (reg(), reg(), any::<i16>()).prop_map(|(rs, base, off)| I::St { rs, base, off }),
        reg().prop_map(|rs| I::Jr { rs }),
        (reg(), select(Csr::ALL.to_vec())).prop_map(|(rd, csr)| I::Csrr { rd, csr }),
        select(Event::ALL.to_vec()).prop_map(|event| I::Wait { event }),
        (reg(), reg()).prop_map(|(dst, payload)| I::Send { dst, payload }),
        (reg(), reg()).prop_map(|(rd, ra)| I::Recv { rd, ra }),
        (reg(), reg()).prop_map(|(lo, hi)| I::VRange { lo, hi }),
        (alu(), field(), field(), field(), mask()).prop_map(|(op, fd, fa, fb, m)| I::VAlu {
            op,
            fd,
            fa,
            fb,
            m
        }),
        (alu(), field(), field(), reg(), mask()).prop_map(|(op, fd, fa, rs, m)| I::VAluS {
            op,
            fd,
            fa,
            rs,
            m
        }),
        (
            select(vec![AluOp::Shl, AluOp::Sra, AluOp::Srl]),
            field(),
            field(),
            0u8..32,
            mask()
        )
            .prop_map(|(op, fd, fa, sh, m)| I::VShiftI { op, fd, fa, sh, m }),
        (field(), field(), reg(), mask()).prop_map(|(fd, fa, rs, m)| I::VDecay { fd, fa, rs, m }),
        (field(), field(), field(), mask()).prop_map(|(fd, fa, fk, m)| I::VDecayF {
            fd,
            fa,
            fk,
            m
        }),
        (
            field(),
            field(),
            field(),
            0u8..32,
            select(Round::ALL.to_vec()),
            mask()
        )
            .prop_map(|(fd, fa, fb, sh, round, m)| I::VMulShift {
                fd,
                fa,
                fb,
                sh,
                round,
                m
            }),
        (field(), any::<i16>(), mask()).prop_map(|(fd, imm, m)| I::VMovI { fd, imm, m }),
        (field(), reg(), mask()).prop_map(|(fd, rs, m)| I::VMovS { fd, rs, m }),
        (field(), field(), mask()).prop_map(|(fd, fa, m)| I::VMov { fd, fa, m }),
        (cond(), mask(), field(), field(), mask()).prop_map(|(cond, md, fa, fb, m)| I::VCmp {
            cond,
            md,
            fa,
            fb,
            m
        }),
        (cond(), mask(), field(), reg(), mask()).prop_map(|(cond, md, fa, rs, m)| I::VCmpS {
            cond,
            md,
            fa,
            rs,
            m
        }),
        (select(MaskOp::ALL.to_vec()), mask(), mask(), mask())
            .prop_map(|(op, md, ma, mb)| I::MaskAlu { op, md, ma, mb }),
        (reg(), mask()).prop_map(|(rd, m)| I::MCount { rd, m }),
        mask().prop_map(|m| I::VSpike { m }),
        (field(), reg(), mask()).prop_map(|(fd, row, m)| I::WLoad { fd, row, m }),
        (field(), reg(), mask()).prop_map(|(fa, row, m)| I::WStore { fa, row, m }),
        reg().prop_map(|row| I::WSign { row }),
        (select(RedOp::ALL.to_vec()), reg(), field(), mask()).prop_map(|(op, rd, fa, m)| I::VRed {
            op,
            rd,
            fa,
            m
        }),
        (reg(), field(), reg()).prop_map(|(rd, fa, rn)| I::VGet { rd, fa, rn }),
        (field(), reg(), reg()).prop_map(|(fd, rn, rs)| I::VSet { fd, rn, rs }),
        (reg(), reg()).prop_map(|(rd, ra)| I::ALd { rd, ra }),
        (reg(), reg(), field(), mask()).prop_map(|(hi, lo, fa, m)| I::VRedSumSq { hi, lo, fa, m }),
        (reg(), reg(), reg()).prop_map(|(rd, hi, lo)| I::ISqrt { rd, hi, lo }),
        (field(), field(), reg(), mask()).prop_map(|(fd, fa, rs, m)| I::VDivQ { fd, fa, rs, m }),
    ]
}

/// Every instruction of the ISA, each operand over its whole encodable range.
pub fn instruction() -> impl Strategy<Value = Instruction> {
    use Instruction as I;
    prop_oneof![
        8 => straight_line(),
        1 => (cond(), reg(), reg(), branch_off())
            .prop_map(|(cond, rs, rt, off)| I::Branch { cond, rs, rt, off }),
        1 => (reg(), jal_off()).prop_map(|(rd, off)| I::Jal { rd, off }),
    ]
}

/// The variant name of an instruction, to check coverage.
pub fn variant(i: &Instruction) -> &'static str {
    isa::encode::insn_name(i)
}

/// Every variant name, in declaration order.
pub const VARIANTS: [&str; 41] = [
    "Nop",
    "Halt",
    "Alu",
    "Addi",
    "Lui",
    "Ori",
    "Ld",
    "St",
    "Branch",
    "Jal",
    "Jr",
    "Csrr",
    "Wait",
    "Barrier",
    "Send",
    "Recv",
    "VRange",
    "VAlu",
    "VAluS",
    "VShiftI",
    "VDecay",
    "VDecayF",
    "VMulShift",
    "VMovI",
    "VMovS",
    "VMov",
    "VCmp",
    "VCmpS",
    "MaskAlu",
    "MCount",
    "VSpike",
    "WLoad",
    "WStore",
    "WSign",
    "VRed",
    "VGet",
    "VSet",
    "ALd",
    "VRedSumSq",
    "ISqrt",
    "VDivQ",
];
