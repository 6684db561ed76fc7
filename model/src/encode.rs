//! Spike encoders: intensity-to-latency (time-to-first-spike) coding of 8-bit images, with the
//! exact integer formulas of the S4NN and BS4NN reference code.
//!
//! For an intensity `p ∈ 0..=255` (bright = early):
//!
//! * **S4NN** (`S4NN.py`): `t = ⌊(255 − p) · t_max / 255⌋`. `p = 255 → 0`, `p = 0 → t_max`
//!   (no spike).
//! * **BS4NN** (`BS4NN_mnist.ipynb`, `T_end = t_max − 1`): `t = ⌊T_end − p · T_end / 255⌋
//!   = ⌊(255 − p) · T_end / 255⌋`; with `t_max = 256` this is `255 − p`, so a zero pixel still
//!   spikes at `t_max − 1` (it can only matter for a crossing that maps to "no spike").
//!
//! Both are evaluated in integer arithmetic (integer division = floor), so they are exact for
//! every `t_max`.
//!
//! * **On/off centre** (ours, for data whose information is in contrast rather than brightness,
//!   as Fashion-MNIST): the image is first turned into two contrast maps, as retinal ganglion
//!   cells do, `c = 4 · (p − ⌊m⌋)` with `m` the mean of the 5×5 neighbourhood clipped at the
//!   image border; channel 0 (on) is `clamp(c, 0, 255)`, channel 1 (off) `clamp(−c, 0, 255)`;
//!   each map value is then S4NN-encoded. The input is `2 × height × width`, channel-major.

use crate::network::SpikeTime;
use serde::{Deserialize, Serialize};

/// Which latency formula to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EncodingRule {
    /// `⌊(255 − p) · t_max / 255⌋`.
    S4nn,
    /// `⌊(255 − p) · (t_max − 1) / 255⌋`.
    Bs4nn,
    /// On- and off-centre contrast maps of images `width` pixels wide, each S4NN-encoded
    /// (module docs).
    OnOffCentre {
        /// Image width in pixels (the neighbourhood needs the rows).
        width: u16,
    },
}

impl EncodingRule {
    /// Spike-time inputs per image pixel: 2 for the on/off maps, else 1.
    pub fn channels(&self) -> usize {
        match self {
            EncodingRule::OnOffCentre { .. } => 2,
            _ => 1,
        }
    }
}

/// Gain of the on/off contrast maps: a local contrast of 64 intensity levels saturates.
pub const CONTRAST_GAIN: i32 = 4;

/// On- and off-centre contrast maps of a row-major image `width` pixels wide, channel-major
/// (`on` then `off`, each `pixels.len()` long) — see the module docs. A last partial row is
/// treated as a shorter image row.
pub fn on_off_centre(pixels: &[u8], width: usize) -> Vec<u8> {
    let n = pixels.len();
    let w = width.max(1);
    let h = n.div_ceil(w);
    let mut maps = vec![0u8; 2 * n];
    // 25 reads per pixel: the images are small (8×8, 28×28), a summed-area table buys little.
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(2), (y + 3).min(h));
        for x in 0..w {
            let k = y * w + x;
            if k >= n {
                break;
            }
            let (x0, x1) = (x.saturating_sub(2), (x + 3).min(w));
            let (mut sum, mut count) = (0i32, 0i32);
            for yy in y0..y1 {
                for xx in x0..x1 {
                    if let Some(&p) = pixels.get(yy * w + xx) {
                        sum += i32::from(p);
                        count += 1;
                    }
                }
            }
            let c = CONTRAST_GAIN * (i32::from(pixels[k]) - sum / count);
            maps[k] = c.clamp(0, 255) as u8;
            maps[n + k] = (-c).clamp(0, 255) as u8;
        }
    }
    maps
}

/// Intensity-to-latency encoder for a window of `t_max` steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyEncoder {
    /// The formula.
    pub rule: EncodingRule,
    /// The window; the time `t_max` means "no spike".
    pub t_max: u16,
}

impl LatencyEncoder {
    /// Spike time of one intensity (for [`EncodingRule::OnOffCentre`]: of one contrast-map
    /// value).
    #[inline]
    pub fn time_of(&self, p: u8) -> SpikeTime {
        let span = match self.rule {
            EncodingRule::S4nn | EncodingRule::OnOffCentre { .. } => u32::from(self.t_max),
            EncodingRule::Bs4nn => u32::from(self.t_max.saturating_sub(1)),
        };
        SpikeTime(((255 - u32::from(p)) * span / 255) as u16)
    }

    /// Encodes an image into `out` (cleared first) as raw step indices: one spike time per
    /// pixel, or per contrast-map value (`channels()` per pixel).
    pub fn encode_steps_into(&self, pixels: &[u8], out: &mut Vec<u16>) {
        self.encode_with(pixels, out, |t| t.0);
    }

    /// Encodes an image into `out` (cleared first).
    pub fn encode_into(&self, pixels: &[u8], out: &mut Vec<SpikeTime>) {
        self.encode_with(pixels, out, |t| t);
    }

    /// The one encoding loop behind both outputs: the per-pixel rules read the pixels, the
    /// on/off rule its two contrast maps.
    fn encode_with<T>(&self, pixels: &[u8], out: &mut Vec<T>, f: impl Fn(SpikeTime) -> T) {
        out.clear();
        match self.rule {
            EncodingRule::OnOffCentre { width } => {
                let maps = on_off_centre(pixels, usize::from(width));
                out.extend(maps.iter().map(|&p| f(self.time_of(p))));
            }
            _ => out.extend(pixels.iter().map(|&p| f(self.time_of(p)))),
        }
    }

    /// Encodes an image.
    pub fn encode(&self, pixels: &[u8]) -> Vec<SpikeTime> {
        let mut out = Vec::with_capacity(pixels.len() * self.rule.channels());
        self.encode_into(pixels, &mut out);
        out
    }
}
