//! The `.bin` program container written by `spikemesh asm` and read by `spikemesh disasm`:
//! instruction words, data words and the symbol table (with each symbol's kind), checksummed.
//!
//! # Format (version 1)
//!
//! All integers little-endian.
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `SPKPRG\r\n` |
//! | 8 | 4 | format version (u32, = 1) |
//! | 12 | 4 | `T`: text word count (u32) |
//! | 16 | 4 | `D`: data word count (u32) |
//! | 20 | 4 | `S`: symbol count (u32) |
//! | 24 | 4·T | instruction words (u32, [`crate::encode`]) |
//! | … | 4·D | data words (i32) |
//! | … | … | `S` symbols, by strictly ascending name: kind (u8: 0 text label, 1 data label, 2 constant), name length (u16), name (ASCII), value (i64) |
//! | end − 4 | 4 | CRC-32 (IEEE, `crc32fast`) of every preceding byte |
//!
//! [`from_bytes`] checks size, magic, version and checksum first, then every count against
//! the bytes present (so a corrupted count cannot trigger a huge allocation), decodes every
//! instruction word, and checks every symbol (kind, name syntax, order); trailing bytes are an
//! error. Whatever the input, it returns a typed error rather than panicking.

use super::syntax::{is_local, is_symbol_name};
use super::{Assembly, SymbolKind};
use crate::encode::{decode, encode, DecodeError, EncodeError};
use crate::program::Program;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The first eight bytes of every `.bin` program file.
pub const MAGIC: [u8; 8] = *b"SPKPRG\r\n";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 24;

/// Why a `.bin` file could not be written or read.
#[derive(Debug, Error)]
pub enum BinError {
    /// Shorter than a header and a checksum.
    #[error("file is {len} bytes long; a program file has at least {min} (header and checksum)")]
    TooShort {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// The magic bytes are wrong: not a program file.
    #[error("not a spikemesh program file: magic is {found:02x?}, expected \"SPKPRG\\r\\n\"")]
    BadMagic {
        /// The first eight bytes.
        found: [u8; 8],
    },
    /// A format version this build does not read.
    #[error(
        "format version {version} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// The checksum does not match: the file is corrupted.
    #[error(
        "checksum mismatch: stored {stored:#010x}, computed {computed:#010x} (file corrupted)"
    )]
    ChecksumMismatch {
        /// CRC stored in the file.
        stored: u32,
        /// CRC of the bytes read.
        computed: u32,
    },
    /// The file ends inside a section.
    #[error("truncated: {what} at byte offset {offset} runs past the end of the file")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: usize,
    },
    /// An instruction word does not decode.
    #[error("instruction {index} (text address {index}): {source}")]
    BadInstruction {
        /// Its index in `.text`.
        index: usize,
        /// Why.
        #[source]
        source: DecodeError,
    },
    /// An instruction of the program to write does not encode.
    #[error("instruction {index} cannot be encoded: {source}")]
    Unencodable {
        /// Its index in `.text`.
        index: usize,
        /// Why.
        #[source]
        source: EncodeError,
    },
    /// A symbol entry breaks a rule.
    #[error("symbol {index}: {rule}")]
    BadSymbol {
        /// Its position in the symbol table.
        index: usize,
        /// The rule broken.
        rule: String,
    },
    /// Bytes left over between the symbol table and the checksum.
    #[error("{count} unexpected byte(s) after the symbol table")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A section too large for the format's 32-bit counts.
    #[error("{what} has {count} entries; the format holds at most {max}", max = u32::MAX)]
    TooLarge {
        /// Which section.
        what: &'static str,
        /// Its size.
        count: usize,
    },
    /// Reading or writing the file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

fn kind_byte(k: SymbolKind) -> u8 {
    match k {
        SymbolKind::Text => 0,
        SymbolKind::Data => 1,
        SymbolKind::Const => 2,
    }
}

fn count_u32(what: &'static str, n: usize) -> Result<u32, BinError> {
    u32::try_from(n).map_err(|_| BinError::TooLarge { what, count: n })
}

/// Serialises a program and its symbol kinds (a symbol with no kind is written as a constant).
pub fn to_bytes(a: &Assembly) -> Result<Vec<u8>, BinError> {
    let p = &a.program;
    let mut out = Vec::with_capacity(HEADER_LEN + 4 * (p.text.len() + p.data.len()) + 4);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&count_u32("text", p.text.len())?.to_le_bytes());
    out.extend_from_slice(&count_u32("data", p.data.len())?.to_le_bytes());
    out.extend_from_slice(&count_u32("symbol table", p.symbols.len())?.to_le_bytes());
    for (index, insn) in p.text.iter().enumerate() {
        let w = encode(insn).map_err(|source| BinError::Unencodable { index, source })?;
        out.extend_from_slice(&w.to_le_bytes());
    }
    for w in &p.data {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for (index, (name, value)) in p.symbols.iter().enumerate() {
        if !is_symbol_name(name) || is_local(name) {
            return Err(BinError::BadSymbol {
                index,
                rule: format!("`{name}` is not a valid exported symbol name"),
            });
        }
        let len = u16::try_from(name.len()).map_err(|_| BinError::BadSymbol {
            index,
            rule: format!("name is {} bytes long; at most 65535", name.len()),
        })?;
        let kind = a.kinds.get(name).copied().unwrap_or(SymbolKind::Const);
        out.push(kind_byte(kind));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// A cursor over the checked body of a file.
struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'b [u8], BinError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(BinError::Truncated {
                what,
                offset: self.pos,
            })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], BinError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, BinError> {
        self.array::<4>(what).map(u32::from_le_bytes)
    }

    /// Checks that `count` items of `size` bytes fit in what is left.
    fn fits(&self, count: u32, size: usize, what: &'static str) -> Result<usize, BinError> {
        let count = count as usize;
        count
            .checked_mul(size)
            .filter(|&n| n <= self.bytes.len() - self.pos)
            .map(|_| count)
            .ok_or(BinError::Truncated {
                what,
                offset: self.pos,
            })
    }
}

/// Parses and checks a `.bin` file's bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<Assembly, BinError> {
    let min = HEADER_LEN + 4;
    if bytes.len() < min {
        // Still name a wrong magic when there is enough to see it.
        if bytes.len() >= 8 && bytes[..8] != MAGIC {
            let mut found = [0u8; 8];
            found.copy_from_slice(&bytes[..8]);
            return Err(BinError::BadMagic { found });
        }
        return Err(BinError::TooShort {
            len: bytes.len(),
            min,
        });
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    let mut r = Reader {
        bytes: body,
        pos: 0,
    };
    let found: [u8; 8] = r.array("magic")?;
    if found != MAGIC {
        return Err(BinError::BadMagic { found });
    }
    let version = r.u32("format version")?;
    if version != FORMAT_VERSION {
        return Err(BinError::UnsupportedVersion { version });
    }
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(BinError::ChecksumMismatch { stored, computed });
    }
    let t = r.u32("text word count")?;
    let d = r.u32("data word count")?;
    let s = r.u32("symbol count")?;
    let t = r.fits(t, 4, "text section")?;
    let mut text = Vec::with_capacity(t);
    for index in 0..t {
        let w = u32::from_le_bytes(r.array("instruction word")?);
        text.push(decode(w).map_err(|source| BinError::BadInstruction { index, source })?);
    }
    let d = r.fits(d, 4, "data section")?;
    let mut data = Vec::with_capacity(d);
    for _ in 0..d {
        data.push(i32::from_le_bytes(r.array("data word")?));
    }
    // Each symbol takes at least 1 + 2 + 1 + 8 bytes.
    let s = r.fits(s, 12, "symbol table")?;
    let mut a = Assembly {
        program: Program {
            text,
            data,
            symbols: Default::default(),
        },
        kinds: Default::default(),
    };
    let mut previous: Option<String> = None;
    for index in 0..s {
        let kind = match r.array::<1>("symbol kind")?[0] {
            0 => SymbolKind::Text,
            1 => SymbolKind::Data,
            2 => SymbolKind::Const,
            k => {
                return Err(BinError::BadSymbol {
                    index,
                    rule: format!("kind byte {k} is not 0 (text), 1 (data) or 2 (constant)"),
                })
            }
        };
        let len = u16::from_le_bytes(r.array("symbol name length")?);
        let raw = r.take(usize::from(len), "symbol name")?;
        let name = match std::str::from_utf8(raw) {
            Ok(n) if is_symbol_name(n) && !is_local(n) => n.to_string(),
            _ => {
                return Err(BinError::BadSymbol {
                    index,
                    rule: format!(
                        "name {:?} is not a valid symbol name ([A-Za-z_][A-Za-z0-9_]*, not an operand name)",
                        String::from_utf8_lossy(raw)
                    ),
                })
            }
        };
        if previous.as_deref().is_some_and(|p| p >= name.as_str()) {
            return Err(BinError::BadSymbol {
                index,
                rule: format!("`{name}` is out of order or repeated (names must strictly ascend)"),
            });
        }
        let value = i64::from_le_bytes(r.array("symbol value")?);
        a.program.symbols.insert(name.clone(), value);
        a.kinds.insert(name.clone(), kind);
        previous = Some(name);
    }
    if r.pos != body.len() {
        return Err(BinError::TrailingBytes {
            count: body.len() - r.pos,
        });
    }
    Ok(a)
}

/// Reads a `.bin` file.
pub fn load(path: &Path) -> Result<Assembly, BinError> {
    let bytes = std::fs::read(path).map_err(|source| BinError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_bytes(&bytes)
}

/// Writes a `.bin` file atomically (temporary file, then rename): on error nothing is left.
pub fn save(path: &Path, a: &Assembly) -> Result<(), BinError> {
    let bytes = to_bytes(a)?;
    crate::output::write_atomic(path, &bytes).map_err(|source| BinError::Io {
        path: path.to_path_buf(),
        source,
    })
}
