//! Learned integer thresholds (`reference/stidi-bp.md` §7, §9 rounding point 7): a latent
//! fixed-point threshold per neuron, channel or layer, the gradient step `Δθ = +η_θ · δ`, the
//! rounded and clamped comparator value, and a homeostatic lowering for silent neurons.
//!
//! * Latent: `θ̃` in Q·8 (`i64`, 8 fraction bits), one per group (layer, output channel, or
//!   neuron). A group's update is `η_θ ·` the mean `δ` of its neurons (`δ` of §5.3, so `e > 0`,
//!   "fire later", raises θ), rounded to the nearest LSB of `θ̃` (ties away from zero).
//! * Comparator: `θ = clamp(round(θ̃ / α), θ_min, θ_max)` (`α = 1` unless the BS4NN scale is
//!   learned), with `θ_min = max(1, round(min_frac · θ_init))`, `θ_max = round(max_frac · θ_init)`.
//!   `θ̃` itself is clamped to `[θ_min, θ_max]` so it cannot wind up.
//! * Homeostasis: firing counts per group over a window of samples; a group whose firing rate
//!   (fires / (neurons · samples)) is below the dead-neuron limit has `θ̃` lowered by
//!   `step · θ_init`. Silent neurons get no gradient (their causal gate is closed), so this is
//!   the only way a pure threshold rule rouses them. Optionally a firing-rate ceiling raises
//!   the threshold of hidden groups that fire more often than a target (sparse hidden layers).

use serde::{Deserialize, Serialize};

/// Fraction bits of the latent threshold.
pub const THETA_FRAC_BITS: u32 = 8;
const ONE: f64 = (1u64 << THETA_FRAC_BITS) as f64;

/// Which neurons share a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Granularity {
    /// One per layer.
    Layer,
    /// One per output channel (conv) / per neuron (dense).
    Channel,
    /// One per neuron (conv: per output position).
    Neuron,
}

/// Homeostatic lowering of silent neurons' thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Homeostasis {
    /// Samples per window (0 = once per epoch).
    pub window: usize,
    /// Lowering per window, as a fraction of the layer's initial threshold.
    pub step: f64,
}

/// Threshold options.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdConfig {
    /// Granularity.
    pub granularity: Granularity,
    /// Learn thresholds with `Δθ = +η_θ·δ` (false: fixed, apart from homeostasis).
    pub learn: bool,
    /// `η_θ` in threshold LSBs per unit of `δ`.
    pub lr: f64,
    /// `θ_min` as a fraction of the initial threshold (at least 1 LSB).
    pub min_frac: f64,
    /// `θ_max` as a fraction of the initial threshold.
    pub max_frac: f64,
    /// Homeostasis (`None` = off).
    pub homeostasis: Option<Homeostasis>,
}

impl ThresholdConfig {
    /// Fixed thresholds, no homeostasis.
    pub const FIXED: ThresholdConfig = ThresholdConfig {
        granularity: Granularity::Layer,
        learn: false,
        lr: 0.0,
        min_frac: 0.25,
        max_frac: 4.0,
        homeostasis: None,
    };
}

/// The thresholds of one weighted layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerThreshold {
    latent: Vec<i64>,
    /// Neurons per group-index step: neuron `j` belongs to group `group_of(j)`.
    plane: usize,
    granularity: Granularity,
    neurons: usize,
    init: i32,
    min: i32,
    max: i32,
    counts: Vec<u64>,
    samples: u64,
}

/// Round half away from zero to an integer.
fn round_away(x: f64) -> i64 {
    if x >= 0.0 {
        (x + 0.5).floor() as i64
    } else {
        -((-x + 0.5).floor() as i64)
    }
}

impl LayerThreshold {
    /// Thresholds of a layer of `neurons` neurons in channels of `plane` positions (dense: 1).
    pub fn new(cfg: &ThresholdConfig, neurons: usize, plane: usize, init: i32) -> LayerThreshold {
        let init = init.max(1);
        let min = (round_away(cfg.min_frac * f64::from(init)).max(1)).min(i64::from(init)) as i32;
        let max = round_away(cfg.max_frac * f64::from(init))
            .clamp(i64::from(init), i64::from(i32::MAX >> 9)) as i32;
        let groups = match cfg.granularity {
            Granularity::Layer => 1,
            Granularity::Channel => neurons / plane.max(1),
            Granularity::Neuron => neurons,
        };
        LayerThreshold {
            latent: vec![i64::from(init) << THETA_FRAC_BITS; groups.max(1)],
            plane: plane.max(1),
            granularity: cfg.granularity,
            neurons,
            init,
            min,
            max,
            counts: vec![0; groups.max(1)],
            samples: 0,
        }
    }

    /// Group of neuron `j`.
    #[inline]
    pub fn group_of(&self, j: usize) -> usize {
        match self.granularity {
            Granularity::Layer => 0,
            Granularity::Channel => j / self.plane,
            Granularity::Neuron => j,
        }
    }

    /// Number of threshold groups.
    pub fn groups(&self) -> usize {
        self.latent.len()
    }

    /// `(θ_min, θ_max)`.
    pub fn range(&self) -> (i32, i32) {
        (self.min, self.max)
    }

    /// Initial threshold.
    pub fn init(&self) -> i32 {
        self.init
    }

    /// Latent value of group `g` in threshold units.
    pub fn latent(&self, g: usize) -> f64 {
        self.latent.get(g).map_or(0.0, |&v| v as f64 / ONE)
    }

    /// Comparator threshold of group `g` under scale `alpha`.
    pub fn comparator(&self, g: usize, alpha: f64) -> i32 {
        let v = self.latent.get(g).copied().unwrap_or(0) as f64 / ONE / alpha;
        let r = if v.is_finite() {
            round_away(v)
        } else {
            i64::from(self.max)
        };
        r.clamp(i64::from(self.min), i64::from(self.max)) as i32
    }

    /// Comparator threshold of every neuron.
    pub fn expand(&self, alpha: f64) -> Vec<i32> {
        let per_group: Vec<i32> = (0..self.groups())
            .map(|g| self.comparator(g, alpha))
            .collect();
        (0..self.neurons)
            .map(|j| per_group[self.group_of(j)])
            .collect()
    }

    fn clamp_latent(&self, v: i64) -> i64 {
        v.clamp(
            i64::from(self.min) << THETA_FRAC_BITS,
            i64::from(self.max) << THETA_FRAC_BITS,
        )
    }

    /// Gradient step: each group moves by `η_θ ·` the mean `δ` of its neurons.
    pub fn update(&mut self, delta: &[f32], lr: f64) {
        let mut sum = vec![0f64; self.groups()];
        for (j, &d) in delta.iter().enumerate() {
            sum[self.group_of(j)] += f64::from(d);
        }
        let size = (self.neurons / self.groups()).max(1) as f64;
        let (lo, hi) = (
            i64::from(self.min) << THETA_FRAC_BITS,
            i64::from(self.max) << THETA_FRAC_BITS,
        );
        for (latent, &sg) in self.latent.iter_mut().zip(&sum) {
            if sg != 0.0 {
                let step = round_away(lr * sg / size * ONE);
                *latent = latent.saturating_add(step).clamp(lo, hi);
            }
        }
    }

    /// Resets to the initial value the groups that lie wholly inside `neurons` (a re-drawn
    /// channel; a per-layer threshold shared with live neurons is left alone).
    pub fn reset(&mut self, neurons: std::ops::Range<usize>) {
        let init = i64::from(self.init) << THETA_FRAC_BITS;
        let groups = match self.granularity {
            Granularity::Layer if neurons.start == 0 && neurons.end >= self.neurons => 0..1,
            Granularity::Layer => 0..0,
            // Only channels that start and end inside the range.
            Granularity::Channel => {
                neurons.start.div_ceil(self.plane)..neurons.end.min(self.neurons) / self.plane
            }
            Granularity::Neuron => neurons.start..neurons.end.min(self.neurons),
        };
        for g in groups {
            self.latent[g] = init;
        }
    }

    /// Counts one sample's spikes (`t < t_max`) for homeostasis and the dead-neuron report.
    pub fn record(&mut self, times: &[u16], t_max: u16) {
        for (j, &t) in times.iter().enumerate() {
            if t < t_max {
                let g = self.group_of(j);
                self.counts[g] += 1;
            }
        }
        self.samples += 1;
    }

    /// Samples counted since the last [`LayerThreshold::homeostasis`].
    pub fn window_samples(&self) -> u64 {
        self.samples
    }

    /// Moves by `sign · step · θ_init` (clamped) the latent of every group whose firing rate
    /// over the window so far satisfies `hit`; returns how many groups actually moved.
    fn nudge(&mut self, hit: impl Fn(f64) -> bool, sign: i64, step: f64) -> usize {
        if self.samples == 0 {
            return 0;
        }
        let size = (self.neurons / self.groups()).max(1) as f64;
        let by = sign * round_away(step * f64::from(self.init) * ONE).max(1);
        let mut moved = 0;
        for g in 0..self.groups() {
            if hit(self.counts[g] as f64 / (size * self.samples as f64)) {
                let before = self.latent[g];
                self.latent[g] = self.clamp_latent(before + by);
                moved += usize::from(self.latent[g] != before);
            }
        }
        moved
    }

    /// Raises by `step · θ_init` the threshold of every group whose firing rate over the window
    /// so far exceeds `ceiling` (the hidden-layer rate ceiling); the window is not reset, so
    /// call it before [`LayerThreshold::homeostasis`]. Returns the number of groups raised.
    pub fn raise_busy(&mut self, ceiling: f64, step: f64) -> usize {
        self.nudge(|rate| rate > ceiling, 1, step)
    }

    /// Lowers the threshold of every group whose firing rate over the window is below
    /// `dead_rate` by `step · θ_init`; resets the window. Returns the number of groups lowered.
    pub fn homeostasis(&mut self, dead_rate: f64, step: f64) -> usize {
        let lowered = self.nudge(|rate| rate < dead_rate, -1, step);
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.samples = 0;
        lowered
    }
}
