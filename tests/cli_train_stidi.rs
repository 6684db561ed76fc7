//! `spikemesh train --rule stidi`: a network trained with STiDi-BP and learned per-neuron
//! thresholds maps onto the chip unchanged and runs there exactly as the golden model.

mod cli_support;

use cli_support::{spikemesh, train_digits};
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    cli_support::scratch_dir(&format!("stidi-{name}"))
}

#[test]
fn stidi_model_with_learned_thresholds_runs_on_the_chip_like_the_golden_model() {
    let dir = scratch("map");
    let model = dir.join("model.json");
    let m = model.to_str().unwrap();
    let out = train_digits("stidi", "fc60-fc10", "2", "3", m, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&model).unwrap();
    assert!(
        text.contains("\"Neuron\""),
        "learned thresholds are per neuron"
    );
    let img = dir.join("net.img");
    let out = spikemesh(&["map", m, "-o", img.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = dir.join("run.json");
    let out = spikemesh(&[
        "run",
        img.to_str().unwrap(),
        "--model",
        m,
        "--dataset",
        "digits",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let f = &r["figures"];
    assert_eq!(f["golden_agreement"].as_u64(), Some(360));
    assert_eq!(f["accuracy"].as_f64(), f["golden_accuracy"].as_f64());
}

#[test]
fn bad_architecture_string_names_the_token_and_rule() {
    let dir = scratch("bad");
    let out = spikemesh(&[
        "train",
        "--rule",
        "stidi",
        "--arch",
        "c8k3-q2-fc10",
        "--epochs",
        "1",
        "-o",
        dir.join("m.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("q2") && err.contains("column"), "{err}");
    assert!(!dir.join("m.json").exists());
}

#[test]
fn stidi_refuses_the_options_it_does_not_apply() {
    let dir = scratch("flags");
    let model = dir.join("model.json");
    let out = spikemesh(&[
        "train",
        "--rule",
        "stidi",
        "--arch",
        "fc20-fc10",
        "--threshold",
        "5",
        "--order",
        "shuffle",
        "-o",
        model.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--threshold, --order apply to --rule s4nn|bs4nn only"),
        "{err}"
    );
    assert!(!model.exists(), "no model is written");
}
