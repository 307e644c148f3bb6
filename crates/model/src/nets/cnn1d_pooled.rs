//! Report 000's 1-D CNN over a pooled feature vector treated as a 1-channel sequence.

use super::ThreadDropout;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::blocks::{ConvBlock1d, halved};

/// Hyper-parameters of [`Cnn1dPooled`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cnn1dPooledConfig {
    /// Output channels of the eight convolutions; a max-pool follows every second one.
    pub channels: Vec<usize>,
    /// Convolution kernel length, in vector elements.
    pub kernel: usize,
    /// Dropout after each pooled pair of convolutions.
    pub dropout_conv: f64,
    /// Dropout before the dense output layer.
    pub dropout_dense: f64,
}

impl Default for Cnn1dPooledConfig {
    fn default() -> Self {
        Self {
            channels: vec![16, 16, 32, 32, 64, 64, 128, 128],
            kernel: 5,
            dropout_conv: 0.1,
            dropout_dense: 0.5,
        }
    }
}

/// Input: pooled vector [B, D]. Output: logits [B, classes].
#[derive(Module, Debug)]
pub struct Cnn1dPooled {
    convs: Vec<ConvBlock1d>,
    drop_conv: Dropout,
    drop_dense: Dropout,
    out: Linear,
}

impl Cnn1dPooledConfig {
    /// Builds the network for vectors of length `n_in` and `n_classes` outputs, with fresh
    /// (lazily drawn) weights.
    pub fn init(&self, n_in: usize, n_classes: usize, device: &Device) -> Cnn1dPooled {
        let mut convs = Vec::with_capacity(self.channels.len());
        let mut c_in = 1;
        let mut len = n_in;
        for (i, &c_out) in self.channels.iter().enumerate() {
            // Pool after every second conv, but never below length 1 (short vectors).
            let pool = i % 2 == 1 && len >= 2;
            convs.push(ConvBlock1d::new(
                c_in,
                c_out,
                self.kernel,
                false,
                pool,
                device,
            ));
            if pool {
                len = halved(len, 1);
            }
            c_in = c_out;
        }
        Cnn1dPooled {
            convs,
            drop_conv: DropoutConfig::new(self.dropout_conv).init(),
            drop_dense: DropoutConfig::new(self.dropout_dense).init(),
            out: LinearConfig::new(c_in * len, n_classes).init(device),
        }
    }
}

impl Cnn1dPooled {
    /// `x`: pooled vectors [B, D] -> logits [B, classes].
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut x: Tensor<3> = x.unsqueeze_dim(1);
        for (i, conv) in self.convs.iter().enumerate() {
            x = conv.forward(x);
            if i % 2 == 1 {
                x = self.drop_conv.forward_seeded(x);
            }
        }
        let x: Tensor<2> = x.flatten(1, 2);
        self.out.forward(self.drop_dense.forward_seeded(x))
    }
}
