//! Rounding modes, and the rounded right shifts and divisions that use them.
//!
//! A right shift by `sh` computes the exact quotient `x / 2^sh` and rounds it to an integer by
//! one of the [`Rounding`] modes; a division computes `n / d` the same way. Writing the exact
//! quotient as `q + f` with `q = floor(x / 2^sh)` and the fraction `f = r / 2^sh` in `[0, 1)`
//! (`r` the non-negative remainder), every mode returns `q` or `q + 1`:
//!
//! | mode | returns `q + 1` when | error bound |
//! | --- | --- | --- |
//! | `Floor` | never | `0 <= exact - result < 1` |
//! | `TowardZero` | `x < 0` and `f > 0` | `|result| <= |exact|`, error `< 1` |
//! | `NearestEven` | `f > 1/2`, or `f = 1/2` and `q` is odd | `<= 1/2`; ties go to the even neighbour |
//! | `NearestAwayFromZero` | `f > 1/2`, or `f = 1/2` and `x >= 0` | `<= 1/2`; ties go away from zero |
//! | `Stochastic` | the random fraction `u` drawn from the [`Lfsr`] is `< f` | `< 1`; `E[result] = exact` |
//!
//! For a stochastic shift `u` is `sh` random bits read as a fraction in `[0, 1)` (see
//! [`Lfsr::fraction_bits`]), so `P(round up) = r / 2^sh` **exactly** for `sh <= 64`. A
//! stochastic shift by `1..=32` consumes one LFSR word, by `33..` two words, by 0 none (the
//! result is exact). A stochastic division consumes two words (a 64-bit fraction `u`) and
//! rounds up iff `u * d < r * 2^64`, so `P(round up)` is within `2^-64` of `r / d`. The number
//! of words consumed depends only on `sh` (or on the operation), never on the data, so the
//! LFSR position is data-independent.
//!
//! Results cannot overflow: a right shift of an `i64` lands in `i64` range (`q + 1` only happens
//! when `q < 2^62`), and the single overflowing division `i64::MIN / -1` saturates to
//! `i64::MAX` (every mode, the exact result being `2^63`).

use super::{ArithError, BitWidth, Lfsr, Word};

/// How an exact quotient is rounded to an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rounding {
    /// Toward −∞ (what an arithmetic right shift does).
    Floor,
    /// Toward zero (sign-magnitude truncation; Loihi's decay).
    TowardZero,
    /// To nearest, ties to the even integer (IEEE default, unbiased on ties).
    NearestEven,
    /// To nearest, ties away from zero (the L2-normalisation division).
    NearestAwayFromZero,
    /// Up with probability equal to the discarded fraction, using an [`Lfsr`] (latent-weight
    /// updates narrower than their increment).
    Stochastic,
}

impl Rounding {
    /// Every mode.
    pub const ALL: [Rounding; 5] = [
        Rounding::Floor,
        Rounding::TowardZero,
        Rounding::NearestEven,
        Rounding::NearestAwayFromZero,
        Rounding::Stochastic,
    ];
}

/// `round(x / 2^sh)` by `mode`, for any `sh` (see the module docs for each mode's rule).
///
/// Width: `i64` in, `i64` out, never overflows. `lfsr` is advanced only in
/// [`Rounding::Stochastic`] mode (one word for `1 <= sh <= 32`, two for `sh > 32`). Shift
/// amounts of 128 or more behave as 127.
#[inline]
pub fn shr_round(x: i64, sh: u32, mode: Rounding, lfsr: &mut Lfsr) -> i64 {
    if sh == 0 {
        return x;
    }
    if sh >= 64 {
        return shr_round_wide(x, sh.min(127), mode, lfsr);
    }
    let q = x >> sh;
    let r = (x as u64) & ((1u64 << sh) - 1);
    let half = 1u64 << (sh - 1);
    let up = match mode {
        Rounding::Floor => false,
        Rounding::TowardZero => x < 0 && r != 0,
        Rounding::NearestEven => r > half || (r == half && q & 1 == 1),
        Rounding::NearestAwayFromZero => r > half || (r == half && x >= 0),
        Rounding::Stochastic => lfsr.fraction_bits(sh) < r,
    };
    q + up as i64
}

/// [`shr_round`] for `64 <= sh <= 127`, in `i128`.
#[cold]
fn shr_round_wide(x: i64, sh: u32, mode: Rounding, lfsr: &mut Lfsr) -> i64 {
    let wide = x as i128;
    let q = wide >> sh;
    let r = (wide - (q << sh)) as u128;
    let half = 1u128 << (sh - 1);
    let up = match mode {
        Rounding::Floor => false,
        Rounding::TowardZero => x < 0 && r != 0,
        Rounding::NearestEven => r > half || (r == half && q & 1 == 1),
        Rounding::NearestAwayFromZero => r > half || (r == half && x >= 0),
        // The fraction has 64 random bits: compare with the top 64 bits of the remainder.
        Rounding::Stochastic => (lfsr.next_u64() as u128) < (r >> (sh - 64)),
    };
    (q + up as i128) as i64
}

/// Shorthand for `shr_round(x, sh, Rounding::Floor, _)`: the arithmetic right shift (for
/// `sh >= 64`: 0 or -1 by sign).
#[inline]
pub fn shr_floor(x: i64, sh: u32) -> i64 {
    x >> sh.min(63)
}

/// `round(n / d)` by `mode` (see the module docs), or an error if `d == 0`.
///
/// Width: `i64` operands, exact `i128` quotient and remainder, `i64` result; `i64::MIN / -1`
/// saturates to `i64::MAX`. In [`Rounding::Stochastic`] mode two LFSR words are consumed.
#[inline]
pub fn div_round(n: i64, d: i64, mode: Rounding, lfsr: &mut Lfsr) -> Result<i64, ArithError> {
    if d == 0 {
        return Err(ArithError::DivisionByZero { op: "div_round" });
    }
    let (mut n, mut d) = (n as i128, d as i128);
    if d < 0 {
        n = -n;
        d = -d;
    }
    let q = n.div_euclid(d);
    let r = n.rem_euclid(d);
    let up = match mode {
        Rounding::Floor => false,
        Rounding::TowardZero => n < 0 && r != 0,
        Rounding::NearestEven => 2 * r > d || (2 * r == d && q & 1 == 1),
        Rounding::NearestAwayFromZero => 2 * r > d || (2 * r == d && n >= 0),
        Rounding::Stochastic => {
            let u = lfsr.next_u64() as u128;
            // d <= 2^63 and r < d, so neither product overflows u128.
            u * (d as u128) < (r as u128) << 64
        }
    };
    let result = q + up as i128;
    Ok(result.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// `sat_w(round((a * b) / 2^sh))`: the multiply-shift of the vector unit (`VMulShift`) and of
/// the latent-weight update.
///
/// Width: the product is exact in `i64` (`|a * b| <= 2^62`), shifted right by `sh` with
/// rounding `mode` ([`shr_round`]; the LFSR is consumed only in stochastic mode), then
/// saturated to `w` bits.
#[inline]
pub fn mul_shr_round(a: i32, b: i32, sh: u32, mode: Rounding, w: BitWidth, lfsr: &mut Lfsr) -> i32 {
    let rounded = shr_round(a as i64 * b as i64, sh, mode, lfsr);
    rounded.saturate(w) as i32
}
