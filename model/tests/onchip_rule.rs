//! Tests of the fixed-point on-chip learning rule (`model::onchip`): hand-derived cases of the
//! targets, errors and updates, and structural properties of the golden trainer.

use isa::arith::Rounding;
use model::onchip::{normalise_groups, targets, Normalisation, OnChipRule, OnChipTrainer};
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
