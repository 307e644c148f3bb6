//! The shipped model's training recipe, named once. docs/models.md gives it as `ser train`
//! options (a test keeps the two equal) and the web Training page trains its `cnn4` with it,
//! so a model trained on the web is made the way the shipped one was.

use ser_audio::augment::AugmentSpec;
use ser_features::{FeatureConfig, FeatureError};
use ser_model::{ModelError, ModelSpec};

use crate::fit::{FitConfig, FreqWarp, SpecAugment};
use crate::pipeline::Augmentation;

/// A network, its features and how it is trained.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
    /// Architecture name, as `--arch` takes it.
    pub architecture: &'static str,
    /// Hyper-parameters changed from the architecture's defaults (`--set KEY=VALUE`).
    pub settings: &'static [(&'static str, &'static str)],
    /// Feature set name, as `--features` takes it.
    pub features: &'static str,
    /// Crop length in frames.
    pub frames: usize,
    /// Number of training epochs; with `keep_last`, all of them run.
    pub epochs: usize,
    /// Waveform-augmented copies of each training clip.
    pub augmented_copies: usize,
    /// The copies also pass through simulated rooms and devices.
    pub channel_augment: bool,
    /// Mask feature rows and frames of each training crop (default [`SpecAugment`]).
    pub spec_augment: bool,
    /// Largest frequency warp of a training crop (log-mel bands).
    pub freq_warp: f32,
    /// Per-speaker features: also train on each clip normalised alone.
    pub train_alone: bool,
    /// Keep the last epoch instead of the best on validation.
    pub keep_last: bool,
    /// Share of each target moved evenly to the other classes.
    pub label_smoothing: f32,
}

/// The recipe of `models/default.ser` (docs/models.md: 69.0 % UA on RAVDESS, 94.1 % on ASED,
/// speaker-mod:5, the speaker's clips known; label smoothing keeps its confidence sane on
/// corpora it never heard).
pub const SHIPPED: Recipe = Recipe {
    architecture: "cnn4",
    settings: &[("pooling", "mean-std")],
    features: "logmel64-frames+spk",
    frames: 300,
    epochs: 100,
    augmented_copies: 2,
    channel_augment: true,
    spec_augment: true,
    freq_warp: 0.1,
    train_alone: true,
    keep_last: true,
    label_smoothing: 0.1,
};

impl Recipe {
    /// The architecture with the recipe's hyper-parameters.
    pub fn model(&self) -> Result<ModelSpec, ModelError> {
        self.settings
            .iter()
            .try_fold(ModelSpec::from_name(self.architecture)?, |model, (k, v)| {
                model.with_setting(k, v)
            })
    }

    /// Looks up the feature set the recipe names.
    pub fn feature_config(&self) -> Result<FeatureConfig, FeatureError> {
        FeatureConfig::named(self.features)
    }

    /// The augmented copies of the training clips, drawn from `seed`.
    pub fn augmentation(&self, seed: u64) -> Augmentation {
        Augmentation {
            spec: if self.channel_augment {
                AugmentSpec::with_channels()
            } else {
                AugmentSpec::default()
            },
            copies: self.augmented_copies,
            seed,
        }
    }

    /// Training settings for `model` on `features` (the recipe's own, from [`Recipe::model`]
    /// and [`Recipe::feature_config`]); the caller sets seeds, members and checkpoints.
    pub fn fit_config(&self, model: ModelSpec, features: &FeatureConfig) -> FitConfig {
        let mut fit = FitConfig::new(model);
        fit.frames = self.frames;
        fit.epochs = self.epochs;
        fit.spec_augment = self.spec_augment.then(SpecAugment::default);
        fit.freq_warp = FreqWarp::on_mel_bands(self.freq_warp, features);
        fit.keep_last = self.keep_last;
        fit.label_smoothing = self.label_smoothing;
        if self.keep_last {
            fit.patience = None;
        }
        fit
    }

    /// The recipe as `ser train` / `ser eval` options.
    pub fn command_line(&self) -> String {
        let mut options = vec![format!("--arch {}", self.architecture)];
        options.extend(self.settings.iter().map(|(k, v)| format!("--set {k}={v}")));
        options.push(format!("--features {}", self.features));
        options.push(format!("--frames {}", self.frames));
        if self.augmented_copies > 0 {
            options.push(format!("--augment {}", self.augmented_copies));
        }
        let flags = [
            (self.channel_augment, "--channel-augment"),
            (self.train_alone, "--train-alone"),
        ];
        options.extend(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, f)| f.to_string()),
        );
        if self.freq_warp > 0.0 {
            options.push(format!("--freq-warp {}", self.freq_warp));
        }
        if self.spec_augment {
            options.push("--spec-augment".into());
        }
        options.push(format!("--epochs {}", self.epochs));
        if self.keep_last {
            options.push("--keep-last".into());
        }
        if self.label_smoothing > 0.0 {
            options.push(format!("--label-smoothing {}", self.label_smoothing));
        }
        options.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/models.md's "Made with" block gives the shipped recipe as options; it must say
    /// what the library (and so the web Training page) does.
    #[test]
    fn the_docs_give_the_shipped_recipe() {
        let docs = include_str!("../../../docs/models.md");
        let line = format!("S=\"{}\"", SHIPPED.command_line());
        assert!(docs.contains(&line), "docs/models.md lacks {line}");
    }

    #[test]
    fn the_shipped_recipe_builds_what_it_names() {
        let model = SHIPPED.model().unwrap();
        assert_eq!(model.name(), "cnn4");
        let features = SHIPPED.feature_config().unwrap();
        let fit = SHIPPED.fit_config(model, &features);
        assert!(fit.freq_warp.is_some(), "log-mel bands take the warp");
        assert!(fit.keep_last && fit.patience.is_none());
        assert_eq!((fit.frames, fit.epochs), (300, 100));
        assert_eq!(fit.label_smoothing, 0.1);
        assert_eq!(SHIPPED.augmentation(7).copies, 2);
    }
}
