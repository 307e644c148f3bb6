//! Neural networks (burn, Flex CPU backend by default), one module per architecture.
//!
//! Every network maps a batch `[B, F, T]` (F feature rows, T frames) to logits
//! `[B, classes]`. Pooled-vector models ([`InputKind::Pooled`]) average over T first, so
//! they take `[B, D, 1]` (or frames, which they pool).

mod blocks;
pub mod cnn1d_mfcc;
pub mod cnn1d_pooled;
pub mod cnn4;
pub mod cnn_tm;
mod dropout;
mod flex_ops;
pub mod mlp;
pub mod resnet9;
pub mod rnn;
pub mod transformer;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub use cnn_tm::{CnnTm, CnnTmConfig};
pub use cnn1d_mfcc::{Cnn1dMfcc, Cnn1dMfccConfig};
pub use cnn1d_pooled::{Cnn1dPooled, Cnn1dPooledConfig};
pub use cnn4::{Cnn4, Cnn4Config, TimePooling};
use dropout::ThreadDropout;
pub use dropout::seed_dropout;
pub use mlp::{Mlp, MlpConfig};
pub use resnet9::{Resnet9, Resnet9Config};
pub use rnn::{BiGruNet, LstmNet, RnnConfig};
pub use transformer::{TransformerConfig, TransformerNet};

use crate::ModelError;

/// What a network reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// One vector per clip (e.g. mean-pooled MFCC40 + chroma12 + mel128 = 180 dims).
    Pooled,
    /// A feature-by-frame matrix [F, T] (MFCC frames, log-mel spectrogram).
    Frames,
}

/// A network architecture with its hyper-parameters. Serialised with a kebab-case `name`
/// tag; missing hyper-parameters take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name")]
pub enum Architecture {
    /// Report 000: 1-D CNN over the pooled vector. Input: pooled.
    #[serde(rename = "cnn1d-pooled")]
    Cnn1dPooled(Cnn1dPooledConfig),
    /// Report 004: 1-D CNN over MFCC frames (40 x T). Input: frames.
    #[serde(rename = "cnn1d-mfcc")]
    Cnn1dMfcc(Cnn1dMfccConfig),
    /// Report 003: parallel 2-D CNNs + Transformer over log-mel. Input: frames.
    #[serde(rename = "cnn-tm")]
    CnnTm(CnnTmConfig),
    /// Multi-layer perceptron. Input: pooled.
    #[serde(rename = "mlp")]
    Mlp(MlpConfig),
    /// Stacked LSTM. Input: frames.
    #[serde(rename = "lstm")]
    Lstm(RnnConfig),
    /// Stacked bidirectional GRU (3 layers by default). Input: frames.
    #[serde(rename = "bigru")]
    Bigru(RnnConfig),
    /// 4-layer 1-D CNN. Input: frames.
    #[serde(rename = "cnn4")]
    Cnn4(Cnn4Config),
    /// ResNet-9-style 2-D CNN over log-mel. Input: frames.
    #[serde(rename = "resnet9")]
    Resnet9(Resnet9Config),
    /// 2-layer Transformer encoder with sinusoidal positions. Input: frames.
    #[serde(rename = "transformer")]
    Transformer(TransformerConfig),
}

/// A built network: one variant per architecture.
#[derive(Module, Debug)]
pub enum Net {
    /// Built from [`Architecture::Cnn1dPooled`].
    Cnn1dPooled(Cnn1dPooled),
    /// Built from [`Architecture::Cnn1dMfcc`].
    Cnn1dMfcc(Cnn1dMfcc),
    /// Built from [`Architecture::CnnTm`].
    CnnTm(CnnTm),
    /// Built from [`Architecture::Mlp`].
    Mlp(Mlp),
    /// Built from [`Architecture::Lstm`].
    Lstm(LstmNet),
    /// Built from [`Architecture::Bigru`].
    Bigru(BiGruNet),
    /// Built from [`Architecture::Cnn4`].
    Cnn4(Cnn4),
    /// Built from [`Architecture::Resnet9`].
    Resnet9(Resnet9),
    /// Built from [`Architecture::Transformer`].
    Transformer(TransformerNet),
}

/// Bounds on a configuration's widths and on its kernels and depths: a corrupt file must not
/// ask for gigabytes (checked per field; the defaults are far below).
const MAX_WIDTH: usize = 4096;
const MAX_DEPTH_OR_KERNEL: usize = 64;

impl Architecture {
    /// All architecture names, in the order of report 000's comparison table.
    pub const NAMES: [&'static str; 9] = [
        "cnn1d-pooled",
        "cnn1d-mfcc",
        "cnn-tm",
        "mlp",
        "lstm",
        "bigru",
        "cnn4",
        "resnet9",
        "transformer",
    ];

    /// The architecture `name` with default hyper-parameters.
    pub fn from_name(name: &str) -> Result<Self, ModelError> {
        Ok(match name {
            "cnn1d-pooled" => Self::Cnn1dPooled(Default::default()),
            "cnn1d-mfcc" => Self::Cnn1dMfcc(Default::default()),
            "cnn-tm" => Self::CnnTm(Default::default()),
            "mlp" => Self::Mlp(Default::default()),
            "lstm" => Self::Lstm(RnnConfig::lstm_default()),
            "bigru" => Self::Bigru(RnnConfig::bigru_default()),
            "cnn4" => Self::Cnn4(Default::default()),
            "resnet9" => Self::Resnet9(Default::default()),
            "transformer" => Self::Transformer(Default::default()),
            other => return Err(ModelError::UnknownModel(other.to_string())),
        })
    }

    /// Whether training draws from burn's process-global generator after weight
    /// initialisation: burn's transformer encoder has dropout layers of its own. Networks that
    /// do cannot train next to another on a second thread and stay reproducible.
    pub fn draws_global_randomness(&self) -> bool {
        matches!(self, Self::CnnTm(_) | Self::Transformer(_))
    }

    /// The architecture's kebab-case name (one of [`Self::NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Cnn1dPooled(_) => "cnn1d-pooled",
            Self::Cnn1dMfcc(_) => "cnn1d-mfcc",
            Self::CnnTm(_) => "cnn-tm",
            Self::Mlp(_) => "mlp",
            Self::Lstm(_) => "lstm",
            Self::Bigru(_) => "bigru",
            Self::Cnn4(_) => "cnn4",
            Self::Resnet9(_) => "resnet9",
            Self::Transformer(_) => "transformer",
        }
    }

    /// Width of the pooled clip embedding that [`Net::forward_with_embedding`] returns, for
    /// the networks that expose one.
    pub fn embedding_width(&self) -> Option<usize> {
        match self {
            Self::Cnn4(c) => {
                let last = *c.channels.last()?;
                Some(match c.pooling {
                    cnn4::TimePooling::MeanStd => 2 * last,
                    cnn4::TimePooling::Mean => last,
                })
            }
            _ => None,
        }
    }

    /// Whether the network reads pooled vectors or frames.
    pub fn input_kind(&self) -> InputKind {
        match self {
            Self::Cnn1dPooled(_) | Self::Mlp(_) => InputKind::Pooled,
            _ => InputKind::Frames,
        }
    }

    /// The fewest frames a forward pass accepts (each max-pool halves T).
    pub fn min_frames(&self) -> usize {
        match self {
            Self::Cnn1dPooled(_) | Self::Mlp(_) => 1,
            Self::Cnn1dMfcc(c) => 1 << c.channels.len(),
            Self::Cnn4(c) => 1 << c.channels.len(),
            Self::CnnTm(c) => 1 << c.channels.len(),
            Self::Resnet9(_) => 8,
            Self::Lstm(_) | Self::Bigru(_) | Self::Transformer(_) => 1,
        }
    }

    /// Checks the hyper-parameters against the input size, so that `build` cannot panic.
    pub fn validate(&self, n_in: usize, n_classes: usize) -> Result<(), ModelError> {
        let bad = |why: String| Err(ModelError::BadConfig(format!("{}: {why}", self.name())));
        if n_in == 0 || n_classes < 2 {
            return bad(format!(
                "needs inputs and >= 2 classes (got {n_in}, {n_classes})"
            ));
        }
        // Configurations come from files too: refuse what burn would panic on or what would
        // allocate without bound, before building anything.
        let (dropouts, sizes) = self.hyper_parameters();
        if let Some(p) = dropouts.iter().find(|p| !(0.0..1.0).contains(*p)) {
            return bad(format!("dropout {p} is outside [0, 1)"));
        }
        for (name, size, max) in sizes {
            if !(1..=max).contains(&size) {
                return bad(format!("{name} {size} is outside 1..={max}"));
            }
        }
        match self {
            Self::CnnTm(c) if c.d_model % 2 != 0 || c.d_model % c.heads.max(1) != 0 => {
                bad("d_model must be even and divisible by heads".into())
            }
            Self::CnnTm(c) if n_in < 1 << c.channels.len() => {
                bad(format!("needs >= {} feature rows", 1 << c.channels.len()))
            }
            Self::Resnet9(_) if n_in < 8 => bad("needs >= 8 feature rows".into()),
            Self::Transformer(c) if c.d_model % c.heads.max(1) != 0 => {
                bad("d_model must be divisible by heads".into())
            }
            _ => Ok(()),
        }
    }

    /// The dropout rates and the sizes of the configuration, each with its name and bound,
    /// for validation.
    fn hyper_parameters(&self) -> (Vec<f64>, Vec<(&'static str, usize, usize)>) {
        let width = |name, n| (name, n, MAX_WIDTH);
        let depth = |name, n| (name, n, MAX_DEPTH_OR_KERNEL);
        let channels = |c: &[usize]| {
            let mut sizes: Vec<_> = c.iter().map(|&n| width("channels", n)).collect();
            sizes.push(depth("block count", c.len()));
            sizes
        };
        match self {
            Self::Cnn1dPooled(c) => {
                let mut sizes = channels(&c.channels);
                sizes.push(depth("kernel", c.kernel));
                (vec![c.dropout_conv, c.dropout_dense], sizes)
            }
            Self::Cnn1dMfcc(c) => {
                let mut sizes = channels(&c.channels);
                sizes.extend([depth("kernel", c.kernel), width("dense", c.dense)]);
                (vec![c.dropout], sizes)
            }
            Self::Cnn4(c) => {
                let mut sizes = channels(&c.channels);
                sizes.push(depth("kernel", c.kernel));
                (vec![c.dropout], sizes)
            }
            Self::CnnTm(c) => {
                let mut sizes = channels(&c.channels);
                sizes.extend([
                    depth("kernel", c.kernels[0]),
                    depth("kernel", c.kernels[1]),
                    width("d_model", c.d_model),
                    width("heads", c.heads),
                    depth("layers", c.layers),
                    width("d_ff", c.d_ff),
                ]);
                (vec![c.dropout], sizes)
            }
            Self::Mlp(c) => {
                let mut sizes: Vec<_> = c.hidden.iter().map(|&n| width("hidden", n)).collect();
                sizes.push(depth("layer count", c.hidden.len().max(1)));
                (vec![c.dropout], sizes)
            }
            Self::Lstm(c) | Self::Bigru(c) => (
                vec![c.dropout],
                vec![width("hidden", c.hidden), depth("layers", c.layers)],
            ),
            Self::Resnet9(c) => (vec![c.dropout], vec![width("width", c.width)]),
            Self::Transformer(c) => (
                vec![c.dropout],
                vec![
                    width("d_model", c.d_model),
                    width("heads", c.heads),
                    depth("layers", c.layers),
                    width("d_ff", c.d_ff),
                ],
            ),
        }
    }

    /// Builds the network for `n_in` features (D for pooled input, F rows for frames).
    pub fn build(&self, n_in: usize, n_classes: usize, device: &Device) -> Result<Net, ModelError> {
        self.validate(n_in, n_classes)?;
        Ok(match self {
            Self::Cnn1dPooled(c) => Net::Cnn1dPooled(c.init(n_in, n_classes, device)),
            Self::Cnn1dMfcc(c) => Net::Cnn1dMfcc(c.init(n_in, n_classes, device)),
            Self::CnnTm(c) => Net::CnnTm(c.init(n_in, n_classes, device)),
            Self::Mlp(c) => Net::Mlp(c.init(n_in, n_classes, device)),
            Self::Lstm(c) => Net::Lstm(c.init_lstm(n_in, n_classes, device)),
            Self::Bigru(c) => Net::Bigru(c.init_bigru(n_in, n_classes, device)),
            Self::Cnn4(c) => Net::Cnn4(c.init(n_in, n_classes, device)),
            Self::Resnet9(c) => Net::Resnet9(c.init(n_in, n_classes, device)),
            Self::Transformer(c) => Net::Transformer(c.init(n_in, n_classes, device)),
        })
    }

    /// Number of trainable parameters (plus batch-norm statistics) for this input size.
    pub fn parameter_count(&self, n_in: usize, n_classes: usize) -> Result<usize, ModelError> {
        Ok(self.build(n_in, n_classes, &Device::flex())?.num_params())
    }
}

impl std::str::FromStr for Architecture {
    type Err = ModelError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name)
    }
}

/// Draws every parameter of `module` now (see [`Net::initialise_now`]).
pub fn initialise_now(module: &impl Module) {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            param.val();
        }
    }
    module.visit(&mut Touch);
}

impl Net {
    /// Draws every parameter's initial value now. burn draws them lazily, at first use, from
    /// whatever state the backend's generator has then; drawn right after building, under the
    /// seed set for it, they depend on that seed alone.
    pub fn initialise_now(&self) {
        initialise_now(self);
    }

    /// `x`: [B, F, T] -> logits [B, classes]. Pooled models average over T.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        match self {
            Self::Cnn1dPooled(net) => net.forward(blocks::mean_over_time(x)),
            Self::Mlp(net) => net.forward(blocks::mean_over_time(x)),
            Self::Cnn1dMfcc(net) => net.forward(x),
            Self::CnnTm(net) => net.forward(x),
            Self::Lstm(net) => net.forward(x),
            Self::Bigru(net) => net.forward(x),
            Self::Cnn4(net) => net.forward(x),
            Self::Resnet9(net) => net.forward(x),
            Self::Transformer(net) => net.forward(x),
        }
    }

    /// Logits and the pooled embedding they were computed from, for networks that expose
    /// one (cnn4); an adversarial head in training reads the embedding.
    pub fn forward_with_embedding(&self, x: Tensor<3>) -> Option<(Tensor<2>, Tensor<2>)> {
        match self {
            Self::Cnn4(net) => {
                let embedding = net.embed(x);
                Some((net.classify(embedding.clone()), embedding))
            }
            _ => None,
        }
    }
}
