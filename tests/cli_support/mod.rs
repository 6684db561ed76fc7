//! What every CLI test needs to drive the built `spikemesh` binary: running it with arguments
//! and reading its error output.
#![allow(dead_code)]

use model::network::{Dense, Layer, LayerKind, Network, NeuronModel, Shape, Threshold, Weights};
use model::EncodingRule;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::process::{Command, Output};

/// Runs the `spikemesh` binary of this build with `args` and collects its output.
pub fn spikemesh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spikemesh"))
        .args(args)
        .output()
        .expect("the spikemesh binary runs")
}

/// The command's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scratch directory `spikemesh-{name}-{pid}` under the system's temporary directory,
/// created if missing: one per test suite (or test) and process, so parallel runs do not
/// share files.
pub fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("spikemesh-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `spikemesh train` on the embedded digits with `rule`, `arch`, `epochs` and `seed`,
/// writing the model to `out`, plus the `extra` options.
pub fn train_digits(
    rule: &str,
    arch: &str,
    epochs: &str,
    seed: &str,
    out: &str,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "train",
        "--dataset",
        "digits",
        "--rule",
        rule,
        "--arch",
        arch,
        "--epochs",
        epochs,
        "--seed",
        seed,
        "-o",
        out,
    ];
    args.extend_from_slice(extra);
    spikemesh(&args)
}

/// A random binary digits network `64 → sizes…` (S4NN neurons, BS4NN encoding), each weight
/// −1 with probability `p_negative`, layer thresholds `thetas`: a model that maps and spikes on
/// the digits without training.
pub fn random_binary_net(
    seed: u64,
    sizes: &[u32],
    thetas: &[i32],
    p_negative: f64,
    t_max: u16,
) -> Network {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut inputs = 64;
    let mut layers = Vec::new();
    for (l, (&outputs, &theta)) in sizes.iter().zip(thetas).enumerate() {
        let name = match l {
            _ if l + 1 == sizes.len() => "output".to_string(),
            0 => "hidden".to_string(),
            _ => format!("hidden{l}"),
        };
        layers.push(Layer {
            name,
            kind: LayerKind::Dense(Dense {
                inputs,
                outputs,
                neuron: NeuronModel::S4NN,
                weights: Weights::random_signs((inputs * outputs) as usize, p_negative, &mut rng),
                threshold: Threshold::Layer(theta),
                scale: None,
            }),
        });
        inputs = outputs;
    }
    let net = Network {
        format_version: model::FORMAT_VERSION,
        input: Shape::Flat { size: 64 },
        t_max,
        encoding: Some(EncodingRule::Bs4nn),
        fallback_offset: 3,
        tie_order: None,
        ties_by_potential: false,
        layers,
    };
    net.validate().expect("valid network");
    net
}

/// `spikemesh run IMAGE --model MODEL --limit LIMIT --report REPORT`, asserting success; the
/// output and the parsed JSON report.
pub fn run_with_report(
    image: &std::path::Path,
    model: &std::path::Path,
    limit: &str,
    report: &std::path::Path,
) -> (Output, serde_json::Value) {
    let path = |p: &std::path::Path| p.to_str().expect("UTF-8 path").to_string();
    let (image, model, report_arg) = (path(image), path(model), path(report));
    let o = spikemesh(&[
        "run",
        &image,
        "--model",
        &model,
        "--limit",
        limit,
        "--report",
        &report_arg,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json = serde_json::from_slice(&std::fs::read(report).expect("the run report"))
        .expect("the run report is JSON");
    (o, json)
}

/// A file of the repository's `tests/data/DIR/NAME`, as a string argument.
pub fn test_data(dir: &str, name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
        .join(name)
        .display()
        .to_string()
}
