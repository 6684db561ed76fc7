//! Lowering and partitioning: each weighted layer of a network becomes neuron groups of at most
//! one core's worth, under every per-core capacity of the chip description.
//!
//! # Lowering
//!
//! The layers are walked in order, keeping for every unit of the current activation the list
//! of its *sources*: input channels (before the first weighted layer) or neurons of the last
//! weighted layer. A weighted layer starts with one single-source unit per input; a
//! `MaxPool2d` unit's sources are the union of its window's sources; `Flatten` keeps the units
//! in raster order. A weighted layer (Dense or Conv2d) has one axon per distinct input unit a
//! part reads; every source of a unit sends to that axon. A core that reads a pooled unit
//! (more than one source) runs its synapse unit in first-arrival-only mode, so only the
//! earliest spike of the window is integrated — exactly the golden pool (TTFS sources spike at
//! most once per sample, so the mode never drops anything else).
//!
//! # Dense layers
//!
//! A dense layer of `n` neurons with fan-in `a` is cut into `p` parts of balanced size
//! (`ceil(n / p)` or one less), with `p` the smallest count for which one part fits:
//! - neurons: `k ≤ core.neurons`;
//! - axons: every part of a dense layer receives every input unit of the layer, so
//!   `a ≤ core.axons` must hold for any `p`;
//! - synapse bits: `a × k × planes ≤ core.synapse_bits` (one sign plane for dense rows);
//! - fan-out entries: `k × e ≤ core.fanout_entries`, with `e` the most entries one neuron
//!   needs (one per part of the next layer and unit holding the neuron; the output layer sends
//!   one packet per neuron to the host).
//!
//! A recurrent layer (multi-spike LIF) reads its own neurons too: its fan-in is inputs plus
//! neurons, and each neuron needs one more entry per part of its own layer, so `e` grows with
//! `p` and `p` is the smallest count with `ceil(n / k(p)) ≤ p`.
//!
//! # Convolution layers
//!
//! A conv layer is cut greedily into runs of output neurons in raster order `(o, y, x)`: a run
//! grows while it fits; its axons are the distinct input units its neurons' kernel taps read
//! (padding taps read nothing), and its rows carry a sign and a presence plane, so a run of
//! `k` neurons with `a` axons needs `k ≤ core.neurons`, `a ≤ core.axons`,
//! `a × k × 2 ≤ core.synapse_bits` and the sum of its neurons' fan-out entries
//! `≤ core.fanout_entries`.
//!
//! Layers are partitioned from the output backwards, because a layer's fan-out depends on how
//! the next layer was cut. A limit no part size can meet is reported with the layer, the limit,
//! and the value a chip would need.

use crate::MapError;
use isa::chip::ChipDescription;
use model::network::{LayerKind, Network, Shape};
use std::ops::Range;

/// One core's worth of neurons of one layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Index of the layer in the network's layer list.
    pub layer: usize,
    /// The layer's neurons this part holds.
    pub neurons: Range<u32>,
    /// Axon `a` of the part reads input unit `axons[a]` of its layer (sorted ascending).
    pub axons: Vec<u32>,
}

/// The geometry of a convolution layer as the mapper lowers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input channels.
    pub in_channels: u32,
    /// Input rows.
    pub in_h: u32,
    /// Input columns.
    pub in_w: u32,
    /// Output rows.
    pub out_h: u32,
    /// Output columns.
    pub out_w: u32,
    /// Kernel side.
    pub kernel: u32,
    /// Stride.
    pub stride: u32,
    /// Padding on every side.
    pub padding: u32,
}

impl ConvGeometry {
    /// The kernel taps of output neuron `j` (raster order `(o, y, x)`) that fall inside the
    /// input: `(input unit, weight index)` pairs in `(c, u, v)` order, the weight index being
    /// `((o · in_channels + c) · kernel + u) · kernel + v`. Padding taps are left out.
    pub fn taps(&self, j: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let plane = self.out_h * self.out_w;
        let (o, rem) = (j / plane, j % plane);
        let (y, x) = (rem / self.out_w, rem % self.out_w);
        let k = self.kernel;
        (0..self.in_channels).flat_map(move |c| {
            (0..k).flat_map(move |u| {
                (0..k).filter_map(move |v| {
                    let iy = (y * self.stride + u).checked_sub(self.padding)?;
                    let ix = (x * self.stride + v).checked_sub(self.padding)?;
                    if iy >= self.in_h || ix >= self.in_w {
                        return None;
                    }
                    let unit = (c * self.in_h + iy) * self.in_w + ix;
                    Some((unit, ((o * self.in_channels + c) * k + u) * k + v))
                })
            })
        })
    }
}

/// How a weighted layer's neurons read its input units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connectivity {
    /// Every neuron `j` reads every unit `i` with weight index `j · inputs + i`.
    Dense,
    /// Kernel taps ([`ConvGeometry::taps`]).
    Conv(ConvGeometry),
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
    /// Fan-in of one neuron: the inputs of a dense layer, `in_channels × kernel²` for a conv
    /// layer (padding taps included).
    pub fan_in: u32,
    /// The parts, in neuron order: indices into [`Partitioning::parts`].
    pub parts: Range<usize>,
    /// Per input unit of the layer, its sources (sorted): input channels for the first
    /// weighted layer, neurons of the previous weighted layer otherwise.
    pub units: Vec<Vec<u32>>,
    /// How neurons read units.
    pub connectivity: Connectivity,
    /// Whether some unit has more than one source (a max-pooled unit): the layer's cores run
    /// their synapse unit in first-arrival-only mode.
    pub first_arrival_only: bool,
    /// A recurrent dense layer (multi-spike LIF networks): after its `units`, every part has
    /// one more axon per neuron of the layer itself, axon `units.len() + j` reading neuron `j`
    /// (`fan_in` counts them).
    pub recurrent: bool,
}

impl LoweredLayer {
    /// The sources of the previous layer (or input channels) that axon unit `u` reads; none
    /// for the axons of a recurrent layer's own neurons.
    pub fn sources(&self, u: u32) -> &[u32] {
        self.units.get(u as usize).map_or(&[], Vec::as_slice)
    }
}

/// The network cut into parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partitioning {
    /// Every part, layer by layer in network order.
    pub parts: Vec<Part>,
    /// The weighted layers in order.
    pub layers: Vec<LoweredLayer>,
}

fn map_dims(shape: Shape) -> (u32, u32, u32) {
    match shape {
        Shape::Map {
            channels,
            height,
            width,
        } => (channels, height, width),
        Shape::Flat { size } => (size, 1, 1),
    }
}

/// Walks the layers and returns every weighted layer with its input units (parts empty);
/// `recurrent[w]` marks weighted layer `w` recurrent (dense layers only).
fn lower(net: &Network, recurrent: &[bool]) -> Result<Vec<LoweredLayer>, MapError> {
    let shapes = net.validate()?;
    let mut units: Vec<Vec<u32>> = (0..net.input.len() as u32).map(|i| vec![i]).collect();
    let mut shape = net.input;
    let mut weighted = Vec::new();
    for ((index, layer), &out_shape) in net.layers.iter().enumerate().zip(&shapes) {
        let name = if layer.name.is_empty() {
            format!("layer{index}")
        } else {
            layer.name.clone()
        };
        let (neurons, fan_in, connectivity) = match &layer.kind {
            LayerKind::Flatten => {
                shape = out_shape;
                continue;
            }
            LayerKind::MaxPool2d(p) => {
                let (channels, h, w) = map_dims(shape);
                let (_, oh, ow) = map_dims(out_shape);
                let mut pooled = Vec::with_capacity(out_shape.len());
                for c in 0..channels {
                    for y in 0..oh {
                        for x in 0..ow {
                            let mut sources = Vec::new();
                            for u in 0..p.kernel {
                                for v in 0..p.kernel {
                                    let i = (c * h + y * p.stride + u) * w + x * p.stride + v;
                                    sources.extend_from_slice(&units[i as usize]);
                                }
                            }
                            sources.sort_unstable();
                            sources.dedup();
                            pooled.push(sources);
                        }
                    }
                }
                units = pooled;
                shape = out_shape;
                continue;
            }
            LayerKind::Dense(d) => (d.outputs, d.inputs, Connectivity::Dense),
            LayerKind::Conv2d(_) if recurrent.get(weighted.len()) == Some(&true) => {
                return Err(MapError::Unsupported {
                    layer: index,
                    name,
                    what: "recurrent weights on a convolution".into(),
                });
            }
            LayerKind::Conv2d(c) => {
                let (_, in_h, in_w) = map_dims(shape);
                let (_, out_h, out_w) = map_dims(out_shape);
                (
                    out_shape.len() as u32,
                    c.in_channels * c.kernel * c.kernel,
                    Connectivity::Conv(ConvGeometry {
                        in_channels: c.in_channels,
                        in_h,
                        in_w,
                        out_h,
                        out_w,
                        kernel: c.kernel,
                        stride: c.stride,
                        padding: c.padding,
                    }),
                )
            }
        };
        let first_arrival_only = units.iter().any(|u| u.len() > 1);
        let recurrent = recurrent.get(weighted.len()).copied().unwrap_or(false);
        weighted.push(LoweredLayer {
            layer: index,
            name,
            neurons,
            fan_in: if recurrent { fan_in + neurons } else { fan_in },
            parts: 0..0,
            units: std::mem::replace(&mut units, (0..neurons).map(|j| vec![j]).collect()),
            connectivity,
            first_arrival_only,
            recurrent,
        });
        shape = out_shape;
    }
    Ok(weighted)
}

/// Cuts `net` into parts that fit `chip`'s cores, given the firmware's size; `recurrent[w]`
/// marks weighted layer `w` as recurrent ([`LoweredLayer::recurrent`]; empty: none is).
pub fn partition(
    net: &Network,
    chip: &ChipDescription,
    program_words: usize,
    data_words: usize,
    recurrent: &[bool],
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
    let mut layers = lower(net, recurrent)?;
    // Backwards: parts per layer.
    let mut layer_parts: Vec<Vec<Part>> = vec![Vec::new(); layers.len()];
    for w in (0..layers.len()).rev() {
        let layer = &layers[w];
        // Fan-out entries of every neuron: one per (next part, axon whose unit holds it).
        let entries: Vec<u32> = match layers.get(w + 1) {
            Some(next) => {
                let mut e = vec![0u32; layer.neurons as usize];
                for part in &layer_parts[w + 1] {
                    for &u in &part.axons {
                        for &s in next.sources(u) {
                            e[s as usize] += 1;
                        }
                    }
                }
                e
            }
            None => vec![1; layer.neurons as usize],
        };
        layer_parts[w] = match layer.connectivity {
            Connectivity::Dense => dense_parts(layer, &entries, chip)?,
            Connectivity::Conv(geo) => conv_parts(layer, &geo, &entries, chip)?,
        };
    }
    let total: u64 = layer_parts.iter().map(|p| p.len() as u64).sum();
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
    for (layer, list) in layers.iter_mut().zip(layer_parts) {
        let first = parts.len();
        parts.extend(list);
        layer.parts = first..parts.len();
    }
    Ok(Partitioning { parts, layers })
}

fn does_not_fit(layer: &LoweredLayer, key: &'static str, needed: u64, have: u64) -> MapError {
    MapError::LayerDoesNotFit {
        layer: layer.layer,
        name: layer.name.clone(),
        key,
        needed,
        have,
    }
}

/// Balanced parts of a dense layer (every part holds every input unit).
fn dense_parts(
    layer: &LoweredLayer,
    entries: &[u32],
    chip: &ChipDescription,
) -> Result<Vec<Part>, MapError> {
    let caps = &chip.core;
    let fan_in = layer.fan_in;
    if fan_in > caps.axons {
        return Err(does_not_fit(
            layer,
            "core.axons",
            fan_in.into(),
            caps.axons.into(),
        ));
    }
    let by_bits = caps.synapse_bits / u64::from(fan_in).max(1);
    if by_bits == 0 {
        return Err(does_not_fit(
            layer,
            "core.synapse_bits",
            fan_in.into(),
            caps.synapse_bits,
        ));
    }
    let next_entries = u64::from(entries.iter().copied().max().unwrap_or(1).max(1));
    // A recurrent layer's neurons also send one packet to each of the layer's own parts, so
    // the fan-out a neuron needs grows with the part count: the smallest part count `p` whose
    // parts (at most `k(p)` neurons each) hold the layer.
    let recurrent_parts = |p: u64| if layer.recurrent { p } else { 0 };
    let mut p = 1u64;
    let k = loop {
        let per_neuron = next_entries + recurrent_parts(p);
        let by_fanout = u64::from(caps.fanout_entries) / per_neuron;
        if by_fanout == 0 {
            return Err(does_not_fit(
                layer,
                "core.fanout_entries",
                per_neuron,
                caps.fanout_entries.into(),
            ));
        }
        let k = u64::from(caps.neurons).min(by_bits).min(by_fanout);
        if !layer.recurrent || u64::from(layer.neurons).div_ceil(k) <= p {
            break k;
        }
        p += 1;
    };
    let p = u64::from(layer.neurons).div_ceil(k) as u32;
    // Balanced: the first `neurons % p` parts get one more neuron.
    let (base, extra) = (layer.neurons / p, layer.neurons % p);
    let axons: Vec<u32> = (0..fan_in).collect();
    let mut lo = 0;
    Ok((0..p)
        .map(|i| {
            let size = base + u32::from(i < extra);
            let part = Part {
                layer: layer.layer,
                neurons: lo..lo + size,
                axons: axons.clone(),
            };
            lo += size;
            part
        })
        .collect())
}

/// Greedy runs of a conv layer's neurons in raster order.
fn conv_parts(
    layer: &LoweredLayer,
    geo: &ConvGeometry,
    entries: &[u32],
    chip: &ChipDescription,
) -> Result<Vec<Part>, MapError> {
    let caps = &chip.core;
    let mut parts = Vec::new();
    // `mark[u] == id` when unit `u` is already an axon of the open part `id`.
    let mut mark = vec![usize::MAX; layer.units.len()];
    let mut axons: Vec<u32> = Vec::new();
    let mut start = 0u32;
    let mut fanout = 0u64;
    let mut j = 0u32;
    while j < layer.neurons {
        let id = parts.len();
        let new = geo.taps(j).filter(|&(u, _)| mark[u as usize] != id).count() as u64;
        let k = u64::from(j - start + 1);
        let a = axons.len() as u64 + new;
        let f = fanout + u64::from(entries[j as usize]);
        let fits = k <= u64::from(caps.neurons)
            && a <= u64::from(caps.axons)
            && a * k * 2 <= caps.synapse_bits
            && f <= u64::from(caps.fanout_entries);
        if fits {
            for (u, _) in geo.taps(j) {
                if mark[u as usize] != id {
                    mark[u as usize] = id;
                    axons.push(u);
                }
            }
            fanout = f;
            j += 1;
            continue;
        }
        if j == start {
            // One neuron alone does not fit: name the limit.
            let (key, needed, have) = if a > u64::from(caps.axons) {
                ("core.axons", a, u64::from(caps.axons))
            } else if a * 2 > caps.synapse_bits {
                ("core.synapse_bits", a * 2, caps.synapse_bits)
            } else {
                ("core.fanout_entries", f, u64::from(caps.fanout_entries))
            };
            return Err(does_not_fit(layer, key, needed, have));
        }
        axons.sort_unstable();
        parts.push(Part {
            layer: layer.layer,
            neurons: start..j,
            axons: std::mem::take(&mut axons),
        });
        start = j;
        fanout = 0;
    }
    if start < layer.neurons {
        axons.sort_unstable();
        parts.push(Part {
            layer: layer.layer,
            neurons: start..layer.neurons,
            axons,
        });
    }
    Ok(parts)
}
