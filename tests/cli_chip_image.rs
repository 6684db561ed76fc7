//! End-to-end checks of `spikemesh chip` and `spikemesh image`: bad files get a located error
//! and exit code 1, never a panic (exit code 101).

mod cli_support;

use cli_support::{spikemesh, stderr};
use std::path::PathBuf;
use std::process::Command;

fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let path = cli_support::scratch_dir("cli-chip").join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn default_chip_passes_its_own_check() {
    let out = spikemesh(&["chip", "default"]);
    assert!(out.status.success());
    let path = scratch("default.toml", &out.stdout);
    let out = spikemesh(&["chip", "check", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("width = 4"));
}

#[test]
fn chip_file_with_unknown_key_names_key_and_line() {
    let text = isa::chip::DEFAULT_CHIP_TOML.replace("vector_lanes = 16", "vector_lane = 16");
    let path = scratch("unknown-key.toml", text.as_bytes());
    let out = spikemesh(&["chip", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("vector_lane"), "{err}");
    assert!(err.contains("line"), "{err}");
    assert!(err.contains("unknown-key.toml"), "{err}");
}

#[test]
fn chip_file_with_bad_value_names_the_dotted_key() {
    let text = isa::chip::DEFAULT_CHIP_TOML.replace("buffer_depth = 4", "buffer_depth = 0");
    let path = scratch("bad-value.toml", text.as_bytes());
    let out = spikemesh(&["chip", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`router.buffer_depth` = 0: must be in 1..=1024"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn malformed_inputs_never_panic() {
    let junk: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("binary", (0..=255u8).collect()),
        ("not-utf8", vec![0xff, 0xfe, b'[', b'm']),
        ("half-image", b"SPKIMG\r\n\x01\x00".to_vec()),
    ];
    for (name, bytes) in junk {
        let path = scratch(name, &bytes);
        for cmd in [["chip", "check"], ["image", "inspect"]] {
            let out = spikemesh(&[cmd[0], cmd[1], path.to_str().unwrap()]);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{cmd:?} on {name}: {}",
                stderr(&out)
            );
            assert!(stderr(&out).starts_with("error:"), "{}", stderr(&out));
        }
    }
    let out = spikemesh(&["image", "inspect", "/nonexistent/file.img"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/nonexistent/file.img"));
}

#[test]
fn closed_output_pipe_ends_the_tool_without_a_panic() {
    use std::process::Stdio;
    for _ in 0..5 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spikemesh"))
            .args(["chip", "default"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before (most likely) the tool has printed anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_ne!(
            out.status.code(),
            Some(101),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}
