//! The on-chip learning test bench shared by the whole-chip learning tests: builds the random
//! dense S4NN networks, maps them with `MapOptions::learning`, creates the golden trainer
//! (`model::onchip::OnChipTrainer`) with the mapper's chunks, runs digits training samples on
//! the chip and the golden side by side, and compares a neurocore's learning state (latent
//! weights, binary synapse rows, learned threshold fields) with the golden's.
#![allow(dead_code)]

use isa::chip::{ChipDescription, TileId};
use mapper::{map, MapOptions, Mapping, PlacementKind};
use model::network::{
    Dense, Layer, LayerKind, Network, NeuronModel, Shape, SpikeTime, Threshold, Weights,
};
use model::onchip::{LearnOutcome, OnChipRule, OnChipTrainer};
use model::{DataSplit, EncodingRule, ForwardTrace, GoldenNetwork, LatencyEncoder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::chip::{Chip, LearnOutput};
use sim::core::Neurocore;

#[path = "../chip_support/mod.rs"]
mod chip_support;
use chip_support::chip_output_times;

/// The 64-40-10 digits network `(inputs, outputs, θ)` of most tests.
pub const DIGITS_64_40_10: &[(u32, u32, i32)] = &[(64, 40, 3), (40, 10, 2)];

/// The 64-30-20-10 digits network `(inputs, outputs, θ)` of the three-layer tests.
pub const DIGITS_64_30_20_10: &[(u32, u32, i32)] = &[(64, 30, 3), (30, 20, 2), (20, 10, 2)];

/// A dense S4NN layer (step PSP, V > θ, delay 1) named `fc<outputs>`, with random binary
/// ±1 weights (each −1 with probability 0.4) drawn from `rng`.
pub fn dense(inputs: u32, outputs: u32, theta: i32, rng: &mut ChaCha8Rng) -> Layer {
    let n = (inputs * outputs) as usize;
    Layer {
        name: format!("fc{outputs}"),
        kind: LayerKind::Dense(Dense {
            inputs,
            outputs,
            neuron: NeuronModel::S4NN,
            weights: Weights::random_signs(n, 0.4, rng),
            threshold: Threshold::Layer(theta),
            scale: None,
        }),
    }
}

/// A random network of dense layers `(inputs, outputs, θ)` on the 64 digits inputs (`t_max`
/// 32, BS4NN encoding). With `real`, its weights are then redrawn as latent real numbers in
/// `(-1.5, 1.5)` (the mapper must start the chip's latents as the golden does:
/// `round(w · init_magnitude)` saturated, binary weights their signs).
pub fn network_of(seed: u64, real: bool, shape: &[(u32, u32, i32)]) -> Network {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut layers: Vec<Layer> = shape
        .iter()
        .map(|&(i, o, theta)| dense(i, o, theta, &mut rng))
        .collect();
    if real {
        for l in &mut layers {
            if let LayerKind::Dense(d) = &mut l.kind {
                let n = (d.inputs * d.outputs) as usize;
                d.weights = Weights::Latent {
                    values: (0..n).map(|_| rng.gen_range(-1.5f32..1.5)).collect(),
                };
            }
        }
    }
    let net = Network {
        format_version: model::FORMAT_VERSION,
        input: Shape::Flat { size: 64 },
        t_max: 32,
        encoding: Some(EncodingRule::Bs4nn),
        fallback_offset: 3,
        tie_order: None,
        ties_by_potential: false,
        layers,
    };
    net.validate().expect("valid network");
    net
}

/// The default chip with cores of `neurons` neurons.
pub fn cores_of(neurons: u32) -> ChipDescription {
    let mut chip = ChipDescription::default();
    chip.core.neurons = neurons;
    chip
}

/// The default S4NN on-chip rule for `layers` weighted layers, with η 2 on every hidden layer
/// and 1 on the output layer.
pub fn s4nn_rule(layers: usize) -> OnChipRule {
    let mut rule = OnChipRule::s4nn(layers);
    rule.eta = vec![2; layers];
    rule.eta[layers - 1] = 1;
    rule
}

/// The mapper's error for `net` with learning `rule` on `chip` (default placement); panics
/// if the mapper accepts the rule.
pub fn refusal(net: &Network, chip: &ChipDescription, rule: OnChipRule) -> String {
    let opts = MapOptions {
        learning: Some(rule),
        ..MapOptions::default()
    };
    match map(net, chip, &opts) {
        Ok(_) => panic!("mapped a rule the kernels do not implement"),
        Err(e) => e.to_string(),
    }
}

/// One core of the mapping: its tile, weighted layer, first neuron and neuron count.
#[derive(Debug, Clone)]
pub struct Placed {
    pub tile: TileId,
    pub layer: usize,
    pub first: usize,
    pub neurons: usize,
}

/// The weights `w` (neuron-major, `w[n * fan_in + a]`) of neurons `first..first + neurons`
/// as a core's latent memory holds them: axon-major, `latent[a * neurons + n]`.
pub fn axon_major(w: &[i32], fan_in: usize, first: usize, neurons: usize) -> Vec<i32> {
    (0..fan_in * neurons)
        .map(|x| w[(first + x % neurons) * fan_in + x / neurons])
        .collect()
}

/// The inputs of each (dense) layer of `net`.
pub fn fan_in(net: &Network) -> Vec<usize> {
    net.layers
        .iter()
        .map(|l| match &l.kind {
            LayerKind::Dense(d) => d.inputs as usize,
            _ => unreachable!("dense layers only"),
        })
        .collect()
}

/// Asserts that `core`, holding neurons `first..first + neurons` of weighted layer `layer`,
/// holds the golden's learning state after `after` samples: its latent weights, its binary
/// synapse rows and, when the golden learns thresholds, its latent thresholds (f7),
/// comparator thresholds (f5) and silence counts (f11).
pub fn assert_core_state(
    core: &Neurocore,
    golden: &OnChipTrainer,
    layer: usize,
    first: usize,
    neurons: usize,
    after: usize,
) {
    let LayerKind::Dense(d) = &golden.network().layers[layer].kind else {
        unreachable!("dense layers only")
    };
    let f = d.inputs as usize;
    let want = axon_major(golden.latent(layer).unwrap(), f, first, neurons);
    let got = core.latent().expect("latent memory");
    assert_eq!(
        got.len(),
        want.len(),
        "after {after} samples: latent memory size"
    );
    if let Some(x) = (0..want.len()).find(|&x| got[x] != want[x]) {
        panic!(
            "after {after} samples: latent weight of layer {layer} (axon {}, neuron {}): chip {}, golden {}",
            x / neurons,
            first + x % neurons,
            got[x],
            want[x]
        );
    }
    for a in 0..f {
        for n in 0..neurons {
            assert_eq!(
                core.synapses().weight(a, n),
                d.weights.int_at((first + n) * f + a),
                "after {after} samples: binary weight of layer {layer} (axon {a}, neuron {})",
                first + n
            );
        }
    }
    if golden.rule().thresholds.is_none() {
        return;
    }
    let range = first..first + neurons;
    let what = [
        (
            "latent threshold",
            firmware::learn_out::THETA_LATENT,
            golden.threshold_latent(layer),
        ),
        (
            "comparator threshold",
            firmware::ttfs::THRESHOLD,
            golden.thresholds(layer),
        ),
        (
            "silence count",
            firmware::learn_out::SILENCE,
            golden.threshold_silence(layer),
        ),
    ];
    for (name, field, want) in what {
        let want = &want.expect("the golden learns thresholds")[range.clone()];
        let got = core.field(field);
        assert_eq!(got.len(), want.len());
        if let Some(n) = (0..want.len()).find(|&n| got[n] != want[n]) {
            panic!(
                "after {after} samples: {name} of layer {layer} neuron {}: chip {}, golden {}",
                first + n,
                got[n],
                want[n]
            );
        }
    }
}

/// One digits training sample run forward on the chip, its output spike times already
/// checked against the golden forward pass of the golden's current network.
pub struct Sample {
    /// Index in the training split.
    pub k: usize,
    /// Its label.
    pub label: usize,
    /// The encoded input spike times.
    pub times: Vec<SpikeTime>,
    /// The golden forward pass (before the update).
    pub trace: ForwardTrace,
    /// The chip's output spike times (`t_max` = no spike).
    pub chip_times: Vec<SpikeTime>,
}

/// Learning cycles and packets summed over the learning phases of a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct LearnTotals {
    pub cycles: u64,
    pub packets: u64,
    pub max_cycles: u64,
}

impl LearnTotals {
    /// Adds one learning phase.
    pub fn add(&mut self, learn: &LearnOutput) {
        self.cycles += learn.cycles;
        self.packets += learn.packets;
        self.max_cycles = self.max_cycles.max(learn.cycles);
    }
}

/// A network mapped for learning on a chip, next to the golden trainer with the mapper's
/// chunks (the mapper seeded every core's LFSR with the golden's stream of its chunk), and
/// the digits data set.
pub struct LearningBench {
    pub mapping: Mapping,
    pub placed: Vec<Placed>,
    /// The golden's chunk size of each weighted layer: the layer's largest core.
    pub chunks: Vec<usize>,
    pub chip: Chip,
    pub golden: OnChipTrainer,
    pub t_max: u16,
    data: DataSplit,
    enc: LatencyEncoder,
}

impl LearningBench {
    /// Maps `net` (dense layers only) for learning with `rule` on `chip_desc` (optimised
    /// placement) and builds the chip and the golden trainer.
    pub fn new(net: &Network, chip_desc: &ChipDescription, rule: OnChipRule) -> LearningBench {
        let opts = MapOptions {
            placement: PlacementKind::Optimised,
            learning: Some(rule.clone()),
            ..MapOptions::default()
        };
        let mapping = map(net, chip_desc, &opts).expect("network maps");
        let placed: Vec<Placed> = mapping
            .report
            .cores
            .iter()
            .map(|c| Placed {
                tile: TileId(c.tile),
                layer: net.layers.iter().position(|l| l.name == c.layer).unwrap(),
                first: c.first_neuron as usize,
                neurons: c.neurons as usize,
            })
            .collect();
        let chunks: Vec<usize> = (0..net.layers.len())
            .map(|l| {
                placed
                    .iter()
                    .filter(|p| p.layer == l)
                    .map(|p| p.neurons)
                    .max()
                    .unwrap()
            })
            .collect();
        let chip = Chip::new(&mapping.image).expect("chip builds");
        let golden = OnChipTrainer::new(net, rule, Some(&chunks)).expect("golden trainer");
        let t_max = net.t_max;
        LearningBench {
            mapping,
            placed,
            chunks,
            chip,
            golden,
            t_max,
            data: model::data::digits().expect("digits data set"),
            enc: LatencyEncoder {
                rule: EncodingRule::Bs4nn,
                t_max,
            },
        }
    }

    /// How many cores each weighted layer runs on.
    pub fn cores_per_layer(&self) -> Vec<usize> {
        (0..self.chunks.len())
            .map(|l| self.placed.iter().filter(|p| p.layer == l).count())
            .collect()
    }

    /// How many of the first `wanted` training samples the data set has.
    pub fn samples(&self, wanted: usize) -> usize {
        wanted.min(self.data.train.len())
    }

    /// Asserts that every core's LFSR equals the golden's stream of its chunk.
    pub fn assert_lfsrs(&mut self) {
        for p in &self.placed {
            let c = p.first / self.chunks[p.layer];
            assert_eq!(
                self.chip.core(p.tile).unwrap().lfsr(),
                *self.golden.lfsr_mut(p.layer, c).unwrap(),
                "LFSR of layer {} chunk {c}",
                p.layer,
            );
        }
    }

    /// Asserts [`assert_core_state`] for core `p` after `after` samples.
    pub fn assert_core(&self, p: &Placed, after: usize) {
        let core = self.chip.core(p.tile).unwrap();
        assert_core_state(core, &self.golden, p.layer, p.first, p.neurons, after);
    }

    /// Asserts [`assert_core_state`] for every core after `after` samples.
    pub fn assert_all_cores(&self, after: usize) {
        for p in &self.placed {
            self.assert_core(p, after);
        }
    }

    /// Runs training sample `k` forward on the chip (full window) and asserts its output
    /// spike times equal the golden forward pass of the golden's current network.
    pub fn forward(&mut self, k: usize) -> Sample {
        let t_max = self.t_max;
        let times = self.enc.encode(self.data.train.image(k));
        let label = self.data.train.label(k);
        let trace = GoldenNetwork::new(self.golden.network())
            .unwrap()
            .forward(&times)
            .unwrap();
        let chip_times = chip_output_times(&mut self.chip, &times, t_max);
        assert_eq!(
            &chip_times,
            trace.layer_times.last().unwrap(),
            "sample {k}: output spike times"
        );
        Sample {
            k,
            label,
            times,
            trace,
            chip_times,
        }
    }

    /// Runs the learning phase of `sample` on the chip, then the golden's update.
    pub fn learn(&mut self, sample: &Sample) -> (LearnOutput, LearnOutcome) {
        let learn = self.chip.learn_sample(sample.label as u32).unwrap();
        let outcome = self
            .golden
            .learn_sample(&sample.times, sample.label)
            .unwrap();
        (learn, outcome)
    }
}
