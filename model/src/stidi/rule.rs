//! The STiDi-BP update rule (`reference/stidi-bp.md` §4.3, §5.3): output targets, the
//! linearised latency derivative, per-layer desired firing times from the next layer's spike-time
//! displacement, the layer-local error normalisation, and the dense-layer weight gradient
//! `∂E/∂w_ji = δ_j · K(t_j − t_i)` and displacement `Δt_i = Σ_j g_j · w_ji · K'(t_j − t_i)`.
//!
//! # Per layer (output first)
//!
//! ```text
//! e_j  = T_j − t_j                     output: T from the relative targets (γ); hidden: e = Δt
//! f_j  = −∂t_j/∂V_j                    Chord: t_j/θ_j   LocalSlope: 1/max(S_j,1)   Constant: 1
//! g_j  = e_j · f_j
//! δ_j  = g_j / ‖g‖₂  (L2)   or   g_j / t_max  (None)
//! Δw_ji = −η · δ_j · K(t_j − t_i)/K_ref          for t_i < t_j     (K_ref: t_max, τ or 1)
//! Δt_i = Σ_j g_j · w_ji · K'(t_j − t_i) · [t_i < t_j]   → the previous layer's e
//! ```
//! A silent neuron has `t_j = t_max`; its causal set is every input that spiked. Displacements
//! use the weights before this sample's update. All sums run in a fixed order.

use super::forward::Kernel;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Linear approximation of the latency derivative `∂t_j/∂V_j` (its magnitude `f_j`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Derivative {
    /// Chord from `(0, 0)` to `(t_j, θ_j)`: `f_j = t_j / θ_j` (reconstruction default).
    Chord,
    /// Exact local slope at the crossing: `f_j = 1 / max(S_j, 1)`.
    LocalSlope,
    /// S4NN's constant: `f_j = 1`.
    Constant,
}

/// A command-line choice that names none of an option's values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} `{found}` is not one of {accepted}")]
pub struct UnknownChoice {
    /// The option (`kernel`, `derivative`, `normalisation`).
    pub what: &'static str,
    /// The text given.
    pub found: String,
    /// The accepted spellings.
    pub accepted: &'static str,
}

impl std::str::FromStr for Derivative {
    type Err = UnknownChoice;

    /// `chord`, `slope` or `constant`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "chord" => Ok(Derivative::Chord),
            "slope" => Ok(Derivative::LocalSlope),
            "constant" | "const" => Ok(Derivative::Constant),
            _ => Err(UnknownChoice {
                what: "derivative",
                found: s.into(),
                accepted: "chord, slope, constant",
            }),
        }
    }
}

impl std::str::FromStr for Normalisation {
    type Err = UnknownChoice;

    /// `l2` or `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "l2" => Ok(Normalisation::L2),
            "none" => Ok(Normalisation::None),
            _ => Err(UnknownChoice {
                what: "normalisation",
                found: s.into(),
                accepted: "l2, none",
            }),
        }
    }
}

/// Per-layer error normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Normalisation {
    /// `δ = g / ‖g‖₂` over the layer (S4NN convention).
    L2,
    /// `δ = g / t_max`: raw displacements in units of the window.
    None,
}

/// Which weights carry displacements to the layer below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackWeights {
    /// The latent real weights (BS4NN).
    Latent,
    /// The forward (sign / integer) weights: the true Jacobian of the chip network.
    Forward,
}

/// Relative target firing times (§4.3): competitors within `γ` of the earliest are pushed to
/// `t_min + γ`, the label is pulled to `t_min`; if nothing fired, the label's target is
/// `t_max − silent_shift` and every other target is `t_max`.
pub fn targets(out: &[u16], label: usize, gamma: u16, silent_shift: u16, t_max: u16) -> Vec<u16> {
    let t_min = out.iter().copied().min().unwrap_or(t_max);
    let mut target = out.to_vec();
    if t_min >= t_max {
        target.iter_mut().for_each(|t| *t = t_max);
        if let Some(t) = target.get_mut(label) {
            *t = t_max.saturating_sub(silent_shift);
        }
    } else {
        let pushed = t_min.saturating_add(gamma).min(t_max);
        for (tk, &ok) in target.iter_mut().zip(out) {
            if ok - t_min < gamma {
                *tk = pushed;
            }
        }
        if let Some(t) = target.get_mut(label) {
            *t = t_min;
        }
    }
    target
}

/// `f_j = −∂t_j/∂V_j` for one neuron.
#[inline]
pub fn derivative_factor(d: Derivative, t: u16, theta: i32, slope: i32) -> f32 {
    match d {
        Derivative::Chord => f32::from(t) / theta.max(1) as f32,
        Derivative::LocalSlope => 1.0 / slope.max(1) as f32,
        Derivative::Constant => 1.0,
    }
}

/// Normalised errors `δ` from `g`.
pub fn normalise(g: &[f32], n: Normalisation, t_max: u16) -> Vec<f32> {
    match n {
        Normalisation::L2 => {
            let norm = g
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                .sqrt();
            if norm > 0.0 && norm.is_finite() {
                g.iter().map(|&x| (f64::from(x) / norm) as f32).collect()
            } else {
                vec![0.0; g.len()]
            }
        }
        Normalisation::None => g.iter().map(|&x| x / f32::from(t_max)).collect(),
    }
}

/// Work above which the gradient loops run in parallel (results are identical either way).
pub(crate) const PARALLEL_WORK: usize = 1 << 15;

/// Dense weight gradient `G[j·n_in + i] = δ_j · K(t_j − t_i)/K_ref · [t_i < t_j]`.
pub fn dense_weight_grad(
    n_in: usize,
    delta: &[f32],
    tin: &[u16],
    tout: &[u16],
    kernel: Kernel,
    t_max: u16,
    parallel: bool,
) -> Vec<f32> {
    let n_out = delta.len();
    let mut grad = vec![0f32; n_in * n_out];
    let row = |j: usize, r: &mut [f32]| {
        let d = delta[j];
        if d == 0.0 {
            return;
        }
        let tj = tout[j];
        for (i, gi) in r.iter_mut().enumerate() {
            let ti = tin[i];
            if ti < tj && ti < t_max {
                *gi = d * kernel.update_factor(tj - ti, t_max);
            }
        }
    };
    if parallel && n_in * n_out >= PARALLEL_WORK {
        grad.par_chunks_mut(n_in.max(1))
            .enumerate()
            .for_each(|(j, r)| row(j, r));
    } else {
        for (j, r) in grad.chunks_mut(n_in.max(1)).enumerate() {
            row(j, r);
        }
    }
    grad
}

/// Dense displacement to the inputs: `Δt_i = Σ_j g_j · w[j·n_in + i] · K'(t_j − t_i) · [t_i < t_j]`.
pub fn dense_displacement(
    n_in: usize,
    g: &[f32],
    w: &[f32],
    tin: &[u16],
    tout: &[u16],
    kernel: Kernel,
    t_max: u16,
) -> Vec<f32> {
    let active: Vec<usize> = (0..g.len()).filter(|&j| g[j] != 0.0).collect();
    (0..n_in)
        .map(|i| {
            let ti = tin[i];
            if ti >= t_max {
                return 0.0;
            }
            let mut acc = 0f32;
            for &j in &active {
                let tj = tout[j];
                if ti < tj && kernel.slope_gate(tj - ti) {
                    acc += g[j] * w[j * n_in + i];
                }
            }
            acc
        })
        .collect()
}
