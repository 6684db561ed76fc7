//! Synthetic studies: same seed ⇒ identical report; the latency–throughput curve is flat at low
//! load and has a knee (latency at high load ≫ at low load, accepted < offered beyond
//! saturation); traffic patterns send where their definitions say; the barrier's cost.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sim::noc::study::{run_study, run_sweep, StudyConfig, Traffic};
use sim::noc::traffic::{Trace, TrafficPattern};
use sim::noc::{Barrier, BarrierStatus, Cycle, NocConfig};

fn base(rate: f64, seed: u64) -> StudyConfig {
    StudyConfig {
        noc: NocConfig {
            check_invariants: true,
            ..NocConfig::mesh(8, 8)
        },
        traffic: Traffic::Synthetic {
            pattern: TrafficPattern::Uniform,
            rate,
        },
        packet_size: 1,
        warmup: 300,
        cycles: 2_000,
        drain_cycles: 3_000,
        seed,
        record_packets: false,
    }
}

#[test]
fn same_seed_same_report_different_seed_different_report() {
    let a = run_study(&base(0.2, 42)).unwrap();
    let b = run_study(&base(0.2, 42)).unwrap();
    assert_eq!(a, b);
    let c = run_study(&base(0.2, 43)).unwrap();
    assert_ne!(a.avg_packet_latency, c.avg_packet_latency);
}

#[test]
fn curve_is_flat_then_has_a_knee() {
    let reports = run_sweep(&base(0.0, 7), &[0.02, 0.1, 0.7]).unwrap();
    let (low, mid, high) = (&reports[0], &reports[1], &reports[2]);
    // Low load: unsaturated, accepted ≈ offered, latency near the zero-load formula.
    assert!(!low.saturated, "{:?}", low.saturation_reasons);
    assert!((low.accepted_rate - low.offered_rate).abs() < 0.1 * low.offered_rate);
    assert!(low.avg_packet_latency >= low.zero_load_latency_at_avg_hops);
    assert!(low.avg_packet_latency < 1.2 * low.zero_load_latency_at_avg_hops);
    // Flat region: 5× the load costs little latency.
    assert!(!mid.saturated);
    assert!(mid.avg_packet_latency < 1.5 * low.avg_packet_latency);
    // Beyond saturation: latency explodes, accepted < offered, and the report says so.
    assert!(high.saturated);
    assert!(high.avg_packet_latency > 10.0 * low.avg_packet_latency);
    assert!(high.accepted_rate < 0.9 * high.offered_rate);
    assert!(high
        .saturation_reasons
        .iter()
        .any(|r| r.contains("below the offered load")));
    // Nothing is dropped: undelivered measured packets are counted as in flight.
    assert_eq!(
        high.measured_packets,
        high.measured_delivered + high.measured_in_flight
    );
}

#[test]
fn zero_rate_injects_nothing() {
    let r = run_study(&base(0.0, 1)).unwrap();
    assert_eq!(r.measured_packets, 0);
    assert_eq!(r.flits_in_flight_at_end, 0);
    assert!(!r.saturated);
}

#[test]
fn rate_outside_unit_interval_is_an_error() {
    for rate in [-0.1, 1.5, f64::NAN] {
        let err = run_study(&base(rate, 1)).unwrap_err().to_string();
        assert!(err.contains("outside 0..=1"), "{err}");
    }
}

#[test]
fn patterns_match_their_definitions() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (w, h) = (4u16, 4u16);
    let dest = |p: &TrafficPattern, x: u16, y: u16, rng: &mut ChaCha8Rng| {
        let d = p.destination(y * w + x, w, h, rng);
        (d % w, d / w)
    };
    assert_eq!(dest(&TrafficPattern::Transpose, 1, 3, &mut rng), (3, 1));
    assert_eq!(dest(&TrafficPattern::Bitcomp, 1, 3, &mut rng), (2, 0));
    // Bitcomp equals bitwise complement of the index on a power-of-two mesh.
    for s in 0..16u16 {
        assert_eq!(
            TrafficPattern::Bitcomp.destination(s, w, h, &mut rng),
            !s & 15
        );
    }
    // Shuffle: rotate the 4-bit index left by one: 0b0110 → 0b1100, 0b1001 → 0b0011.
    assert_eq!(TrafficPattern::Shuffle.destination(6, w, h, &mut rng), 12);
    assert_eq!(TrafficPattern::Shuffle.destination(9, w, h, &mut rng), 3);
    // Tornado on k = 4: shift by ⌈4/2⌉ − 1 = 1 per dimension.
    assert_eq!(dest(&TrafficPattern::Tornado, 3, 0, &mut rng), (0, 1));
    assert_eq!(dest(&TrafficPattern::Neighbor, 3, 3, &mut rng), (0, 0));
    let hot = TrafficPattern::Hotspot {
        tile: 5,
        fraction: 1.0,
    };
    assert_eq!(hot.destination(0, w, h, &mut rng), 5);
    let cfg = NocConfig::mesh(4, 2);
    assert!(TrafficPattern::Transpose.validate(&cfg).is_err());
    assert!(TrafficPattern::Shuffle
        .validate(&NocConfig::mesh(3, 3))
        .is_err());
}

#[test]
fn trace_replay_delivers_each_row_at_the_formula_latency() {
    let cfg = NocConfig::mesh(4, 4);
    let text =
        "cycle,src,dst,size\n# spaced far apart: zero load\n0,0,15,1\n200,5,6,3\n400,3,3,1\n";
    let trace = Trace::parse(text, "t.csv", &cfg).unwrap();
    let study = StudyConfig {
        noc: cfg.clone(),
        traffic: Traffic::Trace(trace),
        packet_size: 1,
        warmup: 0,
        cycles: 600,
        drain_cycles: 100,
        seed: 0,
        record_packets: true,
    };
    let r = run_study(&study).unwrap();
    assert_eq!(r.measured_delivered, 3);
    let expect = [(6u64, 1u64), (1, 3), (0, 1)];
    for (row, (hops, flits)) in r.packets.iter().zip(expect) {
        let lat = row.ejected.unwrap() - row.created;
        assert_eq!(lat, cfg.zero_load_latency(hops, flits), "{row:?}");
    }
}

#[test]
fn trace_errors_name_file_and_line() {
    let cfg = NocConfig::mesh(2, 2);
    let bad = [
        ("cycle,src,dst\n", 1, "header"),
        (
            "cycle,src,dst,size\n0,0,1,1\n5,0,9,1\n",
            3,
            "outside the 2x2 mesh",
        ),
        ("cycle,src,dst,size\n0,0,1,0\n", 2, "at least 1 flit"),
        ("cycle,src,dst,size\n\nx,0,1,1\n", 3, "cycle `x`"),
        ("cycle,src,dst,size\n0,0,1\n", 2, "expected 4 fields"),
    ];
    for (text, line, what) in bad {
        let err = Trace::parse(text, "bad.csv", &cfg).unwrap_err().to_string();
        assert!(err.starts_with(&format!("bad.csv:{line}:")), "{err}");
        assert!(err.contains(what), "{err}");
    }
}

#[test]
fn barrier_cost_is_two_tree_depths_plus_root() {
    // 4×4, 1 cycle per hop, 1 root cycle: the done wave crosses 3 hops along a row and 3 up
    // column 0 (6), the release comes back the same 6, plus 1 at the root = 13.
    let mut b = Barrier::new(&NocConfig::mesh(4, 4)).unwrap();
    assert_eq!(b.cost(), 13);
    // 8×2 with 3-cycle hops and 5 root cycles: 2 × (7 + 1) × 3 + 5 = 53.
    let cfg = NocConfig {
        barrier_hop_delay: 3,
        barrier_root_delay: 5,
        ..NocConfig::mesh(8, 2)
    };
    assert_eq!(Barrier::new(&cfg).unwrap().cost(), 53);
    // Polling: waits while a core runs or the mesh holds packets, then releases 13 cycles
    // after the condition first holds.
    assert_eq!(b.poll(Cycle(10), false, true), BarrierStatus::Waiting);
    assert_eq!(b.poll(Cycle(11), true, false), BarrierStatus::Waiting);
    assert_eq!(
        b.poll(Cycle(12), true, true),
        BarrierStatus::Gathering {
            since: Cycle(12),
            release_at: Cycle(25)
        }
    );
    assert!(matches!(
        b.poll(Cycle(24), true, true),
        BarrierStatus::Gathering { .. }
    ));
    assert_eq!(
        b.poll(Cycle(25), true, true),
        BarrierStatus::Released(Cycle(25))
    );
    b.reset();
    assert_eq!(b.poll(Cycle(26), false, true), BarrierStatus::Waiting);
    // A 1×1 chip has no tree: only the root delay.
    assert_eq!(Barrier::new(&NocConfig::mesh(1, 1)).unwrap().cost(), 1);
}
