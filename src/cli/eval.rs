//! `spikemesh eval`: accuracy of a model file under the golden forward pass on a data set.

use anyhow::Context;
use model::{DatasetSpec, EncodingRule, GoldenNetwork, LatencyEncoder, Network};
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
    let mut correct = 0usize;
    let mut fallback = 0usize;
    // Samples whose earliest output spike is shared by several neurons, and how many of those
    // include the label: the S4NN/BS4NN reference code scores a tie as correct, the chip's
    // decoder cannot (lowest index wins), so both figures are reported.
    let mut tied = 0usize;
    let mut tied_with_label = 0usize;
    for k in 0..set.len() {
        let trace = golden
            .forward(&enc.encode(set.image(k)))
            .with_context(|| format!("{} sample {k}", set.name))?;
        correct += usize::from(trace.prediction == set.label(k));
        fallback += usize::from(trace.fallback.is_some());
        if trace.fallback.is_none() {
            let out = trace.layer_times.last().map(Vec::as_slice).unwrap_or(&[]);
            if let Some(&first) = out.iter().min() {
                let at_first = out.iter().filter(|&&t| t == first).count();
                if at_first > 1 {
                    tied += 1;
                    let label_first = out.get(set.label(k)) == Some(&first);
                    if label_first && trace.prediction != set.label(k) {
                        tied_with_label += 1;
                    }
                }
            }
        }
    }
    println!(
        "{}: {} on {}: accuracy {:.2} % ({correct}/{}), no-spike fallback used {fallback} times, {} arithmetic",
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
