//! Traffic for network studies: BookSim2's synthetic destination patterns (uniform,
//! transpose, bitcomp, shuffle, tornado, neighbor, hotspot) and replay of a trace file.
//!
//! # Trace file format
//!
//! CSV with the header line `cycle,src,dst,size`, then one packet per line: the cycle it is
//! created (counted from the first simulated cycle, warm-up included), source and destination
//! tile indices (`y × width + x`), and its length in flits (≥ 1). Blank lines and lines starting
//! with `#` are ignored; rows may come in any order (they are sorted by cycle, stably). Every
//! error names the file and the line.

use super::config::NocConfig;
use super::NocError;
use rand::Rng;
use std::path::Path;

/// A synthetic destination pattern (BookSim2 names). Tile `(x, y)` has index `y·W + x`.
#[derive(Debug, Clone, PartialEq)]
pub enum TrafficPattern {
    /// Every tile (the source included, as in BookSim2) equally likely.
    Uniform,
    /// `(x, y) → (y, x)`; needs a square mesh.
    Transpose,
    /// Bit complement: `(x, y) → (W−1−x, H−1−y)` (equal to `~id` on power-of-two meshes).
    Bitcomp,
    /// Perfect shuffle: the tile index rotated left by one bit; needs a power-of-two tile count.
    Shuffle,
    /// Per dimension `x → (x + ⌈W/2⌉ − 1) mod W` (likewise y).
    Tornado,
    /// Per dimension `x → (x + 1) mod W` (likewise y).
    Neighbor,
    /// With probability `fraction` to `tile`, otherwise uniform.
    Hotspot {
        /// The hotspot tile index.
        tile: u16,
        /// Share of packets sent to it, 0..=1.
        fraction: f64,
    },
}

impl TrafficPattern {
    /// Parses a pattern name; `hotspot` takes its tile and fraction from the arguments.
    pub fn parse(name: &str, hotspot_tile: u16, hotspot_fraction: f64) -> Result<Self, NocError> {
        Ok(match name {
            "uniform" => Self::Uniform,
            "transpose" => Self::Transpose,
            "bitcomp" => Self::Bitcomp,
            "shuffle" => Self::Shuffle,
            "tornado" => Self::Tornado,
            "neighbor" => Self::Neighbor,
            "hotspot" => Self::Hotspot {
                tile: hotspot_tile,
                fraction: hotspot_fraction,
            },
            other => {
                return Err(NocError::Traffic(format!(
                    "unknown traffic pattern `{other}` (expected uniform, transpose, bitcomp, \
                     shuffle, tornado, neighbor, hotspot or trace:FILE)"
                )))
            }
        })
    }

    /// The BookSim2 name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::Transpose => "transpose",
            Self::Bitcomp => "bitcomp",
            Self::Shuffle => "shuffle",
            Self::Tornado => "tornado",
            Self::Neighbor => "neighbor",
            Self::Hotspot { .. } => "hotspot",
        }
    }

    /// Checks that the pattern is defined on this mesh.
    pub fn validate(&self, cfg: &NocConfig) -> Result<(), NocError> {
        let tiles = cfg.tiles();
        match self {
            Self::Transpose if cfg.width != cfg.height => Err(NocError::Traffic(format!(
                "transpose needs a square mesh, not {}x{}",
                cfg.width, cfg.height
            ))),
            Self::Shuffle if !tiles.is_power_of_two() => Err(NocError::Traffic(format!(
                "shuffle needs a power-of-two number of tiles, not {tiles}"
            ))),
            Self::Hotspot { tile, fraction } => {
                if usize::from(*tile) >= tiles {
                    Err(NocError::Traffic(format!(
                        "hotspot tile {tile} is outside the {}x{} mesh",
                        cfg.width, cfg.height
                    )))
                } else if !(0.0..=1.0).contains(fraction) {
                    Err(NocError::Traffic(format!(
                        "hotspot fraction {fraction} is outside 0..=1"
                    )))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Destination of a packet from `src` (random patterns draw from `rng`).
    pub fn destination<R: Rng>(&self, src: u16, width: u16, height: u16, rng: &mut R) -> u16 {
        let tiles = u32::from(width) * u32::from(height);
        let (x, y) = (src % width, src / width);
        match self {
            Self::Uniform => rng.gen_range(0..tiles) as u16,
            Self::Transpose => x * width + y,
            Self::Bitcomp => (height - 1 - y) * width + (width - 1 - x),
            Self::Shuffle => {
                let bits = tiles.trailing_zeros();
                if bits == 0 {
                    0
                } else {
                    let s = u32::from(src);
                    (((s << 1) | (s >> (bits - 1))) & (tiles - 1)) as u16
                }
            }
            Self::Tornado => {
                let nx = (x + width.div_ceil(2) - 1) % width;
                let ny = (y + height.div_ceil(2) - 1) % height;
                ny * width + nx
            }
            Self::Neighbor => ((y + 1) % height) * width + (x + 1) % width,
            Self::Hotspot { tile, fraction } => {
                if rng.gen::<f64>() < *fraction {
                    *tile
                } else {
                    rng.gen_range(0..tiles) as u16
                }
            }
        }
    }
}

/// One trace row: a packet created at `cycle` from `src` to `dst`, `size` flits long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceEvent {
    /// Creation cycle.
    pub cycle: u64,
    /// Source tile index.
    pub src: u16,
    /// Destination tile index.
    pub dst: u16,
    /// Length in flits.
    pub size: u16,
}

/// A trace of packets to replay, sorted by cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// Where it was read from.
    pub origin: String,
    /// The rows, sorted by cycle (stable).
    pub events: Vec<TraceEvent>,
}

impl Trace {
    /// Reads and checks a trace file against the mesh.
    pub fn load(path: &Path, cfg: &NocConfig) -> Result<Self, NocError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| NocError::TraceIo {
            path: origin.clone(),
            source,
        })?;
        Self::parse(&text, &origin, cfg)
    }

    /// Parses trace text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str, cfg: &NocConfig) -> Result<Self, NocError> {
        let err = |line: usize, message: String| NocError::TraceLine {
            path: origin.to_string(),
            line,
            message,
        };
        let tiles = cfg.tiles();
        let mut events = Vec::new();
        let mut header_seen = false;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if !header_seen {
                if fields != ["cycle", "src", "dst", "size"] {
                    return Err(err(
                        line_no,
                        format!("expected the header `cycle,src,dst,size`, found `{line}`"),
                    ));
                }
                header_seen = true;
                continue;
            }
            if fields.len() != 4 {
                return Err(err(
                    line_no,
                    format!(
                        "expected 4 fields (cycle,src,dst,size), found {}",
                        fields.len()
                    ),
                ));
            }
            let cycle: u64 = fields[0].parse().map_err(|_| {
                err(
                    line_no,
                    format!("cycle `{}` is not a non-negative integer", fields[0]),
                )
            })?;
            let tile = |name: &str, v: &str| -> Result<u16, NocError> {
                let t: u64 = v.parse().map_err(|_| {
                    err(
                        line_no,
                        format!("{name} `{v}` is not a non-negative integer"),
                    )
                })?;
                if t >= tiles as u64 {
                    return Err(err(
                        line_no,
                        format!(
                            "{name} tile {t} is outside the {}x{} mesh (tiles 0..={})",
                            cfg.width,
                            cfg.height,
                            tiles - 1
                        ),
                    ));
                }
                Ok(t as u16)
            };
            let src = tile("src", fields[1])?;
            let dst = tile("dst", fields[2])?;
            let size: u16 = fields[3].parse().map_err(|_| {
                err(
                    line_no,
                    format!("size `{}` is not an integer in 1..=65535", fields[3]),
                )
            })?;
            if size == 0 {
                return Err(err(line_no, "size must be at least 1 flit".to_string()));
            }
            events.push(TraceEvent {
                cycle,
                src,
                dst,
                size,
            });
        }
        if !header_seen {
            return Err(err(
                1,
                "empty trace: expected the header `cycle,src,dst,size`".into(),
            ));
        }
        events.sort_by_key(|e| e.cycle);
        Ok(Self {
            origin: origin.to_string(),
            events,
        })
    }
}
