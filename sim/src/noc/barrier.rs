//! The timestep barrier: a done/count reduction to tile (0,0) over dedicated wires along the
//! XY tree and a release broadcast back, with its cost in cycles.
//!
//! Every tile drives a done flag (its core finished the timestep) and two packet counts (sent,
//! delivered at this tile). The values are reduced (AND, sums) along each row to column 0, then
//! up column 0 to tile (0,0): `(W−1) + (H−1)` hops of `barrier_hop_delay` cycles. The root
//! releases when every core is done and `Σ sent = Σ delivered` — once all cores are done no
//! packet is created, and delivered counts only grow, so equal sums mean the mesh is empty. It
//! spends `barrier_root_delay` cycles, then the release travels back down the same tree. From
//! the first cycle at which all cores are done and the mesh is empty, the barrier costs
//! `2 × (W−1 + H−1) × barrier_hop_delay + barrier_root_delay` cycles.
//! The wires are separate from the mesh links, so the barrier never competes with packets.

use super::config::NocConfig;
use super::{Cycle, NocError};

/// Where a barrier episode stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierStatus {
    /// Some core is not done, or some packet is still in the mesh.
    Waiting,
    /// The condition holds since `since`; the release reaches every tile at `release_at`.
    Gathering {
        /// First cycle at which every core was done and the mesh empty.
        since: Cycle,
        /// Cycle at which every tile sees the release.
        release_at: Cycle,
    },
    /// Released at the given cycle: the next timestep may start.
    Released(Cycle),
}

/// The timestep barrier of a W×H mesh. Call [`Barrier::poll`] once per cycle with the chip's
/// state; it reports [`BarrierStatus::Released`] at the documented cost after the condition
/// first holds. [`Barrier::reset`] starts the next timestep's episode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Barrier {
    depth_hops: u64,
    hop_delay: u64,
    root_delay: u64,
    since: Option<u64>,
}

impl Barrier {
    /// The barrier of the mesh described by `cfg`.
    pub fn new(cfg: &NocConfig) -> Result<Self, NocError> {
        cfg.validate()?;
        Ok(Self {
            depth_hops: u64::from(cfg.width - 1) + u64::from(cfg.height - 1),
            hop_delay: u64::from(cfg.barrier_hop_delay),
            root_delay: u64::from(cfg.barrier_root_delay),
            since: None,
        })
    }

    /// Tree depth in hops: `(W−1) + (H−1)`.
    pub fn depth_hops(&self) -> u64 {
        self.depth_hops
    }

    /// Cycles from the condition holding to every tile released:
    /// `2 × depth_hops × barrier_hop_delay + barrier_root_delay`.
    pub fn cost(&self) -> u64 {
        2 * self.depth_hops * self.hop_delay + self.root_delay
    }

    /// Feeds the state at cycle `now` (all cores done? mesh empty?). The condition is latched:
    /// once it holds it cannot stop holding within a timestep (no core is running, no packet
    /// exists), so later polls only wait for the release cycle.
    pub fn poll(&mut self, now: Cycle, all_cores_done: bool, mesh_empty: bool) -> BarrierStatus {
        if self.since.is_none() && all_cores_done && mesh_empty {
            self.since = Some(now.0);
        }
        match self.since {
            None => BarrierStatus::Waiting,
            Some(since) => {
                let release_at = since + self.cost();
                if now.0 >= release_at {
                    BarrierStatus::Released(Cycle(release_at))
                } else {
                    BarrierStatus::Gathering {
                        since: Cycle(since),
                        release_at: Cycle(release_at),
                    }
                }
            }
        }
    }

    /// Starts the next timestep's episode.
    pub fn reset(&mut self) {
        self.since = None;
    }
}
