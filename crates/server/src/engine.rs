//! The boundary between the web layer and the ML engine.
//!
//! The server never does ML itself: it hands bytes and files to an [`Engine`] and stores what
//! comes back. Every call is synchronous; the server runs predictions on a blocking thread and
//! training/testing on its job workers, so an implementation may take as long as it needs.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

/// A model architecture the engine can train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelKind {
    /// Stable identifier, e.g. `cnn1d-mfcc`.
    pub id: String,
    /// Display name, e.g. "1-D CNN over MFCC frames".
    pub name: String,
    /// One or two sentences for the model picker.
    pub description: String,
    /// Whether several of it can be trained as one ensemble (networks can).
    #[serde(default)]
    pub ensemble: bool,
}

/// The model that ships with the software (used when no model is chosen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefaultModel {
    /// Display name in model lists (the pages add "(built-in)").
    pub name: String,
    /// A [`ModelKind::id`].
    pub kind: String,
    /// The emotions it can name, in the model's class order.
    pub labels: Vec<String>,
    /// What it was trained on and how it scored, within and across corpora: shown next to
    /// the model so that a user knows when not to trust it.
    pub about: String,
}

/// One class probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelProb {
    /// An emotion the model knows.
    pub label: String,
    /// Its probability (or share of time, in [`Timeline::speech_share`]), 0..=1.
    pub prob: f32,
}

/// The result of classifying one audio clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The most likely emotion.
    pub label: String,
    /// Probability of `label`, 0..=1.
    pub confidence: f32,
    /// Class probabilities, most likely first (top-k or all).
    pub probabilities: Vec<LabelProb>,
    /// The emotion the file name or corpus naming scheme tells, if any.
    pub true_label: Option<String>,
    /// Waveform summary for display: (min, max) per bucket, about 1000 buckets, in -1..=1.
    pub waveform: Vec<[f32; 2]>,
    /// Length of the decoded clip in seconds.
    pub duration_s: f32,
    /// The confidence is below the model's threshold: no emotion stands out.
    #[serde(default)]
    pub uncertain: bool,
    /// For a recording longer than one window: its speech, window by window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Timeline>,
}

/// The emotions of a long recording over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The classified windows of speech, earliest first; neighbouring windows may overlap.
    pub segments: Vec<TimelineSegment>,
    /// The share of the speech time each emotion won, most first.
    pub speech_share: Vec<LabelProb>,
}

/// One classified window of speech.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineSegment {
    /// Start of the window, in seconds from the start of the recording.
    pub start_s: f64,
    /// End of the window, in seconds from the start of the recording.
    pub end_s: f64,
    /// The most likely emotion in the window.
    pub label: String,
    /// Probability of `label`, 0..=1.
    pub confidence: f32,
    /// The confidence is below the model's threshold: no emotion stands out.
    #[serde(default)]
    pub uncertain: bool,
    /// The three most likely emotions.
    pub top: Vec<LabelProb>,
}

/// One window of a live stream (`GET /api/stream`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveResult {
    /// Start of the window, in seconds from the start of the stream.
    pub start_s: f64,
    /// End of the window, in seconds from the start of the stream.
    pub end_s: f64,
    /// False when the window holds no speech: no emotion is named.
    pub speech: bool,
    /// The most likely emotion; `None` when the window holds no speech.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Probability of `label`, 0..=1; `None` when the window holds no speech.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// The confidence is below the model's threshold.
    #[serde(default)]
    pub uncertain: bool,
}

/// Rolling predictions over one live stream of mono 16-bit little-endian PCM at
/// [`LIVE_SAMPLE_RATE`], as the socket delivers it.
pub trait LiveSession: Send {
    /// Adds PCM bytes (any number, split anywhere); returns the windows they complete, oldest
    /// first.
    fn push(&mut self, pcm16le: &[u8]) -> Result<Vec<LiveResult>, EngineError>;
    /// The end of the stream: the last, shorter window if it is long enough to judge.
    fn finish(&mut self) -> Result<Vec<LiveResult>, EngineError>;
}

/// The sample rate of live streams.
pub const LIVE_SAMPLE_RATE: u32 = 16_000;

/// What to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSpec {
    /// A [`ModelKind::id`] (`model_kind` in a stored job's parameters).
    #[serde(rename = "model_kind")]
    pub kind: String,
    /// The most epochs each network trains (1 or more); training may stop early.
    pub epochs: u32,
    /// Train on augmented copies of the clips too (waveform augmentation, and SpecAugment
    /// for frame models): slower epochs, better accuracy on unseen speakers. Jobs stored
    /// before this option existed trained without.
    #[serde(default)]
    pub augment: bool,
    /// Networks trained with different seeds and averaged (1 = a single model).
    #[serde(default = "one_member")]
    pub members: u32,
}

/// Serde default of member counts: a single model.
pub(crate) fn one_member() -> u32 {
    1
}

impl TrainSpec {
    /// `epochs` of `kind`, one network, no augmentation.
    pub fn new(kind: &str, epochs: u32) -> Self {
        Self {
            kind: kind.to_owned(),
            epochs,
            augment: false,
            members: 1,
        }
    }
}

/// A progress report during training.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainProgress {
    /// Epochs finished so far (0 while preparing data).
    pub epoch: u32,
    /// Epochs each network is to train.
    pub epochs: u32,
    /// Mean training loss of the last finished epoch; `None` before one has finished.
    pub train_loss: Option<f32>,
    /// Training accuracy of the last finished epoch, 0..=1; `None` before one has finished.
    pub train_acc: Option<f32>,
    /// Validation loss of the last finished epoch; `None` before one has finished, or
    /// without a validation set.
    pub val_loss: Option<f32>,
    /// Validation accuracy of the last finished epoch, 0..=1; `None` before one has
    /// finished, or without a validation set.
    pub val_acc: Option<f32>,
    /// Human-readable phase, e.g. "extracting features" or "epoch 3 of 40".
    pub phase: String,
    /// Which network of an ensemble is training (0-based) and how many there are (0 or 1
    /// for a single model): the epochs count again for each.
    #[serde(default)]
    pub member: u32,
    /// How many networks the ensemble has (0 or 1 for a single model).
    #[serde(default)]
    pub members: u32,
}

impl TrainProgress {
    /// The share of the whole run done, ensemble members included (0..=1).
    pub fn fraction(&self) -> f64 {
        if self.epochs == 0 {
            return 0.0;
        }
        let members = f64::from(self.members.max(1));
        let within = f64::from(self.epoch) / f64::from(self.epochs);
        ((f64::from(self.member) + within) / members).clamp(0.0, 1.0)
    }
}

/// Metrics of one finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// The epoch's number, from 1 (counted again for each network of an ensemble).
    pub epoch: u32,
    /// Mean training loss over the epoch.
    pub train_loss: f32,
    /// Training accuracy, 0..=1.
    pub train_acc: f32,
    /// Validation loss; `None` without a validation set.
    pub val_loss: Option<f32>,
    /// Validation accuracy, 0..=1; `None` without a validation set.
    pub val_acc: Option<f32>,
}

/// The result of a finished training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// The model bundle written inside the job's work folder; the server moves it to storage.
    pub bundle: PathBuf,
    /// Training accuracy of the epoch whose weights were kept, 0..=1.
    pub train_accuracy: f32,
    /// Validation accuracy of the kept model, 0..=1; `None` without a validation set.
    pub val_accuracy: Option<f32>,
    /// The emotions the model names, in its class order.
    pub labels: Vec<String>,
    /// Every finished epoch, in order (those of an interrupted run it resumed included).
    pub history: Vec<EpochRecord>,
    /// How the data were split, e.g. "speaker-independent 80/20".
    pub protocol: String,
    /// Clips left out because they could not be read, each "name: why".
    #[serde(default)]
    pub skipped: Vec<String>,
    /// The epoch whose weights were kept (best validation accuracy); `None` for an ensemble
    /// (each network keeps its own) or a model without epochs.
    #[serde(default)]
    pub kept_epoch: Option<u32>,
    /// Epochs trained (of the last network): fewer than asked when training stopped early.
    #[serde(default)]
    pub epochs_run: u32,
}

/// Per-class precision, recall and F1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The emotion.
    pub label: String,
    /// Share of the clips predicted as `label` that truly are it, 0..=1 (0 when none is
    /// predicted as it).
    pub precision: f32,
    /// Share of the clips of `label` predicted as it, 0..=1 (0 when the test set has none).
    pub recall: f32,
    /// Harmonic mean of precision and recall, 0..=1.
    pub f1: f32,
    /// Test clips whose true emotion is `label`.
    pub support: u32,
}

/// The result of evaluating a model on a test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestOutcome {
    /// Weighted accuracy (share of clips classified right).
    pub accuracy: f32,
    /// Unweighted accuracy (mean per-class recall).
    pub unweighted_accuracy: f32,
    /// Clips classified and scored.
    pub samples: u32,
    /// The emotions scored; `per_class` and `confusion` follow this order.
    pub labels: Vec<String>,
    /// Metrics of each emotion.
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]` counts, rows and columns in `labels` order.
    pub confusion: Vec<Vec<u32>>,
    /// A picture of the confusion matrix (standalone SVG document), if the engine draws one.
    pub confusion_svg: Option<String>,
    /// Clips left out because they could not be read, each "name: why".
    #[serde(default)]
    pub skipped: Vec<String>,
    /// What to keep in mind reading the score, e.g. that the model was trained on this corpus.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Why an engine call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The user's input is at fault (corrupt audio, empty dataset, unknown model kind...).
    /// The message is shown to the user: name the file and the problem, not server paths.
    #[error("{0}")]
    Input(String),
    /// The audio holds no speech (silence, or too little sound), so no emotion is named.
    #[error("{0}: no speech heard")]
    NoSpeech(String),
    /// The cancel flag was seen.
    #[error("cancelled")]
    Cancelled,
    /// Anything else; logged, and the user sees a generic message.
    #[error("{0}")]
    Internal(String),
}

/// The ML engine as the web layer sees it.
pub trait Engine: Send + Sync + 'static {
    /// Architectures offered on the Training page.
    fn model_kinds(&self) -> Vec<ModelKind>;

    /// The shipped model used when `predict`/`test` get `model: None`; `None` if there is none.
    fn default_model(&self) -> Option<DefaultModel>;

    /// Classify one clip. `model` is a bundle file, or `None` for the shipped default.
    /// `file_name` is the user's name for the clip (for the true label); it is not a path.
    fn predict(
        &self,
        model: Option<&Path>,
        audio: &[u8],
        file_name: &str,
    ) -> Result<Prediction, EngineError>;

    /// Classify clips known to come from one speaker, (audio, file name) each; the answers
    /// keep their order. A model normalised per speaker classifies them together, which is
    /// more accurate than each clip alone; by default each is classified alone.
    fn predict_one_speaker(
        &self,
        model: Option<&Path>,
        clips: &[(&[u8], &str)],
    ) -> Vec<Result<Prediction, EngineError>> {
        clips
            .iter()
            .map(|(audio, name)| self.predict(model, audio, name))
            .collect()
    }

    /// Train on a dataset ZIP (one folder per emotion, or a known corpus naming scheme).
    /// Scratch files go in `work_dir`; the bundle must be written there too.
    /// Check `cancel` between batches and return [`EngineError::Cancelled`] when it is set.
    fn train(
        &self,
        dataset_zip: &Path,
        spec: &TrainSpec,
        work_dir: &Path,
        progress: &mut (dyn FnMut(TrainProgress) + Send),
        cancel: &AtomicBool,
    ) -> Result<TrainOutcome, EngineError>;

    /// A live session with a model (`None` = shipped default): windows of `window_s` every
    /// `hop_s` seconds over samples at [`LIVE_SAMPLE_RATE`].
    fn live(
        &self,
        model: Option<&Path>,
        window_s: f64,
        hop_s: f64,
    ) -> Result<Box<dyn LiveSession>, EngineError>;

    /// Evaluate a model (`None` = shipped default) on a labelled dataset ZIP.
    /// `progress` gets the finished fraction (0..=1) and a phase text.
    fn test(
        &self,
        model: Option<&Path>,
        dataset_zip: &Path,
        work_dir: &Path,
        progress: &mut dyn FnMut(f32, &str),
        cancel: &AtomicBool,
    ) -> Result<TestOutcome, EngineError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ensemble's progress runs once from 0 to 1 over all its networks, not once each.
    #[test]
    fn ensemble_progress_counts_every_network() {
        let at = |member, epoch| TrainProgress {
            epoch,
            epochs: 10,
            member,
            members: 4,
            ..TrainProgress::default()
        };
        assert_eq!(at(0, 5).fraction(), 0.125);
        assert_eq!(at(1, 0).fraction(), 0.25);
        assert_eq!(at(3, 10).fraction(), 1.0);
        let single = TrainProgress {
            epoch: 3,
            epochs: 4,
            ..TrainProgress::default()
        };
        assert_eq!(single.fraction(), 0.75);
        assert_eq!(TrainProgress::default().fraction(), 0.0);
    }
}
