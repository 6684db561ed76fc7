//! Probe: how much class information one layer's spike times carry, measured by a softmax
//! regression trained on them (float, host only). Separates "the features lack the information"
//! from "the spiking read-out does not learn to use it" (docs/TRAINING.md, stop 17).
//!
//! `cargo run --release -p spikemesh-model --example readout_probe -- MODEL DATASET LAYER [NTRAIN] [EPOCHS]`
//! (`LAYER`: index into the golden trace's layers, or `input` for the encoded input; features are
//! each neuron's earliness `(t_max − t)/t_max`, 0 when it does not fire; `NTRAIN` training images,
//! default 20000; `EPOCHS` of plain SGD, default 10, learning rate 0.01/(1 + 0.2·epoch), L2 decay
//! 10⁻⁴, features standardised with the training statistics; the whole test set is scored)

use model::data::{Dataset, DatasetSpec};
use model::encode::{EncodingRule, LatencyEncoder};
use model::network::Network;
use model::GoldenNetwork;
use rayon::prelude::*;
use std::path::Path;

fn features(
    golden: &GoldenNetwork,
    enc: &LatencyEncoder,
    layer: Option<usize>,
    data: &Dataset,
    n: usize,
    t_max: u16,
) -> Result<Vec<Vec<f32>>, String> {
    (0..n)
        .into_par_iter()
        .map(|k| {
            let input = enc.encode(data.image(k));
            let times: Vec<u16> = match layer {
                None => input.iter().map(|t| t.0).collect(),
                Some(l) => {
                    let trace = golden.forward(&input).map_err(|e| e.to_string())?;
                    let lt = trace.layer_times.get(l).ok_or(format!(
                        "LAYER {l}: the network has layers 0..{}",
                        trace.layer_times.len()
                    ))?;
                    lt.iter().map(|t| t.0).collect()
                }
            };
            Ok(times
                .iter()
                .map(|&t| (t_max.saturating_sub(t)) as f32 / t_max as f32)
                .collect())
        })
        .collect()
}

fn main() -> Result<(), String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(data), Some(layer)) = (a.first(), a.get(1), a.get(2)) else {
        return Err("usage: readout_probe MODEL DATASET LAYER|input [NTRAIN] [EPOCHS]".into());
    };
    let ntrain: usize = a
        .get(3)
        .map_or(Ok(20000), |s| s.parse())
        .map_err(|e| format!("NTRAIN: {e}"))?;
    let epochs: usize = a
        .get(4)
        .map_or(Ok(10), |s| s.parse())
        .map_err(|e| format!("EPOCHS: {e}"))?;
    let layer = if layer == "input" {
        None
    } else {
        Some(layer.parse::<usize>().map_err(|e| format!("LAYER: {e}"))?)
    };
    let net = Network::load(Path::new(path)).map_err(|e| e.to_string())?;
    let golden = GoldenNetwork::new(&net).map_err(|e| e.to_string())?;
    let spec: DatasetSpec = data.parse().map_err(|e| format!("{e}"))?;
    let split = spec.load().map_err(|e| e.to_string())?;
    let enc = LatencyEncoder {
        rule: net.encoding.unwrap_or(EncodingRule::S4nn),
        t_max: net.t_max,
    };
    let ntrain = ntrain.min(split.train.len());
    if ntrain == 0 || split.test.is_empty() {
        return Err(format!(
            "{data}: NTRAIN and the test set must hold at least one image"
        ));
    }
    let xtr = features(&golden, &enc, layer, &split.train, ntrain, net.t_max)?;
    let xte = features(
        &golden,
        &enc,
        layer,
        &split.test,
        split.test.len(),
        net.t_max,
    )?;
    let d = xtr[0].len();
    // One score row per class seen in either split (the data sets here have 10).
    let classes = (0..split.train.len())
        .map(|k| split.train.label(k))
        .chain((0..split.test.len()).map(|k| split.test.label(k)))
        .max()
        .map_or(1, |c| c + 1);
    // Standardise with the training statistics.
    let mut mean = vec![0f64; d];
    let mut var = vec![0f64; d];
    for x in &xtr {
        for (m, v) in mean.iter_mut().zip(x) {
            *m += *v as f64;
        }
    }
    for m in &mut mean {
        *m /= ntrain as f64;
    }
    for x in &xtr {
        for ((s, v), m) in var.iter_mut().zip(x).zip(&mean) {
            *s += (*v as f64 - m).powi(2);
        }
    }
    let sd: Vec<f64> = var
        .iter()
        .map(|v| (v / ntrain as f64).sqrt().max(1e-6))
        .collect();
    let norm = |x: &[f32]| -> Vec<f64> {
        x.iter()
            .zip(&mean)
            .zip(&sd)
            .map(|((v, m), s)| (*v as f64 - m) / s)
            .collect()
    };
    let xtr: Vec<Vec<f64>> = xtr.iter().map(|x| norm(x)).collect();
    let xte: Vec<Vec<f64>> = xte.iter().map(|x| norm(x)).collect();
    let mut w = vec![vec![0f64; d + 1]; classes];
    let score = |w: &Vec<Vec<f64>>, x: &[f64]| -> Vec<f64> {
        w.iter()
            .map(|r| r[d] + r[..d].iter().zip(x).map(|(a, b)| a * b).sum::<f64>())
            .collect()
    };
    let acc = |w: &Vec<Vec<f64>>, xs: &[Vec<f64>], data: &Dataset| -> f64 {
        let ok = xs
            .par_iter()
            .enumerate()
            .filter(|(k, x)| {
                let s = score(w, x);
                let p = (0..classes).max_by(|&i, &j| s[i].total_cmp(&s[j]));
                p == Some(data.label(*k))
            })
            .count();
        ok as f64 / xs.len() as f64
    };
    let l2 = 1e-4;
    for e in 0..epochs {
        let lr = 0.01 / (1.0 + e as f64 * 0.2);
        for (k, x) in xtr.iter().enumerate() {
            let s = score(&w, x);
            let mx = s.iter().cloned().fold(f64::MIN, f64::max);
            let ex: Vec<f64> = s.iter().map(|v| (v - mx).exp()).collect();
            let z: f64 = ex.iter().sum();
            for c in 0..classes {
                let g = ex[c] / z - f64::from(u8::from(c == split.train.label(k)));
                let r = &mut w[c];
                for (wi, xi) in r[..d].iter_mut().zip(x) {
                    *wi -= lr * (g * xi + l2 * *wi);
                }
                r[d] -= lr * g;
            }
        }
        if e % 5 == 4 || e + 1 == epochs {
            println!(
                "epoch {} train {:.4} test {:.4}",
                e + 1,
                acc(&w, &xtr, &split.train),
                acc(&w, &xte, &split.test)
            );
        }
    }
    println!("{path} layer {layer:?}: {d} features, {ntrain} training images");
    Ok(())
}
