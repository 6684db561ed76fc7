//! `spikemesh explore`: a design-space sweep — one model mapped and run on every chip of a
//! grid of chip-file settings (mesh size, core capacities, router buffers and virtual
//! channels, clock, cost profile, placement), each run checked against the golden model, and
//! the accuracy, cycles, traffic and energy of every point as a table, a CSV file and an SVG
//! chart of energy against cycles with the Pareto front.
//!
//! Points run in parallel (each on its own chip); the results are collected in grid order
//! and contain no wall-clock figures, so the CSV is the same for any number of threads.

use super::chart::{tick_step, xml_escape, Frame};
use super::map::PlacementArg;
use super::run::{
    energy_per_inference, figures, infer, progress_bar, say, InferenceSetup, ModelFile, RunFigures,
    Workload,
};
use anyhow::{bail, Context};
use indicatif::ProgressBar;
use isa::chip::ChipDescription;
use mapper::place::AnnealOptions;
use mapper::{MapOptions, PlacementKind};
use model::lif::LifNetwork;
use model::{DatasetSpec, EncodingRule, GoldenNetwork, LatencyEncoder};
use rayon::prelude::*;
use sim::chip::StopRule;
use sim::energy::CostProfile;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Most grid points one sweep runs (a guard against a typo multiplying axes).
const MAX_POINTS: usize = 4096;

/// Map and run one model on every chip of a grid of settings: accuracy, cycles, traffic and
/// energy per point, with the Pareto front of energy against cycles.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model file (single-spike TTFS or multi-spike LIF network).
    model: PathBuf,
    /// An axis of the grid: a chip-file key and its values, e.g. `router.buffer_depth=2,4,8`,
    /// `core.neurons=64,128,256`, `energy.profile=loihi-datasheet,loihi-calibrated`; also
    /// `mesh=2x2,4x4` (width and height), `placement=optimised,naive`, and for a multi-spike
    /// LIF model `steps=8,16,32` (its window). Repeat for more axes; the grid is every
    /// combination, the first axis varying slowest.
    #[arg(long = "vary", value_name = "KEY=V1,V2,…", required = true)]
    vary: Vec<String>,
    /// The chip every point starts from (TOML) [the default 4x4 chip].
    #[arg(long)]
    chip: Option<PathBuf>,
    /// Data set: `digits`, `mnist:DIR` or `fashion:DIR` (its test split).
    #[arg(long, default_value = "digits")]
    dataset: String,
    /// Run only the first N test samples at each point.
    #[arg(long)]
    limit: Option<usize>,
    /// TTFS models: run every sample's whole window instead of stopping at the first output
    /// spike (LIF models always run their whole window).
    #[arg(long)]
    full_window: bool,
    /// Placement, unless an axis varies it.
    #[arg(long, value_enum, default_value = "optimised")]
    placement: PlacementArg,
    /// Seed of the placement annealer.
    #[arg(long, default_value_t = AnnealOptions::default().seed)]
    seed: u64,
    /// Where the CSV (one row per point) is written.
    #[arg(long, default_value = "explore.csv")]
    csv: PathBuf,
    /// Where the SVG chart (energy against cycles per inference, Pareto front) is written.
    #[arg(long, default_value = "explore.svg")]
    plot: PathBuf,
}

/// One value of an axis: the chip-file keys it sets (two for `mesh`), the placement, or the
/// timesteps of a multi-spike LIF model.
#[derive(Clone, Debug, PartialEq)]
struct AxisValue {
    /// The value as written on the command line (table and CSV cell, chart label).
    label: String,
    /// Chip-file settings, `(key, value)`.
    settings: Vec<(String, String)>,
    /// The placement, on a `placement` axis.
    placement: Option<PlacementKind>,
    /// A LIF model's timesteps per sample, on a `steps` axis.
    steps: Option<u32>,
}

/// One `--vary` axis.
#[derive(Clone, Debug, PartialEq)]
struct Axis {
    /// The key as given (`router.buffer_depth`, `mesh`, `placement`).
    key: String,
    values: Vec<AxisValue>,
}

impl Axis {
    /// What the axis sets: its chip-file keys, `placement` or `steps`.
    fn keys(&self) -> Vec<&str> {
        match self.values.first() {
            Some(v) if v.placement.is_some() => vec!["placement"],
            Some(v) if v.steps.is_some() => vec!["steps"],
            Some(v) => v.settings.iter().map(|(k, _)| k.as_str()).collect(),
            None => Vec::new(),
        }
    }
}

/// Parses `KEY=V1,V2,…`.
fn parse_axis(spec: &str) -> anyhow::Result<Axis> {
    let Some((key, list)) = spec.split_once('=') else {
        bail!("--vary `{spec}`: expected KEY=V1,V2,… (e.g. router.buffer_depth=2,4,8)");
    };
    let key = key.trim();
    let raw: Vec<&str> = list.split(',').map(str::trim).collect();
    if key.is_empty() || raw.iter().any(|v| v.is_empty()) {
        bail!("--vary `{spec}`: a key and one or more non-empty values are needed");
    }
    let mut values = Vec::with_capacity(raw.len());
    for v in raw {
        let value = match key {
            "mesh" => {
                let parsed = v
                    .split_once(['x', 'X'])
                    .and_then(|(w, h)| Some((w.parse::<u16>().ok()?, h.parse::<u16>().ok()?)));
                let Some((w, h)) = parsed else {
                    bail!("--vary `{spec}`: mesh value `{v}` is not WIDTHxHEIGHT (e.g. 4x4)");
                };
                AxisValue {
                    label: v.to_string(),
                    settings: vec![
                        ("mesh.width".into(), w.to_string()),
                        ("mesh.height".into(), h.to_string()),
                    ],
                    placement: None,
                    steps: None,
                }
            }
            "placement" => AxisValue {
                label: v.to_string(),
                settings: Vec::new(),
                placement: Some(match v {
                    "optimised" => PlacementKind::Optimised,
                    "naive" => PlacementKind::Naive,
                    _ => {
                        bail!("--vary `{spec}`: placement `{v}` is neither `optimised` nor `naive`")
                    }
                }),
                steps: None,
            },
            "steps" => AxisValue {
                label: v.to_string(),
                settings: Vec::new(),
                placement: None,
                steps: Some(
                    v.parse::<u32>()
                        .ok()
                        .filter(|s| (1..=model::lif::MAX_STEPS).contains(s))
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "--vary `{spec}`: steps `{v}` is not a number in 1..={}",
                                model::lif::MAX_STEPS
                            )
                        })?,
                ),
            },
            _ => AxisValue {
                label: v.to_string(),
                settings: vec![(key.to_string(), v.to_string())],
                placement: None,
                steps: None,
            },
        };
        if values.iter().any(|x: &AxisValue| x.label == value.label) {
            bail!("--vary `{spec}`: value `{v}` is given twice");
        }
        values.push(value);
    }
    Ok(Axis {
        key: key.to_string(),
        values,
    })
}

/// The grid point of every combination of the axes' values, as value indices, the first axis
/// varying slowest.
fn grid(sizes: &[usize]) -> Vec<Vec<usize>> {
    let mut points = vec![Vec::new()];
    for &n in sizes {
        points = points
            .into_iter()
            .flat_map(|p| {
                (0..n).map(move |k| {
                    let mut q = p.clone();
                    q.push(k);
                    q
                })
            })
            .collect();
    }
    points
}

/// A grid point made concrete: its chip, placement and (LIF models) timesteps.
struct Point {
    labels: Vec<String>,
    chip: ChipDescription,
    placement: PlacementKind,
    steps: Option<u32>,
}

/// What one point measured.
enum Outcome {
    /// The model does not map onto this chip (the mapper's reason).
    NotMapped(String),
    /// The run could not complete (the simulator's reason).
    Failed(String),
    /// Mapped and run.
    Ran(Box<Measured>),
}

/// The figures of a point that ran.
struct Measured {
    cores: usize,
    figures: RunFigures,
    profile: String,
    energy_j: f64,
    components: [(&'static str, f64); 6],
}

impl Measured {
    fn agrees(&self) -> bool {
        self.figures.golden_agreement == Some(self.figures.samples)
    }
}

/// Which points are not dominated in (cycles per inference, energy per inference, accuracy):
/// no other point is at most as slow, at most as costly and at least as accurate, and better
/// in one of the three. (Chip settings leave the accuracy alone, so it usually decides nothing;
/// a `steps` axis trades it.)
fn pareto(points: &[(f64, f64, f64)]) -> Vec<bool> {
    points
        .iter()
        .map(|&(c, e, a)| {
            !points
                .iter()
                .any(|&(c2, e2, a2)| c2 <= c && e2 <= e && a2 >= a && (c2 < c || e2 < e || a2 > a))
        })
        .collect()
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let axes = args
        .vary
        .iter()
        .map(|s| parse_axis(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (k, a) in axes.iter().enumerate() {
        if let Some(b) = axes[..k]
            .iter()
            .find(|b| b.keys().iter().any(|x| a.keys().contains(x)))
        {
            bail!(
                "--vary {} and --vary {} set the same key: give its values in one axis",
                b.key,
                a.key
            );
        }
    }
    let sizes: Vec<usize> = axes.iter().map(|a| a.values.len()).collect();
    let total = sizes.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
    match total {
        Some(n) if n <= MAX_POINTS => {}
        _ => bail!(
            "the grid has {} points ({}); at most {MAX_POINTS} run in one sweep",
            total.map_or("too many".to_string(), |n| n.to_string()),
            sizes
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" x ")
        ),
    }
    let base = match &args.chip {
        Some(p) => ChipDescription::load(p)?,
        None => ChipDescription::default(),
    };
    let default_placement = match args.placement {
        PlacementArg::Optimised => PlacementKind::Optimised,
        PlacementArg::Naive => PlacementKind::Naive,
    };
    // Every point's chip is built and validated before anything runs: a bad value is an
    // error up front, not a failed row after an hour.
    let mut points = Vec::new();
    for idx in grid(&sizes) {
        let mut chip = base.clone();
        let mut placement = default_placement;
        let mut steps = None;
        let mut labels = Vec::with_capacity(axes.len());
        for (a, &k) in axes.iter().zip(&idx) {
            let v = &a.values[k];
            for (key, value) in &v.settings {
                chip = chip.with_setting(key, value, &format!("--vary {}={}", a.key, v.label))?;
            }
            if let Some(p) = v.placement {
                placement = p;
            }
            steps = v.steps.or(steps);
            labels.push(v.label.clone());
        }
        CostProfile::resolve(&chip.energy.profile).with_context(|| {
            format!(
                "point {}: energy.profile `{}`",
                labels.join(", "),
                chip.energy.profile
            )
        })?;
        points.push(Point {
            labels,
            chip,
            placement,
            steps,
        });
    }

    let model = ModelFile::load(&args.model)?;
    let spec: DatasetSpec = args.dataset.parse()?;
    let data = spec.load()?;
    let set = &data.test;
    let limit = args.limit.unwrap_or(usize::MAX);
    let golden = match &model {
        ModelFile::Ttfs(net) => Some(
            GoldenNetwork::new(net).context("cannot compile the model's golden forward pass")?,
        ),
        ModelFile::Lif(_) => None,
    };
    match &model {
        ModelFile::Ttfs(_) if axes.iter().any(|a| a.keys() == ["steps"]) => bail!(
            "--vary steps=…: {} is a single-spike (TTFS) model, whose window t_max is part of \
             its training; steps vary the window of multi-spike LIF models",
            args.model.display()
        ),
        ModelFile::Lif(net) if net.encoding.is_none() => {
            bail!("the LIF model records no input rate code (`encoding`): it cannot run on images")
        }
        _ => {}
    }
    let stop = if args.full_window {
        StopRule::FullWindow
    } else {
        StopRule::FirstOutput
    };
    let samples = set.len().min(limit);
    say!(
        "{}: {} points ({}), {} samples of {} each; every run checked against the golden model",
        args.model.display(),
        points.len(),
        axes.iter()
            .map(|a| format!("{} × {}", a.values.len(), a.key))
            .collect::<Vec<_>>()
            .join(", "),
        samples,
        set.name
    );
    let pb = progress_bar(points.len(), "explore");
    let outcomes: Vec<Outcome> = points
        .par_iter()
        .map(|p| {
            let out = run_point(p, &model, golden.as_ref(), &args, set, limit, stop);
            pb.inc(1);
            out
        })
        .collect();
    pb.finish_and_clear();

    let measured: Vec<(usize, &Measured)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(k, o)| match o {
            Outcome::Ran(m) => Some((k, &**m)),
            _ => None,
        })
        .collect();
    let front = pareto(
        &measured
            .iter()
            .map(|(_, m)| {
                (
                    m.figures.cycles_per_inference_mean,
                    m.energy_j,
                    m.figures.accuracy,
                )
            })
            .collect::<Vec<_>>(),
    );
    let mut on_front = vec![false; points.len()];
    for ((k, _), &f) in measured.iter().zip(&front) {
        on_front[*k] = f;
    }

    print_table(&axes, &points, &outcomes, &on_front)?;
    isa::output::write_atomic(
        &args.csv,
        csv(&axes, &points, &outcomes, &on_front).as_bytes(),
    )
    .with_context(|| format!("{}: cannot write the CSV", args.csv.display()))?;
    isa::output::write_atomic(
        &args.plot,
        svg(&args, &axes, &points, &outcomes, &on_front).as_bytes(),
    )
    .with_context(|| format!("{}: cannot write the chart", args.plot.display()))?;
    say!(
        "wrote {} and {} (* = Pareto front of cycles, energy per inference and accuracy)",
        args.csv.display(),
        args.plot.display()
    );
    let failed: Vec<String> = points
        .iter()
        .zip(&outcomes)
        .filter_map(|(p, o)| match o {
            Outcome::Failed(e) => Some(format!("{}: {e}", p.labels.join(", "))),
            Outcome::Ran(m) if !m.agrees() => Some(format!(
                "{}: the chip disagrees with the golden model on {} of {} samples{}",
                p.labels.join(", "),
                m.figures.samples - m.figures.golden_agreement.unwrap_or(0),
                m.figures.samples,
                m.figures
                    .first_mismatch
                    .as_ref()
                    .map_or(String::new(), |x| format!(
                        "; first: sample {}: {}",
                        x.sample, x.detail
                    ))
            )),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} points failed:\n  {}",
            failed.len(),
            points.len(),
            failed.join("\n  ")
        );
    }
    Ok(())
}

/// Maps and runs one point.
fn run_point(
    p: &Point,
    model: &ModelFile,
    golden: Option<&GoldenNetwork>,
    args: &Args,
    set: &model::Dataset,
    limit: usize,
    stop: StopRule,
) -> Outcome {
    let opts = MapOptions {
        placement: p.placement,
        anneal: AnnealOptions {
            seed: args.seed,
            ..AnnealOptions::default()
        },
        ..MapOptions::default()
    };
    // A `steps` axis runs a LIF model over another window (same weights and neurons).
    let lif;
    let (workload, mapped) = match model {
        ModelFile::Lif(net) => {
            lif = LifNetwork {
                steps: p.steps.unwrap_or(net.steps),
                ..net.clone()
            };
            (Workload::Lif(&lif), mapper::map_lif(&lif, &p.chip, &opts))
        }
        ModelFile::Ttfs(net) => (
            Workload::Ttfs {
                encoder: LatencyEncoder {
                    rule: net.encoding.unwrap_or(EncodingRule::S4nn),
                    t_max: net.t_max,
                },
                golden,
            },
            mapper::map(net, &p.chip, &opts),
        ),
    };
    let mapping = match mapped {
        Ok(m) => m,
        Err(e) => return Outcome::NotMapped(e.to_string()),
    };
    let setup = InferenceSetup {
        image: &mapping.image,
        workload,
        stop,
        raster: false,
        trace_first: false,
    };
    let r = match infer(set, limit, &setup, &ProgressBar::hidden()) {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(format!("{e:#}")),
    };
    let profile = match CostProfile::resolve(&p.chip.energy.profile) {
        Ok(pr) => pr,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let e = energy_per_inference(&r, &profile, p.chip.clock.frequency_mhz);
    Outcome::Ran(Box::new(Measured {
        cores: mapping.image.cores.len(),
        figures: figures(&r),
        profile: e.profile,
        energy_j: e.total_j,
        components: e.components.components(),
    }))
}

/// Prints one row per point.
fn print_table(
    axes: &[Axis],
    points: &[Point],
    outcomes: &[Outcome],
    front: &[bool],
) -> anyhow::Result<()> {
    let widths: Vec<usize> = axes
        .iter()
        .map(|a| {
            a.values
                .iter()
                .map(|v| v.label.len())
                .chain([a.key.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut head = String::new();
    for (a, w) in axes.iter().zip(&widths) {
        let _ = write!(head, "{:<w$}  ", a.key);
    }
    say!(
        "{head}{:>5} {:>10} {:>9} {:>9} {:>9} {:>12} {:>8} {:>9}",
        "cores",
        "cyc/inf",
        "step max",
        "hops/inf",
        "link max",
        "nJ/inf",
        "acc %",
        "golden"
    );
    for ((p, o), &star) in points.iter().zip(outcomes).zip(front) {
        let mut row = String::new();
        for (l, w) in p.labels.iter().zip(&widths) {
            let _ = write!(row, "{l:<w$}  ");
        }
        match o {
            Outcome::NotMapped(e) => say!("{row}does not map: {e}"),
            Outcome::Failed(e) => say!("{row}run failed: {e}"),
            Outcome::Ran(m) => {
                let f = &m.figures;
                let e = &f.events_per_inference;
                say!(
                    "{row}{:>5} {:>10.1} {:>9.0} {:>9.1} {:>9.5} {:>12.3} {:>8.2} {:>9}{}",
                    m.cores,
                    f.cycles_per_inference_mean,
                    f.cycles_per_timestep_max,
                    e.hops_ew + e.hops_ns,
                    f.link_utilisation_max,
                    m.energy_j * 1e9,
                    100.0 * f.accuracy,
                    format!("{}/{}", f.golden_agreement.unwrap_or(0), f.samples),
                    if star { " *" } else { "" }
                );
            }
        }
    }
    Ok(())
}

/// Quotes a CSV field when it needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV: the axes' values, the status (`ran`, `not-mapped`, `failed`) and its detail, then
/// the figures (empty cells when the point did not run) and whether it is on the Pareto front.
fn csv(axes: &[Axis], points: &[Point], outcomes: &[Outcome], front: &[bool]) -> String {
    let mut header: Vec<String> = axes.iter().map(|a| a.key.clone()).collect();
    header.extend(
        [
            "status",
            "detail",
            "cores",
            "samples",
            "accuracy",
            "golden_agreement",
            "timesteps_mean",
            "cycles_per_inference_mean",
            "cycles_per_inference_max",
            "cycles_per_timestep_mean",
            "cycles_per_timestep_max",
            "synaptic_ops_per_inference",
            "neuron_updates_per_inference",
            "packets_per_inference",
            "hops_per_inference",
            "link_utilisation_max",
            "link_utilisation_mean",
            "energy_profile",
            "energy_per_inference_j",
        ]
        .map(String::from),
    );
    let components = sim::energy::EnergyBreakdown::default().components();
    header.extend(
        components
            .iter()
            .map(|(name, _)| format!("energy_{}_j", name.replace(' ', "_"))),
    );
    header.push("pareto".into());
    let mut s = String::new();
    let mut line = |cells: Vec<String>| {
        let mut cells: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
        cells.resize(header.len(), String::new());
        s.push_str(&cells.join(","));
        s.push('\n');
    };
    line(header.clone());
    for ((p, o), &star) in points.iter().zip(outcomes).zip(front) {
        let mut cells = p.labels.clone();
        match o {
            Outcome::NotMapped(e) => cells.extend(["not-mapped".into(), e.clone()]),
            Outcome::Failed(e) => cells.extend(["failed".into(), e.clone()]),
            Outcome::Ran(m) => {
                let f = &m.figures;
                let e = &f.events_per_inference;
                cells.extend(["ran".into(), String::new()]);
                cells.extend(
                    [
                        m.cores as f64,
                        f.samples as f64,
                        f.accuracy,
                        f.golden_agreement.unwrap_or(0) as f64,
                        f.timesteps_mean,
                        f.cycles_per_inference_mean,
                        f.cycles_per_inference_max,
                        f.cycles_per_timestep_mean,
                        f.cycles_per_timestep_max,
                        e.synaptic_ops,
                        e.neuron_updates,
                        f.packets_per_inference,
                        e.hops_ew + e.hops_ns,
                        f.link_utilisation_max,
                        f.link_utilisation_mean,
                    ]
                    .map(|v| v.to_string()),
                );
                cells.push(m.profile.clone());
                cells.push(format!("{:e}", m.energy_j));
                cells.extend(m.components.iter().map(|(_, j)| format!("{j:e}")));
                cells.push(star.to_string());
            }
        }
        line(cells);
    }
    s
}

/// The chart: energy per inference against cycles per inference, one dot per point that ran
/// (labelled with its axis values), the Pareto front joined and drawn in red.
fn svg(
    args: &Args,
    axes: &[Axis],
    points: &[Point],
    outcomes: &[Outcome],
    front: &[bool],
) -> String {
    // (point, cycles, nJ, accuracy) of every point that ran.
    let ran: Vec<(usize, f64, f64, f64)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(k, o)| match o {
            Outcome::Ran(m) => Some((
                k,
                m.figures.cycles_per_inference_mean,
                m.energy_j * 1e9,
                m.figures.accuracy,
            )),
            _ => None,
        })
        .collect();
    // One accuracy for all (chip settings only): the front is a staircase in the plane,
    // drawn as a line. Otherwise it is a 3-way front: dots only, accuracies in the labels.
    let one_accuracy = ran.iter().all(|r| r.3 == ran[0].3);
    let span = |v: Vec<f64>| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() {
            (lo, hi)
        } else {
            (0.0, 1.0)
        }
    };
    let range = |(lo, hi): (f64, f64)| {
        let pad = if hi > lo {
            (hi - lo) * 0.08
        } else {
            lo.abs().max(1.0) * 0.1
        };
        let step = tick_step(hi - lo + 2.0 * pad, 5.0);
        let min = ((lo - pad) / step).floor() * step;
        let max = ((hi + pad) / step).ceil() * step;
        ((min.max(0.0), max), step)
    };
    let (x, xs) = range(span(ran.iter().map(|r| r.1).collect()));
    let (y, ys) = range(span(ran.iter().map(|r| r.2).collect()));
    let frame = Frame {
        size: (720.0, 480.0),
        margins: (80.0, 30.0, 40.0, 85.0),
        x,
        y,
    };
    let mut s = frame.open(&format!(
        "{}: energy vs cycles per inference, {} of {} points mapped",
        args.model
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        ran.len(),
        points.len()
    ));
    frame.axes(
        &mut s,
        (xs, ys),
        "cycles per inference (mean)",
        "energy per inference (nJ)",
    );
    let mut line: Vec<(f64, f64)> = ran
        .iter()
        .filter(|r| front[r.0])
        .map(|r| (r.1, r.2))
        .collect();
    line.sort_by(|a, b| a.0.total_cmp(&b.0));
    if one_accuracy && line.len() > 1 {
        let pts: Vec<String> = line
            .iter()
            .map(|&(c, e)| format!("{:.1},{:.1}", frame.px(c), frame.py(e)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>",
            pts.join(" ")
        );
    }
    // Labels: the front's first, then the others where they do not cover a label already
    // drawn (every dot carries its values as a tooltip either way).
    let mut order: Vec<&(usize, f64, f64, f64)> = ran.iter().collect();
    order.sort_by_key(|r| !front[r.0]);
    let mut placed: Vec<(f64, f64, f64)> = Vec::new();
    for &&(k, c, e, acc) in &order {
        let (cx, cy) = (frame.px(c), frame.py(e));
        let colour = if front[k] { "#d62728" } else { "#1f77b4" };
        let label = if one_accuracy {
            points[k].labels.join(",")
        } else {
            format!("{}: {:.2} %", points[k].labels.join(","), 100.0 * acc)
        };
        let _ = writeln!(
            s,
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"4\" fill=\"{colour}\"><title>{}</title></circle>",
            xml_escape(&points[k].labels.join(", "))
        );
        let (lx, ly, lw) = (cx + 6.0, cy - 5.0, 6.0 * label.chars().count() as f64);
        let covers =
            |&(x, y, w): &(f64, f64, f64)| lx < x + w && x < lx + lw && (ly - y).abs() < 10.0;
        if !placed.iter().any(covers) {
            placed.push((lx, ly, lw));
            let _ = writeln!(
                s,
                "<text x=\"{lx:.1}\" y=\"{ly:.1}\" font-size=\"9\" fill=\"#333\">{}</text>",
                xml_escape(&label)
            );
        }
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555\">labels: {}</text>",
        frame.size.0 / 2.0,
        frame.size.1 - 30.0,
        xml_escape(&axes.iter().map(|a| a.key.as_str()).collect::<Vec<_>>().join(", "))
    );
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#d62728\">red: Pareto front (no point is faster, cheaper and as accurate)</text>",
        frame.right(),
        frame.top() + 14.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_parse_chip_keys_meshes_and_placements() {
        let a = parse_axis("router.buffer_depth=2, 4,8").unwrap();
        assert_eq!(a.key, "router.buffer_depth");
        assert_eq!(
            a.values
                .iter()
                .map(|v| v.label.as_str())
                .collect::<Vec<_>>(),
            ["2", "4", "8"]
        );
        assert_eq!(
            a.values[1].settings,
            [("router.buffer_depth".to_string(), "4".to_string())]
        );
        let m = parse_axis("mesh=2x3").unwrap();
        assert_eq!(
            m.values[0].settings,
            [
                ("mesh.width".to_string(), "2".to_string()),
                ("mesh.height".to_string(), "3".to_string())
            ]
        );
        let p = parse_axis("placement=naive,optimised").unwrap();
        assert_eq!(p.values[0].placement, Some(PlacementKind::Naive));
        for bad in [
            "router.buffer_depth",
            "=4",
            "core.neurons=",
            "core.neurons=1,,2",
            "mesh=4",
            "mesh=4xx",
            "placement=random",
            "core.neurons=64,64",
        ] {
            assert!(parse_axis(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_grid_is_every_combination_first_axis_slowest() {
        assert_eq!(
            grid(&[2, 3]),
            vec![
                vec![0, 0],
                vec![0, 1],
                vec![0, 2],
                vec![1, 0],
                vec![1, 1],
                vec![1, 2]
            ]
        );
        assert_eq!(grid(&[]), vec![Vec::<usize>::new()]);
        assert_eq!(grid(&[4, 0]).len(), 0);
    }

    #[test]
    fn the_pareto_front_keeps_undominated_points() {
        let pts = [
            (10.0, 5.0, 0.9),
            (8.0, 6.0, 0.9),
            (12.0, 4.0, 0.9),
            (11.0, 6.0, 0.9),
            (10.0, 5.0, 0.9),
            (13.0, 7.0, 0.95),
            (13.0, 7.0, 0.8),
        ];
        // (11, 6) is dominated by (10, 5); equal points do not dominate each other; a slower,
        // costlier point survives by its accuracy, and one that is worse in all three does not.
        assert_eq!(pareto(&pts), [true, true, true, false, true, true, false]);
    }
}
