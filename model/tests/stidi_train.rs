//! End-to-end STiDi-BP training on the embedded digits: accuracy, exact agreement of the
//! exported chip network with the golden model, determinism across thread counts, learned
//! thresholds in range, and homeostasis against dead neurons.

use model::data::{digits, Dataset};
use model::stidi::{Arch, StidiConfig, StidiTrainer};
use model::{GoldenNetwork, Network};

fn train(
    arch: &str,
    cfg: StidiConfig,
    epochs: usize,
    data: &Dataset,
) -> (StidiTrainer, Vec<model::stidi::EpochStats>) {
    let arch = Arch::parse(arch).unwrap();
    let mut t = StidiTrainer::for_dataset(&arch, data, cfg, 1).unwrap();
    let stats = (0..epochs).map(|_| t.train_epoch(data).unwrap()).collect();
    (t, stats)
}

#[test]
fn binary_csnn_learns_digits_and_its_export_is_the_golden_network() {
    let d = digits().unwrap();
    let (t, stats) = train("c8k3-p2-fc10", StidiConfig::binary(), 20, &d.train);
    let acc = t.evaluate(&d.test).unwrap();
    // Stated target for the default configuration (measured 0.886 with seed 1; chance 0.1).
    assert!(acc >= 0.85, "test accuracy {acc}");
    assert!(stats.last().unwrap().train_accuracy > stats[0].train_accuracy);

    let net = t.export().unwrap();
    net.validate().unwrap();
    let json =
        Network::from_bytes(net.to_json().as_bytes(), std::path::Path::new("<memory>")).unwrap();
    assert_eq!(json, net);
    let golden = GoldenNetwork::new(&net).unwrap();
    let enc = t.encoder();
    let preds = t.predictions(&d.test).unwrap();
    let mut correct = 0;
    for (k, &p) in preds.iter().enumerate() {
        let g = golden.classify(&enc.encode(d.test.image(k))).unwrap();
        assert_eq!(g, p, "sample {k}");
        correct += usize::from(g == d.test.label(k));
    }
    assert_eq!(correct as f64 / d.test.len() as f64, acc);

    for l in 0..t.weighted_layers() {
        let (lo, hi) = t.threshold_range(l);
        assert!(
            t.thresholds(l).iter().all(|th| (lo..=hi).contains(th)),
            "layer {l}"
        );
    }
}

#[test]
fn homeostasis_and_learned_thresholds_reduce_dead_neurons() {
    let d = digits().unwrap();
    let (_, with) = train("c8k3-p2-fc10", StidiConfig::binary(), 12, &d.train);
    let mut fixed = StidiConfig::binary();
    fixed.thresholds.learn = false;
    fixed.thresholds.homeostasis = None;
    let (_, without) = train("c8k3-p2-fc10", fixed, 12, &d.train);
    let (a, b) = (
        with.last().unwrap().dead_fraction,
        without.last().unwrap().dead_fraction,
    );
    assert!(a < b, "dead fraction with {a}, without {b}");
    assert!(
        with.iter().map(|s| s.lowered).sum::<usize>() > 0,
        "homeostasis acted"
    );
}

/// Digits upsampled ×3 (24×24) so that the conv layers are large enough to run in parallel.
fn big_digits(n: usize) -> Dataset {
    let d = digits().unwrap().train;
    let mut pixels = Vec::with_capacity(n * 576);
    for k in 0..n {
        let img = d.image(k);
        for y in 0..24 {
            for x in 0..24 {
                pixels.push(img[(y / 3) * 8 + x / 3]);
            }
        }
    }
    Dataset {
        name: "digits24".into(),
        height: 24,
        width: 24,
        pixels,
        labels: d.labels[..n].to_vec(),
        classes: 10,
    }
}

#[test]
fn same_seed_same_network_for_any_thread_count() {
    let data = big_digits(60);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (t, stats) = train("c16k5-p2-c8k3-fc10", StidiConfig::binary(), 2, &data);
            (
                t.export().unwrap(),
                stats
                    .iter()
                    .map(|s| (s.train_accuracy, s.mean_loss, s.dead_fraction))
                    .collect::<Vec<_>>(),
            )
        })
    };
    let (a, sa) = run(1);
    let (b, sb) = run(3);
    assert_eq!(sa, sb);
    assert_eq!(a, b);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let d = digits().unwrap();
    let arch = Arch::parse("fc10").unwrap();
    let mut t = StidiTrainer::new(&arch, (1, 4, 4), StidiConfig::binary(), 1).unwrap();
    let e = t.train_epoch(&d.train).unwrap_err().to_string();
    assert!(e.contains("8×8") && e.contains("1×4×4"), "{e}");
    let e = t.train_sample(&[0; 16], 10).unwrap_err().to_string();
    assert!(
        e.contains("label") && e.contains("10 is not below the 10 outputs"),
        "{e}"
    );
    let mut cfg = StidiConfig::binary();
    cfg.lr = vec![0.1, 0.2, 0.3];
    let e = StidiTrainer::new(&Arch::parse("fc5-fc10").unwrap(), (1, 8, 8), cfg, 1)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lr") && e.contains("one per weighted layer (2)"),
        "{e}"
    );
    let e = StidiTrainer::new(
        &Arch::parse("c4k9-fc10").unwrap(),
        (1, 8, 8),
        StidiConfig::binary(),
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("token 1") && e.contains("does not fit"), "{e}");
    let e = StidiTrainer::new(
        &Arch::parse("fc65535-fc65535").unwrap(),
        (1, 64, 64),
        StidiConfig::binary(),
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("weights, more than"), "{e}");
}

/// `error_knee = k` scales a sample's update by `min(1, ‖e_out‖/k)`: one sample trained with a
/// knee moves the latent weights and thresholds exactly as the plain rule does with both
/// learning rates multiplied by that factor (computed here from the output error).
#[test]
fn error_knee_scales_one_samples_update_by_its_output_error() {
    let d = digits().unwrap();
    let arch = Arch::parse("fc30-fc10").unwrap();
    let mut base = StidiConfig::binary();
    base.thresholds.homeostasis = None;
    base.parallel = false;
    let mut partial = 0;
    for k in 0..40 {
        let (image, label) = (d.train.image(k), d.train.label(k));
        let probe = StidiTrainer::for_dataset(&arch, &d.train, base.clone(), 3).unwrap();
        let rec = probe.record(image);
        let out = rec.times.last().unwrap();
        let target = model::stidi::rule::targets(
            out,
            label,
            base.gamma,
            base.silent_label_shift,
            base.t_max,
        );
        let norm = target
            .iter()
            .zip(out)
            .map(|(&a, &b)| (f32::from(a) - f32::from(b)).powi(2))
            .sum::<f32>()
            .sqrt();
        let knee = 50.0f32;
        let f = (norm / knee).min(1.0);

        let mut kneed = base.clone();
        kneed.error_knee = Some(knee);
        let mut a = StidiTrainer::for_dataset(&arch, &d.train, kneed, 3).unwrap();
        a.train_sample(image, label).unwrap();

        let mut scaled = base.clone();
        scaled.lr = base.lr.iter().map(|&x| x * f).collect();
        scaled.lr_output = base.lr_output.map(|x| x * f);
        scaled.thresholds.lr = base.thresholds.lr * f64::from(f);
        let mut b = StidiTrainer::for_dataset(&arch, &d.train, scaled, 3).unwrap();
        b.train_sample(image, label).unwrap();

        let untouched = StidiTrainer::for_dataset(&arch, &d.train, base.clone(), 3).unwrap();
        for l in 0..2 {
            for ((x, y), w0) in a
                .latent_weights(l)
                .iter()
                .zip(b.latent_weights(l))
                .zip(untouched.latent_weights(l))
            {
                let tol = 1e-6 * (1.0 + (y - w0).abs());
                assert!(
                    (x - y).abs() <= tol,
                    "sample {k}, layer {l}: {x} vs {y} (factor {f})"
                );
            }
            assert_eq!(a.thresholds(l), b.thresholds(l), "sample {k}, layer {l}");
        }
        let moved = a.latent_weights(1) != untouched.latent_weights(1);
        partial += usize::from(f > 0.0 && f < 1.0 && moved);
    }
    assert!(
        partial > 0,
        "no sample had a partial (0 < factor < 1) update"
    );
}

/// The error text of a digits trainer for `arch` under `cfg`; panics (naming `what`) when the
/// configuration is accepted.
fn refusal(arch: &str, cfg: StidiConfig, what: &str) -> String {
    let d = digits().unwrap();
    StidiTrainer::for_dataset(&Arch::parse(arch).unwrap(), &d.train, cfg, 1)
        .err()
        .unwrap_or_else(|| panic!("{what} accepted"))
        .to_string()
}

#[test]
fn a_knee_that_is_not_a_positive_number_of_steps_is_refused() {
    for k in [0.0, -3.0, f32::NAN, f32::INFINITY] {
        let mut cfg = StidiConfig::binary();
        cfg.error_knee = Some(k);
        let e = refusal("fc10", cfg, &format!("knee {k}"));
        assert!(e.contains("error_knee") && e.contains("> 0"), "{e}");
    }
}

/// A conv channel whose kernel is all negative is silent at every position; lowering its
/// thresholds cannot revive it. With `redraw_rate` the epoch's end re-draws exactly that
/// channel from the initial range; without it the channel stays silent.
#[test]
fn redraw_revives_a_silent_conv_channel_and_only_that_one() {
    let d = digits().unwrap();
    let arch = Arch::parse("c4k3-p2-fc10").unwrap();
    let fan_in = 9;
    let run = |redraw: Option<f64>| {
        let mut cfg = StidiConfig::binary();
        cfg.redraw_rate = redraw;
        let mut t = StidiTrainer::for_dataset(&arch, &d.train, cfg, 2).unwrap();
        let mut w = t.latent_weights(0).to_vec();
        w[..fan_in].iter_mut().for_each(|x| *x = -1.0);
        t.set_latent_weights(0, &w).unwrap();
        let before = t.latent_weights(0).to_vec();
        let stats = t.train_epoch(&d.train).unwrap();
        (t, before, stats)
    };
    let (off, _, s_off) = run(None);
    assert_eq!(s_off.redrawn, 0);
    assert!(off.latent_weights(0)[..fan_in].iter().all(|&x| x < 0.0));

    let (on, before, s_on) = run(Some(0.001));
    assert_eq!(s_on.redrawn, 1, "only channel 0 is silent");
    let redrawn = &on.latent_weights(0)[..fan_in];
    let cfg = StidiConfig::binary();
    let (lo, hi) = (cfg.init_low[0], cfg.init_high[0]);
    assert!(
        redrawn.iter().all(|&x| (lo..hi).contains(&x)),
        "{redrawn:?}"
    );
    assert!(redrawn.iter().any(|&x| x >= 0.0), "{redrawn:?}");
    assert_ne!(redrawn, &before[..fan_in]);
    // The re-drawn channel's thresholds are back at the initial value (θ = 40 · 9).
    let plane = 6 * 6;
    assert!(on.thresholds(0)[..plane].iter().all(|&t| t == 360));
    // Same seed, same re-draw.
    let (again, _, _) = run(Some(0.001));
    assert_eq!(again.latent_weights(0), on.latent_weights(0));
}

#[test]
fn a_redraw_rate_outside_zero_to_one_is_refused() {
    for r in [1.0, 1.5, -0.1, f64::NAN] {
        let mut cfg = StidiConfig::binary();
        cfg.redraw_rate = Some(r);
        let e = refusal("c4k3-p2-fc10", cfg, &format!("redraw rate {r}"));
        assert!(e.contains("redraw_rate") && e.contains("[0, 1)"), "{e}");
    }
}

#[test]
fn a_rate_ceiling_outside_zero_to_one_or_without_homeostasis_is_refused() {
    for r in [0.0, 1.5, -0.1, f64::NAN] {
        let mut cfg = StidiConfig::binary();
        cfg.rate_ceiling = Some(r);
        let e = refusal("c4k3-p2-fc10", cfg, &format!("rate ceiling {r}"));
        assert!(e.contains("rate_ceiling") && e.contains("(0, 1]"), "{e}");
    }
    let mut cfg = StidiConfig::binary();
    cfg.rate_ceiling = Some(0.2);
    cfg.thresholds.homeostasis = None;
    let e = refusal("c4k3-p2-fc10", cfg, "rate ceiling without homeostasis");
    assert!(e.contains("homeostasis"), "{e}");
}

#[test]
fn a_rate_ceiling_raises_hidden_thresholds_and_leaves_the_output_layer_alone() {
    let d = digits().unwrap();
    let mut cfg = StidiConfig::binary();
    cfg.thresholds.learn = false; // only homeostasis moves thresholds
    let (off, _) = train("c8k3-p2-fc10", cfg.clone(), 1, &d.train);
    cfg.rate_ceiling = Some(0.01);
    let (on, _) = train("c8k3-p2-fc10", cfg, 1, &d.train);
    // θ_init of layer l: θ_max is 4·θ_init under the default max_frac.
    let theta0 = |t: &StidiTrainer, l: usize| t.threshold_range(l).1 / 4;
    let above = |t: &StidiTrainer, l: usize| {
        t.thresholds(l)
            .iter()
            .filter(|&&x| x > theta0(t, l))
            .count()
    };
    // Without the ceiling homeostasis only lowers; with it busy hidden neurons rise.
    assert_eq!(above(&off, 0), 0);
    assert!(above(&on, 0) > 0, "no hidden threshold rose");
    // The output layer is never raised.
    assert_eq!(above(&on, 1), 0);
}

/// The exported sign bits of every weighted layer, in the trainer's weight order.
fn exported_negative(net: &Network) -> Vec<Vec<bool>> {
    use model::Weights;
    net.layers
        .iter()
        .filter_map(model::Layer::weights)
        .map(|(w, _)| match w {
            Weights::Binary { signs } => (0..signs.len() * 64)
                .map(|k| signs[k / 64] >> (k % 64) & 1 == 1)
                .collect(),
            _ => panic!("binary export expected"),
        })
        .collect()
}

/// With a sign hysteresis h the forward signs are held state: a sign may disagree with its
/// latent only while the latent is inside (−h, h); the export carries the held signs, so the
/// golden network still makes exactly the trainer's predictions; and fewer signs turn.
#[test]
fn sign_hysteresis_holds_signs_near_zero_and_the_export_carries_them() {
    let d = digits().unwrap();
    let run = |h: f32| {
        let mut cfg = StidiConfig::binary();
        cfg.sign_hysteresis = h;
        train("c8k3-p2-fc10", cfg, 3, &d.train)
    };
    let (plain, plain_stats) = run(0.0);
    let (held, held_stats) = run(0.1);
    let net = held.export().unwrap();
    let negative = exported_negative(&net);
    let mut disagreeing = 0;
    for (l, neg) in negative.iter().enumerate() {
        for (k, &w) in held.latent_weights(l).iter().enumerate() {
            if neg[k] != (w < 0.0) {
                disagreeing += 1;
                assert!(
                    w.abs() <= 0.1,
                    "layer {l} weight {k}: latent {w} held opposite"
                );
            }
        }
    }
    assert!(disagreeing > 0, "no sign was held against its latent");
    for (k, neg) in exported_negative(&plain.export().unwrap())
        .iter()
        .enumerate()
    {
        let lat = plain.latent_weights(k);
        assert!(
            lat.iter().zip(neg).all(|(&w, &n)| n == (w < 0.0)),
            "layer {k}"
        );
    }
    let golden = GoldenNetwork::new(&net).unwrap();
    let enc = held.encoder();
    for (k, &p) in held.predictions(&d.test).unwrap().iter().enumerate() {
        assert_eq!(
            golden.classify(&enc.encode(d.test.image(k))).unwrap(),
            p,
            "sample {k}"
        );
    }
    let turns = |s: &[model::stidi::EpochStats]| -> u64 {
        s.iter().flat_map(|e| e.weight_turns.iter()).sum()
    };
    assert!(
        turns(&held_stats) < turns(&plain_stats),
        "{} turns held vs {} plain",
        turns(&held_stats),
        turns(&plain_stats)
    );
}

#[test]
fn a_sign_hysteresis_that_is_negative_or_not_binary_is_refused() {
    for h in [-0.1, f32::NAN, f32::INFINITY] {
        let mut cfg = StidiConfig::binary();
        cfg.sign_hysteresis = h;
        let e = refusal("fc10", cfg, &format!("hysteresis {h}"));
        assert!(e.contains("sign_hysteresis") && e.contains("≥ 0"), "{e}");
    }
    let mut cfg = StidiConfig::binary();
    cfg.precision = model::stidi::Precision::Integer { bits: 4 };
    cfg.sign_hysteresis = 0.1;
    let e = refusal("fc10", cfg, "hysteresis on integer weights");
    assert!(e.contains("sign_hysteresis") && e.contains("binary"), "{e}");
}
