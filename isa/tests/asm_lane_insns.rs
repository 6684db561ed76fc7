//! The learning-kernel instructions (`vred.*`, `vget`, `vset`, `ald`, `vred.sumsq`, `isqrt`,
//! `vdivq`) in the assembler and the encoding: exact words derived by hand from the bit layout
//! of `docs/ISA.md` §3, their documented costs, and the assembler's refusals.

use isa::encode::{decode, encode};
use isa::insn::{Field, Instruction as I, Mask, RedOp, Reg};

fn r(i: u8) -> Reg {
    Reg::new(i).unwrap()
}
fn f(i: u8) -> Field {
    Field::new(i).unwrap()
}

#[test]
fn mnemonics_assemble_and_encode_to_the_documented_words() {
    let src = "vred.sum r1, f2, m3\nvred.min r4, f5\nvred.max r6, f7, m1\nvget r1, f2, r3\nvset f4, r5, r6\nald r5, r6\n";
    let p = isa::asm::assemble(src, "t.s").unwrap_or_else(|e| panic!("{e}"));
    let m = |i| Mask::new(i).unwrap();
    let expected = [
        I::VRed {
            op: RedOp::Sum,
            rd: r(1),
            fa: f(2),
            m: m(3),
        },
        I::VRed {
            op: RedOp::Min,
            rd: r(4),
            fa: f(5),
            m: Mask::ALL,
        },
        I::VRed {
            op: RedOp::Max,
            rd: r(6),
            fa: f(7),
            m: m(1),
        },
        I::VGet {
            rd: r(1),
            fa: f(2),
            rn: r(3),
        },
        I::VSet {
            fd: f(4),
            rn: r(5),
            rs: r(6),
        },
        I::ALd { rd: r(5), ra: r(6) },
    ];
    assert_eq!(p.text, expected);
    // op | a << 6 | b << 10 | c << 14 | m << 18 | fn << 21
    let words = [
        0x3B | 1 << 6 | 2 << 10 | 3 << 18 | 2 << 21,
        0x3B | 4 << 6 | 5 << 10,
        0x3B | 6 << 6 | 7 << 10 | 1 << 18 | 1 << 21,
        0x3C | 1 << 6 | 2 << 10 | 3 << 14,
        0x3D | 4 << 6 | 5 << 10 | 6 << 14,
        0x24 | 5 << 6 | 6 << 10,
    ];
    for (insn, &w) in expected.iter().zip(&words) {
        assert_eq!(encode(insn), Ok(w), "{insn:?}");
        assert_eq!(decode(w), Ok(*insn));
    }
    // fn = 3 is not a reduction; a set reserved bit is refused.
    assert!(decode(0x3B | 3 << 21).is_err());
    assert!(decode(0x24 | 1 << 20).is_err());
}

#[test]
fn malformed_operands_are_refused() {
    for src in [
        "vred.avg r1, f2\n",
        "vred.sum f1, f2\n",
        "vget r1, r2, r3\n",
        "vset f1, r2\n",
        "ald r1\n",
        "ald r1, f2\n",
    ] {
        assert!(isa::asm::assemble(src, "t.s").is_err(), "{src}");
    }
}

#[test]
fn normalisation_instructions_assemble_and_encode_to_the_documented_words() {
    let src = "vred.sumsq r1, r2, f3, m4\nvred.sumsq r5, r6, f7\nisqrt r8, r9, r10\nvdivq f11, f12, r13, m5\nvdivq f1, f2, r3\n";
    let p = isa::asm::assemble(src, "t.s").unwrap_or_else(|e| panic!("{e}"));
    let m = |i| Mask::new(i).unwrap();
    let expected = [
        I::VRedSumSq {
            hi: r(1),
            lo: r(2),
            fa: f(3),
            m: m(4),
        },
        I::VRedSumSq {
            hi: r(5),
            lo: r(6),
            fa: f(7),
            m: Mask::ALL,
        },
        I::ISqrt {
            rd: r(8),
            hi: r(9),
            lo: r(10),
        },
        I::VDivQ {
            fd: f(11),
            fa: f(12),
            rs: r(13),
            m: m(5),
        },
        I::VDivQ {
            fd: f(1),
            fa: f(2),
            rs: r(3),
            m: Mask::ALL,
        },
    ];
    assert_eq!(p.text, expected);
    // op | a << 6 | b << 10 | c << 14 | m << 18 (docs/ISA.md §3: vred.sumsq a = hi, b = fa,
    // c = lo; isqrt a = rd, b = hi, c = lo; vdivq a = fd, b = fa, c = rs).
    let words = [
        0x3E | 1 << 6 | 3 << 10 | 2 << 14 | 4 << 18,
        0x3E | 5 << 6 | 7 << 10 | 6 << 14,
        0x0A | 8 << 6 | 9 << 10 | 10 << 14,
        0x36 | 11 << 6 | 12 << 10 | 13 << 14 | 5 << 18,
        0x36 | 1 << 6 | 2 << 10 | 3 << 14,
    ];
    for (insn, &w) in expected.iter().zip(&words) {
        assert_eq!(encode(insn), Ok(w), "{insn:?}");
        assert_eq!(decode(w), Ok(*insn));
    }
    // Reserved bits: isqrt has no mask or fn field, none of the three has fn or sh.
    assert!(decode(0x0A | 1 << 18).is_err());
    assert!(decode(0x3E | 1 << 21).is_err());
    assert!(decode(0x36 | 1 << 25).is_err());
    // Costs (docs/ISA.md §2): vred.sumsq a vector instruction, isqrt 1 + 32, vdivq
    // 1 + 17 per lane group.
    assert_eq!(expected[0].issue_cycles(40, 16, false), 1 + 3);
    assert_eq!(expected[2].issue_cycles(40, 16, false), 33);
    assert_eq!(expected[3].issue_cycles(40, 16, false), 1 + 17 * 3);
    assert_eq!(expected[3].issue_cycles(16, 16, false), 1 + 17);
}

#[test]
fn malformed_normalisation_operands_are_refused() {
    for src in [
        "vred.sumsq r1, f2\n",
        "vred.sumsq r1, r2, r3\n",
        "vred.sumsq f1, r2, f3\n",
        "isqrt r1, r2\n",
        "isqrt r1, r2, f3\n",
        "vdivq f1, f2\n",
        "vdivq f1, f2, f3\n",
        "vdivq r1, f2, r3\n",
    ] {
        assert!(isa::asm::assemble(src, "t.s").is_err(), "{src}");
    }
}
