//! The TTFS integrate-and-fire firmware for STiDi-BP / S4NN / BS4NN (`asm/ttfs.s`): its state
//! layout, its parameters, and its golden model written from the closed forms of
//! `reference/stidi-bp.md` §3 (not from the incremental form the firmware uses).

use crate::{field, FirmwareError};
use isa::insn::Field;

/// The source file name.
pub const FILE: &str = "ttfs.s";
/// The assembly source.
pub const SOURCE: &str = include_str!("../asm/ttfs.s");
/// Data symbols of the parameters.
pub const PARAMS: &[&str] = &[
    "threshold",
    "t_max",
    "psp_ramp",
    "cmp_ge",
    "out_delay",
    "threshold_field",
    "snap_step",
];

/// Weighted input spikes of the step (the accumulator).
pub const ACC: Field = Field::ACC;
/// Membrane potential `V`.
pub const V: Field = field(1);
/// Ramp slope `S` (ramp PSP only).
pub const S: Field = field(2);
/// Spike-time latch (`t_max` = no spike).
pub const T_SPIKE: Field = field(3);
/// Spike flag of the last step (0/1).
pub const SPIKED: Field = field(4);
/// Threshold θ per neuron (loaded from `threshold` unless `threshold_field` = 1).
pub const THRESHOLD: Field = field(5);
/// Snapshot of `V` taken at timestep `snap_step` (a parameter; −1 = never): the output
/// potentials the no-spike decoding fallback reads (`reference/stidi-bp.md` §4.2).
pub const V_SNAP: Field = field(6);

/// Largest `t_max` accepted (a u12 time).
pub const T_MAX_LIMIT: i64 = 4096;

/// The postsynaptic-potential kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Psp {
    /// Step PSP (S4NN): `V(t) = Σ w_i [t_i ≤ t]`.
    Step,
    /// Ramp PSP (STiDi-BP): `V(t) = Σ w_i max(0, t − t_i)`.
    Ramp,
}

/// The firing comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compare {
    /// `V > θ` (S4NN).
    Greater,
    /// `V ≥ θ`.
    GreaterEqual,
}

/// Parameters of a TTFS layer on one core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TtfsParams {
    /// Integer threshold θ.
    pub threshold: i32,
    /// The sample window and the "no spike" time.
    pub t_max: u32,
    /// The PSP kernel.
    pub psp: Psp,
    /// The comparison.
    pub compare: Compare,
    /// Output delay added to the crossing step (0 or 1; S4NN uses 1).
    pub delay: u8,
}

impl TtfsParams {
    /// Checks the ranges: `1 ≤ t_max ≤ 4096`, `delay ∈ {0, 1}`.
    pub fn validated(self) -> Result<Self, FirmwareError> {
        if !(1..=T_MAX_LIMIT).contains(&i64::from(self.t_max)) {
            return Err(FirmwareError::Param {
                field: "t_max".into(),
                value: i64::from(self.t_max),
                rule: format!("1 <= t_max <= {T_MAX_LIMIT}"),
            });
        }
        if self.delay > 1 {
            return Err(FirmwareError::Param {
                field: "delay".into(),
                value: i64::from(self.delay),
                rule: "delay is 0 or 1".into(),
            });
        }
        Ok(self)
    }

    /// The data words to load, by symbol: `(symbol, value)` (one shared threshold:
    /// `threshold_field` = 0; set it to 1 and load [`THRESHOLD`] for per-neuron thresholds).
    pub fn data_words(&self) -> [(&'static str, i32); 6] {
        [
            ("threshold", self.threshold),
            ("t_max", self.t_max as i32),
            ("psp_ramp", i32::from(self.psp == Psp::Ramp)),
            ("cmp_ge", i32::from(self.compare == Compare::GreaterEqual)),
            ("out_delay", i32::from(self.delay)),
            ("threshold_field", 0),
        ]
    }
}

/// Per-step trace of a TTFS layer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TtfsTrace {
    /// `V` after each step.
    pub v: Vec<Vec<i32>>,
    /// Spikes sent at each step (0/1).
    pub s: Vec<Vec<u8>>,
    /// Per neuron, its spike time (`t_max` = no spike).
    pub t_spike: Vec<u32>,
}

/// The golden model. `weights[i][j]` is the weight (−1, 0, +1 for binary synapses) from input
/// `i` to neuron `j`; `t_in[i]` is input `i`'s spike time (`≥ t_max`: no spike). Runs steps
/// `0..t_max`:
/// `V_j(t) = Σ_i w_ij [t_i ≤ t]` (step) or `Σ_i w_ij max(0, t − t_i)` (ramp), in 64 bits
/// saturated to 32; neuron `j` crosses at the first `c` with `V_j(c) > θ` (or `≥`); its spike
/// time is `c + delay` if that is below `t_max` (sent at step `c`), else `t_max` (not sent).
pub fn golden_run(params: &TtfsParams, weights: &[Vec<i32>], t_in: &[u32]) -> TtfsTrace {
    let neurons = weights.first().map_or(0, Vec::len);
    golden_run_thresholds(params, &vec![params.threshold; neurons], weights, t_in)
}

/// [`golden_run`] with one threshold per neuron (`thresholds[j]` replaces `params.threshold`).
pub fn golden_run_thresholds(
    params: &TtfsParams,
    thresholds: &[i32],
    weights: &[Vec<i32>],
    t_in: &[u32],
) -> TtfsTrace {
    let neurons = weights.first().map_or(0, Vec::len);
    let t_max = params.t_max;
    let mut trace = TtfsTrace {
        t_spike: vec![t_max; neurons],
        ..Default::default()
    };
    let mut fired = vec![false; neurons];
    for t in 0..t_max {
        let mut v_row = Vec::with_capacity(neurons);
        let mut s_row = Vec::with_capacity(neurons);
        for (j, fired_j) in fired.iter_mut().enumerate() {
            let mut v: i64 = 0;
            for (i, row) in weights.iter().enumerate() {
                let ti = t_in.get(i).copied().unwrap_or(t_max);
                if ti >= t_max || ti > t {
                    continue;
                }
                let w = i64::from(row.get(j).copied().unwrap_or(0));
                v += match params.psp {
                    Psp::Step => w,
                    Psp::Ramp => w * i64::from(t - ti),
                };
            }
            let v = v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            let theta = thresholds.get(j).copied().unwrap_or(params.threshold);
            let crosses = match params.compare {
                Compare::Greater => v > theta,
                Compare::GreaterEqual => v >= theta,
            };
            let mut sent = 0;
            if crosses && !*fired_j {
                *fired_j = true;
                let time = t + u32::from(params.delay);
                if time < t_max {
                    trace.t_spike[j] = time;
                    sent = 1;
                }
            }
            v_row.push(v);
            s_row.push(sent);
        }
        trace.v.push(v_row);
        trace.s.push(s_row);
    }
    trace
}
