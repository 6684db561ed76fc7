//! The golden Loihi LIF (`isa::arith::loihi`): the four golden vectors of
//! `reference/hardware.md` §1.3 (computed there by re-implementing Lava's `PyLifModelBitAcc` in
//! numpy), parameter validation, and agreement with an `i128` transcription of Lava's code for
//! random parameters and inputs, in both reset modes.

use isa::arith::loihi::{
    step, step_with_reset, validate_a_in, BiasTarget, LoihiLifParams, LoihiLifState, ResetMode,
    MAX_UV, V_MAX, V_MIN,
};
use isa::arith::ArithError;
use proptest::prelude::*;

/// Run `steps` steps from u = v = 0 and collect (u, v, spiked) after each.
fn run(params: &LoihiLifParams, a_in: &[i16]) -> Vec<(i32, i32, bool)> {
    let mut state = LoihiLifState::default();
    a_in.iter()
        .map(|&a| {
            let s = step(params, &mut state, a);
            (state.u.get(), state.v.get(), s)
        })
        .collect()
}

/// The five parameter fields `(du, dv, vth, bias_mant, bias_exp)`.
type Fields = (i64, i64, i64, i64, i64);

fn params(du: i64, dv: i64, vth: i64, bias_mant: i64, bias_exp: i64) -> LoihiLifParams {
    LoihiLifParams::new(du, dv, vth, bias_mant, bias_exp).expect("golden parameters are valid")
}

/// Runs golden vector `k` of hardware.md §1.3 through the golden model.
fn check_vector(k: usize) {
    let g = &isa::arith::loihi::LAVA_GOLDEN_VECTORS[k];
    let got = run(&params(g.du, g.dv, g.vth, g.bias_mant, g.bias_exp), &g.a_in);
    assert_eq!(got, g.expected.to_vec());
}

#[test]
fn golden_vector_1_du410_dv205_vth10_constant_input_3() {
    check_vector(0);
}

#[test]
fn golden_vector_2_full_current_decay_no_leak_integrates_320_per_step() {
    check_vector(1);
    // The table's second vector is exactly +320 per step, as hardware.md states it.
    let g = &isa::arith::loihi::LAVA_GOLDEN_VECTORS[1];
    let formula: Vec<_> = (1..=10).map(|k| (320, 320 * k, false)).collect();
    assert_eq!(g.expected.to_vec(), formula);
}

#[test]
fn golden_vector_3_bias_only_with_full_voltage_decay_holds_40() {
    check_vector(2);
}

#[test]
fn golden_vector_4_negative_bias_and_varying_input() {
    check_vector(3);
}

#[test]
fn every_field_out_of_range_is_refused_by_name() {
    let cases: [(Fields, &str); 10] = [
        ((-1, 0, 0, 0, 0), "du"),
        ((4096, 0, 0, 0, 0), "du"),
        ((0, -1, 0, 0, 0), "dv"),
        ((0, 4096, 0, 0, 0), "dv"),
        ((0, 0, -1, 0, 0), "vth"),
        ((0, 0, 1 << 17, 0, 0), "vth"),
        ((0, 0, 0, -4097, 0), "bias_mant"),
        ((0, 0, 0, 4096, 0), "bias_mant"),
        ((0, 0, 0, 0, -5), "bias_exp"),
        ((0, 0, 0, 0, 4), "bias_exp"),
    ];
    for ((du, dv, vth, bm, be), name) in cases {
        match LoihiLifParams::new(du, dv, vth, bm, be) {
            Err(ArithError::FieldOutOfRange { field, .. }) => assert_eq!(field, name),
            other => panic!("{name}: expected a range error, got {other:?}"),
        }
    }
    // The extremes themselves are accepted.
    assert!(LoihiLifParams::new(4095, 4095, (1 << 17) - 1, -4096, -4).is_ok());
    assert!(LoihiLifParams::new(0, 0, 0, 4095, 3).is_ok());
}

#[test]
fn a_in_outside_16_bits_is_refused_by_name() {
    assert_eq!(validate_a_in(-32768), Ok(i16::MIN));
    assert_eq!(validate_a_in(32767), Ok(i16::MAX));
    for bad in [-32769i64, 32768, i64::MAX] {
        match validate_a_in(bad) {
            Err(ArithError::FieldOutOfRange { field, value, .. }) => {
                assert_eq!((field, value), ("a_in", bad));
            }
            other => panic!("a_in = {bad}: {other:?}"),
        }
    }
}

#[test]
fn negative_bias_exponent_shifts_right_flooring_like_numpy() {
    // np.right_shift(-3, 1) == -2 and np.right_shift(5, 2) == 1 (arithmetic shifts).
    assert_eq!(params(0, 0, 0, -3, -1).effective_bias(), -2);
    assert_eq!(params(0, 0, 0, 5, -2).effective_bias(), 1);
    assert_eq!(params(0, 0, 0, -4096, 3).effective_bias(), -32768);
    assert_eq!(params(0, 0, 7, 0, 0).effective_vth(), 448);
}

/// Lava's `PyLifModelBitAcc` step transcribed line by line in i128 (hardware.md §1.3), with
/// a reset-mode switch. Returns (u, v, spiked).
fn lava_ref(
    (du, dv, vth, bm, be): Fields,
    (u, v): (i128, i128),
    a_in: i16,
    subtract: bool,
) -> (i128, i128, bool) {
    let max_uv: i128 = 1 << 23;
    let bias: i128 = if be >= 0 {
        (bm as i128) << be
    } else {
        (bm as i128) >> (-be)
    };
    let vth_s = (vth as i128) << 6;
    let np_decay = |x: i128, d: i128| -> i128 {
        let p = x * (4096 - d);
        p.signum() * (p.abs() >> 12)
    };
    let decayed_curr = np_decay(u, du as i128 + 1) + ((a_in as i128) << 6);
    let mut wrapped = if decayed_curr > max_uv {
        decayed_curr - 2 * max_uv
    } else {
        decayed_curr
    };
    if wrapped <= -max_uv {
        wrapped = decayed_curr + 2 * max_uv;
    }
    let updated_volt = np_decay(v, dv as i128) + wrapped + bias;
    let v_new = updated_volt.clamp(-max_uv + 1, max_uv - 1);
    let spiked = v_new > vth_s;
    let v_after = match (spiked, subtract) {
        (false, _) => v_new,
        (true, false) => 0,
        (true, true) => v_new - vth_s,
    };
    (wrapped, v_after, spiked)
}

fn field_values() -> impl Strategy<Value = Fields> {
    (
        prop_oneof![0i64..=4095, Just(0), Just(4095)],
        prop_oneof![0i64..=4095, Just(0), Just(4095)],
        prop_oneof![0i64..(1 << 17), Just((1 << 17) - 1), 0i64..64],
        -4096i64..=4095,
        -4i64..=3,
    )
}

proptest! {
    #[test]
    fn golden_lif_equals_lava_transcription_for_random_inputs(
        f in field_values(),
        inputs in prop::collection::vec(any::<i16>(), 1..40),
        subtract: bool,
    ) {
        let p = LoihiLifParams::new(f.0, f.1, f.2, f.3, f.4).unwrap();
        let reset = if subtract { ResetMode::Subtract } else { ResetMode::Zero };
        let mut state = LoihiLifState::default();
        let mut r = (0i128, 0i128);
        for &a in &inputs {
            let spiked = step_with_reset(&p, &mut state, a, reset);
            let (u, v, s) = lava_ref(f, r, a, subtract);
            prop_assert_eq!((state.u.get() as i128, state.v.get() as i128, spiked), (u, v, s));
            r = (u, v);
        }
    }

    #[test]
    fn lif_state_never_leaves_its_24_bit_ranges(
        f in field_values(),
        inputs in prop::collection::vec(prop_oneof![any::<i16>(), Just(i16::MAX), Just(i16::MIN)], 1..60),
        subtract: bool,
    ) {
        let p = LoihiLifParams::new(f.0, f.1, f.2, f.3, f.4).unwrap();
        let reset = if subtract { ResetMode::Subtract } else { ResetMode::Zero };
        let mut state = LoihiLifState::default();
        for &a in &inputs {
            step_with_reset(&p, &mut state, a, reset);
            prop_assert!(state.u.get() > -MAX_UV && state.u.get() <= MAX_UV);
            prop_assert!(state.v.get() >= V_MIN && state.v.get() <= V_MAX);
        }
    }

    #[test]
    fn reset_to_zero_mode_is_exactly_the_lava_step(
        f in field_values(),
        inputs in prop::collection::vec(any::<i16>(), 1..40),
    ) {
        let p = LoihiLifParams::new(f.0, f.1, f.2, f.3, f.4).unwrap();
        let (mut a, mut b) = (LoihiLifState::default(), LoihiLifState::default());
        for &x in &inputs {
            prop_assert_eq!(step(&p, &mut a, x), step_with_reset(&p, &mut b, x, ResetMode::Zero));
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn reset_by_subtraction_keeps_the_excess_above_threshold(
        f in field_values(),
        inputs in prop::collection::vec(any::<i16>(), 1..40),
    ) {
        // The current never depends on v, so both modes see the same u; after a spike the
        // subtracting neuron keeps v - vth<<6, which is in [1, 2^23 - 1 - vth<<6].
        let p = LoihiLifParams::new(f.0, f.1, f.2, f.3, f.4).unwrap();
        let (mut z, mut s) = (LoihiLifState::default(), LoihiLifState::default());
        for &x in &inputs {
            let before = s;
            let spiked = step_with_reset(&p, &mut s, x, ResetMode::Subtract);
            step(&p, &mut z, x);
            prop_assert_eq!(z.u, s.u);
            if spiked {
                prop_assert!(s.v.get() >= 1 && s.v.get() <= V_MAX - p.effective_vth());
                let (_, v_after, _) = lava_ref(f, (before.u.get() as i128, before.v.get() as i128), x, true);
                prop_assert_eq!(s.v.get() as i128, v_after);
            }
        }
    }

    #[test]
    fn delayed_subtraction_matches_an_i128_transcription(
        f in field_values(),
        inputs in prop::collection::vec(any::<i16>(), 1..40),
    ) {
        // snnTorch's delayed reset, transcribed: no reset in the spike's step; the next step's
        // saturating sum subtracts vth << 6 (`mem = beta·mem + input − reset·threshold`).
        let np_decay = |x: i128, d: i128| -> i128 {
            let p = x * (4096 - d);
            p.signum() * (p.abs() >> 12)
        };
        let bias: i128 = if f.4 >= 0 { (f.3 as i128) << f.4 } else { (f.3 as i128) >> (-f.4) };
        let vth_s = (f.2 as i128) << 6;
        let p = LoihiLifParams::new(f.0, f.1, f.2, f.3, f.4).unwrap();
        let mut s = LoihiLifState::default();
        let (mut u, mut v, mut pending) = (0i128, 0i128, false);
        for &x in &inputs {
            // The current as Lava computes it (the voltage plays no part in it).
            let (u_new, _, _) = lava_ref(f, (u, v), x, true);
            let less = if pending { vth_s } else { 0 };
            let v_new = (np_decay(v, f.1 as i128) + u_new + bias - less)
                .clamp(-(1 << 23) + 1, (1 << 23) - 1);
            let spiked = v_new > vth_s;
            prop_assert_eq!(step_with_reset(&p, &mut s, x, ResetMode::SubtractNext), spiked);
            prop_assert_eq!((s.u.get() as i128, s.v.get() as i128), (u_new, v_new));
            (u, v, pending) = (u_new, v_new, spiked);
        }
    }

    #[test]
    fn bias_into_the_current_matches_an_i128_transcription(
        f in field_values(),
        inputs in prop::collection::vec(prop_oneof![any::<i16>(), Just(i16::MAX), Just(i16::MIN)], 1..60),
        reset in prop_oneof![Just(ResetMode::Zero), Just(ResetMode::Subtract), Just(ResetMode::SubtractNext)],
    ) {
        // The bias joins the input in the current's sum, reduced modulo 2^24 into
        // (−2^23, 2^23]; the voltage gets the current and no bias.
        let np_decay = |x: i128, d: i128| -> i128 {
            let p = x * (4096 - d);
            p.signum() * (p.abs() >> 12)
        };
        let bias: i128 = if f.4 >= 0 { (f.3 as i128) << f.4 } else { (f.3 as i128) >> (-f.4) };
        let vth_s = (f.2 as i128) << 6;
        let p = LoihiLifParams::new(f.0, f.1, f.2, f.3, f.4)
            .unwrap()
            .with_bias_target(BiasTarget::Current);
        let mut s = LoihiLifState::default();
        let (mut u, mut v, mut pending) = (0i128, 0i128, false);
        for &x in &inputs {
            let sum = np_decay(u, f.0 as i128 + 1) + ((x as i128) << 6) + bias;
            let u_new = (sum + (1 << 23) - 1).rem_euclid(1 << 24) - (1 << 23) + 1;
            let less = if pending { vth_s } else { 0 };
            let v_sum = (np_decay(v, f.1 as i128) + u_new - less).clamp(-(1 << 23) + 1, (1 << 23) - 1);
            let spiked = v_sum > vth_s;
            let v_new = match (spiked, reset) {
                (true, ResetMode::Zero) => 0,
                (true, ResetMode::Subtract) => v_sum - vth_s,
                _ => v_sum,
            };
            prop_assert_eq!(step_with_reset(&p, &mut s, x, reset), spiked);
            prop_assert_eq!((s.u.get() as i128, s.v.get() as i128), (u_new, v_new));
            (u, v, pending) = (u_new, v_new, spiked && reset == ResetMode::SubtractNext);
        }
        // With no bias both targets are the same neuron.
        let q = LoihiLifParams::new(f.0, f.1, f.2, 0, 0).unwrap();
        let (mut a, mut b) = (LoihiLifState::default(), LoihiLifState::default());
        for &x in &inputs {
            prop_assert_eq!(
                step_with_reset(&q, &mut a, x, reset),
                step_with_reset(&q.with_bias_target(BiasTarget::Current), &mut b, x, reset)
            );
            prop_assert_eq!(a, b);
        }
    }

}
