//! The recording forward pass of the STiDi-BP trainer: integer, event-driven, neuron-parallel,
//! and bit-identical to [`crate::golden`] for every kernel the chip has (step and ramp).
//!
//! # Per-neuron event walk
//!
//! A neuron's causal inputs are gathered as `(time, slope change)` events and sorted by time.
//!
//! * **Ramp** (and saturating ramp): an input spiking at `t_i` with weight `w` is the event
//!   `(t_i, +w)`; a saturating ramp of width `τ` adds the event `(t_i + τ, −w)`. With
//!   `V(t) = Σ_{events e : t_e < t} Δs_e · (t − t_e)`, `V` is linear between consecutive event
//!   times, `V(t) = S·t − P`, so the first integer `t` with `V(t) > θ` (or `≥ θ`) in an interval is
//!   found by one integer division (`⌊(θ + P)/S⌋ + 1`, or `⌈(θ + P)/S⌉`). Cost: `O(f log f)` per
//!   neuron for `f` causal inputs, instead of `O(t_max)`.
//! * **Step**: `V(t) = Σ_{t_i ≤ t} w_i`, checked after each group of equal times.
//!
//! A crossing at step `c` gives the spike time `c + delay` when that is `< t_max`, else no spike
//! (`t_max`). The slope `S` at the crossing is recorded (the local-slope derivative uses it);
//! a silent neuron records the slope of `V` at the last step that could still give a spike
//! (the ramp's `S` over the inputs before that step), and the step kernel always records 1.
//! Pooling records the arg-min input of each window (first in raster order on ties), which is
//! where the backward pass routes the displacement. Every neuron is computed independently, so
//! running the neurons of a layer in parallel gives the same bits as running them in order.

use super::arch::Geometry;
use crate::network::FireRule;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Post-synaptic potential kernel used by the trainer (forward and the update factor `K`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kernel {
    /// Step PSP (S4NN): `K(s) = [s ≥ 0]`; update factor 1.
    Step,
    /// Ramp PSP (STiDi-BP default, "ReL-PSP"): `K(s) = max(0, s)`.
    Ramp,
    /// Saturating ramp: `K(s) = min(max(0, s), τ)`. Training only: the chip's neuron model has
    /// no saturating kernel, so a network trained with it cannot be exported.
    SatRamp {
        /// Saturation width τ in time steps (≥ 1).
        tau: u16,
    },
}

impl std::str::FromStr for Kernel {
    type Err = super::rule::UnknownChoice;

    /// `ramp`, `step` or `sat:TAU` (τ ≥ 1 time steps).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let tau = |t: &str| t.parse::<u16>().ok().filter(|&t| t >= 1);
        match s {
            "ramp" => Ok(Kernel::Ramp),
            "step" => Ok(Kernel::Step),
            _ => s
                .strip_prefix("sat:")
                .and_then(tau)
                .map(|tau| Kernel::SatRamp { tau })
                .ok_or_else(|| super::rule::UnknownChoice {
                    what: "kernel",
                    found: s.into(),
                    accepted: "ramp, step, sat:TAU (TAU in 1..=65535)",
                }),
        }
    }
}

impl Kernel {
    /// `K(s)` for `s = t_post − t_pre > 0`, divided by the kernel's scale (`t_max` for the
    /// ramp, `τ` for the saturating ramp, 1 for the step) so that it lies in `(0, 1]`.
    #[inline]
    pub fn update_factor(self, s: u16, t_max: u16) -> f32 {
        match self {
            Kernel::Step => 1.0,
            Kernel::Ramp => f32::from(s) / f32::from(t_max),
            Kernel::SatRamp { tau } => f32::from(s.min(tau)) / f32::from(tau.max(1)),
        }
    }

    /// `K'(s)` for `s = t_post − t_pre > 0`: how a later input moves the potential at `t_post`
    /// (1 while the input's ramp is rising; the step kernel uses S4NN's gate, 1).
    #[inline]
    pub fn slope_gate(self, s: u16) -> bool {
        match self {
            Kernel::Step | Kernel::Ramp => true,
            Kernel::SatRamp { tau } => s <= tau,
        }
    }
}

/// The trainer's neuron: kernel, firing comparison, output delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronSpec {
    /// PSP kernel.
    pub kernel: Kernel,
    /// Firing comparison (`>` or `≥`).
    pub fire: FireRule,
    /// Steps from the crossing to the emitted spike (0 or 1).
    pub delay: u8,
}

/// Everything the forward pass of one sample leaves for the backward pass.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// `times[0]` is the encoded input; `times[s + 1]` the output of stage `s`.
    pub times: Vec<Vec<u16>>,
    /// Per stage: the potential slope `S` at each neuron's crossing (weighted stages; for a
    /// silent neuron, the slope at the last step that could still give a spike; always 1 for
    /// the step kernel).
    pub slopes: Vec<Vec<i32>>,
    /// Per stage: arg-min input of each pooling window (pool stages).
    pub argmin: Vec<Vec<u32>>,
    /// Output potentials at `t_max − fallback_offset`, when no output neuron spiked.
    pub fallback: Option<Vec<i64>>,
    /// Decoded class.
    pub prediction: usize,
}

/// What the forward pass needs of a weighted stage: forward integer weights (Network layout)
/// and one comparator threshold per neuron.
#[derive(Clone, Debug, Default)]
pub struct StageParams {
    /// Forward weights (±1 for binary layers).
    pub weights: Vec<i32>,
    /// Comparator threshold of every neuron (raster order).
    pub thresholds: Vec<i32>,
    /// Conv layers: the fan-out table of the event-driven pass (empty: gather per neuron).
    pub fanout: ConvFanout,
}

/// Work (neurons × fan-in) above which a layer's neurons are computed in parallel.
const PARALLEL_WORK: usize = 1 << 15;

/// First crossing of a neuron given its events sorted by time: `(spike time, slope)`.
#[inline]
pub fn crossing(ev: &[(u16, i32)], theta: i32, neuron: NeuronSpec, t_max: u16) -> (u16, i32) {
    let delay = u16::from(neuron.delay);
    if t_max < 1 + delay {
        return (t_max, 0);
    }
    let last = t_max - 1 - delay; // last crossing step that still gives a spike
    let th = i64::from(theta);
    let n = ev.len();
    let mut idx = 0;
    let mut s: i64 = 0;
    match neuron.kernel {
        Kernel::Step => {
            while idx < n {
                let tau = ev[idx].0;
                if tau > last {
                    break;
                }
                while idx < n && ev[idx].0 == tau {
                    s += i64::from(ev[idx].1);
                    idx += 1;
                }
                let fires = match neuron.fire {
                    FireRule::Greater => s > th,
                    FireRule::GreaterEqual => s >= th,
                };
                if fires {
                    return (tau + delay, 1);
                }
            }
            (t_max, 1)
        }
        Kernel::Ramp | Kernel::SatRamp { .. } => {
            let mut p: i64 = 0;
            while idx < n {
                let tau = ev[idx].0;
                if tau >= last {
                    break; // V up to step `last` does not see inputs from `last` on
                }
                while idx < n && ev[idx].0 == tau {
                    let ds = i64::from(ev[idx].1);
                    s += ds;
                    p += ds * i64::from(tau);
                    idx += 1;
                }
                let start = tau + 1;
                let end = if idx < n { ev[idx].0.min(last) } else { last };
                if let Some(t) = ramp_interval(s, p, start, end, th, neuron.fire) {
                    return (t + delay, clamp32(s));
                }
            }
            (t_max, clamp32(s))
        }
    }
}

#[inline]
fn clamp32(s: i64) -> i32 {
    s.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// First step `t ∈ [start, end]` with `S·t − P > θ` (or `≥`), if any (`V` linear there).
#[inline]
fn ramp_interval(s: i64, p: i64, start: u16, end: u16, th: i64, fire: FireRule) -> Option<u16> {
    if s <= 0 || start > end || !fires(s * i64::from(end) - p, th, fire) {
        return None; // V is increasing here, so no crossing unless V(end) crosses
    }
    let num = th + p;
    let tmin = match fire {
        FireRule::Greater => num.div_euclid(s) + 1,
        FireRule::GreaterEqual => (num + s - 1).div_euclid(s),
    };
    let t = tmin.max(i64::from(start));
    (t <= i64::from(end)).then_some(t as u16)
}

#[inline]
fn fires(v: i64, th: i64, fire: FireRule) -> bool {
    match fire {
        FireRule::Greater => v > th,
        FireRule::GreaterEqual => v >= th,
    }
}

/// Fan-out of one input position of a conv layer, shared by every input and output channel:
/// `offsets[q]..offsets[q + 1]` index `(output position, kernel offset u·k + v)` pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConvFanout {
    offsets: Vec<u32>,
    entries: Vec<(u32, u32)>,
}

impl ConvFanout {
    /// The fan-out table of a conv geometry (empty for other layers).
    pub fn new(g: &Geometry) -> ConvFanout {
        let Geometry::Conv {
            h,
            w,
            oh,
            ow,
            k,
            s,
            p,
            ..
        } = *g
        else {
            return ConvFanout::default();
        };
        let mut lists: Vec<Vec<(u32, u32)>> = vec![Vec::new(); h * w];
        for y in 0..oh {
            for x in 0..ow {
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
                        lists[iy as usize * w + ix as usize]
                            .push(((y * ow + x) as u32, (u * k + v) as u32));
                    }
                }
            }
        }
        let mut offsets = vec![0u32];
        let mut entries = Vec::new();
        for l in lists {
            entries.extend(l);
            offsets.push(entries.len() as u32);
        }
        ConvFanout { offsets, entries }
    }
}

/// Output channels integrated together by [`conv_scatter`]: one input event adds its weights to
/// the `LANES` channels of a target position as one contiguous `[i64; LANES]` update, and the
/// crossing test of a position's interval is one branch-free pass over its lanes.
const LANES: usize = 8;

/// Scratch of one channel block: weights transposed to `[c·k² + uv][lane]`; per position and
/// lane the slope sum `S`, the weighted time sum `P` and the threshold (`i64::MAX` once the lane
/// has fired, and for the lanes past the last channel, so that it never fires again); per
/// position the last event time and the count of lanes that have not fired.
#[derive(Default)]
struct ScatterBlock {
    weights: Vec<[i64; LANES]>,
    s: Vec<[i64; LANES]>,
    p: Vec<[i64; LANES]>,
    th: Vec<[i64; LANES]>,
    last: Vec<u16>,
    live: Vec<u8>,
}

/// Event-driven conv layer (step and ramp kernels): the inputs, sorted by time, are scattered
/// to their targets; a neuron checks the interval since its previous event (closed form)
/// before integrating a new one, and once more after the last event. Output channels go in
/// blocks of [`LANES`]: every channel of a position sees the same input events, so a block
/// shares the event walk and its lanes differ only in weights and thresholds. A lane that has
/// fired keeps integrating (cheaper than masking) but its threshold is out of reach, so its
/// spike time and slope stay those of its crossing. Blocks are independent (parallel when
/// `par`).
#[allow(clippy::too_many_arguments)]
fn conv_scatter(
    g: &Geometry,
    fan: &ConvFanout,
    params: &StageParams,
    neuron: NeuronSpec,
    t_max: u16,
    tin: &[u16],
    order: &[u32],
    times: &mut [u16],
    slopes: &mut [i32],
    par: bool,
) {
    let Geometry::Conv {
        cin,
        h,
        w,
        oh,
        ow,
        k,
        ..
    } = *g
    else {
        return;
    };
    let delay = u16::from(neuron.delay);
    if t_max < 1 + delay {
        return;
    }
    let last_step = t_max - 1 - delay;
    let (plane_in, plane, kk) = (h * w, oh * ow, k * k);
    const NONE: u16 = u16::MAX;
    let step = neuron.kernel == Kernel::Step;
    let strict = neuron.fire == FireRule::Greater;
    // Fires the lanes of position `n` that cross in the interval after its last event, up to
    // `upto` (their spike times and slopes are written); returns how many fired.
    let fire_lanes = |n: usize, upto: u16, b: &mut ScatterBlock, tc: &mut [u16], sc: &mut [i32]| {
        let last = b.last[n];
        if last == NONE || (step && last > last_step) {
            return 0;
        }
        let (s, p, th) = (&b.s[n], &b.p[n], &mut b.th[n]);
        // Step: V = S from the last event on. Ramp: V rises linearly (S > 0) to the interval's
        // end, so it crosses in the interval iff it is past θ there.
        let end = i64::from(upto.min(last_step));
        let mut crossed = [false; LANES];
        for l in 0..LANES {
            let v = if step { s[l] } else { s[l] * end - p[l] };
            let over = if strict { v > th[l] } else { v >= th[l] };
            crossed[l] = over && (step || s[l] > 0);
        }
        if !crossed.contains(&true) {
            return 0;
        }
        let mut fired = 0;
        for l in (0..LANES).filter(|&l| crossed[l]) {
            let t = if step {
                Some(last)
            } else {
                ramp_interval(
                    s[l],
                    p[l],
                    last + 1,
                    upto.min(last_step),
                    th[l],
                    neuron.fire,
                )
            };
            if let Some(t) = t {
                tc[l * plane + n] = t + delay;
                sc[l * plane + n] = if step { 1 } else { clamp32(s[l]) };
                th[l] = i64::MAX;
                fired += 1;
            }
        }
        fired
    };
    let block = |first: usize, tc: &mut [u16], sc: &mut [i32], b: &mut ScatterBlock| {
        let lanes = tc.len() / plane;
        b.weights.clear();
        b.weights.resize(cin * kk, [0; LANES]);
        for l in 0..lanes {
            let wo = &params.weights[(first + l) * cin * kk..(first + l + 1) * cin * kk];
            for (row, &wv) in b.weights.iter_mut().zip(wo) {
                row[l] = i64::from(wv);
            }
        }
        b.th.clear();
        b.th.resize(plane, [i64::MAX; LANES]);
        for l in 0..lanes {
            let ths = &params.thresholds[(first + l) * plane..(first + l + 1) * plane];
            for (row, &th) in b.th.iter_mut().zip(ths) {
                row[l] = i64::from(th);
            }
        }
        b.s.clear();
        b.s.resize(plane, [0; LANES]);
        b.p.clear();
        b.p.resize(plane, [0; LANES]);
        b.last.clear();
        b.last.resize(plane, NONE);
        b.live.clear();
        b.live.resize(plane, lanes as u8);
        for &i in order {
            let i = i as usize;
            let t = tin[i];
            if (step && t > last_step) || (!step && t >= last_step) {
                break;
            }
            let (c, q) = (i / plane_in, i % plane_in);
            let (lo, hi) = (fan.offsets[q] as usize, fan.offsets[q + 1] as usize);
            let tt = i64::from(t);
            for &(n, uv) in &fan.entries[lo..hi] {
                let n = n as usize;
                if b.live[n] == 0 {
                    continue;
                }
                if b.last[n] != NONE && b.last[n] < t {
                    b.live[n] -= fire_lanes(n, t, b, tc, sc);
                    if b.live[n] == 0 {
                        continue;
                    }
                }
                let wv = b.weights[c * kk + uv as usize];
                let (s, p) = (&mut b.s[n], &mut b.p[n]);
                for l in 0..LANES {
                    s[l] += wv[l];
                    p[l] += wv[l] * tt;
                }
                b.last[n] = t;
            }
        }
        for n in 0..plane {
            fire_lanes(n, last_step, b, tc, sc);
            for l in 0..lanes {
                if tc[l * plane + n] >= t_max {
                    sc[l * plane + n] = if step { 1 } else { clamp32(b.s[n][l]) };
                }
            }
        }
    };
    let chunk = LANES * plane;
    if par {
        times
            .par_chunks_mut(chunk)
            .zip(slopes.par_chunks_mut(chunk))
            .enumerate()
            .for_each_init(ScatterBlock::default, |b, (i, (tc, sc))| {
                block(i * LANES, tc, sc, b)
            });
    } else {
        let mut b = ScatterBlock::default();
        for (i, (tc, sc)) in times
            .chunks_mut(chunk)
            .zip(slopes.chunks_mut(chunk))
            .enumerate()
        {
            block(i * LANES, tc, sc, &mut b);
        }
    }
}

/// Potential at step `t` from events sorted by time (the golden pass's `V(t)`).
pub fn potential_at(ev: &[(u16, i32)], t: u16, kernel: Kernel) -> i64 {
    match kernel {
        Kernel::Step => ev.iter().filter(|e| e.0 <= t).map(|e| i64::from(e.1)).sum(),
        _ => ev
            .iter()
            .filter(|e| e.0 < t)
            .map(|e| i64::from(e.1) * i64::from(t - e.0))
            .sum(),
    }
}

/// Appends the events of one input (and, for the saturating ramp, its saturation event).
#[inline]
fn push_event(ev: &mut Vec<(u16, i32)>, t: u16, w: i32, kernel: Kernel, t_max: u16) {
    ev.push((t, w));
    if let Kernel::SatRamp { tau } = kernel {
        let end = u32::from(t) + u32::from(tau);
        if end < u32::from(t_max) {
            ev.push((end as u16, -w));
        }
    }
}

/// Gathers the sorted events of conv neuron `(o, y, x)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_events(
    g: &Geometry,
    tin: &[u16],
    w: &[i32],
    o: usize,
    y: usize,
    x: usize,
    kernel: Kernel,
    t_max: u16,
    ev: &mut Vec<(u16, i32)>,
) {
    ev.clear();
    let Geometry::Conv {
        cin,
        h,
        w: wd,
        k,
        s,
        p,
        ..
    } = *g
    else {
        return;
    };
    for c in 0..cin {
        for u in 0..k {
            let iy = (y * s + u) as isize - p as isize;
            if iy < 0 || iy >= h as isize {
                continue;
            }
            let row = (c * h + iy as usize) * wd;
            let wrow = ((o * cin + c) * k + u) * k;
            for v in 0..k {
                let ix = (x * s + v) as isize - p as isize;
                if ix < 0 || ix >= wd as isize {
                    continue;
                }
                let t = tin[row + ix as usize];
                if t < t_max {
                    push_event(ev, t, w[wrow + v], kernel, t_max);
                }
            }
        }
    }
    ev.sort_unstable_by_key(|e| e.0);
}

/// Gathers the sorted events of dense neuron `j`, given the input indices sorted by time.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_events(
    order: &[u32],
    tin: &[u16],
    w: &[i32],
    n_in: usize,
    j: usize,
    kernel: Kernel,
    t_max: u16,
    ev: &mut Vec<(u16, i32)>,
) {
    ev.clear();
    let row = &w[j * n_in..(j + 1) * n_in];
    for &i in order {
        push_event(ev, tin[i as usize], row[i as usize], kernel, t_max);
    }
    if matches!(kernel, Kernel::SatRamp { .. }) {
        ev.sort_by_key(|e| e.0);
    }
}

/// Input indices with a spike, sorted by (time, index).
pub(crate) fn sorted_inputs(tin: &[u16], t_max: u16) -> Vec<u32> {
    let mut start = vec![0u32; usize::from(t_max) + 1];
    for &t in tin {
        if t < t_max {
            start[usize::from(t) + 1] += 1;
        }
    }
    for t in 0..usize::from(t_max) {
        start[t + 1] += start[t];
    }
    let mut order = vec![0u32; start[usize::from(t_max)] as usize];
    for (i, &t) in tin.iter().enumerate() {
        if t < t_max {
            let slot = &mut start[usize::from(t)];
            order[*slot as usize] = i as u32;
            *slot += 1;
        }
    }
    order
}

/// Runs one weighted stage: spike times and slopes of every neuron.
#[allow(clippy::too_many_arguments)]
fn run_weighted(
    g: &Geometry,
    params: &StageParams,
    neuron: NeuronSpec,
    t_max: u16,
    tin: &[u16],
    times: &mut Vec<u16>,
    slopes: &mut Vec<i32>,
    parallel: bool,
) {
    let n_out = g.outputs();
    times.clear();
    times.resize(n_out, t_max);
    slopes.clear();
    slopes.resize(n_out, 0);
    let par = parallel && n_out * g.fan_in() >= PARALLEL_WORK;
    match *g {
        Geometry::Dense { n_in, .. } => {
            let order = sorted_inputs(tin, t_max);
            let one = |j: usize, ev: &mut Vec<(u16, i32)>| {
                dense_events(
                    &order,
                    tin,
                    &params.weights,
                    n_in,
                    j,
                    neuron.kernel,
                    t_max,
                    ev,
                );
                crossing(ev, params.thresholds[j], neuron, t_max)
            };
            if par {
                times
                    .par_iter_mut()
                    .zip(slopes.par_iter_mut())
                    .enumerate()
                    .for_each_init(Vec::new, |ev, (j, (t, s))| (*t, *s) = one(j, ev));
            } else {
                let mut ev = Vec::new();
                for j in 0..n_out {
                    (times[j], slopes[j]) = one(j, &mut ev);
                }
            }
        }
        Geometry::Conv { .. }
            if !params.fanout.offsets.is_empty()
                && !matches!(neuron.kernel, Kernel::SatRamp { .. }) =>
        {
            let order = sorted_inputs(tin, t_max);
            conv_scatter(
                g,
                &params.fanout,
                params,
                neuron,
                t_max,
                tin,
                &order,
                times,
                slopes,
                par,
            );
        }
        Geometry::Conv { oh, ow, .. } => {
            let plane = oh * ow;
            let one = |n: usize, ev: &mut Vec<(u16, i32)>| {
                let (o, yx) = (n / plane, n % plane);
                conv_events(
                    g,
                    tin,
                    &params.weights,
                    o,
                    yx / ow,
                    yx % ow,
                    neuron.kernel,
                    t_max,
                    ev,
                );
                crossing(ev, params.thresholds[n], neuron, t_max)
            };
            if par {
                times
                    .par_chunks_mut(plane)
                    .zip(slopes.par_chunks_mut(plane))
                    .enumerate()
                    .for_each_init(Vec::new, |ev, (o, (tc, sc))| {
                        for q in 0..plane {
                            (tc[q], sc[q]) = one(o * plane + q, ev);
                        }
                    });
            } else {
                let mut ev = Vec::new();
                for n in 0..n_out {
                    (times[n], slopes[n]) = one(n, &mut ev);
                }
            }
        }
        _ => {}
    }
}

/// Earliest-spike pooling: output times and arg-min inputs (first in raster order on ties).
pub fn pool_forward(
    g: &Geometry,
    tin: &[u16],
    t_max: u16,
    times: &mut Vec<u16>,
    argmin: &mut Vec<u32>,
) {
    times.clear();
    argmin.clear();
    let Geometry::Pool {
        c,
        h,
        w,
        oh,
        ow,
        k,
        s,
    } = *g
    else {
        return;
    };
    for ch in 0..c {
        for y in 0..oh {
            for x in 0..ow {
                let mut best = t_max;
                let mut arg = ((ch * h + y * s) * w + x * s) as u32;
                for u in 0..k {
                    let row = (ch * h + y * s + u) * w;
                    for v in 0..k {
                        let i = row + x * s + v;
                        if tin[i] < best {
                            best = tin[i];
                            arg = i as u32;
                        }
                    }
                }
                times.push(best.min(t_max));
                argmin.push(arg);
            }
        }
    }
}

/// Runs the whole network on an encoded input, filling `rec`.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    geo: &[Geometry],
    params: &[StageParams],
    neuron: NeuronSpec,
    t_max: u16,
    snap_at: u16,
    input: &[u16],
    rec: &mut Record,
    parallel: bool,
) {
    let n = geo.len();
    rec.times.resize(n + 1, Vec::new());
    rec.slopes.resize(n, Vec::new());
    rec.argmin.resize(n, Vec::new());
    rec.times[0].clear();
    rec.times[0].extend(input.iter().map(|&t| t.min(t_max)));
    for (st, g) in geo.iter().enumerate() {
        let (before, after) = rec.times.split_at_mut(st + 1);
        let tin = &before[st];
        let out = &mut after[0];
        match g {
            Geometry::Flatten { .. } => {
                out.clear();
                out.extend_from_slice(tin);
            }
            Geometry::Pool { .. } => pool_forward(g, tin, t_max, out, &mut rec.argmin[st]),
            _ => run_weighted(
                g,
                &params[st],
                neuron,
                t_max,
                tin,
                out,
                &mut rec.slopes[st],
                parallel,
            ),
        }
    }
    let out = &rec.times[n];
    let min = out.iter().copied().min().unwrap_or(t_max);
    rec.fallback = None;
    rec.prediction = if min < t_max {
        out.iter().position(|&t| t == min).unwrap_or(0)
    } else {
        // No output spike: potentials at t_max − fallback_offset.
        let g = &geo[n - 1];
        let tin = &rec.times[n - 1];
        let p = &params[n - 1];
        let mut ev = Vec::new();
        let v: Vec<i64> = (0..g.outputs())
            .map(|j| {
                match *g {
                    Geometry::Dense { n_in, .. } => {
                        let order = sorted_inputs(tin, t_max);
                        dense_events(
                            &order,
                            tin,
                            &p.weights,
                            n_in,
                            j,
                            neuron.kernel,
                            t_max,
                            &mut ev,
                        );
                    }
                    Geometry::Conv { oh, ow, .. } => {
                        let yx = j % (oh * ow);
                        conv_events(
                            g,
                            tin,
                            &p.weights,
                            j / (oh * ow),
                            yx / ow,
                            yx % ow,
                            neuron.kernel,
                            t_max,
                            &mut ev,
                        );
                    }
                    _ => ev.clear(),
                }
                potential_at(&ev, snap_at, neuron.kernel)
            })
            .collect();
        let mut best = 0;
        for (k, &x) in v.iter().enumerate() {
            if x > v[best] {
                best = k;
            }
        }
        rec.fallback = Some(v);
        best
    };
}
