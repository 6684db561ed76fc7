//! Output-layer learning on the whole chip (issue 8): a 64-40-10 binary network mapped with
//! `MapOptions::learning` runs digits training samples through `Chip::run_sample` (full window)
//! and `Chip::learn_sample`, and after every sample the output core's latent weights and binary
//! synapse rows equal those of the fixed-point golden trainer (`model::onchip::OnChipTrainer`,
//! hidden layer frozen with η = 0), and the chip's output spike times equal the golden forward
//! pass of the golden's current network.

use isa::chip::ChipDescription;
use mapper::{map, MapOptions, PlacementKind};
use model::network::{
    Dense, FireRule, Layer, LayerKind, Network, NeuronModel, PspKernel, Shape, SpikeTime,
    Threshold, Weights,
};
use model::onchip::{OnChipRule, OnChipTrainer};
use model::{EncodingRule, GoldenNetwork, LatencyEncoder};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sim::chip::{Chip, StopRule};

fn dense(inputs: u32, outputs: u32, theta: i32, rng: &mut ChaCha8Rng) -> Layer {
    let n = (inputs * outputs) as usize;
    Layer {
        name: format!("fc{outputs}"),
        kind: LayerKind::Dense(Dense {
            inputs,
            outputs,
            neuron: NeuronModel {
                kernel: PspKernel::Step,
                fire: FireRule::Greater,
                delay: 1,
            },
            weights: Weights::random_signs(n, 0.4, rng),
            threshold: Threshold::Layer(theta),
            scale: None,
        }),
    }
}

#[test]
fn output_layer_learning_on_chip_matches_golden_trainer() {
    const SAMPLES: usize = 500;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (n_in, n_hidden, n_out, t_max) = (64usize, 40usize, 10usize, 32u16);
    let net = Network {
        format_version: model::FORMAT_VERSION,
        input: Shape::Flat { size: n_in as u32 },
        t_max,
        encoding: Some(EncodingRule::Bs4nn),
        fallback_offset: 3,
        layers: vec![
            dense(n_in as u32, n_hidden as u32, 3, &mut rng),
            dense(n_hidden as u32, n_out as u32, 2, &mut rng),
        ],
    };
    net.validate().expect("valid network");
    let opts = MapOptions {
        placement: PlacementKind::Optimised,
        learning: true,
        ..MapOptions::default()
    };
    let mapping = map(&net, &ChipDescription::default(), &opts).expect("network maps");
    let mut chip = Chip::new(&mapping.image).expect("chip builds");
    let out_tile = chip.output_sources()[0].expect("output 0 is mapped").tile;
    assert!(chip
        .output_sources()
        .iter()
        .all(|s| s.is_some_and(|s| s.tile == out_tile)));

    // The reverse-routing table: axon j of the output core comes from hidden neuron j, which
    // sits on the (single) hidden core.
    let hidden_core = mapping
        .image
        .cores
        .iter()
        .find(|c| c.tile != out_tile)
        .expect("a hidden core");
    assert_eq!(hidden_core.neurons as usize, n_hidden);
    let out_core = chip.core(out_tile).unwrap();
    let table = out_core.symbol(firmware::learn_out::SRC_TABLE).unwrap() as usize;
    for j in 0..n_hidden {
        assert_eq!(
            out_core.data()[table + j],
            (i32::from(hidden_core.tile.0) << 16) | j as i32,
            "src_table[{j}]"
        );
    }

    // The golden: the mapper's defaults (OnChipRule::s4nn), hidden layer frozen (η = 0).
    let mut rule = OnChipRule::s4nn(2);
    rule.eta[0] = 0;
    let mut golden = OnChipTrainer::new(&net, rule, None).expect("trainer");
    let hidden_start = golden.latent(0).unwrap().to_vec();
    *golden.lfsr_mut(1, 0).unwrap() = chip.core(out_tile).unwrap().lfsr();
    // Latent memory is axon-major: latent[i * n_out + k]; the golden's is w[k * n_hidden + i].
    let transpose = |w: &[i32]| -> Vec<i32> {
        (0..n_hidden * n_out)
            .map(|a| w[(a % n_out) * n_hidden + a / n_out])
            .collect()
    };
    assert_eq!(
        chip.core(out_tile)
            .unwrap()
            .latent()
            .expect("latent memory"),
        transpose(golden.latent(1).unwrap()).as_slice(),
        "initial latent weights"
    );

    let data = model::data::digits().expect("digits data set");
    let enc = LatencyEncoder {
        rule: EncodingRule::Bs4nn,
        t_max,
    };
    let mut correct_golden = 0usize;
    let mut correct_chip = 0usize;
    let mut updated = 0usize;
    let mut max_learn_cycles = 0u64;
    for k in 0..SAMPLES.min(data.train.len()) {
        let times = enc.encode(data.train.image(k));
        let label = data.train.label(k);
        let trace = GoldenNetwork::new(golden.network())
            .unwrap()
            .forward(&times)
            .unwrap();
        let spikes: Vec<(u32, u32)> = times
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u32, u32::from(t.0)))
            .collect();
        let out = chip
            .run_sample(&spikes, u32::from(t_max), StopRule::FullWindow)
            .unwrap();
        let chip_times: Vec<SpikeTime> = out
            .first_spike
            .iter()
            .map(|s| SpikeTime(s.map_or(t_max, |step| step as u16 + 1)))
            .collect();
        assert_eq!(
            &chip_times,
            trace.layer_times.last().unwrap(),
            "sample {k}: output spike times"
        );
        // The chip's decision: earliest output spike, lowest channel on ties (no spike: wrong).
        let first = chip_times.iter().enumerate().min_by_key(|(_, t)| t.0);
        if first.is_some_and(|(c, t)| t.0 < t_max && c == label) {
            correct_chip += 1;
        }

        let learn = chip.learn_sample(label as u32).unwrap();
        assert!(
            learn.cycles > 0,
            "sample {k}: the learning phase took no cycles"
        );
        max_learn_cycles = max_learn_cycles.max(learn.cycles);
        let outcome = golden.learn_sample(&times, label).unwrap();
        correct_golden += usize::from(outcome.correct);
        updated += usize::from(outcome.updates > 0);

        let core = chip.core(out_tile).unwrap();
        assert_eq!(
            core.latent().unwrap(),
            transpose(golden.latent(1).unwrap()).as_slice(),
            "sample {k}: latent weights differ"
        );
        let LayerKind::Dense(d) = &golden.network().layers[1].kind else {
            unreachable!()
        };
        for i in 0..n_hidden {
            for j in 0..n_out {
                assert_eq!(
                    core.synapses().weight(i, j),
                    d.weights.int_at(j * n_hidden + i),
                    "sample {k}: binary weight (axon {i}, neuron {j})"
                );
            }
        }
    }
    assert_eq!(golden.latent(0).unwrap(), hidden_start.as_slice());
    let lc = chip.learn_counters();
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
