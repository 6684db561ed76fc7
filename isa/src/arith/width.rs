//! Two's-complement integers of a given bit width (1..=32) held in `i32` or `i64` storage, and
//! their saturating and wrapping add, subtract, multiply and shift-left.
//!
//! Every operation computes the **exact** mathematical result first (in a register twice as
//! wide as the storage, so nothing can be lost) and only then applies the overflow rule:
//! - *saturating*: clamp to `[-2^(w-1), 2^(w-1) - 1]`;
//! - *wrapping*: reduce modulo `2^w` into the same range (two's complement truncation to `w`
//!   bits, then sign extension).
//!
//! Inputs need not lie in the width's range: the rule is applied to the exact result of
//! whatever the operands are. Right shifts live in [`crate::arith::round`] (they round, and
//! cannot overflow an in-range input).

use super::ArithError;

/// The width in bits of a signed two's-complement value: 1..=32.
///
/// Invariant: `1 <= bits <= 32`. A `w`-bit value lies in `[-2^(w-1), 2^(w-1) - 1]`
/// (so a 1-bit value is -1 or 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BitWidth(u32);

impl BitWidth {
    /// The narrowest width, 1 bit.
    pub const MIN_BITS: u32 = 1;
    /// The widest width, 32 bits.
    pub const MAX_BITS: u32 = 32;
    /// 8 bits.
    pub const W8: BitWidth = BitWidth(8);
    /// 16 bits.
    pub const W16: BitWidth = BitWidth(16);
    /// 24 bits (Loihi's `u` and `v`).
    pub const W24: BitWidth = BitWidth(24);
    /// 32 bits (a neuron-state field).
    pub const W32: BitWidth = BitWidth(32);

    /// The width of `bits` bits, or an error naming `bits` if it is outside 1..=32.
    #[inline]
    pub const fn new(bits: u32) -> Result<Self, ArithError> {
        if bits >= Self::MIN_BITS && bits <= Self::MAX_BITS {
            Ok(BitWidth(bits))
        } else {
            Err(ArithError::FieldOutOfRange {
                field: "bits",
                value: bits as i64,
                min: Self::MIN_BITS as i64,
                max: Self::MAX_BITS as i64,
                rule: "a bit width is 1..=32",
            })
        }
    }

    /// The number of bits.
    #[inline]
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The smallest value, `-2^(w-1)`.
    #[inline]
    pub const fn min_value(self) -> i64 {
        -(1i64 << (self.0 - 1))
    }

    /// The largest value, `2^(w-1) - 1`.
    #[inline]
    pub const fn max_value(self) -> i64 {
        (1i64 << (self.0 - 1)) - 1
    }

    /// Whether `x` lies in `[min_value, max_value]`.
    #[inline]
    pub const fn contains(self, x: i64) -> bool {
        x >= self.min_value() && x <= self.max_value()
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for i32 {}
    impl Sealed for i64 {}
}

/// A storage word for [`BitWidth`]-wide values: `i32` or `i64`.
///
/// Each method computes the exact result in a register twice the storage width, then applies
/// its overflow rule at width `w`. All of them are total (no input panics) and the result
/// always lies in `w`'s range.
pub trait Word: Copy + Ord + core::fmt::Debug + sealed::Sealed {
    /// Clamp `self` to `w`'s range.
    fn saturate(self, w: BitWidth) -> Self;
    /// Reduce `self` modulo `2^w` into `w`'s range (keep the low `w` bits, sign-extend).
    fn wrap(self, w: BitWidth) -> Self;
    /// `sat_w(self + rhs)`.
    fn add_sat(self, rhs: Self, w: BitWidth) -> Self;
    /// `wrap_w(self + rhs)`.
    fn add_wrap(self, rhs: Self, w: BitWidth) -> Self;
    /// `sat_w(self - rhs)`.
    fn sub_sat(self, rhs: Self, w: BitWidth) -> Self;
    /// `wrap_w(self - rhs)`.
    fn sub_wrap(self, rhs: Self, w: BitWidth) -> Self;
    /// `sat_w(self * rhs)`.
    fn mul_sat(self, rhs: Self, w: BitWidth) -> Self;
    /// `wrap_w(self * rhs)` (the low `w` bits of the product).
    fn mul_wrap(self, rhs: Self, w: BitWidth) -> Self;
    /// `sat_w(self * 2^sh)`, for any `sh` (a non-zero value shifted by `sh >= w` saturates).
    fn shl_sat(self, sh: u32, w: BitWidth) -> Self;
    /// `wrap_w(self * 2^sh)`, for any `sh` (bits shifted past bit `w - 1` are lost; `sh >= w`
    /// gives 0).
    fn shl_wrap(self, sh: u32, w: BitWidth) -> Self;
}

macro_rules! impl_word {
    ($t:ty, $wide:ty) => {
        impl Word for $t {
            #[inline]
            fn saturate(self, w: BitWidth) -> Self {
                (self as i64).clamp(w.min_value(), w.max_value()) as $t
            }
            #[inline]
            fn wrap(self, w: BitWidth) -> Self {
                let drop = <$t>::BITS - w.bits();
                // Shifting left then arithmetic-right keeps the low `w` bits, sign-extended.
                (self << drop) >> drop
            }
            #[inline]
            fn add_sat(self, rhs: Self, w: BitWidth) -> Self {
                sat_wide::<$wide>(self as $wide + rhs as $wide, w) as $t
            }
            #[inline]
            fn add_wrap(self, rhs: Self, w: BitWidth) -> Self {
                self.wrapping_add(rhs).wrap(w)
            }
            #[inline]
            fn sub_sat(self, rhs: Self, w: BitWidth) -> Self {
                sat_wide::<$wide>(self as $wide - rhs as $wide, w) as $t
            }
            #[inline]
            fn sub_wrap(self, rhs: Self, w: BitWidth) -> Self {
                self.wrapping_sub(rhs).wrap(w)
            }
            #[inline]
            fn mul_sat(self, rhs: Self, w: BitWidth) -> Self {
                sat_wide::<$wide>(self as $wide * rhs as $wide, w) as $t
            }
            #[inline]
            fn mul_wrap(self, rhs: Self, w: BitWidth) -> Self {
                // Modulo 2^w (w <= 32 <= storage bits) the low storage bits decide everything.
                self.wrapping_mul(rhs).wrap(w)
            }
            #[inline]
            fn shl_sat(self, sh: u32, w: BitWidth) -> Self {
                if self == 0 {
                    0
                } else if sh >= w.bits() {
                    // |self| * 2^sh >= 2^w > every magnitude in range.
                    if self < 0 {
                        w.min_value() as $t
                    } else {
                        w.max_value() as $t
                    }
                } else {
                    // sh < w <= 32 and the wide register has 32 spare bits: exact.
                    sat_wide::<$wide>((self as $wide) << sh, w) as $t
                }
            }
            #[inline]
            fn shl_wrap(self, sh: u32, w: BitWidth) -> Self {
                if sh >= w.bits() {
                    0
                } else {
                    self.wrapping_shl(sh).wrap(w)
                }
            }
        }
    };
}

/// Clamp an exact wide result to `w`'s range.
#[inline]
fn sat_wide<T: Into<i128> + Copy>(x: T, w: BitWidth) -> i64 {
    let x: i128 = x.into();
    x.clamp(w.min_value() as i128, w.max_value() as i128) as i64
}

impl_word!(i32, i64);
impl_word!(i64, i128);

/// `sat_w(a + b)`: exact sum clamped to `w`'s range. See [`Word::add_sat`].
#[inline]
pub fn add_sat<T: Word>(a: T, b: T, w: BitWidth) -> T {
    a.add_sat(b, w)
}

/// `wrap_w(a + b)`: exact sum reduced modulo `2^w`. See [`Word::add_wrap`].
#[inline]
pub fn add_wrap<T: Word>(a: T, b: T, w: BitWidth) -> T {
    a.add_wrap(b, w)
}

/// `sat_w(a - b)`. See [`Word::sub_sat`].
#[inline]
pub fn sub_sat<T: Word>(a: T, b: T, w: BitWidth) -> T {
    a.sub_sat(b, w)
}

/// `wrap_w(a - b)`. See [`Word::sub_wrap`].
#[inline]
pub fn sub_wrap<T: Word>(a: T, b: T, w: BitWidth) -> T {
    a.sub_wrap(b, w)
}

/// `sat_w(a * b)`. See [`Word::mul_sat`].
#[inline]
pub fn mul_sat<T: Word>(a: T, b: T, w: BitWidth) -> T {
    a.mul_sat(b, w)
}

/// `wrap_w(a * b)`. See [`Word::mul_wrap`].
#[inline]
pub fn mul_wrap<T: Word>(a: T, b: T, w: BitWidth) -> T {
    a.mul_wrap(b, w)
}

/// `sat_w(a * 2^sh)`. See [`Word::shl_sat`].
#[inline]
pub fn shl_sat<T: Word>(a: T, sh: u32, w: BitWidth) -> T {
    a.shl_sat(sh, w)
}

/// `wrap_w(a * 2^sh)`. See [`Word::shl_wrap`].
#[inline]
pub fn shl_wrap<T: Word>(a: T, sh: u32, w: BitWidth) -> T {
    a.shl_wrap(sh, w)
}
