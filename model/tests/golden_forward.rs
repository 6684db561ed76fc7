//! The golden forward pass: hand-derived cases for every rule, and a property test against a
//! naive dense-time evaluation written straight from the definitions.

use model::*;
use proptest::prelude::*;

fn dense(inputs: u32, outputs: u32, neuron: NeuronModel, w: Vec<i16>, th: Threshold) -> Layer {
    Layer {
        name: String::new(),
        kind: LayerKind::Dense(Dense {
            inputs,
            outputs,
            neuron,
            weights: Weights::Int { bits: 8, values: w },
            threshold: th,
            scale: None,
        }),
    }
}

fn net(input: Shape, t_max: u16, layers: Vec<Layer>) -> Network {
    Network {
        format_version: FORMAT_VERSION,
        input,
        t_max,
        encoding: None,
        fallback_offset: 3,
        tie_order: None,
        ties_by_potential: false,
        layers,
    }
}

fn st(v: &[u16]) -> Vec<SpikeTime> {
    v.iter().map(|&t| SpikeTime(t)).collect()
}

#[test]
fn step_kernel_strict_threshold_and_delay() {
    // One neuron, weights 2, 3, 5; θ = 4, V > θ; inputs at 1, 3, 7.
    // V(1) = 2, V(3) = 5 > 4 → crossing at 3, spike at 4 with delay 1, at 3 with delay 0.
    let l = dense(3, 1, NeuronModel::S4NN, vec![2, 3, 5], Threshold::Layer(4));
    let g = GoldenNetwork::new(&net(Shape::Flat { size: 3 }, 16, vec![l])).unwrap();
    let tr = g.forward(&st(&[1, 3, 7])).unwrap();
    assert_eq!(tr.layer_times[0], st(&[4]));
    let mut n0 = NeuronModel::S4NN;
    n0.delay = 0;
    let l = dense(3, 1, n0, vec![2, 3, 5], Threshold::Layer(4));
    let g = GoldenNetwork::new(&net(Shape::Flat { size: 3 }, 16, vec![l])).unwrap();
    assert_eq!(g.forward(&st(&[1, 3, 7])).unwrap().layer_times[0], st(&[3]));
    // θ = 5: V(3) = 5 is not > 5; V(7) = 10 → spike at 8. With ≥, spike at 4.
    let l = dense(3, 1, NeuronModel::S4NN, vec![2, 3, 5], Threshold::Layer(5));
    let g = GoldenNetwork::new(&net(Shape::Flat { size: 3 }, 16, vec![l])).unwrap();
    assert_eq!(g.forward(&st(&[1, 3, 7])).unwrap().layer_times[0], st(&[8]));
    let mut ge = NeuronModel::S4NN;
    ge.fire = FireRule::GreaterEqual;
    let l = dense(3, 1, ge, vec![2, 3, 5], Threshold::Layer(5));
    let g = GoldenNetwork::new(&net(Shape::Flat { size: 3 }, 16, vec![l])).unwrap();
    assert_eq!(g.forward(&st(&[1, 3, 7])).unwrap().layer_times[0], st(&[4]));
}

#[test]
fn crossing_at_last_step_is_no_spike_and_fallback_decodes() {
    // t_max = 8. Neuron 0 crosses at step 7 = t_max − 1 → 7 + 1 = t_max → no spike.
    // Neuron 1 never crosses. Fallback reads V at t_max − 3 = 5: neuron 0 has 1 (input at 2),
    // neuron 1 has 3 (input at 5) → class 1, although neuron 0 ends higher.
    let l = dense(
        3,
        2,
        NeuronModel::S4NN,
        vec![1, 0, 9, 0, 3, 0],
        Threshold::Layer(9),
    );
    let g = GoldenNetwork::new(&net(Shape::Flat { size: 3 }, 8, vec![l])).unwrap();
    let tr = g.forward(&st(&[2, 5, 7])).unwrap();
    assert_eq!(tr.layer_times[0], st(&[8, 8]));
    assert_eq!(tr.fallback, Some(Potentials::Int(vec![1, 3])));
    assert_eq!(tr.prediction, 1);
    // Inputs at or past t_max never contribute.
    let tr = g.forward(&st(&[8, 9, 200])).unwrap();
    assert_eq!(tr.fallback, Some(Potentials::Int(vec![0, 0])));
    assert_eq!(tr.prediction, 0);
}

#[test]
fn earliest_output_wins_ties_to_lowest_index() {
    let l = dense(
        2,
        3,
        NeuronModel::S4NN,
        vec![5, 0, 0, 5, 5, 0],
        Threshold::Layer(1),
    );
    let g = GoldenNetwork::new(&net(Shape::Flat { size: 2 }, 16, vec![l])).unwrap();
    let tr = g.forward(&st(&[4, 2])).unwrap();
    assert_eq!(tr.layer_times[0], st(&[5, 3, 5]));
    assert_eq!(tr.prediction, 1);
    assert_eq!(tr.fallback, None);
    let tr = g.forward(&st(&[2, 4])).unwrap();
    assert_eq!(tr.layer_times[0], st(&[3, 5, 3]));
    assert_eq!(tr.prediction, 0);
}

#[test]
fn ramp_kernel_closed_form() {
    // Weights 2 and 1, inputs at 0 and 2, θ = 9, V ≥ θ, no delay:
    // V(t) = 2t + max(0, t−2): V(3)=7, V(4)=10 → spike at 4.
    let n = NeuronModel {
        kernel: PspKernel::Ramp,
        fire: FireRule::GreaterEqual,
        delay: 0,
    };
    let l = dense(2, 1, n, vec![2, 1], Threshold::Layer(9));
    let g = GoldenNetwork::new(&net(Shape::Flat { size: 2 }, 32, vec![l])).unwrap();
    assert_eq!(g.forward(&st(&[0, 2])).unwrap().layer_times[0], st(&[4]));
}

#[test]
fn binary_weights_are_sign_bits() {
    // Sign bits: weight 1 negative. Inputs at 0,0,0: V = 1 − 1 + 1 = 1 > 0 → spike at 1.
    let w = Weights::pack_signs([false, true, false].into_iter());
    assert_eq!(w, Weights::Binary { signs: vec![0b010] });
    let l = Layer {
        name: "b".into(),
        kind: LayerKind::Dense(Dense {
            inputs: 3,
            outputs: 1,
            neuron: NeuronModel::S4NN,
            weights: w,
            threshold: Threshold::Layer(0),
            scale: Some(1.0),
        }),
    };
    let g = GoldenNetwork::new(&net(Shape::Flat { size: 3 }, 16, vec![l])).unwrap();
    assert_eq!(g.forward(&st(&[0, 0, 0])).unwrap().layer_times[0], st(&[1]));
    assert_eq!(
        g.forward(&st(&[0, 0, 16])).unwrap().layer_times[0],
        st(&[16])
    );
}

// ---------------------------------------------------------------- naive dense-time model

/// One layer lowered for the naive model: per output neuron its `(input, weight)` synapses,
/// the neuron model and threshold of weighted layers, and the output shape.
type NaiveLayer<'a> = (
    Vec<Vec<(usize, i64)>>,
    Option<NeuronModel>,
    Option<&'a Threshold>,
    Shape,
);

fn naive(netw: &Network, input: &[u16]) -> (Vec<Vec<u16>>, usize) {
    let tm = netw.t_max;
    let mut shape = netw.input;
    let mut cur: Vec<u16> = input.iter().map(|&t| t.min(tm)).collect();
    let mut all = Vec::new();
    let mut last_v: Vec<i64> = Vec::new();
    for layer in &netw.layers {
        // For each output neuron: list of (input index, weight).
        let (syn, neuron, th, out_shape): NaiveLayer = match &layer.kind {
            LayerKind::Flatten => {
                let s = Shape::Flat {
                    size: shape.len() as u32,
                };
                (Vec::new(), None, None, s)
            }
            LayerKind::Dense(d) => {
                let syn = (0..d.outputs as usize)
                    .map(|j| {
                        (0..d.inputs as usize)
                            .map(|i| {
                                (
                                    i,
                                    i64::from(d.weights.int_at(j * d.inputs as usize + i).unwrap()),
                                )
                            })
                            .collect()
                    })
                    .collect();
                (
                    syn,
                    Some(d.neuron),
                    Some(&d.threshold),
                    Shape::Flat { size: d.outputs },
                )
            }
            LayerKind::Conv2d(c) => {
                let Shape::Map {
                    height: h,
                    width: w,
                    ..
                } = shape
                else {
                    panic!()
                };
                let (k, s, p) = (c.kernel as i64, c.stride as i64, c.padding as i64);
                let oh = (h as i64 + 2 * p - k) / s + 1;
                let ow = (w as i64 + 2 * p - k) / s + 1;
                let mut syn = Vec::new();
                for o in 0..c.out_channels as i64 {
                    for y in 0..oh {
                        for x in 0..ow {
                            let mut v = Vec::new();
                            for ci in 0..c.in_channels as i64 {
                                for u in 0..k {
                                    for vv in 0..k {
                                        let (iy, ix) = (y * s + u - p, x * s + vv - p);
                                        if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                            continue;
                                        }
                                        let widx = (((o * c.in_channels as i64 + ci) * k + u) * k
                                            + vv)
                                            as usize;
                                        let input = ((ci * h as i64 + iy) * w as i64 + ix) as usize;
                                        v.push((input, i64::from(c.weights.int_at(widx).unwrap())));
                                    }
                                }
                            }
                            syn.push(v);
                        }
                    }
                }
                let os = Shape::Map {
                    channels: c.out_channels,
                    height: oh as u32,
                    width: ow as u32,
                };
                (syn, Some(c.neuron), Some(&c.threshold), os)
            }
            LayerKind::MaxPool2d(p) => {
                let Shape::Map {
                    channels,
                    height: h,
                    width: w,
                } = shape
                else {
                    panic!()
                };
                let oh = (h - p.kernel) / p.stride + 1;
                let ow = (w - p.kernel) / p.stride + 1;
                let mut out = Vec::new();
                for c in 0..channels {
                    for y in 0..oh {
                        for x in 0..ow {
                            let mut m = tm;
                            for u in 0..p.kernel {
                                for v in 0..p.kernel {
                                    let idx = ((c * h + y * p.stride + u) * w + x * p.stride + v)
                                        as usize;
                                    m = m.min(cur[idx]);
                                }
                            }
                            out.push(m);
                        }
                    }
                }
                shape = Shape::Map {
                    channels,
                    height: oh,
                    width: ow,
                };
                all.push(out.clone());
                cur = out;
                continue;
            }
        };
        let Some(neuron) = neuron else {
            shape = out_shape;
            all.push(cur.clone());
            continue;
        };
        let th = th.unwrap();
        let mut out = vec![tm; syn.len()];
        let mut snap = vec![0i64; syn.len()];
        for (j, s) in syn.iter().enumerate() {
            for t in 0..tm {
                let v: i64 = s
                    .iter()
                    .map(|&(i, w)| {
                        let ti = cur[i];
                        if ti >= tm {
                            return 0;
                        }
                        match neuron.kernel {
                            PspKernel::Step => {
                                if ti <= t {
                                    w
                                } else {
                                    0
                                }
                            }
                            PspKernel::Ramp => w * i64::from(t.saturating_sub(ti)),
                        }
                    })
                    .sum();
                if t == tm - netw.fallback_offset {
                    snap[j] = v;
                }
                let thj = i64::from(th.of(j).unwrap());
                let fires = match neuron.fire {
                    FireRule::Greater => v > thj,
                    FireRule::GreaterEqual => v >= thj,
                };
                if fires && out[j] == tm {
                    let tj = t + u16::from(neuron.delay);
                    if tj < tm {
                        out[j] = tj;
                    }
                    break;
                }
            }
        }
        last_v = snap;
        shape = out_shape;
        all.push(out.clone());
        cur = out;
    }
    let m = *cur.iter().min().unwrap();
    let pred = if m < tm {
        cur.iter().position(|&t| t == m).unwrap()
    } else {
        let mut best = 0;
        for k in 0..last_v.len() {
            if last_v[k] > last_v[best] {
                best = k;
            }
        }
        best
    };
    (all, pred)
}

fn neuron_strategy() -> impl Strategy<Value = NeuronModel> {
    (prop::bool::ANY, prop::bool::ANY, 0u8..=1).prop_map(|(ramp, ge, delay)| NeuronModel {
        kernel: if ramp {
            PspKernel::Ramp
        } else {
            PspKernel::Step
        },
        fire: if ge {
            FireRule::GreaterEqual
        } else {
            FireRule::Greater
        },
        delay,
    })
}

/// A random conv → pool → flatten → dense network on a 1×6×6 input, plus an input.
fn conv_net() -> impl Strategy<Value = (Network, Vec<u16>)> {
    (
        neuron_strategy(),
        neuron_strategy(),
        1u32..=3,
        0u32..=1,
        1u32..=2,
        prop::collection::vec(-3i16..=3, 2 * 3 * 3),
        prop::collection::vec(-2i16..=3, 64),
        0i32..6,
        1i32..8,
        prop::collection::vec(0u16..=24, 36),
        prop::bool::ANY,
    )
        .prop_map(
            |(n1, n2, k, pad, stride, wc, wd, th1, th2, input, binary)| {
                let k = k.max(pad + 1);
                let oh = (6 + 2 * pad - k) / stride + 1;
                let conv_w: Vec<i16> = wc[..(2 * k * k) as usize].to_vec();
                let conv_weights = if binary {
                    Weights::pack_signs(conv_w.iter().map(|&w| w < 0))
                } else {
                    Weights::Int {
                        bits: 4,
                        values: conv_w,
                    }
                };
                let pool = if oh >= 2 { 2 } else { 1 };
                let ph = (oh - pool) / pool + 1;
                let flat = 2 * ph * ph;
                let dense_w: Vec<i16> = (0..flat as usize * 3).map(|n| wd[n % wd.len()]).collect();
                let th1 = if n1.fire == FireRule::GreaterEqual {
                    th1.max(1)
                } else {
                    th1
                };
                let layers = vec![
                    Layer {
                        name: "conv".into(),
                        kind: LayerKind::Conv2d(Conv2d {
                            in_channels: 1,
                            out_channels: 2,
                            kernel: k,
                            stride,
                            padding: pad,
                            neuron: n1,
                            weights: conv_weights,
                            threshold: Threshold::Layer(th1),
                            scale: None,
                        }),
                    },
                    Layer {
                        name: "pool".into(),
                        kind: LayerKind::MaxPool2d(MaxPool2d {
                            kernel: pool,
                            stride: pool,
                        }),
                    },
                    Layer {
                        name: "flat".into(),
                        kind: LayerKind::Flatten,
                    },
                    Layer {
                        name: "out".into(),
                        kind: LayerKind::Dense(Dense {
                            inputs: flat,
                            outputs: 3,
                            neuron: n2,
                            weights: Weights::Int {
                                bits: 4,
                                values: dense_w,
                            },
                            threshold: Threshold::Neuron(vec![th2, th2 + 1, th2 + 2]),
                            scale: None,
                        }),
                    },
                ];
                (
                    Network {
                        format_version: FORMAT_VERSION,
                        input: Shape::Map {
                            channels: 1,
                            height: 6,
                            width: 6,
                        },
                        t_max: 24,
                        encoding: None,
                        fallback_offset: 3,
                        tie_order: None,
                        ties_by_potential: false,
                        layers,
                    },
                    input,
                )
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn golden_equals_dense_time_definition((netw, input) in conv_net()) {
        netw.validate().unwrap();
        let g = GoldenNetwork::new(&netw).unwrap();
        let tr = g.forward(&st(&input)).unwrap();
        let (times, pred) = naive(&netw, &input);
        let got: Vec<Vec<u16>> = tr.layer_times.iter().map(|l| l.iter().map(|t| t.0).collect()).collect();
        prop_assert_eq!(got, times);
        prop_assert_eq!(tr.prediction, pred);
        // The fallback is reported exactly when no output spiked.
        let out = tr.layer_times.last().unwrap();
        prop_assert_eq!(tr.fallback.is_some(), out.iter().all(|t| t.0 == netw.t_max));
    }
}
