//! The output-layer learning kernel (`asm/learn_out.s`): its parameters, its state layout,
//! and where its golden model lives (`model::onchip::OnChipTrainer`, `docs/LEARNING.md`).
//!
//! Stand-alone form: the kernel waits for a sample, lets `steps` timesteps pass, then computes
//! the S4NN targets and errors of the core's neurons from their spike times ([`T`]), normalises
//! them to Q1.15, and updates the latent weights of every axon row (stochastic rounding with the
//! core's LFSR, `shift` 8) and the binary rows from their signs. `tests/onchip_output_kernel.rs`
//! checks it bit for bit against the golden trainer.
//!
//! Chip form ([`chip_program`]): `asm/learn_entry.s`, `asm/ttfs.s`, `asm/learn_hidden.s` and
//! this kernel concatenated into one program. Address 0 dispatches on the data word
//! [`LEARN_REQ`]: 0 → the TTFS firmware's `wait sample` (inference, unchanged); 1 (written by
//! the host, with the label, before it pulses the reset line) → `wait learn`, then this kernel
//! (output-layer core, `error_sources` = 0) or the hidden-layer kernel of
//! [`crate::learn_hidden`] (which ends in this kernel's update loop) on the spike times
//! `ttfs.s` latched in f3; both end with `jr r0`, back to the dispatch. The kernel's `t_max` is
//! the TTFS firmware's (one data word), and `arrival_offset` is 1 on the chip (a spike of time
//! `t` reaches the core in timestep `t − 1`). `tests/onchip_learning_chip.rs` checks it on the
//! whole chip (`sim::chip::Chip::learn_sample`) against the golden trainer.

use crate::{field, learn_hidden, ttfs, FirmwareError};
use isa::insn::Field;
use isa::Program;

/// The source file name.
pub const FILE: &str = "learn_out.s";
/// The assembly source.
pub const SOURCE: &str = include_str!("../asm/learn_out.s");
/// Data symbols of the parameters: `label` (written by the host before each sample),
/// `t_max`, `gamma` (γ), `eta` (η of `model::onchip::OnChipRule`), `steps` (timesteps
/// before learning) and `send_errors` (1: send the hidden-error partial sums of step 5 of the
/// rule, `hidden_shift` 8, back to the sources of the axons).
pub const PARAMS: &[&str] = &[
    "label",
    "t_max",
    "gamma",
    "eta",
    "steps",
    "send_errors",
    "arrival_offset",
];
/// Data symbols of the threshold-learning parameters (step 7 of the rule,
/// `model::onchip::ThresholdLearning`; run at the end of both kernels): `theta_learn` (1: learn
/// the thresholds; 0, the default: the kernel ends as before), `theta_eta` (η_θ of the layer),
/// `theta_lo` / `theta_hi` (`θ_min · 2^F` / `θ_max · 2^F`, the clamp of the latent),
/// `theta_frac` (`F`), `theta_window` (homeostasis window in samples, 0: none) and
/// `theta_step` (homeostatic lowering in latent LSBs). The comparator threshold is written to
/// [`crate::ttfs::THRESHOLD`], which `ttfs.s` reads with `threshold_field` = 1.
pub const THETA_PARAMS: &[&str] = &[
    "theta_learn",
    "theta_eta",
    "theta_lo",
    "theta_hi",
    "theta_frac",
    "theta_window",
    "theta_step",
];
/// The right shift of the threshold product `δ · η_θ` (fixed in the source, rounded to
/// nearest with ties to even: `ThresholdLearning::shift` must be 15).
pub const THETA_SHIFT: u32 = 15;
/// Latent thresholds `θ̃` (fixed point, `theta_frac` fraction bits), persistent across samples.
pub const THETA_LATENT: Field = field(7);
/// Homeostasis silence counts (consecutive silent samples), persistent across samples.
pub const SILENCE: Field = field(11);
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

/// The dispatch source of the chip form (`asm/learn_entry.s`).
pub const ENTRY_SOURCE: &str = include_str!("../asm/learn_entry.s");
/// Data symbol of the learning request of the chip form: the host writes 1 before it pulses
/// the reset line to start the learning phase; the dispatch clears it.
pub const LEARN_REQ: &str = "learn_req";
/// The file name reported for the chip form.
pub const CHIP_FILE: &str = "learn_entry.s+ttfs.s+learn_hidden.s+learn_out.s";

/// The chip form of the learning firmware (output-layer and hidden-layer cores alike):
/// `learn_entry.s`, `ttfs.s`, `learn_hidden.s` and `learn_out.s` (without its own `t_max`
/// word: the TTFS firmware's is the same parameter) assembled as one program, with every
/// parameter of the firmwares and [`LEARN_REQ`] checked. [`SRC_TABLE`] is the last data word
/// of the program, so the loader can append one word per axon after it.
pub fn chip_program() -> Result<Program, FirmwareError> {
    let mut source = String::with_capacity(
        ENTRY_SOURCE.len() + ttfs::SOURCE.len() + learn_hidden::SOURCE.len() + SOURCE.len(),
    );
    source.push_str(ENTRY_SOURCE);
    source.push('\n');
    source.push_str(ttfs::SOURCE);
    source.push('\n');
    source.push_str(learn_hidden::SOURCE);
    source.push('\n');
    for line in SOURCE.lines() {
        if !line.trim_start().starts_with("t_max:") {
            source.push_str(line);
        }
        source.push('\n');
    }
    let program = crate::assemble(CHIP_FILE, &source, ttfs::PARAMS)?;
    if program.symbol("THETA_SHIFT") != Some(i64::from(THETA_SHIFT)) {
        return Err(FirmwareError::MissingSymbol {
            name: CHIP_FILE,
            symbol: "THETA_SHIFT",
        });
    }
    for &symbol in PARAMS.iter().chain(THETA_PARAMS).chain([
        &LEARN_REQ,
        &SRC_TABLE,
        &learn_hidden::ERROR_SOURCES,
        &learn_hidden::NORM_PEERS,
    ]) {
        let ok = program
            .symbol(symbol)
            .is_some_and(|a| a >= 0 && (a as usize) < program.data.len());
        if !ok {
            return Err(FirmwareError::MissingSymbol {
                name: CHIP_FILE,
                symbol,
            });
        }
    }
    let last = program.symbol(SRC_TABLE).unwrap_or(0);
    if last + 1 != program.data.len() as i64 {
        return Err(FirmwareError::MissingSymbol {
            name: CHIP_FILE,
            symbol: SRC_TABLE,
        });
    }
    Ok(program)
}
