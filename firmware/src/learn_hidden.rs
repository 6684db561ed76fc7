//! The hidden-layer learning kernel (`asm/learn_hidden.s`): its parameter, its state layout,
//! and where its golden model lives (`model::onchip::OnChipTrainer`, `docs/LEARNING.md`).
//!
//! A hidden-layer core receives the partial hidden errors that the cores of the next layer
//! send back (`learn_out.s` with `send_errors = 1`: one packet per next-layer core and neuron,
//! addressed to the neuron), adds them per neuron with 32-bit wrapping, saturates the sums to
//! 24 bits, L2-normalises them to Q1.15 (`vred.sumsq`, `isqrt`, `vdivq`: exactly
//! `isa::arith::l2_normalise`) over the core (`Normalisation::Core` of the golden, which equals
//! `Normalisation::Layer` when the layer is on one core) or, with [`NORM_PEERS`] > 0, over the
//! whole layer split over several cores (`Normalisation::Layer`: the cores exchange their 64-bit
//! partial sums of squares, two packets per peer tagged [`NORM_HI`] / [`NORM_LO`], and add them
//! modulo `2^64`), and then runs the latent update loop of the output kernel (`learn_out.s`
//! from its `update` label) on the core's own input rows.
//!
//! Chip form only: the source is assembled into [`crate::learn_out::chip_program`] (before
//! `learn_out.s`, whose `update` it jumps to); the dispatch of `asm/learn_entry.s` runs it when
//! [`ERROR_SOURCES`] is not 0. `tests/onchip_learning_hidden.rs` (root package) checks it on
//! the whole chip against the golden trainer.

use crate::field;
use isa::insn::Field;

/// The source file name.
pub const FILE: &str = "learn_hidden.s";
/// The assembly source.
pub const SOURCE: &str = include_str!("../asm/learn_hidden.s");
/// Data symbol of the number of partial-error packets per neuron the core receives (the
/// number of cores of the next layer); 0 marks an output-layer core (the dispatch then runs
/// `learn_out.s`).
pub const ERROR_SOURCES: &str = "error_sources";
/// Data symbol of the number of other cores of the layer normalised together with this one
/// (`Normalisation::Layer` over a split layer; 0: the core alone). Their destinations
/// (`tile << 16`) follow the reverse-routing table: word `axons + p` of `src_table`.
pub const NORM_PEERS: &str = "norm_peers";
/// The lane tag of a peer's high word of its partial sum of squares (no core has this many
/// neurons when it takes part in a cross-core normalisation).
pub const NORM_HI: u32 = 0xFFFF;
/// The lane tag of a peer's low word.
pub const NORM_LO: u32 = 0xFFFE;
/// The hidden errors `g` (wrapping sums, then saturated to 24 bits).
pub const G: Field = field(9);
/// Normalised errors δ (Q1.15 raw), read by the update loop of `learn_out.s`.
pub const DELTA: Field = field(10);
