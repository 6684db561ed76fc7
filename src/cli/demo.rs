//! `spikemesh demo`: the whole path on the embedded 8×8 digits with nothing but the binary —
//! train a binary (BS4NN) network on the host, map it onto the default chip (optimised and
//! naive placement), run the test set cycle-accurately, check every sample against the golden
//! model, and report accuracy, cycles, spike-ops and energy under both built-in profiles.

use super::run::{
    energy_per_inference, figures, infer, print_energy, print_figures, progress_bar, say,
    InferenceSetup, Workload,
};
use anyhow::{bail, Context};
use isa::chip::ChipDescription;
use mapper::{MapOptions, PlacementKind};
use model::train::{TrainConfig, Trainer};
use model::GoldenNetwork;
use sim::chip::StopRule;
use sim::energy::{CostProfile, BUILTIN_PROFILES};
use std::path::PathBuf;
use std::time::Instant;

/// Train, map and run a binary network on the embedded digits, checking the chip against the
/// golden model (the README's main command).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Training epochs.
    #[arg(long, default_value_t = 60)]
    epochs: usize,
    /// Seed of training and placement.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the model (model.json), the chip image (net.img) and the mapping report
    /// (map.json) into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let data = model::data::digits()?;
    let (h, w) = (data.train.height, data.train.width);

    // 1. Train on the host: the digits recipe (`TrainConfig::bs4nn_digits`), its annealing over
    // the last third of however many epochs were asked for.
    let mut cfg = TrainConfig::bs4nn_digits(args.seed);
    cfg.lr_decay_from = args.epochs * 2 / 3;
    let arch = cfg.arch.clone();
    let t_max = cfg.t_max;
    let mut trainer = Trainer::new(cfg).context("cannot start training")?;
    say!(
        "1. training BS4NN {} on {} ({} train / {} test images), t_max {t_max}, seed {}, {} epochs",
        arch.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("-"),
        data.train.name,
        data.train.len(),
        data.test.len(),
        args.seed,
        args.epochs
    );
    let pb = progress_bar(data.train.len() * args.epochs, "train");
    for epoch in 0..args.epochs {
        let base = (epoch * data.train.len()) as u64;
        let rep = trainer.train_epoch(&data.train, |p| {
            if p.done % 128 == 0 || p.done == p.total {
                pb.set_position(base + p.done as u64);
            }
        })?;
        pb.set_message(format!(
            "epoch {} train acc {:.1} %",
            epoch + 1,
            100.0 * rep.train_accuracy
        ));
    }
    pb.finish_and_clear();
    let net = trainer.export(h, w);
    let golden = GoldenNetwork::new(&net).context("the trained network does not compile")?;
    let encoder = trainer.encoder();
    say!(
        "   trained in {:.1} s: host (golden model) test accuracy {:.2} %",
        started.elapsed().as_secs_f64(),
        100.0 * trainer.evaluate(&data.test)?
    );

    // 2. Map onto the default chip, both placements.
    let chip = ChipDescription::default();
    let opts = |placement| MapOptions {
        placement,
        anneal: mapper::place::AnnealOptions {
            seed: args.seed,
            ..Default::default()
        },
        ..MapOptions::default()
    };
    let optimised = mapper::map(&net, &chip, &opts(PlacementKind::Optimised))
        .context("cannot map the demo network onto the default chip")?;
    let naive = mapper::map(&net, &chip, &opts(PlacementKind::Naive))
        .context("cannot map the demo network onto the default chip")?;
    say!("2. mapping onto the default chip");
    super::map::print_report(&optimised.report, &chip)?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        net.save(&dir.join("model.json"))?;
        optimised.image.save(&dir.join("net.img"))?;
        let json = serde_json::to_string_pretty(&optimised.report)?;
        sim::report::write_file(&dir.join("map.json"), "mapping report", json.as_bytes())?;
        say!(
            "   wrote model.json, net.img and map.json into {}",
            dir.display()
        );
    }

    // 3. Run the test set cycle-accurately, both placements, checked against the golden model.
    say!(
        "3. running {} test images cycle-accurately (stop at the first output spike), checking every sample against the golden model",
        data.test.len()
    );
    let mut results = Vec::new();
    for (name, mapping) in [("optimised", &optimised), ("naive", &naive)] {
        let setup = InferenceSetup {
            image: &mapping.image,
            workload: Workload::Ttfs {
                encoder,
                golden: Some(&golden),
            },
            stop: StopRule::FirstOutput,
            raster: false,
            trace_first: false,
        };
        let pb = progress_bar(data.test.len(), name);
        let r = infer(&data.test, usize::MAX, &setup, &pb)?;
        pb.finish_and_clear();
        results.push((name, r));
    }
    let (_, r) = &results[0];
    let f = figures(r);
    let golden_acc = f.golden_accuracy.unwrap_or(0.0);
    say!(
        "   accuracy: chip {:.2} %, host {:.2} % ({}); golden agreement {}/{} samples",
        100.0 * f.accuracy,
        100.0 * golden_acc,
        if r.correct == r.golden_correct.unwrap_or(usize::MAX) {
            "equal"
        } else {
            "DIFFERENT"
        },
        r.agree,
        r.samples
    );
    if r.no_output > 0 {
        say!(
            "   {} samples had no output spike: decoded from the output potentials at t_max - fallback_offset, as the golden model does",
            r.no_output
        );
    }
    print_figures(&f)?;
    say!("   measured hops per inference by placement:");
    for (name, r) in &results {
        let t = r.tally.totals();
        let hops = (t.hops_ew + t.hops_ns) as f64 / r.samples.max(1) as f64;
        let cyc = figures(r).cycles_per_inference_mean;
        say!("     {name:<9} {hops:>8.1} hops, {cyc:>8.1} cycles per inference");
    }

    // 4. Energy under both built-in profiles.
    say!("4. energy estimate (optimised placement)");
    for name in BUILTIN_PROFILES {
        let profile = CostProfile::resolve(name)?;
        print_energy(
            &energy_per_inference(r, &profile, chip.clock.frequency_mhz),
            false,
        )?;
    }
    say!("done in {:.1} s", started.elapsed().as_secs_f64());
    for (name, r) in &results {
        if let Some(m) = &r.mismatch {
            bail!(
                "{name} placement: the chip disagrees with the golden model on {} samples; first: sample {}: {}",
                r.samples - r.agree,
                m.sample,
                m.detail
            );
        }
    }
    Ok(())
}
