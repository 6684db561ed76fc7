//! Lowering multi-spike LIF networks ([`model::lif::LifNetwork`]) onto cores running the
//! LIF-reset firmware (`firmware/asm/lif_reset.s`).
//!
//! A LIF network is a chain of dense and convolutional layers, so it is partitioned, placed and
//! routed exactly as a TTFS network of the same layers: the mapper builds that *skeleton* (same
//! sizes, geometry and integer weights) and emits it with the LIF firmware instead of the TTFS one, each core's
//! `du`, `dv`, `vth`, `reset_mode` in data memory and its neurons' bias mantissas and
//! exponents preloaded into fields `f3` / `f4`. A recurrent dense layer's weights from its own
//! neurons are not in the skeleton (a TTFS network has no such layers): the partitioner gives
//! each of its parts one more axon per neuron of the layer, the emitter fills those rows from
//! [`model::lif::LifLayer::recurrent`] and sends every neuron's spikes to every part of its
//! own layer as well. A layer's input delays go into its cores' dendritic delay slots
//! (`CoreImage::input_delays`; a delay needs `core.delay_slots` above it). The chip then computes, per step, what
//! [`model::lif::LifNetwork::forward`] computes (tests: `tests/chip_vs_golden_lif.rs`).

use crate::emit::{map_with, CoreFirmware, MapOptions, Mapping};
use crate::MapError;
use isa::chip::ChipDescription;
use model::lif::LifNetwork;
use model::network::{
    Conv2d, Dense, Layer, LayerKind, Network, NeuronModel, Shape, Threshold, Weights,
};

/// The TTFS-format network with the same layers, sizes and integer weights as `net` (what the
/// partitioner and placer read; its thresholds and window are placeholders the LIF firmware
/// never sees). A dense layer after a map (the input or a convolution) gets a `Flatten` in
/// front, which lowers to nothing: raster order is the LIF network's unit order too.
fn skeleton(net: &LifNetwork) -> Network {
    let input = match net.layers.first().and_then(|l| l.conv) {
        Some(c) => Shape::Map {
            channels: c.in_channels,
            height: c.in_height,
            width: c.in_width,
        },
        None => Shape::Flat { size: net.inputs },
    };
    let mut is_map = matches!(input, Shape::Map { .. });
    let mut layers = Vec::with_capacity(net.layers.len() + 1);
    for l in &net.layers {
        let weights = Weights::Int {
            bits: l.weight_bits,
            values: l.weights.clone(),
        };
        let kind = match l.conv {
            Some(c) => {
                is_map = true;
                LayerKind::Conv2d(Conv2d {
                    in_channels: c.in_channels,
                    out_channels: c.out_channels,
                    kernel: c.kernel,
                    stride: c.stride,
                    padding: c.padding,
                    neuron: NeuronModel::S4NN,
                    weights,
                    threshold: Threshold::Layer(0),
                    scale: None,
                })
            }
            None => {
                if is_map {
                    layers.push(Layer {
                        name: format!("{}/flatten", l.name),
                        kind: LayerKind::Flatten,
                    });
                    is_map = false;
                }
                LayerKind::Dense(Dense {
                    inputs: l.inputs,
                    outputs: l.outputs,
                    neuron: NeuronModel::S4NN,
                    weights,
                    threshold: Threshold::Layer(0),
                    scale: None,
                })
            }
        };
        layers.push(Layer {
            name: l.name.clone(),
            kind,
        });
    }
    Network {
        format_version: model::network::FORMAT_VERSION,
        input,
        t_max: net.steps.clamp(4, u32::from(u16::MAX)) as u16,
        encoding: None,
        fallback_offset: 1,
        tie_order: None,
        ties_by_potential: false,
        layers,
    }
}

/// Maps a LIF network onto `chip` (inference only: `opts.learning` must be `None`).
pub fn map_lif(
    net: &LifNetwork,
    chip: &ChipDescription,
    opts: &MapOptions,
) -> Result<Mapping, MapError> {
    net.validate()?;
    // The layer with the longest delay, so that the slots the error names hold every layer.
    let slots = u64::from(chip.core.delay_slots);
    if let Some((li, l)) = net
        .layers
        .iter()
        .enumerate()
        .rev()
        .max_by_key(|(_, l)| l.max_input_delay())
    {
        let needed = u64::from(l.max_input_delay()) + 1;
        if needed > slots {
            return Err(MapError::LayerDoesNotFit {
                layer: li,
                name: l.name.clone(),
                key: "core.delay_slots",
                needed,
                have: slots,
            });
        }
    }
    let skeleton = skeleton(net);
    map_with(&skeleton, chip, opts, CoreFirmware::Lif(net))
}
