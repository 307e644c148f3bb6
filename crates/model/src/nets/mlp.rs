//! Multi-layer perceptron over a pooled vector (report 000: 40-128-128-out).

use super::ThreadDropout;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Hyper-parameters of [`Mlp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpConfig {
    /// Widths of the hidden layers (linear + ReLU each), input side first.
    pub hidden: Vec<usize>,
    /// Dropout probability after each hidden layer, in [0, 1).
    pub dropout: f64,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            hidden: vec![128, 128],
            dropout: 0.2,
        }
    }
}

/// Input: pooled vector [B, D]. Output: logits [B, classes].
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    dropout: Dropout,
    act: Relu,
    out: Linear,
}

impl MlpConfig {
    /// Builds the network for vectors of length `n_in` and `n_classes` outputs, with fresh
    /// (lazily drawn) weights.
    pub fn init(&self, n_in: usize, n_classes: usize, device: &Device) -> Mlp {
        let mut d_in = n_in;
        let layers = self
            .hidden
            .iter()
            .map(|&d_out| {
                let layer = LinearConfig::new(d_in, d_out).init(device);
                d_in = d_out;
                layer
            })
            .collect();
        Mlp {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            act: Relu::new(),
            out: LinearConfig::new(d_in, n_classes).init(device),
        }
    }
}

impl Mlp {
    /// `x`: pooled vectors [B, D] -> logits [B, classes].
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut x = x;
        for layer in &self.layers {
            x = self
                .dropout
                .forward_seeded(self.act.forward(layer.forward(x)));
        }
        self.out.forward(x)
    }
}
