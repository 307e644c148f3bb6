//! Options shared by the commands that train (`train`, `eval --arch`, `compare`) and the one
//! path they all take from a dataset folder to featurised clips.

use std::path::PathBuf;

use ser_audio::augment::AugmentSpec;
use ser_corpus::{CacheMode, Dataset, FeatureCache, OpenOptions};
use ser_features::FeatureConfig;
use ser_model::bundle::ModelSpec;
use ser_train::fit::{Adversary, FitConfig, FreqWarp, NuisanceKind, SpecAugment};
use ser_train::pipeline::{self, Augmentation, Featurised};

use crate::output;

/// Training settings (networks; classical models ignore the epoch-based ones).
#[derive(clap::Args, Clone)]
pub struct FitArgs {
    /// Feature set (default: the one that suits the model's input).
    #[arg(long)]
    pub features: Option<String>,
    /// Training epochs.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Seed for splits, initialisation, shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Folds (and ensemble members) trained at once, each on its share of the threads
    /// (0: one per thread; 1: one after another). The figures are the same either way.
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Peak learning rate (AdamW, cosine schedule).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Crop length in frames for frame models (100 frames = 1 s; most RAVDESS speech fits
    /// in 3 s, and on it 300-frame crops beat 110-frame ones by 9 points of UA for cnn4).
    #[arg(long, default_value_t = FitConfig::DEFAULT_FRAMES)]
    pub frames: usize,
    /// Train this many networks with seeds seed, seed+1, ... and average their
    /// probabilities (an ensemble in one bundle; prediction costs grow with it).
    #[arg(long, default_value_t = 1)]
    pub members: usize,
    /// Stop after this many epochs without a better validation UA (0 = never).
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    /// SpecAugment masks on training batches (frame models).
    #[arg(long)]
    pub spec_augment: bool,
    /// Warp each training crop's frequency axis by a random factor within 1 ± this (e.g.
    /// 0.1), as another speaker's vocal tract would (log-mel frame features only).
    #[arg(long)]
    pub freq_warp: Option<f32>,
    /// Validate and keep a moving average of the weights over epochs: each epoch the
    /// average keeps this share of itself (e.g. 0.8) and takes the rest from the new weights.
    #[arg(long)]
    pub weight_average: Option<f32>,
    /// Keep the final epoch's weights, not the best-validating ones (so no early stopping;
    /// --patience is ignored): with few validation speakers the best epoch can be a spike
    /// early in the schedule.
    #[arg(long)]
    pub keep_last: bool,
    /// Mixup with this Beta(alpha, alpha) parameter.
    #[arg(long)]
    pub mixup: Option<f32>,
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f32,
    /// An adversarial head that the network learns to defeat, so that the clip embedding
    /// carries no trace of this nuisance (cnn4): the sentence spoken (told apart within
    /// each corpus and emotion), the speaker, or the corpus.
    #[arg(long, value_parser = NuisanceKind::NAMES)]
    pub adversary: Option<String>,
    /// The strongest gradient reversal of --adversary (reached as training goes on).
    #[arg(long, default_value_t = 0.3, requires = "adversary")]
    pub adversary_weight: f32,
    /// Weight the loss by inverse class frequency.
    #[arg(long)]
    pub class_balanced: bool,
    /// Augmented copies of each training clip (noise, shift, stretch, pitch, gain).
    /// Validation and test clips are never augmented.
    #[arg(long, default_value_t = 0)]
    pub augment: usize,
    /// The augmented copies also go through simulated rooms and devices: reverberation,
    /// microphone responses, telephone lines, clipping and coarse converters (with --augment).
    #[arg(long, requires = "augment")]
    pub channel_augment: bool,
    /// With per-speaker normalised features (`+spk`): training also sees each clip normalised
    /// by its own mean, as a prediction of one file is, so the model learns that case too.
    #[arg(long)]
    pub train_alone: bool,
    /// Change one of the model's hyper-parameters, KEY=VALUE (repeatable), e.g.
    /// `--set kernel=5 --set channels=[96,96,192,192] --set pooling=mean-std`. The keys are
    /// the fields of the model's configuration as bundles and reports record it.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Recompute features instead of using the feature cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl FitArgs {
    /// The model `name` with the `--set` hyper-parameters applied.
    pub fn model(&self, name: &str) -> anyhow::Result<ModelSpec> {
        let mut model = ModelSpec::from_name(name)?;
        for setting in &self.settings {
            let (key, value) = setting
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--set {setting}: expected KEY=VALUE"))?;
            model = model.with_setting(key.trim(), value.trim())?;
        }
        Ok(model)
    }

    /// The feature set asked for, or the model's default.
    pub fn feature_config(&self, model: &ModelSpec) -> anyhow::Result<FeatureConfig> {
        let name = self
            .features
            .as_deref()
            .unwrap_or_else(|| model.default_features());
        Ok(FeatureConfig::named(name)?)
    }

    /// The training settings for `model` on `features`; refuses a frequency warp on features
    /// that are not mel bands.
    pub fn fit_config(
        &self,
        model: ModelSpec,
        features: &FeatureConfig,
    ) -> anyhow::Result<FitConfig> {
        let freq_warp = match self.freq_warp {
            None => None,
            Some(max) => Some(FreqWarp::on_mel_bands(max, features).ok_or_else(|| {
                anyhow::anyhow!(
                    "--freq-warp needs log-mel frame features; {} has no mel bands",
                    features.name
                )
            })?),
        };
        let mut fit = FitConfig::new(model);
        fit.epochs = self.epochs;
        fit.seed = self.seed;
        fit.batch_size = self.batch_size;
        fit.lr = self.lr;
        fit.frames = self.frames;
        fit.patience = (self.patience > 0 && !self.keep_last).then_some(self.patience);
        fit.spec_augment = self.spec_augment.then(SpecAugment::default);
        fit.freq_warp = freq_warp;
        fit.weight_average = self.weight_average;
        fit.keep_last = self.keep_last;
        fit.mixup = self.mixup;
        fit.label_smoothing = self.label_smoothing;
        fit.adversary = match &self.adversary {
            Some(target) => Some(Adversary {
                target: target.parse().map_err(anyhow::Error::msg)?,
                weight: self.adversary_weight,
            }),
            None => None,
        };
        fit.class_balanced = self.class_balanced;
        fit.members = self.members;
        Ok(fit)
    }

    fn augmentation(&self) -> Option<Augmentation> {
        (self.augment > 0).then(|| Augmentation {
            spec: if self.channel_augment {
                AugmentSpec::with_channels()
            } else {
                AugmentSpec::default()
            },
            copies: self.augment,
            seed: self.seed,
        })
    }

    fn cache(&self) -> FeatureCache {
        let mode = if self.no_cache {
            CacheMode::Off
        } else {
            CacheMode::ReadWrite
        };
        FeatureCache::new(FeatureCache::default_dir(), mode)
    }
}

/// Where the labelled clips come from: one or several corpora.
#[derive(clap::Args, Clone, Default)]
pub struct DataArgs {
    /// Dataset: a folder (one sub-folder per emotion, or a known corpus naming scheme), a ZIP
    /// of one, or a manifest CSV. Give it several times to use several corpora at once:
    /// speakers are then told apart by corpus (`ravdess/1`, `ased/1`), and reports score
    /// each corpus on its own too.
    #[arg(long = "data", id = "data", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Count one emotion as another, FROM=TO (repeatable), e.g. `--merge calm=neutral` to
    /// score RAVDESS's calm as the neutral of corpora that have no calm. With `eval --model`
    /// it applies to the model's answers too.
    #[arg(long = "merge", value_name = "FROM=TO")]
    pub merges: Vec<String>,
}

impl DataArgs {
    /// The `--merge` pairs, checked.
    pub fn merge_pairs(&self) -> anyhow::Result<Vec<(String, String)>> {
        self.merges
            .iter()
            .map(|pair| {
                let (from, to) = pair
                    .split_once('=')
                    .filter(|(f, t)| !f.trim().is_empty() && !t.trim().is_empty())
                    .ok_or_else(|| anyhow::anyhow!("--merge {pair}: expected FROM=TO"))?;
                Ok((from.trim().to_string(), to.trim().to_string()))
            })
            .collect()
    }

    /// Opens every `--data` (merged into one dataset of several corpora when there are
    /// several), applies `--merge`, and prints the summary.
    pub fn open(&self) -> anyhow::Result<Dataset> {
        anyhow::ensure!(!self.paths.is_empty(), "--data is required");
        let merges = self.merge_pairs()?;
        let parts = self
            .paths
            .iter()
            .map(|path| ser_corpus::open_dataset(path, &OpenOptions::default()))
            .collect::<Result<Vec<_>, _>>()?;
        let dataset = ser_corpus::merge(parts).rename_labels(&merges);
        eprintln!("{}", dataset.summary());
        Ok(dataset)
    }
}

/// Says which emotions a cross-corpus protocol scores (those every corpus has).
pub fn note_protocol(dataset: &Dataset, protocol: &ser_corpus::Protocol) {
    if !protocol.is_corpus_out() {
        return;
    }
    let shared = dataset.shared_labels();
    let other = dataset
        .clips
        .iter()
        .filter(|c| !shared.contains(&c.emotion))
        .count();
    eprintln!(
        "corpus-out: training and scoring the emotions every corpus has ({}); {other} clips of \
         other emotions take no part",
        shared.join(", ")
    );
}
/// Decodes and featurises every clip (through the cache) with a progress bar; prints the
/// clips that failed.
pub fn featurise(
    dataset: &Dataset,
    features: &FeatureConfig,
    args: &FitArgs,
) -> anyhow::Result<Featurised> {
    if args.train_alone && features.utterance_norm != ser_features::UtteranceNorm::Speaker {
        anyhow::bail!(
            "--train-alone needs per-speaker normalised features (a +spk set), not {}",
            features.name
        );
    }
    let bar = output::progress_bar(dataset.clips.len() as u64, "featurising");
    let mut featurised = pipeline::featurise(
        dataset,
        features,
        &args.cache(),
        args.augmentation().as_ref(),
        &|| bar.inc(1),
        None,
    )?;
    bar.finish_and_clear();
    featurised.train_alone = args.train_alone;
    for (path, why) in &featurised.failures {
        eprintln!("skipped {}: {why}", path.display());
    }
    Ok(featurised)
}
