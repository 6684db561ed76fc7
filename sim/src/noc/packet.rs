//! What travels on the mesh: [`Packet`]s as the cores hand them to the network, the [`Flit`]s
//! they are cut into, and the [`DeliveredPacket`] record a destination's ejection queue holds.

use super::Cycle;
use isa::chip::TileId;

/// What a packet carries (the kind field of the spike packet format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// A spike for an axon of the destination core (the default, single-flit).
    Spike,
    /// A learning-engine error or update message.
    Learning,
    /// A control message (configuration, host I/O).
    Control,
    /// Synthetic traffic of a network study.
    Synthetic,
}

/// A packet as a core's spike-out unit (or a traffic generator) hands it to its tile's network
/// interface. Fan-out to several cores is by source replication: one packet per fan-out entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Destination tile.
    pub dst: TileId,
    /// Destination axon (synapse row) in the destination core.
    pub axon: u16,
    /// What the packet carries.
    pub kind: PacketKind,
    /// Payload word (spike time, error value, ...).
    pub payload: u32,
    /// Length in flits (head, bodies, tail), ≥ 1; 1 for a spike.
    pub flits: u16,
}

impl Packet {
    /// A single-flit spike packet for `axon` of tile `dst`.
    pub fn spike(dst: TileId, axon: u16, payload: u32) -> Self {
        Self {
            dst,
            axon,
            kind: PacketKind::Spike,
            payload,
            flits: 1,
        }
    }

    /// A synthetic-traffic packet of `flits` flits for tile `dst`.
    pub fn synthetic(dst: TileId, flits: u16) -> Self {
        Self {
            dst,
            axon: 0,
            kind: PacketKind::Synthetic,
            payload: 0,
            flits,
        }
    }
}

/// Index of a live packet in the mesh's packet table (reused after delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketSlot(pub u32);

/// Flit flag: first flit of its packet (carries the route).
pub const FLIT_HEAD: u8 = 1;
/// Flit flag: last flit of its packet (frees the virtual channel).
pub const FLIT_TAIL: u8 = 2;

/// One flow-control unit as it sits in a buffer or on a link: the packet it belongs to, its
/// destination (so routing never looks the packet up), its virtual channel and head/tail flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flit {
    /// Index in the mesh's packet table.
    pub packet: u32,
    /// Destination tile index.
    pub dst: u16,
    /// Virtual channel it occupies on its current input port.
    pub vc: u8,
    /// [`FLIT_HEAD`] | [`FLIT_TAIL`] (a single-flit packet has both).
    pub flags: u8,
}

impl Flit {
    /// Is this the head flit?
    pub fn is_head(&self) -> bool {
        self.flags & FLIT_HEAD != 0
    }
    /// Is this the tail flit?
    pub fn is_tail(&self) -> bool {
        self.flags & FLIT_TAIL != 0
    }
}

/// A packet whose tail flit reached its destination, with its timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveredPacket {
    /// The packet as injected.
    pub packet: Packet,
    /// Source tile.
    pub src: TileId,
    /// Cycle the packet was created (by default the `try_inject` cycle; a traffic generator
    /// with a source queue passes the generation cycle).
    pub created: Cycle,
    /// Cycle the head flit entered the source router's local input buffer.
    pub injected: Cycle,
    /// Cycle the tail flit arrived in the destination's ejection queue.
    pub ejected: Cycle,
    /// Links crossed (XY: Manhattan distance).
    pub hops: u32,
}

impl DeliveredPacket {
    /// Packet latency: `ejected − created` (includes source queueing).
    pub fn latency(&self) -> u64 {
        self.ejected.0 - self.created.0
    }
    /// Network latency: `ejected − injected` (from the head entering the source router).
    pub fn network_latency(&self) -> u64 {
        self.ejected.0 - self.injected.0
    }
}
