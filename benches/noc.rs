//! Simulated router-cycles per second of the mesh network-on-chip: an 8×8 mesh, uniform
//! traffic, 1-flit packets, 2 VCs × 4 flits, at 0.1 and 0.3 flits/node/cycle (a whole study:
//! Bernoulli sources, injection, stepping, ejection and statistics). Router-cycles = routers ×
//! simulated cycles, idle routers included (they are skipped, not left out of the count).
//!
//! Run: `cargo bench --bench noc`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sim::noc::study::{run_study, StudyConfig, Traffic};
use sim::noc::traffic::TrafficPattern;
use sim::noc::NocConfig;

const WARMUP: u64 = 500;
const CYCLES: u64 = 5_000;

fn study(rate: f64) -> StudyConfig {
    StudyConfig {
        noc: NocConfig {
            virtual_channels: 2,
            buffer_depth: 4,
            ..NocConfig::mesh(8, 8)
        },
        traffic: Traffic::Synthetic {
            pattern: TrafficPattern::Uniform,
            rate,
        },
        packet_size: 1,
        warmup: WARMUP,
        cycles: CYCLES,
        // No drain: every iteration simulates exactly WARMUP + CYCLES cycles.
        drain_cycles: 0,
        seed: 1,
        record_packets: false,
    }
}

fn router_cycles(c: &mut Criterion) {
    let mut group = c.benchmark_group("noc_8x8_uniform_1flit_2vc_4buf");
    group.sample_size(20);
    for rate in [0.1, 0.3] {
        let cfg = study(rate);
        let router_cycles = cfg.noc.tiles() as u64 * (WARMUP + CYCLES);
        group.throughput(Throughput::Elements(router_cycles));
        group.bench_with_input(BenchmarkId::new("rate", rate), &cfg, |b, cfg| {
            b.iter(|| {
                let report = run_study(cfg).expect("the study runs");
                assert_eq!(report.router_cycles, router_cycles);
                report
            })
        });
    }
    group.finish();
}

criterion_group!(benches, router_cycles);
criterion_main!(benches);
