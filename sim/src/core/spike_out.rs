//! The spike-out unit: the fan-out table, the spike-time latches, and the outbound packet queue
//! towards the router port (one packet per cycle, ready/backpressure handshake).

use super::Cycle;
use isa::image::{Destination, FanoutTable};
use std::collections::VecDeque;

/// What a packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// A spike of neuron `source` (payload 0).
    Spike,
    /// A learning packet sent by firmware (`send`), with a 32-bit payload.
    Learn,
}

/// One single-flit packet leaving the core for the router port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutPacket {
    /// Where it goes.
    pub dst: Destination,
    /// Spike or learning packet.
    pub kind: PacketKind,
    /// Payload (0 for spikes).
    pub payload: i32,
    /// The spiking neuron (spikes) or 0 (learning packets).
    pub source: u32,
    /// The cycle the spike-out unit put it into the outbound queue.
    pub emitted_at: Cycle,
}

/// Sentinel of an empty spike-time latch.
pub const NO_SPIKE: u32 = u32::MAX;

/// The spike-out unit.
#[derive(Debug, Clone)]
pub struct SpikeOutUnit {
    pub(crate) fanout: FanoutTable,
    /// Per neuron, the timestep of its first spike in the current sample (`NO_SPIKE` if none).
    pub(crate) first_spike: Vec<u32>,
    /// Per neuron, the timestep of its latest spike (`NO_SPIKE` if none).
    pub(crate) last_spike: Vec<u32>,
    /// When on, every spike of the current sample as `(timestep, neuron)`, in emission order:
    /// the raster of multi-spike neurons, whose latches keep only the first and last spike.
    pub(crate) log: Option<Vec<(u32, u32)>>,
    /// Neurons handed over by the last `vspike`, in ascending order.
    pub(crate) list: Vec<u32>,
    pub(crate) cursor: usize,
    pub(crate) entry: usize,
    /// Cycle of the next action (packet or table lookup) while `list` has work.
    pub(crate) next_at: Cycle,
    /// First cycle after the last action.
    pub(crate) free_at: Cycle,
    /// The outbound queue (router side pops).
    pub(crate) outbound: VecDeque<OutPacket>,
    /// Capacity of the outbound queue; `usize::MAX` = always ready.
    pub(crate) capacity: usize,
}

impl SpikeOutUnit {
    pub(crate) fn new(neurons: usize, fanout: FanoutTable, capacity: usize) -> Self {
        SpikeOutUnit {
            fanout,
            first_spike: vec![NO_SPIKE; neurons],
            last_spike: vec![NO_SPIKE; neurons],
            log: None,
            list: Vec::with_capacity(neurons),
            cursor: 0,
            entry: 0,
            next_at: Cycle(0),
            free_at: Cycle(0),
            outbound: VecDeque::with_capacity(capacity.min(neurons.max(64) * 4)),
            capacity,
        }
    }

    /// Whether the unit still has neurons to process.
    #[inline]
    pub(crate) fn busy(&self) -> bool {
        self.cursor < self.list.len()
    }

    /// Whether the outbound queue can take a packet (the router-side ready signal).
    #[inline]
    pub(crate) fn has_space(&self) -> bool {
        self.outbound.len() < self.capacity
    }

    /// Performs the unit's actions, one per cycle from `next_at`, for every cycle before
    /// `limit`: each action emits one packet (if the outbound queue has space; otherwise the
    /// unit stops, stalled by backpressure) or looks up a neuron without destinations.
    /// Returns (actions, packets emitted).
    pub(crate) fn run(&mut self, limit: u64) -> (u64, u64) {
        let (mut actions, mut packets) = (0u64, 0u64);
        while self.cursor < self.list.len() {
            let at = self.next_at.0;
            if at >= limit {
                break;
            }
            let neuron = self.list[self.cursor] as usize;
            let dests = self.fanout.destinations(neuron);
            if let Some(&dst) = dests.get(self.entry) {
                if self.outbound.len() >= self.capacity {
                    break;
                }
                self.outbound.push_back(OutPacket {
                    dst,
                    kind: PacketKind::Spike,
                    payload: 0,
                    source: neuron as u32,
                    emitted_at: Cycle(at),
                });
                packets += 1;
                self.entry += 1;
            }
            if self.entry >= dests.len() {
                self.entry = 0;
                self.cursor += 1;
            }
            self.next_at = Cycle(at.saturating_add(1));
            actions += 1;
        }
        if actions > 0 && self.cursor >= self.list.len() {
            self.list.clear();
            self.cursor = 0;
            self.free_at = self.next_at;
        }
        (actions, packets)
    }

    /// Whether the next action would emit a packet (needs queue space).
    #[inline]
    pub(crate) fn next_needs_space(&self) -> bool {
        let neuron = self.list[self.cursor] as usize;
        self.entry < self.fanout.destinations(neuron).len()
    }
}
