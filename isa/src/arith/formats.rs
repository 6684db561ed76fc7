//! The chip's number formats — Q-format weights, latent weights, errors and membranes (on the
//! `fixed` crate), binary and small-integer weights, thresholds, spike times — and the
//! conversions between them.
//!
//! Notation: `Qm.f` is signed with `m` integer bits (sign included) and `f` fractional bits; its
//! raw integer is `value * 2^f`. Conversions work on raw integers: narrowing the fraction is a
//! rounded right shift ([`crate::arith::round`]), widening it a left shift, and a value outside
//! the target range saturates ([`convert_round`]) or is refused ([`convert_exact`]).

use super::round::{shr_round, Rounding};
use super::width::BitWidth;
use super::{ArithError, Lfsr};
use fixed::traits::Fixed;

/// Forward (multi-bit) synaptic weight, Q8.8 in `i16`: range `[-128, 128 - 2^-8]`.
pub type WeightQ8_8 = fixed::types::I8F8;
/// Latent (training) weight, Q8.24 in `i32`: same range as [`WeightQ8_8`], 16 more fraction
/// bits so that updates of size `lr * delta` (~1e-3) do not vanish.
pub type LatentQ8_24 = fixed::types::I8F24;
/// Normalised output error `delta`, Q1.15 in `i16`: range `[-1, 1 - 2^-15]`.
pub type ErrorQ1_15 = fixed::types::I1F15;
/// TTFS membrane potential (step PSP), Q24.8 in `i32`; saturates, never wraps.
pub type MembraneQ24_8 = fixed::types::I24F8;

/// `F`'s raw-integer range as `i128`.
#[inline]
fn raw_range<F>() -> (i128, i128)
where
    F: Fixed,
    F::Bits: Into<i64>,
{
    (
        F::MIN.to_bits().into() as i128,
        F::MAX.to_bits().into() as i128,
    )
}

/// Build `F` from a raw integer already known to lie in `F`'s range.
#[inline]
fn from_raw_in_range<F>(raw: i128) -> F
where
    F: Fixed,
    F::Bits: TryFrom<i64>,
{
    match F::Bits::try_from(raw as i64) {
        Ok(bits) => F::from_bits(bits),
        // Unreachable: every caller clamps to F's range first.
        Err(_) => F::ZERO,
    }
}

/// The exact value of `x` as `f64` (exact for formats of at most 53 bits, which all of this
/// chip's are; wider ones round to nearest-even).
#[inline]
pub fn to_f64<F>(x: F) -> f64
where
    F: Fixed,
    F::Bits: Into<i64>,
{
    let raw: i64 = x.to_bits().into();
    raw as f64 / (F::FRAC_NBITS as f64).exp2()
}

/// `x` rounded to the nearest value of `F`, **ties to even** (on the raw integer), or an
/// error if `x` is NaN, infinite, or rounds outside `F`'s range.
///
/// Width: `x * 2^f` is exact in `f64` (a power-of-two scaling), then rounded once.
#[inline]
pub fn from_f64_nearest<F>(x: f64) -> Result<F, ArithError>
where
    F: Fixed,
    F::Bits: Into<i64> + TryFrom<i64>,
{
    const OP: &str = "from_f64_nearest";
    if !x.is_finite() {
        return Err(ArithError::NotFinite { op: OP, value: x });
    }
    let raw = (x * (F::FRAC_NBITS as f64).exp2()).round_ties_even();
    let (lo, hi) = raw_range::<F>();
    // `as i128` saturates; |raw| < 2^127 for every finite f64 times 2^64 that matters here.
    let raw = raw as i128;
    if raw < lo || raw > hi {
        return Err(ArithError::OutOfFormatRange {
            op: OP,
            value: x,
            min: to_f64(F::MIN),
            max: to_f64(F::MAX),
        });
    }
    Ok(from_raw_in_range(raw))
}

/// `x` rounded to the nearest value of `F` (ties to even), saturating at `F::MIN` / `F::MAX`
/// (infinities included); an error only for NaN.
#[inline]
pub fn from_f64_saturating<F>(x: f64) -> Result<F, ArithError>
where
    F: Fixed,
    F::Bits: Into<i64> + TryFrom<i64>,
{
    if x.is_nan() {
        return Err(ArithError::NotFinite {
            op: "from_f64_saturating",
            value: x,
        });
    }
    let raw = (x * (F::FRAC_NBITS as f64).exp2()).round_ties_even() as i128;
    let (lo, hi) = raw_range::<F>();
    Ok(from_raw_in_range(raw.clamp(lo, hi)))
}

/// Convert between Q-formats: the raw integer is shifted by the difference of fraction bits
/// (a right shift rounds by `mode`, consuming `lfsr` only when stochastic; a left shift is
/// exact), then **saturated** to `D`'s range.
///
/// Widening (`D` has at least `S`'s integer and fraction bits) is always exact.
#[inline]
pub fn convert_round<S, D>(x: S, mode: Rounding, lfsr: &mut Lfsr) -> D
where
    S: Fixed,
    S::Bits: Into<i64>,
    D: Fixed,
    D::Bits: Into<i64> + TryFrom<i64>,
{
    let raw: i64 = x.to_bits().into();
    let (lo, hi) = raw_range::<D>();
    let shifted: i128 = if S::FRAC_NBITS >= D::FRAC_NBITS {
        shr_round(raw, S::FRAC_NBITS - D::FRAC_NBITS, mode, lfsr) as i128
    } else {
        let sh = D::FRAC_NBITS - S::FRAC_NBITS;
        if sh > 64 {
            // |raw| * 2^sh >= 2^65 > any 64-bit range unless raw = 0.
            match raw.signum() {
                -1 => lo,
                0 => 0,
                _ => hi,
            }
        } else {
            // |raw| <= 2^63 and sh <= 64: fits i128.
            (raw as i128) << sh
        }
    };
    from_raw_in_range(shifted.clamp(lo, hi))
}

/// Convert between Q-formats exactly, or refuse: an error if `x` has fraction bits `D` cannot
/// hold ([`ArithError::Inexact`]) or lies outside `D`'s range
/// ([`ArithError::OutOfFormatRange`]).
#[inline]
pub fn convert_exact<S, D>(x: S) -> Result<D, ArithError>
where
    S: Fixed,
    S::Bits: Into<i64>,
    D: Fixed,
    D::Bits: Into<i64> + TryFrom<i64>,
{
    const OP: &str = "convert_exact";
    let raw: i64 = x.to_bits().into();
    let shifted: i128 = if S::FRAC_NBITS >= D::FRAC_NBITS {
        let sh = (S::FRAC_NBITS - D::FRAC_NBITS).min(127);
        let wide = raw as i128;
        let q = wide >> sh;
        if q << sh != wide {
            return Err(ArithError::Inexact {
                op: OP,
                value: to_f64(x),
            });
        }
        q
    } else {
        let sh = D::FRAC_NBITS - S::FRAC_NBITS;
        if sh > 64 && raw != 0 {
            i128::MAX
        } else {
            (raw as i128) << sh.min(64)
        }
    };
    let (lo, hi) = raw_range::<D>();
    if shifted < lo || shifted > hi {
        return Err(ArithError::OutOfFormatRange {
            op: OP,
            value: to_f64(x),
            min: to_f64(D::MIN),
            max: to_f64(D::MAX),
        });
    }
    Ok(from_raw_in_range(shifted))
}

/// A binary synaptic weight: `+1` or `-1` (one sign bit in the synapse memory, scaled per
/// layer by a factor or absorbed in the integer threshold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BinaryWeight {
    negative: bool,
}

impl BinaryWeight {
    /// `+1`.
    pub const PLUS: BinaryWeight = BinaryWeight { negative: false };
    /// `-1`.
    pub const MINUS: BinaryWeight = BinaryWeight { negative: true };

    /// The sign of a latent weight: `+1` for `latent >= 0` (zero counts as positive, so every
    /// latent value maps to a weight), `-1` otherwise.
    #[inline]
    pub const fn from_latent(latent: i64) -> Self {
        BinaryWeight {
            negative: latent < 0,
        }
    }

    /// The stored sign bit: 1 for `-1`, 0 for `+1`.
    #[inline]
    pub const fn sign_bit(self) -> bool {
        self.negative
    }

    /// The weight's value, `+1` or `-1`.
    #[inline]
    pub const fn value(self) -> i32 {
        if self.negative {
            -1
        } else {
            1
        }
    }
}

/// A small signed integer weight of a given width (the chip's multi-bit weight, 1..=16 bits).
/// Invariant: `value` lies in `width`'s two's-complement range and `width <= 16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IntWeight {
    value: i16,
    width: BitWidth,
}

impl IntWeight {
    /// The widest integer weight, 16 bits.
    pub const MAX_BITS: u32 = 16;

    /// `value` as a `width`-bit weight, or an error naming the weight (value outside the
    /// width's range) or its `bits` (wider than 16).
    #[inline]
    pub fn new(value: i64, width: BitWidth) -> Result<Self, ArithError> {
        if width.bits() > Self::MAX_BITS {
            return Err(ArithError::FieldOutOfRange {
                field: "bits",
                value: width.bits() as i64,
                min: 1,
                max: Self::MAX_BITS as i64,
                rule: "an integer weight has at most 16 bits",
            });
        }
        if !width.contains(value) {
            return Err(ArithError::FieldOutOfRange {
                field: "weight",
                value,
                min: width.min_value(),
                max: width.max_value(),
                rule: "two's complement range of the weight width",
            });
        }
        Ok(IntWeight {
            value: value as i16,
            width,
        })
    }

    /// `value` saturated into `width`'s range (`width` above 16 bits is treated as 16).
    #[inline]
    pub fn saturating(value: i64, width: BitWidth) -> Self {
        let width = if width.bits() > Self::MAX_BITS {
            BitWidth::W16
        } else {
            width
        };
        IntWeight {
            value: value.clamp(width.min_value(), width.max_value()) as i16,
            width,
        }
    }

    /// The weight.
    #[inline]
    pub const fn value(self) -> i16 {
        self.value
    }

    /// Its width.
    #[inline]
    pub const fn width(self) -> BitWidth {
        self.width
    }
}

/// An integer firing threshold of a TTFS neuron, in the membrane's units.
/// Invariant: `1 <= threshold <= 2^31 - 1` (a non-positive threshold would fire at rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Threshold(i32);

impl Threshold {
    /// The threshold, or an error if it is not in `1..=2^31 - 1`.
    #[inline]
    pub fn new(theta: i64) -> Result<Self, ArithError> {
        if (1..=i32::MAX as i64).contains(&theta) {
            Ok(Threshold(theta as i32))
        } else {
            Err(ArithError::FieldOutOfRange {
                field: "threshold",
                value: theta,
                min: 1,
                max: i32::MAX as i64,
                rule: "a threshold is a positive 32-bit integer",
            })
        }
    }

    /// `theta` clamped into `[min, max]` (then into `1..=2^31 - 1`): the learned-threshold
    /// update rule's clamp.
    #[inline]
    pub fn clamped(theta: i64, min: Threshold, max: Threshold) -> Self {
        let (lo, hi) = if min.0 <= max.0 {
            (min.0, max.0)
        } else {
            (max.0, min.0)
        };
        Threshold(theta.clamp(lo as i64, hi as i64) as i32)
    }

    /// The value.
    #[inline]
    pub const fn get(self) -> i32 {
        self.0
    }
}

/// The length of a TTFS sample window: spike times run `0..t_max`, and `t_max` is the
/// "no spike" code. Invariant: `t_max >= 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeWindow {
    t_max: u16,
}

/// A spike time within a [`TimeWindow`]: `0..t_max` is a spike at that step, `t_max` means
/// "did not spike". Invariant (kept by [`TimeWindow`]'s constructors): `t <= t_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpikeTime(u16);

impl SpikeTime {
    /// The raw time (`t_max` when the neuron did not spike).
    #[inline]
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl TimeWindow {
    /// The window `0..=t_max`, or an error if `t_max` is 0.
    #[inline]
    pub fn new(t_max: u16) -> Result<Self, ArithError> {
        if t_max == 0 {
            return Err(ArithError::FieldOutOfRange {
                field: "t_max",
                value: 0,
                min: 1,
                max: u16::MAX as i64,
                rule: "a time window has at least one step",
            });
        }
        Ok(TimeWindow { t_max })
    }

    /// `t_max`, the "no spike" code.
    #[inline]
    pub const fn t_max(self) -> u16 {
        self.t_max
    }

    /// The time `t` (with `t == t_max` meaning "no spike"), or an error if `t` is outside
    /// `0..=t_max`.
    #[inline]
    pub fn time(self, t: i64) -> Result<SpikeTime, ArithError> {
        if (0..=self.t_max as i64).contains(&t) {
            Ok(SpikeTime(t as u16))
        } else {
            Err(ArithError::FieldOutOfRange {
                field: "spike_time",
                value: t,
                min: 0,
                max: self.t_max as i64,
                rule: "a spike time lies in 0..=t_max (t_max = no spike)",
            })
        }
    }

    /// The "no spike" time, `t_max`.
    #[inline]
    pub const fn no_spike(self) -> SpikeTime {
        SpikeTime(self.t_max)
    }

    /// Whether `t` is a spike (`t < t_max`) in this window.
    #[inline]
    pub const fn fired(self, t: SpikeTime) -> bool {
        t.0 < self.t_max
    }

    /// The S4NN intensity-to-latency code: `t = floor((255 - p) * t_max / 255)`, so `p = 255`
    /// spikes at 0 and `p = 0` gives `t_max` (no spike). Width: `u32` product, exact.
    #[inline]
    pub const fn encode_intensity(self, p: u8) -> SpikeTime {
        SpikeTime((((255 - p as u32) * self.t_max as u32) / 255) as u16)
    }
}
