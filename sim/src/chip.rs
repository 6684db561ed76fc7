//! The whole chip: the neurocores of a chip image on the mesh, the timestep barrier and the host
//! I/O port, stepped together on one global clock.
//!
//! # Per-cycle behaviour
//!
//! In cycle `c`:
//! 1. every core simulates its units through cycle `c` ([`Neurocore::advance`]);
//! 2. each core's oldest outbound packet emitted by `c` enters its tile's network interface if
//!    the interface has room (else it waits: the spike-out unit's queue fills and it stalls —
//!    nothing is dropped); then the host port offers its oldest pending packet to the
//!    network interface of the I/O tile, which it shares with that tile's core (the core has
//!    priority);
//! 3. the mesh advances one cycle;
//! 4. packets ejected at a tile are handed to its core's synapse unit (spikes) or learning
//!    inbox at cycle `c + 1`; packets addressed to the host leave through the I/O tile and are
//!    recorded with the current timestep;
//! 5. the barrier sees "all cores done, mesh empty, host port idle" and releases the next
//!    timestep after its documented cost ([`crate::noc::Barrier`]).
//!
//! Cycles in which nothing can happen (mesh and host port empty, every processor busy with a
//! long instruction or waiting) are skipped in one jump to the next unit action, which leaves
//! every count as a cycle-by-cycle run would give it.
//!
//! # A sample
//!
//! The host sends the input spikes of time `t` during timestep `t − 1` (those of time 0 before
//! the sample begins), so that they are in the input accumulator `f0` of the first-layer cores
//! at timestep `t`. A spike sent by a core in timestep `t` reaches the next layer's `f0` at
//! timestep `t + 1`: the mesh transit is the one-step output delay of the S4NN/BS4NN neuron,
//! so every layer's timestep `t` computes the golden model's time `t`.
//!
//! # The learning phase
//!
//! [`Chip::learn_sample`] follows a full-window sample on an image mapped with
//! `MapOptions::learning` (every core running `firmware::learn_out::chip_program`, the output
//! layer on one core): the host writes the label lane into the output core and
//! `learn_req = 1` into every learning core's data memory (management writes, like
//! [`Chip::set_core_param`]), pulses their reset lines (the firmware dispatches at address 0 to
//! `wait learn`), signals the learn event to every core ([`Neurocore::begin_learn`]; cores
//! waiting for a sample ignore it), and runs cycles until every core waits again with its
//! outbound queue drained and the mesh is empty: the output core updates its latents and sends
//! its partial hidden errors back, the hidden cores receive them (`recv` stalls until they
//! arrive), normalise and update theirs. Learning packets are delivered to the cores' learning
//! inboxes. Its cycles and mesh packets are counted in [`LearnCounters`], apart from the
//! inference figures of [`SampleOutput`].

use crate::core::{
    CoreError, CoreFault, Cycle, Neurocore, OutPacket, PacketKind as CoreKind, ProcessorState,
};
use crate::energy::EventCounts;
use crate::noc::{
    Barrier, BarrierStatus, InjectError, Mesh, NocConfig, NocError, Packet, PacketKind, Port,
};
use isa::chip::{ChipDescription, TileId};
use isa::image::{ChipImage, Destination};
use std::collections::VecDeque;
use thiserror::Error;

/// Why the chip could not be built or run.
#[derive(Debug, Error)]
pub enum ChipError {
    /// A core of the image could not be built.
    #[error("{tile}: {source}")]
    Core {
        /// The core's tile.
        tile: TileId,
        /// What went wrong.
        source: CoreError,
    },
    /// A core faulted while running.
    #[error("{tile} faulted: {fault}")]
    Fault {
        /// The core's tile.
        tile: TileId,
        /// The fault.
        fault: CoreFault,
    },
    /// The network refused its configuration or broke an invariant.
    #[error(transparent)]
    Noc(#[from] NocError),
    /// An input channel outside the image's input map.
    #[error("input channel {channel} does not exist: the image has {channels} input channels")]
    InputChannel {
        /// The channel.
        channel: u32,
        /// How many the image has.
        channels: usize,
    },
    /// A learning label that is no output channel of the image.
    #[error("label {label} is no output channel: the image has {outputs} outputs")]
    Label {
        /// The label.
        label: u32,
        /// Output channels of the image.
        outputs: usize,
    },
    /// No core on the tile a host operation addressed.
    #[error("{tile} holds no core")]
    NoCore {
        /// The tile.
        tile: TileId,
    },
    /// The chip's state could not be written back as an image ([`Chip::snapshot_image`]).
    #[error("cannot snapshot the chip as an image: {detail}")]
    Snapshot {
        /// What did not fit (naming the tile when one core is at fault).
        detail: String,
    },
    /// The timestep did not finish within the cycle budget (a firmware that never reaches its
    /// barrier, for instance).
    #[error("timestep {timestep} did not finish within {budget} cycles: {detail}")]
    Stuck {
        /// The timestep.
        timestep: u32,
        /// The budget.
        budget: u64,
        /// What was still busy.
        detail: String,
    },
}

/// When a sample ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRule {
    /// Run every timestep of the window.
    FullWindow,
    /// Stop after the first timestep in which an output spike reaches the host (the earliest
    /// output decides the class; outputs of that same timestep are all recorded, so ties are
    /// decided as in the golden model).
    FirstOutput,
}

/// What one sample produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleOutput {
    /// Per output channel, the timestep in which its first spike reached the host.
    pub first_spike: Vec<Option<u32>>,
    /// Per output channel, the spikes that reached the host in the sample (multi-spike
    /// networks decode from these).
    pub spike_counts: Vec<u32>,
    /// Timesteps run.
    pub timesteps: u32,
    /// Cycles of each timestep (from its start to the barrier's release).
    pub step_cycles: Vec<u64>,
    /// Cycles of the whole sample, input preload included.
    pub cycles: u64,
}

/// Per output channel, where its neuron sits (derived from the fan-out tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSource {
    /// The tile of the core.
    pub tile: TileId,
    /// The neuron in that core.
    pub neuron: u32,
}

/// Chip-wide counters that are not per core.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostCounters {
    /// Input spike packets the host sent.
    pub packets_in: u64,
    /// Output spike packets the host received.
    pub packets_out: u64,
    /// Cycles the host port waited for room in the I/O tile's network interface.
    pub stall_cycles: u64,
}

/// Figures of the learning phases run so far ([`Chip::learn_sample`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LearnCounters {
    /// Learning phases run.
    pub phases: u64,
    /// Cycles of all learning phases (from the host's learn signal to the last core waiting).
    pub cycles: u64,
    /// Packets the mesh accepted during learning phases.
    pub packets: u64,
}

/// What one learning phase took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LearnOutput {
    /// Cycles from the host's learn signal until every core waits again and the mesh is empty.
    pub cycles: u64,
    /// Packets the mesh accepted during the phase.
    pub packets: u64,
}

/// One timestep of a sample, recorded when [`Chip::set_step_recording`] is on (for traces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    /// The timestep.
    pub timestep: u32,
    /// Cycle at which it began.
    pub start: u64,
    /// Cycle at which the barrier released it.
    pub release: u64,
    /// Per used tile (ascending, as [`Chip::used_tiles`]), the cycle its core reached the barrier.
    pub done: Vec<u64>,
    /// Packets the mesh accepted during the timestep.
    pub packets: u64,
    /// Largest number of flits in flight in the mesh at the end of any cycle of the timestep.
    pub peak_flits_in_flight: u64,
}

/// The simulated chip.
#[derive(Debug)]
pub struct Chip {
    desc: ChipDescription,
    /// Core of each tile (`None`: the tile is unused).
    cores: Vec<Option<Neurocore>>,
    /// Tiles with a core, ascending.
    used: Vec<usize>,
    mesh: Mesh,
    barrier: Barrier,
    host_tile: TileId,
    inputs: isa::image::FanoutTable,
    outputs: Vec<Option<OutputSource>>,
    /// Host packets waiting to enter the I/O tile's network interface.
    host_queue: VecDeque<Packet>,
    host: HostCounters,
    now: u64,
    timestep: u32,
    /// First-spike timestep per output channel in the current sample.
    out_first: Vec<Option<u32>>,
    out_count: Vec<u32>,
    out_seen: bool,
    /// Largest cycle count one timestep may take before the run is declared stuck.
    pub step_budget: u64,
    /// Whether [`Chip::run_sample`] records a [`StepRecord`] per timestep.
    record_steps: bool,
    /// The records of the last sample.
    steps: Vec<StepRecord>,
    /// Peak flits in flight in the current timestep (recording only).
    step_peak: u64,
    /// Learning-phase figures.
    learn: LearnCounters,
}

impl Chip {
    /// Builds the chip an image describes: one neurocore per image core, the mesh and barrier
    /// of its router parameters, the host port on its I/O tile. Every core then runs its
    /// firmware until it first waits (boot).
    pub fn new(image: &ChipImage) -> Result<Self, ChipError> {
        let desc = image.chip.clone();
        let r = &desc.router;
        let noc = NocConfig {
            width: desc.mesh.width,
            height: desc.mesh.height,
            virtual_channels: r.virtual_channels,
            buffer_depth: r.buffer_depth,
            routing_delay: r.routing_delay,
            vc_alloc_delay: r.vc_alloc_delay,
            sw_alloc_delay: r.sw_alloc_delay,
            st_prepare_delay: r.st_prepare_delay,
            st_final_delay: r.st_final_delay,
            link_delay: r.link_delay,
            credit_delay: r.credit_delay,
            ..NocConfig::default()
        };
        let mesh = Mesh::new(noc.clone())?;
        let barrier = Barrier::new(&noc)?;
        let mut cores: Vec<Option<Neurocore>> = (0..desc.tiles()).map(|_| None).collect();
        let mut used = Vec::new();
        let mut outputs = vec![None; image.io.outputs as usize];
        for ci in &image.cores {
            let mut core =
                Neurocore::from_image(&desc.core, ci).map_err(|source| ChipError::Core {
                    tile: ci.tile,
                    source,
                })?;
            core.advance(Cycle(u64::MAX))
                .map_err(|fault| ChipError::Fault {
                    tile: ci.tile,
                    fault,
                })?;
            for n in 0..ci.neurons as usize {
                for d in ci.fanout.destinations(n) {
                    if let Destination::Host { channel } = *d {
                        outputs[channel as usize] = Some(OutputSource {
                            tile: ci.tile,
                            neuron: n as u32,
                        });
                    }
                }
            }
            used.push(usize::from(ci.tile.0));
            cores[usize::from(ci.tile.0)] = Some(core);
        }
        let host_tile = desc
            .tile_at(desc.io.x, desc.io.y)
            .expect("a validated chip description has its I/O tile on the mesh");
        let n_out = outputs.len();
        // Boot leaves every core's clock at its first wait; the chip clock starts after that.
        let now = cores
            .iter()
            .flatten()
            .map(|c| c.done_at().unwrap_or(c.now()).0)
            .max()
            .unwrap_or(0);
        Ok(Chip {
            desc,
            cores,
            used,
            mesh,
            barrier,
            host_tile,
            inputs: image.io.inputs.clone(),
            outputs,
            host_queue: VecDeque::new(),
            host: HostCounters::default(),
            now,
            timestep: 0,
            out_first: vec![None; n_out],
            out_count: vec![0; n_out],
            out_seen: false,
            step_budget: 50_000_000,
            record_steps: false,
            steps: Vec::new(),
            step_peak: 0,
            learn: LearnCounters::default(),
        })
    }

    /// The chip description.
    pub fn description(&self) -> &ChipDescription {
        &self.desc
    }

    /// The global clock.
    pub fn now(&self) -> Cycle {
        Cycle(self.now)
    }

    /// The core on `tile`, if the image placed one there.
    pub fn core(&self, tile: TileId) -> Option<&Neurocore> {
        self.cores.get(usize::from(tile.0)).and_then(Option::as_ref)
    }

    /// Tiles holding a core, ascending.
    pub fn used_tiles(&self) -> impl Iterator<Item = TileId> + '_ {
        self.used.iter().map(|&t| TileId(t as u16))
    }

    /// The mesh.
    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    /// Host port counters.
    pub fn host_counters(&self) -> HostCounters {
        self.host
    }

    /// Where each output channel's neuron sits.
    pub fn output_sources(&self) -> &[Option<OutputSource>] {
        &self.outputs
    }

    /// Turns per-timestep recording ([`Chip::step_records`]) on or off. Off by default: it
    /// allocates one record per timestep.
    pub fn set_step_recording(&mut self, on: bool) {
        self.record_steps = on;
        self.steps.clear();
    }

    /// The per-timestep records of the last sample (empty unless recording is on).
    pub fn step_records(&self) -> &[StepRecord] {
        &self.steps
    }

    /// Number of input channels.
    pub fn input_channels(&self) -> usize {
        self.inputs.sources()
    }

    /// Runs one sample: `spikes` are `(input channel, time)` pairs (any order; times ≥
    /// `window` never spike), `window` is the number of timesteps (the model's `t_max`).
    pub fn run_sample(
        &mut self,
        spikes: &[(u32, u32)],
        window: u32,
        stop: StopRule,
    ) -> Result<SampleOutput, ChipError> {
        let channels = self.inputs.sources();
        // Bucket the input spikes by time, in channel order within a time (deterministic).
        let mut by_time: Vec<Vec<u32>> = vec![Vec::new(); window as usize];
        for &(ch, t) in spikes {
            if ch as usize >= channels {
                return Err(ChipError::InputChannel {
                    channel: ch,
                    channels,
                });
            }
            if t < window {
                by_time[t as usize].push(ch);
            }
        }
        for list in &mut by_time {
            list.sort_unstable();
        }
        let start = self.now;
        self.out_first.iter_mut().for_each(|x| *x = None);
        self.out_count.iter_mut().for_each(|x| *x = 0);
        self.out_seen = false;
        self.timestep = 0;

        // Preload: inputs of time 0 travel to the first-layer cores before the sample begins.
        if window > 0 {
            self.queue_inputs(&by_time[0]);
        }
        self.run_until_quiet()?;
        let begin = self
            .used
            .iter()
            .filter_map(|&t| self.cores[t].as_ref())
            .map(|c| c.synapse_free_at().0)
            .max()
            .unwrap_or(self.now)
            .max(self.now);
        self.now = begin;
        for &t in &self.used {
            let tile = TileId(t as u16);
            let core = self.cores[t].as_mut().expect("used tiles hold cores");
            core.begin_sample(Cycle(begin))
                .map_err(|source| ChipError::Core { tile, source })?;
        }
        let mut step_cycles = Vec::with_capacity(window as usize);
        self.steps.clear();
        for t in 0..window {
            self.timestep = t;
            let step_start = self.now;
            let packets_before = self.mesh.counters().packets_accepted;
            self.step_peak = 0;
            if let Some(next) = by_time.get(t as usize + 1) {
                self.queue_inputs(next);
            }
            let release = self.run_timestep()?;
            step_cycles.push(release - step_start);
            if self.record_steps {
                self.record_step(t, step_start, release, packets_before);
            }
            self.now = release;
            let last = t + 1 == window || (stop == StopRule::FirstOutput && self.out_seen);
            if last {
                break;
            }
            for &tile in &self.used {
                let id = TileId(tile as u16);
                let core = self.cores[tile].as_mut().expect("used tiles hold cores");
                core.release_barrier(Cycle(release))
                    .map_err(|source| ChipError::Core { tile: id, source })?;
            }
        }
        // Bring every core back to its `wait sample` for the next sample: a core stopped at a
        // barrier inside the window is restarted by the host (its reset line).
        for &tile in &self.used {
            let id = TileId(tile as u16);
            let core = self.cores[tile].as_mut().expect("used tiles hold cores");
            core.restart(Cycle(self.now))
                .map_err(|source| ChipError::Core { tile: id, source })?;
            core.advance(Cycle(u64::MAX))
                .map_err(|fault| ChipError::Fault { tile: id, fault })?;
        }
        Ok(SampleOutput {
            first_spike: self.out_first.clone(),
            spike_counts: self.out_count.clone(),
            timesteps: step_cycles.len() as u32,
            cycles: self.now - start,
            step_cycles,
        })
    }

    /// Turns every core's spike log on or off ([`Neurocore::set_spike_log`]): the full raster
    /// of multi-spike networks.
    pub fn set_spike_log(&mut self, on: bool) {
        for core in self.cores.iter_mut().flatten() {
            core.set_spike_log(on);
        }
    }

    /// Management write: the data word at firmware symbol `name` of the core on `tile` (the
    /// host's write port into a core's data memory, used between samples).
    pub fn set_core_param(
        &mut self,
        tile: TileId,
        name: &str,
        value: i32,
    ) -> Result<(), ChipError> {
        let core = self
            .cores
            .get_mut(usize::from(tile.0))
            .and_then(Option::as_mut)
            .ok_or(ChipError::NoCore { tile })?;
        core.set_param(name, value)
            .map_err(|source| ChipError::Core { tile, source })
    }

    /// Learning-phase figures so far.
    pub fn learn_counters(&self) -> LearnCounters {
        self.learn
    }

    /// Runs the learning phase of the last sample (see the module documentation) for the
    /// correct class `label` (an output channel). The sample must have run with
    /// [`StopRule::FullWindow`] (the kernel reads the spike times of the whole window), and the
    /// image must be a learning image (`MapOptions::learning`): the core of output `label`
    /// runs `firmware::learn_out::chip_program` and holds the whole output layer; every core
    /// whose firmware has the `learn_req` word takes part (the hidden-layer cores learn from
    /// the errors the output core sends back). Returns when every core waits again and the
    /// mesh is empty.
    pub fn learn_sample(&mut self, label: u32) -> Result<LearnOutput, ChipError> {
        let src = self
            .outputs
            .get(label as usize)
            .copied()
            .flatten()
            .ok_or(ChipError::Label {
                label,
                outputs: self.outputs.len(),
            })?;
        let tile = src.tile;
        let start = self.now;
        let packets_before = self.mesh.counters().packets_accepted;
        self.set_core_param(tile, "label", src.neuron as i32)?;
        // Every learning core (one whose firmware has the learning request word) is sent to
        // its `wait learn`: the output core and the hidden-layer cores alike.
        let mut learning = 0;
        for i in 0..self.used.len() {
            let t = TileId(self.used[i] as u16);
            let core = self.cores[usize::from(t.0)]
                .as_mut()
                .expect("used tiles hold cores");
            if core.symbol("learn_req").is_err() {
                continue;
            }
            learning += 1;
            core.set_param("learn_req", 1)
                .map_err(|source| ChipError::Core { tile: t, source })?;
            core.restart(Cycle(start))
                .map_err(|source| ChipError::Core { tile: t, source })?;
            // The dispatch runs to its `wait learn`.
            core.advance(Cycle(u64::MAX))
                .map_err(|fault| ChipError::Fault { tile: t, fault })?;
        }
        if learning == 0 {
            return Err(ChipError::Core {
                tile,
                source: CoreError::NoSymbol("learn_req".into()),
            });
        }
        for &t in &self.used {
            let core = self.cores[t].as_mut().expect("used tiles hold cores");
            core.begin_learn(Cycle(start));
        }
        let end = self.run_until_waiting()?;
        self.now = self.now.max(end);
        let out = LearnOutput {
            cycles: self.now - start,
            packets: self.mesh.counters().packets_accepted - packets_before,
        };
        self.learn.phases += 1;
        self.learn.cycles += out.cycles;
        self.learn.packets += out.packets;
        Ok(out)
    }

    /// Runs cycles until every core waits for an event with its spike-out work drained and the
    /// mesh and host port are empty; returns the cycle the last core began waiting.
    fn run_until_waiting(&mut self) -> Result<u64, ChipError> {
        let limit = self.now + self.step_budget;
        loop {
            if self.now >= limit {
                return Err(self.stuck("the learning phase"));
            }
            let quiet = self.host_queue.is_empty() && self.mesh.is_empty() && self.ejects_empty();
            if quiet {
                let mut all_waiting = true;
                let mut latest = self.now;
                let mut next = u64::MAX;
                for &t in &self.used {
                    let core = self.cores[t].as_ref().expect("used tiles hold cores");
                    if core.outbound_len() > 0 {
                        all_waiting = false;
                        next = self.now;
                        continue;
                    }
                    match (core.state(), core.done_at()) {
                        (ProcessorState::Waiting(..), Some(d)) => latest = latest.max(d.0),
                        _ => {
                            all_waiting = false;
                            next = next.min(core.next_action().map_or(self.now, |c| c.0));
                        }
                    }
                }
                if all_waiting {
                    return Ok(latest);
                }
                if next != u64::MAX && next > self.now {
                    self.now = next;
                }
            }
            self.cycle()?;
        }
    }

    fn record_step(&mut self, timestep: u32, start: u64, release: u64, packets_before: u64) {
        let done = self
            .used
            .iter()
            .filter_map(|&t| self.cores[t].as_ref())
            .map(|c| c.done_at().map_or(release, |d| d.0))
            .collect();
        self.steps.push(StepRecord {
            timestep,
            start,
            release,
            done,
            packets: self.mesh.counters().packets_accepted - packets_before,
            peak_flits_in_flight: self.step_peak,
        });
    }

    fn queue_inputs(&mut self, channels: &[u32]) {
        for &ch in channels {
            for d in self.inputs.destinations(ch as usize) {
                self.host_queue
                    .push_back(to_packet(*d, CoreKind::Spike, 0, self.host_tile));
            }
        }
    }

    /// Runs cycles until the mesh and the host port are empty (cores idle in `wait`).
    fn run_until_quiet(&mut self) -> Result<(), ChipError> {
        let limit = self.now + self.step_budget;
        while !(self.host_queue.is_empty() && self.mesh.is_empty() && self.ejects_empty()) {
            if self.now >= limit {
                return Err(self.stuck("the input preload"));
            }
            self.cycle()?;
        }
        Ok(())
    }

    /// Runs the current timestep to its barrier release; returns the release cycle.
    fn run_timestep(&mut self) -> Result<u64, ChipError> {
        let limit = self.now + self.step_budget;
        self.barrier.reset();
        loop {
            if self.now >= limit {
                return Err(self.stuck("the timestep"));
            }
            let quiet = self.host_queue.is_empty() && self.mesh.is_empty() && self.ejects_empty();
            if quiet {
                // Nothing in flight: either every core is done (barrier), or the next thing
                // that can happen is a core's own action; jump there.
                let mut all_done = true;
                let mut latest_done = self.now;
                let mut next = u64::MAX;
                for &t in &self.used {
                    let core = self.cores[t].as_ref().expect("used tiles hold cores");
                    if core.outbound_len() > 0 {
                        all_done = false;
                        next = self.now;
                        continue;
                    }
                    match core.done_at() {
                        Some(d) => latest_done = latest_done.max(d.0),
                        None => {
                            all_done = false;
                            next = next.min(core.next_action().map_or(self.now, |c| c.0));
                        }
                    }
                }
                if all_done {
                    return match self.barrier.poll(Cycle(latest_done), true, true) {
                        BarrierStatus::Released(at) => Ok(at.0),
                        BarrierStatus::Gathering { release_at, .. } => Ok(release_at.0),
                        BarrierStatus::Waiting => unreachable!("the barrier condition holds"),
                    };
                }
                if next != u64::MAX && next > self.now {
                    self.now = next;
                }
            }
            self.cycle()?;
        }
    }

    fn ejects_empty(&self) -> bool {
        self.used
            .iter()
            .all(|&t| self.mesh.delivered_waiting(TileId(t as u16)) == 0)
            && self.mesh.delivered_waiting(self.host_tile) == 0
    }

    fn stuck(&self, what: &str) -> ChipError {
        let busy: Vec<String> = self
            .used
            .iter()
            .filter_map(|&t| {
                let c = self.cores[t].as_ref()?;
                c.done_at()
                    .is_none()
                    .then(|| format!("tile {t} (pc {}, {:?})", c.pc(), c.state()))
            })
            .collect();
        ChipError::Stuck {
            timestep: self.timestep,
            budget: self.step_budget,
            detail: format!(
                "{what}; {} flits in the mesh, {} host packets waiting, cores not done: [{}]",
                self.mesh.in_flight_flits(),
                self.host_queue.len(),
                busy.join(", ")
            ),
        }
    }

    /// One clock cycle of the whole chip (see the module documentation).
    fn cycle(&mut self) -> Result<(), ChipError> {
        let now = self.now;
        for &t in &self.used {
            let tile = TileId(t as u16);
            let core = self.cores[t].as_mut().expect("used tiles hold cores");
            core.advance(Cycle(now + 1))
                .map_err(|fault| ChipError::Fault { tile, fault })?;
            if let Some(p) = core.peek_outbound() {
                if p.emitted_at.0 <= now && self.mesh.inject_room(tile) > 0 {
                    let p: OutPacket = core.pop_outbound().expect("peeked");
                    let packet = to_packet(p.dst, p.kind, p.payload, self.host_tile);
                    inject(&mut self.mesh, tile, packet)?;
                }
            }
        }
        if let Some(&p) = self.host_queue.front() {
            if self.mesh.inject_room(self.host_tile) > 0 {
                self.host_queue.pop_front();
                inject(&mut self.mesh, self.host_tile, p)?;
                self.host.packets_in += 1;
            } else {
                self.host.stall_cycles += 1;
            }
        }
        self.mesh.step()?;
        self.now = now + 1;
        if self.record_steps {
            self.step_peak = self.step_peak.max(self.mesh.in_flight_flits());
        }
        let at = Cycle(self.now);
        for i in 0..self.used.len() {
            let tile = TileId(self.used[i] as u16);
            while let Some(d) = self.mesh.pop_delivered(tile) {
                self.deliver(tile, d.packet, at)?;
            }
        }
        if self.cores[usize::from(self.host_tile.0)].is_none() {
            while let Some(d) = self.mesh.pop_delivered(self.host_tile) {
                self.deliver(self.host_tile, d.packet, at)?;
            }
        }
        Ok(())
    }

    fn deliver(&mut self, tile: TileId, p: Packet, at: Cycle) -> Result<(), ChipError> {
        match p.kind {
            PacketKind::Control => {
                let ch = p.payload as usize;
                self.host.packets_out += 1;
                if let Some(slot) = self.out_first.get_mut(ch) {
                    if slot.is_none() {
                        *slot = Some(self.timestep);
                    }
                    self.out_seen = true;
                }
                if let Some(count) = self.out_count.get_mut(ch) {
                    *count += 1;
                }
            }
            PacketKind::Learning => {
                if let Some(core) = self.cores[usize::from(tile.0)].as_mut() {
                    core.deliver_learn(u32::from(p.axon), p.payload as i32, at);
                }
            }
            PacketKind::Spike | PacketKind::Synthetic => {
                if let Some(core) = self.cores[usize::from(tile.0)].as_mut() {
                    core.deliver_spike(u32::from(p.axon), at)
                        .map_err(|source| ChipError::Core { tile, source })?;
                }
            }
        }
        Ok(())
    }

    /// Energy-relevant event counts of the core on `tile` (hops are counted by
    /// [`Chip::hop_counts`], per link).
    pub fn core_events(&self, tile: TileId) -> EventCounts {
        let Some(core) = self.core(tile) else {
            return EventCounts::default();
        };
        let c = core.counters();
        EventCounts {
            synaptic_ops: c.synaptic_events,
            neuron_updates_active: c.active_neuron_updates,
            neuron_updates_inactive: c.neuron_updates.saturating_sub(c.active_neuron_updates),
            spikes_out: c.packets_out + c.learn_packets_out,
            hops_ew: 0,
            hops_ns: 0,
            learn_updates: c.latent_writes,
        }
    }

    /// The chip's current state as a chip image: `image` (the image this chip was built from)
    /// with each core's latent memory and binary sign rows replaced by what the core holds now
    /// (after on-chip learning, say). Programs, data memory, fields, fan-out tables and
    /// multi-bit weights are those of `image`; absent synapses (presence plane) stay absent.
    /// The result is validated like any image.
    pub fn snapshot_image(&self, image: &ChipImage) -> Result<ChipImage, ChipError> {
        let mut cores = image.cores.clone();
        for ci in &mut cores {
            let tile = ci.tile;
            let core = self.core(tile).ok_or(ChipError::NoCore { tile })?;
            let (neurons, axons) = (ci.neurons as usize, ci.axons as usize);
            let syn = core.synapses();
            if syn.neurons() != neurons || syn.axons() != axons {
                return Err(ChipError::Snapshot {
                    detail: format!(
                        "{tile}: the core holds {} axons x {} neurons, the image {axons} x {neurons}",
                        syn.axons(),
                        syn.neurons()
                    ),
                });
            }
            if ci.latent.is_some() {
                ci.latent = core.latent().map(<[i32]>::to_vec);
            }
            if ci.synapses.weights.is_none() {
                let words = ci.words_per_row();
                let mut sign = vec![0u64; axons * words];
                for a in 0..axons {
                    for n in 0..neurons {
                        if syn.weight(a, n) == Some(1) {
                            sign[a * words + n / 64] |= 1u64 << (n % 64);
                        }
                    }
                }
                ci.synapses.sign = sign;
            }
        }
        ChipImage::new(
            image.chip.clone(),
            cores,
            image.io.clone(),
            image.provenance.clone(),
        )
        .map_err(|e| ChipError::Snapshot {
            detail: e.to_string(),
        })
    }

    /// Flit traversals of east–west and north–south links, mesh-wide.
    pub fn hop_counts(&self) -> (u64, u64) {
        let (mut ew, mut ns) = (0, 0);
        for (tile, port) in self.mesh.links() {
            let sent = self.mesh.link_counters(tile, port).map_or(0, |l| l.sent);
            match port {
                Port::East | Port::West => ew += sent,
                Port::North | Port::South => ns += sent,
                Port::Local => {}
            }
        }
        (ew, ns)
    }
}

fn to_packet(dst: Destination, kind: CoreKind, payload: i32, host_tile: TileId) -> Packet {
    match dst {
        Destination::Core { tile, axon } => Packet {
            dst: tile,
            axon: axon as u16,
            kind: match kind {
                CoreKind::Spike => PacketKind::Spike,
                CoreKind::Learn => PacketKind::Learning,
            },
            payload: payload as u32,
            flits: 1,
        },
        Destination::Host { channel } => Packet {
            dst: host_tile,
            axon: 0,
            kind: PacketKind::Control,
            payload: channel,
            flits: 1,
        },
    }
}

fn inject(mesh: &mut Mesh, tile: TileId, p: Packet) -> Result<(), ChipError> {
    match mesh.try_inject(tile, p) {
        Ok(_) => Ok(()),
        // Callers check room first; a refusal here is a simulator bug, reported.
        Err(e @ InjectError::Backpressure(_)) | Err(e @ InjectError::EmptyPacket) => {
            Err(ChipError::Noc(NocError::Invariant {
                cycle: mesh.now().0,
                detail: format!("injection refused after room was checked: {e}"),
            }))
        }
        Err(e @ InjectError::TileOutsideMesh { .. }) => Err(ChipError::Noc(NocError::Invariant {
            cycle: mesh.now().0,
            detail: e.to_string(),
        })),
    }
}
