//! `spikemesh eval`: accuracy of a model file under the golden forward pass on a data set.

use super::run::progress_bar;
use anyhow::Context;
use model::{DatasetSpec, EncodingRule, GoldenNetwork, LatencyEncoder, Network};
use rayon::prelude::*;
use std::path::PathBuf;

/// Which split to evaluate.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SplitArg {
    /// The test set.
    Test,
    /// The training set.
    Train,
}

/// Evaluate a model (JSON or bincode) with the golden forward pass (integer for chip-form
/// models): accuracy, and how many samples needed the no-spike fallback.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model file.
    model: PathBuf,
    /// Data set: `digits`, `mnist:DIR` or `fashion:DIR`.
    #[arg(long, default_value = "digits")]
    dataset: String,
    /// Split to evaluate.
    #[arg(long, value_enum, default_value = "test")]
    split: SplitArg,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let net = Network::load(&args.model)?;
    let spec: DatasetSpec = args.dataset.parse()?;
    let data = spec.load()?;
    let set = match args.split {
        SplitArg::Test => &data.test,
        SplitArg::Train => &data.train,
    };
    let golden = GoldenNetwork::new(&net)
        .with_context(|| format!("{}: cannot compile", args.model.display()))?;
    let enc = LatencyEncoder {
        rule: net.encoding.unwrap_or(EncodingRule::S4nn),
        t_max: net.t_max,
    };
    // Samples run in parallel; the tallies are sums, so the figures do not depend on the
    // number of threads.
    let pb = progress_bar(set.len(), "eval");
    let tally = (0..set.len())
        .into_par_iter()
        .map(|k| -> anyhow::Result<Tally> {
            let trace = golden
                .forward(&enc.encode(set.image(k)))
                .with_context(|| format!("{} sample {k}", set.name))?;
            pb.inc(1);
            Ok(Tally::of(&trace, set.label(k)))
        })
        .try_reduce(Tally::default, |a, b| Ok(a.add(b)))?;
    pb.finish_and_clear();
    let Tally {
        correct,
        fallback,
        fallback_correct,
        tied,
        tied_with_label,
    } = tally;
    println!(
        "{}: {} on {}: accuracy {:.2} % ({correct}/{}), no-spike fallback used {fallback} times \
         ({fallback_correct} of them correct), {} arithmetic",
        args.model.display(),
        set.name,
        args.dataset,
        100.0 * correct as f64 / set.len().max(1) as f64,
        set.len(),
        if net.is_integer() { "integer" } else { "real" }
    );
    println!(
        "earliest output spike shared by several neurons in {tied} samples; {tied_with_label} of them \
         lost a tie the label was part of (the reference code's tie-as-correct rule would score \
         {:.2} %)",
        100.0 * (correct + tied_with_label) as f64 / set.len().max(1) as f64
    );
    Ok(())
}

/// Per-sample outcomes summed over a data set.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    correct: usize,
    /// Samples decided by the no-spike fallback (no output neuron fired).
    fallback: usize,
    /// Of those, decided correctly.
    fallback_correct: usize,
    /// Samples whose earliest output spike is shared by several neurons. The S4NN/BS4NN
    /// reference code scores a tie as correct, the chip's decoder cannot (lowest index wins),
    /// so both figures are reported.
    tied: usize,
    /// Of those, the ones that lost a tie the label was part of.
    tied_with_label: usize,
}

impl Tally {
    /// The outcome of one sample.
    fn of(trace: &model::ForwardTrace, label: usize) -> Tally {
        let hit = trace.prediction == label;
        let mut tally = Tally {
            correct: usize::from(hit),
            ..Tally::default()
        };
        if trace.fallback.is_some() {
            tally.fallback = 1;
            tally.fallback_correct = usize::from(hit);
        } else {
            let out = trace.layer_times.last().map(Vec::as_slice).unwrap_or(&[]);
            if let Some(&first) = out.iter().min() {
                if out.iter().filter(|&&time| time == first).count() > 1 {
                    tally.tied = 1;
                    let label_first = out.get(label) == Some(&first);
                    tally.tied_with_label = usize::from(label_first && !hit);
                }
            }
        }
        tally
    }

    /// Both tallies summed.
    fn add(self, o: Tally) -> Tally {
        Tally {
            correct: self.correct + o.correct,
            fallback: self.fallback + o.fallback,
            fallback_correct: self.fallback_correct + o.fallback_correct,
            tied: self.tied + o.tied,
            tied_with_label: self.tied_with_label + o.tied_with_label,
        }
    }
}
