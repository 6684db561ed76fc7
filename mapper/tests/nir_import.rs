//! NIR graphs lowered to chip LIF networks (`mapper::import`): the discretisation and
//! quantisation formulas worked by hand on small graphs, the refusals (each naming the node and
//! the rule), and a converted digits network whose quantised form keeps the float model's
//! decisions.

use mapper::import::{euler_forward, lower_nir, Convention, ImportError, ImportOptions};
use mapper::nir::{Matrix, NirGraph, NirNode, Tensor4};
use model::lif::{LifReset, RateCode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/nir")
        .join(name)
}

/// The graph of `nodes` linked in the order given (a chain).
fn linked(nodes: Vec<(&str, NirNode)>) -> NirGraph {
    let edges = nodes
        .windows(2)
        .map(|w| (w[0].0.to_string(), w[1].0.to_string()))
        .collect();
    NirGraph {
        version: "test".into(),
        nodes: nodes
            .into_iter()
            .map(|(name, node)| (name.to_string(), node))
            .collect(),
        edges,
    }
}

/// Integrate-and-fire neurons with `R = 1`, `θ = 1`, reset to 0.
fn unit_if() -> NirNode {
    NirNode::If {
        r: vec![1.0],
        v_threshold: vec![1.0],
        v_reset: vec![0.0],
    }
}

/// LIF neurons with time constants `tau`, `R = 1`, `θ = 1`, no leak, reset to 0.
fn unit_lif(tau: Vec<f64>) -> NirNode {
    NirNode::Lif {
        tau,
        r: vec![1.0],
        v_leak: vec![0.0],
        v_threshold: vec![1.0],
        v_reset: vec![0.0],
    }
}

/// CubaLIF neurons with time constants `tau_syn`, `tau_mem`, `R = 1`, `w_in = 1`, `θ = 1`, no
/// leak, reset to 0.
fn unit_cuba_lif(tau_syn: Vec<f64>, tau_mem: Vec<f64>) -> NirNode {
    NirNode::CubaLif {
        tau_syn,
        tau_mem,
        r: vec![1.0],
        v_leak: vec![0.0],
        v_threshold: vec![1.0],
        v_reset: vec![0.0],
        w_in: vec![1.0],
    }
}

fn input(shape: &[usize]) -> NirNode {
    NirNode::Input {
        shape: shape.to_vec(),
    }
}

fn output(n: usize) -> NirNode {
    NirNode::Output { shape: vec![n] }
}

/// `Input(n_in) → weight → neuron → Output(n_out)`.
fn chain(n_in: usize, weight: NirNode, neuron: NirNode, n_out: usize) -> NirGraph {
    linked(vec![
        ("in", input(&[n_in])),
        ("fc", weight),
        ("n", neuron),
        ("out", output(n_out)),
    ])
}

fn opts(dt: f64, reset: Option<LifReset>) -> ImportOptions {
    ImportOptions {
        dt,
        steps: 16,
        weight_bits: 8,
        reset,
        encoding: Some(RateCode::Regular),
        ..ImportOptions::default()
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
    assert_eq!(imp.float[0].current_keep, [0.5, 0.5]);
    assert_eq!(imp.float[0].voltage_keep, [0.75, 0.75]);
    assert!(!imp.layers[0].per_neuron_decays && !l.has_per_neuron_decays());

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

/// `Input(1) → Linear(0.5) → neuron → Output(1)`.
fn one_neuron(neuron: NirNode) -> NirGraph {
    chain(
        1,
        NirNode::Linear {
            weight: matrix(1, 1, vec![0.5]),
        },
        neuron,
        1,
    )
}

#[test]
fn norse_exports_lower_as_norse_steps_its_cells() {
    // Norse 1.x writes dt·τ as `tau`, r = 1 and no w_in. Its cells, per step (dt = 1e-3):
    //   LIFBox: v ← v + (dt/τ)(v_leak − v + x)        (NIR's LIF, τ = tau/dt)
    //   LIF:    i ← i + x; v ← v + (dt/τ_m)(v_leak − v + i); i ← (1 − dt/τ_s) i
    //           (NIR's CubaLIF with τ = tau/dt and w_in = τ_s/dt: the input enters the current
    //           with the factor 1, not dt/τ_s)
    //   IAF:    v ← v + x                              (NIR's IF with r = 1/dt)
    let dt = 1e-3;
    let norse = ImportOptions {
        convention: Convention::Norse,
        ..opts(dt, None)
    };
    // τ_m = 10 ms → dt/τ_m = 0.1, τ_s = 5 ms → dt/τ_s = 0.2.
    let cases = [
        (unit_lif(vec![dt * 0.01]), 0.1 * 0.5, 0.0, 0.9, 410),
        (
            unit_cuba_lif(vec![dt * 0.005], vec![dt * 0.01]),
            0.1 * 0.5,
            0.8,
            0.9,
            410,
        ),
        (unit_if(), 0.5, 0.0, 1.0, 0),
    ];
    for (neuron, increment, current_keep, voltage_keep, dv) in cases {
        let imp = lower_nir(&one_neuron(neuron.clone()), "norse.nir", &norse).unwrap();
        let f = &imp.float[0];
        // The voltage (current) increment of one input spike, in threshold units, and the
        // decays (to their 12-bit rounding) are Norse's own.
        assert!(
            (f.weights[0] - increment).abs() < 1e-12,
            "{neuron:?}: {f:?}"
        );
        assert!((f.current_keep[0] - current_keep).abs() < 1e-3, "{f:?}");
        assert!((f.voltage_keep[0] - voltage_keep).abs() < 1e-3, "{f:?}");
        assert_eq!(imp.network.layers[0].neuron.dv, dv);
        assert!(imp.network.provenance.contains("Norse"));
        // The same file read as NIR is another network (a LIF's dt/τ of 100 is refused).
        match lower_nir(&one_neuron(neuron), "norse.nir", &opts(dt, None)) {
            Ok(nir) => assert_ne!(nir.float, imp.float),
            Err(e) => assert!(e.to_string().contains("Norse's conventions"), "{e}"),
        }
    }
    // An empty tau_syn is left for the lowering to refuse by name (no panic).
    let e = lower_nir(
        &one_neuron(unit_cuba_lif(vec![], vec![dt * 0.01])),
        "norse.nir",
        &norse,
    )
    .unwrap_err();
    assert!(e.to_string().contains("tau_syn"), "{e}");
    // w_in and tau_syn of different per-neuron lengths cannot be combined.
    let mut odd = unit_cuba_lif(vec![dt * 0.005; 3], vec![dt * 0.01]);
    if let NirNode::CubaLif { w_in, .. } = &mut odd {
        *w_in = vec![1.0, 2.0];
    }
    let e = lower_nir(&one_neuron(odd), "norse.nir", &norse).unwrap_err();
    assert!(
        e.to_string()
            .contains("node `n` (CubaLIF): w_in: has 2 values and tau_syn 3"),
        "{e}"
    );
}

#[test]
fn a_bias_into_a_cuba_lif_feeds_its_current() {
    // CubaLIF, dt = 1, τ_s = 2, τ_m = 4, R = 4: gain (1/4)·4·(1/2) = 0.5 on weights and bias
    // alike. Weights diag(1, 1) → 0.5 threshold units, V = ⌊127/0.5⌋ = 254; the bias
    // [0, 0.5] plus the recurrent node's [0.25, 0] is [0.25, 0.5] → 0.5·b = [0.125, 0.25]
    // per step into the current, 64·254·that = [2032, 4064] on the chip.
    let g = recurrent_graph(NirNode::Affine {
        weight: matrix(2, 2, vec![0.0; 4]),
        bias: vec![0.25, 0.0],
    });
    let mut g = g;
    g.nodes.insert(
        "fc".into(),
        NirNode::Affine {
            weight: matrix(2, 2, vec![1.0, 0.0, 0.0, 1.0]),
            bias: vec![0.0, 0.5],
        },
    );
    g.nodes.insert(
        "n".into(),
        NirNode::CubaLif {
            tau_syn: vec![2.0],
            tau_mem: vec![4.0],
            r: vec![4.0],
            v_leak: vec![0.0],
            v_threshold: vec![1.0],
            v_reset: vec![0.0],
            w_in: vec![1.0],
        },
    );
    let four = ImportOptions {
        steps: 4,
        ..opts(1.0, None)
    };
    let imp = lower_nir(&g, "cuba_bias.nir", &four).unwrap();
    let l = &imp.network.layers[0];
    assert_eq!(l.bias_target, model::lif::BiasTarget::Current);
    assert_eq!(l.neuron.vth, 254);
    assert_eq!(l.bias_mant, [2032, 4064]);
    assert_eq!(l.bias_exp, [0, 0]);
    let f = &imp.float[0];
    assert_eq!(f.bias_target, model::lif::BiasTarget::Current);
    assert_eq!(f.bias, [0.125, 0.25]);
    // With no input the current climbs to b/(1 − 1/2) = 2b and the voltage follows it: after
    // steps 0, 1, 2 neuron 1 has u = 0.25, 0.375, 0.4375 and v = 0.25, 0.5625, 0.859375; the
    // float model crosses θ = 1 at step 3 (u = 0.46875, v = 1.11328125), the chip at the same
    // step (in its units: u = 4064, 6096, 7112, 7620; v = 4064, 9144, 13970, 18097 > 254 << 6).
    let rec = euler_forward(&imp.float, 2, &[], 4);
    assert_eq!(rec.counts, [0, 1]);
    let out = imp.network.forward(&[]);
    assert_eq!(out.output_counts, [0, 1]);
    assert_eq!(out.first_output_spike, [None, Some(3)]);
    // The same bias into the voltage alone climbs towards b/(1 − 3/4) = θ from below and never
    // crosses (chip: v = 4064, 7112, 9398, 11112).
    let mut voltage = imp.network.clone();
    voltage.layers[0].bias_target = model::lif::BiasTarget::Voltage;
    assert_eq!(voltage.forward(&[]).first_output_spike, [None, None]);
}

#[test]
fn per_neuron_time_constants_become_per_neuron_decays() {
    // LIF, dt = 1, τ = [4, 2, 4]: dv = 4096/τ = [1024, 2048, 1024], the gain dt/τ·R differs
    // too (R = 1, θ = 1): increments [0.25, 0.5, 0.25]·W. CubaLIF with τ_s = [2, 4]: du + 1 =
    // [2048, 1024].
    let g = chain(
        1,
        NirNode::Linear {
            weight: Matrix {
                rows: 3,
                cols: 1,
                values: vec![2.0, 2.0, 4.0],
            },
        },
        unit_lif(vec![4.0, 2.0, 4.0]),
        3,
    );
    let imp = lower_nir(&g, "tau.nir", &opts(1.0, None)).unwrap();
    let l = &imp.network.layers[0];
    assert_eq!(l.dv_per_neuron, vec![1024, 2048, 1024]);
    assert_eq!(l.du_per_neuron, vec![4095, 4095, 4095]);
    assert_eq!((l.decays(1), l.neuron.dv), ((4095, 2048), 1024));
    assert!(imp.layers[0].per_neuron_decays);
    // Increments 0.5, 1, 1 thresholds: V = 127, weights 64 (63.5 rounds up), 127, 127.
    assert_eq!(l.weights, vec![64, 127, 127]);
    assert_eq!(imp.float[0].voltage_keep, [0.75, 0.5, 0.75]);
    // The chip network and the float model agree on a hand case: one input spike per step.
    let spikes: Vec<(u32, u32)> = (0..16).map(|t| (0, t)).collect();
    let chip = imp.network.forward(&spikes);
    let float = euler_forward(&imp.float, 1, &spikes, 16);
    assert_eq!(chip.output_counts, float.counts);
    assert!(
        chip.output_counts[1] > chip.output_counts[0],
        "{:?}",
        chip.output_counts
    );

    let g = chain(
        1,
        NirNode::Linear {
            weight: Matrix {
                rows: 2,
                cols: 1,
                values: vec![1.0, 1.0],
            },
        },
        unit_cuba_lif(vec![2.0, 4.0], vec![4.0]),
        2,
    );
    let imp = lower_nir(&g, "cuba.nir", &opts(1.0, None)).unwrap();
    let l = &imp.network.layers[0];
    assert_eq!(l.du_per_neuron, vec![2047, 1023]);
    assert_eq!(l.dv_per_neuron, vec![1024, 1024]);
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
            chain(2, w(), lif(vec![2.0, 0.01], vec![0.0]), 2),
            opts(1.0, None),
            "node `n` (LIF): tau[1]: dt/tau[1] = 100 gives the decay field 409600",
        ),
        (
            // What snnTorch's exporter writes for a β learned above 1.
            chain(2, w(), lif(vec![2.0, -0.5], vec![0.0]), 2),
            opts(1.0, None),
            "node `n` (LIF): tau[1]: must be > 0, found -0.5 (a per-step decay factor above 1",
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
                    v_leak: vec![0.0, 0.25],
                    v_threshold: vec![1.0],
                    v_reset: vec![0.0],
                    w_in: vec![1.0],
                },
                2,
            ),
            opts(1.0, None),
            "node `n` (CubaLIF): v_leak[1]: 0.25 with a bias into the current (bias[1] = 0.5)",
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

    // A real file with per-neuron time constants (tests/data/nir/lif_mlp.nir) imports with
    // one decay per neuron, round(4096 · dt / τ_j).
    let g = mapper::read_nir(&fixture("lif_mlp.nir")).unwrap();
    let Some(NirNode::Lif { tau, .. }) = g.nodes.get("lif1") else {
        panic!("lif_mlp.nir has a LIF node lif1");
    };
    let dt = 0.001;
    let want: Vec<u16> = tau
        .iter()
        .map(|t| (4096.0 * dt / t).round() as u16)
        .collect();
    assert!(want.iter().any(|&d| d != want[0]), "the fixture's τ differ");
    let imp = lower_nir(&g, "lif_mlp.nir", &opts(dt, Some(LifReset::Subtract))).unwrap();
    assert_eq!(imp.network.layers[0].dv_per_neuron, want);
}

/// How the converted digits fixtures are lowered: the `--dt 1 --reset subtract --steps 32`
/// they were written for, 8-bit weights, the regular rate code.
fn converted_digits_opts() -> ImportOptions {
    ImportOptions {
        dt: 1.0,
        steps: 32,
        weight_bits: 8,
        reset: Some(LifReset::Subtract),
        encoding: Some(RateCode::Regular),
        ..ImportOptions::default()
    }
}

#[test]
fn converted_digits_network_keeps_the_float_models_decisions_when_quantised() {
    // tests/data/nir/make_digits_lif.py: a 64-64-10 ReLU net and a conv(8, 3×3, stride 2) CNN
    // (both 95.83 % on the digits test split) converted to IF / LIF neurons with reset by
    // subtraction.
    let test = model::data::digits().unwrap().test;
    for (file, kind) in [
        ("digits_if.nir", "IF"),
        ("digits_lif.nir", "LIF"),
        ("digits_conv.nir", "IF"),
        ("digits_li.nir", "IF"),
    ] {
        let g = mapper::read_nir(&fixture(file)).unwrap();
        let o = converted_digits_opts();
        let imp = lower_nir(&g, file, &o).unwrap();
        assert_eq!(imp.layers[0].neuron_kind, kind);
        let net = &imp.network;
        assert_eq!(net.inputs, 64);
        assert_eq!(net.outputs(), 10);
        let (mut same, mut correct) = (0, 0);
        for k in 0..test.len() {
            let spikes = RateCode::Regular.encode(test.image(k), net.steps);
            let chip = net.forward(&spikes);
            let float = euler_forward(&imp.float, 64, &spikes, net.steps);
            same += usize::from(float.class(net.readout) == chip.class);
            correct += usize::from(chip.class == test.label(k));
        }
        eprintln!("{file}: same class {same}/360, quantised accuracy {correct}/360");
        // 8-bit weights change at most a handful of decisions, and the converted network
        // classifies like the perceptron it came from (95.83 %).
        assert!(same >= 350, "{file}: same class on only {same}/360");
        assert!(correct >= 335, "{file}: {correct}/360 correct");
    }
}

/// `Input(1, 4, 4) → Conv2d → IF → Flatten → Linear → IF → Output`.
fn conv_graph(v_threshold: Vec<f64>, groups: usize, kernel: [usize; 2]) -> NirGraph {
    let [kh, kw] = kernel;
    linked(vec![
        ("in", input(&[1, 4, 4])),
        (
            "conv",
            NirNode::Conv2d {
                weight: Tensor4 {
                    dims: [2, 1, kh, kw],
                    values: (0..2 * kh * kw).map(|x| (x as f64 - 8.0) / 8.0).collect(),
                },
                bias: vec![0.5, -0.25],
                stride: [1, 1],
                padding: [1, 1],
                dilation: [1, 1],
                groups,
                input_shape: Some([4, 4]),
            },
        ),
        (
            "n1",
            NirNode::If {
                r: vec![1.0],
                v_threshold,
                v_reset: vec![0.0],
            },
        ),
        ("flat", NirNode::Flatten),
        (
            "fc",
            NirNode::Linear {
                weight: Matrix {
                    rows: 3,
                    cols: 32,
                    values: (0..96)
                        .map(|x| if x % 5 == 0 { 0.5 } else { -0.125 })
                        .collect(),
                },
            },
        ),
        ("n2", unit_if()),
        ("out", output(3)),
    ])
}

#[test]
fn conv_layer_by_hand() {
    // dt 1, R 1, θ 0.5 for channel 0 and 1 for channel 1 (one value per channel): the
    // increments are W/θ, i.e. 2W and W; W runs over (x − 8)/8 for x = 0..18, so the largest
    // normalised weight is 2·|−1| = 2 → V = ⌊127/2⌋ = 63.
    let g = conv_graph(vec![0.5, 1.0], 1, [3, 3]);
    let imp = lower_nir(&g, "conv.nir", &opts(1.0, None)).unwrap();
    let l = &imp.network.layers[0];
    let c = l.conv.expect("a convolutional layer");
    assert_eq!(
        (
            c.in_channels,
            c.in_height,
            c.in_width,
            c.out_channels,
            c.kernel,
            c.stride,
            c.padding
        ),
        (1, 4, 4, 2, 3, 1, 1)
    );
    assert_eq!((l.inputs, l.outputs, l.neuron.vth), (16, 32, 63));
    let want: Vec<i16> = (0..18)
        .map(|x| {
            let w = (x as f64 - 8.0) / 8.0 / if x < 9 { 0.5 } else { 1.0 };
            (63.0 * w).round() as i16
        })
        .collect();
    assert_eq!(l.weights, want);
    // Bias per channel, broadcast over its 16 positions: 64·V·b/θ = 64·63·0.5/0.5 = 4032
    // (mantissa 4032, exponent 0) and 64·63·(−0.25)/1 = −1008.
    assert_eq!(l.bias_mant[..16], [4032; 16]);
    assert_eq!(l.bias_mant[16..], [-1008; 16]);
    // The dense layer after the map reads its 32 units in raster order.
    assert_eq!(imp.network.layers[1].inputs, 32);
    assert!(imp.network.layers[1].conv.is_none());
}

#[test]
fn a_leading_batch_dimension_of_the_input_is_dropped() {
    let mut g = conv_graph(vec![0.5, 1.0], 1, [3, 3]);
    g.nodes.insert(
        "in".to_string(),
        NirNode::Input {
            shape: vec![1, 1, 4, 4],
        },
    );
    let imp = lower_nir(&g, "batch.nir", &opts(1.0, None)).unwrap();
    let c = imp.network.layers[0].conv.expect("a convolution");
    assert_eq!((c.in_channels, c.in_height, c.in_width), (1, 4, 4));
}

#[test]
fn conv_layers_the_chip_cannot_share_are_refused() {
    // θ varying inside a channel breaks weight sharing.
    let mut theta = vec![1.0; 32];
    theta[5] = 2.0;
    let msg = lower_nir(&conv_graph(theta, 1, [3, 3]), "c.nir", &opts(1.0, None))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("node `n1` (IF)") && msg.contains("vary within output channel 0"),
        "{msg}"
    );
    let msg = lower_nir(&conv_graph(vec![1.0], 2, [3, 3]), "c.nir", &opts(1.0, None))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("node `conv` (Conv2d): groups: 2"), "{msg}");
    let msg = lower_nir(&conv_graph(vec![1.0], 1, [3, 2]), "c.nir", &opts(1.0, None))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("kernel 3×2"), "{msg}");
}

/// `Input(c, h, w) → pool → [Flatten] → weight → IF(R 1, θ 1) → Output(n)`, dt 1: the float
/// model's weights are the weight node's own.
fn pooled_graph(
    shape: [usize; 3],
    pool: NirNode,
    flatten: bool,
    weight: NirNode,
    n: usize,
) -> NirGraph {
    let mut nodes = vec![("in", input(&shape)), ("pool", pool)];
    if flatten {
        nodes.push(("flat", NirNode::Flatten));
    }
    nodes.extend([("w", weight), ("n", unit_if()), ("out", output(n))]);
    linked(nodes)
}

/// A deterministic pseudo-random spike pattern over `n` units.
fn pattern(n: usize, seed: u64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let h = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed;
            f64::from(u8::from(h.rotate_left(17).is_multiple_of(3)))
        })
        .collect()
}

/// `x` (`c × h × w`) summed over `p × p` windows.
fn sum_pool(x: &[f64], [c, h, w]: [usize; 3], p: usize) -> Vec<f64> {
    let (hp, wp) = (h / p, w / p);
    let mut out = vec![0.0; c * hp * wp];
    for ch in 0..c {
        for y in 0..h {
            for xx in 0..w {
                out[(ch * hp + y / p) * wp + xx / p] += x[(ch * h + y) * w + xx];
            }
        }
    }
    out
}

#[test]
fn sum_and_average_pooling_fold_into_the_next_layer_exactly() {
    // Dense after an average pool: the folded layer applied to a pattern equals the weight
    // node applied to the pooled pattern.
    let w: Vec<f64> = (0..3 * 8).map(|x| (x as f64 - 11.0) / 4.0).collect();
    let g = pooled_graph(
        [2, 4, 4],
        NirNode::AvgPool2d {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
        },
        true,
        NirNode::Linear {
            weight: Matrix {
                rows: 3,
                cols: 8,
                values: w.clone(),
            },
        },
        3,
    );
    let imp = lower_nir(&g, "avg.nir", &opts(1.0, None)).unwrap();
    let f = &imp.float[0];
    assert_eq!((f.inputs, imp.network.layers[0].inputs), (32, 32));
    for seed in 0..20 {
        let x = pattern(32, seed);
        let pooled: Vec<f64> = sum_pool(&x, [2, 4, 4], 2).iter().map(|v| v / 4.0).collect();
        for j in 0..3 {
            let folded: f64 = (0..32).map(|i| f.weights[j * 32 + i] * x[i]).sum();
            let direct: f64 = (0..8).map(|u| w[j * 8 + u] * pooled[u]).sum();
            assert!((folded - direct).abs() < 1e-12, "seed {seed} neuron {j}");
        }
    }

    // A padded convolution after a sum pool: kernel 2 → 4, stride 1 → 2, padding 1 → 2.
    let (o_n, c_n) = (3, 2);
    let wc: Vec<f64> = (0..o_n * c_n * 4)
        .map(|x| (x as f64 - 10.0) / 8.0)
        .collect();
    let g = pooled_graph(
        [c_n, 6, 6],
        NirNode::SumPool2d {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
        },
        false,
        NirNode::Conv2d {
            weight: Tensor4 {
                dims: [o_n, c_n, 2, 2],
                values: wc.clone(),
            },
            bias: vec![],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            groups: 1,
            input_shape: None,
        },
        o_n * 16,
    );
    let imp = lower_nir(&g, "sum.nir", &opts(1.0, None)).unwrap();
    let conv = imp.network.layers[0].conv.expect("a convolution");
    assert_eq!(
        (
            conv.in_height,
            conv.kernel,
            conv.stride,
            conv.padding,
            conv.out_height()
        ),
        (6, 4, 2, 2, 4)
    );
    let f = &imp.float[0];
    for seed in 0..20 {
        let x = pattern(c_n * 36, seed);
        let mut folded = vec![0.0; o_n * 16];
        for (i, &xi) in x.iter().enumerate() {
            if xi != 0.0 {
                conv.for_each_target(i, |j, widx| folded[j] += f.weights[widx] * xi);
            }
        }
        let pooled = sum_pool(&x, [c_n, 6, 6], 2);
        for o in 0..o_n {
            for oy in 0..4i64 {
                for ox in 0..4i64 {
                    let mut direct = 0.0;
                    for c in 0..c_n {
                        for ky in 0..2i64 {
                            for kx in 0..2i64 {
                                let (y, xx) = (oy - 1 + ky, ox - 1 + kx);
                                if (0..3).contains(&y) && (0..3).contains(&xx) {
                                    direct += wc
                                        [((o * c_n + c) * 2 + ky as usize) * 2 + kx as usize]
                                        * pooled[(c * 3 + y as usize) * 3 + xx as usize];
                                }
                            }
                        }
                    }
                    let j = (o * 4 + oy as usize) * 4 + ox as usize;
                    assert!((folded[j] - direct).abs() < 1e-12, "seed {seed} neuron {j}");
                }
            }
        }
    }

    // Overlapping or non-tiling windows are refused by name.
    let bad = |pool: NirNode, input: [usize; 3]| {
        let g = pooled_graph(
            input,
            pool,
            true,
            NirNode::Linear {
                weight: Matrix {
                    rows: 1,
                    cols: 4,
                    values: vec![1.0; 4],
                },
            },
            1,
        );
        lower_nir(&g, "bad.nir", &opts(1.0, None))
            .unwrap_err()
            .to_string()
    };
    let msg = bad(
        NirNode::SumPool2d {
            kernel: [2, 2],
            stride: [1, 1],
            padding: [0, 0],
        },
        [1, 3, 3],
    );
    assert!(
        msg.contains("node `pool` (SumPool2d)") && msg.contains("stride = kernel"),
        "{msg}"
    );
    let msg = bad(
        NirNode::AvgPool2d {
            kernel: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
        },
        [1, 5, 4],
    );
    assert!(msg.contains("do not tile the 5×4 map"), "{msg}");
}

#[test]
fn non_finite_or_empty_parameters_are_refused_not_rounded() {
    let lif = |v_threshold: Vec<f64>| NirNode::Lif {
        tau: vec![2.0],
        r: vec![1.0],
        v_leak: vec![0.0],
        v_threshold,
        v_reset: vec![0.0],
    };
    let linear = |values: Vec<f64>, rows: usize, cols: usize| NirNode::Linear {
        weight: Matrix { rows, cols, values },
    };
    let cases = [
        (
            chain(2, linear(vec![1.0, f64::NAN], 1, 2), lif(vec![1.0]), 1),
            "node `fc` (Linear): weight[1]: NaN is not a finite number",
        ),
        (
            chain(2, linear(vec![1.0, 2.0], 1, 2), lif(vec![f64::INFINITY]), 1),
            "node `n` (LIF): v_threshold[0]: inf is not a finite number",
        ),
        (
            chain(0, linear(vec![], 1, 0), lif(vec![1.0]), 1),
            "node `fc` (Linear): weight: has no outputs or no inputs",
        ),
    ];
    for (g, want) in cases {
        let msg = lower_nir(&g, "x.nir", &opts(1.0, None))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(want), "got {msg:?}, want {want:?}");
    }
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    /// A parameter vector: empty, a scalar, or several values, some of them odd (0, negative).
    fn param() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(prop_oneof![Just(0.0), Just(-1.0), 0.01f64..5.0], 0..4)
    }

    /// Any node the lowering meets, with small, often inconsistent sizes.
    fn node() -> impl Strategy<Value = NirNode> {
        let dims = 0usize..4;
        prop_oneof![
            (dims.clone(), dims.clone(), param()).prop_map(|(rows, cols, bias)| NirNode::Affine {
                weight: Matrix {
                    rows,
                    cols,
                    values: vec![0.5; rows * cols],
                },
                bias,
            }),
            (param(), param(), param()).prop_map(|(r, v_threshold, v_reset)| NirNode::If {
                r,
                v_threshold,
                v_reset,
            }),
            (param(), param(), param(), param()).prop_map(|(tau, r, v_leak, v_threshold)| {
                NirNode::Lif {
                    tau,
                    r,
                    v_leak,
                    v_threshold,
                    v_reset: vec![0.0],
                }
            }),
            (1usize..3, 1usize..3, 1usize..4, 0usize..3, 0usize..2).prop_map(|(o, c, k, s, p)| {
                NirNode::Conv2d {
                    weight: Tensor4 {
                        dims: [o, c, k, k],
                        values: vec![0.25; o * c * k * k],
                    },
                    bias: vec![],
                    stride: [s, s],
                    padding: [p, p],
                    dilation: [1, 1],
                    groups: 1,
                    input_shape: None,
                }
            }),
            (0usize..3, 0usize..3).prop_map(|(k, s)| NirNode::SumPool2d {
                kernel: [k, k],
                stride: [s, s],
                padding: [0, 0],
            }),
            Just(NirNode::Flatten),
            prop::collection::vec(
                prop_oneof![
                    Just(0.0),
                    Just(1.0),
                    Just(-1.0),
                    Just(0.5),
                    Just(300.0),
                    Just(f64::NAN)
                ],
                0..4
            )
            .prop_map(|delay| NirNode::Delay { delay }),
            param().prop_map(|scale| NirNode::Scale { scale }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        /// Layered chains (`Linear → IF/LIF` per layer) with feedback: per layer none, a
        /// recurrent `n×n` weight, a wrongly sized one, or a weight leading back to the layer
        /// before (a cycle); optionally the whole graph nested. A valid network (recurrent
        /// layers where the motif is right, checked) or an error; never a panic.
        #[test]
        fn layered_chains_with_feedback_lower_or_are_refused(
            n_in in 1usize..4,
            layers in prop::collection::vec((1usize..4, any::<bool>(), 0u8..4, -1.0f64..1.0), 1..4),
            nest in any::<bool>(),
        ) {
            let mut nodes: Vec<(String, NirNode)> = vec![("in".into(), input(&[n_in]))];
            // (weight node, its size, the layer it leaves, the layer it leads back to)
            let mut extra: Vec<(String, usize, usize, usize)> = Vec::new();
            let mut prev = n_in;
            for (k, &(n, leaky, feedback, w)) in layers.iter().enumerate() {
                nodes.push((
                    format!("w{k}"),
                    NirNode::Linear {
                        weight: Matrix { rows: n, cols: prev, values: vec![w; n * prev] },
                    },
                ));
                let neuron = if leaky {
                    unit_lif(vec![4.0])
                } else {
                    unit_if()
                };
                nodes.push((format!("n{k}"), neuron));
                let size = if feedback == 2 { n + 1 } else { n };
                let back = if feedback == 3 { k.saturating_sub(1) } else { k };
                if feedback > 0 {
                    extra.push((format!("r{k}"), size, k, back));
                }
                prev = n;
            }
            nodes.push(("out".into(), output(prev)));
            let mut g = linked(nodes.iter().map(|(k, n)| (k.as_str(), n.clone())).collect());
            for (name, size, from, back) in &extra {
                g.nodes.insert(
                    name.clone(),
                    NirNode::Linear {
                        weight: Matrix { rows: *size, cols: *size, values: vec![-0.5; size * size] },
                    },
                );
                g.edges.push((format!("n{from}"), name.clone()));
                g.edges.push((name.clone(), format!("n{back}")));
            }
            if nest {
                g = linked(vec![("x", input(&[n_in])), ("g", NirNode::Graph(g)), ("y", output(prev))]);
            }
            let expect_ok = extra
                .iter()
                .all(|&(_, size, from, back)| from == back && size == layers[from].0);
            match lower_nir(&g, "p.nir", &opts(1.0, Some(LifReset::Subtract))) {
                Ok(imp) => {
                    prop_assert!(expect_ok);
                    prop_assert!(imp.network.validate().is_ok());
                    for (k, l) in imp.network.layers.iter().enumerate() {
                        let rec = extra.iter().any(|&(_, _, from, _)| from == k);
                        prop_assert_eq!(!l.recurrent.is_empty(), rec);
                    }
                    let spikes: Vec<(u32, u32)> =
                        (0..imp.network.inputs).map(|c| (c, c % 3)).collect();
                    let _ = imp.network.forward(&spikes);
                    let _ = euler_forward(&imp.float, imp.network.inputs as usize, &spikes, 4);
                }
                Err(e) => prop_assert!(!expect_ok, "refused a valid recurrent chain: {e}"),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Any chain of nodes lowers to a valid network or an error; never a panic.
        #[test]
        fn any_chain_lowers_or_is_refused(
            shape in prop::collection::vec(0usize..5, 1..4),
            middle in prop::collection::vec(node(), 0..5),
            out in 0usize..4,
            dt in prop_oneof![Just(0.0), 0.01f64..3.0],
        ) {
            let names: Vec<String> = (0..middle.len()).map(|k| format!("n{k}")).collect();
            let mut nodes = vec![("in", input(&shape))];
            nodes.extend(names.iter().map(String::as_str).zip(middle));
            nodes.push(("out", output(out)));
            let g = linked(nodes);
            if let Ok(imp) = lower_nir(&g, "p.nir", &opts(dt, Some(LifReset::Subtract))) {
                prop_assert!(imp.network.validate().is_ok());
                let spikes: Vec<(u32, u32)> =
                    (0..imp.network.inputs).map(|c| (c, c % 3)).collect();
                let _ = imp.network.forward(&spikes);
            }
        }

        /// Well-formed two-layer chains with extreme values (tiny and huge weights, biases,
        /// thresholds, time constants): a valid network whose forward pass runs, or an error.
        #[test]
        fn extreme_values_lower_or_are_refused(
            n_in in 1usize..40,
            hidden in 1usize..20,
            scale in prop_oneof![Just(1e-9), Just(1e-3), Just(1.0), Just(1e3), Just(1e9)],
            bias in prop_oneof![Just(0.0), Just(1e-6), Just(5.0), Just(-1e6)],
            theta in prop_oneof![Just(1e-6), Just(1.0), Just(1e6)],
            tau in prop_oneof![Just(1e-4), Just(0.5), Just(1.0), Just(1e4)],
            dt in prop_oneof![Just(1e-4), Just(1.0)],
        ) {
            let w = |rows: usize, cols: usize| Matrix {
                rows,
                cols,
                values: (0..rows * cols)
                    .map(|x| scale * ((x % 7) as f64 - 3.0))
                    .collect(),
            };
            let g = linked(vec![
                ("a", input(&[n_in])),
                ("b", NirNode::Affine { weight: w(hidden, n_in), bias: vec![bias] }),
                ("c", NirNode::Lif {
                    tau: vec![tau],
                    r: vec![tau / dt],
                    v_leak: vec![0.0],
                    v_threshold: vec![theta],
                    v_reset: vec![0.0],
                }),
                ("d", NirNode::Linear { weight: w(3, hidden) }),
                ("e", NirNode::If {
                    r: vec![1.0],
                    v_threshold: vec![theta],
                    v_reset: vec![0.0],
                }),
                ("f", output(3)),
            ]);
            if let Ok(imp) = lower_nir(&g, "x.nir", &opts(dt, None)) {
                prop_assert!(imp.network.validate().is_ok());
                let spikes: Vec<(u32, u32)> = (0..n_in as u32).map(|c| (c, c % 5)).collect();
                let r = imp.network.forward(&spikes);
                prop_assert_eq!(r.output_counts.len(), 3);
            }
        }
    }
}

#[test]
fn leaky_integrators_are_a_voltage_read_out_and_only_that() {
    use model::lif::{Readout, NEVER_FIRES};
    // LI, dt 1, τ 4, R 8: the per-step increment is (1/4)·8·W = 2W with a unit "threshold";
    // W = [0.5, −1] → 2W = [1, −2] → V = ⌊127/2⌋ = 63, weights [63, −126]; dv = 1024.
    let li = NirNode::Li {
        tau: vec![4.0],
        r: vec![8.0],
        v_leak: vec![0.0],
    };
    let w = NirNode::Linear {
        weight: Matrix {
            rows: 1,
            cols: 2,
            values: vec![0.5, -1.0],
        },
    };
    let short = ImportOptions {
        steps: 4,
        ..opts(1.0, None)
    };
    let imp = lower_nir(&chain(2, w.clone(), li.clone(), 1), "li.nir", &short).unwrap();
    let l = &imp.network.layers[0];
    assert_eq!(l.weights, vec![63, -126]);
    assert_eq!((l.neuron.dv, l.neuron.vth), (1024, NEVER_FIRES));
    assert_eq!(imp.layers[0].scale, 63);
    assert_eq!(imp.network.readout, Readout::FinalVoltage);
    assert!(imp.float[0].silent);
    // The chip voltage is 64 · V times the float model's, up to the decay's truncation: after
    // inputs +1, +1, −2, +1 (threshold units) with keep 0.75: 1, 1.75, −0.6875, 0.484375.
    let spikes = [(0, 0), (0, 1), (1, 2), (0, 3)];
    let chip = imp.network.forward(&spikes);
    let float = euler_forward(&imp.float, 2, &spikes, 4);
    assert!((float.voltage[0] - 0.484_375).abs() < 1e-12, "{float:?}");
    assert_eq!(chip.output_counts, vec![0]);
    let want = 64.0 * 63.0 * float.voltage[0];
    assert!(
        (f64::from(chip.output_voltage[0]) - want).abs() <= 3.0,
        "chip voltage {} against 64·63·{} = {want}",
        chip.output_voltage[0],
        float.voltage[0]
    );

    // A leaky integrator feeding another layer has no spikes to send.
    let g = linked(vec![
        ("a", input(&[2])),
        ("b", w),
        ("c", li),
        (
            "d",
            NirNode::Linear {
                weight: Matrix {
                    rows: 1,
                    cols: 1,
                    values: vec![1.0],
                },
            },
        ),
        ("e", unit_if()),
        ("f", output(1)),
    ]);
    let msg = lower_nir(&g, "mid.nir", &opts(1.0, None))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("layer `b+c` is a leaky integrator") && msg.contains("feeds another layer"),
        "{msg}"
    );
}

/// `rows × cols` matrix of `values` (row-major).
fn matrix(rows: usize, cols: usize, values: Vec<f64>) -> Matrix {
    Matrix { rows, cols, values }
}

/// `Input(2) → fc → n → Output(2)` with `n → rec → n`: a recurrent IF layer.
fn recurrent_graph(rec: NirNode) -> NirGraph {
    let mut g = chain(
        2,
        NirNode::Linear {
            weight: matrix(2, 2, vec![0.5, 0.0, 0.0, 0.25]),
        },
        unit_if(),
        2,
    );
    g.nodes.insert("rec".into(), rec);
    g.edges.push(("n".into(), "rec".into()));
    g.edges.push(("rec".into(), "n".into()));
    g
}

#[test]
fn recurrent_layer_by_hand() {
    // IF, dt = 1, R = 1, θ = 1: increments are the weights themselves. Input weights
    // diag(0.5, 0.25), recurrent [[0, -1], [0.75, 0]]: the largest |w| is 1, and the fan-in
    // bound counts 2 inputs + 2 recurrent, so V = min(127, ⌊32767 / 4⌋) / 1 = 127.
    let g = recurrent_graph(NirNode::Affine {
        weight: matrix(2, 2, vec![0.0, -1.0, 0.75, 0.0]),
        bias: vec![0.0, 0.125],
    });
    let imp = lower_nir(&g, "rec.nir", &opts(1.0, None)).unwrap();
    let l = &imp.network.layers[0];
    assert_eq!(l.neuron.vth, 127);
    assert_eq!(l.weights, vec![64, 0, 0, 32]); // round(63.5) = 64, round(31.75) = 32
    assert_eq!(l.recurrent, vec![0, -127, 95, 0]); // round(95.25) = 95
                                                   // The recurrent node's bias is the layer's: 0.125 threshold units per step → 64·127/8.
    assert_eq!(l.bias_mant, vec![0, 1016]);
    assert_eq!(imp.float[0].recurrent, vec![0.0, -1.0, 0.75, 0.0]);
    assert_eq!(imp.layers[0].zeroed_weights, 0);

    // What the chain looks like without the recurrent node: no recurrent weights.
    let plain = chain(
        2,
        NirNode::Linear {
            weight: matrix(2, 2, vec![0.5, 0.0, 0.0, 0.25]),
        },
        unit_if(),
        2,
    );
    let imp = lower_nir(&plain, "plain.nir", &opts(1.0, None)).unwrap();
    assert!(imp.network.layers[0].recurrent.is_empty());
    assert!(imp.float[0].recurrent.is_empty());
}

#[test]
fn recurrent_float_and_chip_models_agree_on_a_hand_case() {
    // Neuron 0 fires from its input (2 thresholds per spike: every step); neuron 1 has no
    // input and is driven only by neuron 0's previous-step spikes (1.5 thresholds): it must
    // fire from step 1 on, in the float model and in the quantised network alike.
    let mut g = recurrent_graph(NirNode::Linear {
        weight: matrix(2, 2, vec![0.0, 0.0, 1.5, 0.0]),
    });
    g.nodes.insert(
        "fc".into(),
        NirNode::Linear {
            weight: matrix(2, 2, vec![2.0, 0.0, 0.0, 0.0]),
        },
    );
    let imp = lower_nir(&g, "rec.nir", &opts(1.0, None)).unwrap();
    let spikes: Vec<(u32, u32)> = (0..8).map(|t| (0, t)).collect();
    let mut net = imp.network.clone();
    net.steps = 8;
    let chip = net.forward(&spikes);
    let float = euler_forward(&imp.float, 2, &spikes, 8);
    assert_eq!(float.counts, vec![8, 7]);
    assert_eq!(chip.output_counts, float.counts);
    assert_eq!(chip.first_output_spike, vec![Some(0), Some(1)]);
}

#[test]
fn snntorch_nested_recurrent_graph_lowers_like_the_flat_one() {
    // snnTorch writes RLeaky / RSynaptic as a subgraph {input, lif, w_rec, output} with edges
    // input → lif, lif → w_rec, w_rec → lif, lif → output.
    let rec = NirNode::Linear {
        weight: matrix(2, 2, vec![0.0, -1.0, 0.75, 0.0]),
    };
    let flat = recurrent_graph(rec.clone());
    let sub = NirGraph {
        version: "test".into(),
        nodes: [
            ("input", input(&[2])),
            ("lif", unit_if()),
            ("w_rec", rec),
            ("output", output(2)),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect(),
        edges: [
            ("input", "lif"),
            ("lif", "w_rec"),
            ("w_rec", "lif"),
            ("lif", "output"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect(),
    };
    let nested = linked(vec![
        ("in", input(&[2])),
        (
            "fc",
            NirNode::Linear {
                weight: matrix(2, 2, vec![0.5, 0.0, 0.0, 0.25]),
            },
        ),
        ("rleaky", NirNode::Graph(sub)),
        ("out", output(2)),
    ]);
    let a = lower_nir(&flat, "x", &opts(1.0, None)).unwrap();
    let b = lower_nir(&nested, "x", &opts(1.0, None)).unwrap();
    assert_eq!(b.network.layers[0].name, "fc+rleaky.lif");
    let mut renamed = b.network.clone();
    renamed.layers[0].name = a.network.layers[0].name.clone();
    assert_eq!(renamed.layers, a.network.layers);
    assert_eq!(b.float, a.float);
}

#[test]
fn recurrent_nodes_the_chip_cannot_run_are_refused_by_name() {
    let err = |g: &NirGraph| {
        lower_nir(g, "r.nir", &opts(1.0, None))
            .unwrap_err()
            .to_string()
    };
    // Wrong shape.
    let g = recurrent_graph(NirNode::Linear {
        weight: matrix(3, 2, vec![0.0; 6]),
    });
    let m = err(&g);
    assert!(
        m.contains("node `rec` (Linear)") && m.contains("2×2"),
        "{m}"
    );
    // Feeding back from a leaky integrator.
    let mut g = recurrent_graph(NirNode::Linear {
        weight: matrix(2, 2, vec![0.0; 4]),
    });
    g.nodes.insert(
        "n".into(),
        NirNode::Li {
            tau: vec![2.0],
            r: vec![1.0],
            v_leak: vec![0.0],
        },
    );
    let m = err(&g);
    assert!(
        m.contains("node `rec`") && m.contains("leaky integrator"),
        "{m}"
    );
    // A weight node that leads elsewhere is a branch, not a recurrence.
    let mut g = recurrent_graph(NirNode::Linear {
        weight: matrix(2, 2, vec![0.0; 4]),
    });
    g.edges
        .retain(|e| *e != ("rec".to_string(), "n".to_string()));
    g.edges.push(("rec".into(), "out".into()));
    let m = err(&g);
    assert!(m.contains("feeds 2 nodes"), "{m}");
    // A nested graph with two inputs.
    let mut sub = recurrent_graph(NirNode::Linear {
        weight: matrix(2, 2, vec![0.0; 4]),
    });
    sub.nodes.insert("in2".into(), input(&[2]));
    let g = linked(vec![
        ("in", input(&[2])),
        ("g", NirNode::Graph(sub)),
        ("out", output(2)),
    ]);
    let m = err(&g);
    assert!(m.contains("nested graph `g` has 2 Input"), "{m}");
}

fn delay(taus: &[f64]) -> NirNode {
    NirNode::Delay {
        delay: taus.to_vec(),
    }
}

fn linear(rows: usize, cols: usize, values: Vec<f64>) -> NirNode {
    NirNode::Linear {
        weight: Matrix { rows, cols, values },
    }
}

#[test]
fn delay_nodes_become_input_delays() {
    // tests/data/nir/make_fixtures.py `delays()`: 2/1024 s and 0 between fc1 and if1, 1/1024 s
    // on both of if1's spikes before fc2; dt = 1/1024 s.
    let g = mapper::read_nir(&fixture("delays.nir")).unwrap();
    let imp = lower_nir(&g, "delays.nir", &opts(1.0 / 1024.0, None)).unwrap();
    let delays: Vec<&[u8]> = imp
        .network
        .layers
        .iter()
        .map(|l| l.input_delays.as_slice())
        .collect();
    assert_eq!(delays, [&[2u8, 0][..], &[1, 1][..]]);
    let float: Vec<&[u8]> = imp
        .float
        .iter()
        .map(|l| l.input_delays.as_slice())
        .collect();
    assert_eq!(float, delays);
    // Twice the step: the 1/1024 s delay is half a step.
    let e = lower_nir(&g, "delays.nir", &opts(2.0 / 1024.0, None))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("node `wait2` (Delay): delay[0]: 0.0009765625 is 0.5 steps"),
        "{e}"
    );
}

/// `Input(6) → [pre] → Linear(5×6) → [post] → IF → [pre2] → Linear(3×5) → IF → Output(3)` with
/// integer weights in −2..=2 and threshold 1, so that the quantised network (`V = 63`) is the
/// float one scaled exactly; `None` leaves a Delay node out.
fn delayed_graph(pre: Option<f64>, post: Option<&[f64]>, pre2: Option<f64>) -> NirGraph {
    let mut rng = ChaCha8Rng::seed_from_u64(71);
    let mut w =
        |n: usize| -> Vec<f64> { (0..n).map(|_| f64::from(rng.gen_range(-2i8..=2))).collect() };
    let (w1, w2) = (w(30), w(15));
    let mut nodes = vec![("in", input(&[6]))];
    if let Some(d) = pre {
        nodes.push(("pre", delay(&[d])));
    }
    nodes.push(("fc1", linear(5, 6, w1)));
    if let Some(d) = post {
        nodes.push(("post", delay(d)));
    }
    nodes.push(("if1", unit_if()));
    if let Some(d) = pre2 {
        nodes.push(("pre2", delay(&[d; 5])));
    }
    nodes.extend([
        ("fc2", linear(3, 5, w2)),
        ("if2", unit_if()),
        ("out", output(3)),
    ]);
    linked(nodes)
}

fn random_spikes(rng: &mut ChaCha8Rng, inputs: u32, steps: u32) -> Vec<(u32, u32)> {
    let mut spikes = Vec::new();
    for t in 0..steps {
        for c in 0..inputs {
            if rng.gen_bool(0.3) {
                spikes.push((c, t));
            }
        }
    }
    spikes
}

#[test]
fn delayed_layers_match_the_float_model_exactly() {
    let post = [0.0, 3.0, 1.0, 5.0, 2.0];
    let g = delayed_graph(Some(2.0), Some(&post), Some(1.0));
    let o = ImportOptions {
        steps: 24,
        ..opts(1.0, None)
    };
    let imp = lower_nir(&g, "delayed.nir", &o).unwrap();
    let net = &imp.network;
    assert_eq!(net.layers[0].input_delays, [2, 5, 3, 7, 4]);
    assert_eq!(net.layers[1].input_delays, [1, 1, 1]);
    assert_eq!(net.layers[0].neuron.vth, 63);
    let plain = lower_nir(&delayed_graph(None, None, None), "plain.nir", &o).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(72);
    let mut changed = 0;
    for _ in 0..200 {
        let spikes = random_spikes(&mut rng, 6, 24);
        let chip = net.forward(&spikes);
        let float = euler_forward(&imp.float, 6, &spikes, 24);
        assert_eq!(chip.output_counts, float.counts, "{spikes:?}");
        let undelayed = plain.network.forward(&spikes);
        assert_eq!(
            undelayed.output_counts,
            euler_forward(&plain.float, 6, &spikes, 24).counts
        );
        changed += usize::from(undelayed.layer_counts != chip.layer_counts);
    }
    // The delays change what the layers do (so agreeing with the float model tests them).
    assert!(
        changed > 100,
        "the delays changed only {changed}/200 samples"
    );

    // One spike on each input at step 0, through `Linear = identity` into neurons that fire on
    // one input: neuron j's first spike moves by exactly its delay.
    let one = |post: Option<&[f64]>| {
        let mut nodes = vec![
            ("in", input(&[3])),
            ("fc", linear(3, 3, vec![2., 0., 0., 0., 2., 0., 0., 0., 2.])),
        ];
        if let Some(d) = post {
            nodes.push(("post", delay(d)));
        }
        nodes.extend([("n", unit_if()), ("out", output(3))]);
        let imp = lower_nir(&linked(nodes), "one.nir", &o).unwrap();
        imp.network
            .forward(&[(0, 0), (1, 0), (2, 0)])
            .first_output_spike
    };
    let base = one(None);
    let t0 = base[0].expect("a lone spike fires the neuron");
    assert_eq!(base, [Some(t0); 3]);
    assert_eq!(
        one(Some(&[4.0, 0.0, 9.0])),
        [Some(t0 + 4), Some(t0), Some(t0 + 9)]
    );
}

#[test]
fn delays_the_chip_cannot_express_are_refused_by_name() {
    let post = |d: &[f64]| delayed_graph(None, Some(d), None);
    let mut biased = delayed_graph(None, Some(&[1.0]), None);
    let Some(NirNode::Linear { weight }) = biased.nodes.remove("fc1") else {
        panic!("fc1 is Linear");
    };
    biased.nodes.insert(
        "fc1".into(),
        NirNode::Affine {
            weight,
            bias: vec![0.0, 0.0, 0.25, 0.0, 0.0],
        },
    );
    let mut before_output = delayed_graph(None, None, None);
    before_output.nodes.insert("late".into(), delay(&[1.0]));
    before_output.edges.retain(|(a, _)| a != "if2");
    before_output.edges.push(("if2".into(), "late".into()));
    before_output.edges.push(("late".into(), "out".into()));
    let cases: Vec<(NirGraph, &str)> = vec![
        (
            post(&[0.0, 1.5, 0.0, 0.0, 0.0]),
            "node `post` (Delay): delay[1]: 1.5 is 1.5 steps of dt = 1: the chip delays by whole steps",
        ),
        (
            post(&[-1.0]),
            "node `post` (Delay): delay[0]: must be a time ≥ 0, found -1",
        ),
        (
            post(&[300.0]),
            "node `post` (Delay): delay[0]: 300 is 300 steps of dt = 1, above the 255 steps",
        ),
        (
            post(&[1.0, 2.0]),
            "node `post` (Delay): delay: holds 2 values, the layer has 5 neurons",
        ),
        (
            delayed_graph(Some(200.0), Some(&[100.0]), None),
            "node `post` (Delay): delay: 200 + 100 steps of delay on one layer's input, above the 255",
        ),
        (
            biased,
            "node `post` (Delay): delay: delays the output of a weight node with a bias into `if1`",
        ),
        (
            before_output,
            "the Delay node `late` feeds the Output node `out`",
        ),
    ];
    for (g, want) in cases {
        let msg = lower_nir(&g, "case.nir", &opts(1.0, None))
            .unwrap_err()
            .to_string();
        assert!(msg.contains(want), "got {msg:?}, want {want:?}");
        assert!(msg.starts_with("case.nir: "), "{msg}");
    }

    // Before a weight node every spike must wait the same time.
    let mut uneven = delayed_graph(Some(1.0), None, None);
    uneven
        .nodes
        .insert("pre".into(), delay(&[1.0, 1.0, 2.0, 1.0, 1.0, 1.0]));
    let msg = lower_nir(&uneven, "case.nir", &opts(1.0, None))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("node `pre` (Delay): delay[2]: 2 steps where delay[0] is 1: before a weight node every spike must wait the same time"),
        "{msg}"
    );

    // A recurrent layer: the chip would delay the recurrent input too.
    let mut rec = delayed_graph(None, Some(&[1.0]), None);
    rec.nodes.insert("back".into(), linear(5, 5, vec![0.5; 25]));
    rec.edges.push(("if1".into(), "back".into()));
    rec.edges.push(("back".into(), "if1".into()));
    let msg = lower_nir(&rec, "case.nir", &opts(1.0, None))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("node `post` (Delay): delay: delays the input of the recurrent layer `if1`"),
        "{msg}"
    );
}

#[test]
fn a_scale_between_weights_and_neurons_folds_into_the_weights() {
    // Dense: `Affine → Scale → IF` lowers exactly as the Affine with each row and bias scaled.
    let scale = [2.0, 0.5, -1.0];
    let w: Vec<f64> = (0..12).map(|x| (x as f64 - 5.0) / 4.0).collect();
    let bias = vec![0.25, -0.5, 0.125];
    let affine = |w: Vec<f64>, bias: Vec<f64>| NirNode::Affine {
        weight: Matrix {
            rows: 3,
            cols: 4,
            values: w,
        },
        bias,
    };
    let scaled = linked(vec![
        ("in", input(&[4])),
        ("fc", affine(w.clone(), bias.clone())),
        (
            "s",
            NirNode::Scale {
                scale: scale.to_vec(),
            },
        ),
        ("n", unit_if()),
        ("out", output(3)),
    ]);
    let folded_w: Vec<f64> = (0..12).map(|k| w[k] * scale[k / 4]).collect();
    let folded_b: Vec<f64> = (0..3).map(|j| bias[j] * scale[j]).collect();
    let folded = chain(4, affine(folded_w, folded_b), unit_if(), 3);
    let o = opts(1.0, None);
    let a = lower_nir(&scaled, "s.nir", &o).unwrap();
    let b = lower_nir(&folded, "s.nir", &o).unwrap();
    assert_eq!(a.network.layers[0].weights, b.network.layers[0].weights);
    assert_eq!(a.network.layers[0].bias_mant, b.network.layers[0].bias_mant);
    assert_eq!(a.float, b.float);
    // The scale changes the layer (so the equality above tests it).
    let plain = lower_nir(&chain(4, affine(w, bias), unit_if(), 3), "p.nir", &o).unwrap();
    assert_ne!(plain.network.layers[0].weights, a.network.layers[0].weights);

    // Convolution: one factor per channel multiplies that channel's kernel; factors that differ
    // within a channel are refused.
    let with_scale = |s: Vec<f64>| {
        let mut g = conv_graph(vec![1.0], 1, [3, 3]);
        g.nodes.insert("s".into(), NirNode::Scale { scale: s });
        g.edges.retain(|(a, _)| a != "conv");
        g.edges.push(("conv".into(), "s".into()));
        g.edges.push(("s".into(), "n1".into()));
        g
    };
    let a = lower_nir(&with_scale(vec![0.5, 2.0]), "c.nir", &o).unwrap();
    let mut g = conv_graph(vec![1.0], 1, [3, 3]);
    let Some(NirNode::Conv2d { weight, bias, .. }) = g.nodes.get_mut("conv") else {
        panic!("conv is a Conv2d");
    };
    for (k, v) in weight.values.iter_mut().enumerate() {
        *v *= if k < 9 { 0.5 } else { 2.0 };
    }
    bias[0] *= 0.5;
    bias[1] *= 2.0;
    let b = lower_nir(&g, "c.nir", &o).unwrap();
    assert_eq!(a.network.layers[0].weights, b.network.layers[0].weights);
    assert_eq!(a.float, b.float);
    let mut uneven = vec![1.0; 32];
    uneven[20] = 3.0;
    let msg = lower_nir(&with_scale(uneven), "c.nir", &o)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("node `s` (Scale): scale[20]: 3 where channel 1's first position has 1"),
        "{msg}"
    );
}

#[test]
fn a_scale_before_a_weight_node_folds_into_its_columns() {
    let o = opts(1.0, None);
    // Dense: `Scale → Affine` lowers exactly as the Affine with each input column scaled; two
    // Scales in a row multiply, and a single factor scales every column.
    let s = [2.0, 0.5, -1.0, 4.0];
    let w: Vec<f64> = (0..12).map(|x| (x as f64 - 5.0) / 4.0).collect();
    let bias = vec![0.25, -0.5, 0.125];
    let affine = |w: Vec<f64>| NirNode::Affine {
        weight: matrix(3, 4, w),
        bias: bias.clone(),
    };
    let scale = |s: &[f64]| NirNode::Scale { scale: s.to_vec() };
    let scaled = linked(vec![
        ("in", input(&[4])),
        ("s", scale(&s)),
        ("half", scale(&[0.5])),
        ("fc", affine(w.clone())),
        ("n", unit_if()),
        ("out", output(3)),
    ]);
    let folded_w: Vec<f64> = (0..12).map(|k| w[k] * s[k % 4] * 0.5).collect();
    let a = lower_nir(&scaled, "s.nir", &o).unwrap();
    let b = lower_nir(&chain(4, affine(folded_w), unit_if(), 3), "s.nir", &o).unwrap();
    assert_eq!(a.network.layers[0].weights, b.network.layers[0].weights);
    assert_eq!(a.network.layers[0].bias_mant, b.network.layers[0].bias_mant);
    assert_eq!(a.float, b.float);
    let plain = lower_nir(&chain(4, affine(w), unit_if(), 3), "p.nir", &o).unwrap();
    assert_ne!(plain.network.layers[0].weights, a.network.layers[0].weights);

    // Convolution: one factor per input channel multiplies that channel's kernel slices.
    let conv = |values: Vec<f64>| NirNode::Conv2d {
        weight: Tensor4 {
            dims: [2, 2, 3, 3],
            values,
        },
        bias: vec![0.5, -0.25],
        stride: [1, 1],
        padding: [1, 1],
        dilation: [1, 1],
        groups: 1,
        input_shape: Some([4, 4]),
    };
    let wc: Vec<f64> = (0..36).map(|x| (x as f64 - 17.0) / 16.0).collect();
    let conv_chain = |pre: Option<Vec<f64>>, values: Vec<f64>| {
        let mut nodes = vec![("in", input(&[2, 4, 4]))];
        if let Some(p) = pre {
            nodes.push(("s", NirNode::Scale { scale: p }));
        }
        nodes.extend([
            ("conv", conv(values)),
            ("n", unit_if()),
            ("out", output(32)),
        ]);
        linked(nodes)
    };
    let a = lower_nir(&conv_chain(Some(vec![0.5, 3.0]), wc.clone()), "c.nir", &o).unwrap();
    let by_channel: Vec<f64> = (0..36)
        .map(|k| wc[k] * if (k / 9) % 2 == 0 { 0.5 } else { 3.0 })
        .collect();
    let b = lower_nir(&conv_chain(None, by_channel), "c.nir", &o).unwrap();
    assert_eq!(a.network.layers[0].weights, b.network.layers[0].weights);
    assert_eq!(a.float, b.float);
    // The same factors given per value (16 positions of each channel) fold the same way.
    let per_value: Vec<f64> = (0..32).map(|i| if i < 16 { 0.5 } else { 3.0 }).collect();
    let c = lower_nir(&conv_chain(Some(per_value), wc.clone()), "c.nir", &o).unwrap();
    assert_eq!(a.float, c.float);
    // Factors that differ within an input channel cannot share the kernel.
    let mut uneven = vec![1.0; 32];
    uneven[21] = 2.0;
    let msg = lower_nir(&conv_chain(Some(uneven), wc), "c.nir", &o)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("node `conv` (Conv2d): input: a Scale before it gives 2 to value 21 where input channel 1's first position has 1"),
        "{msg}"
    );

    // Before a pooling node: the folded layer applied to a pattern equals the weight node
    // applied to the pooled, scaled pattern (a factor per value of the 2×4×4 map), and a Scale
    // after the pooling multiplies in too.
    let wd: Vec<f64> = (0..3 * 8).map(|x| (x as f64 - 11.0) / 4.0).collect();
    let pre: Vec<f64> = (0..32).map(|i| 0.25 * (i % 7) as f64 - 0.5).collect();
    let post: Vec<f64> = (0..8).map(|u| 1.0 + u as f64 / 8.0).collect();
    let g = linked(vec![
        ("in", input(&[2, 4, 4])),
        ("pre", scale(&pre)),
        (
            "pool",
            NirNode::SumPool2d {
                kernel: [2, 2],
                stride: [2, 2],
                padding: [0, 0],
            },
        ),
        ("flat", NirNode::Flatten),
        ("post", scale(&post)),
        (
            "w",
            NirNode::Linear {
                weight: matrix(3, 8, wd.clone()),
            },
        ),
        ("n", unit_if()),
        ("out", output(3)),
    ]);
    let imp = lower_nir(&g, "pool.nir", &o).unwrap();
    let f = &imp.float[0];
    for seed in 0..20 {
        let x = pattern(32, seed);
        let xs: Vec<f64> = x.iter().zip(&pre).map(|(x, s)| x * s).collect();
        let pooled = sum_pool(&xs, [2, 4, 4], 2);
        for j in 0..3 {
            let folded: f64 = (0..32).map(|i| f.weights[j * 32 + i] * x[i]).sum();
            let direct: f64 = (0..8).map(|u| wd[j * 8 + u] * post[u] * pooled[u]).sum();
            assert!((folded - direct).abs() < 1e-12, "seed {seed} neuron {j}");
        }
    }

    // Before the Output there is no weight to scale: refused by name.
    let mut last = chain(4, affine(vec![0.5; 12]), unit_if(), 3);
    last.nodes.insert("gain".into(), scale(&[2.0]));
    last.edges.retain(|(a, _)| a != "n");
    last.edges.push(("n".into(), "gain".into()));
    last.edges.push(("gain".into(), "out".into()));
    let msg = lower_nir(&last, "o.nir", &o).unwrap_err().to_string();
    assert!(
        msg.contains("a Scale node feeds the Output node `out`"),
        "{msg}"
    );
    // A factor count that fits neither the values nor the channels names both.
    let bad = linked(vec![
        ("in", input(&[4])),
        ("s", scale(&[1.0, 2.0])),
        ("fc", affine(vec![0.5; 12])),
        ("n", unit_if()),
        ("out", output(3)),
    ]);
    let msg = lower_nir(&bad, "b.nir", &o).unwrap_err().to_string();
    assert!(
        msg.contains("node `s` (Scale): scale: holds 2 values"),
        "{msg}"
    );
}

#[test]
fn an_input_scale_written_by_the_nir_package_lowers_to_the_unscaled_network() {
    // tests/data/nir/make_fixtures.py `digits_scaled`: digits_lif.nir with a Scale of 0.5 / 2
    // on alternate input pixels and fc1's columns divided by the same factors (powers of two,
    // exact in float32), so it must lower to exactly the network digits_lif.nir lowers to.
    let o = converted_digits_opts();
    let lower = |file: &str| {
        let g = mapper::read_nir(&fixture(file)).unwrap();
        lower_nir(&g, file, &o).unwrap()
    };
    let (scaled, plain) = (lower("digits_scaled.nir"), lower("digits_lif.nir"));
    let g = mapper::read_nir(&fixture("digits_scaled.nir")).unwrap();
    assert!(matches!(g.nodes.get("gain_in"), Some(NirNode::Scale { scale }) if scale.len() == 64));
    assert_eq!(scaled.network.layers, plain.network.layers);
    assert_eq!(scaled.float, plain.float);
    // fc1's stored weights do differ from digits_lif.nir's: the Scale is what makes them equal.
    let Some(NirNode::Affine { weight, .. }) = g.nodes.get("fc1") else {
        panic!("fc1 is an Affine");
    };
    let p = mapper::read_nir(&fixture("digits_lif.nir")).unwrap();
    let Some(NirNode::Affine { weight: w0, .. }) = p.nodes.get("fc1") else {
        panic!("fc1 is an Affine");
    };
    assert_ne!(weight.values, w0.values);
}
