//! Probe: S4NN with weight averaging over epochs (stochastic weight averaging). Trains the
//! reference S4NN 784-400-10 and, from epoch A on, keeps the running mean of the weights
//! after each epoch; prints the test accuracy of the current and of the averaged network.
//!
//! `cargo run --release -p spikemesh-model --example swa_probe -- MNIST_DIR EPOCHS A SEED [AUGMENT]`

use model::train::{TrainConfig, Trainer};
use std::path::Path;

fn main() -> Result<(), String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let dir = a.first().ok_or("MNIST_DIR")?;
    let num = |k: usize, d: usize| a.get(k).map_or(Ok(d), |s| s.parse::<usize>());
    let epochs = num(1, 100).map_err(|e| e.to_string())?;
    let from = num(2, 50).map_err(|e| e.to_string())?;
    let seed = num(3, 1).map_err(|e| e.to_string())? as u64;
    let augment = num(4, 0).map_err(|e| e.to_string())?;
    let split = model::data::load_mnist_dir(Path::new(dir), "mnist").map_err(|e| e.to_string())?;
    let mut t =
        Trainer::new(TrainConfig::s4nn(vec![784, 400, 10], seed)).map_err(|e| e.to_string())?;
    let mut sum: Vec<Vec<f64>> = Vec::new();
    let mut n = 0usize;
    for e in 0..epochs {
        let aug = model::Augmentation {
            max_shift: augment,
            mirror: false,
        };
        let data = split.train.for_epoch(aug, seed, e);
        let r = t.train_epoch(&data, |_| {}).map_err(|e| e.to_string())?;
        let cur = t.evaluate_scored(&split.test).map_err(|e| e.to_string())?;
        let mut line = format!(
            "epoch {:3} train {:.4} test {:.4} ({:.4})",
            e + 1,
            r.train_accuracy,
            cur.strict,
            cur.reference
        );
        if e + 1 >= from {
            let w: Vec<Vec<f64>> = (0..2).map(|l| t.real_weights(l)).collect();
            if sum.is_empty() {
                sum = w;
            } else {
                for (s, w) in sum.iter_mut().zip(&w) {
                    s.iter_mut().zip(w).for_each(|(s, w)| *s += w);
                }
            }
            n += 1;
            let mut avg = t.clone();
            for (l, s) in sum.iter().enumerate() {
                let mean: Vec<f64> = s.iter().map(|v| v / n as f64).collect();
                avg.set_start_weights(l, &mean).map_err(|e| e.to_string())?;
            }
            let acc = avg
                .evaluate_scored(&split.test)
                .map_err(|e| e.to_string())?;
            line += &format!(
                " | averaged over {n}: {:.4} ({:.4})",
                acc.strict, acc.reference
            );
        }
        println!("{line}");
    }
    Ok(())
}
