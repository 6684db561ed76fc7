//! The programs the neurocores run, as assembly sources (`firmware/asm/*.s`) assembled by the
//! project's own assembler (`isa::asm`) when loaded, each with its parameter layout (data
//! symbols, state fields) and a plain per-neuron golden model of the same behaviour.
//!
//! | model | source | golden |
//! | --- | --- | --- |
//! | Loihi LIF (bit-exact with Lava's `PyLifModelBitAcc`) | `asm/loihi_lif.s` | [`loihi_lif::golden_run`] (on [`isa::arith::loihi::step`]) |
//! | LIF with reset to zero / by subtraction | `asm/lif_reset.s` | [`lif_reset::golden_run`] (on [`isa::arith::loihi::step_with_reset`]) |
//! | TTFS integrate-and-fire (S4NN / BS4NN / STiDi-BP) | `asm/ttfs.s` | [`ttfs::golden_run`] (closed forms of `reference/stidi-bp.md` §3) |
//! | output-layer learning kernel (fixed-point S4NN update) | `asm/learn_out.s` | `model::onchip::OnChipTrainer` (see [`learn_out`]) |
//! | hidden-layer learning kernel (receive, sum, normalise, update) | `asm/learn_hidden.s` | `model::onchip::OnChipTrainer` (see [`learn_hidden`]) |
//!
//! The firmware and the golden model are two implementations of one behaviour: the tests run
//! the firmware on the simulated neurocore and require identical traces.

pub mod learn_hidden;
pub mod learn_out;
pub mod lif_reset;
pub mod loihi_lif;
pub mod ttfs;

use isa::insn::Field;
use isa::Program;
use thiserror::Error;

/// Why firmware could not be loaded or parameterised.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum FirmwareError {
    /// The source did not assemble (a bug in the shipped source; the message has every
    /// located error).
    #[error("firmware `{name}` does not assemble:\n{errors}")]
    Assembly {
        /// The source file.
        name: &'static str,
        /// The assembler's report.
        errors: String,
    },
    /// The assembled program lacks a parameter symbol the model needs.
    #[error("firmware `{name}` defines no data symbol `{symbol}`")]
    MissingSymbol {
        /// The source file.
        name: &'static str,
        /// The symbol.
        symbol: &'static str,
    },
    /// A parameter is outside its range.
    #[error("{field} = {value} is out of range: the rule is {rule}")]
    Param {
        /// The parameter.
        field: String,
        /// Its value.
        value: i64,
        /// The rule broken.
        rule: String,
    },
}

/// The neuron models shipped as firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NeuronModel {
    /// Loihi-compatible LIF, bit-exact with Lava.
    LoihiLif,
    /// LIF with reset to zero or by subtraction.
    LifReset,
    /// TTFS integrate-and-fire.
    Ttfs,
}

impl NeuronModel {
    /// Every model.
    pub const ALL: [NeuronModel; 3] = [
        NeuronModel::LoihiLif,
        NeuronModel::LifReset,
        NeuronModel::Ttfs,
    ];

    /// The source file name.
    pub fn file(self) -> &'static str {
        match self {
            NeuronModel::LoihiLif => loihi_lif::FILE,
            NeuronModel::LifReset => lif_reset::FILE,
            NeuronModel::Ttfs => ttfs::FILE,
        }
    }

    /// The assembly source.
    pub fn source(self) -> &'static str {
        match self {
            NeuronModel::LoihiLif => loihi_lif::SOURCE,
            NeuronModel::LifReset => lif_reset::SOURCE,
            NeuronModel::Ttfs => ttfs::SOURCE,
        }
    }

    /// The data symbols that hold the model's parameters.
    pub fn params(self) -> &'static [&'static str] {
        match self {
            NeuronModel::LoihiLif => loihi_lif::PARAMS,
            NeuronModel::LifReset => lif_reset::PARAMS,
            NeuronModel::Ttfs => ttfs::PARAMS,
        }
    }

    /// Assembles the model's source and checks that every parameter symbol exists.
    pub fn program(self) -> Result<Program, FirmwareError> {
        assemble(self.file(), self.source(), self.params())
    }
}

/// Assembles one shipped source with `isa::asm::assemble` and checks its parameter symbols.
pub fn assemble(
    name: &'static str,
    source: &str,
    params: &[&'static str],
) -> Result<Program, FirmwareError> {
    let program = isa::asm::assemble(source, name).map_err(|e| FirmwareError::Assembly {
        name,
        errors: e.to_string(),
    })?;
    for &symbol in params {
        let ok = program
            .symbol(symbol)
            .is_some_and(|a| a >= 0 && (a as usize) < program.data.len());
        if !ok {
            return Err(FirmwareError::MissingSymbol { name, symbol });
        }
    }
    Ok(program)
}

/// A field index as a [`Field`], evaluated at compile time in the layout constants.
const fn field(index: u8) -> Field {
    match Field::new(index) {
        Some(f) => f,
        None => panic!("field index out of range"),
    }
}

/// Per-step trace of a LIF-family model: one row per step, one column per neuron.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LifTrace {
    /// Current `u` after each step.
    pub u: Vec<Vec<i32>>,
    /// Voltage `v` after each step (after reset).
    pub v: Vec<Vec<i32>>,
    /// Spikes (0/1) of each step.
    pub s: Vec<Vec<u8>>,
}
