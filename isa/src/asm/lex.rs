//! The assembler's lexer: one source line into located tokens (columns in characters).

/// A token's kind and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A name: mnemonic, directive, symbol, operand, CSR or event (may contain dots).
    Ident(String),
    /// An integer literal.
    Int(i64),
    /// `,`
    Comma,
    /// `:`
    Colon,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// A binary or unary operator: `+ - * / % << >> & | ^ ~`.
    Op(&'static str),
}

/// A token and where it sits on its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// 0-based column of its first character.
    pub col: usize,
    /// Its length in characters.
    pub len: usize,
}

/// A lexing failure: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub col: usize,
    pub len: usize,
    pub message: String,
}

fn ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '.'
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Parses an integer literal: decimal, `0x` hex, `0b` binary or `0o` octal, `_` separators.
fn parse_int(text: &str) -> Result<i64, String> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let (digits, radix) = if let Some(d) = lower.strip_prefix("0x") {
        (d, 16)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d, 2)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d, 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(format!(
            "`{text}` is not a number (decimal, 0x hex, 0b binary or 0o octal digits)"
        ));
    }
    i64::from_str_radix(digits, radix)
        .map_err(|_| format!("number `{text}` does not fit in a signed 64-bit integer"))
}

/// Splits one line (without its newline) into tokens, dropping a `;` or `#` comment.
pub(crate) fn lex(line: &str) -> Result<Vec<Token>, LexError> {
    let chars: Vec<char> = line.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ';' || c == '#' {
            break;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = if ident_start(c) {
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            match parse_int(&text) {
                Ok(v) => Tok::Int(v),
                Err(message) => {
                    return Err(LexError {
                        col: start,
                        len: i - start,
                        message,
                    })
                }
            }
        } else {
            let next = chars.get(i + 1).copied();
            let (tok, n) = match (c, next) {
                ('<', Some('<')) => (Tok::Op("<<"), 2),
                ('>', Some('>')) => (Tok::Op(">>"), 2),
                (',', _) => (Tok::Comma, 1),
                (':', _) => (Tok::Colon, 1),
                ('(', _) => (Tok::LParen, 1),
                (')', _) => (Tok::RParen, 1),
                ('+', _) => (Tok::Op("+"), 1),
                ('-', _) => (Tok::Op("-"), 1),
                ('*', _) => (Tok::Op("*"), 1),
                ('/', _) => (Tok::Op("/"), 1),
                ('%', _) => (Tok::Op("%"), 1),
                ('&', _) => (Tok::Op("&"), 1),
                ('|', _) => (Tok::Op("|"), 1),
                ('^', _) => (Tok::Op("^"), 1),
                ('~', _) => (Tok::Op("~"), 1),
                _ => {
                    return Err(LexError {
                        col: i,
                        len: 1,
                        message: format!("unexpected character `{}`", c.escape_debug()),
                    })
                }
            };
            i += n;
            tok
        };
        toks.push(Token {
            tok,
            col: start,
            len: i - start,
        });
    }
    Ok(toks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_end_the_line_and_columns_count_characters() {
        let t = lex("é: add r1, r2 ; r3").unwrap_err();
        assert_eq!(t.col, 0);
        let t = lex("  add r1,0x1_0 # x").unwrap();
        let kinds: Vec<_> = t.iter().map(|t| t.tok.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                Tok::Ident("add".into()),
                Tok::Ident("r1".into()),
                Tok::Comma,
                Tok::Int(16)
            ]
        );
        assert_eq!((t[3].col, t[3].len), (9, 5));
    }

    #[test]
    fn literals_in_every_radix() {
        assert_eq!(parse_int("0b101"), Ok(5));
        assert_eq!(parse_int("0o17"), Ok(15));
        assert_eq!(parse_int("0xFFFF_FFFF"), Ok(0xFFFF_FFFF));
        assert!(parse_int("0x").is_err());
        assert!(parse_int("12z").is_err());
        assert!(parse_int("99999999999999999999").is_err());
    }
}
