//! `spikemesh neuron`: the Loihi LIF golden vectors of hardware.md §1.3 through `--check`, the
//! other models, random cases, and clear errors for bad descriptions.

use proptest::prelude::*;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spikemesh"))
        .arg("neuron")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spikemesh");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    child.wait_with_output().expect("wait")
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn column(v: &Value, key: &str) -> Vec<i64> {
    v[key]
        .as_array()
        .expect(key)
        .iter()
        .map(|row| row[0].as_i64().expect("integer"))
        .collect()
}

/// One golden vector: (du, dv, bias_mant, bias_exp, vth, a_in, expected (u, v, s)).
type Vector = (i64, i64, i64, i64, i64, Vec<i64>, Vec<(i64, i64, i64)>);

/// The golden vectors of hardware.md §1.3 (`isa::arith::loihi::LAVA_GOLDEN_VECTORS`).
fn golden_vectors() -> Vec<Vector> {
    isa::arith::loihi::LAVA_GOLDEN_VECTORS
        .iter()
        .map(|g| {
            (
                g.du,
                g.dv,
                g.bias_mant,
                g.bias_exp,
                g.vth,
                g.a_in.iter().map(|&x| i64::from(x)).collect(),
                g.expected
                    .iter()
                    .map(|&(u, v, s)| (i64::from(u), i64::from(v), i64::from(s)))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn check_agrees_on_every_lava_golden_vector() {
    for (du, dv, mant, exp, vth, a_in, expected) in golden_vectors() {
        let input = json!({
            "model": "loihi-lif", "du": du, "dv": dv, "vth": vth,
            "bias_mant": [mant], "bias_exp": exp,
            "a_in": a_in.iter().map(|&x| vec![x]).collect::<Vec<_>>(),
        });
        for mode in [&["--check"][..], &["--reference"][..], &[][..]] {
            let out = run(mode, &input.to_string());
            let v = stdout_json(&out);
            assert_eq!(
                column(&v, "u"),
                expected.iter().map(|e| e.0).collect::<Vec<_>>(),
                "u, du={du} {mode:?}"
            );
            assert_eq!(
                column(&v, "v"),
                expected.iter().map(|e| e.1).collect::<Vec<_>>(),
                "v, du={du} {mode:?}"
            );
            assert_eq!(
                column(&v, "s"),
                expected.iter().map(|e| e.2).collect::<Vec<_>>(),
                "s, du={du} {mode:?}"
            );
            // The firmware run reports one cycle count per step; the golden model has none.
            let cycles = v.get("cycles").and_then(Value::as_array).map(Vec::len);
            assert_eq!(
                cycles,
                if mode == ["--reference"] {
                    None
                } else {
                    Some(10)
                }
            );
        }
    }
}

#[test]
fn ttfs_and_lif_reset_check() {
    let ttfs = json!({
        "model": "ttfs", "threshold": 1, "t_max": 12, "psp": "ramp", "cmp": ">=", "delay": 0,
        "weights": [[1, -1, 0], [1, 1, 1], [-1, 1, 1]], "t_in": [0, 3, 20],
    });
    let v = stdout_json(&run(&["--check"], &ttfs.to_string()));
    // Neuron 0: V(t) = t + max(0, t - 3): V(1) = 1 >= 1, so it fires at step 1 (delay 0).
    assert_eq!(v["t_spike"][0], 1);
    assert_eq!(v["s"][1][0], 1);
    // Per-neuron thresholds: the same inputs, neuron 1 with a threshold it never reaches.
    let per_neuron = json!({
        "model": "ttfs", "threshold": [1, 50], "t_max": 10, "weights": [[1, 1], [1, 1]], "t_in": [0, 1],
    });
    let v = stdout_json(&run(&["--check"], &per_neuron.to_string()));
    // Step PSP, '>', delay 1: V0(1) = 2 > 1 at step 1, spike time 2; neuron 1 never fires.
    assert_eq!(v["t_spike"], json!([2, 10]));
    let lif = json!({
        "model": "lif-reset", "reset": "subtract", "du": 4095, "dv": 0, "vth": 1,
        "bias_mant": [0, 0], "bias_exp": 0, "a_in": [[3, 0], [0, 0], [0, 1]],
    });
    let v = stdout_json(&run(&["--check"], &lif.to_string()));
    // Step 0: u = 3 << 6 = 192, v = 192 > 64 -> spike, v = 192 - 64 = 128.
    assert_eq!(v["v"][0][0], 128);
    assert_eq!(v["s"][0][0], 1);
    // The delayed subtraction (snnTorch's): the spike's step keeps v, the next step subtracts.
    let next = json!({
        "model": "lif-reset", "reset": "subtract-next", "du": 4095, "dv": 0, "vth": 100,
        "bias_mant": [0], "bias_exp": 0, "a_in": [[200], [200], [0], [0]],
    });
    let v = stdout_json(&run(&["--check"], &next.to_string()));
    // vth << 6 = 6400, input 200 << 6 = 12800 (du = 4095: the current lasts one step):
    // 12800 spike; 12800 + 12800 - 6400 = 19200 spike; 19200 + 0 - 6400 = 12800 spike;
    // 12800 - 6400 = 6400, not above 6400: no spike. (Subtracting at once gives the same
    // spikes here, but v = 6400, 12800, 6400, 6400.)
    assert_eq!(v["v"], json!([[12800], [19200], [12800], [6400]]));
    assert_eq!(v["s"], json!([[1], [1], [1], [0]]));
    // The bias into the current: du = 2047 halves u each step, dv = 4095 keeps nothing of v,
    // so v = u: u = 100, 50 + 100 = 150, 75 + 100 = 175; into the voltage v would stay 100.
    let biased = |to: &str| {
        json!({
            "model": "lif-reset", "du": 2047, "dv": 4095, "vth": 100, "bias_to": to,
            "bias_mant": [100], "bias_exp": 0, "a_in": [[0], [0], [0]],
        })
        .to_string()
    };
    let v = stdout_json(&run(&["--check"], &biased("current")));
    assert_eq!(v["u"], json!([[100], [150], [175]]));
    assert_eq!(v["v"], json!([[100], [150], [175]]));
    let v = stdout_json(&run(&["--check"], &biased("voltage")));
    assert_eq!(v["u"], json!([[0], [0], [0]]));
    assert_eq!(v["v"], json!([[100], [100], [100]]));
    assert!(error_of(&biased("axon")).contains("bias_to"));
}

fn error_of(input: &str) -> String {
    let out = run(&["--check"], input);
    assert!(!out.status.success(), "must fail: {input}");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn bad_descriptions_get_an_error_naming_the_field() {
    let base =
        json!({"du": 1, "dv": 2, "vth": 3, "bias_mant": [0, 1], "bias_exp": 0, "a_in": [[1, 2]]});
    let with = |key: &str, value: Value| {
        let mut v = base.clone();
        v[key] = value;
        v.to_string()
    };
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("vth");
    assert!(error_of(&missing.to_string()).contains("missing field `vth`"));
    assert!(error_of(&with("du", json!(4096))).contains("`du` = 4096"));
    assert!(error_of(&with("vth", json!(1 << 17))).contains("`vth`"));
    assert!(error_of(&with("bias_exp", json!(4))).contains("`bias_exp` = 4"));
    assert!(error_of(&with("bias_mant", json!([0, 4096]))).contains("`bias_mant[1]`"));
    assert!(error_of(&with("a_in", json!([[1, 2], [3]]))).contains("`a_in[1]` has 1 entries"));
    assert!(error_of(&with("a_in", json!([[1, 32768]]))).contains("`a_in[0][1]` = 32768"));
    assert!(error_of(&with("a_in", json!([[1, "x"]]))).contains("`a_in[0][1]` must be an integer"));
    assert!(error_of(&with("extra", json!(1))).contains("unknown field `extra`"));
    assert!(error_of(&with("model", json!("izhikevich"))).contains("`model`"));
    assert!(error_of("{\"du\": ").contains("invalid JSON"));
    let ttfs =
        json!({"model": "ttfs", "threshold": 1, "t_max": 8, "weights": [[1, 2]], "t_in": [0]});
    assert!(error_of(&ttfs.to_string()).contains("`weights[0][1]` = 2"));
    let ttfs =
        json!({"model": "ttfs", "threshold": 1, "t_max": 8, "weights": [[1]], "t_in": [0, 1]});
    assert!(error_of(&ttfs.to_string()).contains("`t_in` has 2 entries"));
    let ttfs =
        json!({"model": "ttfs", "threshold": [1, 2], "t_max": 8, "weights": [[1]], "t_in": [0]});
    assert!(error_of(&ttfs.to_string()).contains("`threshold` has 2 entries"));
}

/// Random LIF and LIF-reset descriptions agree under `--check`. The runner is built
/// explicitly (not with the `proptest!` macro, which lets `PROPTEST_CASES` override the case
/// count): every case spawns the binary, so the count stays modest.
#[test]
fn check_agrees_on_random_lif_cases() {
    use proptest::test_runner::{Config, TestRunner};
    let strategy = (
        (0i64..=4095, 0i64..=4095, 0i64..=2000),
        prop::collection::vec(-4096i64..=4095, 3),
        -4i64..=3,
        prop::collection::vec(prop::collection::vec(-2000i64..=2000, 3), 1..12),
        prop::sample::select(vec!["loihi-lif", "zero", "subtract"]),
    );
    let mut runner = TestRunner::new(Config::with_cases(24));
    runner
        .run(&strategy, |((du, dv, vth), mant, exp, a_in, reset)| {
            let mut input = json!({"du": du, "dv": dv, "vth": vth, "bias_mant": mant, "bias_exp": exp, "a_in": a_in});
            if reset != "loihi-lif" {
                input["model"] = json!("lif-reset");
                input["reset"] = json!(reset);
            }
            let out = run(&["--check"], &input.to_string());
            prop_assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
