//! Multi-spike LIF networks (imported from NIR): their description, validation, JSON file
//! format, rate coding of images, and the golden forward pass the chip must reproduce.
//!
//! A [`LifNetwork`] is a chain of fully connected or convolutional layers of Loihi-style
//! current-based LIF neurons (a fully connected layer may also be recurrent: weights from its
//! own neurons, [`LifLayer::recurrent`]; a layer's neurons may have their own decays,
//! [`LifLayer::du_per_neuron`]) with a choice of reset (`isa::arith::loihi::step_with_reset`,
//! the arithmetic of the `lif_reset.s` firmware). It runs for a fixed number of timesteps per sample; the class is
//! the output neuron with the most spikes (ties to the lowest index).
//!
//! # Timing (the chip's, `docs/ARCHITECTURE.md` "Phases of a timestep")
//!
//! * Input channel spikes of step `t` are the first layer's input `a_in` at step `t`.
//! * A neuron of layer `l` that spikes at step `t` is an input of layer `l + 1` at step
//!   `t + 1` (the one-step synaptic delay of the chip's synapse unit and of Lava's `Dense`),
//!   and of its own layer at `t + 1` when the layer is recurrent (snnTorch's `RLeaky`: the
//!   previous step's spikes through the recurrent weights).
//! * Per step and neuron: `a_in = Σ w` over the input spikes; then one
//!   [`isa::arith::loihi::step_with_reset`].
//!
//! # Why the fan-in bound
//!
//! `a_in` is 16-bit signed (Lava's port precision, the golden step's `i16`). Each input spikes
//! at most once per step, so `fan_in · max|w| ≤ 32767` (fan-in: inputs per neuron, `in_channels
//! · kernel²` for a convolution, inputs plus outputs for a recurrent layer) guarantees every step's sum fits; a network breaking it is
//! refused at load rather than wrapped at run time.
//!
//! # File format
//!
//! JSON with `lif_format_version` = [`LIF_FORMAT_VERSION`] (the key tells it apart from the
//! TTFS [`crate::Network`] format, whose key is `format_version`).

use crate::error::{ModelError, Violation};
pub use isa::arith::loihi::BiasTarget;
use isa::arith::loihi::{integrate, step_with_reset, LoihiLifParams, LoihiLifState, ResetMode};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The LIF network file format version this build reads and writes.
pub const LIF_FORMAT_VERSION: u32 = 1;

/// What a spike does to the membrane voltage (serialisable mirror of
/// [`isa::arith::loihi::ResetMode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifReset {
    /// `v ← 0`.
    Zero,
    /// `v ← v − (vth << 6)`: the excess above threshold is kept.
    Subtract,
    /// The subtraction one step late, inside the next step's sum (snnTorch's `Leaky` with its
    /// default `reset_delay`).
    SubtractNext,
}

impl From<LifReset> for ResetMode {
    fn from(r: LifReset) -> Self {
        match r {
            LifReset::Zero => ResetMode::Zero,
            LifReset::Subtract => ResetMode::Subtract,
            LifReset::SubtractNext => ResetMode::SubtractNext,
        }
    }
}

/// How images become input spike trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RateCode {
    /// Evenly spaced spikes: intensity `p` (0..=255) spikes at step `t` iff
    /// `⌊(t+1)·p/255⌋ > ⌊t·p/255⌋`, so `⌊T·p/255⌋` spikes in `T` steps and none for `p = 0`.
    /// Deterministic: no random draws, so runs agree for any thread count.
    Regular,
}

impl RateCode {
    /// Whether intensity `p` spikes at step `t`.
    pub fn spikes(self, p: u8, t: u32) -> bool {
        match self {
            RateCode::Regular => {
                let p = u64::from(p);
                let t = u64::from(t);
                (t + 1) * p / 255 > t * p / 255
            }
        }
    }

    /// The spike trains of an image over `steps` steps, as `(channel, step)` pairs ordered by
    /// step, then channel (the form `sim::Chip::run_sample` takes).
    pub fn encode(self, image: &[u8], steps: u32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        self.encode_into(image, steps, &mut out);
        out
    }

    /// [`RateCode::encode`] into `out` (cleared first), so a loop over samples reuses one buffer.
    pub fn encode_into(self, image: &[u8], steps: u32, out: &mut Vec<(u32, u32)>) {
        out.clear();
        for t in 0..steps {
            for (c, &p) in image.iter().enumerate() {
                if self.spikes(p, t) {
                    out.push((c as u32, t));
                }
            }
        }
    }
}

/// The LIF parameters shared by a layer's neurons (Lava / Loihi fields; ranges in
/// [`LoihiLifParams::new`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifNeuron {
    /// Current decay, 12 bits (`4095`: the current lasts one step).
    pub du: u16,
    /// Voltage decay, 12 bits (`0`: no leak).
    pub dv: u16,
    /// Threshold mantissa, 17 bits: a neuron spikes when `v > vth << 6`; or [`NEVER_FIRES`]
    /// for a leaky integrator that is read out by its voltage.
    pub vth: u32,
    /// Reset after a spike.
    pub reset: LifReset,
}

/// The `vth` of a neuron that never spikes: one past the 17-bit range, so `vth << 6 = 2^23`
/// exceeds every 24-bit voltage (`sat24` tops out at `2^23 − 1`) and the firmware's comparison
/// never succeeds. Such a layer is a leaky integrator (NIR's `LI` / `CubaLI`), read out by
/// [`Readout::FinalVoltage`].
pub const NEVER_FIRES: u32 = 131_072;

/// How the class is read from the output layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Readout {
    /// The output neuron with the most spikes (ties to the lowest index).
    #[default]
    SpikeCount,
    /// The output neuron with the highest voltage after the last step (ties to the lowest
    /// index): the read-out of a leaky-integrator output layer.
    FinalVoltage,
}

/// The geometry of a convolutional LIF layer: a square kernel over a `channels × height ×
/// width` map, zero ("no input") padding, outputs in raster order `(o, y, x)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifConv {
    /// Input channels.
    pub in_channels: u32,
    /// Input rows.
    pub in_height: u32,
    /// Input columns.
    pub in_width: u32,
    /// Output channels.
    pub out_channels: u32,
    /// Kernel side.
    pub kernel: u32,
    /// Stride (≥ 1).
    pub stride: u32,
    /// Padding on every side (< kernel).
    pub padding: u32,
}

impl LifConv {
    /// The largest side, channel count, kernel, stride or padding a file may give (so that
    /// every product the layer needs fits in 64 bits and its sizes in 32).
    pub const MAX_FIELD: u32 = 65_535;

    /// Output rows: `(h + 2p − k) / s + 1` (0 when the kernel does not fit).
    pub fn out_height(&self) -> u32 {
        Self::out_side(self.in_height, self.padding, self.kernel, self.stride)
    }

    /// Output columns.
    pub fn out_width(&self) -> u32 {
        Self::out_side(self.in_width, self.padding, self.kernel, self.stride)
    }

    fn out_side(side: u32, padding: u32, kernel: u32, stride: u32) -> u32 {
        (u64::from(side) + 2 * u64::from(padding))
            .checked_sub(u64::from(kernel))
            .map_or(0, |d| {
                u32::try_from(d / u64::from(stride.max(1)) + 1).unwrap_or(u32::MAX)
            })
    }

    /// Inputs per neuron (`in_channels · kernel²`, saturating).
    pub fn fan_in(&self) -> u32 {
        self.in_channels
            .saturating_mul(self.kernel)
            .saturating_mul(self.kernel)
    }

    /// Calls `f(neuron, weight index)` for every output neuron that input unit `i` (raster
    /// `(c, y, x)`) reaches; the weight index is `((o · in_channels + c) · k + ky) · k + kx`.
    pub fn for_each_target(&self, i: usize, mut f: impl FnMut(usize, usize)) {
        let (h, w) = (self.in_height as usize, self.in_width as usize);
        let (c, y, x) = (i / (h * w), (i / w) % h, i % w);
        let (k, s, p) = (
            self.kernel as usize,
            self.stride as usize,
            self.padding as usize,
        );
        let (oh, ow) = (self.out_height() as usize, self.out_width() as usize);
        let in_c = self.in_channels as usize;
        for ky in 0..k {
            let Some(ry) = (y + p).checked_sub(ky) else {
                continue;
            };
            if ry % s != 0 || ry / s >= oh {
                continue;
            }
            for kx in 0..k {
                let Some(rx) = (x + p).checked_sub(kx) else {
                    continue;
                };
                if rx % s != 0 || rx / s >= ow {
                    continue;
                }
                for o in 0..self.out_channels as usize {
                    let neuron = (o * oh + ry / s) * ow + rx / s;
                    f(neuron, ((o * in_c + c) * k + ky) * k + kx);
                }
            }
        }
    }
}

fn is_voltage(t: &BiasTarget) -> bool {
    *t == BiasTarget::Voltage
}

/// One layer of LIF neurons: fully connected, or convolutional when [`LifLayer::conv`] is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifLayer {
    /// Name used in messages (the NIR node names, e.g. `fc1+lif1`).
    pub name: String,
    /// Units feeding the layer (for a convolution, `in_channels · in_height · in_width`).
    pub inputs: u32,
    /// Neurons (for a convolution, `out_channels · out_height · out_width`).
    pub outputs: u32,
    /// Convolution geometry; `None`: fully connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv: Option<LifConv>,
    /// Width of the signed integer weights (2..=16).
    pub weight_bits: u8,
    /// Dense: `outputs × inputs` weights, output-major (`weights[j · inputs + i]`).
    /// Convolution: `out_channels × in_channels × kernel × kernel` (see
    /// [`LifConv::for_each_target`]).
    pub weights: Vec<i16>,
    /// Neuron parameters.
    pub neuron: LifNeuron,
    /// Per-neuron bias mantissa (13-bit signed); empty = no bias.
    #[serde(default)]
    pub bias_mant: Vec<i16>,
    /// Per-neuron bias exponent (−4..=3); empty = 0.
    #[serde(default)]
    pub bias_exp: Vec<i8>,
    /// Where the bias is added each step: to the voltage (Loihi's LIF, the default) or to the
    /// synaptic current (a biased weight layer before current-based neurons).
    #[serde(default, skip_serializing_if = "is_voltage")]
    pub bias_target: BiasTarget,
    /// Recurrent weights of a dense layer onto itself, `outputs × outputs`, output-major
    /// (`recurrent[j · outputs + k]`: from the layer's own neuron `k` to its neuron `j`), of
    /// the same width as [`LifLayer::weights`]. A spike at step `t` acts at `t + 1`, like a
    /// spike into the next layer. Empty: feed-forward only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recurrent: Vec<i16>,
    /// Per-neuron current decays (12-bit), for layers whose neurons have their own time
    /// constants; empty: every neuron decays by [`LifNeuron::du`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub du_per_neuron: Vec<u16>,
    /// Per-neuron voltage decays (12-bit); empty: every neuron decays by [`LifNeuron::dv`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dv_per_neuron: Vec<u16>,
    /// Per-neuron input delays in steps, on top of the one-step synaptic delay: an input that
    /// would reach neuron `j` at step `t` reaches it at `t + input_delays[j]` (Lava's
    /// `DelayDense` with one delay per output neuron, which is how netx runs SLAYER's axonal
    /// delays). Empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_delays: Vec<u8>,
}

impl LifLayer {
    /// Weight from input `i` to neuron `j` of a dense layer.
    pub fn weight(&self, j: usize, i: usize) -> i16 {
        self.weights[j * self.inputs as usize + i]
    }

    /// Inputs per neuron: feed-forward inputs, plus the layer's own neurons when it is
    /// recurrent.
    pub fn fan_in(&self) -> u32 {
        match self.conv {
            Some(c) => c.fan_in(),
            None if self.is_recurrent() => self.inputs.saturating_add(self.outputs),
            None => self.inputs,
        }
    }

    /// Whether some neurons decay differently from the layer's `du` / `dv`
    /// ([`LifLayer::du_per_neuron`], [`LifLayer::dv_per_neuron`]).
    pub fn has_per_neuron_decays(&self) -> bool {
        !self.du_per_neuron.is_empty() || !self.dv_per_neuron.is_empty()
    }

    /// The current and voltage decays of neuron `j`.
    pub fn decays(&self, j: usize) -> (u16, u16) {
        (
            self.du_per_neuron.get(j).copied().unwrap_or(self.neuron.du),
            self.dv_per_neuron.get(j).copied().unwrap_or(self.neuron.dv),
        )
    }

    /// The longest input delay of the layer's neurons ([`LifLayer::input_delays`]; 0: none).
    pub fn max_input_delay(&self) -> u8 {
        self.input_delays.iter().copied().max().unwrap_or(0)
    }

    /// Whether the layer has recurrent weights ([`LifLayer::recurrent`]).
    pub fn is_recurrent(&self) -> bool {
        !self.recurrent.is_empty()
    }

    /// Adds to `acc` (one entry per neuron) the recurrent weights of the layer's own neurons
    /// that spiked in the previous step (`own`).
    pub fn accumulate_recurrent(&self, own: &[u32], acc: &mut [i32]) {
        let n = self.outputs as usize;
        if self.recurrent.is_empty() {
            return;
        }
        for &k in own {
            for (j, a) in acc.iter_mut().enumerate() {
                *a += i32::from(self.recurrent[j * n + k as usize]);
            }
        }
    }

    /// Adds to `acc` (one entry per neuron) the weights of the spiking inputs `sources`.
    pub fn accumulate(&self, sources: &[u32], acc: &mut [i32]) {
        match &self.conv {
            None => {
                for &i in sources {
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a += i32::from(self.weight(j, i as usize));
                    }
                }
            }
            Some(conv) => {
                for &i in sources {
                    conv.for_each_target(i as usize, |j, widx| {
                        acc[j] += i32::from(self.weights[widx]);
                    });
                }
            }
        }
    }

    /// The validated Loihi parameters of neuron `j` (valid layers only).
    /// Whether the layer's neurons never spike ([`NEVER_FIRES`]).
    pub fn silent(&self) -> bool {
        self.neuron.vth == NEVER_FIRES
    }

    fn params(&self, j: usize) -> Result<LoihiLifParams, isa::arith::ArithError> {
        // A silent layer's threshold is never compared; its other fields are checked as usual.
        let vth = if self.silent() { 0 } else { self.neuron.vth };
        let (du, dv) = self.decays(j);
        Ok(LoihiLifParams::new(
            i64::from(du),
            i64::from(dv),
            i64::from(vth),
            i64::from(self.bias_mant.get(j).copied().unwrap_or(0)),
            i64::from(self.bias_exp.get(j).copied().unwrap_or(0)),
        )?
        .with_bias_target(self.bias_target))
    }
}

/// A multi-spike LIF network (module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifNetwork {
    /// File format version; must be [`LIF_FORMAT_VERSION`].
    pub lif_format_version: u32,
    /// Input channels.
    pub inputs: u32,
    /// Timesteps per sample.
    pub steps: u32,
    /// How images are turned into input spikes (`None`: inputs are given as spike trains).
    pub encoding: Option<RateCode>,
    /// Layers in order; the last one's neurons are the classes.
    pub layers: Vec<LifLayer>,
    /// How the class is read from the output layer.
    #[serde(default)]
    pub readout: Readout,
    /// Where the network came from and how it was quantised (informational).
    #[serde(default)]
    pub provenance: String,
}

#[derive(Deserialize)]
struct LifVersionProbe {
    lif_format_version: u32,
}

/// Largest accepted `steps` (the chip's timestep counter and the TTFS-sized image windows).
pub const MAX_STEPS: u32 = 65_535;

impl LifNetwork {
    /// Checks every rule of the format; the violation names the layer, field and rule.
    pub fn validate(&self) -> Result<(), Violation> {
        if self.lif_format_version != LIF_FORMAT_VERSION {
            return Err(Violation::network(
                "lif_format_version",
                format!(
                    "must be {LIF_FORMAT_VERSION}, found {}",
                    self.lif_format_version
                ),
            ));
        }
        if self.inputs == 0 {
            return Err(Violation::network("inputs", "must be at least 1"));
        }
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return Err(Violation::network(
                "steps",
                format!("must be in 1..={MAX_STEPS}, found {}", self.steps),
            ));
        }
        if self.layers.is_empty() {
            return Err(Violation::network("layers", "must hold at least one layer"));
        }
        let mut fan_in = self.inputs;
        for (k, l) in self.layers.iter().enumerate() {
            let name = if l.name.is_empty() {
                format!("layer{k}")
            } else {
                l.name.clone()
            };
            let v = |field: String, rule: String| Violation::layer(k, &name, field, rule);
            if l.inputs != fan_in {
                return Err(v(
                    "inputs".into(),
                    format!(
                        "must equal the {fan_in} outputs feeding it, found {}",
                        l.inputs
                    ),
                ));
            }
            if l.outputs == 0 {
                return Err(v("outputs".into(), "must be at least 1".into()));
            }
            if !(2..=16).contains(&l.weight_bits) {
                return Err(v(
                    "weight_bits".into(),
                    format!("must be in 2..=16, found {}", l.weight_bits),
                ));
            }
            let count = match &l.conv {
                None => l.inputs as usize * l.outputs as usize,
                Some(c) => {
                    let fields = [
                        ("in_channels", c.in_channels),
                        ("in_height", c.in_height),
                        ("in_width", c.in_width),
                        ("out_channels", c.out_channels),
                        ("kernel", c.kernel),
                    ];
                    if let Some((name, x)) = fields
                        .iter()
                        .find(|(_, x)| !(1..=LifConv::MAX_FIELD).contains(x))
                    {
                        return Err(v(
                            format!("conv.{name}"),
                            format!("must be in 1..={}, found {x}", LifConv::MAX_FIELD),
                        ));
                    }
                    if c.kernel == 0 || c.stride == 0 || c.padding >= c.kernel {
                        return Err(v(
                            "conv".into(),
                            format!(
                                "kernel {} must be ≥ 1, stride {} ≥ 1, padding {} < kernel",
                                c.kernel, c.stride, c.padding
                            ),
                        ));
                    }
                    let map =
                        u64::from(c.in_channels) * u64::from(c.in_height) * u64::from(c.in_width);
                    if map != u64::from(l.inputs) {
                        return Err(v(
                            "conv".into(),
                            format!(
                                "the {}×{}×{} input map holds {} units, the layer has {} inputs",
                                c.in_channels, c.in_height, c.in_width, map, l.inputs
                            ),
                        ));
                    }
                    let n = u64::from(c.out_channels)
                        * u64::from(c.out_height())
                        * u64::from(c.out_width());
                    if n == 0 || n != u64::from(l.outputs) {
                        return Err(v(
                            "outputs".into(),
                            format!(
                                "the convolution gives {}×{}×{} = {n} neurons, the layer says {}",
                                c.out_channels,
                                c.out_height(),
                                c.out_width(),
                                l.outputs
                            ),
                        ));
                    }
                    // Each field ≤ 65535, so this product fits; the weight list must match it.
                    (u64::from(c.out_channels)
                        * u64::from(c.in_channels)
                        * u64::from(c.kernel).pow(2))
                    .try_into()
                    .unwrap_or(usize::MAX)
                }
            };
            if l.weights.len() != count {
                return Err(v(
                    "weights".into(),
                    format!(
                        "must hold {count} weights ({}), found {}",
                        if l.conv.is_some() {
                            "out channels × in channels × kernel²"
                        } else {
                            "outputs × inputs"
                        },
                        l.weights.len()
                    ),
                ));
            }
            if l.is_recurrent() {
                if l.conv.is_some() {
                    return Err(v(
                        "recurrent".into(),
                        "recurrent weights need a fully connected layer, this one is a convolution"
                            .into(),
                    ));
                }
                let n = l.outputs as usize;
                if l.recurrent.len() != n.saturating_mul(n) {
                    return Err(v(
                        "recurrent".into(),
                        format!(
                            "must be empty or hold outputs × outputs = {} weights, found {}",
                            n.saturating_mul(n),
                            l.recurrent.len()
                        ),
                    ));
                }
            }
            let lo = -(1i32 << (l.weight_bits - 1));
            let hi = (1i32 << (l.weight_bits - 1)) - 1;
            for (field, list) in [("weights", &l.weights), ("recurrent", &l.recurrent)] {
                if let Some((x, &w)) = list
                    .iter()
                    .enumerate()
                    .find(|(_, &w)| !(lo..=hi).contains(&i32::from(w)))
                {
                    return Err(v(
                        format!("{field}[{x}]"),
                        format!("{w} is outside the {}-bit range {lo}..={hi}", l.weight_bits),
                    ));
                }
            }
            let max_abs = l
                .weights
                .iter()
                .chain(&l.recurrent)
                .map(|w| u64::from(w.unsigned_abs()))
                .max()
                .unwrap_or(0);
            let per_neuron = u64::from(l.fan_in());
            if per_neuron * max_abs > i16::MAX as u64 {
                return Err(v(
                    "weights".into(),
                    format!(
                        "fan-in {per_neuron}{} × max |w| {max_abs} = {} exceeds 32767: a step's input sum \
                         must fit the 16-bit a_in (quantise to smaller weights)",
                        if l.is_recurrent() { " (inputs and recurrent)" } else { "" },
                        per_neuron * max_abs
                    ),
                ));
            }
            for (field, len) in [
                ("bias_mant", l.bias_mant.len()),
                ("bias_exp", l.bias_exp.len()),
                ("du_per_neuron", l.du_per_neuron.len()),
                ("dv_per_neuron", l.dv_per_neuron.len()),
                ("input_delays", l.input_delays.len()),
            ] {
                if len != 0 && len != l.outputs as usize {
                    return Err(v(
                        field.into(),
                        format!("must be empty or hold {} values, found {len}", l.outputs),
                    ));
                }
            }
            for j in 0..l.outputs as usize {
                l.params(j).map_err(|e| {
                    let field = match &e {
                        isa::arith::ArithError::FieldOutOfRange { field, .. } => match *field {
                            "bias_mant" | "bias_exp" => format!("{field}[{j}]"),
                            "du" if !l.du_per_neuron.is_empty() => format!("du_per_neuron[{j}]"),
                            "dv" if !l.dv_per_neuron.is_empty() => format!("dv_per_neuron[{j}]"),
                            other => format!("neuron.{other}"),
                        },
                        _ => "neuron".into(),
                    };
                    v(field, e.to_string())
                })?;
            }
            fan_in = l.outputs;
        }
        Ok(())
    }

    /// Number of classes (output neurons).
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs as usize)
    }

    /// Pretty JSON text.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialisation cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Whether `bytes` look like a LIF network file (JSON with `lif_format_version`), so a
    /// command taking "a model" can tell the two formats apart.
    pub fn is_lif_file(bytes: &[u8]) -> bool {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|t| serde_json::from_str::<LifVersionProbe>(t).ok())
            .is_some()
    }

    /// Parses and validates a network from JSON bytes; `path` names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<LifNetwork, ModelError> {
        let p = || path.to_path_buf();
        let text = crate::error::json_text(bytes, path, "")?;
        let json_err = |e| crate::error::json_error(path, e);
        let probe: LifVersionProbe = serde_json::from_str(text).map_err(json_err)?;
        if probe.lif_format_version != LIF_FORMAT_VERSION {
            return Err(ModelError::Version {
                path: p(),
                found: probe.lif_format_version,
                supported: LIF_FORMAT_VERSION,
            });
        }
        let net: LifNetwork = serde_json::from_str(text).map_err(json_err)?;
        net.validate().map_err(crate::error::invalid(path))?;
        Ok(net)
    }

    /// Loads and validates a LIF network file.
    pub fn load(path: &Path) -> Result<LifNetwork, ModelError> {
        let bytes = crate::error::read_model_file(path)?;
        LifNetwork::from_bytes(&bytes, path)
    }

    /// Validates, then writes the JSON file atomically.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        self.validate().map_err(crate::error::invalid(path))?;
        let mut bytes = self.to_json().into_bytes();
        bytes.push(b'\n');
        crate::error::write_model_file(path, &bytes)
    }

    /// The golden forward pass of a valid network on input spikes `(channel, step)` (any
    /// order; steps ≥ `steps` and channels ≥ `inputs` are ignored — the chip refuses the
    /// latter, so callers pass valid ones).
    ///
    /// # Panics
    /// Never for a network that passed [`LifNetwork::validate`] (every loaded or imported one).
    pub fn forward(&self, spikes: &[(u32, u32)]) -> LifRecord {
        let steps = self.steps as usize;
        let mut by_step: Vec<Vec<u32>> = vec![Vec::new(); steps];
        for &(c, t) in spikes {
            if (t as usize) < steps && c < self.inputs {
                by_step[t as usize].push(c);
            }
        }
        let params: Vec<Vec<LoihiLifParams>> = self
            .layers
            .iter()
            .map(|l| {
                (0..l.outputs as usize)
                    .map(|j| l.params(j).expect("a validated layer has valid parameters"))
                    .collect()
            })
            .collect();
        let mut state: Vec<Vec<LoihiLifState>> = self
            .layers
            .iter()
            .map(|l| vec![LoihiLifState::default(); l.outputs as usize])
            .collect();
        // Spikes of the previous step per layer (inputs of the next layer at this step).
        let mut prev: Vec<Vec<u32>> = vec![Vec::new(); self.layers.len()];
        let mut counts: Vec<Vec<u32>> = self
            .layers
            .iter()
            .map(|l| vec![0; l.outputs as usize])
            .collect();
        let mut first_spike = vec![None; self.outputs()];
        // Per layer, the inputs of the last `max delay + 1` steps (a ring indexed by step):
        // neuron `j` takes the sum of step `t − input_delays[j]`.
        let mut history: Vec<Vec<Vec<i32>>> = self
            .layers
            .iter()
            .map(|l| vec![vec![0; l.outputs as usize]; usize::from(l.max_input_delay()) + 1])
            .collect();
        for (t, inputs_now) in by_step.iter().enumerate() {
            let mut now: Vec<Vec<u32>> = Vec::with_capacity(self.layers.len());
            for (l, layer) in self.layers.iter().enumerate() {
                let sources: &[u32] = if l == 0 { inputs_now } else { &prev[l - 1] };
                let ring = &mut history[l];
                let slots = ring.len();
                let acc = &mut ring[t % slots];
                acc.fill(0);
                layer.accumulate(sources, acc);
                layer.accumulate_recurrent(&prev[l], acc);
                let mut fired = Vec::new();
                for j in 0..layer.outputs as usize {
                    let d = usize::from(layer.input_delays.get(j).copied().unwrap_or(0));
                    let a = if d > t { 0 } else { ring[(t - d) % slots][j] };
                    // The fan-in bound keeps `a` within i16 (validate).
                    let a_in = a as i16;
                    if layer.silent() {
                        integrate(&params[l][j], &mut state[l][j], a_in);
                    } else if step_with_reset(
                        &params[l][j],
                        &mut state[l][j],
                        a_in,
                        layer.neuron.reset.into(),
                    ) {
                        fired.push(j as u32);
                        counts[l][j] += 1;
                    }
                }
                if l + 1 == self.layers.len() {
                    for &j in &fired {
                        first_spike[j as usize].get_or_insert(t as u32);
                    }
                }
                now.push(fired);
            }
            prev = now;
        }
        let out = counts.last().cloned().unwrap_or_default();
        let output_voltage: Vec<i32> = state
            .last()
            .map(|s| s.iter().map(|n| n.v.get()).collect())
            .unwrap_or_default();
        let class = match self.readout {
            Readout::SpikeCount => decode_counts(&out),
            Readout::FinalVoltage => decode_voltage(&output_voltage),
        };
        LifRecord {
            layer_counts: counts,
            output_counts: out,
            first_output_spike: first_spike,
            output_voltage,
            class,
        }
    }
}

/// What the golden forward pass of one sample produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifRecord {
    /// Spikes per neuron over the sample, per layer.
    pub layer_counts: Vec<Vec<u32>>,
    /// Spikes per output neuron.
    pub output_counts: Vec<u32>,
    /// Step of each output neuron's first spike.
    pub first_output_spike: Vec<Option<u32>>,
    /// Each output neuron's voltage after the last step.
    pub output_voltage: Vec<i32>,
    /// The decoded class ([`LifNetwork::readout`]).
    pub class: usize,
}

/// The class decoded from output voltages: the highest, ties to the lowest index.
pub fn decode_voltage(v: &[i32]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0usize, i32::MIN),
            |best, (j, &x)| if x > best.1 { (j, x) } else { best },
        )
        .0
}

/// The class decoded from output spike counts: most spikes, ties to the lowest index (the
/// same rule for the chip's counts and the golden model's).
pub fn decode_counts(counts: &[u32]) -> usize {
    counts
        .iter()
        .enumerate()
        .fold(
            (0usize, 0u32),
            |best, (j, &c)| if c > best.1 { (j, c) } else { best },
        )
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> LifNetwork {
        LifNetwork {
            lif_format_version: LIF_FORMAT_VERSION,
            inputs: 2,
            steps: 6,
            encoding: None,
            readout: Readout::SpikeCount,
            layers: vec![LifLayer {
                name: "fc".into(),
                inputs: 2,
                outputs: 2,
                conv: None,
                weight_bits: 8,
                weights: vec![100, 0, 0, -100],
                neuron: LifNeuron {
                    du: 4095,
                    dv: 0,
                    vth: 150,
                    reset: LifReset::Subtract,
                },
                bias_mant: vec![],
                bias_exp: vec![],
                bias_target: Default::default(),
                recurrent: vec![],
                du_per_neuron: vec![],
                dv_per_neuron: vec![],
                input_delays: vec![],
            }],
            provenance: String::new(),
        }
    }

    #[test]
    fn regular_rate_code_counts_floor_t_p_over_255() {
        for p in [0u8, 1, 37, 128, 254, 255] {
            for steps in [1u32, 7, 32, 255] {
                let n = (0..steps)
                    .filter(|&t| RateCode::Regular.spikes(p, t))
                    .count() as u64;
                assert_eq!(
                    n,
                    u64::from(steps) * u64::from(p) / 255,
                    "p {p} steps {steps}"
                );
            }
        }
    }

    #[test]
    fn forward_follows_the_lif_arithmetic_by_hand() {
        // Neuron 0 gets a_in = 100 every step: u = 6400 each step (du = 4095 clears it),
        // v accumulates 6400 per step without leak; vth << 6 = 9600.
        // v: 6400, 12800 → spike, 3200; 9600 (not >), 16000 → spike, 6400; 12800 → spike.
        let net = tiny();
        net.validate().unwrap();
        let spikes: Vec<(u32, u32)> = (0..6).map(|t| (0, t)).collect();
        let r = net.forward(&spikes);
        assert_eq!(r.output_counts, vec![3, 0]);
        assert_eq!(r.first_output_spike, vec![Some(1), None]);
        assert_eq!(r.class, 0);
    }

    #[test]
    fn recurrent_spikes_act_one_step_later() {
        // Neuron 0 is driven by input 0 every step (reset to zero: it spikes at steps 1, 3, 5);
        // neuron 1 has no feed-forward input, only a recurrent weight from neuron 0 large
        // enough to fire it at once: it must spike at exactly the steps after neuron 0's
        // spikes that are still in the window (2 and 4).
        // vth 100 (6400 after the shift): neuron 0's input of 100 (u = 6400) fires it every
        // second step, a recurrent input of 127 (u = 8128) at once.
        let mut net = tiny();
        net.layers[0].neuron.reset = LifReset::Zero;
        net.layers[0].neuron.vth = 100;
        net.layers[0].weights = vec![100, 0, 0, 0];
        net.layers[0].recurrent = vec![0, 0, 127, 0];
        net.validate().unwrap();
        let spikes: Vec<(u32, u32)> = (0..6).map(|t| (0, t)).collect();
        let r = net.forward(&spikes);
        assert_eq!(r.output_counts, vec![3, 2]);
        assert_eq!(r.first_output_spike, vec![Some(1), Some(2)]);
        // Without the recurrent weights neuron 1 never fires.
        net.layers[0].recurrent.clear();
        assert_eq!(net.forward(&spikes).output_counts, vec![3, 0]);
    }

    #[test]
    fn per_neuron_decays_leak_each_neuron_at_its_own_rate() {
        // Two neurons with the same input (weight 100 from input 0): neuron 0 keeps its
        // voltage (dv 0), neuron 1 loses all of it every step (dv 4095 leaves v·1/4096 ≈ 0),
        // so only neuron 0 accumulates past the threshold.
        let mut net = tiny();
        net.layers[0].weights = vec![100, 0, 100, 0];
        net.layers[0].dv_per_neuron = vec![0, 4095];
        net.validate().unwrap();
        let spikes: Vec<(u32, u32)> = (0..6).map(|t| (0, t)).collect();
        let r = net.forward(&spikes);
        assert_eq!(r.output_counts, vec![3, 0]);
        assert_eq!(net.layers[0].decays(1), (4095, 4095));
        // Shared decays again: both spike alike.
        net.layers[0].dv_per_neuron.clear();
        assert_eq!(net.forward(&spikes).output_counts, vec![3, 3]);
        // Wrong length, out of range.
        net.layers[0].du_per_neuron = vec![1];
        assert_eq!(net.validate().unwrap_err().field, "du_per_neuron");
        net.layers[0].du_per_neuron = vec![1, 5000];
        assert_eq!(net.validate().unwrap_err().field, "du_per_neuron[1]");
    }

    #[test]
    fn recurrent_weights_are_validated() {
        let mut net = tiny();
        net.layers[0].recurrent = vec![1, 2, 3];
        let e = net.validate().unwrap_err();
        assert_eq!(e.field, "recurrent");
        assert!(e.rule.contains("outputs × outputs = 4"), "{e}");
        net.layers[0].recurrent = vec![0, 0, 200, 0];
        let e = net.validate().unwrap_err();
        assert_eq!(e.field, "recurrent[2]");
        // The fan-in bound counts the recurrent inputs: (2 + 2) × 9000 > 32767 although the
        // feed-forward part alone, 2 × 9000, fits.
        net.layers[0].weight_bits = 16;
        net.layers[0].weights = vec![9000, 0, 0, 0];
        net.layers[0].recurrent = vec![0, 0, 0, 0];
        let e = net.validate().unwrap_err();
        assert!(e.rule.contains("(inputs and recurrent)"), "{e}");
        net.layers[0].recurrent.clear();
        net.validate().unwrap();
    }

    #[test]
    fn fan_in_bound_is_enforced() {
        let mut net = tiny();
        net.layers[0].weight_bits = 16;
        net.layers[0].weights = vec![20000, 0, 0, 0];
        let e = net.validate().unwrap_err();
        assert!(e.rule.contains("exceeds 32767"), "{e}");
        assert_eq!(e.field, "weights");
    }

    #[test]
    fn json_round_trip_and_format_detection() {
        let net = tiny();
        let text = net.to_json();
        assert!(LifNetwork::is_lif_file(text.as_bytes()));
        let back = LifNetwork::from_bytes(text.as_bytes(), Path::new("t.json")).unwrap();
        assert_eq!(back, net);
        let bad = text.replace("\"vth\": 150", "\"vth\": 200000");
        let e = LifNetwork::from_bytes(bad.as_bytes(), Path::new("t.json")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("t.json") && msg.contains("neuron.vth"),
            "{msg}"
        );
    }

    #[test]
    fn conv_targets_equal_a_direct_convolution() {
        // Every geometry with small sides, strides and paddings: the scatter from each input
        // unit equals the textbook gather over each output neuron's kernel taps.
        for (in_c, h, w, out_c, k, s, p) in [
            (1, 6, 6, 2, 3, 1, 0),
            (2, 5, 7, 3, 3, 2, 1),
            (3, 4, 4, 2, 2, 2, 0),
            (1, 7, 5, 1, 5, 3, 2),
            (2, 3, 3, 2, 3, 1, 2),
        ] {
            let conv = LifConv {
                in_channels: in_c,
                in_height: h,
                in_width: w,
                out_channels: out_c,
                kernel: k,
                stride: s,
                padding: p,
            };
            let (oh, ow) = (conv.out_height() as i64, conv.out_width() as i64);
            let n_in = (in_c * h * w) as usize;
            let mut scatter = vec![Vec::new(); n_in];
            for (i, list) in scatter.iter_mut().enumerate() {
                conv.for_each_target(i, |j, widx| list.push((j, widx)));
                list.sort_unstable();
            }
            let mut gather = vec![Vec::new(); n_in];
            for o in 0..i64::from(out_c) {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let j = ((o * oh + oy) * ow + ox) as usize;
                        for c in 0..i64::from(in_c) {
                            for ky in 0..i64::from(k) {
                                for kx in 0..i64::from(k) {
                                    let y = oy * i64::from(s) + ky - i64::from(p);
                                    let x = ox * i64::from(s) + kx - i64::from(p);
                                    if y < 0 || x < 0 || y >= i64::from(h) || x >= i64::from(w) {
                                        continue;
                                    }
                                    let i = ((c * i64::from(h) + y) * i64::from(w) + x) as usize;
                                    let widx = (((o * i64::from(in_c) + c) * i64::from(k) + ky)
                                        * i64::from(k)
                                        + kx)
                                        as usize;
                                    gather[i].push((j, widx));
                                }
                            }
                        }
                    }
                }
            }
            for list in &mut gather {
                list.sort_unstable();
            }
            assert_eq!(
                scatter, gather,
                "geometry {in_c} {h} {w} {out_c} {k} {s} {p}"
            );
        }
    }

    #[test]
    fn decode_counts_breaks_ties_to_the_lowest_index() {
        assert_eq!(decode_counts(&[1, 3, 3]), 1);
        assert_eq!(decode_counts(&[0, 0]), 0);
    }
}
