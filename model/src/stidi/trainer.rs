//! The STiDi-BP host trainer: configuration, latent weights and thresholds of every layer, the
//! online (batch 1) training loop, evaluation, and export to the chip's integer form.
//!
//! Forward weights are always integers (sign bits, or small integers rounded from the latent
//! weights) and comparator thresholds are always integers, so the trainer's forward pass *is*
//! the chip's: [`StidiTrainer::export`] gives a [`Network`] whose golden forward pass makes
//! exactly the trainer's predictions (kernels `Step` and `Ramp`).
//!
//! Determinism: all randomness comes from one `ChaCha8Rng` seeded by the caller; samples are
//! processed one at a time; parallel loops only split work whose per-element result does not
//! depend on the split (see [`super::forward`], [`super::conv`]).

use super::arch::{Arch, Geometry};
use super::conv::{conv_displacement, conv_weight_grad, pool_route};
use super::forward::{forward, ConvFanout, Kernel, NeuronSpec, Record, StageParams};
use super::rule::{
    dense_displacement, dense_weight_grad, derivative_factor, normalise, targets, BackWeights,
    Derivative, Normalisation,
};
use super::threshold::{Granularity, Homeostasis, LayerThreshold, ThresholdConfig};
use super::StidiError;
use crate::data::Dataset;
use crate::encode::{EncodingRule, LatencyEncoder};
use crate::network::{
    Conv2d, Dense, FireRule, Layer, LayerKind, MaxPool2d, Network, NeuronModel, PspKernel, Shape,
    Threshold, Weights, FORMAT_VERSION,
};
use crate::train::held_sign;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Largest number of weights in one layer (2^26), so that a huge architecture is an error
/// rather than an allocation failure.
pub const MAX_LAYER_WEIGHTS: usize = 1 << 26;

/// Offset of the no-spike decoding fallback (potentials at `t_max − 3`, as S4NN/BS4NN).
pub const FALLBACK_OFFSET: u16 = 3;

/// Forward-weight precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    /// `sign(w)` (`sign(0) = +1`), one bit per synapse (binary CSNN, §5.5).
    Binary,
    /// `clamp(round(w), −2^(b−1), 2^(b−1) − 1)`: latent weights are in integer LSBs.
    Integer {
        /// Width `b` in bits (2..=16).
        bits: u8,
    },
}

/// Order in which an epoch visits the training set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// File order.
    Sequential,
    /// A seeded permutation per epoch.
    Shuffle,
    /// `N` seeded draws with replacement (BS4NN).
    WithReplacement,
}

/// The learned per-layer scale α of BS4NN (comparator `θ/α`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScaleConfig {
    /// Initial α.
    pub init: f64,
    /// Learning rate of α: `α −= lr · mean_ji(δ_j · K_ji · sign(w_ji))`.
    pub lr: f64,
}

/// Every option of a STiDi-BP run. Per-layer vectors hold one value (used for every weighted
/// layer) or one value per weighted layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StidiConfig {
    /// Simulation window; `t_max` = no spike.
    pub t_max: u16,
    /// Intensity-to-latency formula.
    pub encoding: EncodingRule,
    /// Neuron model of every weighted layer.
    pub neuron: NeuronSpec,
    /// Latency-derivative approximation.
    pub derivative: Derivative,
    /// Error normalisation.
    pub normalisation: Normalisation,
    /// Update size for small errors: with `Some(k)`, every layer's normalised `δ` of a sample
    /// is multiplied by `min(1, ‖e_out‖₂ / k)` (`e_out` = output target minus spike time, in
    /// steps), so a sample that is nearly right moves the weights proportionally less instead
    /// of by a full unit-norm step; `None`: the plain rule (every erring sample takes a full
    /// step).
    #[serde(default)]
    pub error_knee: Option<f32>,
    /// Weights that carry displacements down.
    pub back_weights: BackWeights,
    /// Forward-weight precision.
    pub precision: Precision,
    /// Learning rate η per weighted layer.
    pub lr: Vec<f32>,
    /// Learning rate of the output layer, overriding `lr` (`None` = use `lr`).
    pub lr_output: Option<f32>,
    /// Every learning rate is multiplied by `lr_decay^epoch`.
    pub lr_decay: f64,
    /// Latent-weight initialisation `U[low, high)` per weighted layer.
    pub init_low: Vec<f32>,
    /// See `init_low`.
    pub init_high: Vec<f32>,
    /// Latent weights are clamped to `±clip` after each update (`None` = unbounded).
    pub latent_clip: Option<f32>,
    /// Initial threshold per weighted layer; empty = `round(theta_per_fan_in · fan_in)`.
    pub theta_init: Vec<i32>,
    /// Initial threshold per unit of fan-in when `theta_init` is empty.
    pub theta_per_fan_in: f64,
    /// Threshold granularity, learning and homeostasis.
    pub thresholds: ThresholdConfig,
    /// Learned BS4NN scale α (`None` = α fixed at 1).
    pub scale: Option<ScaleConfig>,
    /// Target margin γ.
    pub gamma: u16,
    /// Label target `t_max − silent_label_shift` when no output fires.
    pub silent_label_shift: u16,
    /// Sample order.
    pub order: Order,
    /// Dead-neuron limit: a neuron firing on fewer than this fraction of samples is dead
    /// (S4NN: 0.001); also the homeostasis limit.
    pub dead_fraction: f64,
    /// Dead-channel re-draw (the S4NN rescue per output channel, `None` = off): after each
    /// epoch, every hidden output channel (a conv feature map, or one dense neuron) whose
    /// neurons fired on average on fewer than this fraction of the epoch's samples gets its
    /// latent weights re-drawn from `U[init_low, init_high)` and its thresholds reset to the
    /// initial value. Shared conv weights cannot be rescued neuron by neuron: a channel whose
    /// kernel went negative is silent at every position, and lowering thresholds cannot revive it.
    #[serde(default)]
    pub redraw_rate: Option<f64>,
    /// Sign hysteresis of binary forward weights, in latent units (0 = the sign of the
    /// latent): a forward +1 turns to −1 only when its latent falls below `−h`, and −1 turns
    /// to +1 only when it reaches `+h`. It damps the sign turns of latents that hover around
    /// zero; binary precision only.
    #[serde(default)]
    pub sign_hysteresis: f32,
    /// Firing-rate ceiling of hidden layers (`None` = off; needs `thresholds.homeostasis`):
    /// every homeostasis window, a hidden threshold group whose firing rate (fires per neuron
    /// and sample) exceeded this fraction has `θ̃` raised by `step · θ_init`. Keeps hidden
    /// layers sparse, so the layer above sees which inputs fired and not only when (measured
    /// harmful on Fashion-MNIST: `docs/TRAINING.md`, stop 18).
    #[serde(default)]
    pub rate_ceiling: Option<f64>,
    /// Run the neurons of large layers in parallel (never changes results).
    pub parallel: bool,
}

impl StidiConfig {
    /// The default STiDi-BP setting measured best on digits (see `docs/TRAINING.md`): binary
    /// weights, ramp PSP, `>` with one step of delay (the chip's mesh transit), chord
    /// derivative, L2 normalisation, displacements through the forward weights, latent weights
    /// in `[−1, 1]`, `θ = 40 · fan-in`, learned per-neuron thresholds with homeostasis, γ = 20.
    pub fn binary() -> StidiConfig {
        StidiConfig {
            t_max: 256,
            encoding: EncodingRule::S4nn,
            neuron: NeuronSpec {
                kernel: Kernel::Ramp,
                fire: FireRule::Greater,
                delay: 1,
            },
            derivative: Derivative::Chord,
            normalisation: Normalisation::L2,
            error_knee: None,
            back_weights: BackWeights::Forward,
            precision: Precision::Binary,
            lr: vec![0.005],
            lr_output: Some(0.05),
            lr_decay: 0.9,
            init_low: vec![-0.5],
            init_high: vec![1.0],
            latent_clip: Some(1.0),
            theta_init: Vec::new(),
            theta_per_fan_in: 40.0,
            thresholds: ThresholdConfig {
                granularity: Granularity::Neuron,
                learn: true,
                lr: 20.0,
                min_frac: 0.25,
                max_frac: 4.0,
                homeostasis: Some(Homeostasis {
                    window: 100,
                    step: 0.05,
                }),
            },
            scale: None,
            gamma: 20,
            silent_label_shift: 20,
            order: Order::Shuffle,
            dead_fraction: 0.001,
            redraw_rate: None,
            sign_hysteresis: 0.0,
            rate_ceiling: None,
            parallel: true,
        }
    }
}

/// Summary of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// Epoch number (1-based).
    pub epoch: usize,
    /// Samples seen.
    pub samples: usize,
    /// Training accuracy measured on the fly (decoded before each update).
    pub train_accuracy: f64,
    /// Mean output loss `½ Σ_k ((T_k − t_k)/t_max)²`.
    pub mean_loss: f64,
    /// Fraction of dead neurons over all hidden weighted layers (fired on fewer than
    /// `dead_fraction` of the epoch's samples).
    pub dead_fraction: f64,
    /// Dead fraction per weighted layer (output last).
    pub dead_per_layer: Vec<f64>,
    /// Mean comparator threshold per weighted layer after the epoch.
    pub mean_threshold: Vec<f64>,
    /// α per weighted layer after the epoch.
    pub scales: Vec<f64>,
    /// Threshold groups lowered by homeostasis during the epoch.
    pub lowered: usize,
    /// Hidden output channels re-drawn after the epoch (see [`StidiConfig::redraw_rate`]).
    #[serde(default)]
    pub redrawn: usize,
    /// Per weighted layer: forward weights changed by updates during the epoch (binary: sign
    /// turns, each counted), the measure of how much the forward network moves.
    #[serde(default)]
    pub weight_turns: Vec<u64>,
    /// Wall-clock seconds of the epoch (informational).
    pub seconds: f64,
}

/// One weighted layer under training.
#[derive(Clone, Debug)]
struct WeightedLayer {
    stage: usize,
    latent: Vec<f32>,
    forward_real: Vec<f32>,
    theta: LayerThreshold,
    alpha: f64,
    lr: f32,
    /// Latent initialisation range `[low, high)` (also used by the dead-channel re-draw).
    init: (f32, f32),
    epoch_fires: Vec<u32>,
    /// Forward weights changed by `refresh` since the last epoch report.
    weight_turns: u64,
}

/// The STiDi-BP trainer.
#[derive(Clone, Debug)]
pub struct StidiTrainer {
    cfg: StidiConfig,
    arch: Arch,
    input: (usize, usize, usize),
    geo: Vec<Geometry>,
    layers: Vec<WeightedLayer>,
    params: Vec<StageParams>,
    encoder: LatencyEncoder,
    rng: ChaCha8Rng,
    epochs_done: usize,
    window_seen: usize,
}

fn bad(field: &str, rule: impl Into<String>) -> StidiError {
    StidiError::Config {
        field: field.into(),
        rule: rule.into(),
    }
}

/// One latent weight drawn from `U[low, high)`: the start of training and a re-drawn channel.
fn draw_latent(rng: &mut ChaCha8Rng, (low, high): (f32, f32)) -> f32 {
    low + (high - low) * rng.gen::<f32>()
}

fn per_layer<T: Copy>(v: &[T], field: &str, n: usize) -> Result<Vec<T>, StidiError> {
    match v.len() {
        1 => Ok(vec![v[0]; n]),
        l if l == n => Ok(v.to_vec()),
        l => Err(bad(
            field,
            format!("needs 1 value or one per weighted layer ({n}), found {l}"),
        )),
    }
}

impl StidiTrainer {
    /// A freshly initialised trainer for `arch` on `channels × height × width` inputs.
    pub fn new(
        arch: &Arch,
        input: (usize, usize, usize),
        config: StidiConfig,
        seed: u64,
    ) -> Result<StidiTrainer, StidiError> {
        let cfg = config;
        let geo = arch.resolve(input.0, input.1, input.2)?;
        let weighted: Vec<usize> = (0..geo.len()).filter(|&s| geo[s].is_weighted()).collect();
        let nw = weighted.len();
        if let Some(&s) = weighted
            .iter()
            .find(|&&s| geo[s].weights() > MAX_LAYER_WEIGHTS)
        {
            return Err(bad(
                "arch",
                format!(
                    "`{}`: layer {} needs {} weights, more than the {MAX_LAYER_WEIGHTS} a layer may hold",
                    arch.text(),
                    s + 1,
                    geo[s].weights()
                ),
            ));
        }
        if cfg.t_max < 8 {
            return Err(bad(
                "t_max",
                format!("must be at least 8, found {}", cfg.t_max),
            ));
        }
        if cfg.neuron.delay > 1 {
            return Err(bad(
                "neuron.delay",
                format!("must be 0 or 1, found {}", cfg.neuron.delay),
            ));
        }
        if let Kernel::SatRamp { tau } = cfg.neuron.kernel {
            if tau == 0 {
                return Err(bad("neuron.kernel", "the saturating ramp needs τ ≥ 1"));
            }
        }
        if let Precision::Integer { bits } = cfg.precision {
            if !(2..=16).contains(&bits) {
                return Err(bad(
                    "precision",
                    format!("bits must be in 2..=16, found {bits}"),
                ));
            }
        }
        if cfg.gamma >= cfg.t_max || cfg.silent_label_shift >= cfg.t_max {
            return Err(bad(
                "gamma",
                "γ and the silent-label shift must be below t_max",
            ));
        }
        if !(cfg.lr_decay.is_finite() && cfg.lr_decay > 0.0) {
            return Err(bad(
                "lr_decay",
                format!("must be finite and > 0, found {}", cfg.lr_decay),
            ));
        }
        if !(cfg.dead_fraction.is_finite() && (0.0..1.0).contains(&cfg.dead_fraction)) {
            return Err(bad("dead_fraction", "must be in [0, 1)"));
        }
        if let Some(r) = cfg.redraw_rate {
            if !(r.is_finite() && (0.0..1.0).contains(&r)) {
                return Err(bad("redraw_rate", format!("must be in [0, 1), found {r}")));
            }
        }
        if let Some(k) = cfg.error_knee {
            if !(k.is_finite() && k > 0.0) {
                return Err(bad("error_knee", "must be finite and > 0 (steps)"));
            }
        }
        let th = &cfg.thresholds;
        if !(th.lr.is_finite() && th.min_frac.is_finite() && th.max_frac.is_finite())
            || th.min_frac <= 0.0
            || th.min_frac > 1.0
            || th.max_frac < 1.0
        {
            return Err(bad(
                "thresholds",
                "need finite lr, 0 < min_frac ≤ 1 ≤ max_frac",
            ));
        }
        if let Some(h) = th.homeostasis {
            if !(h.step.is_finite() && h.step > 0.0) {
                return Err(bad("thresholds.homeostasis.step", "must be finite and > 0"));
            }
        }
        if let Some(r) = cfg.rate_ceiling {
            if th.homeostasis.is_none() || !(r > 0.0 && r <= 1.0) {
                return Err(bad(
                    "rate_ceiling",
                    "must lie in (0, 1] and needs thresholds.homeostasis (its window and step)",
                ));
            }
        }
        if let Some(s) = cfg.scale {
            if !(s.init.is_finite() && s.init > 0.0 && s.lr.is_finite()) {
                return Err(bad("scale", "need a finite init > 0 and a finite lr"));
            }
        }
        if let Some(c) = cfg.latent_clip {
            if !(c.is_finite() && c > 0.0) {
                return Err(bad("latent_clip", "must be finite and > 0"));
            }
        }
        let h = cfg.sign_hysteresis;
        if !(h.is_finite() && h >= 0.0) {
            return Err(bad(
                "sign_hysteresis",
                format!("must be finite and ≥ 0, found {h}"),
            ));
        }
        if h > 0.0 && cfg.precision != Precision::Binary {
            return Err(bad(
                "sign_hysteresis",
                "applies to binary (sign) weights only",
            ));
        }
        let mut lr = per_layer(&cfg.lr, "lr", nw)?;
        if let (Some(o), Some(last)) = (cfg.lr_output, lr.last_mut()) {
            *last = o;
        }
        let lo = per_layer(&cfg.init_low, "init_low", nw)?;
        let hi = per_layer(&cfg.init_high, "init_high", nw)?;
        if lr.iter().any(|v| !v.is_finite()) {
            return Err(bad("lr", "must be finite"));
        }
        for l in 0..nw {
            if !(lo[l].is_finite() && hi[l].is_finite() && lo[l] <= hi[l]) {
                return Err(bad(
                    "init_low",
                    format!("layer {l}: need finite low ≤ high"),
                ));
            }
        }
        let theta_init: Vec<i32> = if cfg.theta_init.is_empty() {
            if !(cfg.theta_per_fan_in.is_finite() && cfg.theta_per_fan_in > 0.0) {
                return Err(bad("theta_per_fan_in", "must be finite and > 0"));
            }
            weighted
                .iter()
                .map(|&s| {
                    ((cfg.theta_per_fan_in * geo[s].fan_in() as f64).round() as i64)
                        .clamp(1, 1 << 20) as i32
                })
                .collect()
        } else {
            let v = per_layer(&cfg.theta_init, "theta_init", nw)?;
            if let Some(t) = v.iter().find(|&&t| !(1..=1 << 20).contains(&t)) {
                return Err(bad("theta_init", format!("{t} is outside 1..=2^20")));
            }
            v
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut layers = Vec::with_capacity(nw);
        let mut params = vec![StageParams::default(); geo.len()];
        for (p, g) in params.iter_mut().zip(&geo) {
            p.fanout = ConvFanout::new(g);
        }
        for (l, &s) in weighted.iter().enumerate() {
            let g = geo[s];
            let latent: Vec<f32> = (0..g.weights())
                .map(|_| draw_latent(&mut rng, (lo[l], hi[l])))
                .collect();
            let plane = match g {
                Geometry::Conv { oh, ow, .. } => oh * ow,
                _ => 1,
            };
            let alpha = cfg.scale.map_or(1.0, |s| s.init);
            layers.push(WeightedLayer {
                stage: s,
                forward_real: Vec::new(),
                theta: LayerThreshold::new(&cfg.thresholds, g.outputs(), plane, theta_init[l]),
                alpha,
                lr: lr[l],
                init: (lo[l], hi[l]),
                epoch_fires: vec![0; g.outputs()],
                weight_turns: 0,
                latent,
            });
        }
        let mut t = StidiTrainer {
            encoder: LatencyEncoder {
                rule: cfg.encoding,
                t_max: cfg.t_max,
            },
            cfg,
            arch: arch.clone(),
            input,
            geo,
            layers,
            params: Vec::new(),
            rng,
            epochs_done: 0,
            window_seen: 0,
        };
        std::mem::swap(&mut t.params, &mut params);
        for l in 0..t.layers.len() {
            t.refresh(l);
        }
        Ok(t)
    }

    /// A trainer whose input shape is that of `data` encoded by `config.encoding` (one
    /// channel, or the two contrast maps of [`EncodingRule::OnOffCentre`]).
    pub fn for_dataset(
        arch: &Arch,
        data: &Dataset,
        config: StidiConfig,
        seed: u64,
    ) -> Result<StidiTrainer, StidiError> {
        let channels = config.encoding.channels();
        StidiTrainer::new(arch, (channels, data.height, data.width), config, seed)
    }

    /// Recomputes the forward weights and comparator thresholds of weighted layer `l`; binary
    /// signs turn under the sign hysteresis (held signs are the current forward weights).
    fn refresh(&mut self, l: usize) {
        let layer = &mut self.layers[l];
        let held = &self.params[layer.stage].weights;
        let h = self.cfg.sign_hysteresis;
        let fw: Vec<i32> = match self.cfg.precision {
            Precision::Binary if held.len() == layer.latent.len() => layer
                .latent
                .iter()
                .zip(held)
                .map(|(&w, &s)| {
                    if held_sign(s > 0, f64::from(w), f64::from(h)) {
                        1
                    } else {
                        -1
                    }
                })
                .collect(),
            Precision::Binary => layer
                .latent
                .iter()
                .map(|&w| if w < 0.0 { -1 } else { 1 })
                .collect(),
            Precision::Integer { bits } => {
                let (lo, hi) = (-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1);
                layer
                    .latent
                    .iter()
                    .map(|&w| (w.round() as i32).clamp(lo, hi))
                    .collect()
            }
        };
        if held.len() == fw.len() {
            layer.weight_turns += fw.iter().zip(held).filter(|(a, b)| a != b).count() as u64;
        }
        layer.forward_real = fw.iter().map(|&w| w as f32).collect();
        let p = &mut self.params[layer.stage];
        p.weights = fw;
        p.thresholds = layer.theta.expand(layer.alpha);
    }

    /// The configuration.
    pub fn config(&self) -> &StidiConfig {
        &self.cfg
    }

    /// The resolved layer geometry (including the implicit Flatten).
    pub fn geometry(&self) -> &[Geometry] {
        &self.geo
    }

    /// The input encoder.
    pub fn encoder(&self) -> LatencyEncoder {
        self.encoder
    }

    /// Epochs trained so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Number of weighted layers.
    pub fn weighted_layers(&self) -> usize {
        self.layers.len()
    }

    /// Latent weights of weighted layer `l` (Network layout).
    pub fn latent_weights(&self, l: usize) -> &[f32] {
        self.layers.get(l).map_or(&[], |w| &w.latent)
    }

    /// Replaces the latent weights of weighted layer `l` (same length); refreshes the forward
    /// weights.
    pub fn set_latent_weights(&mut self, l: usize, w: &[f32]) -> Result<(), StidiError> {
        let Some(layer) = self.layers.get_mut(l) else {
            return Err(bad("layer", format!("no weighted layer {l}")));
        };
        if w.len() != layer.latent.len() || w.iter().any(|x| !x.is_finite()) {
            return Err(bad(
                "weights",
                format!(
                    "need {} finite values, found {}",
                    layer.latent.len(),
                    w.len()
                ),
            ));
        }
        layer.latent.copy_from_slice(w);
        // New latents: forward weights from them alone, not held against the old ones.
        self.params[layer.stage].weights.clear();
        self.refresh(l);
        Ok(())
    }

    /// Comparator thresholds of every neuron of weighted layer `l`.
    pub fn thresholds(&self, l: usize) -> &[i32] {
        self.layers
            .get(l)
            .map_or(&[], |w| &self.params[w.stage].thresholds)
    }

    /// `(θ_min, θ_max)` of weighted layer `l`.
    pub fn threshold_range(&self, l: usize) -> (i32, i32) {
        self.layers.get(l).map_or((0, 0), |w| w.theta.range())
    }

    /// Per-layer α.
    pub fn scales(&self) -> Vec<f64> {
        self.layers.iter().map(|l| l.alpha).collect()
    }

    fn check_data(&self, data: &Dataset) -> Result<(), StidiError> {
        if self.input.0 != self.cfg.encoding.channels()
            || (data.height, data.width) != (self.input.1, self.input.2)
        {
            return Err(bad(
                "data",
                format!(
                    "`{}` has {}×{} images, the trainer was built for {}×{}×{}",
                    data.name, data.height, data.width, self.input.0, self.input.1, self.input.2
                ),
            ));
        }
        let outputs = self.arch.outputs();
        if let Some(k) = (0..data.len()).find(|&k| data.label(k) >= outputs) {
            return Err(bad(
                "data",
                format!(
                    "`{}` sample {k}: label {} is not below the {outputs} outputs",
                    data.name,
                    data.label(k)
                ),
            ));
        }
        Ok(())
    }

    /// Forward pass of one image (pixels `0..=255`) with everything recorded.
    pub fn record(&self, image: &[u8]) -> Record {
        let mut rec = Record::default();
        self.record_into(image, &mut rec, self.cfg.parallel);
        rec
    }

    fn record_into(&self, image: &[u8], rec: &mut Record, parallel: bool) {
        let mut input = Vec::with_capacity(image.len() * self.cfg.encoding.channels());
        self.encoder.encode_steps_into(image, &mut input);
        forward(
            &self.geo,
            &self.params,
            self.cfg.neuron,
            self.cfg.t_max,
            self.cfg.t_max - FALLBACK_OFFSET,
            &input,
            rec,
            parallel,
        );
    }

    /// Decoded class of one image.
    pub fn predict(&self, image: &[u8]) -> usize {
        self.record(image).prediction
    }

    /// Predictions on every image of `data` (parallel over samples; deterministic).
    pub fn predictions(&self, data: &Dataset) -> Result<Vec<usize>, StidiError> {
        self.check_data(data)?;
        Ok((0..data.len())
            .into_par_iter()
            .map_init(Record::default, |rec, k| {
                self.record_into(data.image(k), rec, false);
                rec.prediction
            })
            .collect())
    }

    /// Accuracy on `data`.
    pub fn evaluate(&self, data: &Dataset) -> Result<f64, StidiError> {
        let p = self.predictions(data)?;
        if p.is_empty() {
            return Ok(0.0);
        }
        let ok = p
            .iter()
            .enumerate()
            .filter(|(k, &c)| c == data.label(*k))
            .count();
        Ok(ok as f64 / p.len() as f64)
    }

    /// One online step: forward, targets, every layer's update. Returns the class decoded
    /// before the update and the output loss.
    pub fn train_sample(&mut self, image: &[u8], label: usize) -> Result<(usize, f64), StidiError> {
        let n = self.input.0 * self.input.1 * self.input.2;
        if image.len() != n {
            return Err(bad(
                "image",
                format!("has {} pixels, the trainer expects {n}", image.len()),
            ));
        }
        if label >= self.arch.outputs() {
            return Err(bad(
                "label",
                format!("{label} is not below the {} outputs", self.arch.outputs()),
            ));
        }
        let mut rec = Record::default();
        self.record_into(image, &mut rec, self.cfg.parallel);
        Ok(self.learn(&rec, label))
    }

    /// The backward sweep for a recorded sample.
    fn learn(&mut self, rec: &Record, label: usize) -> (usize, f64) {
        let tm = self.cfg.t_max;
        let ns = self.geo.len();
        for layer in &mut self.layers {
            let times = &rec.times[layer.stage + 1];
            layer.theta.record(times, tm);
            for (c, &t) in layer.epoch_fires.iter_mut().zip(times) {
                *c += u32::from(t < tm);
            }
        }
        let out = &rec.times[ns];
        let target = targets(out, label, self.cfg.gamma, self.cfg.silent_label_shift, tm);
        let mut disp: Vec<f32> = target
            .iter()
            .zip(out)
            .map(|(&a, &b)| f32::from(a) - f32::from(b))
            .collect();
        let loss = 0.5
            * disp
                .iter()
                .map(|&e| f64::from(e / f32::from(tm)).powi(2))
                .sum::<f64>();
        let sched = self.cfg.lr_decay.powi(self.epochs_done.min(1 << 20) as i32);
        let knee_factor = self.cfg.error_knee.map_or(1.0, |k| {
            let norm = disp.iter().map(|&e| e * e).sum::<f32>().sqrt();
            (norm / k).min(1.0)
        });
        let first_weighted = self.layers.first().map_or(0, |l| l.stage);
        let mut wl = self.layers.len();
        for st in (0..ns).rev() {
            if disp.iter().all(|&d| d == 0.0) {
                break;
            }
            let g = self.geo[st];
            let tin = &rec.times[st];
            let tout = &rec.times[st + 1];
            match g {
                Geometry::Flatten { .. } => {}
                Geometry::Pool { .. } => disp = pool_route(g.inputs(), &rec.argmin[st], &disp),
                Geometry::Conv { .. } | Geometry::Dense { .. } => {
                    wl -= 1;
                    let neuron = self.cfg.neuron;
                    let p = &self.params[st];
                    let gvec: Vec<f32> = disp
                        .iter()
                        .enumerate()
                        .map(|(j, &e)| {
                            if e == 0.0 {
                                0.0
                            } else {
                                e * derivative_factor(
                                    self.cfg.derivative,
                                    tout[j],
                                    p.thresholds[j],
                                    rec.slopes[st][j],
                                )
                            }
                        })
                        .collect();
                    let mut delta = normalise(&gvec, self.cfg.normalisation, tm);
                    if knee_factor < 1.0 {
                        delta.iter_mut().for_each(|d| *d *= knee_factor);
                    }
                    let layer = &self.layers[wl];
                    let wback = match self.cfg.back_weights {
                        BackWeights::Latent => &layer.latent,
                        BackWeights::Forward => &layer.forward_real,
                    };
                    let want_prev = st > first_weighted;
                    let (prev, grad) = match g {
                        Geometry::Conv { .. } => (
                            want_prev.then(|| {
                                conv_displacement(
                                    &g,
                                    &gvec,
                                    wback,
                                    tin,
                                    tout,
                                    neuron.kernel,
                                    tm,
                                    self.cfg.parallel,
                                )
                            }),
                            conv_weight_grad(
                                &g,
                                &delta,
                                tin,
                                tout,
                                neuron.kernel,
                                tm,
                                self.cfg.parallel,
                            ),
                        ),
                        _ => (
                            want_prev.then(|| {
                                dense_displacement(
                                    g.inputs(),
                                    &gvec,
                                    wback,
                                    tin,
                                    tout,
                                    neuron.kernel,
                                    tm,
                                )
                            }),
                            dense_weight_grad(
                                g.inputs(),
                                &delta,
                                tin,
                                tout,
                                neuron.kernel,
                                tm,
                                self.cfg.parallel,
                            ),
                        ),
                    };
                    let layer = &mut self.layers[wl];
                    let lr = layer.lr * sched as f32;
                    let clip = self.cfg.latent_clip;
                    let mut sign_sum = 0f64;
                    for ((w, &gr), &f) in
                        layer.latent.iter_mut().zip(&grad).zip(&layer.forward_real)
                    {
                        if gr != 0.0 {
                            *w -= lr * gr;
                            if let Some(c) = clip {
                                *w = w.clamp(-c, c);
                            }
                            sign_sum += f64::from(gr) * f64::from(f.signum());
                        }
                    }
                    if self.cfg.thresholds.learn {
                        layer.theta.update(&delta, self.cfg.thresholds.lr * sched);
                    }
                    if let Some(s) = self.cfg.scale {
                        let mean = sign_sum / grad.len().max(1) as f64;
                        layer.alpha = (layer.alpha - s.lr * sched * mean).max(1e-3);
                    }
                    self.refresh(wl);
                    match prev {
                        Some(p) => disp = p,
                        None => break,
                    }
                }
            }
        }
        (rec.prediction, loss)
    }

    /// Runs homeostasis on every layer; returns the number of threshold groups lowered.
    fn homeostasis(&mut self) -> usize {
        let Some(h) = self.cfg.thresholds.homeostasis else {
            return 0;
        };
        let mut lowered = 0;
        let hidden = self.layers.len().saturating_sub(1);
        for l in 0..self.layers.len() {
            match self.cfg.rate_ceiling {
                Some(r) if l < hidden => {
                    self.layers[l].theta.raise_busy(r, h.step);
                }
                _ => {}
            }
            lowered += self.layers[l]
                .theta
                .homeostasis(self.cfg.dead_fraction, h.step);
            self.refresh(l);
        }
        lowered
    }

    /// Re-draws the hidden output channels that were silent over an epoch of `samples` samples
    /// (see [`StidiConfig::redraw_rate`]); returns how many. Channels are visited in layer and
    /// channel order and draw from the trainer's generator, so the result is deterministic.
    fn redraw_dead_channels(&mut self, samples: usize) -> usize {
        let Some(rate) = self.cfg.redraw_rate else {
            return 0;
        };
        let mut redrawn = 0;
        for l in 0..self.layers.len().saturating_sub(1) {
            let g = self.geo[self.layers[l].stage];
            let (channels, plane) = match g {
                Geometry::Conv { cout, oh, ow, .. } => (cout, oh * ow),
                _ => (g.outputs(), 1),
            };
            let fan_in = g.fan_in();
            let limit = rate * (plane * samples) as f64;
            let layer = &mut self.layers[l];
            let mut any = false;
            for c in 0..channels {
                let fires: u64 = layer.epoch_fires[c * plane..(c + 1) * plane]
                    .iter()
                    .map(|&f| u64::from(f))
                    .sum();
                if fires as f64 >= limit && fires > 0 {
                    continue;
                }
                let held = &mut self.params[layer.stage].weights;
                for (w, s) in layer.latent[c * fan_in..(c + 1) * fan_in]
                    .iter_mut()
                    .zip(&mut held[c * fan_in..(c + 1) * fan_in])
                {
                    *w = draw_latent(&mut self.rng, layer.init);
                    // A re-drawn weight starts from its own sign, not held against the old.
                    *s = if *w < 0.0 { -1 } else { 1 };
                }
                layer.theta.reset(c * plane..(c + 1) * plane);
                redrawn += 1;
                any = true;
            }
            if any {
                self.refresh(l);
            }
        }
        redrawn
    }

    /// Trains one epoch on `data`.
    pub fn train_epoch(&mut self, data: &Dataset) -> Result<EpochStats, StidiError> {
        self.train_epoch_with(data, |_, _| {})
    }

    /// Trains one epoch, calling `progress(done, correct)` after every sample.
    pub fn train_epoch_with(
        &mut self,
        data: &Dataset,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<EpochStats, StidiError> {
        self.check_data(data)?;
        let start = Instant::now();
        let n = data.len();
        let order: Vec<usize> = match self.cfg.order {
            Order::Sequential => (0..n).collect(),
            Order::WithReplacement => (0..n).map(|_| self.rng.gen_range(0..n.max(1))).collect(),
            Order::Shuffle => {
                let mut v: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    let j = self.rng.gen_range(0..=i);
                    v.swap(i, j);
                }
                v
            }
        };
        for l in &mut self.layers {
            l.epoch_fires.iter_mut().for_each(|c| *c = 0);
        }
        let window = self.cfg.thresholds.homeostasis.map_or(0, |h| h.window);
        let mut rec = Record::default();
        let (mut correct, mut loss_sum, mut lowered) = (0usize, 0f64, 0usize);
        for (done, &k) in order.iter().enumerate() {
            self.record_into(data.image(k), &mut rec, self.cfg.parallel);
            let (pred, loss) = self.learn(&rec, data.label(k));
            correct += usize::from(pred == data.label(k));
            loss_sum += loss;
            self.window_seen += 1;
            if window > 0 && self.window_seen >= window {
                lowered += self.homeostasis();
                self.window_seen = 0;
            }
            progress(done + 1, correct);
        }
        let limit = self.cfg.dead_fraction * n as f64;
        let dead_per_layer: Vec<f64> = self
            .layers
            .iter()
            .map(|l| {
                let dead = l
                    .epoch_fires
                    .iter()
                    .filter(|&&c| f64::from(c) < limit || c == 0)
                    .count();
                dead as f64 / l.epoch_fires.len().max(1) as f64
            })
            .collect();
        let hidden = &self.layers[..self.layers.len() - 1];
        let (hd, ht) = hidden.iter().fold((0usize, 0usize), |(d, t), l| {
            let dead = l
                .epoch_fires
                .iter()
                .filter(|&&c| f64::from(c) < limit || c == 0)
                .count();
            (d + dead, t + l.epoch_fires.len())
        });
        if window == 0 {
            lowered += self.homeostasis();
            self.window_seen = 0;
        }
        let redrawn = self.redraw_dead_channels(n);
        self.epochs_done += 1;
        Ok(EpochStats {
            epoch: self.epochs_done,
            samples: n,
            train_accuracy: if n == 0 {
                0.0
            } else {
                correct as f64 / n as f64
            },
            mean_loss: if n == 0 { 0.0 } else { loss_sum / n as f64 },
            dead_fraction: if ht == 0 { 0.0 } else { hd as f64 / ht as f64 },
            dead_per_layer,
            mean_threshold: self
                .layers
                .iter()
                .map(|l| {
                    let t = &self.params[l.stage].thresholds;
                    t.iter().map(|&x| f64::from(x)).sum::<f64>() / t.len().max(1) as f64
                })
                .collect(),
            scales: self.scales(),
            lowered,
            redrawn,
            weight_turns: self
                .layers
                .iter_mut()
                .map(|l| std::mem::take(&mut l.weight_turns))
                .collect(),
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// The trained network in the chip's form: sign (or small-integer) weights, integer
    /// thresholds (per layer, or per neuron when the granularity is finer), the trainer's neuron
    /// model, encoding and fallback. Its golden forward pass makes exactly the trainer's
    /// predictions. Fails for the saturating-ramp kernel, which the chip does not have.
    pub fn export(&self) -> Result<Network, StidiError> {
        let kernel = match self.cfg.neuron.kernel {
            Kernel::Step => PspKernel::Step,
            Kernel::Ramp => PspKernel::Ramp,
            Kernel::SatRamp { .. } => {
                return Err(bad(
                    "neuron.kernel",
                    "the saturating ramp has no chip form: train with Step or Ramp to export",
                ));
            }
        };
        let neuron = NeuronModel {
            kernel,
            fire: self.cfg.neuron.fire,
            delay: self.cfg.neuron.delay,
        };
        let mut layers = Vec::with_capacity(self.geo.len());
        let (mut nconv, mut npool, mut nfc) = (0, 0, 0);
        let mut wl = 0;
        let nw = self.layers.len();
        for (st, g) in self.geo.iter().enumerate() {
            let (name, kind) = match *g {
                Geometry::Flatten { .. } => ("flatten".to_string(), LayerKind::Flatten),
                Geometry::Pool { k, s, .. } => {
                    npool += 1;
                    (
                        format!("pool{npool}"),
                        LayerKind::MaxPool2d(MaxPool2d {
                            kernel: k as u32,
                            stride: s as u32,
                        }),
                    )
                }
                Geometry::Conv { .. } | Geometry::Dense { .. } => {
                    let layer = &self.layers[wl];
                    wl += 1;
                    let p = &self.params[st];
                    let weights = match self.cfg.precision {
                        Precision::Binary => Weights::pack_signs(p.weights.iter().map(|&w| w < 0)),
                        Precision::Integer { bits } => Weights::Int {
                            bits,
                            values: p.weights.iter().map(|&w| w as i16).collect(),
                        },
                    };
                    let threshold = if layer.theta.groups() == 1 {
                        Threshold::Layer(p.thresholds.first().copied().unwrap_or(1))
                    } else {
                        Threshold::Neuron(p.thresholds.clone())
                    };
                    let scale = self.cfg.scale.map(|_| layer.alpha);
                    match *g {
                        Geometry::Conv {
                            cin,
                            cout,
                            k,
                            s,
                            p: pad,
                            ..
                        } => {
                            nconv += 1;
                            (
                                format!("conv{nconv}"),
                                LayerKind::Conv2d(Conv2d {
                                    in_channels: cin as u32,
                                    out_channels: cout as u32,
                                    kernel: k as u32,
                                    stride: s as u32,
                                    padding: pad as u32,
                                    neuron,
                                    weights,
                                    threshold,
                                    scale,
                                }),
                            )
                        }
                        Geometry::Dense { n_in, n_out } => {
                            nfc += 1;
                            let name = if wl == nw {
                                "output".to_string()
                            } else {
                                format!("fc{nfc}")
                            };
                            (
                                name,
                                LayerKind::Dense(Dense {
                                    inputs: n_in as u32,
                                    outputs: n_out as u32,
                                    neuron,
                                    weights,
                                    threshold,
                                    scale,
                                }),
                            )
                        }
                        _ => continue,
                    }
                }
            };
            layers.push(Layer { name, kind });
        }
        let net = Network {
            format_version: FORMAT_VERSION,
            input: Shape::Map {
                channels: self.input.0 as u32,
                height: self.input.1 as u32,
                width: self.input.2 as u32,
            },
            t_max: self.cfg.t_max,
            encoding: Some(self.cfg.encoding),
            fallback_offset: FALLBACK_OFFSET,
            tie_order: None,
            ties_by_potential: false,
            layers,
        };
        net.validate().map_err(|v| bad("export", v.to_string()))?;
        Ok(net)
    }
}
