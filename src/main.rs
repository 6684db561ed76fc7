//! The `spikemesh` command-line tool: every subcommand lives in `cli/<name>.rs` and reports
//! errors with their context; no input, however malformed, makes it panic.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Cycle-accurate simulator of a many-core neuromorphic chip, with its compiler (mapper),
/// firmware, host trainers and energy estimates.
#[derive(Parser)]
#[command(name = "spikemesh", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one neuron model on one simulated neurocore from JSON and print its trace.
    Neuron(cli::neuron::Args),
    /// Inspect chip images.
    Image(cli::image::Args),
    /// Check a chip description file, or print the default one.
    Chip(cli::chip::Args),
    /// Study the mesh network-on-chip under synthetic or trace traffic (BookSim2-style).
    Noc(cli::noc::Args),
    /// Train a TTFS network (S4NN, BS4NN or STiDi-BP) on digits, MNIST or Fashion-MNIST.
    Train(Box<cli::train::Args>),
    /// Import a NIR graph (multi-spike LIF network trained elsewhere) as a chip LIF network.
    Nir(cli::nir::Args),
    /// Import a Lava-DL network (netx .net) as a chip LIF network that runs as Lava runs it.
    Netx(cli::netx::Args),
    /// Evaluate a model file with the golden forward pass.
    Eval(cli::eval::Args),
    /// Assemble a neurocore source file (.s) into a program file (.bin).
    Asm(cli::asm::Args),
    /// Print a program file (.bin) as assembly source, with its labels.
    Disasm(cli::disasm::Args),
    /// Map a model onto a chip: chip image, per-core utilisation, traffic (optimised vs naive).
    Map(cli::map::Args),
    /// Run a chip image cycle-accurately on a data set: accuracy, cycles, traffic, energy.
    Run(cli::run::Args),
    /// Map and run a model on every chip of a grid of settings: cycles, traffic, energy, Pareto front.
    Explore(cli::explore::Args),
    /// Train a chip image on the chip (on-chip learning) and write the trained image.
    Learn(cli::learn::Args),
    /// Train, map and run a binary network on the embedded digits, checked against the golden model.
    Demo(cli::demo::Args),
}

fn main() -> ExitCode {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`spikemesh eval … | head`): Rust ignores SIGPIPE by default, which turns every later
    // print into a panic.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of a signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Image(args) => cli::image::run(args),
        Command::Chip(args) => cli::chip::run(args),
        Command::Noc(args) => cli::noc::run(args),
        Command::Neuron(args) => cli::neuron::run(args),
        Command::Train(args) => cli::train::run(*args),
        Command::Eval(args) => cli::eval::run(args),
        Command::Nir(args) => cli::nir::run(args),
        Command::Netx(args) => cli::netx::run(args),
        Command::Asm(args) => cli::asm::run(args),
        Command::Disasm(args) => cli::disasm::run(args),
        Command::Map(args) => cli::map::run(args),
        Command::Run(args) => cli::run::run(args),
        Command::Explore(args) => cli::explore::run(args),
        Command::Learn(args) => cli::learn::run(args),
        Command::Demo(args) => cli::demo::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", report(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: library errors often already name
/// their cause in their own message, and repeating it would only add noise.
fn report(err: &anyhow::Error) -> String {
    let mut msg = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
    }
    msg
}
