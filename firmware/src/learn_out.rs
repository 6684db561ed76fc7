//! The output-layer learning kernel (`asm/learn_out.s`): its parameters, its state layout,
//! and where its golden model lives (`model::onchip::OnChipTrainer`, `docs/LEARNING.md`).
//!
//! Stand-alone form: the kernel waits for a sample, lets `steps` timesteps pass, then computes
//! the S4NN targets and errors of the core's neurons from their spike times ([`T`]), normalises
//! them to Q1.15, and updates the latent weights of every axon row (stochastic rounding with the
//! core's LFSR, `shift` 8) and the binary rows from their signs. `tests/onchip_output_kernel.rs`
//! checks it bit for bit against the golden trainer.
//!
//! Chip form ([`chip_program`]): `asm/learn_entry.s`, `asm/ttfs.s` and this kernel concatenated
//! into one program. Address 0 dispatches on the data word [`LEARN_REQ`]: 0 → the TTFS
//! firmware's `wait sample` (inference, unchanged); 1 (written by the host, with the label,
//! before it pulses the reset line) → `wait learn`, then the kernel on the spike times `ttfs.s`
//! latched in f3; the kernel ends with `jr r0`, back to the dispatch. The kernel's `t_max` is
//! the TTFS firmware's (one data word), and `arrival_offset` is 1 on the chip (a spike of time
//! `t` reaches the core in timestep `t − 1`). `tests/onchip_learning_chip.rs` checks it on the
//! whole chip (`sim::chip::Chip::learn_sample`) against the golden trainer.

use crate::{field, ttfs, FirmwareError};
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
pub const CHIP_FILE: &str = "learn_entry.s+ttfs.s+learn_out.s";

/// The chip form of the output-layer firmware: `learn_entry.s`, `ttfs.s` and `learn_out.s`
/// (without its own `t_max` word: the TTFS firmware's is the same parameter) assembled as one
/// program, with every parameter of both firmwares and [`LEARN_REQ`] checked.
pub fn chip_program() -> Result<Program, FirmwareError> {
    let mut source = String::with_capacity(ENTRY_SOURCE.len() + ttfs::SOURCE.len() + SOURCE.len());
    source.push_str(ENTRY_SOURCE);
    source.push('\n');
    source.push_str(ttfs::SOURCE);
    source.push('\n');
    for line in SOURCE.lines() {
        if !line.trim_start().starts_with("t_max:") {
            source.push_str(line);
        }
        source.push('\n');
    }
    let program = crate::assemble(CHIP_FILE, &source, ttfs::PARAMS)?;
    for &symbol in PARAMS.iter().chain([&LEARN_REQ, &SRC_TABLE]) {
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
    Ok(program)
}
