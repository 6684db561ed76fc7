//! Cycle-accurate inferences per second (one thread):
//!
//! - `digits_64-100-10`: the demo's network (BS4NN, trained here on the embedded digits with
//!   the demo's settings) on the default 4×4 chip, the 360 test images per iteration, stopping
//!   at the first output spike (as `spikemesh run` does) and over the full window;
//! - `mnist_784-600-10`: random binary weights on the default chip (4 cores: 3 hidden, 1
//!   output), the first 100 MNIST test images per iteration; skipped with a message when the
//!   shared data directory (`$SPIKEMESH_DATA` or `../shared/data`) has no MNIST.
//!
//! - `digits_lif_64-64-10`: the multi-spike network imported from NIR
//!   (`tests/data/nir/digits_if.nir`, IF neurons with reset by subtraction, 8-bit weights) on
//!   the LIF firmware, 32 rate-coded steps, the 360 test images per iteration (full window).
//!
//! Each iteration encodes the images and runs every sample on one chip built beforehand (the
//! chip is reused across samples, as `spikemesh run` does).
//!
//! Run: `cargo bench --bench inference`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use isa::chip::ChipDescription;
use isa::ChipImage;
use mapper::{map, MapOptions};
use model::network::{Dense, Layer, LayerKind, Network, NeuronModel, Shape, Threshold, Weights};
use model::train::{TrainConfig, Trainer};
use model::{Dataset, EncodingRule, LatencyEncoder};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sim::chip::{Chip, StopRule};

/// The demo's network: BS4NN 64-100-10, t_max 64, θ 40, initialisation up to 3 / 15, learning
/// rate 0.1, 10 epochs, seed 7.
fn digits_net(data: &Dataset) -> Network {
    let mut cfg = TrainConfig::bs4nn(vec![64, 100, 10], 7);
    cfg.t_max = 64;
    cfg.threshold = vec![40, 40];
    cfg.init_high = vec![3.0, 15.0];
    cfg.lr = vec![0.1, 0.1];
    let mut trainer = Trainer::new(cfg).expect("valid training configuration");
    for _ in 0..10 {
        trainer.train_epoch(data, |_| {}).expect("training runs");
    }
    trainer.export(data.height, data.width)
}

/// Hidden threshold of the random MNIST network.
const THETA_HIDDEN: i32 = 16;
/// Output threshold of the random MNIST network.
const THETA_OUTPUT: i32 = 6;

/// Random binary 784-600-10, BS4NN encoding, t_max 64.
fn mnist_net() -> Network {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut dense = |inputs: u32, outputs: u32, theta: i32| Layer {
        name: String::new(),
        kind: LayerKind::Dense(Dense {
            inputs,
            outputs,
            neuron: NeuronModel::S4NN,
            weights: Weights::random_signs((inputs * outputs) as usize, 0.5, &mut rng),
            threshold: Threshold::Layer(theta),
            scale: None,
        }),
    };
    let layers = vec![dense(784, 600, THETA_HIDDEN), dense(600, 10, THETA_OUTPUT)];
    Network {
        format_version: model::FORMAT_VERSION,
        input: Shape::Flat { size: 784 },
        t_max: 64,
        encoding: Some(EncodingRule::Bs4nn),
        fallback_offset: 3,
        tie_order: None,
        ties_by_potential: false,
        layers,
    }
}

/// Runs `n` samples of `set`; returns the number of samples with an output spike and the
/// timesteps run.
fn run_set(
    chip: &mut Chip,
    set: &Dataset,
    n: usize,
    enc: LatencyEncoder,
    stop: StopRule,
) -> (usize, u64) {
    let mut times = Vec::new();
    let mut spikes = Vec::new();
    let mut with_output = 0;
    let mut steps = 0;
    for k in 0..n {
        enc.encode_into(set.image(k), &mut times);
        spikes.clear();
        spikes.extend(
            times
                .iter()
                .enumerate()
                .map(|(i, t)| (i as u32, u32::from(t.0))),
        );
        let out = chip
            .run_sample(&spikes, u32::from(enc.t_max), stop)
            .expect("the sample runs");
        with_output += usize::from(out.first_spike.iter().any(Option::is_some));
        steps += u64::from(out.timesteps);
    }
    (with_output, steps)
}

fn bench_image(
    c: &mut Criterion,
    group_name: &str,
    image: &ChipImage,
    set: &Dataset,
    n: usize,
    enc: LatencyEncoder,
) {
    let mut probe = Chip::new(image).expect("the chip builds");
    let (spiking, _) = run_set(&mut probe, set, n, enc, StopRule::FullWindow);
    let (_, steps) = run_set(&mut probe, set, n, enc, StopRule::FirstOutput);
    eprintln!(
        "{group_name}: {spiking}/{n} samples have an output spike; the first output comes after {:.1} of {} timesteps on average",
        steps as f64 / n as f64,
        enc.t_max
    );
    let mut group = c.benchmark_group(group_name);
    group.sample_size(10);
    group.throughput(Throughput::Elements(n as u64));
    for (name, stop) in [
        ("first_output", StopRule::FirstOutput),
        ("full_window", StopRule::FullWindow),
    ] {
        let mut chip = Chip::new(image).expect("the chip builds");
        group.bench_function(BenchmarkId::new("inferences", name), |b| {
            b.iter(|| run_set(&mut chip, set, n, enc, stop))
        });
    }
    group.finish();
}

fn inference(c: &mut Criterion) {
    let data = model::data::digits().expect("embedded digits");
    let net = digits_net(&data.train);
    let image = map(&net, &ChipDescription::default(), &MapOptions::default())
        .expect("the digits network maps")
        .image;
    let enc = LatencyEncoder {
        rule: EncodingRule::Bs4nn,
        t_max: net.t_max,
    };
    bench_image(
        c,
        "digits_64-100-10_default_chip",
        &image,
        &data.test,
        data.test.len(),
        enc,
    );

    match model::data::shared_mnist() {
        Err(why) => eprintln!("skipping mnist_784-600-10: {why}"),
        Ok(split) => {
            let net = mnist_net();
            let image = map(&net, &ChipDescription::default(), &MapOptions::default())
                .expect("784-600-10 maps onto the default chip")
                .image;
            let enc = LatencyEncoder {
                rule: EncodingRule::Bs4nn,
                t_max: net.t_max,
            };
            bench_image(
                c,
                "mnist_784-600-10_default_chip",
                &image,
                &split.test,
                100,
                enc,
            );
        }
    }
}

/// The NIR digits network (see the module documentation) as `spikemesh nir … --dt 1 --reset
/// subtract --steps 32` imports it.
fn lif_inference(c: &mut Criterion) {
    let data = model::data::digits().expect("embedded digits");
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nir/digits_if.nir");
    let graph = mapper::read_nir(&file).expect("the NIR fixture reads");
    let opts = mapper::import::ImportOptions {
        dt: 1.0,
        steps: 32,
        reset: Some(model::lif::LifReset::Subtract),
        ..mapper::import::ImportOptions::default()
    };
    let net = mapper::import::lower_nir(&graph, "digits_if.nir", &opts)
        .expect("the NIR fixture imports")
        .network;
    let image = mapper::map_lif(&net, &ChipDescription::default(), &MapOptions::default())
        .expect("the LIF network maps")
        .image;
    let set = &data.test;
    let code = model::lif::RateCode::Regular;
    let mut chip = Chip::new(&image).expect("the chip builds");
    let mut group = c.benchmark_group("digits_lif_64-64-10_default_chip");
    group.sample_size(10);
    group.throughput(Throughput::Elements(set.len() as u64));
    group.bench_function(BenchmarkId::new("inferences", "full_window"), |b| {
        b.iter(|| {
            let mut spikes_out = 0u64;
            for k in 0..set.len() {
                let out = chip
                    .run_sample(
                        &code.encode(set.image(k), net.steps),
                        net.steps,
                        StopRule::FullWindow,
                    )
                    .expect("the sample runs");
                spikes_out += out.spike_counts.iter().map(|&c| u64::from(c)).sum::<u64>();
            }
            spikes_out
        })
    });
    group.finish();
}

criterion_group!(benches, inference, lif_inference);
criterion_main!(benches);
