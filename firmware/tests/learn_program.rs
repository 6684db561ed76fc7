//! The chip form of the learning firmware (`firmware::learn_out::chip_program`): it assembles
//! with the hidden-layer kernel, every parameter of both kernels exists, the reverse-routing
//! table is the last data word (the loader appends one word per axon after it), and the
//! dispatch reaches both kernels.

use isa::insn::Instruction;

#[test]
fn chip_program_holds_both_kernels_with_the_table_last() {
    let p = firmware::learn_out::chip_program().expect("the learning firmware assembles");
    for name in firmware::learn_out::PARAMS
        .iter()
        .chain(firmware::ttfs::PARAMS)
        .chain([
            &firmware::learn_out::LEARN_REQ,
            &firmware::learn_hidden::ERROR_SOURCES,
            &firmware::learn_hidden::NORM_PEERS,
        ])
    {
        let a = p.symbol(name).unwrap_or_else(|| panic!("no symbol {name}"));
        assert!(a >= 0 && (a as usize) < p.data.len(), "{name} = {a}");
    }
    let table = p.symbol(firmware::learn_out::SRC_TABLE).unwrap();
    assert_eq!(
        table as usize + 1,
        p.data.len(),
        "src_table is the last data word"
    );
    // error_sources defaults to 0 (an output core), learn_req to 0 (inference).
    let word = |name: &str| p.data[p.symbol(name).unwrap() as usize];
    assert_eq!(word(firmware::learn_hidden::ERROR_SOURCES), 0);
    assert_eq!(word(firmware::learn_hidden::NORM_PEERS), 0);
    let equ = |name: &str| p.symbol(name).unwrap();
    assert_eq!(equ("NORM_HI"), i64::from(firmware::learn_hidden::NORM_HI));
    assert_eq!(equ("NORM_LO"), i64::from(firmware::learn_hidden::NORM_LO));
    assert_eq!(word(firmware::learn_out::LEARN_REQ), 0);
    // The hidden kernel uses the normalisation instructions and ends in the output kernel's
    // update loop.
    let has = |f: &dyn Fn(&Instruction) -> bool| p.text.iter().any(f);
    assert!(has(&|i| matches!(i, Instruction::VRedSumSq { .. })));
    assert!(has(&|i| matches!(i, Instruction::ISqrt { .. })));
    assert!(has(&|i| matches!(i, Instruction::VDivQ { .. })));
    let update = p.symbol("update").expect("learn_out.s's update label");
    let hidden = p.symbol("learn_hidden").expect("learn_hidden.s's entry");
    let jumps_to_update = p.text.iter().enumerate().skip(hidden as usize).any(|(pc, i)| {
        matches!(i, Instruction::Jal { off, .. } if pc as i64 + i64::from(*off) == update)
    });
    assert!(
        jumps_to_update,
        "learn_hidden.s ends in learn_out.s's update loop"
    );
}
