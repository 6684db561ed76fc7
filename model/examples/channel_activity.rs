//! Probe: how often each output channel of every weighted hidden layer fires, measured with the
//! golden forward pass of a saved network over test images. Tells silent conv channels (a shared
//! kernel gone negative, zero spikes at every position) from silent positions (image borders).
//! Used for the dead-channel findings in `docs/TRAINING.md` (stop 14).
//!
//! `cargo run --release -p spikemesh-model --example channel_activity -- MODEL DATASET [N]`
//! (`DATASET`: `digits`, `mnist:DIR` or `fashion:DIR`; `N` test images, default 2000)

use model::data::DatasetSpec;
use model::encode::{EncodingRule, LatencyEncoder};
use model::network::{LayerKind, Network};
use model::GoldenNetwork;
use std::path::Path;

fn main() -> Result<(), String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(data)) = (a.first(), a.get(1)) else {
        return Err("usage: channel_activity MODEL DATASET [N]".into());
    };
    let n: usize = a
        .get(2)
        .map_or(Ok(2000), |s| s.parse())
        .map_err(|e| format!("N: {e}"))?;
    let net = Network::load(Path::new(path)).map_err(|e| e.to_string())?;
    let golden = GoldenNetwork::new(&net).map_err(|e| e.to_string())?;
    let spec: DatasetSpec = data.parse().map_err(|e| format!("{e}"))?;
    let test = spec.load().map_err(|e| e.to_string())?.test;
    let enc = LatencyEncoder {
        rule: net.encoding.unwrap_or(EncodingRule::S4nn),
        t_max: net.t_max,
    };
    let n = n.min(test.len());
    // Spikes per neuron of every layer, summed over the images.
    let mut fires: Vec<Vec<u32>> = Vec::new();
    for k in 0..n {
        let trace = golden
            .forward(&enc.encode(test.image(k)))
            .map_err(|e| e.to_string())?;
        fires.resize_with(trace.layer_times.len(), Vec::new);
        for (f, times) in fires.iter_mut().zip(&trace.layer_times) {
            f.resize(times.len(), 0);
            for (c, t) in f.iter_mut().zip(times) {
                *c += u32::from(t.0 < net.t_max);
            }
        }
    }
    println!("{path}: {n} test images of {data}");
    let hidden = net.layers.len().saturating_sub(1);
    for (l, layer) in net.layers[..hidden].iter().enumerate() {
        let channels = match &layer.kind {
            LayerKind::Conv2d(c) => c.out_channels as usize,
            LayerKind::Dense(d) => d.outputs as usize,
            _ => continue,
        };
        let f = &fires[l];
        let plane = f.len() / channels.max(1);
        let silent_neurons = f.iter().filter(|&&c| c == 0).count();
        println!(
            "layer {l} ({}): {channels} channels × {plane} positions, {silent_neurons} neurons ({:.1} %) never fired",
            if layer.name.is_empty() { "unnamed" } else { &layer.name },
            100.0 * silent_neurons as f64 / f.len().max(1) as f64
        );
        let mut per_channel: Vec<(usize, f64, usize)> = f
            .chunks(plane.max(1))
            .enumerate()
            .map(|(c, ch)| {
                let spikes: u64 = ch.iter().map(|&x| u64::from(x)).sum();
                let silent = ch.iter().filter(|&&x| x == 0).count();
                (c, spikes as f64 / n.max(1) as f64, silent)
            })
            .collect();
        per_channel.sort_by(|x, y| x.1.total_cmp(&y.1));
        println!("  channel: spikes per image (silent positions), quietest first");
        for row in per_channel.chunks(6) {
            let cells: Vec<String> = row
                .iter()
                .map(|(c, s, z)| format!("{c:4}: {s:7.1} ({z:3})"))
                .collect();
            println!("  {}", cells.join("  "));
        }
    }
    Ok(())
}
