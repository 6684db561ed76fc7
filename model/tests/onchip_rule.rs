//! Tests of the fixed-point on-chip learning rule (`model::onchip`): hand-derived cases of the
//! targets, errors and updates, and structural properties of the golden trainer.

use isa::arith::Rounding;
use model::onchip::{
    host_start_network, normalise_groups, targets, Normalisation, OnChipRule, OnChipTrainer,
};
use model::train::{TrainConfig, Trainer};
use model::{Dense, Layer, LayerKind, Network, NeuronModel, Shape, SpikeTime, Threshold, Weights};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

/// A dense binary S4NN network `arch[0] -> arch[1] -> ...` with random signs (fraction
/// `positive` of +1) and one threshold per layer.
fn binary_net(arch: &[usize], thresholds: &[i32], t_max: u16, seed: u64, positive: f64) -> Network {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let layers = arch
        .windows(2)
        .zip(thresholds)
        .enumerate()
        .map(|(l, (w, &th))| Layer {
            name: format!("fc{l}"),
            kind: LayerKind::Dense(Dense {
                inputs: w[0] as u32,
                outputs: w[1] as u32,
                neuron: NeuronModel::S4NN,
                weights: Weights::pack_signs(
                    (0..w[0] * w[1])
                        .map(|_| !rng.gen_bool(positive))
                        .collect::<Vec<_>>()
                        .into_iter(),
                ),
                threshold: Threshold::Layer(th),
                scale: None,
            }),
        })
        .collect();
    Network {
        format_version: model::FORMAT_VERSION,
        input: Shape::Flat {
            size: arch[0] as u32,
        },
        t_max,
        encoding: None,
        fallback_offset: 3,
        tie_order: None,
        ties_by_potential: false,
        layers,
    }
}

fn times(v: &[u16]) -> Vec<SpikeTime> {
    v.iter().map(|&t| SpikeTime(t)).collect()
}

#[test]
fn targets_follow_s4nn_rule() {
    // t_min = 5; k0 (0 < 3) and k1 (1 < 3) are pushed to 8, k2 keeps 10, the label gets t_min.
    assert_eq!(targets(&[5, 6, 10], 2, 3, 16), vec![8, 8, 5]);
    // Label already first with margin: no change anywhere.
    assert_eq!(targets(&[2, 9, 10], 0, 3, 16), vec![2, 9, 10]);
    // Nobody fired: label wants t_max - γ, others t_max.
    assert_eq!(targets(&[16, 16, 16], 1, 3, 16), vec![16, 13, 16]);
    // Competitor push is capped at t_max.
    assert_eq!(targets(&[14, 15], 1, 3, 16), vec![16, 14]);
}

#[test]
fn normalisation_matches_hand_values() {
    // ||(3, 4)|| = 5: 3/5 = 0.6 -> 0.6 * 32768 = 19660.8 -> 19661; 4/5 -> 26214.4 -> 26214.
    assert_eq!(normalise_groups(&[3, 4], 2).unwrap(), vec![19661, 26214]);
    // Groups of one: each element alone has norm |g|: +1 saturates to 32767, -1 is exact.
    assert_eq!(
        normalise_groups(&[3, -4, 0], 1).unwrap(),
        vec![32767, -32768, 0]
    );
}

#[test]
fn single_layer_update_matches_hand_derivation() {
    // 2 inputs -> 2 outputs, all weights +1, θ = 0: both outputs cross at t = 0 (input 0 at
    // t = 0 gives V = 1 > 0) and spike at t = 1. Label 0: T = [1, 4], e = [0, 3],
    // δ = [0, 32767]. Output 1's causal inputs (t_i < 1): input 0 only.
    // Δ = floor(-32767 * 1 / 2^8) = floor(-127.996) = -128: 1024 -> 896.
    let net = binary_net(&[2, 2], &[0], 16, 0, 1.0);
    let mut rule = OnChipRule::s4nn(1);
    rule.rounding = Rounding::Floor;
    let mut tr = OnChipTrainer::new(&net, rule, None).unwrap();
    let out = tr.learn_sample(&times(&[0, 5]), 0).unwrap();
    assert_eq!(out.output_delta, vec![0, 32767]);
    assert_eq!(out.updates, 1);
    assert_eq!(out.prediction, 0);
    assert_eq!(tr.latent(0).unwrap(), &[1024, 1024, 896, 1024]);
}

#[test]
fn sign_flip_refreshes_binary_weight() {
    // Same case with latents starting at ±100: the update of -128 takes w̃_10 from 100 to -28,
    // so the forward weight of (output 1, input 0) becomes -1.
    let net = binary_net(&[2, 2], &[0], 16, 0, 1.0);
    let mut rule = OnChipRule::s4nn(1);
    rule.rounding = Rounding::Floor;
    rule.init_magnitude = 100;
    let mut tr = OnChipTrainer::new(&net, rule, None).unwrap();
    tr.learn_sample(&times(&[0, 5]), 0).unwrap();
    assert_eq!(tr.latent(0).unwrap(), &[100, 100, -28, 100]);
    let LayerKind::Dense(d) = &tr.network().layers[0].kind else {
        panic!("dense layer expected");
    };
    let w: Vec<i32> = (0..4).map(|n| d.weights.int_at(n).unwrap()).collect();
    assert_eq!(w, vec![1, 1, -1, 1]);
}

#[test]
fn hidden_error_matches_hand_derivation() {
    // 1 input -> 1 hidden -> 2 outputs, all +1, θ = 0 everywhere, input at t = 0.
    // Hidden fires at 1, outputs at 2 and 2. Label 0: T = [2, 5], e = [0, 3], δ = [0, 32767].
    // Output update: w̃_10 (t_h = 1 < 2): 1024 + floor(-32767/256) = 896.
    // Hidden error g_0 = [1 < 2] * floor(32767 * 896 / 2^8) = floor(114684.5) = 114684 (fits
    // 24 bits); alone in its layer: δ_h = 32767 (saturated +1). Hidden update w̃_00
    // (t_in = 0 < 1): 1024 - 128 = 896.
    let net = binary_net(&[1, 1, 2], &[0, 0], 16, 0, 1.0);
    let mut rule = OnChipRule::s4nn(2);
    rule.rounding = Rounding::Floor;
    let mut tr = OnChipTrainer::new(&net, rule, None).unwrap();
    let out = tr.learn_sample(&times(&[0]), 0).unwrap();
    assert_eq!(out.output_delta, vec![0, 32767]);
    assert_eq!(tr.latent(1).unwrap(), &[1024, 896]);
    assert_eq!(tr.latent(0).unwrap(), &[896]);
    assert_eq!(out.updates, 2);
}

#[test]
fn bad_configuration_is_refused() {
    let net = binary_net(&[4, 3], &[1], 16, 0, 0.5);
    let mut rule = OnChipRule::s4nn(2);
    assert!(OnChipTrainer::new(&net, rule.clone(), None).is_err());
    rule.eta = vec![1];
    rule.shift = 0;
    assert!(OnChipTrainer::new(&net, rule.clone(), None).is_err());
    rule.shift = 8;
    rule.latent_bits = 8;
    rule.init_magnitude = 1024;
    assert!(OnChipTrainer::new(&net, rule.clone(), None).is_err());
    rule.init_magnitude = 64;
    assert!(OnChipTrainer::new(&net, rule.clone(), Some(&[0])).is_err());
    let mut tr = OnChipTrainer::new(&net, rule, None).unwrap();
    assert!(tr.learn_sample(&times(&[0, 1, 2, 3]), 3).is_err());
    assert!(tr.learn_sample(&times(&[0, 1, 2]), 0).is_err());
}

fn random_input(rng: &mut rand_chacha::ChaCha8Rng, n: usize, t_max: u16) -> Vec<SpikeTime> {
    (0..n)
        .map(|_| SpikeTime(rng.gen_range(0..=t_max)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Latents stay in their width, binary weights are their signs, and only causal synapses
    /// of the output layer move.
    #[test]
    fn latents_stay_in_range_and_signs_follow(seed in any::<u64>(), bits in 4u32..=16, label in 0usize..3) {
        let net = binary_net(&[6, 5, 3], &[1, 1], 12, seed, 0.6);
        let mut rule = OnChipRule::s4nn(2);
        rule.latent_bits = bits;
        rule.init_magnitude = 1 << (bits - 3);
        rule.eta = vec![16, 16];
        rule.seed = seed;
        let mut tr = OnChipTrainer::new(&net, rule, None).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 7);
        let lim = 1i32 << (bits - 1);
        for _ in 0..8 {
            let input = random_input(&mut rng, 6, 12);
            let before = tr.latent(1).unwrap().to_vec();
            let trace = model::GoldenNetwork::new(tr.network()).unwrap().forward(&input).unwrap();
            tr.learn_sample(&input, label).unwrap();
            let after = tr.latent(1).unwrap();
            for k in 0..3 {
                for j in 0..5 {
                    if trace.layer_times[0][j] >= trace.layer_times[1][k] {
                        prop_assert_eq!(before[k * 5 + j], after[k * 5 + j]);
                    }
                }
            }
            for l in 0..2 {
                let LayerKind::Dense(d) = &tr.network().layers[l].kind else { unreachable!() };
                for (n, &w) in tr.latent(l).unwrap().iter().enumerate() {
                    prop_assert!((-lim..lim).contains(&w));
                    prop_assert_eq!(d.weights.int_at(n).unwrap(), if w >= 0 { 1 } else { -1 });
                }
            }
        }
    }

    /// Without stochastic rounding the result does not depend on how layers are split over
    /// cores (whole-layer normalisation); the same seed always gives the same result.
    #[test]
    fn partition_independent_and_deterministic(seed in any::<u64>(), c0 in 1usize..=7, c1 in 1usize..=4) {
        let net = binary_net(&[5, 7, 4], &[1, 1], 10, seed, 0.6);
        let mut floor = OnChipRule::s4nn(2);
        floor.rounding = Rounding::NearestEven;
        floor.eta = vec![40, 40];
        let mut whole = OnChipTrainer::new(&net, floor.clone(), None).unwrap();
        let mut split = OnChipTrainer::new(&net, floor, Some(&[c0, c1])).unwrap();
        let mut stoch = OnChipRule::s4nn(2);
        stoch.seed = seed;
        let mut s1 = OnChipTrainer::new(&net, stoch.clone(), Some(&[c0, c1])).unwrap();
        let mut s2 = OnChipTrainer::new(&net, stoch, Some(&[c0, c1])).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for s in 0..6 {
            let input = random_input(&mut rng, 5, 10);
            let a = whole.learn_sample(&input, s % 4).unwrap();
            let b = split.learn_sample(&input, s % 4).unwrap();
            prop_assert_eq!(a, b);
            prop_assert_eq!(s1.learn_sample(&input, s % 4).unwrap(), s2.learn_sample(&input, s % 4).unwrap());
        }
        for l in 0..2 {
            prop_assert_eq!(whole.latent(l), split.latent(l));
            prop_assert_eq!(s1.latent(l), s2.latent(l));
        }
    }
}

#[test]
fn core_normalisation_with_one_core_equals_layer_normalisation() {
    let net = binary_net(&[8, 6, 3], &[1, 1], 12, 3, 0.6);
    let mut a_rule = OnChipRule::s4nn(2);
    a_rule.eta = vec![32, 32];
    let mut b_rule = a_rule.clone();
    b_rule.normalisation = Normalisation::Core;
    let mut a = OnChipTrainer::new(&net, a_rule, None).unwrap();
    let mut b = OnChipTrainer::new(&net, b_rule, Some(&[6, 3])).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for s in 0..20 {
        let input = random_input(&mut rng, 8, 12);
        assert_eq!(
            a.learn_sample(&input, s % 3).unwrap(),
            b.learn_sample(&input, s % 3).unwrap()
        );
    }
    assert_eq!(a.latent(0), b.latent(0));
    assert_eq!(a.latent(1), b.latent(1));
}

#[test]
fn digits_training_beats_chance() {
    // 64 -> 10 (one binary layer, θ = 20) on the embedded digits, 2 epochs: the test accuracy
    // of a learning rule must clear chance (10 %) by a wide margin.
    let split = model::data::digits().unwrap();
    let enc = model::LatencyEncoder {
        rule: model::EncodingRule::S4nn,
        t_max: 64,
    };
    let net = binary_net(&[64, 10], &[20], 64, 5, 0.6);
    let mut rule = OnChipRule::s4nn(1);
    rule.eta = vec![8];
    let mut tr = OnChipTrainer::new(&net, rule, None).unwrap();
    for _ in 0..2 {
        for k in 0..split.train.len() {
            let x = enc.encode(split.train.image(k));
            tr.learn_sample(&x, split.train.label(k)).unwrap();
        }
    }
    let correct = (0..split.test.len())
        .filter(|&k| tr.classify(&enc.encode(split.test.image(k))).unwrap() == split.test.label(k))
        .count();
    let acc = correct as f64 / split.test.len() as f64;
    eprintln!("digits on-chip golden accuracy: {:.1} %", 100.0 * acc);
    assert!(acc > 0.5, "accuracy {acc}");
}

#[test]
fn host_start_network_carries_the_host_initialisation() {
    // A fresh BS4NN host trainer 3 -> 4 -> 2 with latents U[-1, 5) / U[0, 48), θ 30 / 400 and
    // α = 5: the on-chip trainer starts from round(w · init_magnitude) of exactly those reals,
    // and the network's thresholds are ⌊30 / 5⌋ = 6 and ⌊400 / 5⌋ = 80.
    let mut cfg = TrainConfig::bs4nn(vec![3, 4, 2], 9);
    cfg.threshold = vec![30, 400];
    cfg.init_low = vec![-1.0, 0.0];
    let host = Trainer::new(cfg).unwrap();
    let net = host_start_network(&host, 1, 3);
    let thresholds: Vec<Threshold> = net
        .layers
        .iter()
        .filter_map(|l| match &l.kind {
            LayerKind::Dense(d) => Some(d.threshold.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(thresholds, vec![Threshold::Layer(6), Threshold::Layer(80)]);
    let mut rule = OnChipRule::s4nn(2);
    rule.init_magnitude = 640;
    let tr = OnChipTrainer::new(&net, rule, None).unwrap();
    let mut start = Vec::new();
    for l in 0..2 {
        let want: Vec<i32> = host
            .real_weights(l)
            .iter()
            .map(|&w| ((w as f32) as f64 * 640.0).round().clamp(-32768.0, 32767.0) as i32)
            .collect();
        assert_eq!(tr.latent(l).unwrap(), want.as_slice());
        start.push(want);
    }
    // Forward weights are the signs of those latents (sign(0) = +1); the output layer's
    // latents (from U[0, 48)) are all non-negative.
    let LayerKind::Dense(d) = &tr.network().layers[1].kind else {
        panic!("dense layer expected");
    };
    for (n, &w) in start[0].iter().enumerate() {
        assert_eq!(d.weights.int_at(n).unwrap(), if w < 0 { -1 } else { 1 });
    }
    assert!(start[1].iter().all(|&w| w >= 0));
}

/// Issue #8 acceptance on the embedded digits: the two-layer recipe of `docs/LEARNING.md`
/// ("Two-layer digits recipe"). The host BS4NN trainer (64-600-10, θ 30 / 400, α fixed at 5,
/// init U[-1, 5) / U[0, 48), γ = silent shift = 120, lr 0.1, 60 epochs, seed 1) and the on-chip
/// golden (γ 120, init magnitude 640, per-core normalisation, everything else
/// `OnChipRule::s4nn`; the hidden layer in three cores of 200 neurons, the mapper's cut on the
/// default chip) start from the same weights and see the same samples in the same order. Single test accuracies move by ±2 points from epoch to epoch at this
/// learning rate (360 test images), so both are compared by their mean test accuracy over the
/// last 10 epochs: the on-chip golden must be within 1.5 points of the host (or above it).
#[test]
fn two_layer_digits_reaches_host_accuracy() {
    const EPOCHS: usize = 60;
    const LAST: usize = 10;
    let seed = 1;
    let split = model::data::digits().unwrap();
    let (train, test) = (&split.train, &split.test);
    let arch = vec![64, 600, 10];
    let mut cfg = TrainConfig::bs4nn(arch.clone(), seed);
    cfg.threshold = vec![30, 400];
    cfg.init_low = vec![-1.0, 0.0];
    cfg.lr_scale = vec![0.0, 0.0];
    cfg.gamma = 120;
    cfg.silent_label_shift = 120;
    let mut host = Trainer::new(cfg).unwrap();
    let enc = host.encoder();
    let net = host_start_network(&host, train.height, train.width);
    let mut rule = OnChipRule::s4nn(2);
    rule.gamma = 120;
    rule.init_magnitude = 640;
    rule.normalisation = Normalisation::Core;
    let mut chip = OnChipTrainer::new(&net, rule, Some(&[200, 10])).unwrap();

    // The host's sample order, replayed: its ChaCha8Rng drew one f32 per initial weight, then
    // draws N indices with replacement per epoch. Checked below on the first epoch.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for w in arch.windows(2) {
        for _ in 0..w[0] * w[1] {
            let _: f32 = rng.gen();
        }
    }
    let train_in: Vec<_> = (0..train.len())
        .map(|k| enc.encode(train.image(k)))
        .collect();
    let test_in: Vec<_> = (0..test.len()).map(|k| enc.encode(test.image(k))).collect();
    let (mut host_sum, mut chip_sum) = (0.0, 0.0);
    let (mut host_last, mut chip_last) = (0.0, 0.0);
    for epoch in 1..=EPOCHS {
        let order: Vec<usize> = (0..train.len())
            .map(|_| rng.gen_range(0..train.len()))
            .collect();
        if epoch == 1 {
            let mut replay = host.clone();
            for &k in &order {
                replay.train_sample(train.image(k), train.label(k)).unwrap();
            }
            host.train_epoch(train, |_| {}).unwrap();
            assert_eq!(replay.real_weights(1), host.real_weights(1));
            assert_eq!(replay.real_weights(0), host.real_weights(0));
        } else {
            host.train_epoch(train, |_| {}).unwrap();
        }
        for &k in &order {
            chip.learn_sample(&train_in[k], train.label(k)).unwrap();
        }
        if epoch + LAST > EPOCHS {
            host_last = host.evaluate(test).unwrap();
            let correct = (0..test.len())
                .filter(|&k| chip.classify(&test_in[k]).unwrap() == test.label(k))
                .count();
            chip_last = correct as f64 / test.len() as f64;
            host_sum += host_last;
            chip_sum += chip_last;
        }
    }
    let (host_acc, chip_acc) = (host_sum / LAST as f64, chip_sum / LAST as f64);
    eprintln!(
        "digits 64-600-10, test accuracy after {EPOCHS} epochs: host {:.2} %, on-chip golden {:.2} %; mean of the last {LAST} epochs: host {:.2} %, on-chip golden {:.2} %",
        100.0 * host_last,
        100.0 * chip_last,
        100.0 * host_acc,
        100.0 * chip_acc
    );
    assert!(
        host_acc > 0.85,
        "the host recipe must train (got {host_acc})"
    );
    assert!(
        chip_acc >= host_acc - 0.015,
        "on-chip {chip_acc} is more than 1.5 points below the host's {host_acc}"
    );
}

// ---- Learned integer thresholds (step 7, `model::onchip::ThresholdLearning`) ----

/// A one-layer rule with threshold learning: `q8` (shift 15, F = 8) and the given layer rule.
fn threshold_rule(layer: model::onchip::LayerThresholdRule) -> OnChipRule {
    let mut rule = OnChipRule::s4nn(1);
    rule.rounding = Rounding::Floor;
    rule.thresholds = Some(model::onchip::ThresholdLearning::q8(vec![layer]));
    rule
}

fn layer_rule(
    eta: i32,
    min: i32,
    max: i32,
    window: u32,
    step: i32,
) -> model::onchip::LayerThresholdRule {
    model::onchip::LayerThresholdRule {
        eta,
        min,
        max,
        window,
        step,
    }
}

fn network_thresholds(tr: &OnChipTrainer, l: usize) -> Vec<i32> {
    let LayerKind::Dense(d) = &tr.network().layers[l].kind else {
        panic!("dense layer expected");
    };
    match &d.threshold {
        Threshold::Layer(t) => vec![*t; d.outputs as usize],
        Threshold::Neuron(ts) => ts.clone(),
    }
}

#[test]
fn thresholds_are_off_by_default() {
    let net = binary_net(&[2, 2], &[1], 16, 0, 1.0);
    let mut tr = OnChipTrainer::new(&net, OnChipRule::s4nn(1), None).unwrap();
    tr.learn_sample(&times(&[0, 0]), 0).unwrap();
    assert_eq!(tr.threshold_latent(0), None);
    assert_eq!(tr.thresholds(0), None);
    assert_eq!(network_thresholds(&tr, 0), vec![1, 1]);
}

#[test]
fn threshold_gradient_step_matches_hand_derivation() {
    // 2 -> 2, all weights +1, θ = 1: both inputs at t = 0 give V = 2 > 1 at step 0, so both
    // outputs spike at t = 1. Label 0: T = [1, 4], e = [0, 3], δ = [0, 32767] (as in
    // `single_layer_update_matches_hand_derivation`). Latents start at 1 · 2^8 = 256.
    // η_θ = 256, shift 15: Δ_1 = round_ne(32767 · 256 / 2^15) = round_ne(255.99) = 256, so
    // θ̃_1 = 512 and θ_1 = ⌊(512 + 128) / 256⌋ = 2; δ_0 = 0 leaves neuron 0 at 256 / 1.
    let net = binary_net(&[2, 2], &[1], 16, 0, 1.0);
    let mut tr =
        OnChipTrainer::new(&net, threshold_rule(layer_rule(256, 1, 4, 0, 0)), None).unwrap();
    assert_eq!(tr.threshold_latent(0).unwrap(), &[256, 256]);
    let out = tr.learn_sample(&times(&[0, 0]), 0).unwrap();
    assert_eq!(out.output_delta, vec![0, 32767]);
    assert_eq!(tr.threshold_latent(0).unwrap(), &[256, 512]);
    assert_eq!(tr.thresholds(0).unwrap(), &[1, 2]);
    // The forward network uses the learned comparator thresholds.
    assert_eq!(network_thresholds(&tr, 0), vec![1, 2]);
}

#[test]
fn threshold_rounding_is_to_nearest_even_and_the_comparator_rounds_half_up() {
    // Same sample, η_θ = 3 · 2^14 = 49152: 32767 · 49152 / 2^15 = 49150.5 exactly, a tie,
    // rounded to the even 49150 (ties away from zero would give 49151): θ̃_1 = 256 + 49150 =
    // 49406, θ_1 = ⌊(49406 + 128) / 256⌋ = ⌊193.49⌋ = 193.
    let net = binary_net(&[2, 2], &[1], 16, 0, 1.0);
    let mut tr =
        OnChipTrainer::new(&net, threshold_rule(layer_rule(49152, 1, 1000, 0, 0)), None).unwrap();
    tr.learn_sample(&times(&[0, 0]), 0).unwrap();
    assert_eq!(tr.threshold_latent(0).unwrap(), &[256, 49406]);
    assert_eq!(tr.thresholds(0).unwrap(), &[1, 193]);
    // A latent exactly half-way rounds up: 384 = 1.5 · 256 -> ⌊(384 + 128) / 256⌋ = 2.
    let t = model::onchip::ThresholdLearning::q8(vec![layer_rule(0, 1, 10, 0, 0)]);
    assert_eq!(t.comparator(0, 384), 2);
    assert_eq!(t.comparator(0, 383), 1);
}

#[test]
fn threshold_latent_is_clamped_to_its_range() {
    // η_θ = 2560: Δ_1 = round_ne(32767 · 2560 / 2^15) = 2560 (2559.92), 256 + 2560 = 2816 is
    // clamped to θ_max · 2^8 = 4 · 256 = 1024, so θ_1 = 4.
    let net = binary_net(&[2, 2], &[1], 16, 0, 1.0);
    let mut tr =
        OnChipTrainer::new(&net, threshold_rule(layer_rule(2560, 1, 4, 0, 0)), None).unwrap();
    tr.learn_sample(&times(&[0, 0]), 0).unwrap();
    assert_eq!(tr.threshold_latent(0).unwrap(), &[256, 1024]);
    assert_eq!(tr.thresholds(0).unwrap(), &[1, 4]);
}

#[test]
fn a_negative_error_lowers_the_threshold() {
    // θ = 5 with two +1 inputs: V ≤ 2, nobody fires. Label 0: T = [16 − 3, 16] = [13, 16],
    // e = [−3, 0], δ = [−32768, 0] (exact). η_θ = 256: Δ_0 = −32768 · 256 / 2^15 = −256:
    // θ̃_0 = 5 · 256 − 256 = 1024, θ_0 = 4. `around(5, 256)`: θ_min = ⌊7/4⌋ = 1, θ_max = 20.
    let rule = model::onchip::LayerThresholdRule::around(5, 256);
    assert_eq!((rule.min, rule.max, rule.window), (1, 20, 0));
    let net = binary_net(&[2, 2], &[5], 16, 0, 1.0);
    let mut tr = OnChipTrainer::new(&net, threshold_rule(rule), None).unwrap();
    let out = tr.learn_sample(&times(&[0, 0]), 0).unwrap();
    assert_eq!(out.output_delta, vec![-32768, 0]);
    assert_eq!(tr.threshold_latent(0).unwrap(), &[1024, 1280]);
    assert_eq!(tr.thresholds(0).unwrap(), &[4, 5]);
}

#[test]
fn homeostasis_lowers_neurons_silent_for_a_window() {
    // The silent net above, no gradient (η_θ = 0), window 2, step 100 latent LSBs: the
    // silence counters go 1, 2 -> lowered and reset, 1, 2 -> lowered. θ̃: 1280 -> 1180 (θ =
    // ⌊1308 / 256⌋ = 5) after sample 2, -> 1080 (θ = ⌊1208 / 256⌋ = 4) after sample 4.
    let net = binary_net(&[2, 2], &[5], 16, 0, 1.0);
    let mut tr =
        OnChipTrainer::new(&net, threshold_rule(layer_rule(0, 1, 20, 2, 100)), None).unwrap();
    let x = times(&[0, 0]);
    tr.learn_sample(&x, 0).unwrap();
    assert_eq!(tr.threshold_silence(0).unwrap(), &[1, 1]);
    assert_eq!(tr.threshold_latent(0).unwrap(), &[1280, 1280]);
    tr.learn_sample(&x, 0).unwrap();
    assert_eq!(tr.threshold_silence(0).unwrap(), &[0, 0]);
    assert_eq!(tr.threshold_latent(0).unwrap(), &[1180, 1180]);
    assert_eq!(tr.thresholds(0).unwrap(), &[5, 5]);
    tr.learn_sample(&x, 0).unwrap();
    assert_eq!(tr.threshold_silence(0).unwrap(), &[1, 1]);
    tr.learn_sample(&x, 0).unwrap();
    assert_eq!(tr.threshold_latent(0).unwrap(), &[1080, 1080]);
    assert_eq!(tr.thresholds(0).unwrap(), &[4, 4]);
    // A huge step stops at θ_min · 2^8 = 256 (θ = 1).
    let mut tr =
        OnChipTrainer::new(&net, threshold_rule(layer_rule(0, 1, 20, 1, 100_000)), None).unwrap();
    tr.learn_sample(&x, 0).unwrap();
    assert_eq!(tr.threshold_latent(0).unwrap(), &[256, 256]);
    assert_eq!(tr.thresholds(0).unwrap(), &[1, 1]);
    // Neurons that fire (θ = 1) keep a zero count and are never lowered.
    let firing = binary_net(&[2, 2], &[1], 16, 0, 1.0);
    let mut tr =
        OnChipTrainer::new(&firing, threshold_rule(layer_rule(0, 1, 20, 1, 100)), None).unwrap();
    for _ in 0..3 {
        tr.learn_sample(&x, 0).unwrap();
        assert_eq!(tr.threshold_silence(0).unwrap(), &[0, 0]);
        assert_eq!(tr.threshold_latent(0).unwrap(), &[256, 256]);
    }
}

#[test]
fn bad_threshold_configuration_is_refused() {
    let net = binary_net(&[2, 2], &[5], 16, 0, 1.0);
    let refused = |rule: OnChipRule| OnChipTrainer::new(&net, rule, None).is_err();
    // The starting threshold 5 outside [6, 9] / [1, 4].
    assert!(refused(threshold_rule(layer_rule(1, 6, 9, 0, 0))));
    assert!(refused(threshold_rule(layer_rule(1, 1, 4, 0, 0))));
    // θ_min below 1, min > max, negative step.
    assert!(refused(threshold_rule(layer_rule(1, 0, 9, 0, 0))));
    assert!(refused(threshold_rule(layer_rule(1, 6, 5, 0, 0))));
    assert!(refused(threshold_rule(layer_rule(1, 1, 9, 1, -1))));
    // θ_max · 2^F + 128 beyond 32 bits.
    assert!(refused(threshold_rule(layer_rule(1, 1, 1 << 23, 0, 0))));
    // One rule per weighted layer.
    let mut rule = threshold_rule(layer_rule(1, 1, 9, 0, 0));
    rule.thresholds
        .as_mut()
        .unwrap()
        .layers
        .push(layer_rule(1, 1, 9, 0, 0));
    assert!(refused(rule));
    // A valid one is accepted.
    assert!(!refused(threshold_rule(layer_rule(1, 1, 9, 0, 0))));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the errors, silences and parameters, every latent threshold stays in
    /// `[θ_min · 2^F, θ_max · 2^F]`, every comparator threshold in `[θ_min, θ_max]` and equal
    /// to the rounded latent, and the forward network uses the comparator thresholds.
    #[test]
    fn thresholds_stay_in_range(
        seed in any::<u64>(),
        eta in -100_000i32..100_000,
        frac in 0u32..=12,
        shift in 0u32..=20,
        window in 0u32..4,
        step in 0i32..5000,
        label in 0usize..3,
    ) {
        let net = binary_net(&[6, 5, 3], &[3, 2], 12, seed, 0.6);
        let mut rule = OnChipRule::s4nn(2);
        rule.eta = vec![16, 16];
        rule.seed = seed;
        let t = model::onchip::ThresholdLearning {
            layers: vec![layer_rule(eta, 1, 7, window, step), layer_rule(eta / 2, 2, 5, window, step)],
            shift,
            frac_bits: frac,
        };
        rule.thresholds = Some(t.clone());
        let mut tr = OnChipTrainer::new(&net, rule, None).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 11);
        for _ in 0..10 {
            let input = random_input(&mut rng, 6, 12);
            tr.learn_sample(&input, label).unwrap();
            for (l, r) in t.layers.iter().enumerate() {
                let latent = tr.threshold_latent(l).unwrap();
                let comparator = tr.thresholds(l).unwrap();
                for (&v, &c) in latent.iter().zip(comparator) {
                    prop_assert!((i64::from(r.min) << frac..=i64::from(r.max) << frac).contains(&i64::from(v)));
                    prop_assert!((r.min..=r.max).contains(&c));
                    // Round half up of v / 2^F, computed independently in floating point.
                    let expect = (f64::from(v) / f64::from(1u32 << frac) + 0.5).floor() as i32;
                    prop_assert_eq!(c, expect);
                }
                prop_assert_eq!(network_thresholds(&tr, l), comparator.to_vec());
                if let Some(s) = tr.threshold_silence(l) {
                    prop_assert!(s.iter().all(|&x| x >= 0 && (window == 0 || (x as u32) < window)));
                }
            }
        }
    }
}
