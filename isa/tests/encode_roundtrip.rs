//! The 32-bit encoding: every instruction round-trips through its word, every word either
//! decodes to the instruction whose canonical encoding it is or yields a typed error naming the
//! field, and out-of-range operands are refused by name.

mod encode_strategy;

use encode_strategy::{instruction, variant, VARIANTS};
use isa::encode::{decode, encode, layout, DecodeError, EncodeError};
use isa::insn::{AluOp, Cond, Field, Instruction, Mask, Reg};
use proptest::prelude::*;
use std::collections::BTreeSet;

proptest! {
    #[test]
    fn every_instruction_round_trips_through_its_word(i in instruction()) {
        let w = encode(&i).expect("every instruction of the strategy is in range");
        prop_assert_eq!(decode(w), Ok(i));
    }

    #[test]
    fn every_word_decodes_canonically_or_is_a_typed_error(w in any::<u32>()) {
        match decode(w) {
            Ok(i) => prop_assert_eq!(encode(&i), Ok(w)),
            Err(e) => prop_assert!(e.to_string().contains(&format!("{w:#010x}")), "{}", e),
        }
    }

    #[test]
    fn every_opcode_with_random_operand_bits_decodes_canonically_or_is_a_typed_error(
        op in 0u32..64,
        high in any::<u32>(),
        sparse in any::<u32>(),
    ) {
        // Two densities of operand bits: uniformly random, and mostly clear (so that words
        // with no reserved bits set, and hence successful decodes, are common too).
        for w in [(high << 6) | op, ((high & sparse & sparse.rotate_left(7)) << 6) | op] {
            match decode(w) {
                Ok(i) => prop_assert_eq!(encode(&i), Ok(w)),
                Err(e) => prop_assert!(e.to_string().contains(&format!("{w:#010x}")), "{}", e),
            }
        }
    }

    #[test]
    fn reserved_bits_of_a_valid_word_make_it_invalid(i in instruction(), bit in 6u32..32) {
        let w = encode(&i).unwrap();
        let op = (w & 0x3f) as u8;
        let (_, fields) = layout(op).unwrap();
        let used = fields.iter().any(|f| f.contains(&(bit as usize)));
        let flipped = w ^ (1 << bit);
        if !used {
            let is_reserved_error = matches!(decode(flipped), Err(DecodeError::ReservedBits { .. }));
            prop_assert!(is_reserved_error);
        } else if let Ok(j) = decode(flipped) {
            prop_assert_ne!(j, i);
        }
    }
}

#[test]
fn the_strategy_covers_every_variant() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = instruction();
    let mut seen = BTreeSet::new();
    for _ in 0..20_000 {
        let i = strategy.new_tree(&mut runner).unwrap().current();
        seen.insert(variant(&i));
    }
    let all: BTreeSet<_> = VARIANTS.into_iter().collect();
    assert_eq!(seen, all);
}

#[test]
fn every_assigned_opcode_names_one_variant_and_variants_have_distinct_opcodes() {
    let mut names = BTreeSet::new();
    for op in 0..64u8 {
        if let Some((name, _)) = layout(op) {
            names.insert(name);
        }
    }
    let all: BTreeSet<_> = VARIANTS.into_iter().collect();
    assert_eq!(names, all);
}

fn r(i: u8) -> Reg {
    Reg::new(i).unwrap()
}
fn f(i: u8) -> Field {
    Field::new(i).unwrap()
}

#[test]
fn jal_offset_beyond_21_bits_is_refused_naming_the_field() {
    for off in [1 << 21, -(1 << 21) - 1, i32::MAX, i32::MIN] {
        let e = encode(&Instruction::Jal { rd: r(1), off }).unwrap_err();
        assert!(
            matches!(e, EncodeError::OutOfRange { field: "off", .. }),
            "{e}"
        );
        assert!(e.to_string().contains("`off`"), "{e}");
    }
    for off in [(1 << 21) - 1, -(1 << 21)] {
        let w = encode(&Instruction::Jal { rd: r(1), off }).unwrap();
        assert_eq!(decode(w), Ok(Instruction::Jal { rd: r(1), off }));
    }
}

#[test]
fn shift_of_32_or_more_is_refused_naming_the_field() {
    let e = encode(&Instruction::VShiftI {
        op: AluOp::Shl,
        fd: f(1),
        fa: f(2),
        sh: 32,
        m: Mask::ALL,
    })
    .unwrap_err();
    assert!(
        matches!(
            e,
            EncodeError::OutOfRange {
                field: "sh",
                value: 32,
                ..
            }
        ),
        "{e}"
    );
    let e = encode(&Instruction::VMulShift {
        fd: f(1),
        fa: f(2),
        fb: f(3),
        sh: 255,
        round: isa::insn::Round::Floor,
        m: Mask::ALL,
    })
    .unwrap_err();
    assert!(
        matches!(e, EncodeError::OutOfRange { field: "sh", .. }),
        "{e}"
    );
}

#[test]
fn branch_to_itself_and_immediate_shift_by_non_shift_are_refused() {
    let e = encode(&Instruction::Branch {
        cond: Cond::Eq,
        rs: r(1),
        rt: r(2),
        off: 0,
    })
    .unwrap_err();
    assert!(
        matches!(e, EncodeError::ZeroOffset { field: "off", .. }),
        "{e}"
    );
    let e = encode(&Instruction::VShiftI {
        op: AluOp::Add,
        fd: f(1),
        fa: f(2),
        sh: 3,
        m: Mask::ALL,
    })
    .unwrap_err();
    assert!(
        matches!(e, EncodeError::BadSubOp { field: "op", .. }),
        "{e}"
    );
}

#[test]
fn decode_errors_name_the_field_and_show_the_word() {
    use isa::encode::opcode;
    // Unassigned opcode.
    let e = decode(0x3f).unwrap_err();
    assert_eq!(
        e,
        DecodeError::UnknownOpcode {
            word: 0x3f,
            opcode: 0x3f
        }
    );
    assert!(e.to_string().contains("0x0000003f"), "{e}");
    // A reserved bit of `nop`.
    let w = u32::from(opcode::NOP) | 1 << 31;
    assert!(matches!(decode(w), Err(DecodeError::ReservedBits { bits, .. }) if bits == 1 << 31));
    // A scalar ALU sub-op is 4 bits and all 16 exist; a vector compare's condition has 6 of 16.
    let w = u32::from(opcode::VCMP) | 7 << 21;
    let e = decode(w).unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::BadSubOp {
                field: "fn",
                value: 7,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains(&format!("{w:#010x}")), "{e}");
    // A destination mask index of 9 names no mask.
    let w = u32::from(opcode::MASKALU) | 9 << 6;
    let e = decode(w).unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::BadOperand {
                field: "md",
                value: 9,
                ..
            }
        ),
        "{e}"
    );
    // An immediate shift whose sub-op is `add`.
    let w = u32::from(opcode::VSHIFTI);
    assert!(matches!(
        decode(w),
        Err(DecodeError::BadSubOp {
            field: "fn",
            value: 0,
            ..
        })
    ));
    // A branch with offset 0.
    let w = u32::from(opcode::BRANCH);
    assert!(matches!(decode(w), Err(DecodeError::ZeroOffset { .. })));
    // A wait for event 3.
    let w = u32::from(opcode::WAIT) | 3 << 6;
    assert!(matches!(
        decode(w),
        Err(DecodeError::BadSubOp {
            field: "ev",
            value: 3,
            ..
        })
    ));
}

#[test]
fn fields_sit_where_the_layout_table_says() {
    // add r1, r2, r3 in the R format: op | rd<<6 | rs<<10 | rt<<14 | fn<<21.
    let w = encode(&Instruction::Alu {
        op: AluOp::Sub,
        rd: r(1),
        rs: r(2),
        rt: r(3),
    })
    .unwrap();
    assert_eq!(w, 0x04 | 1 << 6 | 2 << 10 | 3 << 14 | 1 << 21);
    // jal r15, -1: the offset's 22 bits sit at 10..32.
    let w = encode(&Instruction::Jal { rd: r(15), off: -1 }).unwrap();
    assert_eq!(w, 0x18 | 15 << 6 | 0x3f_ffff << 10);
    // addi r1, r0, -2: imm16 at 16..32.
    let w = encode(&Instruction::Addi {
        rd: r(1),
        rs: Reg::ZERO,
        imm: -2,
    })
    .unwrap();
    assert_eq!(w, 0x05 | 1 << 6 | 0xfffe << 16);
}
