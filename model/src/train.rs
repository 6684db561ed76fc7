//! The host trainer: online (one sample per update) S4NN and BS4NN training of fully connected
//! TTFS networks, exactly as the authors' reference code (`reference/stidi-bp.md` §4–§6), and
//! the export of a trained network to the chip's integer form.
//!
//! # Forward (both rules)
//!
//! Step PSP, `V > θ`, one step of delay, fake spike at `t_max` — the [`NeuronModel::S4NN`]
//! semantics of [`crate::golden`]. S4NN uses the real weights; BS4NN uses `sign(w)` (with
//! **`sign(0) = +1`**, so that a weight is one sign bit; the notebook's `cp.sign(0) = 0` only
//! differs for a latent weight of exactly 0.0) and compares the integer count with `θ/α`,
//! which for an integer `V` is the same as `V > ⌊θ/α⌋` ([`binary_threshold`]; a negative
//! `⌊θ/α⌋` is clamped to 0 so that no neuron fires without input). Each layer is event driven:
//! the inputs are bucket-sorted by spike time, integrated group by group, and the layer stops as
//! soon as every neuron has fired or no further spike can be emitted before `t_max`.
//!
//! # Backward (per sample)
//!
//! 1. Targets (§4.3): `t_min = min_k t_k`; if `t_min = t_max`, `T = t_max` everywhere and
//!    `T_y = t_max − γ` (S4NN) or `t_max` (BS4NN, no update); otherwise `T_k = t_k`, every
//!    `k` with `t_k − t_min < γ` gets `min(t_min + γ, t_max)`, and finally `T_y = t_min`.
//! 2. `δ = e / ‖e‖₂` with `e_k = (T_k − t_k) / t_max` (no update when `‖e‖ = 0`).
//! 3. For each layer from the output down, with `HF_ji = [t_i < t_j]`:
//!    `W_ji −= lr·δ_j·HF_ji`; `W −= lr·λ·W`; BS4NN only: `α −= lrF · mean_ji(δ_j·HF_ji·sign(W_ji))`;
//!    then `δ_prev_i = Σ_j W_ji·δ_j·HF_ji` with the *updated* real weights, L2-normalised.
//! 4. S4NN: after each epoch, every hidden neuron that fired on fewer than 0.1 % of the epoch's
//!    samples gets its whole input row re-drawn from `U[a, b)`.
//!
//! Weight decay is kept exact and O(1) per sample: a layer stores `W = s · w` and decay only
//! multiplies `s` (folded back into `w` when `s < 0.5`).
//!
//! Options beyond the papers' defaults, all off by default: the reference code's `DP()` dropout
//! (`dropout`), a per-epoch learning-rate decay (`lr_decay`), the silent-label target shift for
//! BS4NN (`silent_label_shift`, S4NN's rule) and any γ, θ, initialisation range or α rate;
//! the sign hysteresis, batched optimisers, forward dropout (`forward_dropout`: inputs
//! silenced in the training pass with the threshold scaled by `1 − p`) and the push on a
//! silent sample's rivals (`silent_rival_shift`) of [`TrainConfig`].
//!
//! Sampling: S4NN visits the training set in order; BS4NN draws `N` indices with replacement
//! per epoch. Everything random comes from one `ChaCha8Rng` seeded by [`TrainConfig::seed`]
//! (forward dropout from its own stream, [`dropout_generator`]), so training is deterministic;
//! only evaluation is parallel (it does not change results).

use crate::data::Dataset;
use crate::encode::{EncodingRule, LatencyEncoder};
use crate::error::RunError;
use crate::network::{
    Dense, Layer, LayerKind, Network, NeuronModel, Shape, Threshold, Weights, FORMAT_VERSION,
};
use crate::tie_order::{earliest_winner, Tie, TieOrder};
use bitvec::vec::BitVec;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The ChaCha stream of a trainer's seed that forward dropout draws from (stream 0 draws the
/// start and the sample order).
pub const DROPOUT_STREAM: u64 = 1;

/// Forward dropout's generator for `seed`: per sample, per weighted layer from the input up,
/// one `gen_bool(p_l)` per input in index order (`true` = silenced); layers with `p_l = 0`
/// draw nothing.
pub fn dropout_generator(seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(DROPOUT_STREAM);
    rng
}

/// Offset of the no-spike decoding fallback: potentials at `t_max − 3`.
pub const FALLBACK_OFFSET: u16 = 3;

/// The learning rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rule {
    /// S4NN: real weights.
    S4nn,
    /// BS4NN: sign weights forward, latent real weights, learned per-layer scale α.
    Bs4nn,
}

/// Order in which an epoch visits the training set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SampleOrder {
    /// File order (S4NN).
    Sequential,
    /// `N` uniform draws with replacement (BS4NN).
    WithReplacement,
    /// A seeded permutation.
    Shuffle,
}

/// How the latent weights follow their updates. Both papers train online (one sample, one
/// step, no momentum); the batched optimisers are departures for measuring whether the
/// optimiser limits the binary networks (docs/TRAINING.md, stop 27).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Optimiser {
    /// Each sample's update `W −= lr·δ·HF` applied at once (both papers).
    #[default]
    Online,
    /// Heavy-ball momentum on mini-batches: the updates of `batch` samples are summed into `g`
    /// (forward passes and back-propagated errors use the weights as they were at the start of
    /// the batch), then `u ← β·u + g`, `W −= lr·u`.
    Momentum {
        /// Momentum β in `[0, 1)`.
        beta: f64,
        /// Samples per step (≥ 1).
        batch: usize,
    },
    /// Adam (Kingma & Ba) on mini-batches summed as for [`Optimiser::Momentum`]:
    /// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `W −= lr·m̂/(√v̂ + 10⁻⁸)` with the
    /// bias-corrected `m̂`, `v̂`; `lr` is then a step length in latent-weight units.
    Adam {
        /// First-moment decay β₁ in `[0, 1)`.
        beta1: f64,
        /// Second-moment decay β₂ in `[0, 1)`.
        beta2: f64,
        /// Samples per step (≥ 1).
        batch: usize,
    },
}

impl Optimiser {
    /// Samples whose updates are summed into one step (1 when online).
    pub fn batch(&self) -> usize {
        match *self {
            Optimiser::Online => 1,
            Optimiser::Momentum { batch, .. } | Optimiser::Adam { batch, .. } => batch,
        }
    }
}

/// A linear schedule for [`TrainConfig::silent_rival_shift`]: the push starts at `start` steps
/// in the first epoch and reaches the configured push after `epochs` epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RivalRamp {
    /// The push in the first epoch, in time steps past `t_max`.
    pub start: u16,
    /// Epochs over which the push grows to [`TrainConfig::silent_rival_shift`] (≥ 1).
    pub epochs: usize,
}

/// Every hyper-parameter of a training run. Per-layer vectors have one entry per weighted
/// layer (`arch.len() − 1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Rule.
    pub rule: Rule,
    /// Layer sizes, input first: e.g. `[784, 400, 10]`.
    pub arch: Vec<usize>,
    /// Simulation window (256 in both papers).
    pub t_max: u16,
    /// Input encoding formula.
    pub encoding: EncodingRule,
    /// Threshold θ per layer (100).
    pub threshold: Vec<i32>,
    /// Learning rate per layer (S4NN 0.2, BS4NN 0.1). f64: the reference code's 0.2 is a
    /// float64, and the f32 nearest to 0.2 moves every update by 1.5e-8 relative.
    pub lr: Vec<f64>,
    /// Learning rate of the BS4NN scale α per layer (0.01).
    pub lr_scale: Vec<f64>,
    /// Initial BS4NN scale α per layer (5).
    pub scale_init: Vec<f64>,
    /// Weight decay λ per layer (S4NN 1e-6, BS4NN 0).
    pub weight_decay: Vec<f64>,
    /// Lower bound of the uniform weight initialisation per layer (0).
    pub init_low: Vec<f32>,
    /// Upper bound of the uniform weight initialisation per layer (5 hidden, 48 output).
    pub init_high: Vec<f32>,
    /// Target margin γ (S4NN 3, BS4NN 1).
    pub gamma: u16,
    /// When no output fires, the label's target is `t_max − silent_label_shift`
    /// (S4NN: γ; BS4NN: 0).
    pub silent_label_shift: u16,
    /// Sample order.
    pub order: SampleOrder,
    /// Dropout of the reference code's `DP()`: per layer, how many of its inputs (chosen at
    /// random per sample) count as not fired in that layer's update (0 in both papers).
    pub dropout: Vec<usize>,
    /// Dead-neuron re-initialisation: fraction of samples below which a hidden neuron's row is
    /// re-drawn after the epoch (S4NN 0.001; `None` = off, BS4NN).
    pub dead_fraction: Option<f64>,
    /// Learning-rate schedule: every learning rate (weights and α) is multiplied by
    /// `lr_decay^max(0, epoch − lr_decay_from)` (epochs counted from 0). 1.0 = constant, as in
    /// both papers.
    pub lr_decay: f64,
    /// Where the decay's epoch count starts: the rates stay constant through epoch
    /// `lr_decay_from`, so a run can explore at the papers' rate and anneal only at the end
    /// (0 = decay from the start).
    #[serde(default)]
    pub lr_decay_from: usize,
    /// BS4NN sign hysteresis per layer, in latent-weight units (empty = 0 everywhere, the
    /// notebook's rule): a forward weight +1 turns to −1 only when its latent falls below
    /// `−h`, and −1 turns to +1 only when it reaches `+h`. Not part of BS4NN; it damps the
    /// sign flips of latents that hover around zero (docs/TRAINING.md, stop 15).
    #[serde(default)]
    pub sign_hysteresis: Vec<f64>,
    /// How updates move the latent weights ([`Optimiser::Online`] in both papers).
    #[serde(default)]
    pub optimiser: Optimiser,
    /// When no output fires: every other output whose potential in the no-spike fallback's
    /// snapshot (`t_max − 3`) is at least the label's gets the error `+shift/t_max`, as if its
    /// target were `shift` steps after `t_max` (0 = off, both papers: the silent outputs get no
    /// error and the label alone is pulled earlier). It trains the decision the fallback makes.
    #[serde(default)]
    pub silent_rival_shift: u16,
    /// A schedule for the push (`None` = `silent_rival_shift` from the first epoch): it starts
    /// at `start` steps and grows linearly to `silent_rival_shift` over `epochs` epochs
    /// ([`TrainConfig::silent_rival_shift_at`]). Not part of either paper; a push that is safe
    /// late in training can silence every output when applied from the start.
    #[serde(default)]
    pub silent_rival_ramp: Option<RivalRamp>,
    /// When the label's output spikes first but another output spikes in the same step, the
    /// label's target is `t_min − tie_label_shift` instead of `t_min` (0 = off, both papers: a
    /// tie costs the label nothing, while the chip's decoder names the lowest tied index). The
    /// rivals' targets stay `t_min + γ`.
    #[serde(default)]
    pub tie_label_shift: u16,
    /// Pull the label (`tie_label_shift`) only on the ties the decoder names another class for
    /// (by the crossing potentials under `ties_by_potential`, then the tie order); `false`:
    /// on every tie the label is part of.
    #[serde(default)]
    pub tie_pull_lost_only: bool,
    /// Decode ties at the earliest spike by the larger potential at the crossing step first
    /// ([`Network::ties_by_potential`]; exported with the model). Decoding only: no update
    /// reads it.
    #[serde(default)]
    pub ties_by_potential: bool,
    /// Forward dropout per layer (empty = none, both papers): while training, each input of
    /// layer `l` is silenced (its spike removed from the forward pass and the update) with
    /// probability `p_l`, drawn per sample, and the layer compares with `θ·(1 − p_l)` so that
    /// its expected potential meets the same threshold as the whole network's at evaluation.
    /// A silenced hidden neuron gets no error, and S4NN's dead-neuron count does not see its
    /// spike. Evaluation and export see every input and `θ`.
    #[serde(default)]
    pub forward_dropout: Vec<f64>,
    /// Learned per-neuron thresholds, BS4NN only (empty = none, both papers: one fixed `θ` per
    /// layer): per layer, the step length of each neuron's own real threshold `θ_j` (0 = that
    /// layer keeps `θ`). Every `θ_j` starts at the layer's `θ`, and moves as the bias of a
    /// neuron whose potential is `Σ w − θ_j`: where the weights of the causal inputs get
    /// `−lr·δ_j`, `θ_j` gets `+lr_θ·δ_j` (through the same optimiser, under the same schedule).
    /// The forward pass and the export compare with `⌊θ_j/α⌋` per neuron.
    #[serde(default)]
    pub threshold_lr: Vec<f64>,
    /// Seed of every random choice.
    pub seed: u64,
}

fn per_layer<T: Copy>(layers: usize, hidden: T, output: T) -> Vec<T> {
    (0..layers)
        .map(|l| if l + 1 == layers { output } else { hidden })
        .collect()
}

impl TrainConfig {
    /// The S4NN reference settings (`S4NN.py`) for `arch`.
    pub fn s4nn(arch: Vec<usize>, seed: u64) -> TrainConfig {
        let n = arch.len().saturating_sub(1);
        TrainConfig {
            rule: Rule::S4nn,
            arch,
            t_max: 256,
            encoding: EncodingRule::S4nn,
            threshold: vec![100; n],
            lr: vec![0.2; n],
            lr_scale: vec![0.0; n],
            scale_init: vec![1.0; n],
            weight_decay: vec![1e-6; n],
            init_low: vec![0.0; n],
            init_high: per_layer(n, 5.0, 48.0),
            gamma: 3,
            silent_label_shift: 3,
            order: SampleOrder::Sequential,
            dropout: vec![0; n],
            dead_fraction: Some(0.001),
            lr_decay: 1.0,
            lr_decay_from: 0,
            sign_hysteresis: Vec::new(),
            forward_dropout: Vec::new(),
            threshold_lr: Vec::new(),
            silent_rival_shift: 0,
            silent_rival_ramp: None,
            tie_label_shift: 0,
            tie_pull_lost_only: false,
            ties_by_potential: false,
            optimiser: Optimiser::Online,
            seed,
        }
    }

    /// The BS4NN reference settings (`BS4NN_mnist.ipynb`) for `arch`.
    pub fn bs4nn(arch: Vec<usize>, seed: u64) -> TrainConfig {
        let n = arch.len().saturating_sub(1);
        TrainConfig {
            rule: Rule::Bs4nn,
            arch,
            t_max: 256,
            encoding: EncodingRule::Bs4nn,
            threshold: vec![100; n],
            lr: vec![0.1; n],
            lr_scale: vec![0.01; n],
            scale_init: vec![5.0; n],
            weight_decay: vec![0.0; n],
            init_low: vec![0.0; n],
            init_high: per_layer(n, 5.0, 48.0),
            gamma: 1,
            silent_label_shift: 0,
            order: SampleOrder::WithReplacement,
            dropout: vec![0; n],
            dead_fraction: None,
            lr_decay: 1.0,
            lr_decay_from: 0,
            sign_hysteresis: Vec::new(),
            forward_dropout: Vec::new(),
            threshold_lr: Vec::new(),
            silent_rival_shift: 0,
            silent_rival_ramp: None,
            tie_label_shift: 0,
            tie_pull_lost_only: false,
            ties_by_potential: false,
            optimiser: Optimiser::Online,
            seed,
        }
    }

    /// The digits recipe (BS4NN rule, binary 64-600-10 on the embedded 8×8 digits) that
    /// `spikemesh demo` trains; its departures from [`TrainConfig::bs4nn`], each measured in
    /// docs/TRAINING.md:
    /// - hidden start U[-1, 5): all-positive latents make every hidden neuron the same under
    ///   sign(w);
    /// - θ = 30 / 400 for 64 inputs / 600 hidden neurons;
    /// - γ = 120 with the S4NN silent-label target (the notebook's zero-error silent case stalls
    ///   on this set);
    /// - α frozen at 5 (learning it drifted the output threshold down on these small data);
    /// - learning rate 0.5, not 0.1 (1,437 images underfit at 0.1 in 60 epochs: seeds 1–10 mean
    ///   92.1 % against 94.95 %), annealed by 0.9 per epoch after epoch 40 of 60.
    pub fn bs4nn_digits(seed: u64) -> TrainConfig {
        let mut cfg = TrainConfig::bs4nn(vec![64, 600, 10], seed);
        cfg.init_low = vec![-1.0, 0.0];
        cfg.threshold = vec![30, 400];
        cfg.gamma = 120;
        cfg.silent_label_shift = 120;
        cfg.lr_scale = vec![0.0, 0.0];
        cfg.lr = vec![0.5, 0.5];
        cfg.lr_decay = 0.9;
        cfg.lr_decay_from = 40;
        cfg
    }

    /// The Fashion-MNIST recipe (BS4NN, `inputs`-600-10, 50 epochs: stop 13's command in
    /// docs/TRAINING.md): the digits recipe's start, target and frozen α, hidden threshold
    /// `hidden_theta` (160 for the 784 intensities, 480 for the 1,568 on/off inputs) and output
    /// threshold 400, learning rate 0.2 annealed by 0.9 per epoch after epoch 35.
    pub fn bs4nn_fashion(inputs: usize, hidden_theta: i32, seed: u64) -> TrainConfig {
        let mut cfg = TrainConfig::bs4nn_digits(seed);
        cfg.arch = vec![inputs, 600, 10];
        cfg.threshold = vec![hidden_theta, 400];
        cfg.lr = vec![0.2, 0.2];
        cfg.lr_decay_from = 35;
        cfg
    }

    /// Forward-dropout probability of weighted layer `l`'s inputs (0 when none was given).
    pub fn forward_dropout(&self, l: usize) -> f64 {
        self.forward_dropout.get(l).copied().unwrap_or(0.0)
    }

    /// Step length of weighted layer `l`'s learned per-neuron thresholds (0: fixed `θ`).
    pub fn threshold_lr(&self, l: usize) -> f64 {
        self.threshold_lr.get(l).copied().unwrap_or(0.0)
    }

    /// Sign hysteresis of weighted layer `l` (0 when none was given).
    pub fn hysteresis(&self, l: usize) -> f64 {
        self.sign_hysteresis.get(l).copied().unwrap_or(0.0)
    }

    /// The factor every learning rate is multiplied by in epoch `epoch` (from 0): 1 through
    /// epoch `lr_decay_from`, then `lr_decay`, `lr_decay²`, …
    pub fn lr_factor(&self, epoch: usize) -> f64 {
        let n = epoch.saturating_sub(self.lr_decay_from);
        self.lr_decay.powi(n.min(i32::MAX as usize) as i32)
    }

    /// The push on a silent sample's rivals in epoch `epoch` (from 0): without a ramp,
    /// `silent_rival_shift`; with one, `start + (silent_rival_shift − start)·min(epoch, epochs) /
    /// epochs` in integer arithmetic (the quotient truncated toward zero, i.e. toward `start`),
    /// so epoch 0 uses `start` and epoch `epochs` on the full push.
    pub fn silent_rival_shift_at(&self, epoch: usize) -> u16 {
        match self.silent_rival_ramp {
            Some(RivalRamp { start, epochs }) if epochs > 0 => {
                let done = epoch.min(epochs) as i64;
                let span = i64::from(self.silent_rival_shift) - i64::from(start);
                let push = i64::from(start) + span * done / epochs as i64;
                // Between `start` and `silent_rival_shift`, both u16.
                push as u16
            }
            _ => self.silent_rival_shift,
        }
    }

    /// Checks sizes and ranges.
    pub fn check(&self) -> Result<(), RunError> {
        let bad = |field: &str, rule: String| {
            Err(RunError::Config {
                field: field.into(),
                rule,
            })
        };
        if self.arch.len() < 2 || self.arch.iter().any(|&n| n == 0 || n > 1 << 20) {
            return bad(
                "arch",
                format!("needs at least 2 sizes in 1..=2^20, found {:?}", self.arch),
            );
        }
        let n = self.arch.len() - 1;
        let lens = [
            ("threshold", self.threshold.len()),
            ("lr", self.lr.len()),
            ("lr_scale", self.lr_scale.len()),
            ("scale_init", self.scale_init.len()),
            ("weight_decay", self.weight_decay.len()),
            ("init_low", self.init_low.len()),
            ("init_high", self.init_high.len()),
            ("dropout", self.dropout.len()),
        ];
        for (f, l) in lens {
            if l != n {
                return bad(f, format!("needs {n} values (one per layer), found {l}"));
            }
        }
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0) {
            return bad(
                "lr_decay",
                format!("must be finite and > 0, found {}", self.lr_decay),
            );
        }
        if let Some(r) = self.silent_rival_ramp {
            if r.epochs == 0 || self.silent_rival_shift == 0 {
                return bad(
                    "silent_rival_ramp",
                    format!(
                        "needs at least 1 epoch and a push to ramp to, found {} epochs to a push of {}",
                        r.epochs, self.silent_rival_shift
                    ),
                );
            }
        }
        if self.t_max < 4 {
            return bad("t_max", format!("must be at least 4, found {}", self.t_max));
        }
        if self.gamma >= self.t_max || self.silent_label_shift >= self.t_max {
            return bad(
                "gamma",
                "γ and the silent-label shift must be below t_max".into(),
            );
        }
        if self.tie_label_shift >= self.t_max {
            return bad(
                "tie_label_shift",
                format!(
                    "must be below t_max ({}), found {}",
                    self.t_max, self.tie_label_shift
                ),
            );
        }
        if self.threshold.iter().any(|&t| t < 0) {
            return bad("threshold", "must be ≥ 0".into());
        }
        // Optional per-layer settings: one value per layer, or none at all.
        for (field, len) in [
            ("sign_hysteresis", self.sign_hysteresis.len()),
            ("forward_dropout", self.forward_dropout.len()),
            ("threshold_lr", self.threshold_lr.len()),
        ] {
            if len != 0 && len != n {
                return bad(
                    field,
                    format!("needs {n} values (one per layer) or none, found {len}"),
                );
            }
        }
        let hyst = &self.sign_hysteresis;
        if hyst.iter().any(|h| !(h.is_finite() && *h >= 0.0)) {
            return bad(
                "sign_hysteresis",
                format!("must be finite and ≥ 0, found {hyst:?}"),
            );
        }
        if self.rule == Rule::S4nn && hyst.iter().any(|&h| h > 0.0) {
            return bad(
                "sign_hysteresis",
                "applies to sign weights (BS4NN) only; S4NN's forward weights are real".into(),
            );
        }
        let unit = |b: f64| (0.0..1.0).contains(&b);
        let fd = &self.forward_dropout;
        if !fd.iter().all(|&p| unit(p)) {
            return bad(
                "forward_dropout",
                format!("each probability must lie in [0, 1), found {fd:?}"),
            );
        }
        let tl = &self.threshold_lr;
        if tl.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return bad(
                "threshold_lr",
                format!("must be finite and ≥ 0, found {tl:?}"),
            );
        }
        if self.rule != Rule::Bs4nn && tl.iter().any(|&v| v > 0.0) {
            return bad(
                "threshold_lr",
                "learned per-neuron thresholds are for BS4NN's integer comparison only".into(),
            );
        }
        match self.optimiser {
            Optimiser::Momentum { beta, .. } if !unit(beta) => {
                return bad(
                    "optimiser",
                    format!("momentum β must lie in [0, 1), found {beta}"),
                );
            }
            Optimiser::Adam { beta1, beta2, .. } if !(unit(beta1) && unit(beta2)) => {
                return bad(
                    "optimiser",
                    format!("Adam's β₁, β₂ must lie in [0, 1), found {beta1}, {beta2}"),
                );
            }
            _ => {}
        }
        if self.optimiser.batch() == 0 {
            return bad("optimiser", "the batch needs at least 1 sample".into());
        }
        if self.scale_init.iter().any(|&a| !(a.is_finite() && a > 0.0)) {
            return bad("scale_init", "must be finite and > 0".into());
        }
        if self.lr.iter().any(|v| !v.is_finite())
            || self.lr_scale.iter().any(|v| !v.is_finite())
            || self.weight_decay.iter().any(|v| !v.is_finite() || *v < 0.0)
        {
            return bad(
                "lr",
                "learning rates and decays must be finite (decay ≥ 0)".into(),
            );
        }
        for l in 0..n {
            if !(self.init_low[l].is_finite() && self.init_high[l].is_finite())
                || self.init_low[l] > self.init_high[l]
            {
                return bad("init_low", format!("layer {l}: need finite low ≤ high"));
            }
        }
        Ok(())
    }
}

/// Parses an architecture string such as `64-100-10`.
pub fn parse_arch(s: &str) -> Result<Vec<usize>, RunError> {
    let arch: Result<Vec<usize>, _> = s.split('-').map(|p| p.trim().parse::<usize>()).collect();
    match arch {
        Ok(a) if a.len() >= 2 && a.iter().all(|&n| n > 0) => Ok(a),
        _ => Err(RunError::Config {
            field: "arch".into(),
            rule: format!("`{s}` is not sizes joined by '-' (e.g. 64-100-10), all > 0"),
        }),
    }
}

/// The forward sign after an update under a sign hysteresis `h ≥ 0` (latent units): a +1
/// turns to −1 only when the latent falls below `−h`, a −1 turns to +1 only when it reaches
/// `+h`. With `h = 0` it is the latent's own sign with `sign(0) = +1`. Both trainers use it.
pub fn held_sign(positive: bool, latent: f64, h: f64) -> bool {
    if positive {
        latent >= -h
    } else {
        latent >= h
    }
}

/// The integer threshold a BS4NN layer uses: `⌊θ/α⌋`, clamped to `0..=i32::MAX`
/// (`V > θ/α ⇔ V > ⌊θ/α⌋` for integer `V`).
pub fn binary_threshold(theta: i32, alpha: f64) -> i32 {
    binary_threshold_of(f64::from(theta), alpha)
}

/// [`binary_threshold`] of a real threshold (a learned `θ_j`): `⌊θ/α⌋`, clamped to
/// `0..=i32::MAX`.
pub fn binary_threshold_of(theta: f64, alpha: f64) -> i32 {
    let q = theta / alpha;
    if q.is_nan() || q >= f64::from(i32::MAX) {
        i32::MAX
    } else if q < 0.0 {
        0
    } else {
        q.floor() as i32
    }
}

/// Test accuracy under the two scoring rules in use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accuracy {
    /// The chip's decoding: the earliest output spike, ties by the crossing potential under
    /// [`TrainConfig::ties_by_potential`], then to the lowest index or by the trainer's
    /// learned [`TieOrder`] when it has one (no-spike fallback: argmax of the snapshot
    /// potentials).
    pub strict: f64,
    /// The same with ties to the lowest index alone, whatever the tie order and potentials
    /// (equal to `strict` when the trainer has neither).
    pub lowest_index: f64,
    /// The S4NN/BS4NN reference code's scoring: correct when the label's neuron is among the
    /// earliest spikes (a tie counts as correct); the same fallback when nothing fired. The
    /// papers' published figures use this rule.
    pub reference: f64,
    /// Samples with no output spike before `t_max`, decided by the no-spike fallback.
    pub silent: usize,
    /// Of those, how many the fallback decided right.
    pub silent_right: usize,
}

/// One weighted layer under training; weights input-major, real value `scale · w`. f64, as the
/// reference code (numpy/cupy float64): in f32 a threshold crossing within a few ulps flips
/// after a few hundred MNIST samples and the run leaves the reference's trajectory.
#[derive(Clone, Debug)]
struct TrainLayer {
    n_in: usize,
    n_out: usize,
    w: Vec<f64>,
    /// BS4NN forward weights, `±1` per stored weight (same layout as `w`): the sign of the
    /// latent, held until the latent crosses the layer's sign hysteresis on the other side.
    /// Empty for S4NN, whose forward weights are the latents themselves.
    sign: Vec<i8>,
    decay_scale: f64,
    alpha: f64,
    /// Sign changes of single weights by updates since the counter was last taken.
    sign_changes: u64,
    /// Batched optimisers: the summed real-valued updates `δ·HF` of the pending samples, and
    /// the optimiser's state per weight (momentum: `u` in `m`; Adam: `m`, `v`), all in the
    /// layout of `w`. Empty when online.
    grad: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    /// Adam steps taken (for the bias correction).
    steps: i32,
    /// Learned per-neuron thresholds `θ_j` in real units ([`TrainConfig::threshold_lr`]);
    /// empty when the layer compares with its fixed `θ`. Batched optimisers keep their summed
    /// updates and state per neuron beside them, as `grad`, `m`, `v` per weight.
    theta: Vec<f64>,
    theta_grad: Vec<f64>,
    theta_m: Vec<f64>,
    theta_v: Vec<f64>,
}

impl TrainLayer {
    /// One bit per stored weight, set where the forward sign is −1.
    fn negative(&self) -> BitVec {
        self.sign.iter().map(|&s| s < 0).collect()
    }

    /// Sets every forward sign from its latent (`sign(0) = +1`), as after an initialisation;
    /// keeps none when the forward weights are real (`binary` false).
    fn sync_signs(&mut self, binary: bool) {
        self.sign.clear();
        if binary {
            self.sign
                .extend(self.w.iter().map(|&w| if w < 0.0 { -1 } else { 1 }));
        }
    }
}

/// Progress after one sample, for progress bars.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleProgress {
    /// Samples done in this epoch.
    pub done: usize,
    /// Samples in the epoch.
    pub total: usize,
    /// Correctly decoded samples so far (decoded before the update).
    pub correct: usize,
    /// Sum of `½ Σ_k ((T_k − t_k)/t_max)²` so far.
    pub loss_sum: f64,
}

/// Summary of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// Samples seen.
    pub samples: usize,
    /// Training accuracy measured on the fly (before each update).
    pub train_accuracy: f64,
    /// Mean loss `½ Σ_k ((T_k − t_k)/t_max)²`.
    pub mean_loss: f64,
    /// Hidden neurons re-initialised after the epoch.
    pub reinitialised: usize,
    /// Per-layer α after the epoch (BS4NN).
    pub scales: Vec<f64>,
    /// BS4NN, per layer: how many times an update turned a forward sign during the epoch
    /// (each turn counted; every one changes the forward network). Zeros for S4NN.
    pub sign_changes: Vec<u64>,
    /// BS4NN, per layer: forward signs after the epoch that differ from before it (net of
    /// turns undone within the epoch). Zeros for S4NN.
    pub signs_changed: Vec<usize>,
}

/// Scratch space of one forward pass.
#[derive(Clone, Debug, Default)]
struct Scratch {
    times: Vec<Vec<u16>>,
    vf: Vec<f64>,
    vi: Vec<i32>,
    order: Vec<u32>,
    counts: Vec<u32>,
    snap_f: Vec<f64>,
    snap_i: Vec<i32>,
    snapped: bool,
    /// The output layer's potentials at each neuron's crossing step (0 where none; BS4NN's
    /// integer potentials are exact in `f64`).
    crossing: Vec<f64>,
    /// Per-neuron integer thresholds of the layer being run (BS4NN).
    thr_i: Vec<i32>,
}

/// The online S4NN / BS4NN trainer.
#[derive(Clone, Debug)]
pub struct Trainer {
    cfg: TrainConfig,
    encoder: LatencyEncoder,
    layers: Vec<TrainLayer>,
    rng: ChaCha8Rng,
    /// Forward dropout's own generator ([`DROPOUT_STREAM`] of the seed), so that switching
    /// dropout on leaves every other random choice (start, sample order) as it was.
    dropout_rng: ChaCha8Rng,
    epochs_done: usize,
    /// The running mean of every layer's real latent weights over the epochs passed to
    /// [`Trainer::average_epoch`], and how many there were.
    average: Option<(usize, Vec<Vec<f64>>)>,
    /// Samples whose updates wait in the layers' `grad` for the next optimiser step.
    pending: usize,
    /// The decoder's tie priority ([`Trainer::learn_tie_order`]); `None`: the lowest index.
    /// Decoding only: no update reads it.
    tie_order: Option<TieOrder>,
}

impl Trainer {
    /// A freshly initialised network for `cfg`.
    pub fn new(cfg: TrainConfig) -> Result<Trainer, RunError> {
        cfg.check()?;
        let seed = cfg.seed;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut layers = Vec::new();
        for l in 0..cfg.arch.len() - 1 {
            let (n_in, n_out) = (cfg.arch[l], cfg.arch[l + 1]);
            let (a, b) = (cfg.init_low[l], cfg.init_high[l]);
            // Drawn neuron by neuron (output-major, as the reference), stored input-major.
            let mut w = vec![0f64; n_in * n_out];
            for j in 0..n_out {
                for i in 0..n_in {
                    w[i * n_out + j] = f64::from(a + (b - a) * rng.gen::<f32>());
                }
            }
            let mut layer = TrainLayer {
                n_in,
                n_out,
                w,
                sign: Vec::new(),
                decay_scale: 1.0,
                alpha: cfg.scale_init[l],
                sign_changes: 0,
                grad: Vec::new(),
                m: Vec::new(),
                v: Vec::new(),
                steps: 0,
                theta: Vec::new(),
                theta_grad: Vec::new(),
                theta_m: Vec::new(),
                theta_v: Vec::new(),
            };
            let learned = cfg.threshold_lr(l) > 0.0;
            if learned {
                layer.theta = vec![f64::from(cfg.threshold[l]); n_out];
            }
            if cfg.optimiser != Optimiser::Online {
                layer.grad = vec![0.0; n_in * n_out];
                layer.m = vec![0.0; n_in * n_out];
                if learned {
                    layer.theta_grad = vec![0.0; n_out];
                    layer.theta_m = vec![0.0; n_out];
                }
            }
            if matches!(cfg.optimiser, Optimiser::Adam { .. }) {
                layer.v = vec![0.0; n_in * n_out];
                if learned {
                    layer.theta_v = vec![0.0; n_out];
                }
            }
            layer.sync_signs(cfg.rule == Rule::Bs4nn);
            layers.push(layer);
        }
        Ok(Trainer {
            encoder: LatencyEncoder {
                rule: cfg.encoding,
                t_max: cfg.t_max,
            },
            cfg,
            layers,
            rng,
            dropout_rng: dropout_generator(seed),
            epochs_done: 0,
            average: None,
            pending: 0,
            tie_order: None,
        })
    }

    /// Replaces the initial weights of weighted layer `l` by `values`, row-major
    /// (`j * inputs + i`, the model file's layout), real valued — e.g. to start the host
    /// trainer from exactly the network an on-chip learning run starts from.
    pub fn set_start_weights<T: Copy + Into<f64>>(
        &mut self,
        l: usize,
        values: &[T],
    ) -> Result<(), RunError> {
        let bad = |rule: String| RunError::Config {
            field: "start weights".into(),
            rule,
        };
        let layer = self
            .layers
            .get_mut(l)
            .ok_or_else(|| bad(format!("no weighted layer {l}")))?;
        let (n_in, n_out) = (layer.n_in, layer.n_out);
        if values.len() != n_in * n_out {
            return Err(bad(format!(
                "layer {l} needs {} values ({n_out} × {n_in}), found {}",
                n_in * n_out,
                values.len()
            )));
        }
        if let Some(k) = values.iter().position(|&v| !v.into().is_finite()) {
            return Err(bad(format!("layer {l}, weight {k} is not finite")));
        }
        for j in 0..n_out {
            for i in 0..n_in {
                layer.w[i * n_out + j] = values[j * n_in + i].into();
            }
        }
        layer.decay_scale = 1.0;
        layer.sync_signs(self.cfg.rule == Rule::Bs4nn);
        Ok(())
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// The input encoder used for training and evaluation.
    pub fn encoder(&self) -> LatencyEncoder {
        self.encoder
    }

    /// Epochs trained so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Per-layer α (BS4NN scale).
    pub fn scales(&self) -> Vec<f64> {
        self.layers.iter().map(|l| l.alpha).collect()
    }

    /// Weighted layer `l`'s learned per-neuron thresholds `θ_j` in real units, or `None` when
    /// it compares with its fixed `θ` ([`TrainConfig::threshold_lr`]).
    pub fn learned_thresholds(&self, l: usize) -> Option<&[f64]> {
        self.layers
            .get(l)
            .map(|layer| layer.theta.as_slice())
            .filter(|t| !t.is_empty())
    }

    fn check_data(&self, data: &Dataset) -> Result<(), RunError> {
        let found = data.image_len() * self.cfg.encoding.channels();
        if found != self.cfg.arch[0] {
            return Err(RunError::InputSize {
                expected: self.cfg.arch[0],
                found,
            });
        }
        let outputs = *self.cfg.arch.last().unwrap_or(&0);
        if let Some(k) = (0..data.len()).find(|&k| data.label(k) >= outputs) {
            return Err(RunError::Label {
                sample: k,
                label: data.label(k),
                outputs,
            });
        }
        Ok(())
    }

    /// Event-driven forward pass of layer `l` from the input times in `sc` into
    /// `sc.times[l + 1]`; `keep` scales its threshold (1 outside forward dropout).
    fn forward_layer(&self, l: usize, sc: &mut Scratch, want_snap: bool, keep: f64) {
        let layer = &self.layers[l];
        let tm = self.cfg.t_max;
        let (n_in, n_out) = (layer.n_in, layer.n_out);
        // Bucket sort of the input events by time (stable: ties in index order).
        sc.counts.clear();
        sc.counts.resize(tm as usize + 1, 0);
        for &t in &sc.times[l] {
            if t < tm {
                sc.counts[t as usize + 1] += 1;
            }
        }
        for t in 0..tm as usize {
            sc.counts[t + 1] += sc.counts[t];
        }
        let n_events = sc.counts[tm as usize] as usize;
        sc.order.clear();
        sc.order.resize(n_events, 0);
        {
            let mut pos: Vec<u32> = sc.counts[..tm as usize].to_vec();
            for (i, &t) in sc.times[l].iter().enumerate() {
                if t < tm {
                    sc.order[pos[t as usize] as usize] = i as u32;
                    pos[t as usize] += 1;
                }
            }
        }
        let snap_at = tm - FALLBACK_OFFSET;
        let mut out = std::mem::take(&mut sc.times[l + 1]);
        out.clear();
        out.resize(n_out, tm);
        let mut remaining = n_out;
        sc.snapped = false;
        let binary = self.cfg.rule == Rule::Bs4nn;
        // θ·keep/α = θ/(α/keep); keep = 1 leaves both comparisons exactly the papers'.
        let thr_i = binary_threshold(self.cfg.threshold[l], layer.alpha / keep);
        let thr_f = f64::from(self.cfg.threshold[l]) * keep / layer.decay_scale;
        // Learned thresholds: one integer per neuron. Otherwise the shared one stays in a
        // register: the firing check runs over every neuron at every input step.
        let per_neuron = !layer.theta.is_empty();
        if want_snap {
            sc.crossing.clear();
            sc.crossing.resize(n_out, 0.0);
        }
        if binary {
            if per_neuron {
                let a = layer.alpha / keep;
                sc.thr_i.clear();
                sc.thr_i
                    .extend(layer.theta.iter().map(|&th| binary_threshold_of(th, a)));
            }
            sc.vi.clear();
            sc.vi.resize(n_out, 0);
        } else {
            sc.vf.clear();
            sc.vf.resize(n_out, 0.0);
        }
        let mut k = 0;
        while k < n_events {
            let t = sc.times[l][sc.order[k] as usize];
            let none_fired = remaining == n_out;
            if want_snap && none_fired && !sc.snapped && t > snap_at {
                if binary {
                    sc.snap_i.clone_from(&sc.vi);
                } else {
                    sc.snap_f.clone_from(&sc.vf);
                }
                sc.snapped = true;
            }
            let can_fire = t + 1 < tm;
            if !can_fire && (!want_snap || !none_fired || sc.snapped) {
                break;
            }
            while k < n_events {
                let i = sc.order[k] as usize;
                if sc.times[l][i] != t {
                    break;
                }
                if binary {
                    let row = &layer.sign[i * n_out..(i + 1) * n_out];
                    for (v, &s) in sc.vi.iter_mut().zip(row) {
                        *v += i32::from(s);
                    }
                } else {
                    let row = &layer.w[i * n_out..(i + 1) * n_out];
                    for (v, &w) in sc.vf.iter_mut().zip(row) {
                        *v += w;
                    }
                }
                k += 1;
            }
            if can_fire {
                for (j, oj) in out.iter_mut().enumerate() {
                    if *oj == tm {
                        let fire = if !binary {
                            sc.vf[j] > thr_f
                        } else if per_neuron {
                            sc.vi[j] > sc.thr_i[j]
                        } else {
                            sc.vi[j] > thr_i
                        };
                        if fire {
                            *oj = t + 1;
                            remaining -= 1;
                            if want_snap {
                                sc.crossing[j] = if binary {
                                    f64::from(sc.vi[j])
                                } else {
                                    sc.vf[j]
                                };
                            }
                        }
                    }
                }
            }
            if remaining == 0 {
                break;
            }
        }
        if want_snap && remaining == n_out && !sc.snapped {
            if binary {
                sc.snap_i.clone_from(&sc.vi);
            } else {
                sc.snap_f.clone_from(&sc.vf);
            }
            sc.snapped = true;
        }
        let _ = n_in;
        sc.times[l + 1] = out;
    }

    fn forward(&self, image: &[u8], sc: &mut Scratch) -> usize {
        self.forward_dropped(image, sc, None)
    }

    /// The forward pass; with `dropout`'s generator, the training pass of
    /// [`TrainConfig::forward_dropout`] (inputs silenced in place in `sc.times`, so the update
    /// sees them as not fired).
    fn forward_dropped(
        &self,
        image: &[u8],
        sc: &mut Scratch,
        mut dropout: Option<&mut ChaCha8Rng>,
    ) -> usize {
        let nl = self.layers.len();
        let tm = self.cfg.t_max;
        sc.times.resize(nl + 1, Vec::new());
        sc.times[0].clear();
        self.encoder.encode_steps_into(image, &mut sc.times[0]);
        for l in 0..nl {
            let p = self.cfg.forward_dropout(l);
            let keep = match dropout.as_deref_mut() {
                Some(rng) if p > 0.0 => {
                    for t in &mut sc.times[l] {
                        if rng.gen_bool(p) {
                            *t = tm;
                        }
                    }
                    1.0 - p
                }
                _ => 1.0,
            };
            self.forward_layer(l, sc, l + 1 == nl, keep);
        }
        if let Some(class) = self.decode(sc) {
            class
        } else if self.cfg.rule == Rule::Bs4nn {
            first_argmax(&sc.snap_i)
        } else {
            first_argmax(&sc.snap_f)
        }
    }

    /// The class the decoder names from the output spikes of the forward pass in `sc`; `None`
    /// when no output spiked (the no-spike fallback decides).
    fn decode(&self, sc: &Scratch) -> Option<usize> {
        let out = &sc.times[self.layers.len()];
        let tm = self.cfg.t_max;
        let crossing = self.cfg.ties_by_potential.then_some(&sc.crossing[..]);
        earliest_winner(out, tm, crossing, self.tie_order.as_ref())
    }

    /// The training forward pass: [`TrainConfig::forward_dropout`] applied when it is set (its
    /// draws come from [`dropout_generator`]; without it, no draw is made).
    fn forward_training(&mut self, image: &[u8], sc: &mut Scratch) -> usize {
        if self.cfg.forward_dropout.iter().all(|&p| p == 0.0) {
            return self.forward(image, sc);
        }
        let mut rng = self.dropout_rng.clone();
        let pred = self.forward_dropped(image, sc, Some(&mut rng));
        self.dropout_rng = rng;
        pred
    }

    /// Decoded class of one image under the trainer's own forward pass.
    pub fn predict(&self, image: &[u8]) -> usize {
        let mut sc = Scratch::default();
        self.forward(image, &mut sc)
    }

    /// Accuracy on `data` (parallel over samples; the result does not depend on threads).
    pub fn evaluate(&self, data: &Dataset) -> Result<f64, RunError> {
        Ok(self.evaluate_scored(data)?.strict)
    }

    /// Accuracy on `data` under both scoring rules ([`Accuracy`]).
    pub fn evaluate_scored(&self, data: &Dataset) -> Result<Accuracy, RunError> {
        self.check_data(data)?;
        if data.is_empty() {
            return Ok(Accuracy {
                strict: 0.0,
                lowest_index: 0.0,
                reference: 0.0,
                silent: 0,
                silent_right: 0,
            });
        }
        let nl = self.layers.len();
        let tm = self.cfg.t_max;
        // Per sample: [strict hit, lowest-index hit, reference hit, silent, silent and right].
        let [strict, lowest_index, reference, silent, silent_right] = (0..data.len())
            .into_par_iter()
            .map_init(Scratch::default, |sc, k| {
                let label = data.label(k);
                let hit = self.forward(data.image(k), sc) == label;
                let out = &sc.times[nl];
                let t_min = out.iter().copied().min().unwrap_or(tm);
                let fired = t_min < tm;
                let (lowest_hit, ref_hit) = if fired {
                    (
                        out.iter().position(|&t| t == t_min) == Some(label),
                        out.get(label) == Some(&t_min),
                    )
                } else {
                    (hit, hit)
                };
                [hit, lowest_hit, ref_hit, !fired, !fired && hit].map(usize::from)
            })
            .reduce(|| [0; 5], |a, b| std::array::from_fn(|i| a[i] + b[i]));
        let n = data.len() as f64;
        Ok(Accuracy {
            strict: strict as f64 / n,
            lowest_index: lowest_index as f64 / n,
            reference: reference as f64 / n,
            silent,
            silent_right,
        })
    }

    /// The images of `data` whose earliest output spikes tie (two or more outputs at the
    /// earliest step), with their tied classes and labels (parallel; in sample order).
    ///
    /// # Errors
    /// Data that does not fit the network, or more than 32 outputs (a tied set is a `u32`).
    pub fn ties(&self, data: &Dataset) -> Result<Vec<Tie>, RunError> {
        self.check_data(data)?;
        let outputs = *self.cfg.arch.last().unwrap_or(&0);
        if outputs > 32 {
            return Err(RunError::Config {
                field: "tie order".into(),
                rule: format!("tied sets hold at most 32 outputs, the network has {outputs}"),
            });
        }
        let nl = self.layers.len();
        let tm = self.cfg.t_max;
        let ties: Vec<Option<Tie>> = (0..data.len())
            .into_par_iter()
            .map_init(Scratch::default, |sc, k| {
                self.forward(data.image(k), sc);
                let crossing = self.cfg.ties_by_potential.then_some(&sc.crossing[..]);
                Tie::among(&sc.times[nl], tm, crossing, data.label(k))
            })
            .collect();
        Ok(ties.into_iter().flatten().collect())
    }

    /// Learns the decoder's tie priority from `data` (its tied images, [`TieOrder::learn`]) and
    /// keeps it: evaluation and [`Trainer::export`] decode with it from now on. Training is
    /// unchanged (no update reads the decoded class). Returns the order.
    pub fn learn_tie_order(&mut self, data: &Dataset) -> Result<TieOrder, RunError> {
        let outputs = *self.cfg.arch.last().unwrap_or(&0);
        let order = TieOrder::learn(&self.ties(data)?, outputs)?;
        self.tie_order = Some(order.clone());
        Ok(order)
    }

    /// The decoder's tie priority, when one was learned.
    pub fn tie_order(&self) -> Option<&TieOrder> {
        self.tie_order.as_ref()
    }

    /// Trains one epoch on `data`, calling `progress` after every sample.
    pub fn train_epoch(
        &mut self,
        data: &Dataset,
        mut progress: impl FnMut(SampleProgress),
    ) -> Result<EpochReport, RunError> {
        self.check_data(data)?;
        let n = data.len();
        let order: Vec<usize> = match self.cfg.order {
            SampleOrder::Sequential => (0..n).collect(),
            SampleOrder::WithReplacement => {
                (0..n).map(|_| self.rng.gen_range(0..n.max(1))).collect()
            }
            SampleOrder::Shuffle => {
                let mut v: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    let j = self.rng.gen_range(0..=i);
                    v.swap(i, j);
                }
                v
            }
        };
        let nl = self.layers.len();
        let mut fire_counts: Vec<Vec<u32>> = self.layers[..nl - 1]
            .iter()
            .map(|l| vec![0u32; l.n_out])
            .collect();
        let signs_before: Vec<BitVec> = self.layers.iter().map(TrainLayer::negative).collect();
        for layer in &mut self.layers {
            layer.sign_changes = 0;
        }
        let mut sc = Scratch::default();
        let mut correct = 0usize;
        let mut loss_sum = 0f64;
        let tm = self.cfg.t_max;
        for (done, &k) in order.iter().enumerate() {
            let label = data.label(k);
            let pred = self.forward_training(data.image(k), &mut sc);
            correct += usize::from(pred == label);
            for (l, counts) in fire_counts.iter_mut().enumerate() {
                for (c, &t) in counts.iter_mut().zip(&sc.times[l + 1]) {
                    *c += u32::from(t < tm);
                }
            }
            loss_sum += self.update(label, &sc);
            progress(SampleProgress {
                done: done + 1,
                total: n,
                correct,
                loss_sum,
            });
        }
        // A batch cut short by the end of the epoch still steps, at this epoch's rate.
        self.optimiser_step();
        // Dead-neuron re-initialisation (S4NN).
        let mut reinitialised = 0;
        if let Some(frac) = self.cfg.dead_fraction {
            let limit = frac * n as f64;
            for (l, counts) in fire_counts.iter().enumerate() {
                let (a, b) = (self.cfg.init_low[l], self.cfg.init_high[l]);
                let layer = &mut self.layers[l];
                let s = layer.decay_scale;
                for (j, &c) in counts.iter().enumerate() {
                    if f64::from(c) < limit {
                        reinitialised += 1;
                        for i in 0..layer.n_in {
                            let w = f64::from(a + (b - a) * self.rng.gen::<f32>()) / s;
                            layer.w[i * layer.n_out + j] = w;
                            let at = i * layer.n_out + j;
                            if let Some(s) = layer.sign.get_mut(at) {
                                *s = if w < 0.0 { -1 } else { 1 };
                            }
                            // A re-drawn neuron starts without the old one's optimiser state.
                            for state in [&mut layer.m, &mut layer.v] {
                                if let Some(x) = state.get_mut(at) {
                                    *x = 0.0;
                                }
                            }
                        }
                    }
                }
            }
        }
        self.epochs_done += 1;
        // S4NN keeps no signs: empty bit vectors, zero changes.
        let signs_changed = self
            .layers
            .iter()
            .zip(&signs_before)
            .map(|(layer, before)| (layer.negative() ^ before).count_ones())
            .collect();
        Ok(EpochReport {
            samples: n,
            train_accuracy: if n == 0 {
                0.0
            } else {
                correct as f64 / n as f64
            },
            mean_loss: if n == 0 { 0.0 } else { loss_sum / n as f64 },
            reinitialised,
            scales: self.scales(),
            sign_changes: self.layers.iter().map(|l| l.sign_changes).collect(),
            signs_changed,
        })
    }

    /// One online step on one image: forward, targets, error, every layer's update. Returns
    /// the class decoded before the update and the sample's loss `½ Σ_k ((T_k − t_k)/t_max)²`.
    pub fn train_sample(&mut self, image: &[u8], label: usize) -> Result<(usize, f64), RunError> {
        let outputs = *self.cfg.arch.last().unwrap_or(&0);
        let found = image.len() * self.cfg.encoding.channels();
        if found != self.cfg.arch[0] {
            return Err(RunError::InputSize {
                expected: self.cfg.arch[0],
                found,
            });
        }
        if label >= outputs {
            return Err(RunError::Label {
                sample: 0,
                label,
                outputs,
            });
        }
        let mut sc = Scratch::default();
        let pred = self.forward_training(image, &mut sc);
        let loss = self.update(label, &sc);
        Ok((pred, loss))
    }

    /// Spike times of every layer (input first) under the trainer's forward pass.
    pub fn spike_times(&self, image: &[u8]) -> Vec<Vec<u16>> {
        let mut sc = Scratch::default();
        self.forward(image, &mut sc);
        sc.times
    }

    /// Real-valued weights of layer `l`, output-major (`W[j * n_in + i]`), including the decay
    /// scale.
    pub fn real_weights(&self, l: usize) -> Vec<f64> {
        let Some(tl) = self.layers.get(l) else {
            return Vec::new();
        };
        (0..tl.n_in * tl.n_out)
            .map(|n| tl.w[(n % tl.n_in) * tl.n_out + n / tl.n_in] * tl.decay_scale)
            .collect()
    }

    /// Targets, error and the updates of every layer after a forward pass in `sc`.
    fn update(&mut self, label: usize, sc: &Scratch) -> f64 {
        let nl = self.layers.len();
        let tm = self.cfg.t_max;
        let out = &sc.times[nl];
        let t_min = out.iter().copied().min().unwrap_or(tm);
        let gamma = self.cfg.gamma;
        let mut target: Vec<u16> = out.clone();
        if t_min == tm {
            target.iter_mut().for_each(|t| *t = tm);
            target[label] = tm - self.cfg.silent_label_shift;
        } else {
            let pushed = (t_min + gamma).min(tm);
            for (tk, &ok) in target.iter_mut().zip(out.iter()) {
                if ok - t_min < gamma {
                    *tk = pushed;
                }
            }
            target[label] = t_min;
            let shift = self.cfg.tie_label_shift;
            if shift > 0
                && out[label] == t_min
                && out.iter().filter(|&&o| o == t_min).count() > 1
                && (!self.cfg.tie_pull_lost_only || self.decode(sc) != Some(label))
            {
                target[label] = t_min.saturating_sub(shift);
            }
        }
        let mut err: Vec<f64> = target
            .iter()
            .zip(out.iter())
            .map(|(&tt, &o)| (f64::from(tt) - f64::from(o)) / f64::from(tm))
            .collect();
        let push = self.cfg.silent_rival_shift_at(self.epochs_done);
        if t_min == tm && push > 0 {
            // The fallback decides by the snapshot potentials: push down the label's rivals.
            let rival = f64::from(push) / f64::from(tm);
            let binary = self.cfg.rule == Rule::Bs4nn;
            let reaches_label = |k: usize| {
                if binary {
                    sc.snap_i[k] >= sc.snap_i[label]
                } else {
                    sc.snap_f[k] >= sc.snap_f[label]
                }
            };
            for (k, e) in err.iter_mut().enumerate() {
                if k != label && reaches_label(k) {
                    *e = rival;
                }
            }
        }
        let loss = 0.5 * err.iter().map(|e| e * e).sum::<f64>();
        let mut delta = normalised(err);
        for l in (0..nl).rev() {
            let k = self.cfg.dropout[l].min(self.layers[l].n_in);
            if k == 0 {
                delta = self.backward_layer(l, &sc.times[l], &sc.times[l + 1], &delta, l > 0);
            } else {
                // DP(): k distinct inputs chosen at random are "not fired" for this update.
                let mut tin = sc.times[l].clone();
                let n = tin.len();
                let mut idx: Vec<usize> = (0..n).collect();
                for a in 0..k {
                    let b = self.rng.gen_range(a..n);
                    idx.swap(a, b);
                    tin[idx[a]] = u16::MAX;
                }
                delta = self.backward_layer(l, &tin, &sc.times[l + 1], &delta, l > 0);
            }
        }
        if self.cfg.optimiser != Optimiser::Online {
            self.pending += 1;
            if self.pending == self.cfg.optimiser.batch() {
                self.optimiser_step();
            }
        }
        loss
    }

    /// Batched optimisers: one step of every layer from the updates summed since the last
    /// (nothing when none are pending), then forward signs from the moved latents. A full batch
    /// steps by itself and [`Trainer::train_epoch`] steps for the partial batch at its end; a
    /// caller driving [`Trainer::train_sample`] calls this to end a partial batch.
    pub fn optimiser_step(&mut self) {
        if self.pending == 0 {
            return;
        }
        self.pending = 0;
        let sched = self.cfg.lr_factor(self.epochs_done);
        for (l, layer) in self.layers.iter_mut().enumerate() {
            // Real W −= lr·x  ⇔  stored w −= lr·x / scale.
            let lr = self.cfg.lr[l] * sched / layer.decay_scale;
            // Learned thresholds are kept in real units: no decay scale.
            let lr_theta = self.cfg.threshold_lr(l) * sched;
            match self.cfg.optimiser {
                // Online updates move the latents in `backward_layer`; nothing is pending.
                Optimiser::Online => return,
                Optimiser::Momentum { beta, .. } => {
                    momentum_step(&mut layer.w, &mut layer.grad, &mut layer.m, beta, lr);
                    let (th, g, u) = (&mut layer.theta, &mut layer.theta_grad, &mut layer.theta_m);
                    momentum_step(th, g, u, beta, lr_theta);
                }
                Optimiser::Adam { beta1, beta2, .. } => {
                    layer.steps = layer.steps.saturating_add(1);
                    let adam = AdamStep {
                        beta1,
                        beta2,
                        c1: 1.0 - beta1.powi(layer.steps),
                        c2: 1.0 - beta2.powi(layer.steps),
                    };
                    adam.apply(
                        &mut layer.w,
                        &mut layer.grad,
                        &mut layer.m,
                        &mut layer.v,
                        lr,
                    );
                    adam.apply(
                        &mut layer.theta,
                        &mut layer.theta_grad,
                        &mut layer.theta_m,
                        &mut layer.theta_v,
                        lr_theta,
                    );
                }
            }
            if !layer.sign.is_empty() {
                let h = self.cfg.hysteresis(l) / layer.decay_scale;
                let mut crossings = 0u64;
                for (s, &w) in layer.sign.iter_mut().zip(&layer.w) {
                    let was = *s > 0;
                    let now = held_sign(was, w, h);
                    crossings += u64::from(now != was);
                    *s = if now { 1 } else { -1 };
                }
                layer.sign_changes += crossings;
            }
        }
    }

    /// Updates layer `l` with its normalised error `delta`; returns the normalised error of
    /// the layer below (empty when `want_prev` is false).
    fn backward_layer(
        &mut self,
        l: usize,
        tin: &[u16],
        tout: &[u16],
        delta: &[f64],
        want_prev: bool,
    ) -> Vec<f64> {
        let tm = self.cfg.t_max;
        let sched = self.cfg.lr_factor(self.epochs_done);
        let lr = self.cfg.lr[l] * sched;
        let binary = self.cfg.rule == Rule::Bs4nn;
        let lam = self.cfg.weight_decay[l];
        let layer = &mut self.layers[l];
        let n_out = layer.n_out;
        let mut prev = if want_prev {
            vec![0f64; layer.n_in]
        } else {
            Vec::new()
        };
        // Latest output time among neurons with an error: only earlier inputs are causal. No
        // error: no weight moves, but the weight decay still applies (the reference code
        // decays after every sample, whatever the error).
        let t_cut = delta
            .iter()
            .zip(tout.iter())
            .filter(|(d, _)| **d != 0.0)
            .map(|(_, &t)| t)
            .max()
            .unwrap_or(0);
        let s_old = layer.decay_scale;
        let s_new = s_old * (1.0 - lr * lam);
        // A forward sign turns only once its latent is past ±h on the other side (stored
        // units: the real latent is `s_old · w`). h = 0: the sign of the latent itself.
        let h = self.cfg.hysteresis(l) / s_old;
        let batched = self.cfg.optimiser != Optimiser::Online;
        // Stored update: real W -= lr·δ·HF  ⇔  w -= lr·δ·HF / s_old (online only: a batched
        // optimiser sums δ·HF and steps later).
        let step: Vec<f64> = if batched {
            Vec::new()
        } else {
            delta.iter().map(|&d| lr * d / s_old).collect()
        };
        let mut alpha_sum = 0f64;
        let mut crossings = 0u64;
        for (i, &ti) in tin.iter().enumerate() {
            if ti >= t_cut || ti >= tm {
                continue;
            }
            let row = &mut layer.w[i * n_out..(i + 1) * n_out];
            let mut acc_w = 0f64;
            let mut acc_s = 0f64;
            if batched {
                // Summed for the optimiser's step; the weights and signs stay as they are.
                let grad = &mut layer.grad[i * n_out..(i + 1) * n_out];
                for j in 0..n_out {
                    if ti < tout[j] {
                        grad[j] += delta[j];
                        acc_w += delta[j] * row[j];
                        if binary {
                            acc_s += f64::from(layer.sign[i * n_out + j]) * delta[j];
                        }
                    }
                }
            } else if binary {
                let signs = &mut layer.sign[i * n_out..(i + 1) * n_out];
                for j in 0..n_out {
                    if ti < tout[j] {
                        row[j] -= step[j];
                        let was = signs[j] > 0;
                        let now = held_sign(was, row[j], h);
                        crossings += u64::from(now != was);
                        signs[j] = if now { 1 } else { -1 };
                        acc_w += delta[j] * row[j];
                        acc_s += f64::from(signs[j]) * delta[j];
                    }
                }
            } else {
                // S4NN: real weights forward, no signs to keep.
                for j in 0..n_out {
                    if ti < tout[j] {
                        row[j] -= step[j];
                        acc_w += delta[j] * row[j];
                    }
                }
            }
            if want_prev {
                prev[i] = acc_w * s_new;
            }
            alpha_sum += acc_s;
        }
        layer.sign_changes += crossings;
        // A learned threshold is the bias of a neuron whose potential is `Σ w − θ_j`: an
        // input present from the start, so it moves against its weights, ungated by time.
        if !layer.theta.is_empty() {
            if batched {
                for (g, &d) in layer.theta_grad.iter_mut().zip(delta) {
                    *g -= d;
                }
            } else {
                let lr_t = self.cfg.threshold_lr(l) * sched;
                for (th, &d) in layer.theta.iter_mut().zip(delta) {
                    *th += lr_t * d;
                }
            }
        }
        layer.decay_scale = s_new;
        if s_new < 0.5 {
            layer.w.iter_mut().for_each(|w| *w *= s_new);
            layer.decay_scale = 1.0;
        }
        if binary {
            let mean = alpha_sum / (layer.n_in * n_out) as f64;
            layer.alpha -= self.cfg.lr_scale[l] * sched * mean;
        }
        if want_prev {
            normalised(prev)
        } else {
            prev
        }
    }

    /// Adds the current latent weights to the running mean over epochs (stochastic weight
    /// averaging: call it after each epoch from the one where averaging starts). Training is not
    /// affected; [`Trainer::averaged`] gives the averaged network.
    pub fn average_epoch(&mut self) {
        let layers = &self.layers;
        let (count, mean) = self
            .average
            .get_or_insert_with(|| (0, layers.iter().map(|l| vec![0.0; l.w.len()]).collect()));
        *count += 1;
        let c = *count as f64;
        for (m, l) in mean.iter_mut().zip(layers) {
            for (x, &w) in m.iter_mut().zip(&l.w) {
                *x += (w * l.decay_scale - *x) / c;
            }
        }
    }

    /// How many epochs [`Trainer::average_epoch`] has averaged (0: none).
    pub fn averaged_epochs(&self) -> usize {
        self.average.as_ref().map_or(0, |(c, _)| *c)
    }

    /// The network whose latent weights are the running mean of [`Trainer::average_epoch`]
    /// (BS4NN: forward signs of the mean latents, `sign(0) = +1`, whatever the sign hysteresis
    /// held), or `None` before any epoch was averaged. Learned thresholds
    /// ([`TrainConfig::threshold_lr`]) are not averaged: it keeps the current ones. It has no
    /// tie order (learn its own). Evaluate or export it like any trainer.
    pub fn averaged(&self) -> Option<Trainer> {
        let (_, mean) = self.average.as_ref()?;
        let binary = self.cfg.rule == Rule::Bs4nn;
        let mut t = self.clone();
        t.average = None;
        t.tie_order = None; // learned for the current weights, not the mean
        for (l, m) in t.layers.iter_mut().zip(mean) {
            l.w.clone_from(m);
            l.decay_scale = 1.0;
            l.sync_signs(binary);
        }
        Some(t)
    }

    /// The trained network as a model file. BS4NN: the chip's integer form (sign bits,
    /// per-layer integer threshold `⌊θ/α⌋`, `scale = α`); its golden forward pass gives exactly
    /// the trainer's predictions. S4NN: latent real weights (`scale · w`) with the integer θ.
    pub fn export(&self, height: usize, width: usize) -> Network {
        let mut layers = vec![Layer {
            name: "flatten".into(),
            kind: LayerKind::Flatten,
        }];
        let nl = self.layers.len();
        for (l, tl) in self.layers.iter().enumerate() {
            let name = if l + 1 == nl {
                "output".to_string()
            } else {
                format!("hidden{}", l + 1)
            };
            let (n_in, n_out) = (tl.n_in, tl.n_out);
            let (weights, threshold, scale) = match self.cfg.rule {
                Rule::Bs4nn => (
                    Weights::pack_signs(
                        (0..n_in * n_out).map(|n| tl.sign[(n % n_in) * n_out + n / n_in] < 0),
                    ),
                    if tl.theta.is_empty() {
                        Threshold::Layer(binary_threshold(self.cfg.threshold[l], tl.alpha))
                    } else {
                        Threshold::Neuron(
                            tl.theta
                                .iter()
                                .map(|&th| binary_threshold_of(th, tl.alpha))
                                .collect(),
                        )
                    },
                    Some(tl.alpha),
                ),
                Rule::S4nn => {
                    let s = tl.decay_scale;
                    let values = (0..n_in * n_out)
                        .map(|n| (tl.w[(n % n_in) * n_out + n / n_in] * s) as f32)
                        .collect();
                    (
                        Weights::Latent { values },
                        Threshold::Layer(self.cfg.threshold[l]),
                        None,
                    )
                }
            };
            layers.push(Layer {
                name,
                kind: LayerKind::Dense(Dense {
                    inputs: n_in as u32,
                    outputs: n_out as u32,
                    neuron: NeuronModel::S4NN,
                    weights,
                    threshold,
                    scale,
                }),
            });
        }
        Network {
            format_version: FORMAT_VERSION,
            input: Shape::Map {
                channels: self.cfg.encoding.channels() as u32,
                height: height as u32,
                width: width as u32,
            },
            t_max: self.cfg.t_max,
            encoding: Some(self.cfg.encoding),
            fallback_offset: FALLBACK_OFFSET,
            layers,
            tie_order: self.tie_order.clone(),
            ties_by_potential: self.cfg.ties_by_potential,
        }
    }
}

/// One momentum step `u ← β·u + g`, `x −= lr·u` of parameters `x` from their summed updates
/// `g` (cleared). Empty slices: nothing to do.
fn momentum_step(x: &mut [f64], g: &mut [f64], u: &mut [f64], beta: f64, lr: f64) {
    for ((x, g), u) in x.iter_mut().zip(g).zip(u) {
        *u = flush_tiny(beta * *u + *g);
        *x -= lr * *u;
        *g = 0.0;
    }
}

/// One Adam step's constants: the moment decays and their bias corrections `1 − βᵗ`.
struct AdamStep {
    beta1: f64,
    beta2: f64,
    c1: f64,
    c2: f64,
}

impl AdamStep {
    /// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `x −= lr·m̂/(√v̂ + 10⁻⁸)` for parameters
    /// `x` from their summed updates `g` (cleared). Empty slices: nothing to do.
    fn apply(&self, x: &mut [f64], g: &mut [f64], m: &mut [f64], v: &mut [f64], lr: f64) {
        let (b1, b2) = (self.beta1, self.beta2);
        for (((x, g), m), v) in x.iter_mut().zip(g).zip(m).zip(v) {
            *m = flush_tiny(b1 * *m + (1.0 - b1) * *g);
            *v = flush_tiny(b2 * *v + (1.0 - b2) * *g * *g);
            *x -= lr * (*m / self.c1) / ((*v / self.c2).sqrt() + 1e-8);
            *g = 0.0;
        }
    }
}

fn first_argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (k, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = k;
        }
    }
    best
}

/// Optimiser state of a weight without updates decays geometrically; below 10⁻¹⁰⁰ it is zero
/// (it no longer moves a latent) and kept out of the subnormal range, where every arithmetic
/// operation is many times slower.
fn flush_tiny(x: f64) -> f64 {
    if x.abs() < 1e-100 {
        0.0
    } else {
        x
    }
}

/// `v / ‖v‖₂`, or `v` unchanged (all zero) when the norm is 0.
fn normalised(mut v: Vec<f64>) -> Vec<f64> {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm != 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::flush_tiny;

    #[test]
    fn optimiser_state_below_the_floor_is_zero_and_above_it_is_kept() {
        for x in [1e-101, -1e-101, 1e-300, f64::MIN_POSITIVE / 4.0, 0.0] {
            assert_eq!(flush_tiny(x), 0.0, "{x:e}");
        }
        for x in [1e-99, -1e-99, 1e-3, -0.5, 7.0] {
            assert_eq!(flush_tiny(x), x, "{x:e}");
        }
    }
}
