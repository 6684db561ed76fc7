//! The trainer's event-driven forward pass against the golden model (`model::golden`) and
//! against a dense, step-by-step transcription of the kernel definitions; export validity.

use model::stidi::forward::{crossing, forward, potential_at, ConvFanout, StageParams};
use model::stidi::{
    Arch, Geometry, Kernel, NeuronSpec, Precision, Record, StidiConfig, StidiTrainer,
};
use model::{FireRule, GoldenNetwork, Network, SpikeTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ARCHS: [(&str, (usize, usize, usize)); 5] = [
    ("c3k3-p2-fc4", (1, 8, 8)),
    ("c4k3s2p1-p2s1-c3k2-fc5", (1, 9, 7)),
    ("fc12-fc3", (1, 5, 5)),
    ("c2k3p2-fc6-fc3", (1, 6, 6)),
    ("c5k4s3-fc4", (1, 10, 10)),
];

fn random_trainer(rng: &mut ChaCha8Rng, case: usize) -> StidiTrainer {
    let (arch, input) = ARCHS[case % ARCHS.len()];
    let mut cfg = StidiConfig::binary();
    cfg.t_max = [16u16, 40, 256][case % 3];
    cfg.gamma = 3;
    cfg.silent_label_shift = 3;
    cfg.neuron = NeuronSpec {
        kernel: if case.is_multiple_of(2) {
            Kernel::Ramp
        } else {
            Kernel::Step
        },
        fire: if case % 4 < 2 {
            FireRule::Greater
        } else {
            FireRule::GreaterEqual
        },
        delay: (case / 4 % 2) as u8,
    };
    cfg.precision = if case.is_multiple_of(3) {
        Precision::Integer { bits: 4 }
    } else {
        Precision::Binary
    };
    cfg.theta_init = vec![rng.gen_range(1..30)];
    cfg.thresholds.granularity = [
        model::stidi::Granularity::Layer,
        model::stidi::Granularity::Channel,
        model::stidi::Granularity::Neuron,
    ][case % 3];
    let arch = Arch::parse(arch).unwrap();
    let mut t = StidiTrainer::new(&arch, input, cfg, case as u64).unwrap();
    for l in 0..t.weighted_layers() {
        let n = t.latent_weights(l).len();
        let w: Vec<f32> = (0..n).map(|_| rng.gen_range(-8.0f32..8.0)).collect();
        t.set_latent_weights(l, &w).unwrap();
    }
    t
}

#[test]
fn every_layer_time_and_prediction_equals_the_golden_pass() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut fallbacks = 0;
    for case in 0..120 {
        let t = random_trainer(&mut rng, case);
        let net = t.export().unwrap();
        let golden = GoldenNetwork::new(&net).unwrap();
        let (_, h, w) = ARCHS[case % ARCHS.len()].1;
        for _ in 0..8 {
            let image: Vec<u8> = (0..h * w)
                .map(|_| if rng.gen_bool(0.4) { 0 } else { rng.gen() })
                .collect();
            let rec = t.record(&image);
            let input: Vec<SpikeTime> = t.encoder().encode(&image);
            let g = golden.forward(&input).unwrap();
            assert_eq!(rec.times.len() - 1, g.layer_times.len());
            for (s, gl) in g.layer_times.iter().enumerate() {
                let mine: Vec<u16> = rec.times[s + 1].clone();
                let theirs: Vec<u16> = gl.iter().map(|t| t.0).collect();
                assert_eq!(mine, theirs, "case {case}, stage {s}");
            }
            assert_eq!(rec.prediction, g.prediction, "case {case}");
            if let (Some(a), Some(model::Potentials::Int(b))) = (&rec.fallback, &g.fallback) {
                assert_eq!(a, b, "case {case}: fallback potentials");
                fallbacks += 1;
            } else {
                assert_eq!(rec.fallback.is_some(), g.fallback.is_some(), "case {case}");
            }
        }
    }
    assert!(fallbacks > 0, "the no-spike fallback path was exercised");
}

#[test]
fn export_validates_and_round_trips_json_and_bincode() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for case in 0..10 {
        let t = random_trainer(&mut rng, case);
        let net = t.export().unwrap();
        net.validate().unwrap();
        assert!(net.is_integer(), "chip form: integer weights");
        let path = std::path::Path::new("<memory>");
        let back = Network::from_bytes(net.to_json().as_bytes(), path).unwrap();
        assert_eq!(back, net);
        let back = Network::from_bytes(&net.to_bincode().unwrap(), path).unwrap();
        assert_eq!(back, net);
        let dir =
            std::env::temp_dir().join(format!("stidi-export-{}-{case}.json", std::process::id()));
        net.save(&dir).unwrap();
        assert_eq!(Network::load(&dir).unwrap(), net);
        let _ = std::fs::remove_file(&dir);
    }
}

#[test]
fn saturating_ramp_has_no_chip_form() {
    let mut cfg = StidiConfig::binary();
    cfg.neuron.kernel = Kernel::SatRamp { tau: 8 };
    let t = StidiTrainer::new(&Arch::parse("fc4").unwrap(), (1, 3, 3), cfg, 1).unwrap();
    let e = t.export().unwrap_err().to_string();
    assert!(e.contains("saturating ramp"), "{e}");
}

/// `V(t)` by definition, step by step.
fn dense_v(inputs: &[(u16, i32)], t: u16, kernel: Kernel) -> i64 {
    inputs
        .iter()
        .map(|&(ti, w)| {
            let k: i64 = match kernel {
                Kernel::Step => i64::from(ti <= t),
                Kernel::Ramp => i64::from(t.saturating_sub(ti)),
                Kernel::SatRamp { tau } => i64::from(t.saturating_sub(ti).min(tau)),
            };
            i64::from(w) * k
        })
        .sum()
}

#[test]
fn closed_form_crossing_equals_the_dense_definition() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for case in 0..3000 {
        let t_max: u16 = rng.gen_range(8..80);
        let kernel = match case % 3 {
            0 => Kernel::Step,
            1 => Kernel::Ramp,
            _ => Kernel::SatRamp {
                tau: rng.gen_range(1..20),
            },
        };
        let neuron = NeuronSpec {
            kernel,
            fire: if rng.gen() {
                FireRule::Greater
            } else {
                FireRule::GreaterEqual
            },
            delay: rng.gen_range(0..2),
        };
        let n = rng.gen_range(0..12);
        let inputs: Vec<(u16, i32)> = (0..n)
            .map(|_| (rng.gen_range(0..t_max), rng.gen_range(-3..6)))
            .collect();
        let theta: i32 = rng.gen_range(1..60);
        let fires = |v: i64| match neuron.fire {
            FireRule::Greater => v > i64::from(theta),
            FireRule::GreaterEqual => v >= i64::from(theta),
        };
        let d = u16::from(neuron.delay);
        let expected = (0..t_max - d)
            .find(|&t| fires(dense_v(&inputs, t, kernel)))
            .map_or(t_max, |c| c + d);
        let mut ev: Vec<(u16, i32)> = Vec::new();
        for &(t, w) in &inputs {
            ev.push((t, w));
            if let Kernel::SatRamp { tau } = kernel {
                if u32::from(t) + u32::from(tau) < u32::from(t_max) {
                    ev.push((t + tau, -w));
                }
            }
        }
        ev.sort_by_key(|e| e.0);
        assert_eq!(
            crossing(&ev, theta, neuron, t_max).0,
            expected,
            "case {case}: {inputs:?} θ {theta} {neuron:?}"
        );
        let ts = rng.gen_range(0..t_max);
        assert_eq!(
            potential_at(&ev, ts, kernel),
            dense_v(&inputs, ts, kernel),
            "case {case}"
        );
    }
}

/// The conv layers' event scatter (channels in blocks, one event walk per block) against the
/// per-neuron event walk (`StageParams::fanout` empty), spike times and slopes, for channel
/// counts around the block size, with and without the parallel split.
#[test]
fn conv_scatter_equals_the_per_neuron_walk_for_any_channel_count() {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let (mut fired, mut silent) = (0usize, 0usize);
    for case in 0..72 {
        let (cin, h, w, k, s, p) = (1 + case % 3, 16, 14, 3, 1 + case / 36, case % 2);
        let cout = [1, 7, 8, 9, 19, 33][case % 6];
        let g = Geometry::conv((cin, h, w), cout, k, s, p).expect("the kernel fits");
        let t_max = [16u16, 40, 256][case % 3];
        let neuron = NeuronSpec {
            kernel: if case % 4 < 2 {
                Kernel::Ramp
            } else {
                Kernel::Step
            },
            fire: if case % 5 < 2 {
                FireRule::Greater
            } else {
                FireRule::GreaterEqual
            },
            delay: (case % 7 % 2) as u8,
        };
        let scale = if neuron.kernel == Kernel::Step { 1 } else { 4 };
        let scatter = StageParams {
            weights: (0..g.weights()).map(|_| rng.gen_range(-3..=3)).collect(),
            thresholds: (0..g.outputs())
                .map(|_| rng.gen_range(1..8 * scale))
                .collect(),
            fanout: ConvFanout::new(&g),
        };
        let walk = StageParams {
            fanout: ConvFanout::default(),
            ..scatter.clone()
        };
        for _ in 0..3 {
            let input: Vec<u16> = (0..cin * h * w)
                .map(|_| {
                    if rng.gen_bool(0.3) {
                        t_max
                    } else {
                        rng.gen_range(0..t_max)
                    }
                })
                .collect();
            let run = |params: &StageParams, parallel: bool| {
                let mut rec = Record::default();
                let stage = std::slice::from_ref(params);
                forward(
                    &[g],
                    stage,
                    neuron,
                    t_max,
                    t_max - 1,
                    &input,
                    &mut rec,
                    parallel,
                );
                rec
            };
            let expected = run(&walk, false);
            for parallel in [false, true] {
                let got = run(&scatter, parallel);
                assert_eq!(
                    got.times, expected.times,
                    "case {case}, parallel {parallel}"
                );
                assert_eq!(
                    got.slopes, expected.slopes,
                    "case {case}, parallel {parallel}"
                );
            }
            fired += expected.times[1].iter().filter(|&&t| t < t_max).count();
            silent += expected.times[1].iter().filter(|&&t| t == t_max).count();
        }
    }
    assert!(
        fired > 1000 && silent > 1000,
        "fired {fired}, silent {silent}"
    );
}
