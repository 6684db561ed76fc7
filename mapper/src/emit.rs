//! Mapping a network end to end: partition, estimate traffic, place (optimised and naive),
//! fill synapse rows, thresholds and fan-out tables, and emit the chip image with a report.
//!
//! # Conventions of the emitted image
//!
//! - Every core runs the TTFS firmware (`firmware/asm/ttfs.s`) with its layer's parameters
//!   patched into the data memory: `threshold` (or `threshold_field` = 1 and per-neuron
//!   thresholds preloaded into the threshold field), `t_max` (the model's window), `psp_ramp`,
//!   `cmp_ge`, `out_delay`, and for output-layer cores `snap_step = t_max − fallback_offset`,
//!   the timestep whose potentials the no-spike decoding fallback reads from the `V_SNAP`
//!   field (timestep `t` of the chip computes the golden model's time `t`).
//! - Axon `a` of a core reads input unit `axons[a]` of its layer ([`crate::partition::Part`]):
//!   for a dense layer that is unit `a` (every part of a dense layer holds all of its layer's
//!   units); a unit is an input channel or a neuron of the previous weighted layer, or a
//!   max-pooled group of them.
//! - A neuron's fan-out lists one destination per (part of the next weighted layer, axon whose
//!   unit holds the neuron), in part then axon order (source replication); an output-layer
//!   neuron `j` sends to host channel `j`. Input channels are sent the same way to the first
//!   weighted layer.
//! - Conv cores have a presence plane (a synapse per kernel tap inside the input, none for
//!   padding); cores of a layer that reads max-pooled units run first-arrival-only.

use crate::partition::{partition, Connectivity, LoweredLayer, Partitioning};
use crate::place::{
    cost, place_naive, place_optimised, AnnealOptions, Endpoint, MeshShape, Placement, TrafficGraph,
};
use crate::MapError;
use isa::chip::{ChipDescription, TileId};
use isa::image::{ChipImage, CoreImage, Destination, FanoutTable, FieldInit, IoMap, SynapseMemory};
use model::network::{
    FireRule, Layer, LayerKind, Network, NeuronModel, PspKernel, Threshold, Weights,
};
use serde::Serialize;

/// Which placement the image uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PlacementKind {
    /// Greedy construction refined by simulated annealing.
    Optimised,
    /// Partition `i` on tile `i`, row-major.
    Naive,
}

/// Options of the mapper.
#[derive(Debug, Clone, PartialEq)]
pub struct MapOptions {
    /// The placement to emit.
    pub placement: PlacementKind,
    /// Annealer settings (seed, effort).
    pub anneal: AnnealOptions,
    /// Expected fraction of input channels that spike per inference (1.0: all of them), used to
    /// estimate traffic.
    pub input_activity: f64,
    /// Expected fraction of each weighted layer's neurons that spike per inference.
    pub layer_activity: Option<Vec<f64>>,
    /// On-chip learning with this rule (`docs/LEARNING.md`, `emit_learning`): every core
    /// gets the learning firmware (`firmware::learn_out::chip_program`), latent weights
    /// initialised as `model::onchip::OnChipTrainer::new` does (`±init_magnitude` from binary
    /// weights, `round(w · init_magnitude)` saturated from latent real weights), the rule's γ
    /// and per-layer η, and the reverse-routing table; the output layer learns and sends its
    /// hidden errors back, the hidden layers learn from them. The kernels fix `shift` and
    /// `hidden_shift` at 8, stochastic rounding, and the latent width of the chip
    /// (`core.latent_weight_bits`); another value is refused. Default `None`: the inference
    /// image.
    pub learning: Option<model::onchip::OnChipRule>,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            placement: PlacementKind::Optimised,
            anneal: AnnealOptions::default(),
            input_activity: 1.0,
            layer_activity: None,
            learning: None,
        }
    }
}

/// One core of the mapping, for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoreReport {
    /// Tile index.
    pub tile: u16,
    /// Mesh coordinates.
    pub x: u16,
    /// Mesh coordinates.
    pub y: u16,
    /// Layer name.
    pub layer: String,
    /// First neuron of the layer this core holds.
    pub first_neuron: u32,
    /// Neurons held.
    pub neurons: u32,
    /// Axons used.
    pub axons: u32,
    /// Synapse bits used.
    pub synapse_bits: u64,
    /// Fan-out entries used.
    pub fanout_entries: u32,
    /// Utilisation of the core's neurons, axons, synapse bits and fan-out entries (0..1).
    pub utilisation: [f64; 4],
}

/// Traffic figures of one placement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PlacementFigures {
    /// Estimated packets per inference (all streams, host included).
    pub packets: f64,
    /// Estimated packets × hops per inference.
    pub packet_hops: f64,
    /// Average hops per packet.
    pub average_hops: f64,
}

/// What `spikemesh map` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapReport {
    /// Mesh width.
    pub mesh_width: u16,
    /// Mesh height.
    pub mesh_height: u16,
    /// The placement emitted.
    pub placement: PlacementKind,
    /// Per core, in tile order.
    pub cores: Vec<CoreReport>,
    /// Figures of the optimised placement.
    pub optimised: PlacementFigures,
    /// Figures of the naive placement.
    pub naive: PlacementFigures,
}

/// A chip image and its report.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The image.
    pub image: ChipImage,
    /// The report.
    pub report: MapReport,
}

/// The neuron model, weights and thresholds of a weighted layer.
struct WeightedParams<'a> {
    neuron: NeuronModel,
    weights: &'a Weights,
    threshold: &'a Threshold,
}

fn weighted_params(layer: &Layer) -> Option<WeightedParams<'_>> {
    match &layer.kind {
        LayerKind::Dense(d) => Some(WeightedParams {
            neuron: d.neuron,
            weights: &d.weights,
            threshold: &d.threshold,
        }),
        LayerKind::Conv2d(c) => Some(WeightedParams {
            neuron: c.neuron,
            weights: &c.weights,
            threshold: &c.threshold,
        }),
        LayerKind::MaxPool2d(_) | LayerKind::Flatten => None,
    }
}

/// Per source of `layer` (a neuron of the layer before, or an input channel), its
/// destinations: one per (part of `layer`, axon whose unit holds the source).
fn consumers(
    layer: &LoweredLayer,
    parts: &Partitioning,
    tile_of: &[u16],
    sources: usize,
) -> Vec<Vec<Destination>> {
    let mut out = vec![Vec::new(); sources];
    for q in layer.parts.clone() {
        for (a, &u) in parts.parts[q].axons.iter().enumerate() {
            for &s in layer.sources(u) {
                out[s as usize].push(Destination::Core {
                    tile: TileId(tile_of[q]),
                    axon: a as u32,
                });
            }
        }
    }
    out
}

/// The neuron firmware the cores of a mapping run.
#[derive(Clone, Copy)]
pub(crate) enum CoreFirmware<'a> {
    /// TTFS integrate-and-fire (`ttfs.s`), parameters from the network's layers.
    Ttfs,
    /// Multi-spike LIF (`lif_reset.s`): the network passed to [`map_with`] is the skeleton
    /// of this LIF network (same layers, sizes and weights), its parameters come from here.
    Lif(&'a model::lif::LifNetwork),
}

/// Maps `net` onto `chip`.
pub fn map(net: &Network, chip: &ChipDescription, opts: &MapOptions) -> Result<Mapping, MapError> {
    map_with(net, chip, opts, CoreFirmware::Ttfs)
}

/// Maps `net` onto `chip` with the cores running `firmware`.
pub(crate) fn map_with(
    net: &Network,
    chip: &ChipDescription,
    opts: &MapOptions,
    firmware: CoreFirmware<'_>,
) -> Result<Mapping, MapError> {
    let model = match firmware {
        CoreFirmware::Ttfs => firmware::NeuronModel::Ttfs,
        CoreFirmware::Lif(_) => firmware::NeuronModel::LifReset,
    };
    let program = model
        .program()
        .map_err(|e| MapError::FirmwareSource(e.to_string()))?;
    if matches!(firmware, CoreFirmware::Lif(_)) && opts.learning.is_some() {
        return Err(MapError::Learning {
            field: "network".into(),
            rule: "the learning kernels train TTFS networks; a LIF network maps for inference only"
                .into(),
        });
    }
    let recurrent: Vec<bool> = match firmware {
        CoreFirmware::Ttfs => Vec::new(),
        CoreFirmware::Lif(lif) => lif.layers.iter().map(|l| l.is_recurrent()).collect(),
    };
    let parts = partition(
        net,
        chip,
        program.text.len(),
        program.data.len(),
        &recurrent,
    )?;
    let mut params = Vec::with_capacity(parts.layers.len());
    for lowered in &parts.layers {
        let d = net
            .layers
            .get(lowered.layer)
            .and_then(weighted_params)
            .ok_or_else(|| MapError::Unsupported {
                layer: lowered.layer,
                name: lowered.name.clone(),
                what: "not a weighted layer (a mapper bug)".into(),
            })?;
        let unsupported = |what: String| MapError::Unsupported {
            layer: lowered.layer,
            name: lowered.name.clone(),
            what,
        };
        if d.neuron.delay != 1 {
            return Err(unsupported(format!(
                "neuron.delay = {}: the chip's mesh transit is one timestep, so only delay 1 maps exactly",
                d.neuron.delay
            )));
        }
        match &d.weights {
            Weights::Binary { .. } => {}
            Weights::Int { bits, .. } if *bits <= chip.core.weight_bits => {}
            Weights::Int { bits, .. } => {
                return Err(unsupported(format!(
                    "{bits}-bit weights need core.weight_bits >= {bits}, the chip has {}",
                    chip.core.weight_bits
                )))
            }
            Weights::Latent { .. } if opts.learning.is_some() => {}
            Weights::Latent { .. } => {
                return Err(unsupported(
                    "latent (real) weights: export the model to sign or integer weights first"
                        .into(),
                ))
            }
        }
        params.push(d);
    }

    let shape = MeshShape {
        width: chip.mesh.width,
        height: chip.mesh.height,
        host_tile: chip
            .tile_at(chip.io.x, chip.io.y)
            .expect("validated chip has its I/O tile on the mesh")
            .0,
    };
    let graph = traffic(&parts, opts);
    let naive = place_naive(&graph, shape)?;
    let optimised = place_optimised(&graph, shape, opts.anneal)?;
    let chosen = match opts.placement {
        PlacementKind::Optimised => &optimised,
        PlacementKind::Naive => &naive,
    };
    let figures = |p: &Placement| {
        let packets: f64 = graph.edges.iter().map(|e| e.2).sum();
        let packet_hops = cost(&graph, shape, p);
        PlacementFigures {
            packets,
            packet_hops,
            average_hops: if packets > 0.0 {
                packet_hops / packets
            } else {
                0.0
            },
        }
    };

    // Learning: the rule is checked and every layer's starting latent weights computed once.
    let latents: Vec<Option<Vec<i32>>> = match &opts.learning {
        Some(rule) => {
            check_rule(rule, &parts, &params, net, chip)?;
            parts
                .layers
                .iter()
                .zip(&params)
                .map(|(l, d)| {
                    Some(initial_latents(
                        d.weights,
                        l.neurons as usize * l.fan_in as usize,
                        rule,
                    ))
                })
                .collect()
        }
        None => vec![None; parts.layers.len()],
    };

    // Emit the cores.
    let mut cores = Vec::with_capacity(parts.parts.len());
    let mut reports = Vec::with_capacity(parts.parts.len());
    for (li, (lowered, d)) in parts.layers.iter().zip(&params).enumerate() {
        let next = parts.layers.get(li + 1);
        let mut layer_fanout =
            next.map(|nl| consumers(nl, &parts, &chosen.tile_of, lowered.neurons as usize));
        // A recurrent layer's neuron `j` also reaches axon `units + j` of every part of its
        // own layer.
        let own_fanout = |j: u32| -> Vec<Destination> {
            if !lowered.recurrent {
                return Vec::new();
            }
            lowered
                .parts
                .clone()
                .map(|q| Destination::Core {
                    tile: TileId(chosen.tile_of[q]),
                    axon: lowered.units.len() as u32 + j,
                })
                .collect()
        };
        for pi in lowered.parts.clone() {
            let part = &parts.parts[pi];
            let tile = TileId(chosen.tile_of[pi]);
            let k = part.neurons.len();
            let axons = part.axons.len() as u32;
            let words = k.div_ceil(64);
            let mut sign = vec![0u64; axons as usize * words];
            let mut weights = match d.weights {
                Weights::Int { .. } => Some(vec![0i16; axons as usize * k]),
                _ => None,
            };
            let mut presence = None;
            match &lowered.connectivity {
                Connectivity::Dense => {
                    // Axons `0..feed` read the layer's inputs (weights `j · feed + a`), the rest a
                    // recurrent layer's own neurons.
                    let feed = lowered.units.len();
                    for (n, j) in part.neurons.clone().enumerate() {
                        let row_base = j as usize * feed;
                        for a in 0..axons as usize {
                            // A learning layer's forward weight is the sign of its latent.
                            let w = match (&latents[li], firmware) {
                                // Recurrent axons exist only for LIF layers.
                                (_, CoreFirmware::Lif(lif)) if a >= feed => lif.layers[li]
                                    .recurrent
                                    .get(j as usize * lowered.neurons as usize + (a - feed))
                                    .map_or(0, |&w| i32::from(w)),
                                (Some(l), _) => {
                                    if l.get(row_base + a).is_some_and(|&x| x >= 0) {
                                        1
                                    } else {
                                        -1
                                    }
                                }
                                (None, _) => d.weights.int_at(row_base + a).unwrap_or(0),
                            };
                            if w > 0 {
                                sign[a * words + n / 64] |= 1u64 << (n % 64);
                            }
                            if let Some(ws) = weights.as_mut() {
                                ws[a * k + n] = w as i16;
                            }
                        }
                    }
                }
                Connectivity::Conv(geo) => {
                    let mut present = vec![0u64; axons as usize * words];
                    for (n, j) in part.neurons.clone().enumerate() {
                        for (u, widx) in geo.taps(j) {
                            let Ok(a) = part.axons.binary_search(&u) else {
                                continue; // every tap's unit is an axon of its part
                            };
                            let w = d.weights.int_at(widx as usize).unwrap_or(0);
                            present[a * words + n / 64] |= 1u64 << (n % 64);
                            if w > 0 {
                                sign[a * words + n / 64] |= 1u64 << (n % 64);
                            }
                            if let Some(ws) = weights.as_mut() {
                                ws[a * k + n] = w as i16;
                            }
                        }
                    }
                    presence = Some(present);
                }
            }
            let fanout: Vec<Vec<Destination>> = part
                .neurons
                .clone()
                .map(|j| {
                    let mut list = match layer_fanout.as_mut() {
                        Some(lists) => std::mem::take(&mut lists[j as usize]),
                        None => vec![Destination::Host { channel: j }],
                    };
                    list.extend(own_fanout(j));
                    list
                })
                .collect();
            let mut program = program.clone();
            let (params, fields) = match firmware {
                CoreFirmware::Ttfs => ttfs_params(net, d, part.neurons.clone(), next.is_none()),
                CoreFirmware::Lif(lif) => lif_params(&lif.layers[li], part.neurons.clone()),
            };
            for (name, value) in params {
                let addr = program
                    .symbol(name)
                    .expect("the firmware defines its parameters");
                program.data[addr as usize] = value;
            }
            let fanout = FanoutTable::from_lists(&fanout);
            let mut core = CoreImage {
                tile,
                neurons: k as u32,
                axons,
                program,
                fields,
                synapses: SynapseMemory {
                    sign,
                    presence,
                    weights,
                },
                latent: None,
                fanout,
                first_arrival_only: lowered.first_arrival_only,
                lfsr_seed: None,
                input_delays: match firmware {
                    CoreFirmware::Lif(lif) if !lif.layers[li].input_delays.is_empty() => Some(
                        lif.layers[li].input_delays
                            [part.neurons.start as usize..part.neurons.end as usize]
                            .to_vec(),
                    ),
                    _ => None,
                },
            };
            if let (Some(rule), Some(latent)) = (&opts.learning, &latents[li]) {
                let prev = li.checked_sub(1).map(|p| &parts.layers[p]);
                let role = LearningRole {
                    eta: rule.eta[li],
                    gamma: i32::from(rule.gamma),
                    error_sources: next.map_or(0, |nl| nl.parts.len() as i32),
                    send_errors: i32::from(prev.is_some()),
                    norm_peers: match (rule.normalisation, next) {
                        (model::onchip::Normalisation::Layer, Some(_)) => lowered
                            .parts
                            .clone()
                            .filter(|&q| q != pi)
                            .map(|q| chosen.tile_of[q])
                            .collect(),
                        _ => Vec::new(),
                    },
                    thresholds: rule.thresholds.as_ref().and_then(|t| {
                        Some(ThresholdRole {
                            layer: *t.layers.get(li)?,
                            frac_bits: t.frac_bits,
                            start: part
                                .neurons
                                .clone()
                                .map(|j| start_threshold(d.threshold, j as usize))
                                .collect(),
                        })
                    }),
                };
                let start = part.neurons.start as usize;
                let fan_in = lowered.fan_in as usize;
                let rows: Vec<i32> = (0..axons as usize * k)
                    .map(|x| latent[(start + x % k) * fan_in + x / k])
                    .collect();
                emit_learning(&mut core, lowered, role, rows, prev, &parts, chosen, chip)?;
                // The golden trainer's stream of this chunk (the part's index in its layer).
                let chunk = (pi - lowered.parts.start) as u64;
                let stream = ((li as u64) << 32) | chunk;
                core.lfsr_seed = Some(isa::arith::Lfsr::for_stream(rule.seed, stream).state());
            }
            let caps = &chip.core;
            let (x, y) = chip.coords(tile);
            reports.push(CoreReport {
                tile: tile.0,
                x,
                y,
                layer: lowered.name.clone(),
                first_neuron: part.neurons.start,
                neurons: k as u32,
                axons,
                synapse_bits: core.synapse_bits(),
                fanout_entries: core.fanout.entries.len() as u32,
                utilisation: [
                    k as f64 / f64::from(caps.neurons),
                    f64::from(axons) / f64::from(caps.axons),
                    core.synapse_bits() as f64 / caps.synapse_bits as f64,
                    core.fanout.entries.len() as f64 / f64::from(caps.fanout_entries),
                ],
            });
            cores.push(core);
        }
    }
    cores.sort_by_key(|c| c.tile);
    reports.sort_by_key(|r| r.tile);
    let inputs = consumers(&parts.layers[0], &parts, &chosen.tile_of, net.input.len());
    let outputs = parts.layers.last().map_or(0, |l| l.neurons);
    let image = ChipImage::new(
        chip.clone(),
        cores,
        IoMap {
            inputs: FanoutTable::from_lists(&inputs),
            outputs,
            tie_order: net
                .tie_order
                .as_ref()
                .map(|o| o.as_slice().iter().map(|&c| u32::from(c)).collect())
                .unwrap_or_default(),
            ties_by_potential: net.ties_by_potential,
        },
        format!(
            "spikemesh map: {} weighted layers, {:?} placement",
            parts.layers.len(),
            opts.placement
        ),
    )?;
    Ok(Mapping {
        image,
        report: MapReport {
            mesh_width: chip.mesh.width,
            mesh_height: chip.mesh.height,
            placement: opts.placement,
            cores: reports,
            optimised: figures(&optimised),
            naive: figures(&naive),
        },
    })
}

/// The TTFS firmware's data parameters and preloaded fields for the neurons `neurons` of a
/// layer: one shared threshold goes to data memory; per-neuron thresholds are preloaded into
/// the threshold field of the core's own neurons.
fn ttfs_params(
    net: &Network,
    d: &WeightedParams<'_>,
    neurons: std::ops::Range<u32>,
    output_layer: bool,
) -> (Vec<(&'static str, i32)>, Vec<FieldInit>) {
    let (threshold, per_neuron, fields) = match &d.threshold {
        Threshold::Layer(t) => (*t, 0, Vec::new()),
        Threshold::Neuron(ts) => (
            0,
            1,
            vec![FieldInit {
                field: firmware::ttfs::THRESHOLD,
                values: ts[neurons.start as usize..neurons.end as usize].to_vec(),
            }],
        ),
    };
    let snap_step = if output_layer {
        i32::from(net.t_max) - i32::from(net.fallback_offset)
    } else {
        -1
    };
    let params = vec![
        ("threshold", threshold),
        ("threshold_field", per_neuron),
        ("snap_step", snap_step),
        ("t_max", i32::from(net.t_max)),
        ("psp_ramp", i32::from(d.neuron.kernel == PspKernel::Ramp)),
        ("cmp_ge", i32::from(d.neuron.fire == FireRule::GreaterEqual)),
        ("out_delay", i32::from(d.neuron.delay)),
    ];
    (params, fields)
}

/// The LIF-reset firmware's data parameters (`du`, `dv`, `vth`, `reset_mode`, `decay_fields`,
/// `bias_current`) and the per-neuron bias (and decay) fields for the neurons `neurons` of a
/// LIF layer.
fn lif_params(
    layer: &model::lif::LifLayer,
    neurons: std::ops::Range<u32>,
) -> (Vec<(&'static str, i32)>, Vec<FieldInit>) {
    let n = &layer.neuron;
    let params = vec![
        ("du", i32::from(n.du)),
        ("dv", i32::from(n.dv)),
        ("vth", n.vth as i32),
        (
            "reset_mode",
            firmware::lif_reset::reset_mode_word(n.reset.into()),
        ),
        ("decay_fields", i32::from(layer.has_per_neuron_decays())),
        (
            "bias_current",
            firmware::lif_reset::bias_current_word(layer.bias_target),
        ),
    ];
    let range = neurons.start as usize..neurons.end as usize;
    let mut fields = Vec::new();
    if layer.has_per_neuron_decays() {
        // Neurons with their own time constants: the firmware decays by these fields.
        let (du1, dv): (Vec<i32>, Vec<i32>) = range
            .clone()
            .map(|j| {
                let (du, dv) = layer.decays(j);
                (i32::from(du) + 1, i32::from(dv))
            })
            .unzip();
        fields.push(FieldInit {
            field: firmware::lif_reset::DU_PLUS_1,
            values: du1,
        });
        fields.push(FieldInit {
            field: firmware::lif_reset::DV,
            values: dv,
        });
    }
    if !layer.bias_mant.is_empty() {
        fields.push(FieldInit {
            field: firmware::lif_reset::BIAS_MANT,
            values: layer.bias_mant[range.clone()]
                .iter()
                .map(|&m| i32::from(m))
                .collect(),
        });
    }
    if !layer.bias_exp.is_empty() {
        fields.push(FieldInit {
            field: firmware::lif_reset::BIAS_EXP,
            values: layer.bias_exp[range]
                .iter()
                .map(|&e| i32::from(e))
                .collect(),
        });
    }
    (params, fields)
}

/// Expected packets per inference between parts and the host.
fn traffic(parts: &Partitioning, opts: &MapOptions) -> TrafficGraph {
    let mut edges = Vec::new();
    let activity = |li: usize| {
        opts.layer_activity
            .as_ref()
            .and_then(|a| a.get(li).copied())
            .unwrap_or(1.0)
    };
    // Sources (input channels or neurons) a part's axons read, counted with multiplicity.
    let sources_read = |layer: &LoweredLayer, q: usize| -> Vec<u32> {
        parts.parts[q]
            .axons
            .iter()
            .flat_map(|&u| layer.sources(u).iter().copied())
            .collect()
    };
    let first = &parts.layers[0];
    for q in first.parts.clone() {
        let n = sources_read(first, q).len();
        edges.push((
            Endpoint::Host,
            Endpoint::Part(q),
            n as f64 * opts.input_activity,
        ));
    }
    for (li, layer) in parts.layers.iter().enumerate() {
        let next = parts.layers.get(li + 1);
        // packets[p][q]: fan-out entries from part p of this layer to part q of the next.
        let mut packets = vec![Vec::new(); layer.parts.len()];
        if let Some(next) = next {
            for row in packets.iter_mut() {
                *row = vec![0u64; next.parts.len()];
            }
            for (qi, q) in next.parts.clone().enumerate() {
                for s in sources_read(next, q) {
                    let p = parts.parts[layer.parts.clone()]
                        .partition_point(|part| part.neurons.end <= s);
                    if let Some(row) = packets.get_mut(p) {
                        row[qi] += 1;
                    }
                }
            }
        }
        for (pi, p) in layer.parts.clone().enumerate() {
            if layer.recurrent {
                // Every neuron of a recurrent layer reaches every part of its own layer.
                let n = parts.parts[p].neurons.len() as f64 * activity(li);
                for q in layer.parts.clone() {
                    edges.push((Endpoint::Part(p), Endpoint::Part(q), n));
                }
            }
            match next {
                Some(next) => {
                    for (qi, q) in next.parts.clone().enumerate() {
                        let n = packets[pi][qi];
                        if n > 0 {
                            edges.push((
                                Endpoint::Part(p),
                                Endpoint::Part(q),
                                n as f64 * activity(li),
                            ));
                        }
                    }
                }
                None => {
                    let fired = parts.parts[p].neurons.len() as f64 * activity(li);
                    edges.push((Endpoint::Part(p), Endpoint::Host, fired));
                }
            }
        }
    }
    TrafficGraph {
        parts: parts.parts.len(),
        edges,
    }
}

/// What a learning core does, beyond the common kernel (see [`emit_learning`]).
struct LearningRole {
    /// η of the core's layer.
    eta: i32,
    /// γ (read by output-layer cores only).
    gamma: i32,
    /// Partial-error packets per neuron the core receives: the next layer's core count
    /// (0 for the output layer).
    error_sources: i32,
    /// 1 when the layer below is a weighted layer (the core sends its hidden errors back).
    send_errors: i32,
    /// The other cores of the layer its hidden errors are normalised with (whole-layer
    /// normalisation of a split layer): their tiles.
    norm_peers: Vec<u16>,
    /// Threshold learning of the core's layer (`OnChipRule::thresholds`), if on.
    thresholds: Option<ThresholdRole>,
}

/// What a learning core needs to learn its thresholds (step 7 of the rule).
struct ThresholdRole {
    /// The layer's parameters.
    layer: model::onchip::LayerThresholdRule,
    /// Fraction bits `F` of the latent threshold.
    frac_bits: u32,
    /// The starting threshold of each of the core's neurons.
    start: Vec<i32>,
}

/// The starting threshold of neuron `j` of a layer.
fn start_threshold(threshold: &Threshold, j: usize) -> i32 {
    match threshold {
        Threshold::Layer(t) => *t,
        Threshold::Neuron(ts) => ts.get(j).copied().unwrap_or(0),
    }
}

/// Checks that the learning rule is one the kernels implement on this mapping.
fn check_rule(
    rule: &model::onchip::OnChipRule,
    parts: &Partitioning,
    params: &[WeightedParams<'_>],
    net: &Network,
    chip: &ChipDescription,
) -> Result<(), MapError> {
    use model::onchip::Normalisation;
    let bad = |field: &str, rule: String| MapError::Learning {
        field: field.into(),
        rule,
    };
    if rule.eta.len() != parts.layers.len() {
        return Err(bad(
            "eta",
            format!(
                "one learning rate per weighted layer: {} given, {} layers",
                rule.eta.len(),
                parts.layers.len()
            ),
        ));
    }
    if rule.shift != firmware::learn_out::SHIFT || rule.hidden_shift != firmware::learn_out::SHIFT {
        return Err(bad(
            "shift",
            format!(
                "the kernels shift the update and the hidden-error terms by {} (shift {}, hidden_shift {} given)",
                firmware::learn_out::SHIFT,
                rule.shift,
                rule.hidden_shift
            ),
        ));
    }
    if rule.rounding != isa::arith::Rounding::Stochastic {
        return Err(bad(
            "rounding",
            format!(
                "the kernels round the update stochastically ({:?} given)",
                rule.rounding
            ),
        ));
    }
    if rule.latent_bits != u32::from(chip.core.latent_weight_bits) {
        return Err(bad(
            "latent_bits",
            format!(
                "latent weights are core.latent_weight_bits = {} bits wide on this chip ({} given)",
                chip.core.latent_weight_bits, rule.latent_bits
            ),
        ));
    }
    let max = (1i64 << (rule.latent_bits.clamp(2, 32) - 1)) - 1;
    if rule.init_magnitude < 1 || i64::from(rule.init_magnitude) > max {
        return Err(bad(
            "init_magnitude",
            format!(
                "{} must be at least 1 and fit {} bits",
                rule.init_magnitude, rule.latent_bits
            ),
        ));
    }
    if rule.eta.contains(&i32::MIN) {
        return Err(bad(
            "eta",
            format!(
                "{} cannot be negated in 32 bits (the kernels multiply δ by −η)",
                i32::MIN
            ),
        ));
    }
    if let Some(t) = &rule.thresholds {
        t.check(parts.layers.len()).map_err(|e| match e {
            model::RunError::Config { field, rule } => bad(&field, rule),
            other => bad("thresholds", other.to_string()),
        })?;
        if t.shift != firmware::learn_out::THETA_SHIFT {
            return Err(bad(
                "thresholds.shift",
                format!(
                    "the kernels shift the threshold product by {} ({} given)",
                    firmware::learn_out::THETA_SHIFT,
                    t.shift
                ),
            ));
        }
        for (li, (r, d)) in t.layers.iter().zip(params).enumerate() {
            let n = parts.layers[li].neurons as usize;
            if let Some(j) =
                (0..n).find(|&j| !(r.min..=r.max).contains(&start_threshold(d.threshold, j)))
            {
                return Err(bad(
                    &format!("thresholds.layers[{li}]"),
                    format!(
                        "neuron {j} starts at threshold {}, outside [min, max] = [{}, {}]",
                        start_threshold(d.threshold, j),
                        r.min,
                        r.max
                    ),
                ));
            }
        }
    }
    for (li, (lowered, d)) in parts.layers.iter().zip(params).enumerate() {
        let unsupported = |what: String| MapError::Unsupported {
            layer: lowered.layer,
            name: lowered.name.clone(),
            what,
        };
        let dense = net
            .layers
            .get(lowered.layer)
            .is_some_and(|l| matches!(l.kind, LayerKind::Dense(_)));
        if !dense || !matches!(lowered.connectivity, Connectivity::Dense) {
            return Err(unsupported(
                "on-chip learning needs dense layers only".into(),
            ));
        }
        if d.neuron.kernel != PspKernel::Step || d.neuron.fire != FireRule::Greater {
            return Err(unsupported(
                "on-chip learning needs the S4NN neuron (step PSP, V > θ, delay 1)".into(),
            ));
        }
        if !matches!(d.weights, Weights::Binary { .. } | Weights::Latent { .. }) {
            return Err(unsupported(
                "on-chip learning needs binary (sign) or latent (real) weights".into(),
            ));
        }
        let sizes: Vec<u32> = lowered
            .parts
            .clone()
            .map(|q| parts.parts[q].neurons.len() as u32)
            .collect();
        let last = li + 1 == parts.layers.len();
        if last && sizes.len() != 1 {
            return Err(unsupported(format!(
                "on-chip learning needs the output layer on one core (it is split over {}): its errors are normalised over the whole layer",
                sizes.len()
            )));
        }
        if !last && sizes.len() > 1 {
            let tag = firmware::learn_hidden::NORM_LO;
            if rule.normalisation == Normalisation::Layer && sizes.iter().any(|&s| s >= tag) {
                return Err(unsupported(format!(
                    "whole-layer normalisation over several cores tags the exchanged sums as lanes {tag} and up: a core may hold at most {tag} neurons"
                )));
            }
            // The golden trainer's chunks: equal sizes, the last one possibly shorter.
            let chunk = sizes[0];
            let ok = sizes[..sizes.len() - 1].iter().all(|&s| s == chunk)
                && sizes.last().is_some_and(|&s| s <= chunk);
            if !ok {
                return Err(unsupported(format!(
                    "on-chip learning needs a hidden layer cut into equal chunks (the last may be shorter), as the golden trainer's per-core streams are; the partition gives {sizes:?}"
                )));
            }
        }
    }
    Ok(())
}

/// The starting latent weights of a layer (row-major `w̃[j * inputs + i]`), exactly as
/// `model::onchip::OnChipTrainer::new` initialises them: a binary weight `±1` becomes
/// `±init_magnitude`, a latent real weight `w` becomes `round(w · init_magnitude)` saturated to
/// the latent width.
fn initial_latents(weights: &Weights, n: usize, rule: &model::onchip::OnChipRule) -> Vec<i32> {
    use isa::arith::{BitWidth, Word};
    let m = rule.init_magnitude;
    let width = BitWidth::new(rule.latent_bits.clamp(2, 32)).unwrap_or(BitWidth::W32);
    (0..n)
        .map(|k| match weights {
            Weights::Binary { .. } => weights.int_at(k).unwrap_or(1) * m,
            Weights::Int { values, .. } => {
                let v = values.get(k).map(|&v| i64::from(v)).unwrap_or(0);
                (v * i64::from(m)).saturate(width) as i32
            }
            Weights::Latent { values } => {
                let v = values.get(k).copied().unwrap_or(0.0) as f64 * f64::from(m);
                (v.round() as i64).saturate(width) as i32
            }
        })
        .collect()
}

/// Makes a core a learning core (`MapOptions::learning`, `docs/LEARNING.md`):
///
/// - program: `firmware::learn_out::chip_program` (TTFS inference, then on the host's learn
///   signal the output-layer kernel, or the hidden-layer kernel when `error_sources` is not
///   0), with the inference parameters already patched copied over;
/// - kernel parameters: `gamma`, `eta`, `steps` 0, `send_errors`, `arrival_offset` 1 (a spike
///   of time `t` reaches the core in timestep `t − 1`; host inputs of time 0 arrive before the
///   sample begins and latch −1), `error_sources`;
/// - latent memory `latent` (axon-major, `latent[a * neurons + n]`);
/// - `src_table` (data words after the program's data): for axon `j`, `tile << 16 | n` of
///   neuron `n` of the previous layer's part that holds source `j` (0 for host inputs); then,
///   for whole-layer normalisation of a split hidden layer, `norm_peers` words `tile << 16` of
///   the layer's other cores.
/// - with threshold learning (`OnChipRule::thresholds`, step 7): `threshold_field` 1, the
///   `theta_*` parameters of the layer (`firmware::learn_out::THETA_PARAMS`), the comparator
///   thresholds preloaded into field f5 and the latent thresholds `θ · 2^F` into f7.
#[allow(clippy::too_many_arguments)]
fn emit_learning(
    core: &mut CoreImage,
    lowered: &crate::partition::LoweredLayer,
    role: LearningRole,
    latent: Vec<i32>,
    prev: Option<&crate::partition::LoweredLayer>,
    parts: &Partitioning,
    placement: &Placement,
    chip: &ChipDescription,
) -> Result<(), MapError> {
    let unsupported = |what: String| MapError::Unsupported {
        layer: lowered.layer,
        name: lowered.name.clone(),
        what,
    };
    let mut program =
        firmware::learn_out::chip_program().map_err(|e| MapError::FirmwareSource(e.to_string()))?;
    for &name in firmware::ttfs::PARAMS {
        let from = core.program.symbol(name);
        let to = program.symbol(name);
        if let (Some(from), Some(to)) = (from, to) {
            program.data[to as usize] = core.program.data[from as usize];
        }
    }
    let params = [
        ("gamma", role.gamma),
        ("eta", role.eta),
        ("steps", 0),
        ("send_errors", role.send_errors),
        ("arrival_offset", 1),
        (firmware::learn_hidden::ERROR_SOURCES, role.error_sources),
        (
            firmware::learn_hidden::NORM_PEERS,
            role.norm_peers.len() as i32,
        ),
    ];
    for (name, value) in params {
        let addr = program
            .symbol(name)
            .expect("chip_program checks its parameters");
        program.data[addr as usize] = value;
    }
    if let Some(t) = &role.thresholds {
        // Step 7: the comparator thresholds are per neuron (field f5, threshold_field = 1),
        // the latent thresholds start at θ · 2^F (field f7), the silence counts at 0.
        let latent = |theta: i32| (i64::from(theta) << t.frac_bits) as i32;
        let params = [
            ("threshold_field", 1),
            ("theta_learn", 1),
            ("theta_eta", t.layer.eta),
            ("theta_lo", latent(t.layer.min)),
            ("theta_hi", latent(t.layer.max)),
            ("theta_frac", t.frac_bits as i32),
            ("theta_window", t.layer.window as i32),
            ("theta_step", t.layer.step),
        ];
        for (name, value) in params {
            let addr = program
                .symbol(name)
                .expect("chip_program checks its parameters");
            program.data[addr as usize] = value;
        }
        core.fields.retain(|f| f.field != firmware::ttfs::THRESHOLD);
        core.fields.push(FieldInit {
            field: firmware::ttfs::THRESHOLD,
            values: t.start.clone(),
        });
        core.fields.push(FieldInit {
            field: firmware::learn_out::THETA_LATENT,
            values: t.start.iter().map(|&x| latent(x)).collect(),
        });
    }
    let table = program
        .symbol(firmware::learn_out::SRC_TABLE)
        .expect("chip_program checks its table") as usize;
    let axons = core.axons as usize;
    let peers = role.norm_peers.len();
    program
        .data
        .resize(program.data.len().max(table + axons + peers), 0);
    for (p, &tile) in role.norm_peers.iter().enumerate() {
        program.data[table + axons + p] = i32::from(tile) << 16;
    }
    for j in 0..axons {
        let src = prev.and_then(|pl| {
            pl.parts.clone().find_map(|q| {
                let r = &parts.parts[q].neurons;
                r.contains(&(j as u32))
                    .then(|| (i32::from(placement.tile_of[q]) << 16) | (j as i32 - r.start as i32))
            })
        });
        program.data[table + j] = src.unwrap_or(0);
    }
    if program.data.len() > chip.core.data_words as usize
        || program.text.len() > chip.core.instruction_words as usize
    {
        return Err(unsupported(format!(
            "the learning firmware needs {} instruction and {} data words, the chip has {} and {}",
            program.text.len(),
            program.data.len(),
            chip.core.instruction_words,
            chip.core.data_words
        )));
    }
    core.latent = Some(latent);
    core.program = program;
    Ok(())
}
