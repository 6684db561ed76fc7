//! The mesh network-on-chip: routers, links, credit flow control, the tiles' network
//! interfaces and ejection queues, the timestep barrier, synthetic-traffic studies, and the
//! counters that prove no flit is created or lost.
//!
//! * [`NocConfig`] — mesh size, VCs, buffer depth, BookSim2-named pipeline delays.
//! * [`Mesh`] — W×H 5-port input-queued routers with XY routing; `try_inject`,
//!   `step`, `pop_delivered`, `is_empty`, counters and the conservation check.
//! * [`Barrier`] — the timestep barrier's reduction/broadcast tree and its cycle cost.
//! * [`traffic`] and [`study`] — BookSim2/Noxim-style synthetic and trace-driven studies.
//!
//! Fan-out to several cores is by source replication: a core's spike-out unit injects one
//! packet per fan-out entry; the routers never copy packets.

pub mod barrier;
pub mod config;
pub mod mesh;
pub mod packet;
pub mod study;
pub mod traffic;

pub use crate::core::Cycle;
pub use barrier::{Barrier, BarrierStatus};
pub use config::NocConfig;
pub use isa::chip::TileId;
pub use mesh::{InjectError, LinkCounters, Mesh, MeshCounters, Port, RouterCounters};
pub use packet::{DeliveredPacket, Flit, Packet, PacketKind, PacketSlot};

use thiserror::Error;

/// Why a network operation failed.
#[derive(Debug, Error)]
pub enum NocError {
    /// A configuration field breaks its range rule.
    #[error("noc config: `{field}` = {value} {rule}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// The rule broken.
        rule: &'static str,
        /// The value given.
        value: u64,
    },
    /// A conservation or flow-control invariant failed (a simulator bug, reported, never
    /// hidden).
    #[error("noc invariant broken at cycle {cycle}: {detail}")]
    Invariant {
        /// The cycle.
        cycle: u64,
        /// What did not add up.
        detail: String,
    },
    /// A traffic description is invalid (pattern needs, rate, packet size).
    #[error("traffic: {0}")]
    Traffic(String),
    /// A trace file could not be read.
    #[error("{path}: cannot read trace: {source}")]
    TraceIo {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A trace file line is malformed or names a tile outside the mesh.
    #[error("{path}:{line}: {message}")]
    TraceLine {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The network interface refused a packet in a way retrying cannot fix.
    #[error(transparent)]
    Inject(#[from] InjectError),
}
