//! `spikemesh train`: online S4NN / BS4NN training of a fully connected TTFS network, or
//! STiDi-BP training of a convolutional or dense one, on the digits, MNIST or Fashion-MNIST,
//! written as a model file after every epoch.

use super::curve::{EpochRow, History};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use model::train::{parse_arch, Optimiser, RivalRamp, Rule, SampleOrder, TrainConfig, Trainer};
use model::{DatasetSpec, GoldenNetwork};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

/// The learning rule on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum RuleArg {
    /// S4NN (real weights; defaults of S4NN.py).
    S4nn,
    /// BS4NN (binary weights, learned scale; defaults of BS4NN_mnist.ipynb).
    Bs4nn,
    /// STiDi-BP (binary weights, ramp PSP, learned per-neuron thresholds; convolutional
    /// architectures such as c16k5-p2-c32k3-p2-fc10; settings in docs/TRAINING.md).
    Stidi,
}

/// Sample order on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OrderArg {
    /// File order (S4NN default).
    Sequential,
    /// N draws with replacement per epoch (BS4NN default).
    Replacement,
    /// A seeded permutation per epoch.
    Shuffle,
}

/// How updates move the latent weights, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimiserArg {
    /// One step per sample, no momentum (both papers).
    Online,
    /// Heavy-ball momentum over mini-batches (`--batch`, `--beta`).
    Momentum,
    /// Adam over mini-batches (`--batch`, `--beta β1,β2`); `--lr` is then a step length.
    Adam,
}

/// The input encoding on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum InputEncodingArg {
    /// Intensity to latency with the rule's own formula (S4NN / BS4NN reference code).
    Intensity,
    /// On- and off-centre contrast maps (two inputs per pixel), each S4NN-encoded: for data
    /// whose classes differ in edges and texture rather than brightness (Fashion-MNIST).
    Onoff,
}

/// Train a TTFS network with S4NN or BS4NN and save it (JSON if the name ends in .json,
/// compact bincode otherwise).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Data set: `digits` (embedded), `mnist:DIR` or `fashion:DIR` (IDX files, raw or gzip).
    #[arg(long, default_value = "digits")]
    dataset: String,
    /// Layer sizes, input first, e.g. 64-100-10 or 784-600-10; with `--rule stidi` an
    /// architecture string such as c16k5-p2-c32k3-p2-fc10 or fc100-fc10 (input from the data).
    #[arg(long, default_value = "64-100-10")]
    arch: String,
    /// Learning rule.
    #[arg(long, value_enum, default_value = "bs4nn")]
    rule: RuleArg,
    /// Number of epochs.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Seed of initialisation and sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output model file (rewritten atomically after every epoch; under `--validation` only
    /// when the validation accuracy improves).
    #[arg(short, long)]
    output: PathBuf,
    /// Learning curve as CSV, rewritten after every epoch: epoch, train accuracy, loss, test
    /// accuracy (and with ties as correct, S4NN/BS4NN), seconds, validation accuracy (empty
    /// without `--validation`), test accuracy with ties to the lowest index (empty without
    /// `--tie-order` and `--ties-by-potential`).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// Learning curve as an SVG chart (train, test and validation accuracy per epoch, best test
    /// epoch and saved validation epoch marked), redrawn after every epoch.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Learning rate, one value for every layer or one per layer (comma separated)
    /// [S4NN 0.2, BS4NN 0.1].
    #[arg(long, value_delimiter = ',')]
    lr: Vec<f64>,
    /// BS4NN learning rate of the scale α, one or one per layer [0.01].
    #[arg(long, value_delimiter = ',')]
    lr_scale: Vec<f64>,
    /// Initial BS4NN scale α, one or one per layer [5].
    #[arg(long, value_delimiter = ',')]
    scale_init: Vec<f64>,
    /// Threshold θ, one or one per layer [100].
    #[arg(long, value_delimiter = ',')]
    threshold: Vec<i32>,
    /// Weight decay λ, one or one per layer [S4NN 1e-6, BS4NN 0].
    #[arg(long, value_delimiter = ',')]
    decay: Vec<f64>,
    /// Lower bound of the uniform weight initialisation, one or one per layer [0].
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    init_low: Vec<f32>,
    /// Upper bound of the uniform weight initialisation, one or one per layer [5 hidden, 48 output].
    #[arg(long, value_delimiter = ',')]
    init_high: Vec<f32>,
    /// Learning-rate schedule: rates are multiplied by this per epoch [1 = constant].
    #[arg(long)]
    lr_decay: Option<f64>,
    /// Epoch from which `--lr-decay` counts: rates stay constant through this epoch (from 0) [0].
    #[arg(long)]
    lr_decay_from: Option<usize>,
    /// Simulation window t_max [256].
    #[arg(long)]
    tmax: Option<u16>,
    /// Target margin γ [S4NN 3, BS4NN 1].
    #[arg(long)]
    gamma: Option<u16>,
    /// When no output fires, the label's target is t_max − this [S4NN γ, BS4NN 0 (no update)].
    #[arg(long)]
    silent_shift: Option<u16>,
    /// When no output fires, every other output whose potential at t_max − 3 (the no-spike
    /// fallback's) is at least the label's gets a target this many steps after t_max
    /// [0: off, as in both papers].
    #[arg(long)]
    silent_rival_shift: Option<u16>,
    /// Ramp for --silent-rival-shift as START,EPOCHS: the push is START steps in epoch 1 and
    /// grows linearly to --silent-rival-shift by epoch EPOCHS + 1 [none: the full push from the
    /// start; not part of either paper].
    #[arg(long, value_delimiter = ',', num_args = 1)]
    silent_rival_ramp: Vec<u64>,
    /// When the label's output ties another at the earliest spike, its target is that step
    /// minus this (the chip names the lowest tied index) [0: off, as in both papers].
    #[arg(long)]
    tie_shift: Option<u16>,
    /// With `--tie-shift`: pull the label only on the ties the decoder names another class for
    /// (by `--ties-by-potential` and `--tie-order` when given) [off: on every tie the label is
    /// part of].
    #[arg(long)]
    tie_shift_lost: bool,
    /// After every epoch, learn the decoder's tie priority from the training images (the
    /// order of classes that decides the most tied training images right, exactly) and save it
    /// with the model, so that the chip decodes ties by it; test accuracy is then reported with
    /// it, the lowest-index figure beside [off: ties to the lowest index; not part of either
    /// paper].
    #[arg(long)]
    tie_order: bool,
    /// Decode a tie at the earliest spike by the tied outputs' potentials at the crossing step
    /// first (the largest wins: the output that crossed its threshold by the most; the tie order
    /// or the lowest index decides only between equal ones); saved with the model, and the chip
    /// decodes the same way. Test accuracy is then reported with it, the lowest-index figure
    /// beside [off: the order alone decides; not part of either paper].
    #[arg(long)]
    ties_by_potential: bool,
    /// Dead-neuron re-initialisation: fraction of an epoch's samples below which a hidden
    /// neuron's weights are re-drawn [S4NN 0.001, BS4NN off].
    #[arg(long)]
    reinit: Option<f64>,
    /// Sample order [S4NN sequential, BS4NN replacement].
    #[arg(long, value_enum)]
    order: Option<OrderArg>,
    /// Sign hysteresis in latent-weight units [0 = the sign of the latent]: a forward sign turns
    /// only once its latent is past ±h on the other side. BS4NN: one value or one per layer;
    /// STiDi-BP: one value for every layer.
    #[arg(long, value_delimiter = ',')]
    sign_hysteresis: Vec<f64>,
    /// Reference-code dropout: how many inputs of each layer are dropped from its update per
    /// sample, one value or one per layer [0].
    #[arg(long, value_delimiter = ',')]
    dropout: Vec<usize>,
    /// Forward dropout while training: the probability that each input of a layer is silenced
    /// for one sample (the layer's threshold scaled by 1 − p meanwhile), one value or one per
    /// layer [0: not part of either paper].
    #[arg(long, value_delimiter = ',')]
    forward_dropout: Vec<f64>,
    /// BS4NN: learn a threshold per neuron with this step length, one value or one per layer
    /// (0 = that layer keeps --threshold) [none: not part of either paper]. Each starts at the
    /// layer's threshold and moves as a bias, through the same optimiser.
    #[arg(long, value_delimiter = ',')]
    threshold_lr: Vec<f64>,
    /// S4NN / BS4NN optimiser (not part of either paper except `online`) [online].
    #[arg(long, value_enum)]
    optimiser: Option<OptimiserArg>,
    /// Samples summed into one step of `--optimiser momentum|adam` [16].
    #[arg(long)]
    batch: Option<usize>,
    /// Momentum β, or Adam's β1,β2 [0.9; 0.9,0.999].
    #[arg(long, value_delimiter = ',')]
    beta: Vec<f64>,
    /// Disable the S4NN dead-neuron re-initialisation.
    #[arg(long)]
    no_reinit: bool,
    /// Input encoding; `onoff` doubles the inputs (e.g. `--arch 1568-600-10` for 28×28).
    #[arg(long, value_enum, default_value = "intensity")]
    encoding: InputEncodingArg,
    /// Augmentation: every epoch, translate each training image by its own seeded offset in
    /// ±N pixels (zero fill) [0 = the images as given].
    #[arg(long, default_value_t = 0)]
    augment: usize,
    /// Augmentation: every epoch, mirror a seeded half of the training images left-right
    /// (for mirror-symmetric classes such as Fashion-MNIST's; not for digits).
    #[arg(long)]
    mirror: bool,
    /// S4NN / BS4NN: average the latent weights over the epochs from N on (stochastic weight
    /// averaging; training is unchanged), report the averaged network's test accuracy after
    /// each of them, and save the averaged network instead of the last epoch's.
    #[arg(long, value_name = "N")]
    average_from: Option<usize>,
    /// S4NN / BS4NN: hold out the last N training images as a validation set (never trained
    /// on), report its accuracy after every epoch, and save the epoch with the best validation
    /// accuracy (strict decoding, the earliest of equals) instead of the last: a model chosen
    /// without looking at the test set.
    #[arg(long, value_name = "N")]
    validation: Option<usize>,
    #[command(flatten)]
    stidi: StidiArgs,
}

/// The STiDi-BP options (`--rule stidi` only; docs/TRAINING.md says what each does and which
/// recipes measured best).
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "STiDi-BP options (--rule stidi)")]
pub struct StidiArgs {
    /// PSP kernel: `ramp`, `step` or `sat:TAU` (saturating ramp; training only, not exported)
    /// [ramp].
    #[arg(long, value_name = "KERNEL")]
    kernel: Option<model::stidi::Kernel>,
    /// Approximation of the latency derivative: `chord` (t/θ), `slope` (local slope) or
    /// `constant` [chord].
    #[arg(long, value_name = "D")]
    derivative: Option<model::stidi::Derivative>,
    /// Error normalisation per layer: `l2` or `none` [l2].
    #[arg(long, value_name = "N")]
    normalisation: Option<model::stidi::Normalisation>,
    /// Initial threshold of a neuron per input it has: θ = F · fan-in [40; the CSNN recipes use
    /// 10].
    #[arg(long, value_name = "F")]
    threshold_per_input: Option<f64>,
    /// Keep the initial thresholds instead of learning them (homeostasis still lowers the
    /// thresholds of silent neurons).
    #[arg(long)]
    fixed_thresholds: bool,
}

impl StidiArgs {
    /// The STiDi-BP options given on the command line, by flag name.
    fn given(&self) -> Vec<&'static str> {
        [
            ("--kernel", self.kernel.is_some()),
            ("--derivative", self.derivative.is_some()),
            ("--normalisation", self.normalisation.is_some()),
            ("--threshold-per-input", self.threshold_per_input.is_some()),
            ("--fixed-thresholds", self.fixed_thresholds),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}

impl Args {
    /// The learning-curve files `--history` and `--plot` ask for, for a run called `title`.
    fn history(&self, title: String) -> anyhow::Result<History> {
        History::new(title, self.history.clone(), self.plot.clone())
    }

    /// The training-set augmentation `--augment` and `--mirror` ask for.
    fn augmentation(&self) -> model::Augmentation {
        model::Augmentation {
            max_shift: self.augment,
            mirror: self.mirror,
        }
    }
}

/// A per-layer setting from its flag: nothing given keeps the default, one value sets every
/// layer, otherwise one value per layer.
fn layered<T: Copy>(given: &[T], default: &mut [T], name: &str) -> anyhow::Result<()> {
    match given.len() {
        0 => Ok(()),
        1 => {
            default.iter_mut().for_each(|v| *v = given[0]);
            Ok(())
        }
        n if n == default.len() => {
            default.copy_from_slice(given);
            Ok(())
        }
        n => anyhow::bail!(
            "--{name}: give one value or one per layer ({}), not {n}",
            default.len()
        ),
    }
}

/// [`layered`] for a setting that is empty when not given (0 in every layer otherwise).
fn optional_layered(
    given: &[f64],
    setting: &mut Vec<f64>,
    layers: usize,
    name: &str,
) -> anyhow::Result<()> {
    if !given.is_empty() {
        *setting = vec![0.0; layers];
        layered(given, setting, name)?;
    }
    Ok(())
}

fn progress_bar(total: usize, epoch: usize, epochs: usize) -> ProgressBar {
    let pb = ProgressBar::new(total as u64);
    if !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(format!("epoch {epoch}/{epochs}"));
    pb
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    if matches!(args.rule, RuleArg::Stidi) {
        check_stidi_flags(&args)?;
    } else {
        let given = args.stidi.given();
        if !given.is_empty() {
            bail!(
                "{} {} to --rule stidi only",
                given.join(", "),
                if given.len() == 1 { "applies" } else { "apply" }
            );
        }
    }
    if let Some(n) = args.average_from {
        if n == 0 || n > args.epochs {
            bail!(
                "--average-from {n}: must name one of the epochs 1..={}",
                args.epochs
            );
        }
    }
    if args.validation.is_some() && args.average_from.is_some() {
        bail!("--validation and --average-from each choose the saved model: give one of them");
    }
    let spec: DatasetSpec = args.dataset.parse()?;
    let mut data = spec.load()?;
    let validation = match args.validation {
        // (STiDi-BP refused `--validation` above.)
        Some(n) => {
            let (train, held_out) = data.train.hold_out_last(n).with_context(|| {
                format!(
                    "--validation {n}: must hold out at least one of the {} training images \
                     and leave at least one to train on",
                    data.train.len()
                )
            })?;
            data.train = train;
            Some(held_out)
        }
        _ => None,
    };
    let mut cfg = match args.rule {
        RuleArg::S4nn => TrainConfig::s4nn(parse_arch(&args.arch)?, args.seed),
        RuleArg::Bs4nn => TrainConfig::bs4nn(parse_arch(&args.arch)?, args.seed),
        RuleArg::Stidi => return run_stidi(&args, &data),
    };
    layered(&args.lr, &mut cfg.lr, "lr")?;
    layered(&args.lr_scale, &mut cfg.lr_scale, "lr-scale")?;
    layered(&args.scale_init, &mut cfg.scale_init, "scale-init")?;
    layered(&args.threshold, &mut cfg.threshold, "threshold")?;
    layered(&args.decay, &mut cfg.weight_decay, "decay")?;
    layered(&args.init_high, &mut cfg.init_high, "init-high")?;
    layered(&args.init_low, &mut cfg.init_low, "init-low")?;
    layered(&args.dropout, &mut cfg.dropout, "dropout")?;
    let layers = cfg.lr.len();
    optional_layered(
        &args.forward_dropout,
        &mut cfg.forward_dropout,
        layers,
        "forward-dropout",
    )?;
    optional_layered(
        &args.threshold_lr,
        &mut cfg.threshold_lr,
        layers,
        "threshold-lr",
    )?;
    optional_layered(
        &args.sign_hysteresis,
        &mut cfg.sign_hysteresis,
        layers,
        "sign-hysteresis",
    )?;
    if let Some(d) = args.lr_decay {
        cfg.lr_decay = d;
    }
    if let Some(e) = args.lr_decay_from {
        cfg.lr_decay_from = e;
    }
    if let Some(t) = args.tmax {
        cfg.t_max = t;
    }
    if let Some(g) = args.gamma {
        cfg.gamma = g;
        if matches!(args.rule, RuleArg::S4nn) {
            cfg.silent_label_shift = g;
        }
    }
    if let Some(o) = args.order {
        cfg.order = match o {
            OrderArg::Sequential => SampleOrder::Sequential,
            OrderArg::Replacement => SampleOrder::WithReplacement,
            OrderArg::Shuffle => SampleOrder::Shuffle,
        };
    }
    if let Some(s) = args.silent_shift {
        cfg.silent_label_shift = s;
    }
    if let Some(s) = args.silent_rival_shift {
        cfg.silent_rival_shift = s;
    }
    cfg.silent_rival_ramp = rival_ramp(&args)?;
    if let Some(s) = args.tie_shift {
        cfg.tie_label_shift = s;
    }
    cfg.ties_by_potential = args.ties_by_potential;
    if args.tie_shift_lost && cfg.tie_label_shift == 0 {
        bail!("--tie-shift-lost needs --tie-shift N with N ≥ 1 (it narrows that pull)");
    }
    cfg.tie_pull_lost_only = args.tie_shift_lost;
    if let Some(f) = args.reinit {
        cfg.dead_fraction = Some(f);
    }
    if args.no_reinit {
        cfg.dead_fraction = None;
    }
    cfg.optimiser = optimiser(&args)?;
    if let Some(rule) = on_off_rule(&args, &data.train) {
        cfg.encoding = rule;
    }
    let inputs = data.train.image_len() * cfg.encoding.channels();
    if cfg.arch.first() != Some(&inputs) {
        bail!(
            "--arch {}: the first layer must have {inputs} inputs ({} {}×{} images{})",
            args.arch,
            data.train.name,
            data.train.height,
            data.train.width,
            if cfg.encoding.channels() == 2 {
                ", two contrast maps each"
            } else {
                ""
            }
        );
    }
    let (h, w) = (data.train.height, data.train.width);
    let mut trainer = Trainer::new(cfg).context("cannot start training")?;
    let title = format!(
        "{} {} on {}, seed {}",
        match trainer.config().rule {
            Rule::S4nn => "S4NN",
            Rule::Bs4nn => "BS4NN",
        },
        args.arch,
        data.train.name.trim_end_matches("/train"),
        args.seed
    );
    let mut history = args.history(title)?;
    let optimiser = match trainer.config().optimiser {
        Optimiser::Online => String::new(),
        Optimiser::Momentum { beta, batch } => {
            format!(", momentum β {beta}, batches of {batch}")
        }
        Optimiser::Adam {
            beta1,
            beta2,
            batch,
        } => format!(", Adam β {beta1},{beta2}, batches of {batch}"),
    };
    let fd = &trainer.config().forward_dropout;
    // The departures from the papers' rule that change what training computes.
    let mut departures = if fd.iter().any(|&p| p > 0.0) {
        format!(", forward dropout {fd:?} (train accuracy with it)")
    } else {
        String::new()
    };
    let tl = &trainer.config().threshold_lr;
    if tl.iter().any(|&v| v > 0.0) {
        departures += &format!(", per-neuron thresholds learned at {tl:?}");
    }
    let cfg = trainer.config();
    let rival = cfg.silent_rival_shift;
    if let Some(r) = cfg.silent_rival_ramp {
        departures += &format!(
            ", silent outputs' rivals pushed {} steps past t_max, growing to {rival} by epoch {}",
            r.start,
            r.epochs + 1
        );
    } else if rival > 0 {
        departures += &format!(", silent outputs' rivals pushed {rival} steps past t_max");
    }
    if cfg.tie_label_shift > 0 {
        let n = cfg.tie_label_shift;
        departures += &format!(
            ", a label tied at the earliest spike pulled {n} step{} earlier{}",
            if n == 1 { "" } else { "s" },
            if cfg.tie_pull_lost_only {
                " when the decoder names another class"
            } else {
                ""
            }
        );
    }
    if args.ties_by_potential {
        departures += ", ties decoded by the potential at the crossing step";
    }
    if args.tie_order {
        departures += if args.ties_by_potential {
            ", then by an order learned on the training images after each epoch"
        } else {
            ", ties decoded by an order learned on the training images after each epoch"
        };
    }
    let held_out = validation
        .as_ref()
        .map_or(String::new(), |v| format!(" / {} validation", v.len()));
    println!(
        "training {:?} {} on {} ({} train{held_out} / {} test), seed {}{optimiser}{departures}",
        trainer.config().rule,
        args.arch,
        args.dataset,
        data.train.len(),
        data.test.len(),
        args.seed
    );
    // The network `--validation` keeps: the best validation epoch's so far.
    let mut chosen: Option<model::Network> = None;
    // The averaged network as last exported (with its own tie order under `--tie-order`).
    let mut averaged_net: Option<model::Network> = None;
    for epoch in 1..=args.epochs {
        let pb = progress_bar(data.train.len(), epoch, args.epochs);
        let start = Instant::now();
        let epoch_data = data
            .train
            .for_epoch(args.augmentation(), args.seed, epoch - 1);
        let report = trainer.train_epoch(&epoch_data, |p| {
            if p.done % 256 == 0 || p.done == p.total {
                pb.set_position(p.done as u64);
                pb.set_message(format!(
                    "acc {:.2} % loss {:.4}",
                    100.0 * p.correct as f64 / p.done as f64,
                    p.loss_sum / p.done as f64
                ));
            }
        })?;
        let train_secs = start.elapsed().as_secs_f64();
        pb.finish_and_clear();
        // Learned on the images as given (not this epoch's augmented copies); decoding only.
        let order = if args.tie_order {
            Some(trainer.learn_tie_order(&data.train)?)
        } else {
            None
        };
        let test_acc = trainer.evaluate_scored(&data.test)?;
        let averaged = match args.average_from {
            Some(from) if epoch >= from => {
                trainer.average_epoch();
                let mut averaged = trainer.averaged().expect("an epoch was averaged");
                if args.tie_order {
                    averaged.learn_tie_order(&data.train)?;
                }
                let acc = averaged.evaluate_scored(&data.test)?;
                averaged_net = Some(averaged.export(h, w));
                Some((averaged, acc, from))
            }
            _ => None,
        };
        let val_acc = match &validation {
            Some(v) => Some(trainer.evaluate_scored(v)?.strict),
            None => None,
        };
        // The file on disk is always a whole model: the averaged one once averaging has begun,
        // the best validation epoch's under `--validation` (exported only when it changes).
        let improved = match (val_acc, history.best_validation()) {
            (Some(v), Some(best)) => Some(v) > best.validation_accuracy,
            _ => true,
        };
        if improved {
            let net = match &averaged {
                Some((a, ..)) => a.export(h, w),
                None => trainer.export(h, w),
            };
            net.save(&args.output)?;
            if val_acc.is_some() {
                chosen = Some(net);
            }
        }
        history.record(EpochRow {
            epoch,
            train_accuracy: report.train_accuracy,
            mean_loss: report.mean_loss,
            test_accuracy: test_acc.strict,
            test_accuracy_ties: Some(test_acc.reference),
            seconds: train_secs,
            validation_accuracy: val_acc,
            test_accuracy_lowest_index: (args.tie_order || args.ties_by_potential)
                .then_some(test_acc.lowest_index),
        })?;
        let scales = if trainer.config().rule == Rule::Bs4nn {
            let mut s = format!(
                " alpha {:?} | sign crossings {:?} net {:?}",
                report
                    .scales
                    .iter()
                    .map(|a| (a * 1e4).round() / 1e4)
                    .collect::<Vec<_>>(),
                report.sign_changes,
                report.signs_changed,
            );
            for l in 0..report.scales.len() {
                if let Some(th) = trainer.learned_thresholds(l) {
                    let (lo, hi) = th
                        .iter()
                        .fold((f64::MAX, f64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
                    let mean = th.iter().sum::<f64>() / th.len() as f64;
                    s += &format!(" | layer {} θ {lo:.1}..{hi:.1} mean {mean:.1}", l + 1);
                }
            }
            s
        } else {
            String::new()
        };
        let val = val_acc.map_or(String::new(), |v| {
            format!(
                " | validation acc {:.2} %{}",
                100.0 * v,
                if improved {
                    " (best so far, saved)"
                } else {
                    ""
                }
            )
        });
        let cfg = trainer.config();
        let push = if cfg.silent_rival_ramp.is_some() {
            format!(" | rivals pushed {}", cfg.silent_rival_shift_at(epoch - 1))
        } else {
            String::new()
        };
        let lowest = match (&order, args.ties_by_potential) {
            (None, false) => String::new(),
            (order, by) => format!(
                "lowest index {:.2} %, {}{}; ",
                100.0 * test_acc.lowest_index,
                if by { "ties by potential" } else { "" },
                order.as_ref().map_or(String::new(), |o| format!(
                    "{}tie order {:?}",
                    if by { " then " } else { "" },
                    o.as_slice()
                )),
            ),
        };
        println!(
            "epoch {epoch}/{}: train acc {:.2} % loss {:.5} | test acc {:.2} % ({lowest}ties as correct {:.2} %; {} silent, {} right){val}{push} | {:.1} s/epoch | reinit {}{scales}",
            args.epochs,
            100.0 * report.train_accuracy,
            report.mean_loss,
            100.0 * test_acc.strict,
            100.0 * test_acc.reference,
            test_acc.silent,
            test_acc.silent_right,
            train_secs,
            report.reinitialised,
        );
        if let Some((_, acc, from)) = &averaged {
            println!(
                "  averaged epochs {from}-{epoch}: test acc {:.2} % (ties as correct {:.2} %)",
                100.0 * acc.strict,
                100.0 * acc.reference
            );
        }
    }
    // The best epoch by test accuracy is reported, not used to pick the saved model: the
    // papers quote their best epoch, so this is the figure to compare with them.
    if let Some(b) = history.best() {
        println!(
            "best epoch {}: test acc {:.2} % (ties as correct {:.2} %); the saved model is {}",
            b.epoch,
            100.0 * b.test_accuracy,
            100.0 * b.test_accuracy_ties.unwrap_or(b.test_accuracy),
            match (trainer.averaged_epochs(), history.best_validation()) {
                (_, Some(v)) => format!(
                    "epoch {}'s, the best validation accuracy ({:.2} %; test acc {:.2} %)",
                    v.epoch,
                    100.0 * v.validation_accuracy.unwrap_or_default(),
                    100.0 * v.test_accuracy
                ),
                (0, None) => "the last epoch's".to_string(),
                (n, None) => format!("the average of the last {n} epochs"),
            }
        );
    }
    let net = match (chosen, averaged_net) {
        (Some(net), _) | (None, Some(net)) => net,
        (None, None) => trainer.export(h, w),
    };
    net.save(&args.output)?;
    let golden = GoldenNetwork::new(&net)?;
    let enc = trainer.encoder();
    let correct = (0..data.test.len())
        .filter(|&k| {
            golden
                .classify(&enc.encode(data.test.image(k)))
                .is_ok_and(|c| c == data.test.label(k))
        })
        .count();
    println!(
        "saved {} ({} forward): golden test accuracy {:.2} % ({correct}/{})",
        args.output.display(),
        if net.is_integer() { "integer" } else { "real" },
        100.0 * correct as f64 / data.test.len().max(1) as f64,
        data.test.len()
    );
    Ok(())
}

/// The on/off-centre rule for `data`'s image width when `--encoding onoff` was given.
fn on_off_rule(args: &Args, data: &model::Dataset) -> Option<model::EncodingRule> {
    (args.encoding == InputEncodingArg::Onoff).then_some(model::EncodingRule::OnOffCentre {
        width: data.width as u16,
    })
}

/// `--silent-rival-ramp START,EPOCHS`, which only makes sense on top of a push.
fn rival_ramp(args: &Args) -> anyhow::Result<Option<RivalRamp>> {
    let (start, epochs) = match args.silent_rival_ramp[..] {
        [] => return Ok(None),
        [start, epochs] => (start, epochs),
        ref v => bail!(
            "--silent-rival-ramp takes START,EPOCHS, found {} value(s)",
            v.len()
        ),
    };
    if args.silent_rival_shift.is_none() {
        bail!("--silent-rival-ramp needs --silent-rival-shift (the push it ramps to)");
    }
    let start = u16::try_from(start)
        .with_context(|| format!("--silent-rival-ramp: START {start} is not a push in steps"))?;
    if epochs == 0 {
        bail!("--silent-rival-ramp: EPOCHS must be at least 1");
    }
    Ok(Some(RivalRamp {
        start,
        epochs: usize::try_from(epochs).context("--silent-rival-ramp: EPOCHS")?,
    }))
}

/// The optimiser of `--optimiser`, `--batch` and `--beta`; the last two only with a batched
/// optimiser, and as many β as it has.
fn optimiser(args: &Args) -> anyhow::Result<Optimiser> {
    let kind = args.optimiser.unwrap_or(OptimiserArg::Online);
    let batch = args.batch.unwrap_or(16);
    let beta = |defaults: &[f64]| -> anyhow::Result<Vec<f64>> {
        match args.beta.len() {
            0 => Ok(defaults.to_vec()),
            n if n == defaults.len() => Ok(args.beta.clone()),
            n => bail!(
                "--beta: {kind:?} takes {} value(s), found {n}",
                defaults.len()
            ),
        }
    };
    Ok(match kind {
        OptimiserArg::Online => {
            if args.batch.is_some() || !args.beta.is_empty() {
                bail!("--batch and --beta apply to --optimiser momentum|adam only");
            }
            Optimiser::Online
        }
        OptimiserArg::Momentum => Optimiser::Momentum {
            beta: beta(&[0.9])?[0],
            batch,
        },
        OptimiserArg::Adam => {
            let b = beta(&[0.9, 0.999])?;
            Optimiser::Adam {
                beta1: b[0],
                beta2: b[1],
                batch,
            }
        }
    })
}

/// Refuses the S4NN/BS4NN options that `--rule stidi` does not apply, a list of hysteresis
/// values and the saturating kernel, before any data loads.
fn check_stidi_flags(args: &Args) -> anyhow::Result<()> {
    let ignored: Vec<&str> = [
        ("--lr-scale", !args.lr_scale.is_empty()),
        ("--scale-init", !args.scale_init.is_empty()),
        ("--threshold", !args.threshold.is_empty()),
        ("--decay", !args.decay.is_empty()),
        ("--init-low", !args.init_low.is_empty()),
        ("--init-high", !args.init_high.is_empty()),
        ("--lr-decay-from", args.lr_decay_from.is_some()),
        ("--reinit", args.reinit.is_some()),
        ("--order", args.order.is_some()),
        ("--dropout", !args.dropout.is_empty()),
        ("--forward-dropout", !args.forward_dropout.is_empty()),
        ("--threshold-lr", !args.threshold_lr.is_empty()),
        ("--silent-rival-shift", args.silent_rival_shift.is_some()),
        ("--silent-rival-ramp", !args.silent_rival_ramp.is_empty()),
        ("--tie-shift", args.tie_shift.is_some()),
        ("--tie-shift-lost", args.tie_shift_lost),
        ("--tie-order", args.tie_order),
        ("--ties-by-potential", args.ties_by_potential),
        ("--no-reinit", args.no_reinit),
        ("--average-from", args.average_from.is_some()),
        ("--validation", args.validation.is_some()),
        ("--optimiser", args.optimiser.is_some()),
        ("--batch", args.batch.is_some()),
        ("--beta", !args.beta.is_empty()),
    ]
    .into_iter()
    .filter_map(|(flag, given)| given.then_some(flag))
    .collect();
    if args.sign_hysteresis.len() > 1 {
        bail!(
            "--sign-hysteresis: STiDi-BP takes one value for every layer, not {}",
            args.sign_hysteresis.len()
        );
    }
    if let Some(model::stidi::Kernel::SatRamp { tau }) = args.stidi.kernel {
        bail!(
            "--kernel sat:{tau}: the chip has no saturating kernel, so the model could not be \
             written; the stidi_train example trains with it"
        );
    }
    if !ignored.is_empty() {
        bail!(
            "{} apply to --rule s4nn|bs4nn only; STiDi-BP settings are in docs/TRAINING.md (the \
             stidi_train example exposes the rest)",
            ignored.join(", ")
        );
    }
    Ok(())
}

/// `--rule stidi`: the STiDi-BP trainer with its defaults, the shared flags that apply to it
/// (`--tmax`, `--gamma`, `--silent-shift`, `--lr`, `--lr-decay`, `--sign-hysteresis H`,
/// `--encoding`, `--augment`, `--mirror`) and its own options ([`StidiArgs`]); any other
/// S4NN/BS4NN option is refused rather than silently ignored.
fn run_stidi(args: &Args, data: &model::DataSplit) -> anyhow::Result<()> {
    use model::stidi::{Arch, StidiConfig, StidiTrainer};
    let arch: Arch = args
        .arch
        .parse()
        .with_context(|| format!("--arch {:?}", args.arch))?;
    let mut cfg = StidiConfig::binary();
    if let Some(t) = args.tmax {
        cfg.t_max = t;
    }
    if let Some(g) = args.gamma {
        cfg.gamma = g;
        cfg.silent_label_shift = g;
    }
    if let Some(s) = args.silent_shift {
        cfg.silent_label_shift = s;
    }
    if !args.lr.is_empty() {
        // The rates given are every layer's, the output layer's included.
        cfg.lr = args.lr.iter().map(|&v| v as f32).collect();
        cfg.lr_output = None;
    }
    if let Some(d) = args.lr_decay {
        cfg.lr_decay = d;
    }
    if let Some(rule) = on_off_rule(args, &data.train) {
        cfg.encoding = rule;
    }
    let o = &args.stidi;
    if let Some(k) = o.kernel {
        cfg.neuron.kernel = k;
    }
    if let Some(d) = o.derivative {
        cfg.derivative = d;
    }
    if let Some(n) = o.normalisation {
        cfg.normalisation = n;
    }
    if let Some(f) = o.threshold_per_input {
        cfg.theta_per_fan_in = f;
    }
    if o.fixed_thresholds {
        cfg.thresholds.learn = false;
    }
    if let Some(&h) = args.sign_hysteresis.first() {
        cfg.sign_hysteresis = h as f32;
    }
    let mut trainer = StidiTrainer::for_dataset(&arch, &data.train, cfg, args.seed)
        .context("cannot start STiDi-BP training")?;
    let mut history = args.history(format!(
        "STiDi-BP {} on {}, seed {}",
        args.arch,
        data.train.name.trim_end_matches("/train"),
        args.seed
    ))?;
    println!(
        "training STiDi-BP {} on {} ({} train / {} test), seed {}",
        args.arch,
        args.dataset,
        data.train.len(),
        data.test.len(),
        args.seed
    );
    for epoch in 1..=args.epochs {
        let pb = progress_bar(data.train.len(), epoch, args.epochs);
        let epoch_data = data
            .train
            .for_epoch(args.augmentation(), args.seed, epoch - 1);
        let stats = trainer.train_epoch_with(&epoch_data, |done, correct| {
            if done % 256 == 0 || done == data.train.len() {
                pb.set_position(done as u64);
                pb.set_message(format!(
                    "acc {:.2} %",
                    100.0 * correct as f64 / done.max(1) as f64
                ));
            }
        })?;
        pb.finish_and_clear();
        let test_acc = trainer.evaluate(&data.test)?;
        trainer.export()?.save(&args.output)?;
        history.record(EpochRow {
            epoch,
            train_accuracy: stats.train_accuracy,
            mean_loss: stats.mean_loss,
            test_accuracy: test_acc,
            test_accuracy_ties: None,
            seconds: stats.seconds,
            validation_accuracy: None,
            test_accuracy_lowest_index: None,
        })?;
        println!(
            "epoch {epoch}/{}: train acc {:.2} % loss {:.5} | test acc {:.2} % | dead {:.2} % | {:.1} s/epoch",
            args.epochs,
            100.0 * stats.train_accuracy,
            stats.mean_loss,
            100.0 * test_acc,
            100.0 * stats.dead_fraction,
            stats.seconds,
        );
    }
    if let Some(b) = history.best() {
        println!(
            "best epoch {}: test acc {:.2} %; the saved model is the last epoch's",
            b.epoch,
            100.0 * b.test_accuracy
        );
    }
    let net = trainer.export()?;
    net.save(&args.output)?;
    let golden = GoldenNetwork::new(&net)?;
    let enc = model::LatencyEncoder {
        rule: net.encoding.unwrap_or(model::EncodingRule::S4nn),
        t_max: net.t_max,
    };
    let correct = (0..data.test.len())
        .filter(|&k| {
            golden
                .classify(&enc.encode(data.test.image(k)))
                .is_ok_and(|c| c == data.test.label(k))
        })
        .count();
    println!(
        "saved {}: golden test accuracy {:.2} % ({correct}/{})",
        args.output.display(),
        100.0 * correct as f64 / data.test.len().max(1) as f64,
        data.test.len()
    );
    Ok(())
}
