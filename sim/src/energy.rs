//! The energy model: named, sourced cost profiles (energy per counted event plus static power)
//! and the arithmetic that turns event counts into an energy estimate broken down by component.
//!
//! `E = Σ_events count × energy_per_event + P_static × cores × time`, the form Loihi users size
//! energy with (`../shared/reference/hardware.md` §1.2). The counts come from the simulator's
//! counters; nothing here is estimated from timing.
//!
//! # Learning
//!
//! On-chip learning costs `learn_updates` (latent weights written by the learning kernel's
//! `wstore`, one per masked lane, at `learn_update_pj` — Loihi's "synaptic update"), the
//! learning packets it sends (`spikes_out`, at `spike_out_pj`) and their hops, and static
//! power over the learning phase's cycles. The learning kernel's processor cycles have no
//! per-event cost in either profile (Loihi's tables price synaptic and neuron operations, not
//! instructions): they cost through static power over the time they take. The learning
//! phase's share is read apart from inference as the difference of the counts around it
//! ([`EventCounts::since`]).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Energy per event and static power of a chip technology, with where the numbers come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostProfile {
    /// Short name, e.g. `loihi-datasheet`.
    pub name: String,
    /// Where the numbers come from (paper, table, repository and commit).
    pub source: String,
    /// Energy of one synaptic spike operation (one synapse of an arriving spike integrated), pJ.
    pub synaptic_op_pj: f64,
    /// Energy of one neuron update of a neuron that received input or spiked this timestep, pJ.
    pub neuron_update_active_pj: f64,
    /// Energy of one neuron update of an idle neuron, pJ.
    pub neuron_update_inactive_pj: f64,
    /// Energy of generating one spike packet at its source core, pJ.
    pub spike_out_pj: f64,
    /// Energy of one flit crossing one east–west link, pJ.
    pub hop_ew_pj: f64,
    /// Energy of one flit crossing one north–south link, pJ.
    pub hop_ns_pj: f64,
    /// Energy of one synaptic weight update by the learning engine, pJ.
    pub learn_update_pj: f64,
    /// Static (leakage) power per core, mW.
    pub static_mw_per_core: f64,
}

/// Why a cost profile could not be had.
#[derive(Debug, Error)]
pub enum ProfileError {
    /// Neither a built-in name nor a readable file.
    #[error("{path}: cannot read cost profile ({source}); built-in profiles are: {builtins}")]
    Io {
        /// The path tried.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
        /// The built-in names.
        builtins: String,
    },
    /// The TOML is malformed, or has an unknown or missing key.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the parser reported (with line and column).
        message: String,
    },
    /// A value is negative or not finite.
    #[error("{path}: `{key}` = {value}: energies and powers must be finite and non-negative")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// The value.
        value: f64,
    },
}

/// Names of the built-in profiles.
pub const BUILTIN_PROFILES: [&str; 2] = ["loihi-datasheet", "loihi-calibrated"];

impl CostProfile {
    /// Loihi at 0.75 V, from the pre-silicon datasheet table.
    ///
    /// Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip Learning", IEEE
    /// Micro 38(1), 2018, Table 2 (as transcribed in `reference/hardware.md` §1.2): synaptic
    /// spike op 23.6 pJ (min), synaptic update 120 pJ, neuron update 81 / 52 pJ
    /// (active / inactive), within-tile spike 1.7 pJ, tile hop 3.0 pJ E-W / 4.0 pJ N-S.
    /// Static power: 3.34 W for 32 chips (Frady et al. 2020) = 104 mW per 128-core chip
    /// = 0.8125 mW per core (derived).
    pub fn loihi_datasheet() -> Self {
        CostProfile {
            name: "loihi-datasheet".into(),
            source: "Davies et al. 2018 (IEEE Micro 38(1)) Table 2 at 0.75 V, pre-silicon; static \
                     power 3.34 W / 32 chips / 128 cores (Frady et al. 2020), derived"
                .into(),
            synaptic_op_pj: 23.6,
            neuron_update_active_pj: 81.0,
            neuron_update_inactive_pj: 52.0,
            spike_out_pj: 1.7,
            hop_ew_pj: 3.0,
            hop_ns_pj: 4.0,
            learn_update_pj: 120.0,
            static_mw_per_core: 104.0 / 128.0,
        }
    }

    /// Loihi costs fitted on hardware by SANA-FE.
    ///
    /// `SLAM-Lab/SANA-FE@8951ab0:arch/loihi.yaml` (as transcribed in `reference/hardware.md`
    /// §1.2): dense synapse 35.5 pJ, soma access 51.2 pJ + update 21.6 pJ (active =
    /// access + update = 72.8 pJ, inactive = access only = 51.2 pJ, derived), spike out
    /// 69.3 pJ, hop 3.0 pJ E-W / 4.2 pJ N-S. SANA-FE fits no learning cost: the datasheet's
    /// 120 pJ per synaptic update is kept, and so is the datasheet-derived static power.
    pub fn loihi_calibrated() -> Self {
        CostProfile {
            name: "loihi-calibrated".into(),
            source: "SANA-FE@8951ab0 arch/loihi.yaml (hardware-fitted Loihi costs); learning and \
                     static power from the datasheet profile"
                .into(),
            synaptic_op_pj: 35.5,
            neuron_update_active_pj: 51.2 + 21.6,
            neuron_update_inactive_pj: 51.2,
            spike_out_pj: 69.3,
            hop_ew_pj: 3.0,
            hop_ns_pj: 4.2,
            learn_update_pj: 120.0,
            static_mw_per_core: 104.0 / 128.0,
        }
    }

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Self> {
        match name {
            "loihi-datasheet" => Some(Self::loihi_datasheet()),
            "loihi-calibrated" => Some(Self::loihi_calibrated()),
            _ => None,
        }
    }

    /// A built-in profile by name, or else a profile TOML file at that path.
    pub fn resolve(name_or_path: &str) -> Result<Self, ProfileError> {
        match Self::builtin(name_or_path) {
            Some(p) => Ok(p),
            None => Self::load(Path::new(name_or_path)),
        }
    }

    /// Reads and validates a profile TOML file (the keys of [`CostProfile`], all required).
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.to_owned(),
            source,
            builtins: BUILTIN_PROFILES.join(", "),
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Parses and validates a profile; `path` names it in errors.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self, ProfileError> {
        let p: CostProfile = toml::from_str(text).map_err(|e| ProfileError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        for (key, value) in [
            ("synaptic_op_pj", p.synaptic_op_pj),
            ("neuron_update_active_pj", p.neuron_update_active_pj),
            ("neuron_update_inactive_pj", p.neuron_update_inactive_pj),
            ("spike_out_pj", p.spike_out_pj),
            ("hop_ew_pj", p.hop_ew_pj),
            ("hop_ns_pj", p.hop_ns_pj),
            ("learn_update_pj", p.learn_update_pj),
            ("static_mw_per_core", p.static_mw_per_core),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ProfileError::Invalid {
                    path: path.to_owned(),
                    key,
                    value,
                });
            }
        }
        Ok(p)
    }

    /// Energy of the counted events and of static power over `seconds` on `cores` cores.
    pub fn energy(&self, events: &EventCounts, cores: u32, seconds: f64) -> EnergyBreakdown {
        const PJ: f64 = 1e-12;
        EnergyBreakdown {
            synaptic_ops_j: events.synaptic_ops as f64 * self.synaptic_op_pj * PJ,
            neuron_updates_j: (events.neuron_updates_active as f64 * self.neuron_update_active_pj
                + events.neuron_updates_inactive as f64 * self.neuron_update_inactive_pj)
                * PJ,
            spikes_j: events.spikes_out as f64 * self.spike_out_pj * PJ,
            hops_j: (events.hops_ew as f64 * self.hop_ew_pj
                + events.hops_ns as f64 * self.hop_ns_pj)
                * PJ,
            learning_j: events.learn_updates as f64 * self.learn_update_pj * PJ,
            static_j: self.static_mw_per_core * 1e-3 * f64::from(cores) * seconds,
        }
    }
}

/// Events counted by the simulator that cost energy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounts {
    /// Synapses integrated by synapse units (one per synapse of each arriving spike row).
    pub synaptic_ops: u64,
    /// Neuron updates of neurons that received input or spiked in their timestep.
    pub neuron_updates_active: u64,
    /// Neuron updates of idle neurons.
    pub neuron_updates_inactive: u64,
    /// Packets generated at their source core: spike packets of spike-out units (one per
    /// fan-out entry) and learning packets (`send`).
    pub spikes_out: u64,
    /// Flit traversals of east–west links.
    pub hops_ew: u64,
    /// Flit traversals of north–south links.
    pub hops_ns: u64,
    /// Synaptic weight updates by the learning engine.
    pub learn_updates: u64,
}

impl EventCounts {
    /// The events counted since `earlier` (an earlier reading of the same counters): each
    /// count minus the earlier one, saturating at zero.
    pub fn since(&self, earlier: &EventCounts) -> EventCounts {
        EventCounts {
            synaptic_ops: self.synaptic_ops.saturating_sub(earlier.synaptic_ops),
            neuron_updates_active: self
                .neuron_updates_active
                .saturating_sub(earlier.neuron_updates_active),
            neuron_updates_inactive: self
                .neuron_updates_inactive
                .saturating_sub(earlier.neuron_updates_inactive),
            spikes_out: self.spikes_out.saturating_sub(earlier.spikes_out),
            hops_ew: self.hops_ew.saturating_sub(earlier.hops_ew),
            hops_ns: self.hops_ns.saturating_sub(earlier.hops_ns),
            learn_updates: self.learn_updates.saturating_sub(earlier.learn_updates),
        }
    }
}

impl std::ops::AddAssign for EventCounts {
    fn add_assign(&mut self, o: Self) {
        self.synaptic_ops += o.synaptic_ops;
        self.neuron_updates_active += o.neuron_updates_active;
        self.neuron_updates_inactive += o.neuron_updates_inactive;
        self.spikes_out += o.spikes_out;
        self.hops_ew += o.hops_ew;
        self.hops_ns += o.hops_ns;
        self.learn_updates += o.learn_updates;
    }
}

/// Energy by component, in joules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergyBreakdown {
    /// Synaptic operations.
    pub synaptic_ops_j: f64,
    /// Neuron updates.
    pub neuron_updates_j: f64,
    /// Spike generation.
    pub spikes_j: f64,
    /// Router hops.
    pub hops_j: f64,
    /// Learning updates.
    pub learning_j: f64,
    /// Static power over the run time.
    pub static_j: f64,
}

impl EnergyBreakdown {
    /// The sum of every component.
    pub fn total_j(&self) -> f64 {
        self.synaptic_ops_j
            + self.neuron_updates_j
            + self.spikes_j
            + self.hops_j
            + self.learning_j
            + self.static_j
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_component_is_count_times_unit_energy() {
        let p = CostProfile::loihi_datasheet();
        let ev = EventCounts {
            synaptic_ops: 1000,
            neuron_updates_active: 10,
            neuron_updates_inactive: 20,
            spikes_out: 5,
            hops_ew: 7,
            hops_ns: 3,
            learn_updates: 2,
        };
        let e = p.energy(&ev, 4, 1e-3);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-30);
        assert!(close(e.synaptic_ops_j, 1000.0 * 23.6e-12));
        assert!(close(
            e.neuron_updates_j,
            (10.0 * 81.0 + 20.0 * 52.0) * 1e-12
        ));
        assert!(close(e.spikes_j, 5.0 * 1.7e-12));
        assert!(close(e.hops_j, (7.0 * 3.0 + 3.0 * 4.0) * 1e-12));
        assert!(close(e.learning_j, 2.0 * 120e-12));
        assert!(close(e.static_j, 0.8125e-3 * 4.0 * 1e-3));
        let sum = e.synaptic_ops_j
            + e.neuron_updates_j
            + e.spikes_j
            + e.hops_j
            + e.learning_j
            + e.static_j;
        assert!(close(e.total_j(), sum));
    }

    #[test]
    fn since_is_the_inverse_of_add_assign() {
        let earlier = EventCounts {
            synaptic_ops: 5,
            neuron_updates_active: 1,
            neuron_updates_inactive: 2,
            spikes_out: 3,
            hops_ew: 4,
            hops_ns: 6,
            learn_updates: 7,
        };
        let delta = EventCounts {
            synaptic_ops: 10,
            neuron_updates_active: 0,
            neuron_updates_inactive: 1,
            spikes_out: 2,
            hops_ew: 30,
            hops_ns: 40,
            learn_updates: 500,
        };
        let mut later = earlier;
        later += delta;
        assert_eq!(later.since(&earlier), delta);
        // Never negative: a reading older than `earlier` gives zero counts.
        assert_eq!(earlier.since(&later), EventCounts::default());
    }

    #[test]
    fn builtin_profiles_carry_their_source() {
        for name in BUILTIN_PROFILES {
            let p = CostProfile::resolve(name).unwrap();
            assert_eq!(p.name, name);
            assert!(!p.source.is_empty());
        }
    }

    #[test]
    fn profile_round_trips_through_toml() {
        let p = CostProfile::loihi_calibrated();
        let text = toml::to_string(&p).unwrap();
        assert_eq!(
            CostProfile::from_toml_str(&text, Path::new("p.toml")).unwrap(),
            p
        );
    }

    #[test]
    fn unknown_key_and_negative_energy_are_refused() {
        let mut text = toml::to_string(&CostProfile::loihi_datasheet()).unwrap();
        text.push_str("bogus = 1.0\n");
        let err = CostProfile::from_toml_str(&text, Path::new("p.toml")).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        let text = toml::to_string(&CostProfile::loihi_datasheet())
            .unwrap()
            .replace("hop_ns_pj = 4.0", "hop_ns_pj = -4.0");
        let err = CostProfile::from_toml_str(&text, Path::new("p.toml")).unwrap_err();
        assert!(err.to_string().contains("`hop_ns_pj` = -4"), "{err}");
    }

    #[test]
    fn unknown_name_lists_the_builtins() {
        let err = CostProfile::resolve("no-such-profile").unwrap_err();
        assert!(err.to_string().contains("loihi-datasheet"), "{err}");
    }
}
