//! The synapse unit: the core's synapse memory (bit-packed sign rows, optional presence plane,
//! optional multi-bit weights) and the integration of arriving spikes, row by row, into the
//! pending accumulator that becomes `f0` at the barrier.

use super::{CoreError, Cycle};
use bitvec::prelude::{BitVec, Lsb0};

/// The synapse memory of one core: one row per axon, one column per neuron.
///
/// Binary rows are bit-packed (`bitvec`, `u64` words, neuron `n` at bit `n % 64` of word
/// `n / 64`): a sign bit of 1 is weight +1, 0 is weight −1. An optional presence plane marks
/// absent synapses (bit 0 = weight 0). Optional multi-bit weights (`i8`, row-major) replace the
/// sign plane when present (LIF networks).
#[derive(Debug, Clone)]
pub struct SynapseMemory {
    neurons: usize,
    axons: usize,
    words_per_row: usize,
    sign: BitVec<u64, Lsb0>,
    presence: Option<BitVec<u64, Lsb0>>,
    weights: Option<Vec<i8>>,
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
        let tail_mask = if neurons % 64 == 0 {
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
            row_synapses: vec![neurons as u32; axons],
        };
        mem.recount();
        Ok(mem)
    }

    /// Replaces the weights by multi-bit weights (row-major `axons × neurons`).
    pub fn set_weights(&mut self, weights: Vec<i8>) -> Result<(), CoreError> {
        if weights.len() != self.axons * self.neurons {
            return Err(CoreError::Shape {
                what: "multi-bit weights",
                expected: self.axons * self.neurons,
                found: weights.len(),
            });
        }
        self.weights = Some(weights);
        self.recount();
        Ok(())
    }

    /// Sets one binary synapse: `Some(true)` = +1, `Some(false)` = −1, `None` = absent (creates
    /// the presence plane on first use).
    pub fn set_binary(&mut self, axon: usize, neuron: usize, weight: Option<bool>) -> Result<(), CoreError> {
        if axon >= self.axons {
            return Err(CoreError::AxonOutOfRange { axon: axon as u64, axons: self.axons as u32 });
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
    /// words are read together), `ceil(neurons / 8)` for 8-bit weights.
    pub fn row_cycles(&self) -> u64 {
        let words = if self.weights.is_some() {
            self.neurons.div_ceil(8)
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

/// `acc[j] += bit_j(s) ? +1 : −1` for one 64-neuron word (auto-vectorised).
#[inline]
fn add_sign_word(chunk: &mut [i32], s: u64) {
    for (j, a) in chunk.iter_mut().enumerate() {
        let bit = ((s >> j) & 1) as i32;
        *a = a.wrapping_add(2 * bit - 1);
    }
}

/// `acc[j] += present_j ? (sign_j ? +1 : −1) : 0` for one 64-neuron word.
#[inline]
fn add_sparse_word(chunk: &mut [i32], s: u64, p: u64) {
    for (j, a) in chunk.iter_mut().enumerate() {
        let bit = ((s >> j) & 1) as i32;
        let on = ((p >> j) & 1) as i32;
        *a = a.wrapping_add(on * (2 * bit - 1));
    }
}

/// The synapse unit: integrates arriving spikes into the pending accumulator, one row per
/// spike, and host-injected currents, one value per cycle.
#[derive(Debug, Clone)]
pub struct SynapseUnit {
    pub(crate) memory: SynapseMemory,
    /// The pending accumulator (one lane per neuron); becomes `f0` at the barrier.
    pub(crate) pending: Vec<i32>,
    /// First cycle at which the unit is free again.
    pub(crate) free_at: Cycle,
}

impl SynapseUnit {
    pub(crate) fn new(memory: SynapseMemory) -> Self {
        let n = memory.neurons;
        SynapseUnit {
            memory,
            pending: vec![0; n],
            free_at: Cycle(0),
        }
    }

    /// Integrates one spike on `axon` arriving at `at`; returns (busy cycles, synaptic events).
    pub(crate) fn spike(&mut self, axon: usize, at: Cycle) -> (u64, u32) {
        let cost = self.memory.row_cycles();
        let start = self.free_at.0.max(at.0);
        self.free_at = Cycle(start + cost);
        let events = self.memory.integrate_row(axon, &mut self.pending);
        (cost, events)
    }

    /// Adds a host current into one neuron's pending accumulator (1 cycle).
    pub(crate) fn inject(&mut self, neuron: usize, value: i32, at: Cycle) {
        let start = self.free_at.0.max(at.0);
        self.free_at = Cycle(start + 1);
        self.pending[neuron] = self.pending[neuron].wrapping_add(value);
    }
}
