//! Probe: would another tie rule at the output lift the strict (one-class) accuracy of a TTFS
//! model towards the reference's tie-inclusive score? For every test sample whose earliest
//! output spikes tie, it decodes the tie three ways — the chip's lowest index, the largest
//! output potential at the common crossing step, and the earliest crossing within that step
//! by linear interpolation, `(θ − V(c−1)) / (V(c) − V(c−1))` — and prints each accuracy next to
//! the strict and the reference (ties as correct) score. Dense output layer with one threshold.
//!
//! `cargo run --release -p spikemesh-model --example tie_probe -- MODEL MNIST_DIR`

#[path = "probe_common/mod.rs"]
mod probe_common;

use probe_common::Probe;

fn main() -> Result<(), String> {
    let probe = Probe::from_args("tie_probe")?;
    let Probe {
        net,
        split,
        golden,
        enc,
        rest,
    } = &probe;
    if !rest.is_empty() {
        return Err(format!(
            "tie_probe takes MODEL MNIST_DIR only, not {rest:?}"
        ));
    }
    let (out_layer, theta) = probe.output_layer()?;
    let (n_in, n_out) = (out_layer.inputs as usize, out_layer.outputs as usize);
    let delay = u16::from(out_layer.neuron.delay);
    let w = |j: usize, i: usize| f64::from(out_layer.weights.real_at(j * n_in + i).unwrap_or(0.0));
    // correct: strict, reference, by potential, by interpolated crossing
    let mut correct = [0usize; 4];
    let mut tied = 0;
    let test = &split.test;
    for k in 0..test.len() {
        let trace = golden
            .forward(&enc.encode(test.image(k)))
            .map_err(|e| e.to_string())?;
        let label = test.label(k);
        let out = &trace.layer_times[trace.layer_times.len() - 1];
        let hidden = &trace.layer_times[trace.layer_times.len() - 2];
        let min = out.iter().map(|t| t.0).min().unwrap_or(net.t_max);
        let strict = trace.prediction == label;
        let winners: Vec<usize> = (0..n_out).filter(|&j| out[j].0 == min).collect();
        let reference = if min < net.t_max {
            winners.contains(&label)
        } else {
            strict
        };
        let (mut by_v, mut by_x) = (strict, strict);
        if min < net.t_max && winners.len() > 1 {
            tied += 1;
            let c = i32::from(min - delay);
            let v_at = |j: usize, t: i32| -> f64 {
                (0..n_in)
                    .filter(|&i| i32::from(hidden[i].0) <= t)
                    .map(|i| w(j, i))
                    .sum()
            };
            let best = |score: &dyn Fn(usize) -> f64| {
                winners[1..].iter().fold(
                    winners[0],
                    |b, &j| {
                        if score(j) > score(b) {
                            j
                        } else {
                            b
                        }
                    },
                )
            };
            by_v = best(&|j| v_at(j, c)) == label;
            by_x = best(&|j| {
                let (now, before) = (v_at(j, c), v_at(j, c - 1));
                -(f64::from(theta) - before) / (now - before)
            }) == label;
        }
        for (n, hit) in correct.iter_mut().zip([strict, reference, by_v, by_x]) {
            *n += usize::from(hit);
        }
    }
    let pct = |c: usize| 100.0 * c as f64 / test.len() as f64;
    println!(
        "strict {:.2} % | ties as correct {:.2} % | ties by potential {:.2} % | ties by interpolated crossing {:.2} % | {tied} tied samples",
        pct(correct[0]),
        pct(correct[1]),
        pct(correct[2]),
        pct(correct[3])
    );
    Ok(())
}
