//! Lava-DL import: reading a netx network (`.net`, HDF5, as SLAYER's `export_hdf5` writes it
//! and Lava-DL's `netx.hdf5.Network` loads it) and lowering it to a chip LIF network, exactly
//! as Lava runs it.
//!
//! # The file (lava-dl 0.6, `slayer/block/base.py` and `netx/hdf5.py`)
//!
//! ```text
//! /layer/<i>/type          "dense", "dense_rec", "conv", "flatten" or "input" (bytes, shape
//!                          (1,)); netx knows more ("pool", "average", …), which are refused
//! /layer/<i>/shape         the layer's neurons: (n,) for dense, (channels, height, width)
//!                          for conv; an "input" layer without a neuron declares the input
//! /layer/<i>/kernelSize, stride, padding, dilation   conv: (height, width) pairs
//! /layer/<i>/inChannels, outChannels, groups          conv
//! /layer/<i>/weight        float (out, in), conv (out, in, kh, kw[, 1]): integer values in
//!                          Loihi's weight units
//! /layer/<i>/weight_rec    dense_rec: (n, n), the layer's own spikes of step t at t + 1
//! /layer/<i>/bias          optional, one per neuron: Lava's bias_mant (bias_exp 6)
//! /layer/<i>/delay         optional axonal delays: one per neuron (SLAYER's `delay=True`,
//!                          floored), or one for the layer
//! /layer/<i>/neuron/type   "CUBA" (or "LOIHI"): Loihi's current-based LIF
//! /layer/<i>/neuron/iDecay, vDecay, vThMant, refDelay, gradedSpike
//! ```
//!
//! # What Lava runs (and so the chip)
//!
//! netx builds, per layer, a `Dense` process into a `LIF` with `du = iDecay − 1`,
//! `dv = vDecay`, `vth = vThMant`, `bias_mant = bias`, `bias_exp = 6` (`refDelay` is not used).
//! Its `Dense` reads the weights as integers (numpy's `astype(int)`: truncation toward zero),
//! fits them to Loihi's synapse (`optimize_weight_bits`: a left shift by `scale_bits` and the
//! weight exponent `−scale_bits`, then `truncate_weights` drops the low bits its bit count does
//! not keep) and sends `(Σ w·s) << weight_exp` (or `>>`, flooring) one step later: one step of
//! delay per layer, as the chip. Within netx's ranges that sum is `Σ w·s` of the file's
//! integers, which the chip then stores ([`lava_synapse_fits`] checks the ranges). Lava's
//! `Conv` takes the integer weights as they are (netx flips the kernel and Lava's convolution
//! flips it back: PyTorch's cross-correlation, the chip's) and lays maps out as `(x, y,
//! channel)`; netx's flatten before a dense layer transposes to `(channel, y, x)`, the chip's
//! raster order. So the lowered network is Lava's bit for bit; Lava's `LIF` is the chip's Loihi LIF
//! (`isa::arith::loihi`, reset to 0). One timing difference is Lava's, not the network's: the
//! first `Dense` also delays the input spikes by a step, where the chip's first layer reads
//! them in their own step, so Lava's step `t + 1` is the chip's step `t` — for a network
//! without biases, where Lava's step 1 does nothing; with biases, Lava's neurons integrate
//! them in that extra step too, so a fresh Lava run is the chip's shifted by one step of bias.
//!
//! # Delays
//!
//! SLAYER's axonal delays (`delay=True`) delay a neuron's output spikes; its `export_hdf5`
//! writes them, floored, as the layer's `delay`, and netx builds that dense layer's synapse
//! as a `DelayDense` whose row for neuron `j` waits `delay[j]` steps more (a neuron whose
//! input is delayed by `d` spikes as one whose output is). That is the chip's dendritic delay
//! slots: [`LifLayer::input_delays`]. netx gives a recurrent layer's `weight_rec` the same
//! rows' delays. It ignores a conv layer's `delay` (Lava would run the layer without the
//! delays it was trained with), clamps delays above 62, and reads a delay per *input* when
//! the count matches the layer's inputs and not its neurons; those are refused here.

use crate::import::{Act, ImportError};
use crate::nir::{open_hdf5, NirError, Reader};
use hdf5_pure::{DType, Group};
use model::lif::{
    BiasTarget, LifConv, LifLayer, LifNetwork, LifNeuron, LifReset, RateCode, Readout,
    LIF_FORMAT_VERSION,
};
use std::path::Path;

/// A netx network: its layers in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct NetxNetwork {
    /// The input's shape, when the file declares it (an `input` layer without a neuron):
    /// `(features)`, `(height, width)` or `(channels, height, width)`.
    pub input: Option<Vec<usize>>,
    /// The layers after the input, in order.
    pub layers: Vec<NetxLayer>,
}

/// One netx layer.
#[derive(Clone, Debug, PartialEq)]
pub struct NetxLayer {
    /// Its key under `/layer` (`"0"`, `"1"`, …).
    pub key: String,
    /// Its `type` (`dense`, `conv`, …).
    pub kind: String,
    /// Neurons (the product of `shape`).
    pub neurons: usize,
    /// `shape` as stored (a map's `(channels, height, width)`).
    pub shape: Vec<usize>,
    /// `weight` as stored, row-major, and its dimensions (dense `(out, in)`, convolution
    /// `(out, in, kernel height, kernel width[, 1])`).
    pub weight: Option<(Vec<f64>, Vec<usize>)>,
    /// `weight_rec` of a `dense_rec` layer as stored, `neurons × neurons` row-major (from
    /// neuron `k` to neuron `j` at `j · neurons + k`).
    pub weight_rec: Option<Vec<f64>>,
    /// A convolution's geometry.
    pub conv: Option<NetxConv>,
    /// `bias` as stored (one per neuron).
    pub bias: Option<Vec<f64>>,
    /// `delay` as stored (SLAYER: one per neuron) and its dimensions.
    pub delay: Option<(Vec<f64>, Vec<usize>)>,
    /// The neuron description (`None` when the layer has no `neuron` group).
    pub neuron: Option<NetxNeuron>,
}

/// A `conv` layer's geometry, `(height, width)` pairs as SLAYER writes them.
#[derive(Clone, Debug, PartialEq)]
pub struct NetxConv {
    /// `inChannels`.
    pub in_channels: usize,
    /// `outChannels`.
    pub out_channels: usize,
    /// `kernelSize`.
    pub kernel: [usize; 2],
    /// `stride`.
    pub stride: [usize; 2],
    /// `padding`.
    pub padding: [usize; 2],
    /// `dilation`.
    pub dilation: [usize; 2],
    /// `groups`.
    pub groups: usize,
}

/// A layer's `neuron` group.
#[derive(Clone, Debug, PartialEq)]
pub struct NetxNeuron {
    /// `type` (`CUBA`, `LOIHI`, `SDNN`, …).
    pub kind: String,
    /// `iDecay` (current decay, 12-bit; Lava's `du + 1`).
    pub i_decay: f64,
    /// `vDecay` (voltage decay, 12-bit).
    pub v_decay: f64,
    /// `vThMant` (threshold mantissa).
    pub v_th_mant: f64,
    /// `gradedSpike` (absent: false).
    pub graded_spike: bool,
    /// `messageBits` (absent: 0, binary spikes).
    pub message_bits: f64,
}

/// Reads a netx `.net` file. Errors name the file and the HDF5 object.
pub fn read_netx(file: &Path) -> Result<NetxNetwork, NirError> {
    let (h5, r) = match open_hdf5(file) {
        Err(NirError::NotHdf5 { file, reason }) => {
            return Err(NirError::Unreadable {
                file,
                path: "/".into(),
                reason: format!(
                    "not an HDF5 file (a netx .net file is HDF5, as SLAYER's export_hdf5 writes it): {reason}"
                ),
            })
        }
        other => other?,
    };
    let root = h5.root();
    if !r.has_group(&root, "", "layer")? {
        return Err(NirError::MissingGroup {
            file: file.to_path_buf(),
            path: "layer".into(),
            what: "the netx layers",
        });
    }
    let layers = r.group(&root, "", "layer")?;
    let mut keys: Vec<(usize, String)> = Vec::new();
    for k in layers.groups().map_err(|e| r.unreadable("layer", &e))? {
        match k.parse::<usize>() {
            Ok(i) => keys.push((i, k)),
            Err(_) => {
                return Err(r.bad_value(
                    "layer",
                    &k,
                    "is not a layer index (netx numbers its layers 0, 1, …)".into(),
                ))
            }
        }
    }
    keys.sort();
    if let Some((pos, _)) = keys.iter().enumerate().find(|(pos, (i, _))| pos != i) {
        return Err(NirError::MissingGroup {
            file: file.to_path_buf(),
            path: format!("layer/{pos}"),
            what: "a layer: netx numbers its layers 0, 1, … without gaps",
        });
    }
    let mut net = NetxNetwork {
        input: None,
        layers: Vec::new(),
    };
    for (_, key) in keys {
        let path = format!("layer/{key}");
        let g = r.group(&layers, "layer", &key)?;
        let kind = r.read_string(&g, &path, "type")?;
        let shape = match r.read_optional_numbers(&g, &path, "shape")? {
            Some((v, _)) => sizes(&r, &path, "shape", &v)?,
            None => Vec::new(),
        };
        let has_neuron = r.has_group(&g, &path, "neuron")?;
        if kind == "input" && !has_neuron && net.layers.is_empty() {
            net.input = Some(shape);
            continue;
        }
        let with_dims = |(v, dims): (Vec<f64>, Vec<u64>)| {
            let dims = dims
                .iter()
                .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
                .collect();
            (v, dims)
        };
        let weight = r.read_optional_numbers(&g, &path, "weight")?.map(with_dims);
        let weight_rec = r
            .read_optional_numbers(&g, &path, "weight_rec")?
            .map(|(w, _)| w);
        let conv = if kind == "conv" {
            let pair = |name: &str| -> Result<[usize; 2], NirError> {
                let (v, _) = r.read_numbers(&g, &path, name)?;
                match sizes(&r, &path, name, &v)?.as_slice() {
                    [x] => Ok([*x, *x]),
                    [y, x] => Ok([*y, *x]),
                    other => Err(r.bad_value(
                        &path,
                        name,
                        format!("{other:?}: expected one value or a (height, width) pair"),
                    )),
                }
            };
            let one = |name: &str| -> Result<usize, NirError> {
                let (v, _) = r.read_numbers(&g, &path, name)?;
                match sizes(&r, &path, name, &v)?.as_slice() {
                    [x] => Ok(*x),
                    other => {
                        Err(r.bad_value(&path, name, format!("{other:?}: expected one value")))
                    }
                }
            };
            Some(NetxConv {
                in_channels: one("inChannels")?,
                out_channels: one("outChannels")?,
                kernel: pair("kernelSize")?,
                stride: pair("stride")?,
                padding: pair("padding")?,
                dilation: pair("dilation")?,
                groups: one("groups")?,
            })
        } else {
            None
        };
        let bias = r.read_optional_numbers(&g, &path, "bias")?.map(|(b, _)| b);
        let neuron = if has_neuron {
            let npath = format!("{path}/neuron");
            let n = r.group(&g, &path, "neuron")?;
            let kind = r.read_string(&n, &npath, "type")?;
            let number = |name: &'static str, default: Option<f64>| -> Result<f64, NirError> {
                if !r.has_dataset(&n, &npath, name)? {
                    return default.ok_or_else(|| NirError::MissingDataset {
                        file: file.to_path_buf(),
                        path: npath.clone(),
                        node: format!("layer/{key}"),
                        type_name: format!("{kind} neuron"),
                        dataset: name,
                    });
                }
                let (v, _) = r.read_numbers(&n, &npath, name)?;
                match v.as_slice() {
                    [x] => Ok(*x),
                    _ => Err(r.bad_value(
                        &npath,
                        name,
                        format!("expected one value (the layer's), found {}", v.len()),
                    )),
                }
            };
            Some(NetxNeuron {
                i_decay: number("iDecay", None)?,
                v_decay: number("vDecay", None)?,
                v_th_mant: number("vThMant", None)?,
                graded_spike: read_bool(&r, &n, &npath, "gradedSpike")?,
                message_bits: number("messageBits", Some(0.0))?,
                kind,
            })
        } else {
            None
        };
        let neurons = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| r.bad_value(&path, "shape", format!("{shape:?} overflows")))?;
        net.layers.push(NetxLayer {
            neurons: if shape.is_empty() {
                weight
                    .as_ref()
                    .and_then(|(_, d): &(Vec<f64>, Vec<usize>)| d.first().copied())
                    .unwrap_or(0)
            } else {
                neurons
            },
            shape,
            key,
            kind,
            weight,
            weight_rec,
            conv,
            bias,
            delay: r.read_optional_numbers(&g, &path, "delay")?.map(with_dims),
            neuron,
        });
    }
    Ok(net)
}

/// A dataset of sizes (non-negative integers below 2^32).
fn sizes(r: &Reader<'_>, path: &str, name: &str, v: &[f64]) -> Result<Vec<usize>, NirError> {
    v.iter()
        .map(|&d| {
            if d >= 0.0 && d.fract() == 0.0 && d < 4_294_967_296.0 {
                Ok(d as usize)
            } else {
                Err(r.bad_value(path, name, format!("{d} is not a size")))
            }
        })
        .collect()
}

/// A boolean dataset (h5py writes numpy bools as an HDF5 enum of FALSE/TRUE over 8 bits);
/// absent: false.
fn read_bool(r: &Reader<'_>, g: &Group, path: &str, name: &str) -> Result<bool, NirError> {
    if !r.has_dataset(g, path, name)? {
        return Ok(false);
    }
    let (ds, _, elements) = r.dataset(g, path, name)?;
    let full = format!("{path}/{name}");
    let dtype = ds.dtype().map_err(|e| r.unreadable(&full, &e))?;
    let values: Vec<u8> = match dtype {
        DType::Enum(_) | DType::U8 | DType::I8 => {
            ds.read_raw().map_err(|e| r.unreadable(&full, &e))?
        }
        _ => r
            .read_numbers(g, path, name)?
            .0
            .iter()
            .map(|&x| u8::from(x != 0.0))
            .collect(),
    };
    match (elements, values.as_slice()) {
        (1, [x]) => Ok(*x != 0),
        _ => Err(r.bad_value(
            path,
            name,
            format!("expected one boolean, found {} values", values.len()),
        )),
    }
}

/// The largest delay netx passes to Lava unchanged (it clamps larger ones, with a warning).
pub const NETX_MAX_DELAY: u8 = 62;

/// A layer's `delay` as the chip's per-neuron input delays, as netx hands them to Lava's
/// `DelayDense`: one value for the layer, one per neuron, or a `(neurons, inputs)` matrix
/// whose rows are constant; refused where netx would change them (clamping above
/// [`NETX_MAX_DELAY`], ignoring a conv layer's) or read them per input.
fn input_delays(
    l: &NetxLayer,
    d: &[f64],
    dims: &[usize],
    fan_in: usize,
    err: &dyn Fn(&str, String) -> ImportError,
) -> Result<Vec<u8>, ImportError> {
    if l.conv.is_some() {
        return Err(err(
            "delay",
            "axonal delays on a conv layer: netx ignores them, so Lava would run another network than the one SLAYER trained (train the conv blocks with delay=False)".into(),
        ));
    }
    let n = l.neurons;
    let per_neuron: Vec<f64> = match (d.len(), dims) {
        (1, _) => vec![d[0]; n],
        (len, [_]) if len == n => d.to_vec(),
        (len, [_]) if len == fan_in => {
            return Err(err(
                "delay",
                format!("{len} delays, one per input: the chip delays a neuron's whole input (one delay per neuron, {n} here)"),
            ))
        }
        (_, [rows, cols]) if *rows == n && *cols == fan_in && n > 0 => {
            let rows: Vec<&[f64]> = d.chunks(fan_in.max(1)).collect();
            if let Some(j) = rows.iter().position(|r| r.iter().any(|&x| x != r[0])) {
                return Err(err(
                    &format!("delay[{j}]"),
                    "delays that differ between one neuron's synapses: the chip delays a neuron's whole input".into(),
                ));
            }
            rows.iter().map(|r| r[0]).collect()
        }
        (len, _) => {
            return Err(err(
                "delay",
                format!("{len} values of shape {dims:?}: expected one, or one per neuron ({n})"),
            ))
        }
    };
    per_neuron
        .iter()
        .enumerate()
        .map(|(j, &x)| {
            if x.fract() == 0.0 && (0.0..=f64::from(NETX_MAX_DELAY)).contains(&x) {
                Ok(x as u8)
            } else {
                Err(err(
                    &format!("delay[{j}]"),
                    format!(
                        "{x} is outside 0..={NETX_MAX_DELAY} whole steps (netx clamps larger delays, which changes the network SLAYER trained)"
                    ),
                ))
            }
        })
        .collect()
}

/// Whether Lava-DL's netx and Lava's bit-accurate `Dense` run a layer's integer weights
/// unchanged, or why not (the rule broken).
///
/// netx fits the weights to Loihi's synapse (`optimize_weight_bits`): it clips beyond
/// `-256..=254` (mixed signs), shifts them left by `scale_bits ≥ 0` (a negative scale would be
/// a left shift by a negative amount) and sets the weight exponent to `−scale_bits`, with
/// `8 − scale_bits − n` weight bits where `2^n` divides every weight (`n` less one for mixed
/// signs); Lava's `truncate_weights` then drops `scale_bits + n` low bits, which are zero, and
/// its `Dense` shifts the sum back by `scale_bits`, exactly. So within those ranges Lava's input
/// to a neuron is `Σ w·s` of the file's integers — the chip's weights; the property test below
/// runs the transcription of every step against that.
pub fn lava_synapse_fits(w: &[i64]) -> Result<(), String> {
    let (Some(&max), Some(&min)) = (w.iter().max(), w.iter().min()) else {
        return Ok(());
    };
    if (max > 254 && min < 0) || (min < -256 && max > 0) {
        return Err(format!(
            "weights {min}..={max} are beyond Loihi's mixed-sign synapse (-256..=254), which netx clips"
        ));
    }
    if max > 255 || min < -256 {
        return Err(format!(
            "weights {min}..={max} are beyond Loihi's single-sign synapse (8 bits), which netx's negative scale does not fit"
        ));
    }
    Ok(())
}

/// A layer's synapse as the chip stores it: the integer weights Lava runs, and what the layer
/// makes of the activation flowing in.
struct Synapse {
    conv: Option<LifConv>,
    fan_in: usize,
    weights: Vec<i64>,
    recurrent: Vec<i64>,
    next: Act,
}

/// How a layer's error is made: the field and the rule broken.
type LayerErr<'a> = &'a dyn Fn(&str, String) -> ImportError;

/// numpy's `astype(int)`, as netx reads weights: truncation toward zero.
fn ints(w: &[f64]) -> Vec<i64> {
    w.iter().map(|&x| x.trunc() as i64).collect()
}

/// A `dense` or `dense_rec` layer's weights (`dims` as stored) reading `act`.
fn dense_synapse(
    l: &NetxLayer,
    w: &[f64],
    dims: &[usize],
    act: Option<Act>,
    err: LayerErr,
) -> Result<Synapse, ImportError> {
    // netx reshapes a 1-D weight to (neurons, -1); a 2-D one keeps its rows.
    let cols = w.len().checked_div(l.neurons).unwrap_or(0);
    let rows_ok = match dims {
        [_] => true,
        [rows, c] => *rows == l.neurons && *c == cols,
        _ => false,
    };
    if l.neurons == 0 || cols == 0 || w.len() != l.neurons * cols || !rows_ok {
        return Err(err(
            "weight",
            format!(
                "{} values (dimensions {dims:?}) for {} neurons",
                w.len(),
                l.neurons
            ),
        ));
    }
    match act {
            Some(Act::Map(c, h, wd)) => {
                return Err(err(
                    "type",
                    format!("a dense layer reads the {c}×{h}×{wd} map of the layer before without a flatten layer"),
                ))
            }
            Some(Act::Flat(i)) if i != cols => {
                return Err(err(
                    "weight",
                    format!("{cols} inputs per neuron, the layer before has {i} outputs"),
                ))
            }
            _ => {}
        }
    // Lava's Dense fits the weights to its synapse first; a recurrent layer's input
    // and recurrent weights together (netx fits `hstack((weight, weight_rec))`).
    let mut all = ints(w);
    if l.kind == "dense_rec" {
        let Some(wr) = &l.weight_rec else {
            return Err(err("weight_rec", "missing in a dense_rec layer".into()));
        };
        if l.neurons.checked_mul(l.neurons) != Some(wr.len()) {
            return Err(err(
                "weight_rec",
                format!(
                    "{} values, but {n}×{n} for the layer's {n} neurons",
                    wr.len(),
                    n = l.neurons
                ),
            ));
        }
        if let Some(x) = wr.iter().find(|x| !x.is_finite()) {
            return Err(err("weight_rec", format!("{x} is not a number")));
        }
        all.extend(ints(wr));
    }
    lava_synapse_fits(&all).map_err(|rule| err("weight", rule))?;
    let recurrent = all.split_off(w.len());
    Ok(Synapse {
        conv: None,
        fan_in: cols,
        weights: all,
        recurrent,
        next: Act::Flat(l.neurons),
    })
}

/// A `conv` layer's weights (`dims` as stored) reading the map `act`.
fn conv_synapse(
    l: &NetxLayer,
    c: &NetxConv,
    w: &[f64],
    dims: &[usize],
    act: Option<Act>,
    err: LayerErr,
) -> Result<Synapse, ImportError> {
    let Some(Act::Map(ic, ih, iw)) = act else {
        return Err(err(
                "type",
                "a convolution needs a map: give the file an input layer with the (channels, height, width) shape".into(),
            ));
    };
    if c.groups != 1 || c.dilation != [1, 1] {
        return Err(err(
            "groups, dilation",
            format!(
                "{} and {:?}: only groups 1 and dilation 1 map",
                c.groups, c.dilation
            ),
        ));
    }
    if c.kernel[0] != c.kernel[1] || c.stride[0] != c.stride[1] || c.padding[0] != c.padding[1] {
        return Err(err(
                "kernelSize, stride, padding",
                format!(
                    "{:?}, {:?}, {:?}: the chip's convolutions have square kernels and equal strides and paddings",
                    c.kernel, c.stride, c.padding
                ),
            ));
    }
    if c.in_channels != ic {
        return Err(err(
            "inChannels",
            format!(
                "{}, but the map feeding it has {ic} channels",
                c.in_channels
            ),
        ));
    }
    let k = c.kernel[0];
    for (field, v) in [
        ("inChannels", ic),
        ("input height", ih),
        ("input width", iw),
        ("outChannels", c.out_channels),
        ("kernelSize", k),
        ("stride", c.stride[0]),
        ("padding", c.padding[0]),
    ] {
        if v > LifConv::MAX_FIELD as usize {
            return Err(err(
                field,
                format!("{v} is above the chip's {}", LifConv::MAX_FIELD),
            ));
        }
    }
    // (out, in, kh, kw), with SLAYER's trailing time dimension of 1.
    let dims_ok = matches!(dims, [o, i, a, b] | [o, i, a, b, 1]
            if (*o, *i, *a, *b) == (c.out_channels, ic, k, k));
    if !dims_ok || w.len() != c.out_channels * ic * k * k {
        return Err(err(
            "weight",
            format!(
                "{} values (dimensions {dims:?}), expected {}×{ic}×{k}×{k}",
                w.len(),
                c.out_channels
            ),
        ));
    }
    let lc = LifConv {
        in_channels: ic as u32,
        in_height: ih as u32,
        in_width: iw as u32,
        out_channels: c.out_channels as u32,
        kernel: k as u32,
        stride: c.stride[0] as u32,
        padding: c.padding[0] as u32,
    };
    let (oh, ow) = (lc.out_height() as usize, lc.out_width() as usize);
    if l.neurons != c.out_channels * oh * ow {
        return Err(err(
                "shape",
                format!(
                    "{:?} ({} neurons), but a {k}×{k} convolution of stride {} and padding {} makes {}×{oh}×{ow} of the {ic}×{ih}×{iw} map",
                    l.shape, l.neurons, c.stride[0], c.padding[0], c.out_channels
                ),
            ));
    }
    // Lava's Conv takes the integer weights as they are (no fitting) and sums
    // them into a 24-bit value; the network's validation at the end holds them to
    // the chip's 16-bit a_in.
    Ok(Synapse {
        conv: Some(lc),
        fan_in: ic * k * k,
        weights: ints(w),
        recurrent: Vec::new(),
        next: Act::Map(c.out_channels, oh, ow),
    })
}

/// Lowers a netx network to the chip's LIF network, Lava's semantics bit for bit (module
/// documentation). `steps` is the chip's window; images are rate-coded with `encoding`.
pub fn lower_netx(
    net: &NetxNetwork,
    source: &str,
    steps: u32,
    encoding: Option<RateCode>,
) -> Result<LifNetwork, ImportError> {
    let graph_err = |what: String| ImportError::Graph {
        source_name: source.to_string(),
        what,
    };
    let mut act = match net.input.as_deref() {
        None => None,
        Some([n]) => Some(Act::Flat(*n)),
        Some([h, w]) => Some(Act::Map(1, *h, *w)),
        Some([c, h, w]) if c.checked_mul(*h).and_then(|x| x.checked_mul(*w)).is_some() => {
            Some(Act::Map(*c, *h, *w))
        }
        Some(other) => {
            return Err(graph_err(format!(
                "the input layer's shape {other:?} is not (features), (height, width) or (channels, height, width) of a size that fits"
            )))
        }
    };
    let mut layers = Vec::new();
    for l in &net.layers {
        let err = |field: &str, rule: String| ImportError::Node {
            source_name: source.to_string(),
            node: format!("layer/{}", l.key),
            kind: "netx layer",
            field: field.to_string(),
            rule,
        };
        if l.kind == "flatten" {
            act = act.map(|a| Act::Flat(a.len()));
            continue;
        }
        if !matches!(l.kind.as_str(), "dense" | "dense_rec" | "conv") {
            return Err(err(
                "type",
                format!(
                    "`{}`: the chip maps netx's dense, dense_rec and conv layers (pooling and other layers are not imported)",
                    l.kind
                ),
            ));
        }
        let Some(n) = &l.neuron else {
            return Err(err(
                "neuron",
                "missing: netx's default integrator (iDecay 0) keeps its current forever, which the chip's 12-bit decays cannot express".into(),
            ));
        };
        if n.kind != "CUBA" && n.kind != "LOIHI" {
            return Err(err(
                "neuron/type",
                format!(
                    "`{}`: the chip runs netx's CUBA (Loihi LIF) neurons",
                    n.kind
                ),
            ));
        }
        if n.graded_spike {
            return Err(err(
                "neuron/gradedSpike",
                "graded spikes: the chip's spikes are binary".into(),
            ));
        }
        if n.message_bits != 0.0 {
            return Err(err(
                "neuron/messageBits",
                format!(
                    "{}: graded spikes; the chip's spikes are binary",
                    n.message_bits
                ),
            ));
        }
        let int = |field: &str, x: f64, lo: i64, hi: i64, what: &str| -> Result<i64, ImportError> {
            if x.fract() == 0.0 && x >= lo as f64 && x <= hi as f64 {
                Ok(x as i64)
            } else {
                Err(err(field, format!("{x} is outside {lo}..={hi} ({what})")))
            }
        };
        let du = int(
            "neuron/iDecay",
            n.i_decay,
            1,
            4096,
            "Lava's du + 1; 0 would keep the current forever",
        )? - 1;
        let dv = int("neuron/vDecay", n.v_decay, 0, 4095, "12-bit decay")?;
        let vth = int(
            "neuron/vThMant",
            n.v_th_mant,
            0,
            131_071,
            "17-bit threshold",
        )?;
        let Some((w, dims)) = &l.weight else {
            return Err(err("weight", "missing".into()));
        };
        if let Some((k, x)) = w.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(err(
                &format!("weight (value {k})"),
                format!("{x} is not a number"),
            ));
        }
        let Synapse {
            conv,
            fan_in,
            weights: eff,
            recurrent,
            next,
        } = match &l.conv {
            None => dense_synapse(l, w, dims, act, &err)?,
            Some(c) => conv_synapse(l, c, w, dims, act, &err)?,
        };
        let max_abs = eff
            .iter()
            .chain(&recurrent)
            .map(|x| x.unsigned_abs())
            .max()
            .unwrap_or(0);
        let bits = (2..=16u8)
            .find(|&b| max_abs < 1u64 << (b - 1))
            .ok_or_else(|| err("weight", format!("|w| = {max_abs} needs more than 16 bits")))?;
        // Lava's bias_mant with bias_exp 6 is the chip's mantissa · 2^3 with the mantissa
        // scaled by 8 (the chip's exponent is 3-bit signed, at most 3).
        let (bias_mant, bias_exp) = match &l.bias {
            None => (Vec::new(), Vec::new()),
            Some(b) => {
                if b.len() != l.neurons {
                    return Err(err(
                        "bias",
                        format!("{} values for {} neurons", b.len(), l.neurons),
                    ));
                }
                let mut m = Vec::with_capacity(b.len());
                for (j, &x) in b.iter().enumerate() {
                    let v = x.trunc() * 8.0;
                    if !(x.is_finite() && (-4096.0..=4095.0).contains(&v)) {
                        return Err(err(
                            &format!("bias[{j}]"),
                            format!(
                                "{x} · 2^6 is beyond the chip's bias range (13-bit mantissa · 2^3)"
                            ),
                        ));
                    }
                    m.push(v as i16);
                }
                (m, vec![3i8; b.len()])
            }
        };
        let input_delays = match &l.delay {
            None => Vec::new(),
            Some((d, dims)) => input_delays(l, d, dims, fan_in, &err)?,
        };
        let inputs = act.map_or(fan_in, Act::len);
        layers.push(LifLayer {
            name: format!("layer{}", l.key),
            inputs: inputs as u32,
            outputs: l.neurons as u32,
            conv,
            weight_bits: bits,
            weights: eff.iter().map(|&x| x as i16).collect(),
            neuron: LifNeuron {
                du: du as u16,
                dv: dv as u16,
                vth: vth as u32,
                reset: LifReset::Zero,
            },
            bias_mant,
            bias_exp,
            bias_target: BiasTarget::Voltage,
            recurrent: recurrent.iter().map(|&x| x as i16).collect(),
            du_per_neuron: Vec::new(),
            dv_per_neuron: Vec::new(),
            input_delays,
        });
        act = Some(next);
    }
    let Some(first) = layers.first() else {
        return Err(graph_err("the file has no dense or conv layer".into()));
    };
    let network = LifNetwork {
        lif_format_version: LIF_FORMAT_VERSION,
        inputs: first.inputs,
        steps,
        encoding,
        layers,
        readout: Readout::SpikeCount,
        provenance: format!("imported from Lava-DL netx {source}"),
    };
    network.validate().map_err(|v| {
        graph_err(format!(
            "the network breaks a rule of the chip's LIF layers: {v}"
        ))
    })?;
    Ok(network)
}

#[cfg(test)]
mod tests {
    use super::{lava_synapse_fits, lower_netx, NetxLayer, NetxNetwork, NetxNeuron};

    fn cuba() -> NetxNeuron {
        NetxNeuron {
            kind: "CUBA".into(),
            i_decay: 1024.0,
            v_decay: 123.0,
            v_th_mant: 80.0,
            graded_spike: false,
            message_bits: 0.0,
        }
    }

    fn dense(key: &str, neurons: usize, cols: usize) -> NetxLayer {
        NetxLayer {
            key: key.into(),
            kind: "dense".into(),
            neurons,
            shape: vec![neurons],
            weight: Some((
                (0..neurons * cols)
                    .map(|k| (k % 5) as f64 * 2.0 - 4.0)
                    .collect(),
                vec![neurons, cols],
            )),
            weight_rec: None,
            conv: None,
            bias: None,
            delay: None,
            neuron: Some(cuba()),
        }
    }

    #[test]
    fn a_dense_cuba_network_lowers_to_lavas_fields() {
        let mut l0 = dense("0", 3, 2);
        l0.bias = Some(vec![1.0, -2.0, 0.0]);
        let net = NetxNetwork {
            input: Some(vec![2]),
            layers: vec![l0, dense("1", 2, 3)],
        };
        let lif = lower_netx(&net, "t.net", 8, None).unwrap();
        let l = &lif.layers[0];
        assert_eq!((l.neuron.du, l.neuron.dv, l.neuron.vth), (1023, 123, 80));
        assert_eq!(l.weights, [-4, -2, 0, 2, 4, -4]);
        assert_eq!(l.weight_bits, 4);
        // Lava's bias_mant · 2^6 is the chip's (8 · mant) · 2^3.
        assert_eq!(
            (l.bias_mant.as_slice(), l.bias_exp.as_slice()),
            ([8, -16, 0].as_slice(), [3, 3, 3].as_slice())
        );
        assert_eq!(lif.inputs, 2);
    }

    #[test]
    fn what_lava_runs_differently_from_the_chip_is_refused_by_layer() {
        let err = |edit: &dyn Fn(&mut NetxLayer)| {
            let mut l = dense("1", 2, 2);
            edit(&mut l);
            let net = NetxNetwork {
                input: None,
                layers: vec![dense("0", 2, 2), l],
            };
            lower_netx(&net, "t.net", 8, None).unwrap_err().to_string()
        };
        type Edit<'a> = &'a dyn Fn(&mut NetxLayer);
        let cases: [(Edit, &str); 8] = [
            (
                &|l| l.kind = "pool".into(),
                "layer/1` (netx layer): type: `pool`",
            ),
            (
                &|l| l.delay = Some((vec![63.0, 0.0], vec![2])),
                "delay[0]: 63 is outside 0..=62",
            ),
            (&|l| l.neuron = None, "neuron: missing"),
            (
                &|l| l.neuron.as_mut().unwrap().i_decay = 0.0,
                "neuron/iDecay: 0 is outside 1..=4096",
            ),
            (
                &|l| l.neuron.as_mut().unwrap().graded_spike = true,
                "graded spikes",
            ),
            (
                &|l| l.neuron.as_mut().unwrap().kind = "SDNN".into(),
                "`SDNN`",
            ),
            (&|l| l.bias = Some(vec![600.0, 0.0]), "bias[0]: 600"),
            (
                &|l| l.weight = Some((vec![1.0; 6], vec![2, 3])),
                "3 inputs per neuron, the layer before has 2",
            ),
        ];
        for (edit, want) in cases {
            let e = err(edit);
            assert!(e.contains("t.net") && e.contains(want), "{e}\nwant {want}");
        }
        // A 2-D weight whose rows are not the layer's neurons (netx keeps its shape).
        let e = err(&|l| l.weight = Some((vec![1.0; 4], vec![4, 1])));
        assert!(e.contains("layer/1") && e.contains("weight"), "{e}");
        // Sizes whose products overflow are refused, not multiplied.
        let net = NetxNetwork {
            input: Some(vec![u32::MAX as usize; 3]),
            layers: vec![dense("0", 2, 2)],
        };
        let e = lower_netx(&net, "t.net", 8, None).unwrap_err().to_string();
        assert!(e.contains("of a size that fits"), "{e}");
    }

    #[test]
    fn delays_lower_to_one_input_delay_per_neuron_as_netx_reads_them() {
        let lower = |delay: (Vec<f64>, Vec<usize>)| {
            let mut l = dense("1", 3, 2);
            l.delay = Some(delay);
            let net = NetxNetwork {
                input: None,
                layers: vec![dense("0", 2, 2), l],
            };
            lower_netx(&net, "t.net", 8, None).map(|n| n.layers[1].input_delays.clone())
        };
        // SLAYER's one per neuron; one for the layer; netx's (neurons, inputs) matrix.
        assert_eq!(lower((vec![4.0, 0.0, 62.0], vec![3])).unwrap(), [4, 0, 62]);
        assert_eq!(lower((vec![2.0], vec![1])).unwrap(), [2, 2, 2]);
        let rows = vec![1.0, 1.0, 5.0, 5.0, 0.0, 0.0];
        assert_eq!(lower((rows, vec![3, 2])).unwrap(), [1, 5, 0]);
        let refused = |delay, want: &str| {
            let e = lower(delay).unwrap_err().to_string();
            assert!(
                e.contains("layer/1") && e.contains(want),
                "{e}\nwant {want}"
            );
        };
        refused((vec![1.0, 2.0], vec![2]), "one per input");
        refused((vec![1.0, 2.0, 5.0, 5.0, 0.0, 0.0], vec![3, 2]), "delay[0]");
        refused((vec![1.5, 0.0, 0.0], vec![3]), "delay[0]: 1.5");
        refused((vec![0.0, -1.0, 0.0], vec![3]), "delay[1]: -1");
        refused(
            (vec![0.0; 4], vec![4]),
            "expected one, or one per neuron (3)",
        );
    }

    /// Lava's input to a neuron from a `Dense` layer's integer weights `w` and one spike
    /// pattern: netx's `optimize_weight_bits`, Lava's `truncate_weights` and the exponent shift
    /// of the sum, transcribed step by step (`None` where netx would shift by a negative amount
    /// or clip).
    fn lava_dense_sum(w: &[i64], spikes: &[bool]) -> Option<i64> {
        let (max, min) = (*w.iter().max()?, *w.iter().min()?);
        if (max > 254 && min < 0) || (min < -256 && max > 0) {
            return None; // netx clips
        }
        let mixed = min < 0 && max >= 0;
        let scale = if max < 0 {
            -256.0 / min as f64
        } else if min >= 0 {
            255.0 / max.max(1) as f64
        } else {
            (127.0 / max as f64).min(-128.0 / min as f64)
        };
        let sb = scale.log2().floor() as i64 + i64::from(mixed);
        if sb < 0 {
            return None; // np.left_shift by a negative amount
        }
        let mut n = 8;
        while n > 0 && w.iter().any(|&x| x % (1 << n) != 0) {
            n -= 1;
        }
        let bits = 8 - sb - (n - i64::from(mixed));
        let trunc = 8 - bits + i64::from(mixed);
        let acc: i64 = w
            .iter()
            .zip(spikes)
            .filter(|(_, &s)| s)
            .map(|(&x, _)| {
                let y = x << sb;
                if max < 0 {
                    -(((-y) >> trunc) << trunc)
                } else {
                    (y >> trunc) << trunc
                }
            })
            .sum();
        Some(acc >> sb) // weight exponent −sb: a right shift (floor)
    }

    #[test]
    fn slayer_style_weights_fit_lavas_synapse_unchanged() {
        // Mixed signs within ±22, all even (SLAYER's 8-bit weights): scale_bits 3, n 0, 5
        // weight bits, exponent −3, truncation by 4 bits of w·8 (lossless), the sum shifted
        // back by 3. Also excitatory-only odd weights and inhibitory-only ones.
        let spikes = [true, false, true, true, true, false];
        for w in [
            vec![-22, 14, -10, 0, 22, 2],
            vec![0, 1, 3, 255, 7, 9],
            vec![-1, -7, -256, -3, -2, -100],
        ] {
            assert!(lava_synapse_fits(&w).is_ok());
            let chip: i64 = w
                .iter()
                .zip(&spikes)
                .filter(|(_, &s)| s)
                .map(|(x, _)| x)
                .sum();
            assert_eq!(lava_dense_sum(&w, &spikes), Some(chip), "{w:?}");
        }
    }

    proptest::proptest! {
        /// Whatever integer weights a file holds, either netx and Lava's `Dense` give every
        /// neuron `Σ w·s` of them (the chip's weights) for every spike pattern, or the layer is
        /// refused — exactly when netx would clip or shift by a negative amount.
        #[test]
        fn lavas_dense_sum_is_the_files_weights_or_the_layer_is_refused(
            w in proptest::collection::vec(-300i64..=300, 1..40),
            spikes in proptest::collection::vec(proptest::bool::ANY, 40),
            scale in 0u32..4,
        ) {
            let w: Vec<i64> = w.iter().map(|&x| x << scale).collect();
            let lava = lava_dense_sum(&w, &spikes);
            proptest::prop_assert_eq!(lava_synapse_fits(&w).is_ok(), lava.is_some());
            if let Some(lava) = lava {
                let chip: i64 = w.iter().zip(&spikes).filter(|(_, &s)| s).map(|(x, _)| x).sum();
                proptest::prop_assert_eq!(chip, lava);
            }
        }
    }

    #[test]
    fn weights_lava_would_clip_are_refused() {
        let e = lava_synapse_fits(&[-3, 300]).unwrap_err();
        assert!(e.contains("-256..=254"), "{e}");
        let e = lava_synapse_fits(&[0, 300]).unwrap_err();
        assert!(e.contains("single-sign synapse"), "{e}");
    }
}
