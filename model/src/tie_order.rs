//! Tie priority among output classes: which class the earliest-spike decoder names when several
//! outputs share the earliest spike, and how that order is learned from training images.
//!
//! The chip's decoder names one class. Without an order it takes the lowest tied index
//! (the design rule of stidi-bp.md §4.2). A TTFS network ties often (S4NN 784-400-10: about 2 % of
//! MNIST test images, half of them with the label among the tied), and which class a tie should go
//! to is not arbitrary: some outputs fire early on images that are not theirs. A [`TieOrder`] is a
//! permutation of the classes; the decoder names the tied class that comes first in it. It costs
//! nothing on the chip (the host reads the output spikes and decides), and
//! [`TieOrder::learn`] finds the order that decides the most tied training images right.
//!
//! A finer rule can go first ([`crate::Network::ties_by_potential`]): of the tied outputs, the
//! one whose membrane potential was largest at the crossing step wins — the output that crossed
//! its threshold by the most, i.e. earliest within the step — and the order only decides between
//! outputs equal in that potential too. [`earliest_winner`] is the whole decision; the chip's
//! output cores keep the crossing potential for the host (`firmware::ttfs::V_SNAP`).

use crate::error::Violation;
use serde::{Deserialize, Serialize};

/// The largest class count [`TieOrder::learn`] handles (its search visits `2^classes` sets).
pub const MAX_LEARNED_CLASSES: usize = 16;

/// A priority over the output classes: `order[0]` wins every tie it is part of, then
/// `order[1]`, and so on. Valid when it is a permutation of `0..classes` ([`TieOrder::new`];
/// a loaded [`crate::Network`] checks it against its output count).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TieOrder(Vec<u16>);

/// A training image whose earliest output spikes tie: the tied classes (bit `c` set when class
/// `c` is among them) and the image's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tie {
    /// The tied classes, one bit each.
    pub tied: u32,
    /// The label.
    pub label: usize,
}

impl Tie {
    /// The tie among output spike times `times` (`t_max` = no spike) of an image labelled
    /// `label`: `Some` when two or more outputs share the earliest spike. Outputs past the 32nd
    /// are not recorded (callers refuse such networks first).
    pub fn of(times: impl IntoIterator<Item = u16>, t_max: u16, label: usize) -> Option<Tie> {
        let (mut min, mut tied) = (t_max, 0u32);
        for (j, t) in times.into_iter().enumerate().take(32) {
            if t < min {
                (min, tied) = (t, 1 << j);
            } else if t == min && t < t_max {
                tied |= 1 << j;
            }
        }
        (tied.count_ones() > 1).then_some(Tie { tied, label })
    }

    /// The tie the decoder faces among output spike times `times` (`t_max` = no spike) of an
    /// image labelled `label`: the outputs [`earliest_winner`] chooses between with `crossing`
    /// (`Some` when two or more of them remain). Outputs past the 32nd are not recorded.
    pub fn among<P: PartialOrd + Copy>(
        times: &[u16],
        t_max: u16,
        crossing: Option<&[P]>,
        label: usize,
    ) -> Option<Tie> {
        let contender = contenders(times, t_max, crossing)?;
        let tied = (0..times.len().min(32))
            .filter(|&j| contender(j))
            .fold(0u32, |m, j| m | 1 << j);
        (tied.count_ones() > 1).then_some(Tie { tied, label })
    }
}

/// The outputs the decoder chooses between: those sharing the earliest spike time and, with
/// `crossing` (each output's potential at its crossing step), of those the ones with the largest
/// crossing potential. `None` when no output spiked.
fn contenders<'a, P: PartialOrd + Copy>(
    times: &'a [u16],
    t_max: u16,
    crossing: Option<&'a [P]>,
) -> Option<impl Fn(usize) -> bool + 'a> {
    let earliest = times.iter().copied().min().filter(|&t| t < t_max)?;
    let tied = move |k: usize| times.get(k) == Some(&earliest);
    let best = crossing.and_then(|c| {
        (0..times.len())
            .filter(|&k| tied(k))
            .filter_map(|k| c.get(k).copied())
            .fold(None, |b: Option<P>, v| match b {
                Some(b) if v > b => Some(v),
                Some(b) => Some(b),
                None => Some(v),
            })
    });
    Some(move |k: usize| {
        tied(k)
            && match (crossing, best) {
                (Some(c), Some(b)) => c.get(k).is_some_and(|&v| v == b),
                _ => true,
            }
    })
}

/// The class the earliest-spike decoder names from output spike times `times` (`t_max` = no
/// spike): the earliest output; among outputs that share it, with `crossing`, the ones with the
/// largest potential at the crossing step; among those the first in `order` (the lowest index
/// without one). `None` when no output spiked (the caller's no-spike fallback decides).
pub fn earliest_winner<P: PartialOrd + Copy>(
    times: &[u16],
    t_max: u16,
    crossing: Option<&[P]>,
    order: Option<&TieOrder>,
) -> Option<usize> {
    let contender = contenders(times, t_max, crossing)?;
    match order {
        Some(order) => order.winner(&contender),
        None => (0..times.len()).find(|&k| contender(k)),
    }
}

impl TieOrder {
    /// Checks that `order` is a permutation of `0..classes`.
    pub fn new(order: Vec<u16>, classes: usize) -> Result<TieOrder, Violation> {
        let order = TieOrder(order);
        order.check(classes)?;
        Ok(order)
    }

    /// The lowest-index rule as an order: `0, 1, …, classes − 1`.
    pub fn lowest_index(classes: usize) -> TieOrder {
        TieOrder((0..classes).map(|c| c as u16).collect())
    }

    /// The classes, highest priority first.
    pub fn as_slice(&self) -> &[u16] {
        &self.0
    }

    /// Refuses an order that is not a permutation of `0..classes`.
    pub fn check(&self, classes: usize) -> Result<(), Violation> {
        if self.0.len() != classes {
            return Err(Violation::network(
                "tie_order",
                format!(
                    "must list each of the {classes} output classes once, found {} entries",
                    self.0.len()
                ),
            ));
        }
        let mut seen = vec![false; classes];
        for &c in &self.0 {
            match seen.get_mut(usize::from(c)) {
                None => {
                    return Err(Violation::network(
                        "tie_order",
                        format!("class {c} is not an output (there are {classes})"),
                    ))
                }
                Some(true) => {
                    return Err(Violation::network(
                        "tie_order",
                        format!("class {c} is listed twice"),
                    ))
                }
                Some(s) => *s = true,
            }
        }
        Ok(())
    }

    /// The first class in the order for which `tied` holds (`None` if it holds for none).
    pub fn winner(&self, tied: impl Fn(usize) -> bool) -> Option<usize> {
        self.0.iter().map(|&c| usize::from(c)).find(|&c| tied(c))
    }

    /// The order that decides the most of `ties` right (a tie is right when its label comes
    /// first in the order among its tied classes). Exact: a dynamic programme over the sets of
    /// classes placed first (`2^classes · classes` steps over the distinct tied sets). Equally
    /// good orders are chosen between deterministically; with no ties at all the result is the
    /// lowest-index order.
    ///
    /// # Errors
    /// More than [`MAX_LEARNED_CLASSES`] classes, or a tie naming a class or label outside
    /// `0..classes`.
    pub fn learn(ties: &[Tie], classes: usize) -> Result<TieOrder, Violation> {
        if classes > MAX_LEARNED_CLASSES {
            return Err(Violation::network(
                "tie_order",
                format!(
                    "learning a tie order handles at most {MAX_LEARNED_CLASSES} classes, the network has {classes}"
                ),
            ));
        }
        let all = (1u32 << classes) - 1;
        // Per label: each distinct tied set containing it, with how many images have it.
        let mut by_label: Vec<Vec<(u32, usize)>> = vec![Vec::new(); classes];
        for t in ties {
            if t.label >= classes || t.tied & !all != 0 {
                return Err(Violation::network(
                    "tie_order",
                    format!(
                        "a tie names class {} or tied set {:#b} outside the {classes} classes",
                        t.label, t.tied
                    ),
                ));
            }
            if t.tied >> t.label & 1 == 0 {
                continue; // the label lost before the tie: no order decides it right
            }
            let sets = &mut by_label[t.label];
            match sets.iter_mut().find(|(m, _)| *m == t.tied) {
                Some((_, n)) => *n += 1,
                None => sets.push((t.tied, 1)),
            }
        }
        // best[p]: the most ties won when the classes in `p` take the first |p| places, and the
        // class placed last to get it. A tie with label `c` is won by placing `c` while none of
        // its other tied classes is placed yet.
        let mut best: Vec<Option<(usize, usize)>> = vec![None; all as usize + 1];
        best[0] = Some((0, 0));
        for placed in 0..=all {
            let Some((value, _)) = best[placed as usize] else {
                continue;
            };
            for c in (0..classes).filter(|&c| placed >> c & 1 == 0) {
                let gain: usize = by_label[c]
                    .iter()
                    .filter(|&&(m, _)| m & placed == 0)
                    .map(|&(_, n)| n)
                    .sum();
                let next = (placed | 1 << c) as usize;
                // Strictly better only: the lowest `c` reaching a value keeps it, so with no
                // ties at all the order comes out as 0, 1, 2, …
                if best[next].is_none_or(|(v, _)| value + gain > v) {
                    best[next] = Some((value + gain, c));
                }
            }
        }
        let mut order = Vec::with_capacity(classes);
        let mut rest = all;
        while rest != 0 {
            let Some((_, c)) = best[rest as usize] else {
                break;
            };
            order.push(c as u16);
            rest &= !(1 << c);
        }
        order.reverse();
        TieOrder::new(order, classes)
    }

    /// How many of `ties` this order decides right.
    pub fn wins(&self, ties: &[Tie]) -> usize {
        ties.iter()
            .filter(|t| self.winner(|c| t.tied >> c & 1 == 1) == Some(t.label))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every permutation of `0..n`, by Heap's algorithm.
    fn permutations(n: usize) -> Vec<Vec<u16>> {
        fn heap(k: usize, a: &mut Vec<u16>, out: &mut Vec<Vec<u16>>) {
            if k <= 1 {
                out.push(a.clone());
                return;
            }
            for i in 0..k {
                heap(k - 1, a, out);
                let j = if k.is_multiple_of(2) { i } else { 0 };
                a.swap(j, k - 1);
            }
        }
        let mut a: Vec<u16> = (0..n as u16).collect();
        let mut out = Vec::new();
        heap(n, &mut a, &mut out);
        out
    }

    proptest! {
        /// The decoder names the first output when they are sorted by (spike time, then — under
        /// the potential rule — larger crossing potential, then place in the order): the same
        /// decision stated as a sort, over random times, potentials and orders.
        #[test]
        fn earliest_winner_is_the_first_of_a_sort(
            times in prop::collection::vec(0u16..6, 1..12),
            potentials in prop::collection::vec(-3i32..4, 12),
            shuffle in prop::collection::vec(any::<u32>(), 12),
            by in any::<bool>(),
            ordered in any::<bool>(),
        ) {
            let n = times.len();
            let t_max = 5;
            let mut perm: Vec<u16> = (0..n as u16).collect();
            perm.sort_by_key(|&c| shuffle[usize::from(c)]);
            let order = ordered.then(|| TieOrder::new(perm.clone(), n).unwrap());
            let rank = |k: usize| order.as_ref().map_or(k, |o| {
                o.as_slice().iter().position(|&c| usize::from(c) == k).unwrap()
            });
            let crossing = &potentials[..n];
            let reference = (0..n)
                .filter(|&k| times[k] < t_max)
                .min_by_key(|&k| (times[k], if by { -crossing[k] } else { 0 }, rank(k)));
            let decided = earliest_winner(&times, t_max, by.then_some(crossing), order.as_ref());
            prop_assert_eq!(decided, reference);
            // The tie handed to the order holds exactly the outputs equal to the winner in the
            // sort's first two keys.
            let key = |k: usize| (times[k], if by { crossing[k] } else { 0 });
            let equal = reference.map_or(0, |w| {
                (0..n).filter(|&k| key(k) == key(w)).fold(0u32, |m, k| m | 1 << k)
            });
            let tie = Tie::among(&times, t_max, by.then_some(crossing), 0);
            prop_assert_eq!(tie.map(|t| t.tied), (equal.count_ones() > 1).then_some(equal));
        }

        /// The learned order wins as many ties as the best of all orders, tried one by one.
        #[test]
        fn learned_order_is_the_best_of_all_orders(
            n in 2usize..=6,
            raw in prop::collection::vec((any::<u32>(), 0usize..6), 0..40),
        ) {
            let mask = (1u32 << n) - 1;
            let ties: Vec<Tie> = raw
                .iter()
                .map(|&(m, l)| Tie { tied: (m & mask) | 1 << (l % n), label: l % n })
                .collect();
            let learned = TieOrder::learn(&ties, n).unwrap();
            let best = permutations(n)
                .into_iter()
                .map(|p| TieOrder(p).wins(&ties))
                .max()
                .unwrap();
            prop_assert_eq!(learned.wins(&ties), best);
        }
    }

    #[test]
    fn ties_are_read_from_output_times() {
        assert_eq!(
            Tie::of([5, 3, 9, 3], 10, 1),
            Some(Tie {
                tied: 0b1010,
                label: 1
            })
        );
        assert_eq!(Tie::of([5, 3, 9, 4], 10, 1), None);
        assert_eq!(
            Tie::of([10, 10, 10], 10, 0),
            None,
            "silent outputs do not tie"
        );
        assert_eq!(
            Tie::of([2, 2, 2], 10, 2),
            Some(Tie {
                tied: 0b111,
                label: 2
            })
        );
    }

    #[test]
    fn no_ties_learn_the_lowest_index_rule() {
        assert_eq!(
            TieOrder::learn(&[], 10).unwrap(),
            TieOrder::lowest_index(10)
        );
    }

    #[test]
    fn a_class_that_wins_its_ties_moves_ahead() {
        // Classes 1 and 3 tie three times with label 3 and once with label 1: 3 goes first.
        let t = |label| Tie {
            tied: 0b1010,
            label,
        };
        let order = TieOrder::learn(&[t(3), t(3), t(1), t(3)], 4).unwrap();
        assert_eq!(order.winner(|c| c == 1 || c == 3), Some(3));
        assert_eq!(order.wins(&[t(3), t(3), t(1), t(3)]), 3);
        assert_eq!(TieOrder::lowest_index(4).wins(&[t(3), t(3), t(1), t(3)]), 1);
    }

    #[test]
    fn orders_that_are_not_permutations_are_refused() {
        for (order, words) in [
            (vec![0, 1], "3 output classes once, found 2"),
            (vec![0, 1, 1], "class 1 is listed twice"),
            (vec![0, 1, 7], "class 7 is not an output"),
        ] {
            let e = TieOrder::new(order, 3).unwrap_err().to_string();
            assert!(e.contains("tie_order") && e.contains(words), "{e}");
        }
        let e = TieOrder::learn(&[], 17).unwrap_err().to_string();
        assert!(e.contains("at most 16 classes"), "{e}");
        let e = TieOrder::learn(
            &[Tie {
                tied: 0b11,
                label: 5,
            }],
            3,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("outside the 3 classes"), "{e}");
    }
}
