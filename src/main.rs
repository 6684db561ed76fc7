//! The `spikemesh` command-line tool: every subcommand lives in `cli/<name>.rs` and reports
//! errors with their context; no input, however malformed, makes it panic.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Cycle-accurate simulator, compiler and on-chip learning engine of a many-core neuromorphic chip.
#[derive(Parser)]
#[command(name = "spikemesh", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect chip images.
    Image(cli::image::Args),
    /// Check a chip description file, or print the default one.
    Chip(cli::chip::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Image(args) => cli::image::run(args),
        Command::Chip(args) => cli::chip::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
