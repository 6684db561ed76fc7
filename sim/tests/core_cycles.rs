//! Cycle counts of the neurocore equal the documented formulas exactly (expected counts are
//! derived from the formulas in each test), per-cycle and bulk stepping agree, backpressure
//! stalls without losing packets, and malformed programs are typed faults.

mod core_support;

use isa::chip::TileId;
use isa::image::{Destination, FanoutTable};
use isa::insn::{Field, Mask};
use sim::core::{
    CoreConfig, CoreError, CoreFault, Cycle, Neurocore, ProcessorState, SynapseMemory,
};

fn program(src: &str) -> isa::Program {
    isa::asm::assemble(src, "test.s").unwrap_or_else(|e| panic!("{e}"))
}

fn core(src: &str, neurons: u32, axons: u32) -> Neurocore {
    Neurocore::new(CoreConfig::standalone(neurons, axons), &program(src)).expect("core")
}

fn run_to_done(core: &mut Neurocore) -> Cycle {
    core.advance(Cycle(u64::MAX)).expect("no fault");
    core.done_at().expect("done")
}

/// `1 + ceil(len / lanes)` per vector instruction.
fn vector_cost(len: u64, lanes: u64) -> u64 {
    1 + len.div_ceil(lanes)
}

#[test]
fn vector_instructions_cost_one_plus_len_over_lanes() {
    for n_insn in [1u64, 5, 12] {
        let body: String = (0..n_insn)
            .map(|i| format!("vadd f1, f1, f{}\n", i % 4))
            .collect();
        let mut c = core(&format!("{body}barrier\n"), 256, 1);
        // n vector instructions over 256 neurons with 16 lanes, then the 1-cycle barrier.
        assert_eq!(run_to_done(&mut c), Cycle(n_insn * (1 + 16) + 1));
        assert_eq!(c.counters().instructions, n_insn + 1);
        assert_eq!(c.counters().vector_instructions, n_insn);
    }
    // An active range of 100 neurons: ceil(100 / 16) = 7 beats.
    let mut c = core(
        "li r1, 0\nli r2, 100\nvrange r1, r2\nvmovi f1, 3\nvmovi f2, 4\nbarrier\n",
        256,
        1,
    );
    assert_eq!(run_to_done(&mut c), Cycle(3 + 2 * vector_cost(100, 16) + 1));
    assert_eq!(&c.field(Field::new(1).unwrap())[99..101], &[3, 0]);
    // Mask instructions use the 64-bit mask datapath: 1 + ceil(len / 64).
    let mut c = core("mand m1, m0, m0\nmcount r3, m1\nbarrier\n", 300, 1);
    assert_eq!(
        run_to_done(&mut c),
        Cycle(2 * (1 + 300u64.div_ceil(64)) + 1)
    );
    assert_eq!(c.reg(isa::insn::Reg::new(3).unwrap()), 300);
}

#[test]
fn branches_and_jumps_cost_their_refill() {
    for k in [1u64, 2, 7] {
        let src = format!(
            "li r1, {k}\nloop:\naddi r1, r1, -1\nbne r1, r0, loop\nj done\ndone:\nbarrier\n"
        );
        let mut c = core(&src, 16, 1);
        // li 1; k × addi; (k − 1) taken branches at 2 and one untaken at 1; j 2; barrier 1.
        let expected = 1 + k + 2 * (k - 1) + 1 + 2 + 1;
        assert_eq!(run_to_done(&mut c), Cycle(expected), "k = {k}");
    }
}

#[test]
fn synapse_unit_costs_one_plus_words_per_row() {
    for (neurons, spikes) in [(1024u32, 3u64), (100, 10), (64, 1)] {
        let mut c = core("barrier\n", neurons, 8);
        for s in 0..spikes {
            c.deliver_spike((s % 8) as u32, Cycle(0)).unwrap();
        }
        let per_row = 1 + u64::from(neurons).div_ceil(64);
        assert_eq!(c.synapse_free_at(), Cycle(spikes * per_row));
        assert_eq!(run_to_done(&mut c), Cycle((spikes * per_row).max(1)));
        assert_eq!(c.counters().synaptic_events, spikes * u64::from(neurons));
    }
    // 8-bit weights: one 64-bit word holds 8 weights.
    let mut c = core("barrier\n", 100, 2);
    let mut mem = SynapseMemory::new(100, 2);
    mem.set_weights((0..200).map(|i| (i % 7) as i16 - 3).collect(), 8)
        .unwrap();
    c.set_synapses(mem).unwrap();
    c.deliver_spike(1, Cycle(0)).unwrap();
    assert_eq!(c.synapse_free_at(), Cycle(1 + 100u64.div_ceil(8)));
}

#[test]
fn synapse_unit_integrates_signed_rows_into_the_pending_accumulator() {
    let (n, axons) = (130usize, 5usize);
    let mut mem = SynapseMemory::new(n, axons);
    // A deterministic pattern of +1, −1 and absent synapses.
    let w = |i: usize, j: usize| -> i32 { [1, -1, 0, 1, 1][(i * 7 + j * 3) % 5] };
    for i in 0..axons {
        for j in 0..n {
            let bit = match w(i, j) {
                1 => Some(true),
                -1 => Some(false),
                _ => None,
            };
            mem.set_binary(i, j, bit).unwrap();
        }
    }
    let mut c = core("barrier\nbarrier\n", n as u32, axons as u32);
    c.set_synapses(mem).unwrap();
    let arrivals = [0usize, 3, 3, 4];
    for &a in &arrivals {
        c.deliver_spike(a as u32, Cycle(0)).unwrap();
    }
    let expected: Vec<i32> = (0..n)
        .map(|j| arrivals.iter().map(|&i| w(i, j)).sum())
        .collect();
    assert_eq!(c.pending(), &expected[..]);
    // At the barrier release the pending accumulator becomes f0 and is cleared.
    let done = run_to_done(&mut c);
    c.release_barrier(done).unwrap();
    assert_eq!(c.field(Field::ACC), &expected[..]);
    assert!(c.pending().iter().all(|&x| x == 0));
    assert_eq!(c.timestep(), 1);
    let present: u64 = (0..n)
        .map(|j| arrivals.iter().filter(|&&i| w(i, j) != 0).count() as u64)
        .sum();
    assert_eq!(c.counters().synaptic_events, present);
}

fn fanout(neurons: usize, per_neuron: usize) -> FanoutTable {
    let lists: Vec<Vec<Destination>> = (0..neurons)
        .map(|n| {
            (0..per_neuron)
                .map(|k| Destination::Core {
                    tile: TileId(1),
                    axon: (n * per_neuron + k) as u32,
                })
                .collect()
        })
        .collect();
    FanoutTable::from_lists(&lists)
}

/// Neurons 0..k spike (vcmps on a field preset to 1 for them), then the barrier.
const SPIKE_SRC: &str = "vcmps.gt m1, f1, r0\nvspike m1\nbarrier\n";

fn spiking_core(neurons: usize, k: usize, per_neuron: usize, depth: Option<usize>) -> Neurocore {
    let mut config = CoreConfig::standalone(neurons as u32, 1);
    config.outbound_depth = depth;
    let mut c = Neurocore::new(config, &program(SPIKE_SRC)).unwrap();
    let f1: Vec<i32> = (0..neurons).map(|n| i32::from(n < k)).collect();
    c.set_field(Field::new(1).unwrap(), &f1).unwrap();
    c.set_fanout(fanout(neurons, per_neuron)).unwrap();
    c
}

#[test]
fn spike_out_unit_sends_one_packet_per_cycle() {
    let (n, lanes) = (64usize, 16u64);
    for (k, f) in [(0usize, 2usize), (5, 1), (5, 3), (40, 2)] {
        let mut c = spiking_core(n, k, f, None);
        let handed = 2 * vector_cost(n as u64, lanes); // vcmps + vspike issue
        let barrier_end = handed + 1;
        // The unit starts when vspike hands the neurons over and emits k × f packets.
        let expected = barrier_end.max(handed + (k * f) as u64);
        assert_eq!(run_to_done(&mut c), Cycle(expected), "k={k} f={f}");
        let mut out = Vec::new();
        c.drain_outbound(&mut out);
        assert_eq!(out.len(), k * f);
        for (i, p) in out.iter().enumerate() {
            assert_eq!(p.emitted_at, Cycle(handed + i as u64));
            assert_eq!(p.source as usize, i / f.max(1));
        }
        assert_eq!(c.counters().packets_out, (k * f) as u64);
    }
    // Neurons without destinations cost one lookup cycle each.
    let mut c = spiking_core(n, 7, 0, None);
    let handed = 2 * vector_cost(n as u64, lanes);
    assert_eq!(run_to_done(&mut c), Cycle(handed + 7));
}

#[test]
fn per_cycle_stepping_equals_bulk_stepping() {
    // Same core, stepped in bulk with an always-ready port, and cycle by cycle with a 1-deep
    // queue the router empties every cycle: identical packets, times and done cycle.
    let mut bulk = spiking_core(200, 150, 2, None);
    let done_bulk = run_to_done(&mut bulk);
    let mut bulk_out = Vec::new();
    bulk.drain_outbound(&mut bulk_out);

    let mut step = spiking_core(200, 150, 2, Some(1));
    let mut out = Vec::new();
    let mut cycle = 0u64;
    while step.done_at().is_none() {
        if let Some(p) = step.pop_outbound() {
            out.push(p);
        }
        step.advance(Cycle(cycle + 1)).unwrap();
        cycle += 1;
        assert!(cycle < 100_000);
    }
    out.extend(step.pop_outbound());
    assert_eq!(out, bulk_out);
    assert_eq!(step.done_at(), Some(done_bulk));
    assert_eq!(step.counters(), bulk.counters());
}

#[test]
fn backpressure_stalls_the_spike_out_unit_without_loss() {
    // The router takes one packet every `period` cycles from a 2-deep queue.
    let (k, f, period) = (10usize, 2usize, 3u64);
    let mut c = spiking_core(64, k, f, Some(2));
    let mut taken = Vec::new();
    let mut cycle = 0u64;
    while c.done_at().is_none() || c.outbound_len() > 0 {
        if cycle.is_multiple_of(period) {
            if let Some(p) = c.pop_outbound() {
                taken.push(p);
            }
        }
        c.advance(Cycle(cycle + 1)).unwrap();
        // Conservation at every cycle: emitted = taken + queued.
        assert_eq!(
            c.counters().packets_out as usize,
            taken.len() + c.outbound_len()
        );
        assert!(c.outbound_len() <= 2);
        cycle += 1;
        assert!(cycle < 10_000);
    }
    assert_eq!(taken.len(), k * f);
    let axons: Vec<u32> = taken
        .iter()
        .map(|p| match p.dst {
            Destination::Core { axon, .. } => axon,
            Destination::Host { channel } => channel,
        })
        .collect();
    assert_eq!(
        axons,
        (0..(k * f) as u32).collect::<Vec<_>>(),
        "in order, none lost"
    );
    // Once the queue is full, emission follows the router's pace.
    let handed = 2 * vector_cost(64, 16);
    let last = taken.last().unwrap().emitted_at.0;
    assert!(
        last > handed + (k * f) as u64,
        "backpressure delayed the unit"
    );
}

#[test]
fn vspike_waits_for_the_spike_out_unit() {
    // Two vspikes in a row: the second stalls until the first list is sent.
    let src = "vcmps.gt m1, f1, r0\nvspike m1\nvspike m1\nbarrier\n";
    let (n, k, f) = (16usize, 4usize, 5usize);
    let mut c = Neurocore::new(CoreConfig::standalone(n as u32, 1), &program(src)).unwrap();
    c.set_field(
        Field::new(1).unwrap(),
        &(0..n).map(|j| i32::from(j < k)).collect::<Vec<_>>(),
    )
    .unwrap();
    c.set_fanout(fanout(n, f)).unwrap();
    let v = vector_cost(n as u64, 16);
    let first_handed = 2 * v;
    let first_done = first_handed + (k * f) as u64; // unit idle from here
    let second_handed = first_done + v;
    let expected = (second_handed + 1).max(second_handed + (k * f) as u64);
    assert_eq!(run_to_done(&mut c), Cycle(expected));
    // The second vspike was ready when the first handed its list over; it stalled until the
    // unit was idle.
    assert_eq!(c.counters().stall_cycles, first_done - first_handed);
}

#[test]
fn malformed_programs_are_typed_faults() {
    let mut c = core("li r1, 5000\nld r2, 0(r1)\nbarrier\n", 8, 1);
    match c.advance(Cycle(u64::MAX)) {
        Err(CoreFault::DataAddress {
            addr: 5000,
            words: 1024,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(c.state(), ProcessorState::Faulted(_)));
    assert!(c.run_timestep().is_err());

    let mut c = core("nop\n", 8, 1); // runs off the end of the program
    assert!(matches!(
        c.advance(Cycle(u64::MAX)),
        Err(CoreFault::PcOutOfRange { pc: 1, len: 1, .. })
    ));

    let mut c = core("li r1, 0\nwload f1, r1\n", 8, 1); // no latent memory
    assert!(matches!(
        c.advance(Cycle(u64::MAX)),
        Err(CoreFault::LatentRow { rows: 0, .. })
    ));

    let mut c = core("recv r1, r2\nbarrier\n", 8, 1); // waits for a packet that never comes
    assert!(matches!(
        c.run_timestep(),
        Err(CoreError::Fault(CoreFault::Deadlock { .. }))
    ));

    let big = isa::Program {
        text: vec![isa::insn::Instruction::Nop; 2000],
        ..Default::default()
    };
    assert!(matches!(
        Neurocore::new(CoreConfig::standalone(8, 1), &big),
        Err(CoreError::ProgramTooLarge {
            words: 2000,
            capacity: 1024
        })
    ));
    let mut c = core("barrier\n", 8, 4);
    assert!(matches!(
        c.deliver_spike(4, Cycle(0)),
        Err(CoreError::AxonOutOfRange { axon: 4, axons: 4 })
    ));
    assert!(matches!(
        c.set_param("nothing", 1),
        Err(CoreError::NoSymbol(_))
    ));
}

#[test]
fn learning_packets_and_latent_weights() {
    // recv a packet, store the payload into latent row 1 and refresh its sign bits, send one.
    let src = "recv r1, r2\nvmovs f3, r1\nli r4, 1\nwstore f3, r4\nwsign r4\nlui r5, 2\nori r5, r5, 7\nsend r5, r1\nbarrier\n";
    let mut c = core(src, 8, 2);
    c.set_latent(vec![5; 16]).unwrap();
    c.deliver_learn(1, -40000, Cycle(10));
    let done = run_to_done(&mut c);
    // recv issues when the packet arrives (cycle 10), then 1+1+vector+1+vector+1+1+1+barrier.
    let v = vector_cost(8, 16);
    assert_eq!(done, Cycle(10 + 1 + v + 1 + v + v + 1 + 1 + 1 + 1));
    // 16-bit latent weights saturate.
    assert_eq!(&c.latent().unwrap()[8..16], &[-32768; 8]);
    assert!((0..8).all(|j| c.synapses().weight(1, j) == Some(-1)));
    assert!((0..8).all(|j| c.synapses().weight(0, j) == Some(1)));
    let p = c.pop_outbound().unwrap();
    assert_eq!(
        p.dst,
        Destination::Core {
            tile: TileId(2),
            axon: 7
        }
    );
    assert_eq!(p.payload, -40000);
    assert_eq!(c.counters().stall_cycles, 10);
    let _ = Mask::ALL;
}

#[test]
fn loihi_lif_step_cycles_follow_the_formula() {
    use core_support::{run_lif, LifSpec};
    for (n, nonzero) in [(16usize, true), (256, false), (256, true), (1000, true)] {
        let spec = LifSpec {
            du: 100,
            dv: 50,
            vth: 1000,
            bias_mant: vec![1; n],
            bias_exp: vec![0; n],
        };
        let a_in = vec![vec![i16::from(nonzero); n]; 4];
        let (_, cycles) = run_lif(&spec, &a_in, None);
        // Steps after the first: `csrr` (1) and the taken `bne step` (2) after the release,
        // 11 vector instructions, `barrier` (1); the host port injects the next step's nonzero
        // inputs concurrently, one per cycle.
        let processor = 1 + 2 + 11 * vector_cost(n as u64, 16) + 1;
        let injections = if nonzero { n as u64 } else { 0 };
        for (t, &c) in cycles.iter().enumerate().take(3).skip(1) {
            assert_eq!(c, processor.max(injections), "n={n} step {t}");
        }
        // The last step has no next inputs to inject.
        assert_eq!(cycles[3], processor);
    }
}

#[test]
fn a_core_builds_from_its_chip_image_entry() {
    use isa::image::{CoreImage, FieldInit, SynapseMemory as ImageSynapses};
    let chip = isa::ChipDescription::default();
    let (neurons, axons) = (70u32, 3u32);
    let words = (neurons as usize).div_ceil(64);
    // Row 1: neurons 0..64 get +1, 64..70 get −1; rows 0 and 2 all −1.
    let mut sign = vec![0u64; axons as usize * words];
    sign[words] = u64::MAX;
    let image = CoreImage {
        tile: TileId(5),
        neurons,
        axons,
        program: program("csrr r1, tileid\nvmovs f2, r1\nbarrier\n"),
        fields: vec![FieldInit {
            field: Field::new(3).unwrap(),
            values: vec![9; neurons as usize],
        }],
        synapses: ImageSynapses {
            sign,
            presence: None,
            weights: None,
        },
        latent: None,
        fanout: fanout(neurons as usize, 1),
        first_arrival_only: false,
        lfsr_seed: None,
        input_delays: None,
    };
    let mut c = Neurocore::from_image(&chip.core, &image).expect("valid image");
    assert_eq!(c.config().lanes, chip.core.vector_lanes);
    assert_eq!(
        c.field(Field::new(3).unwrap()),
        &vec![9; neurons as usize][..]
    );
    c.deliver_spike(1, Cycle(0)).unwrap();
    c.deliver_spike(2, Cycle(0)).unwrap();
    assert_eq!(c.pending()[0], 0);
    assert_eq!(c.pending()[69], -2);
    run_to_done(&mut c);
    assert_eq!(c.field(Field::new(2).unwrap())[0], 5, "csrr tileid");

    // Multi-bit weights from the image: 16-bit weights need 4 per memory word.
    let mut wide = image.clone();
    wide.synapses.weights = Some((0..axons * neurons).map(|i| i as i16 * 3 - 100).collect());
    let mut params = chip.core.clone();
    params.weight_bits = 16;
    let mut c = Neurocore::from_image(&params, &wide).expect("16-bit weights");
    c.deliver_spike(2, Cycle(0)).unwrap();
    assert_eq!(
        c.synapse_free_at(),
        Cycle(1 + u64::from(neurons) * 16 / 64 + 1)
    );
    assert_eq!(c.pending()[3], (2 * 70 + 3) * 3 - 100);
    // 8-bit weights refuse a value that does not fit.
    assert!(matches!(
        Neurocore::from_image(&chip.core, &wide),
        Err(CoreError::Width { bits: 8, .. })
    ));
}

#[test]
fn vspike_and_mcount_respect_the_active_range() {
    let src = "li r1, 60\nli r2, 70\nvrange r1, r2\nvspike m0\nmcount r3, m0\nbarrier\n";
    let mut c = core(src, 130, 1);
    run_to_done(&mut c);
    let mut out = Vec::new();
    c.drain_outbound(&mut out);
    assert_eq!(c.counters().spikes_out, 10);
    assert_eq!(c.reg(isa::insn::Reg::new(3).unwrap()), 10);
    let latched: Vec<usize> = (0..130)
        .filter(|&n| c.first_spike_latches()[n] == 0)
        .collect();
    assert_eq!(latched, (60..70).collect::<Vec<_>>());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Skipping idle cycles changes no count: per-cycle stepping with a queue the router
    /// empties every cycle equals bulk stepping, for any spiking set and fan-out size.
    #[test]
    fn per_cycle_equals_bulk_for_any_spiking_set(
        n in 1usize..300,
        k_frac in 0.0f64..1.0,
        f in 0usize..4,
        spikes in 0u32..20,
    ) {
        let k = (n as f64 * k_frac) as usize;
        let make = |depth| {
            let mut c = spiking_core(n, k, f, depth);
            for s in 0..spikes {
                c.deliver_spike(0, Cycle(u64::from(s) * 3)).unwrap();
            }
            c
        };
        let mut bulk = make(None);
        let done = run_to_done(&mut bulk);
        let mut bulk_out = Vec::new();
        bulk.drain_outbound(&mut bulk_out);
        let mut step = make(Some(1));
        let mut out = Vec::new();
        let mut cycle = 0u64;
        while step.done_at().is_none() {
            out.extend(step.pop_outbound());
            step.advance(Cycle(cycle + 1)).unwrap();
            cycle += 1;
        }
        out.extend(step.pop_outbound());
        proptest::prop_assert_eq!(out, bulk_out);
        proptest::prop_assert_eq!(step.done_at(), Some(done));
        proptest::prop_assert_eq!(step.counters(), bulk.counters());
    }
}

#[test]
fn vector_operands_may_alias_the_destination() {
    // Every aliasing pattern, masked and unmasked, against a lane-by-lane reference.
    let n = 100usize;
    let f1: Vec<i32> = (0..n as i32).map(|i| i * 3 - 50).collect();
    let f2: Vec<i32> = (0..n as i32).map(|i| 7 - i).collect();
    let src = "vsub f3, f2, f1\nvsub f4, f1, f1\nvmov f5, f1\nvsub f5, f2, f5\nvmov f6, f2\nvsub f6, f6, f1\n\
               vcmps.gt m1, f1, r0\nvmov f7, f2\nvsub f7, f1, f7, m1\nvmov f8, f1\nvadd f8, f8, f8, m1\nbarrier\n";
    let mut c = core(src, n as u32, 1);
    c.set_field(Field::new(1).unwrap(), &f1).unwrap();
    c.set_field(Field::new(2).unwrap(), &f2).unwrap();
    run_to_done(&mut c);
    let field = |i: u8| c.field(Field::new(i).unwrap()).to_vec();
    let diff: Vec<i32> = (0..n).map(|j| f2[j] - f1[j]).collect();
    assert_eq!(field(3), diff);
    assert_eq!(field(4), vec![0; n]);
    assert_eq!(field(5), diff, "fd == fb");
    assert_eq!(field(6), diff, "fd == fa");
    let masked: Vec<i32> = (0..n)
        .map(|j| if f1[j] > 0 { f1[j] - f2[j] } else { f2[j] })
        .collect();
    assert_eq!(field(7), masked, "masked, fd == fb");
    let doubled: Vec<i32> = (0..n)
        .map(|j| if f1[j] > 0 { 2 * f1[j] } else { f1[j] })
        .collect();
    assert_eq!(field(8), doubled, "masked, all alias");
}

#[test]
fn first_arrival_only_mode_integrates_one_spike_per_axon_and_sample() {
    use isa::image::{CoreImage, SynapseMemory as ImageSynapses};
    let chip = isa::ChipDescription::default();
    let (neurons, axons) = (70u32, 2u32);
    let words = (neurons as usize).div_ceil(64);
    let row_cycles = 1 + words as u64; // row fetch + one word per 64 neurons
    let image = CoreImage {
        tile: TileId(0),
        neurons,
        axons,
        program: program("barrier\n"),
        fields: Vec::new(),
        synapses: ImageSynapses {
            sign: vec![u64::MAX; axons as usize * words],
            presence: None,
            weights: None,
        },
        latent: None,
        fanout: fanout(neurons as usize, 1),
        first_arrival_only: true,
        lfsr_seed: None,
        input_delays: None,
    };
    let mut c = Neurocore::from_image(&chip.core, &image).expect("valid image");
    assert!(c.first_arrival_only());
    c.deliver_spike(0, Cycle(0)).unwrap();
    c.deliver_spike(0, Cycle(0)).unwrap(); // repeat: counted, 1 cycle, not integrated
    c.deliver_spike(1, Cycle(0)).unwrap();
    assert_eq!(c.pending()[0], 2);
    assert_eq!(c.pending()[69], 2);
    assert_eq!(c.synapse_free_at(), Cycle(row_cycles + 1 + row_cycles));
    let k = c.counters();
    assert_eq!(k.spikes_in, 3);
    assert_eq!(k.synapse_cycles, 2 * row_cycles + 1);
    assert_eq!(k.synaptic_events, 2 * u64::from(neurons));

    // The same image without the mode integrates every spike.
    let mut plain = image.clone();
    plain.first_arrival_only = false;
    let mut c = Neurocore::from_image(&chip.core, &plain).expect("valid image");
    c.deliver_spike(0, Cycle(0)).unwrap();
    c.deliver_spike(0, Cycle(0)).unwrap();
    assert_eq!(c.pending()[0], 2);
    assert_eq!(c.counters().synapse_cycles, 2 * row_cycles);
}

#[test]
fn input_delays_hold_each_neurons_input_in_its_delay_slot_at_no_extra_cycle() {
    // Four neurons with delays 0, 1, 3, 0 (four slots); one axon, all weights +1. A spike
    // arriving in step t reaches neuron j's f0 at step t + 1 + delay[j]. The synapse unit's
    // cost is the delay-free one, and no barrier or release costs a cycle more.
    let n = 4usize;
    let src = "top:\nbarrier\nj top\n";
    let mut c = core(src, n as u32, 1);
    let mut plain = core(src, n as u32, 1);
    c.set_input_delays(vec![0, 1, 3, 0]).unwrap();
    assert_eq!(c.input_delays(), &[0, 1, 3, 0]);
    assert!(matches!(
        c.clone().set_input_delays(vec![1; 3]),
        Err(CoreError::Shape { .. })
    ));
    // Spikes arrive in steps 0 and 2 (two in step 2).
    let arrivals = [1usize, 0, 2, 0, 0, 0, 0];
    let mut f0 = Vec::new();
    for (step, &k) in arrivals.iter().enumerate() {
        for core in [&mut c, &mut plain] {
            let at = core.now();
            for _ in 0..k {
                core.deliver_spike(0, at).unwrap();
            }
        }
        let (done, plain_done) = (run_to_done(&mut c), run_to_done(&mut plain));
        assert_eq!(done, plain_done, "step {step}: delays cost no cycles");
        assert_eq!(c.pending(), plain.pending(), "this step's arrivals");
        c.release_barrier(done).unwrap();
        plain.release_barrier(plain_done).unwrap();
        f0.push(c.field(Field::ACC).to_vec());
    }
    // f0 after release r (step r + 1): arrivals of step r + 1 − 1 − delay.
    let expected: Vec<Vec<i32>> = (0..arrivals.len())
        .map(|r| {
            [0usize, 1, 3, 0]
                .iter()
                .map(|&d| r.checked_sub(d).map_or(0, |s| arrivals[s] as i32))
                .collect()
        })
        .collect();
    assert_eq!(f0, expected);
    // Counters: the same but for which neuron updates had input.
    let active = f0.iter().flatten().filter(|&&x| x != 0).count() as u64;
    assert_eq!(c.counters().active_neuron_updates, active);
    let mut same = *c.counters();
    same.active_neuron_updates = plain.counters().active_neuron_updates;
    assert_eq!(&same, plain.counters());
}
