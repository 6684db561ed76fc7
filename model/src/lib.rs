//! The network description shared by the host trainer and the mapper, its golden (reference)
//! semantics, the host trainer, data sets and spike encoders.
//!
//! * [`network`]: [`Network`] and its layers, validation, JSON / bincode files.
//! * [`golden`]: [`GoldenNetwork`], the integer forward pass the chip must match bit for bit.
//! * [`encode`]: [`LatencyEncoder`], the S4NN / BS4NN intensity-to-latency formulas.
//! * [`data`]: IDX (MNIST, Fashion-MNIST) and the embedded 8×8 digits.
//! * [`onchip`]: [`onchip::OnChipTrainer`], the fixed-point on-chip learning rule (golden).
//! * [`tie_order`]: [`TieOrder`], which class wins a tie at the earliest spike, and learning it.
//! * [`train`]: [`Trainer`], online S4NN / BS4NN training and export to the chip's form.
//! * [`error`]: typed errors.

pub mod data;
pub mod encode;
pub mod error;
pub mod golden;
pub mod lif;
pub mod network;
pub mod onchip;
pub mod stidi;
pub mod tie_order;
pub mod train;

pub use data::{Augmentation, DataSplit, Dataset, DatasetSpec};
pub use encode::{EncodingRule, LatencyEncoder};
pub use error::{DataError, ModelError, RunError, Violation};
pub use golden::{ForwardTrace, GoldenNetwork, Potentials};
pub use network::{
    Conv2d, Dense, FireRule, Layer, LayerKind, MaxPool2d, Network, NeuronModel, PspKernel, Shape,
    SpikeTime, Threshold, Weights, FORMAT_VERSION,
};
pub use tie_order::TieOrder;
pub use train::{Accuracy, Rule, SampleOrder, TrainConfig, Trainer};
