//! Hidden-layer learning on the whole chip (issue 8): a 64-40-10 binary network mapped with
//! `MapOptions::learning` learns BOTH layers on the chip — the output core updates its latents
//! and sends its partial hidden errors back (`learn_out.s`, `send_errors = 1`), the hidden
//! cores receive them, normalise and update theirs (`learn_hidden.s`) — and after every digits
//! training sample the latent weights and binary synapse rows of every core equal those of
//! the fixed-point golden trainer (`model::onchip::OnChipTrainer`), and the chip's output spike
//! times equal the golden forward pass of the golden's current network. The hidden layer runs
//! on one core (whole-layer normalisation) and split over two cores (per-core normalisation,
//! starting from latent real weights).

mod onchip_support;

use isa::chip::ChipDescription;
use model::network::{LayerKind, Network};
use model::onchip::{Normalisation, OnChipRule};
use onchip_support::{
    cores_of, network_of, refusal, s4nn_rule, LearnTotals, LearningBench, DIGITS_64_30_20_10,
    DIGITS_64_40_10,
};

/// What a run measured.
struct Figures {
    samples: usize,
    updated_hidden: usize,
    totals: LearnTotals,
}

/// Maps `net` for learning with `rule` on `chip_desc`, then runs `samples` digits training
/// samples on the chip and the golden trainer side by side, comparing every core's latent
/// memory and binary rows after every sample.
fn learn_both_layers(
    net: &Network,
    chip_desc: &ChipDescription,
    rule: OnChipRule,
    cores_per_layer: &[usize],
    samples: usize,
) -> Figures {
    let sizes: Vec<usize> = net
        .layers
        .iter()
        .map(|l| match &l.kind {
            LayerKind::Dense(d) => d.outputs as usize,
            _ => unreachable!("dense layers only"),
        })
        .collect();
    let whole_layer = rule.normalisation == Normalisation::Layer;
    let mut bench = LearningBench::new(net, chip_desc, rule);
    let layers = sizes.len();
    let cores = bench.cores_per_layer();
    assert_eq!(cores, cores_per_layer, "cores per layer");
    // Every core of layer l >= 1 sends one partial error per axon (a neuron of layer l - 1);
    // with whole-layer normalisation, every core of a split hidden layer sends its partial sum
    // of squares (two words) to each other core of its layer.
    let packets_per_phase: u64 = (1..layers)
        .map(|l| (cores[l] * sizes[l - 1]) as u64)
        .chain((0..layers - 1).map(|l| {
            if whole_layer {
                (2 * cores[l] * (cores[l] - 1)) as u64
            } else {
                0
            }
        }))
        .sum();

    // The mapper seeded every core's LFSR with the golden's stream of its chunk, so the two
    // start from identical state.
    bench.assert_lfsrs();
    bench.assert_all_cores(0);

    let mut figures = Figures {
        samples: bench.samples(samples),
        updated_hidden: 0,
        totals: LearnTotals::default(),
    };
    for k in 0..figures.samples {
        let sample = bench.forward(k);
        let hidden_before = bench.golden.latent(0).unwrap().to_vec();
        let (learn, outcome) = bench.learn(&sample);
        assert_eq!(
            learn.packets, packets_per_phase,
            "sample {k}: learning packets"
        );
        assert_eq!(outcome.back_errors.len(), layers - 1);
        figures.totals.add(&learn);
        figures.updated_hidden += usize::from(bench.golden.latent(0).unwrap() != hidden_before);
        bench.assert_all_cores(k + 1);
    }
    let lc = bench.chip.learn_counters();
    assert_eq!(lc.phases, figures.samples as u64);
    assert_eq!(lc.cycles, figures.totals.cycles);
    assert_eq!(lc.packets, figures.totals.packets);
    figures
}

/// Learns both layers (see [`learn_both_layers`]), asserts the first layer changed in more
/// than a quarter of the samples, and prints the figures as `what`.
fn assert_first_layer_learns(
    what: &str,
    net: &Network,
    chip_desc: &ChipDescription,
    rule: OnChipRule,
    cores_per_layer: &[usize],
    samples: usize,
) {
    let f = learn_both_layers(net, chip_desc, rule, cores_per_layer, samples);
    assert!(
        f.updated_hidden > f.samples / 4,
        "the first layer changed in only {} of {} samples",
        f.updated_hidden,
        f.samples
    );
    let t = &f.totals;
    eprintln!(
        "{what}: {} samples, hidden layer changed in {}; learning {} cycles ({:.0}/sample, max {}), {} learning packets ({:.1}/sample)",
        f.samples,
        f.updated_hidden,
        t.cycles,
        t.cycles as f64 / f.samples as f64,
        t.max_cycles,
        t.packets,
        t.packets as f64 / f.samples as f64,
    );
}

#[test]
fn both_layers_learn_on_chip_bit_exact_hidden_on_one_core() {
    let net = network_of(11, false, DIGITS_64_40_10);
    let chip = ChipDescription::default();
    let rule = s4nn_rule(2);
    assert_first_layer_learns("hidden layer on one core", &net, &chip, rule, &[1, 1], 500);
}

#[test]
fn both_layers_learn_on_chip_bit_exact_hidden_split_over_two_cores() {
    // Latent real starting weights.
    let net = network_of(12, true, DIGITS_64_40_10);
    let mut rule = s4nn_rule(2);
    rule.normalisation = Normalisation::Core;
    let what = "hidden layer split over two cores";
    assert_first_layer_learns(what, &net, &cores_of(20), rule, &[2, 1], 200);
}

#[test]
fn both_layers_learn_on_chip_bit_exact_hidden_over_four_cores_normalised_as_one_layer() {
    // Normalisation::Layer over a split hidden layer: the four hidden cores exchange their
    // 64-bit partial sums of squares (two packets to each of the three others).
    let net = network_of(15, false, DIGITS_64_40_10);
    let rule = s4nn_rule(2);
    assert_eq!(rule.normalisation, Normalisation::Layer);
    let what = "hidden layer over four cores, whole-layer normalisation";
    assert_first_layer_learns(what, &net, &cores_of(10), rule, &[4, 1], 200);
}

#[test]
fn three_layers_learn_on_chip_bit_exact_errors_chained_through_the_middle_layer() {
    // 64-30-20-10: the middle layer's cores receive the output core's partial errors, update,
    // and send their own partial errors on to the first layer's cores (send_errors = 1 on a
    // hidden core); the first layer is split over two cores of 15.
    let net = network_of(14, false, DIGITS_64_30_20_10);
    let mut rule = s4nn_rule(3);
    rule.normalisation = Normalisation::Core;
    let what = "three layers (30 on two cores, 20, 10)";
    assert_first_layer_learns(what, &net, &cores_of(20), rule, &[2, 1, 1], 200);
}

#[test]
fn three_layers_with_both_hidden_layers_split_and_normalised_as_whole_layers() {
    // 64-30-20-10 on cores of 10 neurons: the first layer on three cores, the middle layer on
    // two (so every first-layer neuron gets two partial errors, error_sources = 2), both
    // normalised over their whole layer (each core exchanges its sum of squares).
    let net = network_of(16, false, DIGITS_64_30_20_10);
    let rule = s4nn_rule(3);
    let what = "three layers (30 on three cores, 20 on two, 10), whole-layer normalisation";
    assert_first_layer_learns(what, &net, &cores_of(10), rule, &[3, 2, 1], 200);
}

#[test]
fn the_mapper_refuses_rules_the_kernels_do_not_implement() {
    let net = network_of(13, false, DIGITS_64_40_10);
    let chip = ChipDescription::default();
    let mut rule = OnChipRule::s4nn(2);
    rule.shift = 7;
    assert!(refusal(&net, &chip, rule).contains("shift"));
    let mut rule = OnChipRule::s4nn(2);
    rule.rounding = isa::arith::Rounding::Floor;
    assert!(refusal(&net, &chip, rule).contains("rounding"));
    let mut rule = OnChipRule::s4nn(2);
    rule.latent_bits = 12;
    assert!(refusal(&net, &chip, rule).contains("latent_bits"));
    assert!(refusal(&net, &chip, OnChipRule::s4nn(3)).contains("eta"));
    // Chunks the golden's per-core streams cannot follow (14, 13, 13).
    let mut rule = OnChipRule::s4nn(2);
    rule.normalisation = Normalisation::Core;
    assert!(refusal(&net, &cores_of(14), rule).contains("equal chunks"));
}
