//! NIR graphs lowered to chip LIF networks (`mapper::import`): the discretisation and
//! quantisation formulas worked by hand on small graphs, the refusals (each naming the node and
//! the rule), and a converted digits network whose quantised form keeps the float model's
//! decisions.

use mapper::import::{euler_counts, lower_nir, ImportError, ImportOptions};
use mapper::nir::{Matrix, NirGraph, NirNode};
use model::lif::{LifReset, RateCode};
use std::collections::BTreeMap;
use std::path::Path;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/nir")
        .join(name)
}

/// `Input(n_in) → weight → neuron → Output(n_out)`.
fn chain(n_in: usize, weight: NirNode, neuron: NirNode, n_out: usize) -> NirGraph {
    let mut nodes = BTreeMap::new();
    nodes.insert("in".to_string(), NirNode::Input { shape: vec![n_in] });
    nodes.insert("fc".to_string(), weight);
    nodes.insert("n".to_string(), neuron);
    nodes.insert("out".to_string(), NirNode::Output { shape: vec![n_out] });
    NirGraph {
        version: "test".into(),
        nodes,
        edges: vec![
            ("in".into(), "fc".into()),
            ("fc".into(), "n".into()),
            ("n".into(), "out".into()),
        ],
    }
}

fn opts(dt: f64, reset: Option<LifReset>) -> ImportOptions {
    ImportOptions {
        dt,
        steps: 16,
        weight_bits: 8,
        reset,
        encoding: Some(RateCode::Regular),
    }
}

#[test]
fn lif_layer_by_hand() {
    // dt/τ = 1/4, R = 2, θ = 0.5: per-step increment of input i is (1/4)·2·W/θ = W in
    // threshold units; W = [1, −0.5] → V = ⌊127 / 1⌋ = 127, weights [127, round(−63.5) = −64].
    // Constant: (1/4)(v_leak 0.1 + R·b 0.5) = 0.15 → 0.3 thresholds → 64·127·0.3 = 2438.4.
    let g = chain(
        2,
        NirNode::Affine {
            weight: Matrix {
                rows: 1,
                cols: 2,
                values: vec![1.0, -0.5],
            },
            bias: vec![0.25],
        },
        NirNode::Lif {
            tau: vec![4.0],
            r: vec![2.0],
            v_leak: vec![0.1],
            v_threshold: vec![0.5],
            v_reset: vec![0.0],
        },
        1,
    );
    let imp = lower_nir(&g, "hand.nir", &opts(1.0, None)).unwrap();
    let l = &imp.network.layers[0];
    assert_eq!(l.weights, vec![127, -64]);
    assert_eq!((l.neuron.du, l.neuron.dv, l.neuron.vth), (4095, 1024, 127));
    assert_eq!(l.neuron.reset, LifReset::Zero);
    assert_eq!(
        (l.bias_mant.clone(), l.bias_exp.clone()),
        (vec![2438], vec![0])
    );
    assert_eq!(imp.float[0].weights, vec![1.0, -0.5]);
    assert!((imp.float[0].bias[0] - 0.3).abs() < 1e-12);
    assert_eq!(imp.network.steps, 16);
    assert_eq!(l.name, "fc+n");
}

#[test]
fn cuba_lif_and_if_layers_by_hand() {
    // CubaLIF, dt = 1, τ_s = 2, τ_m = 4: du + 1 = 4096/2 → du = 2047, dv = 1024; gain
    // (1/4)·R·(1/2)·w_in = (1/4)·4·(1/2)·1 = 0.5, θ = 1 → W/2 in threshold units.
    let g = chain(
        3,
        NirNode::Linear {
            weight: Matrix {
                rows: 2,
                cols: 3,
                values: vec![2.0, -1.0, 0.5, 0.0, 1.0, -2.0],
            },
        },
        NirNode::CubaLif {
            tau_syn: vec![2.0],
            tau_mem: vec![4.0, 4.0],
            r: vec![4.0],
            v_leak: vec![0.0],
            v_threshold: vec![1.0, 2.0],
            v_reset: vec![0.0],
            w_in: vec![1.0],
        },
        2,
    );
    let imp = lower_nir(&g, "cuba.nir", &opts(1.0, Some(LifReset::Subtract))).unwrap();
    let l = &imp.network.layers[0];
    assert_eq!((l.neuron.du, l.neuron.dv), (2047, 1024));
    // Normalised: neuron 0 (θ 1): [1, −0.5, 0.25]; neuron 1 (θ 2): [0, 0.25, −0.5];
    // max 1 → V = 127.
    assert_eq!(l.neuron.vth, 127);
    assert_eq!(l.weights, vec![127, -64, 32, 0, 32, -64]);
    assert!(l.bias_mant.is_empty(), "no bias was given");
    assert_eq!(l.neuron.reset, LifReset::Subtract);
    assert_eq!(imp.float[0].current_keep, 0.5);
    assert_eq!(imp.float[0].voltage_keep, 0.75);

    // IF: v += dt·R·I; dt 0.5, R 4, θ 1 → 2·W; no decay.
    let g = chain(
        1,
        NirNode::Linear {
            weight: Matrix {
                rows: 1,
                cols: 1,
                values: vec![0.25],
            },
        },
        NirNode::If {
            r: vec![4.0],
            v_threshold: vec![1.0],
            v_reset: vec![0.0],
        },
        1,
    );
    let imp = lower_nir(&g, "if.nir", &opts(0.5, None)).unwrap();
    let l = &imp.network.layers[0];
    assert_eq!((l.neuron.du, l.neuron.dv), (4095, 0));
    // 0.5 threshold units per spike, cap 127 → V = 254, weight 127.
    assert_eq!((l.neuron.vth, l.weights[0]), (254, 127));
}

#[test]
fn what_the_chip_cannot_express_is_refused_by_name() {
    let lif = |tau: Vec<f64>, v_reset: Vec<f64>| NirNode::Lif {
        tau,
        r: vec![1.0],
        v_leak: vec![0.0],
        v_threshold: vec![1.0],
        v_reset,
    };
    let w = || NirNode::Linear {
        weight: Matrix {
            rows: 2,
            cols: 2,
            values: vec![1.0, 0.0, 0.0, 1.0],
        },
    };
    let cases: Vec<(NirGraph, ImportOptions, &str)> = vec![
        (
            chain(2, w(), lif(vec![1.0, 2.0], vec![0.0]), 2),
            opts(0.1, None),
            "node `n` (LIF): tau: 1 at neuron 0 but 2 at neuron 1",
        ),
        (
            chain(2, w(), lif(vec![1.0], vec![0.0, 0.5]), 2),
            opts(0.1, None),
            "node `n` (LIF): v_reset[1]: 0.5: the chip resets to 0 or subtracts the threshold",
        ),
        (
            chain(2, w(), lif(vec![0.01], vec![0.0]), 2),
            opts(1.0, None),
            "node `n` (LIF): tau: dt/tau = 100 gives the decay field 409600",
        ),
        (
            chain(3, w(), lif(vec![1.0], vec![0.0]), 2),
            opts(0.1, None),
            "node `fc` (Linear): weight: 2×2 (outputs × inputs), but 3 values feed it",
        ),
        (
            chain(2, w(), lif(vec![1.0], vec![0.0]), 2),
            opts(0.0, None),
            "dt: must be a positive number, found 0",
        ),
        (
            chain(
                2,
                NirNode::Affine {
                    weight: Matrix {
                        rows: 2,
                        cols: 2,
                        values: vec![1.0, 0.0, 0.0, 1.0],
                    },
                    bias: vec![0.0, 0.5],
                },
                NirNode::CubaLif {
                    tau_syn: vec![2.0],
                    tau_mem: vec![4.0],
                    r: vec![1.0],
                    v_leak: vec![0.0],
                    v_threshold: vec![1.0],
                    v_reset: vec![0.0],
                    w_in: vec![1.0],
                },
                2,
            ),
            opts(1.0, None),
            "node `fc` (Affine): bias[1]: 0.5 feeds a CubaLIF node",
        ),
        (
            chain(
                2,
                w(),
                NirNode::Other {
                    type_name: "LI".into(),
                },
                2,
            ),
            opts(1.0, None),
            "node `n` (LI) after the weight node `fc`",
        ),
    ];
    for (g, o, want) in cases {
        let e = lower_nir(&g, "case.nir", &o).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(want), "got {msg:?}, want {want:?}");
        if !matches!(e, ImportError::Option { .. }) {
            assert!(msg.starts_with("case.nir: "), "{msg}");
        }
    }

    // A branch: the Input feeds two nodes.
    let mut g = chain(2, w(), lif(vec![1.0], vec![0.0]), 2);
    g.nodes.insert("side".into(), NirNode::Flatten);
    g.edges.push(("in".into(), "side".into()));
    let msg = lower_nir(&g, "branch.nir", &opts(0.1, None))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("feeds 2 nodes"), "{msg}");

    // A real file with per-neuron time constants (tests/data/nir/lif_mlp.nir).
    let g = mapper::read_nir(&fixture("lif_mlp.nir")).unwrap();
    let msg = lower_nir(&g, "lif_mlp.nir", &opts(0.001, None))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("node `lif1` (LIF): tau"), "{msg}");
}

#[test]
fn converted_digits_network_keeps_the_float_models_decisions_when_quantised() {
    // tests/data/nir/make_digits_lif.py: a 64-64-10 ReLU net (95.83 % on the digits test
    // split) converted to IF / LIF neurons with reset by subtraction.
    let test = model::data::digits().unwrap().test;
    for (file, kind) in [("digits_if.nir", "IF"), ("digits_lif.nir", "LIF")] {
        let g = mapper::read_nir(&fixture(file)).unwrap();
        let o = ImportOptions {
            dt: 1.0,
            steps: 32,
            weight_bits: 8,
            reset: Some(LifReset::Subtract),
            encoding: Some(RateCode::Regular),
        };
        let imp = lower_nir(&g, file, &o).unwrap();
        assert_eq!(imp.layers[0].neuron_kind, kind);
        let net = &imp.network;
        assert_eq!(net.inputs, 64);
        assert_eq!(net.outputs(), 10);
        let (mut same, mut correct) = (0, 0);
        for k in 0..test.len() {
            let spikes = RateCode::Regular.encode(test.image(k), net.steps);
            let chip = net.forward(&spikes);
            let float = euler_counts(&imp.float, 64, &spikes, net.steps);
            same += usize::from(model::lif::decode_counts(&float) == chip.class);
            correct += usize::from(chip.class == test.label(k));
        }
        eprintln!("{file}: same class {same}/360, quantised accuracy {correct}/360");
        // 8-bit weights change at most a handful of decisions, and the converted network
        // classifies like the perceptron it came from (95.83 %).
        assert!(same >= 350, "{file}: same class on only {same}/360");
        assert!(correct >= 335, "{file}: {correct}/360 correct");
    }
}
