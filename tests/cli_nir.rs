//! The multi-spike path through the command line: `spikemesh nir` imports a NIR file (the
//! converted digits network of `tests/data/nir/make_digits_lif.py`), `map` lowers it onto the
//! LIF firmware, `run` runs it cycle-accurately and checks every sample against the golden
//! model, `eval` scores it; bad files and mismatched model/image pairs exit 1 with a message
//! (never a panic, never a partial output file).

mod cli_support;

use cli_support::{run_with_report, scratch_dir, spikemesh, stderr, test_data};
use model::lif::{BiasTarget, LifNetwork, RateCode};
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture(name: &str) -> String {
    test_data("nir", name)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `spikemesh nir FIXTURE --dt 1 --reset subtract EXTRA -o OUT` (the converted digits networks
/// were trained with a unit step and reset by subtraction), asserting success.
fn nir_import(file: &str, out: &Path, extra: &[&str]) -> Output {
    nir_import_as(file, "1", "subtract", out, extra)
}

/// `spikemesh nir FIXTURE --dt DT --reset RESET EXTRA -o OUT`, asserting success.
fn nir_import_as(file: &str, dt: &str, reset: &str, out: &Path, extra: &[&str]) -> Output {
    let fixture = fixture(file);
    let mut args = vec!["nir", &fixture, "--dt", dt, "--reset", reset];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-o", s(out)]);
    let o = spikemesh(&args);
    assert!(o.status.success(), "{file}: {}", stderr(&o));
    o
}

/// `spikemesh map MODEL -o IMAGE EXTRA`, asserting success.
fn map(model: &Path, image: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["map", s(model), "-o", s(image)];
    args.extend_from_slice(extra);
    let o = spikemesh(&args);
    assert!(
        o.status.success(),
        "map {}: {}",
        model.display(),
        stderr(&o)
    );
    o
}

fn import(dir: &Path, steps: &str) -> PathBuf {
    let model = dir.join(format!("digits-if-{steps}.json"));
    let o = nir_import(
        "digits_if.nir",
        &model,
        &["--steps", steps, "--dataset", "digits"],
    );
    let out = stdout(&o);
    assert!(out.contains("fc1+n1") && out.contains("fc2+n2"), "{out}");
    assert!(out.contains("quantised (chip) model"), "{out}");
    model
}

#[test]
fn nir_import_maps_runs_on_the_chip_and_evaluates() {
    let dir = scratch_dir("cli-nir");
    let model = import(&dir, "24");
    let net = LifNetwork::load(&model).expect("the written model loads");
    assert_eq!((net.inputs, net.steps, net.outputs()), (64, 24, 10));

    let image = dir.join("digits-if.img");
    map(&model, &image, &[]);

    // The raster holds every spike of every layer (multi-spike neurons), as many as the
    // golden model counts.
    let raster = dir.join("raster.csv");
    let o = spikemesh(&[
        "run",
        s(&image),
        "--model",
        s(&model),
        "--limit",
        "5",
        "--raster",
        s(&raster),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = std::fs::read_to_string(&raster).unwrap().lines().count() - 1;
    let test = model::data::digits().unwrap().test;
    let golden: u32 = (0..5)
        .map(|k| {
            let r = net.forward(&RateCode::Regular.encode(test.image(k), net.steps));
            r.layer_counts.iter().flatten().sum::<u32>()
        })
        .sum();
    assert_eq!(lines, golden as usize);
    assert!(lines > 100, "only {lines} spikes in 5 samples");

    let (o, json) = run_with_report(&image, &model, "40", &dir.join("run.json"));
    let out = stdout(&o);
    assert!(out.contains("chip agrees on 40/40 samples"), "{out}");
    assert_eq!(json["lif_steps"], 24);
    assert_eq!(json["t_max"], serde_json::Value::Null);
    assert_eq!(json["stop_rule"], "full-window");
    assert!(json["energy"]["total_j"].as_f64().unwrap() > 0.0);

    // `eval` prints the golden accuracy computed here from the loaded model.
    let correct = (0..test.len())
        .filter(|&k| {
            net.forward(&RateCode::Regular.encode(test.image(k), net.steps))
                .class
                == test.label(k)
        })
        .count();
    let o = spikemesh(&["eval", s(&model)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let want = format!("({correct}/360)");
    assert!(out.contains(&want), "want {want} in {out}");
    assert!(
        correct >= 335,
        "the converted network scores only {correct}/360"
    );
}

#[test]
fn convolutional_nir_network_runs_on_the_chip_like_the_golden_model() {
    // digits_conv.nir: conv(8 channels, 3×3, stride 2, padding 1) → IF → flatten → dense → IF.
    let dir = scratch_dir("cli-nir-conv");
    let model = dir.join("conv.json");
    let o = nir_import("digits_conv.nir", &model, &[]);
    assert!(stdout(&o).contains("conv+n1"), "{}", stdout(&o));
    let net = LifNetwork::load(&model).unwrap();
    let conv = net.layers[0]
        .conv
        .expect("the first layer is convolutional");
    assert_eq!(
        (conv.out_channels, conv.out_height(), conv.stride),
        (8, 4, 2)
    );
    // Small cores split the conv layer over several cores.
    let chip = dir.join("small.toml");
    std::fs::write(
        &chip,
        isa::chip::DEFAULT_CHIP_TOML.replace("neurons = 256", "neurons = 32"),
    )
    .unwrap();
    let image = dir.join("conv.img");
    let o = map(&model, &image, &["--chip", s(&chip)]);
    assert!(stdout(&o).contains("5 cores used"), "{}", stdout(&o));
    let o = spikemesh(&["run", s(&image), "--model", s(&model), "--limit", "60"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("chip agrees on 60/60 samples"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn leaky_integrator_read_out_runs_on_the_chip_like_the_golden_model() {
    // digits_li.nir: the converted perceptron with an LI output layer, read out by voltage.
    let dir = scratch_dir("cli-nir-li");
    let model = dir.join("li.json");
    let o = nir_import("digits_li.nir", &model, &[]);
    assert!(
        stdout(&o).contains("highest voltage after the last step"),
        "{}",
        stdout(&o)
    );
    let image = dir.join("li.img");
    map(&model, &image, &[]);
    let o = spikemesh(&["run", s(&image), "--model", s(&model), "--limit", "60"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("chip agrees on 60/60 samples (output spike counts, first spikes, final voltages and class)"),
        "{out}"
    );
}

#[test]
fn nir_delay_nodes_run_on_the_chip_like_the_golden_model() {
    // digits_delay.nir: digits_lif.nir with a Delay of 2 steps on every input spike and one of
    // j mod 5 steps on output neuron j's input current (make_fixtures.py `digits_delay`).
    let dir = scratch_dir("cli-nir-delay");
    let model = dir.join("delay.json");
    let o = nir_import("digits_delay.nir", &model, &["--steps", "32"]);
    let out = stdout(&o);
    assert!(
        out.contains("input delays of fc1+n1: 2-2 steps")
            && out.contains("input delays of fc2+n2: 0-4 steps (Delay nodes; the chip needs core.delay_slots >= 5)"),
        "{out}"
    );
    let net = LifNetwork::load(&model).unwrap();
    assert_eq!(net.layers[0].input_delays, [2; 64]);
    let want: Vec<u8> = (0..10).map(|j| j % 5).collect();
    assert_eq!(net.layers[1].input_delays, want);
    let image = dir.join("delay.img");
    map(&model, &image, &[]);
    let o = spikemesh(&["run", s(&image), "--model", s(&model), "--limit", "60"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("chip agrees on 60/60 samples (output spike counts, first spikes and class)"),
        "{out}"
    );
}

#[test]
fn bad_nir_files_and_mismatched_pairs_exit_1_with_a_message() {
    let dir = scratch_dir("cli-nir-bad");
    for (file, want) in [
        ("not_hdf5.nir", "not an HDF5 file"),
        (
            "broken_missing_weight.nir",
            "missing dataset `weight` in node `fc1`",
        ),
        // Reset to 0.25 (NIR's v_reset) without --reset subtract.
        ("lif_mlp.nir", "node `lif1` (LIF): v_reset[1]"),
        (
            "conv.nir",
            "node `flat` (Flatten) after the weight node `conv`",
        ),
        (
            "pool_net.nir",
            "node `same` (Conv2d): dilation: [2, 1]: only dilation 1 maps",
        ),
    ] {
        let out = dir.join(format!("{file}.json"));
        let o = spikemesh(&["nir", &fixture(file), "--dt", "0.001", "-o", s(&out)]);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(want) && err.contains(file), "{file}: {err}");
        assert!(!out.exists(), "{file}: an output file was left behind");
    }
    // Per-neuron time constants import as per-neuron decays, shown as a range.
    let out = dir.join("lif_mlp.json");
    let o = nir_import_as("lif_mlp.nir", "0.001", "subtract", &out, &[]);
    let net = LifNetwork::load(&out).unwrap();
    let dv = &net.layers[0].dv_per_neuron;
    let (lo, hi) = (dv.iter().min().unwrap(), dv.iter().max().unwrap());
    assert!(lo < hi, "{dv:?}");
    assert!(stdout(&o).contains(&format!("{lo}-{hi}")), "{}", stdout(&o));
    // Without --reset subtract, NIR's reset is honoured: v_reset is 0 here, so it imports.
    let o = spikemesh(&[
        "nir",
        &fixture("digits_if.nir"),
        "--dt",
        "1",
        "-o",
        s(&dir.join("zero.json")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    let model = import(&dir, "8");
    let image = dir.join("m.img");
    map(&model, &image, &[]);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", s(&image)], "give --model"),
        (
            vec!["run", s(&image), "--model", s(&model), "--tmax", "8"],
            "--tmax and --encoding apply to TTFS images",
        ),
        (
            vec!["map", s(&model), "-o", s(&image), "--learning"],
            "multi-spike LIF network",
        ),
    ];
    let digits_nir = fixture("digits_if.nir");
    let cases: Vec<(Vec<&str>, &str)> = cases
        .into_iter()
        .chain([
            (
                vec!["map", digits_nir.as_str(), "-o", s(&image)],
                "is an HDF5 file (a NIR graph?): import it first with `spikemesh nir",
            ),
            (vec!["eval", digits_nir.as_str()], "import it first"),
        ])
        .collect();
    for (args, want) in cases {
        let o = spikemesh(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    // A TTFS model against the LIF image, and the LIF model against a TTFS image.
    let ttfs = dir.join("ttfs.json");
    let o = spikemesh(&[
        "train",
        "--dataset",
        "digits",
        "--arch",
        "64-20-10",
        "--epochs",
        "1",
        "-o",
        s(&ttfs),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = spikemesh(&["run", s(&image), "--model", s(&ttfs)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("single-spike (TTFS) network"),
        "{}",
        stderr(&o)
    );
    let ttfs_img = dir.join("ttfs.img");
    map(&ttfs, &ttfs_img, &[]);
    let o = spikemesh(&["run", s(&ttfs_img), "--model", s(&model)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a LIF image"), "{}", stderr(&o));
}

#[test]
fn recurrent_nir_layer_in_snntorchs_nested_form_runs_on_the_chip() {
    // `digits_rnn.nir` (make_digits_rnn.py): digits_if.nir with its output neurons replaced by
    // snnTorch's recurrent-layer subgraph {input → lif ⇄ w_rec, lif → output}, w_rec lateral
    // inhibition.
    let dir = scratch_dir("cli-nir-rnn");
    let model = dir.join("rnn.json");
    let o = nir_import(
        "digits_rnn.nir",
        &model,
        &["--steps", "32", "--dataset", "digits"],
    );
    let out = stdout(&o);
    assert!(
        out.contains("fc2+rnn.lif") && out.contains("10x64+rec"),
        "{out}"
    );
    let net = LifNetwork::load(&model).unwrap();
    assert!(net.layers[0].recurrent.is_empty());
    assert_eq!(net.layers[1].recurrent.len(), 100);
    // Inhibition: every off-diagonal weight negative, the diagonal 0.
    for j in 0..10 {
        for k in 0..10 {
            let w = net.layers[1].recurrent[j * 10 + k];
            assert!(if j == k { w == 0 } else { w < 0 }, "w[{j}][{k}] = {w}");
        }
    }
    // The recurrence changes the output spike counts of the same network without it.
    let plain = import(&dir, "32");
    let plain = LifNetwork::load(&plain).unwrap();
    let test = model::data::digits().unwrap().test;
    let changed = (0..40)
        .filter(|&k| {
            let spikes = RateCode::Regular.encode(test.image(k), 32);
            net.forward(&spikes).output_counts != plain.forward(&spikes).output_counts
        })
        .count();
    assert!(
        changed >= 20,
        "inhibition changes only {changed} of 40 samples"
    );

    let image = dir.join("rnn.img");
    map(&model, &image, &[]);
    let o = spikemesh(&["run", s(&image), "--model", s(&model)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("chip agrees on 360/360 samples"), "{out}");
    let correct = (0..test.len())
        .filter(|&k| {
            net.forward(&RateCode::Regular.encode(test.image(k), 32))
                .class
                == test.label(k)
        })
        .count();
    assert!(
        out.contains(&format!("({correct}/360)")),
        "want {correct}/360 in {out}"
    );
    assert!(correct >= 335, "only {correct}/360");
}

/// One network a framework trained and exported: its name (the fixture `NAME.nir` and the
/// key of the framework's predictions), the `--reset` it imports with and the reset that gives.
struct Export {
    name: &'static str,
    reset: &'static str,
    want: model::lif::LifReset,
}

/// Imports each of a framework's exports (`--dt DT --convention CONVENTION`), runs it on the
/// chip (== golden on all 360 test digits) and compares it decision by decision with the
/// framework's own forward pass (`REPORT`: accuracy and predictions per network): the import's
/// float model run with the framework's timing (no delay between layers) and unquantised
/// weights is the framework's network and must take its decisions on every image (up to the
/// 12-bit rounding of the decays); the chip adds one step of delay per layer and quantises to
/// 8-bit weights, so a few decisions may differ. `check` asserts what each network must have
/// become.
fn runs_like_the_framework(
    framework: &str,
    report: &str,
    dt: &str,
    convention: mapper::import::Convention,
    exports: &[Export],
    check: impl Fn(&str, &LifNetwork),
) {
    let dir = scratch_dir(&format!("cli-nir-{framework}"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(report)).unwrap()).unwrap();
    let test = model::data::digits().unwrap().test;
    let convention_arg = match convention {
        mapper::import::Convention::Nir => "nir",
        mapper::import::Convention::Norse => "norse",
    };
    for &Export { name, reset, want } in exports {
        let model = dir.join(format!("{name}.json"));
        let file = format!("{name}.nir");
        nir_import_as(
            &file,
            dt,
            reset,
            &model,
            &["--steps", "32", "--convention", convention_arg],
        );
        let net = LifNetwork::load(&model).unwrap();
        assert!(net
            .layers
            .iter()
            .all(|l| l.neuron.reset == want || l.silent()));
        check(name, &net);
        let image = dir.join(format!("{name}.img"));
        map(&model, &image, &[]);
        let o = spikemesh(&["run", s(&image), "--model", s(&model)]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(
            stdout(&o).contains("chip agrees on 360/360 samples"),
            "{name}: {}",
            stdout(&o)
        );
        let theirs = report[name]["predictions"].as_array().unwrap();
        let (mut same, mut correct) = (0, 0);
        assert_eq!(theirs.len(), test.len());
        for (k, their) in theirs.iter().enumerate() {
            let ours = net
                .forward(&RateCode::Regular.encode(test.image(k), 32))
                .class;
            same += usize::from(their.as_u64() == Some(ours as u64));
            correct += usize::from(ours == test.label(k));
        }
        let graph = mapper::read_nir(Path::new(&fixture(&file))).unwrap();
        let imported = mapper::import::lower_nir(
            &graph,
            &file,
            &mapper::import::ImportOptions {
                dt: dt.parse().unwrap(),
                steps: 32,
                reset: Some(want),
                convention,
                ..mapper::import::ImportOptions::default()
            },
        )
        .unwrap();
        let float_same = theirs
            .iter()
            .enumerate()
            .filter(|(k, their)| {
                let spikes = RateCode::Regular.encode(test.image(*k), 32);
                let class = mapper::import::euler_forward_timed(
                    &imported.float,
                    64,
                    &spikes,
                    32,
                    mapper::import::LayerTiming::SameStep,
                )
                .class(net.readout);
                their.as_u64() == Some(class as u64)
            })
            .count();
        let accuracy = report[name]["accuracy"].as_f64().unwrap();
        let ours = correct as f64 / 360.0;
        eprintln!(
            "{name}: {framework} {:.2} %, chip {:.2} %, same decision on {same}/360; float model with {framework}'s timing: same decision on {float_same}/360",
            100.0 * accuracy,
            100.0 * ours
        );
        assert_eq!(
            float_same, 360,
            "{name}: the float model with {framework}'s timing differs from {framework}"
        );
        assert!(
            same >= 345,
            "{name}: same decision as {framework} on only {same}/360"
        );
        assert!(
            (ours - accuracy).abs() <= 0.02,
            "{name}: chip {ours} vs {framework} {accuracy}"
        );
    }
}

#[test]
fn networks_trained_and_exported_by_snntorch_run_on_the_chip_like_snntorch() {
    // make_snntorch_digits.py: trained with snnTorch on the digits, exported by snnTorch's own
    // exporter (dt = 1e-4, delayed subtraction). Leaky with a learned beta per neuron
    // (per-neuron decays); RLeaky (a recurrent hidden layer); Synaptic (current-based,
    // CubaLIF); a Conv2d + Leaky CNN; Leaky reset to zero (NIR's own reset to v_reset = 0);
    // RSynaptic (recurrent and current-based); Synaptic and RSynaptic with every Linear
    // biased (a constant input to the synaptic current).
    use model::lif::LifReset::{SubtractNext, Zero};
    let next = |name| Export {
        name,
        reset: "subtract-next",
        want: SubtractNext,
    };
    runs_like_the_framework(
        "snnTorch",
        "snntorch_digits.json",
        "1e-4",
        mapper::import::Convention::Nir,
        &[
            next("snntorch_leaky"),
            next("snntorch_rleaky"),
            next("snntorch_synaptic"),
            next("snntorch_conv"),
            Export {
                name: "snntorch_zero",
                reset: "nir",
                want: Zero,
            },
            next("snntorch_rsynaptic"),
            next("snntorch_synaptic_bias"),
            next("snntorch_rsynaptic_bias"),
        ],
        |name, net| match name {
            "snntorch_leaky" => assert!(net.layers.iter().all(|l| l.has_per_neuron_decays())),
            "snntorch_rleaky" => assert!(net.layers[0].is_recurrent()),
            // A synaptic current that lasts (du < 4095: α = 0.5 gives du + 1 = 2048).
            "snntorch_synaptic" => assert_eq!(net.layers[0].neuron.du, 2047),
            "snntorch_conv" => assert!(net.layers[0].conv.is_some()),
            "snntorch_rsynaptic" => {
                assert!(net.layers[0].is_recurrent());
                assert_eq!(net.layers[0].neuron.du, 2047);
            }
            // Biased Linear layers before Synaptic neurons: the bias feeds the current.
            "snntorch_synaptic_bias" | "snntorch_rsynaptic_bias" => {
                assert!(net
                    .layers
                    .iter()
                    .all(|l| l.bias_target == BiasTarget::Current
                        && l.bias_mant.iter().any(|&m| m != 0)));
                assert_eq!(
                    net.layers[0].is_recurrent(),
                    name == "snntorch_rsynaptic_bias"
                );
            }
            _ => {}
        },
    );
}

#[test]
fn networks_trained_and_exported_by_norse_run_on_the_chip_like_norse() {
    // make_norse_digits.py: trained with Norse on the digits (dt = 1e-3, reset to 0 in the
    // spike's step), exported by Norse's own `to_nir`, which writes dt·τ as tau and leaves out
    // w_in: imported with `--convention norse`. LIFBox with per-neuron time constants;
    // LIF (current-based, CubaLIF); an LI read-out (final voltage); a Conv2d + LIFBox CNN; IAF;
    // LIF after biased Linear layers (the bias feeds the current).
    let zero = |name| Export {
        name,
        reset: "nir",
        want: model::lif::LifReset::Zero,
    };
    runs_like_the_framework(
        "Norse",
        "norse_digits.json",
        "1e-3",
        mapper::import::Convention::Norse,
        &[
            zero("norse_lif"),
            zero("norse_cuba"),
            zero("norse_li"),
            zero("norse_conv"),
            zero("norse_if"),
            zero("norse_cuba_bias"),
        ],
        |name, net| {
            let hidden = &net.layers[0].neuron;
            match name {
                // 1/τ from 50 to 200 per second at dt = 1 ms: dt/τ from 0.05 to 0.2.
                "norse_lif" => {
                    assert!(net.layers[0].has_per_neuron_decays());
                    let dv = &net.layers[0].dv_per_neuron;
                    assert!(dv.iter().all(|&d| (205..=819).contains(&d)), "{dv:?}");
                }
                // 1/τ_syn = 200, 1/τ_mem = 100 per second: du + 1 = 819, dv = 410.
                "norse_cuba" => assert_eq!((hidden.du, hidden.dv), (818, 410)),
                "norse_li" => assert_eq!(net.readout, model::lif::Readout::FinalVoltage),
                "norse_conv" => assert!(net.layers[0].conv.is_some()),
                "norse_if" => assert_eq!((hidden.du, hidden.dv), (4095, 0)),
                "norse_cuba_bias" => assert!(net
                    .layers
                    .iter()
                    .all(|l| l.bias_target == BiasTarget::Current)),
                _ => {}
            }
        },
    );
}
