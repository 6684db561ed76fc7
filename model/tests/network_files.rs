//! Model files: JSON and bincode round trips give bit-identical predictions; malformed files
//! get typed errors naming the file, layer, field and rule — never a panic.

use model::train::{TrainConfig, Trainer};
use model::*;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("spikemesh-model-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small trained network of each rule (few samples: only the file format matters here).
fn trained(rule: Rule) -> (Network, Trainer, DataSplit) {
    let split = data::digits().unwrap();
    let mut cfg = match rule {
        Rule::S4nn => TrainConfig::s4nn(vec![64, 40, 10], 3),
        Rule::Bs4nn => TrainConfig::bs4nn(vec![64, 40, 10], 3),
    };
    cfg.init_low = vec![-1.0, 0.0];
    cfg.threshold = vec![30, 100];
    cfg.silent_label_shift = 3;
    let mut t = Trainer::new(cfg).unwrap();
    for k in 0..300 {
        t.train_sample(split.train.image(k), split.train.label(k))
            .unwrap();
    }
    (t.export(8, 8), t, split)
}

fn predictions(net: &Network, split: &DataSplit) -> Vec<(usize, Vec<Vec<SpikeTime>>)> {
    let g = GoldenNetwork::new(net).unwrap();
    let enc = LatencyEncoder {
        rule: net.encoding.unwrap(),
        t_max: net.t_max,
    };
    (0..split.test.len())
        .map(|k| {
            let tr = g.forward(&enc.encode(split.test.image(k))).unwrap();
            (tr.prediction, tr.layer_times)
        })
        .collect()
}

#[test]
fn json_and_bincode_round_trip_bit_identically() {
    let dir = tmpdir("rt");
    for rule in [Rule::S4nn, Rule::Bs4nn] {
        let (net, _, split) = trained(rule);
        let before = predictions(&net, &split);
        for name in ["m.json", "m.bin"] {
            let p = dir.join(name);
            net.save(&p).unwrap();
            let back = Network::load(&p).unwrap();
            assert_eq!(back, net, "{rule:?} {name}: network differs after reload");
            assert_eq!(
                predictions(&back, &split),
                before,
                "{rule:?} {name}: predictions differ"
            );
        }
        let json = std::fs::read(dir.join("m.json")).unwrap();
        let bin = std::fs::read(dir.join("m.bin")).unwrap();
        assert!(json.starts_with(b"{"));
        assert!(bin.starts_with(b"SPKMODEL"));
        if rule == Rule::Bs4nn {
            assert!(bin.len() < json.len(), "bincode should be the compact form");
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

fn small_net() -> Network {
    Network {
        format_version: FORMAT_VERSION,
        input: Shape::Map {
            channels: 1,
            height: 2,
            width: 2,
        },
        t_max: 16,
        encoding: Some(EncodingRule::S4nn),
        fallback_offset: 3,
        tie_order: None,
        ties_by_potential: false,
        layers: vec![
            Layer {
                name: "flat".into(),
                kind: LayerKind::Flatten,
            },
            Layer {
                name: "fc".into(),
                kind: LayerKind::Dense(Dense {
                    inputs: 4,
                    outputs: 2,
                    neuron: NeuronModel::S4NN,
                    weights: Weights::Int {
                        bits: 4,
                        values: vec![1, 2, 3, 4, -1, -2, -3, -4],
                    },
                    threshold: Threshold::Neuron(vec![3, 4]),
                    scale: None,
                }),
            },
        ],
    }
}

#[test]
fn tie_rules_round_trip_and_older_versions_still_load() {
    let order = model::TieOrder::new(vec![1, 0], 2).unwrap();
    let mut net = small_net();
    net.tie_order = Some(order.clone());
    net.ties_by_potential = true;
    for bytes in [net.to_json().into_bytes(), net.to_bincode().unwrap()] {
        assert_eq!(Network::from_bytes(&bytes, Path::new("m")).unwrap(), net);
    }
    // An older file is this one without the later fields, in both forms: version 2 lacks
    // `ties_by_potential` (the last field), version 1 also `tie_order` (the one before it).
    let mut v2 = small_net();
    v2.tie_order = Some(order);
    let plain = small_net();
    let older = |net: &Network, version: u8, fields: &[&str], trailing: usize| {
        let mut json = net.to_json().replace(
            "\"format_version\": 3",
            &format!("\"format_version\": {version}"),
        );
        for f in fields {
            json = json.replace(f, "");
        }
        let mut bin = net.to_bincode().unwrap();
        // bincode writes `false` and `None` as one zero byte each.
        for _ in 0..trailing {
            assert_eq!(bin.pop(), Some(0));
        }
        bin[8..12].copy_from_slice(&u32::from(version).to_le_bytes());
        // The payload's first field, `format_version`, is a one-byte varint.
        assert_eq!(bin[12], 3);
        bin[12] = version;
        (json, bin)
    };
    let potential_field = ",\n  \"ties_by_potential\": false";
    let (v2_json, v2_bin) = older(&v2, 2, &[potential_field], 1);
    assert!(!v2_json.contains("ties_by_potential") && v2_json.contains("\"format_version\": 2"));
    let (v1_json, v1_bin) = older(&plain, 1, &[potential_field, ",\n  \"tie_order\": null"], 2);
    assert!(!v1_json.contains("tie_order") && v1_json.contains("\"format_version\": 1"));
    for (expected, json, bin) in [(&v2, v2_json, &v2_bin), (&plain, v1_json, &v1_bin)] {
        assert_eq!(
            &Network::from_bytes(json.as_bytes(), Path::new("old.json")).unwrap(),
            expected
        );
        assert_eq!(
            &Network::from_bytes(bin, Path::new("old.bin")).unwrap(),
            expected
        );
    }
    // An older header on a payload that says otherwise is refused, not converted.
    for (bin, version) in [(&v1_bin, 1), (&v2_bin, 2)] {
        let mut mixed_bin = bin.clone();
        mixed_bin[12] = 7;
        let msg = load_err(&mixed_bin);
        assert!(
            msg.contains(&format!(
                "header says format version {version}, the payload 7"
            )),
            "{msg}"
        );
    }
    // An older JSON file cannot carry what its version lacks.
    let with_version = |v: u32| {
        net.to_json()
            .replace("\"format_version\": 3", &format!("\"format_version\": {v}"))
    };
    let msg = load_err(with_version(2).as_bytes());
    assert!(
        msg.contains("ties_by_potential") && msg.contains("format_version 3"),
        "{msg}"
    );
    let mut v2_ordered = net.clone();
    v2_ordered.ties_by_potential = false;
    let msg = load_err(
        v2_ordered
            .to_json()
            .replace("\"format_version\": 3", "\"format_version\": 1")
            .as_bytes(),
    );
    assert!(
        msg.contains("tie_order") && msg.contains("format_version 2"),
        "{msg}"
    );
}

fn load_err(bytes: &[u8]) -> String {
    match Network::from_bytes(bytes, Path::new("bad-model.json")) {
        Ok(_) => panic!("accepted a malformed model"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn shape_and_range_violations_name_layer_field_and_rule() {
    let json = small_net().to_json();
    assert!(Network::from_bytes(json.as_bytes(), Path::new("ok.json")).is_ok());
    let cases: Vec<(&str, &str, &[&str])> = vec![
        (
            "\"bits\": 4,\n",
            "\"bits\": 1,\n",
            &["layer 1 (\"fc\")", "weights.bits", "2..=16"],
        ),
        (
            "-4\n",
            "-9\n",
            &["layer 1", "weights.values[7]", "-9", "4-bit range"],
        ),
        (
            "\"inputs\": 4",
            "\"inputs\": 5",
            &["layer 1", "inputs", "must equal the 4"],
        ),
        (
            "\"t_max\": 16",
            "\"t_max\": 2",
            &["network", "t_max", "at least 4"],
        ),
        (
            "\"fallback_offset\": 3",
            "\"fallback_offset\": 16",
            &["fallback_offset"],
        ),
        ("\"delay\": 1", "\"delay\": 3", &["neuron.delay", "0 or 1"]),
        (
            "\"format_version\": 3",
            "\"format_version\": 9",
            &["bad-model.json", "version 9", "reads version 3"],
        ),
        (
            "\"tie_order\": null",
            "\"tie_order\": [1, 1]",
            &[
                "bad-model.json",
                "network",
                "tie_order",
                "class 1 is listed twice",
            ],
        ),
        (
            "\"tie_order\": null",
            "\"tie_order\": [0]",
            &["tie_order", "each of the 2 output classes once, found 1"],
        ),
    ];
    for (from, to, needles) in cases {
        assert!(json.contains(from), "fixture lacks {from:?}");
        let bad = json.replacen(from, to, 1);
        let msg = load_err(bad.as_bytes());
        for n in needles {
            assert!(
                msg.contains(n),
                "error {msg:?} lacks {n:?} (edit {from:?} → {to:?})"
            );
        }
    }
    // Negative threshold, edited in the file text.
    let at = json.find("\"Neuron\"").unwrap();
    let three = at + json[at..].find('3').unwrap();
    let bad = format!("{}-1{}", &json[..three], &json[three + 1..]);
    let msg = load_err(bad.as_bytes());
    for n in [
        "bad-model.json",
        "layer 1 (\"fc\")",
        "threshold.Neuron[0]",
        "-1",
        "without input",
    ] {
        assert!(msg.contains(n), "error {msg:?} lacks {n:?}");
    }
    // Threshold list of the wrong length.
    let mut n = small_net();
    if let LayerKind::Dense(d) = &mut n.layers[1].kind {
        d.threshold = Threshold::Neuron(vec![1]);
    }
    let v = n.validate().unwrap_err();
    assert_eq!(
        (v.location.as_str(), v.field.as_str()),
        ("layer 1 (\"fc\")", "threshold.Neuron")
    );
    // Dense on a map without Flatten.
    let mut n = small_net();
    n.layers.remove(0);
    assert!(n.validate().unwrap_err().rule.contains("Flatten"));
    // Binary weights with stray bits past the end.
    let mut n = small_net();
    if let LayerKind::Dense(d) = &mut n.layers[1].kind {
        d.weights = Weights::Binary {
            signs: vec![1 << 9],
        };
    }
    assert!(n.validate().unwrap_err().rule.contains("must be clear"));
    // Output layer must be weighted.
    let mut n = small_net();
    n.layers.push(Layer {
        name: "f2".into(),
        kind: LayerKind::Flatten,
    });
    assert!(n.validate().unwrap_err().rule.contains("output layer"));
    // Conv kernel larger than the padded input.
    let n = Network {
        layers: vec![Layer {
            name: "c".into(),
            kind: LayerKind::Conv2d(Conv2d {
                in_channels: 1,
                out_channels: 1,
                kernel: 3,
                stride: 1,
                padding: 0,
                neuron: NeuronModel::S4NN,
                weights: Weights::Int {
                    bits: 4,
                    values: vec![0; 9],
                },
                threshold: Threshold::Layer(1),
                scale: None,
            }),
        }],
        ..small_net()
    };
    let v = n.validate().unwrap_err();
    assert_eq!(v.field, "kernel");
    // Potential overflow bound.
    let n = Network {
        input: Shape::Flat { size: 70_000 },
        layers: vec![Layer {
            name: "big".into(),
            kind: LayerKind::Dense(Dense {
                inputs: 70_000,
                outputs: 1,
                neuron: NeuronModel::S4NN,
                weights: Weights::Int {
                    bits: 16,
                    values: vec![32_767; 70_000],
                },
                threshold: Threshold::Layer(1),
                scale: None,
            }),
        }],
        ..small_net()
    };
    assert!(n.validate().unwrap_err().rule.contains("32-bit potential"));
}

#[test]
fn syntax_truncation_and_binary_corruption_are_reported() {
    let json = small_net().to_json();
    // JSON syntax error: line and column.
    let msg = load_err(
        json.replacen("\"t_max\": 16,", "\"t_max\": 16,,", 1)
            .as_bytes(),
    );
    assert!(msg.contains("bad-model.json: line"), "{msg}");
    // Unknown field.
    let msg = load_err(json.replacen("\"t_max\"", "\"t_maxx\"", 1).as_bytes());
    assert!(msg.contains("t_maxx"), "{msg}");
    // Truncated JSON.
    let msg = load_err(&json.as_bytes()[..json.len() / 2]);
    assert!(msg.contains("EOF") || msg.contains("line"), "{msg}");
    // Not text at all.
    let msg = load_err(&[0xff, 0xfe, 0x00, 0x12]);
    assert!(msg.contains("not UTF-8"), "{msg}");
    let bin = small_net().to_bincode().unwrap();
    assert!(Network::from_bytes(&bin, Path::new("ok.bin")).is_ok());
    // Truncated header, truncated payload, wrong version, trailing bytes.
    assert!(load_err(&bin[..10]).contains("truncated header"));
    assert!(load_err(&bin[..bin.len() - 3]).contains("malformed binary model"));
    let mut v = bin.clone();
    v[8] = 9;
    assert!(load_err(&v).contains("version 9"));
    let mut v = bin.clone();
    v.extend_from_slice(&[0, 0]);
    assert!(load_err(&v).contains("trailing"));
    // An I/O error names the path.
    let e = Network::load(Path::new("/nonexistent/dir/model.json")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/dir/model.json"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any corruption of a valid file (bincode or JSON) loads or errors; it never panics.
    #[test]
    fn corrupted_files_never_panic(pos in 0usize..4096, byte in any::<u8>(), cut in 0usize..4096, json in any::<bool>()) {
        let mut bytes = if json { small_net().to_json().into_bytes() } else { small_net().to_bincode().unwrap() };
        let n = bytes.len();
        bytes[pos % n] = byte;
        bytes.truncate(n - cut % (n / 2));
        if let Ok(net) = Network::from_bytes(&bytes, Path::new("fuzz")) {
            // Whatever loads is valid and runs.
            let g = GoldenNetwork::new(&net).unwrap();
            let input = vec![SpikeTime(0); g.inputs()];
            prop_assert!(g.forward(&input).is_ok());
        }
    }
}

#[test]
fn on_off_encoding_needs_a_two_channel_input_of_its_width() {
    let mut net = small_net();
    net.encoding = Some(EncodingRule::OnOffCentre { width: 2 });
    let json = net.to_json();
    let e = load_err(json.as_bytes());
    for part in ["encoding", "2 × H × 2 input map", "bad-model.json"] {
        assert!(e.contains(part), "`{part}` missing from: {e}");
    }
    // Two channels of 2×1 (width 1, not 2): still refused.
    net.input = Shape::Map {
        channels: 2,
        height: 2,
        width: 1,
    };
    assert!(load_err(net.to_json().as_bytes()).contains("encoding"));
    // Two 1×2 maps of the declared width: accepted, and the encoding survives both formats.
    net.input = Shape::Map {
        channels: 2,
        height: 1,
        width: 2,
    };
    let back = Network::from_bytes(net.to_json().as_bytes(), Path::new("ok.json")).unwrap();
    assert_eq!(back.encoding, Some(EncodingRule::OnOffCentre { width: 2 }));
    let bin = net.to_bincode().unwrap();
    let back = Network::from_bytes(&bin, Path::new("ok.bin")).unwrap();
    assert_eq!(back, net);
}

#[test]
fn layer_weights_count_what_the_declared_shape_holds() {
    let net = small_net();
    assert!(net.layers[0].weights().is_none());
    let (w, n) = net.layers[1].weights().unwrap();
    assert_eq!((n, w.stored_len()), (8, 8));
    // A conv net exported by the STiDi trainer: one count per weighted layer, equal to the
    // trainer's latent weights (4·1·3·3 = 36 for the conv, 4·3·3·10 = 360 for the output).
    let split = data::digits().unwrap();
    let arch = stidi::Arch::parse("c4k3-p2-fc10").unwrap();
    let t = stidi::StidiTrainer::for_dataset(&arch, &split.train, stidi::StidiConfig::binary(), 1)
        .unwrap();
    let counts: Vec<usize> = t
        .export()
        .unwrap()
        .layers
        .iter()
        .filter_map(Layer::weights)
        .map(|(_, n)| n)
        .collect();
    let latent: Vec<usize> = (0..t.weighted_layers())
        .map(|l| t.latent_weights(l).len())
        .collect();
    assert_eq!(counts, latent);
    assert_eq!(counts, vec![36, 360]);
}
