//! The shipped firmware assembles with its parameter symbols, and the golden models reproduce
//! the reference vectors of `reference/hardware.md` §1.3 and the S4NN / STiDi-BP closed forms.

use firmware::loihi_lif::{self, LoihiLifConfig};
use firmware::ttfs::{self, Compare, Psp, TtfsParams};
use firmware::NeuronModel;

#[test]
fn every_model_assembles_with_its_parameters() {
    for model in NeuronModel::ALL {
        let program = model.program().unwrap_or_else(|e| panic!("{e}"));
        assert!(!program.text.is_empty());
        for p in model.params() {
            let addr = program.symbol(p).expect("parameter symbol");
            assert!((addr as usize) < program.data.len(), "{p} is a data word");
        }
    }
}

#[test]
fn loihi_golden_matches_the_lava_vectors() {
    // hardware.md §1.3 (`isa::arith::loihi::LAVA_GOLDEN_VECTORS`).
    for g in isa::arith::loihi::LAVA_GOLDEN_VECTORS.iter() {
        let config =
            LoihiLifConfig::new(g.du, g.dv, g.vth, &[g.bias_mant], &[g.bias_exp]).expect("valid");
        let input: Vec<Vec<i16>> = g.a_in.iter().map(|&x| vec![x]).collect();
        let trace = loihi_lif::golden_run(&config, &input);
        for (t, &(u, v, s)) in g.expected.iter().enumerate() {
            assert_eq!(
                (trace.u[t][0], trace.v[t][0], trace.s[t][0]),
                (u, v, u8::from(s)),
                "du={} step {t}",
                g.du
            );
        }
    }
}

#[test]
fn ttfs_golden_follows_s4nn_and_stidi_conventions() {
    // Three inputs of weight +1 spiking at 2, 3, 5; θ = 2.
    let weights = vec![vec![1], vec![1], vec![1]];
    let t_in = [2, 3, 5];
    let s4nn = TtfsParams {
        threshold: 2,
        t_max: 10,
        psp: Psp::Step,
        compare: Compare::Greater,
        delay: 1,
    };
    let tr = ttfs::golden_run(&s4nn, &weights, &t_in);
    // V(t) = #inputs with t_i <= t: 0 0 1 2 2 3 ...; first V > 2 at c = 5; t_j = c + 1.
    assert_eq!(
        tr.v.iter().map(|r| r[0]).collect::<Vec<_>>(),
        vec![0, 0, 1, 2, 2, 3, 3, 3, 3, 3]
    );
    assert_eq!(tr.t_spike, vec![6]);
    assert_eq!(tr.s[5][0], 1);
    let stidi = TtfsParams {
        psp: Psp::Ramp,
        compare: Compare::GreaterEqual,
        delay: 0,
        ..s4nn
    };
    let tr = ttfs::golden_run(&stidi, &weights, &t_in);
    // V(t) = Σ max(0, t − t_i): t=3 → 1, t=4 → 2+1 = 3 ≥ 2 → spike at 4.
    assert_eq!(tr.v[3][0], 1);
    assert_eq!(tr.v[4][0], 3);
    assert_eq!(tr.t_spike, vec![4]);
    // Crossing at t_max − 1 with delay 1 is "no spike".
    let late = TtfsParams {
        threshold: 0,
        t_max: 3,
        ..s4nn
    };
    let tr = ttfs::golden_run(&late, &[vec![1]], &[2]);
    assert_eq!(tr.t_spike, vec![3]);
    assert!(tr.s.iter().all(|r| r[0] == 0));
}

#[test]
fn out_of_range_parameters_name_the_field() {
    let err = LoihiLifConfig::new(4096, 0, 1, &[0], &[0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("du"), "{err}");
    let err = LoihiLifConfig::new(1, 0, 1, &[0, 5000], &[0, 0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("bias_mant[1]"), "{err}");
    let bad = TtfsParams {
        threshold: 1,
        t_max: 0,
        psp: Psp::Step,
        compare: Compare::Greater,
        delay: 1,
    };
    assert!(bad.validated().unwrap_err().to_string().contains("t_max"));
}
