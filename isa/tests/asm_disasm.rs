//! The disassembler: its output is source the assembler accepts, and assembling it gives back
//! the very program (instructions, data words, symbols and their kinds).

mod encode_strategy;

use encode_strategy::{cond, instruction, reg, straight_line};
use isa::asm::{assemble, assemble_detailed, disassemble, disassemble_with_kinds};
use isa::asm::{format_instruction, syntax, SymbolKind};
use isa::insn::Instruction;
use isa::Program;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// A jump-free instruction or, with its target drawn later, a branch or jump.
#[derive(Debug, Clone)]
enum Slot {
    Plain(Instruction),
    Branch(Instruction, usize),
    Jal(Instruction, usize),
}

fn slot() -> impl Strategy<Value = Slot> {
    prop_oneof![
        6 => straight_line().prop_map(Slot::Plain),
        2 => (cond(), reg(), reg(), any::<usize>()).prop_map(|(cond, rs, rt, t)| Slot::Branch(
            Instruction::Branch { cond, rs, rt, off: 1 },
            t
        )),
        1 => (reg(), any::<usize>())
            .prop_map(|(rd, t)| Slot::Jal(Instruction::Jal { rd, off: 0 }, t)),
        1 => instruction().prop_map(Slot::Plain), // jumps anywhere, even outside the program
    ]
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,10}".prop_filter("a valid symbol name", |n| syntax::is_symbol_name(n))
}

/// A random program whose branch targets lie inside it, with labels in both sections and
/// constants, and the kind of each symbol.
fn program() -> impl Strategy<Value = (Program, BTreeMap<String, SymbolKind>)> {
    (
        prop::collection::vec(slot(), 0..40),
        prop::collection::vec(
            prop_oneof![3 => Just(0i32), 2 => any::<i32>(), 1 => -5i32..5],
            0..30,
        ),
        prop::collection::btree_map(name(), (0u8..3, any::<usize>(), any::<i64>()), 0..12),
    )
        .prop_map(|(slots, data, syms)| {
            let len = slots.len();
            let text = slots
                .into_iter()
                .enumerate()
                .map(|(pc, s)| match s {
                    Slot::Plain(i) => i,
                    Slot::Branch(Instruction::Branch { cond, rs, rt, .. }, t) => {
                        let target = t % (len + 1);
                        let off = target as i16 - pc as i16;
                        // A branch may not target itself: aim one further.
                        let off = if off == 0 { 1 } else { off };
                        Instruction::Branch { cond, rs, rt, off }
                    }
                    Slot::Jal(Instruction::Jal { rd, .. }, t) => Instruction::Jal {
                        rd,
                        off: (t % (len + 1)) as i32 - pc as i32,
                    },
                    Slot::Branch(i, _) | Slot::Jal(i, _) => i,
                })
                .collect();
            let mut symbols = BTreeMap::new();
            let mut kinds = BTreeMap::new();
            for (n, (k, at, v)) in syms {
                let (kind, value) = match k {
                    0 => (SymbolKind::Text, (at % (len + 1)) as i64),
                    1 => (SymbolKind::Data, (at % (data.len() + 1)) as i64),
                    _ => (SymbolKind::Const, v),
                };
                symbols.insert(n.clone(), value);
                kinds.insert(n, kind);
            }
            (
                Program {
                    text,
                    data,
                    symbols,
                },
                kinds,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        ProptestConfig::default().cases.min(2000)
    ))]

    #[test]
    fn disassembly_reassembles_to_the_same_program_and_symbol_kinds((p, kinds) in program()) {
        let src = disassemble_with_kinds(&p, &kinds);
        let back = assemble_detailed(&src, "disasm.s");
        prop_assert!(back.is_ok(), "{}\n---\n{}", back.unwrap_err(), src);
        let back = back.unwrap();
        prop_assert_eq!(&back.program, &p, "\n{}", src);
        prop_assert_eq!(&back.kinds, &kinds, "\n{}", src);
    }

    #[test]
    fn disassembly_without_kinds_still_reassembles_to_the_same_program((p, _) in program()) {
        let src = disassemble(&p);
        let back = assemble(&src, "disasm.s");
        prop_assert!(back.is_ok(), "{}\n---\n{}", back.unwrap_err(), src);
        prop_assert_eq!(back.unwrap(), p, "\n{}", src);
    }

    #[test]
    fn one_formatted_instruction_assembles_to_itself_at_any_address(
        i in instruction(),
        pc in 0usize..64,
    ) {
        let src = format!("{}\n{}\n", "nop\n".repeat(pc), format_instruction(&i));
        let p = assemble(&src, "one.s");
        prop_assert!(p.is_ok(), "{}", src);
        prop_assert_eq!(p.unwrap().text.last().copied(), Some(i));
    }
}

#[test]
fn labels_come_back_where_they_were() {
    let src = "
        .equ THRESHOLD, 1000
        .data
weights: .word 1, 2, 3
        .text
main:   ld r1, weights(r0)
loop:   addi r1, r1, -1
        bne r1, r0, loop
        beq r1, r0, . + 2
        nop
        halt
";
    let a = assemble_detailed(src, "t.s").unwrap();
    let text = disassemble_with_kinds(&a.program, &a.kinds);
    assert!(text.contains(".equ THRESHOLD, 1000"), "{text}");
    assert!(text.contains("\nmain:\n"), "{text}");
    assert!(text.contains("ld r1, weights(r0)"), "{text}");
    assert!(text.contains("bne r1, r0, loop"), "{text}");
    // The unnamed target gets a local label, which the assembler does not export.
    assert!(text.contains("beq r1, r0, .L5"), "{text}");
    assert!(text.contains("\n.L5:\n"), "{text}");
    assert!(text.contains("weights:\n    .word 1, 2, 3"), "{text}");
    assert_eq!(assemble_detailed(&text, "d.s").unwrap(), a);
}

#[test]
fn extreme_constants_print_as_readable_literals() {
    let mut p = Program::default();
    p.symbols.insert("LOW".into(), i64::MIN);
    p.symbols.insert("HIGH".into(), i64::MAX);
    let text = disassemble(&p);
    assert_eq!(assemble(&text, "x.s").unwrap(), p);
}
