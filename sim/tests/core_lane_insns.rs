//! The lane-access and reduction instructions of the learning kernels (`vred.*`, `vget`,
//! `vset`) and the per-neuron decay (`vdecay` field form): their results against a plain
//! computation of the same values, their documented costs, and the lane fault.

use isa::insn::{Field, Reg};
use proptest::prelude::*;
use sim::core::{CoreConfig, CoreFault, Cycle, Neurocore};

fn core(src: &str, neurons: u32) -> Neurocore {
    let program = isa::asm::assemble(src, "test.s").unwrap_or_else(|e| panic!("{e}"));
    Neurocore::new(CoreConfig::standalone(neurons, 1), &program).expect("core")
}

fn reg(c: &Neurocore, r: u8) -> i32 {
    c.reg(Reg::new(r).unwrap())
}

#[test]
fn reductions_lane_access_and_costs() {
    let n = 40u32;
    let src = "\
        vmovi f1, 5\n\
        li r1, 3\n\
        li r2, -7\n\
        vset f1, r1, r2\n\
        li r1, 10\n\
        li r2, 100\n\
        vset f1, r1, r2\n\
        vred.min r4, f1\n\
        vred.max r5, f1\n\
        vred.sum r6, f1\n\
        vget r7, f1, r1\n\
        li r3, 5\n\
        vcmps.gt m1, f1, r3\n\
        vred.sum r8, f1, m1\n\
        mxor m2, m1, m1\n\
        vred.min r9, f1, m2\n\
        vred.max r10, f1, m2\n\
        vred.sum r11, f1, m2\n\
        barrier\n";
    let mut c = core(src, n);
    c.advance(Cycle(u64::MAX)).expect("no fault");
    assert_eq!(reg(&c, 4), -7);
    assert_eq!(reg(&c, 5), 100);
    assert_eq!(reg(&c, 6), 5 * (n as i32 - 2) - 7 + 100);
    assert_eq!(reg(&c, 7), 100);
    assert_eq!(reg(&c, 8), 100);
    assert_eq!(reg(&c, 9), i32::MAX);
    assert_eq!(reg(&c, 10), i32::MIN);
    assert_eq!(reg(&c, 11), 0);
    let f1 = c.field(Field::new(1).unwrap());
    assert_eq!((f1[3], f1[10], f1[11]), (-7, 100, 5));
    // Scalar (1 cycle): 5 li + 2 vset + 1 vget = 8 (li of a small value is one addi).
    // Vector (1 + ceil(40 / 16) = 4): vmovi, vcmps, 7 vred = 9. Mask (1 + ceil(40/64) = 2):
    // mxor. Barrier 1.
    let vector = 1 + u64::from(n).div_ceil(16);
    let expected = 8 + 9 * vector + 2 + 1;
    assert_eq!(c.done_at(), Some(Cycle(expected)));
}

#[test]
fn per_neuron_decay_costs_one_vector_instruction() {
    // vmovi, vdecay (field), vdecay (register): three vector instructions of
    // 1 + ceil(40 / 16) = 4 cycles, li (1), barrier (1).
    let src = "vmovi f9, 100\nli r1, 100\nvdecay f1, f1, f9\nvdecay f2, f2, r1\nbarrier\n";
    let mut c = core(src, 40);
    c.advance(Cycle(u64::MAX)).expect("no fault");
    assert_eq!(c.done_at(), Some(Cycle(3 * 4 + 1 + 1)));
}

#[test]
fn lane_outside_the_core_faults() {
    for (src, lane) in [
        ("li r1, 8\nvget r2, f1, r1\nbarrier\n", 8i64),
        ("li r1, -1\nvset f1, r1, r1\nbarrier\n", -1),
    ] {
        let mut c = core(src, 8);
        match c.advance(Cycle(u64::MAX)) {
            Err(CoreFault::Lane {
                lane: l,
                neurons: 8,
                ..
            }) => assert_eq!(l, lane),
            other => panic!("{other:?}"),
        }
    }
}

proptest! {
    /// `vred.sum` is the wrapping sum of the masked lanes, `vred.min/max` their extremes,
    /// whatever the values (set lane by lane with `vset`, read back with `vget`).
    #[test]
    fn reductions_match_plain_computation(values in proptest::collection::vec(any::<i32>(), 1..24), pick in any::<u32>()) {
        let mut src = String::new();
        for (k, v) in values.iter().enumerate() {
            src += &format!("li r1, {k}\nli r2, {v}\nvset f2, r1, r2\n");
        }
        let k = pick as usize % values.len();
        src += &format!("vred.sum r3, f2\nvred.min r4, f2\nvred.max r5, f2\nli r1, {k}\nvget r6, f2, r1\nbarrier\n");
        let mut c = core(&src, values.len() as u32);
        c.advance(Cycle(u64::MAX)).expect("no fault");
        let sum = values.iter().fold(0i32, |a, &v| a.wrapping_add(v));
        prop_assert_eq!(reg(&c, 3), sum);
        prop_assert_eq!(reg(&c, 4), *values.iter().min().unwrap());
        prop_assert_eq!(reg(&c, 5), *values.iter().max().unwrap());
        prop_assert_eq!(reg(&c, 6), values[k]);
    }
}

#[test]
fn ald_reads_the_first_arrival_latch_of_each_axon() {
    let src = "\
        barrier\n\
        barrier\n\
        li r1, 2\n\
        ald r3, r1\n\
        li r1, 0\n\
        ald r4, r1\n\
        li r1, 1\n\
        ald r5, r1\n\
        barrier\n\
        li r1, 3\n\
        ald r6, r1\n\
        barrier\n";
    let program = isa::asm::assemble(src, "test.s").unwrap_or_else(|e| panic!("{e}"));
    let mut c = Neurocore::new(CoreConfig::standalone(4, 3), &program).expect("core");
    // Timestep 0: a spike on axon 2. Timestep 1: axon 2 again (not the first) and axon 0.
    c.deliver_spike(2, Cycle(0)).unwrap();
    let r = c.run_timestep().unwrap();
    c.release_barrier(r.done).unwrap();
    c.deliver_spike(2, r.done).unwrap();
    c.deliver_spike(0, r.done).unwrap();
    let r = c.run_timestep().unwrap();
    c.release_barrier(r.done).unwrap();
    let r = c.run_timestep().unwrap();
    assert_eq!(reg(&c, 3), 0);
    assert_eq!(reg(&c, 4), 1);
    assert_eq!(reg(&c, 5), i32::MAX);
    assert_eq!(c.axon_first_arrivals(), &[1, sim::core::NO_ARRIVAL, 0]);
    // A new sample clears the latches (and resumes the processor at the barrier).
    c.begin_sample(r.done).unwrap();
    assert_eq!(c.axon_first_arrivals(), &[sim::core::NO_ARRIVAL; 3]);
    // Axon 3 does not exist on a 3-axon core: a typed fault.
    match c.advance(Cycle(u64::MAX)) {
        Err(CoreFault::Axon {
            axon: 3, axons: 3, ..
        }) => {}
        other => panic!("{other:?}"),
    }
}

/// `floor(sqrt(n))` by bisection in `u128` (independent of `isa::arith::isqrt_u64`).
fn isqrt_reference(n: u64) -> u64 {
    let (mut lo, mut hi) = (0u128, 1u128 << 32); // lo^2 <= n < hi^2
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if mid * mid <= u128::from(n) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo as u64
}

/// `(a << 15) / d` to nearest, ties away from zero, saturated to Q1.15 (0 when `d` is 0), in
/// `i128` (independent of `isa::arith::normalise_q1_15`).
fn divq_reference(a: i32, d: u32) -> i32 {
    if d == 0 {
        return 0;
    }
    let num = i128::from(a) << 15;
    let d = i128::from(d);
    let q = (2 * num.abs() + d) / (2 * d);
    (num.signum() * q).clamp(-32768, 32767) as i32
}

/// Sets lanes of `f2` to `values` (`vset`), in assembly.
fn set_lanes(values: &[i32]) -> String {
    let mut src = String::new();
    for (k, v) in values.iter().enumerate() {
        src += &format!("li r1, {k}\nli r2, {v}\nvset f2, r1, r2\n");
    }
    src
}

proptest! {
    /// `vred.sumsq` is the 64-bit (modulo 2^64) sum of the exact squares of the masked lanes,
    /// `vdivq` the Q1.15 quotient of each masked lane by an unsigned divisor, other lanes kept.
    #[test]
    fn sumsq_and_divq_match_wide_integer_reference(
        values in proptest::collection::vec(prop_oneof![any::<i32>(), -(1i32 << 23)..(1i32 << 23), -100i32..100], 1..24),
        norm in prop_oneof![any::<u32>(), 0u32..4, 1u32..100_000],
    ) {
        let mut src = set_lanes(&values);
        src += &format!(
            "vred.sumsq r3, r4, f2\n\
             vcmps.gt m1, f2, r0\n\
             vred.sumsq r5, r6, f2, m1\n\
             li r7, {norm}\n\
             vmovi f6, 7\n\
             vdivq f6, f2, r7, m1\n\
             vdivq f8, f2, r7\n\
             barrier\n"
        );
        let mut c = core(&src, values.len() as u32);
        c.advance(Cycle(u64::MAX)).expect("no fault");
        let sumsq = |keep: &dyn Fn(i32) -> bool| -> u64 {
            values
                .iter()
                .filter(|&&v| keep(v))
                .fold(0u128, |a, &v| a + (i128::from(v) * i128::from(v)) as u128) as u64
        };
        let all = sumsq(&|_| true);
        let pos = sumsq(&|v| v > 0);
        prop_assert_eq!((reg(&c, 3) as u32, reg(&c, 4) as u32), ((all >> 32) as u32, all as u32));
        prop_assert_eq!((reg(&c, 5) as u32, reg(&c, 6) as u32), ((pos >> 32) as u32, pos as u32));
        let f6 = c.field(Field::new(6).unwrap());
        let f8 = c.field(Field::new(8).unwrap());
        for (k, &v) in values.iter().enumerate() {
            prop_assert_eq!(f8[k], divq_reference(v, norm), "lane {}", k);
            let masked = if v > 0 { divq_reference(v, norm) } else { 7 };
            prop_assert_eq!(f6[k], masked, "masked lane {}", k);
        }
    }

    /// `vdecay fd, fa, fk` decays each lane by its own constant: the wide-integer Loihi decay
    /// `sign(a) · ((|a| · (4096 − k)) >> 12)`, `k` clamped to 0..=4096, masked lanes kept; it
    /// costs what the register form costs.
    #[test]
    fn per_neuron_decay_matches_wide_integer_reference(
        lanes in proptest::collection::vec(
            (prop_oneof![any::<i32>(), -(1i32 << 23)..(1i32 << 23)], prop_oneof![0i32..=4096, any::<i32>()]),
            1..24,
        ),
    ) {
        let values: Vec<i32> = lanes.iter().map(|l| l.0).collect();
        let mut src = set_lanes(&values);
        for (k, &(_, d)) in lanes.iter().enumerate() {
            src += &format!("li r1, {k}\nli r2, {d}\nvset f9, r1, r2\n");
        }
        src += "vcmps.gt m1, f2, r0\n\
                vmov f3, f2\n\
                vdecay f3, f3, f9, m1\n\
                vdecay f4, f2, f9\n\
                barrier\n";
        let mut c = core(&src, values.len() as u32);
        c.advance(Cycle(u64::MAX)).expect("no fault");
        let f3 = c.field(Field::new(3).unwrap());
        let f4 = c.field(Field::new(4).unwrap());
        for (k, &(a, d)) in lanes.iter().enumerate() {
            let keep = 4096 - i128::from(d.clamp(0, 4096));
            let want = (i128::from(a).signum() * ((i128::from(a).abs() * keep) >> 12)) as i32;
            prop_assert_eq!(f4[k], want, "lane {}", k);
            prop_assert_eq!(f3[k], if a > 0 { want } else { a }, "masked lane {}", k);
        }
    }

    /// `isqrt` is the floor square root of the unsigned 64-bit `hi:lo`.
    #[test]
    fn isqrt_matches_bisection(
        hi in prop_oneof![any::<u32>(), 0u32..4, Just(u32::MAX)],
        lo in any::<u32>(),
    ) {
        let src = format!("li r1, {hi}\nli r2, {lo}\nisqrt r3, r1, r2\nbarrier\n");
        let mut c = core(&src, 1);
        c.advance(Cycle(u64::MAX)).expect("no fault");
        let n = (u64::from(hi) << 32) | u64::from(lo);
        prop_assert_eq!(u64::from(reg(&c, 3) as u32), isqrt_reference(n));
    }
}

#[test]
fn normalisation_by_instructions_equals_l2_normalise_and_costs_what_isa_md_says() {
    // A 24-bit hidden-error vector normalised with the three instructions, against the
    // documented rule (`isa::arith::l2_normalise`), and the cycle count from docs/ISA.md §2.
    let values: Vec<i32> = vec![
        (1 << 23) - 1,
        -(1 << 23),
        3,
        -4,
        0,
        1_234_567,
        -7_654_321,
        42,
        5_000_000,
        -1,
    ];
    let n = values.len() as u32;
    let mut src = set_lanes(&values);
    src += "vred.sumsq r3, r4, f2\nisqrt r5, r3, r4\nvdivq f6, f2, r5\nbarrier\n";
    let mut c = core(&src, n);
    c.advance(Cycle(u64::MAX)).expect("no fault");
    let mut want = vec![isa::arith::ErrorQ1_15::ZERO; values.len()];
    let norm = isa::arith::l2_normalise(&values, &mut want).unwrap();
    assert_eq!(u64::from(reg(&c, 5) as u32), norm);
    let got = c.field(Field::new(6).unwrap());
    for (k, w) in want.iter().enumerate() {
        assert_eq!(got[k], i32::from(w.to_bits()), "lane {k}");
    }
    // Each lane: li (1) + li (1 or 2) + vset (1); then vred.sumsq (vector, 1 + ceil(10/16)),
    // isqrt (1 + 32), vdivq (1 + 17 * ceil(10/16)), barrier 1.
    // `li` is one word when the value fits i16 or its low half is 0, else two (ISA.md §4.6).
    let li = |v: i32| -> u64 {
        if i16::try_from(v).is_ok() || v & 0xffff == 0 {
            1
        } else {
            2
        }
    };
    let setup: u64 = values.iter().map(|&v| 1 + li(v) + 1).sum();
    let expected = setup + 2 + 33 + 18 + 1;
    assert_eq!(c.done_at(), Some(Cycle(expected)));
}

#[test]
fn spikes_delivered_before_the_sample_begins_latch_timestep_minus_one() {
    // The host preloads time-0 inputs while the cores wait for the sample: those arrivals
    // latch -1 (PRELOAD_ARRIVAL) and survive begin_sample; the previous sample's latches are
    // cleared at the first preload arrival; a sample without preload clears them at its start.
    let src = "wait sample\nbarrier\nli r1, 0\nald r2, r1\nli r1, 1\nald r3, r1\nli r1, 2\nald r4, r1\nbarrier\n";
    let program = isa::asm::assemble(src, "test.s").unwrap_or_else(|e| panic!("{e}"));
    let mut c = Neurocore::new(CoreConfig::standalone(2, 3), &program).expect("core");
    c.advance(Cycle(u64::MAX)).unwrap(); // waits for the sample
    c.deliver_spike(0, c.now()).unwrap(); // preload
    assert_eq!(c.axon_first_arrivals()[0], sim::core::PRELOAD_ARRIVAL);
    c.begin_sample(c.now()).unwrap();
    c.deliver_spike(2, c.now()).unwrap(); // timestep 0
    let r = c.run_timestep().unwrap();
    c.release_barrier(r.done).unwrap();
    c.run_timestep().unwrap();
    assert_eq!((reg(&c, 2), reg(&c, 3), reg(&c, 4)), (-1, i32::MAX, 0));
    // Next sample: the processor is restarted to its `wait sample`; a preload on axon 1
    // clears the old latches of axons 0 and 2.
    c.restart(c.now()).unwrap();
    c.advance(Cycle(u64::MAX)).unwrap();
    c.deliver_spike(1, c.now()).unwrap();
    assert_eq!(
        c.axon_first_arrivals(),
        &[sim::core::NO_ARRIVAL, -1, sim::core::NO_ARRIVAL]
    );
    c.begin_sample(c.now()).unwrap();
    assert_eq!(
        c.axon_first_arrivals(),
        &[sim::core::NO_ARRIVAL, -1, sim::core::NO_ARRIVAL]
    );
    // A sample with no preload starts with every latch clear.
    c.restart(c.now()).unwrap();
    c.advance(Cycle(u64::MAX)).unwrap();
    c.begin_sample(c.now()).unwrap();
    assert_eq!(c.axon_first_arrivals(), &[sim::core::NO_ARRIVAL; 3]);
}
