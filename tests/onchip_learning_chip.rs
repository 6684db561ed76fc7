//! Output-layer learning on the whole chip (issue 8): a 64-40-10 binary network mapped with
//! `MapOptions::learning` runs digits training samples through `Chip::run_sample` (full window)
//! and `Chip::learn_sample`, and after every sample the output core's latent weights and binary
//! synapse rows equal those of the fixed-point golden trainer (`model::onchip::OnChipTrainer`,
//! hidden layer frozen with η = 0: its core runs the hidden kernel, which moves nothing), and
//! the chip's output spike times equal the golden forward pass of the golden's current network.
//! Both layers learning: `tests/onchip_learning_hidden.rs`.

mod onchip_support;

use isa::chip::ChipDescription;
use model::onchip::OnChipRule;
use onchip_support::{network_of, LearningBench, DIGITS_64_40_10};

#[test]
fn output_layer_learning_on_chip_matches_golden_trainer() {
    const SAMPLES: usize = 500;
    let (n_hidden, n_out, t_max) = (40usize, 10usize, 32u16);
    let net = network_of(11, false, DIGITS_64_40_10);
    // The rule: the defaults (OnChipRule::s4nn), hidden layer frozen (η = 0).
    let mut rule = OnChipRule::s4nn(2);
    rule.eta[0] = 0;
    let mut bench = LearningBench::new(&net, &ChipDescription::default(), rule);
    // One core per layer: the golden's chunks are its defaults, whole layers.
    assert_eq!(bench.chunks, [n_hidden, n_out]);
    assert_eq!(bench.t_max, t_max);
    let out_tile = bench.chip.output_sources()[0]
        .expect("output 0 is mapped")
        .tile;
    assert!(bench
        .chip
        .output_sources()
        .iter()
        .all(|s| s.is_some_and(|s| s.tile == out_tile)));

    // The reverse-routing table: axon j of the output core comes from hidden neuron j, which
    // sits on the (single) hidden core.
    let hidden_core = bench
        .mapping
        .image
        .cores
        .iter()
        .find(|c| c.tile != out_tile)
        .expect("a hidden core")
        .clone();
    assert_eq!(hidden_core.neurons as usize, n_hidden);
    let out_core = bench.chip.core(out_tile).unwrap();
    let table = out_core.symbol(firmware::learn_out::SRC_TABLE).unwrap() as usize;
    for j in 0..n_hidden {
        assert_eq!(
            out_core.data()[table + j],
            (i32::from(hidden_core.tile.0) << 16) | j as i32,
            "src_table[{j}]"
        );
    }

    let hidden_start = bench.golden.latent(0).unwrap().to_vec();
    // The mapper seeded the output core's LFSR with the golden's stream (layer 1, chunk 0).
    assert_eq!(
        bench.chip.core(out_tile).unwrap().lfsr(),
        *bench.golden.lfsr_mut(1, 0).unwrap()
    );
    let out = bench
        .placed
        .iter()
        .find(|p| p.tile == out_tile)
        .expect("the output core is placed")
        .clone();
    assert_eq!((out.layer, out.first, out.neurons), (1, 0, n_out));
    // The initial latent weights (and binary rows).
    bench.assert_core(&out, 0);

    let mut correct_golden = 0usize;
    let mut correct_chip = 0usize;
    let mut updated = 0usize;
    let mut max_learn_cycles = 0u64;
    for k in 0..bench.samples(SAMPLES) {
        let sample = bench.forward(k);
        // The chip's decision: earliest output spike, lowest channel on ties (no spike: wrong).
        let first = sample
            .chip_times
            .iter()
            .enumerate()
            .min_by_key(|(_, t)| t.0);
        if first.is_some_and(|(c, t)| t.0 < t_max && c == sample.label) {
            correct_chip += 1;
        }

        let (learn, outcome) = bench.learn(&sample);
        assert!(
            learn.cycles > 0,
            "sample {k}: the learning phase took no cycles"
        );
        max_learn_cycles = max_learn_cycles.max(learn.cycles);
        correct_golden += usize::from(outcome.correct);
        updated += usize::from(outcome.updates > 0);
        bench.assert_core(&out, k + 1);
    }
    assert_eq!(bench.golden.latent(0).unwrap(), hidden_start.as_slice());
    assert_eq!(
        bench.chip.core(hidden_core.tile).unwrap().latent(),
        hidden_core.latent.as_deref(),
        "the frozen hidden core's latent weights moved"
    );
    let lc = bench.chip.learn_counters();
    assert_eq!(lc.phases, SAMPLES as u64);
    assert!(lc.cycles > 0);
    assert!(
        updated > SAMPLES / 4,
        "only {updated} samples changed the weights"
    );
    eprintln!(
        "{SAMPLES} samples: {updated} with updates; learning {} cycles ({:.0}/sample, max {max_learn_cycles}), {} learning packets; \
         online accuracy (before each update): golden decoding {:.3}, chip first spike {:.3}",
        lc.cycles,
        lc.cycles as f64 / SAMPLES as f64,
        lc.packets,
        correct_golden as f64 / SAMPLES as f64,
        correct_chip as f64 / SAMPLES as f64,
    );
}
