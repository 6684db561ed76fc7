//! The compiler: model import, lowering, partitioning, placement, routing and chip-image emission.
//!
//! A [`model::network::Network`] is cut into core-sized parts ([`partition`]), the parts are
//! placed on the mesh ([`place`]), and the chip image is emitted with each core's firmware,
//! synapse rows, thresholds and fan-out table.

pub mod emit;
pub mod import;
pub mod lif;
pub mod netx;
pub mod nir;
pub mod partition;
pub mod place;

pub use emit::{map, MapOptions, MapReport, Mapping, PlacementKind};
pub use lif::map_lif;
pub use netx::{lower_netx, read_netx};
pub use nir::{read_nir, Matrix, NirError, NirGraph, NirNode};

use thiserror::Error;

/// Why a network could not be mapped onto a chip.
#[derive(Debug, Error)]
pub enum MapError {
    /// The network breaks one of its own rules (it would not run on the golden model either).
    #[error("the network is invalid: {0}")]
    Network(#[from] model::Violation),
    /// A layer kind the mapper does not lower.
    #[error("layer {layer} ({name:?}): {what}")]
    Unsupported {
        /// Layer index.
        layer: usize,
        /// Layer name.
        name: String,
        /// What is not supported.
        what: String,
    },
    /// Even one neuron of a layer breaks a per-core limit.
    #[error(
        "layer {layer} ({name:?}) does not fit a core: it needs {key} >= {needed}, the chip has {have}; \
         the smallest chip that holds it sets {key} = {needed}"
    )]
    LayerDoesNotFit {
        /// Layer index.
        layer: usize,
        /// Layer name.
        name: String,
        /// The chip-description key of the limit.
        key: &'static str,
        /// What one neuron's part needs.
        needed: u64,
        /// What the chip has.
        have: u64,
    },
    /// More cores are needed than the mesh has.
    #[error(
        "the network needs {needed} cores but the {width}x{height} mesh has {}; \
         the smallest mesh that holds it is {smallest}",
        u32::from(*width) * u32::from(*height)
    )]
    TooManyCores {
        /// Cores needed.
        needed: u64,
        /// Mesh width.
        width: u16,
        /// Mesh height.
        height: u16,
        /// The smallest mesh (`WxH`) with enough tiles.
        smallest: String,
    },
    /// The firmware itself does not fit a core.
    #[error("the firmware needs {needed} {what} but the chip has {key} = {have}")]
    Firmware {
        /// Which memory.
        what: &'static str,
        /// Words needed.
        needed: u64,
        /// The chip-description key.
        key: &'static str,
        /// Words available.
        have: u64,
    },
    /// The on-chip learning rule asks for something the learning kernels do not do.
    #[error("learning rule: {field}: {rule}")]
    Learning {
        /// The rule's field (`model::onchip::OnChipRule`).
        field: String,
        /// The rule broken.
        rule: String,
    },
    /// The shipped firmware does not assemble or lacks a parameter (a build defect, reported).
    #[error("the TTFS firmware is unusable: {0}")]
    FirmwareSource(String),
    /// Placement failed.
    #[error(transparent)]
    Place(#[from] place::PlaceError),
    /// The emitted image broke a rule (a mapper bug, reported rather than hidden).
    #[error("the mapper emitted an invalid chip image: {0}")]
    Image(#[from] isa::image::ImageError),
}
