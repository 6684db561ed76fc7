//! `spikemesh netx`: import a Lava-DL network (netx `.net`, as SLAYER's `export_hdf5` writes
//! it) as a chip LIF network that runs as Lava runs it, bit for bit; print each layer's
//! fields; with `--dataset`, its accuracy; write the model `spikemesh map` / `run` / `eval`
//! take.

use super::run::{progress_bar, say};
use anyhow::Context;
use model::lif::RateCode;
use rayon::prelude::*;
use std::path::PathBuf;

/// Import a Lava-DL netx file (HDF5) as a multi-spike LIF network for the chip.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The `.net` file.
    file: PathBuf,
    /// Timesteps per sample (the chip's step `t` is Lava's step `t + 1`: Lava's first
    /// `Dense` delays the input spikes by one step).
    #[arg(long, default_value_t = 32)]
    steps: u32,
    /// Evaluate the imported network on this data set's test images (rate-coded): `digits`,
    /// `mnist:DIR` or `fashion:DIR`.
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
    let netx = mapper::read_netx(&args.file)?;
    let source = args.file.display().to_string();
    let net = mapper::lower_netx(&netx, &source, args.steps, Some(RateCode::Regular))?;
    say!(
        "{source}: Lava-DL netx, {} inputs, {} layers, {} steps per sample; Lava's LIF and Dense, bit for bit",
        net.inputs,
        net.layers.len(),
        net.steps
    );
    say!(
        "{:<10} {:>9} {:>6} {:>6} {:>7} {:>9} {:>8} {:>6} {:>10}",
        "layer",
        "size",
        "du",
        "dv",
        "vth",
        "w bits",
        "max |w|",
        "bias",
        "delays"
    );
    for l in &net.layers {
        say!(
            "{:<10} {:>9} {:>6} {:>6} {:>7} {:>9} {:>8} {:>6} {:>10}",
            l.name,
            format!("{}x{}", l.outputs, l.inputs),
            l.neuron.du,
            l.neuron.dv,
            l.neuron.vth,
            l.weight_bits,
            l.weights
                .iter()
                .chain(&l.recurrent)
                .map(|w| w.unsigned_abs())
                .max()
                .unwrap_or(0),
            if l.bias_mant.iter().any(|&m| m != 0) {
                "yes"
            } else {
                "no"
            },
            match l.max_input_delay() {
                0 => "none".to_string(),
                d => format!("0..={d}"),
            }
        );
    }
    if net
        .layers
        .iter()
        .any(|l| l.bias_mant.iter().any(|&m| m != 0))
    {
        say!(
            "note: the network has biases; a fresh Lava run also integrates them in its extra first step (its step t + 1 is the chip's t), so compare with Lava's state after that step"
        );
    }
    if let Some(ds) = &args.dataset {
        let set = &super::nir::test_images(ds, net.inputs)?;
        let n = set.len().min(args.limit.unwrap_or(usize::MAX));
        let pb = progress_bar(n, "evaluate");
        let correct: usize = (0..n)
            .into_par_iter()
            .map(|k| {
                let spikes = RateCode::Regular.encode(set.image(k), net.steps);
                pb.inc(1);
                usize::from(net.forward(&spikes).class == set.label(k))
            })
            .sum();
        pb.finish_and_clear();
        say!(
            "{} ({n} images, regular rate code): {:.2} % ({correct}/{n})",
            set.name,
            100.0 * correct as f64 / n.max(1) as f64
        );
    }
    net.save(&args.output)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    say!("wrote {}", args.output.display());
    Ok(())
}
