//! Host-trainer samples per second (one thread), the figure behind "seconds per MNIST epoch":
//!
//! - `digits_bs4nn_64-600-10`: one epoch of the embedded digits (1,437 samples) per iteration
//!   with the digits recipe (docs/TRAINING.md);
//! - `mnist_s4nn_784-400-10` and `mnist_bs4nn_784-600-10`: the reference defaults, warmed up on
//!   the first 10,000 MNIST training images (an untrained net has more ties and larger errors
//!   than one in its steady state), then 1,000 further samples per iteration; skipped with a
//!   message when the shared data directory (`$SPIKEMESH_DATA` or `../shared/data`) has no MNIST.
//!
//! - `mnist_bs4nn_adam_784-600-10`: the same BS4NN net with Adam on batches of 16 (the
//!   settings of docs/TRAINING.md, stop 27): the summed updates plus one dense step per batch;
//! - `digits_stidi_c16k3-p2-fc10`: one epoch of the digits with the STiDi-BP binary CSNN defaults;
//! - `mnist_stidi_c32k5-p2-c64k3-p2-fc10`: the wide binary CSNN of docs/TRAINING.md (θ 10 per
//!   fan-in, η 0.1 / 0.1 / 0.3, sign hysteresis 0.1), warmed up on 1,000 MNIST images, then 200
//!   further samples per iteration.
//!
//! Online training changes the network every sample, so iterations see slightly different
//! networks; the throughput is what a long run sees.
//!
//! Run: `cargo bench --bench trainer`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use model::stidi::{Arch, StidiConfig, StidiTrainer};
use model::train::{Optimiser, TrainConfig, Trainer};
use model::Dataset;

/// Trains `trainer` on samples `from..from + n` of `set`, in order.
fn train_range(trainer: &mut Trainer, set: &Dataset, from: usize, n: usize) -> usize {
    let mut correct = 0;
    for k in from..from + n {
        let (pred, _) = trainer
            .train_sample(set.image(k), set.label(k))
            .expect("the sample trains");
        correct += usize::from(pred == set.label(k));
    }
    correct
}

/// Stop 27's MNIST command: Adam (batches of 16, step 0.01), output latents from [0, 4.8),
/// hysteresis 0.3.
fn bs4nn_adam() -> TrainConfig {
    let mut cfg = TrainConfig::bs4nn(vec![784, 600, 10], 1);
    cfg.init_low = vec![-1.0, 0.0];
    cfg.init_high = vec![5.0, 4.8];
    cfg.threshold = vec![100, 400];
    cfg.gamma = 120;
    cfg.silent_label_shift = 120;
    cfg.lr_scale = vec![0.0, 0.0];
    cfg.lr = vec![0.01, 0.01];
    cfg.sign_hysteresis = vec![0.3, 0.3];
    cfg.optimiser = Optimiser::Adam {
        beta1: 0.9,
        beta2: 0.999,
        batch: 16,
    };
    cfg
}

fn trainer(c: &mut Criterion) {
    let digits = model::data::digits().expect("embedded digits");
    let mut t = Trainer::new(TrainConfig::bs4nn_digits(1)).expect("valid digits configuration");
    let mut group = c.benchmark_group("trainer");
    group.sample_size(10);
    group.throughput(Throughput::Elements(digits.train.len() as u64));
    group.bench_function(BenchmarkId::new("epoch", "digits_bs4nn_64-600-10"), |b| {
        b.iter(|| t.train_epoch(&digits.train, |_| {}).expect("epoch runs"))
    });
    let mut cfg = StidiConfig::binary();
    cfg.parallel = false;
    let arch: Arch = "c16k3-p2-fc10".parse().expect("architecture string");
    let mut t = StidiTrainer::for_dataset(&arch, &digits.train, cfg, 1).expect("digits CSNN");
    group.bench_function(
        BenchmarkId::new("epoch", "digits_stidi_c16k3-p2-fc10"),
        |b| b.iter(|| t.train_epoch(&digits.train).expect("epoch runs")),
    );

    let split = match model::data::shared_mnist() {
        Ok(split) => split,
        Err(why) => {
            eprintln!("skipping the MNIST trainer benches: {why}");
            group.finish();
            return;
        }
    };
    let (warm, per_iter) = (10_000, 1_000);
    group.throughput(Throughput::Elements(per_iter as u64));
    for (name, cfg) in [
        (
            "mnist_s4nn_784-400-10",
            TrainConfig::s4nn(vec![784, 400, 10], 1),
        ),
        (
            "mnist_bs4nn_784-600-10",
            TrainConfig::bs4nn(vec![784, 600, 10], 1),
        ),
        ("mnist_bs4nn_adam_784-600-10", bs4nn_adam()),
    ] {
        let mut t = Trainer::new(cfg).expect("reference configuration");
        let correct = train_range(&mut t, &split.train, 0, warm);
        eprintln!(
            "{name}: online accuracy over the {warm} warm-up samples {:.1} %",
            100.0 * correct as f64 / warm as f64
        );
        let mut from = warm;
        group.bench_function(BenchmarkId::new("samples", name), |b| {
            b.iter(|| {
                if from + per_iter > split.train.len() {
                    from = warm;
                }
                let c = train_range(&mut t, &split.train, from, per_iter);
                from += per_iter;
                c
            })
        });
    }

    let mut cfg = StidiConfig::binary();
    cfg.parallel = false;
    cfg.theta_per_fan_in = 10.0;
    cfg.lr = vec![0.1, 0.1, 0.3];
    cfg.sign_hysteresis = 0.1;
    let arch: Arch = "c32k5-p2-c64k3-p2-fc10"
        .parse()
        .expect("architecture string");
    let mut t = StidiTrainer::for_dataset(&arch, &split.train, cfg, 1).expect("MNIST CSNN");
    let sample = |t: &mut StidiTrainer, k: usize| {
        let (pred, _) = t
            .train_sample(split.train.image(k), split.train.label(k))
            .expect("the sample trains");
        usize::from(pred == split.train.label(k))
    };
    let (warm, per_iter) = (1_000, 200);
    let correct: usize = (0..warm).map(|k| sample(&mut t, k)).sum();
    eprintln!("CSNN: online accuracy over the {warm} warm-up samples {correct} / {warm}");
    group.throughput(Throughput::Elements(per_iter as u64));
    let mut from = warm;
    group.bench_function(
        BenchmarkId::new("samples", "mnist_stidi_c32k5-p2-c64k3-p2-fc10"),
        |b| {
            b.iter(|| {
                if from + per_iter > split.train.len() {
                    from = warm;
                }
                let c: usize = (from..from + per_iter).map(|k| sample(&mut t, k)).sum();
                from += per_iter;
                c
            })
        },
    );
    group.finish();
}

criterion_group!(benches, trainer);
criterion_main!(benches);
