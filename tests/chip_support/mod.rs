//! Runs one encoded sample through a built chip for the chip-against-golden tests.

use model::network::SpikeTime;
use sim::chip::{Chip, StopRule};

/// Output spike times of `chip` for the encoded input `times`, over the full window, written
/// as the golden model writes them: an output arriving at timestep `s` fired at `s + 1` (one
/// timestep of mesh transit), `t_max` means no spike.
pub fn chip_output_times(chip: &mut Chip, times: &[SpikeTime], t_max: u16) -> Vec<SpikeTime> {
    let spikes: Vec<(u32, u32)> = times
        .iter()
        .enumerate()
        .map(|(i, t)| (i as u32, u32::from(t.0)))
        .collect();
    let out = chip
        .run_sample(&spikes, u32::from(t_max), StopRule::FullWindow)
        .expect("chip runs");
    out.first_spike
        .iter()
        .map(|s| SpikeTime(s.map_or(t_max, |step| step as u16 + 1)))
        .collect()
}
