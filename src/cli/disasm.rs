//! `spikemesh disasm`: print a `.bin` program file as assembly source, with its labels.

use anyhow::Context;
use std::path::PathBuf;

/// Disassemble a `.bin` program file into assembly source the assembler accepts.
#[derive(clap::Args)]
pub struct Args {
    /// The program file (`spikemesh asm` output).
    pub input: PathBuf,
    /// Write the source to this file instead of standard output (written whole or not at all).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let assembly = isa::asm::bin::load(&args.input)
        .with_context(|| format!("cannot load program file {}", args.input.display()))?;
    let text = isa::asm::disassemble_with_kinds(&assembly.program, &assembly.kinds);
    match args.output {
        Some(path) => isa::output::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}
