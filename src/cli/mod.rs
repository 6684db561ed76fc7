//! One module per subcommand of the `spikemesh` binary.

pub mod chip;
pub mod noc;
pub mod image;
pub mod train;
pub mod eval;
pub mod asm;
pub mod disasm;
pub mod neuron;
pub mod map;
pub mod run;
pub mod demo;
