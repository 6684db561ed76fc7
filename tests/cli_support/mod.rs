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

/// A scratch directory `spikemesh-{name}-{pid}` under the system's temporary directory,
/// created if missing: one per test suite (or test) and process, so parallel runs do not
/// share files.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("spikemesh-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `spikemesh train` on the embedded digits with `rule`, `arch`, `epochs` and `seed`,
/// writing the model to `out`, plus the `extra` options.
pub fn train_digits(
    rule: &str,
    arch: &str,
    epochs: &str,
    seed: &str,
    out: &str,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "train",
        "--dataset",
        "digits",
        "--rule",
        rule,
        "--arch",
        arch,
        "--epochs",
        epochs,
        "--seed",
        seed,
        "-o",
        out,
    ];
    args.extend_from_slice(extra);
    spikemesh(&args)
}
