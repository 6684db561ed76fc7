//! One module per subcommand of the `spikemesh` binary.

pub mod chip;
pub mod image;
