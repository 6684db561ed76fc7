//! Conv and pooling backward (stidi-bp §5.4) against independent references: a finite
//! difference of the potentials at the firing times, the dense rule applied to the unrolled
//! (weight-tied) convolution, and the arg-min routing of pooling.

use model::stidi::conv::{conv_displacement, conv_weight_grad, pool_route};
use model::stidi::forward::pool_forward;
use model::stidi::rule::{dense_displacement, dense_weight_grad};
use model::stidi::{Geometry, Kernel};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Case {
    g: Geometry,
    tin: Vec<u16>,
    tout: Vec<u16>,
    delta: Vec<f32>,
    w: Vec<f32>,
}

fn random_case(rng: &mut ChaCha8Rng, t_max: u16) -> Case {
    let (cin, cout) = (rng.gen_range(1..4), rng.gen_range(1..4));
    let k = rng.gen_range(1..4);
    let s = rng.gen_range(1..3);
    let p = rng.gen_range(0..k);
    let (h, w) = (rng.gen_range(k..8), rng.gen_range(k..8));
    let g = Geometry::conv((cin, h, w), cout, k, s, p).expect("the kernel fits");
    let time = |rng: &mut ChaCha8Rng| {
        if rng.gen_bool(0.25) {
            t_max
        } else {
            rng.gen_range(0..t_max)
        }
    };
    Case {
        tin: (0..g.inputs()).map(|_| time(rng)).collect(),
        tout: (0..g.outputs()).map(|_| time(rng)).collect(),
        delta: (0..g.outputs())
            .map(|_| {
                if rng.gen_bool(0.2) {
                    0.0
                } else {
                    rng.gen_range(-1.0..1.0)
                }
            })
            .collect(),
        w: (0..g.weights()).map(|_| rng.gen_range(-1.0..1.0)).collect(),
        g,
    }
}

/// `(output n, input i, weight index)` for every synapse of the conv, by the definition.
fn synapses(g: &Geometry) -> Vec<(usize, usize, usize)> {
    let Geometry::Conv {
        cin,
        h,
        w,
        cout,
        oh,
        ow,
        k,
        s,
        p,
    } = *g
    else {
        unreachable!()
    };
    let mut out = Vec::new();
    for o in 0..cout {
        for y in 0..oh {
            for x in 0..ow {
                for c in 0..cin {
                    for u in 0..k {
                        for v in 0..k {
                            let (iy, ix) = (
                                (y * s + u) as isize - p as isize,
                                (x * s + v) as isize - p as isize,
                            );
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                out.push((
                                    (o * oh + y) * ow + x,
                                    (c * h + iy as usize) * w + ix as usize,
                                    ((o * cin + c) * k + u) * k + v,
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// `V_n(t)` by definition with weights `w` (kernel applied to `t − t_i`).
fn potential(
    syn: &[(usize, usize, usize)],
    n: usize,
    t: u16,
    tin: &[u16],
    w: &[f64],
    kernel: Kernel,
    t_max: u16,
) -> f64 {
    syn.iter()
        .filter(|s| s.0 == n && tin[s.1] < t_max)
        .map(|&(_, i, widx)| {
            let d = f64::from(t.saturating_sub(tin[i]));
            let k = match kernel {
                Kernel::SatRamp { tau } => d.min(f64::from(tau)),
                _ => d,
            };
            w[widx] * k
        })
        .sum()
}

#[test]
fn shared_weight_gradient_equals_finite_difference_of_potentials() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for case in 0..60 {
        let t_max = 32;
        let kernel = if case % 2 == 0 {
            Kernel::Ramp
        } else {
            Kernel::SatRamp { tau: 6 }
        };
        let k_ref = match kernel {
            Kernel::SatRamp { tau } => f64::from(tau),
            _ => f64::from(t_max),
        };
        let c = random_case(&mut rng, t_max);
        let syn = synapses(&c.g);
        let grad = conv_weight_grad(&c.g, &c.delta, &c.tin, &c.tout, kernel, t_max, false);
        let w0: Vec<f64> = c.w.iter().map(|&x| f64::from(x)).collect();
        // E = Σ_n δ_n · V_n(t_n): its finite difference in w is the rule's gradient × K_ref.
        let energy = |w: &[f64]| -> f64 {
            (0..c.g.outputs())
                .map(|n| {
                    f64::from(c.delta[n]) * potential(&syn, n, c.tout[n], &c.tin, w, kernel, t_max)
                })
                .sum()
        };
        let e0 = energy(&w0);
        for widx in 0..w0.len() {
            let mut w1 = w0.clone();
            w1[widx] += 1.0;
            let fd = (energy(&w1) - e0) / k_ref;
            assert!(
                (fd - f64::from(grad[widx])).abs() < 1e-4,
                "case {case} weight {widx}: fd {fd} vs {}",
                grad[widx]
            );
        }
    }
}

#[test]
fn conv_backward_equals_the_dense_rule_on_the_unrolled_convolution() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for case in 0..60 {
        let t_max = 20;
        let kernel = [Kernel::Ramp, Kernel::Step, Kernel::SatRamp { tau: 4 }][case % 3];
        let c = random_case(&mut rng, t_max);
        let (n_in, n_out) = (c.g.inputs(), c.g.outputs());
        let syn = synapses(&c.g);
        // Unrolled dense weight matrix (0 where there is no synapse).
        let mut dense = vec![0f32; n_in * n_out];
        for &(n, i, widx) in &syn {
            dense[n * n_in + i] = c.w[widx];
        }
        let dg = dense_weight_grad(n_in, &c.delta, &c.tin, &c.tout, kernel, t_max, false);
        let mut tied = vec![0f64; c.w.len()];
        for &(n, i, widx) in &syn {
            tied[widx] += f64::from(dg[n * n_in + i]);
        }
        let cg = conv_weight_grad(&c.g, &c.delta, &c.tin, &c.tout, kernel, t_max, false);
        for (a, b) in tied.iter().zip(&cg) {
            assert!((a - f64::from(*b)).abs() < 1e-4, "case {case}: {a} vs {b}");
        }
        let dd = dense_displacement(n_in, &c.delta, &dense, &c.tin, &c.tout, kernel, t_max);
        let cd = conv_displacement(&c.g, &c.delta, &c.w, &c.tin, &c.tout, kernel, t_max, false);
        for (i, (a, b)) in dd.iter().zip(&cd).enumerate() {
            assert!((a - b).abs() < 1e-4, "case {case} input {i}: {a} vs {b}");
        }
        // Causality: an input that did not spike before any of its targets gets nothing.
        for (i, &di) in cd.iter().enumerate() {
            if !syn
                .iter()
                .any(|&(n, j, _)| j == i && c.tin[i] < c.tout[n] && c.tin[i] < t_max)
            {
                assert_eq!(di, 0.0, "case {case}: non-causal input {i}");
            }
        }
    }
}

#[test]
fn parallel_and_sequential_backward_are_bit_identical() {
    let g = Geometry::Conv {
        cin: 4,
        h: 16,
        w: 16,
        cout: 8,
        oh: 14,
        ow: 14,
        k: 3,
        s: 1,
        p: 0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let tin: Vec<u16> = (0..g.inputs()).map(|_| rng.gen_range(0..300)).collect();
    let tout: Vec<u16> = (0..g.outputs()).map(|_| rng.gen_range(0..300)).collect();
    let delta: Vec<f32> = (0..g.outputs()).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let w: Vec<f32> = (0..g.weights()).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let (a, b) = pool.install(|| {
        (
            conv_weight_grad(&g, &delta, &tin, &tout, Kernel::Ramp, 256, true),
            conv_displacement(&g, &delta, &w, &tin, &tout, Kernel::Ramp, 256, true),
        )
    });
    assert_eq!(
        a,
        conv_weight_grad(&g, &delta, &tin, &tout, Kernel::Ramp, 256, false)
    );
    assert_eq!(
        b,
        conv_displacement(&g, &delta, &w, &tin, &tout, Kernel::Ramp, 256, false)
    );
}

#[test]
fn pooling_takes_the_earliest_spike_and_routes_errors_to_the_argmin() {
    // One channel, 4×4, 2×2 windows: window 0 has a tie at 3 (first in raster order wins),
    // window 3 never spikes (t_max).
    let t_max = 10;
    let tin: Vec<u16> = vec![
        5, 3, 7, 2, //
        3, 9, 8, 6, //
        10, 10, 10, 10, //
        4, 10, 10, 10,
    ];
    let g = Geometry::Pool {
        c: 1,
        h: 4,
        w: 4,
        oh: 2,
        ow: 2,
        k: 2,
        s: 2,
    };
    let (mut times, mut argmin) = (Vec::new(), Vec::new());
    pool_forward(&g, &tin, t_max, &mut times, &mut argmin);
    assert_eq!(times, vec![3, 2, 4, 10]);
    assert_eq!(argmin, vec![1, 3, 12, 10]);
    let disp = pool_route(16, &argmin, &[1.5, -2.0, 0.25, 7.0]);
    let mut expected = vec![0f32; 16];
    expected[1] = 1.5;
    expected[3] = -2.0;
    expected[12] = 0.25;
    expected[10] = 7.0; // silent window: its first input
    assert_eq!(disp, expected);
}
