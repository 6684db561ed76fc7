//! LIF network files (`model::lif`): any number in a valid file replaced by an arbitrary value
//! either loads to a network whose forward pass runs or is refused with an error naming the
//! file — never a panic, never an unvalidated network.

use model::lif::{LifConv, LifLayer, LifNetwork, LifNeuron, LifReset, RateCode, Readout};
use proptest::prelude::*;
use std::path::Path;

/// A small conv → dense network, every field in use.
fn sample() -> LifNetwork {
    let conv = LifConv {
        in_channels: 1,
        in_height: 4,
        in_width: 4,
        out_channels: 2,
        kernel: 3,
        stride: 1,
        padding: 1,
    };
    LifNetwork {
        lif_format_version: model::lif::LIF_FORMAT_VERSION,
        inputs: 16,
        steps: 6,
        encoding: Some(RateCode::Regular),
        readout: Readout::FinalVoltage,
        layers: vec![
            LifLayer {
                name: "conv".into(),
                inputs: 16,
                outputs: 32,
                conv: Some(conv),
                weight_bits: 8,
                weights: (0..18).map(|x| x as i16 - 9).collect(),
                neuron: LifNeuron {
                    du: 4095,
                    dv: 100,
                    vth: 20,
                    reset: LifReset::Subtract,
                },
                bias_mant: vec![3; 32],
                bias_exp: vec![1; 32],
                bias_target: Default::default(),
                recurrent: vec![],
                du_per_neuron: vec![],
                dv_per_neuron: vec![],
            },
            LifLayer {
                name: "fc".into(),
                inputs: 32,
                outputs: 3,
                conv: None,
                weight_bits: 8,
                weights: (0..96).map(|x| (x % 11) as i16 - 5).collect(),
                neuron: LifNeuron {
                    du: 1000,
                    dv: 0,
                    vth: 30,
                    reset: LifReset::Zero,
                },
                bias_mant: vec![],
                bias_exp: vec![],
                bias_target: Default::default(),
                recurrent: vec![],
                du_per_neuron: vec![],
                dv_per_neuron: vec![],
            },
        ],
        provenance: "test".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn any_number_replaced_loads_or_is_refused(
        which in 0usize..400,
        value in prop_oneof![
            Just(-1i64), Just(0), Just(1), Just(65_536), Just(4_294_967_295), Just(4_294_967_296),
            Just(i64::MAX), -100_000i64..100_000
        ],
    ) {
        let text = sample().to_json();
        // Replace the `which`-th run of digits (with its sign) by `value`.
        let bytes = text.as_bytes();
        let mut runs = Vec::new();
        let mut k = 0;
        while k < bytes.len() {
            if bytes[k].is_ascii_digit() {
                let start = if k > 0 && bytes[k - 1] == b'-' { k - 1 } else { k };
                while k < bytes.len() && bytes[k].is_ascii_digit() {
                    k += 1;
                }
                runs.push(start..k);
            } else {
                k += 1;
            }
        }
        let run = runs[which % runs.len()].clone();
        let mutated = format!("{}{}{}", &text[..run.start], value, &text[run.end..]);
        match LifNetwork::from_bytes(mutated.as_bytes(), Path::new("m.json")) {
            Ok(net) => {
                prop_assert!(net.validate().is_ok());
                let spikes: Vec<(u32, u32)> = (0..net.inputs.min(64)).map(|c| (c, c % 4)).collect();
                let r = net.forward(&spikes);
                prop_assert_eq!(r.output_counts.len(), net.outputs());
            }
            Err(e) => prop_assert!(e.to_string().starts_with("m.json"), "{}", e),
        }
    }
}

#[test]
fn the_sample_network_is_valid() {
    sample().validate().unwrap();
}
