//! Lowering and partitioning: each weighted layer of a network becomes neuron groups of at most
//! one core's worth, under every per-core capacity of the chip description.
//!
//! A dense layer of `n` neurons with fan-in `a` is cut into `p` parts of balanced size
//! (`ceil(n / p)` or one less), with `p` the smallest count for which one part fits:
//! - neurons: `k ≤ core.neurons`;
//! - axons: every part of a dense layer receives every source of the layer before, so
//!   `a ≤ core.axons` must hold for any `p`;
//! - synapse bits: `a × k × planes ≤ core.synapse_bits` (one sign plane for dense rows);
//! - fan-out entries: each neuron sends one packet per part of the next layer (source
//!   replication), so `k × parts(next) ≤ core.fanout_entries` (the output layer sends one
//!   packet per neuron to the host).
//!
//! Layers are partitioned from the output backwards, because a layer's fan-out depends on how
//! the next layer was cut. A limit no part size can meet is reported with the layer, the limit,
//! and the value a chip would need.

use crate::MapError;
use isa::chip::ChipDescription;
use model::network::{LayerKind, Network};
use std::ops::Range;

/// One core's worth of neurons of one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Index of the layer in the network's layer list.
    pub layer: usize,
    /// The layer's neurons this part holds.
    pub neurons: Range<u32>,
}

/// A weighted layer as the chip sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoweredLayer {
    /// Index in the network's layer list.
    pub layer: usize,
    /// Name used in messages.
    pub name: String,
    /// Neurons.
    pub neurons: u32,
    /// Fan-in of every neuron (one axon per source on every part).
    pub fan_in: u32,
    /// The parts, in neuron order: indices into [`Partitioning::parts`].
    pub parts: Range<usize>,
}

/// The network cut into parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partitioning {
    /// Every part, layer by layer in network order.
    pub parts: Vec<Part>,
    /// The weighted layers in order.
    pub layers: Vec<LoweredLayer>,
}

/// Cuts `net` into parts that fit `chip`'s cores, given the firmware's size.
pub fn partition(
    net: &Network,
    chip: &ChipDescription,
    program_words: usize,
    data_words: usize,
) -> Result<Partitioning, MapError> {
    let caps = &chip.core;
    if program_words > caps.instruction_words as usize {
        return Err(MapError::Firmware {
            what: "instruction words",
            needed: program_words as u64,
            key: "core.instruction_words",
            have: caps.instruction_words.into(),
        });
    }
    if data_words > caps.data_words as usize {
        return Err(MapError::Firmware {
            what: "data words",
            needed: data_words as u64,
            key: "core.data_words",
            have: caps.data_words.into(),
        });
    }
    // (layer index, name, neurons, fan-in) of every weighted layer.
    let mut weighted = Vec::new();
    for (index, layer) in net.layers.iter().enumerate() {
        let name = if layer.name.is_empty() {
            format!("layer{index}")
        } else {
            layer.name.clone()
        };
        match &layer.kind {
            LayerKind::Flatten => {}
            LayerKind::Dense(d) => weighted.push((index, name, d.outputs, d.inputs)),
            LayerKind::Conv2d(_) | LayerKind::MaxPool2d(_) => {
                return Err(MapError::Unsupported {
                    layer: index,
                    name,
                    what: "convolution and pooling layers are not lowered to cores yet; \
                           map a fully connected network"
                        .into(),
                })
            }
        }
    }
    // Backwards: parts per layer.
    let mut counts = vec![0u32; weighted.len()];
    let mut next_parts = 1u64; // the output layer sends one packet per neuron to the host
    for (w, (index, name, neurons, fan_in)) in weighted.iter().enumerate().rev() {
        let too_big = |key: &'static str, needed: u64, have: u64| MapError::LayerDoesNotFit {
            layer: *index,
            name: name.clone(),
            key,
            needed,
            have,
        };
        if *fan_in > caps.axons {
            return Err(too_big("core.axons", u64::from(*fan_in), caps.axons.into()));
        }
        let by_bits = caps.synapse_bits / u64::from(*fan_in).max(1);
        if by_bits == 0 {
            return Err(too_big(
                "core.synapse_bits",
                u64::from(*fan_in),
                caps.synapse_bits,
            ));
        }
        let by_fanout = u64::from(caps.fanout_entries) / next_parts;
        if by_fanout == 0 {
            return Err(too_big(
                "core.fanout_entries",
                next_parts,
                caps.fanout_entries.into(),
            ));
        }
        let k = u64::from(caps.neurons).min(by_bits).min(by_fanout);
        let p = u64::from(*neurons).div_ceil(k);
        counts[w] = p as u32;
        next_parts = p;
    }
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    let tiles = u64::from(chip.tiles());
    if total > tiles {
        let side = (total as f64).sqrt().ceil() as u64;
        let (w, h) = if side * (side - 1) >= total {
            (side, side - 1)
        } else {
            (side, side)
        };
        return Err(MapError::TooManyCores {
            needed: total,
            width: chip.mesh.width,
            height: chip.mesh.height,
            smallest: format!("{w}x{h}"),
        });
    }
    let mut parts = Vec::new();
    let mut layers = Vec::new();
    for ((index, name, neurons, fan_in), &p) in weighted.into_iter().zip(&counts) {
        let first = parts.len();
        // Balanced: the first `neurons % p` parts get one more neuron.
        let (base, extra) = (neurons / p, neurons % p);
        let mut lo = 0;
        for i in 0..p {
            let size = base + u32::from(i < extra);
            parts.push(Part {
                layer: index,
                neurons: lo..lo + size,
            });
            lo += size;
        }
        layers.push(LoweredLayer {
            layer: index,
            name,
            neurons,
            fan_in,
            parts: first..parts.len(),
        });
    }
    Ok(Partitioning { parts, layers })
}
