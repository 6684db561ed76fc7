//! The linear-feedback shift register that supplies the random fractions of stochastic
//! rounding: its polynomial, seed rule and output words.
//!
//! # Definition
//!
//! - **Width**: 32 bits of state, never zero.
//! - **Polynomial**: `p(x) = x^32 + x^22 + x^2 + x + 1` (taps 32, 22, 2, 1), primitive over
//!   GF(2), so the state sequence has the maximal period `2^32 - 1` (the test
//!   `lfsr_polynomial_is_primitive` proves primitivity from the factorisation of `2^32 - 1`).
//! - **Bit step** (Galois form, shifting left): the state `s` is read as a polynomial of
//!   degree < 32 (bit `i` = coefficient of `x^i`) and one step computes `s <- s * x mod p`:
//!   `carry = s >> 31; s = s << 1; if carry { s ^= 0x0040_0007 }`.
//! - **Output word** ([`Lfsr::next_u32`]): advance **32** bit steps at once (the leap-forward
//!   form a hardware LFSR computes in one cycle with an XOR matrix), i.e. `s <- s * x^32 mod p`,
//!   and return the new state. Consecutive words therefore share no shifted bits.
//! - **Seed rule** ([`Lfsr::new`]): state = `seed`, except seed 0 (the all-zero state is a
//!   fixed point of every LFSR), which is replaced by [`Lfsr::ZERO_SEED_STATE`]. Seeds 0 and
//!   `ZERO_SEED_STATE` thus give the same stream; every other pair of seeds gives different
//!   streams (different starting points on the single cycle of length `2^32 - 1`).
//! - **Random fractions**: a stochastic rounding that discards `k` bits takes the **top `k`
//!   bits** of one output word for `1 <= k <= 32`, and of the 64-bit word `(first << 32) |
//!   second` of two consecutive output words for `33 <= k <= 64` (see
//!   [`crate::arith::round`]).
//!
//! Same seed, same sequence of calls => same words, on every platform and thread count.

/// The low 32 bits of the feedback polynomial `x^32 + x^22 + x^2 + x + 1`.
const FEEDBACK: u32 = 0x0040_0007;

/// A 32-bit Galois LFSR with polynomial `x^32 + x^22 + x^2 + x + 1` (see the module docs).
///
/// Invariant: the state is never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lfsr {
    state: u32,
}

impl Lfsr {
    /// The full polynomial, with the `x^32` term, as a 33-bit number.
    pub const POLYNOMIAL: u64 = (1 << 32) | FEEDBACK as u64;
    /// The state that seed 0 is replaced by (the golden-ratio constant `0x9E37_79B9`).
    pub const ZERO_SEED_STATE: u32 = 0x9E37_79B9;
    /// The period of the state sequence, `2^32 - 1`.
    pub const PERIOD: u64 = (1 << 32) - 1;

    /// An LFSR seeded with `seed` (0 is replaced by [`Self::ZERO_SEED_STATE`]).
    #[inline]
    pub const fn new(seed: u32) -> Self {
        Lfsr {
            state: if seed == 0 {
                Self::ZERO_SEED_STATE
            } else {
                seed
            },
        }
    }

    /// The LFSR of one independent stream (a core, a lane...) of a run seeded with `seed`:
    /// `Lfsr::new(mix(seed, stream))` where `mix` is the SplitMix64 finaliser of
    /// `seed ^ (stream * 0x9E37_79B9_7F4A_7C15)`, folded to 32 bits by XOR of its halves.
    /// Deterministic: the streams depend on nothing but `(seed, stream)`, so a run gives the
    /// same numbers for any thread count.
    #[inline]
    pub const fn for_stream(seed: u64, stream: u64) -> Self {
        let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Lfsr::new((z ^ (z >> 32)) as u32)
    }

    /// The current state (never zero).
    #[inline]
    pub const fn state(self) -> u32 {
        self.state
    }

    /// Advance one bit step, `s <- s * x mod p`, and return the new state.
    #[inline]
    pub fn step_bit(&mut self) -> u32 {
        let carry = self.state >> 31;
        self.state = (self.state << 1) ^ (FEEDBACK & carry.wrapping_neg());
        self.state
    }

    /// Advance 32 bit steps at once, `s <- s * x^32 mod p`, and return the new state: the next
    /// 32-bit random word.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        // s * x^32 = s * (p + q) = s * q (mod p), with q = x^22 + x^2 + x + 1. The carry-less
        // product has degree <= 53; fold the part above bit 31 back with `* q` until nothing
        // is left (degrees 53 -> 43 -> 33 -> 23: three folds always suffice).
        let mut t = clmul_q(self.state as u64);
        for _ in 0..3 {
            t = (t & 0xFFFF_FFFF) ^ clmul_q(t >> 32);
        }
        self.state = t as u32;
        self.state
    }

    /// Two consecutive output words as one 64-bit word, the first in the high half.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let hi = self.next_u32() as u64;
        let lo = self.next_u32() as u64;
        (hi << 32) | lo
    }

    /// A random fraction of `k` bits (`1 <= k <= 64`; other values are clamped into that
    /// range): the top `k` bits of one output word when `k <= 32`, else of [`Self::next_u64`].
    #[inline]
    pub fn fraction_bits(&mut self, k: u32) -> u64 {
        let k = k.clamp(1, 64);
        if k <= 32 {
            (self.next_u32() >> (32 - k)) as u64
        } else {
            self.next_u64() >> (64 - k)
        }
    }
}

/// Carry-less product of `h` (degree < 32) by `q = x^22 + x^2 + x + 1`.
#[inline]
fn clmul_q(h: u64) -> u64 {
    (h << 22) ^ (h << 2) ^ (h << 1) ^ h
}

impl Default for Lfsr {
    /// The LFSR of seed 0 (state [`Lfsr::ZERO_SEED_STATE`]).
    fn default() -> Self {
        Lfsr::new(0)
    }
}
