//! `--encoding onoff`: networks trained on the on/off-centre contrast maps record the encoding
//! in the model file, map onto the chip with their two input channels, and run there exactly
//! as the golden model; a wrong input width is refused with the sizes named.

use std::path::PathBuf;
use std::process::{Command, Output};

fn spikemesh(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spikemesh"))
        .args(args)
        .output()
        .expect("the spikemesh binary runs")
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spikemesh-onoff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn on_off_models_run_on_the_chip_like_the_golden_model() {
    for (rule, arch) in [("bs4nn", "128-60-10"), ("stidi", "c4k3-p2-fc10")] {
        let model = scratch(&format!("{rule}.json"));
        let m = model.to_str().unwrap();
        ok(&spikemesh(&[
            "train",
            "--dataset",
            "digits",
            "--rule",
            rule,
            "--arch",
            arch,
            "--encoding",
            "onoff",
            "--epochs",
            "2",
            "--seed",
            "2",
            "-o",
            m,
        ]));
        let text = std::fs::read_to_string(&model).unwrap();
        assert!(text.contains("OnOffCentre"), "{rule}: encoding recorded");
        let img = scratch(&format!("{rule}.img"));
        ok(&spikemesh(&["map", m, "-o", img.to_str().unwrap()]));
        let report = scratch(&format!("{rule}-run.json"));
        ok(&spikemesh(&[
            "run",
            img.to_str().unwrap(),
            "--model",
            m,
            "--dataset",
            "digits",
            "--limit",
            "80",
            "--report",
            report.to_str().unwrap(),
        ]));
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(
            r["figures"]["golden_agreement"].as_u64(),
            Some(80),
            "{rule}"
        );
    }
}

#[test]
fn on_off_arch_must_count_both_maps() {
    let out = spikemesh(&[
        "train",
        "--dataset",
        "digits",
        "--rule",
        "bs4nn",
        "--arch",
        "64-60-10",
        "--encoding",
        "onoff",
        "--epochs",
        "1",
        "-o",
        scratch("bad.json").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for part in ["--arch 64-60-10", "128 inputs", "8×8", "two contrast maps"] {
        assert!(err.contains(part), "`{part}` missing from: {err}");
    }
}
