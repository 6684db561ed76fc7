//! `spikemesh explore` through the command line: every grid point's row equals `map` then
//! `run` on that point's chip file; points that do not fit are rows with the mapper's reason;
//! the CSV does not depend on the thread count; the Pareto column is the front of its own
//! figures; bad settings exit 1 before anything runs, with no output file.

mod cli_support;

use cli_support::{random_binary_net, run_with_report, scratch_dir, spikemesh, stderr};
use model::network::Network;
use std::path::Path;
use std::process::{Command, Output};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A random binary 64-100-10 network that spikes on the digits.
fn random_net() -> Network {
    random_binary_net(7, &[100, 10], &[3, 2], 0.4, 64)
}

/// The CSV as a header and rows of cells (no quoted commas in these tests' values).
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect::<Vec<String>>());
    let header = lines.next().unwrap();
    (header, lines.collect())
}

fn cell<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    let k = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    &row[k]
}

fn num(header: &[String], row: &[String], name: &str) -> f64 {
    cell(header, row, name).parse().unwrap()
}

fn explore(model: &Path, dir: &Path, tag: &str, threads: &str) -> Output {
    let csv = dir.join(format!("{tag}.csv"));
    let svg = dir.join(format!("{tag}.svg"));
    Command::new(env!("CARGO_BIN_EXE_spikemesh"))
        .env("RAYON_NUM_THREADS", threads)
        .args([
            "explore",
            s(model),
            "--vary",
            "mesh=2x2,3x3",
            "--vary",
            "router.buffer_depth=1,4",
            "--vary",
            "core.neurons=32,128",
            "--limit",
            "40",
            "--csv",
            s(&csv),
            "--plot",
            s(&svg),
        ])
        .output()
        .unwrap()
}

#[test]
fn every_point_equals_map_then_run_on_its_chip() {
    let dir = scratch_dir("cli-explore-points");
    let model = dir.join("net.json");
    random_net().save(&model).unwrap();
    let o = explore(&model, &dir, "one", "1");
    assert!(o.status.success(), "{}", stderr(&o));
    let (header, rows) = read_csv(&dir.join("one.csv"));
    assert_eq!(rows.len(), 8, "2 x 2 x 2 points");
    assert!(rows.iter().all(|r| r.len() == header.len()), "ragged CSV");
    let svg = std::fs::read_to_string(dir.join("one.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));

    let mut ran = 0;
    for row in &rows {
        let (mesh, depth, neurons) = (&row[0], &row[1], &row[2]);
        // 100 hidden neurons on 32-neuron cores take 4 cores, plus the output core: 5 > 2x2.
        if mesh == "2x2" && neurons == "32" {
            assert_eq!(cell(&header, row, "status"), "not-mapped", "{row:?}");
            assert!(
                cell(&header, row, "detail").contains("needs 5 cores"),
                "{row:?}"
            );
            continue;
        }
        assert_eq!(cell(&header, row, "status"), "ran", "{row:?}");
        assert_eq!(num(&header, row, "golden_agreement"), 40.0);
        ran += 1;

        // The same point by hand: its chip file, `map`, `run --report`.
        let (w, h) = mesh.split_once('x').unwrap();
        let text = String::from_utf8(spikemesh(&["chip", "default"]).stdout)
            .unwrap()
            .replace("width = 4", &format!("width = {w}"))
            .replace("height = 4", &format!("height = {h}"))
            .replace("buffer_depth = 4", &format!("buffer_depth = {depth}"))
            .replace("neurons = 256", &format!("neurons = {neurons}"));
        let chip = dir.join(format!("chip-{mesh}-{depth}-{neurons}.toml"));
        std::fs::write(&chip, text).unwrap();
        let image = dir.join("point.img");
        let m = spikemesh(&["map", s(&model), "--chip", s(&chip), "-o", s(&image)]);
        assert!(m.status.success(), "{}", stderr(&m));
        let (_, rep) = run_with_report(&image, &model, "40", &dir.join("point.json"));
        let f = &rep["figures"];
        for (column, json) in [
            ("accuracy", &f["accuracy"]),
            ("cycles_per_inference_mean", &f["cycles_per_inference_mean"]),
            ("cycles_per_timestep_max", &f["cycles_per_timestep_max"]),
            (
                "synaptic_ops_per_inference",
                &f["events_per_inference"]["synaptic_ops"],
            ),
            ("packets_per_inference", &f["packets_per_inference"]),
            ("link_utilisation_max", &f["link_utilisation_max"]),
            ("energy_per_inference_j", &rep["energy"]["total_j"]),
        ] {
            let want = json.as_f64().unwrap();
            let got = num(&header, row, column);
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                "{mesh} {depth} {neurons}: {column} explore {got} vs run {want}"
            );
        }
    }
    assert_eq!(ran, 6);
    assert_eq!(
        svg.matches("<circle").count(),
        6,
        "one dot per point that ran"
    );

    // The Pareto column is the front of the rows' own cycles and energy (every point has the
    // same accuracy: chip settings do not change what the network computes).
    let pts: Vec<(f64, f64, bool)> = rows
        .iter()
        .filter(|r| cell(&header, r, "status") == "ran")
        .map(|r| {
            (
                num(&header, r, "cycles_per_inference_mean"),
                num(&header, r, "energy_per_inference_j"),
                cell(&header, r, "pareto") == "true",
            )
        })
        .collect();
    let accuracies: Vec<&str> = rows
        .iter()
        .filter(|r| cell(&header, r, "status") == "ran")
        .map(|r| cell(&header, r, "accuracy"))
        .collect();
    assert!(
        accuracies.iter().all(|a| *a == accuracies[0]),
        "{accuracies:?}"
    );
    for &(c, e, star) in &pts {
        let dominated = pts
            .iter()
            .any(|&(c2, e2, _)| c2 <= c && e2 <= e && (c2 < c || e2 < e));
        assert_eq!(star, !dominated, "({c}, {e})");
    }
    assert!(pts.iter().any(|p| p.2));

    // Two threads: the same bytes.
    let o = explore(&model, &dir, "two", "2");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dir.join("one.csv")).unwrap(),
        std::fs::read(dir.join("two.csv")).unwrap()
    );
}

#[test]
fn bad_settings_fail_before_running_and_write_nothing() {
    let dir = scratch_dir("cli-explore-bad");
    let model = dir.join("net.json");
    random_net().save(&model).unwrap();
    let csv = dir.join("bad.csv");
    for (vary, expect) in [
        (
            vec!["router.buffer_dept=1,2"],
            "no chip-file key `router.buffer_dept`",
        ),
        (vec!["core.neurons=64,0"], "`core.neurons` = 0: must be in"),
        (vec!["core.neurons=64,lots"], "expects an integer"),
        (vec!["mesh=4"], "is not WIDTHxHEIGHT"),
        (vec!["mesh=2x2", "mesh.width=3"], "set the same key"),
        (vec!["energy.profile=nonesuch"], "nonesuch"),
    ] {
        let mut args = vec!["explore", s(&model), "--csv", s(&csv)];
        for v in &vary {
            args.extend_from_slice(&["--vary", v]);
        }
        let o = spikemesh(&args);
        assert_eq!(o.status.code(), Some(1), "{vary:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{vary:?}: {}", stderr(&o));
        assert!(!csv.exists(), "{vary:?} wrote a CSV");
    }
}

#[test]
fn a_lif_models_window_is_an_axis_that_trades_accuracy() {
    // The converted digits perceptron (tests/data/nir/digits_if.nir) over 4 and 32 steps on
    // two core sizes: every point golden-checked, over the window it was given; the longer
    // window costs cycles and energy and buys accuracy.
    let dir = scratch_dir("cli-explore-steps");
    let model = dir.join("lif.json");
    let nir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nir/digits_if.nir");
    let o = spikemesh(&[
        "nir",
        s(&nir),
        "--dt",
        "1",
        "--reset",
        "subtract",
        "-o",
        s(&model),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = dir.join("steps.csv");
    let o = spikemesh(&[
        "explore",
        s(&model),
        "--vary",
        "steps=4,32",
        "--vary",
        "core.neurons=32,64",
        "--limit",
        "60",
        "--csv",
        s(&csv),
        "--plot",
        s(&dir.join("steps.svg")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (header, rows) = read_csv(&csv);
    assert_eq!(rows.len(), 4);
    let row = |steps: &str, neurons: &str| {
        rows.iter()
            .find(|r| r[0] == steps && r[1] == neurons)
            .unwrap()
            .clone()
    };
    for r in &rows {
        assert_eq!(num(&header, r, "golden_agreement"), 60.0, "{r:?}");
        assert_eq!(
            num(&header, r, "timesteps_mean"),
            r[0].parse::<f64>().unwrap()
        );
    }
    let (short, long) = (row("4", "64"), row("32", "64"));
    for column in ["cycles_per_inference_mean", "energy_per_inference_j"] {
        assert!(
            num(&header, &long, column) > 4.0 * num(&header, &short, column),
            "{column}"
        );
    }
    assert!(num(&header, &long, "accuracy") > num(&header, &short, "accuracy"));
    // Whatever else is on the 3-way front, a most accurate point is (nothing beats it there).
    let best = rows
        .iter()
        .map(|r| num(&header, r, "accuracy"))
        .fold(0.0, f64::max);
    assert!(rows
        .iter()
        .any(|r| num(&header, r, "accuracy") == best && cell(&header, r, "pareto") == "true"));

    // A single-spike model has no steps to vary.
    let ttfs = dir.join("ttfs.json");
    random_net().save(&ttfs).unwrap();
    let o = spikemesh(&["explore", s(&ttfs), "--vary", "steps=4,8", "--csv", s(&csv)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("single-spike (TTFS) model"),
        "{}",
        stderr(&o)
    );
}
