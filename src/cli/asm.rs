//! `spikemesh asm`: assemble a neurocore source file into a `.bin` program file.

use anyhow::{bail, Context};
use std::path::PathBuf;

/// Assemble a `.s` source file into a `.bin` program file.
#[derive(clap::Args)]
pub struct Args {
    /// The assembly source file.
    pub input: PathBuf,
    /// The program file to write (default: the input with extension `.bin`). Written whole or
    /// not at all.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Reads a source file as UTF-8 text, naming the line and byte of the first invalid byte.
fn read_source(path: &std::path::Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let line = 1 + bytes[..valid].iter().filter(|&&b| b == b'\n').count();
            bail!(
                "{}:{line}: not UTF-8 text: invalid byte {:#04x} at byte offset {valid} (assembly sources are UTF-8)",
                path.display(),
                bytes[valid]
            )
        }
    }
}

/// Runs the subcommand: on success writes the program file and prints a one-line summary.
pub fn run(args: Args) -> anyhow::Result<()> {
    let source = read_source(&args.input)?;
    let origin = args.input.display().to_string();
    let assembly = match isa::asm::assemble_detailed(&source, &origin) {
        Ok(a) => a,
        Err(errors) => {
            for e in &errors.errors {
                eprintln!("{e}\n");
            }
            let n = errors.errors.len();
            bail!(
                "could not assemble {origin}: {n} error{}",
                if n == 1 { "" } else { "s" }
            );
        }
    };
    let output = args
        .output
        .unwrap_or_else(|| args.input.with_extension("bin"));
    isa::asm::bin::save(&output, &assembly)
        .with_context(|| format!("cannot write program file {}", output.display()))?;
    let p = &assembly.program;
    println!(
        "{origin} -> {}: {} instruction(s), {} data word(s), {} symbol(s)",
        output.display(),
        p.text.len(),
        p.data.len(),
        p.symbols.len()
    );
    Ok(())
}
