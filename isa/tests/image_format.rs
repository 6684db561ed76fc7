//! The chip-image file format: round trips, and every kind of damaged file is refused with a
//! typed error, never a panic.

use isa::chip::{ChipDescription, TileId};
use isa::image::{
    ChipImage, CoreImage, Destination, FanoutTable, FieldInit, ImageError, IoMap, SynapseMemory,
    FORMAT_VERSION, HEADER_LEN,
};
use isa::insn::{Field, Instruction, Reg};
use isa::Program;
use proptest::prelude::*;

fn core(tile: u16, neurons: u32, axons: u32, fanout: Vec<Vec<Destination>>) -> CoreImage {
    let words = (neurons as usize).div_ceil(64);
    let used = !0u64 >> (64 - neurons.min(64));
    CoreImage {
        tile: TileId(tile),
        neurons,
        axons,
        program: Program {
            text: vec![
                Instruction::Addi {
                    rd: Reg::new(1).unwrap(),
                    rs: Reg::ZERO,
                    imm: 7,
                },
                Instruction::Barrier,
                Instruction::Halt,
            ],
            data: vec![100, -3],
            symbols: [("threshold".to_string(), 0i64)].into_iter().collect(),
        },
        fields: vec![FieldInit {
            field: Field::new(3).unwrap(),
            values: (0..neurons as i32).collect(),
        }],
        synapses: SynapseMemory {
            sign: (0..axons as usize * words)
                .map(|i| (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) & used)
                .collect(),
            presence: None,
            weights: None,
        },
        latent: Some(vec![1; (axons * neurons) as usize]),
        fanout: FanoutTable::from_lists(&fanout),
        first_arrival_only: false,
        lfsr_seed: Some(0x1234_5678 ^ u32::from(tile)),
        input_delays: None,
    }
}

fn sample_image() -> ChipImage {
    let to1 = |axon| Destination::Core {
        tile: TileId(1),
        axon,
    };
    let c0 = core(
        0,
        4,
        3,
        vec![vec![to1(0)], vec![to1(1), to1(2)], vec![], vec![to1(0)]],
    );
    let c1 = core(
        1,
        2,
        3,
        vec![
            vec![Destination::Host { channel: 0 }],
            vec![Destination::Host { channel: 1 }],
        ],
    );
    let inputs = FanoutTable::from_lists(&[
        vec![Destination::Core {
            tile: TileId(0),
            axon: 0,
        }],
        vec![Destination::Core {
            tile: TileId(0),
            axon: 2,
        }],
    ]);
    ChipImage::new(
        ChipDescription::default(),
        vec![c0, c1],
        IoMap {
            inputs,
            outputs: 2,
            tie_order: Vec::new(),
            ties_by_potential: false,
        },
        "test image".into(),
    )
    .expect("sample image is valid")
}

#[test]
fn image_round_trips_through_bytes() {
    let img = sample_image();
    let bytes = img.to_bytes();
    assert_eq!(ChipImage::from_bytes(&bytes).unwrap(), img);
}

#[test]
fn image_round_trips_through_a_file() {
    let img = sample_image();
    let path = std::env::temp_dir().join(format!("spikemesh-img-{}.img", std::process::id()));
    img.save(&path).unwrap();
    let back = ChipImage::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(back, img);
}

#[test]
fn truncated_image_is_refused_at_every_length() {
    let bytes = sample_image().to_bytes();
    for len in 0..bytes.len() {
        let err = ChipImage::from_bytes(&bytes[..len]).unwrap_err();
        assert!(
            matches!(err, ImageError::Truncated { .. }),
            "length {len}: {err}"
        );
    }
}

#[test]
fn wrong_magic_is_refused() {
    let mut bytes = sample_image().to_bytes();
    bytes[0] = b'X';
    assert!(matches!(
        ChipImage::from_bytes(&bytes),
        Err(ImageError::BadMagic { .. })
    ));
    assert!(matches!(
        ChipImage::from_bytes(b"hello, this is not an image at all"),
        Err(ImageError::BadMagic { .. })
    ));
}

#[test]
fn other_format_version_is_refused_with_both_versions_named() {
    let mut bytes = sample_image().to_bytes();
    bytes[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let err = ChipImage::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, ImageError::Version { found } if found == FORMAT_VERSION + 1));
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("version {}", FORMAT_VERSION + 1)),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("reads version {FORMAT_VERSION}")),
        "{msg}"
    );
}

#[test]
fn flipped_payload_bit_fails_the_checksum() {
    let mut bytes = sample_image().to_bytes();
    let at = HEADER_LEN + (bytes.len() - HEADER_LEN) / 2;
    bytes[at] ^= 0x10;
    assert!(matches!(
        ChipImage::from_bytes(&bytes),
        Err(ImageError::Checksum { .. })
    ));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = sample_image().to_bytes();
    bytes.push(0);
    assert!(matches!(
        ChipImage::from_bytes(&bytes),
        Err(ImageError::TrailingBytes { extra: 1 })
    ));
}

#[test]
fn core_over_capacity_names_the_limit() {
    let img = sample_image();
    let mut cores = img.cores.clone();
    cores[0].program.text = vec![Instruction::Nop; 5000];
    let err = ChipImage::new(img.chip.clone(), cores, img.io.clone(), String::new()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("core.instruction_words = 1024"), "{msg}");
    assert!(msg.contains("tile 0"), "{msg}");
}

#[test]
fn input_delays_must_fit_the_delay_slots_one_per_neuron() {
    let img = sample_image();
    let with = |delays: Vec<u8>| {
        let mut cores = img.cores.clone();
        cores[1].input_delays = Some(delays);
        ChipImage::new(img.chip.clone(), cores, img.io.clone(), String::new())
    };
    // Delays 0..=63 fit the default chip's 64 slots, and survive a round trip.
    let ok = with(vec![63, 0]).expect("fits 64 slots");
    assert_eq!(ChipImage::from_bytes(&ok.to_bytes()).unwrap(), ok);
    let msg = with(vec![64, 0]).unwrap_err().to_string();
    assert!(
        msg.contains("tile 1")
            && msg.contains("input delay 64")
            && msg.contains("core.delay_slots = 64"),
        "{msg}"
    );
    let msg = with(vec![1]).unwrap_err().to_string();
    assert!(msg.contains("1 input delays for 2 neurons"), "{msg}");
}

#[test]
fn route_to_missing_axon_is_refused() {
    let img = sample_image();
    let mut cores = img.cores.clone();
    cores[0].fanout = FanoutTable::from_lists(&[
        vec![Destination::Core {
            tile: TileId(1),
            axon: 9,
        }],
        vec![],
        vec![],
        vec![],
    ]);
    let err = ChipImage::new(img.chip.clone(), cores, img.io.clone(), String::new()).unwrap_err();
    assert!(err.to_string().contains("axon 9 of tile 1"), "{err}");
}

#[test]
fn route_to_empty_tile_is_refused() {
    let img = sample_image();
    let mut io = img.io.clone();
    io.inputs = FanoutTable::from_lists(&[vec![Destination::Core {
        tile: TileId(5),
        axon: 0,
    }]]);
    let err = ChipImage::new(img.chip.clone(), img.cores.clone(), io, String::new()).unwrap_err();
    assert!(
        err.to_string().contains("tile 5, which holds no core"),
        "{err}"
    );
}

#[test]
fn synapse_bits_beyond_the_last_neuron_are_refused() {
    let img = sample_image();
    let mut cores = img.cores.clone();
    cores[1].synapses.sign[0] |= 1 << 5; // core 1 has 2 neurons
    let err = ChipImage::new(img.chip.clone(), cores, img.io.clone(), String::new()).unwrap_err();
    assert!(err.to_string().contains("beyond neuron 2"), "{err}");
}

#[test]
fn summary_lists_every_core() {
    let s = sample_image().summary();
    assert!(s.contains("cores used: 2 of 16"), "{s}");
    assert!(s.contains("total: 6 neurons"), "{s}");
}

#[test]
fn host_decoder_takes_the_earliest_channel_ties_by_the_tie_order() {
    let mut io = sample_image().io;
    let unread = |k: usize| -> i32 { panic!("potential of channel {k} read without the rule") };
    assert_eq!(
        io.decode(&[None, Some(5), Some(3), Some(3)], unread),
        Some(2)
    );
    assert_eq!(io.decode(&[Some(1), Some(1)], unread), Some(0));
    assert_eq!(io.decode(&[None, None], unread), None);
    io.tie_order = vec![1, 0];
    assert_eq!(io.decode(&[Some(1), Some(1)], unread), Some(1));
    assert_eq!(
        io.decode(&[Some(1), Some(2)], unread),
        Some(0),
        "only ties are reordered"
    );
    assert_eq!(io.decode(&[None, None], unread), None);
}

#[test]
fn host_decoder_breaks_ties_by_the_crossing_potential_then_the_order() {
    let mut io = sample_image().io;
    io.ties_by_potential = true;
    let v = [40, 70, 90, 70];
    let crossing = |k: usize| v[k];
    // Channel 2 has the largest potential but did not share the earliest spike.
    assert_eq!(
        io.decode(&[Some(3), Some(3), Some(4), Some(3)], crossing),
        Some(1)
    );
    assert_eq!(
        io.decode(&[Some(3), Some(3), Some(3), None], crossing),
        Some(2)
    );
    // Equal potentials (channels 1 and 3) go to the order, then the lowest channel.
    io.tie_order = vec![3, 2, 1, 0];
    assert_eq!(
        io.decode(&[Some(3), Some(3), Some(4), Some(3)], crossing),
        Some(3)
    );
    io.tie_order.clear();
    assert_eq!(
        io.decode(&[Some(3), Some(3), Some(4), Some(3)], crossing),
        Some(1)
    );
    // A lone earliest spike needs no potential.
    let unread = |k: usize| -> i32 { panic!("potential of channel {k} read for a lone spike") };
    assert_eq!(io.decode(&[Some(3), Some(2)], unread), Some(1));
    assert_eq!(io.decode(&[None, None], unread), None);
}

#[test]
fn tie_order_must_permute_the_output_channels() {
    let img = sample_image();
    let with = |order: Vec<u32>| {
        let mut io = img.io.clone();
        io.tie_order = order;
        ChipImage::new(img.chip.clone(), img.cores.clone(), io, String::new())
    };
    let kept = with(vec![1, 0]).expect("a permutation is valid");
    assert!(kept
        .summary()
        .contains("output ties decoded in the order [1, 0]"));
    assert_eq!(ChipImage::from_bytes(&kept.to_bytes()).unwrap(), kept);
    for bad in [vec![0], vec![0, 0], vec![0, 2], vec![1, 0, 2]] {
        let e = with(bad.clone()).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "tie order {bad:?} is not a permutation of the 2 output channels"
            )),
            "{e}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random byte edits anywhere in a valid image give a typed error or a valid image; never a
    /// panic.
    #[test]
    fn mutated_image_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut bytes = sample_image().to_bytes();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let _ = ChipImage::from_bytes(&bytes);
    }

    /// Edits to the payload with the checksum recomputed reach the decoder and the validator:
    /// they must still refuse cleanly or accept a valid image.
    #[test]
    fn mutated_payload_with_fixed_checksum_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let mut bytes = sample_image().to_bytes();
        let payload_len = bytes.len() - HEADER_LEN;
        for (at, value) in edits {
            let i = HEADER_LEN + at.index(payload_len);
            bytes[i] = value;
        }
        let crc = crc32fast::hash(&bytes[HEADER_LEN..]);
        bytes[20..24].copy_from_slice(&crc.to_le_bytes());
        if let Ok(img) = ChipImage::from_bytes(&bytes) {
            // Whatever decoded is a valid image: it re-encodes and reloads identically.
            prop_assert_eq!(ChipImage::from_bytes(&img.to_bytes()).unwrap(), img);
        }
    }
}
