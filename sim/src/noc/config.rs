//! The mesh network's parameters ([`NocConfig`]): mesh size, virtual channels, buffer depth,
//! the BookSim2-named pipeline delays, the network-interface queue depths and the barrier
//! wiring delays, with their range rules and the zero-load latency they imply.

use super::NocError;

/// Largest number of virtual channels per port (the allocators keep one bit per input VC of a
/// router in a `u128`: 5 ports × 16 VCs = 80 bits).
pub const MAX_VCS: u8 = 16;
/// Largest mesh side (tile ids are `u16`).
pub const MAX_SIDE: u16 = 256;

/// Parameters of the mesh network-on-chip. Field names follow BookSim2's input-queued router
/// (`iq`) so that a BookSim2 configuration can be reproduced; see `docs/ARCHITECTURE.md`
/// ("Mesh network-on-chip") for the equivalence of each one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NocConfig {
    /// Tiles along x (BookSim2 `k` for a square mesh).
    pub width: u16,
    /// Tiles along y.
    pub height: u16,
    /// Virtual channels per input port (BookSim2 `num_vcs`), 1..=16.
    pub virtual_channels: u8,
    /// Flit buffer depth per virtual channel (BookSim2 `vc_buf_size`), ≥ 1.
    pub buffer_depth: u16,
    /// Cycles of route computation (BookSim2 `routing_delay`); 0 = lookahead routing.
    pub routing_delay: u8,
    /// Cycles of virtual-channel allocation (BookSim2 `vc_alloc_delay`), ≥ 1.
    pub vc_alloc_delay: u8,
    /// Cycles of switch allocation (BookSim2 `sw_alloc_delay`), ≥ 1.
    pub sw_alloc_delay: u8,
    /// Cycles of switch-traversal preparation (BookSim2 `st_prepare_delay`).
    pub st_prepare_delay: u8,
    /// Cycles of switch traversal (BookSim2 `st_final_delay`).
    pub st_final_delay: u8,
    /// Cycles a flit spends on a link between two routers (BookSim2 channel latency), ≥ 1.
    pub link_delay: u8,
    /// Extra cycles before a returned credit can be used upstream (BookSim2 `credit_delay`);
    /// a credit also spends `link_delay` cycles on the reverse wire.
    pub credit_delay: u8,
    /// Packets the network interface of a tile accepts before `try_inject` reports
    /// backpressure, ≥ 1.
    pub inject_queue_depth: u16,
    /// Delivered packets the ejection queue of a tile holds before the router stops ejecting
    /// to it (the core drains it), ≥ 1.
    pub eject_queue_depth: u16,
    /// Cycles per tile hop of the barrier's dedicated done/release wires, ≥ 1.
    pub barrier_hop_delay: u8,
    /// Cycles the barrier root (tile 0) takes to compare the gathered counts and start the
    /// release.
    pub barrier_root_delay: u8,
    /// Check flit conservation at every cycle (always on in debug builds).
    pub check_invariants: bool,
}

impl Default for NocConfig {
    /// The router of the default chip description (4×4 mesh, 2 VCs × 4 flits, BookSim2's
    /// default stage delays of 1 cycle, no switch-preparation stage, 1-cycle links and credits).
    fn default() -> Self {
        Self {
            width: 4,
            height: 4,
            virtual_channels: 2,
            buffer_depth: 4,
            routing_delay: 1,
            vc_alloc_delay: 1,
            sw_alloc_delay: 1,
            st_prepare_delay: 0,
            st_final_delay: 1,
            link_delay: 1,
            credit_delay: 1,
            inject_queue_depth: 4,
            eject_queue_depth: 16,
            barrier_hop_delay: 1,
            barrier_root_delay: 1,
            check_invariants: false,
        }
    }
}

fn rule(field: &'static str, rule: &'static str, value: u64) -> NocError {
    NocError::InvalidConfig { field, rule, value }
}

impl NocConfig {
    /// A config for a `width` × `height` mesh with every other parameter at its default.
    pub fn mesh(width: u16, height: u16) -> Self {
        Self {
            width,
            height,
            ..Self::default()
        }
    }

    /// Checks every range rule; the error names the field and the rule broken.
    pub fn validate(&self) -> Result<(), NocError> {
        if self.width == 0 || self.width > MAX_SIDE {
            return Err(rule("width", "must be in 1..=256", self.width.into()));
        }
        if self.height == 0 || self.height > MAX_SIDE {
            return Err(rule("height", "must be in 1..=256", self.height.into()));
        }
        if u32::from(self.width) * u32::from(self.height) > u32::from(u16::MAX) {
            return Err(rule(
                "width*height",
                "must be at most 65535 tiles",
                u64::from(self.width) * u64::from(self.height),
            ));
        }
        if self.virtual_channels == 0 || self.virtual_channels > MAX_VCS {
            return Err(rule(
                "virtual_channels",
                "must be in 1..=16",
                self.virtual_channels.into(),
            ));
        }
        if self.buffer_depth == 0 {
            return Err(rule("buffer_depth", "must be at least 1", 0));
        }
        if self.vc_alloc_delay == 0 {
            return Err(rule(
                "vc_alloc_delay",
                "must be at least 1 (as in BookSim2)",
                0,
            ));
        }
        if self.sw_alloc_delay == 0 {
            return Err(rule(
                "sw_alloc_delay",
                "must be at least 1 (as in BookSim2)",
                0,
            ));
        }
        if self.link_delay == 0 {
            return Err(rule("link_delay", "must be at least 1", 0));
        }
        if self.inject_queue_depth == 0 {
            return Err(rule("inject_queue_depth", "must be at least 1", 0));
        }
        if self.eject_queue_depth == 0 {
            return Err(rule("eject_queue_depth", "must be at least 1", 0));
        }
        if self.barrier_hop_delay == 0 {
            return Err(rule("barrier_hop_delay", "must be at least 1", 0));
        }
        Ok(())
    }

    /// Number of tiles (routers).
    pub fn tiles(&self) -> usize {
        usize::from(self.width) * usize::from(self.height)
    }

    /// Switch-traversal cycles: `st_prepare_delay + st_final_delay`.
    pub fn switch_delay(&self) -> u64 {
        u64::from(self.st_prepare_delay) + u64::from(self.st_final_delay)
    }

    /// Cycles a head flit spends in one router without contention:
    /// `routing_delay + vc_alloc_delay + sw_alloc_delay + st_prepare_delay + st_final_delay`.
    pub fn router_delay(&self) -> u64 {
        u64::from(self.routing_delay)
            + u64::from(self.vc_alloc_delay)
            + u64::from(self.sw_alloc_delay)
            + self.switch_delay()
    }

    /// Zero-load packet latency (cycles from `try_inject` into an idle network to the tail
    /// flit's arrival in the destination's ejection queue) of a `flits`-flit packet over `hops`
    /// links: `(hops + 1) × router_delay + hops × link_delay + (flits − 1)`.
    ///
    /// Holds when `buffer_depth ≥ flits` or the credit round trip never stalls the packet.
    pub fn zero_load_latency(&self, hops: u64, flits: u64) -> u64 {
        (hops + 1) * self.router_delay()
            + hops * u64::from(self.link_delay)
            + flits.saturating_sub(1)
    }
}
