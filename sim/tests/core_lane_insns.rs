//! The lane-access and reduction instructions of the learning kernels (`vred.*`, `vget`,
//! `vset`): their results against a plain computation of the same values, their documented
//! costs, and the lane fault.

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
    assert_eq!(c.axon_first_arrivals(), &[1, sim::core::NO_SPIKE, 0]);
    // A new sample clears the latches (and resumes the processor at the barrier).
    c.begin_sample(r.done).unwrap();
    assert_eq!(c.axon_first_arrivals(), &[sim::core::NO_SPIKE; 3]);
    // Axon 3 does not exist on a 3-axon core: a typed fault.
    match c.advance(Cycle(u64::MAX)) {
        Err(CoreFault::Axon {
            axon: 3, axons: 3, ..
        }) => {}
        other => panic!("{other:?}"),
    }
}
