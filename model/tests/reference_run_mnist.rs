//! The trainer against the authors' reference programs themselves (not a transcription): from
//! the reference's own start — numpy's `np.random.seed(0)` initialisation, reproduced here bit
//! for bit with a port of numpy's legacy MT19937 `random_sample` — the trainer must produce the
//! output spike times that a float64 numpy re-run of `S4NN.py` / `BS4NN_mnist.ipynb` produced
//! on the first MNIST training samples (`tests/data/*_out_times.txt`, one line per sample,
//! recorded with the driver described in docs/TRAINING.md, "Run for run against the reference
//! code"), and the test accuracy the reference measured after them. Skips with a message when
//! the shared data directory has no MNIST.

use model::train::{SampleOrder, TrainConfig, Trainer};

/// numpy's legacy `RandomState`: MT19937 seeded with `init_genrand(seed)`, doubles from two
/// 32-bit draws (`(a >> 5) · 2²⁶ + (b >> 6)) / 2⁵³`, as `random_sample`.
struct NumpyRandomState {
    mt: [u32; 624],
    pos: usize,
}

impl NumpyRandomState {
    fn seed(seed: u32) -> NumpyRandomState {
        let mut mt = [0u32; 624];
        mt[0] = seed;
        for i in 1..624 {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        NumpyRandomState { mt, pos: 624 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.pos == 624 {
            for i in 0..624 {
                let y = (self.mt[i] & 0x8000_0000) | (self.mt[(i + 1) % 624] & 0x7fff_ffff);
                let mut v = self.mt[(i + 397) % 624] ^ (y >> 1);
                if y & 1 == 1 {
                    v ^= 0x9908_b0df;
                }
                self.mt[i] = v;
            }
            self.pos = 0;
        }
        let mut y = self.mt[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    fn random_sample(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }
}

/// `(b − a) · random_sample(n) + a`, numpy's expression order.
fn uniform(rs: &mut NumpyRandomState, n: usize, a: f64, b: f64) -> Vec<f64> {
    (0..n).map(|_| (b - a) * rs.random_sample() + a).collect()
}

/// MNIST and a trainer for `cfg` (a 784-H-10 network) started from the reference programs'
/// own initialisation: `np.random.seed(0)`, then U[0, 5) hidden and U[0, 48) output weights.
/// `None` (after saying why) when the shared data directory has no MNIST.
fn reference_start(cfg: TrainConfig) -> Option<(model::DataSplit, Trainer)> {
    let split = match model::data::shared_mnist() {
        Ok(split) => split,
        Err(why) => {
            eprintln!("skipping: {why}");
            return None;
        }
    };
    let hidden = cfg.arch[1];
    let mut rs = NumpyRandomState::seed(0);
    let w0 = uniform(&mut rs, hidden * 784, 0.0, 5.0);
    let w1 = uniform(&mut rs, 10 * hidden, 0.0, 48.0);
    let mut trainer = Trainer::new(cfg).unwrap();
    trainer.set_start_weights(0, &w0).unwrap();
    trainer.set_start_weights(1, &w1).unwrap();
    Some((split, trainer))
}

/// Trains `order` from the reference's start and compares every sample's output spike times
/// with `expected` (one line per sample).
fn replay(
    mut trainer: Trainer,
    split: &model::DataSplit,
    order: &[usize],
    expected: &str,
) -> Trainer {
    let lines: Vec<&str> = expected.lines().collect();
    assert_eq!(lines.len(), order.len(), "one reference line per sample");
    for (s, (&k, line)) in order.iter().zip(&lines).enumerate() {
        let image = split.train.image(k);
        let ours = trainer.spike_times(image)[2]
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            &ours, line,
            "sample {s} (training image {k}): output spike times"
        );
        trainer.train_sample(image, split.train.label(k)).unwrap();
    }
    trainer
}

#[test]
fn numpy_seed_zero_stream_matches_numpy() {
    // np.random.seed(0); np.random.random_sample(3)
    let mut rs = NumpyRandomState::seed(0);
    let got: Vec<f64> = (0..3).map(|_| rs.random_sample()).collect();
    assert_eq!(
        got,
        vec![0.5488135039273248, 0.7151893663724195, 0.6027633760716439]
    );
}

#[test]
fn s4nn_reproduces_s4nn_py_on_the_first_1000_mnist_samples() {
    let Some((split, trainer)) = reference_start(TrainConfig::s4nn(vec![784, 400, 10], 0)) else {
        return;
    };
    assert_eq!(trainer.config().order, SampleOrder::Sequential);
    let order: Vec<usize> = (0..1000).collect();
    let trainer = replay(
        trainer,
        &split,
        &order,
        include_str!("data/s4nn_py_mnist_first1000_out_times.txt"),
    );
    // The reference, after the same 1,000 samples: 2727 / 4257 of the 10,000 test images
    // (strict: earliest spike, ties to the lowest index; reference scoring: ties count).
    let acc = trainer.evaluate_scored(&split.test).unwrap();
    assert_eq!(
        ((acc.strict * 1e4).round(), (acc.reference * 1e4).round()),
        (2727.0, 4257.0)
    );
}

#[test]
fn bs4nn_reproduces_the_notebook_on_the_first_1000_mnist_samples() {
    let Some((split, trainer)) = reference_start(TrainConfig::bs4nn(vec![784, 600, 10], 0)) else {
        return;
    };
    // The notebook's draws with replacement (`randint(0, 60000, 60000)` after the
    // initialisation), the first 1,000.
    let order: Vec<usize> = include_str!("data/bs4nn_py_mnist_first1000_order.txt")
        .split_whitespace()
        .map(|k| k.parse().unwrap())
        .collect();
    let trainer = replay(
        trainer,
        &split,
        &order,
        include_str!("data/bs4nn_py_mnist_first1000_out_times.txt"),
    );
    // The reference after the same 1,000 samples: α = [4.98456916618658, 3.8084138162878665],
    // 706 / 2388 of the 10,000 test images (strict / reference scoring).
    let alpha = trainer.scales();
    assert!((alpha[0] - 4.984_569_166_186_58).abs() < 1e-12, "{alpha:?}");
    assert!(
        (alpha[1] - 3.808_413_816_287_866_5).abs() < 1e-12,
        "{alpha:?}"
    );
    let acc = trainer.evaluate_scored(&split.test).unwrap();
    assert_eq!(
        ((acc.strict * 1e4).round(), (acc.reference * 1e4).round()),
        (706.0, 2388.0)
    );
}
