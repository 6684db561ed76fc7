//! Trains the fixed-point on-chip rule (`model::onchip::OnChipTrainer`) next to the host
//! BS4NN trainer (`model::train::Trainer`) on the same data, architecture, initial weights,
//! thresholds and number of epochs, and prints both test accuracies (measurement driver for
//! `docs/LEARNING.md`).
//!
//! `cargo run --release -p spikemesh-model --example onchip_sweep -- key=value ...`
//!
//! keys (defaults in brackets):
//! - run: `arch=64-600-10` `epochs=N` [60] `seed=N` [1] `every=N` [10] (test every N epochs)
//!   `last=K` [10] (also test after each of the last K epochs and print both means)
//!   `host=0|1` [1] `chip=0|1` [1];
//! - host BS4NN (α fixed at 5, `lr-scale 0`): `theta=A,B` [30,400] `low=A,B` [-1,0]
//!   `high=A,B` [5,48] `lr=F` [0.1] `gamma=N` [120] `silent=N` [= gamma];
//! - on-chip rule: `eta=A,B` [1,1] `shift=N` [8] `hshift=N` [8] `mag=N` [640] (latent LSBs per
//!   real unit) `bits=N` [16] `norm=layer|core` [layer] `cores=A,B` (neurons per core) [whole
//!   layer] `round=sr|near|floor` [sr] `ogamma=N` (on-chip γ, also its silent-label shift)
//!   [= gamma] `init=real|signs` [real] (signs: start from `±mag` by the signs of the host's
//!   initial weights, an ablation) `start=PATH` (save the on-chip starting network, e.g. for
//!   `spikemesh map --learning`) `order=host|perm` [host] (perm: the on-chip trainer visits a
//!   seeded permutation per epoch instead of the host's order).
//!
//! The on-chip trainer starts from exactly the host trainer's initial latent weights (the same
//! seed draws them), `round(w · mag)`, with the host's integer thresholds `⌊θ/α⌋`
//! ([`model::onchip::host_start_network`]). Both visit the same samples in the same order (the
//! host's `N` draws with replacement per epoch, replayed from the seed). A host learning rate
//! `lr` corresponds to `η · 32768 / (2^shift · mag)` on chip: the defaults give the host 0.1
//! and the chip 0.2 (the recipe of `docs/LEARNING.md`); `mag=1280` or `shift=10 mag=320` give
//! the chip 0.1.

use isa::arith::Rounding;
use model::onchip::{host_start_network, Normalisation, OnChipRule, OnChipTrainer};
use model::train::{binary_threshold, TrainConfig, Trainer};
use model::DatasetSpec;
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn list<T: std::str::FromStr>(k: &str, v: &str) -> Result<Vec<T>, String>
where
    T::Err: std::fmt::Display,
{
    v.split(',')
        .map(|x| x.parse::<T>().map_err(|e| format!("{k} `{x}`: {e}")))
        .collect()
}

/// One value for every layer, or one per layer.
fn per_layer<T: Copy>(k: &str, v: &[T], n: usize) -> Result<Vec<T>, String> {
    match v.len() {
        1 => Ok(vec![v[0]; n]),
        m if m == n => Ok(v.to_vec()),
        m => Err(format!("{k}: give 1 or {n} values, not {m}")),
    }
}

fn run() -> Result<(), String> {
    let mut arch = vec![64usize, 600, 10];
    let (mut epochs, mut seed, mut every, mut last) = (60usize, 1u64, 10usize, 10usize);
    let (mut host, mut chip) = (true, true);
    let (mut theta, mut low, mut high) = (vec![30i32, 400], vec![-1f32, 0.0], vec![5f32, 48.0]);
    let (mut lr, mut gamma, mut silent) = (0.1f32, 120u16, None::<u16>);
    let mut ogamma = None::<u16>;
    let mut signs = false;
    let mut start = None::<String>;
    let mut perm = false;
    let mut eta = vec![1i32];
    let (mut shift, mut hshift, mut mag, mut bits) = (8u32, 8u32, 640i32, 16u32);
    let (mut norm, mut cores, mut round) = (Normalisation::Layer, None::<Vec<usize>>, "sr");
    for a in std::env::args().skip(1) {
        let (k, v) = a.split_once('=').ok_or(format!("`{a}` is not key=value"))?;
        let pu = |v: &str| v.parse::<u64>().map_err(|e| format!("{k}: {e}"));
        match k {
            "arch" => arch = list(k, &v.replace('-', ","))?,
            "epochs" => epochs = pu(v)? as usize,
            "seed" => seed = pu(v)?,
            "every" => every = pu(v)?.max(1) as usize,
            "last" => last = pu(v)? as usize,
            "host" => host = v == "1",
            "chip" => chip = v == "1",
            "theta" => theta = list(k, v)?,
            "low" => low = list(k, v)?,
            "high" => high = list(k, v)?,
            "lr" => lr = v.parse().map_err(|e| format!("{k}: {e}"))?,
            "gamma" => gamma = pu(v)? as u16,
            "silent" => silent = Some(pu(v)? as u16),
            "ogamma" => ogamma = Some(pu(v)? as u16),
            "init" => signs = v == "signs",
            "start" => start = Some(v.into()),
            "order" => perm = v == "perm",
            "eta" => eta = list(k, v)?,
            "shift" => shift = pu(v)? as u32,
            "hshift" => hshift = pu(v)? as u32,
            "mag" => mag = pu(v)? as i32,
            "bits" => bits = pu(v)? as u32,
            "norm" => {
                norm = if v == "core" {
                    Normalisation::Core
                } else {
                    Normalisation::Layer
                }
            }
            "cores" => cores = Some(list(k, v)?),
            "round" => {
                round = match v {
                    "sr" => "sr",
                    "near" => "near",
                    "floor" => "floor",
                    _ => return Err(format!("round `{v}`: sr, near or floor")),
                }
            }
            _ => return Err(format!("unknown key `{k}`")),
        }
    }
    let n = arch.len() - 1;
    let silent = silent.unwrap_or(gamma);
    let split = DatasetSpec::Digits.load().map_err(|e| e.to_string())?;
    let (train, test) = (&split.train, &split.test);

    let mut cfg = TrainConfig::bs4nn(arch.clone(), seed);
    cfg.threshold = per_layer("theta", &theta, n)?;
    cfg.init_low = per_layer("low", &low, n)?;
    cfg.init_high = per_layer("high", &high, n)?;
    cfg.lr = vec![f64::from(lr); n];
    cfg.lr_scale = vec![0.0; n];
    cfg.gamma = gamma;
    cfg.silent_label_shift = silent;
    let mut host_trainer = Trainer::new(cfg.clone()).map_err(|e| e.to_string())?;
    let enc = host_trainer.encoder();

    // The on-chip trainer's starting network: the host's initial latent weights and integer
    // thresholds.
    let mut net = host_start_network(&host_trainer, train.height, train.width);
    if signs {
        // Ablation: only the signs of the host's initial weights (latents ±mag).
        for layer in &mut net.layers {
            if let model::LayerKind::Dense(d) = &mut layer.kind {
                let n = (d.inputs * d.outputs) as usize;
                let neg: Vec<bool> = (0..n)
                    .map(|k| d.weights.real_at(k).unwrap_or(0.0) < 0.0)
                    .collect();
                d.weights = model::Weights::pack_signs(neg.into_iter());
            }
        }
    }
    if let Some(path) = &start {
        net.save(std::path::Path::new(path))
            .map_err(|e| e.to_string())?;
        println!("saved the starting network to {path}");
    }
    let mut rule = OnChipRule::s4nn(n);
    rule.gamma = ogamma.unwrap_or(gamma);
    rule.eta = per_layer("eta", &eta, n)?;
    rule.shift = shift;
    rule.hidden_shift = hshift;
    rule.init_magnitude = mag;
    rule.latent_bits = bits;
    rule.normalisation = norm;
    rule.seed = seed;
    rule.rounding = match round {
        "near" => Rounding::NearestAwayFromZero,
        "floor" => Rounding::Floor,
        _ => Rounding::Stochastic,
    };
    println!(
        "digits {arch:?} seed {seed} epochs {epochs}: host BS4NN θ {:?} (integer {:?}) init U[{low:?},{high:?}) lr {lr} γ {gamma} silent {silent}",
        cfg.threshold,
        (0..n)
            .map(|l| binary_threshold(cfg.threshold[l], cfg.scale_init[l]))
            .collect::<Vec<_>>()
    );
    println!("on-chip {rule:?} cores {cores:?}");
    let mut chip_trainer =
        OnChipTrainer::new(&net, rule, cores.as_deref()).map_err(|e| e.to_string())?;
    let test_in: Vec<_> = (0..test.len()).map(|k| enc.encode(test.image(k))).collect();
    let train_in: Vec<_> = (0..train.len())
        .map(|k| enc.encode(train.image(k)))
        .collect();
    let chip_eval = |t: &OnChipTrainer| -> Result<f64, String> {
        let mut c = 0usize;
        for (k, x) in test_in.iter().enumerate() {
            c += usize::from(t.classify(x).map_err(|e| e.to_string())? == test.label(k));
        }
        Ok(c as f64 / test.len().max(1) as f64)
    };
    // The host's sample order, replayed: its ChaCha8Rng drew the initial weights (one f32 per
    // weight, layer by layer), then draws N indices with replacement per epoch.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for l in 0..n {
        for _ in 0..arch[l] * arch[l + 1] {
            let _: f32 = rng.gen();
        }
    }
    let mut perm_rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9);
    let (mut host_secs, mut chip_secs) = (0f64, 0f64);
    let (mut host_last, mut chip_last) = (Vec::new(), Vec::new());
    for epoch in 1..=epochs {
        let mut line = format!("epoch {epoch:3}");
        if host {
            let s = Instant::now();
            let r = host_trainer
                .train_epoch(train, |_| {})
                .map_err(|e| e.to_string())?;
            host_secs += s.elapsed().as_secs_f64();
            line += &format!(" | host train {:.2} %", 100.0 * r.train_accuracy);
            if epoch % every == 0 || epoch == epochs || epoch + last > epochs {
                let a = host_trainer.evaluate(test).map_err(|e| e.to_string())?;
                line += &format!(" test {:.2} %", 100.0 * a);
                if epoch + last > epochs {
                    host_last.push(a);
                }
            }
        }
        if chip {
            let s = Instant::now();
            let (mut correct, mut silent_n, mut updates) = (0usize, 0usize, 0u64);
            let mut order: Vec<usize> = (0..train.len())
                .map(|_| rng.gen_range(0..train.len()))
                .collect();
            if perm {
                order = (0..train.len()).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, perm_rng.gen_range(0..=i));
                }
            }
            for k in order {
                let o = chip_trainer
                    .learn_sample(&train_in[k], train.label(k))
                    .map_err(|e| e.to_string())?;
                correct += usize::from(o.correct);
                silent_n += usize::from(o.output_delta.iter().all(|&d| d == 0));
                updates += o.updates;
            }
            chip_secs += s.elapsed().as_secs_f64();
            line += &format!(
                " | chip train {:.2} % (no update {silent_n}, {:.0} updates/sample)",
                100.0 * correct as f64 / train.len() as f64,
                updates as f64 / train.len() as f64
            );
            if epoch % every == 0 || epoch == epochs || epoch + last > epochs {
                let a = chip_eval(&chip_trainer)?;
                line += &format!(" test {:.2} %", 100.0 * a);
                if epoch + last > epochs {
                    chip_last.push(a);
                }
            }
        }
        println!("{line}");
    }
    if chip {
        for l in 0..n {
            let w = chip_trainer.latent(l).unwrap_or(&[]);
            let sat = w
                .iter()
                .filter(|&&x| x.unsigned_abs() >= (1u32 << (bits - 1)) - 1)
                .count();
            let neg = w.iter().filter(|&&x| x < 0).count();
            println!(
                "chip layer {l}: latent min {} max {} saturated {sat}/{} negative {neg}",
                w.iter().min().unwrap_or(&0),
                w.iter().max().unwrap_or(&0),
                w.len()
            );
        }
    }
    if host {
        for l in 0..n {
            let w = host_trainer.real_weights(l);
            let neg = w.iter().filter(|&&x| x < 0.0).count();
            println!(
                "host layer {l}: weight min {:.3} max {:.3} negative {neg}/{}",
                w.iter().cloned().fold(f64::INFINITY, f64::min),
                w.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                w.len()
            );
        }
    }
    if last > 0 {
        let mean = |v: &[f64]| 100.0 * v.iter().sum::<f64>() / v.len().max(1) as f64;
        println!(
            "mean test accuracy over the last {last} epochs: host {:.2} % chip {:.2} %",
            mean(&host_last),
            mean(&chip_last)
        );
    }
    println!("seconds: host {host_secs:.1} chip {chip_secs:.1}");
    Ok(())
}
