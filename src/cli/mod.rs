//! One module per subcommand of the `spikemesh` binary.

pub mod asm;
pub mod chart;
pub mod chip;
pub mod curve;
pub mod demo;
pub mod disasm;
pub mod eval;
pub mod explore;
pub mod image;
pub mod learn;
pub mod map;
pub mod netx;
pub mod neuron;
pub mod nir;
pub mod noc;
pub mod run;
pub mod train;
