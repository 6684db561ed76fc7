//! Lowering multi-spike LIF networks ([`model::lif::LifNetwork`]) onto cores running the
//! LIF-reset firmware (`firmware/asm/lif_reset.s`).
//!
//! A LIF network is a chain of dense layers, so it is partitioned, placed and routed exactly
//! as a TTFS network of the same layers: the mapper builds that *skeleton* (same sizes and
//! integer weights) and emits it with the LIF firmware instead of the TTFS one, each core's
//! `du`, `dv`, `vth`, `reset_mode` in data memory and its neurons' bias mantissas and
//! exponents preloaded into fields `f3` / `f4`. The chip then computes, per step, what
//! [`model::lif::LifNetwork::forward`] computes (tests: `tests/chip_vs_golden_lif.rs`).

use crate::emit::{map_with, CoreFirmware, MapOptions, Mapping};
use crate::MapError;
use isa::chip::ChipDescription;
use model::lif::LifNetwork;
use model::network::{Dense, Layer, LayerKind, Network, NeuronModel, Shape, Threshold, Weights};

/// The TTFS-format network with the same layers, sizes and integer weights as `net` (what the
/// partitioner and placer read; its thresholds and window are placeholders the LIF firmware
/// never sees).
fn skeleton(net: &LifNetwork) -> Network {
    Network {
        format_version: model::network::FORMAT_VERSION,
        input: Shape::Flat { size: net.inputs },
        t_max: net.steps.clamp(4, u32::from(u16::MAX)) as u16,
        encoding: None,
        fallback_offset: 1,
        layers: net
            .layers
            .iter()
            .map(|l| Layer {
                name: l.name.clone(),
                kind: LayerKind::Dense(Dense {
                    inputs: l.inputs,
                    outputs: l.outputs,
                    neuron: NeuronModel::S4NN,
                    weights: Weights::Int {
                        bits: l.weight_bits,
                        values: l.weights.clone(),
                    },
                    threshold: Threshold::Layer(0),
                    scale: None,
                }),
            })
            .collect(),
    }
}

/// Maps a LIF network onto `chip` (inference only: `opts.learning` must be `None`).
pub fn map_lif(
    net: &LifNetwork,
    chip: &ChipDescription,
    opts: &MapOptions,
) -> Result<Mapping, MapError> {
    net.validate()?;
    let skeleton = skeleton(net);
    map_with(&skeleton, chip, opts, CoreFirmware::Lif(net))
}
