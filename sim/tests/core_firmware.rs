//! Firmware-versus-golden equivalence: every neuron model, run as firmware on the simulated
//! neurocore, produces the state traces and spike times of its plain-Rust golden model —
//! on the reference vectors of hardware.md §1.3 and on random parameters and inputs, including
//! the overflow regions (u wrap, v saturation).

mod core_support;

use core_support::{
    run_lif, run_lif_biased, run_lif_with_decays, run_ttfs, run_ttfs_thresholds, LifSpec,
};
use firmware::ttfs::{self, Compare, Psp, TtfsParams};
use firmware::{lif_reset, loihi_lif};
use isa::arith::loihi::{BiasTarget, ResetMode};
use proptest::prelude::*;
use sim::core::NO_SPIKE;

#[test]
fn loihi_lif_firmware_reproduces_the_lava_golden_vectors() {
    // hardware.md §1.3 (`isa::arith::loihi::LAVA_GOLDEN_VECTORS`).
    for g in isa::arith::loihi::LAVA_GOLDEN_VECTORS.iter() {
        let spec = LifSpec {
            du: g.du,
            dv: g.dv,
            vth: g.vth,
            bias_mant: vec![g.bias_mant],
            bias_exp: vec![g.bias_exp],
        };
        let input: Vec<Vec<i16>> = g.a_in.iter().map(|&x| vec![x]).collect();
        let (trace, _) = run_lif(&spec, &input, None);
        for (t, &(u, v, s)) in g.expected.iter().enumerate() {
            assert_eq!(
                (trace.u[t][0], trace.v[t][0], trace.s[t][0]),
                (u, v, u8::from(s)),
                "du={} dv={} step {t}",
                g.du,
                g.dv
            );
        }
    }
}

fn lif_spec(n: usize) -> impl Strategy<Value = LifSpec> {
    (
        0i64..=4095,
        0i64..=4095,
        0i64..=(1 << 17) - 1,
        prop::collection::vec(-4096i64..=4095, n),
        prop::collection::vec(-4i64..=3, n),
    )
        .prop_map(|(du, dv, vth, bias_mant, bias_exp)| LifSpec {
            du,
            dv,
            vth,
            bias_mant,
            bias_exp,
        })
}

/// The LIF-reset firmware's three reset modes.
fn reset_mode() -> impl Strategy<Value = ResetMode> {
    prop_oneof![
        Just(ResetMode::Zero),
        Just(ResetMode::Subtract),
        Just(ResetMode::SubtractNext)
    ]
}

fn lif_case() -> impl Strategy<Value = (LifSpec, Vec<Vec<i16>>)> {
    (1usize..=20, 1usize..=24).prop_flat_map(|(n, steps)| {
        (
            lif_spec(n),
            prop::collection::vec(prop::collection::vec(any::<i16>(), n), steps),
        )
    })
}

/// Inputs and decays that drive u into its wrap and v into saturation: full-scale inputs of one
/// sign, no current decay, no voltage leak, the largest threshold.
fn overflow_case() -> impl Strategy<Value = (LifSpec, Vec<Vec<i16>>)> {
    (1usize..=8, 40usize..=80, any::<bool>()).prop_flat_map(|(n, steps, positive)| {
        let input = if positive {
            30000i16..=i16::MAX
        } else {
            i16::MIN..=-30000i16
        };
        (
            (
                0i64..=2,
                0i64..=2,
                Just((1i64 << 17) - 1),
                prop::collection::vec(-4096i64..=4095, n),
                prop::collection::vec(-4i64..=3, n),
            )
                .prop_map(|(du, dv, vth, bias_mant, bias_exp)| LifSpec {
                    du,
                    dv,
                    vth,
                    bias_mant,
                    bias_exp,
                }),
            prop::collection::vec(prop::collection::vec(input, n), steps),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn loihi_lif_firmware_equals_golden((spec, a_in) in lif_case()) {
        let golden = loihi_lif::golden_run(&spec.config(), &a_in);
        let (trace, _) = run_lif(&spec, &a_in, None);
        prop_assert_eq!(trace, golden);
    }

    #[test]
    fn loihi_lif_firmware_equals_golden_in_overflow((spec, a_in) in overflow_case()) {
        let golden = loihi_lif::golden_run(&spec.config(), &a_in);
        // The case really reaches the overflow regions.
        let extreme = golden.u.iter().flatten().any(|&u| u.abs() > 1 << 22)
            || golden.v.iter().flatten().any(|&v| v.abs() == (1 << 23) - 1);
        prop_assert!(extreme);
        let (trace, _) = run_lif(&spec, &a_in, None);
        prop_assert_eq!(trace, golden);
    }

    #[test]
    fn lif_reset_firmware_equals_golden((spec, a_in) in lif_case(), reset in reset_mode()) {
        let golden = lif_reset::golden_run(&spec.config(), &a_in, reset);
        let (trace, _) = run_lif(&spec, &a_in, Some(reset));
        prop_assert_eq!(trace, golden);
    }

    /// Per-neuron decays (`decay_fields` = 1): each neuron its own `du`, `dv`.
    #[test]
    fn lif_reset_firmware_with_per_neuron_decays_equals_golden(
        ((spec, a_in), seed) in (lif_case(), any::<u64>()),
        reset in reset_mode(),
    ) {
        let n = spec.bias_mant.len();
        // Decays spread over the whole 12-bit range, drawn from the seed.
        let du: Vec<i64> = (0..n).map(|i| ((seed >> (i % 48)).wrapping_mul(2654435761).wrapping_add(i as u64 * 977) & 4095) as i64).collect();
        let dv: Vec<i64> = (0..n).map(|i| ((seed >> ((i + 7) % 48)).wrapping_mul(40503).wrapping_add(i as u64 * 331) & 4095) as i64).collect();
        let config = firmware::loihi_lif::LoihiLifConfig::with_decays(
            &du, &dv, spec.vth, &spec.bias_mant, &spec.bias_exp,
        ).expect("valid decays");
        let golden = lif_reset::golden_run(&config, &a_in, reset);
        let (trace, _) = run_lif_with_decays(&spec, Some((&du, &dv)), &a_in, Some(reset));
        prop_assert_eq!(&trace, &golden);
    }

    #[test]
    fn lif_reset_firmware_equals_golden_in_overflow((spec, a_in) in overflow_case(), reset in reset_mode()) {
        let golden = lif_reset::golden_run(&spec.config(), &a_in, reset);
        let (trace, _) = run_lif(&spec, &a_in, Some(reset));
        prop_assert_eq!(trace, golden);
    }

    /// The bias into the current (`bias_current` = 1), in the normal and the overflow ranges.
    #[test]
    fn lif_reset_firmware_with_current_bias_equals_golden(
        (spec, a_in) in prop_oneof![lif_case(), overflow_case()],
        reset in reset_mode(),
    ) {
        let mut config = spec.config();
        for p in &mut config.neurons {
            *p = p.with_bias_target(BiasTarget::Current);
        }
        let golden = lif_reset::golden_run(&config, &a_in, reset);
        let (trace, _) = run_lif_biased(&spec, None, BiasTarget::Current, &a_in, Some(reset));
        prop_assert_eq!(&trace, &golden);
        // Where there is a bias, the target makes a difference (to u from the first step).
        if config.neurons.iter().any(|p| p.effective_bias() != 0) {
            prop_assert_ne!(trace, lif_reset::golden_run(&spec.config(), &a_in, reset));
        }
    }
}

fn ttfs_case() -> impl Strategy<Value = (TtfsParams, Vec<Vec<i32>>, Vec<u32>)> {
    (1usize..=40, 1usize..=70, 2u32..=40).prop_flat_map(|(axons, neurons, t_max)| {
        (
            (-20i32..=40, any::<bool>(), any::<bool>(), 0u8..=1).prop_map(
                move |(threshold, ramp, ge, delay)| TtfsParams {
                    threshold,
                    t_max,
                    psp: if ramp { Psp::Ramp } else { Psp::Step },
                    compare: if ge {
                        Compare::GreaterEqual
                    } else {
                        Compare::Greater
                    },
                    delay,
                },
            ),
            prop::collection::vec(
                prop::collection::vec(prop::sample::select(vec![-1i32, 0, 1, 1]), neurons),
                axons,
            ),
            prop::collection::vec(0u32..=t_max + 3, axons),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ttfs_firmware_equals_golden(
        (params, weights, t_in) in ttfs_case(),
        spread in prop::collection::vec(-15i32..=15, 70),
        per_neuron in any::<bool>(),
    ) {
        let n = weights[0].len();
        let (golden, (trace, core)) = if per_neuron {
            // Learned thresholds differ per neuron (the threshold field).
            let th: Vec<i32> = spread[..n].iter().map(|d| params.threshold + d).collect();
            (
                ttfs::golden_run_thresholds(&params, &th, &weights, &t_in),
                run_ttfs_thresholds(&params, Some(&th), &weights, &t_in),
            )
        } else {
            (ttfs::golden_run(&params, &weights, &t_in), run_ttfs(&params, &weights, &t_in))
        };
        prop_assert_eq!(&trace, &golden);
        // The hardware spike-time latch agrees with the firmware's latch: a neuron sent its
        // spike at step t_spike - delay.
        for (j, &t) in golden.t_spike.iter().enumerate() {
            let latch = core.first_spike_latches()[j];
            if t < params.t_max {
                prop_assert_eq!(latch, t - u32::from(params.delay));
            } else {
                prop_assert_eq!(latch, NO_SPIKE);
            }
        }
    }
}

#[test]
fn ttfs_single_spike_per_neuron() {
    // Strongly driven neurons stay above threshold for many steps but spike once.
    let params = TtfsParams {
        threshold: 1,
        t_max: 16,
        psp: Psp::Ramp,
        compare: Compare::Greater,
        delay: 1,
    };
    let weights = vec![vec![1; 5]; 4];
    let (trace, core) = run_ttfs(&params, &weights, &[0, 0, 1, 2]);
    for j in 0..5 {
        let spikes: u32 = trace.s.iter().map(|r| u32::from(r[j])).sum();
        assert_eq!(spikes, 1);
    }
    assert_eq!(core.counters().spikes_out, 5);
}

#[test]
fn consecutive_samples_restart_the_firmware_state() {
    // Two samples on one core, the second begun while the core waits at the last barrier:
    // identical traces, latches cleared in between, the sample CSR counts from 0.
    use firmware::NeuronModel;
    use sim::core::{CoreConfig, Neurocore, SynapseMemory};
    let params = TtfsParams {
        threshold: 2,
        t_max: 12,
        psp: Psp::Step,
        compare: Compare::Greater,
        delay: 1,
    };
    let (axons, n) = (6usize, 9usize);
    let weights: Vec<Vec<i32>> = (0..axons)
        .map(|i| {
            (0..n)
                .map(|j| if (i + j) % 3 == 0 { -1 } else { 1 })
                .collect()
        })
        .collect();
    let t_in: Vec<u32> = (0..axons as u32).map(|i| (i * 2) % 11).collect();
    let golden = ttfs::golden_run(&params, &weights, &t_in);
    let program = NeuronModel::Ttfs.program().unwrap();
    let mut core =
        Neurocore::new(CoreConfig::standalone(n as u32, axons as u32), &program).unwrap();
    for (name, value) in params.data_words() {
        core.set_param(name, value).unwrap();
    }
    let mut mem = SynapseMemory::new(n, axons);
    for (i, row) in weights.iter().enumerate() {
        for (j, &w) in row.iter().enumerate() {
            mem.set_binary(i, j, Some(w > 0)).unwrap();
        }
    }
    core.set_synapses(mem).unwrap();
    for _sample in 0..2 {
        let mut v = Vec::new();
        core.run_sample(
            params.t_max as usize,
            |t, core, at| {
                for (i, &ti) in t_in.iter().enumerate() {
                    if ti as usize == t {
                        core.deliver_spike(i as u32, at)?;
                    }
                }
                Ok(())
            },
            |_, core, _| {
                v.push(core.field(ttfs::V).to_vec());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(v, golden.v);
        let t: Vec<u32> = core
            .field(ttfs::T_SPIKE)
            .iter()
            .map(|&x| x as u32)
            .collect();
        assert_eq!(t, golden.t_spike);
    }
}
