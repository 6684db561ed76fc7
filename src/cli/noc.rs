//! `spikemesh noc`: synthetic- and trace-traffic studies of the mesh network-on-chip, as
//! BookSim2 and Noxim users run them — one load point, or a latency–throughput sweep written as
//! CSV and SVG — with every packet's timing optionally written as CSV.

use super::chart::{tick_step, Frame};
use anyhow::{bail, Context};
use sim::noc::study::{run_study, run_sweep, PacketRow, StudyConfig, StudyReport, Traffic};
use sim::noc::traffic::{Trace, TrafficPattern};
use sim::noc::NocConfig;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Appends one formatted line to the output text.
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Run a synthetic-traffic (or trace-driven) study of the mesh network-on-chip.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Mesh size, WIDTHxHEIGHT (e.g. 8x8).
    #[arg(long, default_value = "8x8")]
    mesh: String,
    /// Traffic: uniform, transpose, bitcomp, shuffle, tornado, neighbor, hotspot, or
    /// trace:FILE (CSV with header `cycle,src,dst,size`; tiles are y*width+x).
    #[arg(long, default_value = "uniform")]
    traffic: String,
    /// Offered load in flits per node per cycle (0..=1); Bernoulli packet generation at
    /// rate/packet-size per node per cycle.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    rate: f64,
    /// Packet length in flits (synthetic traffic).
    #[arg(long, default_value_t = 1)]
    packet_size: u16,
    /// Virtual channels per port (BookSim2 num_vcs).
    #[arg(long, default_value_t = 2)]
    vcs: u8,
    /// Buffer depth per virtual channel, flits (BookSim2 vc_buf_size).
    #[arg(long, default_value_t = 4)]
    buf: u16,
    /// Warm-up cycles (not measured).
    #[arg(long, default_value_t = 1_000)]
    warmup: u64,
    /// Measurement window, cycles.
    #[arg(long, default_value_t = 10_000)]
    cycles: u64,
    /// Cap on the drain phase, cycles; measured packets still undelivered then are reported
    /// as in flight.
    #[arg(long, default_value_t = 20_000)]
    drain_cycles: u64,
    /// Seed of the traffic generator (same seed, same results).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Route computation cycles (BookSim2 routing_delay).
    #[arg(long, default_value_t = 1)]
    routing_delay: u8,
    /// VC allocation cycles (BookSim2 vc_alloc_delay, ≥ 1).
    #[arg(long, default_value_t = 1)]
    vc_alloc_delay: u8,
    /// Switch allocation cycles (BookSim2 sw_alloc_delay, ≥ 1).
    #[arg(long, default_value_t = 1)]
    sw_alloc_delay: u8,
    /// Switch preparation cycles (BookSim2 st_prepare_delay).
    #[arg(long, default_value_t = 0)]
    st_prepare_delay: u8,
    /// Switch traversal cycles (BookSim2 st_final_delay).
    #[arg(long, default_value_t = 1)]
    st_final_delay: u8,
    /// Link traversal cycles (BookSim2 channel latency, ≥ 1).
    #[arg(long, default_value_t = 1)]
    link_delay: u8,
    /// Credit processing cycles on top of the reverse link (BookSim2 credit_delay).
    #[arg(long, default_value_t = 1)]
    credit_delay: u8,
    /// Hotspot tile index (y*width+x) for --traffic hotspot.
    #[arg(long, default_value_t = 0)]
    hotspot: u16,
    /// Share of packets sent to the hotspot (the rest uniform), 0..=1.
    #[arg(long, default_value_t = 0.2)]
    hotspot_fraction: f64,
    /// Sweep the offered load FROM:TO:STEP (flits/node/cycle) and write the
    /// latency–throughput curve to --csv and --svg.
    #[arg(long)]
    sweep: Option<String>,
    /// Where a sweep writes its CSV.
    #[arg(long, default_value = "noc-sweep.csv")]
    csv: PathBuf,
    /// Where a sweep writes its SVG plot.
    #[arg(long, default_value = "noc-sweep.svg")]
    svg: PathBuf,
    /// Write every packet's create/inject/eject cycles as CSV to FILE.
    #[arg(long)]
    packet_trace: Option<PathBuf>,
    /// Check flit conservation at every cycle (slower).
    #[arg(long)]
    check_invariants: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_mesh(s: &str) -> anyhow::Result<(u16, u16)> {
    let Some((w, h)) = s.split_once(['x', 'X']) else {
        bail!("--mesh `{s}`: expected WIDTHxHEIGHT, e.g. 8x8");
    };
    let side = |v: &str, name: &str| -> anyhow::Result<u16> {
        let n: u16 = v.trim().parse().map_err(|_| {
            anyhow::anyhow!("--mesh `{s}`: {name} `{v}` is not an integer in 1..=256")
        })?;
        if n == 0 || n > 256 {
            bail!("--mesh `{s}`: {name} must be in 1..=256, not {n}");
        }
        Ok(n)
    };
    Ok((side(w, "width")?, side(h, "height")?))
}

fn parse_sweep(s: &str) -> anyhow::Result<Vec<f64>> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 3 {
        bail!("--sweep `{s}`: expected FROM:TO:STEP, e.g. 0.02:0.5:0.04");
    }
    let num = |v: &str, name: &str| -> anyhow::Result<f64> {
        v.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| anyhow::anyhow!("--sweep `{s}`: {name} `{v}` is not a number"))
    };
    let (from, to, step) = (
        num(parts[0], "FROM")?,
        num(parts[1], "TO")?,
        num(parts[2], "STEP")?,
    );
    if !(0.0..=1.0).contains(&from) || !(0.0..=1.0).contains(&to) {
        bail!("--sweep `{s}`: rates must be within 0..=1 flits/node/cycle");
    }
    if from > to {
        bail!("--sweep `{s}`: FROM must not exceed TO");
    }
    if step <= 0.0 {
        bail!("--sweep `{s}`: STEP must be positive");
    }
    let n = ((to - from) / step + 1e-9).floor() as u64 + 1;
    if n > 1_000 {
        bail!("--sweep `{s}`: {n} points is more than 1000");
    }
    Ok((0..n).map(|i| (from + i as f64 * step).min(1.0)).collect())
}

fn build(args: &Args) -> anyhow::Result<StudyConfig> {
    let (width, height) = parse_mesh(&args.mesh)?;
    if args.vcs == 0 || args.vcs > 16 {
        bail!(
            "--vcs {}: the number of virtual channels must be in 1..=16",
            args.vcs
        );
    }
    if args.buf == 0 {
        bail!("--buf 0: the buffer depth per virtual channel must be at least 1 flit");
    }
    if args.packet_size == 0 {
        bail!("--packet-size 0: a packet has at least 1 flit");
    }
    if !(0.0..=1.0).contains(&args.rate) {
        bail!(
            "--rate {}: the offered load must be within 0..=1 flits/node/cycle",
            args.rate
        );
    }
    if args.cycles == 0 {
        bail!("--cycles 0: the measurement window must be at least 1 cycle");
    }
    let noc = NocConfig {
        width,
        height,
        virtual_channels: args.vcs,
        buffer_depth: args.buf,
        routing_delay: args.routing_delay,
        vc_alloc_delay: args.vc_alloc_delay,
        sw_alloc_delay: args.sw_alloc_delay,
        st_prepare_delay: args.st_prepare_delay,
        st_final_delay: args.st_final_delay,
        link_delay: args.link_delay,
        credit_delay: args.credit_delay,
        check_invariants: args.check_invariants,
        ..NocConfig::default()
    };
    noc.validate().map_err(|e| {
        let msg = e.to_string();
        let flag = ["vc_alloc_delay", "sw_alloc_delay", "link_delay"]
            .into_iter()
            .find(|f| msg.contains(f))
            .map(|f| format!("--{}", f.replace('_', "-")))
            .unwrap_or_else(|| "--mesh".into());
        anyhow::anyhow!("{flag}: {msg}")
    })?;
    let traffic = if let Some(file) = args.traffic.strip_prefix("trace:") {
        if file.is_empty() {
            bail!("--traffic trace:FILE: no file named");
        }
        Traffic::Trace(Trace::load(Path::new(file), &noc)?)
    } else {
        let pattern = TrafficPattern::parse(&args.traffic, args.hotspot, args.hotspot_fraction)
            .map_err(|e| anyhow::anyhow!("--traffic: {e}"))?;
        pattern
            .validate(&noc)
            .map_err(|e| anyhow::anyhow!("--traffic {}: {e}", args.traffic))?;
        Traffic::Synthetic {
            pattern,
            rate: args.rate,
        }
    };
    Ok(StudyConfig {
        noc,
        traffic,
        packet_size: args.packet_size,
        warmup: args.warmup,
        cycles: args.cycles,
        drain_cycles: args.drain_cycles,
        seed: args.seed,
        record_packets: args.packet_trace.is_some(),
    })
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = build(&args)?;
    let mut out = String::new();
    if let Some(spec) = &args.sweep {
        let rates = parse_sweep(spec)?;
        if matches!(cfg.traffic, Traffic::Trace(_)) {
            bail!("--sweep needs synthetic traffic; a trace fixes its own load");
        }
        if args.packet_trace.is_some() {
            bail!("--packet-trace records one run; it cannot be combined with --sweep");
        }
        let reports = run_sweep(&cfg, &rates)?;
        isa::output::write_atomic(&args.csv, sweep_csv(&rates, &reports).as_bytes())
            .with_context(|| format!("{}: cannot write the sweep CSV", args.csv.display()))?;
        isa::output::write_atomic(&args.svg, sweep_svg(&cfg, &reports).as_bytes())
            .with_context(|| format!("{}: cannot write the sweep SVG", args.svg.display()))?;
        if args.json {
            outln!(out, "{}", serde_json::to_string_pretty(&reports)?);
        } else {
            print_header(&mut out, &cfg);
            outln!(
                out,
                "{:>8} {:>9} {:>9} {:>10} {:>8} {:>10} {:>7}  status",
                "rate",
                "offered",
                "accepted",
                "avg_lat",
                "max_lat",
                "avg_netlat",
                "hops"
            );
            for (rate, r) in rates.iter().zip(&reports) {
                outln!(
                    out,
                    "{:>8.4} {:>9.4} {:>9.4} {:>10.2} {:>8} {:>10.2} {:>7.3}  {}",
                    rate,
                    r.offered_rate,
                    r.accepted_rate,
                    r.avg_packet_latency,
                    r.max_packet_latency,
                    r.avg_network_latency,
                    r.avg_hops,
                    if r.saturated { "SATURATED" } else { "ok" }
                );
            }
            outln!(
                out,
                "wrote {} and {}",
                args.csv.display(),
                args.svg.display()
            );
        }
        return emit(&out);
    }
    let report = run_study(&cfg)?;
    if let Some(path) = &args.packet_trace {
        isa::output::write_atomic(path, packet_csv(&report.packets).as_bytes())
            .with_context(|| format!("{}: cannot write the packet trace", path.display()))?;
    }
    if args.json {
        outln!(out, "{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_header(&mut out, &cfg);
        print_report(&mut out, &report);
        if let Some(path) = &args.packet_trace {
            outln!(
                out,
                "wrote {} ({} packets)",
                path.display(),
                report.packets.len()
            );
        }
    }
    emit(&out)
}

/// Writes the report to stdout in one piece; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to standard output"))
        }
        _ => Ok(()),
    }
}

fn print_header(out: &mut String, cfg: &StudyConfig) {
    let n = &cfg.noc;
    let traffic = match &cfg.traffic {
        Traffic::Synthetic { pattern, rate } => format!(
            "{} traffic, offered {rate} flits/node/cycle, {}-flit packets",
            pattern.name(),
            cfg.packet_size
        ),
        Traffic::Trace(t) => format!("trace {} ({} packets)", t.origin, t.events.len()),
    };
    outln!(
        out,
        "mesh {}x{}, {traffic}, {} VCs x {} flits, seed {}",
        n.width,
        n.height,
        n.virtual_channels,
        n.buffer_depth,
        cfg.seed
    );
    outln!(
        out,
        "delays: routing {} vc_alloc {} sw_alloc {} st_prepare {} st_final {} link {} credit {} \
         (zero-load: {} cycles per router, {} per link)",
        n.routing_delay,
        n.vc_alloc_delay,
        n.sw_alloc_delay,
        n.st_prepare_delay,
        n.st_final_delay,
        n.link_delay,
        n.credit_delay,
        n.router_delay(),
        n.link_delay
    );
    outln!(
        out,
        "cycles: warm-up {}, measured {}, drain cap {}",
        cfg.warmup,
        cfg.cycles,
        cfg.drain_cycles
    );
}

fn print_report(out: &mut String, r: &StudyReport) {
    outln!(
        out,
        "throughput: offered {:.4}, accepted {:.4} flits/node/cycle",
        r.offered_rate,
        r.accepted_rate
    );
    outln!(
        out,
        "packet latency: avg {:.2}, max {} cycles; network latency: avg {:.2}, max {} cycles",
        r.avg_packet_latency,
        r.max_packet_latency,
        r.avg_network_latency,
        r.max_network_latency
    );
    outln!(
        out,
        "hops: avg {:.3} (zero-load latency at that distance {:.2} cycles)",
        r.avg_hops,
        r.zero_load_latency_at_avg_hops
    );
    let busiest = r
        .links
        .iter()
        .max_by(|a, b| a.utilisation.total_cmp(&b.utilisation));
    match busiest {
        Some(l) => outln!(out,
            "links: {} router-to-router links, avg utilisation {:.4}, max {:.4} (router ({},{}) {})",
            r.links.len(),
            r.avg_link_utilisation,
            r.max_link_utilisation,
            l.x,
            l.y,
            l.port
        ),
        None => outln!(out,"links: none (1x1 mesh)"),
    }
    outln!(
        out,
        "measured packets: {} created, {} delivered, {} still in flight",
        r.measured_packets,
        r.measured_delivered,
        r.measured_in_flight
    );
    outln!(
        out,
        "at the end: {} flits in the network, {} packets at sources; {} cycles simulated \
         ({} drain), {} of {} router-cycles active",
        r.flits_in_flight_at_end,
        r.packets_at_sources_at_end,
        r.cycles_simulated,
        r.drain_cycles_used,
        r.router_cycles_active,
        r.router_cycles
    );
    if r.trace_rows_not_replayed > 0 {
        outln!(
            out,
            "trace: {} rows come after the end of the run and were not replayed \
             (raise --cycles or --drain-cycles)",
            r.trace_rows_not_replayed
        );
    }
    if r.saturated {
        outln!(out, "SATURATED: the network does not sustain this load:");
        for reason in &r.saturation_reasons {
            outln!(out, "  - {reason}");
        }
    } else {
        outln!(out, "not saturated");
    }
}

fn opt(v: Option<u64>) -> String {
    v.map(|c| c.to_string()).unwrap_or_default()
}

/// `id,src,dst,size,created,injected,ejected,measured`; empty `injected`/`ejected` fields mean
/// the packet had not reached that point when the run ended.
fn packet_csv(rows: &[PacketRow]) -> String {
    let mut s = String::from("id,src,dst,size,created,injected,ejected,measured\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{}",
            r.id,
            r.src,
            r.dst,
            r.size,
            r.created,
            opt(r.injected),
            opt(r.ejected),
            u8::from(r.measured)
        );
    }
    s
}

fn sweep_csv(rates: &[f64], reports: &[StudyReport]) -> String {
    let mut s = String::from(
        "rate,offered,accepted,avg_packet_latency,max_packet_latency,avg_network_latency,\
         max_network_latency,avg_hops,max_link_utilisation,measured_in_flight,saturated\n",
    );
    for (rate, r) in rates.iter().zip(reports) {
        let _ = writeln!(
            s,
            "{rate},{:.6},{:.6},{:.4},{},{:.4},{},{:.4},{:.6},{},{}",
            r.offered_rate,
            r.accepted_rate,
            r.avg_packet_latency,
            r.max_packet_latency,
            r.avg_network_latency,
            r.max_network_latency,
            r.avg_hops,
            r.max_link_utilisation,
            r.measured_in_flight,
            u8::from(r.saturated)
        );
    }
    s
}

/// Latency (y) against offered load (x): axes, ticks, a polyline and one marker per point
/// (red when saturated).
fn sweep_svg(cfg: &StudyConfig, reports: &[StudyReport]) -> String {
    let xmax_data = reports.iter().map(|r| r.offered_rate).fold(0.0, f64::max);
    // Beyond saturation latencies grow without bound; the y axis stops at 4× the highest
    // unsaturated latency so that the flat part and the knee stay readable, and points above
    // it are drawn at the top edge as triangles labelled with their value.
    let all_max = reports
        .iter()
        .map(|r| r.avg_packet_latency)
        .fold(0.0, f64::max);
    let ok_max = reports
        .iter()
        .filter(|r| !r.saturated)
        .map(|r| r.avg_packet_latency)
        .fold(0.0, f64::max);
    let ymax_data = if ok_max > 0.0 {
        all_max.min(4.0 * ok_max)
    } else {
        all_max
    };
    let xs = tick_step(xmax_data.max(0.01), 5.0);
    let ys = tick_step(ymax_data.max(1.0), 5.0);
    let xmax = (xmax_data / xs).ceil().max(1.0) * xs;
    let ymax = (ymax_data / ys).ceil().max(1.0) * ys;
    let frame = Frame {
        size: (640.0, 420.0),
        margins: (70.0, 20.0, 40.0, 55.0),
        x: (0.0, xmax),
        y: (0.0, ymax),
    };
    let (px, py) = (|x| frame.px(x), |y| frame.py(y));
    let title = match &cfg.traffic {
        Traffic::Synthetic { pattern, .. } => pattern.name().to_string(),
        Traffic::Trace(_) => "trace".into(),
    };
    let mut s = frame.open(&format!(
        "{}x{} mesh, {title}, {}-flit packets, {} VCs x {} flits",
        cfg.noc.width,
        cfg.noc.height,
        cfg.packet_size,
        cfg.noc.virtual_channels,
        cfg.noc.buffer_depth
    ));
    frame.axes(
        &mut s,
        (xs, ys),
        "offered load (flits/node/cycle)",
        "average packet latency (cycles)",
    );
    let points: Vec<String> = reports
        .iter()
        .map(|r| format!("{:.1},{:.1}", px(r.offered_rate), py(r.avg_packet_latency)))
        .collect();
    let _ = writeln!(
        s,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>",
        points.join(" ")
    );
    for r in reports {
        let colour = if r.saturated { "#d62728" } else { "#1f77b4" };
        let (cx, cy) = (px(r.offered_rate), py(r.avg_packet_latency));
        if r.avg_packet_latency > ymax {
            let _ = writeln!(
                s,
                "<path d=\"M{cx:.1},{:.1} l-4.5,8 h9 z\" fill=\"{colour}\"/>\
                 <text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\" \
                 transform=\"rotate(-45 {cx:.1} {:.1})\">{:.0}</text>",
                cy - 4.0,
                cy - 8.0,
                cy - 8.0,
                r.avg_packet_latency
            );
        } else {
            let _ = writeln!(
                s,
                "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3.5\" fill=\"{colour}\"/>"
            );
        }
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#d62728\">red: saturated; ▲ off the scale (value in cycles)</text>",
        frame.right(),
        frame.top() + 14.0
    );
    s.push_str("</svg>\n");
    s
}
