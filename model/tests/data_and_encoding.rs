//! Data sets (IDX reader, embedded digits, split) and the latency encoders.

use model::data::{self, DatasetSpec};
use model::*;
use proptest::prelude::*;
use std::io::Write;
use std::path::Path;

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn idx_raw_and_gzip_parse_the_same() {
    let bytes = idx(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    let a = data::parse_idx(bytes.clone(), Path::new("x")).unwrap();
    let b = data::parse_idx(gzip(&bytes), Path::new("x.gz")).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.dims, vec![2, 2, 3]);
    assert_eq!(a.data[11], 12);
}

#[test]
fn malformed_idx_files_are_named_with_the_problem() {
    let p = Path::new("/data/train-images-idx3-ubyte");
    let err = |b: Vec<u8>| data::parse_idx(b, p).unwrap_err().to_string();
    let e = err(vec![1, 2, 3, 4, 0, 0, 0, 1]);
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("bad magic"),
        "{e}"
    );
    let e = err(vec![0, 0, 0x0d, 1, 0, 0, 0, 1, 0]);
    assert!(e.contains("element type 0x0d"), "{e}");
    let e = err(idx(&[3, 2, 2], &[0; 11]));
    assert!(
        e.contains("truncated") && e.contains("12") && e.contains("11"),
        "{e}"
    );
    let e = err(idx(&[1], &[0, 0]));
    assert!(e.contains("trailing"), "{e}");
    let e = err(vec![0, 0, 8]);
    assert!(e.contains("truncated"), "{e}");
    let mut gz = gzip(&idx(&[4], &[1, 2, 3, 4]));
    gz.truncate(gz.len() - 6);
    let e = err(gz);
    assert!(e.contains("gzip"), "{e}");

    // Count mismatch between images and labels, label out of range: in real files.
    let dir = std::env::temp_dir().join(format!("spikemesh-idx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let images = dir.join("train-images-idx3-ubyte.gz");
    let labels = dir.join("train-labels-idx1-ubyte");
    std::fs::write(&images, gzip(&idx(&[3, 2, 2], &[7; 12]))).unwrap();
    std::fs::write(&labels, idx(&[2], &[1, 2])).unwrap();
    let e = data::load_idx_pair(&images, &labels, "t")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("count mismatch") && e.contains("2 labels for 3 images"),
        "{e}"
    );
    std::fs::write(&labels, idx(&[3], &[1, 2, 10])).unwrap();
    let e = data::load_idx_pair(&images, &labels, "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("label 10 of item 2"), "{e}");
    std::fs::write(&labels, idx(&[3], &[1, 2, 9])).unwrap();
    let d = data::load_idx_pair(&images, &labels, "t").unwrap();
    assert_eq!((d.len(), d.height, d.width, d.label(2)), (3, 2, 2, 9));
    // A missing directory names the file it looked for.
    let e = data::load_mnist_dir(&dir.join("nope"), "mnist")
        .unwrap_err()
        .to_string();
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn digits_are_embedded_with_a_fixed_split() {
    let s = data::digits().unwrap();
    assert_eq!((s.train.len(), s.test.len()), (1437, 360));
    assert_eq!((s.train.height, s.train.width), (8, 8));
    // The split is a permutation of all rows: every row appears exactly once.
    let order = data::digits_split_order(1797);
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..1797).collect::<Vec<_>>());
    // The first test image is file row order[1437]; check it against the CSV text.
    let text = {
        use std::io::Read;
        let mut t = String::new();
        flate2::read::GzDecoder::new(data::DIGITS_CSV_GZ)
            .read_to_string(&mut t)
            .unwrap();
        t
    };
    let row: Vec<u8> = text
        .lines()
        .nth(order[1437])
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    let expect: Vec<u8> = row[..64]
        .iter()
        .map(|&p| (u16::from(p) * 255 / 16) as u8)
        .collect();
    assert_eq!(s.test.image(0), &expect[..]);
    assert_eq!(s.test.label(0), usize::from(row[64]));
    // Intensity mapping end points.
    assert_eq!(
        (
            data::digits_intensity(0),
            data::digits_intensity(8),
            data::digits_intensity(16)
        ),
        (0, 127, 255)
    );
    // Every class is present in both halves.
    for c in 0..10 {
        assert!(s.train.labels.contains(&c) && s.test.labels.contains(&c));
    }
    // Bad CSV content is reported with its line.
    let e = data::parse_digits_csv(b"1,2,3\n", Path::new("d.csv"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 1") && e.contains("3 fields"), "{e}");
    let mut line = vec!["0"; 64];
    line[5] = "17";
    let csv = format!("{},3\n", line.join(","));
    let e = data::parse_digits_csv(csv.as_bytes(), Path::new("d.csv"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("field 6") && e.contains("pixel 17"), "{e}");
}

/// `hold_out_last(n)` splits off the last `n` images with their labels, in order, and refuses
/// a split that would leave either part empty.
#[test]
fn holding_out_the_last_images_keeps_every_image_once() {
    let s = data::digits().unwrap().train;
    let (train, val) = s.hold_out_last(200).unwrap();
    assert_eq!((train.len(), val.len()), (1237, 200));
    assert_eq!(
        (train.name.as_str(), val.name.as_str()),
        ("digits/train", "digits/validation")
    );
    for k in 0..s.len() {
        let (part, j) = if k < 1237 {
            (&train, k)
        } else {
            (&val, k - 1237)
        };
        assert_eq!(
            (part.image(j), part.label(j)),
            (s.image(k), s.label(k)),
            "image {k}"
        );
        assert_eq!((part.height, part.width, part.classes), (8, 8, 10));
    }
    assert_eq!(train.pixels.len() + val.pixels.len(), s.pixels.len());
    for n in [0, s.len(), s.len() + 1] {
        assert!(s.hold_out_last(n).is_none(), "n = {n}");
    }
    let (one, rest) = s.hold_out_last(s.len() - 1).unwrap();
    assert_eq!((one.len(), rest.len()), (1, s.len() - 1));
}

#[test]
fn dataset_specs_parse() {
    assert_eq!(
        "digits".parse::<DatasetSpec>().unwrap(),
        DatasetSpec::Digits
    );
    assert_eq!(
        "mnist:/a/b".parse::<DatasetSpec>().unwrap(),
        DatasetSpec::Mnist("/a/b".into())
    );
    assert_eq!(
        "fashion:x".parse::<DatasetSpec>().unwrap(),
        DatasetSpec::Fashion("x".into())
    );
    assert!("cifar:x"
        .parse::<DatasetSpec>()
        .unwrap_err()
        .to_string()
        .contains("expected"));
    assert!("mnist:".parse::<DatasetSpec>().is_err());
}

#[test]
fn mnist_and_fashion_load_when_present() {
    let Some(dir) = data::shared_data_dir() else {
        eprintln!(
            "SKIPPED: no shared data directory (set SPIKEMESH_DATA or provide ../shared/data)"
        );
        return;
    };
    for name in ["mnist", "fashion-mnist"] {
        let d = dir.join(name);
        if !d.is_dir() {
            eprintln!("SKIPPED: {} is absent", d.display());
            continue;
        }
        let s = data::load_mnist_dir(&d, name).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (60_000, 10_000));
        assert_eq!((s.train.height, s.train.width), (28, 28));
        // Ten classes, each about a tenth of the test set.
        for c in 0..10u8 {
            let n = s.test.labels.iter().filter(|&&l| l == c).count();
            assert!(
                (800..=1200).contains(&n),
                "{name}: class {c} has {n} test images"
            );
        }
    }
}

#[test]
fn encoder_end_points() {
    let s = LatencyEncoder {
        rule: EncodingRule::S4nn,
        t_max: 256,
    };
    assert_eq!(
        (s.time_of(255), s.time_of(0)),
        (SpikeTime(0), SpikeTime(256))
    );
    let b = LatencyEncoder {
        rule: EncodingRule::Bs4nn,
        t_max: 256,
    };
    for p in 0..=255u8 {
        assert_eq!(b.time_of(p), SpikeTime(255 - u16::from(p)));
    }
}

proptest! {
    /// The integer formulas equal the papers' real-valued expressions, floored.
    #[test]
    fn encoders_match_the_real_formulas(p in any::<u8>(), t_max in 4u16..=1024) {
        let s = LatencyEncoder { rule: EncodingRule::S4nn, t_max };
        let exact = (255.0 - f64::from(p)) * f64::from(t_max) / 255.0;
        prop_assert_eq!(f64::from(s.time_of(p).0), (exact + 1e-9).floor());
        let b = LatencyEncoder { rule: EncodingRule::Bs4nn, t_max };
        let t_end = f64::from(t_max - 1);
        let exact = t_end - f64::from(p) * t_end / 255.0;
        prop_assert_eq!(f64::from(b.time_of(p).0), (exact + 1e-9).floor());
        prop_assert!(s.time_of(p).0 <= t_max && b.time_of(p).0 < t_max);
    }
}

/// Reference for `Dataset::translated`: the offset that maps `src` onto `out` (zero fill),
/// searched over every offset in range (several when the image has a blank margin).
fn offset_of(src: &[u8], out: &[u8], h: usize, w: usize, max: isize) -> Vec<(isize, isize)> {
    let mut found = Vec::new();
    for dy in -max..=max {
        for dx in -max..=max {
            let ok = (0..h as isize).all(|y| {
                (0..w as isize).all(|x| {
                    let (sy, sx) = (y - dy, x - dx);
                    let want = if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx) {
                        src[(sy * w as isize + sx) as usize]
                    } else {
                        0
                    };
                    out[(y * w as isize + x) as usize] == want
                })
            });
            if ok {
                found.push((dy, dx));
            }
        }
    }
    found
}

#[test]
fn translation_is_a_seeded_per_image_shift_with_zero_fill() {
    let split = data::digits().unwrap();
    let set = &split.train;
    assert_eq!(set.translated(0, 7), {
        let mut same = set.clone();
        same.name = format!("{} (translated ±0)", set.name);
        same
    });
    let a = set.translated(2, 7);
    assert_eq!(a, set.translated(2, 7), "same seed, same copy");
    assert_ne!(
        a.pixels,
        set.translated(2, 8).pixels,
        "another seed, another copy"
    );
    assert_eq!(a.labels, set.labels);
    let mut offsets = std::collections::BTreeSet::new();
    for k in 0..set.len() {
        let found = offset_of(set.image(k), a.image(k), set.height, set.width, 2);
        assert!(
            !found.is_empty(),
            "image {k} is not a ±2 translation of its source"
        );
        if found.len() == 1 {
            offsets.insert(found[0]);
        }
    }
    // Every one of the 25 offsets is drawn somewhere in 1,437 images.
    assert_eq!(offsets.len(), 25, "offsets drawn: {offsets:?}");
}

#[test]
fn mirroring_flips_a_seeded_half_with_the_same_offsets() {
    let split = data::digits().unwrap();
    let set = &split.train;
    let (h, w) = (set.height, set.width);
    let aug = model::Augmentation {
        max_shift: 2,
        mirror: true,
    };
    let a = set.augmented(aug, 7);
    assert_eq!(a, set.augmented(aug, 7), "same seed, same copy");
    assert_eq!(a.labels, set.labels);
    let plain = set.translated(2, 7);
    let mut mirrored = 0;
    for k in 0..set.len() {
        let src = set.image(k);
        if a.image(k) == plain.image(k) {
            continue; // not mirrored (or a mirror-symmetric image)
        }
        let flipped: Vec<u8> = (0..h * w)
            .map(|i| src[(i / w) * w + (w - 1 - i % w)])
            .collect();
        let as_mirror = offset_of(&flipped, a.image(k), h, w, 2);
        let as_plain = offset_of(src, plain.image(k), h, w, 2);
        assert!(
            as_mirror.iter().any(|o| as_plain.contains(o)),
            "image {k}: not its mirror image under the translation-only copy's offset \
             ({as_mirror:?} vs {as_plain:?})"
        );
        mirrored += 1;
    }
    // Half of 1,437 images, give or take five standard deviations (±95).
    assert!(
        (624..=813).contains(&mirrored),
        "{mirrored} of {} mirrored",
        set.len()
    );
    // No augmentation: the epoch's set is the set itself, not a copy.
    let none = model::Augmentation::default();
    assert!(matches!(
        set.for_epoch(none, 1, 0),
        std::borrow::Cow::Borrowed(_)
    ));
}

/// Reference for the on/off-centre maps, straight from the definition: the real mean of the
/// in-image 5×5 neighbourhood, floored; `c = 4 · (p − ⌊m⌋)`.
fn on_off_reference(img: &[u8], h: usize, w: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let mut vals = Vec::new();
            for dy in -2..=2i64 {
                for dx in -2..=2i64 {
                    let (yy, xx) = (y + dy, x + dx);
                    if (0..h as i64).contains(&yy) && (0..w as i64).contains(&xx) {
                        vals.push(f64::from(img[(yy * w as i64 + xx) as usize]));
                    }
                }
            }
            let mean = (vals.iter().sum::<f64>() / vals.len() as f64).floor();
            let c = 4.0 * (f64::from(img[(y * w as i64 + x) as usize]) - mean);
            on.push(c.clamp(0.0, 255.0) as u8);
            off.push((-c).clamp(0.0, 255.0) as u8);
        }
    }
    (on, off)
}

#[test]
fn on_off_maps_of_a_flat_image_are_silent_and_an_edge_lights_both_sides() {
    let enc = LatencyEncoder {
        rule: EncodingRule::OnOffCentre { width: 8 },
        t_max: 256,
    };
    let flat = enc.encode(&[200u8; 64]);
    assert_eq!(flat.len(), 128, "two maps of 8×8");
    assert!(
        flat.iter().all(|&t| t == SpikeTime(256)),
        "no contrast, no spike"
    );
    // Left half dark, right half bright: on-centre fires right of the edge, off-centre left.
    let edge: Vec<u8> = (0..64).map(|k| if k % 8 >= 4 { 200 } else { 0 }).collect();
    let t = enc.encode(&edge);
    let (on, off) = t.split_at(64);
    assert!(on[4] < SpikeTime(256) && on[3] == SpikeTime(256));
    assert!(off[3] < SpikeTime(256) && off[4] == SpikeTime(256));
    assert!(
        on[7] == SpikeTime(256) && off[0] == SpikeTime(256),
        "far from the edge: flat"
    );
}

proptest! {
    /// The on/off maps equal the definition computed in real arithmetic, and each map value is
    /// S4NN-encoded; the channel-major layout is `on` then `off`.
    #[test]
    fn on_off_encoding_matches_its_definition(
        h in 1usize..12,
        w in 1usize..12,
        seed in any::<u64>(),
        t_max in 4u16..=512,
    ) {
        let img: Vec<u8> = (0..h * w)
            .map(|k| (data::splitmix64(seed ^ k as u64) >> 56) as u8)
            .collect();
        let (on, off) = on_off_reference(&img, h, w);
        let maps = model::encode::on_off_centre(&img, w);
        prop_assert_eq!(&maps[..h * w], &on[..]);
        prop_assert_eq!(&maps[h * w..], &off[..]);
        let enc = LatencyEncoder { rule: EncodingRule::OnOffCentre { width: w as u16 }, t_max };
        let s4nn = LatencyEncoder { rule: EncodingRule::S4nn, t_max };
        let want: Vec<SpikeTime> = on.iter().chain(&off).map(|&p| s4nn.time_of(p)).collect();
        prop_assert_eq!(enc.encode(&img), want);
    }
}
