//! `spikemesh nir`: import a NIR graph (a multi-spike LIF network trained elsewhere —
//! snnTorch, Norse…; Lava-DL's own format is `spikemesh netx`) as a chip LIF network:
//! discretise with an explicit `dt`, quantise, print how each layer was quantised, compare the
//! quantised network with the float per-step model on a data set, and write the model
//! `spikemesh map` / `run` / `eval` take.

use super::run::{progress_bar, say};
use anyhow::{bail, Context};
use mapper::import::{
    euler_forward, euler_forward_timed, lower_nir, Convention, ImportOptions, LayerTiming,
};
use model::lif::{LifReset, RateCode, Readout, NEVER_FIRES};
use model::DatasetSpec;
use rayon::prelude::*;
use std::path::PathBuf;

/// The reset on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ResetArg {
    /// As NIR says: to `v_reset`, which must be 0.
    Nir,
    /// Subtract the threshold in the spike's step (models trained with reset by subtraction;
    /// NIR does not record it).
    Subtract,
    /// Subtract the threshold in the step after the spike, as snnTorch's `Leaky`, `Synaptic`
    /// and their recurrent forms do by default (`reset_delay=True`).
    SubtractNext,
}

/// Whose conventions the file's neuron parameters follow, on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ConventionArg {
    /// NIR's own equations (snnTorch's exporter, graphs built with the nir package).
    Nir,
    /// Norse 1.x's `to_nir`, which writes `dt · τ` as `tau` and leaves out `w_in` (give the
    /// `dt` the network was trained and exported with).
    Norse,
}

/// Import a NIR file (HDF5) as a multi-spike LIF network for the chip.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The `.nir` file.
    file: PathBuf,
    /// The Euler step, in the time unit of the graph's `tau`s (NIR is continuous-time: the
    /// step the model was trained with).
    #[arg(long)]
    dt: f64,
    /// Timesteps per sample.
    #[arg(long, default_value_t = 32)]
    steps: u32,
    /// Width of the integer weights (the chip's `core.weight_bits` must be at least this).
    #[arg(long, default_value_t = 8)]
    weight_bits: u8,
    /// The reset after a spike.
    #[arg(long, value_enum, default_value = "nir")]
    reset: ResetArg,
    /// Whose conventions the file's neuron parameters follow.
    #[arg(long, value_enum, default_value = "nir")]
    convention: ConventionArg,
    /// Compare the quantised network with the float per-step model on this data set's test
    /// images (rate-coded): `digits`, `mnist:DIR` or `fashion:DIR`; also prints both
    /// accuracies.
    #[arg(long)]
    dataset: Option<String>,
    /// With --dataset: only the first N test images.
    #[arg(long, requires = "dataset")]
    limit: Option<usize>,
    /// The LIF model to write (JSON).
    #[arg(short, long)]
    output: PathBuf,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let graph = mapper::read_nir(&args.file)?;
    let opts = ImportOptions {
        dt: args.dt,
        steps: args.steps,
        weight_bits: args.weight_bits,
        reset: match args.reset {
            ResetArg::Nir => None,
            ResetArg::Subtract => Some(LifReset::Subtract),
            ResetArg::SubtractNext => Some(LifReset::SubtractNext),
        },
        encoding: Some(RateCode::Regular),
        convention: match args.convention {
            ConventionArg::Nir => Convention::Nir,
            ConventionArg::Norse => Convention::Norse,
        },
    };
    let source = args.file.display().to_string();
    // The importer's errors name the file and the node.
    let imported = lower_nir(&graph, &source, &opts)?;
    let net = &imported.network;
    say!(
        "{source}: nir {}, {} inputs, {} layers, {} steps per sample, dt = {}{}",
        if graph.version.is_empty() {
            "(no version)"
        } else {
            &graph.version
        },
        net.inputs,
        net.layers.len(),
        net.steps,
        args.dt,
        match opts.convention {
            Convention::Nir => "",
            Convention::Norse => " (Norse's conventions)",
        }
    );
    say!(
        "{:<24} {:<8} {:>11} {:>9} {:>9} {:>7} {:>9} {:>10} {:>12}",
        "layer",
        "neuron",
        "size",
        "du",
        "dv",
        "vth",
        "reset",
        "max |w|",
        "rounding err"
    );
    for (l, q) in net.layers.iter().zip(&imported.layers) {
        say!(
            "{:<24} {:<8} {:>11} {:>9} {:>9} {:>7} {:>9} {:>10} {:>11.2}%{}",
            q.name,
            q.neuron_kind,
            if l.is_recurrent() {
                format!("{}x{}+rec", l.outputs, l.inputs)
            } else {
                format!("{}x{}", l.outputs, l.inputs)
            },
            decay_column(l, q.du, |j| l.decays(j).0),
            decay_column(l, q.dv, |j| l.decays(j).1),
            if q.vth == NEVER_FIRES {
                "never".to_string()
            } else {
                q.vth.to_string()
            },
            if q.vth == NEVER_FIRES {
                "-".to_string()
            } else {
                format!("{:?}", l.neuron.reset)
            },
            l.weights
                .iter()
                .chain(&l.recurrent)
                .map(|w| w.unsigned_abs())
                .max()
                .unwrap_or(0),
            100.0 * q.max_weight_error,
            if q.zeroed_weights > 0 {
                format!(" ({} weights rounded to 0)", q.zeroed_weights)
            } else {
                String::new()
            }
        );
    }
    for l in net.layers.iter().filter(|l| !l.input_delays.is_empty()) {
        let lo = l.input_delays.iter().copied().min().unwrap_or(0);
        say!(
            "input delays of {}: {lo}-{} steps (Delay nodes; the chip needs core.delay_slots >= {})",
            l.name,
            l.max_input_delay(),
            u16::from(l.max_input_delay()) + 1
        );
    }
    if imported.layers.iter().any(|q| q.per_neuron_decays) {
        say!("(a decay range lo-hi: the layer's neurons have their own time constants, one decay each)");
    }
    if net.readout == Readout::FinalVoltage {
        say!(
            "read-out: the output layer is a leaky integrator; the class is the neuron with the highest voltage after the last step (chip voltage = 64 x {} x the NIR voltage)",
            imported.layers.last().map_or(0, |q| q.scale)
        );
    }
    if let Some(ds) = &args.dataset {
        let set = &test_images(ds, net.inputs)?;
        let n = set.len().min(args.limit.unwrap_or(usize::MAX));
        let pb = progress_bar(n, "compare");
        // (chip correct, float correct, same class, |count difference| sum, float correct
        // with the framework's timing); sums, so the figures do not depend on the number of
        // threads.
        let (chip_ok, float_ok, same, diff, framework_ok) = (0..n)
            .into_par_iter()
            .map(|k| {
                let spikes = RateCode::Regular.encode(set.image(k), net.steps);
                let chip = net.forward(&spikes);
                let float = euler_forward(&imported.float, net.inputs as usize, &spikes, net.steps);
                let fc = float.class(net.readout);
                let framework = euler_forward_timed(
                    &imported.float,
                    net.inputs as usize,
                    &spikes,
                    net.steps,
                    LayerTiming::SameStep,
                )
                .class(net.readout);
                pb.inc(1);
                let d: u64 = chip
                    .output_counts
                    .iter()
                    .zip(&float.counts)
                    .map(|(&a, &b)| u64::from(a.abs_diff(b)))
                    .sum();
                (
                    usize::from(chip.class == set.label(k)),
                    usize::from(fc == set.label(k)),
                    usize::from(fc == chip.class),
                    d,
                    usize::from(framework == set.label(k)),
                )
            })
            .reduce(
                || (0, 0, 0, 0, 0),
                |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3, a.4 + b.4),
            );
        pb.finish_and_clear();
        let pct = |x: usize| 100.0 * x as f64 / n.max(1) as f64;
        say!(
            "{} ({n} images, regular rate code): quantised (chip) model {:.2} %, float per-step model {:.2} %; same class on {same}/{n}; output spike counts differ by {:.3} spikes per image on average",
            set.name,
            pct(chip_ok),
            pct(float_ok),
            diff as f64 / n.max(1) as f64
        );
        say!(
            "  the float model with the framework's timing (a layer's spikes reach the next layer in the same step, where the chip adds a step): {:.2} %",
            pct(framework_ok)
        );
    }
    net.save(&args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    say!("wrote {}", args.output.display());
    Ok(())
}

/// A decay for the layer table: the layer's value, or `lo-hi` over its neurons when they have
/// their own.
fn decay_column(layer: &model::lif::LifLayer, shared: u16, of: impl Fn(usize) -> u16) -> String {
    if !layer.has_per_neuron_decays() {
        return shared.to_string();
    }
    let all: Vec<u16> = (0..layer.outputs as usize).map(of).collect();
    let (lo, hi) = (
        all.iter().copied().min().unwrap_or(shared),
        all.iter().copied().max().unwrap_or(shared),
    );
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// The test images of `--dataset DS` for a network of `inputs` inputs (an image must have one
/// pixel per input).
pub(super) fn test_images(ds: &str, inputs: u32) -> anyhow::Result<model::data::Dataset> {
    let spec: DatasetSpec = ds.parse()?;
    let set = spec.load()?.test;
    if set.image_len() != inputs as usize {
        bail!(
            "--dataset {ds}: images have {} pixels, the network {inputs} inputs",
            set.image_len()
        );
    }
    Ok(set)
}
