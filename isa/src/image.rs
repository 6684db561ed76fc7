//! The chip image: everything the mapper emits and the simulator loads — the chip description,
//! each core's program, memories and fan-out table, and the host I/O map — and its file format.
//!
//! # File format (version 5)
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `SPKIMG\r\n` |
//! | 8 | 4 | format version, u32 little-endian |
//! | 12 | 8 | payload length in bytes, u64 little-endian |
//! | 20 | 4 | CRC-32 (IEEE) of the payload, u32 little-endian |
//! | 24 | … | payload: the [`ChipImage`] serialised with `bincode` 2 (`serde`, standard config) |
//!
//! [`ChipImage::from_bytes`] checks the header, the length, the checksum, decodes the payload
//! under a size limit and then checks every structural rule of the image (tiles on the mesh,
//! capacities of the chip description, array lengths, fan-out destinations), so a loaded image
//! is a valid image.

use crate::chip::{ChipDescription, ChipError, TileId};
use crate::insn::Field;
use crate::program::Program;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The first eight bytes of every chip image file.
pub const MAGIC: [u8; 8] = *b"SPKIMG\r\n";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 6;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 24;
/// Largest payload a reader accepts (guards allocations against corrupted lengths).
pub const MAX_PAYLOAD: usize = 1 << 30;

/// Where a spike packet goes: an axon of a core, or a channel of the host I/O port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Destination {
    /// Axon `axon` (a synapse row) of the core on `tile`.
    Core {
        /// The destination tile.
        tile: TileId,
        /// The destination axon.
        axon: u32,
    },
    /// Output channel `channel` of the host port (the packet leaves the mesh there).
    Host {
        /// The output channel, e.g. an output neuron's class index.
        channel: u32,
    },
}

/// A compressed list of destinations per source (neuron or input channel): the destinations of
/// source `i` are `entries[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FanoutTable {
    /// `sources + 1` offsets into `entries`, non-decreasing, starting at 0.
    pub offsets: Vec<u32>,
    /// The destinations.
    pub entries: Vec<Destination>,
}

impl FanoutTable {
    /// Builds a table from one destination list per source.
    pub fn from_lists(lists: &[Vec<Destination>]) -> Self {
        let mut offsets = Vec::with_capacity(lists.len() + 1);
        let mut entries = Vec::new();
        offsets.push(0);
        for list in lists {
            entries.extend_from_slice(list);
            offsets.push(entries.len() as u32);
        }
        FanoutTable { offsets, entries }
    }

    /// Number of sources.
    pub fn sources(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The destinations of `source`, empty if out of range.
    pub fn destinations(&self, source: usize) -> &[Destination] {
        match (self.offsets.get(source), self.offsets.get(source + 1)) {
            (Some(&a), Some(&b)) => &self.entries[a as usize..b as usize],
            _ => &[],
        }
    }
}

/// The initial contents of one neuron-state field of a core.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldInit {
    /// The field.
    pub field: Field,
    /// One value per neuron of the core.
    pub values: Vec<i32>,
}

/// A core's synapse memory: one row per axon, one column per neuron.
///
/// Bit planes are stored row-major as `u64` words, `words_per_row = ceil(neurons / 64)` words
/// per row, neuron `n` of a row at bit `n % 64` of word `n / 64`. Bits past the last neuron are
/// zero.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SynapseMemory {
    /// Sign plane: bit 1 means weight +1, bit 0 means weight −1.
    pub sign: Vec<u64>,
    /// Optional presence plane for sparse rows: bit 0 means "no synapse" (weight 0).
    pub presence: Option<Vec<u64>>,
    /// Optional multi-bit weights (row-major, `axons * neurons`), used instead of the sign
    /// plane when present; each must fit the chip's `core.weight_bits`.
    pub weights: Option<Vec<i16>>,
}

/// Everything one core holds when the chip is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreImage {
    /// The tile this core sits on.
    pub tile: TileId,
    /// Neurons in use (lanes of every field).
    pub neurons: u32,
    /// Axons in use (synapse rows).
    pub axons: u32,
    /// The firmware and its initial data memory.
    pub program: Program,
    /// Initial values of neuron-state fields (fields not listed start at zero).
    pub fields: Vec<FieldInit>,
    /// The synapse memory.
    pub synapses: SynapseMemory,
    /// Latent (training) weights, row-major `axons * neurons`, if the core learns.
    pub latent: Option<Vec<i32>>,
    /// Per neuron, where its spikes go.
    pub fanout: FanoutTable,
    /// First-arrival-only synapse unit: a spike for an axon that already received a spike in
    /// the current sample is counted but not integrated (1 synapse-unit cycle, no row read).
    /// The mapper sets it on cores that read max-pooled units: every member of a pooling
    /// window targets the same axon, and only the earliest spike of the window counts.
    #[serde(default)]
    pub first_arrival_only: bool,
    /// The state the core's stochastic-rounding LFSR starts from (`isa::arith::Lfsr::new`);
    /// `None`: the simulator's per-tile default. The mapper seeds learning cores with the
    /// golden trainer's stream of their chunk (`Lfsr::for_stream(seed, layer << 32 | chunk)`),
    /// so a chip run and `model::onchip::OnChipTrainer` draw the same random words.
    #[serde(default)]
    pub lfsr_seed: Option<u32>,
    /// Per neuron, the steps its input waits in the dendritic delay slots before it reaches
    /// `f0`, on top of the one-step synaptic delay every spike has (each `<
    /// core.delay_slots`); `None`: no delay (all 0). Lava's `DelayDense` with one delay per
    /// output neuron, what netx builds from SLAYER's axonal delays.
    #[serde(default)]
    pub input_delays: Option<Vec<u8>>,
}

impl CoreImage {
    /// Words per synapse row.
    pub fn words_per_row(&self) -> usize {
        (self.neurons as usize).div_ceil(64)
    }

    /// Bits of synapse memory this core uses (sign plane, plus presence plane if any).
    pub fn synapse_bits(&self) -> u64 {
        let plane = u64::from(self.axons) * u64::from(self.neurons);
        plane
            * if self.synapses.presence.is_some() {
                2
            } else {
                1
            }
    }
}

/// How the host talks to the chip through the I/O port.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IoMap {
    /// Per input channel (e.g. a pixel), where its spike goes.
    pub inputs: FanoutTable,
    /// Number of output channels (e.g. classes) that come back to the host.
    pub outputs: u32,
    /// The host decoder's tie priority over the output channels: when several channels share
    /// the earliest spike, the one listed first wins. Empty: the lowest channel (a permutation
    /// of `0..outputs` otherwise; version 5 added it).
    pub tie_order: Vec<u32>,
    /// Ties are first decided by the tied output neurons' potentials at their crossing step
    /// (the largest wins), which the TTFS firmware keeps in its snapshot field; the tie order
    /// decides only between equal potentials (version 6 added it).
    pub ties_by_potential: bool,
}

impl IoMap {
    /// The class the host decodes from the output channels' first-spike steps: the earliest;
    /// among channels sharing it, under [`IoMap::ties_by_potential`] the ones whose
    /// `crossing(k)` (the output neuron's potential at its crossing step) is largest; among
    /// those the first in [`IoMap::tie_order`] (the lowest channel when it is empty). `None`
    /// when no channel spiked. `crossing` is read only for tied channels.
    pub fn decode(
        &self,
        first_spike: &[Option<u32>],
        crossing: impl Fn(usize) -> i32,
    ) -> Option<usize> {
        let earliest = first_spike.iter().flatten().copied().min()?;
        let tied = |k: usize| first_spike.get(k).copied().flatten() == Some(earliest);
        let ties = (0..first_spike.len()).filter(|&k| tied(k)).count();
        let best = (self.ties_by_potential && ties > 1).then(|| {
            (0..first_spike.len())
                .filter(|&k| tied(k))
                .map(&crossing)
                .max()
                .unwrap_or(i32::MIN)
        });
        let contender = |k: usize| tied(k) && best.is_none_or(|b| crossing(k) == b);
        if self.tie_order.is_empty() {
            (0..first_spike.len()).find(|&k| contender(k))
        } else {
            self.tie_order
                .iter()
                .map(|&k| k as usize)
                .find(|&k| contender(k))
        }
    }
}

/// A complete, validated chip image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChipImage {
    /// The chip this image targets.
    pub chip: ChipDescription,
    /// One entry per used core, in ascending tile order.
    pub cores: Vec<CoreImage>,
    /// The host I/O map.
    pub io: IoMap,
    /// Free-form provenance (model name, mapper options), shown by `image inspect`.
    pub provenance: String,
}

/// Why a chip image was refused.
#[derive(Debug, Error)]
pub enum ImageError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Shorter than the header or than the length the header announces.
    #[error("truncated chip image: {have} bytes, expected {need}")]
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Longer than the header announces.
    #[error("chip image has {extra} trailing bytes after the payload")]
    TrailingBytes {
        /// Extra bytes.
        extra: usize,
    },
    /// Not a chip image at all.
    #[error("not a spikemesh chip image (bad magic bytes {found:02x?})")]
    BadMagic {
        /// The first bytes found.
        found: Vec<u8>,
    },
    /// Written by another version of the format.
    #[error(
        "chip image format version {found} is not supported (this build reads version {FORMAT_VERSION}); re-run `spikemesh map` with this build"
    )]
    Version {
        /// The version in the file.
        found: u32,
    },
    /// The payload length is absurd.
    #[error("chip image payload of {len} bytes exceeds the {MAX_PAYLOAD}-byte limit")]
    TooLarge {
        /// Announced length.
        len: u64,
    },
    /// The payload was corrupted.
    #[error("chip image checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is corrupted")]
    Checksum {
        /// Stored CRC.
        stored: u32,
        /// Computed CRC.
        computed: u32,
    },
    /// The payload does not decode.
    #[error("chip image payload does not decode: {0}")]
    Decode(String),
    /// The image breaks a structural rule.
    #[error("invalid chip image: {0}")]
    Invalid(String),
    /// The embedded chip description is invalid.
    #[error("invalid chip description inside the image: {0}")]
    Chip(#[from] ChipError),
}

impl ChipImage {
    /// Validates an image built in memory (the mapper's output) and returns it.
    pub fn new(
        chip: ChipDescription,
        cores: Vec<CoreImage>,
        io: IoMap,
        provenance: String,
    ) -> Result<Self, ImageError> {
        let image = ChipImage {
            chip,
            cores,
            io,
            provenance,
        };
        image.check()?;
        Ok(image)
    }

    /// Serialises the image with its header.
    pub fn to_bytes(&self) -> Vec<u8> {
        let payload = bincode::serde::encode_to_vec(self, bincode::config::standard())
            .expect("a chip image always serialises");
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Parses and validates an image.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ImageError> {
        if bytes.len() < 8 || bytes[..8] != MAGIC {
            if bytes.len() < 8 && MAGIC.starts_with(bytes) {
                return Err(ImageError::Truncated {
                    have: bytes.len(),
                    need: HEADER_LEN,
                });
            }
            return Err(ImageError::BadMagic {
                found: bytes.iter().take(8).copied().collect(),
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(ImageError::Truncated {
                have: bytes.len(),
                need: HEADER_LEN,
            });
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let version = word(8);
        if version != FORMAT_VERSION {
            return Err(ImageError::Version { found: version });
        }
        let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
        if len > MAX_PAYLOAD as u64 {
            return Err(ImageError::TooLarge { len });
        }
        let need = HEADER_LEN + len as usize;
        if bytes.len() < need {
            return Err(ImageError::Truncated {
                have: bytes.len(),
                need,
            });
        }
        if bytes.len() > need {
            return Err(ImageError::TrailingBytes {
                extra: bytes.len() - need,
            });
        }
        let payload = &bytes[HEADER_LEN..];
        let stored = word(20);
        let computed = crc32fast::hash(payload);
        if stored != computed {
            return Err(ImageError::Checksum { stored, computed });
        }
        let config = bincode::config::standard().with_limit::<MAX_PAYLOAD>();
        let (image, used): (ChipImage, usize) = bincode::serde::decode_from_slice(payload, config)
            .map_err(|e| ImageError::Decode(e.to_string()))?;
        if used != payload.len() {
            return Err(ImageError::Decode(format!(
                "{} bytes of the payload left undecoded",
                payload.len() - used
            )));
        }
        let image = ChipImage {
            chip: image.chip.validated("<image>")?,
            ..image
        };
        image.check()?;
        Ok(image)
    }

    /// Reads and validates an image file.
    pub fn load(path: &Path) -> Result<Self, ImageError> {
        let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }

    /// Writes the image atomically: to a temporary file beside `path`, then renamed, so no
    /// partial image is ever left behind.
    pub fn save(&self, path: &Path) -> Result<(), ImageError> {
        crate::output::write_atomic(path, &self.to_bytes()).map_err(|source| ImageError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// The core on `tile`, if the image uses it.
    pub fn core(&self, tile: TileId) -> Option<&CoreImage> {
        self.cores
            .binary_search_by_key(&tile, |c| c.tile)
            .ok()
            .map(|i| &self.cores[i])
    }

    /// Checks every structural rule; the error names the core and the rule.
    fn check(&self) -> Result<(), ImageError> {
        let chip = &self.chip;
        let caps = &chip.core;
        let invalid = |msg: String| Err(ImageError::Invalid(msg));
        for pair in self.cores.windows(2) {
            if pair[0].tile >= pair[1].tile {
                return invalid(format!(
                    "cores must be listed once each in ascending tile order ({} after {})",
                    pair[1].tile, pair[0].tile
                ));
            }
        }
        for core in &self.cores {
            let t = core.tile;
            if t.0 >= chip.tiles() {
                return invalid(format!(
                    "core on {t} is outside the {}x{} mesh",
                    chip.mesh.width, chip.mesh.height
                ));
            }
            let limit = |what: &str, have: u64, cap: u64, key: &str| {
                if have > cap {
                    Err(ImageError::Invalid(format!(
                        "core on {t} uses {have} {what}, more than the chip's {key} = {cap}"
                    )))
                } else {
                    Ok(())
                }
            };
            limit(
                "neurons",
                core.neurons.into(),
                caps.neurons.into(),
                "core.neurons",
            )?;
            limit("axons", core.axons.into(), caps.axons.into(), "core.axons")?;
            limit(
                "instruction words",
                core.program.text.len() as u64,
                caps.instruction_words.into(),
                "core.instruction_words",
            )?;
            limit(
                "data words",
                core.program.data.len() as u64,
                caps.data_words.into(),
                "core.data_words",
            )?;
            limit(
                "synapse bits",
                core.synapse_bits(),
                caps.synapse_bits,
                "core.synapse_bits",
            )?;
            limit(
                "fan-out entries",
                core.fanout.entries.len() as u64,
                caps.fanout_entries.into(),
                "core.fanout_entries",
            )?;
            let n = core.neurons as usize;
            let plane = core.axons as usize * core.words_per_row();
            for f in &core.fields {
                if f.values.len() != n {
                    return invalid(format!(
                        "core on {t}: field {} holds {} values for {n} neurons",
                        f.field,
                        f.values.len()
                    ));
                }
            }
            let syn = &core.synapses;
            if syn.sign.len() != plane {
                return invalid(format!(
                    "core on {t}: sign plane has {} words, expected {plane} ({} axons x {} words per row)",
                    syn.sign.len(),
                    core.axons,
                    core.words_per_row()
                ));
            }
            if let Some(p) = &syn.presence {
                if p.len() != plane {
                    return invalid(format!(
                        "core on {t}: presence plane has {} words, expected {plane}",
                        p.len()
                    ));
                }
            }
            let tail = n % 64;
            if tail != 0 {
                let spill = !0u64 << tail;
                let planes = std::iter::once(&syn.sign).chain(syn.presence.iter());
                for plane_words in planes {
                    if plane_words
                        .iter()
                        .skip(core.words_per_row() - 1)
                        .step_by(core.words_per_row())
                        .any(|w| w & spill != 0)
                    {
                        return invalid(format!(
                            "core on {t}: synapse bits set beyond neuron {n} of a row"
                        ));
                    }
                }
            }
            let syn_count = core.axons as usize * n;
            if let Some(w) = &syn.weights {
                if caps.weight_bits == 0 {
                    return invalid(format!(
                        "core on {t} has multi-bit weights but the chip's core.weight_bits = 0"
                    ));
                }
                if w.len() != syn_count {
                    return invalid(format!(
                        "core on {t}: {} multi-bit weights, expected {syn_count}",
                        w.len()
                    ));
                }
                let bits = u32::from(caps.weight_bits);
                let (lo, hi) = (-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1);
                if let Some(bad) = w.iter().find(|&&x| i32::from(x) < lo || i32::from(x) > hi) {
                    return invalid(format!(
                        "core on {t}: weight {bad} does not fit core.weight_bits = {bits} ({lo}..={hi})"
                    ));
                }
            }
            if let Some(l) = &core.latent {
                if l.len() != syn_count {
                    return invalid(format!(
                        "core on {t}: {} latent weights, expected {syn_count}",
                        l.len()
                    ));
                }
            }
            if let Some(d) = &core.input_delays {
                if d.len() != n {
                    return invalid(format!(
                        "core on {t}: {} input delays for {n} neurons",
                        d.len()
                    ));
                }
                if let Some(&bad) = d.iter().find(|&&x| u16::from(x) >= caps.delay_slots) {
                    return invalid(format!(
                        "core on {t}: input delay {bad} needs {} delay slots, more than the chip's core.delay_slots = {}",
                        u16::from(bad) + 1,
                        caps.delay_slots
                    ));
                }
            }
            self.check_fanout(&core.fanout, n, &format!("core on {t}"))?;
        }
        self.check_fanout(
            &self.io.inputs,
            self.io.inputs.sources(),
            "the host input map",
        )?;
        Ok(())
    }

    fn check_fanout(
        &self,
        table: &FanoutTable,
        sources: usize,
        owner: &str,
    ) -> Result<(), ImageError> {
        let invalid = |msg: String| Err(ImageError::Invalid(msg));
        if table.offsets.len() != sources + 1 || table.offsets.first() != Some(&0) {
            return invalid(format!(
                "{owner}: fan-out table needs {} offsets starting at 0, has {}",
                sources + 1,
                table.offsets.len()
            ));
        }
        if table.offsets.windows(2).any(|w| w[0] > w[1])
            || *table.offsets.last().unwrap() as usize != table.entries.len()
        {
            return invalid(format!(
                "{owner}: fan-out offsets must be non-decreasing and end at the entry count {}",
                table.entries.len()
            ));
        }
        for d in &table.entries {
            match *d {
                Destination::Core { tile, axon } => match self.core(tile) {
                    None => {
                        return invalid(format!(
                            "{owner}: a spike is routed to {tile}, which holds no core"
                        ))
                    }
                    Some(c) if axon >= c.axons => {
                        return invalid(format!(
                            "{owner}: a spike is routed to axon {axon} of {tile}, which has {} axons",
                            c.axons
                        ))
                    }
                    Some(_) => {}
                },
                Destination::Host { channel } if channel >= self.io.outputs => {
                    return invalid(format!(
                        "{owner}: a spike is routed to host channel {channel}, but there are {} outputs",
                        self.io.outputs
                    ))
                }
                Destination::Host { .. } => {}
            }
        }
        let order = &self.io.tie_order;
        if !order.is_empty() {
            let mut seen = vec![false; self.io.outputs as usize];
            let fits = order.len() == seen.len()
                && order.iter().all(|&k| {
                    seen.get_mut(k as usize)
                        .is_some_and(|s| !std::mem::replace(s, true))
                });
            if !fits {
                return invalid(format!(
                    "the output tie order {order:?} is not a permutation of the {} output channels",
                    self.io.outputs
                ));
            }
        }
        Ok(())
    }

    /// A human-readable summary (what `spikemesh image inspect` prints).
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let c = &self.chip;
        let mut s = String::new();
        let _ = writeln!(s, "chip image, format version {FORMAT_VERSION}");
        if !self.provenance.is_empty() {
            let _ = writeln!(s, "provenance: {}", self.provenance);
        }
        let _ = writeln!(
            s,
            "chip: {}x{} mesh, {} neurons/core, {} axons/core, {} VCs x {} flits, {} MHz, profile {}",
            c.mesh.width,
            c.mesh.height,
            c.core.neurons,
            c.core.axons,
            c.router.virtual_channels,
            c.router.buffer_depth,
            c.clock.frequency_mhz,
            c.energy.profile
        );
        let _ = writeln!(
            s,
            "host port at ({}, {}): {} input channels, {} output channels",
            c.io.x,
            c.io.y,
            self.io.inputs.sources(),
            self.io.outputs
        );
        if self.io.ties_by_potential {
            let _ = writeln!(
                s,
                "output ties decoded by the largest potential at the crossing step first"
            );
        }
        if !self.io.tie_order.is_empty() {
            let _ = writeln!(
                s,
                "output ties decoded in the order {:?} (first listed wins)",
                self.io.tie_order
            );
        }
        let _ = writeln!(s, "cores used: {} of {}", self.cores.len(), c.tiles());
        let _ = writeln!(
            s,
            "{:>6} {:>5} {:>8} {:>6} {:>10} {:>8} {:>8}",
            "tile", "(x,y)", "neurons", "axons", "syn bits", "fan-out", "program"
        );
        for core in &self.cores {
            let (x, y) = c.coords(core.tile);
            let _ = writeln!(
                s,
                "{:>6} {:>5} {:>8} {:>6} {:>10} {:>8} {:>8}",
                core.tile.0,
                format!("{x},{y}"),
                core.neurons,
                core.axons,
                core.synapse_bits(),
                core.fanout.entries.len(),
                core.program.text.len()
            );
        }
        let neurons: u64 = self.cores.iter().map(|c| u64::from(c.neurons)).sum();
        let synapses: u64 = self.cores.iter().map(|c| c.synapse_bits()).sum();
        let _ = writeln!(s, "total: {neurons} neurons, {synapses} synapse bits");
        s
    }
}
