//! Convolution and pooling in STiDi-BP training (`reference/stidi-bp.md` §5.4): the
//! shared-weight gradient (summed over output positions), the displacement routed back through
//! the transposed convolution masked by causality, and pooling's routing to the earliest input.
//!
//! Conv output `(o, y, x)` reads input `(c, y·s + u − p, x·s + v − p)` through weight
//! `w[((o·cin + c)·k + u)·k + v]` (the [`crate::network`] layout); padded positions never spike.
//!
//! * weight gradient: `G[o,c,u,v] = Σ_{y,x} δ[o,y,x] · K(t_out − t_in)/K_ref · [t_in < t_out]`;
//! * displacement: `Δt_in[c,iy,ix] = Σ_{o,u,v} g[o,y,x] · w[o,c,u,v] · K'(t_out − t_in) · [t_in < t_out]`
//!   over the `(o, y, x, u, v)` that read `(c, iy, ix)`;
//! * pooling: `Δt_in[argmin] += Δt_out`, every other input of the window gets nothing.
//!
//! The gradient is parallel over output channels (each owns its weights), the displacement over
//! input channels (each owns its slice); inside, sums run in a fixed order, so the result does
//! not depend on the number of threads.

use super::arch::Geometry;
use super::forward::Kernel;
use super::rule::PARALLEL_WORK;
use rayon::prelude::*;

/// Shared-weight gradient of a conv layer (see the module documentation).
pub fn conv_weight_grad(
    g: &Geometry,
    delta: &[f32],
    tin: &[u16],
    tout: &[u16],
    kernel: Kernel,
    t_max: u16,
    parallel: bool,
) -> Vec<f32> {
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
        return Vec::new();
    };
    let per_o = cin * k * k;
    let mut grad = vec![0f32; cout * per_o];
    // K(s)/K_ref for every lag up to t_max, so the inner loop does not divide (same values,
    // same bits); a later output time than t_max (never from the forward pass) computes it.
    let factor: Vec<f32> = (0..=t_max)
        .map(|s| kernel.update_factor(s, t_max))
        .collect();
    let channel = |o: usize, go: &mut [f32]| {
        for y in 0..oh {
            for x in 0..ow {
                let n = (o * oh + y) * ow + x;
                let d = delta[n];
                if d == 0.0 {
                    continue;
                }
                let to = tout[n];
                for c in 0..cin {
                    for u in 0..k {
                        let iy = (y * s + u) as isize - p as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        let row = (c * h + iy as usize) * w;
                        for v in 0..k {
                            let ix = (x * s + v) as isize - p as isize;
                            if ix < 0 || ix >= w as isize {
                                continue;
                            }
                            let ti = tin[row + ix as usize];
                            if ti < to && ti < t_max {
                                let lag = to - ti;
                                let f = factor.get(usize::from(lag)).copied();
                                go[(c * k + u) * k + v] +=
                                    d * f.unwrap_or_else(|| kernel.update_factor(lag, t_max));
                            }
                        }
                    }
                }
            }
        }
    };
    if parallel && cout * oh * ow * per_o >= PARALLEL_WORK {
        grad.par_chunks_mut(per_o)
            .enumerate()
            .for_each(|(o, go)| channel(o, go));
    } else {
        for (o, go) in grad.chunks_mut(per_o).enumerate() {
            channel(o, go);
        }
    }
    grad
}

/// Displacement of a conv layer's inputs (transposed convolution masked by causality).
#[allow(clippy::too_many_arguments)]
pub fn conv_displacement(
    geo: &Geometry,
    g: &[f32],
    wt: &[f32],
    tin: &[u16],
    tout: &[u16],
    kernel: Kernel,
    t_max: u16,
    parallel: bool,
) -> Vec<f32> {
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
    } = *geo
    else {
        return Vec::new();
    };
    let plane = h * w;
    let mut out = vec![0f32; cin * plane];
    let channel = |c: usize, acc: &mut [f32]| {
        for o in 0..cout {
            for y in 0..oh {
                for x in 0..ow {
                    let n = (o * oh + y) * ow + x;
                    let gn = g[n];
                    if gn == 0.0 {
                        continue;
                    }
                    let to = tout[n];
                    for u in 0..k {
                        let iy = (y * s + u) as isize - p as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        let wrow = ((o * cin + c) * k + u) * k;
                        for v in 0..k {
                            let ix = (x * s + v) as isize - p as isize;
                            if ix < 0 || ix >= w as isize {
                                continue;
                            }
                            let q = iy as usize * w + ix as usize;
                            let ti = tin[c * plane + q];
                            if ti < to && ti < t_max && kernel.slope_gate(to - ti) {
                                acc[q] += gn * wt[wrow + v];
                            }
                        }
                    }
                }
            }
        }
    };
    if parallel && cout * oh * ow * cin * k * k >= PARALLEL_WORK {
        out.par_chunks_mut(plane)
            .enumerate()
            .for_each(|(c, a)| channel(c, a));
    } else {
        for (c, a) in out.chunks_mut(plane).enumerate() {
            channel(c, a);
        }
    }
    out
}

/// Routes a pooling layer's output displacement to the arg-min input of each window.
pub fn pool_route(n_in: usize, argmin: &[u32], disp_out: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; n_in];
    for (&a, &d) in argmin.iter().zip(disp_out) {
        if let Some(slot) = out.get_mut(a as usize) {
            *slot += d;
        }
    }
    out
}
