//! The output-layer learning kernel (`asm/learn_out.s`): its parameters, its state layout,
//! and where its golden model lives (`model::onchip::OnChipTrainer`, `docs/LEARNING.md`).
//!
//! Stand-alone form: the kernel waits for a sample, lets `steps` timesteps pass, then computes
//! the S4NN targets and errors of the core's neurons from their spike times ([`T`]), normalises
//! them to Q1.15, and updates the latent weights of every axon row (stochastic rounding with the
//! core's LFSR, `shift` 8) and the binary rows from their signs. `tests/onchip_output_kernel.rs`
//! checks it bit for bit against the golden trainer.

use crate::field;
use isa::insn::Field;

/// The source file name.
pub const FILE: &str = "learn_out.s";
/// The assembly source.
pub const SOURCE: &str = include_str!("../asm/learn_out.s");
/// Data symbols of the parameters: `label` (written by the host before each sample),
/// `t_max`, `gamma` (γ), `eta` (η of `model::onchip::OnChipRule`), `steps` (timesteps
/// before learning) and `send_errors` (1: send the hidden-error partial sums of step 5 of the
/// rule, `hidden_shift` 8, back to the sources of the axons).
pub const PARAMS: &[&str] = &["label", "t_max", "gamma", "eta", "steps", "send_errors"];
/// Data symbol of the reverse-routing table: word `j` is the learning-packet destination
/// (`tile << 16 | neuron`) of the source of axon `j`; the host writes one word per axon.
pub const SRC_TABLE: &str = "src_table";
/// The right shift of the update product (fixed in the source: `OnChipRule::shift` must be 8).
pub const SHIFT: u32 = 8;

/// Output spike times (input of the kernel; `t_max` = no spike, as `ttfs.s` latches them).
pub const T: Field = field(3);
/// Targets.
pub const TARGET: Field = field(8);
/// Errors `T − t`.
pub const ERROR: Field = field(9);
/// Normalised errors δ (Q1.15 raw).
pub const DELTA: Field = field(10);
