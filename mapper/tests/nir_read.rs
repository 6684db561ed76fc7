//! `mapper::nir::read_nir` on the fixtures written by `tests/data/nir/make_fixtures.py` with the
//! `nir` Python package (`nir.write`): every value asserted here is the one the script wrote.

use std::collections::BTreeMap;
use std::path::Path;

use mapper::nir::{read_nir, Matrix, NirError, NirGraph, NirNode, Tensor4};

macro_rules! fixture {
    ($name:literal) => {
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/nir/",
            $name
        ))
    };
}

/// The version of the `nir` package that wrote the fixtures.
const NIR_VERSION: &str = "1.0.8";

fn edges(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn graph(nodes: Vec<(&str, NirNode)>, edge_list: &[(&str, &str)]) -> NirGraph {
    NirGraph {
        version: NIR_VERSION.to_string(),
        nodes: nodes
            .into_iter()
            .map(|(name, node)| (name.to_string(), node))
            .collect::<BTreeMap<_, _>>(),
        edges: edges(edge_list),
    }
}

fn read(path: &Path) -> NirGraph {
    match read_nir(path) {
        Ok(graph) => graph,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn lif_mlp_reads_every_value() {
    let g = read(fixture!("lif_mlp.nir"));
    assert_eq!(g.version, NIR_VERSION);
    assert_eq!(
        g.edges,
        edges(&[
            ("input", "fc1"),
            ("fc1", "lif1"),
            ("lif1", "fc2"),
            ("fc2", "lif2"),
            ("lif2", "output"),
        ])
    );
    assert_eq!(g.nodes["input"], NirNode::Input { shape: vec![4] });
    assert_eq!(g.nodes["output"], NirNode::Output { shape: vec![2] });
    // float32 in the file
    assert_eq!(
        g.nodes["fc1"],
        NirNode::Affine {
            weight: Matrix {
                rows: 3,
                cols: 4,
                values: vec![
                    0.5, -0.25, 1.0, 0.125, //
                    -1.5, 2.0, 0.0, 0.75, //
                    0.25, 0.5, -0.5, -2.0,
                ],
            },
            bias: vec![0.0625, -0.125, 0.25],
        }
    );
    assert_eq!(
        g.nodes["lif1"],
        NirNode::Lif {
            tau: vec![0.0078125, 0.015625, 0.03125],
            r: vec![1.0, 2.0, 4.0],
            v_leak: vec![0.0, -0.5, 0.5],
            v_threshold: vec![1.0, 1.5, 2.0],
            v_reset: vec![0.0, 0.25, -0.25],
        }
    );
    // float64 in the file
    assert_eq!(
        g.nodes["fc2"],
        NirNode::Affine {
            weight: Matrix {
                rows: 2,
                cols: 3,
                values: vec![1.25, -0.75, 0.5, -0.375, 0.875, 3.0],
            },
            bias: vec![0.5, -1.0],
        }
    );
    assert_eq!(
        g.nodes["lif2"],
        NirNode::Lif {
            tau: vec![0.0625, 0.125],
            r: vec![1.0, 1.0],
            v_leak: vec![0.0, 0.0],
            v_threshold: vec![0.75, 1.25],
            v_reset: vec![-0.5, 0.0],
        }
    );
    assert_eq!(g.nodes.len(), 6);
}

#[test]
fn cuba_linear_reads_every_value() {
    let expected = graph(
        vec![
            ("in", NirNode::Input { shape: vec![3] }),
            (
                "lin",
                NirNode::Linear {
                    weight: Matrix {
                        rows: 2,
                        cols: 3,
                        values: vec![1.0, 2.0, 3.0, -4.0, -5.0, -6.0],
                    },
                },
            ),
            (
                "cuba",
                NirNode::CubaLif {
                    tau_syn: vec![0.00390625, 0.0078125],
                    tau_mem: vec![0.015625, 0.03125],
                    r: vec![1.0, 0.5],
                    v_leak: vec![0.0, 0.125],
                    v_threshold: vec![1.0, 0.875],
                    v_reset: vec![0.0, -0.125],
                    w_in: vec![2.0, 0.5],
                },
            ),
            ("out", NirNode::Output { shape: vec![2] }),
        ],
        &[("in", "lin"), ("lin", "cuba"), ("cuba", "out")],
    );
    assert_eq!(read(fixture!("cuba_linear.nir")), expected);
}

#[test]
fn nested_graph_is_read_recursively() {
    let inner = graph(
        vec![
            ("input", NirNode::Input { shape: vec![2] }),
            (
                "aff",
                NirNode::Affine {
                    weight: Matrix {
                        rows: 2,
                        cols: 2,
                        values: vec![1.0, -1.0, 0.5, 0.25],
                    },
                    bias: vec![0.0, 0.5],
                },
            ),
            (
                "spk",
                NirNode::If {
                    r: vec![1.0, 2.0],
                    v_threshold: vec![0.5, 1.0],
                    v_reset: vec![0.0, -0.5],
                },
            ),
            ("output", NirNode::Output { shape: vec![2] }),
        ],
        &[("input", "aff"), ("aff", "spk"), ("spk", "output")],
    );
    let expected = graph(
        vec![
            ("input", NirNode::Input { shape: vec![2] }),
            ("block", NirNode::Graph(inner)),
            ("output", NirNode::Output { shape: vec![2] }),
        ],
        &[("input", "block"), ("block", "output")],
    );
    assert_eq!(read(fixture!("if_nested.nir")), expected);
}

/// `n` values `f(k)` for `k = 0..n` (the fixture script's `np.arange` formulas; every value is
/// a binary fraction, exact in float32).
fn ramp(n: u32, f: impl Fn(f64) -> f64) -> Vec<f64> {
    (0..n).map(|k| f(f64::from(k))).collect()
}

#[test]
fn conv_fixture_reads_as_conv2d_with_every_value() {
    let expected = graph(
        vec![
            (
                "input",
                NirNode::Input {
                    shape: vec![1, 4, 4],
                },
            ),
            (
                "conv",
                NirNode::Conv2d {
                    weight: Tensor4 {
                        dims: [2, 1, 3, 3],
                        values: vec![
                            -1.125, -1.0, -0.875, //
                            -0.75, -0.625, -0.5, //
                            -0.375, -0.25, -0.125, //
                            0.0, 0.125, 0.25, //
                            0.375, 0.5, 0.625, //
                            0.75, 0.875, 1.0,
                        ],
                    },
                    bias: vec![0.0, 0.5],
                    stride: [1, 1],
                    padding: [0, 0],
                    dilation: [1, 1],
                    groups: 1,
                    input_shape: Some([4, 4]),
                },
            ),
            ("flat", NirNode::Flatten),
            ("output", NirNode::Output { shape: vec![8] }),
        ],
        &[("input", "conv"), ("conv", "flat"), ("flat", "output")],
    );
    assert_eq!(read(fixture!("conv.nir")), expected);
}

#[test]
fn conv_net_reads_every_value() {
    let expected = graph(
        vec![
            (
                "input",
                NirNode::Input {
                    shape: vec![1, 6, 6],
                },
            ),
            (
                "conv",
                NirNode::Conv2d {
                    weight: Tensor4 {
                        dims: [2, 1, 3, 3],
                        values: vec![
                            0.5, -0.25, 0.125, //
                            1.0, -1.5, 0.75, //
                            -0.0625, 2.0, -0.375, //
                            -0.5, 0.25, 1.25, //
                            0.375, -0.75, -2.0, //
                            0.625, -0.125, 1.5,
                        ],
                    },
                    bias: vec![0.25, -0.5],
                    stride: [1, 1],
                    padding: [0, 0],
                    dilation: [1, 1],
                    groups: 1,
                    input_shape: Some([6, 6]),
                },
            ),
            (
                "spk",
                NirNode::If {
                    r: ramp(32, |k| 1.0 + k / 16.0),
                    v_threshold: ramp(32, |k| 0.5 + k / 32.0),
                    v_reset: ramp(32, |k| -k / 64.0),
                },
            ),
            ("flat", NirNode::Flatten),
            (
                "fc",
                NirNode::Affine {
                    weight: Matrix {
                        rows: 3,
                        cols: 32,
                        values: ramp(96, |k| (k - 48.0) / 64.0),
                    },
                    bias: vec![0.125, -0.25, 0.5],
                },
            ),
            (
                "lif",
                NirNode::Lif {
                    tau: vec![0.03125, 0.0625, 0.125],
                    r: vec![1.0, 1.0, 2.0],
                    v_leak: vec![0.0, 0.0, -0.25],
                    v_threshold: vec![1.0, 1.5, 0.75],
                    v_reset: vec![0.0, -0.5, 0.25],
                },
            ),
            ("output", NirNode::Output { shape: vec![3] }),
        ],
        &[
            ("input", "conv"),
            ("conv", "spk"),
            ("spk", "flat"),
            ("flat", "fc"),
            ("fc", "lif"),
            ("lif", "output"),
        ],
    );
    let g = read(fixture!("conv_net.nir"));
    // Spot checks of the layout: IF value at (c, y, x) = (1, 2, 3) is flat index 16 + 8 + 3.
    match &g.nodes["spk"] {
        NirNode::If { r, .. } => assert_eq!(r[27], 1.0 + 27.0 / 16.0),
        other => panic!("spk: {other:?}"),
    }
    // Conv weight (o, c, y, x) = (1, 0, 2, 0) is ((1*1 + 0)*3 + 2)*3 + 0 = 15.
    match &g.nodes["conv"] {
        NirNode::Conv2d { weight, .. } => assert_eq!(weight.values[15], 0.625),
        other => panic!("conv: {other:?}"),
    }
    assert_eq!(g, expected);
}

#[test]
fn pool_net_reads_pools_string_and_scalar_paddings() {
    let expected = graph(
        vec![
            (
                "input",
                NirNode::Input {
                    shape: vec![2, 8, 8],
                },
            ),
            // padding "same" with a 3x3 kernel, stride 1, dilation (2, 1): 2*(3-1)/2, 1*(3-1)/2.
            (
                "same",
                NirNode::Conv2d {
                    weight: Tensor4 {
                        dims: [2, 2, 3, 3],
                        values: ramp(36, |k| (k - 18.0) / 16.0),
                    },
                    bias: vec![0.5, -0.5],
                    stride: [1, 1],
                    padding: [2, 1],
                    dilation: [2, 1],
                    groups: 1,
                    input_shape: Some([8, 8]),
                },
            ),
            // kernel_size/stride/padding 0-d scalars 2/2/0 in the file.
            (
                "sum",
                NirNode::SumPool2d {
                    kernel: [2, 2],
                    stride: [2, 2],
                    padding: [0, 0],
                },
            ),
            // stride/padding/dilation 0-d scalars 2/1/1 in the file; weight float64.
            (
                "strided",
                NirNode::Conv2d {
                    weight: Tensor4 {
                        dims: [3, 2, 2, 2],
                        values: ramp(24, |k| (k - 12.0) / 8.0),
                    },
                    bias: vec![0.0, 0.125, -0.125],
                    stride: [2, 2],
                    padding: [1, 1],
                    dilation: [1, 1],
                    groups: 1,
                    input_shape: Some([4, 4]),
                },
            ),
            // pairs (gzip int64 (2,)) that differ between height and width.
            (
                "avg",
                NirNode::AvgPool2d {
                    kernel: [2, 1],
                    stride: [1, 2],
                    padding: [1, 0],
                },
            ),
            // padding "valid".
            (
                "valid",
                NirNode::Conv2d {
                    weight: Tensor4 {
                        dims: [1, 3, 2, 2],
                        values: vec![
                            0.5, -1.0, 0.25, 2.0, //
                            -0.75, 1.5, 3.0, -0.1875, //
                            1.75, -2.5, 0.375, -0.625,
                        ],
                    },
                    bias: vec![0.0625],
                    stride: [1, 1],
                    padding: [0, 0],
                    dilation: [1, 1],
                    groups: 1,
                    input_shape: Some([4, 2]),
                },
            ),
            (
                "output",
                NirNode::Output {
                    shape: vec![1, 3, 1],
                },
            ),
        ],
        &[
            ("input", "same"),
            ("same", "sum"),
            ("sum", "strided"),
            ("strided", "avg"),
            ("avg", "valid"),
            ("valid", "output"),
        ],
    );
    assert_eq!(read(fixture!("pool_net.nir")), expected);
}

#[test]
fn fixed_length_strings_int_params_and_missing_v_reset() {
    // `type` and `edges` are numpy `S` strings, `v_threshold` is int32, `v_reset` is absent.
    let expected = graph(
        vec![
            ("input", NirNode::Input { shape: vec![2] }),
            (
                "spk",
                NirNode::If {
                    r: vec![1.0, 0.5],
                    v_threshold: vec![3.0, 7.0],
                    v_reset: vec![0.0, 0.0],
                },
            ),
            ("output", NirNode::Output { shape: vec![2] }),
        ],
        &[("input", "spk"), ("spk", "output")],
    );
    assert_eq!(read(fixture!("legacy_if.nir")), expected);
}

#[test]
fn scalar_params_read_as_one_element() {
    let g = read(fixture!("scalar_lif.nir"));
    assert_eq!(
        g.nodes["lif"],
        NirNode::Lif {
            tau: vec![0.25],
            r: vec![2.0],
            v_leak: vec![-0.5],
            v_threshold: vec![1.0],
            v_reset: vec![0.125],
        }
    );
    assert_eq!(g.edges, edges(&[("input", "lif"), ("lif", "output")]));
}

#[test]
fn delay_nodes_read_with_their_delays() {
    let g = read(fixture!("delays.nir"));
    assert_eq!(
        g.nodes["wait1"],
        NirNode::Delay {
            delay: vec![0.001953125, 0.0]
        }
    );
    assert_eq!(
        g.nodes["wait2"],
        NirNode::Delay {
            delay: vec![0.0009765625, 0.0009765625]
        }
    );
    assert_eq!(g.nodes.len(), 8);
    assert_eq!(
        g.edges,
        edges(&[
            ("input", "fc1"),
            ("fc1", "wait1"),
            ("wait1", "if1"),
            ("if1", "wait2"),
            ("wait2", "fc2"),
            ("fc2", "if2"),
            ("if2", "output"),
        ])
    );
}

#[test]
fn missing_weight_names_file_node_and_dataset() {
    let path = fixture!("broken_missing_weight.nir");
    let err = read_nir(path).expect_err("an Affine without weight must not read");
    match &err {
        NirError::MissingDataset {
            path: node_path,
            node,
            type_name,
            dataset,
            ..
        } => {
            assert_eq!(node_path, "node/nodes/fc1");
            assert_eq!(node, "fc1");
            assert_eq!(type_name, "Affine");
            assert_eq!(*dataset, "weight");
        }
        other => panic!("expected MissingDataset, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("broken_missing_weight.nir"), "{msg}");
    assert!(msg.contains("`weight`"), "{msg}");
    assert!(msg.contains("`fc1`"), "{msg}");
    assert!(msg.contains("Affine"), "{msg}");
    assert!(msg.contains("node/nodes/fc1"), "{msg}");
}

#[test]
fn text_file_is_not_hdf5() {
    let err = read_nir(fixture!("not_hdf5.nir")).expect_err("a text file must not read");
    assert!(matches!(err, NirError::NotHdf5 { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("not_hdf5.nir"), "{msg}");
    assert!(msg.contains("not an HDF5 file"), "{msg}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = read_nir(fixture!("no_such_file.nir")).expect_err("no file, no graph");
    assert!(matches!(err, NirError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("no_such_file.nir"), "{err}");
}

/// Damaged copies of a real file (truncated, bytes overwritten) give errors, never a panic.
#[test]
fn damaged_files_give_errors_not_panics() {
    damage(fixture!("lif_mlp.nir"), "lif_mlp", |p| {
        let _ = read_nir(p);
    });
}

/// The same for a file with convolution and pooling nodes (string and scalar paddings).
#[test]
fn damaged_conv_files_give_errors_not_panics() {
    damage(fixture!("pool_net.nir"), "pool_net", |p| {
        let _ = read_nir(p);
    });
}

/// The same for Lava-DL's netx files (the convolutional and the recurrent one), read and, when
/// they still read, lowered.
#[test]
fn damaged_netx_files_give_errors_not_panics() {
    for name in ["lavadl_conv.net", "lavadl_rnn.net"] {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/netx")
            .join(name);
        damage(&file, name, |p| {
            if let Ok(net) = mapper::read_netx(p) {
                let _ = mapper::lower_netx(&net, "damaged.net", 32, None);
            }
        });
    }
}

/// Reads 300 damaged copies of `fixture` (truncated, bytes overwritten) with `read`: Ok or
/// Err, no panic.
fn damage(fixture: &Path, tag: &str, read: impl Fn(&Path)) {
    let good = std::fs::read(fixture).expect("the fixture is there");
    let dir = std::env::temp_dir().join(format!("nir_read_damaged_{tag}_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("damaged.nir");
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let len = good.len() as u64;
    for case in 0..300 {
        let mut bytes = good.clone();
        if case % 3 == 0 {
            bytes.truncate((next() % len) as usize);
        } else {
            for _ in 0..1 + next() % 6 {
                let at = (next() % len) as usize;
                bytes[at] = next() as u8;
            }
        }
        std::fs::write(&path, &bytes).expect("write the damaged copy");
        // Ok is fine too (a byte in unused space); only a panic fails.
        read(&path);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A node of a hand-made file: its name, its type and its datasets.
type NodeSpec<'a> = (&'a str, &'a str, &'a dyn Fn(&mut hdf5_pure::GroupBuilder));

/// Writes a NIR-shaped file with hdf5-pure's writer (for the faults `nir.write` cannot make):
/// `/version`, `/node/type` = `root_type` (none if `None`), `/node/edges`, and one group per
/// node with its `type` and the datasets `fill` adds.
fn hand_made(
    file_name: &str,
    root_type: Option<&str>,
    edge_list: &[(&str, &str)],
    nodes: &[NodeSpec],
) -> TempFile {
    let path = std::env::temp_dir().join(format!("nir_read_{}_{file_name}", std::process::id()));
    let mut file = hdf5_pure::FileBuilder::new();
    file.create_dataset("version")
        .with_vlen_strings(&[NIR_VERSION]);
    let mut node = file.create_group("node");
    if let Some(t) = root_type {
        node.create_dataset("type").with_vlen_strings(&[t]);
    }
    let flat: Vec<&str> = edge_list.iter().flat_map(|(a, b)| [*a, *b]).collect();
    node.create_dataset("edges")
        .with_vlen_strings(&flat)
        .with_shape(&[edge_list.len() as u64, 2]);
    let mut group = node.create_group("nodes");
    for (name, type_name, fill) in nodes {
        let mut g = group.create_group(name);
        g.create_dataset("type").with_vlen_strings(&[type_name]);
        fill(&mut g);
        group.add_group(g.finish());
    }
    node.add_group(group.finish());
    file.add_group(node.finish());
    file.write(&path).expect("write the hand-made file");
    TempFile(path)
}

fn io_shape(g: &mut hdf5_pure::GroupBuilder) {
    g.create_dataset("shape").with_i64_data(&[2]);
}

#[test]
fn hand_made_file_reads_like_nir_write() {
    let path = hand_made(
        "hand_made_ok.nir",
        Some("NIRGraph"),
        &[("input", "lin"), ("lin", "output")],
        &[
            ("input", "Input", &io_shape),
            ("lin", "Linear", &|g| {
                g.create_dataset("weight")
                    .with_f64_data(&[1.0, 2.0, 3.0, 4.0])
                    .with_shape(&[2, 2]);
            }),
            ("output", "Output", &io_shape),
        ],
    );
    let g = read(&path.0);
    assert_eq!(
        g.nodes["lin"],
        NirNode::Linear {
            weight: Matrix {
                rows: 2,
                cols: 2,
                values: vec![1.0, 2.0, 3.0, 4.0]
            }
        }
    );
    assert_eq!(g.edges, edges(&[("input", "lin"), ("lin", "output")]));
}

#[test]
fn edge_to_a_missing_node_is_refused() {
    let path = hand_made(
        "bad_edge.nir",
        Some("NIRGraph"),
        &[("input", "outptu")],
        &[
            ("input", "Input", &io_shape),
            ("output", "Output", &io_shape),
        ],
    );
    let err = read_nir(&path.0).expect_err("an edge to no node must not read");
    match &err {
        NirError::UnknownEdgeNode {
            path,
            index,
            src,
            dst,
            end,
            ..
        } => {
            assert_eq!((path.as_str(), *index), ("node", 0));
            assert_eq!(
                (src.as_str(), dst.as_str(), *end),
                ("input", "outptu", "destination")
            );
        }
        other => panic!("expected UnknownEdgeNode, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("bad_edge.nir") && msg.contains("outptu"),
        "{msg}"
    );
}

#[test]
fn weight_that_is_not_2d_is_refused() {
    let path = hand_made(
        "weight_1d.nir",
        Some("NIRGraph"),
        &[],
        &[("lin", "Linear", &|g| {
            g.create_dataset("weight").with_f32_data(&[1.0, 2.0, 3.0]);
        })],
    );
    let err = read_nir(&path.0).expect_err("a 1-D weight must not read");
    match &err {
        NirError::WrongShape {
            path,
            dataset,
            shape,
            ..
        } => {
            assert_eq!(
                (path.as_str(), dataset.as_str()),
                ("node/nodes/lin", "weight")
            );
            assert_eq!(shape, &vec![3]);
        }
        other => panic!("expected WrongShape, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("weight_1d.nir")
            && msg.contains("node/nodes/lin/weight")
            && msg.contains("2-D"),
        "{msg}"
    );
}

#[test]
fn string_parameter_is_an_unsupported_dtype() {
    let path = hand_made(
        "string_tau.nir",
        Some("NIRGraph"),
        &[],
        &[("lif", "LIF", &|g| {
            g.create_dataset("tau").with_vlen_strings(&["fast"]);
            for p in ["r", "v_leak", "v_threshold", "v_reset"] {
                g.create_dataset(p).with_f64_data(&[1.0]);
            }
        })],
    );
    let err = read_nir(&path.0).expect_err("a string tau must not read");
    assert!(
        matches!(&err, NirError::UnsupportedDtype { path, dataset, .. } if path == "node/nodes/lif" && dataset == "tau"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("string_tau.nir")
            && msg.contains("node/nodes/lif/tau")
            && msg.contains("dtype"),
        "{msg}"
    );
}

#[test]
fn missing_root_type_and_non_graph_root_are_refused() {
    let path = hand_made("no_type.nir", None, &[], &[]);
    let err = read_nir(&path.0).expect_err("a root without type must not read");
    assert!(
        matches!(&err, NirError::MissingType { path, .. } if path == "node"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("no_type.nir") && msg.contains("`type`"),
        "{msg}"
    );

    let path = hand_made("lif_root.nir", Some("LIF"), &[], &[]);
    let err = read_nir(&path.0).expect_err("a LIF root is not a graph");
    assert!(
        matches!(&err, NirError::RootNotGraph { type_name, .. } if type_name == "LIF"),
        "{err:?}"
    );
}

/// A `Conv2d` node's datasets for a hand-made file: the ones `nir.write` writes, with a 2→2
/// channel 1×1 kernel, stride/padding/dilation pairs, groups 1, bias and input_shape; `change`
/// then replaces or removes some (hdf5-pure cannot delete, so each is written once).
fn conv_node<'a>(
    change: &'a dyn Fn(&str, &mut hdf5_pure::GroupBuilder) -> bool,
) -> impl Fn(&mut hdf5_pure::GroupBuilder) + 'a {
    move |g| {
        // `change` returns true when it wrote (or deliberately left out) the dataset itself.
        if !change("weight", g) {
            g.create_dataset("weight")
                .with_f32_data(&[1.0, 2.0, 3.0, 4.0])
                .with_shape(&[2, 2, 1, 1]);
        }
        if !change("bias", g) {
            g.create_dataset("bias").with_f32_data(&[0.5, -0.5]);
        }
        for name in ["stride", "padding", "dilation"] {
            if !change(name, g) {
                let v = if name == "padding" { 0 } else { 1 };
                g.create_dataset(name).with_i64_data(&[v, v]);
            }
        }
        if !change("groups", g) {
            g.create_dataset("groups")
                .with_i64_data(&[1])
                .with_shape(&[]);
        }
        if !change("input_shape", g) {
            g.create_dataset("input_shape").with_i64_data(&[5, 5]);
        }
    }
}

/// A file whose only node is the `Conv2d` `conv` built by [`conv_node`] with `change`.
fn conv_file(
    file_name: &str,
    change: &dyn Fn(&str, &mut hdf5_pure::GroupBuilder) -> bool,
) -> TempFile {
    let fill = conv_node(change);
    hand_made(
        file_name,
        Some("NIRGraph"),
        &[],
        &[("conv", "Conv2d", &fill)],
    )
}

#[test]
fn conv2d_weight_that_is_not_4d_is_refused() {
    let path = conv_file("conv_weight_3d.nir", &|name, g| {
        if name != "weight" {
            return false;
        }
        g.create_dataset("weight")
            .with_f32_data(&[0.5; 18])
            .with_shape(&[2, 3, 3]);
        true
    });
    let err = read_nir(&path.0).expect_err("a 3-D Conv2d weight must not read");
    match &err {
        NirError::WrongShape {
            path,
            dataset,
            shape,
            ..
        } => {
            assert_eq!(
                (path.as_str(), dataset.as_str()),
                ("node/nodes/conv", "weight")
            );
            assert_eq!(shape, &vec![2, 3, 3]);
        }
        other => panic!("expected WrongShape, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("conv_weight_3d.nir")
            && msg.contains("node/nodes/conv/weight")
            && msg.contains("[2, 3, 3]")
            && msg.contains("4-D"),
        "{msg}"
    );
}

/// Written by other tools: no bias, no input_shape, 0-d stride of another integer type,
/// a non-square kernel with groups 2, and "same" padding that dilation makes even.
#[test]
fn conv2d_without_bias_or_input_shape_and_with_scalars() {
    let path = conv_file("conv_other_writer.nir", &|name, g| {
        match name {
            "bias" | "input_shape" => {}
            "weight" => {
                // 4 out × 1 in/group × 3 high × 2 wide.
                let w: Vec<f64> = (0..24).map(|k| f64::from(k) / 4.0).collect();
                g.create_dataset("weight")
                    .with_f64_data(&w)
                    .with_shape(&[4, 1, 3, 2]);
            }
            "stride" => {
                g.create_dataset("stride")
                    .with_i32_data(&[1])
                    .with_shape(&[]);
            }
            "dilation" => {
                g.create_dataset("dilation").with_u8_data(&[1, 2]);
            }
            "padding" => {
                g.create_dataset("padding").with_vlen_strings(&["same"]);
            }
            "groups" => {
                g.create_dataset("groups").with_u16_data(&[2]);
            }
            _ => return false,
        }
        true
    });
    let g = read(&path.0);
    assert_eq!(
        g.nodes["conv"],
        NirNode::Conv2d {
            weight: Tensor4 {
                dims: [4, 1, 3, 2],
                values: (0..24).map(|k| f64::from(k) / 4.0).collect(),
            },
            bias: vec![],
            stride: [1, 1],
            // height: 1 × (3 − 1) / 2; width: 2 × (2 − 1) / 2.
            padding: [1, 1],
            dilation: [1, 2],
            groups: 2,
            input_shape: None,
        }
    );
}

/// Each bad Conv2d parameter is an error naming the file, the node, the dataset and the rule.
#[test]
fn conv2d_bad_parameters_are_refused() {
    type Change = dyn Fn(&str, &mut hdf5_pure::GroupBuilder) -> bool;
    let same_strided: &Change = &|name, g| match name {
        "padding" => {
            g.create_dataset("padding").with_vlen_strings(&["same"]);
            true
        }
        "stride" => {
            g.create_dataset("stride").with_i64_data(&[2, 1]);
            true
        }
        _ => false,
    };
    let same_even_kernel: &Change = &|name, g| match name {
        "padding" => {
            g.create_dataset("padding").with_vlen_strings(&["same"]);
            true
        }
        "weight" => {
            g.create_dataset("weight")
                .with_f32_data(&[1.0; 8])
                .with_shape(&[2, 1, 2, 2]);
            true
        }
        _ => false,
    };
    let unknown_mode: &Change = &|name, g| {
        name == "padding" && {
            g.create_dataset("padding").with_vlen_strings(&["full"]);
            true
        }
    };
    let zero_stride: &Change = &|name, g| {
        name == "stride" && {
            g.create_dataset("stride")
                .with_i64_data(&[0])
                .with_shape(&[]);
            true
        }
    };
    let three_values: &Change = &|name, g| {
        name == "dilation" && {
            g.create_dataset("dilation").with_i64_data(&[1, 1, 1]);
            true
        }
    };
    let float_padding: &Change = &|name, g| {
        name == "padding" && {
            g.create_dataset("padding").with_f64_data(&[0.5, 0.5]);
            true
        }
    };
    let negative_padding: &Change = &|name, g| {
        name == "padding" && {
            g.create_dataset("padding").with_i64_data(&[-1, 0]);
            true
        }
    };
    let no_groups: &Change = &|name, _| name == "groups";
    let zero_groups: &Change = &|name, g| {
        name == "groups" && {
            g.create_dataset("groups")
                .with_i64_data(&[0])
                .with_shape(&[]);
            true
        }
    };
    let cases: [(&str, &Change, &str, &str); 9] = [
        ("same_strided", same_strided, "padding", "stride [2, 1]"),
        ("same_even", same_even_kernel, "padding", "kernel [2, 2]"),
        ("unknown_mode", unknown_mode, "padding", "\"full\""),
        (
            "zero_stride",
            zero_stride,
            "stride",
            "smallest valid value, 1",
        ),
        ("three_values", three_values, "dilation", "[3]"),
        ("float_padding", float_padding, "padding", "integer"),
        (
            "negative_padding",
            negative_padding,
            "padding",
            "-1 is not a size",
        ),
        ("no_groups", no_groups, "groups", "missing dataset"),
        ("zero_groups", zero_groups, "groups", "at least 1"),
    ];
    for (case, change, dataset, rule) in cases {
        let file_name = format!("conv_bad_{case}.nir");
        let path = conv_file(&file_name, change);
        let err = read_nir(&path.0).expect_err(case);
        let msg = err.to_string();
        assert!(msg.contains(&file_name), "{case}: {msg}");
        assert!(msg.contains("node/nodes/conv"), "{case}: {msg}");
        assert!(msg.contains(&format!("{dataset}`")), "{case}: {msg}");
        assert!(msg.contains(rule), "{case}: {msg}");
    }
}

#[test]
fn pool_scalars_broadcast_and_bad_kernels_are_refused() {
    let pool = |kernel: &'static [i64], shape: &'static [u64]| {
        move |g: &mut hdf5_pure::GroupBuilder| {
            g.create_dataset("kernel_size")
                .with_i64_data(kernel)
                .with_shape(shape);
            g.create_dataset("stride").with_i64_data(&[1, 3]);
            g.create_dataset("padding")
                .with_i64_data(&[2])
                .with_shape(&[]);
        }
    };
    let scalar = pool(&[3], &[]);
    let path = hand_made(
        "pool_ok.nir",
        Some("NIRGraph"),
        &[],
        &[("avg", "AvgPool2d", &scalar), ("sum", "SumPool2d", &scalar)],
    );
    let g = read(&path.0);
    assert_eq!(
        g.nodes["avg"],
        NirNode::AvgPool2d {
            kernel: [3, 3],
            stride: [1, 3],
            padding: [2, 2],
        }
    );
    assert_eq!(
        g.nodes["sum"],
        NirNode::SumPool2d {
            kernel: [3, 3],
            stride: [1, 3],
            padding: [2, 2],
        }
    );

    for (file_name, kernel, shape, rule) in [
        (
            "pool_one.nir",
            &[3i64][..],
            &[1u64][..],
            "scalar or a (height, width) pair",
        ),
        (
            "pool_2d.nir",
            &[3, 3, 3, 3][..],
            &[2, 2][..],
            "scalar or a (height, width) pair",
        ),
        (
            "pool_zero.nir",
            &[0, 2][..],
            &[2][..],
            "smallest valid value, 1",
        ),
    ] {
        let bad = pool(kernel, shape);
        let path = hand_made(
            file_name,
            Some("NIRGraph"),
            &[],
            &[("sum", "SumPool2d", &bad)],
        );
        let err = read_nir(&path.0).expect_err(file_name);
        let msg = err.to_string();
        assert!(
            msg.contains(file_name)
                && msg.contains("node/nodes/sum/kernel_size")
                && msg.contains(rule),
            "{msg}"
        );
    }
}

#[test]
fn leaky_integrators_read_with_their_parameters() {
    // tests/data/nir/make_fixtures.py, `leaky_integrators`.
    let g = mapper::read_nir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/data/nir/leaky_integrators.nir"),
    )
    .expect("the fixture reads");
    assert_eq!(
        g.nodes["li"],
        NirNode::Li {
            tau: vec![0.25, 0.5],
            r: vec![2.0, 4.0],
            v_leak: vec![0.0, 0.125],
        }
    );
    assert_eq!(
        g.nodes["cuba"],
        NirNode::CubaLi {
            tau_syn: vec![0.125, 0.125],
            tau_mem: vec![0.5, 0.5],
            r: vec![1.0, 1.0],
            v_leak: vec![0.0, 0.0],
            w_in: vec![2.0, 0.5],
        }
    );
}
