//! The disassembler: a [`Program`] back to assembly source that the assembler accepts and that
//! assembles to the same program, with labels from the symbol table (or local `.L<addr>`
//! labels for unnamed branch targets, which the assembler does not export).

use super::syntax::{
    alu_mnemonic, cond_name, csr_name, event_name, is_symbol_name, maskop_mnemonic, round_name,
};
use super::SymbolKind;
use crate::insn::{AluOp, Instruction, Mask, RedOp};
use crate::program::Program;
use std::collections::BTreeMap;
use std::fmt::Write;

/// How branch targets and data addresses are named while printing.
struct Names<'a> {
    /// Text address → label.
    text: BTreeMap<i64, &'a str>,
    /// Data address → label.
    data: BTreeMap<i64, &'a str>,
}

fn mask_suffix(m: Mask) -> String {
    if m == Mask::ALL {
        String::new()
    } else {
        format!(", {m}")
    }
}

/// Prints an offset from `.` (the instruction's own address).
fn relative(off: i64) -> String {
    match off {
        0 => ".".to_string(),
        o if o > 0 => format!(". + {o}"),
        o => format!(". - {}", o.unsigned_abs()),
    }
}

/// Prints any i64 so that the assembler reads it back (`i64::MIN` has no positive literal).
fn literal(v: i64) -> String {
    if v == i64::MIN {
        format!("({} - 1)", i64::MIN + 1)
    } else {
        v.to_string()
    }
}

fn format_with(insn: &Instruction, pc: i64, names: Option<&Names<'_>>) -> String {
    use Instruction as I;
    let target = |off: i64| -> String {
        let t = pc + off;
        names
            .and_then(|n| n.text.get(&t))
            .map(|s| s.to_string())
            .unwrap_or_else(|| relative(off))
    };
    let mem = |off: i16, base: crate::insn::Reg| -> String {
        let named = (base.index() == 0)
            .then(|| names.and_then(|n| n.data.get(&i64::from(off))))
            .flatten();
        match named {
            Some(label) => format!("{label}({base})"),
            None => format!("{off}({base})"),
        }
    };
    match *insn {
        I::Nop => "nop".into(),
        I::Halt => "halt".into(),
        I::Barrier => "barrier".into(),
        I::Alu { op, rd, rs, rt } => format!("{} {rd}, {rs}, {rt}", alu_mnemonic(op)),
        I::Addi { rd, rs, imm: 0 } => format!("mv {rd}, {rs}"),
        I::Addi { rd, rs, imm } => format!("addi {rd}, {rs}, {imm}"),
        I::Lui { rd, imm } => format!("lui {rd}, {imm:#x}"),
        I::Ori { rd, rs, imm } => format!("ori {rd}, {rs}, {imm:#x}"),
        I::Ld { rd, base, off } => format!("ld {rd}, {}", mem(off, base)),
        I::St { rs, base, off } => format!("st {rs}, {}", mem(off, base)),
        I::Branch { cond, rs, rt, off } => {
            format!("b{} {rs}, {rt}, {}", cond_name(cond), target(off.into()))
        }
        I::Jal { rd, off } if rd.index() == 0 => format!("j {}", target(off.into())),
        I::Jal { rd, off } => format!("jal {rd}, {}", target(off.into())),
        I::Jr { rs } => format!("jr {rs}"),
        I::Csrr { rd, csr } => format!("csrr {rd}, {}", csr_name(csr)),
        I::Wait { event } => format!("wait {}", event_name(event)),
        I::Send { dst, payload } => format!("send {dst}, {payload}"),
        I::Recv { rd, ra } => format!("recv {rd}, {ra}"),
        I::VRange { lo, hi } => format!("vrange {lo}, {hi}"),
        I::VAlu { op, fd, fa, fb, m } => {
            format!("v{} {fd}, {fa}, {fb}{}", alu_mnemonic(op), mask_suffix(m))
        }
        I::VAluS { op, fd, fa, rs, m } => {
            format!("v{} {fd}, {fa}, {rs}{}", alu_mnemonic(op), mask_suffix(m))
        }
        I::VShiftI { op, fd, fa, sh, m } => {
            let mn = match op {
                AluOp::Shl => "vshli",
                AluOp::Sra => "vsrai",
                AluOp::Srl => "vsrli",
                // Not encodable; printed so that the assembler names the problem.
                other => alu_mnemonic(other),
            };
            format!("{mn} {fd}, {fa}, {sh}{}", mask_suffix(m))
        }
        I::VDecay { fd, fa, rs, m } => format!("vdecay {fd}, {fa}, {rs}{}", mask_suffix(m)),
        I::VDecayF { fd, fa, fk, m } => format!("vdecay {fd}, {fa}, {fk}{}", mask_suffix(m)),
        I::VMulShift {
            fd,
            fa,
            fb,
            sh,
            round,
            m,
        } => format!(
            "vmulsh.{} {fd}, {fa}, {fb}, {sh}{}",
            round_name(round),
            mask_suffix(m)
        ),
        I::VMovI { fd, imm, m } => format!("vmovi {fd}, {imm}{}", mask_suffix(m)),
        I::VMovS { fd, rs, m } => format!("vmovs {fd}, {rs}{}", mask_suffix(m)),
        I::VMov { fd, fa, m } => format!("vmov {fd}, {fa}{}", mask_suffix(m)),
        I::VCmp {
            cond,
            md,
            fa,
            fb,
            m,
        } => format!(
            "vcmp.{} {md}, {fa}, {fb}{}",
            cond_name(cond),
            mask_suffix(m)
        ),
        I::VCmpS {
            cond,
            md,
            fa,
            rs,
            m,
        } => format!(
            "vcmps.{} {md}, {fa}, {rs}{}",
            cond_name(cond),
            mask_suffix(m)
        ),
        I::MaskAlu { op, md, ma, mb } => format!("{} {md}, {ma}, {mb}", maskop_mnemonic(op)),
        I::MCount { rd, m } => format!("mcount {rd}, {m}"),
        I::VSpike { m } => format!("vspike {m}"),
        I::WLoad { fd, row, m } => format!("wload {fd}, {row}{}", mask_suffix(m)),
        I::WStore { fa, row, m } => format!("wstore {fa}, {row}{}", mask_suffix(m)),
        I::WSign { row } => format!("wsign {row}"),
        I::VRed { op, rd, fa, m } => {
            let name = match op {
                RedOp::Min => "min",
                RedOp::Max => "max",
                RedOp::Sum => "sum",
            };
            format!("vred.{name} {rd}, {fa}{}", mask_suffix(m))
        }
        I::VGet { rd, fa, rn } => format!("vget {rd}, {fa}, {rn}"),
        I::VSet { fd, rn, rs } => format!("vset {fd}, {rn}, {rs}"),
        I::ALd { rd, ra } => format!("ald {rd}, {ra}"),
        I::VRedSumSq { hi, lo, fa, m } => {
            format!("vred.sumsq {hi}, {lo}, {fa}{}", mask_suffix(m))
        }
        I::ISqrt { rd, hi, lo } => format!("isqrt {rd}, {hi}, {lo}"),
        I::VDivQ { fd, fa, rs, m } => format!("vdivq {fd}, {fa}, {rs}{}", mask_suffix(m)),
    }
}

/// One instruction in assembly syntax, with jump targets written relative to `.` (so the line
/// assembles to the same instruction at any address).
pub fn format_instruction(insn: &Instruction) -> String {
    format_with(insn, 0, None)
}

/// The target address of a branch or jump at `pc`, if `insn` is one.
fn jump_target(insn: &Instruction, pc: i64) -> Option<i64> {
    match *insn {
        Instruction::Branch { off, .. } => Some(pc + i64::from(off)),
        Instruction::Jal { off, .. } => Some(pc + i64::from(off)),
        _ => None,
    }
}

/// Disassembles a program whose symbol kinds are unknown: a symbol becomes a `.text` label
/// when some branch or jump targets its value, and an `.equ` constant otherwise. Assembling
/// the result gives back `program` exactly.
pub fn disassemble(program: &Program) -> String {
    let targets: std::collections::BTreeSet<i64> = program
        .text
        .iter()
        .enumerate()
        .filter_map(|(pc, i)| jump_target(i, pc as i64))
        .collect();
    let kinds = program
        .symbols
        .iter()
        .map(|(name, v)| {
            let kind = if targets.contains(v) {
                SymbolKind::Text
            } else {
                SymbolKind::Const
            };
            (name.clone(), kind)
        })
        .collect();
    disassemble_with_kinds(program, &kinds)
}

/// Disassembles a program, placing each symbol by its kind: `.text` labels before their
/// instruction, `.data` labels before their word, constants (and labels whose address lies
/// outside their section) as `.equ`. Branch targets with no label get a local `.L<addr>` label.
/// Assembling the result gives back `program` exactly, provided every symbol name is a valid
/// assembler symbol name (true of every program the assembler or the `.bin` reader produces).
pub fn disassemble_with_kinds(program: &Program, kinds: &BTreeMap<String, SymbolKind>) -> String {
    let text_len = program.text.len() as i64;
    let data_len = program.data.len() as i64;
    let mut text_labels: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    let mut data_labels: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    let mut consts: Vec<(&str, i64)> = Vec::new();
    for (name, &v) in &program.symbols {
        match kinds.get(name) {
            Some(SymbolKind::Text) if (0..=text_len).contains(&v) => {
                text_labels.entry(v).or_default().push(name)
            }
            Some(SymbolKind::Data) if (0..=data_len).contains(&v) => {
                data_labels.entry(v).or_default().push(name)
            }
            _ => consts.push((name, v)),
        }
    }
    let mut local: BTreeMap<i64, String> = BTreeMap::new();
    for (pc, insn) in program.text.iter().enumerate() {
        if let Some(t) = jump_target(insn, pc as i64) {
            if (0..=text_len).contains(&t) && !text_labels.contains_key(&t) {
                local.insert(t, format!(".L{t}"));
            }
        }
    }
    let names = Names {
        text: text_labels
            .iter()
            .map(|(&a, v)| (a, v[0]))
            .chain(local.iter().map(|(&a, s)| (a, s.as_str())))
            .collect(),
        data: data_labels.iter().map(|(&a, v)| (a, v[0])).collect(),
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "; disassembled by spikemesh: {} instruction(s), {} data word(s), {} symbol(s)",
        program.text.len(),
        program.data.len(),
        program.symbols.len()
    );
    let bad: Vec<&str> = program
        .symbols
        .keys()
        .map(String::as_str)
        .filter(|n| !is_symbol_name(n) || n.starts_with(".L"))
        .collect();
    if !bad.is_empty() {
        let _ = writeln!(
            out,
            "; warning: {} symbol name(s) the assembler will refuse: {}",
            bad.len(),
            bad.join(" ")
        );
    }
    for (name, v) in &consts {
        let _ = writeln!(out, ".equ {name}, {}", literal(*v));
    }
    out.push_str("\n.text\n");
    for pc in 0..=text_len {
        for l in text_labels.get(&pc).into_iter().flatten() {
            let _ = writeln!(out, "{l}:");
        }
        if let Some(l) = local.get(&pc) {
            let _ = writeln!(out, "{l}:");
        }
        if let Some(insn) = program.text.get(pc as usize) {
            let line = format_with(insn, pc, Some(&names));
            let _ = writeln!(out, "    {line:<36} ; {pc:#06x}");
        }
    }
    if data_len > 0 || !data_labels.is_empty() {
        out.push_str("\n.data\n");
        let mut addr = 0i64;
        while addr <= data_len {
            for l in data_labels.get(&addr).into_iter().flatten() {
                let _ = writeln!(out, "{l}:");
            }
            if addr == data_len {
                break;
            }
            // A run up to the next label or the end, at most 8 words a line.
            let next_label = data_labels
                .range(addr + 1..)
                .next()
                .map_or(data_len, |(&a, _)| a.min(data_len));
            let run = &program.data[addr as usize..next_label as usize];
            let zeros = run.iter().take_while(|&&w| w == 0).count();
            if zeros >= 4 {
                let _ = writeln!(out, "    .zero {zeros}");
                addr += zeros as i64;
                continue;
            }
            let chunk: Vec<String> = run.iter().take(8).map(|w| w.to_string()).collect();
            let _ = writeln!(out, "    .word {}", chunk.join(", "));
            addr += chunk.len() as i64;
        }
    }
    out
}
