//! STiDi-BP host training (`reference/stidi-bp.md` §3–§5.5, §7, §9): convolutional and fully
//! connected single-spike (TTFS) networks with binary or small-integer forward weights and
//! learned integer thresholds, exported in the chip's integer form.
//!
//! * [`arch`]: the architecture string (`c16k5-p2-c32k3-p2-fc10`, `fc100-fc10`), its parser and
//!   geometry.
//! * [`forward`]: the recording, event-driven integer forward pass (bit-identical to
//!   [`crate::golden`]).
//! * [`rule`]: targets, latency-derivative approximations, normalisation, dense gradients.
//! * [`conv`]: conv gradients, transposed-conv displacement, pooling routing.
//! * [`threshold`]: latent fixed-point thresholds, their rule and homeostasis.
//! * [`trainer`]: [`StidiConfig`], [`StidiTrainer`], [`EpochStats`], export.
//!
//! ```no_run
//! use model::stidi::{Arch, StidiConfig, StidiTrainer};
//! let data = model::data::digits().unwrap();
//! let arch: Arch = "c8k3-p2-fc10".parse().unwrap();
//! let mut t = StidiTrainer::for_dataset(&arch, &data.train, StidiConfig::binary(), 1).unwrap();
//! let stats = t.train_epoch(&data.train).unwrap();
//! let acc = t.evaluate(&data.test).unwrap();
//! let net = t.export().unwrap(); // sign weights + integer thresholds, Network::validate passes
//! # let _ = (stats, acc, net);
//! ```

pub mod arch;
pub mod conv;
pub mod forward;
pub mod rule;
pub mod threshold;
pub mod trainer;

pub use arch::{Arch, ArchError, Geometry, LayerSpec};
pub use forward::{Kernel, NeuronSpec, Record};
pub use rule::{BackWeights, Derivative, Normalisation, UnknownChoice};
pub use threshold::{Granularity, Homeostasis, ThresholdConfig};
pub use trainer::{EpochStats, Order, Precision, ScaleConfig, StidiConfig, StidiTrainer};

/// Errors of the STiDi-BP trainer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StidiError {
    /// The architecture string is malformed or does not fit the input.
    #[error(transparent)]
    Arch(#[from] ArchError),
    /// An option breaks a rule.
    #[error("STiDi-BP configuration: {field}: {rule}")]
    Config {
        /// The option at fault.
        field: String,
        /// The rule broken.
        rule: String,
    },
}
