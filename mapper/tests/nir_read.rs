//! `mapper::nir::read_nir` on the fixtures written by `tests/data/nir/make_fixtures.py` with the
//! `nir` Python package (`nir.write`): every value asserted here is the one the script wrote.

use std::collections::BTreeMap;
use std::path::Path;

use mapper::nir::{read_nir, Matrix, NirError, NirGraph, NirNode};

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

#[test]
fn conv2d_is_kept_as_other_by_its_type_name() {
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
                NirNode::Other {
                    type_name: "Conv2d".into(),
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
    let good = std::fs::read(fixture!("lif_mlp.nir")).expect("the fixture is there");
    let dir = std::env::temp_dir().join(format!("nir_read_damaged_{}", std::process::id()));
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
        let _ = read_nir(&path);
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
