//! The chip description: mesh size, per-core capacities, router parameters, clock and cost
//! profile, read from a TOML file that the mapper and the simulator share.
//!
//! A [`ChipDescription`] can only be obtained through [`ChipDescription::from_toml_str`],
//! [`ChipDescription::load`] or [`ChipDescription::validated`], so a value in hand always keeps
//! the invariants checked there (parse, don't validate).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A tile's index on the mesh: `y * width + x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TileId(pub u16);

impl std::fmt::Display for TileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tile {}", self.0)
    }
}

/// Why a chip description was refused.
#[derive(Debug, Error)]
pub enum ChipError {
    /// The file could not be read.
    #[error("{path}: cannot read chip description: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown or mistyped key (the message carries line and
    /// column and names the key).
    #[error("{origin}: {message}")]
    Syntax {
        /// The file name, or `<string>`.
        origin: String,
        /// What the TOML parser reported.
        message: String,
    },
    /// A key holds a value outside its allowed range.
    #[error("{origin}: `{key}` = {value}: {rule}")]
    Invalid {
        /// The file name, or `<string>`.
        origin: String,
        /// The dotted key, e.g. `router.buffer_depth`.
        key: &'static str,
        /// The value found.
        value: String,
        /// The rule it breaks.
        rule: String,
    },
    /// A setting names a key that chip files do not have.
    #[error("{origin}: no chip-file key `{key}`; {known}")]
    UnknownKey {
        /// Where the setting came from, e.g. `--vary core.neurons=128`.
        origin: String,
        /// The dotted key as given.
        key: String,
        /// The keys that exist there.
        known: String,
    },
    /// A setting's value is not of the key's type.
    #[error("{origin}: `{key}` = {value}: expects {expected}")]
    WrongType {
        /// Where the setting came from.
        origin: String,
        /// The dotted key.
        key: String,
        /// The value as given.
        value: String,
        /// What the key holds: an integer, a number or a string.
        expected: &'static str,
    },
}

/// The mesh of tiles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeshParams {
    /// Tiles along x.
    pub width: u16,
    /// Tiles along y.
    pub height: u16,
}

/// Capacities of one neurocore (every core of the chip is the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoreParams {
    /// Neurons (compartments) per core.
    pub neurons: u32,
    /// Input axons (synapse rows) per core.
    pub axons: u32,
    /// Bits of binary synapse memory per core (one bit per synapse, plus one per synapse for the
    /// presence plane of sparse rows).
    pub synapse_bits: u64,
    /// Bits per multi-bit weight (0: the core stores binary weights only).
    pub weight_bits: u8,
    /// Bits per latent (training) weight.
    pub latent_weight_bits: u8,
    /// Fan-out table entries per core (one per (neuron, destination) pair).
    pub fanout_entries: u32,
    /// Instruction memory words.
    pub instruction_words: u32,
    /// Data memory words.
    pub data_words: u32,
    /// Vector lanes of the processor (neurons processed per cycle by a vector instruction).
    pub vector_lanes: u32,
    /// Dendritic delay slots: input accumulators per neuron, one per step an input can still
    /// be waiting, so a neuron's input delay is at most `delay_slots − 1` steps (Loihi 2's
    /// six delay bits: 64). Absent from a chip file: 64.
    #[serde(default = "CoreParams::default_delay_slots")]
    pub delay_slots: u16,
}

impl CoreParams {
    fn default_delay_slots() -> u16 {
        64
    }
}

/// Parameters of every router, named after BookSim2's input-queued router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouterParams {
    /// Virtual channels per input port (BookSim2 `num_vcs`).
    pub virtual_channels: u8,
    /// Flit buffer depth per virtual channel (BookSim2 `vc_buf_size`).
    pub buffer_depth: u16,
    /// Cycles of route computation (BookSim2 `routing_delay`).
    pub routing_delay: u8,
    /// Cycles of virtual-channel allocation (BookSim2 `vc_alloc_delay`).
    pub vc_alloc_delay: u8,
    /// Cycles of switch allocation (BookSim2 `sw_alloc_delay`).
    pub sw_alloc_delay: u8,
    /// Cycles of switch-traversal preparation (BookSim2 `st_prepare_delay`).
    pub st_prepare_delay: u8,
    /// Cycles of switch traversal (BookSim2 `st_final_delay`).
    pub st_final_delay: u8,
    /// Cycles a flit spends on a link between routers (BookSim2 channel latency).
    pub link_delay: u8,
    /// Cycles for a credit to return upstream (BookSim2 `credit_delay`).
    pub credit_delay: u8,
}

/// Where the host's input and output spikes enter and leave the mesh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoParams {
    /// x of the edge tile the I/O port attaches to.
    pub x: u16,
    /// y of the edge tile the I/O port attaches to.
    pub y: u16,
}

/// Clock of the chip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockParams {
    /// Clock frequency in MHz (converts cycles to seconds for static energy and reports).
    pub frequency_mhz: f64,
}

/// Which energy cost profile reports use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyParams {
    /// A built-in profile name (`loihi-datasheet`, `loihi-calibrated`) or a path to a profile
    /// TOML file, resolved by the simulator.
    pub profile: String,
}

/// A whole chip: what the mapper targets and the simulator builds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipDescription {
    /// The mesh.
    pub mesh: MeshParams,
    /// Per-core capacities.
    pub core: CoreParams,
    /// Router parameters.
    pub router: RouterParams,
    /// The host I/O port.
    #[serde(default = "IoParams::default_port")]
    pub io: IoParams,
    /// The clock.
    pub clock: ClockParams,
    /// The energy cost profile.
    pub energy: EnergyParams,
}

impl IoParams {
    fn default_port() -> Self {
        IoParams { x: 0, y: 0 }
    }
}

/// The default chip, as TOML: a small 4×4 chip with 256 neurons per core.
pub const DEFAULT_CHIP_TOML: &str = r#"# spikemesh default chip: a small 4x4 mesh of 256-neuron cores.

[mesh]
width = 4
height = 4

[core]
neurons = 256
axons = 1024
synapse_bits = 524288        # 2 bit-planes (sign, presence) of 1024 axons x 256 neurons
weight_bits = 8
latent_weight_bits = 16
fanout_entries = 4096
instruction_words = 1024
data_words = 1024
vector_lanes = 16
delay_slots = 64             # input delays of 0..63 steps per neuron (Loihi 2's 6 bits)

[router]
virtual_channels = 2
buffer_depth = 4
routing_delay = 1
vc_alloc_delay = 1
sw_alloc_delay = 1
st_prepare_delay = 0
st_final_delay = 1
link_delay = 1
credit_delay = 1

[io]
x = 0
y = 0

[clock]
frequency_mhz = 500.0

[energy]
profile = "loihi-datasheet"
"#;

impl Default for ChipDescription {
    fn default() -> Self {
        // The embedded default is a fixed, tested string.
        Self::from_toml_str(DEFAULT_CHIP_TOML, "<default chip>")
            .expect("the embedded default chip description is valid")
    }
}

impl ChipDescription {
    /// Reads and validates a chip description file.
    pub fn load(path: &Path) -> Result<Self, ChipError> {
        let text = std::fs::read_to_string(path).map_err(|source| ChipError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses and validates a chip description; `origin` names the source in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ChipError> {
        let raw: ChipDescription = toml::from_str(text).map_err(|e| ChipError::Syntax {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        raw.validated(origin)
    }

    /// Checks every range rule, naming the key that breaks one.
    pub fn validated(self, origin: &str) -> Result<Self, ChipError> {
        let bad = |key: &'static str, value: String, rule: String| ChipError::Invalid {
            origin: origin.to_owned(),
            key,
            value,
            rule,
        };
        let range = |key: &'static str, v: u64, lo: u64, hi: u64| {
            if v < lo || v > hi {
                Err(bad(key, v.to_string(), format!("must be in {lo}..={hi}")))
            } else {
                Ok(())
            }
        };
        range("mesh.width", self.mesh.width.into(), 1, 256)?;
        range("mesh.height", self.mesh.height.into(), 1, 256)?;
        let tiles = u64::from(self.mesh.width) * u64::from(self.mesh.height);
        range("mesh.width * mesh.height", tiles, 1, 65_535)?;
        let c = &self.core;
        range("core.neurons", c.neurons.into(), 1, 65_536)?;
        range("core.axons", c.axons.into(), 1, 65_536)?;
        range("core.synapse_bits", c.synapse_bits, 1, 1 << 36)?;
        range("core.weight_bits", c.weight_bits.into(), 0, 16)?;
        range(
            "core.latent_weight_bits",
            c.latent_weight_bits.into(),
            2,
            32,
        )?;
        range("core.fanout_entries", c.fanout_entries.into(), 1, 1 << 24)?;
        range(
            "core.instruction_words",
            c.instruction_words.into(),
            1,
            1 << 20,
        )?;
        range("core.data_words", c.data_words.into(), 0, 1 << 20)?;
        range("core.vector_lanes", c.vector_lanes.into(), 1, 4096)?;
        range("core.delay_slots", c.delay_slots.into(), 1, 256)?;
        let r = &self.router;
        range("router.virtual_channels", r.virtual_channels.into(), 1, 16)?;
        range("router.buffer_depth", r.buffer_depth.into(), 1, 1024)?;
        range("router.routing_delay", r.routing_delay.into(), 0, 16)?;
        range("router.vc_alloc_delay", r.vc_alloc_delay.into(), 0, 16)?;
        range("router.sw_alloc_delay", r.sw_alloc_delay.into(), 0, 16)?;
        range("router.st_prepare_delay", r.st_prepare_delay.into(), 0, 16)?;
        range("router.st_final_delay", r.st_final_delay.into(), 1, 16)?;
        range("router.link_delay", r.link_delay.into(), 1, 16)?;
        range("router.credit_delay", r.credit_delay.into(), 0, 16)?;
        let on_edge = self.io.x == 0
            || self.io.y == 0
            || self.io.x + 1 == self.mesh.width
            || self.io.y + 1 == self.mesh.height;
        if self.io.x >= self.mesh.width || self.io.y >= self.mesh.height || !on_edge {
            return Err(bad(
                "io",
                format!("{{ x = {}, y = {} }}", self.io.x, self.io.y),
                format!(
                    "the I/O port must attach to a tile on the edge of the {}x{} mesh",
                    self.mesh.width, self.mesh.height
                ),
            ));
        }
        let f = self.clock.frequency_mhz;
        if !(f.is_finite() && f > 0.0 && f <= 1.0e5) {
            return Err(bad(
                "clock.frequency_mhz",
                f.to_string(),
                "must be a finite number in (0, 100000]".into(),
            ));
        }
        if self.energy.profile.trim().is_empty() {
            return Err(bad(
                "energy.profile",
                "\"\"".into(),
                "must name a built-in profile or a profile file".into(),
            ));
        }
        Ok(self)
    }

    /// Number of tiles (cores) on the mesh.
    pub fn tiles(&self) -> u16 {
        self.mesh.width * self.mesh.height
    }

    /// The tile at mesh coordinates `(x, y)`, if it is on the mesh.
    pub fn tile_at(&self, x: u16, y: u16) -> Option<TileId> {
        (x < self.mesh.width && y < self.mesh.height).then(|| TileId(y * self.mesh.width + x))
    }

    /// The mesh coordinates `(x, y)` of a tile.
    pub fn coords(&self, tile: TileId) -> (u16, u16) {
        (tile.0 % self.mesh.width, tile.0 / self.mesh.width)
    }

    /// This description with one chip-file key (dotted, `section.key`, e.g.
    /// `router.buffer_depth`) set to `value`, written as in a chip file (a string value may
    /// be given bare: `energy.profile=loihi-calibrated`). The result is validated as a loaded
    /// file is; `origin` names the setting in errors (`--vary core.neurons=128`).
    pub fn with_setting(&self, key: &str, value: &str, origin: &str) -> Result<Self, ChipError> {
        use toml::Value;
        let mut root = Value::try_from(self).expect("a chip description always serialises");
        let sections = root.as_table_mut().expect("a chip description is a table");
        let list = |names: Vec<&String>| {
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let unknown = |known: String| ChipError::UnknownKey {
            origin: origin.to_owned(),
            key: key.to_owned(),
            known,
        };
        let Some((section, field)) = key.split_once('.') else {
            return Err(unknown(format!(
                "keys are `section.key`, sections: {}",
                list(sections.keys().collect())
            )));
        };
        let Some(table) = sections.get_mut(section).and_then(Value::as_table_mut) else {
            return Err(unknown(format!(
                "sections: {}",
                list(sections.keys().collect())
            )));
        };
        let known = list(table.keys().collect());
        let Some(slot) = table.get_mut(field) else {
            return Err(unknown(format!("`[{section}]` has {known}")));
        };
        let text = value.trim();
        let wrong = |expected| ChipError::WrongType {
            origin: origin.to_owned(),
            key: key.to_owned(),
            value: text.to_owned(),
            expected,
        };
        *slot = match slot {
            Value::Integer(_) => Value::Integer(text.parse().map_err(|_| wrong("an integer"))?),
            Value::Float(_) => Value::Float(
                text.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| wrong("a finite number"))?,
            ),
            Value::Boolean(_) => Value::Boolean(text.parse().map_err(|_| wrong("true or false"))?),
            Value::String(_) => Value::String(
                text.strip_prefix('"')
                    .and_then(|t| t.strip_suffix('"'))
                    .unwrap_or(text)
                    .to_owned(),
            ),
            _ => return Err(wrong("a plain value (arrays and tables cannot be set)")),
        };
        let chip: ChipDescription =
            root.try_into()
                .map_err(|e: toml::de::Error| ChipError::Syntax {
                    origin: origin.to_owned(),
                    message: e.to_string().trim_end().to_owned(),
                })?;
        chip.validated(origin)
    }

    /// Renders the description back to TOML (round-trips through [`Self::from_toml_str`]).
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).expect("a chip description always serialises to TOML")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_chip_is_a_4x4_mesh_of_256_neuron_cores() {
        let chip = ChipDescription::default();
        assert_eq!((chip.mesh.width, chip.mesh.height), (4, 4));
        assert_eq!(chip.core.neurons, 256);
        assert_eq!(chip.tiles(), 16);
    }

    #[test]
    fn description_round_trips_through_toml() {
        let chip = ChipDescription::default();
        let again = ChipDescription::from_toml_str(&chip.to_toml_string(), "rt").unwrap();
        assert_eq!(chip, again);
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = DEFAULT_CHIP_TOML.replace("buffer_depth = 4", "buffer_depht = 4");
        let err = ChipDescription::from_toml_str(&text, "chip.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("chip.toml:"), "{msg}");
        assert!(msg.contains("buffer_depht"), "{msg}");
        assert!(msg.contains("line"), "{msg}");
    }

    #[test]
    fn out_of_range_value_names_the_key_and_rule() {
        let text = DEFAULT_CHIP_TOML.replace("width = 4", "width = 0");
        let err = ChipDescription::from_toml_str(&text, "chip.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "chip.toml: `mesh.width` = 0: must be in 1..=256"
        );
    }

    #[test]
    fn delay_slots_default_to_loihis_64_and_are_range_checked() {
        // Chip files written before the key existed still load.
        let line = DEFAULT_CHIP_TOML
            .lines()
            .find(|l| l.starts_with("delay_slots"))
            .unwrap();
        let old = DEFAULT_CHIP_TOML.replace(&format!("{line}\n"), "");
        let chip = ChipDescription::from_toml_str(&old, "old.toml").unwrap();
        assert_eq!(chip.core.delay_slots, 64);
        let err = ChipDescription::from_toml_str(
            &DEFAULT_CHIP_TOML.replace(line, "delay_slots = 0"),
            "c",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "c: `core.delay_slots` = 0: must be in 1..=256"
        );
    }

    #[test]
    fn io_port_must_sit_on_the_mesh_edge() {
        let text = DEFAULT_CHIP_TOML.replace("[io]\nx = 0\ny = 0", "[io]\nx = 1\ny = 1");
        let err = ChipDescription::from_toml_str(&text, "c").unwrap_err();
        assert!(err.to_string().contains("`io`"), "{err}");
    }

    #[test]
    fn missing_section_is_reported() {
        let text = DEFAULT_CHIP_TOML.replace("[clock]\nfrequency_mhz = 500.0\n", "");
        let err = ChipDescription::from_toml_str(&text, "c").unwrap_err();
        assert!(err.to_string().contains("clock"), "{err}");
    }

    #[test]
    fn a_setting_changes_one_key_and_is_validated() {
        let chip = ChipDescription::default();
        let deeper = chip
            .with_setting("router.buffer_depth", "8", "--vary")
            .unwrap();
        assert_eq!(deeper.router.buffer_depth, 8);
        assert_eq!(
            ChipDescription {
                router: chip.router.clone(),
                ..deeper.clone()
            },
            chip,
            "only the key set differs"
        );
        let calibrated = chip
            .with_setting("energy.profile", "loihi-calibrated", "o")
            .unwrap();
        assert_eq!(calibrated.energy.profile, "loihi-calibrated");
        let quoted = chip
            .with_setting("energy.profile", "\"x.toml\"", "o")
            .unwrap();
        assert_eq!(quoted.energy.profile, "x.toml");
        let slow = chip
            .with_setting("clock.frequency_mhz", "250", "o")
            .unwrap();
        assert_eq!(slow.clock.frequency_mhz, 250.0);
        // The same rules as a file: range, type, unknown keys.
        assert_eq!(
            chip.with_setting("core.neurons", "0", "--vary core.neurons=0")
                .unwrap_err()
                .to_string(),
            "--vary core.neurons=0: `core.neurons` = 0: must be in 1..=65536"
        );
        let e = chip.with_setting("core.neurons", "many", "o").unwrap_err();
        assert_eq!(
            e.to_string(),
            "o: `core.neurons` = many: expects an integer"
        );
        let e = chip
            .with_setting("router.buffer_dept", "4", "o")
            .unwrap_err();
        assert!(
            e.to_string().contains("`router.buffer_dept`")
                && e.to_string().contains("buffer_depth"),
            "{e}"
        );
        let e = chip
            .with_setting("routr.buffer_depth", "4", "o")
            .unwrap_err();
        assert!(e.to_string().contains("sections: "), "{e}");
        let e = chip.with_setting("mesh", "4", "o").unwrap_err();
        assert!(e.to_string().contains("section.key"), "{e}");
        // Out of the field's integer type: the deserialiser names it.
        let e = chip.with_setting("mesh.width", "70000", "o").unwrap_err();
        assert!(e.to_string().starts_with("o: "), "{e}");
        let e = chip
            .with_setting("clock.frequency_mhz", "inf", "o")
            .unwrap_err();
        assert!(e.to_string().contains("finite"), "{e}");
    }

    #[test]
    fn setting_any_key_to_its_own_value_changes_nothing() {
        // Every key of the chip file, set through `with_setting` to the text of its current
        // value, gives back the same description: no key is unreachable or mis-typed.
        let chip = ChipDescription::default();
        let table = toml::Value::try_from(&chip).unwrap();
        let mut keys = 0;
        for (section, fields) in table.as_table().unwrap() {
            for (field, value) in fields.as_table().unwrap() {
                let text = match value {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let key = format!("{section}.{field}");
                let again = chip.with_setting(&key, &text, "self").unwrap();
                assert_eq!(again, chip, "{key} = {text}");
                keys += 1;
            }
        }
        // mesh 2, core 10, router 9, io 2, clock 1, energy 1.
        assert_eq!(keys, 25);
    }

    #[test]
    fn tile_coordinates_round_trip() {
        let chip = ChipDescription::default();
        for y in 0..4 {
            for x in 0..4 {
                let t = chip.tile_at(x, y).unwrap();
                assert_eq!(chip.coords(t), (x, y));
            }
        }
        assert_eq!(chip.tile_at(4, 0), None);
    }
}
