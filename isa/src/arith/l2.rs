//! The integer square root and the L2 normalisation of output errors to Q1.15 that the
//! learning engine performs once per sample (`reference/stidi-bp.md` §4.4 and §9).
//!
//! `delta_k = (g_k << 15) / isqrt(sum_j g_j^2)`, with
//! - `g_k` the integer error numerators `T_k - t_k` (the `1/t_max` factor cancels under the
//!   norm), `i32`;
//! - `sum_j g_j^2` accumulated in `u64` (an error if it overflows);
//! - `isqrt` = floor of the square root, exact;
//! - the division rounded to nearest, **ties away from zero**, and the quotient **saturated**
//!   to Q1.15's raw range `[-32768, 32767]`. Because `isqrt` floors, the divisor can be a little
//!   smaller than the true norm and a lone error of magnitude `|g|` gives `±32768`: `+1.0`
//!   saturates to `32767 / 32768`, `-1.0` is exact;
//! - an all-zero error vector (norm 0) gives all-zero deltas (no update).

use super::formats::ErrorQ1_15;
use super::round::{div_round, Rounding};
use super::{ArithError, Lfsr};

/// `floor(sqrt(n))`, exact for every `u64`.
///
/// A correctly rounded `f64` square root gives a first guess within a few units, which is then
/// corrected with exact `u128` squares, so the result `r` always satisfies
/// `r^2 <= n < (r + 1)^2`.
#[inline]
pub fn isqrt_u64(n: u64) -> u64 {
    let mut r = (n as f64).sqrt() as u64;
    let n_wide = n as u128;
    while r > 0 && (r as u128) * (r as u128) > n_wide {
        r -= 1;
    }
    while ((r + 1) as u128) * ((r + 1) as u128) <= n_wide {
        r += 1;
    }
    r
}

/// `sum_k g_k^2` in `u64`, or [`ArithError::AccumulatorOverflow`] naming the element whose
/// square overflowed the sum. (Each square is at most `2^62`, so up to 3 elements can never
/// overflow, and errors bounded by `t_max <= 2^16` need more than `2^32` outputs to.)
#[inline]
pub fn sum_of_squares(g: &[i32]) -> Result<u64, ArithError> {
    let mut sum = 0u64;
    for (index, &x) in g.iter().enumerate() {
        let sq = (x as i64).unsigned_abs() * (x as i64).unsigned_abs();
        sum = sum.checked_add(sq).ok_or(ArithError::AccumulatorOverflow {
            op: "l2 sum of squares",
            register: "u64",
            index,
        })?;
    }
    Ok(sum)
}

/// One normalised error: `(g << 15) / norm` rounded to nearest, ties away from zero,
/// saturated to Q1.15. `norm == 0` gives 0.
///
/// Width: `g << 15` is exact in `i64` (`|g| <= 2^31`); `norm` is the output of [`isqrt_u64`]
/// (at most `2^32`).
#[inline]
pub fn normalise_q1_15(g: i32, norm: u64) -> ErrorQ1_15 {
    if norm == 0 {
        return ErrorQ1_15::ZERO;
    }
    let numerator = (g as i64) << 15;
    let divisor = norm.min(i64::MAX as u64) as i64;
    // The nearest modes never draw from the LFSR; the divisor is non-zero.
    let mut unused = Lfsr::new(0);
    let q = div_round(
        numerator,
        divisor,
        Rounding::NearestAwayFromZero,
        &mut unused,
    )
    .unwrap_or(0);
    ErrorQ1_15::from_bits(q.clamp(i16::MIN as i64, i16::MAX as i64) as i16)
}

/// The whole L2 normalisation: write `delta_k` for every `g_k` into `out` and return the
/// divisor `isqrt(sum g^2)` used (0 when every error is 0, in which case every delta is 0).
///
/// Errors: `out` not the length of `g` ([`ArithError::LengthMismatch`]); the sum of squares
/// overflowing `u64` ([`ArithError::AccumulatorOverflow`]). No allocation.
#[inline]
pub fn l2_normalise(g: &[i32], out: &mut [ErrorQ1_15]) -> Result<u64, ArithError> {
    if g.len() != out.len() {
        return Err(ArithError::LengthMismatch {
            op: "l2_normalise",
            inputs: g.len(),
            outputs: out.len(),
        });
    }
    let norm = isqrt_u64(sum_of_squares(g)?);
    for (d, &x) in out.iter_mut().zip(g) {
        *d = normalise_q1_15(x, norm);
    }
    Ok(norm)
}
