//! The two-pass assembler: pass 1 lays out sections and defines labels and constants, pass 2
//! builds instructions and data words; every error is collected with its location.

use super::expr::{self, Diag, EvalError, Expr};
use super::lex::{self, Tok, Token};
use super::syntax::{self, OperandName};
use super::{AsmError, AsmErrors, Assembly, SymbolKind};
use crate::encode;
use crate::insn::{AluOp, Cond, Field, Instruction, Mask, MaskOp, RedOp, Reg, Round};
use crate::program::Program;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Largest section the assembler lays out, in words (the `jal` reach is 2^21 words).
const MAX_WORDS: i64 = 1 << 22;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Text,
    Data,
}

#[derive(Debug, Clone)]
struct Symbol {
    value: i64,
    kind: SymbolKind,
    line: usize,
    col: usize,
}

/// A statement left for pass 2.
enum Item {
    Insn {
        line: usize,
        pc: i64,
        mnem: Token,
        name: String,
        ops: Vec<Vec<Token>>,
        size: usize,
        end: Token,
    },
    Words {
        line: usize,
        addr: i64,
        ops: Vec<Vec<Token>>,
        end: Token,
    },
}

/// An `.equ` whose expression named a symbol not defined yet.
struct PendingEqu {
    line: usize,
    name: String,
    tok: Token,
    expr: Expr,
    here: i64,
}

/// What a mnemonic assembles to.
#[derive(Debug, Clone, Copy)]
enum Mn {
    Nop,
    Halt,
    Barrier,
    Alu(AluOp),
    VAlu(AluOp),
    Addi,
    Lui,
    Ori,
    Ld,
    St,
    Branch(Cond),
    Jal,
    Jr,
    Csrr,
    Wait,
    Send,
    Recv,
    VRange,
    VShiftI(AluOp),
    VDecay,
    VMulSh(Round),
    VMovI,
    VMovS,
    VMov,
    VCmp(Cond, bool),
    MaskAlu(MaskOp),
    MCount,
    VSpike,
    WLoad,
    WStore,
    WSign,
    VRed(RedOp),
    VGet,
    VSet,
    ALd,
    VRedSumSq,
    ISqrt,
    VDivQ,
    Li,
    Mv,
    J,
}

fn classify(name: &str) -> Option<Mn> {
    if let Some(op) = syntax::alu_op(name) {
        return Some(Mn::Alu(op));
    }
    if let Some(op) = name.strip_prefix('v').and_then(syntax::alu_op) {
        return Some(Mn::VAlu(op));
    }
    if let Some(c) = name.strip_prefix('b').and_then(syntax::cond) {
        return Some(Mn::Branch(c));
    }
    if let Some(r) = name.strip_prefix("vmulsh.").and_then(syntax::round) {
        return Some(Mn::VMulSh(r));
    }
    if let Some(c) = name.strip_prefix("vcmp.").and_then(syntax::cond) {
        return Some(Mn::VCmp(c, false));
    }
    if let Some(c) = name.strip_prefix("vcmps.").and_then(syntax::cond) {
        return Some(Mn::VCmp(c, true));
    }
    if let Some(op) = syntax::maskop(name) {
        return Some(Mn::MaskAlu(op));
    }
    if name == "vred.sumsq" {
        return Some(Mn::VRedSumSq);
    }
    if let Some(op) = name.strip_prefix("vred.").and_then(|r| match r {
        "min" => Some(RedOp::Min),
        "max" => Some(RedOp::Max),
        "sum" => Some(RedOp::Sum),
        _ => None,
    }) {
        return Some(Mn::VRed(op));
    }
    Some(match name {
        "nop" => Mn::Nop,
        "halt" => Mn::Halt,
        "barrier" => Mn::Barrier,
        "addi" => Mn::Addi,
        "lui" => Mn::Lui,
        "ori" => Mn::Ori,
        "ld" => Mn::Ld,
        "st" => Mn::St,
        "jal" => Mn::Jal,
        "jr" => Mn::Jr,
        "csrr" => Mn::Csrr,
        "wait" => Mn::Wait,
        "send" => Mn::Send,
        "recv" => Mn::Recv,
        "vrange" => Mn::VRange,
        "vshli" => Mn::VShiftI(AluOp::Shl),
        "vsrai" => Mn::VShiftI(AluOp::Sra),
        "vsrli" => Mn::VShiftI(AluOp::Srl),
        "vdecay" => Mn::VDecay,
        "vmovi" => Mn::VMovI,
        "vmovs" => Mn::VMovS,
        "vmov" => Mn::VMov,
        "mcount" => Mn::MCount,
        "vspike" => Mn::VSpike,
        "wload" => Mn::WLoad,
        "wstore" => Mn::WStore,
        "wsign" => Mn::WSign,
        "vget" => Mn::VGet,
        "vset" => Mn::VSet,
        "ald" => Mn::ALd,
        "isqrt" => Mn::ISqrt,
        "vdivq" => Mn::VDivQ,
        "li" => Mn::Li,
        "mv" => Mn::Mv,
        "j" => Mn::J,
        _ => return None,
    })
}

/// Splits operand tokens at top-level commas.
fn split_operands(toks: &[Token]) -> Vec<Vec<Token>> {
    if toks.is_empty() {
        return Vec::new();
    }
    let mut out = vec![Vec::new()];
    let mut depth = 0i32;
    for t in toks {
        match t.tok {
            Tok::LParen => depth += 1,
            Tok::RParen => depth -= 1,
            Tok::Comma if depth <= 0 => {
                out.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = out.last_mut() {
            last.push(t.clone());
        }
    }
    out
}

/// The number of words `li` takes for a value known in pass 1 (`None`: not known yet).
fn li_size(value: Option<i64>) -> usize {
    match value {
        Some(v) if (-(1 << 31)..=u32::MAX as i64).contains(&v) => {
            let s = v as u32 as i32;
            if i16::try_from(s).is_ok() || s & 0xFFFF == 0 {
                1
            } else {
                2
            }
        }
        Some(_) => 1,
        None => 2,
    }
}

struct Assembler<'s> {
    origin: &'s str,
    lines: Vec<&'s str>,
    errors: Vec<AsmError>,
    symbols: BTreeMap<String, Symbol>,
    pending: Vec<PendingEqu>,
    section: Section,
    text_pc: i64,
    data_pc: i64,
    items: Vec<Item>,
}

impl<'s> Assembler<'s> {
    fn error(&mut self, line: usize, d: Diag) {
        let source_line = self.lines.get(line).copied().unwrap_or("").to_string();
        self.errors.push(AsmError {
            origin: self.origin.to_string(),
            line: line + 1,
            column: d.col + 1,
            width: d.len.max(1),
            message: d.message,
            source_line,
        });
    }

    fn here(&self) -> i64 {
        match self.section {
            Section::Text => self.text_pc,
            Section::Data => self.data_pc,
        }
    }

    fn lookup(&self, name: &str) -> Option<i64> {
        self.symbols.get(name).map(|s| s.value)
    }

    /// Checks that `tok` may name a new symbol; reports why not otherwise.
    fn check_new_symbol(&mut self, line: usize, name: &str, tok: &Token) -> bool {
        if !syntax::is_symbol_name(name) {
            let why = match syntax::operand_name(name) {
                Some(_) => format!("`{name}` cannot name a symbol: it is an operand name"),
                None => format!(
                    "`{name}` is not a valid symbol name ([A-Za-z_][A-Za-z0-9_]*, or .L… for a local label)"
                ),
            };
            self.error(line, Diag::at(tok, why));
            return false;
        }
        let earlier = self.symbols.get(name).map(|s| (s.line, s.col)).or_else(|| {
            self.pending
                .iter()
                .find(|p| p.name == name)
                .map(|p| (p.line, p.tok.col))
        });
        if let Some((l, c)) = earlier {
            let msg = format!(
                "symbol `{name}` is defined twice (first at {}:{}:{})",
                self.origin,
                l + 1,
                c + 1
            );
            self.error(line, Diag::at(tok, msg));
            return false;
        }
        true
    }

    fn define(&mut self, line: usize, name: &str, tok: &Token, value: i64, kind: SymbolKind) {
        if self.check_new_symbol(line, name, tok) {
            self.symbols.insert(
                name.to_string(),
                Symbol {
                    value,
                    kind,
                    line,
                    col: tok.col,
                },
            );
        }
    }

    fn pass1_line(&mut self, line: usize) {
        let text = self.lines[line];
        let toks = match lex::lex(text) {
            Ok(t) => t,
            Err(e) => {
                self.error(
                    line,
                    Diag {
                        col: e.col,
                        len: e.len,
                        message: e.message,
                    },
                );
                return;
            }
        };
        let end = Token {
            tok: Tok::Comma,
            col: text.chars().count(),
            len: 1,
        };
        let mut i = 0;
        while let (Some(Tok::Ident(name)), Some(Tok::Colon)) =
            (toks.get(i).map(|t| &t.tok), toks.get(i + 1).map(|t| &t.tok))
        {
            let kind = match self.section {
                Section::Text => SymbolKind::Text,
                Section::Data => SymbolKind::Data,
            };
            let (name, tok, here) = (name.clone(), toks[i].clone(), self.here());
            self.define(line, &name, &tok, here, kind);
            i += 2;
        }
        let Some(head) = toks.get(i) else { return };
        let Tok::Ident(word) = &head.tok else {
            self.error(
                line,
                Diag::at(head, "expected a label, a directive or a mnemonic"),
            );
            return;
        };
        let name = word.to_ascii_lowercase();
        let ops = split_operands(&toks[i + 1..]);
        if name.starts_with('.') {
            self.directive(line, &name, head, ops, end);
            return;
        }
        let Some(mn) = classify(&name) else {
            self.error(line, Diag::at(head, format!("unknown mnemonic `{word}`")));
            self.text_pc += 1;
            return;
        };
        if self.section == Section::Data {
            self.error(
                line,
                Diag::at(
                    head,
                    "instructions belong in .text (this line is in .data; put `.text` before it)",
                ),
            );
            return;
        }
        let size = match mn {
            Mn::Li => {
                let value = ops.get(1).and_then(|o| {
                    let e = expr::parse(o, &end).ok()?;
                    expr::eval(&e, &|n| self.lookup(n), self.text_pc).ok()
                });
                li_size(value)
            }
            _ => 1,
        };
        if self.text_pc + size as i64 > MAX_WORDS {
            self.error(
                line,
                Diag::at(head, format!(".text exceeds {MAX_WORDS} words")),
            );
            return;
        }
        self.items.push(Item::Insn {
            line,
            pc: self.text_pc,
            mnem: head.clone(),
            name,
            ops,
            size,
            end,
        });
        self.text_pc += size as i64;
    }

    fn directive(
        &mut self,
        line: usize,
        name: &str,
        head: &Token,
        ops: Vec<Vec<Token>>,
        end: Token,
    ) {
        let no_operands = |s: &mut Self, ops: &[Vec<Token>]| {
            if let Some(t) = ops.first().and_then(|o| o.first()) {
                s.error(line, Diag::at(t, format!("`{name}` takes no operands")));
            }
        };
        match name {
            ".text" => {
                no_operands(self, &ops);
                self.section = Section::Text;
            }
            ".data" => {
                no_operands(self, &ops);
                self.section = Section::Data;
            }
            ".equ" => {
                let [sym, value] = ops.as_slice() else {
                    self.error(
                        line,
                        Diag::at(
                            head,
                            format!(
                                "`.equ` takes a name and a value (`.equ NAME, expr`), found {} operand(s)",
                                ops.len()
                            ),
                        ),
                    );
                    return;
                };
                let (sym_tok, sym_name) = match sym.as_slice() {
                    [t @ Token {
                        tok: Tok::Ident(n), ..
                    }] => (t.clone(), n.clone()),
                    _ => {
                        self.error(line, Diag::over(sym, "`.equ` expects a symbol name first"));
                        return;
                    }
                };
                let e = match expr::parse(value, &end) {
                    Ok(e) => e,
                    Err(d) => {
                        self.error(line, d);
                        return;
                    }
                };
                let here = self.here();
                match expr::eval(&e, &|n| self.lookup(n), here) {
                    Ok(v) => self.define(line, &sym_name, &sym_tok, v, SymbolKind::Const),
                    Err(EvalError::Arith(d)) => self.error(line, d),
                    Err(EvalError::Undefined(..)) => {
                        if self.check_new_symbol(line, &sym_name, &sym_tok) {
                            self.pending.push(PendingEqu {
                                line,
                                name: sym_name,
                                tok: sym_tok,
                                expr: e,
                                here,
                            });
                        }
                    }
                }
            }
            ".word" | ".zero" if self.section != Section::Data => {
                self.error(
                    line,
                    Diag::at(
                        head,
                        format!("`{name}` belongs in .data (.text holds instructions only)"),
                    ),
                );
            }
            ".word" => {
                if ops.is_empty() {
                    self.error(line, Diag::at(head, "`.word` needs at least one value"));
                    return;
                }
                let n = ops.len() as i64;
                if self.data_pc + n > MAX_WORDS {
                    self.error(
                        line,
                        Diag::at(head, format!(".data exceeds {MAX_WORDS} words")),
                    );
                    return;
                }
                self.items.push(Item::Words {
                    line,
                    addr: self.data_pc,
                    ops,
                    end,
                });
                self.data_pc += n;
            }
            ".zero" => {
                let [count] = ops.as_slice() else {
                    self.error(
                        line,
                        Diag::at(head, "`.zero` takes one operand: a word count"),
                    );
                    return;
                };
                let here = self.data_pc;
                let n = expr::parse(count, &end).and_then(|e| {
                    expr::eval(&e, &|n| self.lookup(n), here).map_err(|err| match err {
                        EvalError::Arith(d) => d,
                        EvalError::Undefined(name, t) => Diag::at(
                            &t,
                            format!("`{name}` is not defined here: a `.zero` count must use only symbols defined above it"),
                        ),
                    })
                });
                match n {
                    Ok(n) if (0..=MAX_WORDS - self.data_pc).contains(&n) => self.data_pc += n,
                    Ok(n) => self.error(
                        line,
                        Diag::over(
                            count,
                            format!(
                                "`.zero {n}`: the count must be in 0..={} here",
                                MAX_WORDS - self.data_pc
                            ),
                        ),
                    ),
                    Err(d) => self.error(line, d),
                }
            }
            _ => self.error(
                line,
                Diag::at(
                    head,
                    format!("unknown directive `{name}` (known: .text, .data, .equ, .word, .zero)"),
                ),
            ),
        }
    }

    /// Defines the `.equ` constants that referred to later symbols, in dependency order.
    fn resolve_pending(&mut self) {
        loop {
            let mut progress = false;
            let pending = std::mem::take(&mut self.pending);
            for p in pending {
                match expr::eval(&p.expr, &|n| self.lookup(n), p.here) {
                    Ok(v) => {
                        self.symbols.insert(
                            p.name.clone(),
                            Symbol {
                                value: v,
                                kind: SymbolKind::Const,
                                line: p.line,
                                col: p.tok.col,
                            },
                        );
                        progress = true;
                    }
                    Err(EvalError::Arith(d)) => {
                        self.error(p.line, d);
                        progress = true;
                    }
                    Err(EvalError::Undefined(..)) => self.pending.push(p),
                }
            }
            if !progress || self.pending.is_empty() {
                break;
            }
        }
        let left = std::mem::take(&mut self.pending);
        let names: Vec<String> = left.iter().map(|p| p.name.clone()).collect();
        for p in left {
            if let Err(EvalError::Undefined(name, t)) =
                expr::eval(&p.expr, &|n| self.lookup(n), p.here)
            {
                let msg = if names.contains(&name) {
                    format!("`{name}` is part of a circular `.equ` definition")
                } else {
                    format!("undefined symbol `{name}`")
                };
                self.error(p.line, Diag::at(&t, msg));
            }
        }
    }
}

/// Operand access for one instruction in pass 2: every accessor records its own error.
struct Ops<'a> {
    ops: &'a [Vec<Token>],
    mnem: &'a Token,
    name: &'a str,
    end: &'a Token,
    pc: i64,
    lookup: &'a dyn Fn(&str) -> Option<i64>,
    diags: RefCell<Vec<Diag>>,
}

impl Ops<'_> {
    fn fail<T>(&self, d: Diag) -> Option<T> {
        self.diags.borrow_mut().push(d);
        None
    }

    /// Checks the operand count; `sig` lists the operands for the message.
    fn arity(&self, min: usize, max: usize, sig: &str) -> bool {
        let n = self.ops.len();
        if (min..=max).contains(&n) {
            return true;
        }
        let want = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        let at = if n > max {
            self.ops[max].first().unwrap_or(self.mnem)
        } else {
            self.mnem
        };
        let form = if sig.is_empty() {
            self.name.to_string()
        } else {
            format!("{} {sig}", self.name)
        };
        self.fail::<()>(Diag::at(
            at,
            format!(
                "`{}` takes {want} operand(s) (`{form}`), found {n}",
                self.name
            ),
        ));
        false
    }

    fn operand(&self, i: usize) -> Option<&[Token]> {
        match self.ops.get(i) {
            Some(o) if !o.is_empty() => Some(o),
            _ => self.fail(Diag::at(
                self.end,
                format!("operand {} of `{}` is missing", i + 1, self.name),
            )),
        }
    }

    /// The operand's name kind, if it is a single register/field/mask name.
    fn kind(&self, i: usize) -> Option<OperandName> {
        match self.ops.get(i).map(Vec::as_slice) {
            Some(
                [Token {
                    tok: Tok::Ident(n), ..
                }],
            ) => syntax::operand_name(n),
            _ => None,
        }
    }

    fn named(&self, i: usize, want: &str) -> Option<(OperandName, &Token)> {
        let o = self.operand(i)?;
        if let [t @ Token {
            tok: Tok::Ident(n), ..
        }] = o
        {
            if let Some(k) = syntax::operand_name(n) {
                return Some((k, t));
            }
        }
        if let [Token {
            tok: Tok::Ident(n), ..
        }, extra, ..] = o
        {
            if syntax::operand_name(n).is_some() {
                return self.fail(Diag::at(
                    extra,
                    format!(
                        "unexpected token after operand {} of `{}` (missing comma?)",
                        i + 1,
                        self.name
                    ),
                ));
            }
        }
        self.fail(Diag::over(
            o,
            format!("operand {} of `{}` must be {want}", i + 1, self.name),
        ))
    }

    fn reg(&self, i: usize) -> Option<Reg> {
        let want = "a register (r0..r15)";
        match self.named(i, want)? {
            (OperandName::Reg(x), t) => Reg::new(x.min(255) as u8).or_else(|| {
                self.fail(Diag::at(
                    t,
                    format!("there is no register r{x}: registers are r0..r15"),
                ))
            }),
            (_, t) => self.fail(Diag::at(
                t,
                format!("operand {} of `{}` must be {want}", i + 1, self.name),
            )),
        }
    }

    fn field(&self, i: usize) -> Option<Field> {
        let want = "a field (f0..f15 or acc)";
        match self.named(i, want)? {
            (OperandName::Field(x), t) => Field::new(x.min(255) as u8).or_else(|| {
                self.fail(Diag::at(
                    t,
                    format!("there is no field f{x}: fields are f0..f15"),
                ))
            }),
            (_, t) => self.fail(Diag::at(
                t,
                format!("operand {} of `{}` must be {want}", i + 1, self.name),
            )),
        }
    }

    fn mask(&self, i: usize) -> Option<Mask> {
        let want = "a mask (m0..m7)";
        match self.named(i, want)? {
            (OperandName::Mask(x), t) => Mask::new(x.min(255) as u8).or_else(|| {
                self.fail(Diag::at(
                    t,
                    format!("there is no mask m{x}: masks are m0..m7"),
                ))
            }),
            (_, t) => self.fail(Diag::at(
                t,
                format!("operand {} of `{}` must be {want}", i + 1, self.name),
            )),
        }
    }

    /// Reports an operand that is neither a field nor a register where either is allowed.
    fn bad_source(&self, i: usize) {
        let want = "a field (vector form) or a register (vector-scalar form)";
        if self.named(i, want).is_some() {
            self.fail::<()>(Diag::over(
                &self.ops[i],
                format!("operand {} of `{}` must be {want}", i + 1, self.name),
            ));
        }
    }

    /// The governing mask at position `i`, `m0` when omitted.
    fn opt_mask(&self, i: usize) -> Option<Mask> {
        if i < self.ops.len() {
            self.mask(i)
        } else {
            Some(Mask::ALL)
        }
    }

    fn value_of(&self, toks: &[Token]) -> Option<i64> {
        let e = match expr::parse(toks, self.end) {
            Ok(e) => e,
            Err(d) => return self.fail(d),
        };
        match expr::eval(&e, self.lookup, self.pc) {
            Ok(v) => Some(v),
            Err(EvalError::Arith(d)) => self.fail(d),
            Err(EvalError::Undefined(name, t)) => {
                self.fail(Diag::at(&t, format!("undefined symbol `{name}`")))
            }
        }
    }

    fn value(&self, i: usize) -> Option<i64> {
        let o = self.operand(i)?;
        self.value_of(o)
    }

    fn ranged(&self, i: usize, min: i64, max: i64, what: &str) -> Option<i64> {
        let v = self.value(i)?;
        if (min..=max).contains(&v) {
            Some(v)
        } else {
            self.fail(Diag::over(
                &self.ops[i],
                format!(
                    "{what} {v} is out of range {min}..={max} for `{}`",
                    self.name
                ),
            ))
        }
    }

    fn imm_i16(&self, i: usize) -> Option<i16> {
        self.ranged(i, i16::MIN.into(), i16::MAX.into(), "immediate")
            .map(|v| v as i16)
    }

    fn imm_u16(&self, i: usize) -> Option<u16> {
        self.ranged(i, 0, u16::MAX.into(), "immediate")
            .map(|v| v as u16)
    }

    fn shift(&self, i: usize) -> Option<u8> {
        self.ranged(i, 0, 31, "shift amount").map(|v| v as u8)
    }

    /// A jump target (an absolute text address) as an offset from this instruction.
    fn target(&self, i: usize, min: i64, max: i64, zero_ok: bool) -> Option<i64> {
        let t = self.value(i)?;
        let off = t.checked_sub(self.pc).unwrap_or(i64::MAX);
        let toks = &self.ops[i];
        if off == 0 && !zero_ok {
            return self.fail(Diag::over(
                toks,
                format!(
                    "`{}` may not branch to itself (offset 0 is not encodable); use `j .` to spin",
                    self.name
                ),
            ));
        }
        if !(min..=max).contains(&off) {
            return self.fail(Diag::over(
                toks,
                format!(
                    "target {t} is {off} words from here; `{}` reaches offsets {min}..={max}",
                    self.name
                ),
            ));
        }
        Some(off)
    }

    /// `off(base)`: a word offset expression (may be empty, meaning 0) and a base register.
    fn mem(&self, i: usize) -> Option<(i16, Reg)> {
        let o = self.operand(i)?;
        let bad = || {
            self.fail(Diag::over(
                o,
                format!(
                    "operand {} of `{}` must be `offset(base)`, e.g. `4(r2)` or `label(r0)`",
                    i + 1,
                    self.name
                ),
            ))
        };
        let (Some(Tok::RParen), [.., open, base, _close]) = (o.last().map(|t| &t.tok), o) else {
            return bad();
        };
        if open.tok != Tok::LParen {
            return bad();
        }
        let base_reg = match &base.tok {
            Tok::Ident(n) => match syntax::operand_name(n) {
                Some(OperandName::Reg(x)) => Reg::new(x.min(255) as u8).or_else(|| {
                    self.fail(Diag::at(
                        base,
                        format!("there is no register r{x}: registers are r0..r15"),
                    ))
                }),
                _ => self.fail(Diag::at(
                    base,
                    "the base of `offset(base)` must be a register",
                )),
            },
            _ => return bad(),
        };
        let off_toks = &o[..o.len() - 3];
        let off = if off_toks.is_empty() {
            Some(0)
        } else {
            let v = self.value_of(off_toks)?;
            if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&v) {
                Some(v)
            } else {
                self.fail(Diag::over(
                    off_toks,
                    format!(
                        "offset {v} is out of range -32768..=32767 for `{}`",
                        self.name
                    ),
                ))
            }
        };
        Some((off? as i16, base_reg?))
    }

    fn keyword<T: Copy>(&self, i: usize, table: &[(&'static str, T)], what: &str) -> Option<T> {
        let o = self.operand(i)?;
        if let [Token {
            tok: Tok::Ident(n), ..
        }] = o
        {
            let lower = n.to_ascii_lowercase();
            if let Some((_, v)) = table.iter().find(|(k, _)| *k == lower) {
                return Some(*v);
            }
        }
        let names: Vec<&str> = table.iter().map(|(k, _)| *k).collect();
        self.fail(Diag::over(
            o,
            format!("{what} must be one of: {}", names.join(", ")),
        ))
    }
}

/// Builds the instruction(s) of one statement.
fn build(mn: Mn, o: &Ops<'_>, size: usize) -> Option<Vec<Instruction>> {
    use Instruction as I;
    let one = |i: Option<Instruction>| i.map(|i| vec![i]);
    match mn {
        Mn::Nop | Mn::Halt | Mn::Barrier => {
            if !o.arity(0, 0, "") {
                return None;
            }
            one(Some(match mn {
                Mn::Nop => I::Nop,
                Mn::Halt => I::Halt,
                _ => I::Barrier,
            }))
        }
        Mn::Alu(op) => {
            if !o.arity(3, 3, "rd, rs, rt") {
                return None;
            }
            let (rd, rs, rt) = (o.reg(0), o.reg(1), o.reg(2));
            one(Some(I::Alu {
                op,
                rd: rd?,
                rs: rs?,
                rt: rt?,
            }))
        }
        Mn::Addi | Mn::Ori => {
            if !o.arity(3, 3, "rd, rs, imm") {
                return None;
            }
            let (rd, rs) = (o.reg(0), o.reg(1));
            if let Mn::Addi = mn {
                let imm = o.imm_i16(2);
                one(Some(I::Addi {
                    rd: rd?,
                    rs: rs?,
                    imm: imm?,
                }))
            } else {
                let imm = o.imm_u16(2);
                one(Some(I::Ori {
                    rd: rd?,
                    rs: rs?,
                    imm: imm?,
                }))
            }
        }
        Mn::Lui => {
            if !o.arity(2, 2, "rd, imm") {
                return None;
            }
            let (rd, imm) = (o.reg(0), o.imm_u16(1));
            one(Some(I::Lui { rd: rd?, imm: imm? }))
        }
        Mn::Ld | Mn::St => {
            if !o.arity(2, 2, "reg, offset(base)") {
                return None;
            }
            let (r, mem) = (o.reg(0), o.mem(1));
            let (off, base) = mem?;
            one(Some(if let Mn::Ld = mn {
                I::Ld { rd: r?, base, off }
            } else {
                I::St { rs: r?, base, off }
            }))
        }
        Mn::Branch(cond) => {
            if !o.arity(3, 3, "rs, rt, target") {
                return None;
            }
            let (rs, rt) = (o.reg(0), o.reg(1));
            let off = o.target(2, i16::MIN.into(), i16::MAX.into(), false);
            one(Some(I::Branch {
                cond,
                rs: rs?,
                rt: rt?,
                off: off? as i16,
            }))
        }
        Mn::Jal | Mn::J => {
            let (rd, t) = if let Mn::Jal = mn {
                if !o.arity(2, 2, "rd, target") {
                    return None;
                }
                (o.reg(0), 1)
            } else {
                if !o.arity(1, 1, "target") {
                    return None;
                }
                (Some(Reg::ZERO), 0)
            };
            let off = o.target(
                t,
                encode::JAL_OFF_MIN.into(),
                encode::JAL_OFF_MAX.into(),
                true,
            );
            one(Some(I::Jal {
                rd: rd?,
                off: off? as i32,
            }))
        }
        Mn::Jr => {
            if !o.arity(1, 1, "rs") {
                return None;
            }
            one(o.reg(0).map(|rs| I::Jr { rs }))
        }
        Mn::Csrr => {
            if !o.arity(2, 2, "rd, csr") {
                return None;
            }
            let (rd, csr) = (o.reg(0), o.keyword(1, &syntax::CSR_NAMES, "the CSR"));
            one(Some(I::Csrr { rd: rd?, csr: csr? }))
        }
        Mn::Wait => {
            if !o.arity(1, 1, "event") {
                return None;
            }
            one(o
                .keyword(0, &syntax::EVENT_NAMES, "the event")
                .map(|event| I::Wait { event }))
        }
        Mn::Send | Mn::Recv | Mn::VRange => {
            let sig = match mn {
                Mn::Send => "rdst, rpayload",
                Mn::Recv => "rd, raxon",
                _ => "rlo, rhi",
            };
            if !o.arity(2, 2, sig) {
                return None;
            }
            let (a, b) = (o.reg(0), o.reg(1));
            let (a, b) = (a?, b?);
            one(Some(match mn {
                Mn::Send => I::Send { dst: a, payload: b },
                Mn::Recv => I::Recv { rd: a, ra: b },
                _ => I::VRange { lo: a, hi: b },
            }))
        }
        Mn::VAlu(op) => {
            if !o.arity(3, 4, "fd, fa, fb|rs [, m]") {
                return None;
            }
            let (fd, fa, m) = (o.field(0), o.field(1), o.opt_mask(3));
            match o.kind(2) {
                Some(OperandName::Reg(_)) => {
                    let rs = o.reg(2);
                    one(Some(I::VAluS {
                        op,
                        fd: fd?,
                        fa: fa?,
                        rs: rs?,
                        m: m?,
                    }))
                }
                Some(OperandName::Field(_)) => {
                    let fb = o.field(2);
                    one(Some(I::VAlu {
                        op,
                        fd: fd?,
                        fa: fa?,
                        fb: fb?,
                        m: m?,
                    }))
                }
                _ => {
                    o.bad_source(2);
                    None
                }
            }
        }
        Mn::VShiftI(op) => {
            if !o.arity(3, 4, "fd, fa, sh [, m]") {
                return None;
            }
            let (fd, fa, sh, m) = (o.field(0), o.field(1), o.shift(2), o.opt_mask(3));
            one(Some(I::VShiftI {
                op,
                fd: fd?,
                fa: fa?,
                sh: sh?,
                m: m?,
            }))
        }
        Mn::VDecay => {
            if !o.arity(3, 4, "fd, fa, rs|fk [, m]") {
                return None;
            }
            let (fd, fa, m) = (o.field(0), o.field(1), o.opt_mask(3));
            // One decay constant for every neuron (a register) or one per neuron (a field).
            match o.kind(2) {
                Some(OperandName::Reg(_)) => {
                    let rs = o.reg(2);
                    one(Some(I::VDecay {
                        fd: fd?,
                        fa: fa?,
                        rs: rs?,
                        m: m?,
                    }))
                }
                Some(OperandName::Field(_)) => {
                    let fk = o.field(2);
                    one(Some(I::VDecayF {
                        fd: fd?,
                        fa: fa?,
                        fk: fk?,
                        m: m?,
                    }))
                }
                _ => {
                    o.bad_source(2);
                    None
                }
            }
        }
        Mn::VMulSh(round) => {
            if !o.arity(4, 5, "fd, fa, fb, sh [, m]") {
                return None;
            }
            let (fd, fa, fb, sh, m) = (
                o.field(0),
                o.field(1),
                o.field(2),
                o.shift(3),
                o.opt_mask(4),
            );
            one(Some(I::VMulShift {
                fd: fd?,
                fa: fa?,
                fb: fb?,
                sh: sh?,
                round,
                m: m?,
            }))
        }
        Mn::VMovI => {
            if !o.arity(2, 3, "fd, imm [, m]") {
                return None;
            }
            let (fd, imm, m) = (o.field(0), o.imm_i16(1), o.opt_mask(2));
            one(Some(I::VMovI {
                fd: fd?,
                imm: imm?,
                m: m?,
            }))
        }
        Mn::VMovS => {
            if !o.arity(2, 3, "fd, rs [, m]") {
                return None;
            }
            let (fd, rs, m) = (o.field(0), o.reg(1), o.opt_mask(2));
            one(Some(I::VMovS {
                fd: fd?,
                rs: rs?,
                m: m?,
            }))
        }
        Mn::VMov => {
            if !o.arity(2, 3, "fd, fa [, m]") {
                return None;
            }
            let (fd, fa, m) = (o.field(0), o.field(1), o.opt_mask(2));
            one(Some(I::VMov {
                fd: fd?,
                fa: fa?,
                m: m?,
            }))
        }
        Mn::VCmp(cond, scalar_only) => {
            if !o.arity(3, 4, "md, fa, fb|rs [, m]") {
                return None;
            }
            let (md, fa, m) = (o.mask(0), o.field(1), o.opt_mask(3));
            if scalar_only || matches!(o.kind(2), Some(OperandName::Reg(_))) {
                let rs = o.reg(2);
                one(Some(I::VCmpS {
                    cond,
                    md: md?,
                    fa: fa?,
                    rs: rs?,
                    m: m?,
                }))
            } else if matches!(o.kind(2), Some(OperandName::Field(_))) {
                let fb = o.field(2);
                one(Some(I::VCmp {
                    cond,
                    md: md?,
                    fa: fa?,
                    fb: fb?,
                    m: m?,
                }))
            } else {
                o.bad_source(2);
                None
            }
        }
        Mn::MaskAlu(op) => {
            if !o.arity(3, 3, "md, ma, mb") {
                return None;
            }
            let (md, ma, mb) = (o.mask(0), o.mask(1), o.mask(2));
            one(Some(I::MaskAlu {
                op,
                md: md?,
                ma: ma?,
                mb: mb?,
            }))
        }
        Mn::MCount => {
            if !o.arity(2, 2, "rd, m") {
                return None;
            }
            let (rd, m) = (o.reg(0), o.mask(1));
            one(Some(I::MCount { rd: rd?, m: m? }))
        }
        Mn::VSpike => {
            if !o.arity(1, 1, "m") {
                return None;
            }
            one(o.mask(0).map(|m| I::VSpike { m }))
        }
        Mn::WLoad | Mn::WStore => {
            let sig = if let Mn::WLoad = mn {
                "fd, rrow [, m]"
            } else {
                "fa, rrow [, m]"
            };
            if !o.arity(2, 3, sig) {
                return None;
            }
            let (f, row, m) = (o.field(0), o.reg(1), o.opt_mask(2));
            let (f, row, m) = (f?, row?, m?);
            one(Some(if let Mn::WLoad = mn {
                I::WLoad { fd: f, row, m }
            } else {
                I::WStore { fa: f, row, m }
            }))
        }
        Mn::WSign => {
            if !o.arity(1, 1, "rrow") {
                return None;
            }
            one(o.reg(0).map(|row| I::WSign { row }))
        }
        Mn::VRed(op) => {
            if !o.arity(2, 3, "rd, fa [, m]") {
                return None;
            }
            let (rd, fa, m) = (o.reg(0), o.field(1), o.opt_mask(2));
            one(Some(I::VRed {
                op,
                rd: rd?,
                fa: fa?,
                m: m?,
            }))
        }
        Mn::VGet => {
            if !o.arity(3, 3, "rd, fa, rn") {
                return None;
            }
            let (rd, fa, rn) = (o.reg(0), o.field(1), o.reg(2));
            one(Some(I::VGet {
                rd: rd?,
                fa: fa?,
                rn: rn?,
            }))
        }
        Mn::VRedSumSq => {
            if !o.arity(3, 4, "rhi, rlo, fa [, m]") {
                return None;
            }
            let (hi, lo, fa, m) = (o.reg(0), o.reg(1), o.field(2), o.opt_mask(3));
            one(Some(I::VRedSumSq {
                hi: hi?,
                lo: lo?,
                fa: fa?,
                m: m?,
            }))
        }
        Mn::ISqrt => {
            if !o.arity(3, 3, "rd, rhi, rlo") {
                return None;
            }
            let (rd, hi, lo) = (o.reg(0), o.reg(1), o.reg(2));
            one(Some(I::ISqrt {
                rd: rd?,
                hi: hi?,
                lo: lo?,
            }))
        }
        Mn::VDivQ => {
            if !o.arity(3, 4, "fd, fa, rs [, m]") {
                return None;
            }
            let (fd, fa, rs, m) = (o.field(0), o.field(1), o.reg(2), o.opt_mask(3));
            one(Some(I::VDivQ {
                fd: fd?,
                fa: fa?,
                rs: rs?,
                m: m?,
            }))
        }
        Mn::ALd => {
            if !o.arity(2, 2, "rd, ra") {
                return None;
            }
            let (rd, ra) = (o.reg(0), o.reg(1));
            one(Some(I::ALd { rd: rd?, ra: ra? }))
        }
        Mn::VSet => {
            if !o.arity(3, 3, "fd, rn, rs") {
                return None;
            }
            let (fd, rn, rs) = (o.field(0), o.reg(1), o.reg(2));
            one(Some(I::VSet {
                fd: fd?,
                rn: rn?,
                rs: rs?,
            }))
        }
        Mn::Mv => {
            if !o.arity(2, 2, "rd, rs") {
                return None;
            }
            let (rd, rs) = (o.reg(0), o.reg(1));
            one(Some(I::Addi {
                rd: rd?,
                rs: rs?,
                imm: 0,
            }))
        }
        Mn::Li => {
            if !o.arity(2, 2, "rd, imm32") {
                return None;
            }
            let (rd, v) = (o.reg(0), o.ranged(1, -(1 << 31), u32::MAX.into(), "value"));
            let (rd, v) = (rd?, v? as u32);
            let hi = (v >> 16) as u16;
            let lo = (v & 0xFFFF) as u16;
            Some(match (size, i16::try_from(v as i32)) {
                (1, Ok(imm)) => vec![I::Addi {
                    rd,
                    rs: Reg::ZERO,
                    imm,
                }],
                (1, Err(_)) => vec![I::Lui { rd, imm: hi }],
                _ => vec![
                    I::Lui { rd, imm: hi },
                    I::Ori {
                        rd,
                        rs: rd,
                        imm: lo,
                    },
                ],
            })
        }
    }
}

/// Runs both passes over `source`.
pub(super) fn run(source: &str, origin: &str) -> Result<Assembly, AsmErrors> {
    let mut a = Assembler {
        origin,
        lines: source.lines().collect(),
        errors: Vec::new(),
        symbols: BTreeMap::new(),
        pending: Vec::new(),
        section: Section::Text,
        text_pc: 0,
        data_pc: 0,
        items: Vec::new(),
    };
    for line in 0..a.lines.len() {
        a.pass1_line(line);
    }
    a.resolve_pending();

    let symbols: BTreeMap<String, i64> = a
        .symbols
        .iter()
        .map(|(k, s)| (k.clone(), s.value))
        .collect();
    let lookup = |n: &str| symbols.get(n).copied();
    let mut text = Vec::with_capacity(a.text_pc as usize);
    let mut data = vec![0i32; a.data_pc as usize];
    let items = std::mem::take(&mut a.items);
    for item in &items {
        match item {
            Item::Insn {
                line,
                pc,
                mnem,
                name,
                ops,
                size,
                end,
            } => {
                let Some(mn) = classify(name) else { continue };
                let o = Ops {
                    ops,
                    mnem,
                    name,
                    end,
                    pc: *pc,
                    lookup: &lookup,
                    diags: RefCell::new(Vec::new()),
                };
                let built = build(mn, &o, *size);
                let diags = o.diags.into_inner();
                let failed = !diags.is_empty();
                for d in diags {
                    a.error(*line, d);
                }
                if failed {
                    continue;
                }
                let Some(built) = built else { continue };
                for insn in built {
                    // Every field was range-checked above; this keeps "an assembled program
                    // always encodes" true by construction.
                    if let Err(e) = encode::encode(&insn) {
                        a.error(*line, Diag::at(mnem, e.to_string()));
                    }
                    text.push(insn);
                }
            }
            Item::Words {
                line,
                addr,
                ops,
                end,
            } => {
                let mnem = Token {
                    tok: Tok::Comma,
                    col: 0,
                    len: 1,
                };
                for (k, op) in ops.iter().enumerate() {
                    let addr = addr + k as i64;
                    let o = Ops {
                        ops: std::slice::from_ref(op),
                        mnem: &mnem,
                        name: ".word",
                        end,
                        pc: addr,
                        lookup: &lookup,
                        diags: RefCell::new(Vec::new()),
                    };
                    let v = o.ranged(0, -(1 << 31), u32::MAX.into(), "value");
                    for d in o.diags.into_inner() {
                        a.error(*line, d);
                    }
                    if let (Some(v), Some(slot)) = (v, data.get_mut(addr as usize)) {
                        *slot = v as u32 as i32;
                    }
                }
            }
        }
    }

    if !a.errors.is_empty() {
        let mut errors = a.errors;
        errors.sort_by_key(|e| (e.line, e.column));
        return Err(AsmErrors { errors });
    }
    let mut program = Program {
        text,
        data,
        symbols: BTreeMap::new(),
    };
    let mut kinds = BTreeMap::new();
    for (name, s) in a.symbols {
        if !syntax::is_local(&name) {
            program.symbols.insert(name.clone(), s.value);
            kinds.insert(name, s.kind);
        }
    }
    Ok(Assembly { program, kinds })
}
