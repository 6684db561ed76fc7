//! What the TTFS probes share: a model and an MNIST-layout data directory from the command line,
//! the model's golden network and encoder, and its dense output layer with one threshold.

use model::data::DataSplit;
use model::network::{Dense, LayerKind, Network, Threshold};
use model::{GoldenNetwork, LatencyEncoder};
use std::path::Path;

/// A loaded model with its data, ready to run image by image.
pub struct Probe {
    pub net: Network,
    pub split: DataSplit,
    pub golden: GoldenNetwork,
    pub enc: LatencyEncoder,
    /// The arguments after `MODEL MNIST_DIR`.
    pub rest: Vec<String>,
}

impl Probe {
    /// Loads `MODEL MNIST_DIR [REST…]` from the command line of probe `name`.
    pub fn from_args(name: &str) -> Result<Probe, String> {
        let a: Vec<String> = std::env::args().skip(1).collect();
        let (Some(model), Some(dir)) = (a.first(), a.get(1)) else {
            return Err(format!("usage: {name} MODEL MNIST_DIR"));
        };
        let net = Network::load(Path::new(model)).map_err(|e| e.to_string())?;
        let split =
            model::data::load_mnist_dir(Path::new(dir), "mnist").map_err(|e| e.to_string())?;
        let golden = GoldenNetwork::new(&net).map_err(|e| e.to_string())?;
        let enc = LatencyEncoder {
            rule: net.encoding.unwrap_or(model::EncodingRule::S4nn),
            t_max: net.t_max,
        };
        Ok(Probe {
            net,
            split,
            golden,
            enc,
            rest: a[2..].to_vec(),
        })
    }

    /// The dense output layer and its one threshold.
    pub fn output_layer(&self) -> Result<(&Dense, i32), String> {
        let Some(LayerKind::Dense(out_layer)) = self.net.layers.last().map(|l| &l.kind) else {
            return Err("the output layer is not dense".into());
        };
        let Threshold::Layer(theta) = out_layer.threshold else {
            return Err("the output layer has per-neuron thresholds".into());
        };
        Ok((out_layer, theta))
    }
}
