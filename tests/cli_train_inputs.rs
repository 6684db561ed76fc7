//! What `spikemesh train` feeds the network: `--augment N` and `--mirror` (seeded translation
//! and left-right mirroring: a rerun writes the same model byte for byte, each changes what is
//! trained, and both are off by default) and
//! `--encoding onoff` (the on/off-centre maps: recorded in the model file, mapped onto the chip
//! with both input channels and run there exactly as the golden model; a first layer that does
//! not count both maps is refused with the sizes named), the BS4NN `--sign-hysteresis`, and
//! `--validation` (a held-out set that chooses the saved epoch).

mod cli_support;

use cli_support::{spikemesh, train_digits};
use std::path::PathBuf;
use std::process::Output;

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    cli_support::scratch_dir("inputs").join(name)
}

/// The README's BS4NN digits options (a network that learns within a few epochs).
const DIGITS_RECIPE: [&str; 11] = [
    "--init-low=-1,0",
    "--gamma",
    "120",
    "--silent-shift",
    "120",
    "--lr-scale",
    "0",
    "--threshold",
    "30,400",
    "--lr",
    "0.5",
];

/// Trains 2 epochs on digits (seed 5) with `extra` options into `out`; returns the file.
fn train(out: &str, rule: &str, arch: &str, extra: &[&str]) -> Vec<u8> {
    ok(&train_digits(rule, arch, "2", "5", out, extra));
    std::fs::read(out).unwrap()
}

/// Each `(rule, extra, named)` run of 2 digits epochs fails with an error containing `named`
/// and writes no model to `p` (STiDi-BP runs on `fc20-fc10`, the others on `64-60-10`).
fn assert_refused(p: &str, cases: &[(&str, &[&str], &str)]) {
    for &(rule, extra, named) in cases {
        let arch = if rule == "stidi" {
            "fc20-fc10"
        } else {
            "64-60-10"
        };
        let o = train_digits(rule, arch, "2", "5", p, extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(named),
            "{rule} {extra:?}: {err}"
        );
        assert!(
            !std::path::Path::new(p).exists(),
            "{rule} {extra:?}: no model"
        );
    }
}

#[test]
fn augmented_training_is_reproducible_and_differs_from_plain_training() {
    for (rule, arch) in [("bs4nn", "64-60-10"), ("stidi", "fc40-fc10")] {
        let p = scratch(&format!("augment-{rule}.json"));
        let p = p.to_str().unwrap();
        let a = train(p, rule, arch, &["--augment", "1"]);
        let b = train(p, rule, arch, &["--augment", "1"]);
        assert_eq!(a, b, "{rule}: same seed and --augment, same model");
        let plain = train(p, rule, arch, &["--augment", "0"]);
        assert_ne!(a, plain, "{rule}: --augment 1 trains on other images");
        let m = train(p, rule, arch, &["--mirror"]);
        assert_eq!(
            m,
            train(p, rule, arch, &["--mirror"]),
            "{rule}: --mirror reruns"
        );
        assert_ne!(m, plain, "{rule}: --mirror trains on other images");
        let both = train(p, rule, arch, &["--augment", "1", "--mirror"]);
        assert_ne!(
            both, a,
            "{rule}: --mirror on top of --augment 1 changes the images"
        );
    }
}

#[test]
fn augment_zero_is_the_default() {
    let p = scratch("augment-default.json");
    let p = p.to_str().unwrap();
    let plain = train(p, "s4nn", "64-30-10", &["--augment", "0"]);
    assert_eq!(train(p, "s4nn", "64-30-10", &[]), plain);
}

#[test]
fn on_off_models_run_on_the_chip_like_the_golden_model() {
    for (rule, arch) in [("bs4nn", "128-60-10"), ("stidi", "c4k3-p2-fc10")] {
        let model = scratch(&format!("onoff-{rule}.json"));
        let m = model.to_str().unwrap();
        let text = train(m, rule, arch, &["--encoding", "onoff"]);
        assert!(
            String::from_utf8_lossy(&text).contains("OnOffCentre"),
            "{rule}: encoding recorded"
        );
        let img = scratch(&format!("onoff-{rule}.img"));
        ok(&spikemesh(&["map", m, "-o", img.to_str().unwrap()]));
        let report = scratch(&format!("onoff-{rule}-run.json"));
        ok(&spikemesh(&[
            "run",
            img.to_str().unwrap(),
            "--model",
            m,
            "--dataset",
            "digits",
            "--limit",
            "80",
            "--report",
            report.to_str().unwrap(),
        ]));
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(
            r["figures"]["golden_agreement"].as_u64(),
            Some(80),
            "{rule}"
        );
    }
}

#[test]
fn on_off_arch_must_count_both_maps() {
    let out = spikemesh(&[
        "train",
        "--dataset",
        "digits",
        "--rule",
        "bs4nn",
        "--arch",
        "64-60-10",
        "--encoding",
        "onoff",
        "--epochs",
        "1",
        "-o",
        scratch("onoff-bad.json").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for part in ["--arch 64-60-10", "128 inputs", "8×8", "two contrast maps"] {
        assert!(err.contains(part), "`{part}` missing from: {err}");
    }
}

/// `--sign-hysteresis` reaches the BS4NN trainer (it changes the model, one value per layer or
/// one for all) and is refused with its name where it cannot apply (S4NN's real weights, more
/// values than layers, a list for STiDi-BP, which takes one value); the epoch line reports the
/// sign turns. (That one value reaches the STiDi-BP trainer: `tests/cli_train_stidi.rs`.)
#[test]
fn sign_hysteresis_reaches_bs4nn_and_is_refused_where_it_cannot_apply() {
    let p = scratch("hysteresis.json");
    let p = p.to_str().unwrap();
    let run = |rule: &str, extra: &[&str]| train_digits(rule, "64-60-10", "2", "5", p, extra);
    let out = ok(&run("bs4nn", &["--sign-hysteresis", "0.1,1"]));
    assert!(out.contains("sign crossings ["), "{out}");
    let held = std::fs::read(p).unwrap();
    ok(&run("bs4nn", &[]));
    assert_ne!(
        held,
        std::fs::read(p).unwrap(),
        "the hysteresis changes training"
    );
    ok(&run("bs4nn", &["--sign-hysteresis", "0"]));
    let zero = std::fs::read(p).unwrap();
    ok(&run("bs4nn", &[]));
    assert_eq!(
        zero,
        std::fs::read(p).unwrap(),
        "h = 0 is the notebook's rule"
    );

    std::fs::remove_file(p).unwrap();
    for (rule, h, named) in [
        ("s4nn", "0.1", "sign_hysteresis"),
        ("bs4nn", "0.1,0.2,0.3", "--sign-hysteresis"),
        (
            "stidi",
            "0.1,0.2",
            "--sign-hysteresis: STiDi-BP takes one value",
        ),
    ] {
        let o = run(rule, &["--sign-hysteresis", h]);
        assert!(!o.status.success(), "{rule} {h} accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(named), "{rule} {h}: {err}");
        assert!(
            !std::path::Path::new(p).exists(),
            "{rule} {h}: no model is written"
        );
    }
}

#[test]
fn average_from_saves_the_averaged_network_and_leaves_training_alone() {
    let p = scratch("average.json");
    let p = p.to_str().unwrap();
    let run =
        |epochs: &str, extra: &[&str]| train_digits("bs4nn", "64-60-10", epochs, "5", p, extra);
    let out = ok(&run(
        "4",
        &[&DIGITS_RECIPE[..], &["--average-from", "4"]].concat(),
    ));
    // Averaging one epoch is that epoch: the saved model is the plain run's.
    let one = std::fs::read(p).unwrap();
    ok(&run("4", &DIGITS_RECIPE));
    assert_eq!(one, std::fs::read(p).unwrap());
    assert!(out.contains("averaged epochs 4-4: test acc"), "{out}");

    let out = ok(&run(
        "4",
        &[&DIGITS_RECIPE[..], &["--average-from", "2"]].concat(),
    ));
    assert!(
        out.contains("the saved model is the average of the last 3 epochs"),
        "{out}"
    );
    // The golden accuracy of the saved file is the averaged network's, as printed.
    let last = out
        .lines()
        .rfind(|l| l.contains("averaged epochs 2-4: test acc "))
        .expect("an averaged line for epoch 4");
    let acc = last
        .split("test acc ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap();
    assert!(
        out.contains(&format!("golden test accuracy {acc} %")),
        "{acc} in {out}"
    );
    assert_ne!(one, std::fs::read(p).unwrap(), "three epochs averaged");

    std::fs::remove_file(p).unwrap();
    for (rule, n, named) in [
        (
            "bs4nn",
            "0",
            "--average-from 0: must name one of the epochs 1..=4",
        ),
        (
            "bs4nn",
            "5",
            "--average-from 5: must name one of the epochs 1..=4",
        ),
        (
            "stidi",
            "2",
            "--average-from apply to --rule s4nn|bs4nn only",
        ),
    ] {
        let arch = if rule == "stidi" {
            "fc40-fc10"
        } else {
            "64-60-10"
        };
        let o = train_digits(rule, arch, "4", "5", p, &["--average-from", n]);
        assert!(!o.status.success(), "{rule} {n} accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(named), "{rule} {n}: {err}");
        assert!(!std::path::Path::new(p).exists(), "{rule} {n}: no model");
    }
}

/// `--optimiser momentum|adam` reaches the S4NN / BS4NN trainer with its `--batch` and
/// `--beta` (each changes the model; a rerun writes the same file byte for byte), `online` is
/// the papers' rule (the default), and the batched options are refused by name where they
/// cannot apply.
#[test]
fn optimiser_options_reach_the_trainer_and_are_refused_where_they_cannot_apply() {
    let p = scratch("optimiser.json");
    let p = p.to_str().unwrap();
    let model = |extra: &[&str]| {
        ok(&train_digits("bs4nn", "64-60-10", "2", "5", p, extra));
        std::fs::read(p).unwrap()
    };
    let plain = model(&[]);
    assert_eq!(
        plain,
        model(&["--optimiser", "online"]),
        "online is the default"
    );
    let out = ok(&train_digits(
        "bs4nn",
        "64-60-10",
        "2",
        "5",
        p,
        &["--optimiser", "adam", "--batch", "8"],
    ));
    assert!(
        out.contains("seed 5, Adam β 0.9,0.999, batches of 8"),
        "{out}"
    );
    let momentum = model(&["--optimiser", "momentum", "--lr", "0.02"]);
    assert_ne!(plain, momentum, "momentum changes training");
    assert_eq!(
        momentum,
        model(&["--optimiser", "momentum", "--lr", "0.02"]),
        "a rerun is identical"
    );
    for other in [
        &["--optimiser", "momentum", "--lr", "0.02", "--batch", "4"][..],
        &["--optimiser", "momentum", "--lr", "0.02", "--beta", "0.5"],
        &["--optimiser", "adam", "--lr", "0.01"],
    ] {
        assert_ne!(momentum, model(other), "{other:?} changes training");
    }

    std::fs::remove_file(p).unwrap();
    for (rule, extra, named) in [
        (
            "bs4nn",
            &["--batch", "8"][..],
            "--batch and --beta apply to --optimiser momentum|adam only",
        ),
        (
            "s4nn",
            &["--optimiser", "adam", "--beta", "0.9"],
            "--beta: Adam takes 2 value(s), found 1",
        ),
        (
            "bs4nn",
            &["--optimiser", "momentum", "--beta", "1"],
            "momentum β must lie in [0, 1)",
        ),
        (
            "bs4nn",
            &["--optimiser", "momentum", "--batch", "0"],
            "the batch needs at least 1 sample",
        ),
    ] {
        let o = train_digits(rule, "64-60-10", "2", "5", p, extra);
        assert!(!o.status.success(), "{extra:?} accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(named), "{extra:?}: {err}");
        assert!(
            !std::path::Path::new(p).exists(),
            "{extra:?}: no model is written"
        );
    }
    let o = train_digits("stidi", "fc20-fc10", "2", "5", p, &["--optimiser", "adam"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--optimiser apply to --rule s4nn|bs4nn only"),
        "{err}"
    );
}

/// `--forward-dropout` reaches the trainer (one value for every layer or one per layer, named
/// in the run's header), zero is no dropout, and a probability of 1 or a wrong count is refused
/// before a model is written.
#[test]
fn forward_dropout_reaches_the_trainer_and_is_checked() {
    let p = scratch("forward_dropout.json");
    let p = p.to_str().unwrap();
    let model = |extra: &[&str]| {
        let out = ok(&train_digits("bs4nn", "64-60-10", "2", "5", p, extra));
        (out, std::fs::read(p).unwrap())
    };
    let (_, plain) = model(&[]);
    assert_eq!(
        plain,
        model(&["--forward-dropout", "0"]).1,
        "0 is no dropout"
    );
    let (out, both) = model(&["--forward-dropout", "0.1"]);
    assert!(out.contains("seed 5, forward dropout [0.1, 0.1]"), "{out}");
    assert_ne!(plain, both, "dropout changes training");
    assert_eq!(both, model(&["--forward-dropout", "0.1,0.1"]).1);
    assert_ne!(both, model(&["--forward-dropout", "0,0.1"]).1);
    std::fs::remove_file(p).unwrap();
    assert_refused(
        p,
        &[
            ("bs4nn", &["--forward-dropout", "1"], "must lie in [0, 1)"),
            (
                "bs4nn",
                &["--forward-dropout", "0.1,0.1,0.1"],
                "--forward-dropout: give one value or one per layer (2), not 3",
            ),
            (
                "stidi",
                &["--forward-dropout", "0.1"],
                "--forward-dropout apply to --rule s4nn|bs4nn only",
            ),
        ],
    );
}

/// `--threshold-lr` reaches the trainer (0 is the papers' fixed threshold), writes per-neuron
/// thresholds into the model that the chip runs as the golden model does, and is refused for S4NN, STiDi-BP and bad values by name.
#[test]
fn threshold_lr_reaches_the_trainer_and_is_checked() {
    let p = scratch("threshold_lr.json");
    let p = p.to_str().unwrap();
    let model = |extra: &[&str]| {
        let out = ok(&train_digits("bs4nn", "64-60-10", "2", "5", p, extra));
        (out, std::fs::read(p).unwrap())
    };
    let (_, plain) = model(&[]);
    assert_eq!(plain, model(&["--threshold-lr", "0"]).1, "0 is no learning");
    let (out, learned) = model(&["--threshold-lr", "0.5,0"]);
    assert!(
        out.contains("per-neuron thresholds learned at [0.5, 0.0]") && out.contains("layer 1 θ "),
        "{out}"
    );
    assert_ne!(plain, learned, "learned thresholds change training");
    let net = model::network::Network::load(std::path::Path::new(p)).unwrap();
    let thresholds: Vec<&model::network::Threshold> = net
        .layers
        .iter()
        .filter_map(|l| match &l.kind {
            model::network::LayerKind::Dense(d) => Some(&d.threshold),
            _ => None,
        })
        .collect();
    assert!(
        matches!(
            thresholds[..],
            [
                model::network::Threshold::Neuron(_),
                model::network::Threshold::Layer(_)
            ]
        ),
        "{thresholds:?}"
    );
    // The chip compares with the learned integers neuron by neuron, as the golden model does.
    let img = scratch("threshold_lr.img");
    let img = img.to_str().unwrap();
    ok(&spikemesh(&["map", p, "-o", img]));
    let out = ok(&spikemesh(&["run", img, "--model", p]));
    assert!(out.contains("chip agrees on 360/360 samples"), "{out}");
    std::fs::remove_file(img).unwrap();
    std::fs::remove_file(p).unwrap();
    for (rule, arch, extra, named) in [
        ("bs4nn", "64-60-10", "-1", "must be finite and ≥ 0"),
        (
            "bs4nn",
            "64-60-10",
            "0.1,0.1,0.1",
            "--threshold-lr: give one value or one per layer (2), not 3",
        ),
        (
            "s4nn",
            "64-60-10",
            "0.1",
            "for BS4NN's integer comparison only",
        ),
        (
            "stidi",
            "fc20-fc10",
            "0.1",
            "--threshold-lr apply to --rule s4nn|bs4nn only",
        ),
    ] {
        let flag = format!("--threshold-lr={extra}");
        let o = train_digits(rule, arch, "2", "5", p, &[&flag]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(named),
            "{rule} {extra}: {err}"
        );
        assert!(
            !std::path::Path::new(p).exists(),
            "{rule} {extra}: no model"
        );
    }
}

/// `--silent-rival-shift` reaches the trainer (0 is the papers' rule) and is refused for
/// STiDi-BP, whose silent outputs follow its own rule.
#[test]
fn silent_rival_shift_reaches_the_trainer() {
    let p = scratch("rival.json");
    let p = p.to_str().unwrap();
    let model = |extra: &[&str]| {
        ok(&train_digits("bs4nn", "64-60-10", "2", "5", p, extra));
        std::fs::read(p).unwrap()
    };
    let plain = model(&["--silent-shift", "60"]);
    assert_eq!(
        plain,
        model(&["--silent-shift", "60", "--silent-rival-shift", "0"])
    );
    let pushed = ["--silent-shift", "60", "--silent-rival-shift", "60"];
    assert_ne!(plain, model(&pushed));
    let out = ok(&train_digits("bs4nn", "64-60-10", "2", "5", p, &pushed));
    assert!(
        out.contains("seed 5, silent outputs' rivals pushed 60 steps past t_max"),
        "{out}"
    );
    std::fs::remove_file(p).unwrap();
    let o = train_digits(
        "stidi",
        "fc20-fc10",
        "2",
        "5",
        p,
        &["--silent-rival-shift", "60"],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--silent-rival-shift apply to --rule s4nn|bs4nn only"),
        "{err}"
    );
}

/// `--silent-rival-ramp START,EPOCHS` reaches the trainer: a ramp from the full push is the
/// push itself, a ramp from 0 prints the push of each epoch and trains another model; it is
/// refused without a push to ramp to, with a malformed value, and for STiDi-BP.
#[test]
fn silent_rival_ramp_reaches_the_trainer() {
    let p = scratch("ramp.json");
    let p = p.to_str().unwrap();
    let run = |extra: &[&str]| {
        let out = ok(&train_digits("bs4nn", "64-60-10", "2", "5", p, extra));
        (out, std::fs::read(p).unwrap())
    };
    let pushed = ["--silent-shift", "60", "--silent-rival-shift", "60"];
    let (_, full) = run(&pushed);
    let (_, flat) = run(&[&pushed[..], &["--silent-rival-ramp", "60,3"]].concat());
    assert_eq!(full, flat, "a ramp from the full push is no ramp");
    let (out, ramped) = run(&[&pushed[..], &["--silent-rival-ramp", "0,1"]].concat());
    assert_ne!(full, ramped);
    assert!(
        out.contains("rivals pushed 0 steps past t_max, growing to 60 by epoch 2"),
        "{out}"
    );
    for (epoch, push) in [(1, 0), (2, 60)] {
        let line = format!("epoch {epoch}/2: ");
        assert!(
            out.lines()
                .any(|l| l.starts_with(&line) && l.contains(&format!("| rivals pushed {push} |"))),
            "epoch {epoch}: {out}"
        );
    }
    std::fs::remove_file(p).unwrap();
    assert_refused(
        p,
        &[
            (
                "bs4nn",
                &["--silent-rival-ramp", "0,1"],
                "needs --silent-rival-shift",
            ),
            (
                "bs4nn",
                &["--silent-rival-shift", "60", "--silent-rival-ramp", "0"],
                "takes START,EPOCHS",
            ),
            (
                "bs4nn",
                &["--silent-rival-shift", "60", "--silent-rival-ramp", "0,0"],
                "EPOCHS must be at least 1",
            ),
            (
                "bs4nn",
                &[
                    "--silent-rival-shift",
                    "60",
                    "--silent-rival-ramp",
                    "70000,2",
                ],
                "START 70000",
            ),
            (
                "stidi",
                &["--silent-rival-ramp", "0,1"],
                "--silent-rival-ramp apply to --rule s4nn|bs4nn only",
            ),
        ],
    );
}

/// `--tie-shift N` reaches the trainer (0 is the papers' rule), `--tie-shift-lost` narrows it
/// to the ties the decoder loses (a third trajectory); refused at t_max or beyond, without a
/// shift, and for STiDi-BP.
#[test]
fn tie_shift_reaches_the_trainer() {
    let p = scratch("tie.json");
    let p = p.to_str().unwrap();
    let model = |extra: &[&str]| {
        let out = ok(&train_digits("s4nn", "64-60-10", "2", "5", p, extra));
        (out, std::fs::read(p).unwrap())
    };
    let (_, plain) = model(&[]);
    assert_eq!(plain, model(&["--tie-shift", "0"]).1);
    let (out, pulled) = model(&["--tie-shift", "2"]);
    assert_ne!(plain, pulled);
    assert!(
        out.contains("a label tied at the earliest spike pulled 2 steps earlier"),
        "{out}"
    );
    let (out, lost_only) = model(&["--tie-shift", "2", "--tie-shift-lost"]);
    assert!(lost_only != plain && lost_only != pulled);
    assert!(
        out.contains("pulled 2 steps earlier when the decoder names another class"),
        "{out}"
    );
    std::fs::remove_file(p).unwrap();
    assert_refused(
        p,
        &[
            ("s4nn", &["--tie-shift", "256"], "tie_label_shift"),
            (
                "s4nn",
                &["--tie-shift-lost"],
                "--tie-shift-lost needs --tie-shift N",
            ),
            (
                "stidi",
                &["--tie-shift", "2"],
                "--tie-shift apply to --rule s4nn|bs4nn only",
            ),
        ],
    );
}

/// The decoder's tie rules: `--tie-order` learns the tie order after every epoch,
/// `--ties-by-potential` puts the crossing potentials before it. Training is the plain run's,
/// the saved model carries the rule and the order, the epoch line names them beside the
/// lowest-index figure; `eval … --learn-tie-order` (with the same rule flag) on the plain run's
/// model learns the same order from the same training images and writes the same model.
#[test]
fn tie_rules_are_learned_saved_and_reported() {
    let p = scratch("tie-rule.json");
    let p = p.to_str().unwrap();
    let relearned = scratch("tie-rule-eval.json");
    let relearned = relearned.to_str().unwrap();
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [&'a str],
        &'a [&'a str],
        &'a [&'a str],
    );
    let cases: [Case; 2] = [
        (
            "s4nn",
            "64-60-10",
            &["--tie-order"],
            &[
                "ties decoded by an order learned on the training images",
                "tie order [",
            ],
            &["ties decoded by the model's tie order"],
        ),
        (
            "bs4nn",
            "64-100-10",
            &["--ties-by-potential", "--tie-order"],
            &[
                "ties decoded by the potential at the crossing step, then by an order",
                "ties by potential then tie order [",
            ],
            &["ties decoded by the largest potential at the crossing step first"],
        ),
    ];
    for (rule, arch, flags, printed, evaluated) in cases {
        let model = |extra: &[&str]| {
            let out = ok(&train_digits(rule, arch, "3", "3", p, extra));
            let net = model::Network::load(std::path::Path::new(p)).unwrap();
            (out, net)
        };
        let (_, plain) = model(&[]);
        let (out, decoded) = model(flags);
        assert_eq!(plain.layers, decoded.layers, "{flags:?} changed training");
        assert!(plain.tie_order.is_none() && !plain.ties_by_potential);
        let order = decoded.tie_order.clone().expect("the order was saved");
        assert_eq!(
            decoded.ties_by_potential,
            flags.contains(&"--ties-by-potential")
        );
        assert!(
            printed.iter().all(|x| out.contains(x))
                && out.contains(&format!("{:?}", order.as_slice()))
                && out.contains("lowest index"),
            "{out}"
        );
        std::fs::write(p, plain.to_json()).unwrap();
        let mut args = vec![
            "eval",
            p,
            "--dataset",
            "digits",
            "--learn-tie-order",
            relearned,
        ];
        args.extend(flags.iter().filter(|&&f| f != "--tie-order"));
        let out = ok(&spikemesh(&args));
        let back = model::Network::load(std::path::Path::new(relearned)).unwrap();
        assert_eq!(back, decoded, "{out}");
        assert!(evaluated.iter().all(|x| out.contains(x)), "{out}");
        std::fs::remove_file(p).unwrap();
        std::fs::remove_file(relearned).unwrap();
        let refusal = format!("{} apply to --rule s4nn|bs4nn only", flags[0]);
        assert_refused(p, &[("stidi", &flags[..1], &refusal)]);
    }
}

/// `--validation N` holds out the last N training images, reports their accuracy each epoch
/// and saves the best validation epoch's network (not the last, not the test-best): the saved
/// file is byte for byte the model of a run stopped at that epoch, its golden test accuracy is
/// that epoch's, and the CSV carries the validation column the run printed. Refused where it
/// cannot apply or would leave a set empty.
#[test]
fn validation_saves_the_best_validation_epoch() {
    let p = scratch("validation.json");
    let csv = scratch("validation.csv");
    let p = p.to_str().unwrap();
    let recipe = |epochs: &str| {
        train_digits(
            "bs4nn",
            "64-600-10",
            epochs,
            "1",
            p,
            &[
                &DIGITS_RECIPE[..],
                &["--validation", "300", "--history", csv.to_str().unwrap()],
            ]
            .concat(),
        )
    };
    let out = ok(&recipe("10"));
    assert!(
        out.contains("on digits (1137 train / 300 validation / 360 test)"),
        "{out}"
    );
    let saved: usize = out
        .split("the saved model is epoch ")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .and_then(|e| e.parse().ok())
        .unwrap_or_else(|| panic!("a saved epoch in {out}"));
    let rows: Vec<Vec<String>> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 10);
    let val = |r: &Vec<String>| r[6].parse::<f64>().unwrap();
    // The saved epoch is the earliest highest validation accuracy of the CSV …
    let best = rows.iter().map(val).fold(f64::MIN, f64::max);
    let first_best = rows.iter().position(|r| val(r) == best).unwrap() + 1;
    assert_eq!(saved, first_best, "{out}");
    // … which, in this run, is neither the last epoch nor the best test epoch: the selection
    // is visible.
    assert!(saved < 10, "{out}");
    assert!(!out.contains(&format!("best epoch {saved}:")), "{out}");
    let test_of = |e: usize| format!("{:.2}", rows[e - 1][3].parse::<f64>().unwrap());
    assert!(
        out.contains(&format!("golden test accuracy {} %", test_of(saved))),
        "epoch {saved}'s test accuracy in {out}"
    );
    for (k, line) in out.lines().filter(|l| l.starts_with("epoch ")).enumerate() {
        let shown = format!("validation acc {:.2} %", val(&rows[k]));
        assert!(line.contains(&shown), "{shown} in {line}");
        assert_eq!(
            line.contains("(best so far, saved)"),
            rows[..k].iter().all(|r| val(r) < val(&rows[k])),
            "{line}"
        );
    }
    let chosen = std::fs::read(p).unwrap();
    ok(&recipe(&saved.to_string()));
    assert_eq!(
        chosen,
        std::fs::read(p).unwrap(),
        "a run stopped at epoch {saved}"
    );

    std::fs::remove_file(p).unwrap();
    assert_refused(
        p,
        &[
            (
                "bs4nn",
                &["--validation", "0"],
                "--validation 0: must hold out at least one of the 1437 training images",
            ),
            (
                "bs4nn",
                &["--validation", "1437"],
                "--validation 1437: must hold out",
            ),
            (
                "bs4nn",
                &["--validation", "100", "--average-from", "2"],
                "--validation and --average-from each choose the saved model",
            ),
            (
                "stidi",
                &["--validation", "100"],
                "--validation apply to --rule s4nn|bs4nn only",
            ),
        ],
    );
}
