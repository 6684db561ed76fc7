//! Event counters of the neurocore that the energy model reads.

use isa::insn::{Event, Instruction};
use isa::Program;
use sim::core::{CoreConfig, Cycle, Neurocore, SynapseMemory};

/// A core that waits for a sample, then loops over barriers.
fn idle_core(neurons: u32, axons: u32) -> Neurocore {
    let program = Program {
        text: vec![
            Instruction::Wait {
                event: Event::Sample,
            },
            Instruction::Barrier,
            Instruction::Jal {
                rd: isa::insn::Reg::ZERO,
                off: -1,
            },
        ],
        ..Program::default()
    };
    Neurocore::new(CoreConfig::standalone(neurons, axons), &program).unwrap()
}

#[test]
fn only_neurons_with_input_count_as_active_updates() {
    let mut core = idle_core(8, 2);
    // Axon 0 reaches neurons 0..3 only (presence plane); axon 1 reaches all eight.
    let sign = [0xFFu64, 0xFF];
    let presence = [0b0000_1111u64, 0xFF];
    core.set_synapses(SynapseMemory::from_planes(8, 2, &sign, Some(&presence)).unwrap())
        .unwrap();
    core.advance(Cycle(u64::MAX)).unwrap();
    core.deliver_spike(0, Cycle(1)).unwrap();
    core.begin_sample(Cycle(10)).unwrap();
    let c = *core.counters();
    assert_eq!(c.neuron_updates, 8);
    assert_eq!(c.active_neuron_updates, 4);

    // Next timestep: input on axon 1 reaches every neuron.
    core.deliver_spike(1, Cycle(11)).unwrap();
    core.run_timestep().unwrap();
    let done = core.done_at().unwrap();
    core.release_barrier(done).unwrap();
    let c = *core.counters();
    assert_eq!(c.neuron_updates, 16);
    assert_eq!(c.active_neuron_updates, 4 + 8);

    // A timestep without input: every update is idle.
    core.run_timestep().unwrap();
    let done = core.done_at().unwrap();
    core.release_barrier(done).unwrap();
    let c = *core.counters();
    assert_eq!(c.neuron_updates, 24);
    assert_eq!(c.active_neuron_updates, 12);
}
