//! Trains a STiDi-BP network from code and prints one line per epoch (measurement driver for
//! `docs/TRAINING.md`; the CLI's `spikemesh train --rule stidi` is the user-facing command).
//!
//! `cargo run --release -p spikemesh-model --example stidi_train -- key=value ...`
//! keys: data=digits|mnist:DIR|fashion:DIR arch=STR epochs=N seed=N train=N(limit) test=N
//! kernel=step|ramp|sat:TAU deriv=chord|slope|const norm=l2|none back=latent|forward
//! prec=bin|intB lr=A[,B..] decay=F init=LO:HI clip=F|none theta=A[,B..] thpf=F
//! gran=layer|channel|neuron learn=0|1 thlr=F homeo=off|STEP[:WINDOW] gamma=N shift=N
//! fire=gt|ge delay=0|1 scale=off|INIT:LR target=ACC (report the first epoch reaching it)
//! augment=N (each epoch, translate every training image by its own offset in ±N pixels)
//! mirror=1 (each epoch, mirror a seeded half of the training images left-right)
//! enc=intensity|onoff (input: intensity, or the on- and off-centre contrast maps,
//! `EncodingRule::OnOffCentre`)
//! knee=K (scale each sample's update by min(1, ‖output error‖/K steps))
//! redraw=RATE (after each epoch re-draw every hidden channel firing on fewer than RATE of samples)
//! rate=R (hidden firing-rate ceiling: every homeostasis window, raise busier thresholds)
//! hyst=H (binary sign hysteresis: a forward sign turns only once its latent is past ±H)
//! from=PATH:N[:MAG] (start the first N weighted layers from the saved network PATH: latent =
//! MAG·weight, MAG 0.5 by default; layer-wise training, with lr=0 to freeze them)
//! out=PATH (save the exported chip network after every epoch; the best test epoch's model also
//! goes to PATH with `.best` before the extension)

use model::stidi::*;
use model::{DatasetSpec, FireRule, GoldenNetwork};
use std::time::Instant;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn floats(v: &str) -> Result<Vec<f32>, String> {
    v.split(',')
        .map(|x| x.parse::<f32>().map_err(|e| format!("`{x}`: {e}")))
        .collect()
}

fn run() -> Result<(), String> {
    let mut cfg = StidiConfig::binary();
    let (mut data, mut arch, mut epochs, mut seed) = (
        "digits".to_string(),
        "c8k3-p2-fc10".to_string(),
        10usize,
        1u64,
    );
    let (mut limit, mut tlimit, mut target, mut out) =
        (usize::MAX, usize::MAX, None::<f64>, None::<String>);
    let mut augment = model::Augmentation::default();
    let mut onoff = false;
    let mut from: Option<(String, usize, f32)> = None;
    for a in std::env::args().skip(1) {
        let (k, v) = a.split_once('=').ok_or(format!("`{a}` is not key=value"))?;
        let pf = |v: &str| v.parse::<f64>().map_err(|e| format!("{k}: {e}"));
        let pu = |v: &str| v.parse::<usize>().map_err(|e| format!("{k}: {e}"));
        match k {
            "data" => data = v.into(),
            "arch" => arch = v.into(),
            "epochs" => epochs = pu(v)?,
            "seed" => seed = pu(v)? as u64,
            "train" => limit = pu(v)?,
            "test" => tlimit = pu(v)?,
            "target" => target = Some(pf(v)?),
            "out" => out = Some(v.into()),
            "augment" => augment.max_shift = pu(v)?,
            "mirror" => augment.mirror = v == "1",
            "from" => {
                let mut it = v.split(':');
                let path = it.next().unwrap_or_default().to_string();
                let n = pu(it.next().ok_or("from=PATH:N[:MAG]")?)?;
                let mag = it.next().map_or(Ok(0.5), pf)? as f32;
                from = Some((path, n, mag));
            }
            "knee" => cfg.error_knee = Some(pf(v)? as f32),
            "enc" => {
                onoff = match v {
                    "onoff" => true,
                    "intensity" => false,
                    _ => return Err(format!("enc: `{v}` is not intensity|onoff")),
                }
            }
            "kernel" => cfg.neuron.kernel = v.parse().map_err(|e| format!("{e}"))?,
            "fire" => {
                cfg.neuron.fire = if v == "gt" {
                    FireRule::Greater
                } else {
                    FireRule::GreaterEqual
                }
            }
            "delay" => cfg.neuron.delay = pu(v)? as u8,
            "deriv" => cfg.derivative = v.parse().map_err(|e| format!("{e}"))?,
            "norm" => cfg.normalisation = v.parse().map_err(|e| format!("{e}"))?,
            "back" => {
                cfg.back_weights = if v == "latent" {
                    BackWeights::Latent
                } else {
                    BackWeights::Forward
                }
            }
            "prec" => {
                cfg.precision = if v == "bin" {
                    Precision::Binary
                } else {
                    Precision::Integer {
                        bits: v
                            .trim_start_matches("int")
                            .parse()
                            .map_err(|_| format!("prec `{v}`"))?,
                    }
                }
            }
            "lr" => {
                cfg.lr = floats(v)?;
                cfg.lr_output = None;
            }
            "decay" => cfg.lr_decay = pf(v)?,
            "init" => {
                let (lo, hi) = v.split_once(':').ok_or("init=LO:HI")?;
                cfg.init_low = floats(lo)?;
                cfg.init_high = floats(hi)?;
            }
            "clip" => {
                cfg.latent_clip = if v == "none" {
                    None
                } else {
                    Some(pf(v)? as f32)
                }
            }
            "theta" => cfg.theta_init = floats(v)?.iter().map(|&x| x as i32).collect(),
            "thpf" => cfg.theta_per_fan_in = pf(v)?,
            "gran" => {
                cfg.thresholds.granularity = match v {
                    "layer" => Granularity::Layer,
                    "channel" => Granularity::Channel,
                    _ => Granularity::Neuron,
                }
            }
            "learn" => cfg.thresholds.learn = v == "1",
            "redraw" => cfg.redraw_rate = Some(pf(v)?),
            "rate" => cfg.rate_ceiling = Some(pf(v)?),
            "hyst" => cfg.sign_hysteresis = pf(v)? as f32,
            "thlr" => cfg.thresholds.lr = pf(v)?,
            "homeo" => {
                cfg.thresholds.homeostasis = if v == "off" {
                    None
                } else {
                    let (s, w) = v.split_once(':').unwrap_or((v, "0"));
                    Some(Homeostasis {
                        step: pf(s)?,
                        window: pu(w)?,
                    })
                }
            }
            "gamma" => cfg.gamma = pu(v)? as u16,
            "shift" => cfg.silent_label_shift = pu(v)? as u16,
            "scale" => {
                cfg.scale = if v == "off" {
                    None
                } else {
                    let (i, l) = v.split_once(':').ok_or("scale=INIT:LR")?;
                    Some(ScaleConfig {
                        init: pf(i)?,
                        lr: pf(l)?,
                    })
                }
            }
            _ => return Err(format!("unknown key `{k}`")),
        }
    }
    let spec: DatasetSpec = data.parse().map_err(|e| format!("{e}"))?;
    let mut split = spec.load().map_err(|e| format!("{e}"))?;
    for (set, lim) in [(&mut split.train, limit), (&mut split.test, tlimit)] {
        if lim < set.len() {
            let n = set.image_len();
            set.labels.truncate(lim);
            set.pixels.truncate(lim * n);
        }
    }
    if onoff {
        cfg.encoding = model::EncodingRule::OnOffCentre {
            width: split.train.width as u16,
        };
    }
    let arch: Arch = arch.parse().map_err(|e| format!("{e}"))?;
    let mut t = StidiTrainer::for_dataset(&arch, &split.train, cfg.clone(), seed)
        .map_err(|e| format!("{e}"))?;
    if let Some((path, n, mag)) = &from {
        let net = model::Network::load(std::path::Path::new(path)).map_err(|e| format!("{e}"))?;
        let weighted: Vec<_> = net
            .layers
            .iter()
            .filter_map(model::Layer::weights)
            .collect();
        if *n > weighted.len().min(t.weighted_layers()) {
            return Err(format!(
                "from={path}:{n}: it has {} weighted layers, arch {} has {}",
                weighted.len(),
                arch,
                t.weighted_layers()
            ));
        }
        for (l, &(w, count)) in weighted.iter().take(*n).enumerate() {
            let len = t.latent_weights(l).len();
            if count != len {
                return Err(format!(
                    "{path}: weighted layer {l} has {count} weights, arch {arch} needs {len}"
                ));
            }
            let lat = (0..len)
                .map(|k| w.real_at(k).map(|x| x * mag))
                .collect::<Option<Vec<f32>>>()
                .ok_or(format!(
                    "{path}: weighted layer {l} stores fewer than {len} weights"
                ))?;
            t.set_latent_weights(l, &lat)
                .map_err(|e| format!("{path}: {e}"))?;
        }
    }
    println!(
        "# {} arch={} train={} test={} augment={} mirror={} threads={} cfg={}",
        data,
        arch,
        split.train.len(),
        split.test.len(),
        augment.max_shift,
        u8::from(augment.mirror),
        rayon::current_num_threads(),
        serde_json::to_string(&cfg).unwrap_or_default()
    );
    let mut reached = None;
    let mut best = 0.0f64;
    for _ in 0..epochs {
        let s = t
            .train_epoch(&split.train.for_epoch(augment, seed, t.epochs_done()))
            .map_err(|e| format!("{e}"))?;
        let t0 = Instant::now();
        let acc = t.evaluate(&split.test).map_err(|e| format!("{e}"))?;
        let improved = acc > best;
        best = best.max(acc);
        if let (Some(p), Ok(net)) = (&out, t.export()) {
            // The latest epoch's model (a run stopped early still leaves one), and a copy of
            // the model of the best test epoch in `PATH.best.EXT`.
            let path = std::path::Path::new(p);
            net.save(path).map_err(|e| format!("{e}"))?;
            if improved {
                net.save(&best_path(path)).map_err(|e| format!("{e}"))?;
            }
        }
        if reached.is_none() && target.is_some_and(|x| acc >= x) {
            reached = Some(s.epoch);
        }
        println!(
            "epoch {:3} train {:.4} test {:.4} loss {:.5} dead {:.4} dead/layer {:?} theta {:?} lowered {} redrawn {} turns {:?} s/epoch {:.1} eval_s {:.1}",
            s.epoch, s.train_accuracy, acc, s.mean_loss, s.dead_fraction,
            s.dead_per_layer.iter().map(|x| (x * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
            s.mean_threshold.iter().map(|x| x.round()).collect::<Vec<_>>(), s.lowered, s.redrawn, s.weight_turns, s.seconds, t0.elapsed().as_secs_f64()
        );
    }
    println!("best_test {best:.4} epochs_to_target {reached:?}");
    if let Ok(net) = t.export() {
        let g = GoldenNetwork::new(&net).map_err(|e| format!("{e}"))?;
        let enc = t.encoder();
        let preds = t.predictions(&split.test).map_err(|e| format!("{e}"))?;
        let same = (0..split.test.len())
            .filter(|&k| g.classify(&enc.encode(split.test.image(k))).ok() == Some(preds[k]))
            .count();
        println!("golden agreement {same}/{}", split.test.len());
        // Confusion matrix of the test set: rows are labels, columns predictions.
        let c = split.test.classes;
        let mut m = vec![0usize; c * c];
        for (k, &p) in preds.iter().enumerate() {
            m[split.test.label(k) * c + p.min(c - 1)] += 1;
        }
        println!("confusion (rows: label, columns: predicted)");
        for (r, row) in m.chunks(c).enumerate() {
            let cells: Vec<String> = row.iter().map(|n| format!("{n:5}")).collect();
            let total = row.iter().sum::<usize>().max(1);
            let recall = 100.0 * row[r] as f64 / total as f64;
            println!("{r:2} |{} | {recall:5.1} %", cells.join(""));
        }
        if let Some(p) = out {
            net.save(std::path::Path::new(&p))
                .map_err(|e| format!("{e}"))?;
            println!("saved {p}");
        }
    }
    Ok(())
}

/// `dir/name.best.ext` for `dir/name.ext`.
fn best_path(p: &std::path::Path) -> std::path::PathBuf {
    let stem = p
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    match p.extension() {
        Some(e) => p.with_file_name(format!("{stem}.best.{}", e.to_string_lossy())),
        None => p.with_file_name(format!("{stem}.best")),
    }
}
