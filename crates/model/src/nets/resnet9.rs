//! ResNet-9 (the DAWNBench design) over a log-mel spectrogram, with a width multiplier so
//! that it trains on a CPU.

use super::ThreadDropout;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::blocks::ConvBlock2d;

/// Hyper-parameters of [`Resnet9`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Resnet9Config {
    /// Channels of the first layer; the stages use 2x, 4x and 8x this.
    pub width: usize,
    /// Dropout probability before the output layer, in [0, 1).
    pub dropout: f64,
}

impl Default for Resnet9Config {
    fn default() -> Self {
        Self {
            width: 16,
            dropout: 0.2,
        }
    }
}

/// Two 3x3 conv blocks added back onto their input.
#[derive(Module, Debug)]
pub struct Residual {
    first: ConvBlock2d,
    second: ConvBlock2d,
}

impl Residual {
    fn new(channels: usize, device: &Device) -> Self {
        Self {
            first: ConvBlock2d::new(channels, channels, 3, false, device),
            second: ConvBlock2d::new(channels, channels, 3, false, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        x.clone() + self.second.forward(self.first.forward(x))
    }
}

/// Input: log-mel frames [B, M, T] (M and T >= 8). Output: logits [B, classes].
#[derive(Module, Debug)]
pub struct Resnet9 {
    /// prep (w), layer1 (2w, pool), layer2 (4w, pool), layer3 (8w, pool).
    layers: Vec<ConvBlock2d>,
    /// After layer1 and after layer3.
    residuals: Vec<Residual>,
    dropout: Dropout,
    out: Linear,
}

impl Resnet9Config {
    /// Builds the network for `n_classes` outputs, with fresh (lazily drawn) weights. Its
    /// size does not depend on the mel bands (`n_in`): a global max-pool ends the convolutions.
    pub fn init(&self, _n_in: usize, n_classes: usize, device: &Device) -> Resnet9 {
        let w = self.width.max(1);
        Resnet9 {
            layers: vec![
                ConvBlock2d::new(1, w, 3, false, device),
                ConvBlock2d::new(w, 2 * w, 3, true, device),
                ConvBlock2d::new(2 * w, 4 * w, 3, true, device),
                ConvBlock2d::new(4 * w, 8 * w, 3, true, device),
            ],
            residuals: vec![Residual::new(2 * w, device), Residual::new(8 * w, device)],
            dropout: DropoutConfig::new(self.dropout).init(),
            out: LinearConfig::new(8 * w, n_classes).init(device),
        }
    }
}

impl Resnet9 {
    /// `x`: log-mel frames [B, M, T] -> logits [B, classes].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        // Indexing is safe: `init` builds exactly four layers and two residual blocks.
        let x = self.layers[0].forward(x.unsqueeze_dim(1));
        let x = self.residuals[0].forward(self.layers[1].forward(x));
        let x = self.layers[2].forward(x);
        let x = self.residuals[1].forward(self.layers[3].forward(x));
        // Global max-pool over frequency and time.
        let x: Tensor<3> = x.flatten(2, 3);
        let x: Tensor<2> = x.max_dim(2).squeeze_dim(2);
        self.out.forward(self.dropout.forward_seeded(x))
    }
}
