//! Probe: the on/off-centre contrast maps on the paper's 784 inputs. Each map
//! (`model::encode::on_off_centre`) is max-pooled over pairs of neighbouring pixels (`h`:
//! horizontal, `v`: vertical; the brighter value, i.e. the earlier spike, wins), giving
//! 2 × 392 = 784 S4NN-coded inputs, and BS4NN trains 784-600-10 on them with the Fashion-MNIST
//! recipe of docs/TRAINING.md (γ 120, lr 0.2, decay 0.9 from epoch 35, output θ 400).
//!
//! `cargo run --release -p spikemesh-model --example pooled_onoff_probe -- DATA_DIR EPOCHS HIDDEN_THETA h|v SEED [AVERAGE_FROM]`

use model::train::{TrainConfig, Trainer};
use model::{Dataset, EncodingRule};
use std::path::Path;

/// The 784 pooled on/off values of one 28 × 28 image.
fn pooled(pixels: &[u8], vertical: bool) -> Vec<u8> {
    let maps = model::encode::on_off_centre(pixels, 28);
    let mut out = Vec::with_capacity(784);
    for map in maps.chunks(784) {
        if vertical {
            for y in (0..28).step_by(2) {
                for x in 0..28 {
                    out.push(map[y * 28 + x].max(map[(y + 1) * 28 + x]));
                }
            }
        } else {
            for y in 0..28 {
                for x in (0..28).step_by(2) {
                    out.push(map[y * 28 + x].max(map[y * 28 + x + 1]));
                }
            }
        }
    }
    out
}

fn derived(d: &Dataset, vertical: bool) -> Dataset {
    let pixels = (0..d.len())
        .flat_map(|k| pooled(d.image(k), vertical))
        .collect();
    Dataset {
        name: d.name.clone(),
        height: 28,
        width: 28,
        pixels,
        labels: d.labels.clone(),
        classes: d.classes,
    }
}

fn main() -> Result<(), String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let dir = a.first().ok_or("DATA_DIR")?;
    let num = |k: usize, d: usize| a.get(k).map_or(Ok(d), |s| s.parse::<usize>());
    let epochs = num(1, 6).map_err(|e| e.to_string())?;
    let theta = num(2, 240).map_err(|e| e.to_string())? as i32;
    let vertical = a.get(3).is_some_and(|m| m == "v");
    let seed = num(4, 1).map_err(|e| e.to_string())? as u64;
    let from = num(5, 0).map_err(|e| e.to_string())?;
    let split =
        model::data::load_mnist_dir(Path::new(dir), "fashion").map_err(|e| e.to_string())?;
    let (train, test) = (
        derived(&split.train, vertical),
        derived(&split.test, vertical),
    );
    let mut cfg = TrainConfig::bs4nn_fashion(784, theta, seed);
    cfg.encoding = EncodingRule::S4nn;
    let mut t = Trainer::new(cfg).map_err(|e| e.to_string())?;
    for e in 1..=epochs {
        let r = t.train_epoch(&train, |_| {}).map_err(|e| e.to_string())?;
        let acc = t.evaluate_scored(&test).map_err(|e| e.to_string())?;
        let mut line = format!(
            "epoch {e:3} train {:.4} test {:.4} (ties as correct {:.4})",
            r.train_accuracy, acc.strict, acc.reference
        );
        if from > 0 && e >= from {
            t.average_epoch();
            let avg = t.averaged().ok_or("no average")?;
            let acc = avg.evaluate_scored(&test).map_err(|e| e.to_string())?;
            line += &format!(
                " | averaged {from}-{e}: {:.4} ({:.4})",
                acc.strict, acc.reference
            );
        }
        println!("{line}");
    }
    Ok(())
}
