//! The on-chip learning rule in fixed point: the exact integer S4NN / BS4NN-style update that the
//! learning firmware performs after each sample, and [`OnChipTrainer`], its plainly written
//! golden implementation (the chip must agree with it bit for bit).
//!
//! The rule is stated in full in `docs/LEARNING.md`; in short, for a stack of dense binary TTFS
//! layers (step PSP, `V > θ`, delay 1) with integer latent weights `w̃` of `latent_bits` bits:
//!
//! 1. **Forward** with the binary weights `sign(w̃)` (`+1` when `w̃ ≥ 0`), golden semantics
//!    ([`crate::golden`]).
//! 2. **Targets** (stidi-bp §4.3, S4NN): `t_min = min_k t_k`; if `t_min = t_max`, `T_k = t_max`
//!    and `T_y = t_max − γ` (saturating at 0); else `T_k = t_k`, `T_k = min(t_min + γ, t_max)`
//!    for every `k` with `t_k − t_min < γ`, and finally `T_y = t_min`.
//! 3. **Output error** (§4.4): `e_k = T_k − t_k` (integers; `1/t_max` cancels), then
//!    `δ = l2_normalise(e)` in Q1.15 ([`isa::arith::l2_normalise`]: `isqrt` floor, division
//!    to nearest with ties away from zero, saturated to `[-32768, 32767]`).
//! 4. **Latent update of layer `l`** (§5.1 with §9's rounding point 4): for every input row `i`
//!    in ascending order, for every neuron `j` in ascending order with `δ_j ≠ 0` and
//!    `t_i < t_j`: `Δ = round((−δ_j · η_l) / 2^shift)` by [`OnChipRule::rounding`]
//!    ([`isa::arith::mul_shr_round`], 32-bit saturation), then
//!    `w̃_ji = sat_latent_bits(w̃_ji + Δ)` (exact sum, one saturation). A stochastic rounding
//!    draws one LFSR word per update from the LFSR of the **core** that holds neuron `j`
//!    (see [`OnChipTrainer::new`]: a layer is split into contiguous chunks, one LFSR each).
//! 5. **Hidden error** of layer `l − 1` (computed with the *already updated* `w̃` of layer `l`,
//!    as S4NN does): `g_j = wrap32( Σ_k [t_j < t_k] · sat32((δ_k · w̃_kj) >> hidden_shift) )`
//!    with a floor shift per term (`vmulsh.floor`; so the sum is the same however the layer is
//!    split over cores: wrapping addition is associative), then `g_j = sat24(g_j)` and
//!    `δ = l2_normalise(g)` per normalisation group ([`Normalisation`]).
//! 6. **Binary weights** refreshed from the signs of the latent weights.
//! 7. **Thresholds** (optional, [`OnChipRule::thresholds`]; off: unchanged): per neuron, a
//!    fixed-point latent threshold moved by `round_ne(δ_j · η_θ / 2^shift)`, lowered by a
//!    homeostatic step after `window` consecutive silent samples, clamped; the comparator is
//!    its rounded integer part ([`ThresholdLearning`]).
//!
//! Every quantity is an integer; nothing depends on thread count or platform.

use crate::error::{RunError, Violation};
use crate::golden::GoldenNetwork;
use crate::network::{LayerKind, Network, NeuronModel, SpikeTime, Weights};
use crate::train::Trainer;
use isa::arith::{l2_normalise, mul_shr_round, BitWidth, ErrorQ1_15, Lfsr, Rounding, Word};

/// Largest `|g|` a hidden error may have before normalisation (24-bit saturation), which keeps
/// the `u64` sum of squares of up to `2^17` neurons from overflowing.
pub const HIDDEN_ERROR_BITS: u32 = 24;

/// Largest number of neurons in one normalisation group (see [`HIDDEN_ERROR_BITS`]).
pub const MAX_NORM_GROUP: usize = 1 << 17;

/// Over which neurons a hidden layer's error vector is L2-normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalisation {
    /// The whole layer (S4NN; on chip this needs a cross-core reduction of `Σ g²`).
    Layer,
    /// Each core's chunk of the layer on its own (no cross-core traffic).
    Core,
}

/// The parameters of the fixed-point learning rule (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct OnChipRule {
    /// Target margin γ in time steps (S4NN 3, BS4NN 1).
    pub gamma: u16,
    /// Learning-rate multiplier `η_l` of each weighted layer (input side first).
    pub eta: Vec<i32>,
    /// Right shift of the update product `δ·η` (1..=31; the Q1.15 point is inside it).
    pub shift: u32,
    /// Right shift (floor) of each hidden-error term `δ_k · w̃_kj` (0..=31).
    pub hidden_shift: u32,
    /// Width of a latent weight register in bits (2..=32).
    pub latent_bits: u32,
    /// Latent value given to a binary weight `±1` of the starting network (and the scale of
    /// real-valued starting weights, which are rounded to nearest).
    pub init_magnitude: i32,
    /// Rounding of the update shift.
    pub rounding: Rounding,
    /// Normalisation of the hidden errors.
    pub normalisation: Normalisation,
    /// Seed of the LFSR streams (one per layer chunk: `Lfsr::for_stream(seed, l << 32 | c)`).
    pub seed: u64,
    /// Learned integer thresholds (step 7 of the rule; `None`: thresholds stay fixed).
    pub thresholds: Option<ThresholdLearning>,
}

impl OnChipRule {
    /// A rule for `layers` weighted layers with the defaults of `docs/LEARNING.md`:
    /// γ = 3, η = 1 per layer with `shift` 8 (one update moves a latent weight by at most
    /// 128 LSB), hidden shift 8, 16-bit latents initialised to `±1024`, stochastic rounding,
    /// whole-layer normalisation, seed 1.
    pub fn s4nn(layers: usize) -> OnChipRule {
        OnChipRule {
            gamma: 3,
            eta: vec![1; layers],
            shift: 8,
            hidden_shift: 8,
            latent_bits: 16,
            init_magnitude: 1024,
            rounding: Rounding::Stochastic,
            normalisation: Normalisation::Layer,
            seed: 1,
            thresholds: None,
        }
    }

    fn check(&self, layers: usize) -> Result<BitWidth, RunError> {
        let bad = |field: &str, rule: String| RunError::Config {
            field: field.into(),
            rule,
        };
        if self.eta.len() != layers {
            return Err(bad(
                "eta",
                format!(
                    "one learning rate per weighted layer: {} given, {} layers",
                    self.eta.len(),
                    layers
                ),
            ));
        }
        if !(1..=31).contains(&self.shift) {
            return Err(bad("shift", format!("{} is outside 1..=31", self.shift)));
        }
        if self.hidden_shift > 31 {
            return Err(bad(
                "hidden_shift",
                format!("{} is outside 0..=31", self.hidden_shift),
            ));
        }
        if !(2..=32).contains(&self.latent_bits) {
            return Err(bad(
                "latent_bits",
                format!("{} is outside 2..=32", self.latent_bits),
            ));
        }
        let width =
            BitWidth::new(self.latent_bits).map_err(|e| bad("latent_bits", e.to_string()))?;
        if self.init_magnitude < 1
            || i64::from(self.init_magnitude).saturate(width) != i64::from(self.init_magnitude)
        {
            return Err(bad(
                "init_magnitude",
                format!(
                    "{} must be at least 1 and fit {} bits",
                    self.init_magnitude, self.latent_bits
                ),
            ));
        }
        if let Some(t) = &self.thresholds {
            t.check(layers)?;
        }
        Ok(width)
    }
}

/// One weighted (dense) layer under training.
#[derive(Clone, Debug)]
struct LearnLayer {
    /// Index in `Network::layers`.
    index: usize,
    inputs: usize,
    outputs: usize,
    /// Row-major `w̃[j * inputs + i]` (the network's weight layout).
    latent: Vec<i32>,
    /// Neurons per chunk (core); the last chunk may be shorter.
    chunk: usize,
    /// One LFSR per chunk.
    lfsrs: Vec<Lfsr>,
}

/// What one learning step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LearnOutcome {
    /// The class decoded by the forward pass (before the update).
    pub prediction: usize,
    /// Whether it equals the label.
    pub correct: bool,
    /// Latent weights written (one per update of step 4): the `learn_updates` event count.
    pub updates: u64,
    /// The normalised output errors δ (Q1.15 raw), in output order.
    pub output_delta: Vec<i32>,
    /// The raw hidden errors of step 5 before the 24-bit saturation (the wrapping sums the
    /// cores of layer `l` send back), one vector per hidden layer, the one below the output
    /// layer first.
    pub back_errors: Vec<Vec<i32>>,
}

/// The golden on-chip trainer: the fixed-point rule of this module, written plainly.
#[derive(Clone, Debug)]
pub struct OnChipTrainer {
    rule: OnChipRule,
    width: BitWidth,
    net: Network,
    golden: GoldenNetwork,
    layers: Vec<LearnLayer>,
    /// Learned thresholds, one per weighted layer (empty when the rule has none).
    thresholds: Vec<ThresholdState>,
}

impl OnChipTrainer {
    /// A trainer for `net`, whose layers must be `Dense` (S4NN neuron: step PSP, `>`, delay 1)
    /// with an optional leading `Flatten`. `neurons_per_core[l]` is the chunk size of weighted
    /// layer `l` (the mapper's contiguous partition; `None` = the whole layer on one core); it
    /// decides the LFSR streams and, with [`Normalisation::Core`], the normalisation groups.
    pub fn new(
        net: &Network,
        rule: OnChipRule,
        neurons_per_core: Option<&[usize]>,
    ) -> Result<OnChipTrainer, RunError> {
        net.validate()?;
        let mut layers = Vec::new();
        for (index, layer) in net.layers.iter().enumerate() {
            match &layer.kind {
                LayerKind::Flatten if index == 0 => {}
                LayerKind::Dense(d) => {
                    if d.neuron != NeuronModel::S4NN {
                        return Err(RunError::Invalid(Violation::layer(
                            index,
                            &layer.name,
                            "neuron",
                            "on-chip learning needs the S4NN neuron (step PSP, V > θ, delay 1)",
                        )));
                    }
                    let (inputs, outputs) = (d.inputs as usize, d.outputs as usize);
                    layers.push(LearnLayer {
                        index,
                        inputs,
                        outputs,
                        latent: Vec::new(),
                        chunk: outputs.max(1),
                        lfsrs: Vec::new(),
                    });
                }
                _ => {
                    return Err(RunError::Invalid(Violation::layer(
                        index,
                        &layer.name,
                        "kind",
                        "on-chip learning supports Dense layers (and one leading Flatten) only",
                    )))
                }
            }
        }
        let width = rule.check(layers.len())?;
        if let Some(chunks) = neurons_per_core {
            if chunks.len() != layers.len() {
                return Err(RunError::Config {
                    field: "neurons_per_core".into(),
                    rule: format!(
                        "one chunk size per weighted layer: {} given, {} layers",
                        chunks.len(),
                        layers.len()
                    ),
                });
            }
            for (l, (layer, &c)) in layers.iter_mut().zip(chunks).enumerate() {
                if c == 0 {
                    return Err(RunError::Config {
                        field: format!("neurons_per_core[{l}]"),
                        rule: "must be at least 1".into(),
                    });
                }
                layer.chunk = c;
            }
        }
        for (l, layer) in layers.iter_mut().enumerate() {
            let group = match rule.normalisation {
                Normalisation::Core => layer.chunk.min(layer.outputs),
                Normalisation::Layer => layer.outputs,
            };
            if group > MAX_NORM_GROUP {
                return Err(RunError::Config {
                    field: format!("layer {l} width"),
                    rule: format!(
                        "a normalisation group may hold at most {MAX_NORM_GROUP} neurons"
                    ),
                });
            }
            let chunks = layer.outputs.div_ceil(layer.chunk);
            layer.lfsrs = (0..chunks as u64)
                .map(|c| Lfsr::for_stream(rule.seed, ((l as u64) << 32) | c))
                .collect();
            let LayerKind::Dense(d) = &net.layers[layer.index].kind else {
                continue;
            };
            let n = layer.inputs * layer.outputs;
            let m = rule.init_magnitude;
            layer.latent = (0..n)
                .map(|k| match &d.weights {
                    Weights::Binary { .. } => d.weights.int_at(k).unwrap_or(1) * m,
                    Weights::Int { values, .. } => {
                        let v = values.get(k).map(|&v| i64::from(v)).unwrap_or(0);
                        (v * i64::from(m)).saturate(width) as i32
                    }
                    Weights::Latent { values } => {
                        let v = values.get(k).copied().unwrap_or(0.0) as f64 * f64::from(m);
                        (v.round() as i64).saturate(width) as i32
                    }
                })
                .collect();
        }
        let thresholds = match &rule.thresholds {
            Some(t) => start_thresholds(t, net, &layers)?,
            None => Vec::new(),
        };
        let mut trainer = OnChipTrainer {
            rule,
            width,
            net: net.clone(),
            golden: GoldenNetwork::new(net)?,
            layers,
            thresholds,
        };
        trainer.refresh()?;
        Ok(trainer)
    }

    /// The rule in use.
    pub fn rule(&self) -> &OnChipRule {
        &self.rule
    }

    /// The current network (binary weights = signs of the latent weights).
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// Number of weighted layers.
    pub fn weighted_layers(&self) -> usize {
        self.layers.len()
    }

    /// Latent weights of weighted layer `l` (row-major `w̃[j * inputs + i]`), if it exists.
    pub fn latent(&self, l: usize) -> Option<&[i32]> {
        self.layers.get(l).map(|x| x.latent.as_slice())
    }

    /// The LFSR of chunk (core) `c` of weighted layer `l`, to align it with a chip's seeding.
    pub fn lfsr_mut(&mut self, l: usize, c: usize) -> Option<&mut Lfsr> {
        self.layers.get_mut(l)?.lfsrs.get_mut(c)
    }

    /// Decoded class of one sample under the current weights.
    pub fn classify(&self, input: &[SpikeTime]) -> Result<usize, RunError> {
        self.golden.classify(input)
    }

    /// One learning step on `input` with `label`: forward, targets, errors, latent updates of
    /// every layer (output first), binary weights refreshed. Returns what the step did; the
    /// updated weights are read with [`Self::latent`] and [`Self::network`].
    pub fn learn_sample(
        &mut self,
        input: &[SpikeTime],
        label: usize,
    ) -> Result<LearnOutcome, RunError> {
        let n_out = self.layers.last().map(|l| l.outputs).unwrap_or(0);
        if label >= n_out {
            return Err(RunError::Label {
                sample: 0,
                label,
                outputs: n_out,
            });
        }
        let trace = self.golden.forward(input)?;
        let t_max = self.net.t_max;
        // Spike times entering and leaving each weighted layer.
        let times_in: Vec<Vec<u16>> = self
            .layers
            .iter()
            .map(|l| {
                if l.index == 0 {
                    input.iter().map(|t| t.0.min(t_max)).collect()
                } else {
                    trace.layer_times[l.index - 1].iter().map(|t| t.0).collect()
                }
            })
            .collect();
        let times_out: Vec<Vec<u16>> = self
            .layers
            .iter()
            .map(|l| trace.layer_times[l.index].iter().map(|t| t.0).collect())
            .collect();

        let out_times = times_out.last().map(Vec::as_slice).unwrap_or(&[]);
        let targets = targets(out_times, label, self.rule.gamma, t_max);
        let e: Vec<i32> = targets
            .iter()
            .zip(out_times)
            .map(|(&tk, &t)| i32::from(tk) - i32::from(t))
            .collect();
        let mut delta = normalise_groups(&e, e.len().max(1))?;
        let output_delta = delta.clone();

        let mut updates = 0u64;
        let mut flipped = false;
        let mut back_errors = Vec::new();
        for l in (0..self.layers.len()).rev() {
            let (u, f) = self.update_layer(l, &delta, &times_in[l], &times_out[l]);
            updates += u;
            flipped |= f;
            // Step 7 (optional): this layer's thresholds; a changed comparator also rebuilds.
            flipped |= self.update_thresholds(l, &delta, &times_out[l]);
            if l > 0 {
                let raw = self.hidden_error(l, &delta, &times_in[l], &times_out[l]);
                let g: Vec<i32> = raw
                    .iter()
                    .map(|&x| i64::from(x).saturate(BitWidth::W24) as i32)
                    .collect();
                back_errors.push(raw);
                let group = match self.rule.normalisation {
                    Normalisation::Layer => g.len().max(1),
                    Normalisation::Core => self.layers[l - 1].chunk,
                };
                delta = normalise_groups(&g, group)?;
            }
        }
        if flipped {
            // Step 6; with no sign change the binary network is already current.
            self.refresh()?;
        }
        Ok(LearnOutcome {
            prediction: trace.prediction,
            correct: trace.prediction == label,
            updates,
            output_delta,
            back_errors,
        })
    }

    /// Step 4 for weighted layer `l`; returns the number of latent weights written and whether
    /// any of them changed sign.
    fn update_layer(
        &mut self,
        l: usize,
        delta: &[i32],
        t_in: &[u16],
        t_out: &[u16],
    ) -> (u64, bool) {
        let (shift, mode, width) = (self.rule.shift, self.rule.rounding, self.width);
        let eta = self.rule.eta[l];
        let layer = &mut self.layers[l];
        let mut updates = 0;
        let mut flipped = false;
        for (i, &ti) in t_in.iter().enumerate() {
            for (j, (&dj, &tj)) in delta.iter().zip(t_out).enumerate() {
                if dj == 0 || ti >= tj {
                    continue;
                }
                let lfsr = &mut layer.lfsrs[j / layer.chunk];
                let d = mul_shr_round(-dj, eta, shift, mode, BitWidth::W32, lfsr);
                let w = &mut layer.latent[j * layer.inputs + i];
                let before = *w < 0;
                *w = (i64::from(*w) + i64::from(d)).saturate(width) as i32;
                flipped |= before != (*w < 0);
                updates += 1;
            }
        }
        (updates, flipped)
    }

    /// Step 5: the raw hidden errors `g` (wrapping sums, before the 24-bit saturation) of the
    /// layer feeding weighted layer `l`.
    fn hidden_error(&self, l: usize, delta: &[i32], t_in: &[u16], t_out: &[u16]) -> Vec<i32> {
        let layer = &self.layers[l];
        let sh = self.rule.hidden_shift;
        t_in.iter()
            .enumerate()
            .map(|(j, &tj)| {
                let mut sum = 0i32;
                for (k, (&dk, &tk)) in delta.iter().zip(t_out).enumerate() {
                    if tj < tk {
                        let w = layer.latent[k * layer.inputs + j];
                        let term = ((i64::from(dk) * i64::from(w)) >> sh).saturate(BitWidth::W32);
                        sum = sum.wrapping_add(term as i32);
                    }
                }
                sum
            })
            .collect()
    }

    /// Step 6: binary weights from the latent signs, and the golden forward pass rebuilt.
    fn refresh(&mut self) -> Result<(), RunError> {
        for layer in &self.layers {
            if let LayerKind::Dense(d) = &mut self.net.layers[layer.index].kind {
                d.weights = Weights::pack_signs(layer.latent.iter().map(|&w| w < 0));
            }
        }
        for (state, layer) in self.thresholds.iter().zip(&self.layers) {
            if let LayerKind::Dense(d) = &mut self.net.layers[layer.index].kind {
                d.threshold = crate::network::Threshold::Neuron(state.comparator.clone());
            }
        }
        self.golden = GoldenNetwork::new(&self.net)?;
        Ok(())
    }
}

/// The starting network of an on-chip run that mirrors a host run: the host trainer's current
/// **real** latent weights (`Weights::Latent`, which [`OnChipTrainer::new`] turns into
/// `round(w · init_magnitude)`) with the host's integer thresholds (BS4NN: `⌊θ/α⌋`, as
/// [`Trainer::export`] gives them) and no scale. Called on a fresh `Trainer::new(cfg)`, it gives
/// the on-chip trainer the host's random initialisation `U[init_low, init_high)` (mostly
/// positive, diverse magnitudes; rounded to `1 / init_magnitude`), which is what lets a
/// two-layer binary net learn on chip (`docs/LEARNING.md`, "Two-layer digits recipe").
pub fn host_start_network(host: &Trainer, height: usize, width: usize) -> Network {
    let mut net = host.export(height, width);
    let mut l = 0;
    for layer in &mut net.layers {
        if let LayerKind::Dense(d) = &mut layer.kind {
            d.weights = Weights::Latent {
                values: host.real_weights(l).iter().map(|&w| w as f32).collect(),
            };
            d.scale = None;
            l += 1;
        }
    }
    net
}

/// The S4NN relative targets of §4.3 (see the module documentation, step 2).
pub fn targets(t: &[u16], label: usize, gamma: u16, t_max: u16) -> Vec<u16> {
    let t_min = t.iter().copied().min().unwrap_or(t_max);
    let mut out: Vec<u16> = if t_min >= t_max {
        vec![t_max; t.len()]
    } else {
        t.iter()
            .map(|&tk| {
                if tk - t_min < gamma {
                    t_min.saturating_add(gamma).min(t_max)
                } else {
                    tk
                }
            })
            .collect()
    };
    if let Some(y) = out.get_mut(label) {
        *y = if t_min >= t_max {
            t_max.saturating_sub(gamma)
        } else {
            t_min
        };
    }
    out
}

/// L2 normalisation to Q1.15 raw values, in consecutive groups of `group` elements.
pub fn normalise_groups(g: &[i32], group: usize) -> Result<Vec<i32>, RunError> {
    let mut out = vec![ErrorQ1_15::ZERO; g.len()];
    for (gs, os) in g.chunks(group.max(1)).zip(out.chunks_mut(group.max(1))) {
        l2_normalise(gs, os).map_err(|e| RunError::Config {
            field: "errors".into(),
            rule: e.to_string(),
        })?;
    }
    Ok(out.iter().map(|d| i32::from(d.to_bits())).collect())
}

/// Learned integer thresholds, the optional step 7 of the rule (`docs/LEARNING.md`; the
/// fixed-point form of `reference/stidi-bp.md` §7 with §9's rounding point 7). Per neuron `j`
/// of weighted layer `l`, after that layer's latent update (step 4):
///
/// - latent `θ̃_j`: a signed 32-bit register in fixed point with [`Self::frac_bits`] `F`
///   fraction bits, starting at `θ_j · 2^F` (`θ_j` the network's threshold);
/// - gradient: `θ̃_j ← clamp(θ̃_j + round_ne((δ_j · η_θ) / 2^shift), θ_min · 2^F, θ_max · 2^F)`
///   (`δ_j` the Q1.15 error of step 3 / 5, exact 64-bit product, rounded to nearest with ties
///   to even, saturated to 32 bits; `δ > 0`, "fire later", raises θ, as on the host);
/// - homeostasis (`window > 0`): a silence counter `s_j` counts the consecutive samples in
///   which `j` did not fire (`t_j = t_max`; a spike resets it to 0); when it reaches `window`,
///   `θ̃_j ← clamp(θ̃_j − step, θ_min · 2^F, θ_max · 2^F)` and `s_j ← 0`;
/// - comparator: `θ_j = clamp(⌊(θ̃_j + ⌊2^F / 2⌋) / 2^F⌋, θ_min, θ_max)` (to nearest, ties
///   up — away from zero, as `θ̃ > 0`; the clamp never acts, as `θ̃` is clamped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThresholdLearning {
    /// The parameters of each weighted layer (input side first).
    pub layers: Vec<LayerThresholdRule>,
    /// Right shift of the product `δ · η_θ` into latent LSBs (0..=31).
    pub shift: u32,
    /// Fraction bits `F` of the latent threshold (0..=16).
    pub frac_bits: u32,
}

/// The threshold-learning parameters of one weighted layer (see [`ThresholdLearning`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerThresholdRule {
    /// `η_θ`: latent LSBs per `2^shift` units of Q1.15 `δ` (0: no gradient step).
    pub eta: i32,
    /// `θ_min` of the comparator (at least 1, at most the layer's starting thresholds).
    pub min: i32,
    /// `θ_max` of the comparator (at least the layer's starting thresholds).
    pub max: i32,
    /// Homeostasis window in samples (0: no homeostasis).
    pub window: u32,
    /// Homeostatic lowering in latent LSBs (at least 0).
    pub step: i32,
}

impl LayerThresholdRule {
    /// The host's range around a starting threshold `theta` (`model::stidi` defaults: `θ_min =
    /// max(1, round(θ/4))`, `θ_max = 4θ`), gradient rate `eta`, no homeostasis.
    pub fn around(theta: i32, eta: i32) -> LayerThresholdRule {
        let theta = theta.max(1);
        LayerThresholdRule {
            eta,
            min: ((theta + 2) / 4).max(1),
            max: theta.saturating_mul(4),
            window: 0,
            step: 0,
        }
    }
}

impl ThresholdLearning {
    /// `shift` 15 (so `η_θ` is in latent LSBs per unit of `δ`) and `F` = 8 (Q.8, the host's
    /// latent format) with the given per-layer parameters.
    pub fn q8(layers: Vec<LayerThresholdRule>) -> ThresholdLearning {
        ThresholdLearning {
            layers,
            shift: 15,
            frac_bits: 8,
        }
    }

    /// Checks the parameters for a network of `layers` weighted layers.
    pub fn check(&self, layers: usize) -> Result<(), RunError> {
        let bad = |field: String, rule: String| RunError::Config { field, rule };
        if self.layers.len() != layers {
            return Err(bad(
                "thresholds.layers".into(),
                format!(
                    "one threshold rule per weighted layer: {} given, {} layers",
                    self.layers.len(),
                    layers
                ),
            ));
        }
        if self.shift > 31 {
            return Err(bad(
                "thresholds.shift".into(),
                format!("{} is outside 0..=31", self.shift),
            ));
        }
        if self.frac_bits > 16 {
            return Err(bad(
                "thresholds.frac_bits".into(),
                format!("{} is outside 0..=16", self.frac_bits),
            ));
        }
        for (l, r) in self.layers.iter().enumerate() {
            if r.min < 1 || r.max < r.min {
                return Err(bad(
                    format!("thresholds.layers[{l}]"),
                    format!("needs 1 <= min <= max ({} and {} given)", r.min, r.max),
                ));
            }
            if self.latent_of(r.max) + self.half() > i64::from(i32::MAX) {
                return Err(bad(
                    format!("thresholds.layers[{l}].max"),
                    format!(
                        "{} · 2^{} (+ the rounding half) must fit a 32-bit register",
                        r.max, self.frac_bits
                    ),
                ));
            }
            if r.step < 0 || r.window > i32::MAX as u32 {
                return Err(bad(
                    format!("thresholds.layers[{l}]"),
                    format!(
                        "needs step >= 0 and window <= {} ({} and {} given)",
                        i32::MAX,
                        r.step,
                        r.window
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `θ · 2^F`: the latent register of a comparator threshold `θ`.
    pub fn latent_of(&self, theta: i32) -> i64 {
        i64::from(theta) << self.frac_bits
    }

    /// `⌊2^F / 2⌋`, the rounding half of the comparator.
    fn half(&self) -> i64 {
        (1i64 << self.frac_bits) >> 1
    }

    /// The comparator threshold of a latent `θ̃` under layer `l`'s range:
    /// `clamp(⌊(θ̃ + ⌊2^F/2⌋) / 2^F⌋, θ_min, θ_max)`.
    pub fn comparator(&self, l: usize, latent: i32) -> i32 {
        let r = self.layers.get(l).copied().unwrap_or(LayerThresholdRule {
            eta: 0,
            min: 1,
            max: i32::MAX,
            window: 0,
            step: 0,
        });
        ((i64::from(latent) + self.half()) >> self.frac_bits)
            .clamp(i64::from(r.min), i64::from(r.max)) as i32
    }
}

/// The learned thresholds of one weighted layer.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ThresholdState {
    /// `θ̃_j` (fixed point, `F` fraction bits).
    latent: Vec<i32>,
    /// `θ_j`, the comparator thresholds of the forward pass.
    comparator: Vec<i32>,
    /// Consecutive silent samples of each neuron (homeostasis).
    silent: Vec<i32>,
}

/// The starting thresholds of every weighted layer: `θ̃ = θ · 2^F` of the network's thresholds,
/// which must lie in the layer's `[θ_min, θ_max]`.
fn start_thresholds(
    t: &ThresholdLearning,
    net: &Network,
    layers: &[LearnLayer],
) -> Result<Vec<ThresholdState>, RunError> {
    layers
        .iter()
        .zip(&t.layers)
        .enumerate()
        .map(|(l, (layer, r))| {
            let LayerKind::Dense(d) = &net.layers[layer.index].kind else {
                return Err(RunError::Config {
                    field: format!("thresholds.layers[{l}]"),
                    rule: "thresholds are learned in dense layers only".into(),
                });
            };
            let theta: Vec<i32> = (0..layer.outputs)
                .map(|j| match &d.threshold {
                    crate::network::Threshold::Layer(t) => *t,
                    crate::network::Threshold::Neuron(ts) => ts.get(j).copied().unwrap_or(0),
                })
                .collect();
            if let Some(j) = theta.iter().position(|&x| x < r.min || x > r.max) {
                return Err(RunError::Config {
                    field: format!("thresholds.layers[{l}]"),
                    rule: format!(
                        "neuron {j} starts at threshold {}, outside [min, max] = [{}, {}]",
                        theta[j], r.min, r.max
                    ),
                });
            }
            Ok(ThresholdState {
                latent: theta.iter().map(|&x| t.latent_of(x) as i32).collect(),
                comparator: theta,
                silent: vec![0; layer.outputs],
            })
        })
        .collect()
}

impl OnChipTrainer {
    /// The latent thresholds `θ̃` of weighted layer `l` (fixed point, `frac_bits` fraction
    /// bits), if the rule learns thresholds.
    pub fn threshold_latent(&self, l: usize) -> Option<&[i32]> {
        self.thresholds.get(l).map(|s| s.latent.as_slice())
    }

    /// The comparator thresholds `θ` of weighted layer `l` (those of [`Self::network`]), if
    /// the rule learns thresholds.
    pub fn thresholds(&self, l: usize) -> Option<&[i32]> {
        self.thresholds.get(l).map(|s| s.comparator.as_slice())
    }

    /// The homeostasis silence counters of weighted layer `l` (consecutive silent samples; they
    /// count only when the layer's `window` is not 0), if the rule learns thresholds.
    pub fn threshold_silence(&self, l: usize) -> Option<&[i32]> {
        self.thresholds.get(l).map(|s| s.silent.as_slice())
    }

    /// Step 7 for weighted layer `l` (see [`ThresholdLearning`]); returns whether a comparator
    /// threshold changed.
    fn update_thresholds(&mut self, l: usize, delta: &[i32], t_out: &[u16]) -> bool {
        let (Some(t), Some(state)) = (&self.rule.thresholds, self.thresholds.get_mut(l)) else {
            return false;
        };
        let Some(&r) = t.layers.get(l) else {
            return false;
        };
        let t_max = self.net.t_max;
        let (lo, hi) = (t.latent_of(r.min), t.latent_of(r.max));
        // Nearest-even rounding draws no LFSR word; the argument is never advanced.
        let mut unused = Lfsr::new(1);
        let mut changed = false;
        for (j, (&dj, &tj)) in delta.iter().zip(t_out).enumerate() {
            let step = mul_shr_round(
                dj,
                r.eta,
                t.shift,
                Rounding::NearestEven,
                BitWidth::W32,
                &mut unused,
            );
            let mut v = (i64::from(state.latent[j]) + i64::from(step)).clamp(lo, hi);
            if r.window > 0 {
                if tj >= t_max {
                    state.silent[j] += 1;
                } else {
                    state.silent[j] = 0;
                }
                if state.silent[j] >= r.window as i32 {
                    v = (v - i64::from(r.step)).clamp(lo, hi);
                    state.silent[j] = 0;
                }
            }
            state.latent[j] = v as i32;
            let c = t.comparator(l, state.latent[j]);
            changed |= c != state.comparator[j];
            state.comparator[j] = c;
        }
        changed
    }
}
