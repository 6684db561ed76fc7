//! The threshold-learning part of the learning kernels (step 7 of the rule,
//! `model::onchip::ThresholdLearning`): its parameters exist in the chip form, default to
//! "off", and the shift in the source is the one the mapper checks.

use isa::insn::{Instruction, Round};

#[test]
fn threshold_parameters_exist_and_default_to_off() {
    let p = firmware::learn_out::chip_program().expect("the learning firmware assembles");
    let word = |name: &str| {
        let a = p.symbol(name).unwrap_or_else(|| panic!("no symbol {name}"));
        assert!(a >= 0 && (a as usize) < p.data.len(), "{name} = {a}");
        p.data[a as usize]
    };
    for name in firmware::learn_out::THETA_PARAMS {
        word(name);
    }
    assert_eq!(
        word("theta_learn"),
        0,
        "thresholds are fixed unless the mapper says so"
    );
    assert_eq!(word("theta_frac"), 8, "Q.8 by default");
    assert_eq!(
        p.symbol("THETA_SHIFT"),
        Some(i64::from(firmware::learn_out::THETA_SHIFT))
    );
    // The gradient step is one nearest-even multiply-shift by THETA_SHIFT (no LFSR draw).
    let steps = p
        .text
        .iter()
        .filter(|i| {
            matches!(i, Instruction::VMulShift { round: Round::NearestEven, sh, .. }
                if u32::from(*sh) == firmware::learn_out::THETA_SHIFT)
        })
        .count();
    assert_eq!(steps, 1);
    // The latent thresholds and silence counts live in fields no other part of the program
    // writes as scratch: ttfs.s uses f0..f6, the kernels f8..f15 apart from f11.
    assert_eq!(firmware::learn_out::THETA_LATENT.index(), 7);
    assert_eq!(firmware::learn_out::SILENCE.index(), 11);
}
