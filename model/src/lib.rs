//! The network description shared by the host trainer and the mapper, its golden (reference)
//! semantics, the host trainer, data sets and spike encoders.
