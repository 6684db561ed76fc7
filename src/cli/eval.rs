//! `spikemesh eval`: accuracy of a model file under the golden forward pass on a data set.

use super::run::{progress_bar, ModelFile};
use anyhow::{bail, Context};
use model::lif::LifNetwork;
use model::tie_order::{Tie, TieOrder};
use model::{Dataset, DatasetSpec, EncodingRule, GoldenNetwork, LatencyEncoder};
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
    /// Also write the confusion matrix as CSV (one row per label, one column per predicted
    /// class).
    #[arg(long, value_name = "FILE")]
    confusion: Option<PathBuf>,
    /// Learn the decoder's tie priority from the data set's training images (the order of
    /// classes that decides the most tied images right, exactly), write the model with it to
    /// FILE, and evaluate that model: the chip then decodes ties by it (`spikemesh map` carries
    /// it into the image). TTFS models with at most 16 outputs.
    #[arg(long, value_name = "FILE")]
    learn_tie_order: Option<PathBuf>,
    /// Decode ties at the earliest spike by the tied outputs' potentials at the crossing step
    /// first (the largest wins; the tie order or the lowest index decides between equal ones).
    /// With `--learn-tie-order` the order is learned under this rule and the written model
    /// keeps it. TTFS models.
    #[arg(long)]
    ties_by_potential: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let model = ModelFile::load(&args.model)?;
    let spec: DatasetSpec = args.dataset.parse()?;
    let data = spec.load()?;
    let set = match args.split {
        SplitArg::Test => &data.test,
        SplitArg::Train => &data.train,
    };
    let mut net = match model {
        ModelFile::Ttfs(net) => net,
        ModelFile::Lif(net) if args.learn_tie_order.is_none() && !args.ties_by_potential => {
            return run_lif(&args, &net, set)
        }
        ModelFile::Lif(_) => bail!(
            "{}: --learn-tie-order and --ties-by-potential need a TTFS model (a multi-spike LIF network decodes spike counts)",
            args.model.display()
        ),
    };
    net.ties_by_potential |= args.ties_by_potential;
    let compile = |net: &model::Network| {
        GoldenNetwork::new(net).with_context(|| format!("{}: cannot compile", args.model.display()))
    };
    let mut golden = compile(&net)?;
    let enc = LatencyEncoder {
        rule: net.encoding.unwrap_or(EncodingRule::S4nn),
        t_max: net.t_max,
    };
    if let Some(out) = &args.learn_tie_order {
        let order = learn_tie_order(&golden, &enc, &data.train, &net)
            .with_context(|| format!("{}: cannot learn a tie order", args.model.display()))?;
        net.tie_order = Some(order);
        net.save(out).with_context(|| {
            format!(
                "--learn-tie-order {}: cannot write the model",
                out.display()
            )
        })?;
        println!("wrote {} (the model with this tie order)", out.display());
        golden = compile(&net)?;
    }
    // Samples run in parallel; the tallies are sums, so the figures do not depend on the
    // number of threads.
    let pb = progress_bar(set.len(), "eval");
    let classes = set.classes;
    let tally = (0..set.len())
        .into_par_iter()
        .try_fold(
            || Tally::new(classes),
            |mut tally, k| -> anyhow::Result<Tally> {
                let trace = golden
                    .forward(&enc.encode(set.image(k)))
                    .with_context(|| format!("{} sample {k}", set.name))?;
                pb.inc(1);
                tally.record(&trace, set.label(k));
                Ok(tally)
            },
        )
        .try_reduce(|| Tally::new(classes), |a, b| Ok(a.add(b)))?;
    pb.finish_and_clear();
    let Tally {
        correct,
        fallback,
        fallback_correct,
        tied,
        tied_with_label,
        ref confusion,
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
    if net.ties_by_potential {
        println!("ties decoded by the largest potential at the crossing step first");
    }
    if let Some(order) = &net.tie_order {
        println!(
            "ties decoded by the model's tie order {:?} (first listed wins)",
            order.as_slice()
        );
    }
    print!("{}", confusion.table());
    if let Some(path) = &args.confusion {
        isa::output::write_atomic(path, confusion.csv().as_bytes())
            .with_context(|| format!("--confusion {}: cannot write the CSV", path.display()))?;
    }
    Ok(())
}

/// The tie order that decides the most tied images of `train` right under `golden`; prints
/// how many it wins against the lowest-index rule.
fn learn_tie_order(
    golden: &GoldenNetwork,
    enc: &LatencyEncoder,
    train: &Dataset,
    net: &model::Network,
) -> anyhow::Result<TieOrder> {
    let outputs = net.outputs();
    let pb = progress_bar(train.len(), "ties");
    let ties = (0..train.len())
        .into_par_iter()
        .map(|k| {
            let trace = golden
                .forward(&enc.encode(train.image(k)))
                .with_context(|| format!("{} sample {k}", train.name))?;
            pb.inc(1);
            Ok(trace.tie(net.t_max, net.ties_by_potential, train.label(k)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    pb.finish_and_clear();
    let ties: Vec<Tie> = ties.into_iter().flatten().collect();
    let order = TieOrder::learn(&ties, outputs)?;
    println!(
        "tie order {:?} learned on {} ({} tied images): decides {} of them right, the lowest index {}",
        order.as_slice(),
        train.name,
        ties.len(),
        order.wins(&ties),
        TieOrder::lowest_index(outputs).wins(&ties)
    );
    Ok(order)
}

/// `eval` of a multi-spike LIF network: its golden forward pass on the rate-coded images,
/// the class with the most output spikes.
fn run_lif(args: &Args, net: &LifNetwork, set: &Dataset) -> anyhow::Result<()> {
    let code = net.encoding.with_context(|| {
        format!(
            "{}: the LIF model records no input rate code (`encoding`): it cannot run on images",
            args.model.display()
        )
    })?;
    if set.image_len() != net.inputs as usize {
        bail!(
            "{}: the network has {} inputs, {} images have {} pixels",
            args.model.display(),
            net.inputs,
            set.name,
            set.image_len()
        );
    }
    let pb = progress_bar(set.len(), "eval");
    let classes = set.classes;
    // Per sample: correct, silent (no output spike), predicted; sums do not depend on the
    // number of threads.
    let (correct, silent, confusion) = (0..set.len())
        .into_par_iter()
        .fold(
            || (0usize, 0usize, Confusion::new(classes)),
            |(c, s, mut m), k| {
                let r = net.forward(&code.encode(set.image(k), net.steps));
                pb.inc(1);
                m.count(set.label(k), r.class, 1);
                (
                    c + usize::from(r.class == set.label(k)),
                    s + usize::from(r.output_counts.iter().all(|&x| x == 0)),
                    m,
                )
            },
        )
        .reduce(
            || (0, 0, Confusion::new(classes)),
            |a, b| (a.0 + b.0, a.1 + b.1, a.2.add(&b.2)),
        );
    pb.finish_and_clear();
    println!(
        "{}: {} on {}: accuracy {:.2} % ({correct}/{}), multi-spike LIF over {} steps ({:?} rate \
         code), {silent} samples without an output spike (decoded as class 0)",
        args.model.display(),
        set.name,
        args.dataset,
        100.0 * correct as f64 / set.len().max(1) as f64,
        set.len(),
        net.steps,
        code
    );
    print!("{}", confusion.table());
    if let Some(path) = &args.confusion {
        isa::output::write_atomic(path, confusion.csv().as_bytes())
            .with_context(|| format!("--confusion {}: cannot write the CSV", path.display()))?;
    }
    Ok(())
}

/// Counts of (label, predicted class) pairs. A prediction outside the data set's classes
/// (a model with more outputs) gets a column of its own.
#[derive(Clone, Debug)]
struct Confusion {
    classes: usize,
    /// `counts[label][predicted]`.
    counts: Vec<Vec<usize>>,
}

impl Confusion {
    fn new(classes: usize) -> Confusion {
        Confusion {
            classes,
            counts: vec![vec![0; classes]; classes],
        }
    }

    /// Adds `n` samples of `label` decoded as `predicted`.
    fn count(&mut self, label: usize, predicted: usize, n: usize) {
        if label >= self.counts.len() {
            self.counts.resize(label + 1, Vec::new());
        }
        let row = &mut self.counts[label];
        if predicted >= row.len() {
            row.resize(predicted + 1, 0);
        }
        row[predicted] += n;
    }

    /// Both matrices summed.
    fn add(mut self, o: &Confusion) -> Confusion {
        for (label, row) in o.counts.iter().enumerate() {
            for (predicted, &n) in row.iter().enumerate().filter(|(_, &n)| n > 0) {
                self.count(label, predicted, n);
            }
        }
        self
    }

    /// Number of columns: the classes, or more when a prediction lies beyond them.
    fn columns(&self) -> usize {
        self.counts
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(self.classes)
    }

    fn cell(&self, label: usize, predicted: usize) -> usize {
        self.counts[label].get(predicted).copied().unwrap_or(0)
    }

    /// The matrix as text: rows are labels, columns predicted classes, then the recall.
    fn table(&self) -> String {
        let cols = self.columns();
        let mut s =
            String::from("confusion (rows: label, columns: predicted class; recall)\n     ");
        for c in 0..cols {
            s += &format!("{c:>6}");
        }
        s += "\n";
        for (label, row) in self.counts.iter().enumerate() {
            let total: usize = row.iter().sum();
            s += &format!("{label:>3} |");
            for c in 0..cols {
                s += &format!("{:>6}", self.cell(label, c));
            }
            let recall = 100.0 * self.cell(label, label) as f64 / total.max(1) as f64;
            s += &format!(" | {recall:5.1} %\n");
        }
        s
    }

    /// The matrix as CSV: a header `label,0,1,…` and one row per label.
    fn csv(&self) -> String {
        let cols = self.columns();
        let mut s = String::from("label");
        for c in 0..cols {
            s += &format!(",{c}");
        }
        s += "\n";
        for label in 0..self.counts.len() {
            s += &label.to_string();
            for c in 0..cols {
                s += &format!(",{}", self.cell(label, c));
            }
            s += "\n";
        }
        s
    }
}

/// Per-sample outcomes summed over a data set.
#[derive(Clone, Debug)]
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
    /// Label against decoded class.
    confusion: Confusion,
}

impl Tally {
    /// Nothing counted yet, for a data set of `classes` classes.
    fn new(classes: usize) -> Tally {
        Tally {
            correct: 0,
            fallback: 0,
            fallback_correct: 0,
            tied: 0,
            tied_with_label: 0,
            confusion: Confusion::new(classes),
        }
    }

    /// Counts the outcome of one sample.
    fn record(&mut self, trace: &model::ForwardTrace, label: usize) {
        let hit = trace.prediction == label;
        self.correct += usize::from(hit);
        self.confusion.count(label, trace.prediction, 1);
        if trace.fallback.is_some() {
            self.fallback += 1;
            self.fallback_correct += usize::from(hit);
        } else {
            let out = trace.layer_times.last().map(Vec::as_slice).unwrap_or(&[]);
            if let Some(&first) = out.iter().min() {
                if out.iter().filter(|&&time| time == first).count() > 1 {
                    self.tied += 1;
                    let label_first = out.get(label) == Some(&first);
                    self.tied_with_label += usize::from(label_first && !hit);
                }
            }
        }
    }

    /// Both tallies summed.
    fn add(self, o: Tally) -> Tally {
        Tally {
            correct: self.correct + o.correct,
            fallback: self.fallback + o.fallback,
            fallback_correct: self.fallback_correct + o.fallback_correct,
            tied: self.tied + o.tied,
            tied_with_label: self.tied_with_label + o.tied_with_label,
            confusion: self.confusion.add(&o.confusion),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Confusion;

    #[test]
    fn confusion_sums_and_widens_for_predictions_beyond_the_classes() {
        let mut a = Confusion::new(2);
        a.count(0, 0, 3);
        a.count(1, 0, 1);
        let mut b = Confusion::new(2);
        b.count(1, 1, 2);
        b.count(1, 3, 1);
        let c = a.add(&b);
        assert_eq!(c.columns(), 4);
        assert_eq!(c.csv(), "label,0,1,2,3\n0,3,0,0,0\n1,1,2,0,1\n");
        assert!(c
            .table()
            .contains("  1 |     1     2     0     1 |  50.0 %"));
    }
}
