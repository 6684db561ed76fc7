//! Probe: how much of a TTFS model's tie loss does a class order recover, and would a finer
//! rule do better? Learns the best tie order on the training images ([`TieOrder::learn`]) and,
//! as the finer alternative, a table naming one class per tied set (the set's most frequent
//! label on the training images; sets never seen there fall back to the order), and scores
//! both on the training and test images beside the lowest index and the reference's
//! ties-as-correct score.
//!
//! `cargo run --release -p spikemesh-model --example tie_order_probe -- MODEL MNIST_DIR`

#[path = "probe_common/mod.rs"]
mod probe_common;

use model::data::Dataset;
use model::tie_order::{Tie, TieOrder};
use probe_common::Probe;
use std::collections::HashMap;

/// Per image: its tie (if its earliest outputs tie) and whether the model's decoding is right.
fn outcomes(probe: &Probe, set: &Dataset) -> Result<Vec<(Option<Tie>, bool)>, String> {
    (0..set.len())
        .map(|k| {
            let trace = probe
                .golden
                .forward(&probe.enc.encode(set.image(k)))
                .map_err(|e| e.to_string())?;
            let out = trace.layer_times.last().map_or(&[][..], Vec::as_slice);
            let tie = Tie::of(out.iter().map(|t| t.0), probe.net.t_max, set.label(k));
            Ok((tie, trace.prediction == set.label(k)))
        })
        .collect()
}

fn main() -> Result<(), String> {
    let probe = Probe::from_args("tie_order_probe")?;
    if !probe.rest.is_empty() {
        return Err(format!(
            "tie_order_probe takes MODEL MNIST_DIR only, not {:?}",
            probe.rest
        ));
    }
    if probe.net.tie_order.is_some() {
        return Err(
            "the model already has a tie order: give one decoded by the lowest index".into(),
        );
    }
    let n = probe.output_layer()?.0.outputs as usize;
    let train = outcomes(&probe, &probe.split.train)?;
    let test = outcomes(&probe, &probe.split.test)?;
    let ties: Vec<Tie> = train.iter().filter_map(|o| o.0).collect();
    let order = TieOrder::learn(&ties, n).map_err(|e| e.to_string())?;
    let mut counts = HashMap::<u32, Vec<usize>>::new();
    for t in &ties {
        counts.entry(t.tied).or_insert_with(|| vec![0; n])[t.label] += 1;
    }
    let by_table = |t: &Tie| {
        counts
            .get(&t.tied)
            .and_then(|c| {
                (0..n)
                    .filter(|&j| t.tied >> j & 1 == 1)
                    .max_by_key(|&j| (c[j], std::cmp::Reverse(j)))
            })
            .or_else(|| order.winner(|j| t.tied >> j & 1 == 1))
    };
    let lowest = TieOrder::lowest_index(n);
    for (name, set) in [("train", &train), ("test", &test)] {
        let score = |decide: &dyn Fn(&Tie) -> bool| {
            let hits = set
                .iter()
                .filter(|(tie, strict)| tie.as_ref().map_or(*strict, decide))
                .count();
            100.0 * hits as f64 / set.len() as f64
        };
        let is = |d: Option<usize>, t: &Tie| d == Some(t.label);
        println!(
            "{name}: lowest index {:.2} % | order {:?} {:.2} % | table {:.2} % | ties as correct {:.2} % | {} tied",
            score(&|t| is(lowest.winner(|j| t.tied >> j & 1 == 1), t)),
            order.as_slice(),
            score(&|t| is(order.winner(|j| t.tied >> j & 1 == 1), t)),
            score(&|t| is(by_table(t), t)),
            score(&|t| t.tied >> t.label & 1 == 1),
            set.iter().filter(|o| o.0.is_some()).count(),
        );
    }
    Ok(())
}
