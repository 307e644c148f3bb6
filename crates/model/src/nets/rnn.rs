//! Recurrent networks over frame sequences: stacked LSTM and bidirectional GRU.

use super::ThreadDropout;
use burn::module::Module;
use burn::nn::gru::{BiGru, BiGruConfig};
use burn::nn::lstm::{Lstm, LstmConfig};
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::blocks::mean_over_sequence;

/// Hyper-parameters of [`LstmNet`] and [`BiGruNet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RnnConfig {
    /// Hidden units per direction.
    pub hidden: usize,
    /// Recurrent layers stacked (at least one is built).
    pub layers: usize,
    /// Dropout between recurrent layers and before the output layer.
    pub dropout: f64,
}

impl RnnConfig {
    /// The LSTM's defaults: 2 layers of 128 units.
    pub fn lstm_default() -> Self {
        Self {
            hidden: 128,
            layers: 2,
            dropout: 0.2,
        }
    }

    /// Report 000's bidirectional RNN: 3 layers.
    pub fn bigru_default() -> Self {
        Self {
            hidden: 64,
            layers: 3,
            dropout: 0.2,
        }
    }
}

impl Default for RnnConfig {
    fn default() -> Self {
        Self::lstm_default()
    }
}

/// Input: frames [B, F, T]. The hidden states are mean-pooled over time (more robust to
/// padding and crop position than the last state). Output: logits [B, classes].
#[derive(Module, Debug)]
pub struct LstmNet {
    layers: Vec<Lstm>,
    dropout: Dropout,
    out: Linear,
}

impl RnnConfig {
    /// Builds an [`LstmNet`] for `n_in` feature rows and `n_classes` outputs, with fresh
    /// (lazily drawn) weights.
    pub fn init_lstm(&self, n_in: usize, n_classes: usize, device: &Device) -> LstmNet {
        let layers = (0..self.layers.max(1))
            .map(|i| {
                let d_in = if i == 0 { n_in } else { self.hidden };
                LstmConfig::new(d_in, self.hidden, true).init(device)
            })
            .collect();
        LstmNet {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            out: LinearConfig::new(self.hidden, n_classes).init(device),
        }
    }

    /// Builds a [`BiGruNet`] for `n_in` feature rows and `n_classes` outputs, with fresh
    /// (lazily drawn) weights.
    pub fn init_bigru(&self, n_in: usize, n_classes: usize, device: &Device) -> BiGruNet {
        let layers = (0..self.layers.max(1))
            .map(|i| {
                let d_in = if i == 0 { n_in } else { 2 * self.hidden };
                BiGruConfig::new(d_in, self.hidden, true).init(device)
            })
            .collect();
        BiGruNet {
            layers,
            dropout: DropoutConfig::new(self.dropout).init(),
            out: LinearConfig::new(2 * self.hidden, n_classes).init(device),
        }
    }
}

impl LstmNet {
    /// `x`: frames [B, F, T] -> logits [B, classes].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        stacked(&self.layers, &self.dropout, &self.out, x, |layer, x| {
            layer.forward(x, None).0
        })
    }
}

/// Input: frames [B, F, T]. Stacked bidirectional GRU, mean-pooled over time.
/// Output: logits [B, classes].
#[derive(Module, Debug)]
pub struct BiGruNet {
    layers: Vec<BiGru>,
    dropout: Dropout,
    out: Linear,
}

impl BiGruNet {
    /// `x`: frames [B, F, T] -> logits [B, classes].
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        stacked(&self.layers, &self.dropout, &self.out, x, |layer, x| {
            layer.forward(x, None).0
        })
    }
}

/// Frames [B, F, T] through recurrent `layers` in turn (`step` runs one; dropout between
/// them), mean-pooled over time, dropout, then `out`: logits [B, classes].
fn stacked<L>(
    layers: &[L],
    dropout: &Dropout,
    out: &Linear,
    x: Tensor<3>,
    step: impl Fn(&L, Tensor<3>) -> Tensor<3>,
) -> Tensor<2> {
    let mut x = x.swap_dims(1, 2);
    for (i, layer) in layers.iter().enumerate() {
        if i > 0 {
            x = dropout.forward_seeded(x);
        }
        x = step(layer, x);
    }
    out.forward(dropout.forward_seeded(mean_over_sequence(x)))
}
