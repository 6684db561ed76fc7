//! `spikemesh run`: a chip image run cycle-accurately on a data set's test split — accuracy,
//! cycles, spike-ops, neuron updates, packets, hops, link utilisation and the energy estimate
//! by component and by core — optionally checked sample by sample against the golden model,
//! with raster CSV, VCD and SVG outputs.
//!
//! # Inputs and decoding
//!
//! The image does not say how pixels become spike times: the encoding rule and window `t_max`
//! come from `--model` (the network the image was mapped from), or from `--tmax` and
//! `--encoding`. Either way `t_max` must equal the `t_max` parameter the mapper patched into
//! the image's TTFS firmware, so a mismatch is an error, not a silent mis-run.
//!
//! An output neuron's spike time is the timestep in which its spike reached the host + 1 (the
//! one-step output delay of the S4NN/BS4NN neuron). The class is the earliest output, ties to
//! the lowest channel. The default stop rule ends a sample after the first timestep in which an
//! output spike reaches the host: only the earliest spike decides the class, and every output
//! of that timestep is recorded, so ties are decided as by the full window. `--full-window`
//! runs all `t_max` timesteps.

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use isa::chip::TileId;
use isa::ChipImage;
use model::lif::{LifNetwork, RateCode, Readout};
use model::{
    Dataset, DatasetSpec, EncodingRule, GoldenNetwork, LatencyEncoder, Network, SpikeTime,
};
use serde::Serialize;
use sim::chip::{Chip, SampleOutput, StepRecord, StopRule};
use sim::energy::{CostProfile, EnergyBreakdown, EventCounts};
use sim::report::{self, ChipTally, EnergyReport, RasterSpike};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// `println!` that returns the error (a closed pipe, say) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
    }};
}
pub(crate) use say;

/// The encoding rule on the command line.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum EncodingArg {
    /// `⌊(255 − p) · t_max / 255⌋`.
    S4nn,
    /// `⌊(255 − p) · (t_max − 1) / 255⌋`.
    Bs4nn,
}

/// Run a chip image cycle-accurately on a data set's test split and report accuracy, cycles,
/// spike-ops, traffic and energy.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The chip image (from `spikemesh map`).
    image: PathBuf,
    /// Data set: `digits` (embedded), `mnist:DIR` or `fashion:DIR`.
    #[arg(long, default_value = "digits")]
    dataset: String,
    /// Run only the first N test samples.
    #[arg(long)]
    limit: Option<usize>,
    /// Cost profile: `loihi-datasheet`, `loihi-calibrated` or a profile TOML file [the chip
    /// description's `energy.profile`].
    #[arg(long)]
    profile: Option<String>,
    /// Write the full report as JSON.
    #[arg(long)]
    report: Option<PathBuf>,
    /// The model the image was mapped from: gives t_max and the encoding, and every sample's
    /// output spike times are checked against its golden forward pass (exit 1 on a mismatch).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The window t_max (without --model).
    #[arg(long)]
    tmax: Option<u16>,
    /// The input encoding rule (without --model).
    #[arg(long, value_enum)]
    encoding: Option<EncodingArg>,
    /// Run every timestep of the window instead of stopping at the first output spike.
    #[arg(long)]
    full_window: bool,
    /// Write every spike as CSV: sample, timestep, tile, neuron (the timesteps run: up to the
    /// first output spike unless --full-window).
    #[arg(long)]
    raster: Option<PathBuf>,
    /// Write a VCD waveform (GTKWave) of the first sample's timesteps.
    #[arg(long)]
    vcd: Option<PathBuf>,
    /// Write SVG plots into this directory: link traffic and energy per core on the mesh,
    /// cycles per timestep and the spike raster of the first sample.
    #[arg(long)]
    plots: Option<PathBuf>,
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub(crate) fn progress_bar(total: usize, prefix: &str) -> ProgressBar {
    let pb = ProgressBar::new(total as u64);
    if !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(prefix.to_string());
    pb
}

/// The `t_max` parameter the mapper patched into the image's TTFS firmware (the same on every
/// core), or an error naming the core that lacks or disagrees on it.
pub(crate) fn image_window(image: &ChipImage) -> anyhow::Result<u16> {
    let mut window = None;
    for core in &image.cores {
        let value = core
            .program
            .symbol("t_max")
            .and_then(|a| usize::try_from(a).ok())
            .and_then(|a| core.program.data.get(a).copied())
            .with_context(|| {
                format!(
                    "{}: its program has no `t_max` parameter (not a TTFS image from `spikemesh map`)",
                    core.tile
                )
            })?;
        let value = u16::try_from(value)
            .ok()
            .filter(|&v| v > 0)
            .with_context(|| format!("{}: `t_max` = {value} is outside 1..=65535", core.tile))?;
        match window {
            None => window = Some(value),
            Some(w) if w != value => {
                bail!("{}: `t_max` = {value}, but other cores have {w}", core.tile)
            }
            Some(_) => {}
        }
    }
    window.context("the image has no cores")
}

/// Output channel `k`'s decoding snapshot (`firmware::ttfs::V_SNAP`), read from its output
/// core at the end of the sample: the neuron's potential at its crossing step if it sent its
/// spike, else at `t_max − fallback_offset`. `i32::MIN` for a channel no neuron drives.
pub(crate) fn output_snapshot(chip: &Chip, k: usize) -> i32 {
    chip.output_sources()
        .get(k)
        .copied()
        .flatten()
        .and_then(|src| {
            chip.core(src.tile)
                .map(|core| core.field(firmware::ttfs::V_SNAP)[src.neuron as usize])
        })
        .unwrap_or(i32::MIN)
}

/// The host's decoding of a TTFS sample on the chip: the earliest output spike, ties by the
/// image's rule ([`isa::image::IoMap::decode`], crossing potentials from the snapshots), and
/// when no output spiked the no-spike fallback ([`fallback_class`]). Also says whether the
/// fallback decided.
pub(crate) fn decode_ttfs(
    chip: &Chip,
    io: &isa::image::IoMap,
    first_spike: &[Option<u32>],
) -> (usize, bool) {
    match io.decode(first_spike, |k| output_snapshot(chip, k)) {
        Some(class) => (class, false),
        None => (fallback_class(chip), true),
    }
}

/// The no-spike decoding fallback on the chip: the argmax (ties to the lowest channel) of
/// the output neurons' potential snapshots (`firmware::ttfs::V_SNAP`), read from the output
/// cores at the end of the sample.
pub(crate) fn fallback_class(chip: &Chip) -> usize {
    let mut best: Option<(i32, usize)> = None;
    for (k, src) in chip.output_sources().iter().enumerate() {
        if src.is_none() {
            continue;
        }
        let v = output_snapshot(chip, k);
        if best.is_none_or(|(bv, _)| v > bv) {
            best = Some((v, k));
        }
    }
    best.map_or(0, |(_, k)| k)
}

/// The output neurons' voltages after the sample (the LIF firmware's `v` field, which keeps
/// its value until the next sample begins), in output-channel order: the read-out of a
/// leaky-integrator output layer.
fn output_voltage(chip: &Chip, out: &mut Vec<i32>) {
    out.clear();
    out.extend(chip.output_sources().iter().map(|src| {
        src.and_then(|s| {
            chip.core(s.tile)
                .map(|c| c.field(firmware::lif_reset::V)[s.neuron as usize])
        })
        .unwrap_or(i32::MIN)
    }));
}

/// Output spike times as the golden model writes them (`t_max` = none), from the chip's
/// arrival timesteps; outputs the chip did not run far enough to see stay `None`.
fn chip_times(out: &SampleOutput, t_max: u16) -> Vec<Option<u16>> {
    out.first_spike
        .iter()
        .map(|s| {
            s.map(|step| (step + 1).min(u32::from(t_max)) as u16)
                .filter(|&t| t < t_max)
        })
        .collect()
}

/// What the chip must have seen of the golden output times after running `timesteps` steps.
fn expected_times(golden: &[SpikeTime], timesteps: u32, t_max: u16) -> Vec<Option<u16>> {
    golden
        .iter()
        .map(|t| (u32::from(t.0) <= timesteps && t.0 < t_max).then_some(t.0))
        .collect()
}

/// What a chip image computes, and so how pixels become input spikes, how the outputs decode
/// and what every sample is checked against.
#[derive(Clone, Copy)]
pub(crate) enum Workload<'a> {
    /// A single-spike (TTFS) network: latency-coded pixels; the earliest output decides
    /// ([`decode_ttfs`]); optionally checked against the golden model.
    Ttfs {
        /// Pixels to spike times.
        encoder: LatencyEncoder,
        /// The golden model to check every sample against.
        golden: Option<&'a GoldenNetwork>,
    },
    /// A multi-spike LIF network (`model::lif`): its rate code over its `steps`; the output
    /// with the most spikes decides; every sample checked against its golden forward pass
    /// (output spike counts, first spikes, class). Runs the full window.
    Lif(&'a LifNetwork),
}

/// How a data set is run on a chip image.
pub(crate) struct InferenceSetup<'a> {
    /// The image.
    pub image: &'a ChipImage,
    /// What the image computes.
    pub workload: Workload<'a>,
    /// When a sample ends (a LIF workload always runs the full window).
    pub stop: StopRule,
    /// Collect every spike of every core.
    pub raster: bool,
    /// Record the first sample's timesteps (VCD, plots).
    pub trace_first: bool,
}

/// The first sample whose chip outputs differ from the golden model.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Mismatch {
    /// Sample index in the test split.
    pub sample: usize,
    /// What differed.
    pub detail: String,
}

/// Everything a run measured.
pub(crate) struct InferenceResult {
    /// Samples run.
    pub samples: usize,
    /// Correct chip predictions.
    pub correct: usize,
    /// Samples with no output spike (decoded by the potential snapshot, see [`fallback_class`]).
    pub no_output: usize,
    /// Correct golden predictions (with `golden`).
    pub golden_correct: Option<usize>,
    /// Samples whose output times and class agree with the golden model.
    pub agree: usize,
    /// The first disagreement.
    pub mismatch: Option<Mismatch>,
    /// Cycles of every timestep of every sample.
    pub step_cycles: Vec<u64>,
    /// Cycles of every sample.
    pub sample_cycles: Vec<u64>,
    /// Timesteps of every sample.
    pub sample_steps: Vec<u32>,
    /// Counters of the whole run.
    pub tally: ChipTally,
    /// Every spike (with `raster`, else the first sample's only when `trace_first`).
    pub raster: Vec<RasterSpike>,
    /// The first sample's timestep records (with `trace_first`).
    pub first_steps: Vec<StepRecord>,
    /// Tiles of the image's cores and their neuron counts.
    pub cores: Vec<(u16, u32)>,
}

/// Runs `set` (its first `limit` samples) through a fresh chip of `setup.image`, one sample
/// after another, ticking `pb` per sample.
pub(crate) fn infer(
    set: &Dataset,
    limit: usize,
    setup: &InferenceSetup<'_>,
    pb: &ProgressBar,
) -> anyhow::Result<InferenceResult> {
    let mut chip = Chip::new(setup.image).context("cannot build the chip from the image")?;
    // Multi-spike neurons: the latches keep only first and last spikes, so a raster needs the
    // cores' spike logs.
    if matches!(setup.workload, Workload::Lif(_)) && (setup.raster || setup.trace_first) {
        chip.set_spike_log(true);
    }
    let channels = chip.input_channels();
    let (inputs, code) = match setup.workload {
        Workload::Ttfs { encoder, .. } => (
            set.image_len() * encoder.rule.channels(),
            format!("{:?}", encoder.rule),
        ),
        Workload::Lif(net) => (set.image_len(), format!("{:?}", net.encoding)),
    };
    if inputs != channels {
        bail!(
            "{}: images encode to {inputs} inputs ({} pixels, {code} encoding), but the chip image has {channels} input channels",
            set.name,
            set.image_len(),
        );
    }
    if setup.image.io.outputs == 0 {
        bail!("the chip image has no output channels: nothing to decode a class from");
    }
    let n = set.len().min(limit);
    let start = chip.now().0;
    let mut r = InferenceResult {
        samples: n,
        correct: 0,
        no_output: 0,
        golden_correct: match setup.workload {
            Workload::Ttfs { golden, .. } => golden.map(|_| 0),
            Workload::Lif(_) => Some(0),
        },
        agree: 0,
        mismatch: None,
        step_cycles: Vec::new(),
        sample_cycles: Vec::with_capacity(n),
        sample_steps: Vec::with_capacity(n),
        tally: ChipTally::of(&chip, 0),
        raster: Vec::new(),
        first_steps: Vec::new(),
        cores: setup
            .image
            .cores
            .iter()
            .map(|c| (c.tile.0, c.neurons))
            .collect(),
    };
    let mut voltage = Vec::new();
    let mut times = Vec::with_capacity(channels);
    let mut spikes: Vec<(u32, u32)> = Vec::with_capacity(channels);
    for k in 0..n {
        let (window, stop) = match setup.workload {
            Workload::Ttfs { encoder, .. } => {
                encoder.encode_into(set.image(k), &mut times);
                spikes.clear();
                spikes.extend(
                    times
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t.0 < encoder.t_max)
                        .map(|(i, t)| (i as u32, u32::from(t.0))),
                );
                (u32::from(encoder.t_max), setup.stop)
            }
            Workload::Lif(net) => {
                let code = net.encoding.unwrap_or(RateCode::Regular);
                code.encode_into(set.image(k), net.steps, &mut spikes);
                (net.steps, StopRule::FullWindow)
            }
        };
        let trace = setup.trace_first && k == 0;
        chip.set_step_recording(trace);
        let out = chip
            .run_sample(&spikes, window, stop)
            .with_context(|| format!("{} sample {k}", set.name))?;
        if trace {
            r.first_steps = chip.step_records().to_vec();
            chip.set_step_recording(false);
        }
        if setup.raster || trace {
            report::collect_raster(&chip, k as u32, &mut r.raster);
        }
        let (predicted, silent) = match setup.workload {
            // No output spiked (so the whole window ran): the class is the argmax of the
            // output potentials the firmware kept at t_max − fallback_offset, as in the golden
            // model.
            Workload::Ttfs { .. } => decode_ttfs(&chip, &setup.image.io, &out.first_spike),
            Workload::Lif(net) => match net.readout {
                Readout::SpikeCount => (
                    model::lif::decode_counts(&out.spike_counts),
                    out.spike_counts.iter().all(|&c| c == 0),
                ),
                Readout::FinalVoltage => {
                    output_voltage(&chip, &mut voltage);
                    (model::lif::decode_voltage(&voltage), false)
                }
            },
        };
        r.no_output += usize::from(silent);
        r.correct += usize::from(predicted == set.label(k));
        if let Workload::Lif(net) = setup.workload {
            let g = net.forward(&spikes);
            if let Some(c) = r.golden_correct.as_mut() {
                *c += usize::from(g.class == set.label(k));
            }
            let voltage_ok = net.readout != Readout::FinalVoltage || voltage == g.output_voltage;
            if out.spike_counts == g.output_counts
                && out.first_spike == g.first_output_spike
                && voltage_ok
                && predicted == g.class
            {
                r.agree += 1;
            } else if r.mismatch.is_none() {
                r.mismatch = Some(Mismatch {
                    sample: k,
                    detail: format!(
                        "output spike counts chip {:?} vs golden {:?}, first spikes chip {:?} vs golden {:?},{} class chip {predicted} vs golden {}",
                        out.spike_counts, g.output_counts, out.first_spike, g.first_output_spike,
                        if voltage_ok { String::new() } else { format!(" final voltages chip {voltage:?} vs golden {:?},", g.output_voltage) },
                        g.class
                    ),
                });
            }
        }
        if let Workload::Ttfs {
            encoder,
            golden: Some(golden),
        } = setup.workload
        {
            let t_max = encoder.t_max;
            let g = golden
                .forward(&times)
                .with_context(|| format!("golden forward pass of {} sample {k}", set.name))?;
            if let Some(c) = r.golden_correct.as_mut() {
                *c += usize::from(g.prediction == set.label(k));
            }
            let got = chip_times(&out, t_max);
            let want = expected_times(
                g.layer_times.last().map_or(&[][..], |v| v),
                out.timesteps,
                t_max,
            );
            let class_ok = predicted == g.prediction;
            if got == want && class_ok {
                r.agree += 1;
            } else if r.mismatch.is_none() {
                r.mismatch = Some(Mismatch {
                    sample: k,
                    detail: format!(
                        "output spike times chip {:?} vs golden {:?} (after {} timesteps), class chip {predicted} vs golden {}",
                        got, want, out.timesteps, g.prediction
                    ),
                });
            }
        }
        r.step_cycles.extend_from_slice(&out.step_cycles);
        r.sample_cycles.push(out.cycles);
        r.sample_steps.push(out.timesteps);
        if k % 16 == 15 || k + 1 == n {
            pb.set_position(k as u64 + 1);
            pb.set_message(format!(
                "acc {:.2} %",
                100.0 * r.correct as f64 / (k + 1) as f64
            ));
        }
    }
    r.tally = ChipTally::of(&chip, chip.now().0 - start);
    Ok(r)
}

/// Mean and maximum of a list.
pub(crate) fn mean_max<T: Copy + Into<f64>>(v: &[T]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let xs = v.iter().map(|&x| x.into());
    let (sum, max) = xs.fold((0.0, f64::MIN), |(s, m), x: f64| (s + x, m.max(x)));
    (sum / v.len() as f64, max)
}

/// Per-inference figures of a run, as printed and written to the JSON report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunFigures {
    /// Samples run.
    pub samples: usize,
    /// Chip accuracy.
    pub accuracy: f64,
    /// Samples with no output spike.
    pub no_output_samples: usize,
    /// Golden accuracy (with a model).
    pub golden_accuracy: Option<f64>,
    /// Samples agreeing with the golden model (with a model).
    pub golden_agreement: Option<usize>,
    /// The first mismatch.
    pub first_mismatch: Option<Mismatch>,
    /// Mean timesteps per inference.
    pub timesteps_mean: f64,
    /// Mean cycles per timestep.
    pub cycles_per_timestep_mean: f64,
    /// Largest cycles of a timestep.
    pub cycles_per_timestep_max: f64,
    /// Mean cycles per inference (input preload included).
    pub cycles_per_inference_mean: f64,
    /// Largest cycles of an inference.
    pub cycles_per_inference_max: f64,
    /// Events per inference.
    pub events_per_inference: EventsPerInference,
    /// Packets accepted by the mesh per inference (input, spike and output packets).
    pub packets_per_inference: f64,
    /// Link utilisation, max over links (flits per link-cycle).
    pub link_utilisation_max: f64,
    /// Link utilisation, mean over links (flits per link-cycle).
    pub link_utilisation_mean: f64,
}

/// Event counts divided by the number of inferences.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct EventsPerInference {
    /// Synaptic operations (spike-ops).
    pub synaptic_ops: f64,
    /// Neuron updates.
    pub neuron_updates: f64,
    /// Spike packets generated by cores.
    pub spikes_out: f64,
    /// East–west hops.
    pub hops_ew: f64,
    /// North–south hops.
    pub hops_ns: f64,
}

impl EventsPerInference {
    fn of(e: &EventCounts, n: f64) -> Self {
        let d = |x: u64| if n > 0.0 { x as f64 / n } else { 0.0 };
        EventsPerInference {
            synaptic_ops: d(e.synaptic_ops),
            neuron_updates: d(e.neuron_updates_active + e.neuron_updates_inactive),
            spikes_out: d(e.spikes_out),
            hops_ew: d(e.hops_ew),
            hops_ns: d(e.hops_ns),
        }
    }
}

/// The figures of `r`.
pub(crate) fn figures(r: &InferenceResult) -> RunFigures {
    let n = r.samples as f64;
    let pct = |c: usize| if r.samples > 0 { c as f64 / n } else { 0.0 };
    let (ts_mean, _) = mean_max(&r.sample_steps);
    let step: Vec<f64> = r.step_cycles.iter().map(|&c| c as f64).collect();
    let sample: Vec<f64> = r.sample_cycles.iter().map(|&c| c as f64).collect();
    let (sm, sx) = mean_max(&step);
    let (im, ix) = mean_max(&sample);
    let (umax, umean) = r.tally.link_utilisation();
    RunFigures {
        samples: r.samples,
        accuracy: pct(r.correct),
        no_output_samples: r.no_output,
        golden_accuracy: r.golden_correct.map(pct),
        golden_agreement: r.golden_correct.map(|_| r.agree),
        first_mismatch: r.mismatch.clone(),
        timesteps_mean: ts_mean,
        cycles_per_timestep_mean: sm,
        cycles_per_timestep_max: sx,
        cycles_per_inference_mean: im,
        cycles_per_inference_max: ix,
        events_per_inference: EventsPerInference::of(&r.tally.totals(), n),
        packets_per_inference: if n > 0.0 {
            r.tally.packets as f64 / n
        } else {
            0.0
        },
        link_utilisation_max: umax,
        link_utilisation_mean: umean,
    }
}

/// Energy per inference: whole chip and per tile.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EnergyPerInference {
    /// Profile name.
    pub profile: String,
    /// Its source.
    pub source: String,
    /// Total joules per inference.
    pub total_j: f64,
    /// By component.
    pub components: EnergyBreakdown,
    /// By tile: `(tile, joules per inference)`.
    pub by_tile: Vec<(u16, f64)>,
}

/// Energy per inference of a run.
pub(crate) fn energy_per_inference(
    r: &InferenceResult,
    profile: &CostProfile,
    frequency_mhz: f64,
) -> EnergyPerInference {
    let EnergyReport {
        profile: name,
        source,
        total,
        by_tile,
    } = r.tally.energy(profile, frequency_mhz);
    let n = r.samples as f64;
    let per = total.per(n);
    EnergyPerInference {
        profile: name,
        source,
        total_j: per.total_j(),
        components: per,
        by_tile: by_tile
            .iter()
            .map(|(t, e)| (*t, e.per(n).total_j()))
            .collect(),
    }
}

/// Prints the cycle, event and traffic figures.
pub(crate) fn print_figures(f: &RunFigures) -> anyhow::Result<()> {
    say!(
        "cycles per timestep: mean {:.1}, max {:.0}; per inference: mean {:.1}, max {:.0} ({:.1} timesteps on average)",
        f.cycles_per_timestep_mean,
        f.cycles_per_timestep_max,
        f.cycles_per_inference_mean,
        f.cycles_per_inference_max,
        f.timesteps_mean
    );
    let e = &f.events_per_inference;
    say!(
        "per inference: {:.1} spike-ops (synaptic events), {:.1} neuron updates, {:.1} core spike packets, {:.1} mesh packets, {:.1} hops ({:.1} E-W, {:.1} N-S)",
        e.synaptic_ops,
        e.neuron_updates,
        e.spikes_out,
        f.packets_per_inference,
        e.hops_ew + e.hops_ns,
        e.hops_ew,
        e.hops_ns
    );
    say!(
        "link utilisation: max {:.5}, mean {:.5} flits per link-cycle",
        f.link_utilisation_max,
        f.link_utilisation_mean
    );
    Ok(())
}

/// Prints an energy estimate per inference, by component and (with `by_core`) by core.
pub(crate) fn print_energy(e: &EnergyPerInference, by_core: bool) -> anyhow::Result<()> {
    say!(
        "energy per inference under {}: {:.3} nJ",
        e.profile,
        e.total_j * 1e9
    );
    say!("  source: {}", e.source);
    for (name, j) in e.components.components() {
        let share = if e.total_j > 0.0 {
            100.0 * j / e.total_j
        } else {
            0.0
        };
        say!("  {name:<15} {:>12.3} nJ {share:>6.2} %", j * 1e9);
    }
    if by_core {
        say!("  by tile (core, and its router's outgoing hops):");
        for (t, j) in &e.by_tile {
            say!("    tile {t:<4} {:>12.3} nJ", j * 1e9);
        }
    }
    Ok(())
}

/// The JSON report of `spikemesh run`.
#[derive(Serialize)]
struct RunReport<'a> {
    image: String,
    dataset: String,
    stop_rule: &'static str,
    /// TTFS images: the window and encoding rule.
    t_max: Option<u16>,
    encoding: Option<EncodingRule>,
    /// LIF images: timesteps per sample and the rate code.
    lif_steps: Option<u32>,
    rate_code: Option<RateCode>,
    figures: &'a RunFigures,
    energy: &'a EnergyPerInference,
    tally: &'a ChipTally,
}

/// Writes the SVG plots of a run into `dir`.
pub(crate) fn write_plots(
    dir: &Path,
    r: &InferenceResult,
    energy: &EnergyPerInference,
    image: &ChipImage,
    window: u32,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the plot directory", dir.display()))?;
    let (w, h) = (image.chip.mesh.width, image.chip.mesh.height);
    let links = report::svg_link_heatmap(
        &format!(
            "link traffic: flits per directed link over {} inferences",
            r.samples
        ),
        w,
        h,
        &r.tally.link_flits(),
    );
    report::write_file(
        &dir.join("link_traffic.svg"),
        "link-traffic plot",
        links.as_bytes(),
    )?;
    let mut per_tile = vec![0.0; usize::from(w) * usize::from(h)];
    for &(t, j) in &energy.by_tile {
        if let Some(v) = per_tile.get_mut(usize::from(t)) {
            *v = j;
        }
    }
    let heat = report::svg_tile_heatmap(
        &format!("energy per inference per tile ({})", energy.profile),
        w,
        h,
        &per_tile,
        "J",
    );
    report::write_file(
        &dir.join("energy_per_core.svg"),
        "energy plot",
        heat.as_bytes(),
    )?;
    let first: Vec<f64> = r
        .first_steps
        .iter()
        .map(|s| (s.release - s.start) as f64)
        .collect();
    let bars = report::svg_bars(
        "cycles per timestep (first sample)",
        "timestep",
        "cycles",
        &first,
    );
    report::write_file(
        &dir.join("cycles_per_timestep.svg"),
        "cycles plot",
        bars.as_bytes(),
    )?;
    let spikes: Vec<RasterSpike> = r.raster.iter().copied().filter(|s| s.sample == 0).collect();
    let raster = report::svg_raster("spike raster (first sample)", &spikes, &r.cores, window);
    report::write_file(
        &dir.join("spike_raster.svg"),
        "raster plot",
        raster.as_bytes(),
    )?;
    Ok(())
}

/// A model file of either kind: a single-spike (TTFS) [`Network`] or a multi-spike
/// [`LifNetwork`], told apart by content (`LifNetwork::is_lif_file`).
pub(crate) enum ModelFile {
    /// `spikemesh train` / STiDi-BP / BS4NN / S4NN models.
    Ttfs(Network),
    /// Multi-spike LIF networks (`spikemesh nir`).
    Lif(LifNetwork),
}

impl ModelFile {
    /// Loads and validates a model of either kind; the error names the file.
    pub(crate) fn load(path: &Path) -> anyhow::Result<ModelFile> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot load model {}", path.display()))?;
        if bytes.starts_with(b"\x89HDF\r\n\x1a\n") {
            bail!(
                "{} is an HDF5 file (a NIR graph?): import it first with `spikemesh nir {} --dt DT -o model.json`",
                path.display(),
                path.display()
            );
        }
        Ok(if LifNetwork::is_lif_file(&bytes) {
            ModelFile::Lif(
                LifNetwork::from_bytes(&bytes, path)
                    .with_context(|| format!("cannot load model {}", path.display()))?,
            )
        } else {
            ModelFile::Ttfs(
                Network::from_bytes(&bytes, path)
                    .with_context(|| format!("cannot load model {}", path.display()))?,
            )
        })
    }
}

/// Whether every core of `image` runs the multi-spike LIF firmware (`lif_reset.s`, mapped
/// from a LIF network), recognised by its `reset_mode` parameter.
pub(crate) fn is_lif_image(image: &ChipImage) -> bool {
    !image.cores.is_empty()
        && image
            .cores
            .iter()
            .all(|c| c.program.symbol("reset_mode").is_some())
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let image = ChipImage::load(&args.image)
        .with_context(|| format!("cannot load chip image {}", args.image.display()))?;
    let model = match &args.model {
        Some(p) => Some(ModelFile::load(p)?),
        None => None,
    };
    let lif_image = is_lif_image(&image);
    let (lif, net) = match (model, lif_image) {
        (Some(ModelFile::Lif(n)), true) => (Some(n), None),
        (None, true) => bail!(
            "{}: a multi-spike LIF image (lif_reset firmware): give --model MODEL.json, the LIF network it was mapped from (its steps and rate code)",
            args.image.display()
        ),
        (Some(ModelFile::Ttfs(_)), true) => bail!(
            "{}: a multi-spike LIF image, but the model is a single-spike (TTFS) network: was the image mapped from it?",
            args.image.display()
        ),
        (Some(ModelFile::Lif(_)), false) => bail!(
            "the model is a multi-spike LIF network, but {} is not a LIF image: was the image mapped from it?",
            args.image.display()
        ),
        (Some(ModelFile::Ttfs(n)), false) => (None, Some(n)),
        (None, false) => (None, None),
    };
    if let Some(lif) = &lif {
        if args.tmax.is_some() || args.encoding.is_some() {
            bail!("--tmax and --encoding apply to TTFS images; a LIF network sets its own steps and rate code");
        }
        if lif.encoding.is_none() {
            bail!("the LIF model records no input rate code (`encoding`): it cannot run on images");
        }
        if lif.outputs() != image.io.outputs as usize {
            bail!(
                "the model has {} outputs, the chip image {} output channels: was the image mapped from this model?",
                lif.outputs(),
                image.io.outputs
            );
        }
    }
    let (t_max, rule) = match &lif {
        Some(_) => (0, EncodingRule::S4nn),
        None => {
            let window =
                image_window(&image).with_context(|| format!("{}", args.image.display()))?;
            let (t_max, rule) = input_encoding(net.as_ref(), args.tmax, args.encoding)?;
            if t_max != window {
                bail!(
                    "t_max = {t_max} ({}), but the image's firmware was mapped with t_max = {window}",
                    if args.model.is_some() {
                        "from the model"
                    } else {
                        "from --tmax"
                    }
                );
            }
            (t_max, rule)
        }
    };
    let golden = match &net {
        Some(n) => {
            let g =
                GoldenNetwork::new(n).context("cannot compile the model's golden forward pass")?;
            if n.outputs() != image.io.outputs as usize {
                bail!(
                    "the model has {} outputs, the chip image {} output channels: was the image mapped from this model?",
                    n.outputs(),
                    image.io.outputs
                );
            }
            Some(g)
        }
        None => None,
    };
    let profile_name = args
        .profile
        .clone()
        .unwrap_or_else(|| image.chip.energy.profile.clone());
    let profile = CostProfile::resolve(&profile_name)?;
    let spec: DatasetSpec = args.dataset.parse()?;
    let data = spec.load()?;
    let set = &data.test;
    let limit = args.limit.unwrap_or(usize::MAX);
    let stop = if args.full_window {
        StopRule::FullWindow
    } else {
        StopRule::FirstOutput
    };
    let workload = match &lif {
        Some(n) => Workload::Lif(n),
        None => Workload::Ttfs {
            encoder: LatencyEncoder { rule, t_max },
            golden: golden.as_ref(),
        },
    };
    let setup = InferenceSetup {
        image: &image,
        workload,
        stop,
        raster: args.raster.is_some(),
        trace_first: args.vcd.is_some() || args.plots.is_some(),
    };
    let cores = image.cores.len();
    let (window, code) = match &lif {
        Some(n) => (
            n.steps,
            format!(
                "multi-spike LIF, {} steps, {:?} rate code; {} (ties to the lowest channel); full window",
                n.steps,
                n.encoding.unwrap_or(RateCode::Regular),
                match n.readout {
                    Readout::SpikeCount => "the output with the most spikes decides",
                    Readout::FinalVoltage => "the output with the highest final voltage decides",
                }
            ),
        ),
        None => (
            u32::from(t_max),
            format!(
                "t_max {t_max}, {rule:?} encoding; stop rule: {}",
                if args.full_window {
                    "full window"
                } else {
                    "first output spike (the earliest output decides the class)"
                }
            ),
        ),
    };
    say!(
        "{}: {}x{} chip, {cores} cores; {} ({} samples); {code}",
        args.image.display(),
        image.chip.mesh.width,
        image.chip.mesh.height,
        set.name,
        set.len().min(limit),
    );
    let pb = progress_bar(set.len().min(limit), "run");
    let r = infer(set, limit, &setup, &pb)?;
    pb.finish_and_clear();
    let f = figures(&r);
    say!(
        "accuracy: {:.2} % ({}/{})",
        100.0 * f.accuracy,
        r.correct,
        r.samples
    );
    if r.no_output > 0 {
        say!(
            "  {} samples had no output spike and were decoded {}",
            r.no_output,
            if lif.is_some() {
                "as class 0 (every count 0: a tie)"
            } else {
                "from the output potentials at t_max - fallback_offset"
            }
        );
    }
    if let (Some(ga), Some(agree)) = (f.golden_accuracy, f.golden_agreement) {
        say!(
            "golden model: accuracy {:.2} %; chip agrees on {agree}/{} samples ({} and class)",
            100.0 * ga,
            r.samples,
            match &lif {
                Some(n) if n.readout == Readout::FinalVoltage => {
                    "output spike counts, first spikes, final voltages"
                }
                Some(_) => "output spike counts, first spikes",
                None => "output spike times",
            }
        );
    }
    print_figures(&f)?;
    let e = energy_per_inference(&r, &profile, image.chip.clock.frequency_mhz);
    print_energy(&e, true)?;

    if let Some(path) = &args.report {
        let rep = RunReport {
            image: args.image.display().to_string(),
            dataset: args.dataset.clone(),
            stop_rule: if args.full_window || lif.is_some() {
                "full-window"
            } else {
                "first-output"
            },
            t_max: lif.is_none().then_some(t_max),
            encoding: lif.is_none().then_some(rule),
            lif_steps: lif.as_ref().map(|n| n.steps),
            rate_code: lif.as_ref().and_then(|n| n.encoding),
            figures: &f,
            energy: &e,
            tally: &r.tally,
        };
        let json = serde_json::to_string_pretty(&rep)?;
        report::write_file(path, "run report", json.as_bytes())?;
        say!("wrote {}", path.display());
    }
    if let Some(path) = &args.raster {
        report::write_file(
            path,
            "spike raster",
            report::raster_csv(&r.raster).as_bytes(),
        )?;
        say!("wrote {} ({} spikes)", path.display(), r.raster.len());
    }
    if let Some(path) = &args.vcd {
        let tiles: Vec<TileId> = image.cores.iter().map(|c| c.tile).collect();
        let period_ps = (1e6 / image.chip.clock.frequency_mhz).round().max(1.0) as u64;
        report::write_file(
            path,
            "VCD waveform",
            report::vcd(&r.first_steps, &tiles, period_ps).as_bytes(),
        )?;
        say!(
            "wrote {} (first sample, {} timesteps)",
            path.display(),
            r.first_steps.len()
        );
    }
    if let Some(dir) = &args.plots {
        write_plots(dir, &r, &e, &image, window)?;
        say!("wrote 4 plots into {}", dir.display());
    }
    if let Some(m) = &r.mismatch {
        bail!(
            "the chip disagrees with the golden model on {} of {} samples; first: sample {}: {}",
            r.samples - r.agree,
            r.samples,
            m.sample,
            m.detail
        );
    }
    Ok(())
}

/// The input window and encoding rule of a run: from the model the image was mapped from, or
/// from `--tmax` and `--encoding` (the image itself does not record them).
pub(crate) fn input_encoding(
    net: Option<&Network>,
    tmax: Option<u16>,
    encoding: Option<EncodingArg>,
) -> anyhow::Result<(u16, EncodingRule)> {
    Ok(match (net, tmax, encoding) {
        (Some(net), None, None) => (
            net.t_max,
            net.encoding
                .context("the model records no input encoding rule (`encoding`)")?,
        ),
        (Some(_), _, _) => bail!("give either --model or --tmax/--encoding, not both"),
        (None, Some(t), Some(e)) => (
            t,
            match e {
                EncodingArg::S4nn => EncodingRule::S4nn,
                EncodingArg::Bs4nn => EncodingRule::Bs4nn,
            },
        ),
        (None, _, _) => bail!(
            "the chip image does not record the input encoding: give --model MODEL (the network it was mapped from) or both --tmax and --encoding"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_stop_expects_only_the_outputs_seen_so_far() {
        let golden = [SpikeTime(7), SpikeTime(5), SpikeTime(10), SpikeTime(5)];
        assert_eq!(
            expected_times(&golden, 5, 10),
            vec![None, Some(5), None, Some(5)]
        );
        assert_eq!(
            expected_times(&golden, 10, 10),
            vec![Some(7), Some(5), None, Some(5)]
        );
    }
}
