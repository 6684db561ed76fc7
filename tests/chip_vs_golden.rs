//! End to end: a network mapped onto the chip and run cycle-accurately produces exactly the
//! golden model's output spike times, sample by sample.

use isa::chip::ChipDescription;
use mapper::{map, MapOptions, PlacementKind};
use model::network::{
    Dense, FireRule, Layer, LayerKind, Network, NeuronModel, PspKernel, Shape, Threshold, Weights,
};
use model::{EncodingRule, GoldenNetwork, LatencyEncoder};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sim::chip::Chip;

mod chip_support;
use chip_support::chip_output_times;

fn dense(inputs: u32, outputs: u32, theta: i32, rng: &mut ChaCha8Rng, kernel: PspKernel) -> Layer {
    let n = (inputs * outputs) as usize;
    Layer {
        name: String::new(),
        kind: LayerKind::Dense(Dense {
            inputs,
            outputs,
            neuron: NeuronModel {
                kernel,
                fire: FireRule::Greater,
                delay: 1,
            },
            weights: Weights::random_signs(n, 0.4, rng),
            threshold: Threshold::Layer(theta),
            scale: None,
        }),
    }
}

fn random_net(seed: u64, sizes: &[u32], thetas: &[i32], t_max: u16, kernel: PspKernel) -> Network {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let layers = sizes
        .windows(2)
        .zip(thetas)
        .map(|(w, &th)| dense(w[0], w[1], th, &mut rng, kernel))
        .collect();
    Network {
        format_version: model::FORMAT_VERSION,
        input: Shape::Flat { size: sizes[0] },
        t_max,
        encoding: Some(EncodingRule::Bs4nn),
        fallback_offset: 3,
        tie_order: None,
        ties_by_potential: false,
        layers,
    }
}

/// Runs every test image of the digits set through chip and golden model; returns how many
/// samples had at least one output spike (so the test knows it compared something).
fn check_against_golden(
    net: &Network,
    chip_desc: &ChipDescription,
    placement: PlacementKind,
    limit: usize,
) -> usize {
    let data = model::data::digits().unwrap();
    check_on(net, chip_desc, placement, &data.test, limit)
}

/// Like [`check_against_golden`] on the first `limit` images of any test set.
fn check_on(
    net: &Network,
    chip_desc: &ChipDescription,
    placement: PlacementKind,
    test: &model::Dataset,
    limit: usize,
) -> usize {
    net.validate().expect("valid network");
    let golden = GoldenNetwork::new(net).unwrap();
    let opts = MapOptions {
        placement,
        ..MapOptions::default()
    };
    let mapping = map(net, chip_desc, &opts).expect("network maps");
    let mut chip = Chip::new(&mapping.image).expect("chip builds");
    let enc = LatencyEncoder {
        rule: EncodingRule::Bs4nn,
        t_max: net.t_max,
    };
    let mut with_output = 0;
    for k in 0..test.len().min(limit) {
        let times = enc.encode(test.image(k));
        let trace = golden.forward(&times).unwrap();
        let chip_times = chip_output_times(&mut chip, &times, net.t_max);
        let golden_times = trace.layer_times.last().unwrap();
        assert_eq!(&chip_times, golden_times, "sample {k}");
        if golden_times.iter().any(|t| t.0 < net.t_max) {
            with_output += 1;
        }
    }
    with_output
}

#[test]
fn two_layer_binary_network_matches_golden_on_digits() {
    let net = random_net(3, &[64, 40, 10], &[3, 2], 64, PspKernel::Step);
    let n = check_against_golden(
        &net,
        &ChipDescription::default(),
        PlacementKind::Optimised,
        60,
    );
    assert!(n > 10, "only {n} samples produced output spikes");
}

#[test]
fn ramp_kernel_network_matches_golden_on_digits() {
    let net = random_net(5, &[64, 30, 10], &[40, 20], 48, PspKernel::Ramp);
    let n = check_against_golden(
        &net,
        &ChipDescription::default(),
        PlacementKind::Optimised,
        60,
    );
    assert!(n > 10, "only {n} samples produced output spikes");
}

/// Small cores force every layer across several cores and several hops.
fn small_core_chip() -> ChipDescription {
    let text = isa::chip::DEFAULT_CHIP_TOML.replace("neurons = 256", "neurons = 8");
    ChipDescription::from_toml_str(&text, "small-core chip").unwrap()
}

#[test]
fn layers_split_across_cores_match_golden_with_either_placement() {
    let net = random_net(11, &[64, 40, 10], &[3, 2], 64, PspKernel::Step);
    for placement in [PlacementKind::Optimised, PlacementKind::Naive] {
        let n = check_against_golden(&net, &small_core_chip(), placement, 40);
        assert!(
            n > 5,
            "{placement:?}: only {n} samples produced output spikes"
        );
    }
}

#[test]
fn three_layer_network_matches_golden() {
    let net = random_net(17, &[64, 32, 24, 10], &[3, 2, 1], 64, PspKernel::Step);
    let n = check_against_golden(&net, &small_core_chip(), PlacementKind::Optimised, 40);
    assert!(n > 5, "only {n} samples produced output spikes");
}

#[test]
fn mnist_slice_on_a_784_input_network_matches_golden() {
    let data = match model::data::shared_mnist() {
        Ok(d) => d,
        Err(why) => {
            eprintln!("skipping: {why}");
            return;
        }
    };
    // 784 inputs across three hidden cores of the default chip.
    let net = random_net(23, &[784, 300, 10], &[8, 3], 128, PspKernel::Step);
    let n = check_on(
        &net,
        &ChipDescription::default(),
        PlacementKind::Optimised,
        &data.test,
        200,
    );
    assert!(n > 100, "only {n} samples produced output spikes");
}
