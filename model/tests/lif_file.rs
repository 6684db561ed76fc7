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
                input_delays: vec![],
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
                input_delays: vec![0, 2, 5],
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// A neuron at rest whose input is delayed by `d` steps spikes as it would without the
    /// delay, `d` steps later (what SLAYER's axonal delay does to its output): the golden
    /// model's input delays, checked against the undelayed network's first spikes.
    #[test]
    fn an_input_delay_shifts_a_resting_neurons_spikes(
        weights in proptest::collection::vec(-40i16..=60, 12 * 4),
        delays in proptest::collection::vec(0u8..=6, 4),
        spikes in proptest::collection::vec((0u32..12, 0u32..16), 0..60),
        vth in 20u32..200,
    ) {
        let mut net = LifNetwork {
            lif_format_version: model::lif::LIF_FORMAT_VERSION,
            inputs: 12,
            steps: 16,
            encoding: None,
            readout: Readout::SpikeCount,
            // The sample's dense layer (no bias, no recurrence), resized and undelayed.
            layers: vec![LifLayer {
                inputs: 12,
                outputs: 4,
                weights,
                neuron: LifNeuron { du: 2000, dv: 300, vth, reset: LifReset::Subtract },
                input_delays: vec![],
                ..sample().layers[1].clone()
            }],
            provenance: String::new(),
        };
        let plain = net.forward(&spikes).first_output_spike;
        net.layers[0].input_delays = delays.clone();
        net.validate().unwrap();
        let delayed = net.forward(&spikes).first_output_spike;
        for j in 0..4 {
            let want = plain[j]
                .map(|t| t + u32::from(delays[j]))
                .filter(|&t| t < net.steps);
            prop_assert_eq!(delayed[j], want, "neuron {}", j);
        }
    }
}
