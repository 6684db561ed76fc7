//! `spikemesh learn` end to end: a random binary digits network mapped with
//! `spikemesh map --learning` learns on the chip; the written image loads, its binary rows are
//! the signs of its latent weights, and `spikemesh run` on it reproduces the test accuracy the
//! learn command printed; `--check` (the golden fixed-point trainer after every sample) passes
//! with output-layer and hidden-layer learning and catches a model the image was not mapped
//! from; learning energy is updates × the profile's cost; bad inputs are errors, never panics.

mod cli_support;

use cli_support::{random_binary_net, spikemesh};
use isa::ChipImage;
use model::network::{LayerKind, Weights};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::process::Output;

fn scratch_dir(test: &str) -> PathBuf {
    cli_support::scratch_dir(&format!("cli-learn-{test}"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(o: &Output, what: &str) -> String {
    let (out, err) = text(o);
    assert!(o.status.success(), "{what} failed:\n{out}\n{err}");
    out
}

/// A failure with a message, not a panic (Rust's panic exit code is 101).
fn fails(o: &Output, what: &str) -> String {
    let (out, err) = text(o);
    assert!(!o.status.success(), "{what} should fail:\n{out}");
    assert_ne!(o.status.code(), Some(101), "{what} panicked:\n{err}");
    assert!(!err.contains("panicked"), "{what} panicked:\n{err}");
    err
}

/// The `(correct, total)` of the last `label … (c/n)` figure on a line starting with `prefix`.
fn count_after(out: &str, prefix: &str, label: &str) -> (usize, usize) {
    let line = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"));
    let at = line.find(label).expect("label on the line") + label.len();
    let open = line[at..].find('(').expect("(c/n)") + at + 1;
    let close = line[open..].find(')').expect("(c/n)") + open;
    let (c, n) = line[open..close].split_once('/').expect("c/n");
    (c.parse().unwrap(), n.parse().unwrap())
}

#[test]
fn learned_image_runs_with_the_reported_accuracy_and_matches_the_golden() {
    let dir = scratch_dir("roundtrip");
    let model = dir.join("net.json");
    let image = dir.join("learn.img");
    let trained = dir.join("trained.img");
    let report = dir.join("report.json");
    random_binary_net(5, &[10], &[20], 0.5, 64)
        .save(&model)
        .unwrap();
    ok(
        &spikemesh(&[
            "map",
            s(&model),
            "--learning",
            "--eta",
            "8",
            "-o",
            s(&image),
        ]),
        "map --learning",
    );
    let out = ok(
        &spikemesh(&[
            "learn",
            s(&image),
            "--dataset",
            "digits",
            "--model",
            s(&model),
            "--epochs",
            "2",
            "--limit",
            "300",
            "--test-limit",
            "120",
            "--seed",
            "3",
            "--check",
            "--report",
            s(&report),
            "-o",
            s(&trained),
        ]),
        "learn --check",
    );
    assert!(
        out.contains("check: latent weights and binary rows"),
        "{out}"
    );
    let (correct, total) = count_after(&out, "epoch 2/2", "test accuracy");
    assert_eq!(total, 120);

    // The written image runs, and gives the accuracy the learn command printed.
    let run = ok(
        &spikemesh(&[
            "run",
            s(&trained),
            "--tmax",
            "64",
            "--encoding",
            "bs4nn",
            "--limit",
            "120",
        ]),
        "run on the trained image",
    );
    assert_eq!(
        count_after(&run, "accuracy:", "accuracy:"),
        (correct, total)
    );

    // The trained image: latents moved, and every binary row is the sign of its latent.
    let before = ChipImage::load(&image).unwrap();
    let after = ChipImage::load(&trained).unwrap();
    assert_eq!(after.cores.len(), 1);
    let core = &after.cores[0];
    let latent = core
        .latent
        .as_ref()
        .expect("latent memory in the trained image");
    assert_ne!(
        Some(latent),
        before.cores[0].latent.as_ref(),
        "nothing learned"
    );
    let words = core.words_per_row();
    for a in 0..core.axons as usize {
        for n in 0..core.neurons as usize {
            let bit = core.synapses.sign[a * words + n / 64] >> (n % 64) & 1;
            assert_eq!(
                bit == 1,
                latent[a * core.neurons as usize + n] >= 0,
                "axon {a}, neuron {n}"
            );
        }
    }

    // Learning energy: the updates component is the counted updates × the profiles' 120 pJ
    // (Davies et al. 2018's synaptic update; SANA-FE fits none, so both profiles keep it).
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let epochs = rep["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for e in epochs {
        let samples = e["samples"].as_f64().unwrap();
        assert_eq!(samples, 300.0);
        let updates = e["latent_updates"].as_f64().unwrap();
        assert!(updates > 0.0);
        let profiles = e["learning_energy_per_sample"].as_array().unwrap();
        let names: Vec<&str> = profiles
            .iter()
            .map(|p| p["profile"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["loihi-datasheet", "loihi-calibrated"]);
        for p in profiles {
            let j = p["components"]["learning_j"].as_f64().unwrap();
            let want = updates / samples * 120e-12;
            assert!((j - want).abs() <= 1e-9 * want, "{j} vs {want}");
            assert!(p["components"]["static_j"].as_f64().unwrap() > 0.0);
        }
        assert!(e["learn_cycles_per_sample_mean"].as_f64().unwrap() > 0.0);
        assert!(
            e["learn_cycles_per_sample_max"].as_f64().unwrap()
                >= e["learn_cycles_per_sample_mean"].as_f64().unwrap()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_passes_with_hidden_layer_learning_over_two_cores() {
    // 64 -> 300 -> 10 on 256-neuron cores: the hidden layer is cut into two cores of 150,
    // whose errors are normalised per core or, with the cores exchanging their sums of
    // squares, over the whole layer; the golden follows both, chunk by chunk.
    let dir = scratch_dir("hidden");
    let model = dir.join("net.json");
    random_binary_net(9, &[300, 10], &[6, 10], 0.5, 64)
        .save(&model)
        .unwrap();
    for normalisation in ["core", "layer"] {
        let image = dir.join(format!("learn-{normalisation}.img"));
        let trained = dir.join(format!("trained-{normalisation}.img"));
        let report = dir.join(format!("report-{normalisation}.json"));
        ok(
            &spikemesh(&[
                "map",
                s(&model),
                "--learning",
                "--eta",
                "2,4",
                "--normalisation",
                normalisation,
                "-o",
                s(&image),
            ]),
            "map --learning",
        );
        let out = ok(
            &spikemesh(&[
                "learn",
                s(&image),
                "--model",
                s(&model),
                "--limit",
                "60",
                "--test-limit",
                "40",
                "--check",
                "--report",
                s(&report),
                "-o",
                s(&trained),
            ]),
            "learn --check, two learning layers",
        );
        assert!(out.contains("3 learning"), "{out}");
        assert!(
            out.contains("check: latent weights and binary rows"),
            "{out}"
        );
        let rep: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        // The output core sends one partial hidden error per hidden neuron and sample; the
        // whole-layer normalisation adds the hidden cores' exchange.
        let packets = rep["epochs"][0]["learn_packets"].as_u64().unwrap();
        if normalisation == "core" {
            assert_eq!(packets, 60 * 300);
        } else {
            assert!(packets > 60 * 300, "{packets}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_passes_from_real_latent_start_weights() {
    // A model with latent (real) weights starts every core's latents at round(w · m) for the
    // mapper's init magnitude m; `learn --check` must rebuild the golden with the same m (640
    // here, not the default 1024) or it refuses before the first sample.
    let dir = scratch_dir("latent");
    let model = dir.join("net.json");
    let mut net = random_binary_net(4, &[40, 10], &[6, 10], 0.5, 64);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for layer in &mut net.layers {
        if let LayerKind::Dense(d) = &mut layer.kind {
            let n = (d.inputs * d.outputs) as usize;
            d.weights = Weights::Latent {
                values: (0..n).map(|_| rng.gen_range(-1.0f32..5.0)).collect(),
            };
        }
    }
    net.save(&model).unwrap();
    let image = dir.join("learn.img");
    ok(
        &spikemesh(&[
            "map",
            s(&model),
            "--learning",
            "--init-magnitude",
            "640",
            "-o",
            s(&image),
        ]),
        "map --learning, real weights",
    );
    let out = ok(
        &spikemesh(&[
            "learn",
            s(&image),
            "--model",
            s(&model),
            "--limit",
            "40",
            "--test-limit",
            "20",
            "--check",
            "-o",
            s(&dir.join("trained.img")),
        ]),
        "learn --check from real weights",
    );
    assert!(
        out.contains("check: latent weights and binary rows"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_refuses_a_model_the_image_was_not_mapped_from() {
    let dir = scratch_dir("wrong-model");
    let model = dir.join("net.json");
    let other = dir.join("other.json");
    let image = dir.join("learn.img");
    random_binary_net(5, &[10], &[20], 0.5, 64)
        .save(&model)
        .unwrap();
    random_binary_net(6, &[10], &[20], 0.5, 64)
        .save(&other)
        .unwrap();
    ok(
        &spikemesh(&["map", s(&model), "--learning", "-o", s(&image)]),
        "map --learning",
    );
    let err = fails(
        &spikemesh(&[
            "learn",
            s(&image),
            "--model",
            s(&other),
            "--limit",
            "10",
            "--check",
            "-o",
            s(&dir.join("t.img")),
        ]),
        "learn --check with another model",
    );
    assert!(err.contains("before training"), "{err}");
    assert!(err.contains("tile 0"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let dir = scratch_dir("errors");
    let model = dir.join("net.json");
    let inference = dir.join("inference.img");
    let learning = dir.join("learning.img");
    let out = dir.join("t.img");
    random_binary_net(5, &[10], &[20], 0.5, 64)
        .save(&model)
        .unwrap();
    ok(&spikemesh(&["map", s(&model), "-o", s(&inference)]), "map");
    ok(
        &spikemesh(&["map", s(&model), "--learning", "-o", s(&learning)]),
        "map --learning",
    );
    let tm = ["--tmax", "64", "--encoding", "bs4nn"];
    let err = fails(
        &spikemesh(&[&["learn", s(&inference), "-o", s(&out)][..], &tm].concat()),
        "an inference image",
    );
    assert!(err.contains("inference.img"), "{err}");
    assert!(err.contains("spikemesh map --learning"), "{err}");
    let err = fails(
        &spikemesh(
            &[
                &["learn", s(&learning), "--dataset", "cifar", "-o", s(&out)][..],
                &tm,
            ]
            .concat(),
        ),
        "an unknown data set",
    );
    assert!(err.contains("cifar"), "{err}");
    let err = fails(
        &spikemesh(
            &[
                &[
                    "learn",
                    s(&learning),
                    "--dataset",
                    "mnist:/nonexistent-dir",
                    "-o",
                    s(&out),
                ][..],
                &tm,
            ]
            .concat(),
        ),
        "a missing MNIST directory",
    );
    assert!(err.contains("nonexistent-dir"), "{err}");
    let err = fails(
        &spikemesh(&[&["learn", s(&learning), "--check", "-o", s(&out)][..], &tm].concat()),
        "--check without --model",
    );
    assert!(err.contains("--model"), "{err}");
    let err = fails(
        &spikemesh(&["learn", s(&model), "-o", s(&out)]),
        "a model file given as the image",
    );
    assert!(err.contains("net.json"), "{err}");
    let err = fails(
        &spikemesh(&[
            "learn",
            s(&learning),
            "--tmax",
            "32",
            "--encoding",
            "bs4nn",
            "-o",
            s(&out),
        ]),
        "a window other than the image's",
    );
    assert!(err.contains("t_max"), "{err}");
    assert!(!out.exists(), "no image is written on error");
    let _ = std::fs::remove_dir_all(&dir);
}
