//! Report 004's 1-D CNN over MFCC frames.

use super::ThreadDropout;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig, Relu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::blocks::{ConvBlock1d, mean_over_time};

/// Hyper-parameters of [`Cnn1dMfcc`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cnn1dMfccConfig {
    /// Channels of the conv + BN + ReLU + max-pool blocks.
    pub channels: Vec<usize>,
    /// Convolution kernel length, in frames.
    pub kernel: usize,
    /// Dropout probability after each block and before the output layer, in [0, 1).
    pub dropout: f64,
    /// Width of the hidden dense layer (L2 comes from the optimiser's weight decay).
    pub dense: usize,
}

impl Default for Cnn1dMfccConfig {
    fn default() -> Self {
        Self {
            channels: vec![256, 128, 64],
            kernel: 5,
            dropout: 0.3,
            dense: 64,
        }
    }
}

/// Input: frames [B, F, T] (F MFCC coefficients as channels). Global average pooling over
/// time makes any T work. Output: logits [B, classes].
#[derive(Module, Debug)]
pub struct Cnn1dMfcc {
    blocks: Vec<ConvBlock1d>,
    dropout: Dropout,
    hidden: Linear,
    act: Relu,
    out: Linear,
}

impl Cnn1dMfccConfig {
    /// Builds the network for `n_in` feature rows and `n_classes` outputs, with fresh
    /// (lazily drawn) weights.
    pub fn init(&self, n_in: usize, n_classes: usize, device: &Device) -> Cnn1dMfcc {
        let (blocks, c_in) = ConvBlock1d::stack(n_in, &self.channels, self.kernel, device);
        Cnn1dMfcc {
            blocks,
            dropout: DropoutConfig::new(self.dropout).init(),
            hidden: LinearConfig::new(c_in, self.dense).init(device),
            act: Relu::new(),
            out: LinearConfig::new(self.dense, n_classes).init(device),
        }
    }
}

impl Cnn1dMfcc {
    /// `x`: frames [B, F, T] -> logits [B, classes].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let mut x = x;
        for block in &self.blocks {
            x = self.dropout.forward_seeded(block.forward(x));
        }
        let x = self.act.forward(self.hidden.forward(mean_over_time(x)));
        self.out.forward(self.dropout.forward_seeded(x))
    }
}
