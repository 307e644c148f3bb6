//! Report 003's CNN-TM: two parallel 2-D CNN branches over a log-mel spectrogram feeding a
//! Transformer encoder.

use super::ThreadDropout;
use burn::module::Module;
use burn::nn::transformer::TransformerEncoder;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::blocks::{ConvBlock2d, halved, mean_over_sequence};
use super::transformer::{TransformerConfig, encode_sequence};

/// Hyper-parameters of [`CnnTm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CnnTmConfig {
    /// Channels of the three conv + BN + ReLU + max-pool blocks of each branch.
    pub channels: Vec<usize>,
    /// Kernel sizes of the two branches (different receptive fields).
    pub kernels: [usize; 2],
    /// Token width of the Transformer, half from each branch (even, divisible by `heads`).
    pub d_model: usize,
    /// Attention heads per encoder layer.
    pub heads: usize,
    /// Encoder layers.
    pub layers: usize,
    /// Hidden width of each encoder layer's feed-forward part.
    pub d_ff: usize,
    /// Dropout probability in the encoder, on its input tokens and before the output layer,
    /// in [0, 1).
    pub dropout: f64,
}

impl Default for CnnTmConfig {
    fn default() -> Self {
        Self {
            channels: vec![16, 32, 64],
            kernels: [3, 5],
            d_model: 64,
            heads: 4,
            layers: 6,
            d_ff: 128,
            dropout: 0.4,
        }
    }
}

/// One CNN branch: [B, 1, M, T] -> tokens [B, T', d_model / 2].
#[derive(Module, Debug)]
pub struct Branch {
    blocks: Vec<ConvBlock2d>,
    project: Linear,
}

impl Branch {
    fn new(cfg: &CnnTmConfig, kernel: usize, n_mels: usize, device: &Device) -> Self {
        let mut c_in = 1;
        let blocks: Vec<_> = cfg
            .channels
            .iter()
            .map(|&c_out| {
                let block = ConvBlock2d::new(c_in, c_out, kernel, true, device);
                c_in = c_out;
                block
            })
            .collect();
        let freq = halved(n_mels, blocks.len()).max(1);
        Self {
            blocks,
            project: LinearConfig::new(c_in * freq, cfg.d_model / 2).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<3> {
        let mut x = x;
        for block in &self.blocks {
            x = block.forward(x);
        }
        // [B, C, M', T'] -> [B, T', C * M']: each pooled time step becomes a token.
        let [b, c, m, t] = x.dims();
        let tokens = x.permute([0, 3, 1, 2]).reshape([b, t, c * m]);
        self.project.forward(tokens)
    }
}

/// Input: log-mel frames [B, M, T] (M mel bands, T >= 8 frames). Output: logits [B, classes].
#[derive(Module, Debug)]
pub struct CnnTm {
    branches: Vec<Branch>,
    encoder: TransformerEncoder,
    dropout: Dropout,
    out: Linear,
}

impl CnnTmConfig {
    /// Builds the network for `n_in` mel bands (at least 2^blocks) and `n_classes` outputs,
    /// with fresh (lazily drawn) weights.
    pub fn init(&self, n_in: usize, n_classes: usize, device: &Device) -> CnnTm {
        let encoder = TransformerConfig {
            d_model: self.d_model,
            heads: self.heads,
            layers: self.layers,
            d_ff: self.d_ff,
            dropout: self.dropout,
        }
        .encoder(device);
        CnnTm {
            branches: self
                .kernels
                .iter()
                .map(|&k| Branch::new(self, k, n_in, device))
                .collect(),
            encoder,
            dropout: DropoutConfig::new(self.dropout).init(),
            out: LinearConfig::new(self.d_model, n_classes).init(device),
        }
    }
}

impl CnnTm {
    /// `x`: log-mel frames [B, M, T] -> logits [B, classes].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let x: Tensor<4> = x.unsqueeze_dim(1);
        let tokens = self
            .branches
            .iter()
            .map(|branch| branch.forward(x.clone()))
            .collect();
        let tokens = self.dropout.forward_seeded(Tensor::cat(tokens, 2));
        let encoded = encode_sequence(&self.encoder, tokens);
        self.out
            .forward(self.dropout.forward_seeded(mean_over_sequence(encoded)))
    }
}
