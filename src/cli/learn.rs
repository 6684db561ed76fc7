//! `spikemesh learn`: on-chip learning of a chip image mapped with `spikemesh map --learning` —
//! per training sample a full-window inference (`Chip::run_sample`) then the learning phase
//! (`Chip::learn_sample`), test accuracy by chip inference after every epoch, the learning
//! phase's cycles, packets, latent-weight updates and energy apart from inference, optionally
//! checked bit for bit against the golden fixed-point trainer (`model::onchip::OnChipTrainer`)
//! and compared with the host's floating-point BS4NN trainer; the trained chip is written back
//! as a chip image.
//!
//! # Order, accounting and the trained image
//!
//! - Samples: the training split (its first `--limit` samples), visited in a seeded
//!   permutation per epoch (`SampleShuffle`: Fisher–Yates on a splitmix64 stream from
//!   `--seed`).
//! - Online accuracy: the chip's class of each training sample before its update (earliest
//!   output, else the potential-snapshot fallback, as `spikemesh run`).
//! - Learning-phase figures are read around each `Chip::learn_sample`: its cycles and mesh
//!   packets (`LearnOutput`), and the difference of the chip's event counts
//!   (`EventCounts::since`): latent weights written (`learn_updates`), learning packets and
//!   their hops. Learning energy per sample = those events under the cost profile plus static
//!   power of the image's cores over the learning cycles (`sim::energy`).
//! - Test accuracy after each epoch is `spikemesh run`'s inference (first-output stop rule) on
//!   a fresh chip built from the snapshot of the trained chip (`Chip::snapshot_image`), which
//!   is also the image written to `-o` (after every epoch, atomically): running the written
//!   image with `spikemesh run` reproduces the reported test accuracy.

use super::run::{
    decode_ttfs, image_window, infer, input_encoding, mean_max, progress_bar, say, EncodingArg,
    InferenceSetup, Workload,
};
use anyhow::{bail, Context};
use isa::image::{ChipImage, Destination};
use model::network::{LayerKind, Threshold, Weights};
use model::onchip::{Normalisation, OnChipRule, OnChipTrainer};
use model::train::{Rule, SampleOrder, TrainConfig, Trainer};
use model::{Dataset, DatasetSpec, EncodingRule, GoldenNetwork, LatencyEncoder, Network};
use serde::Serialize;
use sim::chip::{Chip, StopRule};
use sim::energy::{CostProfile, EnergyBreakdown, EventCounts, BUILTIN_PROFILES};
use sim::report;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Train a chip image on the chip itself (on-chip learning) and write the trained image.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The chip image, mapped with on-chip learning (`spikemesh map --learning`).
    image: PathBuf,
    /// Data set: `digits` (embedded), `mnist:DIR` or `fashion:DIR`.
    #[arg(long, default_value = "digits")]
    dataset: String,
    /// Number of epochs.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Seed of the sample order (and of the host trainer with --compare-host).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train on the first K training samples only (per epoch).
    #[arg(long)]
    limit: Option<usize>,
    /// Test on the first K test samples only.
    #[arg(long)]
    test_limit: Option<usize>,
    /// The trained chip image to write (after every epoch).
    #[arg(short, long)]
    output: PathBuf,
    /// The model the image was mapped from: gives t_max and the encoding; needed by --check
    /// and --compare-host.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The window t_max (without --model).
    #[arg(long)]
    tmax: Option<u16>,
    /// The input encoding rule (without --model).
    #[arg(long, value_enum)]
    encoding: Option<EncodingArg>,
    /// Run the golden fixed-point trainer alongside and require bit-exact latent weights and
    /// binary rows on every learning core after every sample (needs --model).
    #[arg(long)]
    check: bool,
    /// Also train the same architecture on the host with the floating-point BS4NN trainer
    /// (scale α fixed, layers that do not learn on the chip frozen) on the same data, seed and
    /// epochs, and print both test accuracies (needs --model).
    #[arg(long)]
    compare_host: bool,
    /// Learning rate of the host trainer (with --compare-host), one for every layer [per
    /// layer, the chip's largest step in the host's units: η · 2^(15 − shift) / init
    /// magnitude; the host starts from the model's weights, as the chip does].
    #[arg(long)]
    host_lr: Option<f32>,
    /// Write the per-epoch figures as JSON.
    #[arg(long)]
    report: Option<PathBuf>,
}

/// A core of the image that runs the learning firmware.
#[derive(Debug, Clone)]
struct LearningCore {
    tile: isa::chip::TileId,
    neurons: usize,
    axons: usize,
}

/// The learning cores of an image: a program with the learning dispatch (`learn_req`) and a
/// latent memory.
fn learning_cores(image: &ChipImage) -> Vec<LearningCore> {
    image
        .cores
        .iter()
        .filter(|c| {
            c.latent.is_some() && c.program.symbol(firmware::learn_out::LEARN_REQ).is_some()
        })
        .map(|c| LearningCore {
            tile: c.tile,
            neurons: c.neurons as usize,
            axons: c.axons as usize,
        })
        .collect()
}

/// The data word `name` of the core on `tile` in `image`.
fn param(image: &ChipImage, tile: isa::chip::TileId, name: &str) -> anyhow::Result<i32> {
    let core = image
        .core(tile)
        .with_context(|| format!("{tile} holds no core"))?;
    core.program
        .symbol(name)
        .and_then(|a| usize::try_from(a).ok())
        .and_then(|a| core.program.data.get(a).copied())
        .with_context(|| format!("{tile}: the learning firmware has no `{name}` parameter"))
}

/// Weighted layer `l` of `net` if it is dense.
fn dense_layer(net: &Network, l: usize) -> Option<&model::network::Dense> {
    net.layers
        .iter()
        .filter_map(|x| match &x.kind {
            LayerKind::Dense(d) => Some(Some(d)),
            LayerKind::Conv2d(_) => Some(None),
            _ => None,
        })
        .nth(l)
        .flatten()
}

/// The init magnitude `m` a core of a latent (real-weight) layer was started with: the mapper
/// writes `round(w · m)`, so the largest `|w|` of the core's chunk and its latent give `m` to
/// within rounding. The golden trainer built from it is compared with the chip before training,
/// so a wrong estimate is reported, never silently used.
fn latent_start_magnitude(
    net: &Network,
    place: CorePlace,
    neurons: usize,
    latent: Option<&[i32]>,
) -> Option<i32> {
    let d = dense_layer(net, place.layer)?;
    let Weights::Latent { values } = &d.weights else {
        return None;
    };
    let latent = latent?;
    let inputs = d.inputs as usize;
    // The core's latent memory is axon-major: `latent[a * neurons + n]` for its neuron `n`.
    let mut best: Option<(f32, i32)> = None;
    for n in 0..neurons {
        for a in 0..inputs {
            let w = *values.get((place.first + n) * inputs + a)?;
            let l = *latent.get(a * neurons + n)?;
            if !matches!(best, Some((bw, _)) if bw.abs() >= w.abs()) {
                best = Some((w, l));
            }
        }
    }
    let (w, l) = best?;
    (w != 0.0).then(|| (f64::from(l) / f64::from(w)).round() as i32)
}

/// Where a core's neurons sit in the network: weighted layer and first neuron.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CorePlace {
    layer: usize,
    first: usize,
}

/// The weighted layer and neuron offset of every core of a dense stack, from the image alone:
/// the cores the host inputs reach are layer 0, the cores a layer-`l` core's fan-out reaches
/// are layer `l + 1`; a core's first neuron is the axon (dense layers: the input unit) its
/// neuron 0 reaches in the next layer, or its host output channel.
fn core_places(image: &ChipImage) -> anyhow::Result<BTreeMap<u16, CorePlace>> {
    let mut layer: BTreeMap<u16, usize> = BTreeMap::new();
    for ch in 0..image.io.inputs.sources() {
        for d in image.io.inputs.destinations(ch) {
            if let Destination::Core { tile, .. } = *d {
                layer.insert(tile.0, 0);
            }
        }
    }
    for _ in 0..image.cores.len() {
        let mut changed = false;
        for core in &image.cores {
            let Some(&l) = layer.get(&core.tile.0) else {
                continue;
            };
            for n in 0..core.neurons as usize {
                for d in core.fanout.destinations(n) {
                    if let Destination::Core { tile, .. } = *d {
                        if layer.get(&tile.0).is_none_or(|&x| x < l + 1) {
                            layer.insert(tile.0, l + 1);
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut places = BTreeMap::new();
    for core in &image.cores {
        let Some(&l) = layer.get(&core.tile.0) else {
            bail!("{}: no host input reaches this core", core.tile);
        };
        let index = |n: usize| -> Option<usize> {
            core.fanout.destinations(n).first().map(|d| match *d {
                Destination::Host { channel } => channel as usize,
                Destination::Core { axon, .. } => axon as usize,
            })
        };
        let first = index(0).with_context(|| format!("{}: neuron 0 sends nowhere", core.tile))?;
        for n in 0..core.neurons as usize {
            if index(n) != Some(first + n) {
                bail!(
                    "{}: neuron {n} does not reach unit {} of the next layer (not a dense stack)",
                    core.tile,
                    first + n
                );
            }
        }
        places.insert(core.tile.0, CorePlace { layer: l, first });
    }
    Ok(places)
}

/// The events of the whole chip so far: every core's counters and every link's hops.
fn chip_events(chip: &Chip) -> EventCounts {
    let mut e = EventCounts::default();
    for t in chip.used_tiles() {
        e += chip.core_events(t);
    }
    let (ew, ns) = chip.hop_counts();
    e.hops_ew = ew;
    e.hops_ns = ns;
    e
}

/// The golden fixed-point trainer kept in step with the chip (`--check`).
struct GoldenCheck {
    trainer: OnChipTrainer,
    /// Per learning core: tile, place, neurons, axons.
    cores: Vec<(LearningCore, CorePlace)>,
    /// Inputs of each weighted layer.
    inputs: Vec<usize>,
    /// Samples whose chip latent writes differed from the golden's update count.
    update_count_mismatches: usize,
}

impl GoldenCheck {
    /// Builds the golden trainer for `net` with the rule the image's learning cores run, its
    /// LFSRs aligned with theirs, and checks that it starts where the image does.
    fn new(
        net: &Network,
        image: &ChipImage,
        chip: &Chip,
        cores: &[LearningCore],
        image_path: &Path,
    ) -> anyhow::Result<Self> {
        let places = core_places(image).with_context(|| {
            format!(
                "{}: --check needs a dense stack of layers",
                image_path.display()
            )
        })?;
        let inputs: Vec<usize> = net
            .layers
            .iter()
            .filter_map(|l| match &l.kind {
                LayerKind::Dense(d) => Some(d.inputs as usize),
                _ => None,
            })
            .collect();
        let layers = inputs.len();
        let mut rule = OnChipRule::s4nn(layers);
        rule.eta = vec![0; layers];
        rule.latent_bits = u32::from(image.chip.core.latent_weight_bits);
        rule.shift = firmware::learn_out::SHIFT;
        // Hidden errors: normalised over the whole layer when its cores exchange their sums
        // of squares (`norm_peers` > 0), else per core (one core: the whole layer).
        let mut peers = false;
        for c in cores {
            if param(image, c.tile, "theta_learn").is_ok_and(|v| v != 0) {
                bail!(
                    "{}: the image learns thresholds (`theta_learn` on {}); --check compares weights under a fixed-threshold rule only",
                    image_path.display(),
                    c.tile
                );
            }
            peers |= param(image, c.tile, firmware::learn_hidden::NORM_PEERS).is_ok_and(|v| v > 0);
        }
        rule.normalisation = if peers {
            Normalisation::Layer
        } else {
            Normalisation::Core
        };
        let mut placed = Vec::new();
        let mut chunk: Vec<Option<usize>> = vec![None; layers];
        for c in cores {
            let place = *places
                .get(&c.tile.0)
                .with_context(|| format!("{}: not reached from the host inputs", c.tile))?;
            if let Some(size) = chunk.get_mut(place.layer) {
                *size = Some(size.map_or(c.neurons, |s| s.max(c.neurons)));
            }
        }
        let mut gamma = None;
        let mut magnitude = None;
        for c in cores {
            let place = places[&c.tile.0];
            if place.layer >= layers {
                bail!(
                    "{}: the image has more layers than the model (core in weighted layer {})",
                    c.tile,
                    place.layer
                );
            }
            if c.axons != inputs[place.layer] {
                bail!(
                    "{}: {} axons, but layer {} of the model has {} inputs",
                    c.tile,
                    c.axons,
                    place.layer,
                    inputs[place.layer]
                );
            }
            let eta = param(image, c.tile, "eta")?;
            let g = param(image, c.tile, "gamma")?;
            if rule.eta[place.layer] != 0 && rule.eta[place.layer] != eta {
                bail!(
                    "{}: η = {eta}, other cores of layer {} have {}",
                    c.tile,
                    place.layer,
                    rule.eta[place.layer]
                );
            }
            rule.eta[place.layer] = eta;
            if gamma.is_some_and(|x| x != g) {
                bail!("{}: γ = {g} differs from other learning cores", c.tile);
            }
            gamma = Some(g);
            let size = chunk[place.layer].unwrap_or(c.neurons);
            if place.first % size != 0 {
                bail!(
                    "{}: the layer's cores are not equal contiguous chunks of {size} neurons",
                    c.tile
                );
            }
            let binary = dense_layer(net, place.layer)
                .is_some_and(|d| matches!(d.weights, Weights::Binary { .. }));
            if magnitude.is_none() && binary {
                magnitude = chip
                    .core(c.tile)
                    .and_then(|k| k.latent())
                    .and_then(|l| l.first())
                    .map(|v| v.abs());
            }
            if magnitude.is_none() && !binary {
                magnitude = latent_start_magnitude(
                    net,
                    place,
                    c.neurons,
                    chip.core(c.tile).and_then(|k| k.latent()),
                );
            }
            placed.push((c.clone(), place));
        }
        rule.gamma = u16::try_from(gamma.unwrap_or(3)).context("the image's γ is out of range")?;
        rule.init_magnitude = magnitude.unwrap_or(rule.init_magnitude).max(1);
        let outputs: Vec<usize> = net
            .layers
            .iter()
            .filter_map(|l| match &l.kind {
                LayerKind::Dense(d) => Some(d.outputs as usize),
                _ => None,
            })
            .collect();
        let per_core: Vec<usize> = chunk
            .iter()
            .zip(&outputs)
            .map(|(c, &o)| c.unwrap_or(o))
            .collect();
        let mut trainer = OnChipTrainer::new(net, rule, Some(&per_core))
            .context("cannot build the golden on-chip trainer for --check")?;
        for (c, place) in &placed {
            let lfsr = chip
                .core(c.tile)
                .with_context(|| format!("{} holds no core", c.tile))?
                .lfsr();
            if let Some(slot) = trainer.lfsr_mut(place.layer, place.first / per_core[place.layer]) {
                *slot = lfsr;
            }
        }
        let check = GoldenCheck {
            trainer,
            cores: placed,
            inputs,
            update_count_mismatches: 0,
        };
        check.compare(chip).map_err(|e| {
            anyhow::anyhow!(
                "before training: {e}; was {} mapped from this model with `spikemesh map --learning`, and not trained already?",
                image_path.display()
            )
        })?;
        Ok(check)
    }

    /// Compares every learning core's latent memory and binary rows with the golden's.
    fn compare(&self, chip: &Chip) -> Result<(), String> {
        let net = self.trainer.network();
        let dense: Vec<&model::network::Dense> = net
            .layers
            .iter()
            .filter_map(|l| match &l.kind {
                LayerKind::Dense(d) => Some(d),
                _ => None,
            })
            .collect();
        for (c, place) in &self.cores {
            let core = chip
                .core(c.tile)
                .ok_or_else(|| format!("{} holds no core", c.tile))?;
            let latent = core
                .latent()
                .ok_or_else(|| format!("{}: no latent memory", c.tile))?;
            let golden = self
                .trainer
                .latent(place.layer)
                .ok_or_else(|| format!("layer {} missing in the golden", place.layer))?;
            let inputs = self.inputs[place.layer];
            let (k, span) = (c.neurons, place.first..place.first + c.neurons);
            for a in 0..c.axons {
                for n in 0..k {
                    let j = place.first + n;
                    let want = golden[j * inputs + a];
                    let got = latent[a * k + n];
                    if got != want {
                        return Err(format!(
                            "{} (layer {}, neurons {span:?}): latent weight of axon {a}, neuron {n} is {got} on the chip, {want} in the golden trainer",
                            c.tile, place.layer
                        ));
                    }
                    let want_sign = dense[place.layer].weights.int_at(j * inputs + a);
                    let got_sign = core.synapses().weight(a, n);
                    if got_sign != want_sign {
                        return Err(format!(
                            "{} (layer {}, neurons {span:?}): binary weight of axon {a}, neuron {n} is {got_sign:?} on the chip, {want_sign:?} in the golden trainer",
                            c.tile, place.layer
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Learning energy of one cost profile, per training sample.
#[derive(Debug, Clone, Serialize)]
struct LearnEnergy {
    /// Profile name.
    profile: String,
    /// Joules per sample of the learning phase.
    total_j: f64,
    /// By component (per sample).
    components: EnergyBreakdown,
}

/// What one epoch measured.
#[derive(Debug, Clone, Serialize)]
struct EpochFigures {
    /// Epoch number, from 1.
    epoch: usize,
    /// Training samples visited.
    samples: usize,
    /// Chip accuracy on the training samples before each update.
    online_accuracy: f64,
    /// Test samples run.
    test_samples: usize,
    /// Chip test accuracy after the epoch (the written image under `spikemesh run`).
    test_accuracy: f64,
    /// Host BS4NN test accuracy after the same epoch (`--compare-host`).
    host_test_accuracy: Option<f64>,
    /// Cycles of a learning phase, mean over the epoch's samples.
    learn_cycles_per_sample_mean: f64,
    /// Cycles of the longest learning phase.
    learn_cycles_per_sample_max: f64,
    /// Packets the mesh accepted during the learning phases.
    learn_packets: u64,
    /// Latent weights written by the learning kernels.
    latent_updates: u64,
    /// Samples whose learning phase wrote at least one latent weight.
    samples_with_updates: usize,
    /// Cycles of a training sample's full-window inference, mean.
    inference_cycles_per_sample_mean: f64,
    /// Learning-phase energy per sample under each built-in profile.
    learning_energy_per_sample: Vec<LearnEnergy>,
    /// Wall-clock seconds of the epoch (training, test, host training).
    wall_seconds: f64,
}

/// The JSON report.
#[derive(Serialize)]
struct LearnReport<'a> {
    image: String,
    dataset: String,
    t_max: u16,
    encoding: EncodingRule,
    seed: u64,
    checked: bool,
    epochs: &'a [EpochFigures],
}

/// The seeded order of the training samples: one permutation per epoch, Fisher–Yates driven by
/// a splitmix64 stream (`model::data::splitmix64` of a counter started at the seed), so the
/// order depends on the seed only.
struct SampleShuffle {
    state: u64,
}

impl SampleShuffle {
    fn new(seed: u64) -> Self {
        SampleShuffle { state: seed }
    }

    /// A draw in `0..bound` (`bound ≥ 1`) by the multiply-shift reduction.
    fn below(&mut self, bound: usize) -> usize {
        self.state = self.state.wrapping_add(1);
        let x = model::data::splitmix64(self.state);
        ((u128::from(x) * bound as u128) >> 64) as usize
    }

    /// The next epoch's permutation of `0..n`.
    fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            order.swap(i, j);
        }
        order
    }
}

/// The first `limit` samples of `set` (all when `limit` is `None`).
fn prefix(set: &Dataset, limit: Option<usize>) -> Dataset {
    let n = limit.map_or(set.len(), |l| l.min(set.len()));
    let px = set.image_len();
    Dataset {
        name: set.name.clone(),
        height: set.height,
        width: set.width,
        pixels: set.pixels[..n * px].to_vec(),
        labels: set.labels[..n].to_vec(),
        classes: set.classes,
    }
}

/// The host BS4NN trainer for the architecture of `net` (see `--compare-host`): the
/// thresholds, window and encoding of `net`, scale α fixed at 1 (so the integer threshold is
/// the model's), γ and the silent-label target of the on-chip rule, starting from
/// the model's start weights (those the chip starts from), seeded shuffled order, learning
/// rate `lr[l]` per layer (0: frozen).
fn host_trainer(net: &Network, gamma: u16, lr: &[f32], seed: u64) -> anyhow::Result<Trainer> {
    let mut arch = vec![net.input.len()];
    let mut threshold = Vec::new();
    for (i, l) in net.layers.iter().enumerate() {
        match &l.kind {
            LayerKind::Dense(d) => {
                arch.push(d.outputs as usize);
                threshold.push(match &d.threshold {
                    Threshold::Layer(t) => *t,
                    Threshold::Neuron(_) => bail!(
                        "layer {i} ({:?}) has per-neuron thresholds: --compare-host needs one threshold per layer",
                        l.name
                    ),
                });
            }
            LayerKind::Flatten if i == 0 => {}
            _ => bail!(
                "layer {i} ({:?}): --compare-host trains dense stacks only",
                l.name
            ),
        }
    }
    let mut cfg = TrainConfig::bs4nn(arch, seed);
    let n = threshold.len();
    cfg.rule = Rule::Bs4nn;
    cfg.t_max = net.t_max;
    cfg.encoding = net.encoding.unwrap_or(EncodingRule::Bs4nn);
    cfg.threshold = threshold;
    cfg.lr = (0..n)
        .map(|l| f64::from(lr.get(l).copied().unwrap_or(0.0)))
        .collect();
    cfg.lr_scale = vec![0.0; n];
    cfg.scale_init = vec![1.0; n];
    cfg.init_low = vec![-1.0; n];
    cfg.init_high = vec![1.0; n];
    cfg.gamma = gamma;
    cfg.silent_label_shift = gamma;
    cfg.order = SampleOrder::Shuffle;
    let mut host =
        Trainer::new(cfg).context("cannot configure the host trainer for --compare-host")?;
    // Start from the network the chip starts from (latent weights as they are, binary ±1:
    // the chip's `round(w · m)` / `±m` in units of its init magnitude m).
    for (l, d) in net
        .layers
        .iter()
        .filter_map(|x| match &x.kind {
            LayerKind::Dense(d) => Some(d),
            _ => None,
        })
        .enumerate()
    {
        let n = (d.inputs as usize) * (d.outputs as usize);
        let values: Option<Vec<f32>> = (0..n).map(|k| d.weights.real_at(k)).collect();
        let values = values.with_context(|| format!("layer {l}: weights unreadable"))?;
        host.set_start_weights(l, &values)
            .with_context(|| format!("--compare-host: layer {l}"))?;
    }
    Ok(host)
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let path = args.image.display().to_string();
    let image =
        ChipImage::load(&args.image).with_context(|| format!("cannot load chip image {path}"))?;
    let window = image_window(&image).with_context(|| path.clone())?;
    let cores = learning_cores(&image);
    if cores.is_empty() {
        bail!(
            "{path}: the image has no learning cores (it was mapped for inference only); map the model with `spikemesh map --learning MODEL -o IMAGE`"
        );
    }
    let net = match &args.model {
        Some(p) => {
            Some(Network::load(p).with_context(|| format!("cannot load model {}", p.display()))?)
        }
        None => None,
    };
    let (t_max, rule) = input_encoding(net.as_ref(), args.tmax, args.encoding)?;
    if t_max != window {
        bail!("t_max = {t_max}, but the image's firmware was mapped with t_max = {window}");
    }
    if (args.check || args.compare_host) && net.is_none() {
        bail!("--check and --compare-host need --model (the network the image was mapped from)");
    }
    if let Some(net) = &net {
        if net.outputs() != image.io.outputs as usize {
            bail!(
                "the model has {} outputs, the chip image {} output channels: was the image mapped from this model?",
                net.outputs(),
                image.io.outputs
            );
        }
    }

    let places = core_places(&image).ok();

    let spec: DatasetSpec = args.dataset.parse()?;
    let data = spec.load()?;
    let train = prefix(&data.train, args.limit);
    let test = prefix(&data.test, args.test_limit);
    let encoder = LatencyEncoder { rule, t_max };
    let mut chip = Chip::new(&image).context("cannot build the chip from the image")?;
    let inputs = train.image_len() * rule.channels();
    if inputs != chip.input_channels() {
        bail!(
            "{}: images encode to {inputs} inputs ({} pixels, {rule:?} encoding), but the chip image has {} input channels",
            train.name,
            train.image_len(),
            chip.input_channels()
        );
    }
    if train
        .labels
        .iter()
        .any(|&l| usize::from(l) >= image.io.outputs as usize)
    {
        bail!(
            "{}: labels go up to {}, but the chip image has {} output channels",
            train.name,
            train.classes.saturating_sub(1),
            image.io.outputs
        );
    }

    let mut check = match (&net, args.check) {
        (Some(net), true) => Some(GoldenCheck::new(net, &image, &chip, &cores, &args.image)?),
        _ => None,
    };
    let mut host = match (&net, args.compare_host) {
        (Some(net), true) => {
            let gamma = param(&image, cores[0].tile, "gamma")?;
            // Per layer: the chip's largest step relative to its start weights, or --host-lr
            // for the layers that learn on the chip; 0 (frozen) for the others.
            let mut lr = Vec::new();
            if let Some(places) = &places {
                for c in &cores {
                    if let Some(p) = places.get(&c.tile.0) {
                        if lr.len() <= p.layer {
                            lr.resize(p.layer + 1, 0.0);
                        }
                        let eta = param(&image, c.tile, "eta")?;
                        let latent = image.core(c.tile).and_then(|k| k.latent.as_deref());
                        let magnitude = latent_start_magnitude(net, *p, c.neurons, latent)
                            .or_else(|| latent.and_then(|l| l.first()).map(|v| v.abs()))
                            .map_or(1, |m| m.max(1));
                        let step = f64::from(eta)
                            * f64::from(1u32 << (15 - firmware::learn_out::SHIFT))
                            / f64::from(magnitude);
                        lr[p.layer] = if eta == 0 {
                            0.0
                        } else {
                            args.host_lr.unwrap_or(step as f32)
                        };
                    }
                }
            }
            Some(host_trainer(
                net,
                u16::try_from(gamma).unwrap_or(3),
                &lr,
                args.seed,
            )?)
        }
        _ => None,
    };
    let profiles: Vec<CostProfile> = BUILTIN_PROFILES
        .iter()
        .filter_map(|n| CostProfile::builtin(n))
        .collect();
    let frequency = image.chip.clock.frequency_mhz;
    let n_cores = image.cores.len() as u32;

    say!(
        "{path}: {}x{} chip, {} cores ({} learning: {}); {} training samples x {} epochs, {} test samples; t_max {t_max}, {rule:?} encoding; γ {}, η {}{}",
        image.chip.mesh.width,
        image.chip.mesh.height,
        image.cores.len(),
        cores.len(),
        cores.iter().map(|c| c.tile.to_string()).collect::<Vec<_>>().join(", "),
        train.len(),
        args.epochs,
        test.len(),
        param(&image, cores[0].tile, "gamma")?,
        cores
            .iter()
            .map(|c| param(&image, c.tile, "eta").map(|e| e.to_string()))
            .collect::<anyhow::Result<Vec<_>>>()?
            .join("/"),
        if check.is_some() { "; checked against the golden trainer after every sample" } else { "" }
    );

    let mut shuffler = SampleShuffle::new(args.seed);
    let mut epochs = Vec::new();
    let mut times = Vec::with_capacity(train.image_len());
    let mut spikes: Vec<(u32, u32)> = Vec::with_capacity(train.image_len());
    for epoch in 1..=args.epochs {
        let started = Instant::now();
        let n = train.len();
        let order = shuffler.permutation(n);
        let pb = progress_bar(n, &format!("epoch {epoch}/{}", args.epochs));
        let mut correct = 0usize;
        let mut learn_cycles = Vec::with_capacity(n);
        let mut infer_cycles = 0u64;
        let mut learn_events = EventCounts::default();
        let mut learn_packets = 0u64;
        let mut with_updates = 0usize;
        for (done, &k) in order.iter().enumerate() {
            encoder.encode_into(train.image(k), &mut times);
            spikes.clear();
            spikes.extend(
                times
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.0 < t_max)
                    .map(|(i, t)| (i as u32, u32::from(t.0))),
            );
            let label = train.label(k);
            let out = chip
                .run_sample(&spikes, u32::from(t_max), StopRule::FullWindow)
                .with_context(|| format!("epoch {epoch}, {} sample {k}", train.name))?;
            infer_cycles += out.cycles;
            let (predicted, _) = decode_ttfs(&chip, &image.io, &out.first_spike);
            correct += usize::from(predicted == label);
            let before = chip_events(&chip);
            let learned = chip
                .learn_sample(label as u32)
                .with_context(|| format!("epoch {epoch}, {} sample {k}: learning", train.name))?;
            let delta = chip_events(&chip).since(&before);
            learn_cycles.push(learned.cycles as f64);
            learn_packets += learned.packets;
            with_updates += usize::from(delta.learn_updates > 0);
            learn_events += delta;
            if let Some(g) = check.as_mut() {
                let outcome = g.trainer.learn_sample(&times, label).with_context(|| {
                    format!("epoch {epoch}, {} sample {k}: golden trainer", train.name)
                })?;
                if outcome.updates != delta.learn_updates {
                    g.update_count_mismatches += 1;
                }
                if let Err(e) = g.compare(&chip) {
                    bail!(
                        "--check: epoch {epoch}, sample {done} of the epoch ({} sample {k}, label {label}): {e}",
                        train.name
                    );
                }
            }
            if done % 16 == 15 || done + 1 == n {
                pb.set_position(done as u64 + 1);
                pb.set_message(format!(
                    "online acc {:.2} %",
                    100.0 * correct as f64 / (done + 1) as f64
                ));
            }
        }
        pb.finish_and_clear();

        // The trained chip as an image: written, and tested on a fresh chip exactly as
        // `spikemesh run` would run the written file.
        let trained = chip
            .snapshot_image(&image)
            .context("cannot snapshot the trained chip")?;
        trained
            .save(&args.output)
            .with_context(|| format!("cannot write {}", args.output.display()))?;
        let golden_now = match &check {
            Some(g) => Some(
                GoldenNetwork::new(g.trainer.network())
                    .context("cannot compile the golden trainer's network")?,
            ),
            None => None,
        };
        let setup = InferenceSetup {
            image: &trained,
            workload: Workload::Ttfs {
                encoder,
                golden: golden_now.as_ref(),
            },
            stop: StopRule::FirstOutput,
            raster: false,
            trace_first: false,
        };
        let tpb = progress_bar(test.len(), &format!("test {epoch}/{}", args.epochs));
        let r = infer(&test, usize::MAX, &setup, &tpb)?;
        tpb.finish_and_clear();
        if let Some(m) = &r.mismatch {
            bail!(
                "--check: after epoch {epoch} the trained chip disagrees with the golden trainer's network on test sample {}: {}",
                m.sample,
                m.detail
            );
        }
        let host_acc = match host.as_mut() {
            Some(h) => {
                let hpb = progress_bar(n, &format!("host {epoch}/{}", args.epochs));
                h.train_epoch(&train, |p| {
                    if p.done % 64 == 0 || p.done == p.total {
                        hpb.set_position(p.done as u64);
                    }
                })
                .context("host trainer")?;
                hpb.finish_and_clear();
                Some(h.evaluate(&test).context("host evaluation")?)
            }
            None => None,
        };
        let ns = n.max(1) as f64;
        let (lc_mean, lc_max) = mean_max(&learn_cycles);
        let learn_seconds = learn_cycles.iter().sum::<f64>() / (frequency * 1e6);
        let energy: Vec<LearnEnergy> = profiles
            .iter()
            .map(|p| {
                let e = p.energy(&learn_events, n_cores, learn_seconds);
                let per = EnergyBreakdown {
                    synaptic_ops_j: e.synaptic_ops_j / ns,
                    neuron_updates_j: e.neuron_updates_j / ns,
                    spikes_j: e.spikes_j / ns,
                    hops_j: e.hops_j / ns,
                    learning_j: e.learning_j / ns,
                    static_j: e.static_j / ns,
                };
                LearnEnergy {
                    profile: p.name.clone(),
                    total_j: per.total_j(),
                    components: per,
                }
            })
            .collect();
        let f = EpochFigures {
            epoch,
            samples: n,
            online_accuracy: correct as f64 / ns,
            test_samples: r.samples,
            test_accuracy: if r.samples > 0 {
                r.correct as f64 / r.samples as f64
            } else {
                0.0
            },
            host_test_accuracy: host_acc,
            learn_cycles_per_sample_mean: lc_mean,
            learn_cycles_per_sample_max: lc_max,
            learn_packets,
            latent_updates: learn_events.learn_updates,
            samples_with_updates: with_updates,
            inference_cycles_per_sample_mean: infer_cycles as f64 / ns,
            learning_energy_per_sample: energy,
            wall_seconds: started.elapsed().as_secs_f64(),
        };
        say!(
            "epoch {epoch}/{}: online accuracy {:.2} % ({n} samples), test accuracy {:.2} % ({}/{}){}; {:.1} s",
            args.epochs,
            100.0 * f.online_accuracy,
            100.0 * f.test_accuracy,
            r.correct,
            r.samples,
            match f.host_test_accuracy {
                Some(h) => format!(" | host BS4NN {:.2} %", 100.0 * h),
                None => String::new(),
            },
            f.wall_seconds
        );
        say!(
            "  learning per sample: {:.1} cycles (max {:.0}), {:.2} packets, {:.1} latent updates ({} of {n} samples updated); inference (full window) {:.1} cycles",
            f.learn_cycles_per_sample_mean,
            f.learn_cycles_per_sample_max,
            f.learn_packets as f64 / ns,
            f.latent_updates as f64 / ns,
            f.samples_with_updates,
            f.inference_cycles_per_sample_mean
        );
        for e in &f.learning_energy_per_sample {
            let c = &e.components;
            say!(
                "  learning energy per sample under {}: {:.3} nJ (updates {:.3}, packets+hops {:.3}, static {:.3})",
                e.profile,
                e.total_j * 1e9,
                c.learning_j * 1e9,
                (c.spikes_j + c.hops_j) * 1e9,
                c.static_j * 1e9
            );
        }
        epochs.push(f);
    }
    if args.epochs == 0 {
        chip.snapshot_image(&image)
            .context("cannot snapshot the chip")?
            .save(&args.output)
            .with_context(|| format!("cannot write {}", args.output.display()))?;
    }
    if let Some(g) = &check {
        say!(
            "check: latent weights and binary rows of every learning core equal the golden trainer's after all {} samples; latent writes equal the golden's update count on {} of them",
            train.len() * args.epochs,
            (train.len() * args.epochs).saturating_sub(g.update_count_mismatches)
        );
    }
    say!("wrote {}", args.output.display());
    if let Some(p) = &args.report {
        let rep = LearnReport {
            image: path.clone(),
            dataset: args.dataset.clone(),
            t_max,
            encoding: rule,
            seed: args.seed,
            checked: check.is_some(),
            epochs: &epochs,
        };
        let json = serde_json::to_string_pretty(&rep)?;
        report::write_file(p, "learning report", json.as_bytes())?;
        say!("wrote {}", p.display());
    }
    Ok(())
}
