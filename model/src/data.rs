//! Data sets: the IDX reader (raw or gzip) for MNIST and Fashion-MNIST, and the UCI 8×8 digits
//! embedded in the binary with their fixed train/test split.
//!
//! All images are stored as 8-bit intensities `0..=255` (0 = background), row-major.
//!
//! **Digits** (`digits`): 1,797 rows of 64 values `0..=16` and a label, embedded from
//! `model/data/digits.csv.gz`. Pixel `p ∈ 0..=16` becomes intensity `⌊p · 255 / 16⌋`
//! (0 → 0, 8 → 127, 16 → 255). Split: a **fixed seeded shuffle**: row `r` (0-based, file order)
//! gets the key `splitmix64(DIGITS_SPLIT_SEED + r)`; rows sorted by key (ascending) are the
//! training set for the first 1,437 and the test set for the last 360, each kept in key order.
//! (The file's own order groups writers, so its last 360 rows are not a representative test set.)
//! The permutation depends on no library's random-number algorithm, so it never changes.

use crate::error::DataError;
use flate2::read::MultiGzDecoder;
use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Training-set augmentation, drawn afresh every epoch ([`Dataset::for_epoch`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Augmentation {
    /// Largest translation in pixels along each axis (0 = none).
    pub max_shift: usize,
    /// Mirror half the images left-right: for sets whose classes are mirror-symmetric
    /// (Fashion-MNIST's garments), not for digits.
    pub mirror: bool,
}

/// The embedded 8×8 digits file (gzip CSV).
pub const DIGITS_CSV_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");
/// Rows of the digits file used for training (the first ones); the rest are the test set.
pub const DIGITS_TRAIN_ROWS: usize = 1437;
/// Seed of the fixed digits train/test permutation.
pub const DIGITS_SPLIT_SEED: u64 = 2026;
/// Total rows of the digits file.
pub const DIGITS_ROWS: usize = 1797;
/// Largest decompressed IDX file accepted (bytes).
pub const MAX_IDX_BYTES: u64 = 1 << 30;

/// A labelled image set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// Name used in messages (`digits/train`, `mnist/test`, ...).
    pub name: String,
    /// Image rows.
    pub height: usize,
    /// Image columns.
    pub width: usize,
    /// `len × height × width` intensities `0..=255`.
    pub pixels: Vec<u8>,
    /// One label per image, `< classes`.
    pub labels: Vec<u8>,
    /// Number of classes.
    pub classes: usize,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image.
    pub fn image_len(&self) -> usize {
        self.height * self.width
    }

    /// Image `k` (row-major intensities).
    pub fn image(&self, k: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[k * n..(k + 1) * n]
    }

    /// Label of image `k`.
    pub fn label(&self, k: usize) -> usize {
        usize::from(self.labels[k])
    }

    /// The training set of one epoch under `aug`: itself when `aug` does nothing, else
    /// [`Dataset::augmented`] with a seed derived from the run's seed and the epoch, so every
    /// epoch sees fresh offsets and mirrorings and a rerun sees the same ones.
    pub fn for_epoch(&self, aug: Augmentation, run_seed: u64, epoch: usize) -> Cow<'_, Dataset> {
        if aug == Augmentation::default() {
            Cow::Borrowed(self)
        } else {
            // The constant ("augment" in ASCII) keeps these draws apart from other streams
            // drawn from the same run seed.
            let seed = splitmix64(run_seed ^ 0x0061_7567_6d65_6e74) ^ epoch as u64;
            Cow::Owned(self.augmented(aug, seed))
        }
    }

    /// The set split in two for validation: `(the first len − n images, the last n)`, named
    /// `…/train` and `…/validation` after this set's name, each image keeping its label. `None`
    /// unless `0 < n < len`, so both parts hold an image. The last images are held out (not a
    /// seeded draw) so every run and rule holds out the same ones: the IDX training sets are
    /// already in no particular order, and the digits training set is a seeded shuffle.
    pub fn hold_out_last(&self, n: usize) -> Option<(Dataset, Dataset)> {
        if n == 0 || n >= self.len() {
            return None;
        }
        let keep = self.len() - n;
        let cut = keep * self.image_len();
        let base = self.name.trim_end_matches("/train");
        let part = |name: String, pixels: &[u8], labels: &[u8]| Dataset {
            name,
            height: self.height,
            width: self.width,
            pixels: pixels.to_vec(),
            labels: labels.to_vec(),
            classes: self.classes,
        };
        Some((
            part(
                format!("{base}/train"),
                &self.pixels[..cut],
                &self.labels[..keep],
            ),
            part(
                format!("{base}/validation"),
                &self.pixels[cut..],
                &self.labels[keep..],
            ),
        ))
    }

    /// [`Dataset::augmented`] with translation only.
    pub fn translated(&self, max_shift: usize, seed: u64) -> Dataset {
        self.augmented(
            Augmentation {
                max_shift,
                mirror: false,
            },
            seed,
        )
    }

    /// A copy in which every image is translated by its own offset `(dy, dx)`, each drawn
    /// uniformly from `-max_shift..=max_shift` by hashing `(seed, k)`, and, under
    /// `aug.mirror`, mirrored left-right first when a further hash of the same draw is odd
    /// (half the images). Pixels shifted in from outside the frame are 0 (no stimulus, so no
    /// spike). Training-set augmentation: the same `seed` gives the same copy, so a run stays
    /// reproducible, and the offsets do not depend on `aug.mirror`.
    pub fn augmented(&self, aug: Augmentation, seed: u64) -> Dataset {
        let max_shift = aug.max_shift;
        let span = 2 * max_shift as u64 + 1;
        let (h, w) = (self.height as isize, self.width as isize);
        let mut pixels = vec![0u8; self.pixels.len()];
        for (k, out) in pixels.chunks_exact_mut(self.image_len()).enumerate() {
            let r = splitmix64(splitmix64(seed) ^ k as u64);
            let dy = (r % span) as isize - max_shift as isize;
            let dx = ((r / span) % span) as isize - max_shift as isize;
            let mirrored = aug.mirror && splitmix64(r) & 1 == 1;
            let src = self.image(k);
            for y in 0..h {
                let sy = y - dy;
                if !(0..h).contains(&sy) {
                    continue;
                }
                for x in 0..w {
                    let sx = x - dx;
                    let sx = if mirrored { w - 1 - sx } else { sx };
                    if (0..w).contains(&sx) {
                        out[(y * w + x) as usize] = src[(sy * w + sx) as usize];
                    }
                }
            }
        }
        Dataset {
            name: format!(
                "{} (translated ±{max_shift}{})",
                self.name,
                if aug.mirror { ", mirrored" } else { "" }
            ),
            height: self.height,
            width: self.width,
            pixels,
            labels: self.labels.clone(),
            classes: self.classes,
        }
    }
}

/// A training set and a test set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSplit {
    /// Training images.
    pub train: Dataset,
    /// Test images.
    pub test: Dataset,
}

fn format_err(path: &Path, problem: impl Into<String>) -> DataError {
    DataError::Format {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// Decompresses if the bytes start with the gzip magic; otherwise returns them as they are.
fn maybe_gunzip(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        MultiGzDecoder::new(&bytes[..])
            .take(MAX_IDX_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| format_err(path, format!("corrupt gzip stream: {e}")))?;
        if out.len() as u64 > MAX_IDX_BYTES {
            return Err(format_err(
                path,
                format!("decompresses to more than {MAX_IDX_BYTES} bytes"),
            ));
        }
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// An IDX array of unsigned bytes: its dimensions and data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Row-major data.
    pub data: Vec<u8>,
}

/// Parses an IDX file (unsigned-byte element type, raw or gzip) already in memory.
pub fn parse_idx(bytes: Vec<u8>, path: &Path) -> Result<IdxArray, DataError> {
    let bytes = maybe_gunzip(bytes, path)?;
    if bytes.len() < 4 {
        return Err(format_err(
            path,
            format!(
                "truncated: {} bytes, an IDX header needs at least 4",
                bytes.len()
            ),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format_err(
            path,
            format!(
                "bad magic {:02x} {:02x} {:02x} {:02x}: an IDX file starts with 00 00",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format_err(
            path,
            format!(
                "bad magic: element type 0x{:02x}, only unsigned bytes (0x08) are supported",
                bytes[2]
            ),
        ));
    }
    let nd = usize::from(bytes[3]);
    if nd == 0 || nd > 4 {
        return Err(format_err(
            path,
            format!("bad magic: {nd} dimensions, expected 1..=4"),
        ));
    }
    let header = 4 + 4 * nd;
    if bytes.len() < header {
        return Err(format_err(
            path,
            format!(
                "truncated header: {} bytes, {nd} dimensions need {header}",
                bytes.len()
            ),
        ));
    }
    let mut dims = Vec::with_capacity(nd);
    let mut total: u64 = 1;
    for d in 0..nd {
        let o = 4 + 4 * d;
        let v = u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        dims.push(v as usize);
        total = total.saturating_mul(u64::from(v));
    }
    let have = (bytes.len() - header) as u64;
    if have < total {
        return Err(format_err(
            path,
            format!("truncated: dimensions {dims:?} need {total} data bytes, found {have}"),
        ));
    }
    if have > total {
        return Err(format_err(
            path,
            format!(
                "{} trailing bytes after the {total} data bytes of dimensions {dims:?}",
                have - total
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads an IDX file (raw or gzip).
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let bytes = std::fs::read(path).map_err(|cause| DataError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    parse_idx(bytes, path)
}

/// Reads an image file (3 dimensions) and a label file (1 dimension) into a data set with 10
/// classes, checking that the counts agree and every label is below 10.
pub fn load_idx_pair(images: &Path, labels: &Path, name: &str) -> Result<Dataset, DataError> {
    let img = read_idx(images)?;
    if img.dims.len() != 3 {
        return Err(format_err(
            images,
            format!(
                "an image file has 3 dimensions (count, rows, columns), found {:?}",
                img.dims
            ),
        ));
    }
    let lab = read_idx(labels)?;
    if lab.dims.len() != 1 {
        return Err(format_err(
            labels,
            format!("a label file has 1 dimension, found {:?}", lab.dims),
        ));
    }
    if img.dims[0] != lab.dims[0] {
        return Err(format_err(
            labels,
            format!(
                "count mismatch: {} labels for {} images in {}",
                lab.dims[0],
                img.dims[0],
                images.display()
            ),
        ));
    }
    if img.dims[1] == 0 || img.dims[2] == 0 {
        return Err(format_err(
            images,
            format!("empty image size {:?}", img.dims),
        ));
    }
    if let Some((k, &l)) = lab.data.iter().enumerate().find(|(_, &l)| l >= 10) {
        return Err(format_err(
            labels,
            format!("label {l} of item {k} is not a class 0..=9"),
        ));
    }
    Ok(Dataset {
        name: name.to_string(),
        height: img.dims[1],
        width: img.dims[2],
        pixels: img.data,
        labels: lab.data,
        classes: 10,
    })
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find_file(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    let plain = dir.join(stem);
    if plain.is_file() {
        return Ok(plain);
    }
    let gz = dir.join(format!("{stem}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::Io {
        path: gz,
        cause: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("neither {stem} nor {stem}.gz exists in this directory"),
        ),
    })
}

/// Loads an MNIST-layout directory (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`).
pub fn load_mnist_dir(dir: &Path, name: &str) -> Result<DataSplit, DataError> {
    let train = load_idx_pair(
        &find_file(dir, "train-images-idx3-ubyte")?,
        &find_file(dir, "train-labels-idx1-ubyte")?,
        &format!("{name}/train"),
    )?;
    let test = load_idx_pair(
        &find_file(dir, "t10k-images-idx3-ubyte")?,
        &find_file(dir, "t10k-labels-idx1-ubyte")?,
        &format!("{name}/test"),
    )?;
    if (train.height, train.width) != (test.height, test.width) {
        return Err(format_err(
            dir,
            format!(
                "training images are {}×{} but test images {}×{}",
                train.height, train.width, test.height, test.width
            ),
        ));
    }
    Ok(DataSplit { train, test })
}

/// Maps a digits pixel `0..=16` to an intensity `0..=255`: `⌊p · 255 / 16⌋`.
pub fn digits_intensity(p: u8) -> u8 {
    ((u16::from(p.min(16)) * 255) / 16) as u8
}

/// Parses the digits CSV (gzip or plain): rows of 64 values `0..=16` then a label `0..=9`.
pub fn parse_digits_csv(bytes: &[u8], path: &Path) -> Result<Dataset, DataError> {
    let raw = maybe_gunzip(bytes.to_vec(), path)?;
    let text = std::str::from_utf8(&raw).map_err(|e| format_err(path, format!("not text: {e}")))?;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (ln, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 65 {
            return Err(format_err(
                path,
                format!(
                    "line {}: {} fields, expected 64 pixels and a label",
                    ln + 1,
                    fields.len()
                ),
            ));
        }
        for (c, f) in fields.iter().enumerate() {
            let v: u8 = f.trim().parse().map_err(|_| {
                format_err(
                    path,
                    format!(
                        "line {}, field {}: `{f}` is not a small integer",
                        ln + 1,
                        c + 1
                    ),
                )
            })?;
            let (max, what) = if c == 64 { (9, "label") } else { (16, "pixel") };
            if v > max {
                return Err(format_err(
                    path,
                    format!("line {}, field {}: {what} {v} exceeds {max}", ln + 1, c + 1),
                ));
            }
            if c == 64 {
                labels.push(v);
            } else {
                pixels.push(digits_intensity(v));
            }
        }
    }
    Ok(Dataset {
        name: "digits".into(),
        height: 8,
        width: 8,
        pixels,
        labels,
        classes: 10,
    })
}

/// SplitMix64 (Steele, Lea & Flood 2014): the hash that orders the digits permutation.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The row order of the digits split: training rows are `order[..1437]`, test rows the rest.
pub fn digits_split_order(rows: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rows).collect();
    order.sort_by_key(|&r| (splitmix64(DIGITS_SPLIT_SEED.wrapping_add(r as u64)), r));
    order
}

/// The embedded digits, split by the fixed seeded shuffle into 1,437 training and 360 test rows.
pub fn digits() -> Result<DataSplit, DataError> {
    let path = Path::new("<embedded>/model/data/digits.csv.gz");
    let all = parse_digits_csv(DIGITS_CSV_GZ, path)?;
    if all.len() != DIGITS_ROWS {
        return Err(format_err(
            path,
            format!("count mismatch: {} rows, expected {DIGITS_ROWS}", all.len()),
        ));
    }
    let order = digits_split_order(all.len());
    let subset = |rows: &[usize], name: &str| Dataset {
        name: name.into(),
        pixels: rows
            .iter()
            .flat_map(|&r| all.image(r).iter().copied())
            .collect(),
        labels: rows.iter().map(|&r| all.labels[r]).collect(),
        ..all.clone()
    };
    let train = subset(&order[..DIGITS_TRAIN_ROWS], "digits/train");
    let test = subset(&order[DIGITS_TRAIN_ROWS..], "digits/test");
    Ok(DataSplit { train, test })
}

/// Which data set to use, as written on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetSpec {
    /// The embedded 8×8 digits.
    Digits,
    /// MNIST from an IDX directory.
    Mnist(PathBuf),
    /// Fashion-MNIST from an IDX directory.
    Fashion(PathBuf),
}

impl std::str::FromStr for DatasetSpec {
    type Err = DataError;

    /// Parses `digits`, `mnist:DIR` or `fashion:DIR`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |problem: &str| DataError::Spec {
            spec: s.to_string(),
            problem: problem.to_string(),
        };
        if s == "digits" {
            return Ok(DatasetSpec::Digits);
        }
        match s.split_once(':') {
            Some(("mnist", d)) if !d.is_empty() => Ok(DatasetSpec::Mnist(PathBuf::from(d))),
            Some(("fashion", d)) if !d.is_empty() => Ok(DatasetSpec::Fashion(PathBuf::from(d))),
            _ => Err(bad("expected `digits`, `mnist:DIR` or `fashion:DIR`")),
        }
    }
}

impl DatasetSpec {
    /// Loads the train and test sets.
    pub fn load(&self) -> Result<DataSplit, DataError> {
        match self {
            DatasetSpec::Digits => digits(),
            DatasetSpec::Mnist(d) => load_mnist_dir(d, "mnist"),
            DatasetSpec::Fashion(d) => load_mnist_dir(d, "fashion"),
        }
    }
}

/// The shared data directory for tests and benchmarks: `$SPIKEMESH_DATA`, else
/// `../shared/data` relative to the workspace root; `None` when it does not exist.
pub fn shared_data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("SPIKEMESH_DATA") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
    };
    dir.is_dir().then_some(dir)
}

/// MNIST from the shared data directory for tests and benchmarks: `Err` with the reason
/// (no directory, no MNIST in it, or an unreadable file) so that the caller can say why it
/// skips.
pub fn shared_mnist() -> Result<DataSplit, String> {
    let dir = shared_data_dir()
        .ok_or("no shared data directory (set SPIKEMESH_DATA or provide ../shared/data)")?
        .join("mnist");
    if !dir.is_dir() {
        return Err(format!("{} does not exist", dir.display()));
    }
    load_mnist_dir(&dir, "mnist").map_err(|e| e.to_string())
}
