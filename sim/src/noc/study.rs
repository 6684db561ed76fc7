//! Synthetic- and trace-traffic studies of the mesh, as BookSim2 and Noxim users run them:
//! Bernoulli sources with unbounded source queues, a warm-up, a measurement window and a capped
//! drain; reports latency, throughput, hops, link utilisation and whether the network
//! saturated — never aborting and never dropping a packet.
//!
//! Timeline: cycles `[0, warmup)` warm the network up; packets created in
//! `[warmup, warmup + cycles)` are *measured*; the drain phase keeps the sources running (as
//! BookSim2 does) until every measured packet is delivered or `drain_cycles` have passed.
//! Measured packets still undelivered then are reported as in flight, with the network
//! declared saturated.

use super::config::NocConfig;
use super::mesh::{InjectError, Mesh, Port};
use super::packet::Packet;
use super::traffic::{Trace, TrafficPattern};
use super::{Cycle, NocError, TileId};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::VecDeque;

/// BookSim2's `latency_thres`: an average packet latency above it marks saturation.
pub const LATENCY_THRESHOLD: f64 = 500.0;

/// Where packets come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Traffic {
    /// Bernoulli sources: every tile starts a packet with probability `rate / packet_size`
    /// per cycle (`rate` in flits/node/cycle, 0..=1).
    Synthetic {
        /// Destination pattern.
        pattern: TrafficPattern,
        /// Offered load, flits per node per cycle.
        rate: f64,
    },
    /// Replay of a trace file.
    Trace(Trace),
}

/// One study's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyConfig {
    /// The network.
    pub noc: NocConfig,
    /// The traffic.
    pub traffic: Traffic,
    /// Packet length in flits for synthetic traffic (trace rows carry their own).
    pub packet_size: u16,
    /// Warm-up cycles (not measured).
    pub warmup: u64,
    /// Measurement window, cycles (≥ 1).
    pub cycles: u64,
    /// Most cycles the drain phase may run.
    pub drain_cycles: u64,
    /// Seed of the ChaCha8 generator (same seed ⇒ identical results).
    pub seed: u64,
    /// Keep one [`PacketRow`] per packet (for `--packet-trace`).
    pub record_packets: bool,
}

/// Use of one router-to-router link during the measurement window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkUse {
    /// x of the sending router.
    pub x: u16,
    /// y of the sending router.
    pub y: u16,
    /// Output port letter (N, E, S, W).
    pub port: char,
    /// Flits sent on it during the window.
    pub flits: u64,
    /// Flits per cycle (0..=1).
    pub utilisation: f64,
}

/// Timing of one packet (a row of `--packet-trace`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketRow {
    /// Generation order, from 0.
    pub id: u64,
    /// Source tile.
    pub src: u16,
    /// Destination tile.
    pub dst: u16,
    /// Flits.
    pub size: u16,
    /// Cycle it was created.
    pub created: u64,
    /// Cycle its head entered the source router (None: still at the source).
    pub injected: Option<u64>,
    /// Cycle its tail was ejected (None: not delivered when the run ended).
    pub ejected: Option<u64>,
    /// Created inside the measurement window.
    pub measured: bool,
}

/// What a study measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyReport {
    /// Mesh width.
    pub width: u16,
    /// Mesh height.
    pub height: u16,
    /// Traffic name (`uniform`, ..., `trace:FILE`).
    pub traffic: String,
    /// Synthetic packet size (0 for a trace).
    pub packet_size: u16,
    /// Offered load: flits created in the window per node per cycle.
    pub offered_rate: f64,
    /// Accepted throughput: flits ejected in the window per node per cycle.
    pub accepted_rate: f64,
    /// Packets created in the window.
    pub measured_packets: u64,
    /// Of those, delivered.
    pub measured_delivered: u64,
    /// Of those, still in flight (in a source queue, an interface, a buffer or a link) at the end.
    pub measured_in_flight: u64,
    /// Mean packet latency (creation → tail ejected) of delivered measured packets, cycles.
    pub avg_packet_latency: f64,
    /// Largest packet latency.
    pub max_packet_latency: u64,
    /// Mean network latency (head enters source router → tail ejected), cycles.
    pub avg_network_latency: f64,
    /// Largest network latency.
    pub max_network_latency: u64,
    /// Mean hops of delivered measured packets.
    pub avg_hops: f64,
    /// The documented zero-load latency formula at a mean hop count (for comparison).
    pub zero_load_latency_at_avg_hops: f64,
    /// Mean utilisation over all router-to-router links.
    pub avg_link_utilisation: f64,
    /// Largest link utilisation.
    pub max_link_utilisation: f64,
    /// Every router-to-router link.
    pub links: Vec<LinkUse>,
    /// The network did not keep up with the offered load.
    pub saturated: bool,
    /// Why it was declared saturated (empty if not).
    pub saturation_reasons: Vec<String>,
    /// Cycles simulated in all (warm-up + window + drain).
    pub cycles_simulated: u64,
    /// Drain cycles used.
    pub drain_cycles_used: u64,
    /// Flits still in the network at the end (none is ever dropped).
    pub flits_in_flight_at_end: u64,
    /// Packets still waiting in source queues at the end.
    pub packets_at_sources_at_end: u64,
    /// Trace rows whose cycle came after the run ended (not replayed; 0 for synthetic traffic).
    pub trace_rows_not_replayed: u64,
    /// Routers × cycles simulated.
    pub router_cycles: u64,
    /// Router-cycles in which a router had work and was stepped.
    pub router_cycles_active: u64,
    /// Per-packet timing, when recorded (sorted by id).
    #[serde(skip)]
    pub packets: Vec<PacketRow>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    id: u64,
    created: u64,
    dst: u16,
    size: u16,
}

/// Runs one study.
pub fn run_study(cfg: &StudyConfig) -> Result<StudyReport, NocError> {
    cfg.noc.validate()?;
    if cfg.cycles == 0 {
        return Err(NocError::Traffic(
            "the measurement window must be at least 1 cycle".into(),
        ));
    }
    let (pattern, rate) = match &cfg.traffic {
        Traffic::Synthetic { pattern, rate } => {
            if !(0.0..=1.0).contains(rate) || rate.is_nan() {
                return Err(NocError::Traffic(format!(
                    "injection rate {rate} is outside 0..=1 flits/node/cycle"
                )));
            }
            if cfg.packet_size == 0 {
                return Err(NocError::Traffic(
                    "packet size must be at least 1 flit".into(),
                ));
            }
            pattern.validate(&cfg.noc)?;
            (Some(pattern), *rate)
        }
        Traffic::Trace(_) => (None, 0.0),
    };
    let mut mesh = Mesh::new(cfg.noc.clone())?;
    let tiles = mesh.tiles();
    let (w, h) = (cfg.noc.width, cfg.noc.height);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let p = if cfg.packet_size == 0 {
        0.0
    } else {
        rate / f64::from(cfg.packet_size)
    };
    let always = p >= 1.0;
    let threshold = (p * 18_446_744_073_709_551_616.0) as u64;
    let trace = match &cfg.traffic {
        Traffic::Trace(t) => Some(&t.events[..]),
        Traffic::Synthetic { .. } => None,
    };
    let mut trace_pos = 0usize;
    let mut queues: Vec<VecDeque<Pending>> = vec![VecDeque::new(); tiles];
    let mut next_id = 0u64;
    let window_start = cfg.warmup;
    let Some(window_end) = cfg.warmup.checked_add(cfg.cycles) else {
        return Err(NocError::Traffic(format!(
            "warm-up {} + measurement {} cycles overflows the cycle counter",
            cfg.warmup, cfg.cycles
        )));
    };
    let mut measured = 0u64;
    let mut measured_flits = 0u64;
    let mut delivered = 0u64;
    let (mut lat_sum, mut lat_max, mut net_sum, mut net_max, mut hop_sum) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut rows: Vec<PacketRow> = Vec::new();
    let mut ejected_at_start = 0u64;
    let mut links_at_start = vec![0u64; 0];
    let mut ejected_at_end = 0u64;
    let mut links_at_end = vec![0u64; 0];
    let link_ids = mesh.links();
    let link_sent = |mesh: &Mesh| -> Vec<u64> {
        link_ids
            .iter()
            .map(|&(t, port)| mesh.link_counters(t, port).map_or(0, |c| c.sent))
            .collect()
    };
    let mut drain_used = 0u64;
    let mut cycle = 0u64;
    loop {
        let now = mesh.now().0;
        if now == window_start {
            ejected_at_start = mesh.counters().flits_ejected;
            links_at_start = link_sent(&mesh);
        }
        if now == window_end {
            ejected_at_end = mesh.counters().flits_ejected;
            links_at_end = link_sent(&mesh);
        }
        if now >= window_end {
            if delivered == measured || drain_used >= cfg.drain_cycles {
                break;
            }
            drain_used += 1;
        }
        let in_window = now >= window_start && now < window_end;
        // Generation.
        if let Some(pattern) = pattern {
            if p > 0.0 {
                for (src, queue) in queues.iter_mut().enumerate() {
                    if always || rng.next_u64() < threshold {
                        let dst = pattern.destination(src as u16, w, h, &mut rng);
                        queue.push_back(Pending {
                            id: next_id,
                            created: now,
                            dst,
                            size: cfg.packet_size,
                        });
                        next_id += 1;
                        if in_window {
                            measured += 1;
                            measured_flits += u64::from(cfg.packet_size);
                        }
                    }
                }
            }
        }
        if let Some(events) = trace {
            while let Some(e) = events.get(trace_pos) {
                if e.cycle > now {
                    break;
                }
                queues[usize::from(e.src)].push_back(Pending {
                    id: next_id,
                    created: e.cycle,
                    dst: e.dst,
                    size: e.size,
                });
                next_id += 1;
                if in_window {
                    measured += 1;
                    measured_flits += u64::from(e.size);
                }
                trace_pos += 1;
            }
        }
        // Injection (source queue → network interface, never dropping).
        for (src, queue) in queues.iter_mut().enumerate() {
            while let Some(front) = queue.front().copied() {
                let mut packet = Packet::synthetic(TileId(front.dst), front.size);
                packet.payload = front.id as u32;
                match mesh.try_inject_created(TileId(src as u16), packet, Cycle(front.created)) {
                    Ok(_) => {
                        queue.pop_front();
                    }
                    Err(InjectError::Backpressure(_)) => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        mesh.step()?;
        cycle += 1;
        // Ejection.
        for t in 0..tiles {
            while let Some(d) = mesh.pop_delivered(TileId(t as u16)) {
                let created = d.created.0;
                let is_measured = created >= window_start && created < window_end;
                if is_measured {
                    delivered += 1;
                    let l = d.latency();
                    let n = d.network_latency();
                    lat_sum += l;
                    lat_max = lat_max.max(l);
                    net_sum += n;
                    net_max = net_max.max(n);
                    hop_sum += u64::from(d.hops);
                }
                if cfg.record_packets {
                    rows.push(PacketRow {
                        id: 0,
                        src: d.src.0,
                        dst: d.packet.dst.0,
                        size: d.packet.flits,
                        created,
                        injected: Some(d.injected.0),
                        ejected: Some(d.ejected.0),
                        measured: is_measured,
                    });
                    if let Some(row) = rows.last_mut() {
                        row.id = u64::from(d.packet.payload);
                    }
                }
            }
        }
    }
    let in_window = |c: u64| c >= window_start && c < window_end;
    if cfg.record_packets {
        for (_, src, packet, created) in mesh.undelivered() {
            rows.push(PacketRow {
                id: u64::from(packet.payload),
                src: src.0,
                dst: packet.dst.0,
                size: packet.flits,
                created: created.0,
                injected: None,
                ejected: None,
                measured: in_window(created.0),
            });
        }
        for (src, queue) in queues.iter().enumerate() {
            for q in queue {
                rows.push(PacketRow {
                    id: q.id,
                    src: src as u16,
                    dst: q.dst,
                    size: q.size,
                    created: q.created,
                    injected: None,
                    ejected: None,
                    measured: in_window(q.created),
                });
            }
        }
        rows.sort_by_key(|r| r.id);
    }
    let norm = (tiles as f64) * (cfg.cycles as f64);
    let offered_rate = measured_flits as f64 / norm;
    let accepted_rate = (ejected_at_end - ejected_at_start) as f64 / norm;
    let mut links = Vec::with_capacity(link_ids.len());
    for (i, &(t, port)) in link_ids.iter().enumerate() {
        let flits =
            links_at_end.get(i).copied().unwrap_or(0) - links_at_start.get(i).copied().unwrap_or(0);
        let (x, y) = mesh.coords(t);
        links.push(LinkUse {
            x,
            y,
            port: Port::letter(port),
            flits,
            utilisation: flits as f64 / cfg.cycles as f64,
        });
    }
    let avg_link = if links.is_empty() {
        0.0
    } else {
        links.iter().map(|l| l.utilisation).sum::<f64>() / links.len() as f64
    };
    let max_link = links.iter().map(|l| l.utilisation).fold(0.0, f64::max);
    let div = |s: u64| {
        if delivered == 0 {
            0.0
        } else {
            s as f64 / delivered as f64
        }
    };
    let avg_packet_latency = div(lat_sum);
    let avg_hops = div(hop_sum);
    let measured_in_flight = measured - delivered;
    let mut reasons = Vec::new();
    if measured_in_flight > 0 {
        reasons.push(format!(
            "{measured_in_flight} of {measured} measured packets were still in flight after the \
             drain cap of {} cycles (latency growing without bound)",
            cfg.drain_cycles
        ));
    }
    // Accepted below offered by more than 5 % (and more than sampling noise on few flits).
    let offered_flits = measured_flits as f64;
    let accepted_flits = (ejected_at_end - ejected_at_start) as f64;
    if offered_flits - accepted_flits > 0.05 * offered_flits + 3.0 * offered_flits.sqrt() {
        reasons.push(format!(
            "accepted throughput {accepted_rate:.4} is below the offered load {offered_rate:.4} \
             flits/node/cycle"
        ));
    }
    if avg_packet_latency > LATENCY_THRESHOLD {
        reasons.push(format!(
            "average packet latency {avg_packet_latency:.1} exceeds {LATENCY_THRESHOLD} cycles \
             (BookSim2's latency_thres)"
        ));
    }
    let packet_size_f = if trace.is_some() {
        1.0
    } else {
        f64::from(cfg.packet_size)
    };
    let zl = cfg.noc.router_delay() as f64 * (avg_hops + 1.0)
        + f64::from(cfg.noc.link_delay) * avg_hops
        + (packet_size_f - 1.0);
    Ok(StudyReport {
        width: w,
        height: h,
        traffic: match &cfg.traffic {
            Traffic::Synthetic { pattern, .. } => pattern.name().to_string(),
            Traffic::Trace(t) => format!("trace:{}", t.origin),
        },
        packet_size: if trace.is_some() { 0 } else { cfg.packet_size },
        offered_rate,
        accepted_rate,
        measured_packets: measured,
        measured_delivered: delivered,
        measured_in_flight,
        avg_packet_latency,
        max_packet_latency: lat_max,
        avg_network_latency: div(net_sum),
        max_network_latency: net_max,
        avg_hops,
        zero_load_latency_at_avg_hops: zl,
        avg_link_utilisation: avg_link,
        max_link_utilisation: max_link,
        links,
        saturated: !reasons.is_empty(),
        saturation_reasons: reasons,
        cycles_simulated: cycle,
        drain_cycles_used: drain_used,
        flits_in_flight_at_end: mesh.in_flight_flits(),
        packets_at_sources_at_end: queues.iter().map(|q| q.len() as u64).sum(),
        trace_rows_not_replayed: trace.map_or(0, |e| (e.len() - trace_pos) as u64),
        router_cycles: cycle * tiles as u64,
        router_cycles_active: mesh.counters().router_cycles_active,
        packets: rows,
    })
}

/// Runs one study per rate (synthetic traffic only), same seed for every point.
pub fn run_sweep(base: &StudyConfig, rates: &[f64]) -> Result<Vec<StudyReport>, NocError> {
    let Traffic::Synthetic { pattern, .. } = &base.traffic else {
        return Err(NocError::Traffic(
            "a sweep needs synthetic traffic, not a trace".into(),
        ));
    };
    rates
        .iter()
        .map(|&rate| {
            let mut cfg = base.clone();
            cfg.traffic = Traffic::Synthetic {
                pattern: pattern.clone(),
                rate,
            };
            run_study(&cfg)
        })
        .collect()
}
