//! End-to-end checks of `spikemesh noc`: bad flags get a clear error and exit code 1 (never a
//! panic, exit 101); zero-load latency through the CLI equals the documented formula; same
//! seed gives the same output; a sweep writes its CSV and SVG whole; saturation is reported.

mod cli_support;

use cli_support::{spikemesh, stderr};
use std::path::PathBuf;
use std::process::Output;

fn scratch_dir(name: &str) -> PathBuf {
    cli_support::scratch_dir(&format!("cli-noc-{name}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let out = spikemesh(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` not in: {err}");
    }
}

#[test]
fn bad_flags_get_clear_errors() {
    fails_with(&["noc", "--rate", "1.5"], &["--rate 1.5", "0..=1"]);
    fails_with(&["noc", "--rate", "-0.1"], &["--rate -0.1", "0..=1"]);
    fails_with(
        &["noc", "--mesh", "0x4"],
        &["--mesh `0x4`", "width must be in 1..=256"],
    );
    fails_with(&["noc", "--mesh", "4x0"], &["--mesh `4x0`", "height"]);
    fails_with(&["noc", "--mesh", "8"], &["--mesh `8`", "WIDTHxHEIGHT"]);
    fails_with(
        &["noc", "--mesh", "256x256"],
        &["--mesh", "at most 65535 tiles"],
    );
    fails_with(&["noc", "--rate", "NaN"], &["--rate NaN", "0..=1"]);
    fails_with(
        &["noc", "--packet-size", "0"],
        &["--packet-size 0", "at least 1 flit"],
    );
    fails_with(&["noc", "--vcs", "0"], &["--vcs 0", "virtual channels"]);
    fails_with(&["noc", "--buf", "0"], &["--buf 0", "buffer depth"]);
    fails_with(
        &["noc", "--vc-alloc-delay", "0"],
        &["--vc-alloc-delay", "at least 1"],
    );
    fails_with(
        &["noc", "--link-delay", "0"],
        &["--link-delay", "at least 1"],
    );
    fails_with(
        &["noc", "--traffic", "zigzag"],
        &["unknown traffic pattern `zigzag`"],
    );
    fails_with(
        &["noc", "--mesh", "4x2", "--traffic", "transpose"],
        &["square mesh"],
    );
    fails_with(
        &["noc", "--mesh", "3x3", "--traffic", "shuffle"],
        &["power-of-two"],
    );
    fails_with(
        &[
            "noc",
            "--mesh",
            "4x4",
            "--traffic",
            "hotspot",
            "--hotspot",
            "16",
        ],
        &["hotspot tile 16", "outside the 4x4 mesh"],
    );
    fails_with(
        &["noc", "--sweep", "0.5:0.1:0.1"],
        &["--sweep", "FROM must not exceed TO"],
    );
    fails_with(
        &["noc", "--sweep", "0.1:1.5:0.1"],
        &["--sweep", "within 0..=1"],
    );
    fails_with(&["noc", "--sweep", "0.1:0.5"], &["--sweep", "FROM:TO:STEP"]);
    fails_with(&["noc", "--sweep", "0.1:0.5:0"], &["STEP must be positive"]);
    fails_with(&["noc", "--cycles", "0"], &["--cycles 0"]);
}

#[test]
fn bad_traces_name_file_and_line() {
    let dir = scratch_dir("badtrace");
    let outside = dir.join("outside.csv");
    std::fs::write(&outside, "cycle,src,dst,size\n0,0,1,1\n3,2,16,1\n").unwrap();
    let arg = format!("trace:{}", outside.display());
    fails_with(
        &["noc", "--mesh", "4x4", "--traffic", &arg],
        &[
            &format!("{}:3:", outside.display()),
            "dst tile 16 is outside the 4x4 mesh",
        ],
    );
    let zero = dir.join("zero.csv");
    std::fs::write(&zero, "cycle,src,dst,size\n0,0,1,0\n").unwrap();
    let arg = format!("trace:{}", zero.display());
    fails_with(
        &["noc", "--mesh", "4x4", "--traffic", &arg],
        &[&format!("{}:2:", zero.display()), "size must be at least 1"],
    );
    let missing = dir.join("missing.csv");
    let arg = format!("trace:{}", missing.display());
    fails_with(
        &["noc", "--traffic", &arg],
        &["missing.csv", "cannot read trace"],
    );
}

/// `(h+1)·(routing + vc_alloc + sw_alloc + st_prepare + st_final) + h·link + (size−1)`,
/// recomputed here from the stage list.
fn formula(h: u64, size: u64, d: [u64; 6]) -> u64 {
    let [routing, va, sa, prep, fin, link] = d;
    (h + 1) * (routing + va + sa + prep + fin) + h * link + (size - 1)
}

#[test]
fn zero_load_latency_through_the_cli_matches_the_formula_for_every_hop_count() {
    let dir = scratch_dir("zeroload");
    // 4×4 mesh: one packet every 300 cycles from tile 0 to tiles at 0..=6 hops, then two
    // multi-flit packets; spaced so each travels alone.
    let dsts = [(0u16, 0u16), (1, 0), (1, 1), (3, 0), (3, 1), (3, 2), (3, 3)];
    let mut trace = String::from("cycle,src,dst,size\n");
    let mut want = Vec::new();
    for (i, &(x, y)) in dsts.iter().enumerate() {
        trace.push_str(&format!("{},0,{},1\n", i * 300, y * 4 + x));
        want.push((u64::from(x + y), 1u64));
    }
    trace.push_str("2400,15,0,4\n2700,5,6,3\n");
    want.push((6, 4));
    want.push((1, 3));
    let trace_path = dir.join("zl.csv");
    std::fs::write(&trace_path, trace).unwrap();
    let packets = dir.join("packets.csv");
    let traffic = format!("trace:{}", trace_path.display());
    for delays in [[1u64, 1, 1, 0, 1, 1], [0, 2, 1, 1, 2, 3]] {
        let ds: Vec<String> = delays.iter().map(u64::to_string).collect();
        let out = spikemesh(&[
            "noc",
            "--mesh",
            "4x4",
            "--traffic",
            &traffic,
            "--warmup",
            "0",
            "--cycles",
            "3000",
            "--buf",
            "4",
            "--routing-delay",
            &ds[0],
            "--vc-alloc-delay",
            &ds[1],
            "--sw-alloc-delay",
            &ds[2],
            "--st-prepare-delay",
            &ds[3],
            "--st-final-delay",
            &ds[4],
            "--link-delay",
            &ds[5],
            "--check-invariants",
            "--packet-trace",
            packets.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let csv = std::fs::read_to_string(&packets).unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("id,src,dst,size,created,injected,ejected,measured")
        );
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), want.len());
        for (row, &(h, size)) in rows.iter().zip(&want) {
            let created: u64 = row[4].parse().unwrap();
            let ejected: u64 = row[6].parse().unwrap();
            assert_eq!(row[3], size.to_string());
            assert_eq!(
                ejected - created,
                formula(h, size, delays),
                "{row:?} with {delays:?}"
            );
        }
    }
}

#[test]
fn same_seed_same_output_and_saturation_is_reported() {
    let args = [
        "noc",
        "--mesh",
        "4x4",
        "--rate",
        "0.9",
        "--warmup",
        "100",
        "--cycles",
        "1000",
        "--drain-cycles",
        "500",
        "--seed",
        "5",
        "--json",
    ];
    let a = spikemesh(&args);
    let b = spikemesh(&args);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
    let json: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(json["saturated"], true);
    assert!(json["accepted_rate"].as_f64().unwrap() < json["offered_rate"].as_f64().unwrap());
    let text = spikemesh(&args[..args.len() - 1]);
    assert!(text.status.success());
    let t = stdout(&text);
    assert!(t.contains("SATURATED"), "{t}");
    assert!(t.contains("still in flight"), "{t}");
}

#[test]
fn sweep_writes_csv_and_svg_whole() {
    let dir = scratch_dir("sweep");
    let csv = dir.join("curve.csv");
    let svg = dir.join("curve.svg");
    let out = spikemesh(&[
        "noc",
        "--mesh",
        "4x4",
        "--sweep",
        "0.05:0.85:0.4",
        "--warmup",
        "100",
        "--cycles",
        "1000",
        "--drain-cycles",
        "1000",
        "--csv",
        csv.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("rate,offered,accepted,avg_packet_latency"));
    let lat = |l: &str| l.split(',').nth(3).unwrap().parse::<f64>().unwrap();
    assert!(lat(lines[3]) > 5.0 * lat(lines[1]), "{text}");
    assert!(
        lines[1].ends_with(",0") && lines[3].ends_with(",1"),
        "{text}"
    );
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.starts_with("<svg") && plot.trim_end().ends_with("</svg>"));
    // One marker per point: a circle, or a triangle at the top edge when off the scale.
    assert_eq!(
        plot.matches("<circle").count() + plot.matches(" l-4.5,8 h9 z").count(),
        3
    );
    assert!(plot.contains("<polyline"));
    // Written atomically: no temporary file is left beside the outputs.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    // An unwritable destination is an error, not a partial file.
    let bad = dir.join("no-such-dir").join("x.csv");
    let out = spikemesh(&[
        "noc",
        "--mesh",
        "2x2",
        "--sweep",
        "0.1:0.1:0.1",
        "--cycles",
        "100",
        "--csv",
        bad.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot write the sweep CSV"),
        "{}",
        stderr(&out)
    );
}
