//! Learned integer thresholds (stidi-bp §7): the gradient step's sign, the rounded and
//! clamped comparator, homeostasis of silent groups.

use model::stidi::threshold::LayerThreshold;
use model::stidi::{Granularity, Homeostasis, ThresholdConfig};
use proptest::prelude::*;

fn cfg(g: Granularity) -> ThresholdConfig {
    ThresholdConfig {
        granularity: g,
        learn: true,
        lr: 10.0,
        min_frac: 0.25,
        max_frac: 4.0,
        homeostasis: Some(Homeostasis {
            window: 0,
            step: 0.1,
        }),
    }
}

#[test]
fn positive_error_raises_negative_lowers_and_groups_share() {
    // 2 channels × 3 positions.
    let mut t = LayerThreshold::new(&cfg(Granularity::Channel), 6, 3, 100);
    assert_eq!(t.groups(), 2);
    assert_eq!(t.range(), (25, 400));
    t.update(&[0.3, 0.3, 0.3, -0.6, 0.0, 0.0], 10.0);
    // Group 0: mean δ 0.3 → +3; group 1: mean δ −0.2 → −2.
    assert_eq!(t.expand(1.0), vec![103, 103, 103, 98, 98, 98]);
    let mut n = LayerThreshold::new(&cfg(Granularity::Neuron), 3, 1, 100);
    n.update(&[0.05, -0.05, 0.0], 10.0);
    // 0.5 LSB is kept in the latent fraction; the comparator rounds half away from zero.
    assert_eq!(n.expand(1.0), vec![101, 100, 100]);
    assert!((n.latent(0) - 100.5).abs() < 1e-9 && (n.latent(1) - 99.5).abs() < 1e-9);
    // The BS4NN scale divides the comparator value.
    let l = LayerThreshold::new(&cfg(Granularity::Layer), 4, 1, 100);
    assert_eq!(l.expand(4.0), vec![25; 4]);
}

#[test]
fn homeostasis_lowers_only_silent_groups_and_stops_at_the_minimum() {
    let mut t = LayerThreshold::new(&cfg(Granularity::Neuron), 3, 1, 100);
    for _ in 0..1000 {
        t.record(&[5, 256, 7], 256); // neuron 1 silent
    }
    assert_eq!(t.homeostasis(0.001, 0.1), 1);
    assert_eq!(t.expand(1.0), vec![100, 90, 100]);
    for _ in 0..20 {
        t.record(&[5, 256, 256], 256);
        t.homeostasis(0.001, 0.1);
    }
    assert_eq!(t.expand(1.0), vec![100, 25, 25]);
}

#[test]
fn rate_ceiling_raises_only_busy_groups_and_keeps_the_window() {
    let mut t = LayerThreshold::new(&cfg(Granularity::Neuron), 3, 1, 100);
    // Neuron 0 fires on every sample, neuron 1 on one in four, neuron 2 never.
    for k in 0..8 {
        t.record(&[5, if k % 4 == 0 { 9 } else { 256 }, 256], 256);
    }
    assert_eq!(t.raise_busy(0.5, 0.1), 1);
    assert_eq!(t.expand(1.0), vec![110, 100, 100]);
    // The window is still open for the silent-group lowering.
    assert_eq!(t.window_samples(), 8);
    assert_eq!(t.homeostasis(0.001, 0.1), 1);
    assert_eq!(t.expand(1.0), vec![110, 100, 90]);
    // Raising stops at θ_max.
    for _ in 0..40 {
        t.record(&[5, 256, 256], 256);
        t.raise_busy(0.5, 0.1);
        t.homeostasis(0.001, 0.1);
    }
    assert_eq!(t.expand(1.0)[0], 400);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn comparator_stays_in_range(
        init in 1i32..5000,
        deltas in proptest::collection::vec(proptest::collection::vec(-1.0f32..1.0, 4), 1..60),
        lr in 0.0f64..5000.0,
        silent in proptest::collection::vec(any::<bool>(), 4),
        alpha in 0.05f64..20.0,
    ) {
        for g in [Granularity::Layer, Granularity::Channel, Granularity::Neuron] {
            let mut t = LayerThreshold::new(&cfg(g), 4, 2, init);
            let (lo, hi) = t.range();
            prop_assert!(lo >= 1 && lo <= init && hi >= init);
            for d in &deltas {
                t.update(d, lr);
                let times: Vec<u16> = silent.iter().map(|&s| if s { 256 } else { 3 }).collect();
                t.record(&times, 256);
                t.raise_busy(0.3, 0.3);
                t.homeostasis(0.5, 0.3);
                for th in t.expand(1.0).into_iter().chain(t.expand(alpha)) {
                    prop_assert!((lo..=hi).contains(&th), "{th} outside {lo}..={hi}");
                }
                for gi in 0..t.groups() {
                    prop_assert!(t.latent(gi) >= f64::from(lo) && t.latent(gi) <= f64::from(hi));
                }
            }
        }
    }
}

#[test]
fn reset_restores_only_groups_wholly_inside_the_range() {
    // 2 channels × 3 positions, every group lowered twice.
    let lowered = |g| {
        let mut t = LayerThreshold::new(&cfg(g), 6, 3, 100);
        for _ in 0..2 {
            t.record(&[256; 6], 256);
            t.homeostasis(0.001, 0.1);
        }
        t
    };
    let mut c = lowered(Granularity::Channel);
    c.reset(3..6);
    assert_eq!(c.expand(1.0), vec![80, 80, 80, 100, 100, 100]);
    let mut n = lowered(Granularity::Neuron);
    n.reset(1..3);
    assert_eq!(n.expand(1.0), vec![80, 100, 100, 80, 80, 80]);
    // A per-layer threshold is shared with the neurons outside the range: left alone.
    let mut l = lowered(Granularity::Layer);
    l.reset(0..3);
    assert_eq!(l.expand(1.0), vec![80; 6]);
    l.reset(0..6);
    assert_eq!(l.expand(1.0), vec![100; 6]);
}
