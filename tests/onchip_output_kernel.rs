//! The output-layer learning kernel (`firmware/asm/learn_out.s`) run on a stand-alone
//! neurocore agrees bit for bit with the fixed-point golden trainer (`model::onchip`) — latent
//! weights and binary synapse rows — after every sample of a run of random samples.
//!
//! The forward pass is the golden's (its output times are written into the core's spike-time
//! field f3, as `ttfs.s` would latch them); the input spikes reach the core through the synapse
//! unit at their timesteps, so `ald` reads the input times from the first-arrival latches.
//! With a hidden layer, the learning packets the kernel sends back (one per axon, to the
//! source of the axon) must carry the golden's raw hidden errors (step 5 of the rule).

mod onchip_support;

use isa::chip::TileId;
use isa::image::Destination;
use isa::insn::Field;
use model::onchip::{OnChipRule, OnChipTrainer};
use model::{
    Dense, GoldenNetwork, Layer, LayerKind, Network, NeuronModel, Shape, SpikeTime, Threshold,
    Weights,
};
use onchip_support::{assert_core_state, axon_major};
use rand::{Rng, SeedableRng};
use sim::core::{CoreConfig, Cycle, Neurocore, PacketKind, ProcessorState};

const KERNEL: &str = firmware::learn_out::SOURCE;

/// The tile the test pretends the hidden layer lives on (destination of the error packets).
const HIDDEN_TILE: u32 = 7;

/// A dense binary net with layer sizes `arch` (input first) and one threshold for all layers.
fn net(arch: &[usize], t_max: u16, theta: i32, seed: u64) -> Network {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Network {
        format_version: model::FORMAT_VERSION,
        input: Shape::Flat {
            size: arch[0] as u32,
        },
        t_max,
        encoding: None,
        fallback_offset: 3,
        tie_order: None,
        ties_by_potential: false,
        layers: arch
            .windows(2)
            .enumerate()
            .map(|(l, w)| Layer {
                name: format!("fc{l}"),
                kind: LayerKind::Dense(Dense {
                    inputs: w[0] as u32,
                    outputs: w[1] as u32,
                    neuron: NeuronModel::S4NN,
                    weights: Weights::random_signs(w[0] * w[1], 0.3, &mut rng),
                    threshold: Threshold::Layer(theta),
                    scale: None,
                }),
            })
            .collect(),
    }
}

/// Runs `samples` random samples through golden and core (the core holds the last layer of
/// `arch`); checks latents and signs after each, and with a hidden layer the error packets.
fn run(arch: &[usize], t_max: u16, theta: i32, eta: i32, samples: usize, seed: u64) {
    let network = net(arch, t_max, theta, seed);
    let last = arch.len() - 2;
    let (n_in, n_out) = (arch[last], arch[last + 1]);
    let hidden = last > 0;
    let mut rule = OnChipRule::s4nn(last + 1);
    rule.eta = vec![eta; last + 1];
    rule.init_magnitude = 300;
    let mut golden = OnChipTrainer::new(&network, rule.clone(), None).unwrap();

    let program = isa::asm::assemble(KERNEL, "learn_out.s").unwrap_or_else(|e| panic!("{e}"));
    let mut core =
        Neurocore::new(CoreConfig::standalone(n_out as u32, n_in as u32), &program).unwrap();
    assert_eq!(core.config().latent_weight_bits, 16);
    // Latent memory is axon-major: latent[i * n_out + k]; the golden's is w[k * n_in + i].
    core.set_latent(axon_major(golden.latent(last).unwrap(), n_in, 0, n_out))
        .unwrap();
    core.set_param("t_max", i32::from(t_max)).unwrap();
    core.set_param("gamma", i32::from(rule.gamma)).unwrap();
    core.set_param("eta", eta).unwrap();
    core.set_param("steps", i32::from(t_max)).unwrap();
    core.set_param("send_errors", i32::from(hidden)).unwrap();
    let table = core.symbol(firmware::learn_out::SRC_TABLE).unwrap() as u32;
    for j in 0..n_in as u32 {
        core.set_data(table + j, ((HIDDEN_TILE << 16) | j) as i32)
            .unwrap();
    }
    *golden.lfsr_mut(last, 0).unwrap() = core.lfsr();
    // Run to the `wait sample` at the top of the kernel.
    core.advance(Cycle(u64::MAX)).unwrap();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5EED);
    let mut learned = 0;
    let mut kernel_cycles = 0u64;
    let mut packets = Vec::new();
    let mut nonzero_errors = 0usize;
    for s in 0..samples {
        let input: Vec<SpikeTime> = (0..arch[0])
            .map(|_| SpikeTime(rng.gen_range(0..=t_max + 2)))
            .collect();
        let label = rng.gen_range(0..n_out);
        let trace = GoldenNetwork::new(golden.network())
            .unwrap()
            .forward(&input)
            .unwrap();
        let t_out: Vec<i32> = trace.layer_times[last]
            .iter()
            .map(|t| i32::from(t.0))
            .collect();
        // The spikes reaching the core: the network input, or the hidden layer's spikes.
        let arriving: Vec<SpikeTime> = if hidden {
            trace.layer_times[last - 1].clone()
        } else {
            input.clone()
        };

        // Chip: sample start, t_max timesteps with the input spikes, then the kernel.
        core.set_param("label", label as i32).unwrap();
        core.set_field(Field::new(3).unwrap(), &t_out).unwrap();
        let mut now = core.now();
        core.begin_sample(now).unwrap();
        for t in 0..t_max {
            for (i, ti) in arriving.iter().enumerate() {
                if ti.0 == t {
                    core.deliver_spike(i as u32, now).unwrap();
                }
            }
            let report = core.run_timestep().unwrap();
            now = report.done;
            core.release_barrier(now).unwrap();
        }
        let before = core.counters().issue_cycles;
        packets.clear();
        // Run the kernel, draining the outbound queue whenever `send` meets backpressure.
        for _ in 0..=n_in {
            core.advance(Cycle(u64::MAX)).unwrap();
            core.drain_outbound(&mut packets);
            if matches!(core.state(), ProcessorState::Waiting(..)) {
                break;
            }
        }
        kernel_cycles += core.counters().issue_cycles - before;
        assert!(
            matches!(core.state(), ProcessorState::Waiting(..)),
            "sample {s}: {:?}",
            core.state()
        );

        let outcome = golden.learn_sample(&input, label).unwrap();
        learned += u64::from(outcome.updates > 0);
        // Latent weights and binary rows.
        assert_core_state(&core, &golden, last, 0, n_out, s + 1);
        if hidden {
            let sent: Vec<(Destination, i32)> = packets
                .iter()
                .filter(|p| p.kind == PacketKind::Learn)
                .map(|p| (p.dst, p.payload))
                .collect();
            let expected: Vec<(Destination, i32)> = outcome.back_errors[0]
                .iter()
                .enumerate()
                .map(|(j, &g)| {
                    let dst = Destination::Core {
                        tile: TileId(HIDDEN_TILE as u16),
                        axon: j as u32,
                    };
                    (dst, g)
                })
                .collect();
            assert_eq!(sent, expected, "sample {s}: hidden-error packets");
            nonzero_errors += sent.iter().filter(|p| p.1 != 0).count();
        } else {
            assert!(packets.is_empty());
        }
    }
    eprintln!(
        "{arch:?}: {samples} samples, {learned} with updates, {nonzero_errors} non-zero error packets, {:.0} kernel issue cycles per sample",
        kernel_cycles as f64 / samples as f64
    );
    // The run must actually have exercised the update path.
    assert!(
        learned > samples as u64 / 4,
        "only {learned} samples updated"
    );
    assert!(
        !hidden || nonzero_errors > samples,
        "only {nonzero_errors} non-zero errors sent"
    );
}

#[test]
fn output_kernel_matches_golden_small() {
    run(&[12, 5], 16, 2, 3, 500, 1);
}

#[test]
fn output_kernel_matches_golden_wide() {
    // More neurons than vector lanes (16): several lane beats per vector instruction.
    run(&[40, 37], 24, 4, 7, 100, 2);
}

#[test]
fn output_kernel_sends_golden_hidden_errors() {
    // 20 -> 30 -> 6: the core holds the output layer (30 axons, 6 neurons) and sends one
    // partial hidden error per axon back to the hidden layer's tile.
    run(&[20, 30, 6], 20, 2, 5, 200, 3);
}
