//! Lowering a NIR graph ([`crate::nir::NirGraph`]) to a multi-spike LIF network
//! ([`model::lif::LifNetwork`]): discretisation with an explicit `dt` and quantisation to the
//! chip's integer weights, thresholds, decays and biases.
//!
//! # What maps
//!
//! A chain `Input → (Affine | Linear | Conv2d) → (LIF | IF | CubaLIF) → … → Output`, with
//! `Flatten` nodes anywhere between layers: each weight node and the neuron node after it become
//! one [`LifLayer`], dense or convolutional. An `Input` of shape `(C, H, W)` (or `(H, W)`) is a
//! map in raster order; a `Conv2d` needs a map (or its `input_shape`), a square kernel, equal
//! strides and paddings, dilation 1 and one group. `SumPool2d` / `AvgPool2d` with
//! non-overlapping windows (stride = kernel, no padding) that tile the map are linear, so they
//! fold into the next weight node (`unfold_pool`): the chip runs the composite layer, exactly.
//! An output layer of leaky integrators (`LI`, `CubaLI`: no spikes) becomes a layer whose
//! threshold is [`model::lif::NEVER_FIRES`], read out by its final voltage
//! ([`model::lif::Readout::FinalVoltage`]); a leaky integrator anywhere else is refused (it has
//! no spikes to send).
//!
//! A spiking layer may be recurrent: its neuron node also feeds an `Affine`/`Linear` node
//! whose only edge leads back to it (`n → W_rec → n`, snnTorch's `RLeaky`/`RSynaptic`), and
//! the layer's spikes of step `t` reach it through `W_rec` at `t + 1`
//! ([`model::lif::LifLayer::recurrent`]); `W_rec` is scaled like the layer's input weights, and
//! its bias adds to the layer's. Nested graphs (`NIRGraph` nodes, which is how snnTorch writes
//! a recurrent layer) are inlined first (`inline_graphs`). A `Scale` node between a weight node
//! and its neurons multiplies each neuron's input weights and bias (one factor per channel after
//! a convolution); one on the spikes before a weight node (one factor per value, per channel
//! of a map, or one for all; before a pooling node too) multiplies the weight node's input
//! columns (one factor per input channel for a convolution). Anything else (overlapping pools,
//! branches, a `Scale` before the `Output`, …) is refused with the node's name and type.
//!
//! `Delay` nodes (`y(t) = x(t − τ)`) become the layer's input delays
//! ([`model::lif::LifLayer::input_delays`], the chip's dendritic delay slots), `τ` in whole
//! steps of `dt`: between a weight node and its neuron node, a delay per neuron (or per channel
//! after a convolution, or one for all) of that neuron's input current; before a weight node
//! (on the spikes it receives), one delay that every spike must share, since the chip delays a
//! neuron's whole input. Both add up. Refused: delays off the step grid, above
//! [`MAX_DELAY_STEPS`], on a recurrent layer (the chip would delay its recurrent input too),
//! after a weight node with a bias (the chip adds the bias every step, undelayed), or before
//! the `Output`.
//!
//! # Discretisation (forward Euler, step `dt`, input current `I[t] = W s[t] + b`)
//!
//! NIR's neuron equations are continuous-time; frameworks that export per-step models choose
//! their parameters so that forward Euler with their `dt` gives back their update (snnTorch:
//! `tau = dt / (1 − β)`, `R = tau / dt`). With `dt` given explicitly:
//!
//! | node | per step | chip fields |
//! | --- | --- | --- |
//! | `LIF` | `v ← (1 − dt/τ) v + (dt/τ)(v_leak + R I)` | `du = 4095` (the current lasts one step), `dv = round(4096 dt/τ)` |
//! | `IF` | `v ← v + dt R I` | `du = 4095`, `dv = 0` |
//! | `CubaLIF` | `I_s ← (1 − dt/τ_s) I_s + (dt/τ_s) w_in I`; `v ← (1 − dt/τ_m) v + (dt/τ_m)(v_leak + R I_s)` | `du = round(4096 dt/τ_s) − 1`, `dv = round(4096 dt/τ_m)` |
//!
//! Norse 1.x's exporter writes other quantities under NIR's names (`tau` = `dt·τ`, no `w_in`
//! for a current its cells feed unscaled, `r = 1` for an `IF` that adds its input unscaled);
//! [`Convention::Norse`] reads them as Norse means them ([`norse_as_nir`]).
//!
//! # Quantisation
//!
//! Neuron `j`'s voltage is scaled by `V / θ_j` (θ its threshold, `V` the layer's integer
//! threshold `vth`): the dynamics are linear and both resets (to 0, or subtracting θ) commute
//! with the scaling, so per-neuron thresholds and resistances fold into that neuron's weights
//! (after a convolution, whose weights every position of a channel shares, `R/θ` may vary
//! between channels but not within one).
//! The per-step voltage increment of input `i` becomes `w_ji = round(V · g_j · W_ji / θ_j)`
//! (`g_j` the product of the table's factors), and `V` is the largest integer with every
//! `|w_ji| ≤ min(2^(bits−1) − 1, ⌊32767 / fan_in⌋)` (recurrent weights and fan-in included) (the weight width and the 16-bit `a_in`
//! bound of `model::lif`), at most 131071 (17-bit `vth`). A constant per-step increment
//! (`v_leak`, or `b` of an `Affine` into `LIF`/`IF`) becomes the bias `64 · V · increment / θ_j`
//! as `mant · 2^exp` (13-bit mantissa, exponent 0..=3). A bias `b` into a `CubaLIF` is a
//! constant input current: it becomes the bias `64 · V · g_j · b_j / θ_j` added to the current
//! ([`BiasTarget::Current`], scaled like a weight), and cannot be combined with a `v_leak`.
//!
//! Time constants may differ between a layer's neurons (snnTorch's learned per-neuron `β`):
//! the decays are then per neuron ([`model::lif::LifLayer::du_per_neuron`], the firmware's
//! decay fields). Rules the chip cannot express are refused, naming the node (and neuron):
//! `dt/τ` outside the 12-bit decay range, a reset potential other than 0, a threshold ≤ 0.

use crate::nir::{Matrix, NirGraph, NirNode};
use model::lif::{
    BiasTarget, LifConv, LifLayer, LifNetwork, LifNeuron, LifReset, RateCode, Readout,
    LIF_FORMAT_VERSION, NEVER_FIRES,
};
use std::collections::BTreeMap;
use thiserror::Error;

/// How a NIR graph is discretised and quantised.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportOptions {
    /// The Euler step (in the time unit of the graph's `tau`s).
    pub dt: f64,
    /// Timesteps per sample of the network.
    pub steps: u32,
    /// Width of the integer weights (2..=16; the chip's `core.weight_bits` must be at least
    /// this to map them).
    pub weight_bits: u8,
    /// The reset: `None` takes NIR's (reset to `v_reset`, which must be 0); `Some(Subtract)`
    /// for models trained with reset by subtraction (snnTorch's default), which NIR does not
    /// record.
    pub reset: Option<LifReset>,
    /// The input code images get.
    pub encoding: Option<RateCode>,
    /// Whose conventions the file's neuron parameters follow.
    pub convention: Convention,
}

/// Whose conventions a file's neuron parameters follow: NIR's equations, or an exporter that
/// writes something else under NIR's names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Convention {
    /// NIR's own equations (snnTorch's exporter writes these, for its `dt`).
    #[default]
    Nir,
    /// Norse 1.x's `to_nir`: `tau = dt / tau_inv` (the time constant times `dt`, where `dt`
    /// is the one given to `to_nir` and to the cells), `r = 1` and no `w_in`, for cells that
    /// add a `LIF`'s input with the factor `dt/τ` (as NIR), a `CubaLIF`'s input to its current
    /// with the factor 1 (NIR: `dt/τ_syn · w_in`) and an `IF`'s input with the factor 1 (NIR:
    /// `dt · r`). [`norse_as_nir`] rewrites such a graph in NIR's terms.
    Norse,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dt: 1e-3,
            steps: 32,
            weight_bits: 8,
            reset: None,
            encoding: Some(RateCode::Regular),
            convention: Convention::Nir,
        }
    }
}

/// Why a NIR graph could not be lowered to a chip network. Every message names the node.
#[derive(Debug, Error, PartialEq)]
pub enum ImportError {
    /// The graph's shape is not a chain the chip runs.
    #[error("{source_name}: {what}")]
    Graph {
        /// The file (or graph) name.
        source_name: String,
        /// What is wrong.
        what: String,
    },
    /// A node's parameter breaks a rule of the chip's neurons.
    #[error("{source_name}: node `{node}` ({kind}): {field}: {rule}")]
    Node {
        /// The file (or graph) name.
        source_name: String,
        /// The node.
        node: String,
        /// The node's NIR type.
        kind: &'static str,
        /// The parameter.
        field: String,
        /// The rule broken, with the value.
        rule: String,
    },
    /// An option is out of range.
    #[error("{option}: {rule}")]
    Option {
        /// The option.
        option: &'static str,
        /// The rule broken.
        rule: String,
    },
}

/// How one layer was quantised (for the report `spikemesh nir` prints).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerQuantisation {
    /// The layer's name (`weight node+neuron node`).
    pub name: String,
    /// The neuron node's NIR type.
    pub neuron_kind: &'static str,
    /// The integer threshold `vth` ([`NEVER_FIRES`] for a leaky-integrator read-out).
    pub vth: u32,
    /// Chip voltage units per real threshold unit, divided by 64: `V` (equal to `vth` for a
    /// spiking layer; for a read-out, the unit the voltages are counted in).
    pub scale: u32,
    /// Decays (of neuron 0 when they differ between neurons).
    pub du: u16,
    /// Decays (of neuron 0 when they differ between neurons).
    pub dv: u16,
    /// Whether the neurons have their own decays (time constants differ within the layer).
    pub per_neuron_decays: bool,
    /// Largest `|w_int − V·w/θ|` over the layer, in units of the largest `|w_int|` (the
    /// rounding error relative to the weight range).
    pub max_weight_error: f64,
    /// Weights that rounded to 0 although the real weight was not 0.
    pub zeroed_weights: usize,
}

/// The per-step float model of one layer, in units where each neuron's threshold is 1:
/// what the integer layer approximates ([`euler_forward`]).
#[derive(Clone, Debug, PartialEq)]
pub struct FloatLayer {
    /// A leaky integrator: never spikes.
    pub silent: bool,
    /// Voltage (or synaptic current) increments per input spike: `outputs × inputs`, or per
    /// kernel tap for a convolution.
    pub weights: Vec<f64>,
    /// Convolution geometry (`None`: dense).
    pub conv: Option<LifConv>,
    /// Fan-in.
    pub inputs: usize,
    /// Per-neuron constant increment per step, of the voltage or of the current.
    pub bias: Vec<f64>,
    /// What [`FloatLayer::bias`] increments.
    pub bias_target: BiasTarget,
    /// Recurrent increments, `outputs × outputs` (from the layer's own spikes of the previous
    /// step); empty when the layer is not recurrent.
    pub recurrent: Vec<f64>,
    /// Current decay factor per step and neuron (0: the current lasts one step).
    pub current_keep: Vec<f64>,
    /// Voltage decay factor per step and neuron.
    pub voltage_keep: Vec<f64>,
    /// Reset.
    pub reset: LifReset,
    /// Per-neuron input delays in steps (`Delay` nodes): neuron `j` takes at step `t` the
    /// weighted input of step `t − input_delays[j]`. Empty: none.
    pub input_delays: Vec<u8>,
}

/// What [`lower_nir`] produces.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    /// The chip network.
    pub network: LifNetwork,
    /// How each layer was quantised.
    pub layers: Vec<LayerQuantisation>,
    /// The float per-step model the integer network approximates.
    pub float: Vec<FloatLayer>,
}

fn kind_of(node: &NirNode) -> &'static str {
    match node {
        NirNode::Input { .. } => "Input",
        NirNode::Output { .. } => "Output",
        NirNode::Affine { .. } => "Affine",
        NirNode::Linear { .. } => "Linear",
        NirNode::If { .. } => "IF",
        NirNode::Lif { .. } => "LIF",
        NirNode::CubaLif { .. } => "CubaLIF",
        NirNode::Li { .. } => "LI",
        NirNode::CubaLi { .. } => "CubaLI",
        NirNode::Flatten => "Flatten",
        NirNode::Conv2d { .. } => "Conv2d",
        NirNode::SumPool2d { .. } => "SumPool2d",
        NirNode::AvgPool2d { .. } => "AvgPool2d",
        NirNode::Scale { .. } => "Scale",
        NirNode::Delay { .. } => "Delay",
        NirNode::Graph(_) => "NIRGraph",
        NirNode::Other { .. } => "other",
    }
}

fn type_name(node: &NirNode) -> String {
    match node {
        NirNode::Other { type_name } => type_name.clone(),
        n => kind_of(n).to_string(),
    }
}

/// `graph` with every nested graph (`NIRGraph` node) replaced by its nodes, named
/// `outer.inner`: an edge into the nested graph goes to the nodes its `Input` feeds, an edge
/// out of it leaves from the nodes that feed its `Output` (snnTorch writes a recurrent layer
/// as such a subgraph). Edges may also name a nested `Input`/`Output` as `outer.input`.
fn inline_graphs(graph: &NirGraph, source: &str) -> Result<NirGraph, ImportError> {
    let err = |what: String| ImportError::Graph {
        source_name: source.to_string(),
        what,
    };
    let mut nodes = BTreeMap::new();
    let mut edges = Vec::new();
    // Per nested graph: the inner nodes an edge into it reaches, and those an edge out of it
    // leaves from.
    let mut entry: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut exit: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, node) in &graph.nodes {
        let NirNode::Graph(sub) = node else {
            nodes.insert(name.clone(), node.clone());
            continue;
        };
        let sub = inline_graphs(sub, source)?;
        let io = |want_input: bool| -> Vec<&String> {
            sub.nodes
                .iter()
                .filter(|(_, n)| {
                    if want_input {
                        matches!(n, NirNode::Input { .. })
                    } else {
                        matches!(n, NirNode::Output { .. })
                    }
                })
                .map(|(k, _)| k)
                .collect()
        };
        let (ins, outs) = (io(true), io(false));
        let ([sub_in], [sub_out]) = (ins.as_slice(), outs.as_slice()) else {
            return Err(err(format!(
                "nested graph `{name}` has {} Input and {} Output nodes: one of each maps",
                ins.len(),
                outs.len()
            )));
        };
        let inner = |k: &String| format!("{name}.{k}");
        for (k, n) in &sub.nodes {
            if k != *sub_in && k != *sub_out {
                nodes.insert(inner(k), n.clone());
            }
        }
        let mut into = Vec::new();
        let mut from = Vec::new();
        for (a, b) in &sub.edges {
            match (a == *sub_in, b == *sub_out) {
                (true, true) => {
                    return Err(err(format!(
                        "nested graph `{name}` connects its Input straight to its Output"
                    )))
                }
                (true, false) => into.push(inner(b)),
                (false, true) => from.push(inner(a)),
                (false, false) => edges.push((inner(a), inner(b))),
            }
        }
        for (k, list) in [(sub_in, &into), (sub_out, &from)] {
            if list.is_empty() {
                return Err(err(format!(
                    "nested graph `{name}`: its `{k}` node is not connected"
                )));
            }
        }
        for alias in [name.clone(), inner(sub_in)] {
            entry.insert(alias, into.clone());
        }
        for alias in [name.clone(), inner(sub_out)] {
            exit.insert(alias, from.clone());
        }
    }
    for (a, b) in &graph.edges {
        let sources = exit.get(a).cloned().unwrap_or_else(|| vec![a.clone()]);
        let targets = entry.get(b).cloned().unwrap_or_else(|| vec![b.clone()]);
        for x in &sources {
            for y in &targets {
                edges.push((x.clone(), y.clone()));
            }
        }
    }
    Ok(NirGraph {
        version: graph.version.clone(),
        nodes,
        edges,
    })
}

/// Rewrites the neuron nodes of a graph that Norse 1.x's `to_nir` wrote (with step `dt`) in
/// NIR's own terms, so that the lowering's forward Euler with the same `dt` is Norse's update
/// (Norse 1.1's `lif_box_feed_forward_step`, `lif_feed_forward_step`, `iaf_feed_forward_step`):
/// each `tau` in the file is `dt · τ`, so `τ = tau / dt`; a `CubaLIF`'s current takes the
/// input with the factor 1, which under NIR's `dt/τ_syn · w_in` is `w_in · τ_syn / dt`; an
/// `IF` adds its input with the factor 1, which under NIR's `dt · r` is `r / dt`.
pub fn norse_as_nir(mut graph: NirGraph, dt: f64, source: &str) -> Result<NirGraph, ImportError> {
    let time = |tau: &mut Vec<f64>| tau.iter_mut().for_each(|t| *t /= dt);
    for (name, node) in graph.nodes.iter_mut() {
        let kind = kind_of(node);
        match node {
            NirNode::Lif { tau, .. } | NirNode::Li { tau, .. } => time(tau),
            NirNode::If { r, .. } => r.iter_mut().for_each(|r| *r /= dt),
            NirNode::CubaLif {
                tau_syn,
                tau_mem,
                w_in,
                ..
            }
            | NirNode::CubaLi {
                tau_syn,
                tau_mem,
                w_in,
                ..
            } => {
                time(tau_syn);
                time(tau_mem);
                // w_in · τ_syn / dt, broadcasting a single value against per-neuron ones (an
                // empty parameter is left for the lowering to refuse by name).
                if w_in.is_empty() || tau_syn.is_empty() {
                    continue;
                }
                let n = w_in.len().max(tau_syn.len());
                if w_in.len() != tau_syn.len() && w_in.len() != 1 && tau_syn.len() != 1 {
                    return Err(ImportError::Node {
                        source_name: source.to_string(),
                        node: name.clone(),
                        kind,
                        field: "w_in".into(),
                        rule: format!(
                            "has {} values and tau_syn {}: they must have one per neuron or one for all",
                            w_in.len(),
                            tau_syn.len()
                        ),
                    });
                }
                let at = |v: &[f64], j: usize| v[if v.len() == 1 { 0 } else { j }];
                *w_in = (0..n).map(|j| at(w_in, j) * at(tau_syn, j) / dt).collect();
            }
            _ => {}
        }
    }
    Ok(graph)
}

/// Whether `node` is a neuron population (a layer's second node).
fn is_neuron(node: &NirNode) -> bool {
    matches!(
        node,
        NirNode::If { .. }
            | NirNode::Lif { .. }
            | NirNode::CubaLif { .. }
            | NirNode::Li { .. }
            | NirNode::CubaLi { .. }
    )
}

/// The path of a (flat) graph from its single `Input` to its single `Output`, and the
/// recurrent weight node of each neuron node that has one.
struct Chain<'g> {
    nodes: Vec<(&'g str, &'g NirNode)>,
    /// Neuron node → its recurrent `Affine`/`Linear` node (`neuron → W → neuron`).
    recurrent: BTreeMap<&'g str, (&'g str, &'g NirNode)>,
}

/// The nodes of `graph` from its single `Input` to its single `Output`, following edges;
/// refused unless every node on the way has exactly one successor — except a neuron node that
/// also feeds a weight node leading straight back to it (a recurrent layer).
fn chain<'g>(graph: &'g NirGraph, source: &str) -> Result<Chain<'g>, ImportError> {
    let err = |what: String| ImportError::Graph {
        source_name: source.to_string(),
        what,
    };
    let inputs: Vec<&String> = graph
        .nodes
        .iter()
        .filter(|(_, n)| matches!(n, NirNode::Input { .. }))
        .map(|(k, _)| k)
        .collect();
    let [start] = inputs.as_slice() else {
        return Err(err(format!(
            "the graph must have exactly one Input node, it has {} ({inputs:?})",
            inputs.len()
        )));
    };
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in &graph.edges {
        next.entry(a.as_str()).or_default().push(b.as_str());
    }
    let node_at = |at: &str| {
        graph
            .nodes
            .get_key_value(at)
            .map(|(k, n)| (k.as_str(), n))
            .ok_or_else(|| err(format!("an edge names node `{at}`, which does not exist")))
    };
    let mut out: Vec<(&str, &NirNode)> = Vec::new();
    let mut recurrent = BTreeMap::new();
    let mut at: &str = start.as_str();
    loop {
        let (key, node) = node_at(at)?;
        if out.iter().any(|(n, _)| *n == at) {
            return Err(err(format!("the graph has a cycle through `{at}`")));
        }
        out.push((key, node));
        if matches!(node, NirNode::Output { .. }) {
            break;
        }
        let mut succ: Vec<&str> = next.get(at).cloned().unwrap_or_default();
        if is_neuron(node) && succ.len() == 2 {
            // The recurrent motif: one successor is a weight node whose only successor is
            // this neuron node.
            let back = |w: &str| {
                matches!(
                    graph.nodes.get(w),
                    Some(NirNode::Affine { .. } | NirNode::Linear { .. })
                ) && next.get(w).map(Vec::as_slice) == Some(&[key][..])
            };
            if let Some(pos) = succ.iter().position(|w| back(w)) {
                let w = succ.remove(pos);
                recurrent.insert(key, node_at(w)?);
            }
        }
        match succ.as_slice() {
            [one] => at = one,
            [] => {
                return Err(err(format!(
                    "node `{at}` ({}) has no outgoing edge before an Output node",
                    type_name(node)
                )))
            }
            many => {
                return Err(err(format!(
                    "node `{at}` ({}) feeds {} nodes ({many:?}): only a chain of layers (each \
                     optionally recurrent) maps",
                    type_name(node),
                    many.len()
                )))
            }
        }
    }
    let used =
        |k: &str| out.iter().any(|(n, _)| *n == k) || recurrent.values().any(|(n, _)| *n == k);
    let unused: Vec<&String> = graph.nodes.keys().filter(|k| !used(k)).collect();
    if !unused.is_empty() {
        return Err(err(format!(
            "nodes {unused:?} are not on the chain from the Input to the Output: only a chain of layers maps"
        )));
    }
    Ok(Chain {
        nodes: out,
        recurrent,
    })
}

/// One value per neuron from a NIR parameter: a scalar broadcasts to every neuron, and after
/// a convolution (`channels` = `(out_channels, neurons per channel)`) one value per channel
/// broadcasts over the channel's positions.
fn per_neuron(
    values: &[f64],
    n: usize,
    channels: Option<(usize, usize)>,
    field: &str,
    node_err: &dyn Fn(String, String) -> ImportError,
) -> Result<Vec<f64>, ImportError> {
    if let Some((k, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(node_err(
            format!("{field}[{k}]"),
            format!("{v} is not a finite number"),
        ));
    }
    match (values.len(), channels) {
        (1, _) => Ok(vec![values[0]; n]),
        (len, _) if len == n => Ok(values.to_vec()),
        (len, Some((c, per))) if len == c => Ok(values
            .iter()
            .flat_map(|&v| std::iter::repeat_n(v, per))
            .collect()),
        (len, _) => Err(node_err(
            field.into(),
            format!(
                "holds {len} values, the layer has {n} neurons{}",
                channels.map_or(String::new(), |(c, _)| format!(" in {c} channels"))
            ),
        )),
    }
}

/// The 12-bit decay field of every neuron's time constant (`decay_field` of each), the field
/// named with the neuron's index when the values differ.
fn decay_fields(
    dt: f64,
    taus: &[f64],
    field: &str,
    node_err: &dyn Fn(String, String) -> ImportError,
) -> Result<Vec<u16>, ImportError> {
    let shared = taus.iter().all(|&t| t == taus[0]);
    taus.iter()
        .enumerate()
        .map(|(j, &t)| {
            let name = if shared {
                field.to_string()
            } else {
                format!("{field}[{j}]")
            };
            decay_field(dt, t, &name, node_err)
        })
        .collect()
}

/// The fraction of a state kept per step under each decay field: `1 − d / 4096`.
fn keep(decays: &[u16]) -> Vec<f64> {
    decays
        .iter()
        .map(|&d| 1.0 - f64::from(d) / 4096.0)
        .collect()
}

/// `round(4096 · dt / tau)` as a 12-bit decay field, or an error naming the field.
fn decay_field(
    dt: f64,
    tau: f64,
    field: &str,
    node_err: &dyn Fn(String, String) -> ImportError,
) -> Result<u16, ImportError> {
    if !(tau.is_finite() && tau > 0.0) {
        return Err(node_err(
            field.into(),
            format!(
                "must be > 0, found {tau}{}",
                if tau < 0.0 {
                    " (a per-step decay factor above 1 exported as dt/(1 − β) gives a negative τ: \
                     clamp β to at most 1 before exporting, as the framework's own forward pass does)"
                } else {
                    ""
                }
            ),
        ));
    }
    let d = (4096.0 * dt / tau).round();
    if !(0.0..=4095.0).contains(&d) {
        return Err(node_err(
            field.into(),
            format!(
                "dt/{field} = {} gives the decay field {d}, outside 0..=4095 (12 bits): choose dt below {field}{}",
                dt / tau,
                if dt / tau > 10.0 {
                    " (Norse's exporter writes dt·τ as tau: its files need Norse's conventions and the dt they were exported with)"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(d as u16)
}

/// Bias `x` (chip voltage units per step) as a 13-bit mantissa and a 0..=3 exponent.
fn bias_field(x: f64) -> Option<(i16, i8)> {
    (0..=3).find_map(|e: i8| {
        let m = (x / f64::from(1u32 << e)).round();
        (m.abs() <= 4095.0).then_some((m as i16, e))
    })
}

/// The activation flowing along a chain of layers: a vector, or a `channels × height ×
/// width` map in raster order (also the order of netx's flatten, [`crate::netx`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Act {
    Flat(usize),
    Map(usize, usize, usize),
}

impl Act {
    pub(crate) fn len(self) -> usize {
        match self {
            Act::Flat(n) => n,
            Act::Map(c, h, w) => c * h * w,
        }
    }
}

/// A weight node read for lowering: its connectivity, real weights (dense `outputs × inputs`
/// or convolution `out × in × k × k`), neuron count and bias as stored.
struct WeightLayer {
    conv: Option<LifConv>,
    weights: Vec<f64>,
    neurons: usize,
    bias: Option<Vec<f64>>,
}

/// An `Affine` / `Linear` node fed by `fan_in` values.
fn dense_weights(
    weight: &Matrix,
    bias: Option<&Vec<f64>>,
    fan_in: usize,
    wnode_err: &dyn Fn(String, String) -> ImportError,
) -> Result<WeightLayer, ImportError> {
    if weight.cols != fan_in {
        return Err(wnode_err(
            "weight".into(),
            format!(
                "{}×{} (outputs × inputs), but {fan_in} values feed it",
                weight.rows, weight.cols
            ),
        ));
    }
    if weight.values.len() != weight.rows * weight.cols {
        return Err(wnode_err(
            "weight".into(),
            format!(
                "holds {} values, not {}×{}",
                weight.values.len(),
                weight.rows,
                weight.cols
            ),
        ));
    }
    finite_weights(&weight.values, weight.rows, wnode_err)?;
    Ok(WeightLayer {
        conv: None,
        weights: weight.values.clone(),
        neurons: weight.rows,
        bias: bias.cloned(),
    })
}

/// Refuses a weight node with no neurons or a weight that is not a finite number (a NaN would
/// otherwise round to a silent 0).
fn finite_weights(
    values: &[f64],
    neurons: usize,
    wnode_err: &dyn Fn(String, String) -> ImportError,
) -> Result<(), ImportError> {
    if neurons == 0 || values.is_empty() {
        return Err(wnode_err(
            "weight".into(),
            "has no outputs or no inputs".into(),
        ));
    }
    if let Some((k, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(wnode_err(
            format!("weight[{k}]"),
            format!("{v} is not a finite number"),
        ));
    }
    Ok(())
}

/// A `Conv2d` node fed by the activation `act`: square kernel, equal strides and paddings, no
/// dilation, one group (what the chip's convolution cores compute).
fn conv_weights(
    node: &NirNode,
    act: Act,
    wnode_err: &dyn Fn(String, String) -> ImportError,
) -> Result<WeightLayer, ImportError> {
    let NirNode::Conv2d {
        weight,
        bias,
        stride,
        padding,
        dilation,
        groups,
        input_shape,
    } = node
    else {
        return Err(wnode_err(
            "type".into(),
            "not a Conv2d node (an importer bug)".into(),
        ));
    };
    let [out_c, in_c, kh, kw] = weight.dims;
    let (c, h, w) = match (act, *input_shape) {
        (Act::Map(c, h, w), _) => (c, h, w),
        (Act::Flat(n), Some([h, w])) if h * w > 0 && n % (h * w) == 0 => (n / (h * w), h, w),
        (Act::Flat(n), _) => {
            return Err(wnode_err(
                "input".into(),
                format!(
                    "a convolution needs a map, but a vector of {n} values feeds it (give the Input node a (channels, height, width) shape)"
                ),
            ))
        }
    };
    let rule = |field: &str, what: String| Err(wnode_err(field.into(), what));
    if *groups != 1 {
        return rule("groups", format!("{}: only groups = 1 maps", *groups));
    }
    if *dilation != [1, 1] {
        return rule("dilation", format!("{:?}: only dilation 1 maps", *dilation));
    }
    if kh != kw || stride[0] != stride[1] || padding[0] != padding[1] {
        return rule(
            "weight",
            format!(
                "kernel {kh}×{kw}, stride {:?}, padding {:?}: the chip's convolutions have square kernels and equal strides and paddings",
                stride, padding
            ),
        );
    }
    if in_c != c {
        return rule(
            "weight",
            format!("{in_c} input channels, but the map feeding it has {c}"),
        );
    }
    if let Some([ih, iw]) = *input_shape {
        if (ih, iw) != (h, w) {
            return rule(
                "input_shape",
                format!("{ih}×{iw}, but the map feeding it is {h}×{w}"),
            );
        }
    }
    let geometry = LifConv {
        in_channels: c as u32,
        in_height: h as u32,
        in_width: w as u32,
        out_channels: out_c as u32,
        kernel: kh as u32,
        stride: stride[0] as u32,
        padding: padding[0] as u32,
    };
    if kh == 0 || stride[0] == 0 || padding[0] >= kh {
        return rule(
            "weight",
            format!(
                "kernel {kh}, stride {}, padding {}: needs kernel ≥ 1, stride ≥ 1, padding < kernel",
                stride[0], padding[0]
            ),
        );
    }
    let neurons = out_c * (geometry.out_height() * geometry.out_width()) as usize;
    if neurons == 0 {
        return rule(
            "weight",
            format!("a {kh}×{kh} kernel does not fit the {h}×{w} map"),
        );
    }
    if weight.values.len() != out_c * in_c * kh * kw {
        return rule(
            "weight",
            format!(
                "holds {} values, not {out_c}×{in_c}×{kh}×{kw}",
                weight.values.len()
            ),
        );
    }
    finite_weights(&weight.values, out_c, wnode_err)?;
    Ok(WeightLayer {
        conv: Some(geometry),
        weights: weight.values.clone(),
        neurons,
        bias: (!bias.is_empty()).then(|| bias.to_vec()),
    })
}

/// A sum or average pooling waiting to be folded into the next weight node: the map it
/// reads, its window (`window × window`, stride `window`, no padding) and the factor on the
/// sum (1, or `1 / window²` for an average).
#[derive(Clone, Copy, Debug)]
struct PendingPool {
    channels: usize,
    height: usize,
    width: usize,
    window: usize,
    scale: f64,
}

/// Checks a pooling node and returns its pending fold: non-overlapping square windows that
/// tile the map exactly, not right after another pooling.
fn pool_window(
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    act: Act,
    average: bool,
    pending: Option<PendingPool>,
    wnode_err: &dyn Fn(String, String) -> ImportError,
) -> Result<PendingPool, ImportError> {
    let rule = |field: &str, what: String| Err(wnode_err(field.into(), what));
    if pending.is_some() {
        return rule(
            "input",
            "follows another pooling node: put a weight layer between them".into(),
        );
    }
    let Act::Map(c, h, w) = act else {
        return rule("input", "pooling needs a map, but a vector feeds it".into());
    };
    let p = kernel[0];
    if kernel != [p, p] || stride != [p, p] || padding != [0, 0] || p == 0 {
        return rule(
            "kernel_size",
            format!(
                "kernel {kernel:?}, stride {stride:?}, padding {padding:?}: only square windows with stride = kernel and no padding fold into the next layer"
            ),
        );
    }
    if h % p != 0 || w % p != 0 {
        return rule(
            "kernel_size",
            format!("{p}×{p} windows do not tile the {h}×{w} map"),
        );
    }
    Ok(PendingPool {
        channels: c,
        height: h,
        width: w,
        window: p,
        scale: if average { 1.0 / (p * p) as f64 } else { 1.0 },
    })
}

/// The weight layer reading the pooled map, rewritten to read the map before pooling: a dense
/// layer's weight for unit `(c, y, x)` is its weight for pooled unit `(c, y/p, x/p)`; a
/// convolution (kernel `k`, stride `s`, padding `q`) becomes one with kernel `k·p`, stride `s·p`
/// and padding `q·p` whose tap `(Y, X)` has the weight of tap `(Y/p, X/p)` — each times the
/// pooling's factor. The outputs, and so every spike after the layer, are the same.
fn unfold_pool(layer: WeightLayer, pool: PendingPool) -> WeightLayer {
    let PendingPool {
        channels: c,
        height: h,
        width: w,
        window: p,
        scale,
    } = pool;
    let (hp, wp) = (h / p, w / p);
    match layer.conv {
        None => {
            let pooled = c * hp * wp;
            let mut weights = Vec::with_capacity(layer.neurons * c * h * w);
            for j in 0..layer.neurons {
                for ch in 0..c {
                    for y in 0..h {
                        for x in 0..w {
                            let u = (ch * hp + y / p) * wp + x / p;
                            weights.push(scale * layer.weights[j * pooled + u]);
                        }
                    }
                }
            }
            WeightLayer { weights, ..layer }
        }
        Some(g) => {
            let (k, kk) = (g.kernel as usize, g.kernel as usize * p);
            let (o_n, i_n) = (g.out_channels as usize, g.in_channels as usize);
            let mut weights = Vec::with_capacity(o_n * i_n * kk * kk);
            for o in 0..o_n {
                for ch in 0..i_n {
                    for y in 0..kk {
                        for x in 0..kk {
                            let t = ((o * i_n + ch) * k + y / p) * k + x / p;
                            weights.push(scale * layer.weights[t]);
                        }
                    }
                }
            }
            WeightLayer {
                conv: Some(LifConv {
                    in_height: h as u32,
                    in_width: w as u32,
                    kernel: kk as u32,
                    stride: g.stride * p as u32,
                    padding: g.padding * p as u32,
                    ..g
                }),
                weights,
                ..layer
            }
        }
    }
}

/// Lowers `graph` (read from `source`, named in errors) to a chip network.
pub fn lower_nir(
    graph: &NirGraph,
    source: &str,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    if !(opts.dt.is_finite() && opts.dt > 0.0) {
        return Err(ImportError::Option {
            option: "dt",
            rule: format!("must be a positive number, found {}", opts.dt),
        });
    }
    if !(2..=16).contains(&opts.weight_bits) {
        return Err(ImportError::Option {
            option: "weight bits",
            rule: format!("must be in 2..=16, found {}", opts.weight_bits),
        });
    }
    if !(1..=model::lif::MAX_STEPS).contains(&opts.steps) {
        return Err(ImportError::Option {
            option: "steps",
            rule: format!(
                "must be in 1..={}, found {}",
                model::lif::MAX_STEPS,
                opts.steps
            ),
        });
    }
    let flat = inline_graphs(graph, source)?;
    let flat = match opts.convention {
        Convention::Nir => flat,
        Convention::Norse => norse_as_nir(flat, opts.dt, source)?,
    };
    let Chain {
        nodes,
        recurrent: recurrent_nodes,
    } = chain(&flat, source)?;
    let graph_err = |what: String| ImportError::Graph {
        source_name: source.to_string(),
        what,
    };
    // The shape of the activation flowing along the chain: a vector, or a map in raster order.
    let mut act = match nodes.first() {
        Some((_, NirNode::Input { shape })) => {
            // A leading batch dimension of 1 (as some exporters write it) is not part of the map.
            let mut dims = shape.as_slice();
            while dims.len() > 3 && dims.first() == Some(&1) {
                dims = &dims[1..];
            }
            match dims {
                [c, h, w] => Act::Map(*c, *h, *w),
                [h, w] => Act::Map(1, *h, *w),
                other => Act::Flat(other.iter().product()),
            }
        }
        _ => return Err(graph_err("the chain does not start at an Input".into())),
    };
    let inputs = act.len();
    let mut pending: Option<PendingPool> = None;
    // A `Delay` before a weight node (on the spikes it receives), waiting for that layer.
    let mut pending_delay: Option<(&str, u8)> = None;
    // `Scale` factors on the spikes before a weight node, one per value, waiting for that
    // layer: those given before a pooling node (on the map it pools) and those after it.
    let mut scale_before_pool: Option<Vec<f64>> = None;
    let mut scale_after_pool: Option<Vec<f64>> = None;
    let mut layers = Vec::new();
    let mut report = Vec::new();
    let mut float = Vec::new();
    let mut k = 1;
    while k < nodes.len() {
        let (wname, wnode) = nodes[k];
        let wnode_err = |field: String, rule: String| ImportError::Node {
            source_name: source.to_string(),
            node: wname.to_string(),
            kind: kind_of(wnode),
            field,
            rule,
        };
        let mut fan_in = act.len();
        let mut layer = match wnode {
            NirNode::Flatten => {
                act = Act::Flat(act.len());
                k += 1;
                continue;
            }
            NirNode::SumPool2d {
                kernel,
                stride,
                padding,
            }
            | NirNode::AvgPool2d {
                kernel,
                stride,
                padding,
            } => {
                let average = matches!(wnode, NirNode::AvgPool2d { .. });
                let pool = pool_window(
                    *kernel, *stride, *padding, act, average, pending, &wnode_err,
                )?;
                // A scale before the pooling reads the map the folded layer will read.
                scale_before_pool = scale_after_pool.take();
                act = Act::Map(pool.channels, pool.height / pool.window, pool.width / pool.window);
                pending = Some(pool);
                k += 1;
                continue;
            }
            NirNode::Delay { delay } => {
                let d = spike_delay(delay, act.len(), opts.dt, &wnode_err)?;
                pending_delay = match pending_delay {
                    None => Some((wname, d)),
                    Some((first, d0)) => Some((first, add_delays(d0, d, &wnode_err)?)),
                };
                k += 1;
                continue;
            }
            NirNode::Scale { scale } => {
                let channels = match act {
                    Act::Map(c, h, w) => Some((c, h * w)),
                    Act::Flat(_) => None,
                };
                let s = per_neuron(scale, act.len(), channels, "scale", &wnode_err)?;
                scale_after_pool = Some(match scale_after_pool.take() {
                    None => s,
                    Some(s0) => s0.iter().zip(&s).map(|(a, b)| a * b).collect(),
                });
                k += 1;
                continue;
            }
            NirNode::Affine { weight, bias } => dense_weights(weight, Some(bias), fan_in, &wnode_err)?,
            NirNode::Linear { weight } => dense_weights(weight, None, fan_in, &wnode_err)?,
            NirNode::Conv2d { .. } => conv_weights(wnode, act, &wnode_err)?,
            NirNode::Output { shape } => {
                let n: usize = shape.iter().product();
                if pending.is_some() {
                    return Err(graph_err(format!(
                        "a pooling node feeds the Output node `{wname}`: pooling is folded into the next weight node, and there is none"
                    )));
                }
                if let Some((dname, _)) = pending_delay {
                    return Err(graph_err(format!(
                        "the Delay node `{dname}` feeds the Output node `{wname}`: the chip delays a layer's input, and no layer follows"
                    )));
                }
                if scale_after_pool.is_some() {
                    return Err(graph_err(format!(
                        "a Scale node feeds the Output node `{wname}`: the chip's outputs are spikes, which a scale cannot change; scale the next layer's weights instead"
                    )));
                }
                if layers.is_empty() {
                    return Err(graph_err(
                        "the graph has no Affine/Linear/Conv2d + neuron layer".into(),
                    ));
                }
                if n != fan_in {
                    return Err(graph_err(format!(
                        "the Output node `{wname}` has shape {shape:?} ({n} values), the last layer {fan_in} neurons"
                    )));
                }
                break;
            }
            other => {
                return Err(graph_err(format!(
                    "node `{wname}` ({}) where a weight node (Affine, Linear or Conv2d) must come: the chip maps chains of dense and convolutional layers of LIF, IF or CubaLIF neurons",
                    type_name(other)
                )))
            }
        };
        // Scales on the spikes before this weight node multiply its input columns; a pooling
        // is linear, so it folds into the weights too (scales after it first, on the pooled
        // columns, then those before it, on the columns of the map it pooled).
        if let Some(s) = scale_after_pool.take() {
            scale_columns(&mut layer, &s, &wnode_err)?;
        }
        let mut layer = match pending.take() {
            Some(pool) => {
                fan_in = pool.channels * pool.height * pool.width;
                unfold_pool(layer, pool)
            }
            None => layer,
        };
        if let Some(s) = scale_before_pool.take() {
            scale_columns(&mut layer, &s, &wnode_err)?;
        }
        // `Delay` and `Scale` nodes between the weight node and the neuron node act on each
        // neuron's input: delays add up, scales multiply into the weights.
        let mut post_delays: Vec<(&str, &Vec<f64>)> = Vec::new();
        let mut post_scales: Vec<(&str, &Vec<f64>)> = Vec::new();
        let mut neuron_at = k + 1;
        loop {
            match nodes.get(neuron_at) {
                Some(&(name, NirNode::Delay { delay })) => post_delays.push((name, delay)),
                Some(&(name, NirNode::Scale { scale })) => post_scales.push((name, scale)),
                _ => break,
            }
            neuron_at += 1;
        }
        let Some(&(nname, nnode)) = nodes.get(neuron_at) else {
            return Err(graph_err(format!("weight node `{wname}` is last")));
        };
        let kind = kind_of(nnode);
        let node_err = |field: String, rule: String| ImportError::Node {
            source_name: source.to_string(),
            node: nname.to_string(),
            kind,
            field,
            rule,
        };
        let n = layer.neurons;
        let channels = layer.conv.map(|c| {
            (
                c.out_channels as usize,
                (c.out_height() * c.out_width()) as usize,
            )
        });
        let mut bias = match &layer.bias {
            Some(b) => per_neuron(b, n, channels, "bias", &wnode_err)?,
            None => vec![0.0; n],
        };
        for &(sname, scale) in &post_scales {
            let snode_err = |field: String, rule: String| ImportError::Node {
                source_name: source.to_string(),
                node: sname.to_string(),
                kind: "Scale",
                field,
                rule,
            };
            let s = per_neuron(scale, n, channels, "scale", &snode_err)?;
            scale_rows(&mut layer, &s, channels, &snode_err)?;
            bias.iter_mut().zip(&s).for_each(|(b, s)| *b *= s);
        }
        // A recurrent weight node (`neuron → W → neuron`): the layer's own spikes of the
        // previous step through `W` add to its input current, and `W`'s bias to its bias.
        let rec = match recurrent_nodes.get(nname) {
            None => None,
            Some(&(rname, rnode)) => {
                let rkind = kind_of(rnode);
                let rnode_err = |field: String, rule: String| ImportError::Node {
                    source_name: source.to_string(),
                    node: rname.to_string(),
                    kind: rkind,
                    field,
                    rule,
                };
                if layer.conv.is_some() {
                    return Err(rnode_err(
                        "weight".into(),
                        format!("feeds back into the convolutional layer `{nname}`: the chip's recurrent layers are fully connected"),
                    ));
                }
                if matches!(nnode, NirNode::Li { .. } | NirNode::CubaLi { .. }) {
                    return Err(rnode_err(
                        "weight".into(),
                        format!(
                            "feeds back from the leaky integrator `{nname}`, which has no spikes"
                        ),
                    ));
                }
                let rl = match rnode {
                    NirNode::Affine { weight, bias } => {
                        dense_weights(weight, Some(bias), n, &rnode_err)?
                    }
                    NirNode::Linear { weight } => dense_weights(weight, None, n, &rnode_err)?,
                    other => {
                        return Err(rnode_err(
                            "type".into(),
                            format!("{} cannot be a recurrent weight", type_name(other)),
                        ))
                    }
                };
                if rl.neurons != n {
                    return Err(rnode_err(
                        "weight".into(),
                        format!(
                            "{}×{n}, but a recurrent weight of the {n}-neuron layer `{nname}` is {n}×{n}",
                            rl.neurons
                        ),
                    ));
                }
                if let Some(b) = &rl.bias {
                    let b = per_neuron(b, n, None, "bias", &rnode_err)?;
                    for (acc, x) in bias.iter_mut().zip(b) {
                        *acc += x;
                    }
                }
                Some(rl.weights)
            }
        };
        let input_delays = layer_delays(
            pending_delay.take(),
            &post_delays,
            DelayContext {
                neurons: n,
                channels,
                dt: opts.dt,
                source,
                layer: nname,
                recurrent: rec.is_some(),
                biased: layer
                    .bias
                    .as_ref()
                    .is_some_and(|b| b.iter().any(|&x| x != 0.0)),
            },
        )?;
        let dt = opts.dt;
        // Per neuron: the factor g_j on W and the constant per-step voltage increment.
        // A leaky integrator (LI, CubaLI) is a LIF (CubaLIF) neuron that never spikes: lowered
        // with a unit threshold for the scale, then given the threshold it cannot reach.
        let (effective, silent) = match nnode {
            NirNode::Li { tau, r, v_leak } => (
                NirNode::Lif {
                    tau: tau.clone(),
                    r: r.clone(),
                    v_leak: v_leak.clone(),
                    v_threshold: vec![1.0],
                    v_reset: vec![0.0],
                },
                true,
            ),
            NirNode::CubaLi {
                tau_syn,
                tau_mem,
                r,
                v_leak,
                w_in,
            } => (
                NirNode::CubaLif {
                    tau_syn: tau_syn.clone(),
                    tau_mem: tau_mem.clone(),
                    r: r.clone(),
                    v_leak: v_leak.clone(),
                    v_threshold: vec![1.0],
                    v_reset: vec![0.0],
                    w_in: w_in.clone(),
                },
                true,
            ),
            other => (other.clone(), false),
        };
        // A bias before a current-based neuron is a constant input to its current.
        let bias_target = match effective {
            NirNode::CubaLif { .. } if bias.iter().any(|b| *b != 0.0) => BiasTarget::Current,
            _ => BiasTarget::Voltage,
        };
        let (du, dv, gain, constant, threshold, v_reset, current_keep, voltage_keep) = match &effective
        {
            NirNode::Lif {
                tau,
                r,
                v_leak,
                v_threshold,
                v_reset,
            } => {
                let tau = per_neuron(tau, n, channels, "tau", &node_err)?;
                let dv = decay_fields(dt, &tau, "tau", &node_err)?;
                let r = per_neuron(r, n, channels, "r", &node_err)?;
                let leak = per_neuron(v_leak, n, channels, "v_leak", &node_err)?;
                let a: Vec<f64> = tau.iter().map(|t| dt / t).collect();
                let gain: Vec<f64> = (0..n).map(|j| a[j] * r[j]).collect();
                let constant: Vec<f64> = (0..n)
                    .map(|j| a[j] * (leak[j] + r[j] * bias[j]))
                    .collect();
                (
                    vec![4095u16; n],
                    dv.clone(),
                    gain,
                    constant,
                    per_neuron(v_threshold, n, channels, "v_threshold", &node_err)?,
                    per_neuron(v_reset, n, channels, "v_reset", &node_err)?,
                    vec![0.0; n],
                    keep(&dv),
                )
            }
            NirNode::If {
                r,
                v_threshold,
                v_reset,
            } => {
                let r = per_neuron(r, n, channels, "r", &node_err)?;
                let gain: Vec<f64> = r.iter().map(|r| dt * r).collect();
                let constant: Vec<f64> = (0..n).map(|j| dt * r[j] * bias[j]).collect();
                (
                    vec![4095; n],
                    vec![0; n],
                    gain,
                    constant,
                    per_neuron(v_threshold, n, channels, "v_threshold", &node_err)?,
                    per_neuron(v_reset, n, channels, "v_reset", &node_err)?,
                    vec![0.0; n],
                    vec![1.0; n],
                )
            }
            NirNode::CubaLif {
                tau_syn,
                tau_mem,
                r,
                v_leak,
                v_threshold,
                v_reset,
                w_in,
            } => {
                let ts = per_neuron(tau_syn, n, channels, "tau_syn", &node_err)?;
                let tm = per_neuron(tau_mem, n, channels, "tau_mem", &node_err)?;
                let ds = decay_fields(dt, &ts, "tau_syn", &node_err)?;
                if let Some(j) = ds.iter().position(|&d| d == 0) {
                    return Err(node_err(
                        format!("tau_syn[{j}]"),
                        format!("dt/tau_syn = {} rounds to a current decay of 0/4096, which the chip's du + 1 cannot express", dt / ts[j]),
                    ));
                }
                let dv = decay_fields(dt, &tm, "tau_mem", &node_err)?;
                let r = per_neuron(r, n, channels, "r", &node_err)?;
                let w_in = per_neuron(w_in, n, channels, "w_in", &node_err)?;
                let leak = per_neuron(v_leak, n, channels, "v_leak", &node_err)?;
                let gain: Vec<f64> = (0..n)
                    .map(|j| (dt / tm[j]) * r[j] * (dt / ts[j]) * w_in[j])
                    .collect();
                // A bias of the weight node is a constant input current: the chip adds it to
                // the current (scaled like a weight); v_leak adds to the voltage. A neuron has
                // one bias, so not both.
                let constant: Vec<f64> = if bias_target == BiasTarget::Current {
                    let k = bias.iter().position(|b| *b != 0.0).unwrap_or(0);
                    if let Some(j) = (0..n).find(|&j| leak[j] != 0.0) {
                        return Err(node_err(
                            format!("v_leak[{j}]"),
                            format!(
                                "{} with a bias into the current (bias[{k}] = {}): the chip adds a layer's biases to one place, the voltage or the current",
                                leak[j], bias[k]
                            ),
                        ));
                    }
                    (0..n).map(|j| gain[j] * bias[j]).collect()
                } else {
                    (0..n).map(|j| (dt / tm[j]) * leak[j]).collect()
                };
                (
                    ds.iter().map(|d| d - 1).collect(),
                    dv.clone(),
                    gain,
                    constant,
                    per_neuron(v_threshold, n, channels, "v_threshold", &node_err)?,
                    per_neuron(v_reset, n, channels, "v_reset", &node_err)?,
                    keep(&ds),
                    keep(&dv),
                )
            }
            other => {
                return Err(graph_err(format!(
                    "node `{nname}` ({}) after the weight node `{wname}`: the chip's neurons are LIF, IF and CubaLIF, and LI / CubaLI as a voltage read-out",
                    type_name(other)
                )))
            }
        };
        if let Some((j, t)) = threshold
            .iter()
            .enumerate()
            .find(|(_, t)| !(t.is_finite() && **t > 0.0))
        {
            return Err(node_err(
                format!("v_threshold[{j}]"),
                format!("must be > 0, found {t}"),
            ));
        }
        let reset = match opts.reset {
            _ if silent => LifReset::Zero,
            Some(r) => r,
            None => {
                if let Some((j, v)) = v_reset.iter().enumerate().find(|(_, v)| **v != 0.0) {
                    return Err(node_err(
                        format!("v_reset[{j}]"),
                        format!(
                            "{v}: the chip resets to 0 or subtracts the threshold (give the subtract reset if the model was trained with it)"
                        ),
                    ));
                }
                LifReset::Zero
            }
        };
        // Threshold-normalised float model of the layer. A weight of a convolution is shared by
        // every position of its output channel, so the factor gain/θ must be too.
        let scale: Vec<f64> = (0..n).map(|j| gain[j] / threshold[j]).collect();
        let w_norm: Vec<f64> = match (&layer.conv, channels) {
            (None, _) => (0..n * fan_in)
                .map(|x| scale[x / fan_in] * layer.weights[x])
                .collect(),
            (Some(c), Some((_, per))) => {
                for (o, group) in scale.chunks(per).enumerate() {
                    if let Some((p, g)) = group
                        .iter()
                        .enumerate()
                        .find(|(_, g)| (**g - group[0]).abs() > 1e-9 * group[0].abs())
                    {
                        return Err(node_err(
                            "v_threshold, r".into(),
                            format!(
                                "vary within output channel {o} (R/θ = {} at position 0, {g} at position {p}): a convolution's weights are shared by the channel's positions",
                                group[0]
                            ),
                        ));
                    }
                }
                let per_channel = c.fan_in() as usize;
                (0..layer.weights.len())
                    .map(|x| scale[(x / per_channel) * per] * layer.weights[x])
                    .collect()
            }
            (Some(_), None) => unreachable!("a convolution has channels"),
        };
        let r_norm: Vec<f64> = rec
            .as_ref()
            .map(|r| (0..n * n).map(|x| scale[x / n] * r[x]).collect())
            .unwrap_or_default();
        let b_norm: Vec<f64> = (0..n).map(|j| constant[j] / threshold[j]).collect();
        let per_neuron_fan_in =
            layer.conv.map_or(fan_in, |c| c.fan_in() as usize) + if rec.is_some() { n } else { 0 };
        let w_cap = ((1i32 << (opts.weight_bits - 1)) - 1).min(32767 / per_neuron_fan_in as i32);
        if w_cap < 1 {
            return Err(wnode_err(
                "weight".into(),
                format!(
                    "a fan-in of {per_neuron_fan_in} leaves no integer weight within the 16-bit a_in bound"
                ),
            ));
        }
        let max_norm = w_norm
            .iter()
            .chain(&r_norm)
            .fold(0.0f64, |m, w| m.max(w.abs()));
        let vth = if max_norm > 0.0 {
            (f64::from(w_cap) / max_norm).floor().clamp(1.0, 131_071.0)
        } else {
            131_071.0
        };
        let quantise =
            |w: &[f64]| -> Vec<i16> { w.iter().map(|w| (vth * w).round() as i16).collect() };
        let weights = quantise(&w_norm);
        let recurrent = quantise(&r_norm);
        let real = || w_norm.iter().chain(&r_norm);
        let int = || weights.iter().chain(&recurrent);
        let max_int = int().map(|w| w.unsigned_abs()).max().unwrap_or(0);
        let max_weight_error = real()
            .zip(int())
            .map(|(w, &q)| (vth * w - f64::from(q)).abs())
            .fold(0.0f64, f64::max)
            / f64::from(max_int.max(1));
        let zeroed_weights = real()
            .zip(int())
            .filter(|(w, &q)| **w != 0.0 && q == 0)
            .count();
        let mut bias_mant = Vec::with_capacity(n);
        let mut bias_exp = Vec::with_capacity(n);
        for (j, b) in b_norm.iter().enumerate() {
            let chip = 64.0 * vth * b;
            let Some((m, e)) = bias_field(chip) else {
                return Err(node_err(
                    format!("bias of neuron {j}"),
                    format!(
                        "a constant input of {chip:.0} {} units per step exceeds the chip's bias range (4095 · 2^3)",
                        match bias_target {
                            BiasTarget::Voltage => "voltage",
                            BiasTarget::Current => "current",
                        }
                    ),
                ));
            };
            bias_mant.push(m);
            bias_exp.push(e);
        }
        let has_bias = bias_mant.iter().any(|&m| m != 0);
        let name = format!("{wname}+{nname}");
        // One decay per layer when every neuron has the same; per neuron otherwise (the
        // firmware's decay fields).
        let per_neuron_decays = du.iter().any(|&d| d != du[0]) || dv.iter().any(|&d| d != dv[0]);
        report.push(LayerQuantisation {
            name: name.clone(),
            neuron_kind: kind,
            vth: if silent { NEVER_FIRES } else { vth as u32 },
            scale: vth as u32,
            du: du[0],
            dv: dv[0],
            per_neuron_decays,
            max_weight_error,
            zeroed_weights,
        });
        float.push(FloatLayer {
            weights: w_norm,
            silent,
            conv: layer.conv,
            inputs: fan_in,
            bias: b_norm,
            bias_target,
            recurrent: r_norm,
            current_keep,
            voltage_keep,
            reset,
            input_delays: input_delays.clone(),
        });
        layers.push(LifLayer {
            name,
            inputs: fan_in as u32,
            outputs: n as u32,
            conv: layer.conv,
            weight_bits: opts.weight_bits,
            weights,
            neuron: LifNeuron {
                du: du[0],
                dv: dv[0],
                vth: if silent { NEVER_FIRES } else { vth as u32 },
                reset,
            },
            bias_mant: if has_bias { bias_mant } else { Vec::new() },
            bias_exp: if has_bias { bias_exp } else { Vec::new() },
            bias_target,
            recurrent,
            du_per_neuron: if per_neuron_decays { du } else { Vec::new() },
            dv_per_neuron: if per_neuron_decays { dv } else { Vec::new() },
            input_delays,
        });
        act = match layer.conv {
            Some(c) => Act::Map(
                c.out_channels as usize,
                c.out_height() as usize,
                c.out_width() as usize,
            ),
            None => Act::Flat(n),
        };
        k = neuron_at + 1;
    }
    if let Some(layer) = layers
        .iter()
        .take(layers.len().saturating_sub(1))
        .find(|l| l.silent())
    {
        return Err(graph_err(format!(
            "layer `{}` is a leaky integrator (LI / CubaLI) but feeds another layer: it has no spikes to send; leaky integrators can only be the read-out",
            layer.name
        )));
    }
    let readout = if layers.last().is_some_and(LifLayer::silent) {
        Readout::FinalVoltage
    } else {
        Readout::SpikeCount
    };
    let network = LifNetwork {
        lif_format_version: LIF_FORMAT_VERSION,
        readout,
        inputs: inputs as u32,
        steps: opts.steps,
        encoding: opts.encoding,
        layers,
        provenance: format!(
            "imported from NIR {source} (nir {}{}), dt = {}, {}-bit weights",
            graph.version,
            match opts.convention {
                Convention::Nir => "",
                Convention::Norse => ", read with Norse's conventions",
            },
            opts.dt,
            opts.weight_bits
        ),
    };
    network.validate().map_err(|v| {
        graph_err(format!(
            "the lowered network is invalid (an importer bug): {v}"
        ))
    })?;
    Ok(Imported {
        network,
        layers: report,
        float,
    })
}

/// The longest delay a layer's input can wait, in steps: the most the chip's delay slots
/// (`core.delay_slots` ≤ 256) can hold; the mapper checks the chip's own limit.
pub const MAX_DELAY_STEPS: u8 = 255;

/// A `Delay` node's times `τ` as whole steps of `dt`, or an error naming the value that is not
/// one (negative, not finite, off the step grid by more than 1e-6 of a step, or above
/// [`MAX_DELAY_STEPS`]).
fn delay_steps(
    delay: &[f64],
    dt: f64,
    node_err: &dyn Fn(String, String) -> ImportError,
) -> Result<Vec<u8>, ImportError> {
    delay
        .iter()
        .enumerate()
        .map(|(k, &tau)| {
            let steps = tau / dt;
            let whole = steps.round();
            if !(tau.is_finite() && tau >= 0.0) {
                Err(node_err(
                    format!("delay[{k}]"),
                    format!("must be a time ≥ 0, found {tau}"),
                ))
            } else if (steps - whole).abs() > 1e-6 * whole.max(1.0) {
                Err(node_err(
                    format!("delay[{k}]"),
                    format!(
                        "{tau} is {steps} steps of dt = {dt}: the chip delays by whole steps"
                    ),
                ))
            } else if whole > f64::from(MAX_DELAY_STEPS) {
                Err(node_err(
                    format!("delay[{k}]"),
                    format!(
                        "{tau} is {whole} steps of dt = {dt}, above the {MAX_DELAY_STEPS} steps the chip's delay slots can hold"
                    ),
                ))
            } else {
                Ok(whole as u8)
            }
        })
        .collect()
}

/// The one delay of a `Delay` node on the `n` spikes entering a weight node: the chip delays a
/// neuron's whole input, so every spike must wait the same time.
fn spike_delay(
    delay: &[f64],
    n: usize,
    dt: f64,
    node_err: &dyn Fn(String, String) -> ImportError,
) -> Result<u8, ImportError> {
    if delay.is_empty() || (delay.len() != 1 && delay.len() != n) {
        return Err(node_err(
            "delay".into(),
            format!(
                "{} values for the {n} spikes it delays (one per spike, or one for all)",
                delay.len()
            ),
        ));
    }
    let steps = delay_steps(delay, dt, node_err)?;
    let first = steps[0];
    match steps.iter().position(|&d| d != first) {
        None => Ok(first),
        Some(k) => Err(node_err(
            format!("delay[{k}]"),
            format!(
                "{} steps where delay[0] is {first}: before a weight node every spike must wait the same time (the chip delays each neuron's whole input); per-neuron delays go between the weight node and the neurons",
                steps[k]
            ),
        )),
    }
}

/// `a + b` steps, or an error when the sum is above [`MAX_DELAY_STEPS`].
fn add_delays(
    a: u8,
    b: u8,
    node_err: &dyn Fn(String, String) -> ImportError,
) -> Result<u8, ImportError> {
    // MAX_DELAY_STEPS is u8::MAX: an overflow is exactly a sum above it.
    a.checked_add(b).ok_or_else(|| {
            node_err(
                "delay".into(),
                format!(
                    "{a} + {b} steps of delay on one layer's input, above the {MAX_DELAY_STEPS} the chip's delay slots can hold"
                ),
            )
        })
}

/// Multiplies each neuron's input weights by its factor `s[j]` (a `Scale` node between a weight
/// node and its neurons). After a convolution every position of a channel shares the kernel, so
/// the factors must be one per channel.
fn scale_rows(
    layer: &mut WeightLayer,
    s: &[f64],
    channels: Option<(usize, usize)>,
    node_err: &dyn Fn(String, String) -> ImportError,
) -> Result<(), ImportError> {
    match channels {
        None => {
            let fan_in = layer.weights.len() / s.len().max(1);
            for (row, &f) in layer.weights.chunks_mut(fan_in.max(1)).zip(s) {
                row.iter_mut().for_each(|w| *w *= f);
            }
        }
        Some((out_channels, positions)) => {
            let per_kernel = layer.weights.len() / out_channels.max(1);
            for (c, kernel) in layer.weights.chunks_mut(per_kernel.max(1)).enumerate() {
                let f = s[c * positions];
                if let Some(p) = (1..positions).find(|&p| s[c * positions + p] != f) {
                    return Err(node_err(
                        format!("scale[{}]", c * positions + p),
                        format!(
                            "{} where channel {c}'s first position has {f}: after a convolution the chip shares a kernel over a channel's positions, so a scale must be one per channel",
                            s[c * positions + p]
                        ),
                    ));
                }
                kernel.iter_mut().for_each(|w| *w *= f);
            }
        }
    }
    Ok(())
}

/// Multiplies each input column `i` of a weight layer by `s[i]` (a `Scale` node on the spikes
/// before the weight node, expanded to one factor per input value). A convolution shares its
/// kernel over the positions of an input channel, so the factors must be one per input channel.
fn scale_columns(
    layer: &mut WeightLayer,
    s: &[f64],
    wnode_err: &dyn Fn(String, String) -> ImportError,
) -> Result<(), ImportError> {
    let columns = match layer.conv {
        None => layer.weights.len() / layer.neurons.max(1),
        Some(c) => (c.in_channels * c.in_height * c.in_width) as usize,
    };
    if s.len() != columns {
        return Err(wnode_err(
            "input".into(),
            format!(
                "a Scale before it holds {} factors for its {columns} inputs",
                s.len()
            ),
        ));
    }
    if columns == 0 {
        return Ok(());
    }
    match layer.conv {
        None => {
            for row in layer.weights.chunks_mut(columns) {
                row.iter_mut().zip(s).for_each(|(w, f)| *w *= f);
            }
        }
        Some(conv) => {
            let in_channels = conv.in_channels as usize;
            let positions = (conv.in_height * conv.in_width) as usize;
            let taps = (conv.kernel * conv.kernel) as usize;
            for c in 0..in_channels {
                let f = s[c * positions];
                if let Some(p) = (1..positions).find(|&p| s[c * positions + p] != f) {
                    return Err(wnode_err(
                        "input".into(),
                        format!(
                            "a Scale before it gives {} to value {} where input channel {c}'s first position has {f}: a convolution shares its kernel over a channel's positions, so a scale before it must be one per channel",
                            s[c * positions + p],
                            c * positions + p
                        ),
                    ));
                }
            }
            for (k, w) in layer.weights.iter_mut().enumerate() {
                *w *= s[(k / taps) % in_channels * positions];
            }
        }
    }
    Ok(())
}

/// What [`layer_delays`] needs to know of the layer.
struct DelayContext<'a> {
    neurons: usize,
    channels: Option<(usize, usize)>,
    dt: f64,
    source: &'a str,
    layer: &'a str,
    recurrent: bool,
    biased: bool,
}

/// A layer's input delays from a `Delay` on the spikes before its weight node (`pre`: the
/// node's name and its one delay) and one between the weight node and the neurons (`post`:
/// the node's name and its times, per neuron, per channel after a convolution, or one for
/// all). Empty when no input waits.
fn layer_delays(
    pre: Option<(&str, u8)>,
    post: &[(&str, &Vec<f64>)],
    cx: DelayContext,
) -> Result<Vec<u8>, ImportError> {
    let err_at = |node: &str| {
        let node = node.to_string();
        let source = cx.source.to_string();
        move |field: String, rule: String| ImportError::Node {
            source_name: source.clone(),
            node: node.clone(),
            kind: "Delay",
            field,
            rule,
        }
    };
    let mut delays = vec![pre.map_or(0, |(_, d)| d); cx.neurons];
    for &(dname, taus) in post {
        let node_err = err_at(dname);
        if cx.biased {
            return Err(node_err(
                "delay".into(),
                format!(
                    "delays the output of a weight node with a bias into `{}`: the chip adds a bias every step, undelayed (put the Delay before the weight node, or drop the bias)",
                    cx.layer
                ),
            ));
        }
        let per = per_neuron(taus, cx.neurons, cx.channels, "delay", &node_err)?;
        let steps = delay_steps(&per, cx.dt, &node_err)?;
        for (d, s) in delays.iter_mut().zip(steps) {
            *d = add_delays(*d, s, &node_err)?;
        }
    }
    if delays.iter().all(|&d| d == 0) {
        return Ok(Vec::new());
    }
    if cx.recurrent {
        let dname = post
            .first()
            .map(|(n, _)| *n)
            .or(pre.map(|(n, _)| n))
            .unwrap_or_default();
        return Err(err_at(dname)(
            "delay".into(),
            format!(
                "delays the input of the recurrent layer `{}`: the chip's input delays would delay its recurrent input too",
                cx.layer
            ),
        ));
    }
    Ok(delays)
}

/// What the float per-step model produced for one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct EulerRecord {
    /// Spikes per output neuron.
    pub counts: Vec<u32>,
    /// Each output neuron's voltage after the last step, in threshold units.
    pub voltage: Vec<f64>,
}

impl EulerRecord {
    /// The class under `readout` (ties to the lowest index, as the chip decodes).
    pub fn class(&self, readout: Readout) -> usize {
        match readout {
            Readout::SpikeCount => model::lif::decode_counts(&self.counts),
            Readout::FinalVoltage => {
                self.voltage
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f64::NEG_INFINITY),
                        |b, (j, &v)| if v > b.1 { (j, v) } else { b },
                    )
                    .0
            }
        }
    }
}

/// When a layer's spikes reach the next layer in the float per-step model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerTiming {
    /// In the next step, as on the chip (and in Loihi and Lava).
    Chip,
    /// In the same step, as per-step frameworks (snnTorch, Norse) run a sequential network;
    /// recurrent weights still carry the previous step's spikes.
    SameStep,
}

/// The float per-step model (threshold 1 per neuron) on input spikes `(channel, step)`, with
/// the chip's timing (a layer's spikes at `t` act on the next layer at `t + 1`): the reference
/// the quantised network is compared against.
pub fn euler_forward(
    layers: &[FloatLayer],
    inputs: usize,
    spikes: &[(u32, u32)],
    steps: u32,
) -> EulerRecord {
    euler_forward_timed(layers, inputs, spikes, steps, LayerTiming::Chip)
}

/// [`euler_forward`] with a choice of [`LayerTiming`]: with `SameStep` it is the float network
/// as the framework that trained it ran it, which isolates what the chip's one-step delay per
/// layer changes from what quantisation changes.
pub fn euler_forward_timed(
    layers: &[FloatLayer],
    inputs: usize,
    spikes: &[(u32, u32)],
    steps: u32,
    timing: LayerTiming,
) -> EulerRecord {
    let mut by_step: Vec<Vec<usize>> = vec![Vec::new(); steps as usize];
    for &(c, t) in spikes {
        if t < steps && (c as usize) < inputs {
            by_step[t as usize].push(c as usize);
        }
    }
    let sizes: Vec<usize> = layers.iter().map(|l| l.bias.len()).collect();
    let mut u: Vec<Vec<f64>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
    let mut v: Vec<Vec<f64>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
    let mut prev: Vec<Vec<usize>> = vec![Vec::new(); layers.len()];
    let mut counts = vec![0u32; sizes.last().copied().unwrap_or(0)];
    // Per layer with input delays: the weighted inputs of its last `max delay + 1` steps,
    // newest last.
    let mut history: Vec<Vec<Vec<f64>>> = vec![Vec::new(); layers.len()];
    for now_in in &by_step {
        let mut now: Vec<Vec<usize>> = Vec::with_capacity(layers.len());
        for (l, layer) in layers.iter().enumerate() {
            let src: &[usize] = match (l, timing) {
                (0, _) => now_in,
                (_, LayerTiming::Chip) => &prev[l - 1],
                (_, LayerTiming::SameStep) => &now[l - 1],
            };
            let mut fired = Vec::new();
            let mut input = vec![0.0f64; sizes[l]];
            let mut input_less = vec![0.0f64; sizes[l]];
            match &layer.conv {
                None => {
                    for (j, x) in input.iter_mut().enumerate() {
                        *x = src
                            .iter()
                            .map(|&i| layer.weights[j * layer.inputs + i])
                            .sum();
                    }
                }
                Some(conv) => {
                    for &i in src {
                        conv.for_each_target(i, |j, widx| input[j] += layer.weights[widx]);
                    }
                }
            }
            if let Some(&longest) = layer.input_delays.iter().max() {
                let past = &mut history[l];
                past.push(input);
                if past.len() > usize::from(longest) + 1 {
                    past.remove(0);
                }
                input = (0..sizes[l])
                    .map(|j| {
                        let d = usize::from(layer.input_delays[j]);
                        past.len().checked_sub(d + 1).map_or(0.0, |at| past[at][j])
                    })
                    .collect();
            }
            if !layer.recurrent.is_empty() {
                let n = sizes[l];
                for &k in &prev[l] {
                    for (j, x) in input.iter_mut().enumerate() {
                        *x += layer.recurrent[j * n + k];
                    }
                }
            }
            // The delayed reset subtracts the threshold for the previous step's spikes.
            if layer.reset == LifReset::SubtractNext {
                for &j in &prev[l] {
                    input_less[j] = 1.0;
                }
            }
            let (bias_u, bias_v) = match layer.bias_target {
                BiasTarget::Voltage => (0.0, 1.0),
                BiasTarget::Current => (1.0, 0.0),
            };
            for j in 0..sizes[l] {
                u[l][j] = layer.current_keep[j] * u[l][j] + input[j] + bias_u * layer.bias[j];
                v[l][j] = layer.voltage_keep[j] * v[l][j] + u[l][j] + bias_v * layer.bias[j]
                    - std::mem::take(&mut input_less[j]);
                if !layer.silent && v[l][j] > 1.0 {
                    v[l][j] = match layer.reset {
                        LifReset::Zero => 0.0,
                        LifReset::Subtract => v[l][j] - 1.0,
                        LifReset::SubtractNext => v[l][j],
                    };
                    fired.push(j);
                    if l + 1 == layers.len() {
                        counts[j] += 1;
                    }
                }
            }
            now.push(fired);
        }
        prev = now;
    }
    EulerRecord {
        counts,
        voltage: v.pop().unwrap_or_default(),
    }
}
