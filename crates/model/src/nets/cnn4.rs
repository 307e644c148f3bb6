//! A 4-layer 1-D CNN over frame sequences (report 000's "4-layer CNN").

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::blocks::{ConvBlock1d, mean_over_time};

/// Hyper-parameters of [`Cnn4`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cnn4Config {
    pub channels: Vec<usize>,
    pub kernel: usize,
    pub dropout: f64,
}

impl Default for Cnn4Config {
    fn default() -> Self {
        Self {
            channels: vec![64, 64, 128, 128],
            kernel: 3,
            dropout: 0.3,
        }
    }
}

/// Input: frames [B, F, T]. Conv + BN + ReLU + max-pool per layer, global average pooling
/// over time. Output: logits [B, classes].
#[derive(Module, Debug)]
pub struct Cnn4 {
    blocks: Vec<ConvBlock1d>,
    dropout: Dropout,
    out: Linear,
}

impl Cnn4Config {
    pub fn init(&self, n_in: usize, n_classes: usize, device: &Device) -> Cnn4 {
        let (blocks, c_in) = ConvBlock1d::stack(n_in, &self.channels, self.kernel, device);
        Cnn4 {
            blocks,
            dropout: DropoutConfig::new(self.dropout).init(),
            out: LinearConfig::new(c_in, n_classes).init(device),
        }
    }
}

impl Cnn4 {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let mut x = x;
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.out.forward(self.dropout.forward(mean_over_time(x)))
    }
}
