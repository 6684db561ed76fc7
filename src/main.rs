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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
