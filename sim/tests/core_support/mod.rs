//! Test drivers shared by the neurocore tests: run each firmware model on a stand-alone
//! neurocore and collect the same traces its golden model produces.
#![allow(dead_code)]

use firmware::loihi_lif::LoihiLifConfig;
use firmware::ttfs::{TtfsParams, TtfsTrace};
use firmware::{lif_reset, loihi_lif, ttfs, LifTrace, NeuronModel};
use isa::arith::loihi::{BiasTarget, ResetMode};
use sim::core::{CoreConfig, Neurocore, SynapseMemory};

/// Raw LIF parameters (shared decays and threshold, per-neuron bias).
#[derive(Debug, Clone)]
pub struct LifSpec {
    pub du: i64,
    pub dv: i64,
    pub vth: i64,
    pub bias_mant: Vec<i64>,
    pub bias_exp: Vec<i64>,
}

impl LifSpec {
    pub fn config(&self) -> LoihiLifConfig {
        LoihiLifConfig::new(self.du, self.dv, self.vth, &self.bias_mant, &self.bias_exp)
            .expect("valid spec")
    }
}

/// Runs the Loihi LIF (`reset = None`) or the LIF-reset firmware on a core; returns the trace
/// and the cycles of each step.
pub fn run_lif(
    spec: &LifSpec,
    a_in: &[Vec<i16>],
    reset: Option<ResetMode>,
) -> (LifTrace, Vec<u64>) {
    run_lif_with_decays(spec, None, a_in, reset)
}

/// [`run_lif`], with `decays = Some((du, dv))` giving the LIF-reset firmware per-neuron decays
/// (`decay_fields` = 1, `du + 1` and `dv` preloaded into their fields; `spec.du`/`dv` ignored).
pub fn run_lif_with_decays(
    spec: &LifSpec,
    decays: Option<(&[i64], &[i64])>,
    a_in: &[Vec<i16>],
    reset: Option<ResetMode>,
) -> (LifTrace, Vec<u64>) {
    run_lif_biased(spec, decays, BiasTarget::Voltage, a_in, reset)
}

/// [`run_lif_with_decays`] with the bias added to `bias` (the LIF-reset firmware's
/// `bias_current`; only set when it is the current).
pub fn run_lif_biased(
    spec: &LifSpec,
    decays: Option<(&[i64], &[i64])>,
    bias: BiasTarget,
    a_in: &[Vec<i16>],
    reset: Option<ResetMode>,
) -> (LifTrace, Vec<u64>) {
    let n = spec.bias_mant.len();
    let model = if reset.is_some() {
        NeuronModel::LifReset
    } else {
        NeuronModel::LoihiLif
    };
    let program = model.program().expect("firmware assembles");
    let mut core = Neurocore::new(CoreConfig::standalone(n as u32, 1), &program).expect("core");
    core.set_param("du", spec.du as i32).unwrap();
    core.set_param("dv", spec.dv as i32).unwrap();
    core.set_param("vth", spec.vth as i32).unwrap();
    if let Some(r) = reset {
        core.set_param("reset_mode", lif_reset::reset_mode_word(r))
            .unwrap();
    }
    if bias == BiasTarget::Current {
        core.set_param("bias_current", lif_reset::bias_current_word(bias))
            .unwrap();
    }
    if let Some((du, dv)) = decays {
        core.set_param("decay_fields", 1).unwrap();
        let du1: Vec<i32> = du.iter().map(|&d| d as i32 + 1).collect();
        let dv: Vec<i32> = dv.iter().map(|&d| d as i32).collect();
        core.set_field(lif_reset::DU_PLUS_1, &du1).unwrap();
        core.set_field(lif_reset::DV, &dv).unwrap();
    }
    let mant: Vec<i32> = spec.bias_mant.iter().map(|&x| x as i32).collect();
    let exp: Vec<i32> = spec.bias_exp.iter().map(|&x| x as i32).collect();
    core.set_field(loihi_lif::BIAS_MANT, &mant).unwrap();
    core.set_field(loihi_lif::BIAS_EXP, &exp).unwrap();
    let mut trace = LifTrace::default();
    let mut cycles = Vec::new();
    core.run_sample(
        a_in.len(),
        |t, core, at| {
            for (i, &x) in a_in[t].iter().enumerate() {
                if x != 0 {
                    core.inject_current(i as u32, i32::from(x), at)?;
                }
            }
            Ok(())
        },
        |_, core, report| {
            trace.u.push(core.field(loihi_lif::U).to_vec());
            trace.v.push(core.field(loihi_lif::V).to_vec());
            trace.s.push(
                core.field(loihi_lif::SPIKED)
                    .iter()
                    .map(|&x| x as u8)
                    .collect(),
            );
            cycles.push(report.cycles);
            Ok(())
        },
    )
    .expect("run");
    (trace, cycles)
}

/// Runs the TTFS firmware with binary weights (`weights[i][j]` ∈ {−1, 0, +1}); returns the
/// trace (V, sent spikes, latched spike times) and the core (for latches and counters).
pub fn run_ttfs(params: &TtfsParams, weights: &[Vec<i32>], t_in: &[u32]) -> (TtfsTrace, Neurocore) {
    run_ttfs_thresholds(params, None, weights, t_in)
}

/// [`run_ttfs`] with optional per-neuron thresholds (loaded into the threshold field).
pub fn run_ttfs_thresholds(
    params: &TtfsParams,
    thresholds: Option<&[i32]>,
    weights: &[Vec<i32>],
    t_in: &[u32],
) -> (TtfsTrace, Neurocore) {
    let axons = weights.len();
    let n = weights[0].len();
    let program = NeuronModel::Ttfs.program().expect("firmware assembles");
    let mut core =
        Neurocore::new(CoreConfig::standalone(n as u32, axons as u32), &program).expect("core");
    for (name, value) in params.data_words() {
        core.set_param(name, value).unwrap();
    }
    if let Some(th) = thresholds {
        core.set_param("threshold_field", 1).unwrap();
        core.set_field(ttfs::THRESHOLD, th).unwrap();
    }
    let mut mem = SynapseMemory::new(n, axons);
    for (i, row) in weights.iter().enumerate() {
        for (j, &w) in row.iter().enumerate() {
            let bit = match w {
                1 => Some(true),
                -1 => Some(false),
                _ => None,
            };
            mem.set_binary(i, j, bit).unwrap();
        }
    }
    core.set_synapses(mem).unwrap();
    let mut trace = TtfsTrace::default();
    core.run_sample(
        params.t_max as usize,
        |t, core, at| {
            for (i, &ti) in t_in.iter().enumerate() {
                if ti as usize == t && ti < params.t_max {
                    core.deliver_spike(i as u32, at)?;
                }
            }
            Ok(())
        },
        |_, core, _| {
            trace.v.push(core.field(ttfs::V).to_vec());
            trace
                .s
                .push(core.field(ttfs::SPIKED).iter().map(|&x| x as u8).collect());
            Ok(())
        },
    )
    .expect("run");
    trace.t_spike = core
        .field(ttfs::T_SPIKE)
        .iter()
        .map(|&x| x as u32)
        .collect();
    (trace, core)
}
