//! `spikemesh chip`: validate a chip description file, or print the default one to start from.

use isa::chip::{ChipDescription, DEFAULT_CHIP_TOML};
use std::path::PathBuf;

/// Check a chip description file, or print the default one.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Validate a chip description (TOML) and print it with every key resolved.
    Check {
        /// The chip description file.
        file: PathBuf,
    },
    /// Print the default chip description (a 4x4 mesh of 256-neuron cores).
    Default,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Check { file } => {
            // The error already names the file, the key and the rule.
            let chip = ChipDescription::load(&file)?;
            print!("{}", chip.to_toml_string());
            Ok(())
        }
        Action::Default => {
            print!("{DEFAULT_CHIP_TOML}");
            Ok(())
        }
    }
}
