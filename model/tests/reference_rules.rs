//! The trainer against a literal, dense-time transcription of the authors' reference code
//! (S4NN.py and BS4NN_mnist.ipynb, `reference/stidi-bp.md` §3–§5) in f64.

use model::data;
use model::train::{binary_threshold, Optimiser, RivalRamp, TrainConfig, Trainer};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `Voltage = cumsum(W · spikes)`, `Voltage[tmax] = thr + 1`, `argmax(Voltage > thr) + 1`,
/// clamped to tmax — per neuron (threshold `thr[j]`), dense over every time step.
fn ref_forward(
    w: &[f64],
    n_in: usize,
    tin: &[u16],
    thr: &[f64],
    tmax: usize,
    binary: bool,
) -> Vec<u16> {
    let n_out = w.len() / n_in;
    (0..n_out)
        .map(|j| {
            let mut v = vec![0f64; tmax + 1];
            for (i, &t) in tin.iter().enumerate() {
                let wi = w[j * n_in + i];
                let wi = if binary {
                    if wi < 0.0 {
                        -1.0
                    } else {
                        1.0
                    }
                } else {
                    wi
                };
                v[t as usize] += wi;
            }
            for t in 1..=tmax {
                v[t] += v[t - 1];
            }
            v[tmax] = thr[j] + 1.0;
            let c = (0..=tmax).find(|&t| v[t] > thr[j]).unwrap_or(tmax);
            (c + 1).min(tmax) as u16
        })
        .collect()
}

/// Each neuron's potential after the inputs of steps `0..=at` (the no-spike fallback's
/// snapshot at `at = t_max − 3`), dense as `ref_forward`'s `cumsum`.
fn ref_potentials(w: &[f64], n_in: usize, tin: &[u16], at: u16, binary: bool) -> Vec<f64> {
    let n_out = w.len() / n_in;
    (0..n_out)
        .map(|j| {
            (0..n_in)
                .filter(|&i| tin[i] <= at)
                .map(|i| {
                    let wi = w[j * n_in + i];
                    match (binary, wi < 0.0) {
                        (true, true) => -1.0,
                        (true, false) => 1.0,
                        (false, _) => wi,
                    }
                })
                .sum()
        })
        .collect()
}

fn norm(v: &mut [f64]) {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if n != 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

struct Reference {
    w: Vec<Vec<f64>>,
    /// BS4NN forward signs (±1). Without hysteresis always the sign of `w`; with it, a sign
    /// turns only when its latent is past ±h on the other side (the one departure from the
    /// notebook transcribed here).
    sign: Vec<Vec<f64>>,
    alpha: Vec<f64>,
    arch: Vec<usize>,
    cfg: TrainConfig,
    /// Samples whose output already met its targets (no weight moves, decay still applies).
    error_free: usize,
    /// Batched optimisers (not in either paper): per layer the summed `δ·HF` of the pending
    /// samples, output-major like `w`, the optimiser's state (momentum `u` or Adam's `m`, `v`),
    /// the samples pending and the steps taken.
    grad: Vec<Vec<f64>>,
    m: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
    pending: usize,
    steps: i32,
    /// Silent-output rivals pushed down (not in either paper), and how many of them tied the
    /// label's potential.
    rivals: usize,
    rival_ties: usize,
    /// Samples whose label tied another output at the earliest spike (`tie_label_shift`).
    label_ties: usize,
    /// Of those, the samples whose label was pulled earlier (all of them unless
    /// `tie_pull_lost_only`).
    label_pulls: usize,
    /// Forward dropout (not in either paper): stream 1 of the seed's ChaCha8 generator, one
    /// Bernoulli draw per input of each layer with `p > 0`, per sample.
    drop_rng: ChaCha8Rng,
    /// Learned per-neuron thresholds (not in either paper), real units, per layer (empty: the
    /// layer's fixed θ), with the batched optimisers' summed updates and state per neuron.
    theta: Vec<Vec<f64>>,
    theta_grad: Vec<Vec<f64>>,
    theta_m: Vec<Vec<f64>>,
    theta_v: Vec<Vec<f64>>,
}

impl Reference {
    /// Layer `l`'s thresholds, per neuron, with a fraction `keep` of its inputs expected to be
    /// present.
    fn thr(&self, l: usize, keep: f64) -> Vec<f64> {
        let n_out = self.arch[l + 1];
        match self.cfg.rule {
            model::Rule::S4nn => vec![f64::from(self.cfg.threshold[l]) * keep; n_out],
            // thr·keep/fact compared with an integer count == floor(thr/(fact/keep))
            model::Rule::Bs4nn if self.theta[l].is_empty() => {
                let thr = binary_threshold(self.cfg.threshold[l], self.alpha[l] / keep);
                vec![f64::from(thr); n_out]
            }
            model::Rule::Bs4nn => self.theta[l]
                .iter()
                .map(|&th| (th / (self.alpha[l] / keep)).floor().max(0.0))
                .collect(),
        }
    }

    /// The evaluation forward pass (every input, the full thresholds).
    fn forward(&self, tin: &[u16]) -> Vec<Vec<u16>> {
        self.forward_with(tin, None)
    }

    /// The forward pass; with a generator, forward dropout: each input of layer `l` is
    /// replaced by "no spike" (`t_max`) with probability `p_l` and the threshold scaled by
    /// `1 − p_l`.
    fn forward_with(&self, tin: &[u16], mut drop: Option<&mut ChaCha8Rng>) -> Vec<Vec<u16>> {
        let binary = self.cfg.rule == model::Rule::Bs4nn;
        let mut times = vec![tin.to_vec()];
        for l in 0..self.w.len() {
            let p = self.cfg.forward_dropout.get(l).copied().unwrap_or(0.0);
            let mut keep = 1.0;
            if let (Some(rng), true) = (drop.as_deref_mut(), p > 0.0) {
                for t in times[l].iter_mut() {
                    if rng.gen_bool(p) {
                        *t = self.cfg.t_max;
                    }
                }
                keep = 1.0 - p;
            }
            let t = ref_forward(
                if binary { &self.sign[l] } else { &self.w[l] },
                self.arch[l],
                &times[l],
                &self.thr(l, keep),
                self.cfg.t_max as usize,
                binary,
            );
            times.push(t);
        }
        times
    }

    /// The output layer's potentials after the hidden spikes of steps `0..=at` (`times` from
    /// the forward pass), with the forward weights (BS4NN: the signs).
    fn output_potentials(&self, times: &[Vec<u16>], at: u16) -> Vec<f64> {
        let last = self.w.len() - 1;
        let binary = self.cfg.rule == model::Rule::Bs4nn;
        let w = if binary {
            &self.sign[last]
        } else {
            &self.w[last]
        };
        ref_potentials(w, self.arch[last], &times[last], at, binary)
    }

    fn step(&mut self, tin: &[u16], label: usize) -> Vec<Vec<u16>> {
        let tmax = self.cfg.t_max;
        let mut drop = self.drop_rng.clone();
        let times = self.forward_with(tin, Some(&mut drop));
        self.drop_rng = drop;
        let out = times.last().unwrap().clone();
        let min = *out.iter().min().unwrap();
        let gamma = self.cfg.gamma;
        let mut target: Vec<u16>;
        if min == tmax {
            target = vec![tmax; out.len()];
            target[label] = tmax - self.cfg.silent_label_shift;
        } else {
            target = out.clone();
            for k in 0..out.len() {
                if out[k] - min < gamma {
                    target[k] = (min + gamma).min(tmax);
                }
            }
            target[label] = min;
            // A tie at the earliest step: the label is pulled `tie_label_shift` steps earlier
            // (under `tie_pull_lost_only`, only when the decoder names another class: the first
            // tied output, after the largest potential at the crossing step `min − 1` under
            // `ties_by_potential`; the replay learns no tie order).
            let tied: Vec<usize> = (0..out.len()).filter(|&k| out[k] == min).collect();
            if out[label] == min && tied.len() > 1 {
                self.label_ties += 1;
                let decoded = if self.cfg.ties_by_potential {
                    let pot = self.output_potentials(&times, min - 1);
                    let best = tied.iter().map(|&k| pot[k]).fold(f64::MIN, f64::max);
                    tied.iter().copied().find(|&k| pot[k] == best)
                } else {
                    tied.first().copied()
                };
                if !self.cfg.tie_pull_lost_only || decoded != Some(label) {
                    self.label_pulls += 1;
                    target[label] = min.saturating_sub(self.cfg.tie_label_shift);
                }
            }
        }
        let mut delta: Vec<f64> = (0..out.len())
            .map(|k| (f64::from(target[k]) - f64::from(out[k])) / f64::from(tmax))
            .collect();
        let rival_shift = self.cfg.silent_rival_shift;
        if min == tmax && rival_shift > 0 {
            // Silent: every output the fallback ranks at or above the label is pushed down.
            let pot = self.output_potentials(&times, tmax - 3);
            for k in 0..out.len() {
                if k != label && pot[k] >= pot[label] {
                    self.rivals += 1;
                    self.rival_ties += usize::from(pot[k] == pot[label]);
                    delta[k] = f64::from(rival_shift) / f64::from(tmax);
                }
            }
        }
        if delta.iter().all(|&d| d == 0.0) {
            self.error_free += 1;
        }
        norm(&mut delta);
        for l in (0..self.w.len()).rev() {
            let n_in = self.arch[l];
            let n_out = self.arch[l + 1];
            let lr = self.cfg.lr[l];
            let lam = self.cfg.weight_decay[l];
            let (ti, to) = (&times[l], &times[l + 1]);
            let batched = self.cfg.optimiser != Optimiser::Online;
            let w = &mut self.w[l];
            for j in 0..n_out {
                for i in 0..n_in {
                    if ti[i] < to[j] {
                        if batched {
                            self.grad[l][j * n_in + i] += delta[j];
                        } else {
                            w[j * n_in + i] -= lr * delta[j];
                        }
                    }
                }
            }
            for x in w.iter_mut() {
                *x -= lr * lam * *x;
            }
            // A learned threshold: the bias of `Σ w − θ_j`, moved against the weights.
            let lr_theta = self.cfg.threshold_lr.get(l).copied().unwrap_or(0.0);
            let (theta, theta_grad) = (&mut self.theta[l], &mut self.theta_grad[l]);
            for (j, &d) in delta.iter().enumerate().take(theta.len()) {
                if batched {
                    theta_grad[j] -= d;
                } else {
                    theta[j] += lr_theta * d;
                }
            }
            let h = self.cfg.hysteresis(l);
            for (s, &x) in self.sign[l].iter_mut().zip(w.iter()) {
                if (*s > 0.0 && x < -h) || (*s < 0.0 && x >= h) {
                    *s = -*s;
                }
            }
            if self.cfg.rule == model::Rule::Bs4nn {
                let mut m = 0.0;
                let sign = &self.sign[l];
                for j in 0..n_out {
                    for (i, &t) in ti.iter().enumerate() {
                        if t < to[j] {
                            m += delta[j] * sign[j * n_in + i];
                        }
                    }
                }
                self.alpha[l] -= self.cfg.lr_scale[l] * m / (n_in * n_out) as f64;
            }
            let mut prev = vec![0f64; n_in];
            for j in 0..n_out {
                for i in 0..n_in {
                    if ti[i] < to[j] {
                        prev[i] += w[j * n_in + i] * delta[j];
                    }
                }
            }
            norm(&mut prev);
            delta = prev;
        }
        if self.cfg.optimiser != Optimiser::Online {
            self.pending += 1;
            if self.pending == self.cfg.optimiser.batch() {
                self.optimiser_step();
            }
        }
        times
    }

    /// The batched optimisers' step, dense over every weight, as their formulas read.
    fn optimiser_step(&mut self) {
        self.pending = 0;
        self.steps += 1;
        let (opt, steps) = (self.cfg.optimiser, self.steps);
        for l in 0..self.w.len() {
            let lr = self.cfg.lr[l];
            let (w, g) = (&mut self.w[l], &mut self.grad[l]);
            ref_optimiser_step(opt, steps, lr, w, g, &mut self.m[l], &mut self.v[l]);
            let lr_theta = self.cfg.threshold_lr.get(l).copied().unwrap_or(0.0);
            let (th, g) = (&mut self.theta[l], &mut self.theta_grad[l]);
            let (m, v) = (&mut self.theta_m[l], &mut self.theta_v[l]);
            ref_optimiser_step(opt, steps, lr_theta, th, g, m, v);
            let h = self.cfg.hysteresis(l);
            for (s, &x) in self.sign[l].iter_mut().zip(self.w[l].iter()) {
                if (*s > 0.0 && x < -h) || (*s < 0.0 && x >= h) {
                    *s = -*s;
                }
            }
        }
    }
}

/// A batched optimiser's step on every parameter `x[n]` from its summed update `g[n]`
/// (cleared), as the formulas read: momentum `m ← βm + g`, `x −= lr·m`; Adam with its bias
/// corrections after `steps` steps. Only the first `x.len()` entries of the state are used.
fn ref_optimiser_step(
    opt: Optimiser,
    steps: i32,
    lr: f64,
    x: &mut [f64],
    g: &mut [f64],
    m: &mut [f64],
    v: &mut [f64],
) {
    for n in 0..x.len() {
        let gn = g[n];
        g[n] = 0.0;
        let step = match opt {
            Optimiser::Online => unreachable!(),
            Optimiser::Momentum { beta, .. } => {
                m[n] = beta * m[n] + gn;
                m[n]
            }
            Optimiser::Adam { beta1, beta2, .. } => {
                m[n] = beta1 * m[n] + (1.0 - beta1) * gn;
                v[n] = beta2 * v[n] + (1.0 - beta2) * gn * gn;
                let m_hat = m[n] / (1.0 - beta1.powi(steps));
                let v_hat = v[n] / (1.0 - beta2.powi(steps));
                m_hat / (v_hat.sqrt() + 1e-8)
            }
        };
        x[n] -= lr * step;
    }
}

/// The two update regimes the departures from the papers are checked under: online, and Adam
/// on batches of 3 (small enough that 400 samples take many steps).
fn online_and_adam() -> [Optimiser; 2] {
    [
        Optimiser::Online,
        Optimiser::Adam {
            beta1: 0.9,
            beta2: 0.999,
            batch: 3,
        },
    ]
}

/// Replays `samples` digits through the trainer and the transcription side by side; returns
/// how many (weight, sample) pairs ended a step with a forward sign opposite to the latent's.
fn compare(cfg: TrainConfig, samples: usize, min_error_free: usize) -> usize {
    replay(cfg, samples, min_error_free, samples / 2 + 1).0
}

/// [`compare`] with its floor on samples with an output spike, returning the transcription too.
fn replay(
    cfg: TrainConfig,
    samples: usize,
    min_error_free: usize,
    min_spiking: usize,
) -> (usize, Reference) {
    let split = data::digits().unwrap();
    let mut trainer = Trainer::new(cfg.clone()).unwrap();
    let arch = cfg.arch.clone();
    let w: Vec<Vec<f64>> = (0..arch.len() - 1)
        .map(|l| trainer.real_weights(l))
        .collect();
    let mut held = 0;
    let mut reference = Reference {
        sign: w
            .iter()
            .map(|l| {
                l.iter()
                    .map(|&x| if x < 0.0 { -1.0 } else { 1.0 })
                    .collect()
            })
            .collect(),
        grad: w.iter().map(|l| vec![0.0; l.len()]).collect(),
        m: w.iter().map(|l| vec![0.0; l.len()]).collect(),
        v: w.iter().map(|l| vec![0.0; l.len()]).collect(),
        pending: 0,
        steps: 0,
        rivals: 0,
        rival_ties: 0,
        label_ties: 0,
        label_pulls: 0,
        drop_rng: {
            let mut r = ChaCha8Rng::seed_from_u64(cfg.seed);
            r.set_stream(1);
            r
        },
        theta: (0..arch.len() - 1)
            .map(|l| match cfg.threshold_lr.get(l) {
                Some(&r) if r > 0.0 => vec![f64::from(cfg.threshold[l]); arch[l + 1]],
                _ => Vec::new(),
            })
            .collect(),
        theta_grad: (0..arch.len() - 1)
            .map(|l| vec![0.0; arch[l + 1]])
            .collect(),
        theta_m: (0..arch.len() - 1)
            .map(|l| vec![0.0; arch[l + 1]])
            .collect(),
        theta_v: (0..arch.len() - 1)
            .map(|l| vec![0.0; arch[l + 1]])
            .collect(),
        w,
        alpha: cfg.scale_init.clone(),
        arch,
        cfg,
        error_free: 0,
    };
    let enc = trainer.encoder();
    let mut nontrivial = 0;
    for k in 0..samples {
        let img = split.train.image(k);
        let label = split.train.label(k);
        let tin: Vec<u16> = enc.encode(img).iter().map(|t| t.0).collect();
        let host_times = trainer.spike_times(img);
        assert_eq!(
            host_times,
            reference.forward(&tin),
            "sample {k}: spike times differ"
        );
        let ref_times = reference.step(&tin, label);
        trainer.train_sample(img, label).unwrap();
        for l in 0..reference.w.len() {
            let host = trainer.real_weights(l);
            for (n, (a, b)) in host.iter().zip(&reference.w[l]).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
                    "sample {k} layer {l} weight {n}: {a} vs {b}"
                );
            }
            held += reference.w[l]
                .iter()
                .zip(&reference.sign[l])
                .filter(|(&x, &s)| (x < 0.0) != (s < 0.0))
                .count();
            match trainer.learned_thresholds(l) {
                Some(th) => {
                    for (j, (a, b)) in th.iter().zip(&reference.theta[l]).enumerate() {
                        assert!(
                            (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
                            "sample {k} layer {l} threshold {j}: {a} vs {b}"
                        );
                    }
                }
                None => assert!(reference.theta[l].is_empty(), "layer {l}: none learned"),
            }
            let ha = trainer.scales()[l];
            assert!(
                (ha - reference.alpha[l]).abs() < 1e-6,
                "sample {k} layer {l}: alpha {ha} vs {}",
                reference.alpha[l]
            );
        }
        let out = ref_times.last().unwrap();
        if out.iter().any(|&t| t < reference.cfg.t_max) {
            nontrivial += 1;
        }
    }
    assert!(
        nontrivial >= min_spiking,
        "only {nontrivial} samples had an output spike"
    );
    assert!(
        reference.error_free >= min_error_free,
        "only {} samples without an error (wanted {min_error_free})",
        reference.error_free
    );
    (held, reference)
}

#[test]
fn s4nn_matches_reference_transcription() {
    let mut cfg = TrainConfig::s4nn(vec![64, 30, 10], 7);
    cfg.threshold = vec![30, 100];
    compare(cfg, 400, 1);
}

/// A small BS4NN net on the digits with the given sign hysteresis (empty = the notebook's rule).
fn small_bs4nn(sign_hysteresis: Vec<f64>) -> TrainConfig {
    let mut cfg = TrainConfig::bs4nn(vec![64, 30, 10], 7);
    cfg.init_low = vec![-1.0, 0.0];
    cfg.threshold = vec![30, 100];
    cfg.silent_label_shift = 1;
    cfg.sign_hysteresis = sign_hysteresis;
    cfg
}

#[test]
fn bs4nn_matches_reference_transcription() {
    assert_eq!(
        compare(small_bs4nn(Vec::new()), 400, 1),
        0,
        "no hysteresis: the sign is the latent's"
    );
}

/// With a sign hysteresis, the forward network (spike times) and the updates still follow the
/// transcription step by step, and the hysteresis really holds signs against their latents.
#[test]
fn bs4nn_sign_hysteresis_matches_reference_transcription() {
    let held = compare(small_bs4nn(vec![0.05, 0.5]), 400, 1);
    assert!(held > 0, "no sign was ever held against its latent");
}

/// The batched optimisers against their formulas: updates summed over the batch with the
/// weights and signs of the batch's start, one momentum or Adam step per batch (the last
/// sample of 400 is pending, so both sides stop with a partial batch, unapplied).
#[test]
fn batched_optimisers_match_reference_transcription() {
    let momentum = Optimiser::Momentum {
        beta: 0.9,
        batch: 7,
    };
    let adam = Optimiser::Adam {
        beta1: 0.9,
        beta2: 0.999,
        batch: 3,
    };
    for opt in [momentum, adam] {
        let mut cfg = TrainConfig::s4nn(vec![64, 30, 10], 7);
        cfg.threshold = vec![30, 100];
        cfg.optimiser = opt;
        if let Optimiser::Adam { .. } = opt {
            cfg.lr = vec![0.05, 0.5];
        }
        compare(cfg, 400, 1);
        let mut cfg = small_bs4nn(vec![0.05, 0.5]);
        cfg.optimiser = opt;
        if let Optimiser::Momentum { .. } = opt {
            cfg.lr = vec![0.02, 0.02];
        } else {
            cfg.lr = vec![0.02, 0.2];
        }
        assert!(compare(cfg, 400, 1) > 0, "{opt:?}: no sign held");
    }
}

/// Forward dropout against its transcription: inputs silenced by draws from stream 1 of the
/// seed, each layer's threshold scaled by `1 − p`, silenced hidden neurons without an error
/// (both rules, online and under Adam). The evaluation forward pass stays whole: `compare`
/// checks the trainer's spike times against the transcription's undropped pass every sample.
#[test]
fn forward_dropout_matches_reference_transcription() {
    let mut s4nn = TrainConfig::s4nn(vec![64, 30, 10], 7);
    s4nn.threshold = vec![30, 100];
    s4nn.forward_dropout = vec![0.2, 0.3];
    compare(s4nn, 400, 0);
    let mut bs4nn = small_bs4nn(vec![0.05, 0.5]);
    bs4nn.forward_dropout = vec![0.0, 0.25];
    compare(bs4nn.clone(), 400, 0);
    bs4nn.forward_dropout = vec![0.1, 0.25];
    bs4nn.optimiser = Optimiser::Adam {
        beta1: 0.9,
        beta2: 0.999,
        batch: 3,
    };
    bs4nn.lr = vec![0.02, 0.2];
    compare(bs4nn, 400, 0);
}

/// The silent outputs' rivals: when no output fires, every output whose potential at
/// `t_max − 3` reaches the label's (ties included) gets the error `+shift/t_max` (both rules,
/// online and Adam). The BS4NN output threshold (29 of 30 hidden) leaves most samples silent.
#[test]
fn silent_rival_shift_matches_reference_transcription() {
    let mut s4nn = TrainConfig::s4nn(vec![64, 30, 10], 7);
    s4nn.threshold = vec![30, 100];
    s4nn.silent_rival_shift = 3;
    let (_, r) = replay(s4nn, 400, 1, 201);
    assert!(r.rivals > 0, "no rival pushed");
    let mut bs4nn = small_bs4nn(vec![0.05, 0.5]);
    bs4nn.threshold = vec![30, 145];
    bs4nn.silent_label_shift = 60;
    bs4nn.silent_rival_shift = 60;
    for opt in online_and_adam() {
        bs4nn.optimiser = opt;
        let (_, r) = replay(bs4nn.clone(), 400, 0, 50);
        assert!(
            r.rival_ties > 0 && r.rivals > r.rival_ties,
            "{opt:?}: rivals {} (tied {})",
            r.rivals,
            r.rival_ties
        );
        bs4nn.lr = vec![0.02, 0.2];
    }
}

/// The label's pull on a tie: when the label and another output share the earliest spike
/// step, the label's target is `t_min − shift` (S4NN online, BS4NN online and under Adam).
/// Ties must occur, and the shift must change the trajectory.
#[test]
fn tie_label_shift_matches_reference_transcription() {
    let mut s4nn = TrainConfig::s4nn(vec![64, 30, 10], 7);
    s4nn.threshold = vec![30, 60];
    s4nn.tie_label_shift = 2;
    let (_, r) = replay(s4nn.clone(), 400, 1, 201);
    assert!(r.label_ties > 0, "S4NN: no tie with the label");
    let mut bs4nn = small_bs4nn(vec![0.05, 0.5]);
    bs4nn.tie_label_shift = 3;
    for opt in online_and_adam() {
        bs4nn.optimiser = opt;
        let (_, r) = replay(bs4nn.clone(), 400, 0, 100);
        assert!(r.label_ties > 0, "{opt:?}: no tie with the label");
        bs4nn.lr = vec![0.02, 0.2];
    }
    let split = data::digits().unwrap();
    let weights = |c: TrainConfig| {
        let mut t = Trainer::new(c).unwrap();
        t.train_epoch(&split.train, |_| {}).unwrap();
        (0..2).map(|l| t.real_weights(l)).collect::<Vec<_>>()
    };
    let mut plain = s4nn.clone();
    plain.tie_label_shift = 0;
    assert_ne!(weights(s4nn), weights(plain), "the shift changes nothing");
}

/// The pull only on ties the decoder gives another class (`tie_pull_lost_only`), by the
/// lowest index and by the crossing potentials: some tied labels are pulled, some not, and the
/// narrower pull changes the trajectory.
#[test]
fn tie_pull_on_lost_ties_matches_reference_transcription() {
    let mut s4nn = TrainConfig::s4nn(vec![64, 30, 10], 7);
    s4nn.threshold = vec![30, 60];
    s4nn.tie_label_shift = 2;
    s4nn.tie_pull_lost_only = true;
    let mut bs4nn = small_bs4nn(vec![0.05, 0.5]);
    bs4nn.tie_label_shift = 3;
    bs4nn.tie_pull_lost_only = true;
    for by in [false, true] {
        s4nn.ties_by_potential = by;
        bs4nn.ties_by_potential = by;
        for (cfg, min_spiking) in [(&s4nn, 201), (&bs4nn, 100)] {
            let (_, r) = replay(
                cfg.clone(),
                400,
                usize::from(cfg.rule == model::Rule::S4nn),
                min_spiking,
            );
            assert!(
                r.label_pulls > 0 && r.label_pulls < r.label_ties,
                "{:?} by potential {by}: {} of {} tied labels pulled",
                cfg.rule,
                r.label_pulls,
                r.label_ties
            );
        }
    }
    let split = data::digits().unwrap();
    let weights = |c: TrainConfig| {
        let mut t = Trainer::new(c).unwrap();
        t.train_epoch(&split.train, |_| {}).unwrap();
        (0..2).map(|l| t.real_weights(l)).collect::<Vec<_>>()
    };
    let mut everywhere = s4nn.clone();
    everywhere.tie_pull_lost_only = false;
    assert_ne!(
        weights(s4nn),
        weights(everywhere),
        "the narrower pull changes nothing"
    );
}

/// Learned per-neuron thresholds against their transcription: each `θ_j` starts at the
/// layer's θ, moves by `+lr_θ·δ_j` (online) or through the batched optimiser's step on `−δ_j`,
/// and the forward pass compares with `⌊θ_j/α⌋` per neuron (BS4NN online and under Adam, with
/// forward dropout scaling the learned thresholds too). The integer thresholds must part.
#[test]
fn learned_thresholds_match_reference_transcription() {
    let mut bs4nn = small_bs4nn(vec![0.05, 0.5]);
    bs4nn.threshold_lr = vec![1.0, 4.0];
    for opt in online_and_adam() {
        bs4nn.optimiser = opt;
        let (_, r) = replay(bs4nn.clone(), 400, 0, 100);
        for l in 0..2 {
            let ints: Vec<f64> = r.thr(l, 1.0);
            assert!(
                ints.iter().any(|&x| x != ints[0]),
                "{opt:?} layer {l}: integer thresholds never parted: {ints:?}"
            );
        }
        bs4nn.lr = vec![0.02, 0.2];
        bs4nn.threshold_lr = vec![0.5, 2.0];
        bs4nn.forward_dropout = vec![0.1, 0.0];
    }
}

/// Zero dropout is no dropout (no draw, the same trajectory); any other setting changes the
/// trajectory; a probability of 1 or a wrong count is refused by name.
#[test]
fn forward_dropout_changes_training_only_when_set_and_is_checked() {
    let split = data::digits().unwrap();
    let base = small_bs4nn(Vec::new());
    let run = |fd: Vec<f64>| {
        let mut cfg = base.clone();
        cfg.forward_dropout = fd;
        let mut t = Trainer::new(cfg).unwrap();
        t.train_epoch(&split.train, |_| {}).unwrap();
        (0..2).map(|l| t.real_weights(l)).collect::<Vec<_>>()
    };
    let none = run(Vec::new());
    assert_eq!(none, run(vec![0.0, 0.0]));
    assert_ne!(none, run(vec![0.0, 0.1]));
    for (fd, what) in [
        (vec![1.0, 0.0], "[0, 1)"),
        (vec![0.1, -0.1], "[0, 1)"),
        (vec![0.1], "one per layer"),
    ] {
        let mut cfg = base.clone();
        cfg.forward_dropout = fd.clone();
        let e = Trainer::new(cfg).unwrap_err().to_string();
        assert!(
            e.contains("forward_dropout") && e.contains(what),
            "{fd:?}: {e}"
        );
    }
}

/// A batched step really differs from online learning (the check above cannot pass by both
/// sides ignoring the optimiser), and the trainer refuses an empty batch or β outside [0, 1).
#[test]
fn a_batched_optimiser_changes_the_trajectory_and_its_settings_are_checked() {
    let split = data::digits().unwrap();
    let online = TrainConfig::s4nn(vec![64, 30, 10], 7);
    let mut batched = online.clone();
    batched.optimiser = Optimiser::Momentum {
        beta: 0.0,
        batch: 4,
    };
    let (mut a, mut b) = (
        Trainer::new(online).unwrap(),
        Trainer::new(batched).unwrap(),
    );
    for k in 0..40 {
        a.train_sample(split.train.image(k), split.train.label(k))
            .unwrap();
        b.train_sample(split.train.image(k), split.train.label(k))
            .unwrap();
    }
    assert_ne!(a.real_weights(0), b.real_weights(0));
    for (opt, what) in [
        (
            Optimiser::Momentum {
                beta: 1.0,
                batch: 4,
            },
            "[0, 1)",
        ),
        (
            Optimiser::Momentum {
                beta: 0.5,
                batch: 0,
            },
            "at least 1",
        ),
        (
            Optimiser::Adam {
                beta1: 0.9,
                beta2: -0.1,
                batch: 4,
            },
            "[0, 1)",
        ),
    ] {
        let mut cfg = TrainConfig::bs4nn(vec![64, 30, 10], 1);
        cfg.optimiser = opt;
        let e = Trainer::new(cfg).unwrap_err().to_string();
        assert!(e.contains("optimiser") && e.contains(what), "{opt:?}: {e}");
    }
}

/// An epoch ends with a step for its partial batch: in file order, `train_epoch` equals
/// `train_sample` on every image followed by `optimiser_step`, and differs without that step
/// (1,437 digits in batches of 10 leave 7 pending).
#[test]
fn an_epoch_ends_with_a_step_for_its_partial_batch() {
    let split = data::digits().unwrap();
    let mut cfg = small_bs4nn(Vec::new());
    cfg.order = model::SampleOrder::Sequential;
    cfg.lr = vec![0.02, 0.02];
    cfg.optimiser = Optimiser::Momentum {
        beta: 0.9,
        batch: 10,
    };
    assert_ne!(split.train.len() % 10, 0);
    let mut epoch = Trainer::new(cfg.clone()).unwrap();
    epoch.train_epoch(&split.train, |_| {}).unwrap();
    let mut by_sample = Trainer::new(cfg).unwrap();
    for k in 0..split.train.len() {
        by_sample
            .train_sample(split.train.image(k), split.train.label(k))
            .unwrap();
    }
    let same = |a: &Trainer, b: &Trainer| (0..2).all(|l| a.real_weights(l) == b.real_weights(l));
    assert!(!same(&epoch, &by_sample), "7 samples still pending");
    by_sample.optimiser_step();
    assert!(same(&epoch, &by_sample));
}

/// The rivals' push ramp: `silent_rival_shift_at` follows its integer formula (up and down,
/// truncated toward the start), a ramp that starts at the full push is no ramp, a ramp from a
/// lower push trains exactly as that push for the first epoch and departs from it in the
/// second, and a ramp with no push or no epochs is refused by name.
#[test]
fn rival_push_ramps_linearly_over_its_epochs() {
    let mut cfg = small_bs4nn(vec![0.05, 0.5]);
    cfg.threshold = vec![30, 145];
    cfg.silent_label_shift = 60;
    cfg.silent_rival_shift = 120;
    cfg.silent_rival_ramp = Some(RivalRamp {
        start: 50,
        epochs: 3,
    });
    let pushes = |c: &TrainConfig| {
        (0..5)
            .map(|e| c.silent_rival_shift_at(e))
            .collect::<Vec<_>>()
    };
    // 50 + 70·k/3: 50, 73.3, 96.7, 120.
    assert_eq!(pushes(&cfg), vec![50, 73, 96, 120, 120]);
    let mut down = cfg.clone();
    down.silent_rival_shift = 50;
    down.silent_rival_ramp = Some(RivalRamp {
        start: 120,
        epochs: 3,
    });
    // 120 − 70·k/3: 120, 96.7, 73.3, 50.
    assert_eq!(pushes(&down), vec![120, 97, 74, 50, 50]);

    let split = data::digits().unwrap();
    let run = |c: TrainConfig| {
        let mut t = Trainer::new(c).unwrap();
        (0..2)
            .map(|_| {
                t.train_epoch(&split.train, |_| {}).unwrap();
                (0..2).map(|l| t.real_weights(l)).collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let mut at_start = cfg.clone();
    at_start.silent_rival_shift = 50;
    at_start.silent_rival_ramp = None;
    let (ramped, start) = (run(cfg.clone()), run(at_start));
    assert_eq!(ramped[0], start[0], "epoch 1 pushes 50 in both");
    assert_ne!(ramped[1], start[1], "epoch 2 pushes 73 against 50");
    let mut flat = cfg.clone();
    flat.silent_rival_ramp = Some(RivalRamp {
        start: 120,
        epochs: 3,
    });
    let mut full = cfg.clone();
    full.silent_rival_ramp = None;
    assert_eq!(run(flat), run(full), "a ramp from the full push is no ramp");

    for (push, epochs) in [(120, 0), (0, 3)] {
        let mut bad = cfg.clone();
        bad.silent_rival_shift = push;
        bad.silent_rival_ramp = Some(RivalRamp { start: 50, epochs });
        let err = Trainer::new(bad)
            .expect_err("a ramp with no epochs or no push")
            .to_string();
        assert!(err.contains("silent_rival_ramp"), "{err}");
    }
}

#[test]
fn learning_rate_decay_starts_at_its_epoch() {
    let mut cfg = TrainConfig::s4nn(vec![64, 30, 10], 3);
    cfg.threshold = vec![30, 100];
    cfg.lr_decay = 0.5;
    cfg.lr_decay_from = 2;
    let factors: Vec<f64> = (0..5).map(|e| cfg.lr_factor(e)).collect();
    assert_eq!(factors, vec![1.0, 1.0, 1.0, 0.5, 0.25]);

    // The trainer follows the schedule: identical to a constant-rate run for the first three
    // epochs, different in the fourth.
    let split = data::digits().unwrap();
    let mut constant = cfg.clone();
    constant.lr_decay = 1.0;
    let (mut a, mut b) = (Trainer::new(cfg).unwrap(), Trainer::new(constant).unwrap());
    for epoch in 0..4 {
        a.train_epoch(&split.train, |_| {}).unwrap();
        b.train_epoch(&split.train, |_| {}).unwrap();
        let same = (0..2).all(|l| a.real_weights(l) == b.real_weights(l));
        assert_eq!(same, epoch < 3, "epoch {epoch}: weights equal = {same}");
    }
}
