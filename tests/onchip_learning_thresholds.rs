//! Learned integer thresholds on the whole chip (issue 8, step 7 of the rule): a network mapped
//! with `MapOptions::learning` and `OnChipRule::thresholds` learns its weights AND its
//! per-neuron thresholds on the chip — every core's kernel moves its neurons' latent thresholds
//! (field f7) by `round_ne(δ · η_θ / 2^15)`, lowers those silent for `window` samples
//! (silence counts in f11), clamps them, and writes the comparator thresholds `ttfs.s` reads
//! (f5) — and after every digits training sample the latent weights, binary rows, latent and
//! comparator thresholds and silence counts of every core equal those of the golden trainer
//! (`model::onchip::OnChipTrainer`), and the chip's output spike times equal the golden
//! forward pass of the golden's current network (learned thresholds included).

mod onchip_support;

use isa::chip::ChipDescription;
use model::network::{LayerKind, Network, Threshold};
use model::onchip::{
    LayerThresholdRule, Normalisation, OnChipRule, OnChipTrainer, ThresholdLearning,
};
use onchip_support::{
    cores_of, network_of, refusal, s4nn_rule, LearnTotals, LearningBench, DIGITS_64_30_20_10,
    DIGITS_64_40_10,
};

/// What a run measured.
#[derive(Debug, Default)]
struct Figures {
    samples: usize,
    /// Samples after which some latent threshold differs from before.
    latent_moved: usize,
    /// Samples after which some comparator threshold differs from before.
    comparator_moved: usize,
    /// Samples in which some neuron was lowered by homeostasis (its silence count reset).
    homeostasis: usize,
    totals: LearnTotals,
}

/// Maps `net` for learning with `rule` on `chip_desc`, runs `samples` digits training samples
/// on the chip and the golden side by side, and compares every core's learning state after
/// every sample.
fn learn(net: &Network, chip_desc: &ChipDescription, rule: OnChipRule, samples: usize) -> Figures {
    let t_max = net.t_max;
    let layers = net.layers.len();
    let windows: Vec<u32> = (0..layers)
        .map(|l| rule.thresholds.as_ref().map_or(0, |t| t.layers[l].window))
        .collect();
    let mut bench = LearningBench::new(net, chip_desc, rule);
    bench.assert_all_cores(0);

    let mut figures = Figures {
        samples: bench.samples(samples),
        ..Figures::default()
    };
    let snapshot = |g: &OnChipTrainer, f: fn(&OnChipTrainer, usize) -> Option<&[i32]>| {
        (0..layers)
            .map(|l| f(g, l).map(<[i32]>::to_vec))
            .collect::<Vec<_>>()
    };
    for k in 0..figures.samples {
        let sample = bench.forward(k);
        let latent_before = snapshot(&bench.golden, OnChipTrainer::threshold_latent);
        let comparator_before = snapshot(&bench.golden, OnChipTrainer::thresholds);
        let (learn, _) = bench.learn(&sample);
        figures.totals.add(&learn);
        figures.latent_moved +=
            usize::from(snapshot(&bench.golden, OnChipTrainer::threshold_latent) != latent_before);
        figures.comparator_moved +=
            usize::from(snapshot(&bench.golden, OnChipTrainer::thresholds) != comparator_before);
        // With a window, a silent neuron's count is 0 after the sample only if homeostasis
        // lowered it (and restarted the count).
        let silence_after = snapshot(&bench.golden, OnChipTrainer::threshold_silence);
        let lowered = (0..layers).any(|l| {
            let Some(a) = &silence_after[l] else {
                return false;
            };
            let t = &sample.trace.layer_times[l];
            windows[l] > 0 && (0..a.len()).any(|j| t[j].0 >= t_max && a[j] == 0)
        });
        figures.homeostasis += usize::from(lowered);
        bench.assert_all_cores(k + 1);
    }
    figures
}

fn report(what: &str, f: &Figures) {
    eprintln!(
        "{what}: {} samples; latent thresholds moved in {}, comparator thresholds in {}, homeostasis lowered some neuron in {}; learning {:.0} cycles/sample (max {}), {:.1} packets/sample",
        f.samples,
        f.latent_moved,
        f.comparator_moved,
        f.homeostasis,
        f.totals.cycles as f64 / f.samples as f64,
        f.totals.max_cycles,
        f.totals.packets as f64 / f.samples as f64,
    );
}

/// Threshold learning for a 64-40-10 network with thresholds 3 / 2: Q.8 latents, η_θ 96
/// (hidden) and 64 (output) latent LSBs per unit of δ, ranges `[1, 12]` and `[1, 8]`,
/// homeostasis after `window` silent samples by half a threshold unit.
fn threshold_rule(layers: usize, window: u32) -> ThresholdLearning {
    let mut per_layer = vec![
        LayerThresholdRule {
            eta: 96,
            min: 1,
            max: 12,
            window,
            step: 128,
        };
        layers
    ];
    if let Some(out) = per_layer.last_mut() {
        *out = LayerThresholdRule {
            eta: 64,
            min: 1,
            max: 8,
            window,
            step: 128,
        };
    }
    ThresholdLearning::q8(per_layer)
}

#[test]
fn thresholds_learn_on_chip_bit_exact_hidden_on_one_core() {
    let net = network_of(21, false, DIGITS_64_40_10);
    let mut rule = s4nn_rule(2);
    let off = learn(&net, &ChipDescription::default(), rule.clone(), 200);
    report("64-40-10, thresholds fixed", &off);
    rule.thresholds = Some(threshold_rule(2, 4));
    let on = learn(&net, &ChipDescription::default(), rule, 200);
    report("64-40-10, thresholds learned", &on);
    assert!(
        on.comparator_moved > on.samples / 10,
        "the comparator thresholds changed in only {} of {} samples",
        on.comparator_moved,
        on.samples
    );
    assert!(on.latent_moved >= on.comparator_moved);
    assert!(on.homeostasis > 0, "homeostasis never lowered a threshold");
    // The threshold step runs on every core after the weight update: it costs cycles.
    assert!(on.totals.cycles > off.totals.cycles);
    assert_eq!(
        on.totals.packets, off.totals.packets,
        "no extra learning traffic"
    );
}

#[test]
fn thresholds_learn_on_chip_bit_exact_hidden_over_four_cores() {
    // The hidden layer over four cores of 10 with whole-layer normalisation (the cores
    // exchange their sums of squares): each core learns the thresholds of its own neurons.
    let net = network_of(22, false, DIGITS_64_40_10);
    let chip = cores_of(10);
    let mut rule = s4nn_rule(2);
    assert_eq!(rule.normalisation, Normalisation::Layer);
    rule.thresholds = Some(threshold_rule(2, 3));
    let f = learn(&net, &chip, rule, 200);
    report("64-40-10, hidden over four cores, thresholds learned", &f);
    assert!(f.comparator_moved > f.samples / 10);
}

#[test]
fn thresholds_learn_on_chip_bit_exact_three_layers_per_neuron_start() {
    // 64-30-20-10 on cores of 10 (first layer on three cores, middle on two), per-core
    // normalisation, per-neuron starting thresholds in the middle layer, no homeostasis.
    let mut net = network_of(23, false, DIGITS_64_30_20_10);
    if let LayerKind::Dense(d) = &mut net.layers[1].kind {
        d.threshold = Threshold::Neuron((0..20).map(|j| 1 + j % 3).collect());
    }
    let chip = cores_of(10);
    let mut rule = s4nn_rule(3);
    rule.normalisation = Normalisation::Core;
    rule.thresholds = Some(threshold_rule(3, 0));
    let f = learn(&net, &chip, rule, 200);
    report("64-30-20-10, thresholds learned", &f);
    assert!(f.comparator_moved > f.samples / 10);
    assert_eq!(f.homeostasis, 0, "no homeostasis with window 0");
}

#[test]
fn the_mapper_refuses_threshold_rules_the_kernels_do_not_implement() {
    let net = network_of(24, false, DIGITS_64_40_10);
    let refused = |t: ThresholdLearning| -> String {
        let mut rule = OnChipRule::s4nn(2);
        rule.thresholds = Some(t);
        refusal(&net, &ChipDescription::default(), rule)
    };
    let mut t = threshold_rule(2, 0);
    t.shift = 14;
    assert!(refused(t).contains("thresholds.shift"));
    // The hidden layer starts at 3, outside [4, 12].
    let mut t = threshold_rule(2, 0);
    t.layers[0].min = 4;
    assert!(refused(t).contains("thresholds.layers[0]"));
    let mut t = threshold_rule(2, 0);
    t.layers.pop();
    assert!(refused(t).contains("thresholds.layers"));
}
