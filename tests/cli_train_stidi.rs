//! `spikemesh train --rule stidi`: a network trained with STiDi-BP and learned per-neuron
//! thresholds maps onto the chip unchanged and runs there exactly as the golden model; the
//! STiDi-BP options reach the trainer (the model equals the library's with the same settings,
//! and each option changes it); options of the other rules, and theirs for the other rules, are
//! refused by name.

mod cli_support;

use cli_support::{spikemesh, stderr, train_digits};
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

/// The STiDi-BP options of one recipe, as `(flag, value)` pairs (`""` for a switch).
const RECIPE: [(&str, &str); 7] = [
    ("--threshold-per-input", "10"),
    ("--lr", "0.1,0.3"),
    ("--fixed-thresholds", ""),
    ("--sign-hysteresis", "0.3"),
    ("--lr-decay", "0.8"),
    ("--derivative", "slope"),
    ("--normalisation", "none"),
];

/// Trains `c8k3-p2-fc10` on digits (3 epochs, seed 3) with the recipe minus the option
/// `skip` (if any); returns the model file's bytes.
fn train_recipe(skip: Option<&str>) -> Vec<u8> {
    let model = scratch("recipe").join(format!(
        "m{}.json",
        skip.unwrap_or("").trim_start_matches('-')
    ));
    let mut extra = Vec::new();
    for (flag, value) in RECIPE.iter().filter(|(f, _)| Some(*f) != skip) {
        extra.push(*flag);
        if !value.is_empty() {
            extra.push(*value);
        }
    }
    let out = train_digits(
        "stidi",
        "c8k3-p2-fc10",
        "3",
        "3",
        model.to_str().unwrap(),
        &extra,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::read(&model).unwrap()
}

#[test]
fn stidi_options_reach_the_trainer() {
    use model::stidi::{Arch, Derivative, Normalisation, StidiConfig, StidiTrainer};
    let cli = train_recipe(None);
    // The same settings through the library.
    let data = model::data::digits().unwrap();
    let arch: Arch = "c8k3-p2-fc10".parse().unwrap();
    let mut cfg = StidiConfig::binary();
    cfg.theta_per_fan_in = 10.0;
    cfg.lr = vec![0.1, 0.3];
    cfg.lr_output = None;
    cfg.thresholds.learn = false;
    cfg.sign_hysteresis = 0.3;
    cfg.lr_decay = 0.8;
    cfg.derivative = Derivative::LocalSlope;
    cfg.normalisation = Normalisation::None;
    let mut t = StidiTrainer::for_dataset(&arch, &data.train, cfg, 3).unwrap();
    for epoch in 0..3 {
        t.train_epoch(
            &data
                .train
                .for_epoch(model::Augmentation::default(), 3, epoch),
        )
        .unwrap();
    }
    let lib = scratch("recipe").join("library.json");
    t.export().unwrap().save(&lib).unwrap();
    assert!(
        cli == std::fs::read(&lib).unwrap(),
        "the CLI's model equals the library's with the same settings"
    );
    for (flag, _) in RECIPE {
        assert_ne!(
            train_recipe(Some(flag)),
            cli,
            "{flag} changes what is trained"
        );
    }
}

#[test]
fn options_of_one_rule_are_refused_for_the_other() {
    let model = scratch("refuse").join("m.json");
    let m = model.to_str().unwrap();
    // Exit code 2 is clap's, for a value its parser refuses.
    for (rule, arch, extra, code, expect) in [
        (
            "bs4nn",
            "64-100-10",
            &["--fixed-thresholds"][..],
            1,
            "--fixed-thresholds applies to --rule stidi only",
        ),
        (
            "bs4nn",
            "64-100-10",
            &["--derivative", "slope", "--threshold-per-input", "10"][..],
            1,
            "--derivative, --threshold-per-input apply to --rule stidi only",
        ),
        (
            "s4nn",
            "64-100-10",
            &["--kernel", "step"][..],
            1,
            "--kernel applies to --rule stidi only",
        ),
        (
            "stidi",
            "fc10",
            &["--sign-hysteresis", "0.1,0.2"][..],
            1,
            "STiDi-BP takes one value for every layer, not 2",
        ),
        (
            "stidi",
            "fc10",
            &["--kernel", "sat:4"][..],
            1,
            "--kernel sat:4: the chip has no saturating kernel",
        ),
        (
            "stidi",
            "fc10",
            &["--derivative", "secant"][..],
            2,
            "derivative `secant` is not one of chord, slope, constant",
        ),
    ] {
        let out = train_digits(rule, arch, "1", "1", m, extra);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{err}");
        assert!(err.contains(expect), "{rule} {extra:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!model.exists(), "{rule} {extra:?}: no model written");
    }
}
