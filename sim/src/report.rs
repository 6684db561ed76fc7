//! Run reports of the simulated chip: the counter tally read from a [`Chip`] after a run (per
//! tile, per link, energy by component and by core), and the one place where trace and plot
//! files are made — spike-raster CSV, VCD waveforms for GTKWave, hand-written SVG plots —
//! every one written through [`isa::output::write_atomic`].
//!
//! # Tally rules
//!
//! - A tile's events are its core's counters ([`Chip::core_events`]) plus the flits its router
//!   sent on its outgoing east–west and north–south links (a hop is charged to the router it
//!   leaves), so the per-tile energies sum to the chip's.
//! - Static power is charged to the cores the image uses (unused tiles are taken as
//!   power-gated) over the cycles run, at the chip's clock frequency.
//! - Link utilisation is flits sent per link per cycle: `max` over links and `mean` over every
//!   router-to-router link of the mesh.

use crate::chip::{Chip, HostCounters, StepRecord};
use crate::core::NO_SPIKE;
use crate::energy::{CostProfile, EnergyBreakdown, EventCounts};
use crate::noc::Port;
use isa::chip::TileId;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a report file could not be written.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The file (or its directory) could not be written.
    #[error("{path}: cannot write {what}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What the file holds.
        what: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Two tallies of different chips were merged.
    #[error("cannot merge tallies of different chips ({a} and {b} tiles)")]
    Shape {
        /// Tiles of the first.
        a: usize,
        /// Tiles of the second.
        b: usize,
    },
}

/// Writes `bytes` to `path` whole or not at all ([`isa::output::write_atomic`]); `what` names
/// the content in errors.
pub fn write_file(path: &Path, what: &'static str, bytes: &[u8]) -> Result<(), ReportError> {
    isa::output::write_atomic(path, bytes).map_err(|source| ReportError::Write {
        path: path.to_owned(),
        what,
        source,
    })
}

/// Counters of one tile (its core and its router's outgoing links).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TileTally {
    /// The tile.
    pub tile: u16,
    /// Mesh column.
    pub x: u16,
    /// Mesh row.
    pub y: u16,
    /// Whether the image placed a core on it.
    pub has_core: bool,
    /// Its events (hops: flits its router sent on its outgoing links).
    pub events: EventCounts,
}

/// Flits one directed router-to-router link carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LinkTally {
    /// The sending tile.
    pub tile: u16,
    /// Its output port: `N`, `E`, `S` or `W`.
    pub port: char,
    /// Flits sent on it.
    pub flits: u64,
}

/// Everything counted on a chip over a run (or the sum over several chips of the same image).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChipTally {
    /// Mesh width.
    pub width: u16,
    /// Mesh height.
    pub height: u16,
    /// Every tile, in tile order.
    pub tiles: Vec<TileTally>,
    /// Every router-to-router link, in tile then port order.
    pub links: Vec<LinkTally>,
    /// Host port counters.
    pub host_packets_in: u64,
    /// Output packets the host received.
    pub host_packets_out: u64,
    /// Cycles the host port stalled.
    pub host_stall_cycles: u64,
    /// Packets the mesh accepted (host and cores).
    pub packets: u64,
    /// Cycles the tally covers.
    pub cycles: u64,
}

/// Energy of a run: the whole chip and each tile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnergyReport {
    /// The profile's name.
    pub profile: String,
    /// Where its numbers come from.
    pub source: String,
    /// The whole chip, by component.
    pub total: EnergyBreakdown,
    /// Per tile with a core or link traffic: `(tile, breakdown)`.
    pub by_tile: Vec<(u16, EnergyBreakdown)>,
}

fn port_letter(p: Port) -> char {
    match p {
        Port::North => 'N',
        Port::East => 'E',
        Port::South => 'S',
        Port::West => 'W',
        Port::Local => 'L',
    }
}

impl ChipTally {
    /// Reads the counters of `chip` (cumulative since it was built); `cycles` is the span they
    /// cover (the caller's count of cycles run).
    pub fn of(chip: &Chip, cycles: u64) -> ChipTally {
        let desc = chip.description();
        let mut tiles: Vec<TileTally> = (0..desc.tiles())
            .map(|t| {
                let tile = TileId(t);
                let (x, y) = desc.coords(tile);
                TileTally {
                    tile: t,
                    x,
                    y,
                    has_core: chip.core(tile).is_some(),
                    events: chip.core_events(tile),
                }
            })
            .collect();
        let mesh = chip.mesh();
        let mut links = Vec::new();
        for (tile, port) in mesh.links() {
            let flits = mesh.link_counters(tile, port).map_or(0, |l| l.sent);
            if let Some(t) = tiles.get_mut(usize::from(tile.0)) {
                match port {
                    Port::East | Port::West => t.events.hops_ew += flits,
                    Port::North | Port::South => t.events.hops_ns += flits,
                    Port::Local => {}
                }
            }
            links.push(LinkTally {
                tile: tile.0,
                port: port_letter(port),
                flits,
            });
        }
        let HostCounters {
            packets_in,
            packets_out,
            stall_cycles,
        } = chip.host_counters();
        ChipTally {
            width: desc.mesh.width,
            height: desc.mesh.height,
            tiles,
            links,
            host_packets_in: packets_in,
            host_packets_out: packets_out,
            host_stall_cycles: stall_cycles,
            packets: mesh.counters().packets_accepted,
            cycles,
        }
    }

    /// Adds another tally of the same chip shape (e.g. a chip that ran other samples).
    pub fn merge(&mut self, o: &ChipTally) -> Result<(), ReportError> {
        if self.tiles.len() != o.tiles.len() || self.links.len() != o.links.len() {
            return Err(ReportError::Shape {
                a: self.tiles.len(),
                b: o.tiles.len(),
            });
        }
        for (a, b) in self.tiles.iter_mut().zip(&o.tiles) {
            a.events += b.events;
        }
        for (a, b) in self.links.iter_mut().zip(&o.links) {
            a.flits += b.flits;
        }
        self.host_packets_in += o.host_packets_in;
        self.host_packets_out += o.host_packets_out;
        self.host_stall_cycles += o.host_stall_cycles;
        self.packets += o.packets;
        self.cycles += o.cycles;
        Ok(())
    }

    /// Sum of every tile's events.
    pub fn totals(&self) -> EventCounts {
        let mut sum = EventCounts::default();
        for t in &self.tiles {
            sum += t.events;
        }
        sum
    }

    /// Cores the image uses.
    pub fn cores(&self) -> u32 {
        self.tiles.iter().filter(|t| t.has_core).count() as u32
    }

    /// Link utilisation in flits per link-cycle: `(max over links, mean over links)`.
    pub fn link_utilisation(&self) -> (f64, f64) {
        if self.links.is_empty() || self.cycles == 0 {
            return (0.0, 0.0);
        }
        let c = self.cycles as f64;
        let max = self.links.iter().map(|l| l.flits).max().unwrap_or(0) as f64 / c;
        let sum: u64 = self.links.iter().map(|l| l.flits).sum();
        (max, sum as f64 / (c * self.links.len() as f64))
    }

    /// Flits per tile's outgoing links, summed (for the link-traffic heat map).
    pub fn link_flits(&self) -> Vec<(u16, char, u64)> {
        self.links
            .iter()
            .map(|l| (l.tile, l.port, l.flits))
            .collect()
    }

    /// Energy of the tally under `profile` at `frequency_mhz`.
    pub fn energy(&self, profile: &CostProfile, frequency_mhz: f64) -> EnergyReport {
        let seconds = if frequency_mhz > 0.0 {
            self.cycles as f64 / (frequency_mhz * 1e6)
        } else {
            0.0
        };
        let by_tile: Vec<(u16, EnergyBreakdown)> = self
            .tiles
            .iter()
            .filter(|t| t.has_core || t.events != EventCounts::default())
            .map(|t| {
                (
                    t.tile,
                    profile.energy(&t.events, u32::from(t.has_core), seconds),
                )
            })
            .collect();
        EnergyReport {
            profile: profile.name.clone(),
            source: profile.source.clone(),
            total: profile.energy(&self.totals(), self.cores(), seconds),
            by_tile,
        }
    }
}

impl EnergyBreakdown {
    /// Every component divided by `n` (per inference).
    pub fn per(&self, n: f64) -> EnergyBreakdown {
        let d = |x: f64| if n > 0.0 { x / n } else { 0.0 };
        EnergyBreakdown {
            synaptic_ops_j: d(self.synaptic_ops_j),
            neuron_updates_j: d(self.neuron_updates_j),
            spikes_j: d(self.spikes_j),
            hops_j: d(self.hops_j),
            learning_j: d(self.learning_j),
            static_j: d(self.static_j),
        }
    }

    /// The components as `(name, joules)`, in report order.
    pub fn components(&self) -> [(&'static str, f64); 6] {
        [
            ("synaptic ops", self.synaptic_ops_j),
            ("neuron updates", self.neuron_updates_j),
            ("spikes", self.spikes_j),
            ("hops", self.hops_j),
            ("learning", self.learning_j),
            ("static", self.static_j),
        ]
    }
}

// ----- spike raster -----

/// One spike of a neuron of a core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RasterSpike {
    /// The sample.
    pub sample: u32,
    /// The timestep in which the core emitted it.
    pub timestep: u32,
    /// The core's tile.
    pub tile: u16,
    /// The neuron in that core.
    pub neuron: u32,
}

/// Appends the spikes of the sample `chip` just ran to `out`, in (timestep, tile, neuron)
/// order: every spike from the cores' spike logs when they are on ([`Chip::set_spike_log`],
/// needed for multi-spike neurons), else the first-spike latches (TTFS neurons spike at most
/// once per sample).
pub fn collect_raster(chip: &Chip, sample: u32, out: &mut Vec<RasterSpike>) {
    let start = out.len();
    for tile in chip.used_tiles() {
        if let Some(core) = chip.core(tile) {
            if let Some(log) = core.spike_log() {
                // Multi-spike neurons: every logged spike, not only the first.
                out.extend(log.iter().map(|&(timestep, neuron)| RasterSpike {
                    sample,
                    timestep,
                    tile: tile.0,
                    neuron,
                }));
                continue;
            }
            for (n, &t) in core.first_spike_latches().iter().enumerate() {
                if t != NO_SPIKE {
                    out.push(RasterSpike {
                        sample,
                        timestep: t,
                        tile: tile.0,
                        neuron: n as u32,
                    });
                }
            }
        }
    }
    out[start..].sort_unstable();
}

/// The raster as CSV with header `sample,timestep,tile,neuron`.
pub fn raster_csv(spikes: &[RasterSpike]) -> String {
    let mut s = String::from("sample,timestep,tile,neuron\n");
    for r in spikes {
        let _ = writeln!(s, "{},{},{},{}", r.sample, r.timestep, r.tile, r.neuron);
    }
    s
}

// ----- VCD -----

/// A VCD waveform (IEEE 1364 §18) of one sample's timesteps: `timestep`, `step_cycles`,
/// `packets` (accepted by the mesh in the timestep), `peak_flits` (largest number of flits in
/// flight in the timestep), one `done_tileN` wire per core (rises when the core reaches the
/// barrier, falls when the next timestep begins) and a one-cycle `barrier` release pulse. One
/// time unit is one clock cycle of `period_ps` picoseconds.
pub fn vcd(records: &[StepRecord], tiles: &[TileId], period_ps: u64) -> String {
    use std::collections::BTreeMap;
    let period = period_ps.max(1);
    // Identifier codes: printable ASCII from '!'.
    let code = |i: usize| -> String {
        let mut i = i;
        let mut s = String::new();
        loop {
            s.push(char::from(b'!' + (i % 94) as u8));
            i /= 94;
            if i == 0 {
                break s;
            }
            i -= 1;
        }
    };
    const TIMESTEP: usize = 0;
    const CYCLES: usize = 1;
    const PACKETS: usize = 2;
    const PEAK: usize = 3;
    const BARRIER: usize = 4;
    const DONE0: usize = 5;
    let mut s = String::new();
    let _ = writeln!(s, "$date spikemesh run $end");
    let _ = writeln!(s, "$version spikemesh {} $end", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(s, "$timescale 1 ps $end");
    let _ = writeln!(s, "$comment one clock cycle = {period} ps $end");
    let _ = writeln!(s, "$scope module chip $end");
    let _ = writeln!(s, "$var wire 32 {} timestep $end", code(TIMESTEP));
    let _ = writeln!(s, "$var wire 32 {} step_cycles $end", code(CYCLES));
    let _ = writeln!(s, "$var wire 32 {} packets $end", code(PACKETS));
    let _ = writeln!(s, "$var wire 32 {} peak_flits $end", code(PEAK));
    let _ = writeln!(s, "$var wire 1 {} barrier $end", code(BARRIER));
    for (i, t) in tiles.iter().enumerate() {
        let _ = writeln!(s, "$var wire 1 {} done_tile{} $end", code(DONE0 + i), t.0);
    }
    let _ = writeln!(s, "$upscope $end");
    let _ = writeln!(s, "$enddefinitions $end");
    // Changes by time; a later write at the same time replaces an earlier one.
    let mut changes: BTreeMap<u64, BTreeMap<usize, u64>> = BTreeMap::new();
    let mut set = |at: u64, var: usize, v: u64| {
        changes.entry(at).or_default().insert(var, v);
    };
    let origin = records.first().map_or(0, |r| r.start);
    set(0, CYCLES, 0);
    set(0, PACKETS, 0);
    set(0, PEAK, 0);
    set(0, BARRIER, 0);
    for r in records {
        let start = r.start - origin;
        set(start, TIMESTEP, u64::from(r.timestep));
        for i in 0..tiles.len() {
            set(start, DONE0 + i, 0);
        }
        for (i, &d) in r.done.iter().enumerate().take(tiles.len()) {
            set(d.max(r.start) - origin, DONE0 + i, 1);
        }
        let release = r.release - origin;
        set(release, CYCLES, r.release - r.start);
        set(release, PACKETS, r.packets);
        set(release, PEAK, r.peak_flits_in_flight);
        set(release, BARRIER, 1);
        set(release + 1, BARRIER, 0);
    }
    let mut first = true;
    for (at, vars) in changes {
        let _ = writeln!(s, "#{}", at * period);
        if first {
            let _ = writeln!(s, "$dumpvars");
        }
        for (var, v) in vars {
            if var == BARRIER || var >= DONE0 {
                let _ = writeln!(s, "{}{}", v & 1, code(var));
            } else {
                let _ = writeln!(s, "b{:b} {}", v, code(var));
            }
        }
        if first {
            let _ = writeln!(s, "$end");
            first = false;
        }
    }
    s
}

// ----- SVG -----

/// `s` with `&`, `<` and `>` escaped, for SVG text content.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A colour of a sequential scale (dark blue → teal → yellow) for `v` in `0..=1`.
fn heat_colour(v: f64) -> String {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [68.0, 1.0, 84.0]),
        (0.25, [59.0, 82.0, 139.0]),
        (0.5, [33.0, 145.0, 140.0]),
        (0.75, [94.0, 201.0, 98.0]),
        (1.0, [253.0, 231.0, 37.0]),
    ];
    let v = if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut c = STOPS[4].1;
    for w in STOPS.windows(2) {
        let ((a, ca), (b, cb)) = (w[0], w[1]);
        if v <= b {
            let f = (v - a) / (b - a);
            c = [0, 1, 2].map(|k| ca[k] + f * (cb[k] - ca[k]));
            break;
        }
    }
    format!(
        "rgb({},{},{})",
        c[0].round() as u8,
        c[1].round() as u8,
        c[2].round() as u8
    )
}

fn svg_open(w: u32, h: u32, title: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
        w / 2,
        xml_escape(title)
    );
    s
}

fn svg_legend(s: &mut String, x: f64, y: f64, max: f64, unit: &str) {
    let _ = writeln!(s, r#"<g transform="translate({x},{y})">"#);
    for i in 0..20 {
        let v = f64::from(i) / 19.0;
        let _ = writeln!(
            s,
            r#"<rect x="0" y="{}" width="14" height="8" fill="{}"/>"#,
            (19 - i) * 8,
            heat_colour(v)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="18" y="8">{}</text>"#,
        xml_escape(&format!("{max:.3e} {unit}"))
    );
    let _ = writeln!(s, r#"<text x="18" y="160">0</text>"#);
    let _ = writeln!(s, "</g>");
}

/// A mesh heat map of per-tile values (`values[tile]`, tile = `y·width + x`), each tile labelled
/// with its number and value.
pub fn svg_tile_heatmap(
    title: &str,
    width: u16,
    height: u16,
    values: &[f64],
    unit: &str,
) -> String {
    let cell = 70.0;
    let (w, h) = (
        f64::from(width) * cell + 200.0,
        f64::from(height) * cell + 60.0,
    );
    let mut s = svg_open(w as u32, h as u32, title);
    let max = values.iter().copied().fold(0.0f64, f64::max);
    for y in 0..height {
        for x in 0..width {
            let t = usize::from(y) * usize::from(width) + usize::from(x);
            let v = values.get(t).copied().unwrap_or(0.0);
            let (px, py) = (20.0 + f64::from(x) * cell, 40.0 + f64::from(y) * cell);
            let fill = if max > 0.0 {
                heat_colour(v / max)
            } else {
                heat_colour(0.0)
            };
            let _ = writeln!(
                s,
                r#"<rect x="{px}" y="{py}" width="{}" height="{}" fill="{fill}" stroke="black"/>"#,
                cell - 4.0,
                cell - 4.0
            );
            let text = if max > 0.0 && v / max > 0.6 {
                "black"
            } else {
                "white"
            };
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" fill="{text}" text-anchor="middle">tile {t}</text>"#,
                px + cell / 2.0 - 2.0,
                py + 25.0
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" fill="{text}" text-anchor="middle" font-size="10">{v:.3e}</text>"#,
                px + cell / 2.0 - 2.0,
                py + 45.0
            );
        }
    }
    svg_legend(&mut s, f64::from(width) * cell + 40.0, 40.0, max, unit);
    s.push_str("</svg>\n");
    s
}

/// A mesh heat map of directed link traffic: tiles as grey squares, each router-to-router link
/// `(sending tile, port N/E/S/W, flits)` as a bar between its two tiles coloured by its flits.
pub fn svg_link_heatmap(
    title: &str,
    width: u16,
    height: u16,
    links: &[(u16, char, u64)],
) -> String {
    let cell = 90.0;
    let tile = 50.0;
    let (w, h) = (
        f64::from(width) * cell + 200.0,
        f64::from(height) * cell + 60.0,
    );
    let mut s = svg_open(w as u32, h as u32, title);
    let max = links.iter().map(|l| l.2).max().unwrap_or(0) as f64;
    let origin = |t: u16| {
        let (x, y) = (t % width.max(1), t / width.max(1));
        (20.0 + f64::from(x) * cell, 40.0 + f64::from(y) * cell)
    };
    for t in 0..width.saturating_mul(height) {
        let (px, py) = origin(t);
        let _ = writeln!(
            s,
            r##"<rect x="{px}" y="{py}" width="{tile}" height="{tile}" fill="#dddddd" stroke="black"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{t}</text>"#,
            px + tile / 2.0,
            py + tile / 2.0 + 4.0
        );
    }
    let gap = cell - tile;
    for &(t, port, flits) in links {
        let (px, py) = origin(t);
        // Two lanes per tile pair: eastward/southward above/left, westward/northward below/right.
        let (x, y, bw, bh) = match port {
            'E' => (px + tile, py + tile * 0.3 - 4.0, gap, 8.0),
            'W' => (px - gap, py + tile * 0.7 - 4.0, gap, 8.0),
            'S' => (px + tile * 0.3 - 4.0, py + tile, 8.0, gap),
            'N' => (px + tile * 0.7 - 4.0, py - gap, 8.0, gap),
            _ => continue,
        };
        let fill = if max > 0.0 {
            heat_colour(flits as f64 / max)
        } else {
            heat_colour(0.0)
        };
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{y}" width="{bw}" height="{bh}" fill="{fill}"><title>tile {t} {port}: {flits} flits</title></rect>"#
        );
    }
    svg_legend(&mut s, f64::from(width) * cell + 40.0, 40.0, max, "flits");
    s.push_str("</svg>\n");
    s
}

/// A plot area: origin `(x0, y0)` at the bottom left, width `pw`, height `ph`.
#[derive(Clone, Copy)]
struct PlotArea {
    x0: f64,
    y0: f64,
    pw: f64,
    ph: f64,
}

/// Draws the axes of `area` with 5 ticks from 0 to `xmax` / `ymax` and the labels.
fn axes(s: &mut String, area: PlotArea, labels: (&str, &str), xmax: f64, ymax: f64) {
    let PlotArea { x0, y0, pw, ph } = area;
    let (xlabel, ylabel) = labels;
    let _ = writeln!(
        s,
        r#"<path d="M{x0},{} L{x0},{y0} L{},{y0}" fill="none" stroke="black"/>"#,
        y0 - ph,
        x0 + pw
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="10">{:.0}</text>"#,
            x0 + f * pw,
            y0 + 14.0,
            f * xmax
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end" font-size="10">{:.0}</text>"#,
            x0 - 4.0,
            y0 - f * ph + 4.0,
            f * ymax
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        x0 + pw / 2.0,
        y0 + 32.0,
        xml_escape(xlabel)
    );
    let _ = writeln!(
        s,
        r#"<text x="14" y="{}" text-anchor="middle" transform="rotate(-90 14 {})">{}</text>"#,
        y0 - ph / 2.0,
        y0 - ph / 2.0,
        xml_escape(ylabel)
    );
}

/// A bar chart of `values` by index (e.g. cycles per timestep).
pub fn svg_bars(title: &str, xlabel: &str, ylabel: &str, values: &[f64]) -> String {
    let (w, h) = (720.0, 360.0);
    let (x0, y0, pw, ph) = (70.0, h - 50.0, w - 100.0, h - 100.0);
    let mut s = svg_open(w as u32, h as u32, title);
    let ymax = values.iter().copied().fold(0.0f64, f64::max).max(1.0);
    let n = values.len().max(1) as f64;
    axes(
        &mut s,
        PlotArea { x0, y0, pw, ph },
        (xlabel, ylabel),
        n,
        ymax,
    );
    let bw = pw / n;
    for (i, &v) in values.iter().enumerate() {
        let bh = v.max(0.0) / ymax * ph;
        let _ = writeln!(
            s,
            r##"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{bh:.2}" fill="#3b528b"><title>{i}: {v}</title></rect>"##,
            x0 + i as f64 * bw,
            y0 - bh,
            (bw * 0.9).max(0.5)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A spike raster of one sample: x = timestep (`0..window`), one row per neuron of each core
/// (cores stacked in tile order, `rows_per_tile` gives their neuron counts), a dot per spike.
pub fn svg_raster(
    title: &str,
    spikes: &[RasterSpike],
    rows_per_tile: &[(u16, u32)],
    window: u32,
) -> String {
    let (w, h) = (720.0, 480.0);
    let (x0, y0, pw, ph) = (70.0, h - 50.0, w - 100.0, h - 100.0);
    let mut s = svg_open(w as u32, h as u32, title);
    let total: u32 = rows_per_tile.iter().map(|r| r.1).sum();
    let rows = f64::from(total.max(1));
    let xmax = f64::from(window.max(1));
    axes(
        &mut s,
        PlotArea { x0, y0, pw, ph },
        ("timestep", "neuron (cores stacked by tile)"),
        xmax,
        rows,
    );
    let mut base = std::collections::BTreeMap::new();
    let mut acc = 0u32;
    for &(tile, n) in rows_per_tile {
        base.insert(tile, acc);
        acc += n;
        let y = y0 - f64::from(acc) / rows * ph;
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" y1="{y:.2}" x2="{}" y2="{y:.2}" stroke="#bbbbbb"/><text x="{}" y="{:.2}" font-size="10">tile {tile}</text>"##,
            x0 + pw,
            x0 + pw + 2.0,
            y + 10.0
        );
    }
    for r in spikes {
        let Some(&b) = base.get(&r.tile) else {
            continue;
        };
        let row = f64::from(b + r.neuron) + 0.5;
        let _ = writeln!(
            s,
            r#"<circle cx="{:.2}" cy="{:.2}" r="1.6" fill="black"/>"#,
            x0 + (f64::from(r.timestep) + 0.5) / xmax * pw,
            y0 - row / rows * ph
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(t: u32, start: u64, release: u64, done: Vec<u64>) -> StepRecord {
        StepRecord {
            timestep: t,
            start,
            release,
            done,
            packets: 3,
            peak_flits_in_flight: 2,
        }
    }

    #[test]
    fn vcd_has_header_and_monotonic_times() {
        let recs = vec![
            record(0, 100, 130, vec![110, 120]),
            record(1, 130, 150, vec![140, 135]),
        ];
        let v = vcd(&recs, &[TileId(1), TileId(5)], 2000);
        assert!(v.contains("$enddefinitions $end"));
        // Every variable has an initial value in the $dumpvars block.
        let dump = v
            .split("$dumpvars")
            .nth(1)
            .unwrap()
            .split("$end")
            .next()
            .unwrap();
        assert_eq!(
            dump.lines().filter(|l| !l.trim().is_empty()).count(),
            7,
            "{dump}"
        );
        assert!(v.contains("done_tile5"));
        let times: Vec<u64> = v
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .map(|t| t.parse().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        // Release of step 0 at cycle 30 after the origin, in ps.
        assert!(times.contains(&(30 * 2000)));
        // step_cycles of step 1 = 20 = 0b10100.
        assert!(v.contains("b10100 "), "{v}");
    }

    #[test]
    fn raster_csv_has_one_line_per_spike() {
        let s = raster_csv(&[
            RasterSpike {
                sample: 0,
                timestep: 3,
                tile: 1,
                neuron: 7,
            },
            RasterSpike {
                sample: 0,
                timestep: 4,
                tile: 2,
                neuron: 0,
            },
        ]);
        assert_eq!(s, "sample,timestep,tile,neuron\n0,3,1,7\n0,4,2,0\n");
    }

    #[test]
    fn svgs_are_closed_documents() {
        for s in [
            svg_tile_heatmap("e <&>", 2, 2, &[1.0, 0.0, 3.0, 2.0], "J"),
            svg_link_heatmap("l", 2, 2, &[(0, 'E', 5), (1, 'W', 2), (0, 'S', 0)]),
            svg_bars("c", "x", "y", &[1.0, 4.0, 2.0]),
            svg_raster(
                "r",
                &[RasterSpike {
                    sample: 0,
                    timestep: 1,
                    tile: 0,
                    neuron: 2,
                }],
                &[(0, 4)],
                8,
            ),
        ] {
            assert!(s.starts_with("<svg"));
            assert!(s.trim_end().ends_with("</svg>"));
            assert!(!s.contains("<&>"));
        }
    }

    #[test]
    fn heat_colour_spans_the_scale() {
        assert_eq!(heat_colour(0.0), "rgb(68,1,84)");
        assert_eq!(heat_colour(1.0), "rgb(253,231,37)");
        assert_eq!(heat_colour(f64::NAN), heat_colour(0.0));
    }
}
