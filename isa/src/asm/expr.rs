//! Assembler expressions: integers, symbols, `.` (the current address) and the operators
//! `~ -` (unary), `* / %`, `+ -`, `<< >>`, `&`, `^`, `|` (C precedence), with parentheses,
//! evaluated in checked 64-bit arithmetic.

use super::lex::{Tok, Token};

/// A located failure inside an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Diag {
    pub col: usize,
    pub len: usize,
    pub message: String,
}

impl Diag {
    pub(crate) fn at(t: &Token, message: impl Into<String>) -> Self {
        Diag {
            col: t.col,
            len: t.len.max(1),
            message: message.into(),
        }
    }

    /// Spanning from the first to the last token of a slice.
    pub(crate) fn over(toks: &[Token], message: impl Into<String>) -> Self {
        match (toks.first(), toks.last()) {
            (Some(a), Some(b)) => Diag {
                col: a.col,
                len: (b.col + b.len).saturating_sub(a.col).max(1),
                message: message.into(),
            },
            _ => Diag {
                col: 0,
                len: 1,
                message: message.into(),
            },
        }
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    Num(i64),
    /// A symbol and its token.
    Sym(String, Token),
    /// `.`
    Here,
    Unary(&'static str, Box<Expr>, Token),
    Binary(&'static str, Box<Expr>, Box<Expr>, Token),
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EvalError {
    /// A symbol is not (yet) defined.
    Undefined(String, Token),
    /// Overflow, division by zero or a bad shift amount.
    Arith(Diag),
}

const LEVELS: [&[&str]; 6] = [
    &["|"],
    &["^"],
    &["&"],
    &["<<", ">>"],
    &["+", "-"],
    &["*", "/", "%"],
];

struct Parser<'t> {
    toks: &'t [Token],
    pos: usize,
    /// Where an expression that ends too early is reported.
    end: Token,
    /// Current nesting of parentheses and unary operators.
    depth: usize,
}

/// Deepest nesting of parentheses and unary operators an expression may have.
const MAX_DEPTH: usize = 200;
/// Most tokens an expression may have (bounds the depth of its tree, hence of evaluation).
const MAX_TOKENS: usize = 1000;

impl<'t> Parser<'t> {
    fn peek_op(&self, ops: &[&str]) -> Option<(&'static str, Token)> {
        match self.toks.get(self.pos) {
            Some(
                t @ Token {
                    tok: Tok::Op(o), ..
                },
            ) if ops.contains(o) => Some((o, t.clone())),
            _ => None,
        }
    }

    fn level(&mut self, l: usize) -> Result<Expr, Diag> {
        if l == LEVELS.len() {
            return self.unary();
        }
        let mut lhs = self.level(l + 1)?;
        while let Some((op, t)) = self.peek_op(LEVELS[l]) {
            self.pos += 1;
            let rhs = self.level(l + 1)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs), t);
        }
        Ok(lhs)
    }

    fn nest(&mut self, t: &Token) -> Result<(), Diag> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Diag::at(
                t,
                format!("expression nested more than {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Expr, Diag> {
        if let Some((op, t)) = self.peek_op(&["-", "~", "+"]) {
            self.pos += 1;
            self.nest(&t)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(if op == "+" {
                inner
            } else {
                Expr::Unary(op, Box::new(inner), t)
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, Diag> {
        let Some(t) = self.toks.get(self.pos).cloned() else {
            return Err(Diag::at(
                &self.end,
                "expression ends early: expected a number, a symbol or `(`",
            ));
        };
        self.pos += 1;
        match &t.tok {
            Tok::Int(v) => Ok(Expr::Num(*v)),
            Tok::Ident(name) if name == "." => Ok(Expr::Here),
            Tok::Ident(name) => {
                if super::syntax::operand_name(name).is_some() {
                    return Err(Diag::at(
                        &t,
                        format!("`{name}` is a register/field/mask, not a value"),
                    ));
                }
                Ok(Expr::Sym(name.clone(), t))
            }
            Tok::LParen => {
                self.nest(&t)?;
                let inner = self.level(0)?;
                self.depth -= 1;
                match self.toks.get(self.pos) {
                    Some(Token {
                        tok: Tok::RParen, ..
                    }) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    Some(other) => Err(Diag::at(other, "expected `)` to close `(`")),
                    None => Err(Diag::at(&t, "this `(` is never closed")),
                }
            }
            _ => Err(Diag::at(
                &t,
                "expected a number, a symbol or `(` in an expression",
            )),
        }
    }
}

/// Parses a whole operand as one expression.
pub(crate) fn parse(toks: &[Token], end: &Token) -> Result<Expr, Diag> {
    if toks.len() > MAX_TOKENS {
        return Err(Diag::over(
            toks,
            format!("expression has more than {MAX_TOKENS} tokens"),
        ));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end: end.clone(),
        depth: 0,
    };
    let e = p.level(0)?;
    if let Some(t) = toks.get(p.pos) {
        return Err(Diag::at(
            t,
            "unexpected token after the end of the expression",
        ));
    }
    Ok(e)
}

/// Evaluates an expression; `lookup` resolves symbols, `here` is the value of `.`.
pub(crate) fn eval(
    e: &Expr,
    lookup: &dyn Fn(&str) -> Option<i64>,
    here: i64,
) -> Result<i64, EvalError> {
    Ok(match e {
        Expr::Num(v) => *v,
        Expr::Here => here,
        Expr::Sym(name, t) => {
            lookup(name).ok_or_else(|| EvalError::Undefined(name.clone(), t.clone()))?
        }
        Expr::Unary(op, inner, t) => {
            let v = eval(inner, lookup, here)?;
            match *op {
                "-" => v
                    .checked_neg()
                    .ok_or_else(|| arith(t, "negation overflows 64 bits"))?,
                _ => !v,
            }
        }
        Expr::Binary(op, a, b, t) => {
            let a = eval(a, lookup, here)?;
            let b = eval(b, lookup, here)?;
            let over = || arith(t, format!("`{op}` overflows 64 bits"));
            match *op {
                "+" => a.checked_add(b).ok_or_else(over)?,
                "-" => a.checked_sub(b).ok_or_else(over)?,
                "*" => a.checked_mul(b).ok_or_else(over)?,
                "/" | "%" if b == 0 => return Err(arith(t, "division by zero")),
                "/" => a.checked_div(b).ok_or_else(over)?,
                "%" => a.checked_rem(b).ok_or_else(over)?,
                "<<" | ">>" if !(0..64).contains(&b) => {
                    return Err(arith(t, format!("shift amount {b} is out of range 0..=63")))
                }
                "<<" => {
                    let r = a << b;
                    if r >> b != a {
                        return Err(over());
                    }
                    r
                }
                ">>" => a >> b,
                "&" => a & b,
                "|" => a | b,
                _ => a ^ b,
            }
        }
    })
}

fn arith(t: &Token, message: impl Into<String>) -> EvalError {
    EvalError::Arith(Diag::at(t, message))
}

#[cfg(test)]
mod tests {
    use super::super::lex::lex;
    use super::*;

    fn value(src: &str) -> Result<i64, EvalError> {
        let toks = lex(src).unwrap();
        let end = Token {
            tok: Tok::Comma,
            col: src.len(),
            len: 1,
        };
        let e = parse(&toks, &end).map_err(EvalError::Arith)?;
        eval(&e, &|n| (n == "K").then_some(10), 100)
    }

    #[test]
    fn precedence_follows_c() {
        assert_eq!(value("1 + 2 * 3"), Ok(7));
        assert_eq!(value("(1 + 2) * 3"), Ok(9));
        assert_eq!(value("1 << 2 + 1"), Ok(8));
        assert_eq!(value("K * 2 - -3"), Ok(23));
        assert_eq!(value("0xF0 | 0x0F & 0x3"), Ok(0xF3));
        assert_eq!(value(". + 4"), Ok(104));
        assert_eq!(value("~0"), Ok(-1));
    }

    #[test]
    fn overflow_and_bad_shift_are_errors() {
        assert!(matches!(value("1 << 64"), Err(EvalError::Arith(_))));
        assert!(matches!(value("1 << 63"), Err(EvalError::Arith(_))));
        assert!(matches!(
            value("0x7fffffffffffffff + 1"),
            Err(EvalError::Arith(_))
        ));
        assert!(matches!(value("1 / 0"), Err(EvalError::Arith(_))));
        assert!(matches!(value("X + 1"), Err(EvalError::Undefined(n, _)) if n == "X"));
        let deep = format!(
            "{}1{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(matches!(value(&deep), Err(EvalError::Arith(_))));
        let ok = format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(value(&ok), Ok(1));
        assert!(matches!(
            value(&"-".repeat(100_000)),
            Err(EvalError::Arith(_))
        ));
        assert!(matches!(
            value(&vec!["1"; 20_000].join("+")),
            Err(EvalError::Arith(_))
        ));
    }
}
