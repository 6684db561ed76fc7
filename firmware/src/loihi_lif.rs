//! The Loihi-compatible LIF firmware (`asm/loihi_lif.s`), bit-exact with Lava's
//! `PyLifModelBitAcc`: its state layout, its parameters, and its golden model.

use crate::{field, FirmwareError, LifTrace};
use isa::arith::loihi::{step_with_reset, LoihiLifParams, LoihiLifState, ResetMode};
use isa::insn::Field;

/// The source file name.
pub const FILE: &str = "loihi_lif.s";
/// The assembly source.
pub const SOURCE: &str = include_str!("../asm/loihi_lif.s");
/// Data symbols of the parameters: `du`, `dv` (12-bit unsigned decays), `vth` (17-bit
/// unsigned threshold mantissa).
pub const PARAMS: &[&str] = &["du", "dv", "vth"];

/// Synaptic input `a_in` of the step (the accumulator).
pub const A_IN: Field = Field::ACC;
/// Current `u` (24-bit wrapping).
pub const U: Field = field(1);
/// Voltage `v` (24-bit saturating).
pub const V: Field = field(2);
/// Bias mantissa, per neuron (13-bit signed).
pub const BIAS_MANT: Field = field(3);
/// Bias exponent, per neuron (3-bit signed).
pub const BIAS_EXP: Field = field(4);
/// Spike flag of the last step (0/1).
pub const SPIKED: Field = field(6);

/// Validated parameters of a population: shared decays and threshold, per-neuron bias.
#[derive(Debug, Clone, PartialEq)]
pub struct LoihiLifConfig {
    /// One validated parameter set per neuron.
    pub neurons: Vec<LoihiLifParams>,
}

impl LoihiLifConfig {
    /// Validates the fields (`du`, `dv`, `vth`, `bias_mant[i]`, `bias_exp[i]`); the error names
    /// the field and the rule.
    pub fn new(
        du: i64,
        dv: i64,
        vth: i64,
        bias_mant: &[i64],
        bias_exp: &[i64],
    ) -> Result<Self, FirmwareError> {
        let mut neurons = Vec::with_capacity(bias_mant.len());
        for (i, (&m, &e)) in bias_mant.iter().zip(bias_exp).enumerate() {
            let p = LoihiLifParams::new(du, dv, vth, m, e).map_err(|err| param_error(err, i))?;
            neurons.push(p);
        }
        Ok(LoihiLifConfig { neurons })
    }

    /// [`LoihiLifConfig::new`] with decays per neuron (`du[i]`, `dv[i]`; the LIF-reset
    /// firmware's `decay_fields` mode).
    pub fn with_decays(
        du: &[i64],
        dv: &[i64],
        vth: i64,
        bias_mant: &[i64],
        bias_exp: &[i64],
    ) -> Result<Self, FirmwareError> {
        let mut neurons = Vec::with_capacity(bias_mant.len());
        for (i, (((&u, &v), &m), &e)) in du.iter().zip(dv).zip(bias_mant).zip(bias_exp).enumerate()
        {
            let p = LoihiLifParams::new(u, v, vth, m, e).map_err(|err| param_error(err, i))?;
            neurons.push(p);
        }
        Ok(LoihiLifConfig { neurons })
    }
}

/// Turns an arithmetic range error into a firmware parameter error, indexing per-neuron fields.
pub(crate) fn param_error(err: isa::arith::ArithError, neuron: usize) -> FirmwareError {
    match err {
        isa::arith::ArithError::FieldOutOfRange {
            field,
            value,
            min,
            max,
            rule,
        } => {
            let name = if field.starts_with("bias") {
                format!("{field}[{neuron}]")
            } else {
                field.to_string()
            };
            FirmwareError::Param {
                field: name,
                value,
                rule: format!("{min} <= {field} <= {max} ({rule})"),
            }
        }
        other => FirmwareError::Param {
            field: "parameters".into(),
            value: 0,
            rule: other.to_string(),
        },
    }
}

/// The golden model: Lava's bit-accurate LIF per neuron (`isa::arith::loihi::step`), starting
/// at `u = v = 0`, `a_in[t]` applied at step `t`.
pub fn golden_run(config: &LoihiLifConfig, a_in: &[Vec<i16>]) -> LifTrace {
    run_with_reset(config, a_in, ResetMode::Zero)
}

pub(crate) fn run_with_reset(
    config: &LoihiLifConfig,
    a_in: &[Vec<i16>],
    reset: ResetMode,
) -> LifTrace {
    let n = config.neurons.len();
    let mut state = vec![LoihiLifState::default(); n];
    let mut trace = LifTrace::default();
    for row in a_in {
        let mut u = Vec::with_capacity(n);
        let mut v = Vec::with_capacity(n);
        let mut s = Vec::with_capacity(n);
        for (i, p) in config.neurons.iter().enumerate() {
            let x = row.get(i).copied().unwrap_or(0);
            let spiked = step_with_reset(p, &mut state[i], x, reset);
            u.push(state[i].u.get());
            v.push(state[i].v.get());
            s.push(u8::from(spiked));
        }
        trace.u.push(u);
        trace.v.push(v);
        trace.s.push(s);
    }
    trace
}
