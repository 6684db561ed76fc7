//! Runs the S4NN / BS4NN trainer side by side with a re-run of the authors' reference program
//! (measurement driver for docs/TRAINING.md, "Run for run against the reference code").
//!
//! `cargo run --release -p spikemesh-model --example reference_run -- s4nn|bs4nn N DIR [MNIST_DIR]`
//!
//! The reference side is not in this repository (it is a numpy transcription of `S4NN.py` /
//! `BS4NN_mnist.ipynb`); it leaves in `DIR`, with `P` = "" for S4NN and "bs_" for BS4NN:
//!
//! - `Pw0_init.f64`, `Pw1_init.f64`: its initial weights, float64 little-endian, row-major
//!   (output neuron major, the model file's layout);
//! - `bs_order_e1.u32` (BS4NN): its first epoch's draws, u32 little-endian (S4NN: file order);
//! - `Pout_times.txt`: one line per training sample of epoch 1, the output spike times before
//!   that sample's update, space separated.
//!
//! The driver starts from the same weights, trains the same N samples in the same order,
//! counts the samples whose output spike times equal the reference's (and prints the first
//! differences), then the test accuracy (strict and reference scoring) and the scales. With
//! `EPOCHS=E` in the environment it continues for E − 1 further epochs with the trainer's own
//! loop (S4NN: file order; BS4NN: draws from the trainer's RNG) and prints each epoch.

use model::train::{SampleOrder, TrainConfig, Trainer};
use std::path::Path;

fn read_le<const N: usize, T>(path: &Path, f: fn([u8; N]) -> T) -> Result<Vec<T>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % N != 0 {
        return Err(format!(
            "{}: {} bytes is not a whole number of {N}-byte values",
            path.display(),
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(N)
        .map(|c| f(c.try_into().expect("chunk of N bytes")))
        .collect())
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [rule, n, dir, rest @ ..] = args.as_slice() else {
        return Err("usage: reference_run s4nn|bs4nn N DIR [MNIST_DIR]".into());
    };
    let n: usize = n.parse().map_err(|e| format!("N: {e}"))?;
    let dir = Path::new(dir);
    let mnist = rest.first().map_or("../shared/data/mnist", |s| s.as_str());
    let split =
        model::data::load_mnist_dir(Path::new(mnist), "mnist").map_err(|e| e.to_string())?;
    let (cfg, order, prefix) = match rule.as_str() {
        "s4nn" => {
            let mut cfg = TrainConfig::s4nn(vec![784, 400, 10], 0);
            cfg.order = SampleOrder::Sequential;
            (cfg, (0..n).collect::<Vec<usize>>(), "")
        }
        "bs4nn" => {
            let order = read_le(&dir.join("bs_order_e1.u32"), |b: [u8; 4]| {
                u32::from_le_bytes(b) as usize
            })?;
            let cfg = TrainConfig::bs4nn(vec![784, 600, 10], 0);
            (cfg, order.into_iter().take(n).collect(), "bs_")
        }
        other => return Err(format!("rule `{other}`: s4nn or bs4nn")),
    };
    let mut trainer = Trainer::new(cfg).map_err(|e| e.to_string())?;
    for l in 0..2 {
        let w = read_le(
            &dir.join(format!("{prefix}w{l}_init.f64")),
            f64::from_le_bytes,
        )?;
        trainer
            .set_start_weights(l, &w)
            .map_err(|e| e.to_string())?;
    }
    let times_path = dir.join(format!("{prefix}out_times.txt"));
    let reference = std::fs::read_to_string(&times_path)
        .map_err(|e| format!("{}: {e}", times_path.display()))?;
    let mut lines = reference.lines();
    let (mut same, mut diffs) = (0usize, Vec::new());
    for (s, &k) in order.iter().enumerate() {
        let image = split.train.image(k);
        let ours = trainer.spike_times(image)[2]
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        match lines.next() {
            Some(r) if r == ours => same += 1,
            Some(r) if diffs.len() < 3 => diffs.push((s, r.to_string(), ours)),
            _ => {}
        }
        trainer
            .train_sample(image, split.train.label(k))
            .map_err(|e| e.to_string())?;
    }
    println!("output spike times equal on {same}/{} samples", order.len());
    for (s, r, o) in &diffs {
        println!("  sample {s}: reference [{r}], trainer [{o}]");
    }
    let acc = trainer
        .evaluate_scored(&split.test)
        .map_err(|e| e.to_string())?;
    println!(
        "epoch 1: test {:.2} % strict, {:.2} % reference scoring; scales {:?}",
        acc.strict * 100.0,
        acc.reference * 100.0,
        trainer.scales()
    );
    let epochs: usize = std::env::var("EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut best = (0.0, 0.0, 1);
    for e in 2..=epochs {
        let r = trainer
            .train_epoch(&split.train, |_| {})
            .map_err(|e| e.to_string())?;
        let acc = trainer
            .evaluate_scored(&split.test)
            .map_err(|e| e.to_string())?;
        if acc.reference > best.1 {
            best = (acc.strict, acc.reference, e);
        }
        println!(
            "epoch {e}: train {:.2} % test {:.2} % strict, {:.2} % reference scoring; reinit {} scales {:?}",
            r.train_accuracy * 100.0,
            acc.strict * 100.0,
            acc.reference * 100.0,
            r.reinitialised,
            trainer.scales()
        );
    }
    if epochs > 1 {
        println!(
            "best reference-scoring epoch {}: {:.2} % strict, {:.2} % reference scoring",
            best.2,
            best.0 * 100.0,
            best.1 * 100.0
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
