//! The synapse unit: the core's synapse memory (bit-packed sign rows, optional presence plane,
//! optional multi-bit weights) and the integration of arriving spikes, row by row, into the
//! pending accumulator that becomes `f0` at the barrier — through the dendritic delay slots
//! when the core's neurons have input delays.

use super::{CoreError, Cycle};
use bitvec::prelude::{BitVec, Lsb0};

/// The synapse memory of one core: one row per axon, one column per neuron.
///
/// Binary rows are bit-packed (`bitvec`, `u64` words, neuron `n` at bit `n % 64` of word
/// `n / 64`): a sign bit of 1 is weight +1, 0 is weight −1. An optional presence plane marks
/// absent synapses (bit 0 = weight 0). Optional multi-bit weights (row-major) replace the
/// sign plane when present (LIF networks); their width (`core.weight_bits`, 2..=16) sets how
/// many fit in one 64-bit memory word.
#[derive(Debug, Clone)]
pub struct SynapseMemory {
    neurons: usize,
    axons: usize,
    words_per_row: usize,
    sign: BitVec<u64, Lsb0>,
    presence: Option<BitVec<u64, Lsb0>>,
    weights: Option<Vec<i16>>,
    weight_bits: u8,
    /// Synapses present per row (the synaptic events one arriving spike causes).
    row_synapses: Vec<u32>,
}

impl SynapseMemory {
    /// An all-(+1) binary memory of `axons` rows over `neurons` columns.
    pub fn new(neurons: usize, axons: usize) -> Self {
        let words_per_row = neurons.div_ceil(64);
        let mut sign: BitVec<u64, Lsb0> = BitVec::repeat(false, axons * words_per_row * 64);
        for row in 0..axons {
            let start = row * words_per_row * 64;
            sign[start..start + neurons].fill(true);
        }
        SynapseMemory {
            neurons,
            axons,
            words_per_row,
            sign,
            presence: None,
            weights: None,
            weight_bits: 8,
            row_synapses: vec![neurons as u32; axons],
        }
    }

    /// Builds the memory from raw bit planes in the chip-image layout (`words_per_row =
    /// ceil(neurons / 64)` words per row). Bits past the last neuron are ignored (cleared).
    pub fn from_planes(
        neurons: usize,
        axons: usize,
        sign: &[u64],
        presence: Option<&[u64]>,
    ) -> Result<Self, CoreError> {
        let words_per_row = neurons.div_ceil(64);
        let need = words_per_row * axons;
        if sign.len() != need {
            return Err(CoreError::Shape {
                what: "synapse sign plane (u64 words)",
                expected: need,
                found: sign.len(),
            });
        }
        if let Some(p) = presence {
            if p.len() != need {
                return Err(CoreError::Shape {
                    what: "synapse presence plane (u64 words)",
                    expected: need,
                    found: p.len(),
                });
            }
        }
        let tail_mask = if neurons.is_multiple_of(64) {
            u64::MAX
        } else {
            (1u64 << (neurons % 64)) - 1
        };
        let clean = |plane: &[u64]| -> BitVec<u64, Lsb0> {
            let mut words = plane.to_vec();
            if words_per_row > 0 {
                for row in 0..axons {
                    words[row * words_per_row + words_per_row - 1] &= tail_mask;
                }
            }
            BitVec::from_vec(words)
        };
        let mut mem = SynapseMemory {
            neurons,
            axons,
            words_per_row,
            sign: clean(sign),
            presence: presence.map(clean),
            weights: None,
            weight_bits: 8,
            row_synapses: vec![neurons as u32; axons],
        };
        mem.recount();
        Ok(mem)
    }

    /// Replaces the weights by `bits`-bit signed weights (row-major `axons × neurons`, `bits`
    /// in 2..=16); every weight must fit.
    pub fn set_weights(&mut self, weights: Vec<i16>, bits: u8) -> Result<(), CoreError> {
        if weights.len() != self.axons * self.neurons {
            return Err(CoreError::Shape {
                what: "multi-bit weights",
                expected: self.axons * self.neurons,
                found: weights.len(),
            });
        }
        if !(2..=16).contains(&bits) {
            return Err(CoreError::Size {
                what: "weight bits",
                value: u64::from(bits),
                max: 16,
            });
        }
        let max = (1i32 << (bits - 1)) - 1;
        if let Some(&w) = weights
            .iter()
            .find(|&&w| i32::from(w) > max || i32::from(w) < -max - 1)
        {
            return Err(CoreError::Width {
                what: "multi-bit weight",
                value: i64::from(w),
                bits,
            });
        }
        self.weights = Some(weights);
        self.weight_bits = bits;
        self.recount();
        Ok(())
    }

    /// Sets one binary synapse: `Some(true)` = +1, `Some(false)` = −1, `None` = absent (creates
    /// the presence plane on first use).
    pub fn set_binary(
        &mut self,
        axon: usize,
        neuron: usize,
        weight: Option<bool>,
    ) -> Result<(), CoreError> {
        if axon >= self.axons {
            return Err(CoreError::AxonOutOfRange {
                axon: axon as u64,
                axons: self.axons as u32,
            });
        }
        if neuron >= self.neurons {
            return Err(CoreError::NeuronOutOfRange {
                neuron: neuron as u64,
                neurons: self.neurons as u32,
            });
        }
        let bit = axon * self.words_per_row * 64 + neuron;
        match weight {
            Some(s) => {
                self.sign.set(bit, s);
                if let Some(p) = self.presence.as_mut() {
                    p.set(bit, true);
                }
            }
            None => {
                if self.presence.is_none() {
                    let mut p = SynapseMemory::new(self.neurons, self.axons).sign;
                    p.set(bit, false);
                    self.presence = Some(p);
                } else if let Some(p) = self.presence.as_mut() {
                    p.set(bit, false);
                }
                self.sign.set(bit, false);
            }
        }
        self.recount_row(axon);
        Ok(())
    }

    /// The effective weight of one synapse (−1/0/+1 for binary rows, the stored value for
    /// multi-bit weights), or `None` out of range.
    pub fn weight(&self, axon: usize, neuron: usize) -> Option<i32> {
        if axon >= self.axons || neuron >= self.neurons {
            return None;
        }
        if let Some(w) = &self.weights {
            return Some(i32::from(w[axon * self.neurons + neuron]));
        }
        let bit = axon * self.words_per_row * 64 + neuron;
        if let Some(p) = &self.presence {
            if !p[bit] {
                return Some(0);
            }
        }
        Some(if self.sign[bit] { 1 } else { -1 })
    }

    /// Refreshes one binary sign bit (used by `wsign`).
    pub(crate) fn set_sign_bit(&mut self, axon: usize, neuron: usize, positive: bool) {
        let bit = axon * self.words_per_row * 64 + neuron;
        if bit < self.sign.len() {
            self.sign.set(bit, positive);
        }
    }

    /// Number of axons (rows).
    pub fn axons(&self) -> usize {
        self.axons
    }

    /// Number of neurons (columns).
    pub fn neurons(&self) -> usize {
        self.neurons
    }

    /// Whether multi-bit weights are in use.
    pub fn is_multibit(&self) -> bool {
        self.weights.is_some()
    }

    /// Cycles the synapse unit spends on one arriving spike for this memory: 1 (row fetch) plus
    /// one per 64-bit word of the row — `ceil(neurons / 64)` for binary rows (sign and presence
    /// words are read together), `ceil(neurons × bits / 64)` for multi-bit weights (8-bit
    /// weights: `ceil(neurons / 8)`).
    pub fn row_cycles(&self) -> u64 {
        let words = if self.weights.is_some() {
            (self.neurons * usize::from(self.weight_bits)).div_ceil(64)
        } else {
            self.words_per_row
        };
        1 + words as u64
    }

    fn recount(&mut self) {
        for row in 0..self.axons {
            self.recount_row(row);
        }
    }

    fn recount_row(&mut self, row: usize) {
        let count = if let Some(w) = &self.weights {
            w[row * self.neurons..(row + 1) * self.neurons]
                .iter()
                .filter(|&&x| x != 0)
                .count()
        } else if let Some(p) = &self.presence {
            let words = &p.as_raw_slice()[row * self.words_per_row..(row + 1) * self.words_per_row];
            words.iter().map(|w| w.count_ones() as usize).sum()
        } else {
            self.neurons
        };
        self.row_synapses[row] = count as u32;
    }

    /// Adds row `axon` into `acc` (wrapping 32-bit adds). Returns the synaptic events.
    #[inline]
    fn integrate_row(&self, axon: usize, acc: &mut [i32]) -> u32 {
        if let Some(w) = &self.weights {
            let row = &w[axon * self.neurons..(axon + 1) * self.neurons];
            for (a, &x) in acc.iter_mut().zip(row) {
                *a = a.wrapping_add(i32::from(x));
            }
            return self.row_synapses[axon];
        }
        let range = axon * self.words_per_row..(axon + 1) * self.words_per_row;
        let sign = &self.sign.as_raw_slice()[range.clone()];
        match &self.presence {
            None => {
                for (chunk, &s) in acc.chunks_mut(64).zip(sign) {
                    add_sign_word(chunk, s);
                }
            }
            Some(p) => {
                let pres = &p.as_raw_slice()[range];
                for ((chunk, &s), &q) in acc.chunks_mut(64).zip(sign).zip(pres) {
                    add_sparse_word(chunk, s, q);
                }
            }
        }
        self.row_synapses[axon]
    }
}

/// Per byte of a sign word, the eight weights it encodes (bit 1 → +1, bit 0 → −1).
static SIGN_TABLE: [[i32; 8]; 256] = byte_table(1, -1);
/// Per byte of a presence word, eight lane masks (bit 1 → all ones, bit 0 → 0).
static PRESENCE_TABLE: [[i32; 8]; 256] = byte_table(-1, 0);

const fn byte_table(one: i32, zero: i32) -> [[i32; 8]; 256] {
    let mut t = [[0i32; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut j = 0;
        while j < 8 {
            t[b][j] = if (b >> j) & 1 == 1 { one } else { zero };
            j += 1;
        }
        b += 1;
    }
    t
}

/// `acc[j] += bit_j(s) ? +1 : −1` for one 64-neuron word: eight table rows of eight lanes,
/// each a plain vector add.
#[inline]
fn add_sign_word(chunk: &mut [i32], s: u64) {
    if chunk.len() == 64 {
        for (k, lanes) in chunk.chunks_exact_mut(8).enumerate() {
            let w = &SIGN_TABLE[((s >> (8 * k)) & 0xFF) as usize];
            for (a, &x) in lanes.iter_mut().zip(w) {
                *a = a.wrapping_add(x);
            }
        }
    } else {
        for (j, a) in chunk.iter_mut().enumerate() {
            let bit = ((s >> j) & 1) as i32;
            *a = a.wrapping_add(2 * bit - 1);
        }
    }
}

/// `acc[j] += present_j ? (sign_j ? +1 : −1) : 0` for one 64-neuron word.
#[inline]
fn add_sparse_word(chunk: &mut [i32], s: u64, p: u64) {
    if chunk.len() == 64 {
        for (k, lanes) in chunk.chunks_exact_mut(8).enumerate() {
            let w = &SIGN_TABLE[((s >> (8 * k)) & 0xFF) as usize];
            let m = &PRESENCE_TABLE[((p >> (8 * k)) & 0xFF) as usize];
            for ((a, &x), &y) in lanes.iter_mut().zip(w).zip(m) {
                *a = a.wrapping_add(x & y);
            }
        }
    } else {
        for (j, a) in chunk.iter_mut().enumerate() {
            let bit = ((s >> j) & 1) as i32;
            let on = ((p >> j) & 1) as i32;
            *a = a.wrapping_add(on * (2 * bit - 1));
        }
    }
}

/// The synapse unit: integrates arriving spikes into the pending accumulator, one row per
/// spike, and host-injected currents, one value per cycle.
///
/// Dendritic delays: with per-neuron input delays `d` the accumulator has `slots = max d + 1`
/// planes, one per step of arrival (a ring). A step's arrivals go into the current plane, as
/// vector adds of whole rows (a row's lanes all land in the same plane, so the cost is the
/// delay-free one); at the barrier each neuron's lane takes its value from the plane of `d`
/// steps ago and clears it (each lane selects its own plane: no extra cycles). A spike
/// arriving in step `t` so reaches `f0` at `t + 1 + d` — Lava's `DelayDense`. Without delays
/// there is one plane and the unit is exactly the delay-free one.
#[derive(Debug, Clone)]
pub struct SynapseUnit {
    pub(crate) memory: SynapseMemory,
    /// The accumulator planes, `slots × neurons`; plane `current` receives this step's
    /// arrivals.
    pending: Vec<i32>,
    /// Per neuron, its input delay in steps (empty: none).
    delays: Vec<u8>,
    /// Planes in the ring (`max delay + 1`; 1 without delays).
    slots: usize,
    /// The plane receiving this step's arrivals.
    current: usize,
    /// First cycle at which the unit is free again.
    pub(crate) free_at: Cycle,
    /// First-arrival-only mode: a spike for an axon whose first-arrival latch is already set in
    /// the current sample is counted but not integrated ([`SynapseUnit::drop_repeat`]).
    pub(crate) first_arrival_only: bool,
}

impl SynapseUnit {
    pub(crate) fn new(memory: SynapseMemory) -> Self {
        let n = memory.neurons;
        SynapseUnit {
            memory,
            pending: vec![0; n],
            delays: Vec::new(),
            slots: 1,
            current: 0,
            free_at: Cycle(0),
            first_arrival_only: false,
        }
    }

    fn neurons(&self) -> usize {
        self.memory.neurons
    }

    /// Sets the per-neuron input delays (one per neuron; all zero or empty: none) and clears
    /// the accumulator.
    pub(crate) fn set_delays(&mut self, delays: Vec<u8>) {
        let n = self.neurons();
        let max = delays.iter().copied().max().unwrap_or(0);
        self.slots = usize::from(max) + 1;
        self.delays = if max == 0 { Vec::new() } else { delays };
        self.pending = vec![0; self.slots * n];
        self.current = 0;
    }

    /// The per-neuron input delays (empty: none).
    pub(crate) fn delays(&self) -> &[u8] {
        &self.delays
    }

    /// This step's arrivals (the plane the synapse unit integrates into now).
    pub(crate) fn arrivals(&self) -> &[i32] {
        let n = self.neurons();
        &self.pending[self.current * n..(self.current + 1) * n]
    }

    /// Moves what is due at the next step into `f0` (each neuron's lane from the plane of its
    /// delay), clears those lanes and advances the ring; returns the neurons given a non-zero
    /// input.
    pub(crate) fn take_due(&mut self, f0: &mut [i32]) -> usize {
        let n = self.neurons();
        if self.slots == 1 {
            f0.copy_from_slice(&self.pending);
            self.pending.fill(0);
        } else {
            for (j, (a, &d)) in f0.iter_mut().zip(&self.delays).enumerate() {
                let plane = (self.current + self.slots - usize::from(d)) % self.slots;
                *a = std::mem::take(&mut self.pending[plane * n + j]);
            }
            self.current = (self.current + 1) % self.slots;
        }
        f0.iter().filter(|&&x| x != 0).count()
    }

    /// Discards every delayed arrival, keeping this step's (a new sample begins: its preload
    /// is in the current plane, anything older belongs to the last sample).
    pub(crate) fn clear_delayed(&mut self) {
        let n = self.neurons();
        for (p, plane) in self.pending.chunks_mut(n.max(1)).enumerate() {
            if p != self.current {
                plane.fill(0);
            }
        }
    }

    /// Discards everything pending (the core's reset line).
    pub(crate) fn clear(&mut self) {
        self.pending.fill(0);
    }

    /// Integrates one spike on `axon` arriving at `at`; returns (busy cycles, synaptic events).
    pub(crate) fn spike(&mut self, axon: usize, at: Cycle) -> (u64, u32) {
        let cost = self.memory.row_cycles();
        let start = self.free_at.0.max(at.0);
        self.free_at = Cycle(start.saturating_add(cost));
        let n = self.neurons();
        let plane = &mut self.pending[self.current * n..(self.current + 1) * n];
        let events = self.memory.integrate_row(axon, plane);
        (cost, events)
    }

    /// A repeated spike in first-arrival-only mode: the latch check takes 1 cycle, no row is
    /// read and nothing is integrated. Returns the busy cycles (1).
    pub(crate) fn drop_repeat(&mut self, at: Cycle) -> u64 {
        let start = self.free_at.0.max(at.0);
        self.free_at = Cycle(start.saturating_add(1));
        1
    }

    /// Adds a host current into one neuron's pending accumulator (1 cycle).
    pub(crate) fn inject(&mut self, neuron: usize, value: i32, at: Cycle) {
        let start = self.free_at.0.max(at.0);
        self.free_at = Cycle(start.saturating_add(1));
        let index = self.current * self.neurons() + neuron;
        let slot = &mut self.pending[index];
        *slot = slot.wrapping_add(value);
    }
}
