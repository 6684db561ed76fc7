//! End-to-end checks of `spikemesh asm` and `spikemesh disasm`: a source assembles to a `.bin`
//! that disassembles to source assembling to the same file; bad input of any kind gets located
//! errors and exit code 1, never a panic (exit code 101) and never a partial output file.

mod cli_support;

use cli_support::{spikemesh, stderr};
use std::path::{Path, PathBuf};

fn scratch_dir(test: &str) -> PathBuf {
    cli_support::scratch_dir(&format!("cli-asm-{test}"))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const PROGRAM: &str = "\
; integrate-and-fire, one step
        .equ THRESHOLD, 1000
        .data
params: .word THRESHOLD, 0x10
        .text
main:   csrr r1, neurons
        vrange r0, r1
        ld r2, params(r0)
step:   vcmps.ge m1, acc, r2
        vspike m1
        vmovi f0, 0, m1
        barrier
        j step
";

#[test]
fn a_program_survives_asm_disasm_asm() {
    let dir = scratch_dir("roundtrip");
    let src = write(&dir, "if.s", PROGRAM.as_bytes());
    let bin = dir.join("if.bin");
    let out = spikemesh(&["asm", s(&src), "-o", s(&bin)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("8 instruction(s), 2 data word(s)"));

    let out = spikemesh(&["disasm", s(&bin)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "main:",
        "step:",
        "params:",
        "j step",
        ".equ THRESHOLD, 1000",
    ] {
        assert!(
            listing.contains(expected),
            "missing {expected:?} in\n{listing}"
        );
    }

    let src2 = write(&dir, "again.s", listing.as_bytes());
    let bin2 = dir.join("again.bin");
    let out = spikemesh(&["asm", s(&src2), "-o", s(&bin2)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(&bin2).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_are_located_and_no_output_file_is_left() {
    let dir = scratch_dir("errors");
    let src = write(
        &dir,
        "bad.s",
        b"start:\n    frob r1, r2\n    add r1, r16, r2\n    beq r1, r2, nowhere\n",
    );
    let bin = dir.join("bad.bin");
    let out = spikemesh(&["asm", s(&src), "-o", s(&bin)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for loc in ["bad.s:2:5", "bad.s:3:13", "bad.s:4:17"] {
        assert!(err.contains(loc), "missing {loc} in\n{err}");
    }
    assert!(err.contains("3 errors"), "{err}");
    assert!(err.contains("    ^^^^"), "{err}");
    assert!(!bin.exists());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "only the source remains"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_malformed_input_makes_either_command_panic() {
    let dir = scratch_dir("junk");
    let good_bin = {
        let src = write(&dir, "good.s", PROGRAM.as_bytes());
        let bin = dir.join("good.bin");
        assert!(spikemesh(&["asm", s(&src), "-o", s(&bin)]).status.success());
        std::fs::read(&bin).unwrap()
    };
    let mut truncated = good_bin.clone();
    truncated.truncate(good_bin.len() / 2);
    let mut flipped = good_bin.clone();
    flipped[30] ^= 0xff;
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("junk", junk),
        ("not-utf8", b"add r1, r2, r3\n\xff\xfe halt\n".to_vec()),
        ("nul", b"\0\0\0\0".to_vec()),
        ("truncated", truncated),
        ("flipped", flipped),
        ("source-as-bin", PROGRAM.as_bytes().to_vec()),
        ("long-line", "x".repeat(100_000).into_bytes()),
        (
            "deep-parens",
            format!(".equ A, {}1{}", "(".repeat(20_000), ")".repeat(20_000)).into_bytes(),
        ),
    ];
    for (name, bytes) in &inputs {
        let path = write(&dir, name, bytes);
        let out_path = dir.join(format!("{name}.out"));
        for cmd in ["asm", "disasm"] {
            let out = spikemesh(&[cmd, s(&path), "-o", s(&out_path)]);
            let code = out.status.code();
            assert_ne!(
                code,
                Some(101),
                "`{cmd}` panicked on {name}: {}",
                stderr(&out)
            );
            assert!(code.is_some(), "`{cmd}` was killed on {name}");
            if code != Some(0) {
                assert_eq!(code, Some(1), "`{cmd}` on {name}");
                assert!(!stderr(&out).is_empty());
                assert!(!out_path.exists(), "`{cmd}` left {name}.out behind");
            }
            let _ = std::fs::remove_file(&out_path);
        }
    }
    let out = spikemesh(&["disasm", s(&dir.join("missing.bin"))]);
    assert_eq!(out.status.code(), Some(1));
    let out = spikemesh(&["asm", s(&dir.join("not-utf8"))]);
    assert!(stderr(&out).contains("not UTF-8"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}
