//! The assembler: every mnemonic assembles to the instruction the ISA documents, directives
//! lay out sections and symbols, and every broken rule is reported with its location.

use isa::asm::{assemble, assemble_detailed, SymbolKind};
use isa::insn::{AluOp, Cond, Csr, Event, Field, Instruction as I, Mask, MaskOp, Reg, Round};

fn r(i: u8) -> Reg {
    Reg::new(i).unwrap()
}
fn f(i: u8) -> Field {
    Field::new(i).unwrap()
}
fn m(i: u8) -> Mask {
    Mask::new(i).unwrap()
}

fn text(src: &str) -> Vec<I> {
    match assemble(src, "t.s") {
        Ok(p) => p.text,
        Err(e) => panic!("{e}"),
    }
}

fn errors(src: &str) -> Vec<isa::asm::AsmError> {
    match assemble(src, "bad.s") {
        Ok(p) => panic!("assembled: {p:?}"),
        Err(e) => e.errors,
    }
}

#[test]
fn scalar_mnemonics_assemble_to_their_instructions() {
    let src = "
        nop
        halt
        add r1, r2, r3
        slt r4, r5, r6
        addw24 r1, r1, r2
        addi r1, r0, -32768
        lui r2, 0xffff
        ori r3, r2, 65535
        ld r4, 8(r5)
        ld r4, (r5)
        st r6, -1(r7)
        jr r15
        csrr r1, timestep
        csrr r2, CycleLo
        wait sample
        wait learn
        barrier
        send r1, r2
        recv r3, r4
        vrange r5, r6
        mv r7, r8
    ";
    assert_eq!(
        text(src),
        vec![
            I::Nop,
            I::Halt,
            I::Alu {
                op: AluOp::Add,
                rd: r(1),
                rs: r(2),
                rt: r(3)
            },
            I::Alu {
                op: AluOp::Slt,
                rd: r(4),
                rs: r(5),
                rt: r(6)
            },
            I::Alu {
                op: AluOp::AddWrap24,
                rd: r(1),
                rs: r(1),
                rt: r(2)
            },
            I::Addi {
                rd: r(1),
                rs: r(0),
                imm: -32768
            },
            I::Lui {
                rd: r(2),
                imm: 0xffff
            },
            I::Ori {
                rd: r(3),
                rs: r(2),
                imm: 0xffff
            },
            I::Ld {
                rd: r(4),
                base: r(5),
                off: 8
            },
            I::Ld {
                rd: r(4),
                base: r(5),
                off: 0
            },
            I::St {
                rs: r(6),
                base: r(7),
                off: -1
            },
            I::Jr { rs: r(15) },
            I::Csrr {
                rd: r(1),
                csr: Csr::Timestep
            },
            I::Csrr {
                rd: r(2),
                csr: Csr::CycleLo
            },
            I::Wait {
                event: Event::Sample
            },
            I::Wait {
                event: Event::Learn
            },
            I::Barrier,
            I::Send {
                dst: r(1),
                payload: r(2)
            },
            I::Recv { rd: r(3), ra: r(4) },
            I::VRange { lo: r(5), hi: r(6) },
            I::Addi {
                rd: r(7),
                rs: r(8),
                imm: 0
            },
        ]
    );
}

#[test]
fn every_alu_mnemonic_names_its_operation_in_scalar_and_vector_form() {
    for (name, op) in isa::asm::syntax::ALU_MNEMONICS {
        let src = format!("{name} r1, r2, r3\nv{name} f1, f2, f3, m4\nv{name} f1, acc, r3\n");
        assert_eq!(
            text(&src),
            vec![
                I::Alu {
                    op,
                    rd: r(1),
                    rs: r(2),
                    rt: r(3)
                },
                I::VAlu {
                    op,
                    fd: f(1),
                    fa: f(2),
                    fb: f(3),
                    m: m(4)
                },
                I::VAluS {
                    op,
                    fd: f(1),
                    fa: f(0),
                    rs: r(3),
                    m: Mask::ALL
                },
            ],
            "{name}"
        );
    }
}

#[test]
fn vector_and_mask_mnemonics_assemble_to_their_instructions() {
    let src = "
        vshli f1, f2, 31
        vsrai f1, f2, 0, m3
        vsrli f1, f2, 7
        vdecay f3, f3, r4, m1
        vdecay f1, f1, f9
        vmulsh.floor f1, f2, f3, 12
        vmulsh.tz f1, f2, f3, 0, m7
        vmulsh.ne f1, f2, f3, 1
        vmulsh.sr f1, f2, f3, 31
        vmovi f5, -7
        vmovs f6, r9, m2
        vmov f7, f8
        vcmp.gt m1, f2, f3
        vcmp.le m1, f2, r3, m4
        vcmps.ge m2, acc, r5
        mand m1, m2, m3
        mor m1, m2, m3
        mandn m1, m2, m3
        mxor m1, m2, m3
        mcount r1, m6
        vspike m1
        wload f1, r2
        wstore f3, r4, m5
        wsign r6
    ";
    assert_eq!(
        text(src),
        vec![
            I::VShiftI {
                op: AluOp::Shl,
                fd: f(1),
                fa: f(2),
                sh: 31,
                m: Mask::ALL
            },
            I::VShiftI {
                op: AluOp::Sra,
                fd: f(1),
                fa: f(2),
                sh: 0,
                m: m(3)
            },
            I::VShiftI {
                op: AluOp::Srl,
                fd: f(1),
                fa: f(2),
                sh: 7,
                m: Mask::ALL
            },
            I::VDecay {
                fd: f(3),
                fa: f(3),
                rs: r(4),
                m: m(1)
            },
            I::VDecayF {
                fd: f(1),
                fa: f(1),
                fk: f(9),
                m: Mask::ALL
            },
            I::VMulShift {
                fd: f(1),
                fa: f(2),
                fb: f(3),
                sh: 12,
                round: Round::Floor,
                m: Mask::ALL
            },
            I::VMulShift {
                fd: f(1),
                fa: f(2),
                fb: f(3),
                sh: 0,
                round: Round::TowardZero,
                m: m(7)
            },
            I::VMulShift {
                fd: f(1),
                fa: f(2),
                fb: f(3),
                sh: 1,
                round: Round::NearestEven,
                m: Mask::ALL
            },
            I::VMulShift {
                fd: f(1),
                fa: f(2),
                fb: f(3),
                sh: 31,
                round: Round::Stochastic,
                m: Mask::ALL
            },
            I::VMovI {
                fd: f(5),
                imm: -7,
                m: Mask::ALL
            },
            I::VMovS {
                fd: f(6),
                rs: r(9),
                m: m(2)
            },
            I::VMov {
                fd: f(7),
                fa: f(8),
                m: Mask::ALL
            },
            I::VCmp {
                cond: Cond::Gt,
                md: m(1),
                fa: f(2),
                fb: f(3),
                m: Mask::ALL
            },
            I::VCmpS {
                cond: Cond::Le,
                md: m(1),
                fa: f(2),
                rs: r(3),
                m: m(4)
            },
            I::VCmpS {
                cond: Cond::Ge,
                md: m(2),
                fa: f(0),
                rs: r(5),
                m: Mask::ALL
            },
            I::MaskAlu {
                op: MaskOp::And,
                md: m(1),
                ma: m(2),
                mb: m(3)
            },
            I::MaskAlu {
                op: MaskOp::Or,
                md: m(1),
                ma: m(2),
                mb: m(3)
            },
            I::MaskAlu {
                op: MaskOp::AndNot,
                md: m(1),
                ma: m(2),
                mb: m(3)
            },
            I::MaskAlu {
                op: MaskOp::Xor,
                md: m(1),
                ma: m(2),
                mb: m(3)
            },
            I::MCount { rd: r(1), m: m(6) },
            I::VSpike { m: m(1) },
            I::WLoad {
                fd: f(1),
                row: r(2),
                m: Mask::ALL
            },
            I::WStore {
                fa: f(3),
                row: r(4),
                m: m(5)
            },
            I::WSign { row: r(6) },
        ]
    );
}

#[test]
fn branches_and_jumps_take_label_targets_as_offsets_from_their_own_address() {
    let src = "
start:  beq r1, r2, done      ; 0 -> 4
        bne r1, r2, start     ; 1 -> 0
        blt r1, r2, . + 2     ; 2 -> 4
loop:   jal r15, start        ; 3 -> 0
done:   j loop                ; 4 -> 3
        bge r0, r0, start
        ble r1, r1, start
        bgt r1, r1, start
    ";
    assert_eq!(
        text(src),
        vec![
            I::Branch {
                cond: Cond::Eq,
                rs: r(1),
                rt: r(2),
                off: 4
            },
            I::Branch {
                cond: Cond::Ne,
                rs: r(1),
                rt: r(2),
                off: -1
            },
            I::Branch {
                cond: Cond::Lt,
                rs: r(1),
                rt: r(2),
                off: 2
            },
            I::Jal { rd: r(15), off: -3 },
            I::Jal {
                rd: Reg::ZERO,
                off: -1
            },
            I::Branch {
                cond: Cond::Ge,
                rs: r(0),
                rt: r(0),
                off: -5
            },
            I::Branch {
                cond: Cond::Le,
                rs: r(1),
                rt: r(1),
                off: -6
            },
            I::Branch {
                cond: Cond::Gt,
                rs: r(1),
                rt: r(1),
                off: -7
            },
        ]
    );
}

#[test]
fn li_takes_one_word_when_it_can_and_two_otherwise() {
    let src = "
        .equ BIG, 0x12345678
        li r1, -5                ; addi
        li r2, 0x70000           ; low half zero: lui alone
        li r3, BIG               ; lui + ori
        li r4, 0xFFFFFFFF        ; -1 as a 32-bit word: addi
        li r5, LATER             ; not known in pass 1: always lui + ori
        .equ LATER, 3
    ";
    assert_eq!(
        text(src),
        vec![
            I::Addi {
                rd: r(1),
                rs: Reg::ZERO,
                imm: -5
            },
            I::Lui { rd: r(2), imm: 7 },
            I::Lui {
                rd: r(3),
                imm: 0x1234
            },
            I::Ori {
                rd: r(3),
                rs: r(3),
                imm: 0x5678
            },
            I::Addi {
                rd: r(4),
                rs: Reg::ZERO,
                imm: -1
            },
            I::Lui { rd: r(5), imm: 0 },
            I::Ori {
                rd: r(5),
                rs: r(5),
                imm: 3
            },
        ]
    );
}

#[test]
fn constants_labels_and_data_share_one_symbol_table() {
    let src = "
        .equ N, 4                    # neurons
        .equ SHIFT, (N + 2) * 3 << 1 # = 36
        .equ END_MINUS, end - 1      # a later label
        .data
thr:    .word 0x10, -1, 0b101, N * 2
buf:    .zero N
tail:   .word 0xFFFFFFFF, -2147483648
        .text
main:   ld r1, thr + 2(r0)
        ld r2, buf(r3)
end:
    ";
    let a = assemble_detailed(src, "t.s").unwrap();
    let p = &a.program;
    assert_eq!(p.data, vec![16, -1, 5, 8, 0, 0, 0, 0, -1, i32::MIN]);
    assert_eq!(
        p.text,
        vec![
            I::Ld {
                rd: r(1),
                base: r(0),
                off: 2
            },
            I::Ld {
                rd: r(2),
                base: r(3),
                off: 4
            },
        ]
    );
    let sym = |n: &str| p.symbol(n).unwrap();
    assert_eq!(sym("N"), 4);
    assert_eq!(sym("SHIFT"), 36);
    assert_eq!(sym("END_MINUS"), 1);
    assert_eq!((sym("thr"), sym("buf"), sym("tail")), (0, 4, 8));
    assert_eq!((sym("main"), sym("end")), (0, 2));
    assert_eq!(a.kinds["N"], SymbolKind::Const);
    assert_eq!(a.kinds["thr"], SymbolKind::Data);
    assert_eq!(a.kinds["main"], SymbolKind::Text);
}

#[test]
fn local_labels_are_usable_but_not_exported() {
    let p = assemble(".Lx: nop\n j .Lx\nglobal: halt", "t.s").unwrap();
    assert_eq!(
        p.text[1],
        I::Jal {
            rd: Reg::ZERO,
            off: -1
        }
    );
    assert_eq!(p.symbols.keys().collect::<Vec<_>>(), vec!["global"]);
}

#[test]
fn unknown_mnemonic_bad_register_and_undefined_label_give_three_located_errors() {
    let src = "start:\n    frob r1, r2\n    add r1, r16, r2\n    beq r1, r2, nowhere\n    halt\n";
    let errs = errors(src);
    let located: Vec<_> = errs.iter().map(|e| (e.line, e.column, e.width)).collect();
    assert_eq!(located, vec![(2, 5, 4), (3, 13, 3), (4, 17, 7)]);
    assert!(
        errs[0].message.contains("unknown mnemonic `frob`"),
        "{}",
        errs[0].message
    );
    assert!(errs[1].message.contains("r16"), "{}", errs[1].message);
    assert!(errs[1].message.contains("r0..r15"), "{}", errs[1].message);
    assert!(
        errs[2].message.contains("undefined symbol `nowhere`"),
        "{}",
        errs[2].message
    );
    // rustc-style rendering: location, the line, a caret under the token.
    let shown = errs[1].to_string();
    assert!(shown.contains("--> bad.s:3:13"), "{shown}");
    assert!(shown.contains("3 |     add r1, r16, r2"), "{shown}");
    assert!(shown.contains("  |             ^^^"), "{shown}");
}

#[test]
fn every_broken_rule_is_reported_on_its_own_line() {
    let src = "\
x: nop
x: nop
    addi r1, r1, 40000
    lui r1, -1
    vshli f1, f2, 32
    beq r1, r2, .
    add r1, r2
    ld r1, 4
    vadd f1, f2, m3
    csrr r1, clock
    wait forever
    .data
    nop
    .word 0x100000000
    .text
    .word 1
    .bogus
    mcount r1, m8
    add r1, r2, r3 extra
    .equ A, B
    .equ B, A
    addi r1, r0, 1 / 0
    li r1, @
";
    let errs = errors(src);
    let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
    assert_eq!(
        lines,
        vec![2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 16, 17, 18, 19, 20, 21, 22, 23],
        "{}",
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let msg = |line: usize| {
        errs.iter()
            .find(|e| e.line == line)
            .unwrap()
            .message
            .clone()
    };
    assert!(msg(2).contains("defined twice (first at bad.s:1:1)"));
    assert!(msg(3).contains("out of range -32768..=32767"));
    assert!(msg(5).contains("out of range 0..=31"));
    assert!(msg(6).contains("may not branch to itself"));
    assert!(msg(7).contains("takes 3 operand(s)"));
    assert!(msg(8).contains("offset(base)"));
    assert!(msg(10).contains("timestep"));
    assert!(msg(13).contains("instructions belong in .text"));
    assert!(msg(14).contains("out of range"));
    assert!(msg(16).contains("belongs in .data"));
    assert!(msg(17).contains("unknown directive"));
    assert!(msg(18).contains("no mask m8"));
    assert!(msg(19).contains("unexpected token"));
    assert!(msg(20).contains("circular"));
    assert!(msg(22).contains("division by zero"));
    assert!(msg(23).contains("unexpected character"));
}

#[test]
fn crlf_tabs_and_case_are_accepted() {
    let p = assemble("\tADD R1, r2, R3\r\n\tHalt\r\n", "t.s").unwrap();
    assert_eq!(
        p.text,
        vec![
            I::Alu {
                op: AluOp::Add,
                rd: r(1),
                rs: r(2),
                rt: r(3)
            },
            I::Halt
        ]
    );
}

#[test]
fn operand_names_cannot_be_symbols() {
    for name in ["r1", "f3", "m9", "acc"] {
        let errs = errors(&format!("{name}: nop"));
        assert!(
            errs[0].message.contains("operand name"),
            "{}",
            errs[0].message
        );
    }
}

/// The fenced code blocks of `docs/ISA.md` section 5, in order.
fn isa_doc_blocks() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ISA.md"))
        .expect("docs/ISA.md exists");
    let section = doc
        .split("## 5. Assembly language")
        .nth(1)
        .and_then(|s| s.split("\n## 6.").next())
        .expect("docs/ISA.md has section 5")
        .to_string();
    section
        .split("```")
        .skip(1)
        .step_by(2)
        .map(|b| b.trim_start_matches('\n').to_string())
        .collect()
}

#[test]
fn the_documented_example_assembles_and_the_documented_error_is_what_the_assembler_prints() {
    let blocks = isa_doc_blocks();
    let p = assemble(&blocks[0], "doc.s").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.symbol("THRESHOLD"), Some(1000 << 6));
    assert_eq!(p.data.len(), 7);
    let errs = errors("start:\n    nop\n    add r1, r16, r2\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(format!("{}\n", errs[0]), blocks[1]);
}
