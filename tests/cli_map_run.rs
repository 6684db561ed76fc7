//! End to end through the command line: `spikemesh map` then `spikemesh run` on digits models,
//! checked against the golden model computed here; the demo; and every kind of bad input
//! (too-large model, unknown chip key, image of another format version, junk files) gets a
//! non-zero exit with a message, never a panic (exit code 101).

mod cli_support;

use cli_support::{random_binary_net, spikemesh, stderr};
use model::network::Network;
use model::{GoldenNetwork, LatencyEncoder};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::process::Output;

fn scratch_dir(test: &str) -> PathBuf {
    cli_support::scratch_dir(&format!("cli-map-run-{test}"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Golden accuracy and per-sample output times over the first `n` digits test images.
fn golden_figures(net: &Network, n: usize) -> (usize, Vec<model::ForwardTrace>) {
    let golden = GoldenNetwork::new(net).unwrap();
    let data = model::data::digits().unwrap();
    let enc = LatencyEncoder {
        rule: net.encoding.unwrap(),
        t_max: net.t_max,
    };
    let mut correct = 0;
    let mut traces = Vec::new();
    for k in 0..n.min(data.test.len()) {
        let trace = golden.forward(&enc.encode(data.test.image(k))).unwrap();
        correct += usize::from(trace.prediction == data.test.label(k));
        traces.push(trace);
    }
    (correct, traces)
}

/// `spikemesh run IMG --model MODEL` on the first `n` digits test images, plus `extra`: its
/// JSON report.
fn run_report(dir: &Path, img: &Path, model: &Path, n: usize, extra: &[&str]) -> serde_json::Value {
    let run_json = dir.join("run.json");
    let limit = n.to_string();
    let mut args = vec![
        "run",
        s(img),
        "--model",
        s(model),
        "--limit",
        &limit,
        "--report",
        s(&run_json),
    ];
    args.extend(extra);
    let out = spikemesh(&args);
    assert!(out.status.success(), "{extra:?}: {}", stderr(&out));
    json(&run_json)
}

#[test]
fn map_then_run_matches_the_golden_model() {
    let dir = scratch_dir("match");
    // Low thresholds: every sample has an output spike, so no decoding fallback is involved.
    let net = random_binary_net(21, &[40, 10], &[2, 0], 0.4, 32);
    let model = dir.join("model.json");
    net.save(&model).unwrap();
    let n = 120;
    let (golden_correct, traces) = golden_figures(&net, n);
    assert!(
        traces.iter().all(|t| t.fallback.is_none()),
        "the test network must spike at an output for every sample"
    );

    let img = dir.join("net.img");
    let map_json = dir.join("map.json");
    let out = spikemesh(&[
        "map",
        s(&model),
        "-o",
        s(&img),
        "--report",
        s(&map_json),
        "--seed",
        "3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("optimised") && text.contains("naive"),
        "{text}"
    );
    let report = json(&map_json);
    let cores = report["cores"].as_array().unwrap();
    assert_eq!(cores.len(), 2);
    let neurons: u64 = cores.iter().map(|c| c["neurons"].as_u64().unwrap()).sum();
    assert_eq!(neurons, 50);

    for (extra, stop) in [
        (&[][..], "first-output"),
        (&["--full-window"][..], "full-window"),
    ] {
        let r = run_report(&dir, &img, &model, n, extra);
        assert_eq!(r["stop_rule"], stop);
        let f = &r["figures"];
        assert_eq!(f["samples"].as_u64().unwrap() as usize, n);
        let expected = golden_correct as f64 / n as f64;
        assert_eq!(f["accuracy"].as_f64().unwrap(), expected, "{stop}");
        assert_eq!(f["golden_accuracy"].as_f64().unwrap(), expected, "{stop}");
        assert_eq!(
            f["golden_agreement"].as_u64().unwrap() as usize,
            n,
            "{stop}"
        );
        // The full window runs every timestep; the early stop never runs more.
        let ts = f["timesteps_mean"].as_f64().unwrap();
        if stop == "full-window" {
            assert_eq!(ts, 32.0);
        } else {
            assert!(ts <= 32.0);
            // It stops in the timestep of the earliest golden output (t_k − 1 is that timestep).
            let mean_first: f64 = traces
                .iter()
                .map(|t| f64::from(t.layer_times[1].iter().map(|x| x.0).min().unwrap()))
                .sum::<f64>()
                / n as f64;
            assert!((ts - mean_first).abs() < 1e-9, "{ts} vs {mean_first}");
        }
        // Per-tile energy sums to the total.
        let e = &r["energy"];
        let by_tile: f64 = e["by_tile"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t[1].as_f64().unwrap())
            .sum();
        let total = e["total_j"].as_f64().unwrap();
        assert!(
            total > 0.0 && (by_tile - total).abs() <= 1e-9 * total,
            "{by_tile} vs {total}"
        );
    }
}

/// Maps `decoded` (a network that differs from `before` only in its decoding rule) and checks
/// that the chip decodes `n` samples as the golden model does under each of `stops`, that the
/// image names the rule (`inspect_line`), and that the rule decides some samples differently
/// from `before`'s — or the check proves nothing.
fn decodes_on_chip_as_golden(
    dir: &Path,
    before: &model::Network,
    decoded: &model::Network,
    inspect_line: &str,
    stops: &[&[&str]],
) {
    let n = 120;
    let (before_correct, before_traces) = golden_figures(before, n);
    let (decoded_correct, decoded_traces) = golden_figures(decoded, n);
    let changed = before_traces
        .iter()
        .zip(&decoded_traces)
        .filter(|(a, b)| a.prediction != b.prediction)
        .count();
    assert!(changed > 0, "the rule decides no sample differently");
    let model = dir.join("model.bin");
    decoded.save(&model).unwrap();
    let img = dir.join("net.img");
    let out = spikemesh(&["map", s(&model), "-o", s(&img)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = spikemesh(&["image", "inspect", s(&img)]);
    assert!(stdout(&out).contains(inspect_line), "{}", stdout(&out));
    for stop in stops {
        let f = &run_report(dir, &img, &model, n, stop)["figures"];
        assert_eq!(
            f["golden_agreement"].as_u64().unwrap() as usize,
            n,
            "{stop:?}"
        );
        assert_eq!(
            f["accuracy"].as_f64().unwrap(),
            decoded_correct as f64 / n as f64,
            "{stop:?}: {changed} decisions changed; without the rule {before_correct}/{n}"
        );
    }
}

#[test]
fn tie_order_travels_from_model_to_chip_decoder() {
    let dir = scratch_dir("tie-order");
    let net = random_binary_net(21, &[40, 10], &[2, 0], 0.4, 32);
    let mut ordered = net.clone();
    ordered.tie_order = Some(model::TieOrder::new((0..10).rev().collect(), 10).unwrap());
    decodes_on_chip_as_golden(
        &dir,
        &net,
        &ordered,
        "output ties decoded in the order [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]",
        &[&[]],
    );
}

/// Ties decided by the crossing potentials (alone, and before a tie order): the output cores
/// keep each neuron's potential of its crossing step in the snapshot field, and the host
/// decodes as the golden model does — whether the chip stops at the first output spike or runs
/// the whole window.
#[test]
fn ties_by_potential_travel_from_model_to_chip_decoder() {
    let dir = scratch_dir("ties-by-potential");
    let mut net = random_binary_net(21, &[40, 10], &[2, 0], 0.4, 32);
    for order in [None, Some((0..10).rev().collect::<Vec<u16>>())] {
        net.tie_order = order.map(|o| model::TieOrder::new(o, 10).unwrap());
        let mut by_potential = net.clone();
        by_potential.ties_by_potential = true;
        decodes_on_chip_as_golden(
            &dir,
            &net,
            &by_potential,
            "output ties decoded by the largest potential at the crossing step first",
            &[&[], &["--full-window"]],
        );
    }
}

#[test]
fn raster_vcd_and_plots_agree_with_the_golden_hidden_layer() {
    let dir = scratch_dir("traces");
    let net = random_binary_net(5, &[30, 10], &[3, 1], 0.4, 24);
    let model = dir.join("model.json");
    net.save(&model).unwrap();
    let img = dir.join("net.img");
    let map_json = dir.join("map.json");
    let out = spikemesh(&["map", s(&model), "-o", s(&img), "--report", s(&map_json)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&map_json);
    let hidden_tile = report["cores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["layer"] == "hidden")
        .unwrap()["tile"]
        .as_u64()
        .unwrap();
    let (raster, vcd, plots) = (dir.join("r.csv"), dir.join("w.vcd"), dir.join("plots"));
    let n = 10;
    let out = spikemesh(&[
        "run",
        s(&img),
        "--model",
        s(&model),
        "--limit",
        "10",
        "--full-window",
        "--raster",
        s(&raster),
        "--vcd",
        s(&vcd),
        "--plots",
        s(&plots),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, traces) = golden_figures(&net, n);
    // The chip's hidden spikes: timestep of emission + 1 = golden spike time.
    let csv = std::fs::read_to_string(&raster).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("sample,timestep,tile,neuron"));
    let mut chip_hidden = vec![vec![net.t_max; 30]; n];
    for l in lines {
        let v: Vec<u64> = l.split(',').map(|x| x.parse().unwrap()).collect();
        if v[2] == hidden_tile {
            chip_hidden[v[0] as usize][v[3] as usize] = (v[1] + 1).min(u64::from(net.t_max)) as u16;
        }
    }
    for (k, t) in traces.iter().enumerate() {
        let golden: Vec<u16> = t.layer_times[0].iter().map(|x| x.0).collect();
        assert_eq!(chip_hidden[k], golden, "sample {k}");
    }
    // The VCD declares one done wire per core and has increasing times.
    let v = std::fs::read_to_string(&vcd).unwrap();
    for c in report["cores"].as_array().unwrap() {
        assert!(v.contains(&format!("done_tile{} $end", c["tile"])), "{v}");
    }
    let times: Vec<u64> = v
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|t| t.parse().unwrap())
        .collect();
    assert!(times.len() > 24 && times.windows(2).all(|w| w[0] < w[1]));
    for name in [
        "link_traffic",
        "energy_per_core",
        "cycles_per_timestep",
        "spike_raster",
    ] {
        let svg = std::fs::read_to_string(plots.join(format!("{name}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{name}"
        );
    }
    // One bar per timestep of the first sample.
    let bars = std::fs::read_to_string(plots.join("cycles_per_timestep.svg")).unwrap();
    assert_eq!(bars.matches("<rect x=").count(), 24);
}

#[test]
fn samples_without_output_spikes_decode_like_the_golden_fallback() {
    let dir = scratch_dir("fallback");
    // A high output threshold: some samples end with no output spike, and the class comes
    // from the potentials at t_max - fallback_offset.
    let net = random_binary_net(5, &[40, 10], &[2, 12], 0.4, 32);
    let model = dir.join("model.json");
    net.save(&model).unwrap();
    let n = 120;
    let (golden_correct, traces) = golden_figures(&net, n);
    let fallbacks = traces.iter().filter(|t| t.fallback.is_some()).count();
    assert!(
        fallbacks >= 10 && fallbacks < n,
        "the test network must need the fallback for some samples ({fallbacks} of {n})"
    );
    let img = dir.join("net.img");
    let out = spikemesh(&["map", s(&model), "-o", s(&img)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let f = &run_report(&dir, &img, &model, n, &[])["figures"];
    assert_eq!(
        f["accuracy"].as_f64().unwrap(),
        golden_correct as f64 / n as f64
    );
    assert_eq!(f["golden_agreement"].as_u64().unwrap() as usize, n);
}

#[test]
fn demo_trains_maps_and_runs_with_chip_equal_to_host() {
    let dir = scratch_dir("demo");
    let out = spikemesh(&["demo", "--epochs", "2", "--out", s(&dir)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("golden agreement 360/360 samples"), "{text}");
    // Chip and host accuracy are equal, whether or not some samples needed the decoding
    // fallback (the chip reads it from the output cores' potential snapshots).
    assert!(text.contains("(equal)"), "{text}");
    assert!(
        text.contains("loihi-datasheet") && text.contains("loihi-calibrated"),
        "{text}"
    );
    // Its files run again through `spikemesh run` with the same agreement.
    let out = spikemesh(&[
        "run",
        s(&dir.join("net.img")),
        "--model",
        s(&dir.join("model.json")),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("chip agrees on 360/360"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn model_too_large_for_the_chip_names_layer_and_limit() {
    let dir = scratch_dir("too-large");
    let model = dir.join("model.json");
    random_binary_net(1, &[40, 10], &[2, 1], 0.4, 16)
        .save(&model)
        .unwrap();
    let chip = dir.join("small.toml");
    std::fs::write(
        &chip,
        isa::chip::DEFAULT_CHIP_TOML.replace("axons = 1024", "axons = 32"),
    )
    .unwrap();
    let out = spikemesh(&[
        "map",
        s(&model),
        "--chip",
        s(&chip),
        "-o",
        s(&dir.join("x.img")),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    // Both layers break the limit (fan-in 64 and 40); the error names one and its need.
    assert!(
        (err.contains("\"hidden\"") && err.contains("core.axons >= 64"))
            || (err.contains("\"output\"") && err.contains("core.axons >= 40")),
        "{err}"
    );
    assert!(err.contains("the chip has 32"), "{err}");
    assert!(!dir.join("x.img").exists());

    let big = dir.join("big.json");
    // 600 hidden neurons need 3 cores of 256, the output one more: 4 cores on a 2x1 mesh.
    random_binary_net(1, &[600, 10], &[2, 1], 0.4, 16)
        .save(&big)
        .unwrap();
    let tiny = dir.join("tiny.toml");
    std::fs::write(
        &tiny,
        isa::chip::DEFAULT_CHIP_TOML.replace("width = 4\nheight = 4", "width = 2\nheight = 1"),
    )
    .unwrap();
    let out = spikemesh(&[
        "map",
        s(&big),
        "--chip",
        s(&tiny),
        "-o",
        s(&dir.join("y.img")),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("needs 4 cores") && err.contains("2x1 mesh") && err.contains("smallest mesh"),
        "{err}"
    );
    assert!(!dir.join("y.img").exists());
}

#[test]
fn chip_file_with_unknown_key_is_refused_by_map() {
    let dir = scratch_dir("unknown-key");
    let model = dir.join("model.json");
    random_binary_net(1, &[20, 10], &[2, 1], 0.4, 16)
        .save(&model)
        .unwrap();
    let chip = dir.join("typo.toml");
    std::fs::write(
        &chip,
        isa::chip::DEFAULT_CHIP_TOML.replace("fanout_entries", "fan_out_entries"),
    )
    .unwrap();
    let out = spikemesh(&[
        "map",
        s(&model),
        "--chip",
        s(&chip),
        "-o",
        s(&dir.join("x.img")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("fan_out_entries") && err.contains("typo.toml"),
        "{err}"
    );
}

#[test]
fn image_of_another_format_version_is_refused_by_run() {
    let dir = scratch_dir("version");
    let model = dir.join("model.json");
    random_binary_net(1, &[20, 10], &[2, 1], 0.4, 16)
        .save(&model)
        .unwrap();
    let img = dir.join("net.img");
    let out = spikemesh(&["map", s(&model), "-o", s(&img)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[8..12].copy_from_slice(&(isa::image::FORMAT_VERSION + 1).to_le_bytes());
    std::fs::write(&img, &bytes).unwrap();
    let out = spikemesh(&["run", s(&img), "--model", s(&model), "--limit", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("version") && err.contains("net.img"), "{err}");
}

#[test]
fn run_needs_the_encoding_and_a_matching_window() {
    let dir = scratch_dir("window");
    let model = dir.join("model.json");
    random_binary_net(1, &[20, 10], &[2, 1], 0.4, 16)
        .save(&model)
        .unwrap();
    let img = dir.join("net.img");
    assert!(spikemesh(&["map", s(&model), "-o", s(&img)])
        .status
        .success());
    let out = spikemesh(&["run", s(&img), "--limit", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--model"), "{}", stderr(&out));
    let out = spikemesh(&[
        "run",
        s(&img),
        "--limit",
        "2",
        "--tmax",
        "20",
        "--encoding",
        "bs4nn",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("t_max = 16"), "{}", stderr(&out));
    let out = spikemesh(&[
        "run",
        s(&img),
        "--limit",
        "2",
        "--tmax",
        "16",
        "--encoding",
        "bs4nn",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn junk_files_never_panic() {
    let dir = scratch_dir("junk");
    let model = dir.join("model.json");
    random_binary_net(1, &[20, 10], &[2, 1], 0.4, 16)
        .save(&model)
        .unwrap();
    let img = dir.join("net.img");
    assert!(spikemesh(&["map", s(&model), "-o", s(&img)])
        .status
        .success());
    let good_img = std::fs::read(&img).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut junks: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"{}".to_vec(),
        b"not json at all".to_vec(),
        b"SPKIMG\r\n".to_vec(),
        good_img[..good_img.len() / 2].to_vec(),
    ];
    for _ in 0..4 {
        junks.push((0..200).map(|_| rng.gen()).collect());
        let mut flipped = good_img.clone();
        let at = rng.gen_range(24..flipped.len());
        flipped[at] ^= 0x5a;
        junks.push(flipped);
    }
    for (i, junk) in junks.iter().enumerate() {
        let f = dir.join(format!("junk{i}"));
        std::fs::write(&f, junk).unwrap();
        let o = dir.join("out.img");
        for args in [
            vec!["map", s(&f), "-o", s(&o)],
            vec!["map", s(&model), "--chip", s(&f), "-o", s(&o)],
            vec!["run", s(&f), "--model", s(&model), "--limit", "2"],
            vec!["run", s(&img), "--model", s(&f), "--limit", "2"],
            vec![
                "run",
                s(&img),
                "--model",
                s(&model),
                "--limit",
                "2",
                "--profile",
                s(&f),
            ],
            vec![
                "run",
                s(&img),
                "--model",
                s(&model),
                "--dataset",
                &format!("mnist:{}", dir.display()),
            ],
        ] {
            let out = spikemesh(&args);
            assert_ne!(out.status.code(), Some(101), "{args:?}: {}", stderr(&out));
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
            assert!(
                stderr(&out).starts_with("error: "),
                "{args:?}: {}",
                stderr(&out)
            );
        }
    }
}

#[test]
fn run_against_another_model_fails_naming_the_first_mismatching_sample() {
    let dir = scratch_dir("mismatch");
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    let net_a = random_binary_net(31, &[30, 10], &[2, 0], 0.4, 24);
    let net_b = random_binary_net(32, &[30, 10], &[2, 0], 0.4, 24);
    net_a.save(&a).unwrap();
    net_b.save(&b).unwrap();
    let img = dir.join("a.img");
    assert!(spikemesh(&["map", s(&a), "-o", s(&img)]).status.success());
    // The first sample on which the two networks' golden outputs differ (as the chip sees them
    // with the full window: every output time below t_max).
    let (_, ta) = golden_figures(&net_a, 40);
    let (_, tb) = golden_figures(&net_b, 40);
    let first = (0..40)
        .find(|&k| ta[k].layer_times[1] != tb[k].layer_times[1])
        .expect("two random networks differ on some sample");
    let report = dir.join("run.json");
    let out = spikemesh(&[
        "run",
        s(&img),
        "--model",
        s(&b),
        "--limit",
        "40",
        "--full-window",
        "--report",
        s(&report),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("first: sample {first}:")), "{err}");
    // The report is still written, and records the disagreement.
    let r = json(&report);
    assert_eq!(
        r["figures"]["first_mismatch"]["sample"].as_u64(),
        Some(first as u64)
    );
    assert!(r["figures"]["golden_agreement"].as_u64().unwrap() < 40);
}

#[test]
fn map_and_run_are_deterministic() {
    let dir = scratch_dir("determinism");
    let model = dir.join("model.json");
    random_binary_net(41, &[60, 10], &[3, 1], 0.4, 32)
        .save(&model)
        .unwrap();
    let mut images = Vec::new();
    let mut reports = Vec::new();
    for i in 0..2 {
        let (img, map_json, run_json) = (
            dir.join(format!("net{i}.img")),
            dir.join(format!("map{i}.json")),
            dir.join(format!("run{i}.json")),
        );
        let out = spikemesh(&[
            "map",
            s(&model),
            "-o",
            s(&img),
            "--report",
            s(&map_json),
            "--seed",
            "9",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = spikemesh(&[
            "run",
            s(&img),
            "--model",
            s(&model),
            "--limit",
            "30",
            "--report",
            s(&run_json),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        images.push(std::fs::read(&img).unwrap());
        reports.push((std::fs::read(&map_json).unwrap(), json(&run_json)));
    }
    assert_eq!(images[0], images[1]);
    assert_eq!(reports[0].0, reports[1].0);
    // Identical but for the image's file name.
    let strip = |mut v: serde_json::Value| {
        v["image"] = serde_json::Value::Null;
        v
    };
    assert_eq!(strip(reports[0].1.clone()), strip(reports[1].1.clone()));
}
