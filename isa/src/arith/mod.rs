//! The chip's fixed-point arithmetic: its number formats, and every integer operation the
//! neurocore datapath performs with its width, rounding and overflow rule.
//!
//! The rules are written out, with the reason for each, in `docs/ARITHMETIC.md`; every
//! operation here is property-tested against an `i128` reference in `isa/tests/arith_*.rs`.
//!
//! | module | owns |
//! | --- | --- |
//! | [`width`] | [`BitWidth`] and saturating / wrapping add, sub, mul, shift-left at 1..=32 bits |
//! | [`round`] | [`Rounding`] modes, rounded right shifts and divisions |
//! | [`lfsr`] | the [`Lfsr`] that drives stochastic rounding |
//! | [`formats`] | the number formats: Q-formats on the `fixed` crate, weights, thresholds, spike times, conversions |
//! | [`l2`] | integer square root and the L2 normalisation of output errors to Q1.15 |
//! | [`loihi`] | Loihi's 24-bit current / voltage rules, the 12-bit decay, and the golden bit-accurate LIF |
//!
//! Every operation is `#[inline]`, allocation-free and total: no input panics. Operations whose
//! inputs can be invalid (a zero divisor, a non-finite float, a field out of range) return
//! [`ArithError`]; the others define a result for every input.

pub mod formats;
pub mod l2;
pub mod lfsr;
pub mod loihi;
pub mod round;
pub mod width;

pub use formats::{
    convert_exact, convert_round, from_f64_nearest, from_f64_saturating, to_f64, BinaryWeight,
    ErrorQ1_15, IntWeight, LatentQ8_24, MembraneQ24_8, SpikeTime, Threshold, TimeWindow,
    WeightQ8_8,
};
pub use l2::{isqrt_u64, l2_normalise, normalise_q1_15, sum_of_squares};
pub use lfsr::Lfsr;
pub use loihi::{
    decay12, sat24, shl6, wrap24, wrap24_lava, Current24, Decay12, LoihiLifParams, LoihiLifState,
    ResetMode, Voltage24,
};
pub use round::{div_round, mul_shr_round, shr_floor, shr_round, Rounding};
pub use width::{
    add_sat, add_wrap, mul_sat, mul_wrap, shl_sat, shl_wrap, sub_sat, sub_wrap, BitWidth, Word,
};

use thiserror::Error;

/// Why an arithmetic operation or a number-format constructor refused its input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ArithError {
    /// A value (a parameter field, a width, a time...) is outside the range its format allows.
    #[error("{field} = {value} is out of range: the rule is {min} <= {field} <= {max} ({rule})")]
    FieldOutOfRange {
        /// The name of the field or operand at fault (e.g. `"du"`, `"bits"`).
        field: &'static str,
        /// The value given.
        value: i64,
        /// The smallest allowed value.
        min: i64,
        /// The largest allowed value.
        max: i64,
        /// The format rule that sets the range (e.g. `"12-bit unsigned"`).
        rule: &'static str,
    },
    /// A division by zero was requested.
    #[error("{op}: division by zero")]
    DivisionByZero {
        /// The operation that divided.
        op: &'static str,
    },
    /// A float was NaN or infinite where a fixed-point number was wanted.
    #[error("{op}: {value} is not a finite number")]
    NotFinite {
        /// The conversion that refused it.
        op: &'static str,
        /// The value given.
        value: f64,
    },
    /// A float or fixed-point value does not fit in the target format's range.
    #[error("{op}: {value} is outside the range [{min}, {max}] of the target format")]
    OutOfFormatRange {
        /// The conversion that refused it.
        op: &'static str,
        /// The value given.
        value: f64,
        /// The smallest value of the target format.
        min: f64,
        /// The largest value of the target format.
        max: f64,
    },
    /// An exact conversion was asked for a value the target format cannot hold exactly.
    #[error("{op}: {value} is not exactly representable in the target format")]
    Inexact {
        /// The conversion that refused it.
        op: &'static str,
        /// The value given.
        value: f64,
    },
    /// Input and output slices of a vector operation differ in length.
    #[error("{op}: {inputs} inputs but {outputs} output slots")]
    LengthMismatch {
        /// The operation.
        op: &'static str,
        /// Length of the input slice.
        inputs: usize,
        /// Length of the output slice.
        outputs: usize,
    },
    /// An accumulation overflowed its register.
    #[error("{op}: the accumulator overflows {register} at element {index}")]
    AccumulatorOverflow {
        /// The operation.
        op: &'static str,
        /// The register that overflowed (e.g. `"u64"`).
        register: &'static str,
        /// The index of the element whose addition overflowed.
        index: usize,
    },
}
