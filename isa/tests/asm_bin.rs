//! The `.bin` program container: programs round-trip through it, and a truncated, corrupted or
//! foreign file is a typed error, never a panic.

use isa::asm::bin::{from_bytes, load, save, to_bytes, BinError, HEADER_LEN, MAGIC};
use isa::asm::{assemble_detailed, Assembly};
use proptest::prelude::*;

const SOURCE: &str = "
        .equ N, 4
        .data
thr:    .word 100, -100, 0x7fffffff
        .zero N
        .text
main:   csrr r1, neurons
        vrange r0, r1
        ld r2, thr(r0)
loop:   vcmps.ge m1, acc, r2
        vspike m1
        vmovi f0, 0, m1
        barrier
        j loop
end:
";

fn sample() -> Assembly {
    assemble_detailed(SOURCE, "sample.s").unwrap()
}

#[test]
fn a_program_round_trips_through_its_bytes() {
    let a = sample();
    let bytes = to_bytes(&a).unwrap();
    assert_eq!(&bytes[..8], &MAGIC);
    // Header, 8 text words, 7 data words, the symbols, the CRC.
    let symbols: usize = a.program.symbols.keys().map(|n| 1 + 2 + n.len() + 8).sum();
    assert_eq!(bytes.len(), HEADER_LEN + 4 * (8 + 7) + symbols + 4);
    assert_eq!(from_bytes(&bytes).unwrap(), a);
}

#[test]
fn every_truncation_is_a_typed_error() {
    let bytes = to_bytes(&sample()).unwrap();
    for len in 0..bytes.len() {
        assert!(from_bytes(&bytes[..len]).is_err(), "length {len} accepted");
    }
}

#[test]
fn a_wrong_magic_is_named_as_such() {
    let mut bytes = to_bytes(&sample()).unwrap();
    bytes[0] = b'X';
    assert!(matches!(from_bytes(&bytes), Err(BinError::BadMagic { .. })));
    assert!(matches!(
        from_bytes(b"\x7fELF\x02\x01\x01\0"),
        Err(BinError::BadMagic { .. })
    ));
}

#[test]
fn a_flipped_bit_is_caught_by_the_checksum() {
    let bytes = to_bytes(&sample()).unwrap();
    let mut bad = bytes.clone();
    bad[HEADER_LEN + 5] ^= 0x10;
    assert!(matches!(
        from_bytes(&bad),
        Err(BinError::ChecksumMismatch { .. })
    ));
}

/// Recomputes the trailing CRC so that a mutation reaches the structural checks.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() >= 4 {
        let n = bytes.len() - 4;
        let crc = crc32fast::hash(&bytes[..n]);
        bytes[n..].copy_from_slice(&crc.to_le_bytes());
    }
    bytes
}

#[test]
fn structural_faults_behind_a_valid_checksum_are_named() {
    let bytes = to_bytes(&sample()).unwrap();
    // A text count far beyond the file.
    let mut b = bytes.clone();
    b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        from_bytes(&reseal(b)),
        Err(BinError::Truncated {
            what: "text section",
            ..
        })
    ));
    // An instruction word with an unassigned opcode.
    let mut b = bytes.clone();
    b[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&0u32.to_le_bytes());
    let e = from_bytes(&reseal(b)).unwrap_err();
    assert!(
        matches!(e, BinError::BadInstruction { index: 0, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("0x00000000"), "{e}");
    // A version from the future.
    let mut b = bytes.clone();
    b[8] = 9;
    assert!(matches!(
        from_bytes(&reseal(b)),
        Err(BinError::UnsupportedVersion { version: 9 })
    ));
    // Trailing garbage before the checksum.
    let mut b = bytes.clone();
    b.insert(b.len() - 4, 0);
    assert!(matches!(
        from_bytes(&reseal(b)),
        Err(BinError::TrailingBytes { count: 1 })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(ProptestConfig::default().cases.min(3000)))]

    #[test]
    fn random_mutations_never_panic_and_valid_results_reencode_identically(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        seal in any::<bool>(),
    ) {
        let mut bytes = to_bytes(&sample()).unwrap();
        for (at, v) in edits {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if seal {
            bytes = reseal(bytes);
        }
        // Whatever the bytes, a result: a program that writes back to the same bytes, or an error.
        if let Ok(a) = from_bytes(&bytes) {
            prop_assert_eq!(to_bytes(&a).unwrap(), bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_are_refused_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut with_magic = MAGIC.to_vec();
        with_magic.extend_from_slice(&bytes);
        for b in [bytes, reseal(with_magic)] {
            let _ = from_bytes(&b);
        }
    }
}

#[test]
fn save_writes_whole_files_and_load_reads_them_back() {
    let dir = std::env::temp_dir().join(format!("spikemesh-asm-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p.bin");
    let a = sample();
    save(&path, &a).unwrap();
    assert_eq!(load(&path).unwrap(), a);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(matches!(
        load(&dir.join("missing.bin")),
        Err(BinError::Io { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
