//! A 4-layer 1-D CNN over frame sequences (report 000's "4-layer CNN").

use super::ThreadDropout;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::blocks::{ConvBlock1d, mean_and_std_over_time, mean_over_time};

/// Hyper-parameters of [`Cnn4`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cnn4Config {
    /// Output channels of the conv + BN + ReLU + max-pool blocks, one block each.
    pub channels: Vec<usize>,
    /// Convolution kernel length, in frames.
    pub kernel: usize,
    /// Dropout probability on the pooled embedding, before the output layer, in [0, 1).
    pub dropout: f64,
    /// How the last block's frames become one vector (absent from configurations made
    /// before statistics pooling, which all pooled by the mean).
    #[serde(skip_serializing_if = "TimePooling::is_mean")]
    pub pooling: TimePooling,
}

/// Summary of a sequence of frame activations over time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimePooling {
    /// The mean of each channel.
    #[default]
    Mean,
    /// The mean and the standard deviation of each channel (statistics pooling, as in
    /// x-vectors): how much a channel varies over the clip, not only its level.
    MeanStd,
}

impl TimePooling {
    fn is_mean(&self) -> bool {
        *self == Self::Mean
    }
}

impl Default for Cnn4Config {
    fn default() -> Self {
        Self {
            channels: vec![64, 64, 128, 128],
            kernel: 3,
            dropout: 0.3,
            pooling: TimePooling::Mean,
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
    with_std: bool,
}

impl Cnn4Config {
    /// Builds the network for `n_in` feature rows and `n_classes` outputs, with fresh
    /// (lazily drawn) weights.
    pub fn init(&self, n_in: usize, n_classes: usize, device: &Device) -> Cnn4 {
        let (blocks, c_in) = ConvBlock1d::stack(n_in, &self.channels, self.kernel, device);
        let with_std = self.pooling == TimePooling::MeanStd;
        let pooled = if with_std { 2 * c_in } else { c_in };
        Cnn4 {
            blocks,
            dropout: DropoutConfig::new(self.dropout).init(),
            out: LinearConfig::new(pooled, n_classes).init(device),
            with_std,
        }
    }
}

impl Cnn4 {
    /// `x`: frames [B, F, T] -> logits [B, classes].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        self.classify(self.embed(x))
    }

    /// The pooled clip embedding [B, D] that the output layer reads.
    pub fn embed(&self, x: Tensor<3>) -> Tensor<2> {
        let mut x = x;
        for block in &self.blocks {
            x = block.forward(x);
        }
        if self.with_std {
            mean_and_std_over_time(x)
        } else {
            mean_over_time(x)
        }
    }

    /// Logits from an embedding made by [`Self::embed`].
    pub fn classify(&self, embedding: Tensor<2>) -> Tensor<2> {
        self.out.forward(self.dropout.forward_seeded(embedding))
    }
}
