//! Neurocore throughput per host thread: synaptic events per second and neuron updates per
//! second for a 1,024-neuron core with binary (sign) weights, 1,024 axons, at 1 %, 10 % and
//! 50 % input activity, in full cycle-accurate mode (the Loihi LIF firmware runs every step,
//! spikes go through the spike-out unit, every unit's cycles are counted).
//!
//! Run: `cargo bench -p spikemesh --bench neurocore`

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use firmware::NeuronModel;
use isa::chip::TileId;
use isa::image::{Destination, FanoutTable};
use sim::core::{CoreConfig, Cycle, Neurocore, SynapseMemory};

const NEURONS: usize = 1024;
const AXONS: usize = 1024;
const PATTERNS: usize = 16;

/// xorshift64*: a fixed pseudo-random stream, so every run benchmarks the same work.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn build_core() -> Neurocore {
    let program = NeuronModel::LoihiLif.program().expect("firmware assembles");
    let mut core = Neurocore::new(
        CoreConfig::standalone(NEURONS as u32, AXONS as u32),
        &program,
    )
    .expect("core");
    core.set_param("du", 400).expect("du");
    core.set_param("dv", 200).expect("dv");
    core.set_param("vth", 40).expect("vth");
    let mut rng = Stream(0x5EED);
    let words = NEURONS / 64;
    let sign: Vec<u64> = (0..AXONS * words).map(|_| rng.next()).collect();
    core.set_synapses(SynapseMemory::from_planes(NEURONS, AXONS, &sign, None).expect("planes"))
        .expect("synapses");
    let lists: Vec<Vec<Destination>> = (0..NEURONS)
        .map(|n| {
            vec![Destination::Core {
                tile: TileId(1),
                axon: n as u32,
            }]
        })
        .collect();
    core.set_fanout(FanoutTable::from_lists(&lists))
        .expect("fanout");
    core.advance(Cycle(u64::MAX)).expect("boot");
    let start = core.done_at().expect("waiting for the sample");
    core.begin_sample(start).expect("sample");
    core
}

/// `PATTERNS` input spike lists with `activity` of the axons active in each.
fn patterns(activity: f64) -> Vec<Vec<u32>> {
    let mut rng = Stream(0xC0FFEE);
    let threshold = (activity * u64::MAX as f64) as u64;
    (0..PATTERNS)
        .map(|_| {
            (0..AXONS as u32)
                .filter(|_| rng.next() < threshold)
                .collect()
        })
        .collect()
}

/// One timestep: the spikes arrive, the neuron update runs, spikes leave, the barrier releases.
fn timestep(core: &mut Neurocore, spikes: &[u32]) {
    let at = core.step_start();
    for &axon in spikes {
        core.deliver_spike(axon, at).expect("axon in range");
    }
    let report = core.run_timestep().expect("step");
    core.clear_outbound();
    core.release_barrier(report.done).expect("release");
}

fn bench(c: &mut Criterion) {
    for (group_name, per_step_events) in [
        ("neurocore/synaptic_events", true),
        ("neurocore/neuron_updates", false),
    ] {
        let mut group = c.benchmark_group(group_name);
        group.sample_size(20);
        group.measurement_time(std::time::Duration::from_secs(4));
        for activity in [0.01, 0.10, 0.50] {
            let inputs = patterns(activity);
            let mean_spikes = inputs.iter().map(Vec::len).sum::<usize>() as u64 / PATTERNS as u64;
            let elements = if per_step_events {
                mean_spikes * NEURONS as u64
            } else {
                NEURONS as u64
            };
            group.throughput(Throughput::Elements(elements * PATTERNS as u64));
            let mut core = build_core();
            group.bench_with_input(
                BenchmarkId::from_parameter(format!("{}%", activity * 100.0)),
                &inputs,
                |b, inputs| {
                    b.iter(|| {
                        for spikes in inputs {
                            timestep(&mut core, black_box(spikes));
                        }
                    })
                },
            );
            let counters = core.counters();
            if counters.timesteps == 0 {
                continue; // filtered out on the command line
            }
            eprintln!(
                "{group_name} {:.0}%: {} simulated cycles over {} timesteps ({:.1} cycles/step), {} synaptic events",
                activity * 100.0,
                core.now().0,
                counters.timesteps,
                core.now().0 as f64 / counters.timesteps.max(1) as f64,
                counters.synaptic_events
            );
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
