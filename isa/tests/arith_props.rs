//! Property tests of every fixed-point operation of `isa::arith` against an `i128` reference.
//!
//! References are written from the *definition* of each rule (exact rational value, then the
//! rounding / overflow rule), not by copying the implementation's bit tricks: e.g. nearest
//! rounding is checked by comparing the distances of the two candidate integers.
//!
//! All properties use the default config (CI sets PROPTEST_CASES); the statistical ones set
//! their own case count because each case draws thousands of samples.

use isa::arith::formats::{convert_exact, convert_round, from_f64_nearest, from_f64_saturating};
use isa::arith::loihi::{decay12, sat24, shl6, wrap24, wrap24_lava, Decay12, MAX_UV};
use isa::arith::round::{div_round, mul_shr_round, shr_floor, shr_round, Rounding};
use isa::arith::width::{
    add_sat, add_wrap, mul_sat, mul_wrap, shl_sat, shl_wrap, sub_sat, sub_wrap, BitWidth,
};
use isa::arith::{
    isqrt_u64, l2_normalise, normalise_q1_15, sum_of_squares, to_f64, ArithError, ErrorQ1_15,
    LatentQ8_24, Lfsr, MembraneQ24_8, TimeWindow, WeightQ8_8,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------------

fn lo(w: u32) -> i128 {
    -(1i128 << (w - 1))
}
fn hi(w: u32) -> i128 {
    (1i128 << (w - 1)) - 1
}
fn sat_ref(x: i128, w: u32) -> i128 {
    x.clamp(lo(w), hi(w))
}
/// The unique y in [-2^(w-1), 2^(w-1)) with y = x (mod 2^w).
fn wrap_ref(x: i128, w: u32) -> i128 {
    let m = 1i128 << w;
    (x - lo(w)).rem_euclid(m) + lo(w)
}
fn bw(w: u32) -> BitWidth {
    BitWidth::new(w).expect("test widths are 1..=32")
}

/// Floor of num/den for den > 0.
fn floor_div(num: i128, den: i128) -> i128 {
    num.div_euclid(den)
}

/// The rounded value of the exact rational num/den (den > 0) by a deterministic mode, chosen
/// among the two neighbouring integers by comparing exact distances.
fn round_ref(num: i128, den: i128, mode: Rounding) -> i128 {
    let f = floor_div(num, den);
    let c = f + 1;
    let exact_integer = f * den == num;
    // distances times den: |num - k*den|
    let df = (num - f * den).abs();
    let dc = (num - c * den).abs();
    match mode {
        Rounding::Floor => f,
        Rounding::TowardZero => num / den, // Rust's i128 division truncates toward zero
        Rounding::NearestEven | Rounding::NearestAwayFromZero if exact_integer => f,
        Rounding::NearestEven => match df.cmp(&dc) {
            std::cmp::Ordering::Less => f,
            std::cmp::Ordering::Greater => c,
            std::cmp::Ordering::Equal => {
                if f.rem_euclid(2) == 0 {
                    f
                } else {
                    c
                }
            }
        },
        Rounding::NearestAwayFromZero => match df.cmp(&dc) {
            std::cmp::Ordering::Less => f,
            std::cmp::Ordering::Greater => c,
            std::cmp::Ordering::Equal => {
                if f.abs() > c.abs() {
                    f
                } else {
                    c
                }
            }
        },
        Rounding::Stochastic => unreachable!("stochastic has no deterministic reference"),
    }
}

const DETERMINISTIC: [Rounding; 4] = [
    Rounding::Floor,
    Rounding::TowardZero,
    Rounding::NearestEven,
    Rounding::NearestAwayFromZero,
];

fn det_mode() -> impl Strategy<Value = Rounding> {
    prop::sample::select(DETERMINISTIC.to_vec())
}

/// A width and two values inside its range.
fn width_and_pair() -> impl Strategy<Value = (u32, i64, i64)> {
    (1u32..=32).prop_flat_map(|w| {
        let r = (lo(w) as i64)..=(hi(w) as i64);
        (Just(w), r.clone(), r)
    })
}

// ---------------------------------------------------------------------------------------------
// Saturating and wrapping arithmetic at a width
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn sat_add_sub_mul_equal_clamped_exact_result_i32(w in 1u32..=32, a: i32, b: i32) {
        let (x, y) = (a as i128, b as i128);
        prop_assert_eq!(add_sat(a, b, bw(w)) as i128, sat_ref(x + y, w));
        prop_assert_eq!(sub_sat(a, b, bw(w)) as i128, sat_ref(x - y, w));
        prop_assert_eq!(mul_sat(a, b, bw(w)) as i128, sat_ref(x * y, w));
    }

    #[test]
    fn sat_add_sub_mul_equal_clamped_exact_result_i64(w in 1u32..=32, a: i64, b: i64) {
        let (x, y) = (a as i128, b as i128);
        prop_assert_eq!(add_sat(a, b, bw(w)) as i128, sat_ref(x + y, w));
        prop_assert_eq!(sub_sat(a, b, bw(w)) as i128, sat_ref(x - y, w));
        prop_assert_eq!(mul_sat(a, b, bw(w)) as i128, sat_ref(x.saturating_mul(y), w));
    }

    #[test]
    fn wrap_add_sub_mul_equal_exact_result_modulo_2_pow_w_i32(w in 1u32..=32, a: i32, b: i32) {
        let (x, y) = (a as i128, b as i128);
        prop_assert_eq!(add_wrap(a, b, bw(w)) as i128, wrap_ref(x + y, w));
        prop_assert_eq!(sub_wrap(a, b, bw(w)) as i128, wrap_ref(x - y, w));
        prop_assert_eq!(mul_wrap(a, b, bw(w)) as i128, wrap_ref(x * y, w));
    }

    #[test]
    fn wrap_add_sub_mul_equal_exact_result_modulo_2_pow_w_i64(w in 1u32..=32, a: i64, b: i64) {
        let (x, y) = (a as i128, b as i128);
        prop_assert_eq!(add_wrap(a, b, bw(w)) as i128, wrap_ref(x + y, w));
        prop_assert_eq!(sub_wrap(a, b, bw(w)) as i128, wrap_ref(x - y, w));
        // x*y can exceed i128 only past 2^126; reduce operands first (same residue mod 2^w).
        prop_assert_eq!(mul_wrap(a, b, bw(w)) as i128, wrap_ref(wrap_ref(x, 32) * wrap_ref(y, 32), w));
    }

    #[test]
    fn in_range_operands_give_exact_result_when_it_fits((w, a, b) in width_and_pair()) {
        let exact = a as i128 + b as i128;
        let s = add_sat(a, b, bw(w)) as i128;
        let r = add_wrap(a, b, bw(w)) as i128;
        if (lo(w)..=hi(w)).contains(&exact) {
            prop_assert_eq!(s, exact);
            prop_assert_eq!(r, exact);
        } else {
            // Saturation lands on the bound on the side of the overflow; wrapping is off by 2^w.
            prop_assert_eq!(s, if exact > 0 { hi(w) } else { lo(w) });
            prop_assert_eq!((exact - r).abs(), 1i128 << w);
        }
    }

    #[test]
    fn sat_results_never_leave_the_width_range(w in 1u32..=32, a: i32, b: i32, sh in 0u32..80) {
        let range = lo(w)..=hi(w);
        for v in [add_sat(a, b, bw(w)), sub_sat(a, b, bw(w)), mul_sat(a, b, bw(w)),
                  shl_sat(a, sh, bw(w)), add_wrap(a, b, bw(w)), mul_wrap(a, b, bw(w)),
                  shl_wrap(a, sh, bw(w))] {
            prop_assert!(range.contains(&(v as i128)));
        }
    }

    #[test]
    fn shl_sat_equals_clamped_exact_product_by_2_pow_sh(w in 1u32..=32, a: i64, sh in 0u32..100) {
        let exact = if sh >= 64 { (a as i128).signum() << 100 } else { (a as i128) << sh };
        // For sh >= 64 only the sign matters: any non-zero value is far outside every range.
        prop_assert_eq!(shl_sat(a, sh, bw(w)) as i128, sat_ref(exact, w));
        let a32 = a as i32;
        let exact32 = if sh >= 64 { (a32 as i128).signum() << 100 } else { (a32 as i128) << sh };
        prop_assert_eq!(shl_sat(a32, sh, bw(w)) as i128, sat_ref(exact32, w));
    }

    #[test]
    fn shl_wrap_keeps_the_low_w_bits_of_the_exact_product(w in 1u32..=32, a: i64, sh in 0u32..100) {
        // a * 2^sh mod 2^w: zero once sh >= w.
        let expect = if sh >= w { 0 } else { wrap_ref((wrap_ref(a as i128, 32)) << sh, w) };
        prop_assert_eq!(shl_wrap(a, sh, bw(w)) as i128, expect);
        prop_assert_eq!(shl_wrap(a as i32, sh, bw(w)) as i128, expect);
    }

    #[test]
    fn sat_add_is_monotone_in_each_operand(w in 1u32..=32, a: i32, a2: i32, b: i32) {
        let (x, y) = (a.min(a2), a.max(a2));
        prop_assert!(add_sat(x, b, bw(w)) <= add_sat(y, b, bw(w)));
        prop_assert!(add_sat(b, x, bw(w)) <= add_sat(b, y, bw(w)));
    }

    #[test]
    fn saturate_and_wrap_are_identity_inside_the_range((w, a, _b) in width_and_pair()) {
        use isa::arith::Word;
        prop_assert_eq!(a.saturate(bw(w)), a);
        prop_assert_eq!(a.wrap(bw(w)), a);
        prop_assert_eq!((a as i32).wrap(bw(w)), a as i32);
    }
}

#[test]
fn bit_width_refuses_0_and_33_naming_bits() {
    for bad in [0u32, 33, 64] {
        match BitWidth::new(bad) {
            Err(ArithError::FieldOutOfRange { field, value, .. }) => {
                assert_eq!(field, "bits");
                assert_eq!(value, bad as i64);
            }
            other => panic!("BitWidth::new({bad}) gave {other:?}"),
        }
    }
    assert_eq!(bw(1).min_value(), -1);
    assert_eq!(bw(1).max_value(), 0);
    assert_eq!(bw(32).min_value(), i32::MIN as i64);
    assert_eq!(bw(32).max_value(), i32::MAX as i64);
}

// ---------------------------------------------------------------------------------------------
// Rounded right shifts and divisions
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn shr_round_equals_i128_reference_for_deterministic_modes(x: i64, sh in 0u32..=100, mode in det_mode()) {
        let mut lfsr = Lfsr::new(1);
        let got = shr_round(x, sh, mode, &mut lfsr) as i128;
        prop_assert_eq!(got, round_ref(x as i128, 1i128 << sh, mode));
        // Deterministic modes never touch the LFSR.
        prop_assert_eq!(lfsr, Lfsr::new(1));
    }

    #[test]
    fn shr_round_small_values_equal_i128_reference(x in -5000i64..5000, sh in 0u32..=14, mode in det_mode()) {
        // Dense coverage of small magnitudes, where every tie and sign case occurs.
        let got = shr_round(x, sh, mode, &mut Lfsr::new(1)) as i128;
        prop_assert_eq!(got, round_ref(x as i128, 1i128 << sh, mode));
    }

    #[test]
    fn every_rounding_error_is_below_one_lsb(x: i64, sh in 0u32..=70, mode in prop::sample::select(Rounding::ALL.to_vec()), seed: u32) {
        let got = shr_round(x, sh, mode, &mut Lfsr::new(seed)) as i128;
        let err = x as i128 - (got << sh); // exact - result, in units of 2^-sh LSB
        prop_assert!(err.abs() < (1i128 << sh));
        // and the result is one of the two neighbours of the exact value
        let f = floor_div(x as i128, 1i128 << sh);
        prop_assert!(got == f || got == f + 1);
    }

    #[test]
    fn nearest_modes_err_by_at_most_half_an_lsb(x: i64, sh in 1u32..=70) {
        for mode in [Rounding::NearestEven, Rounding::NearestAwayFromZero] {
            let got = shr_round(x, sh, mode, &mut Lfsr::new(1)) as i128;
            let err2 = 2 * (x as i128 - (got << sh));
            prop_assert!(err2.abs() <= (1i128 << sh));
        }
    }

    #[test]
    fn floor_errs_nonnegatively_and_toward_zero_never_grows_magnitude(x: i64, sh in 0u32..=70) {
        let f = shr_round(x, sh, Rounding::Floor, &mut Lfsr::new(1)) as i128;
        prop_assert!((x as i128) - (f << sh) >= 0);
        prop_assert_eq!(f as i64, shr_floor(x, sh));
        let t = shr_round(x, sh, Rounding::TowardZero, &mut Lfsr::new(1)) as i128;
        prop_assert!((t << sh).abs() <= (x as i128).abs());
        prop_assert!(t == 0 || t.signum() == (x as i128).signum());
    }

    #[test]
    fn nearest_even_rounds_ties_to_even(k in -(1i64 << 40)..(1i64 << 40), sh in 1u32..=22) {
        // x = (2k + 1) * 2^(sh-1) is exactly halfway between k*... neighbours.
        let x = (2 * k + 1) << (sh - 1);
        let got = shr_round(x, sh, Rounding::NearestEven, &mut Lfsr::new(1));
        prop_assert_eq!(got.rem_euclid(2), 0);
        prop_assert!(got == k || got == k + 1);
    }

    #[test]
    fn nearest_away_rounds_ties_away_from_zero(k in -(1i64 << 40)..(1i64 << 40), sh in 1u32..=22) {
        let x = (2 * k + 1) << (sh - 1);
        let got = shr_round(x, sh, Rounding::NearestAwayFromZero, &mut Lfsr::new(1));
        // exact value k + 1/2: away from zero is k+1 when k >= 0, k when k < 0.
        prop_assert_eq!(got, if k >= 0 { k + 1 } else { k });
    }

    #[test]
    fn deterministic_shifts_are_monotone(x: i64, y: i64, sh in 0u32..=70, mode in det_mode()) {
        let (a, b) = (x.min(y), x.max(y));
        let mut l = Lfsr::new(1);
        prop_assert!(shr_round(a, sh, mode, &mut l) <= shr_round(b, sh, mode, &mut l));
    }

    #[test]
    fn right_shift_of_an_in_range_value_stays_in_range((w, a, _b) in width_and_pair(), sh in 0u32..40, mode in prop::sample::select(Rounding::ALL.to_vec()), seed: u32) {
        let got = shr_round(a, sh, mode, &mut Lfsr::new(seed)) as i128;
        prop_assert!((lo(w)..=hi(w)).contains(&got));
    }

    #[test]
    fn stochastic_shift_is_exact_on_multiples_and_a_neighbour_otherwise(x: i64, sh in 0u32..=70, seed: u32) {
        let mut l = Lfsr::new(seed);
        let got = shr_round(x, sh, Rounding::Stochastic, &mut l) as i128;
        let f = floor_div(x as i128, 1i128 << sh);
        if f << sh == x as i128 {
            prop_assert_eq!(got, f);
        } else {
            prop_assert!(got == f || got == f + 1);
        }
    }

    #[test]
    fn stochastic_rounding_is_reproducible_from_its_seed(seed: u32, xs in prop::collection::vec(any::<i64>(), 1..32), sh in 0u32..=70) {
        let run = |s: u32| {
            let mut l = Lfsr::new(s);
            xs.iter().map(|&x| shr_round(x, sh, Rounding::Stochastic, &mut l)).collect::<Vec<_>>()
        };
        prop_assert_eq!(run(seed), run(seed));
    }

    #[test]
    fn stochastic_shift_consumes_a_data_independent_number_of_words(x: i64, y: i64, sh in 0u32..=70, seed: u32) {
        let (mut a, mut b) = (Lfsr::new(seed), Lfsr::new(seed));
        shr_round(x, sh, Rounding::Stochastic, &mut a);
        shr_round(y, sh, Rounding::Stochastic, &mut b);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn div_round_equals_i128_reference(n: i64, d in any::<i64>().prop_filter("non-zero", |d| *d != 0), mode in det_mode()) {
        let (mut num, mut den) = (n as i128, d as i128);
        if den < 0 { num = -num; den = -den; }
        let expect = round_ref(num, den, mode).clamp(i64::MIN as i128, i64::MAX as i128);
        prop_assert_eq!(div_round(n, d, mode, &mut Lfsr::new(1)).map(|q| q as i128), Ok(expect));
    }

    #[test]
    fn div_round_small_operands_equal_i128_reference(n in -300i64..300, d in -40i64..40, mode in det_mode()) {
        prop_assume!(d != 0);
        let (mut num, mut den) = (n as i128, d as i128);
        if den < 0 { num = -num; den = -den; }
        prop_assert_eq!(div_round(n, d, mode, &mut Lfsr::new(1)).map(|q| q as i128), Ok(round_ref(num, den, mode)));
    }

    #[test]
    fn stochastic_division_lands_on_a_neighbour(n: i64, d in any::<i64>().prop_filter("non-zero", |d| *d != 0), seed: u32) {
        let (mut num, mut den) = (n as i128, d as i128);
        if den < 0 { num = -num; den = -den; }
        let f = floor_div(num, den);
        let got = div_round(n, d, Rounding::Stochastic, &mut Lfsr::new(seed)).map(|q| q as i128);
        let got = got.unwrap_or(i128::MAX);
        if f * den == num {
            prop_assert_eq!(got, f.min(i64::MAX as i128));
        } else {
            prop_assert!(got == f || got == f + 1);
        }
    }
}

proptest! {
    #[test]
    fn mul_shr_round_equals_saturated_rounded_exact_product(a: i32, b: i32, sh in 0u32..=40, w in 1u32..=32, mode in det_mode()) {
        let exact = a as i128 * b as i128;
        let expect = sat_ref(round_ref(exact, 1i128 << sh, mode), w);
        prop_assert_eq!(mul_shr_round(a, b, sh, mode, bw(w), &mut Lfsr::new(1)) as i128, expect);
    }

    #[test]
    fn stochastic_mul_shr_round_lands_on_a_saturated_neighbour(a: i32, b: i32, sh in 0u32..=40, w in 1u32..=32, seed: u32) {
        let exact = a as i128 * b as i128;
        let f = floor_div(exact, 1i128 << sh);
        let got = mul_shr_round(a, b, sh, Rounding::Stochastic, bw(w), &mut Lfsr::new(seed)) as i128;
        prop_assert!(got == sat_ref(f, w) || got == sat_ref(f + 1, w));
    }
}

#[test]
fn division_by_zero_is_an_error_and_min_over_minus_one_saturates() {
    for mode in Rounding::ALL {
        assert_eq!(
            div_round(5, 0, mode, &mut Lfsr::new(1)),
            Err(ArithError::DivisionByZero { op: "div_round" })
        );
        assert_eq!(
            div_round(i64::MIN, -1, mode, &mut Lfsr::new(1)),
            Ok(i64::MAX)
        );
    }
}

// Statistical properties of stochastic rounding.
//
// Bound: for a fixed exact quotient q + f (f in [0,1)), each stochastic result is q + B_i with
// B_i in {0,1} and P(B_i = 1) = f (exactly, for a uniform fraction). If the N draws behave as
// independent Bernoulli(f) trials, Hoeffding's inequality gives
//     P(|mean(B) - f| >= t) <= 2 exp(-2 N t^2).
// With N = 4096 and t = 0.06: 2 exp(-2 * 4096 * 0.0036) = 2 exp(-29.5) ~ 3e-13 per case, so
// over 200 cases the chance of a false failure is below 1e-10. A biased rule (e.g. always
// truncating, error f) or a badly correlated LFSR shows up as soon as |bias| > 0.06.
const STOCHASTIC_DRAWS: u32 = 4096;
const STOCHASTIC_TOLERANCE: f64 = 0.06;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn stochastic_shift_is_unbiased(x in -(1i64 << 40)..(1i64 << 40), sh in 1u32..=40, seed: u32) {
        let mut l = Lfsr::new(seed);
        let exact = x as f64 / (sh as f64).exp2();
        let mut sum = 0f64;
        for _ in 0..STOCHASTIC_DRAWS {
            sum += shr_round(x, sh, Rounding::Stochastic, &mut l) as f64 - exact;
        }
        let mean_error = sum / STOCHASTIC_DRAWS as f64;
        prop_assert!(mean_error.abs() < STOCHASTIC_TOLERANCE, "mean error {mean_error}");
    }

    #[test]
    fn stochastic_division_is_unbiased(n in -(1i64 << 40)..(1i64 << 40), d in 1i64..100_000, seed: u32) {
        let mut l = Lfsr::new(seed);
        // q + f with f = r/d: compare the mean number of round-ups with f.
        let f = n.rem_euclid(d) as f64 / d as f64;
        let q = n.div_euclid(d);
        let mut ups = 0u32;
        for _ in 0..STOCHASTIC_DRAWS {
            let got = div_round(n, d, Rounding::Stochastic, &mut l).unwrap_or(q);
            ups += (got - q) as u32;
        }
        let mean_error = ups as f64 / STOCHASTIC_DRAWS as f64 - f;
        prop_assert!(mean_error.abs() < STOCHASTIC_TOLERANCE, "mean error {mean_error}");
    }
}

// ---------------------------------------------------------------------------------------------
// The LFSR
// ---------------------------------------------------------------------------------------------

/// Multiply two polynomials over GF(2) (degree < 33 each) and reduce modulo `p` (degree 32).
fn gf2_mulmod(a: u64, b: u64, p: u64) -> u64 {
    let mut prod: u128 = 0;
    for i in 0..64 {
        if (b >> i) & 1 == 1 {
            prod ^= (a as u128) << i;
        }
    }
    for i in (32..128).rev() {
        if (prod >> i) & 1 == 1 {
            prod ^= (p as u128) << (i - 32);
        }
    }
    prod as u64
}

fn gf2_powmod(mut base: u64, mut e: u64, p: u64) -> u64 {
    let mut acc = 1u64;
    while e > 0 {
        if e & 1 == 1 {
            acc = gf2_mulmod(acc, base, p);
        }
        base = gf2_mulmod(base, base, p);
        e >>= 1;
    }
    acc
}

#[test]
fn lfsr_polynomial_is_primitive() {
    // x has order exactly 2^32 - 1 modulo p iff x^(2^32-1) = 1 and x^((2^32-1)/q) != 1 for
    // every prime factor q of 2^32 - 1 = 3 * 5 * 17 * 257 * 65537. (Order 2^32 - 1 also
    // implies p is irreducible, hence primitive.)
    let p = Lfsr::POLYNOMIAL;
    let n = Lfsr::PERIOD;
    assert_eq!(3u64 * 5 * 17 * 257 * 65537, n);
    assert_eq!(gf2_powmod(2, n, p), 1, "x^(2^32-1) must be 1");
    for q in [3u64, 5, 17, 257, 65537] {
        assert_ne!(gf2_powmod(2, n / q, p), 1, "x^((2^32-1)/{q}) must not be 1");
    }
}

proptest! {
    #[test]
    fn lfsr_bit_step_multiplies_the_state_by_x_mod_p(seed: u32) {
        let mut l = Lfsr::new(seed);
        let before = l.state() as u64;
        let after = l.step_bit() as u64;
        prop_assert_eq!(after, gf2_mulmod(before, 2, Lfsr::POLYNOMIAL));
    }

    #[test]
    fn lfsr_word_equals_32_bit_steps(seed: u32) {
        let mut word = Lfsr::new(seed);
        let mut bits = Lfsr::new(seed);
        for _ in 0..3 {
            let w = word.next_u32();
            for _ in 0..32 {
                bits.step_bit();
            }
            prop_assert_eq!(w, bits.state());
        }
        // and one word is multiplication by x^32 mod p
        let mut l = Lfsr::new(seed);
        let before = l.state() as u64;
        let x32 = gf2_powmod(2, 32, Lfsr::POLYNOMIAL);
        prop_assert_eq!(l.next_u32() as u64, gf2_mulmod(before, x32, Lfsr::POLYNOMIAL));
    }

    #[test]
    fn lfsr_state_is_never_zero_and_seeds_map_to_themselves(seed: u32) {
        let mut l = Lfsr::new(seed);
        prop_assert_eq!(l.state(), if seed == 0 { Lfsr::ZERO_SEED_STATE } else { seed });
        for _ in 0..64 {
            prop_assert_ne!(l.next_u32(), 0);
        }
    }

    #[test]
    fn lfsr_fraction_takes_the_top_bits_of_the_next_words(seed: u32, k in 1u32..=64) {
        let mut a = Lfsr::new(seed);
        let mut b = Lfsr::new(seed);
        let got = a.fraction_bits(k);
        let expect = if k <= 32 { (b.next_u32() >> (32 - k)) as u64 } else { b.next_u64() >> (64 - k) };
        prop_assert_eq!(got, expect);
        prop_assert!(k == 64 || got < (1u64 << k));
    }
}

proptest! {
    #[test]
    fn lfsr_streams_are_reproducible_and_distinct(seed: u64, stream in 0u64..1_000_000) {
        prop_assert_eq!(Lfsr::for_stream(seed, stream), Lfsr::for_stream(seed, stream));
        // A 64-bit -> 32-bit map can collide, but two adjacent streams colliding AND their
        // next words matching would mean the mix ignores `stream`.
        let (mut a, mut b) = (Lfsr::for_stream(seed, stream), Lfsr::for_stream(seed, stream + 1));
        prop_assert_ne!((a.next_u32(), a.next_u32()), (b.next_u32(), b.next_u32()));
    }
}

#[test]
fn lfsr_seed_zero_is_replaced_and_runs() {
    let mut l = Lfsr::new(0);
    assert_eq!(l.state(), Lfsr::ZERO_SEED_STATE);
    let first = l.next_u32();
    assert_ne!(first, 0);
    assert_ne!(first, Lfsr::ZERO_SEED_STATE);
    assert_eq!(Lfsr::default(), Lfsr::new(0));
}

// ---------------------------------------------------------------------------------------------
// Loihi rules
// ---------------------------------------------------------------------------------------------

fn decay_const() -> impl Strategy<Value = Decay12> {
    (0i64..=4096).prop_map(|d| Decay12::new(d, "d").expect("0..=4096 is valid"))
}

proptest! {
    #[test]
    fn decay12_truncates_toward_zero(x: i32, d in decay_const()) {
        // Exact rational x*(4096-d)/4096, truncated toward zero by i128 division.
        let expect = (x as i128 * (4096 - d.get() as i128)) / 4096;
        prop_assert_eq!(decay12(x, d) as i128, expect);
    }

    #[test]
    fn decay12_is_sign_symmetric(x in (i32::MIN + 1)..=i32::MAX, d in decay_const()) {
        prop_assert_eq!(decay12(-x, d), -decay12(x, d));
    }

    #[test]
    fn decay12_never_grows_magnitude_nor_flips_sign(x: i32, d in decay_const()) {
        let y = decay12(x, d);
        prop_assert!((y as i64).abs() <= (x as i64).abs());
        prop_assert!(y == 0 || y.signum() == x.signum());
    }

    #[test]
    fn decay12_is_monotone_in_x(x: i32, y: i32, d in decay_const()) {
        let (a, b) = (x.min(y), x.max(y));
        prop_assert!(decay12(a, d) <= decay12(b, d));
    }

    #[test]
    fn decay12_of_0_keeps_and_of_4096_clears(x: i32) {
        prop_assert_eq!(decay12(x, Decay12::new(0, "d").unwrap()), x);
        prop_assert_eq!(decay12(x, Decay12::new(4096, "d").unwrap()), 0);
    }

    #[test]
    fn wrap24_is_congruent_mod_2_pow_24_and_lands_in_lava_range(x: i64) {
        let y = wrap24(x) as i128;
        prop_assert_eq!((x as i128 - y).rem_euclid(1 << 24), 0);
        prop_assert!(y > -(1 << 23) && y <= (1 << 23));
    }

    #[test]
    fn wrap24_lava_equals_modular_wrap_on_the_reachable_domain(x in (-3 * MAX_UV + 1)..=(3 * MAX_UV)) {
        prop_assert_eq!(wrap24_lava(x), wrap24(x as i64));
    }

    #[test]
    fn wrap24_lava_follows_the_literal_two_step_rule(x: i32) {
        // Lava: w = x > M ? x - 2M : x;  w = w <= -M ? x + 2M : w  (note: x, not w, in the
        // second branch). Computed here in i128 so that nothing can overflow.
        let m = 1i128 << 23;
        let xi = x as i128;
        let w = if xi > m { xi - 2 * m } else { xi };
        let w = if w <= -m { xi + 2 * m } else { w };
        prop_assert_eq!(wrap24_lava(x) as i128, w);
    }

    #[test]
    fn sat24_never_leaves_range(x: i64) {
        let y = sat24(x) as i64;
        prop_assert!((-(1 << 23) + 1..=(1 << 23) - 1).contains(&y));
        prop_assert_eq!(y as i128, (x as i128).clamp(-(1 << 23) + 1, (1 << 23) - 1));
    }

    #[test]
    fn sat24_is_monotone(x: i64, y: i64) {
        prop_assert!(sat24(x.min(y)) <= sat24(x.max(y)));
    }

    #[test]
    fn shl6_is_exact_multiplication_by_64_on_loihi_fields(a_in: i16, vth in 0i32..(1 << 17)) {
        prop_assert_eq!(shl6(a_in as i32) as i64, a_in as i64 * 64);
        prop_assert_eq!(shl6(vth) as i64, vth as i64 * 64);
    }
}

#[test]
fn wrap24_keeps_plus_2_pow_23_and_maps_minus_2_pow_23_to_plus() {
    // The `>` / `<=` asymmetry of Lava's two np.where lines.
    assert_eq!(wrap24_lava(MAX_UV), MAX_UV);
    assert_eq!(wrap24_lava(-MAX_UV), MAX_UV);
    assert_eq!(wrap24_lava(MAX_UV + 1), -MAX_UV + 1);
    assert_eq!(wrap24_lava(-MAX_UV + 1), -MAX_UV + 1);
    assert_eq!(wrap24(MAX_UV as i64), MAX_UV);
    assert_eq!(wrap24(-(MAX_UV as i64)), MAX_UV);
}

#[test]
fn decay_fields_out_of_range_are_refused_by_name() {
    for (d, ok) in [(-1i64, false), (0, true), (4096, true), (4097, false)] {
        assert_eq!(Decay12::new(d, "d").is_ok(), ok, "d = {d}");
    }
}

// ---------------------------------------------------------------------------------------------
// Conversions between formats
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn from_f64_nearest_errs_by_at_most_half_an_lsb(x in -127.0f64..127.0) {
        let w: WeightQ8_8 = from_f64_nearest(x).unwrap();
        prop_assert!((to_f64(w) - x).abs() <= 0.5 / 256.0);
        let l: LatentQ8_24 = from_f64_nearest(x).unwrap();
        prop_assert!((to_f64(l) - x).abs() <= 0.5 / (1u64 << 24) as f64);
        let e: ErrorQ1_15 = from_f64_nearest(x / 128.0).unwrap();
        prop_assert!((to_f64(e) - x / 128.0).abs() <= 0.5 / 32768.0);
    }

    #[test]
    fn from_f64_nearest_rounds_ties_to_even(k in -32000i32..32000) {
        // (k + 1/2) * 2^-8 is a tie between raw k and k+1 of Q8.8.
        let x = (k as f64 + 0.5) / 256.0;
        let w: WeightQ8_8 = from_f64_nearest(x).unwrap();
        let raw = w.to_bits() as i32;
        prop_assert!(raw == k || raw == k + 1);
        prop_assert_eq!(raw.rem_euclid(2), 0);
    }

    #[test]
    fn fixed_to_f64_to_fixed_round_trips_exactly(raw16: i16, raw32: i32) {
        let w = WeightQ8_8::from_bits(raw16);
        prop_assert_eq!(from_f64_nearest::<WeightQ8_8>(to_f64(w)), Ok(w));
        let e = ErrorQ1_15::from_bits(raw16);
        prop_assert_eq!(from_f64_nearest::<ErrorQ1_15>(to_f64(e)), Ok(e));
        let l = LatentQ8_24::from_bits(raw32);
        prop_assert_eq!(from_f64_nearest::<LatentQ8_24>(to_f64(l)), Ok(l));
        let m = MembraneQ24_8::from_bits(raw32);
        prop_assert_eq!(from_f64_nearest::<MembraneQ24_8>(to_f64(m)), Ok(m));
    }

    #[test]
    fn to_f64_is_raw_over_2_pow_frac(raw16: i16, raw32: i32) {
        prop_assert_eq!(to_f64(WeightQ8_8::from_bits(raw16)), raw16 as f64 / 256.0);
        prop_assert_eq!(to_f64(LatentQ8_24::from_bits(raw32)), raw32 as f64 / 16777216.0);
    }

    #[test]
    fn from_f64_out_of_range_is_refused_and_saturating_clamps(x in prop_oneof![128.0f64..1e30, -1e30f64..-128.01]) {
        let refused = matches!(from_f64_nearest::<WeightQ8_8>(x), Err(ArithError::OutOfFormatRange { .. }));
        prop_assert!(refused);
        let s: WeightQ8_8 = from_f64_saturating(x).unwrap();
        prop_assert_eq!(s, if x > 0.0 { WeightQ8_8::MAX } else { WeightQ8_8::MIN });
    }

    #[test]
    fn widening_conversions_are_exact_and_narrowing_back_restores(raw: i16, mode in prop::sample::select(Rounding::ALL.to_vec()), seed: u32) {
        let mut l = Lfsr::new(seed);
        let w = WeightQ8_8::from_bits(raw);
        let latent: LatentQ8_24 = convert_round(w, mode, &mut l);
        prop_assert_eq!(to_f64(latent), to_f64(w));
        prop_assert_eq!(convert_exact::<_, LatentQ8_24>(w), Ok(latent));
        let back: WeightQ8_8 = convert_round(latent, mode, &mut l);
        prop_assert_eq!(back, w);
        let m: MembraneQ24_8 = convert_round(w, mode, &mut l);
        prop_assert_eq!(m.to_bits(), raw as i32);
        let e = ErrorQ1_15::from_bits(raw);
        let el: LatentQ8_24 = convert_round(e, mode, &mut l);
        prop_assert_eq!(to_f64(el), to_f64(e));
    }

    #[test]
    fn narrowing_q8_24_to_q8_8_rounds_the_dropped_16_bits_like_shr_round(raw: i32, mode in det_mode()) {
        let latent = LatentQ8_24::from_bits(raw);
        let got: WeightQ8_8 = convert_round(latent, mode, &mut Lfsr::new(1));
        let expect = round_ref(raw as i128, 1 << 16, mode).clamp(i16::MIN as i128, i16::MAX as i128);
        prop_assert_eq!(got.to_bits() as i128, expect);
    }

    #[test]
    fn stochastic_narrowing_q8_24_to_q8_8_lands_on_a_neighbour(raw: i32, seed: u32) {
        let got: WeightQ8_8 = convert_round(LatentQ8_24::from_bits(raw), Rounding::Stochastic, &mut Lfsr::new(seed));
        let f = floor_div(raw as i128, 1 << 16);
        let got = got.to_bits() as i128;
        if f << 16 == raw as i128 {
            prop_assert_eq!(got, f);
        } else {
            prop_assert!(got == f || got == (f + 1).min(i16::MAX as i128));
        }
    }

    #[test]
    fn from_f64_saturating_equals_nearest_inside_the_range(x in -128.0f64..127.99) {
        prop_assert_eq!(from_f64_saturating::<WeightQ8_8>(x), from_f64_nearest::<WeightQ8_8>(x));
    }

    #[test]
    fn narrowing_q24_8_to_q8_8_saturates(raw: i32, mode in det_mode()) {
        let m = MembraneQ24_8::from_bits(raw);
        let got: WeightQ8_8 = convert_round(m, mode, &mut Lfsr::new(1));
        prop_assert_eq!(got.to_bits() as i128, (raw as i128).clamp(i16::MIN as i128, i16::MAX as i128));
    }

    #[test]
    fn convert_exact_succeeds_iff_value_is_representable(raw: i32) {
        let latent = LatentQ8_24::from_bits(raw);
        let fits = raw & 0xFFFF == 0; // Q8.24 -> Q8.8 drops 16 fraction bits; same range
        let got = convert_exact::<_, WeightQ8_8>(latent);
        prop_assert_eq!(got.is_ok(), fits);
        if let Ok(w) = got { prop_assert_eq!(to_f64(w), to_f64(latent)); }
        let m = MembraneQ24_8::from_bits(raw);
        let got = convert_exact::<_, WeightQ8_8>(m);
        prop_assert_eq!(got.is_ok(), (i16::MIN as i32..=i16::MAX as i32).contains(&raw));
    }
}

#[test]
fn non_finite_floats_are_refused() {
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(matches!(
            from_f64_nearest::<WeightQ8_8>(x),
            Err(ArithError::NotFinite { .. })
        ));
    }
    assert!(from_f64_saturating::<WeightQ8_8>(f64::NAN).is_err());
    assert_eq!(
        from_f64_saturating::<WeightQ8_8>(f64::INFINITY),
        Ok(WeightQ8_8::MAX)
    );
}

// ---------------------------------------------------------------------------------------------
// Integer square root and L2 normalisation
// ---------------------------------------------------------------------------------------------

/// Q1.15 delta by the definition: nearest, ties away from zero, of (g * 2^15) / norm, computed
/// with truncating division and an explicit remainder test, then saturated.
fn delta_ref(g: i32, norm: u64) -> i128 {
    if norm == 0 {
        return 0;
    }
    let num = (g as i128) << 15;
    let den = norm as i128;
    let mut q = num / den;
    let rem = num % den;
    if 2 * rem.abs() >= den {
        q += num.signum();
    }
    q.clamp(-32768, 32767)
}

proptest! {
    #[test]
    fn isqrt_is_the_floor_of_the_square_root(n: u64) {
        let r = isqrt_u64(n) as u128;
        prop_assert!(r * r <= n as u128);
        prop_assert!((r + 1) * (r + 1) > n as u128);
    }

    #[test]
    fn isqrt_is_exact_around_perfect_squares(r in 0u64..=u32::MAX as u64) {
        let sq = r * r;
        prop_assert_eq!(isqrt_u64(sq), r);
        if sq > 0 { prop_assert_eq!(isqrt_u64(sq - 1), r - 1); }
        prop_assert_eq!(isqrt_u64(sq + 2 * r), r); // (r+1)^2 - 1
    }

    #[test]
    fn l2_normalise_equals_i128_reference(g in prop::collection::vec(-512i32..=512, 1..16)) {
        let mut out = vec![ErrorQ1_15::ZERO; g.len()];
        let norm = l2_normalise(&g, &mut out).unwrap();
        let sum: i128 = g.iter().map(|&x| (x as i128) * (x as i128)).sum();
        let r = isqrt_u64(sum as u64);
        prop_assert_eq!(norm, r);
        for (k, &x) in g.iter().enumerate() {
            prop_assert_eq!(out[k].to_bits() as i128, delta_ref(x, r));
        }
    }

    #[test]
    fn normalise_q1_15_rounds_to_nearest_ties_away(g: i32, norm in 1u64..=(1u64 << 32)) {
        prop_assert_eq!(normalise_q1_15(g, norm).to_bits() as i128, delta_ref(g, norm));
    }

    #[test]
    fn normalised_errors_keep_sign_and_stay_in_q1_15(g in prop::collection::vec(-256i32..=256, 1..12)) {
        let mut out = vec![ErrorQ1_15::ZERO; g.len()];
        l2_normalise(&g, &mut out).unwrap();
        for (d, &x) in out.iter().zip(&g) {
            prop_assert!(d.to_bits() == 0 || d.to_bits().signum() as i32 == x.signum());
        }
        // Near-unit norm: with r = isqrt(S) <= sqrt(S) < r + 1, the unrounded deltas g/r have
        // sum of squares S/r^2 in [1, ((r+1)/r)^2); saturation at 1 keeps at least one term at
        // ~1 and lowers none below its share; each rounding moves a square by < 2^-14.
        let sum: u64 = g.iter().map(|&x| (x as i64 * x as i64) as u64).sum();
        if sum > 0 {
            let r = isqrt_u64(sum) as f64;
            let s: f64 = out.iter().map(|d| to_f64(*d) * to_f64(*d)).sum();
            let slack = g.len() as f64 / 16384.0;
            prop_assert!(s >= 1.0 - slack && s <= ((r + 1.0) / r).powi(2) + slack, "sum of squares {s}, r {r}");
        }
    }
}

#[test]
fn a_lone_error_saturates_to_just_below_one_and_zero_vector_gives_zero() {
    let mut out = [ErrorQ1_15::ZERO; 3];
    assert_eq!(l2_normalise(&[0, 7, 0], &mut out), Ok(7));
    assert_eq!(out[1].to_bits(), 32767); // 7 * 2^15 / 7 = 32768 saturates
    assert_eq!(l2_normalise(&[0, -7, 0], &mut out), Ok(7));
    assert_eq!(out[1].to_bits(), -32768); // -1.0 is exact
    assert_eq!(l2_normalise(&[0, 0, 0], &mut out), Ok(0));
    assert!(out.iter().all(|d| d.to_bits() == 0));
}

#[test]
fn l2_refuses_mismatched_lengths_and_sum_overflow() {
    let mut out = [ErrorQ1_15::ZERO; 2];
    assert!(matches!(
        l2_normalise(&[1, 2, 3], &mut out),
        Err(ArithError::LengthMismatch {
            inputs: 3,
            outputs: 2,
            ..
        })
    ));
    let big = [i32::MIN; 5]; // (2^31)^2 = 2^62: the 4th square brings the sum to 2^64
    assert!(matches!(
        sum_of_squares(&big),
        Err(ArithError::AccumulatorOverflow { index: 3, .. })
    ));
    assert_eq!(sum_of_squares(&[i32::MIN; 3]), Ok(3u64 << 62));
}

// ---------------------------------------------------------------------------------------------
// Spike times
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn intensity_encoding_is_floor_of_255_minus_p_times_t_max_over_255(p: u8, t_max in 1u16..=1024) {
        let win = TimeWindow::new(t_max).unwrap();
        let t = win.encode_intensity(p).get() as u64;
        let expect = ((255 - p as u64) * t_max as u64) / 255;
        prop_assert_eq!(t, expect);
        prop_assert!(t <= t_max as u64);
        prop_assert_eq!(win.fired(win.encode_intensity(p)), p != 0);
    }

    #[test]
    fn intensity_encoding_is_monotone_decreasing(p: u8, q: u8, t_max in 1u16..=1024) {
        let win = TimeWindow::new(t_max).unwrap();
        let (a, b) = (p.min(q), p.max(q));
        prop_assert!(win.encode_intensity(a) >= win.encode_intensity(b));
    }

    #[test]
    fn spike_times_accept_exactly_0_to_t_max(t in -5i64..2000, t_max in 1u16..=1024) {
        let win = TimeWindow::new(t_max).unwrap();
        let ok = (0..=t_max as i64).contains(&t);
        prop_assert_eq!(win.time(t).is_ok(), ok);
        if let Ok(st) = win.time(t) {
            prop_assert_eq!(win.fired(st), t < t_max as i64);
        }
    }
}
