//! The network description shared by trainer, mapper and golden model: shapes, layers, neuron
//! models, weights and thresholds, their validation, and their JSON / bincode file formats.
//!
//! # File formats
//!
//! * **JSON** (readable): the serde form of [`Network`], pretty-printed. The first field is
//!   `format_version`. Unknown fields are refused.
//! * **bincode 2** (compact): the 8 bytes [`BINARY_MAGIC`] (`SPKMODEL`), the format version as a
//!   `u32` little-endian, then the bincode-2 (standard configuration) encoding of [`Network`].
//!
//! [`Network::load`] sniffs the magic, so either form loads from any file name; it then checks
//! the version and runs [`Network::validate`], so a loaded network is a valid network.
//! Version 2 added [`Network::tie_order`], version 3 [`Network::ties_by_potential`]; version-1
//! and version-2 files (JSON or binary) still load, without what they lack.
//! [`Network::save`] writes JSON when the path ends in `.json`, bincode otherwise, atomically
//! (temporary file then rename).
//!
//! # Weight layout
//!
//! * Dense: `w[o * inputs + i]` (output-major: one row of `inputs` weights per neuron).
//! * Conv2d: `w[((o * in_channels + c) * kernel + u) * kernel + v]` for output channel `o`,
//!   input channel `c`, kernel row `u`, kernel column `v`.
//! * Binary weights pack that flat index `n` into `signs[n / 64]` bit `n % 64`; a set bit is
//!   weight −1, a clear bit weight +1. Bits past the last weight must be clear.

use crate::error::{ModelError, Violation};
use crate::tie_order::TieOrder;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The model file format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 3;

/// An earlier format version, still read: the network without a tie order and without ties by
/// potential.
pub const FORMAT_VERSION_1: u32 = 1;

/// An earlier format version, still read: the network without ties by potential.
pub const FORMAT_VERSION_2: u32 = 2;

/// First 8 bytes of a bincode model file.
pub const BINARY_MAGIC: &[u8; 8] = b"SPKMODEL";

/// Largest bincode payload accepted (bytes), so a forged length cannot exhaust memory.
pub const MAX_BINARY_BYTES: usize = 1 << 28;

/// A spike time in algorithmic time steps, `0..=t_max`; the value `t_max` means "no spike".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SpikeTime(pub u16);

/// The shape of a layer's activation (its spike-time map).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// A vector of `size` neurons.
    Flat {
        /// Number of neurons.
        size: u32,
    },
    /// A `channels × height × width` map, stored in raster order (channel, row, column).
    Map {
        /// Channels.
        channels: u32,
        /// Rows.
        height: u32,
        /// Columns.
        width: u32,
    },
}

impl Shape {
    /// Number of neurons (or inputs) in this shape.
    pub fn len(&self) -> usize {
        match *self {
            Shape::Flat { size } => size as usize,
            Shape::Map {
                channels,
                height,
                width,
            } => channels as usize * height as usize * width as usize,
        }
    }

    /// True when the shape holds no neuron (never true for a valid network).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Post-synaptic potential kernel of the TTFS integrate-and-fire neuron.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PspKernel {
    /// Step PSP (S4NN/BS4NN): `V(t) = Σ_i w_i · [t_i ≤ t]`.
    Step,
    /// Ramp PSP (STiDi-BP default): `V(t) = Σ_i w_i · max(0, t − t_i)`.
    Ramp,
}

/// Comparison that makes a neuron fire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FireRule {
    /// Fire when `V > θ` (S4NN/BS4NN).
    Greater,
    /// Fire when `V ≥ θ`.
    GreaterEqual,
}

/// The non-leaky, single-spike TTFS integrate-and-fire neuron model of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeuronModel {
    /// PSP kernel.
    pub kernel: PspKernel,
    /// Firing comparison.
    pub fire: FireRule,
    /// Steps between the threshold crossing and the emitted spike time (0 or 1).
    pub delay: u8,
}

impl NeuronModel {
    /// The S4NN / BS4NN neuron: step PSP, `V > θ`, one step of delay.
    pub const S4NN: NeuronModel = NeuronModel {
        kernel: PspKernel::Step,
        fire: FireRule::Greater,
        delay: 1,
    };
}

/// Synaptic weights of a weighted layer (layout in the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Weights {
    /// ±1 weights packed as sign bits (set bit = −1).
    Binary {
        /// Packed sign bits, 64 weights per word.
        signs: Vec<u64>,
    },
    /// Small signed integers of `bits` bits (2..=16), two's complement range.
    Int {
        /// Width in bits.
        bits: u8,
        /// One value per weight.
        values: Vec<i16>,
    },
    /// Real-valued (latent, training) weights; used as-is by the float forward pass.
    Latent {
        /// One value per weight.
        values: Vec<f32>,
    },
}

impl Weights {
    /// Number of weights stored (for binary weights, the capacity of the words).
    pub fn stored_len(&self) -> usize {
        match self {
            Weights::Binary { signs } => signs.len() * 64,
            Weights::Int { values, .. } => values.len(),
            Weights::Latent { values } => values.len(),
        }
    }

    /// True for integer (binary or small-integer) weights, i.e. chip form.
    pub fn is_integer(&self) -> bool {
        !matches!(self, Weights::Latent { .. })
    }

    /// Packs ±1 weights given as booleans (`true` = −1) into sign words.
    pub fn pack_signs(negative: impl ExactSizeIterator<Item = bool>) -> Weights {
        let n = negative.len();
        let mut signs = vec![0u64; n.div_ceil(64)];
        for (k, neg) in negative.enumerate() {
            if neg {
                signs[k / 64] |= 1u64 << (k % 64);
            }
        }
        Weights::Binary { signs }
    }

    /// `n` random ±1 weights: weight `k` is −1 with probability `p_negative`, drawn in index
    /// order from `rng` (one `gen_bool` per weight), so a seeded generator gives the same
    /// network every time. Tests and benchmarks use it for networks that need no training.
    pub fn random_signs(n: usize, p_negative: f64, rng: &mut impl rand::Rng) -> Weights {
        let negative: Vec<bool> = (0..n).map(|_| rng.gen_bool(p_negative)).collect();
        Weights::pack_signs(negative.into_iter())
    }

    /// Weight `n` as an integer (binary: ±1), or `None` for latent weights / out of range.
    pub fn int_at(&self, n: usize) -> Option<i32> {
        match self {
            Weights::Binary { signs } => {
                let word = signs.get(n / 64)?;
                Some(if (word >> (n % 64)) & 1 == 1 { -1 } else { 1 })
            }
            Weights::Int { values, .. } => values.get(n).map(|&v| i32::from(v)),
            Weights::Latent { .. } => None,
        }
    }

    /// Weight `n` as a real number (integer weights converted exactly).
    pub fn real_at(&self, n: usize) -> Option<f32> {
        match self {
            Weights::Latent { values } => values.get(n).copied(),
            _ => self.int_at(n).map(|v| v as f32),
        }
    }
}

/// Integer firing thresholds of a weighted layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Threshold {
    /// One threshold shared by every neuron of the layer.
    Layer(i32),
    /// One threshold per neuron.
    Neuron(Vec<i32>),
}

impl Threshold {
    /// Threshold of neuron `j` (`None` past the end of a per-neuron list).
    pub fn of(&self, j: usize) -> Option<i32> {
        match self {
            Threshold::Layer(t) => Some(*t),
            Threshold::Neuron(v) => v.get(j).copied(),
        }
    }
}

/// A fully connected layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dense {
    /// Fan-in (must equal the size of the flat activation feeding it).
    pub inputs: u32,
    /// Number of neurons.
    pub outputs: u32,
    /// Neuron model.
    pub neuron: NeuronModel,
    /// `inputs × outputs` weights, output-major.
    pub weights: Weights,
    /// Thresholds.
    pub threshold: Threshold,
    /// For binary layers exported from BS4NN, the learned scale α (informational: the chip
    /// uses only the integer threshold). `None` otherwise.
    pub scale: Option<f64>,
}

/// A 2-D convolution layer (square kernel, zero padding = "no spike" padding).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2d {
    /// Input channels (must equal the channels of the map feeding it).
    pub in_channels: u32,
    /// Output channels.
    pub out_channels: u32,
    /// Kernel side.
    pub kernel: u32,
    /// Stride (≥ 1).
    pub stride: u32,
    /// Padding on every side (< kernel); padded inputs never spike.
    pub padding: u32,
    /// Neuron model.
    pub neuron: NeuronModel,
    /// `out_channels × in_channels × kernel × kernel` weights.
    pub weights: Weights,
    /// Thresholds (per neuron: one per output position, raster order).
    pub threshold: Threshold,
    /// Learned scale, as for [`Dense::scale`].
    pub scale: Option<f64>,
}

/// A max-pooling layer in time-to-first-spike coding: the earliest spike of the window wins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxPool2d {
    /// Window side.
    pub kernel: u32,
    /// Stride (≥ 1).
    pub stride: u32,
}

/// What a layer computes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LayerKind {
    /// Fully connected layer.
    Dense(Dense),
    /// Convolution.
    Conv2d(Conv2d),
    /// Earliest-spike pooling.
    MaxPool2d(MaxPool2d),
    /// Reshape a map into a vector in raster order (channel, row, column).
    Flatten,
}

/// One layer with its name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Name used in error messages and by the mapper (may be empty).
    pub name: String,
    /// What it computes.
    pub kind: LayerKind,
}

impl Layer {
    /// The weights of a dense or convolution layer and how many it holds by its declared
    /// shape (`inputs · outputs`, `out · in · k²`); `None` for pooling and flatten.
    pub fn weights(&self) -> Option<(&Weights, usize)> {
        match &self.kind {
            LayerKind::Dense(d) => Some((&d.weights, d.inputs as usize * d.outputs as usize)),
            LayerKind::Conv2d(c) => Some((
                &c.weights,
                c.out_channels as usize
                    * c.in_channels as usize
                    * c.kernel as usize
                    * c.kernel as usize,
            )),
            LayerKind::MaxPool2d(_) | LayerKind::Flatten => None,
        }
    }
}

/// A feed-forward single-spike (TTFS) network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// File format version; must be [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Shape of the input spike-time map.
    pub input: Shape,
    /// Simulation window: time steps `0..t_max`; a spike time of `t_max` means "no spike".
    pub t_max: u16,
    /// The intensity-to-latency formula images must be encoded with (with this `t_max`), when
    /// the network was trained on images; `None` when inputs are given as spike times.
    pub encoding: Option<crate::encode::EncodingRule>,
    /// When no output neuron fires, the class is the argmax of the output potentials at
    /// step `t_max − fallback_offset` (3 in S4NN/BS4NN).
    pub fallback_offset: u16,
    /// Layers in order; the last one is the output layer and must be weighted.
    pub layers: Vec<Layer>,
    /// Which class the decoder names when several outputs share the earliest spike; `None`:
    /// the lowest index. A permutation of the output classes (see [`crate::tie_order`]).
    #[serde(default)]
    pub tie_order: Option<TieOrder>,
    /// When several outputs share the earliest spike, the one whose potential was largest at
    /// the crossing step wins, and only outputs equal in that potential go on to
    /// [`Network::tie_order`]. `false`: the order alone decides (see
    /// [`crate::tie_order::earliest_winner`]).
    #[serde(default)]
    pub ties_by_potential: bool,
}

/// [`Network`] as format versions 1 (without `tie_order`) and 2 wrote it (binary files decode
/// field by field).
#[derive(Deserialize)]
struct NetworkV1 {
    format_version: u32,
    input: Shape,
    t_max: u16,
    encoding: Option<crate::encode::EncodingRule>,
    fallback_offset: u16,
    layers: Vec<Layer>,
}

/// [`Network`] as format version 2 wrote it.
#[derive(Deserialize)]
struct NetworkV2 {
    format_version: u32,
    input: Shape,
    t_max: u16,
    encoding: Option<crate::encode::EncodingRule>,
    fallback_offset: u16,
    layers: Vec<Layer>,
    tie_order: Option<TieOrder>,
}

/// A network as an older format version wrote it: the version its payload states, and the
/// network with what that version lacked left off.
trait OlderNetwork {
    fn version(&self) -> u32;
    fn upgrade(self) -> Network;
}

impl OlderNetwork for NetworkV1 {
    fn version(&self) -> u32 {
        self.format_version
    }
    fn upgrade(self) -> Network {
        NetworkV2 {
            format_version: FORMAT_VERSION_2,
            input: self.input,
            t_max: self.t_max,
            encoding: self.encoding,
            fallback_offset: self.fallback_offset,
            layers: self.layers,
            tie_order: None,
        }
        .upgrade()
    }
}

impl OlderNetwork for NetworkV2 {
    fn version(&self) -> u32 {
        self.format_version
    }
    fn upgrade(self) -> Network {
        Network {
            format_version: FORMAT_VERSION,
            input: self.input,
            t_max: self.t_max,
            encoding: self.encoding,
            fallback_offset: self.fallback_offset,
            layers: self.layers,
            tie_order: self.tie_order,
            ties_by_potential: false,
        }
    }
}

#[derive(Deserialize)]
struct VersionProbe {
    format_version: u32,
}

fn layer_name(layer: &Layer, index: usize) -> String {
    if layer.name.is_empty() {
        format!("layer{index}")
    } else {
        layer.name.clone()
    }
}

/// Checks the weights and thresholds of a weighted layer.
#[allow(clippy::too_many_arguments)]
fn check_weighted(
    index: usize,
    name: &str,
    count: usize,
    neurons: usize,
    fan_in: usize,
    neuron: &NeuronModel,
    weights: &Weights,
    threshold: &Threshold,
    t_max: u16,
) -> Result<(), Violation> {
    let v = |field: String, rule: String| Violation::layer(index, name, field, rule);
    if neuron.delay > 1 {
        return Err(v(
            "neuron.delay".into(),
            format!("must be 0 or 1, found {}", neuron.delay),
        ));
    }
    let max_abs: u64 = match weights {
        Weights::Binary { signs } => {
            let words = count.div_ceil(64);
            if signs.len() != words {
                return Err(v(
                    "weights.signs".into(),
                    format!(
                        "must hold {words} words for {count} weights, found {}",
                        signs.len()
                    ),
                ));
            }
            if !count.is_multiple_of(64) {
                if let Some(last) = signs.last() {
                    if last >> (count % 64) != 0 {
                        return Err(v(
                            format!("weights.signs[{}]", words - 1),
                            format!("bits past weight {count} must be clear"),
                        ));
                    }
                }
            }
            1
        }
        Weights::Int { bits, values } => {
            if !(2..=16).contains(bits) {
                return Err(v(
                    "weights.bits".into(),
                    format!("must be in 2..=16, found {bits}"),
                ));
            }
            if values.len() != count {
                return Err(v(
                    "weights.values".into(),
                    format!("must hold {count} weights, found {}", values.len()),
                ));
            }
            let lo = -(1i32 << (bits - 1));
            let hi = (1i32 << (bits - 1)) - 1;
            if let Some((k, &w)) = values
                .iter()
                .enumerate()
                .find(|(_, &w)| !(lo..=hi).contains(&i32::from(w)))
            {
                return Err(v(
                    format!("weights.values[{k}]"),
                    format!("{w} is outside the {bits}-bit range {lo}..={hi}"),
                ));
            }
            values
                .iter()
                .map(|&w| u64::from(w.unsigned_abs()))
                .max()
                .unwrap_or(0)
        }
        Weights::Latent { values } => {
            if values.len() != count {
                return Err(v(
                    "weights.values".into(),
                    format!("must hold {count} weights, found {}", values.len()),
                ));
            }
            if let Some((k, w)) = values
                .iter()
                .enumerate()
                .find(|(_, w)| !w.is_finite() || w.abs() > 1e9)
            {
                return Err(v(
                    format!("weights.values[{k}]"),
                    format!("{w} is not a finite real of magnitude ≤ 1e9"),
                ));
            }
            0
        }
    };
    if weights.is_integer() {
        let span = if neuron.kernel == PspKernel::Ramp {
            u64::from(t_max)
        } else {
            1
        };
        let bound = (fan_in as u64).saturating_mul(max_abs).saturating_mul(span);
        if bound > i32::MAX as u64 {
            return Err(v(
                "weights".into(),
                format!(
                    "membrane bound fan-in {fan_in} × max|w| {max_abs} × {span} = {bound} exceeds the 32-bit potential"
                ),
            ));
        }
    }
    let min = match neuron.fire {
        FireRule::Greater => 0,
        FireRule::GreaterEqual => 1,
    };
    let check_t = |k: Option<usize>, t: i32| -> Result<(), Violation> {
        if t < min {
            let field = match k {
                Some(k) => format!("threshold.Neuron[{k}]"),
                None => "threshold.Layer".into(),
            };
            Err(v(
                field,
                format!("{t} is below {min}: a neuron must not fire without input"),
            ))
        } else {
            Ok(())
        }
    };
    match threshold {
        Threshold::Layer(t) => check_t(None, *t)?,
        Threshold::Neuron(ts) => {
            if ts.len() != neurons {
                return Err(v(
                    "threshold.Neuron".into(),
                    format!("must hold {neurons} thresholds, found {}", ts.len()),
                ));
            }
            for (k, &t) in ts.iter().enumerate() {
                check_t(Some(k), t)?;
            }
        }
    }
    Ok(())
}

const MAX_NEURONS: usize = 1 << 24;

impl Network {
    /// Checks every shape and range rule; returns the output shape of every layer.
    pub fn validate(&self) -> Result<Vec<Shape>, Violation> {
        if self.format_version != FORMAT_VERSION {
            return Err(Violation::network(
                "format_version",
                format!("must be {FORMAT_VERSION}, found {}", self.format_version),
            ));
        }
        if self.t_max < 4 {
            return Err(Violation::network(
                "t_max",
                format!("must be at least 4, found {}", self.t_max),
            ));
        }
        if self.fallback_offset == 0 || self.fallback_offset >= self.t_max {
            return Err(Violation::network(
                "fallback_offset",
                format!(
                    "must be in 1..t_max ({}), found {}",
                    self.t_max, self.fallback_offset
                ),
            ));
        }
        let n_in = self.input.len();
        if n_in == 0 || n_in > MAX_NEURONS {
            return Err(Violation::network(
                "input",
                format!("must hold 1..={MAX_NEURONS} values, found {n_in}"),
            ));
        }
        if let Some(crate::encode::EncodingRule::OnOffCentre { width }) = self.encoding {
            let fits = matches!(self.input, Shape::Map { channels: 2, width: w, .. } if w == u32::from(width));
            if !fits {
                return Err(Violation::network(
                    "encoding",
                    format!(
                        "on/off-centre encoding of {width}-pixel-wide images needs a 2 × H × {width} input map, found {:?}",
                        self.input
                    ),
                ));
            }
        }
        if self.layers.is_empty() {
            return Err(Violation::network("layers", "must hold at least one layer"));
        }
        let mut shape = self.input;
        let mut shapes = Vec::with_capacity(self.layers.len());
        for (index, layer) in self.layers.iter().enumerate() {
            let name = layer_name(layer, index);
            let v = |field: &str, rule: String| Violation::layer(index, &name, field, rule);
            shape = match &layer.kind {
                LayerKind::Flatten => Shape::Flat {
                    size: shape.len() as u32,
                },
                LayerKind::Dense(d) => {
                    let Shape::Flat { size } = shape else {
                        return Err(v(
                            "kind",
                            "a Dense layer needs a flat input: add a Flatten layer before it"
                                .into(),
                        ));
                    };
                    if d.inputs != size {
                        return Err(v(
                            "inputs",
                            format!(
                                "must equal the {size} values feeding it, found {}",
                                d.inputs
                            ),
                        ));
                    }
                    let outputs = d.outputs as usize;
                    if outputs == 0 || outputs > MAX_NEURONS {
                        return Err(v(
                            "outputs",
                            format!("must be in 1..={MAX_NEURONS}, found {outputs}"),
                        ));
                    }
                    check_weighted(
                        index,
                        &name,
                        size as usize * outputs,
                        outputs,
                        size as usize,
                        &d.neuron,
                        &d.weights,
                        &d.threshold,
                        self.t_max,
                    )?;
                    Shape::Flat { size: d.outputs }
                }
                LayerKind::Conv2d(c) => {
                    let Shape::Map {
                        channels,
                        height,
                        width,
                    } = shape
                    else {
                        return Err(v("kind", "a Conv2d layer needs a channel map input".into()));
                    };
                    if c.in_channels != channels {
                        return Err(v(
                            "in_channels",
                            format!(
                                "must equal the {channels} channels feeding it, found {}",
                                c.in_channels
                            ),
                        ));
                    }
                    if c.out_channels == 0 || c.out_channels as usize > MAX_NEURONS {
                        return Err(v(
                            "out_channels",
                            format!("must be in 1..={MAX_NEURONS}, found {}", c.out_channels),
                        ));
                    }
                    if c.kernel == 0 || c.kernel > 64 {
                        return Err(v(
                            "kernel",
                            format!("must be in 1..=64, found {}", c.kernel),
                        ));
                    }
                    if c.stride == 0 || c.stride > 64 {
                        return Err(v(
                            "stride",
                            format!("must be in 1..=64, found {}", c.stride),
                        ));
                    }
                    if c.padding >= c.kernel {
                        return Err(v(
                            "padding",
                            format!("must be below the kernel {}, found {}", c.kernel, c.padding),
                        ));
                    }
                    let (ph, pw) = (height + 2 * c.padding, width + 2 * c.padding);
                    if ph < c.kernel || pw < c.kernel {
                        return Err(v(
                            "kernel",
                            format!("{} does not fit the padded {}×{} input", c.kernel, ph, pw),
                        ));
                    }
                    let oh = (ph - c.kernel) / c.stride + 1;
                    let ow = (pw - c.kernel) / c.stride + 1;
                    let out = Shape::Map {
                        channels: c.out_channels,
                        height: oh,
                        width: ow,
                    };
                    if out.len() > MAX_NEURONS {
                        return Err(v(
                            "out_channels",
                            format!("output map of {} neurons exceeds {MAX_NEURONS}", out.len()),
                        ));
                    }
                    let k2 = c.kernel as usize * c.kernel as usize;
                    check_weighted(
                        index,
                        &name,
                        c.out_channels as usize * channels as usize * k2,
                        out.len(),
                        channels as usize * k2,
                        &c.neuron,
                        &c.weights,
                        &c.threshold,
                        self.t_max,
                    )?;
                    out
                }
                LayerKind::MaxPool2d(p) => {
                    let Shape::Map {
                        channels,
                        height,
                        width,
                    } = shape
                    else {
                        return Err(v(
                            "kind",
                            "a MaxPool2d layer needs a channel map input".into(),
                        ));
                    };
                    if p.kernel == 0 || p.kernel > 64 {
                        return Err(v(
                            "kernel",
                            format!("must be in 1..=64, found {}", p.kernel),
                        ));
                    }
                    if p.stride == 0 || p.stride > 64 {
                        return Err(v(
                            "stride",
                            format!("must be in 1..=64, found {}", p.stride),
                        ));
                    }
                    if height < p.kernel || width < p.kernel {
                        return Err(v(
                            "kernel",
                            format!("{} does not fit the {height}×{width} input", p.kernel),
                        ));
                    }
                    Shape::Map {
                        channels,
                        height: (height - p.kernel) / p.stride + 1,
                        width: (width - p.kernel) / p.stride + 1,
                    }
                }
            };
            shapes.push(shape);
        }
        let last = self.layers.len() - 1;
        if !matches!(
            self.layers[last].kind,
            LayerKind::Dense(_) | LayerKind::Conv2d(_)
        ) {
            return Err(Violation::layer(
                last,
                &layer_name(&self.layers[last], last),
                "kind",
                "the output layer must be Dense or Conv2d (decoding reads its potentials)",
            ));
        }
        if let Some(order) = &self.tie_order {
            order.check(shape.len())?;
        }
        Ok(shapes)
    }

    /// Number of output neurons (classes) of a valid network.
    pub fn outputs(&self) -> usize {
        self.validate()
            .ok()
            .and_then(|s| s.last().map(Shape::len))
            .unwrap_or(0)
    }

    /// True when every weighted layer has integer (binary or small-integer) weights: the form
    /// the chip runs and the golden integer forward pass accepts.
    pub fn is_integer(&self) -> bool {
        self.layers.iter().all(|l| match &l.kind {
            LayerKind::Dense(d) => d.weights.is_integer(),
            LayerKind::Conv2d(c) => c.weights.is_integer(),
            _ => true,
        })
    }

    /// Pretty JSON text.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Compact binary form: magic, version, bincode-2 payload.
    pub fn to_bincode(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(BINARY_MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let payload = bincode::serde::encode_to_vec(self, bincode::config::standard())
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Parses and validates a model from bytes (JSON text or the binary form); `path` names
    /// the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Network, ModelError> {
        let p = || path.to_path_buf();
        let net: Network = if bytes.starts_with(BINARY_MAGIC) {
            let Some(version) = bytes.get(8..12) else {
                return Err(ModelError::Binary {
                    path: p(),
                    message: format!(
                        "truncated header: {} bytes, the header needs 12",
                        bytes.len()
                    ),
                });
            };
            let version = u32::from_le_bytes([version[0], version[1], version[2], version[3]]);
            if ![FORMAT_VERSION, FORMAT_VERSION_1, FORMAT_VERSION_2].contains(&version) {
                return Err(ModelError::Version {
                    path: p(),
                    found: version,
                    supported: FORMAT_VERSION,
                });
            }
            let payload = &bytes[12..];
            if payload.len() > MAX_BINARY_BYTES {
                return Err(ModelError::Binary {
                    path: p(),
                    message: format!(
                        "payload of {} bytes exceeds the {MAX_BINARY_BYTES}-byte limit",
                        payload.len()
                    ),
                });
            }
            let config = bincode::config::standard().with_limit::<MAX_BINARY_BYTES>();
            // An older version decodes into its own struct, whose payload must say the same
            // version as the header.
            fn older<T: serde::de::DeserializeOwned + OlderNetwork>(
                payload: &[u8],
                version: u32,
            ) -> Result<(Network, usize), String> {
                let config = bincode::config::standard().with_limit::<MAX_BINARY_BYTES>();
                let (old, used): (T, usize) = bincode::serde::decode_from_slice(payload, config)
                    .map_err(|e| e.to_string())?;
                if old.version() != version {
                    return Err(format!(
                        "the header says format version {version}, the payload {}",
                        old.version()
                    ));
                }
                Ok((old.upgrade(), used))
            }
            let (net, used): (Network, usize) = match version {
                FORMAT_VERSION_1 => older::<NetworkV1>(payload, version),
                FORMAT_VERSION_2 => older::<NetworkV2>(payload, version),
                _ => bincode::serde::decode_from_slice(payload, config).map_err(|e| e.to_string()),
            }
            .map_err(|message| ModelError::Binary { path: p(), message })?;
            if used != payload.len() {
                return Err(ModelError::Binary {
                    path: p(),
                    message: format!("{} trailing bytes after the network", payload.len() - used),
                });
            }
            net
        } else {
            let text = crate::error::json_text(bytes, path, " (and not a binary model)")?;
            let json_err = |e| crate::error::json_error(path, e);
            let probe: VersionProbe = serde_json::from_str(text).map_err(json_err)?;
            if probe.format_version == FORMAT_VERSION_1 || probe.format_version == FORMAT_VERSION_2
            {
                // Earlier versions are this one without the later fields, which default to off.
                let mut net: Network = serde_json::from_str(text).map_err(json_err)?;
                let newer = if net.ties_by_potential {
                    Some(("ties_by_potential", FORMAT_VERSION))
                } else if net.tie_order.is_some() && probe.format_version == FORMAT_VERSION_1 {
                    Some(("tie_order", FORMAT_VERSION_2))
                } else {
                    None
                };
                if let Some((field, needs)) = newer {
                    return Err(crate::error::invalid(path)(Violation::network(
                        field,
                        format!(
                            "needs format_version {needs} or later (the file says {})",
                            probe.format_version
                        ),
                    )));
                }
                net.format_version = FORMAT_VERSION;
                net
            } else if probe.format_version != FORMAT_VERSION {
                return Err(ModelError::Version {
                    path: p(),
                    found: probe.format_version,
                    supported: FORMAT_VERSION,
                });
            } else {
                serde_json::from_str(text).map_err(json_err)?
            }
        };
        net.validate().map_err(crate::error::invalid(path))?;
        Ok(net)
    }

    /// Loads and validates a model file (JSON or binary, recognised by content).
    pub fn load(path: &Path) -> Result<Network, ModelError> {
        let bytes = crate::error::read_model_file(path)?;
        Network::from_bytes(&bytes, path)
    }

    /// Validates, then writes the model atomically: JSON if `path` ends in `.json`, the binary
    /// form otherwise.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let p = || PathBuf::from(path);
        self.validate().map_err(crate::error::invalid(path))?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let bytes = if is_json {
            let mut t = self.to_json().into_bytes();
            t.push(b'\n');
            t
        } else {
            self.to_bincode()
                .map_err(|message| ModelError::Encode { path: p(), message })?
        };
        crate::error::write_model_file(path, &bytes)
    }
}
