//! `spikemesh map`: a model mapped onto a chip — the chip image, a per-core utilisation table
//! and the estimated spike traffic of the optimised and the naive placement.

use super::run::{say, ModelFile};
use anyhow::{bail, Context};
use isa::chip::ChipDescription;
use mapper::place::AnnealOptions;
use mapper::{MapOptions, MapReport, PlacementKind};
use model::network::LayerKind;
use model::onchip::{Normalisation, OnChipRule};
use model::Network;
use std::path::PathBuf;

/// The placement on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum PlacementArg {
    /// Greedy construction refined by simulated annealing (fewest packet-hops).
    Optimised,
    /// Partition i on tile i, row-major.
    Naive,
}

/// Map a model onto a chip: write the chip image, print per-core utilisation and the
/// estimated traffic (optimised vs naive placement).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model file: a single-spike network (JSON or bincode, e.g. from `spikemesh train`)
    /// or a multi-spike LIF network (JSON, from `spikemesh nir`; its cores run the LIF-reset
    /// firmware).
    model: PathBuf,
    /// The chip description (TOML) [the default 4x4 chip, `spikemesh chip default`].
    #[arg(long)]
    chip: Option<PathBuf>,
    /// The chip image to write.
    #[arg(short, long)]
    output: PathBuf,
    /// Also write the mapping report as JSON.
    #[arg(long)]
    report: Option<PathBuf>,
    /// The placement the image uses.
    #[arg(long, value_enum, default_value = "optimised")]
    placement: PlacementArg,
    /// Seed of the placement annealer.
    #[arg(long, default_value_t = AnnealOptions::default().seed)]
    seed: u64,
    /// Emit the image for on-chip learning (`spikemesh learn`): every core runs the learning
    /// firmware and holds latent weights (dense binary or latent-weight layers of the S4NN
    /// neuron, the output layer on one core; rule of `docs/LEARNING.md`).
    #[arg(long)]
    learning: bool,
    /// With --learning: the target margin γ of the rule [3].
    #[arg(long, requires = "learning")]
    gamma: Option<u16>,
    /// With --learning: the learning-rate multiplier η, one value for every weighted layer or
    /// one per layer, input side first (0 freezes a layer) [1].
    #[arg(long, value_delimiter = ',', requires = "learning")]
    eta: Vec<i32>,
    /// With --learning: the latent value of a start weight of ±1 [1024].
    #[arg(long, requires = "learning")]
    init_magnitude: Option<i32>,
    /// With --learning: over which neurons a hidden layer's errors are L2-normalised [layer].
    #[arg(long, value_enum, requires = "learning")]
    normalisation: Option<NormalisationArg>,
}

/// The hidden-error normalisation on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum NormalisationArg {
    /// The whole layer (S4NN; a hidden layer must then fit one core).
    Layer,
    /// Each core's chunk of the layer (no cross-core traffic).
    Core,
}

/// The on-chip learning rule of `--learning` and its options: `OnChipRule::s4nn` for the
/// network's weighted layers, the latent width of the chip, and the options given.
fn learning_rule(
    args: &Args,
    net: &Network,
    chip: &ChipDescription,
) -> anyhow::Result<Option<OnChipRule>> {
    if !args.learning {
        return Ok(None);
    }
    let layers = net
        .layers
        .iter()
        .filter(|l| matches!(l.kind, LayerKind::Dense(_) | LayerKind::Conv2d(_)))
        .count();
    let mut rule = OnChipRule::s4nn(layers);
    rule.latent_bits = u32::from(chip.core.latent_weight_bits);
    if let Some(g) = args.gamma {
        if g >= net.t_max {
            bail!(
                "--gamma {g} must be below the model's t_max = {}",
                net.t_max
            );
        }
        rule.gamma = g;
    }
    match args.eta.len() {
        0 => {}
        1 => rule.eta = vec![args.eta[0]; layers],
        n if n == layers => rule.eta.clone_from(&args.eta),
        n => bail!("--eta: give one value or one per weighted layer ({layers}), not {n}"),
    }
    if let Some(m) = args.init_magnitude {
        rule.init_magnitude = m;
    }
    if let Some(n) = args.normalisation {
        rule.normalisation = match n {
            NormalisationArg::Layer => Normalisation::Layer,
            NormalisationArg::Core => Normalisation::Core,
        };
    }
    Ok(Some(rule))
}

/// Prints the utilisation table and the traffic comparison of a mapping report.
pub(crate) fn print_report(r: &MapReport, chip: &ChipDescription) -> anyhow::Result<()> {
    let c = &chip.core;
    say!(
        "{}x{} mesh, {} cores used; capacities per core: {} neurons, {} axons, {} synapse bits, {} fan-out entries",
        r.mesh_width,
        r.mesh_height,
        r.cores.len(),
        c.neurons,
        c.axons,
        c.synapse_bits,
        c.fanout_entries
    );
    say!(
        "{:>5} {:>5} {:<12} {:>12} {:>13} {:>20} {:>15}",
        "tile",
        "x,y",
        "layer",
        "neurons",
        "axons",
        "synapse bits",
        "fan-out"
    );
    for core in &r.cores {
        let [n, a, s, f] = core.utilisation.map(|u| 100.0 * u);
        say!(
            "{:>5} {:>5} {:<12} {:>5} {:>5.1}% {:>5} {:>5.1}% {:>11} {:>6.1}% {:>6} {:>6.1}%",
            core.tile,
            format!("{},{}", core.x, core.y),
            core.layer,
            core.neurons,
            n,
            core.axons,
            a,
            core.synapse_bits,
            s,
            core.fanout_entries,
            f
        );
    }
    say!("estimated traffic per inference (every neuron and input spiking once):");
    for (name, fig, chosen) in [
        (
            "optimised",
            &r.optimised,
            r.placement == PlacementKind::Optimised,
        ),
        ("naive", &r.naive, r.placement == PlacementKind::Naive),
    ] {
        say!(
            "  {name:<9} {:>10.0} packets {:>12.0} packet-hops {:>6.3} average hops{}",
            fig.packets,
            fig.packet_hops,
            fig.average_hops,
            if chosen { "  (in the image)" } else { "" }
        );
    }
    if r.naive.packet_hops > 0.0 {
        say!(
            "  optimised placement: {:.1} % fewer packet-hops than naive",
            100.0 * (1.0 - r.optimised.packet_hops / r.naive.packet_hops)
        );
    }
    Ok(())
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let model = ModelFile::load(&args.model)?;
    let chip = match &args.chip {
        Some(p) => ChipDescription::load(p)?,
        None => ChipDescription::default(),
    };
    let opts = MapOptions {
        placement: match args.placement {
            PlacementArg::Optimised => PlacementKind::Optimised,
            PlacementArg::Naive => PlacementKind::Naive,
        },
        anneal: AnnealOptions {
            seed: args.seed,
            ..AnnealOptions::default()
        },
        learning: match &model {
            ModelFile::Ttfs(net) => learning_rule(&args, net, &chip)?,
            ModelFile::Lif(_) if args.learning => bail!(
                "--learning: {} is a multi-spike LIF network; the learning kernels train TTFS networks",
                args.model.display()
            ),
            ModelFile::Lif(_) => None,
        },
        ..MapOptions::default()
    };
    let mapped = match &model {
        ModelFile::Ttfs(net) => mapper::map(net, &chip, &opts),
        ModelFile::Lif(net) => mapper::map_lif(net, &chip, &opts),
    };
    let mapping = mapped.with_context(|| {
        format!(
            "cannot map {} onto {}",
            args.model.display(),
            args.chip
                .as_ref()
                .map_or("the default chip".to_string(), |p| p.display().to_string())
        )
    })?;
    print_report(&mapping.report, &chip)?;
    mapping.image.save(&args.output)?;
    say!("wrote {}", args.output.display());
    if let Some(path) = &args.report {
        let json = serde_json::to_string_pretty(&mapping.report)?;
        sim::report::write_file(path, "mapping report", json.as_bytes())?;
        say!("wrote {}", path.display());
    }
    Ok(())
}
