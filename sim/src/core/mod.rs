//! The cycle-accurate neurocore: its memories (synapse rows, neuron-state fields, data memory,
//! latent weights, fan-out table, spike-time latches, instruction memory) and its three units —
//! the synapse unit, the processor that runs the firmware, and the spike-out unit — with the
//! per-timestep phases (spike-in, neuron update, spike-out, learn, barrier) and their cycle
//! costs (see `docs/ARCHITECTURE.md`, "Neurocore").
//!
//! # Time model
//!
//! The core keeps its own view of the global clock. Each unit records the cycle at which it is
//! next free; the processor executes one instruction atomically and adds its documented cost
//! ([`isa::insn::Instruction::issue_cycles`]), the synapse unit integrates one arriving row
//! atomically and adds its cost, the spike-out unit emits one packet per cycle. Idle cycles are
//! skipped in bulk: [`Neurocore::advance`] jumps from one unit action to the next, so the cycle
//! counts are those of a per-cycle simulation while the work done is per instruction, per row
//! and per packet. Nothing allocates per cycle or per instruction.

mod processor;
mod spike_out;
mod synapse;

pub use spike_out::{OutPacket, PacketKind, NO_SPIKE};

/// The first-arrival latch of an axon that received no spike in the current sample (`ald`
/// reads it as is, so `t_i < t_j` is false for a silent input).
pub const NO_ARRIVAL: i32 = i32::MAX;

/// The first-arrival latch of an axon whose first spike arrived before the sample began
/// (delivered while the processor waited for the sample: the host's preload of time-0
/// inputs), i.e. timestep −1.
pub const PRELOAD_ARRIVAL: i32 = -1;
pub use synapse::SynapseMemory;

use isa::chip::{CoreParams, TileId};
use isa::image::{CoreImage, FanoutTable};
use isa::insn::{Event, Field, Instruction};
use isa::Program;
use spike_out::SpikeOutUnit;
use std::collections::{BTreeMap, VecDeque};
use synapse::SynapseUnit;
use thiserror::Error;

/// A count of clock cycles (the global clock of the chip).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cycle(pub u64);

/// Number of neuron-state fields.
pub const FIELDS: usize = Field::COUNT as usize;
/// Number of neuron masks.
pub const MASKS: usize = isa::insn::Mask::COUNT as usize;

/// The sizes of one neurocore (the `[core]` table of the chip description, plus the
/// micro-architectural choices the simulator makes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    /// The tile the core sits on (read by `csrr tileid`).
    pub tile: TileId,
    /// Neurons (lanes of every field).
    pub neurons: u32,
    /// Axons (synapse rows).
    pub axons: u32,
    /// Vector lanes of the processor.
    pub lanes: u32,
    /// Instruction-memory words.
    pub instruction_words: u32,
    /// Data-memory words.
    pub data_words: u32,
    /// Width of a latent weight in bits (`wstore` saturates to it).
    pub latent_weight_bits: u8,
    /// Capacity of the outbound queue towards the router; `None` = the port is always ready
    /// (stand-alone runs: packets simply accumulate until the caller drains them).
    pub outbound_depth: Option<usize>,
}

impl CoreConfig {
    /// A stand-alone core of `neurons` neurons and `axons` axons with the default chip's other
    /// sizes (16 lanes, 1024 instruction and data words, 16-bit latent weights).
    pub fn standalone(neurons: u32, axons: u32) -> Self {
        CoreConfig {
            tile: TileId(0),
            neurons,
            axons,
            lanes: 16,
            instruction_words: 1024,
            data_words: 1024,
            latent_weight_bits: 16,
            outbound_depth: None,
        }
    }

    /// The configuration the chip description gives a core on `tile`.
    pub fn from_params(params: &CoreParams, tile: TileId, neurons: u32, axons: u32) -> Self {
        CoreConfig {
            tile,
            neurons,
            axons,
            lanes: params.vector_lanes,
            instruction_words: params.instruction_words,
            data_words: params.data_words,
            latent_weight_bits: params.latent_weight_bits,
            outbound_depth: None,
        }
    }
}

/// Why a core could not be built or driven (load-time and host-side errors).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CoreError {
    /// A size is zero or too large.
    #[error("core configuration: {what} is {value}, must be in 1..={max}")]
    Size {
        /// Which size.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The largest allowed.
        max: u64,
    },
    /// The program does not fit in instruction memory.
    #[error("program has {words} instructions but instruction memory holds {capacity}")]
    ProgramTooLarge {
        /// Instructions.
        words: usize,
        /// Capacity.
        capacity: u32,
    },
    /// The program's data does not fit in data memory.
    #[error("program data has {words} words but data memory holds {capacity}")]
    DataTooLarge {
        /// Words.
        words: usize,
        /// Capacity.
        capacity: u32,
    },
    /// An instruction has an operand the processor does not have.
    #[error("instruction {pc}: {reason}")]
    BadInstruction {
        /// Address of the instruction.
        pc: u32,
        /// What is wrong.
        reason: String,
    },
    /// An array has the wrong length.
    #[error("{what}: expected {expected} entries, found {found}")]
    Shape {
        /// What array.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        found: usize,
    },
    /// An axon index outside the core.
    #[error("axon {axon} is outside the core's {axons} axons")]
    AxonOutOfRange {
        /// The axon.
        axon: u64,
        /// Axons of the core.
        axons: u32,
    },
    /// A neuron index outside the core.
    #[error("neuron {neuron} is outside the core's {neurons} neurons")]
    NeuronOutOfRange {
        /// The neuron.
        neuron: u64,
        /// Neurons of the core.
        neurons: u32,
    },
    /// A data address outside data memory.
    #[error("data address {addr} is outside the core's {words} data words")]
    DataAddress {
        /// The address.
        addr: i64,
        /// Data words.
        words: u32,
    },
    /// The program has no such symbol.
    #[error("the program defines no symbol `{0}`")]
    NoSymbol(String),
    /// A value does not fit the memory it is written to.
    #[error("{what} = {value} does not fit {bits} bits")]
    Width {
        /// What value.
        what: &'static str,
        /// The value.
        value: i64,
        /// The width.
        bits: u8,
    },
    /// The host asked for something the processor's state does not allow.
    #[error("{0}")]
    Protocol(&'static str),
    /// The processor faulted.
    #[error(transparent)]
    Fault(#[from] CoreFault),
}

/// A run-time fault of the processor: the core stops, the fault is latched and reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CoreFault {
    /// The program counter left instruction memory.
    #[error("core fault at cycle {cycle}: pc {pc} is outside the program ({len} instructions)")]
    PcOutOfRange {
        /// The pc.
        pc: u32,
        /// Program length.
        len: u32,
        /// Cycle.
        cycle: u64,
    },
    /// A load or store outside data memory.
    #[error("core fault at cycle {cycle}: instruction {pc} accesses data address {addr}, outside 0..{words}")]
    DataAddress {
        /// The pc.
        pc: u32,
        /// The address.
        addr: i64,
        /// Data words.
        words: u32,
        /// Cycle.
        cycle: u64,
    },
    /// A latent-weight row outside the core, or no latent memory.
    #[error("core fault at cycle {cycle}: instruction {pc} accesses latent/synapse row {row}, outside 0..{rows}")]
    LatentRow {
        /// The pc.
        pc: u32,
        /// The row.
        row: i64,
        /// Rows available (0 = no latent memory).
        rows: u32,
        /// Cycle.
        cycle: u64,
    },
    /// `ald` names an axon outside the core.
    #[error("core fault at cycle {cycle}: instruction {pc} reads the arrival latch of axon {axon}, outside 0..{axons}")]
    Axon {
        /// The pc.
        pc: u32,
        /// The axon index.
        axon: i64,
        /// Axons of the core.
        axons: u32,
        /// Cycle.
        cycle: u64,
    },
    /// `vget` / `vset` name a lane outside the core's neurons.
    #[error(
        "core fault at cycle {cycle}: instruction {pc} accesses lane {lane}, outside 0..{neurons}"
    )]
    Lane {
        /// The pc.
        pc: u32,
        /// The lane index.
        lane: i64,
        /// Neurons of the core.
        neurons: u32,
        /// Cycle.
        cycle: u64,
    },
    /// The processor is stuck: it waits for a packet or for queue space that can never come in
    /// a stand-alone run.
    #[error("core stalled forever at instruction {pc} ({reason})")]
    Deadlock {
        /// The pc.
        pc: u32,
        /// What it waits for.
        reason: &'static str,
    },
}

/// What the processor is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessorState {
    /// Executing; next instruction issues at the processor's ready cycle.
    Running,
    /// Waiting at the barrier since the given cycle.
    Barrier(Cycle),
    /// Waiting for an event since the given cycle.
    Waiting(Event, Cycle),
    /// Stopped by `halt`.
    Halted,
    /// Stopped by a fault.
    Faulted(CoreFault),
}

/// Event counters of one core (all monotonic; energy and reports are computed from them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CoreCounters {
    /// Instructions executed.
    pub instructions: u64,
    /// Vector and mask instructions executed.
    pub vector_instructions: u64,
    /// Cycles the processor spent issuing instructions.
    pub issue_cycles: u64,
    /// Cycles the processor stalled (barrier, wait, spike-out busy, send/recv).
    pub stall_cycles: u64,
    /// Spikes that arrived at the synapse unit.
    pub spikes_in: u64,
    /// Host currents injected.
    pub currents_in: u64,
    /// Synaptic events (synapses read for arriving spikes).
    pub synaptic_events: u64,
    /// Cycles the synapse unit was busy.
    pub synapse_cycles: u64,
    /// Neurons handed to the spike-out unit.
    pub spikes_out: u64,
    /// Spike packets put into the outbound queue.
    pub packets_out: u64,
    /// Learning packets sent.
    pub learn_packets_out: u64,
    /// Learning packets received.
    pub learn_packets_in: u64,
    /// Latent weights written by `wstore` (one per masked lane): the learning engine's
    /// synaptic weight updates (`EventCounts::learn_updates`).
    pub latent_writes: u64,
    /// Cycles the spike-out unit was busy.
    pub spike_out_cycles: u64,
    /// Neuron updates (neurons × timesteps begun).
    pub neuron_updates: u64,
    /// Neuron updates of neurons whose input accumulator was non-zero at the start of the
    /// timestep (the rest of `neuron_updates` are idle updates).
    pub active_neuron_updates: u64,
    /// Timesteps completed (barrier releases).
    pub timesteps: u64,
}

/// The summary of one timestep run stand-alone by [`Neurocore::run_timestep`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestepReport {
    /// The cycle the timestep began (barrier release or sample start).
    pub start: Cycle,
    /// The cycle the core reported done (at the barrier, spike-out drained, synapse unit idle).
    pub done: Cycle,
    /// `done - start`.
    pub cycles: u64,
}

/// One neurocore.
#[derive(Debug, Clone)]
pub struct Neurocore {
    config: CoreConfig,
    neurons: usize,
    words: usize,
    text: Vec<Instruction>,
    symbols: BTreeMap<String, i64>,
    // processor state
    regs: [i32; 16],
    pc: u32,
    state: ProcessorState,
    ready_at: Cycle,
    fields: Vec<i32>,
    masks: Vec<u64>,
    lo: usize,
    hi: usize,
    data: Vec<i32>,
    latent: Option<Vec<i32>>,
    scratch_a: Vec<i32>,
    scratch_b: Vec<i32>,
    lfsr: isa::arith::Lfsr,
    timestep: u32,
    /// Per axon, the timestep of the first spike that arrived in the current sample
    /// ([`NO_ARRIVAL`] if none, [`PRELOAD_ARRIVAL`] if it arrived before the sample began):
    /// the synapse unit's first-arrival latch, read by `ald`.
    axon_first: Vec<i32>,
    /// Whether the latches already hold arrivals of the coming sample (spikes delivered while
    /// the processor waits for it: the host's preload of time-0 inputs).
    preloaded: bool,
    samples_begun: u32,
    inbox: VecDeque<(u32, i32, Cycle)>,
    // units
    synapse: SynapseUnit,
    spike_out: SpikeOutUnit,
    // clock
    now: Cycle,
    step_start: Cycle,
    counters: CoreCounters,
}

impl Neurocore {
    /// Builds a core running `program` with all-(+1) binary synapses, zeroed fields, an empty
    /// fan-out table and no latent memory. The program is checked: it must fit the memories and
    /// every operand must exist. The processor starts at address 0 at cycle 0, timestep 0.
    pub fn new(config: CoreConfig, program: &Program) -> Result<Self, CoreError> {
        let check = |what: &'static str, value: u32, max: u64| {
            if value == 0 || u64::from(value) > max {
                Err(CoreError::Size {
                    what,
                    value: u64::from(value),
                    max,
                })
            } else {
                Ok(())
            }
        };
        check("neurons", config.neurons, 1 << 20)?;
        check("axons", config.axons, 1 << 20)?;
        check("lanes", config.lanes, 4096)?;
        check("instruction words", config.instruction_words, 1 << 22)?;
        check("data words", config.data_words, 1 << 24)?;
        if program.text.len() > config.instruction_words as usize {
            return Err(CoreError::ProgramTooLarge {
                words: program.text.len(),
                capacity: config.instruction_words,
            });
        }
        if program.data.len() > config.data_words as usize {
            return Err(CoreError::DataTooLarge {
                words: program.data.len(),
                capacity: config.data_words,
            });
        }
        for (pc, insn) in program.text.iter().enumerate() {
            processor::validate(insn).map_err(|reason| CoreError::BadInstruction {
                pc: pc as u32,
                reason,
            })?;
        }
        let n = config.neurons as usize;
        let words = n.div_ceil(64);
        let mut data = vec![0; config.data_words as usize];
        data[..program.data.len()].copy_from_slice(&program.data);
        let mut masks = vec![0u64; MASKS * words];
        fill_ones(&mut masks[..words], n);
        let depth = config.outbound_depth.unwrap_or(usize::MAX);
        let tile = config.tile;
        Ok(Neurocore {
            neurons: n,
            words,
            text: program.text.clone(),
            symbols: program.symbols.clone(),
            regs: [0; 16],
            pc: 0,
            state: ProcessorState::Running,
            ready_at: Cycle(0),
            fields: vec![0; FIELDS * n],
            masks,
            lo: 0,
            hi: n,
            data,
            latent: None,
            scratch_a: vec![0; n],
            scratch_b: vec![0; n],
            lfsr: isa::arith::Lfsr::new(0xACE1 ^ u32::from(tile.0).wrapping_mul(0x9E37_79B9)),
            timestep: 0,
            axon_first: vec![NO_ARRIVAL; config.axons as usize],
            preloaded: false,
            samples_begun: 0,
            inbox: VecDeque::with_capacity(64),
            synapse: SynapseUnit::new(SynapseMemory::new(n, config.axons as usize)),
            spike_out: SpikeOutUnit::new(n, FanoutTable::default(), depth),
            now: Cycle(0),
            step_start: Cycle(0),
            counters: CoreCounters::default(),
            config,
        })
    }

    /// Builds a core from its chip-image entry and the chip's core parameters.
    pub fn from_image(params: &CoreParams, image: &CoreImage) -> Result<Self, CoreError> {
        let config = CoreConfig::from_params(params, image.tile, image.neurons, image.axons);
        let mut core = Neurocore::new(config, &image.program)?;
        for init in &image.fields {
            core.set_field(init.field, &init.values)?;
        }
        let syn = &image.synapses;
        let mut mem = SynapseMemory::from_planes(
            image.neurons as usize,
            image.axons as usize,
            &syn.sign,
            syn.presence.as_deref(),
        )?;
        if let Some(w) = &syn.weights {
            mem.set_weights(w.clone(), params.weight_bits)?;
        }
        core.set_synapses(mem)?;
        if let Some(l) = &image.latent {
            core.set_latent(l.clone())?;
        }
        core.set_fanout(image.fanout.clone())?;
        core.set_first_arrival_only(image.first_arrival_only);
        if let Some(d) = &image.input_delays {
            core.set_input_delays(d.clone())?;
        }
        if let Some(seed) = image.lfsr_seed {
            core.lfsr = isa::arith::Lfsr::new(seed);
        }
        Ok(core)
    }

    /// Switches the synapse unit's first-arrival-only mode: when on, only the first spike per
    /// axon and sample is integrated (how the mapper lowers max pooling: every member of a
    /// pooling window targets one axon, and the earliest spike of the window wins).
    pub fn set_first_arrival_only(&mut self, on: bool) {
        self.synapse.first_arrival_only = on;
    }

    /// Whether the synapse unit is in first-arrival-only mode.
    pub fn first_arrival_only(&self) -> bool {
        self.synapse.first_arrival_only
    }

    /// Sets each neuron's input delay: a spike arriving in step `t` reaches the neuron's `f0`
    /// at step `t + 1 + delay` instead of `t + 1` (the dendritic delay slots; Lava's
    /// `DelayDense` with one delay per output neuron). One delay per neuron; clears whatever
    /// is pending. The chip image's `input_delays` are checked against `core.delay_slots`.
    pub fn set_input_delays(&mut self, delays: Vec<u8>) -> Result<(), CoreError> {
        if delays.len() != self.neurons {
            return Err(CoreError::Shape {
                what: "input delays (one per neuron)",
                expected: self.neurons,
                found: delays.len(),
            });
        }
        self.synapse.set_delays(delays);
        Ok(())
    }

    /// Each neuron's input delay in steps (empty: none).
    pub fn input_delays(&self) -> &[u8] {
        self.synapse.delays()
    }

    // ----- memories -----

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// Neurons of the core.
    pub fn neurons(&self) -> usize {
        self.neurons
    }

    /// Replaces the synapse memory (must match the core's neurons and axons).
    pub fn set_synapses(&mut self, memory: SynapseMemory) -> Result<(), CoreError> {
        if memory.neurons() != self.neurons || memory.axons() != self.config.axons as usize {
            return Err(CoreError::Shape {
                what: "synapse memory (axons × neurons)",
                expected: self.config.axons as usize * self.neurons,
                found: memory.axons() * memory.neurons(),
            });
        }
        self.synapse.memory = memory;
        Ok(())
    }

    /// The synapse memory.
    pub fn synapses(&self) -> &SynapseMemory {
        &self.synapse.memory
    }

    /// Installs the latent weight memory (row-major `axons × neurons`).
    pub fn set_latent(&mut self, latent: Vec<i32>) -> Result<(), CoreError> {
        let need = self.config.axons as usize * self.neurons;
        if latent.len() != need {
            return Err(CoreError::Shape {
                what: "latent weights",
                expected: need,
                found: latent.len(),
            });
        }
        self.latent = Some(latent);
        Ok(())
    }

    /// The latent weight memory, if any.
    pub fn latent(&self) -> Option<&[i32]> {
        self.latent.as_deref()
    }

    /// Installs the fan-out table (one source per neuron; destinations are not checked here —
    /// the chip image validates them against the mesh).
    pub fn set_fanout(&mut self, table: FanoutTable) -> Result<(), CoreError> {
        if table.sources() != self.neurons
            && !(table.offsets.is_empty() && table.entries.is_empty())
        {
            return Err(CoreError::Shape {
                what: "fan-out table sources",
                expected: self.neurons,
                found: table.sources(),
            });
        }
        let ok = table.offsets.first().copied().unwrap_or(0) == 0
            && table.offsets.windows(2).all(|w| w[0] <= w[1])
            && table.offsets.last().map_or(0, |&o| o as usize) == table.entries.len();
        if !ok {
            return Err(CoreError::Protocol("fan-out table offsets are not a non-decreasing list from 0 to the number of entries"));
        }
        self.spike_out.fanout = table;
        Ok(())
    }

    /// Sets every lane of a field.
    pub fn set_field(&mut self, field: Field, values: &[i32]) -> Result<(), CoreError> {
        if values.len() != self.neurons {
            return Err(CoreError::Shape {
                what: "field values",
                expected: self.neurons,
                found: values.len(),
            });
        }
        let f = usize::from(field.index()) & (FIELDS - 1);
        self.fields[f * self.neurons..(f + 1) * self.neurons].copy_from_slice(values);
        Ok(())
    }

    /// Every lane of a field.
    pub fn field(&self, field: Field) -> &[i32] {
        let f = usize::from(field.index()) & (FIELDS - 1);
        &self.fields[f * self.neurons..(f + 1) * self.neurons]
    }

    /// Whether neuron `n`'s bit of mask `m` is set.
    pub fn mask_bit(&self, m: isa::insn::Mask, n: usize) -> bool {
        n < self.neurons
            && bit(
                &self.masks,
                usize::from(m.index()) & (MASKS - 1),
                self.words,
                n,
            )
    }

    /// The data memory.
    pub fn data(&self) -> &[i32] {
        &self.data
    }

    /// Writes one data word.
    pub fn set_data(&mut self, addr: u32, value: i32) -> Result<(), CoreError> {
        let words = self.config.data_words;
        let slot = self
            .data
            .get_mut(addr as usize)
            .ok_or(CoreError::DataAddress {
                addr: i64::from(addr),
                words,
            })?;
        *slot = value;
        Ok(())
    }

    /// The address of a program symbol (a data label or constant).
    pub fn symbol(&self, name: &str) -> Result<i64, CoreError> {
        self.symbols
            .get(name)
            .copied()
            .ok_or_else(|| CoreError::NoSymbol(name.to_string()))
    }

    /// Writes the data word at the address of symbol `name` (a parameter of the firmware).
    pub fn set_param(&mut self, name: &str, value: i32) -> Result<(), CoreError> {
        let addr = self.symbol(name)?;
        let a = u32::try_from(addr).map_err(|_| CoreError::DataAddress {
            addr,
            words: self.config.data_words,
        })?;
        self.set_data(a, value)
    }

    /// Per neuron, the timestep of its first spike in the current sample ([`NO_SPIKE`] if none).
    pub fn first_spike_latches(&self) -> &[u32] {
        &self.spike_out.first_spike
    }

    /// Per neuron, the timestep of its latest spike ([`NO_SPIKE`] if none).
    pub fn last_spike_latches(&self) -> &[u32] {
        &self.spike_out.last_spike
    }

    /// Turns the spike log on (every spike of a sample, cleared when the next sample begins)
    /// or off. Off by default: it is an observation aid, not a unit of the core, and costs no
    /// cycles either way.
    pub fn set_spike_log(&mut self, on: bool) {
        self.spike_out.log = on.then(Vec::new);
    }

    /// The spikes of the current (or last) sample as `(timestep, neuron)` in emission order,
    /// when the log is on.
    pub fn spike_log(&self) -> Option<&[(u32, u32)]> {
        self.spike_out.log.as_deref()
    }

    /// The core's stochastic-rounding LFSR (its current state), so a golden model can draw the
    /// same random fractions as `vmulsh.sr`.
    pub fn lfsr(&self) -> isa::arith::Lfsr {
        self.lfsr
    }

    /// Per axon, the timestep at which its first spike of the current sample arrived
    /// ([`NO_ARRIVAL`] if none; [`PRELOAD_ARRIVAL`], i.e. timestep −1, for a spike delivered
    /// while the processor waited for the sample to begin); `ald` reads it.
    pub fn axon_first_arrivals(&self) -> &[i32] {
        &self.axon_first
    }

    // ----- spike input -----

    /// A spike for `axon` arrives at the synapse unit at cycle `at` (never earlier than the
    /// core's clock). It is integrated into the pending accumulator, which becomes `f0` at the
    /// next barrier release. Costs the synapse unit [`SynapseMemory::row_cycles`] cycles. In
    /// first-arrival-only mode ([`Neurocore::set_first_arrival_only`]) a spike for an axon that
    /// already received one in the current sample is counted in `spikes_in` but not
    /// integrated: 1 synapse-unit cycle, no row read, no synaptic event. The axon's
    /// first-arrival latch records the timestep, or [`PRELOAD_ARRIVAL`] when the processor
    /// waits for a sample (the host's preload of that sample's time-0 inputs; the first such
    /// arrival clears the previous sample's latches).
    pub fn deliver_spike(&mut self, axon: u32, at: Cycle) -> Result<(), CoreError> {
        if axon >= self.config.axons {
            return Err(CoreError::AxonOutOfRange {
                axon: u64::from(axon),
                axons: self.config.axons,
            });
        }
        let at = at.max(self.now);
        // A spike delivered while the processor waits for a sample is the preload of that
        // sample (the host sends time-0 inputs before it begins): the latches of the last
        // sample are cleared at the first such arrival, and it latches timestep -1.
        let preload = matches!(self.state, ProcessorState::Waiting(Event::Sample, _));
        if preload && !self.preloaded {
            self.axon_first.fill(NO_ARRIVAL);
            self.preloaded = true;
        }
        let timestep = if preload {
            PRELOAD_ARRIVAL
        } else {
            self.timestep.min(i32::MAX as u32 - 1) as i32
        };
        let latch = &mut self.axon_first[axon as usize];
        let (cost, events) = if self.synapse.first_arrival_only && *latch != NO_ARRIVAL {
            (self.synapse.drop_repeat(at), 0)
        } else {
            self.synapse.spike(axon as usize, at)
        };
        if *latch == NO_ARRIVAL {
            *latch = timestep;
        }
        self.counters.spikes_in += 1;
        self.counters.synapse_cycles += cost;
        self.counters.synaptic_events += u64::from(events);
        Ok(())
    }

    /// The host current port: adds `value` to neuron `neuron`'s pending accumulator at cycle
    /// `at` (1 synapse-unit cycle). This is how a graded input (Lava's `a_in`) enters a core.
    pub fn inject_current(&mut self, neuron: u32, value: i32, at: Cycle) -> Result<(), CoreError> {
        if neuron as usize >= self.neurons {
            return Err(CoreError::NeuronOutOfRange {
                neuron: u64::from(neuron),
                neurons: self.config.neurons,
            });
        }
        self.synapse
            .inject(neuron as usize, value, at.max(self.now));
        self.counters.currents_in += 1;
        self.counters.synapse_cycles += 1;
        Ok(())
    }

    /// A learning packet for `axon` with `payload` arrives at cycle `at` (read by `recv`).
    pub fn deliver_learn(&mut self, axon: u32, payload: i32, at: Cycle) {
        self.inbox.push_back((axon, payload, at.max(self.now)));
        self.counters.learn_packets_in += 1;
    }

    /// The cycle from which the synapse unit is idle (for the router's ejection policy).
    pub fn synapse_free_at(&self) -> Cycle {
        self.synapse.free_at
    }

    /// The spikes and currents that arrived in this step (the pending accumulator, which `f0`
    /// becomes at the next release; with input delays, the delay plane of this step, which a
    /// neuron's `f0` takes its delay later).
    pub fn pending(&self) -> &[i32] {
        self.synapse.arrivals()
    }

    // ----- outbound -----

    /// Whether the outbound queue can take a packet (the ready signal seen by the spike-out
    /// unit).
    pub fn outbound_ready(&self) -> bool {
        self.spike_out.has_space()
    }

    /// Packets waiting in the outbound queue.
    pub fn outbound_len(&self) -> usize {
        self.spike_out.outbound.len()
    }

    /// The oldest outbound packet, if any (the router looks before it takes).
    pub fn peek_outbound(&self) -> Option<&OutPacket> {
        self.spike_out.outbound.front()
    }

    /// Takes the oldest outbound packet (the router accepted it).
    pub fn pop_outbound(&mut self) -> Option<OutPacket> {
        self.spike_out.outbound.pop_front()
    }

    /// Takes every outbound packet, oldest first, into `out` (stand-alone runs).
    pub fn drain_outbound(&mut self, out: &mut Vec<OutPacket>) {
        out.extend(self.spike_out.outbound.drain(..));
    }

    /// Drops every outbound packet (stand-alone runs that do not look at them).
    pub fn clear_outbound(&mut self) {
        self.spike_out.outbound.clear();
    }

    // ----- stepping -----

    /// The core's clock: every unit has been simulated up to (not including) this cycle.
    pub fn now(&self) -> Cycle {
        self.now
    }

    /// The processor's state.
    pub fn state(&self) -> ProcessorState {
        self.state
    }

    /// The program counter.
    pub fn pc(&self) -> u32 {
        self.pc
    }

    /// Scalar register `r`.
    pub fn reg(&self, r: isa::insn::Reg) -> i32 {
        self.regs[usize::from(r.index()) & 15]
    }

    /// The current timestep (the `timestep` CSR).
    pub fn timestep(&self) -> u32 {
        self.timestep
    }

    /// The counters.
    pub fn counters(&self) -> &CoreCounters {
        &self.counters
    }

    /// The cycle the current timestep began.
    pub fn step_start(&self) -> Cycle {
        self.step_start
    }

    /// If the core is done with the current timestep — processor at the barrier (or waiting for
    /// an event, or halted), spike-out unit drained, synapse unit idle — the cycle it became
    /// done. This is the core's "done" wire to the barrier.
    pub fn done_at(&self) -> Option<Cycle> {
        let proc_at = match self.state {
            ProcessorState::Barrier(c) | ProcessorState::Waiting(_, c) => c,
            ProcessorState::Halted => self.ready_at,
            ProcessorState::Running | ProcessorState::Faulted(_) => return None,
        };
        if self.spike_out.busy() {
            return None;
        }
        Some(
            proc_at
                .max(self.spike_out.free_at)
                .max(self.synapse.free_at)
                .max(self.step_start),
        )
    }

    /// The latched fault, if the processor faulted.
    pub fn fault(&self) -> Option<CoreFault> {
        match self.state {
            ProcessorState::Faulted(f) => Some(f),
            _ => None,
        }
    }

    /// Simulates every unit up to (not including) cycle `until`. The processor executes the
    /// instructions that issue before `until` (each atomically, its cost added to its clock);
    /// the spike-out unit emits the packets due before `until` while the outbound queue has
    /// space. Per-cycle callers use `advance(now + 1)`; stand-alone callers advance to the end.
    pub fn advance(&mut self, until: Cycle) -> Result<(), CoreFault> {
        const NEVER: u64 = u64::MAX;
        loop {
            if let ProcessorState::Faulted(f) = self.state {
                return Err(f);
            }
            // next spike-out action
            let s = if self.spike_out.busy()
                && (!self.spike_out.next_needs_space() || self.spike_out.has_space())
            {
                self.spike_out.next_at.0.max(self.now.0)
            } else {
                NEVER
            };
            // next processor action
            let p = match self.state {
                ProcessorState::Running => self.processor_next(),
                _ => NEVER,
            };
            let t = s.min(p);
            if t == NEVER || t >= until.0 {
                break;
            }
            if s <= p {
                // Every spike-out action up to and including cycle p comes before the
                // processor's action at p; run them as one batch.
                self.spike_out.next_at = Cycle(s);
                let limit = if p == NEVER {
                    until.0
                } else {
                    (p + 1).min(until.0)
                };
                let (actions, packets) = self.spike_out.run(limit);
                self.counters.packets_out += packets;
                self.counters.spike_out_cycles += actions;
            } else {
                self.execute(Cycle(p));
            }
        }
        if until.0 != NEVER {
            self.now = self.now.max(until);
        }
        Ok(())
    }

    /// Runs the current timestep stand-alone (outbound port always ready) until the core is
    /// done, and moves the clock to the done cycle. Does not release the barrier.
    pub fn run_timestep(&mut self) -> Result<TimestepReport, CoreError> {
        self.advance(Cycle(u64::MAX))?;
        match self.done_at() {
            Some(done) => {
                self.now = self.now.max(done);
                Ok(TimestepReport {
                    start: self.step_start,
                    done,
                    cycles: done.0 - self.step_start.0,
                })
            }
            None => Err(CoreError::Fault(CoreFault::Deadlock {
                pc: self.pc,
                reason: "a packet from the mesh or space in the outbound queue",
            })),
        }
    }

    /// Releases the barrier at cycle `at` (≥ the done cycle): the pending accumulator becomes
    /// `f0` (and is cleared; with input delays, each neuron's lane from the plane of its delay),
    /// the timestep counter increments, the active range resets to all neurons and a processor
    /// waiting at `barrier` resumes at `at`.
    pub fn release_barrier(&mut self, at: Cycle) -> Result<(), CoreError> {
        let done = self.done_at().ok_or(CoreError::Protocol(
            "barrier released while the core is not done",
        ))?;
        let at = at.max(done).max(self.now);
        self.swap_accumulator();
        self.timestep = self.timestep.wrapping_add(1);
        self.counters.timesteps += 1;
        self.start_step(at);
        if let ProcessorState::Barrier(since) = self.state {
            self.counters.stall_cycles += at.0 - since.0;
            self.state = ProcessorState::Running;
            self.ready_at = at;
        }
        Ok(())
    }

    /// Begins a new sample at cycle `at`: timestep 0, the `sample` CSR advances (it is 0 for the
    /// first sample), spike-time latches clear (the per-axon first-arrival latches too, unless
    /// a preload already cleared them and holds this sample's time-0 arrivals), the pending
    /// accumulator becomes `f0`, and a processor in `wait sample` or at the barrier resumes.
    pub fn begin_sample(&mut self, at: Cycle) -> Result<(), CoreError> {
        let at = at.max(self.now);
        self.samples_begun = self.samples_begun.wrapping_add(1);
        self.timestep = 0;
        self.spike_out.first_spike.fill(NO_SPIKE);
        self.spike_out.last_spike.fill(NO_SPIKE);
        if let Some(log) = self.spike_out.log.as_mut() {
            log.clear();
        }
        if !self.preloaded {
            self.axon_first.fill(NO_ARRIVAL);
        }
        self.preloaded = false;
        // Delayed arrivals of the last sample do not carry over; the preload does.
        self.synapse.clear_delayed();
        self.swap_accumulator();
        self.start_step(at);
        match self.state {
            ProcessorState::Waiting(Event::Sample, since) | ProcessorState::Barrier(since) => {
                self.counters.stall_cycles += at.0.saturating_sub(since.0);
                self.state = ProcessorState::Running;
                self.ready_at = at;
            }
            ProcessorState::Running => self.ready_at = self.ready_at.max(at),
            _ => {}
        }
        Ok(())
    }

    /// The cycle of the next action of the spike-out unit or the processor, if either has one
    /// it can take without outside input (a packet arriving, room in the outbound queue, a
    /// barrier release or an event). The chip skips idle cycles up to it.
    pub fn next_action(&self) -> Option<Cycle> {
        const NEVER: u64 = u64::MAX;
        let s = if self.spike_out.busy()
            && (!self.spike_out.next_needs_space() || self.spike_out.has_space())
        {
            self.spike_out.next_at.0.max(self.now.0)
        } else {
            NEVER
        };
        let p = match self.state {
            ProcessorState::Running => self.processor_next(),
            _ => NEVER,
        };
        let t = s.min(p);
        (t != NEVER).then_some(Cycle(t))
    }

    /// The host's reset line, at cycle `at`: the processor restarts at address 0 with cleared
    /// registers, the active range covers every neuron, the synapse unit's pending accumulator
    /// and the spike-out unit's work are discarded. Memories (fields, data, synapses, latent
    /// weights, fan-out table) keep their contents. The chip uses it to end a sample early.
    pub fn restart(&mut self, at: Cycle) -> Result<(), CoreError> {
        let at = at.max(self.now);
        self.regs = [0; 16];
        self.pc = 0;
        self.state = ProcessorState::Running;
        self.ready_at = at;
        self.now = at;
        self.lo = 0;
        self.hi = self.neurons;
        self.synapse.clear();
        self.synapse.free_at = self.synapse.free_at.max(at);
        self.spike_out.list.clear();
        self.spike_out.cursor = 0;
        self.spike_out.entry = 0;
        self.spike_out.outbound.clear();
        self.spike_out.free_at = self.spike_out.free_at.max(at);
        Ok(())
    }

    /// Signals the learning phase at cycle `at`: a processor in `wait learn` resumes.
    pub fn begin_learn(&mut self, at: Cycle) {
        let at = at.max(self.now);
        if let ProcessorState::Waiting(Event::Learn, since) = self.state {
            self.counters.stall_cycles += at.0.saturating_sub(since.0);
            self.state = ProcessorState::Running;
            self.ready_at = at;
        }
    }

    /// Runs one sample of `steps` timesteps stand-alone (outbound port always ready), in the
    /// documented protocol:
    ///
    /// 1. boot: the processor runs from its current pc until it waits (`wait sample`);
    /// 2. `feed(0, core, at)` delivers the inputs applied at step 0 (they land in the pending
    ///    accumulator); the sample begins when the synapse unit is idle, so they are `f0` at
    ///    step 0;
    /// 3. for each step `t`: at the step's start, `feed(t + 1, …)` delivers the inputs applied
    ///    at step `t + 1` (the spikes that arrive during step `t`, integrated concurrently with
    ///    the neuron update); the step runs until the core is done; `observe(t, core, report)`
    ///    looks at the state; the barrier is released at the done cycle.
    pub fn run_sample<F, O>(
        &mut self,
        steps: usize,
        mut feed: F,
        mut observe: O,
    ) -> Result<(), CoreError>
    where
        F: FnMut(usize, &mut Neurocore, Cycle) -> Result<(), CoreError>,
        O: FnMut(usize, &Neurocore, &TimestepReport) -> Result<(), CoreError>,
    {
        self.advance(Cycle(u64::MAX))?;
        if let Some(d) = self.done_at() {
            self.now = self.now.max(d);
        }
        if steps == 0 {
            return Ok(());
        }
        let at = self.now;
        feed(0, self, at)?;
        let start = self.synapse.free_at.max(self.now);
        self.begin_sample(start)?;
        for t in 0..steps {
            if t + 1 < steps {
                let at = self.step_start;
                feed(t + 1, self, at)?;
            }
            let report = self.run_timestep()?;
            observe(t, self, &report)?;
            if t + 1 < steps {
                self.release_barrier(report.done)?;
            }
        }
        Ok(())
    }

    fn start_step(&mut self, at: Cycle) {
        self.lo = 0;
        self.hi = self.neurons;
        self.step_start = at;
        self.now = self.now.max(at);
        self.counters.neuron_updates += self.neurons as u64;
    }

    fn swap_accumulator(&mut self) {
        let n = self.neurons;
        // A neuron whose accumulator holds input this timestep counts as an active update
        // (the energy model charges active and idle neuron updates differently).
        let active = self.synapse.take_due(&mut self.fields[..n]);
        self.counters.active_neuron_updates += active as u64;
    }
}

#[inline]
fn bit(masks: &[u64], m: usize, words: usize, n: usize) -> bool {
    (masks[m * words + n / 64] >> (n % 64)) & 1 == 1
}

fn fill_ones(words: &mut [u64], n: usize) {
    for (i, w) in words.iter_mut().enumerate() {
        let lo = i * 64;
        *w = if n >= lo + 64 {
            u64::MAX
        } else if n > lo {
            (1u64 << (n - lo)) - 1
        } else {
            0
        };
    }
}
