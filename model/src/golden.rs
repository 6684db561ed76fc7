//! The golden (reference) forward pass: exactly what the chip computes for a [`Network`], in
//! integer arithmetic for integer layers, event-driven over sorted spike times.
//!
//! # Semantics (integer layers; the chip must match this bit for bit)
//!
//! Time is discrete, steps `t = 0, 1, …, t_max − 1`. Every neuron emits at most one spike per
//! sample; its spike time is a value in `0..=t_max`, where `t_max` means **no spike**. An input
//! time `≥ t_max` is a non-spike and never contributes.
//!
//! For a weighted layer (Dense or Conv2d), neuron `j` with weights `w_ji` (±1 for binary,
//! the stored value for small integers), integer threshold `θ_j` and presynaptic spike times
//! `t_i`:
//!
//! * **Step kernel**: `V_j(t) = Σ_{i : t_i ≤ t} w_ji` (the spikes arriving at step `t` are
//!   integrated before the comparison at step `t`).
//! * **Ramp kernel**: `S_j(t) = Σ_{i : t_i < t} w_ji`, `V_j(t) = V_j(t−1) + S_j(t)`, `V_j(−1) = 0`,
//!   i.e. `V_j(t) = Σ_i w_ji · max(0, t − t_i)`.
//! * **Crossing**: `c_j = min { t ∈ 0..t_max : V_j(t) > θ_j }` for [`FireRule::Greater`]
//!   (`≥` for [`FireRule::GreaterEqual`]). **Spike time** `t_j = c_j + delay` if that is
//!   `< t_max`; otherwise, and when there is no crossing, `t_j = t_max` (no spike). This is S4NN's
//!   forced "fake spike" at `t_max`: a crossing at `t_max − 1` with delay 1 is *not* a spike.
//! * Only the first crossing matters (no reset, no leak, no refractory period); a neuron
//!   cannot fire without input (validation demands `θ ≥ 0` for `>` and `θ ≥ 1` for `≥`).
//! * Potentials are exact integers (`i64` here; validation guarantees `|V| < 2^31`, so a chip
//!   with a 32-bit saturating potential computes the same values).
//!
//! Conv2d: output `(o, y, x)` takes input `(c, y·s + u − p, x·s + v − p)` with weight
//! `w[o][c][u][v]`; positions in the padding never spike. MaxPool2d: `t_out = min` over the
//! window (earliest spike wins, no delay; for learning, ties go to the first input in raster
//! order). Flatten: raster order `(channel, row, column)`.
//!
//! **Decoding** (output = last layer, raster order): if some output spiked, the class is the
//! neuron with the smallest spike time, ties to the lowest index — or, when the network has a
//! [`crate::TieOrder`], to the tied class that comes first in it; with
//! [`Network::ties_by_potential`], first to the tied neuron with the largest potential at its
//! crossing step (`V_k(t_k − delay)`), the order deciding only among equal ones. If none spiked (all equal
//! `t_max`), the class is the argmax (ties to the lowest index) of the output potentials
//! `V_k(t_max − fallback_offset)` (S4NN/BS4NN: `t_max − 3`).
//!
//! Layers with latent (real) weights run the same algorithm with `f32` potentials and
//! thresholds; spike times stay integers, so integer and real layers can be mixed. Additions
//! into a potential happen in ascending `(time, input index)` order, so real-valued results
//! are deterministic too.

use crate::error::RunError;
use crate::network::{FireRule, LayerKind, Network, NeuronModel, PspKernel, Shape, SpikeTime};
use crate::tie_order::earliest_winner;

/// Arithmetic of a potential: `i64` (integer layers) or `f32` (latent layers).
trait Potential: Copy + PartialOrd + std::ops::AddAssign + Send + Sync {
    const ZERO: Self;
}
impl Potential for i64 {
    const ZERO: i64 = 0;
}
impl Potential for f32 {
    const ZERO: f32 = 0.0;
}

/// A weighted layer compiled into an input-major fan-out table.
#[derive(Clone, Debug)]
struct Fanout<A> {
    n_out: usize,
    /// `Some` for sparse (conv) layers: CSR offsets into `targets`/`weights`.
    offsets: Option<Vec<u32>>,
    /// Targets of the CSR (conv); for dense layers the target of `weights[i*n_out+j]` is `j`.
    targets: Vec<u32>,
    weights: Vec<A>,
    thresholds: Vec<A>,
    neuron: NeuronModel,
}

impl<A: Potential> Fanout<A> {
    #[inline]
    fn for_each(&self, i: usize, mut f: impl FnMut(usize, A)) {
        match &self.offsets {
            None => {
                let row = &self.weights[i * self.n_out..(i + 1) * self.n_out];
                for (j, &w) in row.iter().enumerate() {
                    f(j, w);
                }
            }
            Some(off) => {
                let (a, b) = (off[i] as usize, off[i + 1] as usize);
                for k in a..b {
                    f(self.targets[k] as usize, self.weights[k]);
                }
            }
        }
    }

    #[inline]
    fn fires(&self, v: A, j: usize) -> bool {
        let th = self.thresholds[j];
        match self.neuron.fire {
            FireRule::Greater => v > th,
            FireRule::GreaterEqual => v >= th,
        }
    }

    /// Computes the layer's spike times; returns the potentials at step `snap_at` when asked
    /// and no neuron of the layer spiked. With `crossing`, also each neuron's potential at the
    /// step it crossed its threshold (zero for neurons that did not spike).
    fn run(
        &self,
        input: &[u16],
        t_max: u16,
        snap_at: Option<u16>,
        out: &mut Vec<u16>,
        mut crossing: Option<&mut Vec<A>>,
    ) -> Option<Vec<A>> {
        if let Some(c) = crossing.as_deref_mut() {
            c.clear();
            c.resize(self.n_out, A::ZERO);
        }
        let mut events: Vec<(u16, u32)> = input
            .iter()
            .enumerate()
            .filter(|(_, &t)| t < t_max)
            .map(|(i, &t)| (t, i as u32))
            .collect();
        events.sort_unstable();
        out.clear();
        out.resize(self.n_out, t_max);
        let mut v = vec![A::ZERO; self.n_out];
        let mut remaining = self.n_out;
        let delay = u32::from(self.neuron.delay);
        let tm = u32::from(t_max);
        let mut snap: Option<Vec<A>> = None;
        match self.neuron.kernel {
            PspKernel::Step => {
                let mut mark = vec![false; self.n_out];
                let mut touched: Vec<u32> = Vec::new();
                let mut k = 0;
                while k < events.len() {
                    let t = events[k].0;
                    let none_fired = remaining == self.n_out;
                    if let Some(s) = snap_at {
                        if none_fired && snap.is_none() && t > s {
                            snap = Some(v.clone());
                        }
                    }
                    let can_fire = u32::from(t) + delay < tm;
                    if !can_fire && (snap_at.is_none() || !none_fired || snap.is_some()) {
                        break;
                    }
                    while k < events.len() && events[k].0 == t {
                        let i = events[k].1 as usize;
                        self.for_each(i, |j, w| {
                            v[j] += w;
                            if !mark[j] {
                                mark[j] = true;
                                touched.push(j as u32);
                            }
                        });
                        k += 1;
                    }
                    for &j in &touched {
                        let j = j as usize;
                        mark[j] = false;
                        if can_fire && out[j] == t_max && self.fires(v[j], j) {
                            out[j] = (u32::from(t) + delay) as u16;
                            remaining -= 1;
                            if let Some(c) = crossing.as_deref_mut() {
                                c[j] = v[j];
                            }
                        }
                    }
                    touched.clear();
                    if remaining == 0 {
                        break;
                    }
                }
                if snap_at.is_some() && remaining == self.n_out && snap.is_none() {
                    snap = Some(v);
                }
            }
            PspKernel::Ramp => {
                let mut s = vec![A::ZERO; self.n_out];
                let mut k = 0;
                for t in 0..t_max {
                    while k < events.len() && events[k].0 < t {
                        let i = events[k].1 as usize;
                        self.for_each(i, |j, w| s[j] += w);
                        k += 1;
                    }
                    for (vj, &sj) in v.iter_mut().zip(&s) {
                        *vj += sj;
                    }
                    if snap_at == Some(t) && remaining == self.n_out {
                        snap = Some(v.clone());
                    }
                    let can_fire = u32::from(t) + delay < tm;
                    if can_fire {
                        for j in 0..self.n_out {
                            if out[j] == t_max && self.fires(v[j], j) {
                                out[j] = (u32::from(t) + delay) as u16;
                                remaining -= 1;
                                if let Some(c) = crossing.as_deref_mut() {
                                    c[j] = v[j];
                                }
                            }
                        }
                    }
                    let snap_done = match snap_at {
                        None => true,
                        Some(sa) => remaining < self.n_out || t >= sa,
                    };
                    if remaining == 0 || (!can_fire && snap_done) {
                        break;
                    }
                }
            }
        }
        if remaining < self.n_out {
            None
        } else {
            snap
        }
    }
}

#[derive(Clone, Debug)]
struct Pool {
    channels: usize,
    in_h: usize,
    in_w: usize,
    out_h: usize,
    out_w: usize,
    kernel: usize,
    stride: usize,
}

#[derive(Clone, Debug)]
enum Stage {
    Int(Fanout<i64>),
    Real(Fanout<f32>),
    Pool(Pool),
    Flatten,
}

/// Output potentials used by the no-spike decoding fallback.
#[derive(Clone, Debug, PartialEq)]
pub enum Potentials {
    /// Integer layer potentials.
    Int(Vec<i64>),
    /// Latent (real) layer potentials.
    Real(Vec<f32>),
}

impl Potentials {
    /// Index of the largest potential, ties to the lowest index.
    pub fn argmax(&self) -> usize {
        fn first_max<T: PartialOrd + Copy>(v: &[T]) -> usize {
            let mut best = 0;
            for (k, &x) in v.iter().enumerate() {
                if x > v[best] {
                    best = k;
                }
            }
            best
        }
        match self {
            Potentials::Int(v) => first_max(v),
            Potentials::Real(v) => first_max(v),
        }
    }
}

/// Everything the golden forward pass computes for one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardTrace {
    /// Spike times of every layer's neurons (raster order), `t_max` = no spike.
    pub layer_times: Vec<Vec<SpikeTime>>,
    /// Output potentials at `t_max − fallback_offset`; `Some` exactly when no output spiked.
    pub fallback: Option<Potentials>,
    /// Each output's potential at the step it crossed its threshold (zero for outputs that did
    /// not spike): what [`Network::ties_by_potential`] decides ties by.
    pub crossing: Potentials,
    /// Decoded class.
    pub prediction: usize,
}

impl ForwardTrace {
    /// The tie the decoder faced on this sample (labelled `label`): the outputs sharing the
    /// earliest spike and, with `by_potential` ([`Network::ties_by_potential`]), of those the
    /// ones with the largest crossing potential; `None` unless two or more remain.
    pub fn tie(
        &self,
        t_max: u16,
        by_potential: bool,
        label: usize,
    ) -> Option<crate::tie_order::Tie> {
        use crate::tie_order::Tie;
        let out: Vec<u16> = self
            .layer_times
            .last()
            .map_or(Vec::new(), |l| l.iter().map(|t| t.0).collect());
        match &self.crossing {
            Potentials::Int(c) => Tie::among(&out, t_max, by_potential.then_some(&c[..]), label),
            Potentials::Real(c) => Tie::among(&out, t_max, by_potential.then_some(&c[..]), label),
        }
    }
}

/// A validated network compiled for fast golden forward passes.
#[derive(Clone, Debug)]
pub struct GoldenNetwork {
    t_max: u16,
    snap_at: u16,
    n_in: usize,
    stages: Vec<Stage>,
    /// The network's tie priority; `None`: the lowest index.
    tie_order: Option<crate::TieOrder>,
    /// [`Network::ties_by_potential`].
    ties_by_potential: bool,
}

/// Shape of a convolution for [`compile_fanout`]: input and output maps, square kernel,
/// stride and zero padding.
#[derive(Clone, Copy, Debug)]
struct ConvGeometry {
    in_channels: usize,
    height: usize,
    width: usize,
    out_channels: usize,
    out_height: usize,
    out_width: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
}

/// The golden stage of a dense (`conv = None`) or convolutional weighted layer: integer
/// arithmetic when its weights are integers (binary or small ints), `f32` for latent weights.
fn weighted_stage(
    n_in: usize,
    n_out: usize,
    neuron: NeuronModel,
    th: &crate::network::Threshold,
    weights: &crate::network::Weights,
    conv: Option<ConvGeometry>,
) -> Stage {
    if weights.is_integer() {
        Stage::Int(compile_fanout(
            n_in,
            n_out,
            neuron,
            th,
            |n| i64::from(weights.int_at(n).unwrap_or(0)),
            conv,
            i64::from,
        ))
    } else {
        Stage::Real(compile_fanout(
            n_in,
            n_out,
            neuron,
            th,
            |n| weights.real_at(n).unwrap_or(0.0),
            conv,
            |t| t as f32,
        ))
    }
}

fn compile_fanout<A: Potential>(
    n_in: usize,
    n_out: usize,
    neuron: NeuronModel,
    th: &crate::network::Threshold,
    weight: impl Fn(usize) -> A,
    conv: Option<ConvGeometry>,
    to_a: impl Fn(i32) -> A,
) -> Fanout<A> {
    let thresholds: Vec<A> = (0..n_out).map(|j| to_a(th.of(j).unwrap_or(0))).collect();
    match conv {
        None => {
            let mut weights = Vec::with_capacity(n_in * n_out);
            for i in 0..n_in {
                for j in 0..n_out {
                    weights.push(weight(j * n_in + i));
                }
            }
            Fanout {
                n_out,
                offsets: None,
                targets: Vec::new(),
                weights,
                thresholds,
                neuron,
            }
        }
        Some(ConvGeometry {
            in_channels: cin,
            height: h,
            width: w,
            out_channels: cout,
            out_height: oh,
            out_width: ow,
            kernel: k,
            stride: s,
            padding: p,
        }) => {
            // (input, target, weight index), generated then grouped by input.
            let mut syn: Vec<(u32, u32, u32)> = Vec::new();
            for o in 0..cout {
                for y in 0..oh {
                    for x in 0..ow {
                        let target = ((o * oh + y) * ow + x) as u32;
                        for c in 0..cin {
                            for u in 0..k {
                                let iy = (y * s + u) as isize - p as isize;
                                if iy < 0 || iy >= h as isize {
                                    continue;
                                }
                                for v in 0..k {
                                    let ix = (x * s + v) as isize - p as isize;
                                    if ix < 0 || ix >= w as isize {
                                        continue;
                                    }
                                    let input = (c * h + iy as usize) * w + ix as usize;
                                    let widx = ((o * cin + c) * k + u) * k + v;
                                    syn.push((input as u32, target, widx as u32));
                                }
                            }
                        }
                    }
                }
            }
            syn.sort_unstable();
            let mut offsets = vec![0u32; n_in + 1];
            for &(i, _, _) in &syn {
                offsets[i as usize + 1] += 1;
            }
            for i in 0..n_in {
                offsets[i + 1] += offsets[i];
            }
            Fanout {
                n_out,
                offsets: Some(offsets),
                targets: syn.iter().map(|s| s.1).collect(),
                weights: syn.iter().map(|s| weight(s.2 as usize)).collect(),
                thresholds,
                neuron,
            }
        }
    }
}

impl GoldenNetwork {
    /// Validates and compiles `net`. Integer layers run in integer arithmetic, latent layers in
    /// `f32`.
    pub fn new(net: &Network) -> Result<GoldenNetwork, RunError> {
        let shapes = net.validate()?;
        let mut stages = Vec::with_capacity(net.layers.len());
        let mut shape = net.input;
        for (layer, &out_shape) in net.layers.iter().zip(&shapes) {
            let n_in = shape.len();
            let n_out = out_shape.len();
            let stage = match &layer.kind {
                LayerKind::Flatten => Stage::Flatten,
                LayerKind::MaxPool2d(p) => {
                    let (
                        Shape::Map {
                            channels,
                            height,
                            width,
                        },
                        Shape::Map {
                            height: oh,
                            width: ow,
                            ..
                        },
                    ) = (shape, out_shape)
                    else {
                        unreachable_shape()?
                    };
                    Stage::Pool(Pool {
                        channels: channels as usize,
                        in_h: height as usize,
                        in_w: width as usize,
                        out_h: oh as usize,
                        out_w: ow as usize,
                        kernel: p.kernel as usize,
                        stride: p.stride as usize,
                    })
                }
                LayerKind::Dense(d) => {
                    weighted_stage(n_in, n_out, d.neuron, &d.threshold, &d.weights, None)
                }
                LayerKind::Conv2d(c) => {
                    let (
                        Shape::Map { height, width, .. },
                        Shape::Map {
                            height: oh,
                            width: ow,
                            ..
                        },
                    ) = (shape, out_shape)
                    else {
                        unreachable_shape()?
                    };
                    let geo = ConvGeometry {
                        in_channels: c.in_channels as usize,
                        height: height as usize,
                        width: width as usize,
                        out_channels: c.out_channels as usize,
                        out_height: oh as usize,
                        out_width: ow as usize,
                        kernel: c.kernel as usize,
                        stride: c.stride as usize,
                        padding: c.padding as usize,
                    };
                    weighted_stage(n_in, n_out, c.neuron, &c.threshold, &c.weights, Some(geo))
                }
            };
            stages.push(stage);
            shape = out_shape;
        }
        Ok(GoldenNetwork {
            t_max: net.t_max,
            snap_at: net.t_max - net.fallback_offset,
            n_in: net.input.len(),
            stages,
            tie_order: net.tie_order.clone(),
            ties_by_potential: net.ties_by_potential,
        })
    }

    /// The simulation window `t_max`.
    pub fn t_max(&self) -> u16 {
        self.t_max
    }

    /// Number of input values expected.
    pub fn inputs(&self) -> usize {
        self.n_in
    }

    /// Runs one sample; input times `≥ t_max` are non-spikes.
    pub fn forward(&self, input: &[SpikeTime]) -> Result<ForwardTrace, RunError> {
        if input.len() != self.n_in {
            return Err(RunError::InputSize {
                expected: self.n_in,
                found: input.len(),
            });
        }
        let tm = self.t_max;
        let mut cur: Vec<u16> = input.iter().map(|t| t.0.min(tm)).collect();
        let mut layer_times = Vec::with_capacity(self.stages.len());
        let mut fallback = None;
        let mut crossing = Potentials::Int(Vec::new());
        let last = self.stages.len() - 1;
        for (idx, stage) in self.stages.iter().enumerate() {
            let snap = (idx == last).then_some(self.snap_at);
            let mut next = Vec::new();
            match stage {
                Stage::Flatten => next = cur.clone(),
                Stage::Pool(p) => {
                    next.reserve(p.channels * p.out_h * p.out_w);
                    for c in 0..p.channels {
                        for y in 0..p.out_h {
                            for x in 0..p.out_w {
                                let mut m = tm;
                                for u in 0..p.kernel {
                                    let row = (c * p.in_h + y * p.stride + u) * p.in_w;
                                    for v in 0..p.kernel {
                                        m = m.min(cur[row + x * p.stride + v]);
                                    }
                                }
                                next.push(m);
                            }
                        }
                    }
                }
                Stage::Int(f) => {
                    let mut c = Vec::new();
                    let want = (idx == last).then_some(&mut c);
                    if let Some(v) = f.run(&cur, tm, snap, &mut next, want) {
                        fallback = Some(Potentials::Int(v));
                    }
                    crossing = Potentials::Int(c);
                }
                Stage::Real(f) => {
                    let mut c = Vec::new();
                    let want = (idx == last).then_some(&mut c);
                    if let Some(v) = f.run(&cur, tm, snap, &mut next, want) {
                        fallback = Some(Potentials::Real(v));
                    }
                    crossing = Potentials::Real(c);
                }
            }
            layer_times.push(next.iter().map(|&t| SpikeTime(t)).collect::<Vec<_>>());
            cur = next;
        }
        let order = self.tie_order.as_ref();
        let by = self.ties_by_potential;
        let decoded = match &crossing {
            Potentials::Int(c) => earliest_winner(&cur, tm, by.then_some(&c[..]), order),
            Potentials::Real(c) => earliest_winner(&cur, tm, by.then_some(&c[..]), order),
        };
        let prediction =
            decoded.unwrap_or_else(|| fallback.as_ref().map(Potentials::argmax).unwrap_or(0));
        Ok(ForwardTrace {
            layer_times,
            fallback,
            crossing,
            prediction,
        })
    }

    /// Decoded class of one sample.
    pub fn classify(&self, input: &[SpikeTime]) -> Result<usize, RunError> {
        Ok(self.forward(input)?.prediction)
    }
}

fn unreachable_shape<T>() -> Result<T, RunError> {
    Err(RunError::Invalid(crate::error::Violation::network(
        "layers",
        "internal: shape inference disagrees with validation",
    )))
}
