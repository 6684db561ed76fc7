//! The chip's host decoder (`isa::image::IoMap::decode`, reading the output cores' crossing
//! potentials) and the golden model's (`model::tie_order::earliest_winner`) name the same class
//! for every output pattern, tie order and tie rule.

use isa::image::IoMap;
use model::tie_order::earliest_winner;
use model::TieOrder;
use proptest::prelude::*;

proptest! {
    #[test]
    fn chip_and_golden_decoders_agree(
        steps in prop::collection::vec(prop::option::of(0u32..4), 1..12),
        potentials in prop::collection::vec(-3i32..4, 12),
        shuffle in prop::collection::vec(any::<u32>(), 12),
        by in any::<bool>(),
        ordered in any::<bool>(),
    ) {
        let n = steps.len();
        // The chip reports the step a spike arrived; the golden model the spike time
        // (step + 1) with t_max for none.
        let t_max = 10u16;
        let times: Vec<u16> = steps.iter().map(|s| s.map_or(t_max, |s| s as u16 + 1)).collect();
        let mut perm: Vec<u16> = (0..n as u16).collect();
        perm.sort_by_key(|&c| shuffle[usize::from(c)]);
        let order = ordered.then(|| TieOrder::new(perm.clone(), n).unwrap());
        let io = IoMap {
            outputs: n as u32,
            tie_order: order.as_ref().map_or(Vec::new(), |o| {
                o.as_slice().iter().map(|&c| u32::from(c)).collect()
            }),
            ties_by_potential: by,
            ..IoMap::default()
        };
        let crossing = &potentials[..n];
        prop_assert_eq!(
            io.decode(&steps, |k| crossing[k]),
            earliest_winner(&times, t_max, by.then_some(crossing), order.as_ref())
        );
    }
}
