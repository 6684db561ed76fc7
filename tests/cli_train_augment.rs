//! `spikemesh train --augment N`: translation augmentation is seeded (a rerun writes the same
//! model byte for byte) and actually changes what is trained.

use std::path::{Path, PathBuf};
use std::process::Command;

fn train(out: &Path, rule: &str, arch: &str, augment: &str) -> Vec<u8> {
    let o = Command::new(env!("CARGO_BIN_EXE_spikemesh"))
        .args([
            "train",
            "--dataset",
            "digits",
            "--rule",
            rule,
            "--arch",
            arch,
        ])
        .args(["--epochs", "2", "--seed", "5", "--augment", augment, "-o"])
        .arg(out)
        .output()
        .expect("the spikemesh binary runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(out).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spikemesh-augment-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn augmented_training_is_reproducible_and_differs_from_plain_training() {
    for (rule, arch) in [("bs4nn", "64-60-10"), ("stidi", "fc40-fc10")] {
        let p = scratch(&format!("{rule}.json"));
        let a = train(&p, rule, arch, "1");
        let b = train(&p, rule, arch, "1");
        assert_eq!(a, b, "{rule}: same seed and --augment, same model");
        let plain = train(&p, rule, arch, "0");
        assert_ne!(a, plain, "{rule}: --augment 1 trains on other images");
    }
}

#[test]
fn augment_zero_is_the_default() {
    let p = scratch("default.json");
    let plain = train(&p, "s4nn", "64-30-10", "0");
    let o = Command::new(env!("CARGO_BIN_EXE_spikemesh"))
        .args([
            "train",
            "--dataset",
            "digits",
            "--rule",
            "s4nn",
            "--arch",
            "64-30-10",
        ])
        .args(["--epochs", "2", "--seed", "5", "-o"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&p).unwrap(), plain);
}
