//! What every CLI test needs to drive the built `spikemesh` binary: running it with arguments
//! and reading its error output.
#![allow(dead_code)]

use std::process::{Command, Output};

/// Runs the `spikemesh` binary of this build with `args` and collects its output.
pub fn spikemesh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spikemesh"))
        .args(args)
        .output()
        .expect("the spikemesh binary runs")
}

/// The command's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
