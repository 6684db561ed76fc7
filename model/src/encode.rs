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

use crate::network::SpikeTime;
use serde::{Deserialize, Serialize};

/// Which latency formula to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EncodingRule {
    /// `⌊(255 − p) · t_max / 255⌋`.
    S4nn,
    /// `⌊(255 − p) · (t_max − 1) / 255⌋`.
    Bs4nn,
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
    /// Spike time of one intensity.
    #[inline]
    pub fn time_of(&self, p: u8) -> SpikeTime {
        let span = match self.rule {
            EncodingRule::S4nn => u32::from(self.t_max),
            EncodingRule::Bs4nn => u32::from(self.t_max.saturating_sub(1)),
        };
        SpikeTime(((255 - u32::from(p)) * span / 255) as u16)
    }

    /// Encodes an image into `out` (cleared first), one spike time per pixel.
    pub fn encode_into(&self, pixels: &[u8], out: &mut Vec<SpikeTime>) {
        out.clear();
        out.extend(pixels.iter().map(|&p| self.time_of(p)));
    }

    /// Encodes an image.
    pub fn encode(&self, pixels: &[u8]) -> Vec<SpikeTime> {
        pixels.iter().map(|&p| self.time_of(p)).collect()
    }
}
