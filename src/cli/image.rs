//! `spikemesh image`: look inside a chip image file.

use anyhow::Context;
use isa::ChipImage;
use std::path::PathBuf;

/// Inspect chip images.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Print a summary: the chip, the host port, and per core its neurons, axons, synapse bits,
    /// fan-out entries and program size.
    Inspect {
        /// The chip image file.
        file: PathBuf,
    },
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.action {
        Action::Inspect { file } => {
            let image = ChipImage::load(&file)
                .with_context(|| format!("cannot load chip image {}", file.display()))?;
            print!("{}", image.summary());
            Ok(())
        }
    }
}
