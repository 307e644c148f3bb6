//! From audio to emotions with a trained bundle: decode at the model's rate, extract exactly the
//! features the bundle was trained on, run the model. The CLI's `predict` and `bench` and the
//! web server's engine all classify through [`Classifier`]; `eval --model` scores a whole
//! dataset's cached features with the bundle's `Predictor` instead.
//!
//! Long recordings go through [`Classifier::timeline`] (`timeline`): voice-activity
//! detection finds the speech, long stretches are cut into overlapping windows, and the windows
//! are classified together, decoding files as a stream.
//! Live audio goes through [`LiveStream`]: a rolling window every hop, as the samples arrive.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ser_audio::vad::{self, StreamWindow, StreamWindower, VadConfig};
use ser_audio::{Audio, AudioError, LoadOptions};
use ser_features::{Extractor, FeatureConfig, SpeakerMeans, UtteranceNorm};
use ser_model::input::FeatureView;
use ser_model::{Bundle, BundleError, Predictor};

mod timeline;

pub use timeline::{Recording, TimedPrediction, TimelineOptions, speech_share};

/// Why a clip could not be classified. Audio errors name the file already.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// The bundle could not be read, or its parts (feature settings included) disagree.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The bundle was built from feature matrices and lacks the settings to extract them
    /// from audio.
    #[error("{path}: the bundle has no feature settings, so it cannot classify audio")]
    NoFeatures {
        /// The bundle's file.
        path: PathBuf,
    },
    /// The audio could not be decoded, or is longer than the limit.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// Feature extraction failed, or the model refused the features.
    #[error("{name}: {message}")]
    Features {
        /// The clip, window or stream position at fault.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The voice-activity detector found no speech (long enough) to classify.
    #[error("{name}: no speech found")]
    NoSpeech {
        /// The clip or recording.
        name: String,
    },
}

/// One label with its probability.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scored {
    /// The emotion, as the bundle names it.
    pub label: String,
    /// Its probability, 0 to 1 (in [`speech_share`], its share of the speech time).
    pub prob: f32,
}

/// The model's answer for one clip or segment: every label, most likely first.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClipPrediction {
    /// Every label of the model with its probability, most likely first; the probabilities
    /// sum to 1.
    pub ranked: Vec<Scored>,
    /// The top probability is below the classifier's threshold: no emotion stands out.
    #[serde(default)]
    pub uncertain: bool,
}

/// Below this top probability an answer is marked uncertain, for bundles that do not set
/// their own threshold (`uncertain_below`).
pub const DEFAULT_UNCERTAIN_BELOW: f32 = 0.4;

impl ClipPrediction {
    fn new(labels: &[String], probs: &[f32], uncertain_below: f32) -> Self {
        let mut ranked: Vec<Scored> = labels
            .iter()
            .zip(probs)
            .map(|(label, &prob)| Scored {
                label: label.clone(),
                prob,
            })
            .collect();
        ranked.sort_by(|a, b| b.prob.total_cmp(&a.prob));
        let uncertain = ranked.first().is_some_and(|top| top.prob < uncertain_below);
        Self { ranked, uncertain }
    }

    /// The most likely label.
    pub fn top(&self) -> &Scored {
        &self.ranked[0]
    }
}

/// A loaded model plus its feature extraction. Shareable between threads: extractors are
/// pooled so concurrent calls do not rebuild FFT plans and filter banks.
pub struct Classifier {
    predictor: Predictor,
    features: FeatureConfig,
    extractors: Mutex<Vec<Extractor>>,
    uncertain_below: f32,
    max_duration_s: Option<f64>,
}

impl Classifier {
    /// A classifier for an in-memory bundle; `path` only names it in errors.
    pub fn new(bundle: &Bundle, path: &Path) -> Result<Self, InferenceError> {
        let features = bundle
            .meta
            .features
            .clone()
            .ok_or_else(|| InferenceError::NoFeatures {
                path: path.to_path_buf(),
            })?;
        let predictor = Predictor::from_bundle(bundle, path)?;
        let extractor = Extractor::new(&features).map_err(|e| {
            InferenceError::Bundle(BundleError::Inconsistent {
                path: path.to_path_buf(),
                why: format!("feature settings: {e}"),
            })
        })?;
        Ok(Self {
            predictor,
            features,
            extractors: Mutex::new(vec![extractor]),
            uncertain_below: bundle
                .meta
                .uncertain_below
                .unwrap_or(DEFAULT_UNCERTAIN_BELOW),
            max_duration_s: Some(ser_audio::DEFAULT_MAX_DURATION_S),
        })
    }

    /// Refuses audio longer than `seconds` (`None`: no limit; default
    /// [`ser_audio::DEFAULT_MAX_DURATION_S`]). Timelines stream, so a longer limit costs
    /// time, not memory; a clip classified whole is held in memory (4 bytes per sample).
    pub fn with_max_duration(mut self, seconds: Option<f64>) -> Self {
        self.max_duration_s = seconds;
        self
    }

    /// Marks answers whose top probability is below `threshold` as uncertain (instead of
    /// the bundle's threshold).
    pub fn with_uncertain_below(mut self, threshold: f32) -> Self {
        self.uncertain_below = threshold;
        self
    }

    /// Loads and checks a `.ser` bundle.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, InferenceError> {
        let path = path.as_ref();
        Self::new(&Bundle::load(path)?, path)
    }

    /// The model's labels, in the order of its outputs.
    pub fn labels(&self) -> &[String] {
        self.predictor.labels()
    }

    /// The bundle's header: model, features, labels, provenance and metrics.
    pub fn bundle_meta(&self) -> &ser_model::BundleMeta {
        self.predictor.meta()
    }

    /// Whether the model normalises each clip by its speaker's means (`+spk` features), so
    /// that clips of one speaker are best classified together
    /// ([`Classifier::classify_together`]).
    pub fn normalises_by_speaker(&self) -> bool {
        self.features.utterance_norm == UtteranceNorm::Speaker
    }

    /// Decoding options that deliver samples at the model's rate.
    fn load_options(&self) -> LoadOptions {
        LoadOptions {
            target_rate: Some(self.features.sample_rate),
            max_duration_s: self.max_duration_s,
        }
    }

    /// The rate (Hz) the model's features are extracted at; audio is decoded to it.
    pub fn sample_rate(&self) -> u32 {
        self.features.sample_rate
    }

    /// Decodes an audio file to mono samples at the model's rate.
    pub fn decode_file(&self, path: &Path) -> Result<Audio, InferenceError> {
        Ok(ser_audio::load(path, &self.load_options())?)
    }

    /// Decodes an uploaded file's bytes (`name` tells the format and names errors).
    pub fn decode_bytes(&self, bytes: &[u8], name: &str) -> Result<Audio, InferenceError> {
        Ok(ser_audio::load_bytes(bytes, name, &self.load_options())?)
    }

    /// Decodes and classifies one audio file.
    pub fn classify_file(&self, path: &Path) -> Result<ClipPrediction, InferenceError> {
        let audio = self.decode_file(path)?;
        self.classify_samples(&audio.samples, &path.display().to_string())
    }

    /// Classifies mono samples at [`Classifier::sample_rate`]; `name` labels errors. A clip
    /// in which the voice-activity detector finds nothing (silence) is
    /// [`InferenceError::NoSpeech`], not an emotion.
    pub fn classify_samples(
        &self,
        samples: &[f32],
        name: &str,
    ) -> Result<ClipPrediction, InferenceError> {
        if vad::detect_speech(samples, self.sample_rate(), &VadConfig::default()).is_empty() {
            return Err(InferenceError::NoSpeech {
                name: name.to_string(),
            });
        }
        self.classify_speech(samples, name)
    }

    /// Classifies samples already known to hold speech.
    fn classify_speech(
        &self,
        samples: &[f32],
        name: &str,
    ) -> Result<ClipPrediction, InferenceError> {
        let mut features = self.extract(samples, name)?;
        // A clip alone is all that is known of its speaker.
        self.features.normalise_alone(&mut features);
        self.classify_features(&features, name)
    }

    fn classify_features(
        &self,
        features: &ser_features::FeatureMatrix,
        name: &str,
    ) -> Result<ClipPrediction, InferenceError> {
        let probs = FeatureView::new(features.rows, features.cols, &features.data)
            .and_then(|view| self.predictor.predict(view))
            .map_err(|e| InferenceError::Features {
                name: name.to_string(),
                message: e.to_string(),
            })?;
        Ok(ClipPrediction::new(
            self.labels(),
            &probs,
            self.uncertain_below,
        ))
    }

    /// Decodes a file and extracts its features, to be classified with the other clips of
    /// its speaker by [`Classifier::classify_together`]. A file without speech is
    /// [`InferenceError::NoSpeech`].
    pub fn clip_features(&self, path: &Path) -> Result<ClipFeatures, InferenceError> {
        let audio = self.decode_file(path)?;
        self.speech_features(&audio.samples, &path.display().to_string())
    }

    /// The features of decoded samples (at [`Classifier::sample_rate`]) for
    /// [`Classifier::classify_together`]; samples without speech are
    /// [`InferenceError::NoSpeech`].
    pub fn speech_features(
        &self,
        samples: &[f32],
        name: &str,
    ) -> Result<ClipFeatures, InferenceError> {
        let name = name.to_string();
        if vad::detect_speech(samples, self.sample_rate(), &VadConfig::default()).is_empty() {
            return Err(InferenceError::NoSpeech { name });
        }
        let features = self.extract(samples, &name)?;
        Ok(ClipFeatures { name, features })
    }

    /// Classifies clips known to come from one speaker (one person's recordings, the windows
    /// of one recording). For per-speaker feature sets (`+spk`) each clip is normalised by the
    /// band means of all of them, as a speaker's clips are in training and in `ser eval`:
    /// more accurate than each clip alone (the shipped model: 69.2 % against 65.9 % UA on
    /// RAVDESS, 38.7 % against 29.6 % on ASED, which it never heard, docs/models.md). Other
    /// models classify each clip as if it came alone. The answers keep the clips' order.
    pub fn classify_together(
        &self,
        clips: Vec<ClipFeatures>,
    ) -> Vec<Result<ClipPrediction, InferenceError>> {
        let mut speaker = SpeakerMeans::default();
        clips.iter().for_each(|clip| self.hear(&mut speaker, clip));
        clips
            .into_iter()
            .map(|clip| self.classify_as(&speaker, clip))
            .collect()
    }

    /// Adds a clip to the band means of its speaker (for per-speaker feature sets; nothing
    /// for others).
    fn hear(&self, speaker: &mut SpeakerMeans, clip: &ClipFeatures) {
        if self.normalises_by_speaker() {
            speaker.add(&clip.features, &self.features.frame_levels(&clip.features));
        }
    }

    /// Classifies a clip of the speaker whose clips [`Classifier::hear`] took in (normalised
    /// by their means, for per-speaker feature sets).
    fn classify_as(
        &self,
        speaker: &SpeakerMeans,
        mut clip: ClipFeatures,
    ) -> Result<ClipPrediction, InferenceError> {
        if self.normalises_by_speaker() {
            speaker.subtract(&mut clip.features);
        }
        self.classify_features(&clip.features, &clip.name)
    }

    /// The bundle's features of `samples` (for `+spk` sets, before the speaker's means are
    /// removed).
    fn extract(
        &self,
        samples: &[f32],
        name: &str,
    ) -> Result<ser_features::FeatureMatrix, InferenceError> {
        let pooled = self.extractors.lock().ok().and_then(|mut pool| pool.pop());
        let mut extractor = match pooled {
            Some(extractor) => extractor,
            None => {
                Extractor::new(&self.features).expect("validated when the classifier was built")
            }
        };
        let result = extractor.extract(samples);
        if let Ok(mut pool) = self.extractors.lock() {
            pool.push(extractor);
        }
        result.map_err(|e| InferenceError::Features {
            name: name.to_string(),
            message: e.to_string(),
        })
    }
}

/// One clip's features before its speaker's means are removed (see
/// [`Classifier::classify_together`]).
pub struct ClipFeatures {
    name: String,
    features: ser_features::FeatureMatrix,
}

/// One window of a live stream: its emotion, or `None` when it holds no speech.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LiveWindow {
    /// Time of the window's first sample, in seconds since the stream began.
    pub start_s: f64,
    /// Time just after its last sample, in seconds since the stream began.
    pub end_s: f64,
    /// The window's emotions; `None` when the voice-activity detector finds no speech in it.
    pub prediction: Option<ClipPrediction>,
}

/// Rolling predictions over live audio: push sample chunks of any size (mono, at the
/// classifier's rate) and get a window every hop. For per-speaker features the stream is one
/// speaker: each window is normalised by the means of all the speech heard so far. `C` holds
/// the classifier: a reference, or an `Arc` for a stream that outlives its caller.
pub struct LiveStream<C: Deref<Target = Classifier>> {
    classifier: C,
    windower: StreamWindower,
    heard: SpeakerMeans,
    /// Windows shorter than this at the end of a stream are not classified.
    min_window_s: f64,
    /// How a window is judged to hold speech (each window on its own).
    vad: VadConfig,
}

impl<C: Deref<Target = Classifier>> LiveStream<C> {
    /// A stream classified in windows of `window_s` seconds, one every `hop_s` seconds
    /// (each at least one sample), with the timeline's voice-activity detector (Silero).
    pub fn new(classifier: C, window_s: f64, hop_s: f64) -> Self {
        let timeline = TimelineOptions::default();
        Self {
            windower: StreamWindower::new(classifier.sample_rate(), window_s, hop_s),
            classifier,
            heard: SpeakerMeans::default(),
            min_window_s: timeline.min_segment_s,
            vad: timeline.vad,
        }
    }

    /// The stream with another voice-activity detector (or its settings).
    pub fn with_vad(mut self, vad: VadConfig) -> Self {
        self.vad = vad;
        self
    }

    /// Adds samples; returns the windows they complete, oldest first.
    pub fn push(&mut self, chunk: &[f32]) -> Result<Vec<LiveWindow>, InferenceError> {
        let windows = self.windower.push(chunk);
        windows.iter().map(|w| self.classify(w)).collect()
    }

    /// The end of the stream: the last, shorter window if it is long enough to judge.
    pub fn finish(&mut self) -> Result<Option<LiveWindow>, InferenceError> {
        let rate = f64::from(self.classifier.sample_rate());
        match self.windower.flush() {
            Some(rest) if rest.samples.len() as f64 / rate >= self.min_window_s => {
                self.classify(&rest).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn classify(&mut self, window: &StreamWindow) -> Result<LiveWindow, InferenceError> {
        let classifier = &*self.classifier;
        let rate = classifier.sample_rate();
        let end_s = window.start_s + window.samples.len() as f64 / f64::from(rate);
        let name = format!("live audio at {:.2} s", window.start_s);
        let speech = !vad::detect_speech(&window.samples, rate, &self.vad).is_empty();
        let prediction = if speech {
            let features = classifier.extract(&window.samples, &name)?;
            let clip = ClipFeatures { name, features };
            // The stream is one speaker: all the speech heard so far sets the means.
            classifier.hear(&mut self.heard, &clip);
            Some(classifier.classify_as(&self.heard, clip)?)
        } else {
            None
        };
        Ok(LiveWindow {
            start_s: window.start_s,
            end_s,
            prediction,
        })
    }
}
