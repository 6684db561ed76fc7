//! The STiDi-BP rule (stidi-bp §4.3, §5.3): targets, derivative factors, normalisation, and
//! the 1-neuron toy check — the update moves the spike toward its target and converges.

use model::stidi::forward::crossing;
use model::stidi::rule::{dense_weight_grad, derivative_factor, normalise, targets};
use model::stidi::{Derivative, Kernel, NeuronSpec, Normalisation};
use model::FireRule;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn relative_targets_follow_the_s4nn_scheme() {
    // t_min = 5; neurons 0 and 1 are within γ = 3 of it and are pushed to 8; the label (2) is
    // pulled to t_min; neuron 3 is far enough and keeps its time.
    assert_eq!(targets(&[5, 6, 9, 20], 2, 3, 3, 256), vec![8, 8, 5, 20]);
    // The label already first: only the competitors move.
    assert_eq!(targets(&[5, 6, 9, 20], 0, 3, 3, 256), vec![5, 8, 9, 20]);
    // Nobody fired: the label is asked to fire at t_max − shift, the others stay silent.
    assert_eq!(targets(&[256; 4], 1, 3, 7, 256), vec![256, 249, 256, 256]);
    // Pushed targets never exceed t_max.
    assert_eq!(targets(&[254, 255, 256], 2, 5, 3, 256), vec![256, 256, 254]);
}

#[test]
fn derivative_factors_and_normalisation() {
    assert_eq!(derivative_factor(Derivative::Chord, 50, 200, 7), 0.25);
    assert_eq!(derivative_factor(Derivative::LocalSlope, 50, 200, 8), 0.125);
    assert_eq!(derivative_factor(Derivative::LocalSlope, 50, 200, 0), 1.0);
    assert_eq!(derivative_factor(Derivative::Constant, 50, 200, 8), 1.0);
    let d = normalise(&[3.0, -4.0], Normalisation::L2, 256);
    assert_eq!(d, vec![0.6, -0.8]);
    assert_eq!(
        normalise(&[0.0, 0.0], Normalisation::L2, 256),
        vec![0.0, 0.0]
    );
    assert_eq!(normalise(&[128.0], Normalisation::None, 256), vec![0.5]);
}

const SCALE: f64 = 1000.0;

/// Spike time of the toy neuron: ramp PSP, real weights in units of 1/1000.
fn fire_time(w: &[f64], tin: &[u16], theta: f64, t_max: u16) -> u16 {
    let mut ev: Vec<(u16, i32)> = tin
        .iter()
        .zip(w)
        .map(|(&t, &x)| (t, (x * SCALE).round() as i32))
        .collect();
    ev.sort_by_key(|e| e.0);
    let neuron = NeuronSpec {
        kernel: Kernel::Ramp,
        fire: FireRule::GreaterEqual,
        delay: 0,
    };
    crossing(&ev, (theta * SCALE) as i32, neuron, t_max).0
}

/// One STiDi-BP step of the toy neuron toward `target`; returns the new time.
fn step(w: &mut [f64], tin: &[u16], theta: f64, t_max: u16, target: u16, lr: f64) -> u16 {
    let t = fire_time(w, tin, theta, t_max);
    let e = f32::from(target) - f32::from(t);
    let g = e * derivative_factor(Derivative::Chord, t, theta as i32, 0);
    let delta = normalise(&[g], Normalisation::L2, t_max);
    let grad = dense_weight_grad(w.len(), &delta, tin, &[t], Kernel::Ramp, t_max, false);
    for (wi, gi) in w.iter_mut().zip(&grad) {
        *wi -= lr * f64::from(*gi);
    }
    fire_time(w, tin, theta, t_max)
}

#[test]
fn toy_neuron_moves_toward_its_target_and_converges() {
    // §5.3 toy check: 1 neuron, 50 inputs, ramp PSP, θ = 2000.
    let t_max = 256;
    let theta = 2000.0;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let tin: Vec<u16> = (0..50).map(|_| rng.gen_range(0..100)).collect();
    let w0: Vec<f64> = (0..50).map(|_| rng.gen_range(0.2..1.0)).collect();
    let t0 = fire_time(&w0, &tin, theta, t_max);
    assert!(t0 > 100 && t0 < 200, "initial time {t0}");
    for target in [150u16, 230, 110] {
        let mut w = w0.clone();
        let mut t = t0;
        let mut iterations = None;
        for it in 1..=400 {
            let before = t;
            t = step(&mut w, &tin, theta, t_max, target, 0.5);
            // Sign check: never moves away from the target.
            if before < target {
                assert!(t >= before, "target {target}: {before} -> {t}");
            } else if before > target {
                assert!(t <= before, "target {target}: {before} -> {t}");
            }
            if t.abs_diff(target) <= 1 {
                iterations = Some(it);
                break;
            }
        }
        assert!(
            iterations.is_some(),
            "target {target} not reached from {t0}, stuck at {t}"
        );
    }
}

#[test]
fn update_sign_matches_the_finite_difference_of_the_spike_time() {
    // Increasing a causal weight can only make the ramp neuron fire earlier (∂t/∂w ≤ 0), and
    // the rule's gradient is positive on causal inputs for δ > 0 ("fire later": w decreases).
    let t_max = 256;
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..200 {
        let n = 20;
        let tin: Vec<u16> = (0..n).map(|_| rng.gen_range(0..120)).collect();
        let w: Vec<f64> = (0..n).map(|_| rng.gen_range(-0.3..1.0)).collect();
        let theta = rng.gen_range(50.0..400.0);
        let t = fire_time(&w, &tin, theta, t_max);
        if t >= t_max {
            continue;
        }
        let grad = dense_weight_grad(n, &[1.0], &tin, &[t], Kernel::Ramp, t_max, false);
        for i in 0..n {
            let mut w1 = w.clone();
            w1[i] += 0.5;
            let t1 = fire_time(&w1, &tin, theta, t_max);
            assert!(t1 <= t, "raising w{i} delayed the spike {t} -> {t1}");
            if tin[i] < t {
                assert!(grad[i] > 0.0, "causal input {i} has no gradient");
            } else {
                assert_eq!(grad[i], 0.0, "non-causal input {i} has a gradient");
                assert_eq!(t1, t, "a non-causal input changed the spike");
            }
        }
    }
}

#[test]
fn options_parse_from_their_command_line_spellings() {
    assert_eq!("ramp".parse::<Kernel>(), Ok(Kernel::Ramp));
    assert_eq!("step".parse::<Kernel>(), Ok(Kernel::Step));
    assert_eq!("sat:12".parse::<Kernel>(), Ok(Kernel::SatRamp { tau: 12 }));
    for bad in ["sat:0", "sat:", "sat:x", "Ramp", "sat:70000"] {
        let e = bad.parse::<Kernel>().unwrap_err();
        assert_eq!(e.found, bad);
        assert!(e.to_string().contains("ramp, step, sat:TAU"), "{e}");
    }
    assert_eq!("chord".parse::<Derivative>(), Ok(Derivative::Chord));
    assert_eq!("slope".parse::<Derivative>(), Ok(Derivative::LocalSlope));
    assert_eq!("constant".parse::<Derivative>(), Ok(Derivative::Constant));
    assert_eq!(
        "secant".parse::<Derivative>().unwrap_err().to_string(),
        "derivative `secant` is not one of chord, slope, constant"
    );
    assert_eq!("l2".parse::<Normalisation>(), Ok(Normalisation::L2));
    assert_eq!("none".parse::<Normalisation>(), Ok(Normalisation::None));
    assert!("L2".parse::<Normalisation>().is_err());
}
