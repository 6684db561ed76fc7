//! Probe: which layer's epoch average helps or hurts a BS4NN sign network. Trains BS4NN with
//! the Fashion-MNIST recipe of docs/TRAINING.md (stop 13: 784-600-10, θ 160/400, γ 120, lr 0.2,
//! decay 0.9 from epoch 35) and, from epoch A on, keeps the running mean of the latents
//! (`Trainer::average_epoch`). After each averaged epoch it prints the test accuracy of the
//! current network, of the averaged one, and of the two hybrids (averaged hidden layer with the
//! current output layer, and the reverse), with how many forward signs the average turns per
//! layer and the mean number of hidden neurons that fire per test image.
//!
//! `cargo run --release -p spikemesh-model --example layer_average_probe -- DATA_DIR EPOCHS A SEED [HIDDEN_THETA] [INPUTS]`
//! (`INPUTS` 1568 trains the on/off input with its θ.)

use model::train::{TrainConfig, Trainer};
use std::path::Path;

fn fired_hidden(t: &Trainer, data: &model::Dataset, tmax: u16) -> f64 {
    let n = data.len().min(2000);
    let mut sum = 0usize;
    for k in 0..n {
        let times = t.spike_times(data.image(k));
        sum += times[1].iter().filter(|&&x| x < tmax).count();
    }
    sum as f64 / n as f64
}

fn main() -> Result<(), String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let dir = a.first().ok_or("DATA_DIR")?;
    let num = |k: usize, d: usize| a.get(k).map_or(Ok(d), |s| s.parse::<usize>());
    let epochs = num(1, 50).map_err(|e| e.to_string())?;
    let from = num(2, 25).map_err(|e| e.to_string())?;
    let seed = num(3, 1).map_err(|e| e.to_string())? as u64;
    let theta = num(4, 160).map_err(|e| e.to_string())? as i32;
    let inputs = num(5, 784).map_err(|e| e.to_string())?;
    let split =
        model::data::load_mnist_dir(Path::new(dir), "fashion").map_err(|e| e.to_string())?;
    let mut cfg = TrainConfig::bs4nn_fashion(inputs, theta, seed);
    if inputs == 2 * 784 {
        cfg.encoding = model::EncodingRule::OnOffCentre { width: 28 };
    }
    let tmax = cfg.t_max;
    let mut t = Trainer::new(cfg).map_err(|e| e.to_string())?;
    for e in 1..=epochs {
        let r = t
            .train_epoch(&split.train, |_| {})
            .map_err(|e| e.to_string())?;
        let cur = t.evaluate_scored(&split.test).map_err(|e| e.to_string())?;
        let mut line = format!(
            "epoch {e:3} train {:.4} test {:.4}",
            r.train_accuracy, cur.strict
        );
        if e >= from {
            t.average_epoch();
            let avg = t.averaged().ok_or("no average")?;
            let acc = avg
                .evaluate_scored(&split.test)
                .map_err(|e| e.to_string())?;
            let hybrid = |l: usize| -> Result<f64, String> {
                let mut h = t.clone();
                h.set_start_weights(l, &avg.real_weights(l))
                    .map_err(|e| e.to_string())?;
                Ok(h.evaluate_scored(&split.test)
                    .map_err(|e| e.to_string())?
                    .strict)
            };
            let avg_hidden = hybrid(0)?;
            let avg_output = hybrid(1)?;
            let turned: Vec<usize> = (0..2)
                .map(|l| {
                    let (c, m) = (t.real_weights(l), avg.real_weights(l));
                    c.iter()
                        .zip(&m)
                        .filter(|(c, m)| (**c >= 0.0) != (**m >= 0.0))
                        .count()
                })
                .collect();
            line += &format!(
                " | averaged {:.4} | avg hidden + cur output {avg_hidden:.4} | cur hidden + avg output {avg_output:.4} | signs turned {turned:?} | hidden fired per image cur {:.1} avg {:.1}",
                acc.strict,
                fired_hidden(&t, &split.test, tmax),
                fired_hidden(&avg, &split.test, tmax),
            );
        }
        println!("{line}");
    }
    Ok(())
}
