//! NIR import: reading a `.nir` (HDF5) file into a typed graph of NIR primitives.
//!
//! NIR (the Neuromorphic Intermediate Representation, the `nir` Python package) stores a graph
//! as an HDF5 file written by h5py (`nir.write`):
//!
//! ```text
//! /version            string: the nir package version that wrote the file
//! /node/              the graph (`NIRGraph.to_dict()`)
//! /node/type          string "NIRGraph"
//! /node/nodes/<name>/ one group per child node: its `type` and its parameters as datasets
//! /node/edges         (E, 2) strings: (source node, destination node)
//! ```
//!
//! Strings are h5py's variable-length UTF-8 strings; fixed-length byte strings (numpy `S`) are
//! read too. Parameters keep their numpy dtype (any float or integer type is read, as `f64`)
//! and are gzip-compressed. A child node can itself be a `NIRGraph` (nested).
//!
//! Convolution and pooling parameters (nir 1.0.8, `nir/ir/conv.py` and `pooling.py`):
//!
//! ```text
//! Conv2d     weight       (out, in/groups, kh, kw), the weight's numpy dtype (float32 or float64)
//!            bias         (out,)
//!            stride       int64: a pair (2,), or a 0-d scalar meaning the same value for both
//!            dilation     dimensions (nir.Conv2d turns a Python int into a pair; a numpy
//!            padding      integer is written as it is, 0-d); padding may instead be the string
//!                         "valid" (no padding) or "same" (the output map keeps the input's size)
//!            groups       int64, 0-d
//!            input_shape  int64 (2,): (height, width) of the input map (absent in files from
//!                         writers that leave it out; nir.write cannot write None)
//! SumPool2d  kernel_size  int64: a pair (2,) or a 0-d scalar (pooling nodes keep what they are
//! AvgPool2d  stride       given: a Python int is written 0-d, an array (2,))
//!            padding
//! ```
//!
//! [`read_nir`] reads the primitives the mapper may lower ([`NirNode`]) with their parameters
//! and keeps any other primitive by its type name ([`NirNode::Other`]), so that the lowering,
//! not the reader, says what it does not support. The reader checks the file's structure
//! (every node has a `type`, every parameter it reads is there with a numeric dtype, weights are
//! 2-D (4-D for a convolution), strides, kernels and dilations are at least 1, edges name
//! existing nodes); it checks no shapes across parameters, which is the lowering's business
//! (except that turning `"same"` padding into numbers needs the kernel, stride and dilation).
//! HDF5 is read by the pure-Rust `hdf5-pure` crate, so the build needs no C libhdf5. Nothing
//! in a file makes the reader panic: every fault is a [`NirError`] naming the file, the object
//! and what is wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hdf5_pure::{DType, Dataset, File, Group, VlenStringReadOptions};
use thiserror::Error;

/// A NIR graph: named nodes and the edges between them.
#[derive(Debug, Clone, PartialEq)]
pub struct NirGraph {
    /// The `/version` string of the file (the nir package version that wrote it), empty when
    /// the file has none. A nested graph carries its file's version.
    pub version: String,
    /// The nodes by name (the keys of the graph's `nodes` group).
    pub nodes: BTreeMap<String, NirNode>,
    /// The edges `(source, destination)`, in the order the file lists them; both ends name a
    /// key of [`nodes`](Self::nodes).
    pub edges: Vec<(String, String)>,
}

/// One node of a NIR graph: a primitive with its parameters.
///
/// Neuron parameters are read as flat `Vec<f64>`: a 0-d scalar (one value shared by every
/// neuron) gives one element, a 1-d array one element per neuron, and an N-d array (a neuron
/// layer after a convolution) its values in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub enum NirNode {
    /// A graph input (`Input`) of the given shape.
    Input {
        /// The shape of the data entering the graph.
        shape: Vec<usize>,
    },
    /// A graph output (`Output`) of the given shape.
    Output {
        /// The shape of the data leaving the graph.
        shape: Vec<usize>,
    },
    /// `y = W x + b` (`Affine`).
    Affine {
        /// `W`, outputs × inputs.
        weight: Matrix,
        /// `b`, as stored (one per output in a well-formed file).
        bias: Vec<f64>,
    },
    /// `y = W x` (`Linear`).
    Linear {
        /// `W`, outputs × inputs.
        weight: Matrix,
    },
    /// Integrate-and-fire neurons (`IF`): `dv/dt = R I`, spike and reset above threshold.
    If {
        /// Resistance `R`.
        r: Vec<f64>,
        /// Firing threshold.
        v_threshold: Vec<f64>,
        /// Reset potential (zeros of `v_threshold`'s length when the file has none, as
        /// `nir.read` does).
        v_reset: Vec<f64>,
    },
    /// Leaky integrate-and-fire neurons (`LIF`): `tau dv/dt = (v_leak - v) + R I`.
    Lif {
        /// Membrane time constant.
        tau: Vec<f64>,
        /// Resistance `R`.
        r: Vec<f64>,
        /// Leak (resting) potential.
        v_leak: Vec<f64>,
        /// Firing threshold.
        v_threshold: Vec<f64>,
        /// Reset potential (zeros when the file has none, as `nir.read` does).
        v_reset: Vec<f64>,
    },
    /// Current-based leaky integrate-and-fire neurons (`CubaLIF`):
    /// `tau_syn dI/dt = -I + w_in S`, `tau_mem dv/dt = (v_leak - v) + R I`.
    CubaLif {
        /// Synaptic current time constant.
        tau_syn: Vec<f64>,
        /// Membrane time constant.
        tau_mem: Vec<f64>,
        /// Resistance `R`.
        r: Vec<f64>,
        /// Leak (resting) potential.
        v_leak: Vec<f64>,
        /// Firing threshold.
        v_threshold: Vec<f64>,
        /// Reset potential (zeros when the file has none, as `nir.read` does).
        v_reset: Vec<f64>,
        /// Input current weight (`[1.0]`, the NIR default, when the file has none).
        w_in: Vec<f64>,
    },
    /// Leaky integrators (`LI`): `tau dv/dt = (v_leak - v) + R I`, no spikes (a read-out).
    Li {
        /// Membrane time constant.
        tau: Vec<f64>,
        /// Resistance `R`.
        r: Vec<f64>,
        /// Leak (resting) potential.
        v_leak: Vec<f64>,
    },
    /// Current-based leaky integrators (`CubaLI`): `tau_syn dI/dt = -I + w_in S`,
    /// `tau_mem dv/dt = (v_leak - v) + R I`, no spikes.
    CubaLi {
        /// Synaptic current time constant.
        tau_syn: Vec<f64>,
        /// Membrane time constant.
        tau_mem: Vec<f64>,
        /// Resistance `R`.
        r: Vec<f64>,
        /// Leak (resting) potential.
        v_leak: Vec<f64>,
        /// Input current weight (`[1.0]`, the NIR default, when the file has none).
        w_in: Vec<f64>,
    },
    /// `Flatten`: reshapes only (its `start_dim`/`end_dim` are not kept).
    Flatten,
    /// 2-D convolution (`Conv2d`), PyTorch semantics: output channel `o` at `(y, x)` sums
    /// `weight[o, c, u, v] * input[g*in_per_group + c, y*stride[0] + u*dilation[0] - padding[0],
    /// x*stride[1] + v*dilation[1] - padding[1]]` over its group's input channels, plus `bias[o]`.
    Conv2d {
        /// The kernels, `out_channels × in_channels/groups × kernel_height × kernel_width`.
        weight: Tensor4,
        /// One per output channel, as stored; empty when the file has none.
        bias: Vec<f64>,
        /// `[height, width]` steps (a scalar in the file applies to both).
        stride: [usize; 2],
        /// `[height, width]` zeros added on each side (a scalar in the file applies to both;
        /// `"valid"` is `[0, 0]`; `"same"` is `[dilation[0]*(kh-1)/2, dilation[1]*(kw-1)/2]`,
        /// read only where that is exact: stride 1 and an even `dilation*(k-1)`).
        padding: [usize; 2],
        /// `[height, width]` spacing of the kernel taps (a scalar in the file applies to both).
        dilation: [usize; 2],
        /// Channel groups (`1`: every output sees every input channel).
        groups: usize,
        /// The `(height, width)` of the input map when the file records it (NIR's
        /// `input_shape`), else `None`.
        input_shape: Option<[usize; 2]>,
    },
    /// 2-D sum pooling (`SumPool2d`): each output is the sum of a `kernel` window.
    SumPool2d {
        /// `[height, width]` of the window (NIR's `kernel_size`).
        kernel: [usize; 2],
        /// `[height, width]` steps.
        stride: [usize; 2],
        /// `[height, width]` zeros added on each side.
        padding: [usize; 2],
    },
    /// 2-D average pooling (`AvgPool2d`): each output is the mean of a `kernel` window.
    AvgPool2d {
        /// `[height, width]` of the window (NIR's `kernel_size`).
        kernel: [usize; 2],
        /// `[height, width]` steps.
        stride: [usize; 2],
        /// `[height, width]` zeros added on each side.
        padding: [usize; 2],
    },
    /// A delay of each value by its own time (`Delay`): `y(t) = x(t − τ)`, τ in the graph's
    /// time unit (seconds, as NIR's time constants).
    Delay {
        /// The delays `τ`, one per value (or one shared by all: a 0-d scalar).
        delay: Vec<f64>,
    },
    /// Element-wise scaling (`Scale`).
    Scale {
        /// The scale factors.
        scale: Vec<f64>,
    },
    /// A nested graph (`NIRGraph`).
    Graph(NirGraph),
    /// Any other primitive (Conv1d, Threshold, ...): kept by its type name so a
    /// later lowering can name it in its error.
    Other {
        /// The node's NIR type name, as in the file (e.g. `Threshold`).
        type_name: String,
    },
}

/// weight of an Affine/Linear node: `rows` = outputs, `cols` = inputs, row-major (NIR/PyTorch layout out×in).
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Number of rows: the outputs.
    pub rows: usize,
    /// Number of columns: the inputs.
    pub cols: usize,
    /// `rows * cols` values, row by row: the weight from input `j` to output `i` is
    /// `values[i * cols + j]`.
    pub values: Vec<f64>,
}

/// The weight of a `Conv2d` node: a 4-D array in row-major (C) order, as NIR/PyTorch lay it
/// out.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor4 {
    /// `[out_channels, in_channels/groups, kernel_height, kernel_width]`.
    pub dims: [usize; 4],
    /// `dims[0] * dims[1] * dims[2] * dims[3]` values: with `[out, in, kh, kw] = dims`, the
    /// weight of output channel `o`, input channel `c` (within its group) and kernel tap
    /// `(y, x)` is `values[((o * in + c) * kh + y) * kw + x]`.
    pub values: Vec<f64>,
}

/// Why a `.nir` file could not be read. Every message names the file; those about an object
/// in it name its HDF5 path (e.g. `node/nodes/lif1`).
#[derive(Debug, Error)]
pub enum NirError {
    /// The file could not be opened or read.
    #[error("{}: cannot read the file: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is not HDF5 (a `.nir` file is HDF5, as `nir.write` makes it).
    #[error("{}: not an HDF5 file (a .nir file is HDF5, as nir.write makes it): {reason}", file.display())]
    NotHdf5 {
        /// The file.
        file: PathBuf,
        /// What the HDF5 reader found.
        reason: String,
    },
    /// An HDF5 object of the file could not be read (a damaged or unusual file).
    #[error("{}: `{path}`: unreadable HDF5 object: {reason}", file.display())]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// The object's path in the file.
        path: String,
        /// What the HDF5 reader reported.
        reason: String,
    },
    /// A group the NIR layout requires is missing (`node`, or a graph's `nodes`).
    #[error("{}: missing group `{path}` ({what})", file.display())]
    MissingGroup {
        /// The file.
        file: PathBuf,
        /// The missing group's path.
        path: String,
        /// What the group should hold.
        what: &'static str,
    },
    /// A node group has no `type` dataset, so it is not a NIR node.
    #[error(
        "{}: missing dataset `type` in node `{node}` (`{path}`): every NIR node names its type \
         (e.g. \"LIF\") in a `type` dataset",
        file.display()
    )]
    MissingType {
        /// The file.
        file: PathBuf,
        /// The node group's path.
        path: String,
        /// The node's name (`node` for the root graph).
        node: String,
    },
    /// A parameter dataset that the node's type requires is missing.
    #[error(
        "{}: missing dataset `{dataset}` in node `{node}` of type {type_name} (`{path}`)",
        file.display()
    )]
    MissingDataset {
        /// The file.
        file: PathBuf,
        /// The node group's path.
        path: String,
        /// The node's name.
        node: String,
        /// The node's NIR type.
        type_name: String,
        /// The missing dataset.
        dataset: &'static str,
    },
    /// A dataset's element type is not one the reader can use there.
    #[error("{}: dataset `{path}/{dataset}`: unsupported dtype {dtype}, expected {expected}", file.display())]
    UnsupportedDtype {
        /// The file.
        file: PathBuf,
        /// The group holding the dataset.
        path: String,
        /// The dataset.
        dataset: String,
        /// The dtype found.
        dtype: String,
        /// What is accepted there.
        expected: &'static str,
    },
    /// A dataset has the wrong number of dimensions.
    #[error("{}: dataset `{path}/{dataset}` has shape {shape:?}, expected {expected}", file.display())]
    WrongShape {
        /// The file.
        file: PathBuf,
        /// The group holding the dataset.
        path: String,
        /// The dataset.
        dataset: String,
        /// Its shape.
        shape: Vec<u64>,
        /// The shape expected.
        expected: &'static str,
    },
    /// A dataset's values are not usable (a negative dimension, a size that does not add up,
    /// a dataset larger than the file could hold).
    #[error("{}: dataset `{path}/{dataset}`: {what}", file.display())]
    BadValue {
        /// The file.
        file: PathBuf,
        /// The group holding the dataset.
        path: String,
        /// The dataset.
        dataset: String,
        /// What is wrong.
        what: String,
    },
    /// The file's root node is not a graph.
    #[error("{}: the root node `node` is of type {type_name}, not NIRGraph", file.display())]
    RootNotGraph {
        /// The file.
        file: PathBuf,
        /// The root node's type.
        type_name: String,
    },
    /// An edge names a node that the graph does not have.
    #[error(
        "{}: `{path}/edges`: edge {index} ({src} -> {dst}): its {end} names a node that does not \
         exist in that graph",
        file.display()
    )]
    UnknownEdgeNode {
        /// The file.
        file: PathBuf,
        /// The graph's path.
        path: String,
        /// The edge's index in `edges`.
        index: usize,
        /// The edge's source.
        src: String,
        /// The edge's destination.
        dst: String,
        /// The end that names no node: `"source"` or `"destination"`.
        end: &'static str,
    },
    /// Graphs nest deeper than 32 levels (a cyclic or absurd file).
    #[error("{}: `{path}`: graphs nest deeper than {MAX_DEPTH} levels", file.display())]
    TooDeep {
        /// The file.
        file: PathBuf,
        /// The graph nested too deeply.
        path: String,
    },
}

/// How deep graphs may nest before the reader gives up (a guard against cyclic files).
const MAX_DEPTH: usize = 32;

/// Reads the NIR graph in the `.nir` file at `path`.
///
/// The root node (`/node`) must be a `NIRGraph`. Nested graphs are read recursively; any
/// primitive without a [`NirNode`] variant of its own becomes [`NirNode::Other`].
///
/// # Errors
///
/// [`NirError`] when the file cannot be read, is not HDF5, or breaks the NIR layout; the
/// message names the file, the object and what is wrong.
pub fn read_nir(path: &Path) -> Result<NirGraph, NirError> {
    let (h5, reader) = open_hdf5(path)?;
    let root = h5.root();
    let version = if reader.has_dataset(&root, "", "version")? {
        reader.read_string(&root, "", "version")?
    } else {
        String::new()
    };
    if !reader.has_group(&root, "", "node")? {
        return Err(NirError::MissingGroup {
            file: path.to_path_buf(),
            path: "node".into(),
            what: "the NIR graph",
        });
    }
    let node = reader.group(&root, "", "node")?;
    let type_name = reader.node_type(&node, "node", "node")?;
    if type_name != "NIRGraph" {
        return Err(NirError::RootNotGraph {
            file: path.to_path_buf(),
            type_name,
        });
    }
    reader.graph(&node, "node", &version, 0)
}

/// Opens an HDF5 file with the reader's limits (the NIR reader's and [`crate::netx`]'s).
pub(crate) fn open_hdf5(path: &Path) -> Result<(File, Reader<'_>), NirError> {
    let bytes = std::fs::read(path).map_err(|source| NirError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    // A dataset cannot unpack to more than gzip's ~1032:1 ratio of the whole file: a larger
    // declared size is a damaged header, refused before anything is allocated for it.
    let max_bytes = u64::try_from(bytes.len())
        .unwrap_or(u64::MAX)
        .saturating_mul(1100)
        .saturating_add(1 << 20);
    let file_len = bytes.len();
    let h5 = File::from_bytes(bytes).map_err(|e| NirError::NotHdf5 {
        file: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let reader = Reader {
        file: path,
        max_bytes,
        max_string_bytes: file_len,
    };
    Ok((h5, reader))
}

/// A numeric dataset's values (row-major, as `f64`) and its shape.
pub(crate) type Numbers = (Vec<f64>, Vec<u64>);

/// The file being read and its limits (also [`crate::netx`]'s reader).
pub(crate) struct Reader<'a> {
    file: &'a Path,
    /// The most bytes one dataset may unpack to.
    max_bytes: u64,
    /// The most string bytes one dataset may reference.
    max_string_bytes: usize,
}

/// Joins an HDF5 path and a member name (`""` is the root).
fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}/{name}")
    }
}

/// The last component of a node path: the node's name.
fn node_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl Reader<'_> {
    pub(crate) fn unreadable(&self, path: &str, e: &hdf5_pure::Error) -> NirError {
        NirError::Unreadable {
            file: self.file.to_path_buf(),
            path: path.to_string(),
            reason: e.to_string(),
        }
    }

    pub(crate) fn bad_value(&self, path: &str, dataset: &str, what: String) -> NirError {
        NirError::BadValue {
            file: self.file.to_path_buf(),
            path: path.to_string(),
            dataset: dataset.to_string(),
            what,
        }
    }

    pub(crate) fn has_dataset(
        &self,
        group: &Group,
        path: &str,
        name: &str,
    ) -> Result<bool, NirError> {
        let names = group
            .datasets()
            .map_err(|e| self.unreadable(if path.is_empty() { "/" } else { path }, &e))?;
        Ok(names.iter().any(|n| n == name))
    }

    pub(crate) fn has_group(
        &self,
        group: &Group,
        path: &str,
        name: &str,
    ) -> Result<bool, NirError> {
        let names = group
            .groups()
            .map_err(|e| self.unreadable(if path.is_empty() { "/" } else { path }, &e))?;
        Ok(names.iter().any(|n| n == name))
    }

    pub(crate) fn group(&self, parent: &Group, path: &str, name: &str) -> Result<Group, NirError> {
        parent
            .group(name)
            .map_err(|e| self.unreadable(&join(path, name), &e))
    }

    /// Opens `name` in `group` and checks that reading it all stays within the limits.
    /// Returns the dataset, its shape and its element count.
    pub(crate) fn dataset(
        &self,
        group: &Group,
        path: &str,
        name: &str,
    ) -> Result<(Dataset, Vec<u64>, u64), NirError> {
        let full = join(path, name);
        let ds = group
            .dataset(name)
            .map_err(|e| self.unreadable(&full, &e))?;
        let shape = ds.shape().map_err(|e| self.unreadable(&full, &e))?;
        let elements = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| self.bad_value(path, name, format!("shape {shape:?} overflows")))?;
        let element_size = ds.element_size().map_err(|e| self.unreadable(&full, &e))?;
        let bytes = elements.saturating_mul(element_size);
        if bytes > self.max_bytes {
            return Err(self.bad_value(
                path,
                name,
                format!(
                    "shape {shape:?} of {element_size}-byte elements is larger than the file \
                     could hold ({bytes} bytes, at most {} for this file)",
                    self.max_bytes
                ),
            ));
        }
        Ok((ds, shape, elements))
    }

    /// Reads a string dataset of any shape (variable-length or fixed-length), row-major.
    pub(crate) fn read_strings(
        &self,
        group: &Group,
        path: &str,
        name: &str,
    ) -> Result<Vec<String>, NirError> {
        let full = join(path, name);
        let (ds, _shape, elements) = self.dataset(group, path, name)?;
        let dtype = ds.dtype().map_err(|e| self.unreadable(&full, &e))?;
        match dtype {
            DType::VariableLengthString => {
                let options = VlenStringReadOptions::new()
                    .with_max_elements(usize::try_from(elements).unwrap_or(usize::MAX))
                    .with_max_payload_bytes(self.max_string_bytes);
                ds.read_vlen_strings(options)
                    .map_err(|e| self.unreadable(&full, &e))
            }
            DType::String => ds.read_string().map_err(|e| self.unreadable(&full, &e)),
            other => Err(NirError::UnsupportedDtype {
                file: self.file.to_path_buf(),
                path: path.to_string(),
                dataset: name.to_string(),
                dtype: other.to_string(),
                expected: "a string",
            }),
        }
    }

    /// Reads a scalar (or one-element) string dataset.
    pub(crate) fn read_string(
        &self,
        group: &Group,
        path: &str,
        name: &str,
    ) -> Result<String, NirError> {
        let mut strings = self.read_strings(group, path, name)?;
        if strings.len() != 1 {
            return Err(self.bad_value(
                path,
                name,
                format!("expected one string, found {}", strings.len()),
            ));
        }
        Ok(strings.pop().unwrap_or_default())
    }

    /// Reads a numeric dataset of any shape as `f64`, row-major, with its shape.
    pub(crate) fn read_numbers(
        &self,
        group: &Group,
        path: &str,
        name: &str,
    ) -> Result<(Vec<f64>, Vec<u64>), NirError> {
        let full = join(path, name);
        let (ds, shape, elements) = self.dataset(group, path, name)?;
        let dtype = ds.dtype().map_err(|e| self.unreadable(&full, &e))?;
        match dtype {
            DType::F32
            | DType::F64
            | DType::I8
            | DType::I16
            | DType::I32
            | DType::I64
            | DType::U8
            | DType::U16
            | DType::U32
            | DType::U64 => {}
            other => {
                return Err(NirError::UnsupportedDtype {
                    file: self.file.to_path_buf(),
                    path: path.to_string(),
                    dataset: name.to_string(),
                    dtype: other.to_string(),
                    expected: "a float or integer type",
                })
            }
        }
        let values = ds.read_f64().map_err(|e| self.unreadable(&full, &e))?;
        if u64::try_from(values.len()).ok() != Some(elements) {
            return Err(self.bad_value(
                path,
                name,
                format!(
                    "shape {shape:?} holds {elements} values but {} were read",
                    values.len()
                ),
            ));
        }
        Ok((values, shape))
    }

    /// [`Reader::read_numbers`] of a dataset the group may lack (`None` then).
    pub(crate) fn read_optional_numbers(
        &self,
        group: &Group,
        path: &str,
        name: &str,
    ) -> Result<Option<Numbers>, NirError> {
        if self.has_dataset(group, path, name)? {
            self.read_numbers(group, path, name).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads a dataset of non-negative integers of at most `max_rank` dimensions, row-major,
    /// with its shape; `expected` says what the dataset should be in an error.
    fn read_sizes(
        &self,
        group: &Group,
        path: &str,
        name: &str,
        max_rank: usize,
        expected: &'static str,
    ) -> Result<(Vec<usize>, Vec<u64>), NirError> {
        let full = join(path, name);
        let (ds, shape, elements) = self.dataset(group, path, name)?;
        if shape.len() > max_rank {
            return Err(NirError::WrongShape {
                file: self.file.to_path_buf(),
                path: path.to_string(),
                dataset: name.to_string(),
                shape,
                expected,
            });
        }
        let dtype = ds.dtype().map_err(|e| self.unreadable(&full, &e))?;
        let values: Vec<i128> = match dtype {
            DType::I8 | DType::I16 | DType::I32 | DType::I64 => ds
                .read_i64()
                .map_err(|e| self.unreadable(&full, &e))?
                .into_iter()
                .map(i128::from)
                .collect(),
            DType::U8 | DType::U16 | DType::U32 | DType::U64 => ds
                .read_u64()
                .map_err(|e| self.unreadable(&full, &e))?
                .into_iter()
                .map(i128::from)
                .collect(),
            other => {
                return Err(NirError::UnsupportedDtype {
                    file: self.file.to_path_buf(),
                    path: path.to_string(),
                    dataset: name.to_string(),
                    dtype: other.to_string(),
                    expected: "an integer type",
                })
            }
        };
        let sizes = values
            .into_iter()
            .map(|d| {
                usize::try_from(d)
                    .map_err(|_| self.bad_value(path, name, format!("{d} is not a size")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if u64::try_from(sizes.len()).ok() != Some(elements) {
            return Err(self.bad_value(
                path,
                name,
                format!(
                    "shape {shape:?} holds {elements} values but {} were read",
                    sizes.len()
                ),
            ));
        }
        Ok((sizes, shape))
    }

    /// Reads a shape (`Input`/`Output` `shape`): non-negative integers, 0-d or 1-d.
    fn read_shape(&self, group: &Group, path: &str, name: &str) -> Result<Vec<usize>, NirError> {
        Ok(self
            .read_sizes(group, path, name, 1, "a 0-d or 1-d list of dimensions")?
            .0)
    }

    /// Reads a `[height, width]` pair of integers, each at least `min`: a 1-d dataset of two
    /// values, or (when `broadcast`) a 0-d scalar that applies to both dimensions.
    fn read_pair(
        &self,
        group: &Group,
        path: &str,
        name: &str,
        min: usize,
        broadcast: bool,
    ) -> Result<[usize; 2], NirError> {
        let expected = if broadcast {
            "a scalar or a (height, width) pair"
        } else {
            "a (height, width) pair"
        };
        let (values, shape) = self.read_sizes(group, path, name, 1, expected)?;
        let pair = match (shape.as_slice(), values.as_slice()) {
            ([], &[v]) if broadcast => [v, v],
            ([2], &[h, w]) => [h, w],
            _ => {
                return Err(NirError::WrongShape {
                    file: self.file.to_path_buf(),
                    path: path.to_string(),
                    dataset: name.to_string(),
                    shape,
                    expected,
                })
            }
        };
        if let Some(v) = pair.iter().find(|&&v| v < min) {
            return Err(self.bad_value(
                path,
                name,
                format!("{v} in {pair:?} is below the smallest valid value, {min}"),
            ));
        }
        Ok(pair)
    }

    /// Reads a count (`groups`): one integer (0-d, or 1-d of one element), at least 1.
    fn read_count(&self, group: &Group, path: &str, name: &str) -> Result<usize, NirError> {
        let expected = "a single integer";
        let (values, shape) = self.read_sizes(group, path, name, 1, expected)?;
        match *values.as_slice() {
            [0] => Err(self.bad_value(path, name, "0 is not a valid count (at least 1)".into())),
            [v] => Ok(v),
            _ => Err(NirError::WrongShape {
                file: self.file.to_path_buf(),
                path: path.to_string(),
                dataset: name.to_string(),
                shape,
                expected,
            }),
        }
    }

    /// Whether the dataset `name` holds strings (of either kind).
    fn is_string(&self, group: &Group, path: &str, name: &str) -> Result<bool, NirError> {
        let full = join(path, name);
        let ds = group
            .dataset(name)
            .map_err(|e| self.unreadable(&full, &e))?;
        let dtype = ds.dtype().map_err(|e| self.unreadable(&full, &e))?;
        Ok(matches!(dtype, DType::VariableLengthString | DType::String))
    }

    /// The padding of the `Conv2d` at `path` whose `padding` dataset is the string `mode`:
    /// `"valid"` is no padding; `"same"` (the output map keeps the input's size, as in
    /// PyTorch) is `dilation * (kernel - 1) / 2` on each side, read only where that is exact:
    /// stride 1, and `dilation * (kernel - 1)` even (PyTorch pads the odd extra zero on one
    /// side only, which a symmetric padding cannot say).
    fn string_padding(
        &self,
        path: &str,
        mode: &str,
        weight_dims: &[usize; 4],
        stride: [usize; 2],
        dilation: [usize; 2],
    ) -> Result<[usize; 2], NirError> {
        match mode {
            "valid" => return Ok([0, 0]),
            "same" => {}
            other => {
                return Err(self.bad_value(
                    path,
                    "padding",
                    format!(
                        "padding {other:?} is not one of NIR's: \"same\", \"valid\" or integers"
                    ),
                ))
            }
        }
        if stride != [1, 1] {
            return Err(self.bad_value(
                path,
                "padding",
                format!(
                    "padding \"same\" with stride {stride:?}: no padding keeps the map size \
                     unless the stride is 1 in both dimensions"
                ),
            ));
        }
        let kernel = [weight_dims[2], weight_dims[3]];
        let mut padding = [0; 2];
        for (dim, label) in ["height", "width"].into_iter().enumerate() {
            if kernel[dim] == 0 {
                return Err(self.bad_value(
                    path,
                    "padding",
                    format!("padding \"same\" with kernel {kernel:?}: an empty kernel"),
                ));
            }
            let total = (kernel[dim] - 1).checked_mul(dilation[dim]);
            padding[dim] = match total {
                Some(t) if t.is_multiple_of(2) => t / 2,
                _ => {
                    let total = total.map_or_else(|| "too many".to_string(), |t| t.to_string());
                    return Err(self.bad_value(
                        path,
                        "padding",
                        format!(
                            "padding \"same\" with kernel {kernel:?} and dilation {dilation:?}: \
                             the {label} takes dilation × (kernel − 1) = {total} zeros in all, \
                             which cannot be split equally between both sides (PyTorch puts the \
                             odd one after the map; a [height, width] padding pads both sides \
                             alike)"
                        ),
                    ));
                }
            };
        }
        Ok(padding)
    }

    /// The `type` of the node group at `path`.
    fn node_type(&self, group: &Group, path: &str, node: &str) -> Result<String, NirError> {
        if !self.has_dataset(group, path, "type")? {
            return Err(NirError::MissingType {
                file: self.file.to_path_buf(),
                path: path.to_string(),
                node: node.to_string(),
            });
        }
        self.read_string(group, path, "type")
    }

    /// Reads the graph whose group is `group` at `path`.
    fn graph(
        &self,
        group: &Group,
        path: &str,
        version: &str,
        depth: usize,
    ) -> Result<NirGraph, NirError> {
        if depth >= MAX_DEPTH {
            return Err(NirError::TooDeep {
                file: self.file.to_path_buf(),
                path: path.to_string(),
            });
        }
        if !self.has_group(group, path, "nodes")? {
            return Err(NirError::MissingGroup {
                file: self.file.to_path_buf(),
                path: join(path, "nodes"),
                what: "the graph's nodes",
            });
        }
        let nodes_path = join(path, "nodes");
        let nodes_group = self.group(group, path, "nodes")?;
        let mut names = nodes_group
            .groups()
            .map_err(|e| self.unreadable(&nodes_path, &e))?;
        names.sort();
        let mut nodes = BTreeMap::new();
        for name in names {
            let node_path = join(&nodes_path, &name);
            let node_group = self.group(&nodes_group, &nodes_path, &name)?;
            let node = self.node(&node_group, &node_path, version, depth)?;
            nodes.insert(name, node);
        }

        let edges = if self.has_dataset(group, path, "edges")? {
            self.edges(group, path)?
        } else {
            Vec::new()
        };
        for (index, (src, dst)) in edges.iter().enumerate() {
            for (end, name) in [("source", src), ("destination", dst)] {
                if !nodes.contains_key(name) {
                    return Err(NirError::UnknownEdgeNode {
                        file: self.file.to_path_buf(),
                        path: path.to_string(),
                        index,
                        src: src.clone(),
                        dst: dst.clone(),
                        end,
                    });
                }
            }
        }
        Ok(NirGraph {
            version: version.to_string(),
            nodes,
            edges,
        })
    }

    /// Reads a graph's `edges`: an (E, 2) string array (an empty graph's may be any empty
    /// array: h5py stores `[]` as float64).
    fn edges(&self, group: &Group, path: &str) -> Result<Vec<(String, String)>, NirError> {
        let (_, shape, elements) = self.dataset(group, path, "edges")?;
        if elements == 0 {
            return Ok(Vec::new());
        }
        if shape.len() != 2 || shape.get(1) != Some(&2) {
            return Err(NirError::WrongShape {
                file: self.file.to_path_buf(),
                path: path.to_string(),
                dataset: "edges".into(),
                shape,
                expected: "(E, 2): one (source, destination) row per edge",
            });
        }
        let strings = self.read_strings(group, path, "edges")?;
        if u64::try_from(strings.len()).ok() != Some(elements) {
            return Err(self.bad_value(
                path,
                "edges",
                format!(
                    "shape {shape:?} holds {elements} names but {} were read",
                    strings.len()
                ),
            ));
        }
        let mut edges = Vec::with_capacity(strings.len() / 2);
        let mut it = strings.into_iter();
        while let (Some(src), Some(dst)) = (it.next(), it.next()) {
            edges.push((src, dst));
        }
        Ok(edges)
    }

    /// Reads the node whose group is `group` at `path`.
    fn node(
        &self,
        group: &Group,
        path: &str,
        version: &str,
        depth: usize,
    ) -> Result<NirNode, NirError> {
        let name = node_name(path);
        let type_name = self.node_type(group, path, name)?;
        let members = group.datasets().map_err(|e| self.unreadable(path, &e))?;
        let has = |dataset: &str| members.iter().any(|m| m == dataset);
        let require = |dataset: &'static str| -> Result<(), NirError> {
            if has(dataset) {
                Ok(())
            } else {
                Err(NirError::MissingDataset {
                    file: self.file.to_path_buf(),
                    path: path.to_string(),
                    node: name.to_string(),
                    type_name: type_name.clone(),
                    dataset,
                })
            }
        };
        let param = |dataset: &'static str| -> Result<Vec<f64>, NirError> {
            require(dataset)?;
            Ok(self.read_numbers(group, path, dataset)?.0)
        };
        let matrix = |dataset: &'static str| -> Result<Matrix, NirError> {
            require(dataset)?;
            let (values, shape) = self.read_numbers(group, path, dataset)?;
            let (rows, cols) = match shape.as_slice() {
                [rows, cols] => (*rows, *cols),
                _ => {
                    return Err(NirError::WrongShape {
                        file: self.file.to_path_buf(),
                        path: path.to_string(),
                        dataset: dataset.to_string(),
                        shape,
                        expected: "2-D (outputs × inputs)",
                    })
                }
            };
            let size = |n: u64| {
                usize::try_from(n).map_err(|_| {
                    self.bad_value(path, dataset, format!("dimension {n} is too large"))
                })
            };
            Ok(Matrix {
                rows: size(rows)?,
                cols: size(cols)?,
                values,
            })
        };
        let tensor4 = |dataset: &'static str| -> Result<Tensor4, NirError> {
            require(dataset)?;
            let (values, shape) = self.read_numbers(group, path, dataset)?;
            let [o, i, h, w] = shape.as_slice() else {
                return Err(NirError::WrongShape {
                    file: self.file.to_path_buf(),
                    path: path.to_string(),
                    dataset: dataset.to_string(),
                    shape,
                    expected: "4-D (out_channels × in_channels/groups × kernel_height × \
                               kernel_width)",
                });
            };
            let mut dims = [0usize; 4];
            for (d, &n) in dims.iter_mut().zip([o, i, h, w]) {
                *d = usize::try_from(n).map_err(|_| {
                    self.bad_value(path, dataset, format!("dimension {n} is too large"))
                })?;
            }
            Ok(Tensor4 { dims, values })
        };
        let pair = |dataset: &'static str, min: usize| -> Result<[usize; 2], NirError> {
            require(dataset)?;
            self.read_pair(group, path, dataset, min, true)
        };
        // `v_reset` was optional in older files: `nir.read` then takes zeros like `v_threshold`.
        let v_reset = |v_threshold: &[f64]| -> Result<Vec<f64>, NirError> {
            if has("v_reset") {
                param("v_reset")
            } else {
                Ok(vec![0.0; v_threshold.len()])
            }
        };

        Ok(match type_name.as_str() {
            "Input" | "Output" => {
                require("shape")?;
                let shape = self.read_shape(group, path, "shape")?;
                if type_name == "Input" {
                    NirNode::Input { shape }
                } else {
                    NirNode::Output { shape }
                }
            }
            "Affine" => NirNode::Affine {
                weight: matrix("weight")?,
                bias: param("bias")?,
            },
            "Linear" => NirNode::Linear {
                weight: matrix("weight")?,
            },
            "IF" => {
                let r = param("r")?;
                let v_threshold = param("v_threshold")?;
                let v_reset = v_reset(&v_threshold)?;
                NirNode::If {
                    r,
                    v_threshold,
                    v_reset,
                }
            }
            "LIF" => {
                let tau = param("tau")?;
                let r = param("r")?;
                let v_leak = param("v_leak")?;
                let v_threshold = param("v_threshold")?;
                let v_reset = v_reset(&v_threshold)?;
                NirNode::Lif {
                    tau,
                    r,
                    v_leak,
                    v_threshold,
                    v_reset,
                }
            }
            "CubaLIF" => {
                let tau_syn = param("tau_syn")?;
                let tau_mem = param("tau_mem")?;
                let r = param("r")?;
                let v_leak = param("v_leak")?;
                let v_threshold = param("v_threshold")?;
                let v_reset = v_reset(&v_threshold)?;
                let w_in = if has("w_in") {
                    param("w_in")?
                } else {
                    vec![1.0]
                };
                NirNode::CubaLif {
                    tau_syn,
                    tau_mem,
                    r,
                    v_leak,
                    v_threshold,
                    v_reset,
                    w_in,
                }
            }
            "LI" => NirNode::Li {
                tau: param("tau")?,
                r: param("r")?,
                v_leak: param("v_leak")?,
            },
            "CubaLI" => NirNode::CubaLi {
                tau_syn: param("tau_syn")?,
                tau_mem: param("tau_mem")?,
                r: param("r")?,
                v_leak: param("v_leak")?,
                w_in: if has("w_in") {
                    param("w_in")?
                } else {
                    vec![1.0]
                },
            },
            "Flatten" => NirNode::Flatten,
            "Conv2d" => {
                let weight = tensor4("weight")?;
                let bias = if has("bias") {
                    param("bias")?
                } else {
                    Vec::new()
                };
                let stride = pair("stride", 1)?;
                let dilation = pair("dilation", 1)?;
                require("groups")?;
                let groups = self.read_count(group, path, "groups")?;
                require("padding")?;
                let padding = if self.is_string(group, path, "padding")? {
                    let mode = self.read_string(group, path, "padding")?;
                    self.string_padding(path, &mode, &weight.dims, stride, dilation)?
                } else {
                    self.read_pair(group, path, "padding", 0, true)?
                };
                let input_shape = if has("input_shape") {
                    Some(self.read_pair(group, path, "input_shape", 1, false)?)
                } else {
                    None
                };
                NirNode::Conv2d {
                    weight,
                    bias,
                    stride,
                    padding,
                    dilation,
                    groups,
                    input_shape,
                }
            }
            "SumPool2d" | "AvgPool2d" => {
                let kernel = pair("kernel_size", 1)?;
                let stride = pair("stride", 1)?;
                let padding = pair("padding", 0)?;
                if type_name == "SumPool2d" {
                    NirNode::SumPool2d {
                        kernel,
                        stride,
                        padding,
                    }
                } else {
                    NirNode::AvgPool2d {
                        kernel,
                        stride,
                        padding,
                    }
                }
            }
            "Scale" => NirNode::Scale {
                scale: param("scale")?,
            },
            "Delay" => NirNode::Delay {
                delay: param("delay")?,
            },
            "NIRGraph" => NirNode::Graph(self.graph(group, path, version, depth + 1)?),
            _ => NirNode::Other { type_name },
        })
    }
}
