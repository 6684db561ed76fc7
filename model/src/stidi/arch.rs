//! The architecture string of the STiDi-BP trainer (`c16k5-p2-c32k3-p2-fc10`, `fc100-fc10`):
//! its parser, its validation against an input shape, and the resolved layer geometry.
//!
//! # Grammar
//!
//! Tokens are joined by `-`; each token is one layer:
//!
//! | token | layer | defaults |
//! | --- | --- | --- |
//! | `c<N>k<K>[s<S>][p<P>]` | Conv2d, `N` output channels, `K×K` kernel, stride `S`, padding `P` | `S = 1`, `P = 0` |
//! | `p<K>[s<S>]` | earliest-spike max pooling, `K×K` window, stride `S` | `S = K` |
//! | `fc<N>` | fully connected, `N` neurons | |
//!
//! A Flatten is inserted implicitly before the first `fc` that follows a map. Rules: at least one
//! token; the last token is `fc`; no `c` or `p` after an `fc`; every number is in `1..=65535`
//! (padding `0..K`). Errors name the token (1-based), its column in the string and the rule.

use std::fmt;

/// An architecture string that breaks a rule: where and which rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("architecture `{text}`: token {token} (`{token_text}`, column {column}): {rule}")]
pub struct ArchError {
    /// The whole string.
    pub text: String,
    /// 1-based token index (0 for the string as a whole).
    pub token: usize,
    /// The token's text.
    pub token_text: String,
    /// 1-based character column of the token's start.
    pub column: usize,
    /// The rule broken.
    pub rule: String,
}

/// One layer as written in the architecture string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerSpec {
    /// Convolution.
    Conv {
        /// Output channels.
        channels: u32,
        /// Kernel side.
        kernel: u32,
        /// Stride.
        stride: u32,
        /// Zero ("no spike") padding on every side.
        padding: u32,
    },
    /// Earliest-spike pooling.
    Pool {
        /// Window side.
        kernel: u32,
        /// Stride.
        stride: u32,
    },
    /// Fully connected.
    Fc {
        /// Neurons.
        neurons: u32,
    },
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayerSpec::Conv {
                channels,
                kernel,
                stride,
                padding,
            } => {
                write!(f, "c{channels}k{kernel}")?;
                if stride != 1 {
                    write!(f, "s{stride}")?;
                }
                if padding != 0 {
                    write!(f, "p{padding}")?;
                }
                Ok(())
            }
            LayerSpec::Pool { kernel, stride } => {
                write!(f, "p{kernel}")?;
                if stride != kernel {
                    write!(f, "s{stride}")?;
                }
                Ok(())
            }
            LayerSpec::Fc { neurons } => write!(f, "fc{neurons}"),
        }
    }
}

/// A parsed architecture string (shape-independent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arch {
    /// The layers in order.
    pub layers: Vec<LayerSpec>,
    text: String,
    columns: Vec<usize>,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.layers.iter().map(|l| l.to_string()).collect();
        write!(f, "{}", parts.join("-"))
    }
}

impl std::str::FromStr for Arch {
    type Err = ArchError;

    fn from_str(s: &str) -> Result<Arch, ArchError> {
        Arch::parse(s)
    }
}

/// Reads `<letter><number>` pairs from a token: returns (letter, value, column offset) items.
/// A `<letter><number>` field: name, value, character offset in the token.
type Field = (String, u64, usize);

fn fields(tok: &str) -> Result<Vec<Field>, (usize, String)> {
    let chars: Vec<char> = tok.chars().collect();
    let mut out = Vec::new();
    let mut k = 0;
    while k < chars.len() {
        let start = k;
        while k < chars.len() && chars[k].is_ascii_alphabetic() {
            k += 1;
        }
        if k == start {
            return Err((
                start,
                format!(
                    "expected a letter at `{}`",
                    chars[start..].iter().collect::<String>()
                ),
            ));
        }
        let name: String = chars[start..k]
            .iter()
            .collect::<String>()
            .to_ascii_lowercase();
        let nstart = k;
        while k < chars.len() && chars[k].is_ascii_digit() {
            k += 1;
        }
        if k == nstart {
            return Err((start, format!("`{name}` must be followed by a number")));
        }
        let digits: String = chars[nstart..k].iter().collect();
        let value = digits.parse::<u64>().unwrap_or(u64::MAX);
        out.push((name, value, start));
    }
    Ok(out)
}

impl Arch {
    /// Parses an architecture string (see the module documentation for the grammar).
    pub fn parse(s: &str) -> Result<Arch, ArchError> {
        let text = s.to_string();
        let err = |token: usize, token_text: &str, column: usize, rule: String| ArchError {
            text: text.clone(),
            token,
            token_text: token_text.to_string(),
            column,
            rule,
        };
        if s.trim().is_empty() {
            return Err(err(
                0,
                "",
                1,
                "the architecture is empty: write e.g. `fc100-fc10` or `c16k5-p2-fc10`".into(),
            ));
        }
        let mut layers = Vec::new();
        let mut columns = Vec::new();
        let mut column = 1;
        let mut seen_fc = false;
        let toks: Vec<&str> = s.split('-').collect();
        for (n, raw) in toks.iter().enumerate() {
            let index = n + 1;
            let col = column;
            column += raw.chars().count() + 1;
            let tok = raw.trim();
            if tok.is_empty() {
                return Err(err(
                    index,
                    raw,
                    col,
                    "empty token (two `-` in a row, or a leading/trailing `-`)".into(),
                ));
            }
            let fs = fields(tok).map_err(|(off, rule)| err(index, tok, col + off, rule))?;
            let get = |name: &str| fs.iter().find(|f| f.0 == name).map(|f| f.1);
            let num = |name: &str, v: u64, lo: u64| -> Result<u32, ArchError> {
                if v < lo || v > 65535 {
                    Err(err(
                        index,
                        tok,
                        col,
                        format!("`{name}{v}`: {name} must be in {lo}..=65535"),
                    ))
                } else {
                    Ok(v as u32)
                }
            };
            let allowed = |names: &[&str]| -> Result<(), ArchError> {
                let mut seen: Vec<&str> = Vec::new();
                for f in &fs[1..] {
                    if !names.contains(&f.0.as_str()) {
                        return Err(err(
                            index,
                            tok,
                            col + f.2,
                            format!(
                                "unknown field `{}` (allowed after `{}`: {})",
                                f.0,
                                fs[0].0,
                                names.join(", ")
                            ),
                        ));
                    }
                    if seen.contains(&f.0.as_str()) {
                        return Err(err(
                            index,
                            tok,
                            col + f.2,
                            format!("field `{}` given twice", f.0),
                        ));
                    }
                    seen.push(f.0.as_str());
                }
                Ok(())
            };
            let spec = match fs[0].0.as_str() {
                "c" => {
                    if seen_fc {
                        return Err(err(
                            index,
                            tok,
                            col,
                            "a convolution cannot follow a fully connected layer".into(),
                        ));
                    }
                    allowed(&["k", "s", "p"])?;
                    let channels = num("c", fs[0].1, 1)?;
                    let Some(k) = get("k") else {
                        return Err(err(
                            index,
                            tok,
                            col,
                            "a convolution needs a kernel size: `c<N>k<K>`".into(),
                        ));
                    };
                    let kernel = num("k", k, 1)?;
                    let stride = num("s", get("s").unwrap_or(1), 1)?;
                    let padding = get("p").unwrap_or(0);
                    if padding >= u64::from(kernel) {
                        return Err(err(
                            index,
                            tok,
                            col,
                            format!("padding {padding} must be below the kernel {kernel}"),
                        ));
                    }
                    LayerSpec::Conv {
                        channels,
                        kernel,
                        stride,
                        padding: padding as u32,
                    }
                }
                "p" => {
                    if seen_fc {
                        return Err(err(
                            index,
                            tok,
                            col,
                            "pooling cannot follow a fully connected layer".into(),
                        ));
                    }
                    allowed(&["s"])?;
                    let kernel = num("p", fs[0].1, 1)?;
                    let stride = num("s", get("s").unwrap_or(u64::from(kernel)), 1)?;
                    LayerSpec::Pool { kernel, stride }
                }
                "fc" => {
                    allowed(&[])?;
                    seen_fc = true;
                    LayerSpec::Fc {
                        neurons: num("fc", fs[0].1, 1)?,
                    }
                }
                other => {
                    return Err(err(
                        index,
                        tok,
                        col,
                        format!("unknown layer `{other}`: expected `c<N>k<K>`, `p<K>` or `fc<N>`"),
                    ));
                }
            };
            layers.push(spec);
            columns.push(col);
        }
        if !matches!(layers.last(), Some(LayerSpec::Fc { .. })) {
            let n = toks.len();
            return Err(err(
                n,
                toks[n - 1].trim(),
                columns[n - 1],
                "the last layer must be `fc<classes>` (the output layer)".into(),
            ));
        }
        Ok(Arch {
            layers,
            text,
            columns,
        })
    }

    /// The string this architecture was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Number of output neurons (the last `fc`).
    pub fn outputs(&self) -> usize {
        match self.layers.last() {
            Some(LayerSpec::Fc { neurons }) => *neurons as usize,
            _ => 0,
        }
    }

    /// Resolves the geometry for a `channels × height × width` input: every layer's input and
    /// output shape. Errors name the token whose layer does not fit.
    pub fn resolve(
        &self,
        channels: usize,
        height: usize,
        width: usize,
    ) -> Result<Vec<Geometry>, ArchError> {
        let mut out = Vec::new();
        let (mut c, mut h, mut w) = (channels, height, width);
        let mut flat: Option<usize> = None;
        for (n, spec) in self.layers.iter().enumerate() {
            let err = |rule: String| ArchError {
                text: self.text.clone(),
                token: n + 1,
                token_text: spec.to_string(),
                column: self.columns.get(n).copied().unwrap_or(1),
                rule,
            };
            let g = match *spec {
                LayerSpec::Conv {
                    channels: co,
                    kernel,
                    stride,
                    padding,
                } => {
                    let (k, s, p) = (kernel as usize, stride as usize, padding as usize);
                    let g = Geometry::conv((c, h, w), co as usize, k, s, p).ok_or_else(|| {
                        let (ph, pw) = (h + 2 * p, w + 2 * p);
                        err(format!(
                            "kernel {k} does not fit the padded {ph}×{pw} input"
                        ))
                    })?;
                    if let Geometry::Conv { cout, oh, ow, .. } = g {
                        (c, h, w) = (cout, oh, ow);
                    }
                    g
                }
                LayerSpec::Pool { kernel, stride } => {
                    let (k, s) = (kernel as usize, stride as usize);
                    if h < k || w < k {
                        return Err(err(format!("window {k} does not fit the {h}×{w} input")));
                    }
                    let (oh, ow) = ((h - k) / s + 1, (w - k) / s + 1);
                    let g = Geometry::Pool {
                        c,
                        h,
                        w,
                        oh,
                        ow,
                        k,
                        s,
                    };
                    (h, w) = (oh, ow);
                    g
                }
                LayerSpec::Fc { neurons } => {
                    let n_in = match flat {
                        Some(n) => n,
                        None => {
                            out.push(Geometry::Flatten { n: c * h * w });
                            c * h * w
                        }
                    };
                    flat = Some(neurons as usize);
                    Geometry::Dense {
                        n_in,
                        n_out: neurons as usize,
                    }
                }
            };
            if g.outputs() > 1 << 24 || g.outputs() == 0 {
                return Err(err(format!("{} neurons: must be in 1..=2^24", g.outputs())));
            }
            out.push(g);
        }
        Ok(out)
    }
}

/// A resolved layer: its input and output geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Geometry {
    /// Convolution `cin×h×w → cout×oh×ow`, kernel `k`, stride `s`, padding `p`.
    Conv {
        /// Input channels.
        cin: usize,
        /// Input rows.
        h: usize,
        /// Input columns.
        w: usize,
        /// Output channels.
        cout: usize,
        /// Output rows.
        oh: usize,
        /// Output columns.
        ow: usize,
        /// Kernel side.
        k: usize,
        /// Stride.
        s: usize,
        /// Padding.
        p: usize,
    },
    /// Earliest-spike pooling `c×h×w → c×oh×ow`.
    Pool {
        /// Channels.
        c: usize,
        /// Input rows.
        h: usize,
        /// Input columns.
        w: usize,
        /// Output rows.
        oh: usize,
        /// Output columns.
        ow: usize,
        /// Window side.
        k: usize,
        /// Stride.
        s: usize,
    },
    /// Raster-order reshape of `n` values.
    Flatten {
        /// Values.
        n: usize,
    },
    /// Fully connected `n_in → n_out`.
    Dense {
        /// Fan-in.
        n_in: usize,
        /// Neurons.
        n_out: usize,
    },
}

impl Geometry {
    /// The convolution `cin×h×w → cout×oh×ow` with kernel `k`, stride `s ≥ 1` and padding `p`;
    /// `None` when the kernel does not fit the padded input.
    pub fn conv(
        (cin, h, w): (usize, usize, usize),
        cout: usize,
        k: usize,
        s: usize,
        p: usize,
    ) -> Option<Geometry> {
        let (ph, pw) = (h + 2 * p, w + 2 * p);
        (ph >= k && pw >= k && s >= 1).then(|| Geometry::Conv {
            cin,
            h,
            w,
            cout,
            oh: (ph - k) / s + 1,
            ow: (pw - k) / s + 1,
            k,
            s,
            p,
        })
    }

    /// Number of values this layer produces.
    pub fn outputs(&self) -> usize {
        match *self {
            Geometry::Conv { cout, oh, ow, .. } => cout * oh * ow,
            Geometry::Pool { c, oh, ow, .. } => c * oh * ow,
            Geometry::Flatten { n } => n,
            Geometry::Dense { n_out, .. } => n_out,
        }
    }

    /// Number of values this layer reads.
    pub fn inputs(&self) -> usize {
        match *self {
            Geometry::Conv { cin, h, w, .. } => cin * h * w,
            Geometry::Pool { c, h, w, .. } => c * h * w,
            Geometry::Flatten { n } => n,
            Geometry::Dense { n_in, .. } => n_in,
        }
    }

    /// Number of weights (0 for pooling and flatten).
    pub fn weights(&self) -> usize {
        match *self {
            Geometry::Conv { cin, cout, k, .. } => cout * cin * k * k,
            Geometry::Dense { n_in, n_out } => n_in * n_out,
            _ => 0,
        }
    }

    /// Fan-in of one neuron (0 for pooling and flatten).
    pub fn fan_in(&self) -> usize {
        match *self {
            Geometry::Conv { cin, k, .. } => cin * k * k,
            Geometry::Dense { n_in, .. } => n_in,
            _ => 0,
        }
    }

    /// True for layers with weights and thresholds.
    pub fn is_weighted(&self) -> bool {
        matches!(self, Geometry::Conv { .. } | Geometry::Dense { .. })
    }
}
