//! End to end for convolutional networks: a CSNN (convolution, earliest-spike max pooling,
//! flatten, dense) mapped onto the chip and run cycle-accurately produces exactly the golden
//! model's output spike times, sample by sample.

use isa::chip::ChipDescription;
use mapper::{map, MapOptions, PlacementKind};
use model::network::{
    Conv2d, Dense, Layer, LayerKind, MaxPool2d, Network, NeuronModel, Shape, Threshold, Weights,
};
use model::{EncodingRule, GoldenNetwork, LatencyEncoder};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sim::chip::Chip;

mod chip_support;
use chip_support::chip_output_times;

fn signs(n: usize, rng: &mut ChaCha8Rng) -> Weights {
    // `pack_signs` takes "negative" flags: 35 % of the weights are −1.
    Weights::random_signs(n, 0.35, rng)
}

/// Conv layer spec: (out channels, kernel, stride, padding, threshold).
type ConvSpec = (u32, u32, u32, u32, i32);

fn conv(in_c: u32, spec: ConvSpec, rng: &mut ChaCha8Rng) -> Layer {
    let (out_c, k, stride, padding, theta) = spec;
    Layer {
        name: format!("c{out_c}k{k}"),
        kind: LayerKind::Conv2d(Conv2d {
            in_channels: in_c,
            out_channels: out_c,
            kernel: k,
            stride,
            padding,
            neuron: NeuronModel::S4NN,
            weights: signs((out_c * in_c * k * k) as usize, rng),
            threshold: Threshold::Layer(theta),
            scale: None,
        }),
    }
}

fn pool(kernel: u32, stride: u32) -> Layer {
    Layer {
        name: format!("p{kernel}"),
        kind: LayerKind::MaxPool2d(MaxPool2d { kernel, stride }),
    }
}

/// A 1×8×8-input CSNN: `convs[0]`, pool, `convs[1]`, pool, flatten, dense to 10 outputs.
fn random_csnn(seed: u64, convs: [ConvSpec; 2], pools: [(u32, u32); 2], fc_theta: i32) -> Network {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut net = Network {
        format_version: model::FORMAT_VERSION,
        input: Shape::Map {
            channels: 1,
            height: 8,
            width: 8,
        },
        t_max: 64,
        encoding: Some(EncodingRule::Bs4nn),
        fallback_offset: 3,
        tie_order: None,
        ties_by_potential: false,
        layers: vec![
            conv(1, convs[0], &mut rng),
            pool(pools[0].0, pools[0].1),
            conv(convs[0].0, convs[1], &mut rng),
            pool(pools[1].0, pools[1].1),
            Layer {
                name: "flat".into(),
                kind: LayerKind::Flatten,
            },
        ],
    };
    // Side of the map after each layer (conv: (h + 2p − k) / s + 1; pool: (h − k) / s + 1).
    let mut side = 8;
    for (c, p) in convs.iter().zip(pools) {
        side = (side + 2 * c.3 - c.1) / c.2 + 1;
        side = (side - p.0) / p.1 + 1;
    }
    let inputs = convs[1].0 * side * side;
    net.layers.push(Layer {
        name: "fc10".into(),
        kind: LayerKind::Dense(Dense {
            inputs,
            outputs: 10,
            neuron: NeuronModel::S4NN,
            weights: signs(inputs as usize * 10, &mut rng),
            threshold: Threshold::Layer(fc_theta),
            scale: None,
        }),
    });
    net
}

/// Runs the first `limit` digits test images through chip and golden model, asserting equal
/// output spike times; returns how many samples had at least one output spike.
fn check(
    net: &Network,
    chip_desc: &ChipDescription,
    placement: PlacementKind,
    limit: usize,
) -> usize {
    let test = model::data::digits().expect("embedded digits").test;
    let golden = GoldenNetwork::new(net).expect("golden model builds");
    let opts = MapOptions {
        placement,
        ..MapOptions::default()
    };
    let mapping = map(net, chip_desc, &opts).expect("network maps");
    let mut chip = Chip::new(&mapping.image).expect("chip builds");
    let enc = LatencyEncoder {
        rule: net.encoding.unwrap_or(EncodingRule::Bs4nn),
        t_max: net.t_max,
    };
    let mut with_output = 0;
    for k in 0..test.len().min(limit) {
        let times = enc.encode(test.image(k));
        let trace = golden.forward(&times).expect("golden forward");
        let chip_times = chip_output_times(&mut chip, &times, net.t_max);
        let golden_times = trace.layer_times.last().expect("output layer");
        assert_eq!(&chip_times, golden_times, "sample {k}");
        if golden_times.iter().any(|t| t.0 < net.t_max) {
            with_output += 1;
        }
    }
    eprintln!(
        "{} samples, {with_output} with output spikes",
        test.len().min(limit)
    );
    with_output
}

/// Small cores (`neurons` per core) force every conv layer across several cores.
fn small_core_chip(neurons: u32) -> ChipDescription {
    let text =
        isa::chip::DEFAULT_CHIP_TOML.replace("neurons = 256", &format!("neurons = {neurons}"));
    ChipDescription::from_toml_str(&text, "small-core chip").expect("valid chip")
}

/// Conv layers with more than one core each, and the mapper's pooled-unit mode in use.
fn assert_split(net: &Network, chip: &ChipDescription) {
    let mapping = map(net, chip, &MapOptions::default()).expect("network maps");
    let conv_cores = mapping
        .report
        .cores
        .iter()
        .filter(|c| c.layer.starts_with('c'))
        .count();
    assert!(conv_cores > 2, "only {conv_cores} conv cores");
    assert!(mapping.image.cores.iter().any(|c| c.first_arrival_only));
    assert!(mapping
        .image
        .cores
        .iter()
        .any(|c| c.synapses.presence.is_some()));
}

#[test]
fn padded_csnn_matches_golden_on_default_and_small_cores() {
    // c4k3 stride 1 pad 1 → p2 → c8k3 pad 1 → p2 → flatten (32) → fc10.
    let net = random_csnn(7, [(4, 3, 1, 1, 2), (8, 3, 1, 1, 6)], [(2, 2), (2, 2)], 4);
    let n = check(
        &net,
        &ChipDescription::default(),
        PlacementKind::Optimised,
        120,
    );
    assert!(
        n > 20,
        "default chip: only {n} samples produced output spikes"
    );
    let small = small_core_chip(32);
    assert_split(&net, &small);
    for placement in [PlacementKind::Optimised, PlacementKind::Naive] {
        let n = check(&net, &small, placement, 60);
        assert!(
            n > 10,
            "{placement:?}: only {n} samples produced output spikes"
        );
    }
}

#[test]
fn strided_unpadded_csnn_with_overlapping_pools_matches_golden() {
    // c6k3 stride 2 → 3×3, p2 stride 1 (overlapping windows) → 2×2, c8k2 → 1×1, p1 → fc10.
    let net = random_csnn(13, [(6, 3, 2, 0, 1), (8, 2, 1, 0, 2)], [(2, 1), (1, 1)], 0);
    let n = check(
        &net,
        &ChipDescription::default(),
        PlacementKind::Optimised,
        120,
    );
    assert!(
        n > 20,
        "default chip: only {n} samples produced output spikes"
    );
    let n = check(&net, &small_core_chip(8), PlacementKind::Optimised, 60);
    assert!(
        n > 10,
        "small cores: only {n} samples produced output spikes"
    );
}

#[test]
fn pooling_needs_the_first_arrival_only_mode() {
    // Overlapping 2×2 pools over a dense activation: without the mode, a pooled axon
    // integrates every spike of its window, so some sample must disagree with the golden model.
    let net = random_csnn(13, [(6, 3, 2, 0, 1), (8, 2, 1, 0, 2)], [(2, 1), (1, 1)], 0);
    let golden = GoldenNetwork::new(&net).expect("golden model builds");
    let mut image = map(&net, &ChipDescription::default(), &MapOptions::default())
        .expect("network maps")
        .image;
    assert!(image.cores.iter().any(|c| c.first_arrival_only));
    for core in &mut image.cores {
        core.first_arrival_only = false;
    }
    let mut chip = Chip::new(&image).expect("chip builds");
    let test = model::data::digits().expect("embedded digits").test;
    let enc = LatencyEncoder {
        rule: EncodingRule::Bs4nn,
        t_max: net.t_max,
    };
    let differing = (0..test.len().min(120))
        .filter(|&k| {
            let times = enc.encode(test.image(k));
            let chip_times = chip_output_times(&mut chip, &times, net.t_max);
            let trace = golden.forward(&times).expect("golden forward");
            &chip_times != trace.layer_times.last().expect("output layer")
        })
        .count();
    assert!(differing > 0, "pooling without the mode still matched");
}

#[test]
fn stidi_trained_conv_model_maps_and_matches_golden() {
    use model::stidi::{Arch, StidiConfig, StidiTrainer};
    let data = model::data::digits().expect("embedded digits");
    let arch: Arch = "c4k3-p2-fc10".parse().expect("valid arch");
    let mut trainer = StidiTrainer::for_dataset(&arch, &data.train, StidiConfig::binary(), 1)
        .expect("trainer starts");
    trainer.train_epoch(&data.train).expect("one epoch");
    let net = trainer.export().expect("export");
    assert!(net
        .layers
        .iter()
        .any(|l| matches!(l.kind, LayerKind::Conv2d(_))));
    let n = check(
        &net,
        &ChipDescription::default(),
        PlacementKind::Optimised,
        usize::MAX,
    );
    assert!(
        n > data.test.len() / 2,
        "only {n} samples produced output spikes"
    );
}
