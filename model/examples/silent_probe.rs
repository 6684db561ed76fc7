//! Probe: why do some test images leave every output silent? For a dense TTFS model it splits
//! the test set into silent (no output spike, decided by the fallback) and spiking images and
//! prints, for each group, the hidden layer's spike count and median spike time, the largest
//! output potential at the fallback snapshot relative to the output threshold, and on how many
//! silent images the label holds that largest potential. With further arguments it re-evaluates
//! the model with each given output threshold (in the stored integer units, `⌊θ/α⌋` for a binary
//! layer) on the training and the test set: does a lower deployed threshold turn the near misses
//! into right answers?
//!
//! `cargo run --release -p spikemesh-model --example silent_probe -- MODEL MNIST_DIR [THETA…]`

#[path = "probe_common/mod.rs"]
mod probe_common;

use model::golden::Potentials;
use model::network::{LayerKind, Threshold};
use model::GoldenNetwork;
use probe_common::Probe;

#[derive(Default)]
struct Group {
    n: usize,
    right: usize,
    hidden_spikes: Vec<usize>,
    hidden_median_t: Vec<u16>,
    input_spikes: Vec<usize>,
    max_over_theta: Vec<f64>,
    label_is_max: usize,
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v.get(((v.len() as f64 - 1.0) * q) as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

fn main() -> Result<(), String> {
    let p = Probe::from_args("silent_probe")?;
    let (_, theta) = p.output_layer()?;
    let (mut silent, mut spiking) = (Group::default(), Group::default());
    let test = &p.split.test;
    for k in 0..test.len() {
        let input = p.enc.encode(test.image(k));
        let trace = p.golden.forward(&input).map_err(|e| e.to_string())?;
        let label = test.label(k);
        let hidden = &trace.layer_times[trace.layer_times.len() - 2];
        let mut fired: Vec<u16> = hidden
            .iter()
            .map(|t| t.0)
            .filter(|&t| t < p.net.t_max)
            .collect();
        fired.sort_unstable();
        let g = if trace.fallback.is_some() {
            &mut silent
        } else {
            &mut spiking
        };
        g.n += 1;
        g.right += usize::from(trace.prediction == label);
        g.hidden_spikes.push(fired.len());
        g.hidden_median_t
            .push(fired.get(fired.len() / 2).copied().unwrap_or(p.net.t_max));
        g.input_spikes
            .push(input.iter().filter(|t| t.0 < p.net.t_max).count());
        if let Some(Potentials::Int(v)) = &trace.fallback {
            let max = *v.iter().max().unwrap_or(&0);
            g.max_over_theta.push(max as f64 / f64::from(theta));
            g.label_is_max += usize::from(v[label] == max);
        }
    }
    for (name, g) in [("silent", &mut silent), ("spiking", &mut spiking)] {
        let mut hs: Vec<f64> = g.hidden_spikes.iter().map(|&x| x as f64).collect();
        let mut ht: Vec<f64> = g.hidden_median_t.iter().map(|&x| f64::from(x)).collect();
        let mut is: Vec<f64> = g.input_spikes.iter().map(|&x| x as f64).collect();
        println!(
            "{name}: {} images, {} right | hidden spikes p10/p50/p90 {:.0}/{:.0}/{:.0} | hidden median t p50 {:.0} | input spikes p50 {:.0}",
            g.n,
            g.right,
            pct(&mut hs, 0.1),
            pct(&mut hs, 0.5),
            pct(&mut hs, 0.9),
            pct(&mut ht, 0.5),
            pct(&mut is, 0.5),
        );
        if !g.max_over_theta.is_empty() {
            let m = &mut g.max_over_theta;
            println!(
                "  max output potential / θ at the snapshot p10/p50/p90 {:.2}/{:.2}/{:.2}; label holds the max on {}",
                pct(m, 0.1),
                pct(m, 0.5),
                pct(m, 0.9),
                g.label_is_max
            );
        }
    }
    for arg in &p.rest {
        let theta: i32 = arg.parse().map_err(|_| format!("bad threshold {arg}"))?;
        let mut lowered = p.net.clone();
        if let Some(LayerKind::Dense(d)) = lowered.layers.last_mut().map(|l| &mut l.kind) {
            d.threshold = Threshold::Layer(theta);
        }
        let golden = GoldenNetwork::new(&lowered).map_err(|e| e.to_string())?;
        let mut line = format!("output threshold {theta}:");
        for (name, set) in [("train", &p.split.train), ("test", &p.split.test)] {
            let (mut right, mut silent) = (0, 0);
            for k in 0..set.len() {
                let trace = golden
                    .forward(&p.enc.encode(set.image(k)))
                    .map_err(|e| e.to_string())?;
                right += usize::from(trace.prediction == set.label(k));
                silent += usize::from(trace.fallback.is_some());
            }
            let acc = 100.0 * right as f64 / set.len().max(1) as f64;
            line += &format!(" {name} {acc:.2} % ({silent} silent)");
        }
        println!("{line}");
    }
    Ok(())
}
