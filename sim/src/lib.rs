//! The cycle-accurate chip: neurocores, routers, the mesh, the timestep barrier, the learning
//! engine, counters, the energy model and traces.
pub mod chip;
pub mod core;
pub mod energy;
pub mod noc;
pub mod report;
