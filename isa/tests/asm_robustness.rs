//! The assembler on arbitrary text: it never panics, every error it reports points inside the
//! source, and every program it accepts encodes.

use isa::asm::assemble;
use isa::encode::encode;
use proptest::prelude::*;

const VALID: &str = "\
        .equ N, 8
        .data
thr:    .word N * 2, -1
        .zero 3
        .text
main:   li r1, 0x12345678
        vrange r0, r1
        ld r2, thr(r0)
loop:   vcmp.ge m1, acc, r2
        vmulsh.ne f1, f2, f3, 4, m1
        beq r1, r2, loop
        jal r15, main
        halt
";

fn check(src: &str) -> Result<(), TestCaseError> {
    match assemble(src, "fuzz.s") {
        Ok(p) => {
            for i in &p.text {
                prop_assert!(encode(i).is_ok(), "{:?} does not encode", i);
            }
        }
        Err(errs) => {
            prop_assert!(!errs.errors.is_empty());
            let lines: Vec<&str> = src.lines().collect();
            for e in &errs.errors {
                prop_assert!(e.line >= 1 && e.line <= lines.len().max(1), "{}", e);
                let line = lines.get(e.line - 1).copied().unwrap_or("");
                prop_assert_eq!(e.source_line.as_str(), line);
                prop_assert!(
                    e.column >= 1 && e.column - 1 <= line.chars().count(),
                    "{}",
                    e
                );
                prop_assert!(e.width >= 1);
                prop_assert!(!e.message.is_empty());
            }
        }
    }
    Ok(())
}

/// Text built from the language's own pieces, so that the parser goes deep.
fn tokenish() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "add",
        "vadd",
        "li",
        "ld",
        "st",
        "beq",
        "jal",
        "j",
        "vcmp.gt",
        "vmulsh.sr",
        "csrr",
        "wait",
        ".equ",
        ".word",
        ".zero",
        ".data",
        ".text",
        "r1",
        "r16",
        "f3",
        "m7",
        "m9",
        "acc",
        "main",
        "loop",
        "N",
        "0x7fffffffffffffff",
        "-",
        "+",
        "*",
        "<<",
        ">>",
        "(",
        ")",
        ",",
        ":",
        " ",
        " ",
        "\n",
        "\t",
        ";c",
        "#c",
        "1",
        "65536",
        ".",
        "é",
        "\r",
        "\0",
        "~",
    ]);
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(ProptestConfig::default().cases.min(4000)))]

    #[test]
    fn arbitrary_text_never_panics_and_errors_point_into_the_source(src in "\\PC{0,200}") {
        check(&src)?;
    }

    #[test]
    fn language_shaped_text_never_panics_and_errors_point_into_the_source(src in tokenish()) {
        check(&src)?;
    }

    #[test]
    fn edited_valid_sources_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<char>(), any::<bool>()), 1..8),
    ) {
        let mut chars: Vec<char> = VALID.chars().collect();
        for (at, c, insert) in edits {
            let i = at.index(chars.len());
            if insert {
                chars.insert(i, c);
            } else {
                chars.remove(i);
            }
        }
        let src: String = chars.into_iter().collect();
        check(&src)?;
    }
}

#[test]
fn the_valid_sample_assembles() {
    let p = assemble(VALID, "valid.s").unwrap();
    assert_eq!(p.text.len(), 9);
    assert_eq!(p.data, vec![16, -1, 0, 0, 0]);
}
