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
//! - Axon `a` of a core of layer `l` is source `a` of the layer: input channel `a` for the first
//!   layer, neuron `a` of layer `l − 1` otherwise (every part of a dense layer holds all of its
//!   layer's sources).
//! - A neuron's fan-out lists one destination per part of the next layer (source replication),
//!   in part order; an output-layer neuron `j` sends to host channel `j`.
//! - Input channel `i` is sent to axon `i` of every first-layer part.

use crate::partition::{partition, Partitioning};
use crate::place::{
    cost, place_naive, place_optimised, AnnealOptions, Endpoint, MeshShape, Placement, TrafficGraph,
};
use crate::MapError;
use isa::chip::{ChipDescription, TileId};
use isa::image::{ChipImage, CoreImage, Destination, FanoutTable, FieldInit, IoMap, SynapseMemory};
use model::network::{Dense, FireRule, LayerKind, Network, PspKernel, Threshold, Weights};
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
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            placement: PlacementKind::Optimised,
            anneal: AnnealOptions::default(),
            input_activity: 1.0,
            layer_activity: None,
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

fn dense_layers(net: &Network) -> Vec<&Dense> {
    net.layers
        .iter()
        .filter_map(|l| match &l.kind {
            LayerKind::Dense(d) => Some(d),
            _ => None,
        })
        .collect()
}

/// Maps `net` onto `chip`.
pub fn map(net: &Network, chip: &ChipDescription, opts: &MapOptions) -> Result<Mapping, MapError> {
    let program = firmware::NeuronModel::Ttfs
        .program()
        .map_err(|e| MapError::FirmwareSource(e.to_string()))?;
    let parts = partition(net, chip, program.text.len(), program.data.len())?;
    let dense = dense_layers(net);
    for (lowered, d) in parts.layers.iter().zip(&dense) {
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
            Weights::Latent { .. } => {
                return Err(unsupported(
                    "latent (real) weights: export the model to sign or integer weights first"
                        .into(),
                ))
            }
        }
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

    // Emit the cores.
    let mut cores = Vec::with_capacity(parts.parts.len());
    let mut reports = Vec::with_capacity(parts.parts.len());
    for (li, (lowered, d)) in parts.layers.iter().zip(&dense).enumerate() {
        let next = parts.layers.get(li + 1);
        for pi in lowered.parts.clone() {
            let part = &parts.parts[pi];
            let tile = TileId(chosen.tile_of[pi]);
            let k = part.neurons.len();
            let axons = lowered.fan_in;
            let words = k.div_ceil(64);
            let mut sign = vec![0u64; axons as usize * words];
            let mut weights = match d.weights {
                Weights::Int { .. } => Some(vec![0i16; axons as usize * k]),
                _ => None,
            };
            for (n, j) in part.neurons.clone().enumerate() {
                let row_base = j as usize * d.inputs as usize;
                for a in 0..axons as usize {
                    let w = d.weights.int_at(row_base + a).unwrap_or(0);
                    if w > 0 {
                        sign[a * words + n / 64] |= 1u64 << (n % 64);
                    }
                    if let Some(ws) = weights.as_mut() {
                        ws[a * k + n] = w as i16;
                    }
                }
            }
            let fanout: Vec<Vec<Destination>> = part
                .neurons
                .clone()
                .map(|j| match next {
                    Some(nl) => nl
                        .parts
                        .clone()
                        .map(|q| Destination::Core {
                            tile: TileId(chosen.tile_of[q]),
                            axon: j,
                        })
                        .collect(),
                    None => vec![Destination::Host { channel: j }],
                })
                .collect();
            let mut program = program.clone();
            // One shared threshold goes to data memory; per-neuron thresholds are preloaded
            // into the threshold field of the core's own neurons.
            let (threshold, per_neuron, fields) = match &d.threshold {
                Threshold::Layer(t) => (*t, 0, Vec::new()),
                Threshold::Neuron(ts) => (
                    0,
                    1,
                    vec![FieldInit {
                        field: firmware::ttfs::THRESHOLD,
                        values: ts[part.neurons.start as usize..part.neurons.end as usize].to_vec(),
                    }],
                ),
            };
            let snap_step = if next.is_none() {
                i32::from(net.t_max) - i32::from(net.fallback_offset)
            } else {
                -1
            };
            let params = [
                ("threshold", threshold),
                ("threshold_field", per_neuron),
                ("snap_step", snap_step),
                ("t_max", i32::from(net.t_max)),
                ("psp_ramp", i32::from(d.neuron.kernel == PspKernel::Ramp)),
                ("cmp_ge", i32::from(d.neuron.fire == FireRule::GreaterEqual)),
                ("out_delay", i32::from(d.neuron.delay)),
            ];
            for (name, value) in params {
                let addr = program
                    .symbol(name)
                    .expect("the firmware defines its parameters");
                program.data[addr as usize] = value;
            }
            let fanout = FanoutTable::from_lists(&fanout);
            let core = CoreImage {
                tile,
                neurons: k as u32,
                axons,
                program,
                fields,
                synapses: SynapseMemory {
                    sign,
                    presence: None,
                    weights,
                },
                latent: None,
                fanout,
            };
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
    let first = &parts.layers[0];
    let inputs: Vec<Vec<Destination>> = (0..first.fan_in)
        .map(|i| {
            first
                .parts
                .clone()
                .map(|q| Destination::Core {
                    tile: TileId(chosen.tile_of[q]),
                    axon: i,
                })
                .collect()
        })
        .collect();
    let outputs = parts.layers.last().map_or(0, |l| l.neurons);
    let image = ChipImage::new(
        chip.clone(),
        cores,
        IoMap {
            inputs: FanoutTable::from_lists(&inputs),
            outputs,
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

/// Expected packets per inference between parts and the host.
fn traffic(parts: &Partitioning, opts: &MapOptions) -> TrafficGraph {
    let mut edges = Vec::new();
    let activity = |li: usize| {
        opts.layer_activity
            .as_ref()
            .and_then(|a| a.get(li).copied())
            .unwrap_or(1.0)
    };
    let first = &parts.layers[0];
    for q in first.parts.clone() {
        edges.push((
            Endpoint::Host,
            Endpoint::Part(q),
            f64::from(first.fan_in) * opts.input_activity,
        ));
    }
    for (li, layer) in parts.layers.iter().enumerate() {
        for p in layer.parts.clone() {
            let fired = parts.parts[p].neurons.len() as f64 * activity(li);
            match parts.layers.get(li + 1) {
                Some(next) => {
                    for q in next.parts.clone() {
                        edges.push((Endpoint::Part(p), Endpoint::Part(q), fired));
                    }
                }
                None => edges.push((Endpoint::Part(p), Endpoint::Host, fired)),
            }
        }
    }
    TrafficGraph {
        parts: parts.parts.len(),
        edges,
    }
}
