//! The multi-spike LIF firmware with reset to zero or by subtraction (`asm/lif_reset.s`):
//! its state layout, its parameters, and its golden model.

use crate::loihi_lif::{run_with_reset, LoihiLifConfig};
use crate::{field, LifTrace};
use isa::arith::loihi::{BiasTarget, ResetMode};
use isa::insn::Field;

/// The source file name.
pub const FILE: &str = "lif_reset.s";
/// The assembly source.
pub const SOURCE: &str = include_str!("../asm/lif_reset.s");
/// Data symbols of the parameters: `du`, `dv`, `vth` (as the Loihi LIF), `reset_mode`
/// (0 = to zero, 1 = by subtraction, 2 = by subtraction in the next step), `decay_fields` (0:
/// `du`, `dv` for every neuron; 1: per-neuron decays preloaded into [`DU_PLUS_1`] and [`DV`])
/// and `bias_current` (0: the bias is added to `v`; 1: to `u`, see [`bias_current_word`]).
pub const PARAMS: &[&str] = &[
    "du",
    "dv",
    "vth",
    "reset_mode",
    "decay_fields",
    "bias_current",
];

/// Input of the step (the accumulator).
pub const ACC: Field = Field::ACC;
/// Current `u`.
pub const U: Field = field(1);
/// Voltage `v`.
pub const V: Field = field(2);
/// Bias mantissa, per neuron.
pub const BIAS_MANT: Field = field(3);
/// Bias exponent, per neuron.
pub const BIAS_EXP: Field = field(4);
/// Spike flag of the last step (0/1).
pub const SPIKED: Field = field(6);
/// The current's effective decay `du + 1`, per neuron (preloaded when `decay_fields` = 1).
pub const DU_PLUS_1: Field = field(8);
/// The voltage's decay `dv`, per neuron (preloaded when `decay_fields` = 1).
pub const DV: Field = field(9);
/// The effective bias added to the current (set at sample start: the bias when
/// `bias_current` = 1, else 0).
pub const CURRENT_BIAS: Field = field(10);

/// The value of the `bias_current` parameter for a bias target.
pub fn bias_current_word(target: BiasTarget) -> i32 {
    match target {
        BiasTarget::Voltage => 0,
        BiasTarget::Current => 1,
    }
}

/// The value of the `reset_mode` parameter for a reset mode.
pub fn reset_mode_word(reset: ResetMode) -> i32 {
    match reset {
        ResetMode::Zero => 0,
        ResetMode::Subtract => 1,
        ResetMode::SubtractNext => 2,
    }
}

/// The golden model: `isa::arith::loihi::step_with_reset` per neuron, `input[t]` applied at
/// step `t` (each neuron's parameters carry its bias target).
pub fn golden_run(config: &LoihiLifConfig, input: &[Vec<i16>], reset: ResetMode) -> LifTrace {
    run_with_reset(config, input, reset)
}
