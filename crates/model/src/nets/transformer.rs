//! Transformer encoder over frame sequences with sinusoidal positional encoding.

use super::ThreadDropout;
use burn::module::Module;
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::blocks::{mean_over_sequence, sinusoidal_encoding};

/// Hyper-parameters of [`TransformerNet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransformerConfig {
    /// Token width: each frame is projected to this many values (divisible by `heads`).
    pub d_model: usize,
    /// Attention heads per encoder layer.
    pub heads: usize,
    /// Encoder layers.
    pub layers: usize,
    /// Hidden width of each encoder layer's feed-forward part.
    pub d_ff: usize,
    /// Dropout probability in the encoder and before the output layer, in [0, 1).
    pub dropout: f64,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        Self {
            d_model: 64,
            heads: 4,
            layers: 2,
            d_ff: 128,
            dropout: 0.1,
        }
    }
}

impl TransformerConfig {
    pub(crate) fn encoder(&self, device: &Device) -> TransformerEncoder {
        TransformerEncoderConfig::new(self.d_model, self.d_ff, self.heads, self.layers)
            .with_dropout(self.dropout)
            .with_norm_first(true)
            .init(device)
    }

    /// Builds the network for `n_in` feature rows and `n_classes` outputs, with fresh
    /// (lazily drawn) weights.
    pub fn init(&self, n_in: usize, n_classes: usize, device: &Device) -> TransformerNet {
        TransformerNet {
            embed: LinearConfig::new(n_in, self.d_model).init(device),
            encoder: self.encoder(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            out: LinearConfig::new(self.d_model, n_classes).init(device),
        }
    }
}

/// Input: frames [B, F, T]; each frame is a token projected to `d_model`, encoded with
/// positions, then mean-pooled. Output: logits [B, classes].
#[derive(Module, Debug)]
pub struct TransformerNet {
    embed: Linear,
    encoder: TransformerEncoder,
    dropout: Dropout,
    out: Linear,
}

impl TransformerNet {
    /// `x`: frames [B, F, T] -> logits [B, classes].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let x = self.embed.forward(x.swap_dims(1, 2));
        let encoded = encode_sequence(&self.encoder, x);
        self.out
            .forward(self.dropout.forward_seeded(mean_over_sequence(encoded)))
    }
}

/// Adds positions to a token sequence [B, T, D] and runs the encoder over it.
pub(crate) fn encode_sequence(encoder: &TransformerEncoder, tokens: Tensor<3>) -> Tensor<3> {
    let [_, t, d] = tokens.dims();
    let positions = sinusoidal_encoding(t, d, &tokens.device());
    encoder.forward(TransformerEncoderInput::new(tokens + positions))
}
