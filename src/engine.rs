//! The real ML engine behind `ser serve`: the web layer's [`Engine`] over the same library
//! calls as the CLI (`predict`, `train`, `eval --model`), so a model trained in the browser is
//! fed exactly the features it was trained on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ser_audio::{Audio, Pcm16Decoder};
use ser_corpus::{CacheMode, Dataset, FeatureCache, OpenOptions, SplitOptions, ZipLimits};
use ser_features::FeatureConfig;
use ser_infer::{
    Classifier, InferenceError, LiveStream, LiveWindow, Recording, TimelineOptions, speech_share,
};
use ser_model::Bundle;
use ser_model::bundle::ModelSpec;
use ser_model::catalogue::CATALOGUE;
use ser_server::{
    ClassMetrics, DefaultModel, Engine, EngineError, EpochRecord, LIVE_SAMPLE_RATE, LabelProb,
    LiveResult, LiveSession, ModelKind, Prediction, TestOutcome, Timeline, TimelineSegment,
    TrainOutcome, TrainProgress, TrainSpec,
};
use ser_train::fit::{EpochReport, FitConfig, FreqWarp, SpecAugment};
use ser_train::pipeline::{self, Augmentation, Featurised, PipelineError, TrainRun};
use ser_train::recipe::SHIPPED;

use crate::default_model;

/// Buckets of the waveform summary sent with each prediction.
const WAVEFORM_BUCKETS: usize = 1000;
/// Trained models kept loaded; the cache is emptied when it would grow past this.
const MAX_CACHED_MODELS: usize = 32;

/// The engine of `ser serve`.
pub struct MlEngine {
    default: Arc<Classifier>,
    default_info: DefaultModel,
    /// Classifiers of trained bundles, by bundle path.
    loaded: Mutex<HashMap<PathBuf, Arc<Classifier>>>,
    /// How long uploads are cut into a timeline.
    timeline: TimelineOptions,
}

/// "Trained on ravdess: 1440 clips, 24 speakers. Speaker-independent UA 65.9 % (speaker-mod:5)
/// ...": what a bundle says of its training data and figures, in a sentence or two.
pub fn about_model(meta: &ser_model::BundleMeta) -> String {
    let trained_on = pipeline::trained_on(meta);
    let mut about = format!(
        "trained on {trained_on} ({} emotions: {}).",
        meta.labels.len(),
        meta.labels.join(", ")
    );
    if let Some(figures) = meta.metrics["speaker_independent"].as_object() {
        for (protocol, f) in figures {
            about.push_str(&describe_figures(protocol, f));
        }
    }
    about.push_str(
        " On speech from other corpora, languages or microphones it is much less accurate \
         (ser info --model default; docs/models.md).",
    );
    about
}

/// " UA 65.9 % on unseen speakers (speaker-mod:5)." for one corpus; for several, each
/// corpus's UA, and under corpus-out what a model trained without that corpus scored on it.
fn describe_figures(protocol: &str, figures: &serde_json::Value) -> String {
    let ua = |f: &serde_json::Value| f["ua"]["mean"].as_f64().map(|ua| 100.0 * ua);
    let per_corpus: Vec<String> = figures["per_corpus"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(group, f)| Some(format!("{group} {:.1} %", ua(f)?)))
        .collect();
    match (per_corpus.is_empty(), ua(figures)) {
        (false, _) if protocol == "corpus-out" => format!(
            " UA on a corpus left out of training (corpus-out): {}.",
            per_corpus.join(", ")
        ),
        (false, _) => format!(
            " UA on unseen speakers ({protocol}): {}.",
            per_corpus.join(", ")
        ),
        (true, Some(ua)) => format!(" UA {ua:.1} % on unseen speakers ({protocol})."),
        (true, None) => String::new(),
    }
}

/// A live session of the web server over ser-infer's stream.
struct WebLive {
    pcm: Pcm16Decoder,
    stream: LiveStream<Arc<Classifier>>,
}

impl LiveSession for WebLive {
    fn push(&mut self, pcm16le: &[u8]) -> Result<Vec<LiveResult>, EngineError> {
        let samples = self.pcm.decode(pcm16le);
        let windows = self.stream.push(&samples).map_err(live_error)?;
        Ok(windows.iter().map(live_result).collect())
    }

    fn finish(&mut self) -> Result<Vec<LiveResult>, EngineError> {
        let last = self.stream.finish().map_err(live_error)?;
        Ok(last.iter().map(live_result).collect())
    }
}

fn live_error(e: InferenceError) -> EngineError {
    EngineError::Internal(format!("live prediction failed: {e}"))
}

fn live_result(w: &LiveWindow) -> LiveResult {
    let top = w.prediction.as_ref().map(|p| p.top());
    LiveResult {
        start_s: w.start_s,
        end_s: w.end_s,
        speech: w.prediction.is_some(),
        label: top.map(|t| t.label.clone()),
        confidence: top.map(|t| t.prob),
        uncertain: w.prediction.as_ref().is_some_and(|p| p.uncertain),
    }
}

/// Scored labels as the API gives them.
fn label_probs(ranked: &[ser_infer::Scored]) -> Vec<LabelProb> {
    ranked
        .iter()
        .map(|s| LabelProb {
            label: s.label.clone(),
            prob: s.prob,
        })
        .collect()
}

/// The timeline of a recording longer than one window (the one `ser predict --timeline`
/// gives); `None` for shorter clips, or when no stretch of speech is long enough to judge.
fn timeline(
    classifier: &Classifier,
    samples: &[f32],
    file_name: &str,
    options: &TimelineOptions,
) -> Option<Timeline> {
    let seconds = samples.len() as f64 / f64::from(classifier.sample_rate());
    if seconds <= options.window_s {
        return None;
    }
    let windows = classifier
        .timeline(Recording::Samples(samples), file_name, options)
        .ok()?;
    Some(Timeline {
        speech_share: label_probs(&speech_share(&windows)),
        segments: windows
            .iter()
            .map(|w| TimelineSegment {
                start_s: w.start_s,
                end_s: w.end_s,
                label: w.prediction.top().label.clone(),
                confidence: w.prediction.top().prob,
                uncertain: w.prediction.uncertain,
                top: label_probs(&w.prediction.ranked[..w.prediction.ranked.len().min(3)]),
            })
            .collect(),
    })
}

impl MlEngine {
    /// Loads the shipped model.
    pub fn new() -> anyhow::Result<Self> {
        let default = default_model::classifier(None)?;
        let meta = default.bundle_meta();
        let default_info = DefaultModel {
            name: "Shipped model".to_owned(),
            kind: meta.model.name().to_owned(),
            labels: default.labels().to_vec(),
            about: about_model(meta),
        };
        Ok(Self {
            default: Arc::new(default),
            default_info,
            loaded: Mutex::new(HashMap::new()),
            timeline: TimelineOptions::default(),
        })
    }

    /// Finds the speech of long uploads with `detector` instead of the default (Silero).
    pub fn with_vad(mut self, detector: ser_audio::vad::Detector) -> Self {
        self.timeline.vad = ser_audio::vad::VadConfig::for_detector(detector);
        self
    }

    /// The classifier of `model` (`None` = the shipped one), loaded once.
    fn classifier(&self, model: Option<&Path>) -> Result<Arc<Classifier>, EngineError> {
        let Some(path) = model else {
            return Ok(self.default.clone());
        };
        if let Some(found) = self.lock().get(path) {
            return Ok(found.clone());
        }
        let classifier = Arc::new(
            Classifier::load(path)
                .map_err(|e| EngineError::Internal(format!("cannot load model: {e}")))?,
        );
        let mut loaded = self.lock();
        if loaded.len() >= MAX_CACHED_MODELS {
            loaded.clear();
        }
        loaded.insert(path.to_path_buf(), classifier.clone());
        Ok(classifier)
    }

    /// The network a web job of `kind` trains: the shipped model's configuration when it is
    /// of that kind (cnn4: statistics pooling), otherwise the kind's default configuration.
    fn web_model(&self, kind: &str) -> Result<ModelSpec, EngineError> {
        let shipped = &self.default.bundle_meta().model;
        if shipped.name() == kind {
            return Ok(shipped.clone());
        }
        ModelSpec::from_name(kind)
            .map_err(|_| EngineError::Input(format!("unknown model kind {kind:?}")))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Arc<Classifier>>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Engine for MlEngine {
    fn model_kinds(&self) -> Vec<ModelKind> {
        CATALOGUE
            .iter()
            .map(|entry| ModelKind {
                id: entry.name.to_owned(),
                name: entry.display_name.to_owned(),
                description: entry.description.to_owned(),
                ensemble: ModelSpec::from_name(entry.name).is_ok_and(|m| m.allows_members(2)),
            })
            .collect()
    }

    fn default_model(&self) -> Option<DefaultModel> {
        Some(self.default_info.clone())
    }

    fn predict(
        &self,
        model: Option<&Path>,
        audio: &[u8],
        file_name: &str,
    ) -> Result<Prediction, EngineError> {
        let classifier = self.classifier(model)?;
        let decoded = decode(&classifier, audio, file_name)?;
        let prediction = classifier
            .classify_samples(&decoded.samples, file_name)
            .map_err(|e| inference_error(file_name, e))?;
        Ok(web_prediction(
            &classifier,
            &self.timeline,
            &decoded,
            file_name,
            &prediction,
        ))
    }

    fn predict_one_speaker(
        &self,
        model: Option<&Path>,
        clips: &[(&[u8], &str)],
    ) -> Vec<Result<Prediction, EngineError>> {
        let classifier = match self.classifier(model) {
            Ok(classifier) => classifier,
            Err(e) => return clips.iter().map(|_| Err(e.clone())).collect(),
        };
        // Clips that cannot be decoded or hold no speech keep their error and add nothing to
        // the speaker's means.
        let mut results: Vec<Option<Result<Prediction, EngineError>>> = Vec::new();
        let (mut heard, mut features) = (Vec::new(), Vec::new());
        for (i, (audio, name)) in clips.iter().enumerate() {
            let clip = decode(&classifier, audio, name).and_then(|decoded| {
                let clip = classifier
                    .speech_features(&decoded.samples, name)
                    .map_err(|e| inference_error(name, e))?;
                Ok((decoded, clip))
            });
            match clip {
                Ok((decoded, clip)) => {
                    heard.push((i, decoded));
                    features.push(clip);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        for ((i, decoded), prediction) in heard.iter().zip(classifier.classify_together(features)) {
            let name = clips[*i].1;
            results[*i] = Some(
                prediction
                    .map(|p| web_prediction(&classifier, &self.timeline, decoded, name, &p))
                    .map_err(|e| inference_error(name, e)),
            );
        }
        results.into_iter().flatten().collect()
    }

    fn live(
        &self,
        model: Option<&Path>,
        window_s: f64,
        hop_s: f64,
    ) -> Result<Box<dyn LiveSession>, EngineError> {
        let classifier = self.classifier(model)?;
        if classifier.sample_rate() != LIVE_SAMPLE_RATE {
            return Err(EngineError::Input(format!(
                "this model works at {} Hz, but live streams are {LIVE_SAMPLE_RATE} Hz",
                classifier.sample_rate()
            )));
        }
        Ok(Box::new(WebLive {
            pcm: Pcm16Decoder::default(),
            stream: LiveStream::new(classifier, window_s, hop_s)
                .with_vad(self.timeline.vad.clone()),
        }))
    }

    fn train(
        &self,
        dataset_zip: &Path,
        spec: &TrainSpec,
        work_dir: &Path,
        progress: &mut (dyn FnMut(TrainProgress) + Send),
        cancel: &AtomicBool,
    ) -> Result<TrainOutcome, EngineError> {
        let epochs = spec.epochs.max(1);
        let phase = |phase: &str| TrainProgress {
            epochs,
            phase: phase.to_owned(),
            ..TrainProgress::default()
        };
        let model = self.web_model(&spec.kind)?;
        // The shipped model's architecture is trained the shipped model's way (features,
        // single-clip training, last epoch kept); augmentation, when asked for, is that
        // recipe's for every network.
        let shipped_kind = model.name() == SHIPPED.architecture;
        let features = if shipped_kind {
            SHIPPED.feature_config()
        } else {
            FeatureConfig::named(model.default_features())
        }
        .map_err(|e| EngineError::Internal(e.to_string()))?;
        progress(phase("unpacking the dataset"));
        let dataset = open_zip(dataset_zip, work_dir)?;
        check_cancel(cancel)?;
        let augmentation = spec.augment.then(|| SHIPPED.augmentation(0));
        let mut featurised = featurise(
            &dataset,
            &features,
            augmentation.as_ref(),
            work_dir,
            cancel,
            &mut |done, total| {
                progress(phase(&format!(
                    "extracting features ({done} of {total} clips)"
                )));
            },
        )?;
        featurised.train_alone = shipped_kind && SHIPPED.train_alone;
        check_cancel(cancel)?;
        progress(phase(&format!("training {}", spec.kind)));

        let frame_model = model.input_kind() != ser_model::InputKind::Pooled;
        let mut fit = if shipped_kind {
            SHIPPED.fit_config(model, &features)
        } else {
            FitConfig::new(model)
        };
        fit.epochs = epochs as usize;
        fit.members = spec.members.max(1) as usize;
        (fit.spec_augment, fit.freq_warp) = if spec.augment && frame_model {
            (
                Some(SpecAugment::default()),
                FreqWarp::on_mel_bands(SHIPPED.freq_warp, &features),
            )
        } else {
            (None, None)
        };
        fit.checkpoint_dir = Some(work_dir.join("checkpoints"));
        fit.resume = true;
        let stop = Arc::new(AtomicBool::new(false));
        fit.stop = Some(stop.clone());
        let run = TrainRun {
            features,
            fit,
            split: SplitOptions {
                seed: 0,
                val_fraction: TrainRun::DEFAULT_VAL_FRACTION,
            },
        };
        let trained = with_cancel_bridge(cancel, &stop, || {
            pipeline::train(&dataset, &featurised, &run, |report: &EpochReport| {
                let record = epoch_record(report);
                let network = match report.members {
                    0 | 1 => String::new(),
                    n => format!("network {} of {n} · ", report.member + 1),
                };
                progress(TrainProgress {
                    epoch: record.epoch,
                    epochs: report.epochs as u32,
                    train_loss: Some(record.train_loss),
                    train_acc: Some(record.train_acc),
                    val_loss: record.val_loss,
                    val_acc: record.val_acc,
                    phase: format!("{network}epoch {} of {}", report.epoch, report.epochs),
                    member: report.member as u32,
                    members: report.members as u32,
                });
            })
        });
        check_cancel(cancel)?;
        let trained = trained.map_err(|e| pipeline_error(e, work_dir))?;
        // Every epoch, those of an interrupted run this one resumed included.
        let history: Vec<EpochRecord> = trained.reports.iter().map(epoch_record).collect();

        // Keep the last epoch's figures on screen while saving.
        let last = history.last();
        progress(TrainProgress {
            epoch: last.map_or(0, |r| r.epoch),
            epochs: trained.reports.last().map_or(epochs, |r| r.epochs as u32),
            train_loss: last.map(|r| r.train_loss),
            train_acc: last.map(|r| r.train_acc),
            val_loss: last.and_then(|r| r.val_loss),
            val_acc: last.and_then(|r| r.val_acc),
            phase: "saving the model".to_owned(),
            member: trained.reports.last().map_or(0, |r| r.member as u32),
            members: trained.reports.last().map_or(1, |r| r.members as u32),
        });
        let bundle_path = work_dir.join("model.ser");
        trained
            .bundle
            .save(&bundle_path)
            .map_err(|e| EngineError::Internal(format!("cannot save the model: {e}")))?;
        // The kept weights are those of the best epoch (early stopping), so report its scores.
        let best = trained
            .reports
            .iter()
            .rev()
            .find(|r| r.best)
            .or(trained.reports.last());
        let train_accuracy = best.map_or(0.0, |r| r.train_acc as f32);
        let val_accuracy = trained
            .validation
            .as_ref()
            .map(|m| m.wa as f32)
            .or_else(|| best.and_then(|r| r.val_acc.map(|v| v as f32)));
        let kept_epoch = best
            .filter(|r| r.members <= 1 && history.len() > 1)
            .map(|r| r.epoch as u32);
        let epochs_run = last.map_or(0, |r| r.epoch);
        Ok(TrainOutcome {
            bundle: bundle_path,
            train_accuracy,
            val_accuracy,
            labels: trained.bundle.meta.labels.clone(),
            history,
            protocol: split_description(&dataset, trained.train_clips, trained.val_clips),
            skipped: skipped_clips(&featurised, work_dir),
            kept_epoch,
            epochs_run,
        })
    }

    fn test(
        &self,
        model: Option<&Path>,
        dataset_zip: &Path,
        work_dir: &Path,
        progress: &mut dyn FnMut(f32, &str),
        cancel: &AtomicBool,
    ) -> Result<TestOutcome, EngineError> {
        let bundle = match model {
            None => default_model::bundle(None),
            Some(path) => Bundle::load(path).map_err(anyhow::Error::from),
        }
        .map_err(|e| EngineError::Internal(format!("cannot load model: {e:#}")))?;
        let features = bundle.meta.features.clone().ok_or_else(|| {
            EngineError::Input("the model has no feature settings, so it cannot classify".into())
        })?;
        progress(0.0, "unpacking the dataset");
        let dataset = open_zip(dataset_zip, work_dir)?;
        check_cancel(cancel)?;
        let featurised = featurise(
            &dataset,
            &features,
            None,
            work_dir,
            cancel,
            &mut |done, total| {
                progress(
                    0.95 * done as f32 / total.max(1) as f32,
                    &format!("extracting features ({done} of {total} clips)"),
                );
            },
        )?;
        check_cancel(cancel)?;
        progress(0.95, "classifying");
        let report = pipeline::evaluate_bundle(&dataset, &featurised, &bundle, &[])
            .map_err(|e| pipeline_error(e, work_dir))?;
        let pooled = &report.aggregate.pooled;
        let confusion_svg = match ser_train::plots::confusion_svg(&pooled.confusion) {
            Ok(svg) => Some(svg),
            Err(e) => {
                eprintln!("warning: confusion picture: {e}");
                None
            }
        };
        progress(1.0, "done");
        Ok(TestOutcome {
            accuracy: pooled.wa as f32,
            unweighted_accuracy: pooled.ua as f32,
            samples: pooled.n_samples as u32,
            labels: pooled.labels().to_vec(),
            per_class: pooled
                .per_class
                .iter()
                .map(|c| ClassMetrics {
                    label: c.label.clone(),
                    precision: c.precision as f32,
                    recall: c.recall as f32,
                    f1: c.f1 as f32,
                    support: c.support as u32,
                })
                .collect(),
            confusion: pooled
                .confusion
                .counts()
                .iter()
                .map(|row| row.iter().map(|&n| n as u32).collect())
                .collect(),
            confusion_svg,
            skipped: skipped_clips(&featurised, work_dir),
            notes: own_corpus_note(&bundle, &dataset).into_iter().collect(),
        })
    }
}

/// A warning when the test clips come from a corpus the model was trained on: all of its
/// speakers were in training (a train-all bundle), so the score overstates what the model
/// does on voices it never heard.
fn own_corpus_note(bundle: &Bundle, dataset: &Dataset) -> Option<String> {
    let corpus = dataset.scheme?.as_str();
    let trained_on = pipeline::trained_on(&bundle.meta);
    pipeline::trained_on_corpus(&bundle.meta, corpus).then(|| {
        format!(
            "This model was trained on {corpus} ({trained_on}), with all of its speakers: a \
             score on {corpus} clips overstates what it does on voices it never heard, which \
             its speaker-independent figures (shown with the model) describe."
        )
    })
}

/// Fewer readable clips than this fail a job: nothing worth training or scoring is left.
const MIN_USABLE_CLIPS: usize = 4;

/// Each clip that could not be read, "name inside the ZIP: why".
fn skipped_clips(featurised: &Featurised, work_dir: &Path) -> Vec<String> {
    featurised
        .failures
        .iter()
        .map(|(path, why)| {
            let line = format!("{}: {why}", path.display());
            without_server_paths(&line, work_dir)
        })
        .collect()
}

/// Refuses data with too few readable clips, naming the first that failed.
fn enough_clips(featurised: &Featurised, work_dir: &Path) -> Result<(), EngineError> {
    let usable = featurised.matrices.iter().flatten().count();
    if usable >= MIN_USABLE_CLIPS {
        return Ok(());
    }
    let total = featurised.matrices.len();
    let found = match skipped_clips(featurised, work_dir).into_iter().next() {
        Some(first) => {
            format!("only {usable} of {total} clips could be read (first failure: {first})")
        }
        None => format!("the dataset holds only {usable} clips"),
    };
    Err(EngineError::Input(format!(
        "{found}; at least {MIN_USABLE_CLIPS} are needed"
    )))
}

/// `message` prefixed with the file name unless it names the file already.
/// An upload decoded at the model's rate; empty audio is the user's error.
fn decode(classifier: &Classifier, audio: &[u8], file_name: &str) -> Result<Audio, EngineError> {
    let decoded = classifier
        .decode_bytes(audio, file_name)
        .map_err(|e| EngineError::Input(named(file_name, &e.to_string())))?;
    if decoded.samples.is_empty() {
        return Err(EngineError::Input(format!("{file_name}: no audio samples")));
    }
    Ok(decoded)
}

fn inference_error(file_name: &str, e: InferenceError) -> EngineError {
    match e {
        InferenceError::NoSpeech { .. } => EngineError::NoSpeech(file_name.to_owned()),
        other => EngineError::Input(named(file_name, &other.to_string())),
    }
}

/// A classified upload as the web shows it: the answer, its waveform and, for a recording
/// longer than one window, its timeline.
fn web_prediction(
    classifier: &Classifier,
    timeline_options: &TimelineOptions,
    decoded: &Audio,
    file_name: &str,
    prediction: &ser_infer::ClipPrediction,
) -> Prediction {
    let top = prediction.top();
    Prediction {
        label: top.label.clone(),
        confidence: top.prob,
        probabilities: label_probs(&prediction.ranked),
        true_label: ser_corpus::guess_emotion(Path::new(file_name))
            .map(|(emotion, _)| emotion.name().to_owned()),
        waveform: waveform(&decoded.samples, WAVEFORM_BUCKETS),
        duration_s: decoded.duration_s() as f32,
        uncertain: prediction.uncertain,
        timeline: timeline(classifier, &decoded.samples, file_name, timeline_options),
    }
}

fn named(file_name: &str, message: &str) -> String {
    if message.contains(file_name) {
        message.to_owned()
    } else {
        format!("{file_name}: {message}")
    }
}

/// (min, max) per bucket, about `buckets` buckets, clamped to -1..=1.
fn waveform(samples: &[f32], buckets: usize) -> Vec<[f32; 2]> {
    let per = samples.len().div_ceil(buckets.max(1)).max(1);
    samples
        .chunks(per)
        .map(|chunk| {
            let (lo, hi) = chunk
                .iter()
                .fold((0.0f32, 0.0f32), |(lo, hi), &s| (lo.min(s), hi.max(s)));
            [lo.max(-1.0), hi.min(1.0)]
        })
        .collect()
}

fn epoch_record(report: &EpochReport) -> EpochRecord {
    EpochRecord {
        epoch: report.epoch as u32,
        train_loss: report.train_loss as f32,
        train_acc: report.train_acc as f32,
        val_loss: report.val_loss.map(|v| v as f32),
        val_acc: report.val_acc.map(|v| v as f32),
    }
}

/// How a training job's clips were split, honest about data of a single speaker (whose
/// validation clips are the training speaker's own, so their accuracy overstates).
fn split_description(dataset: &Dataset, train_clips: usize, val_clips: usize) -> String {
    let speakers = dataset
        .speakers()
        .into_iter()
        .filter(|s| *s != ser_corpus::UNKNOWN_SPEAKER)
        .count();
    match speakers {
        0 | 1 => format!(
            "not speaker-independent: the data hold {} speaker, so the {val_clips} validation \
             clips come from the same voice as the {train_clips} training clips and their \
             accuracy overstates what other voices will get",
            if speakers == 0 { "no known" } else { "one" }
        ),
        _ => format!(
            "speaker-independent: {train_clips} clips for training, {val_clips} from other \
             speakers for validation"
        ),
    }
}

fn check_cancel(cancel: &AtomicBool) -> Result<(), EngineError> {
    if cancel.load(Ordering::Relaxed) {
        Err(EngineError::Cancelled)
    } else {
        Ok(())
    }
}

/// Removes the job folder from a message: the user sees paths inside their ZIP only.
fn without_server_paths(message: &str, work_dir: &Path) -> String {
    let data = work_dir.join("data");
    let mut text = message.replace(&format!("{}/", data.display()), "");
    text = text.replace(&data.display().to_string(), "the dataset");
    text.replace(&work_dir.display().to_string(), "the job folder")
}

fn pipeline_error(error: PipelineError, work_dir: &Path) -> EngineError {
    let message = without_server_paths(&error.to_string(), work_dir);
    if error.is_internal() {
        EngineError::Internal(message)
    } else {
        EngineError::Input(message)
    }
}

/// Extracts the uploaded ZIP into `<work_dir>/data` (afresh) and reads it as a dataset.
fn open_zip(zip: &Path, work_dir: &Path) -> Result<Dataset, EngineError> {
    let data = work_dir.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data).map_err(|e| EngineError::Internal(e.to_string()))?;
    }
    let user_error = |e: ser_corpus::CorpusError| {
        let message = e.to_string().replace(&zip.display().to_string(), "the ZIP");
        EngineError::Input(without_server_paths(&message, work_dir))
    };
    let options = OpenOptions {
        extract_to: Some(data),
        zip_limits: ZipLimits::default(),
        ..OpenOptions::default()
    };
    ser_corpus::open_dataset(zip, &options).map_err(user_error)
}

/// Featurises every clip (cached in the job folder, so a resumed job skips the work) while
/// reporting `(done, total)` about three times a second from the calling thread.
fn featurise(
    dataset: &Dataset,
    features: &FeatureConfig,
    augmentation: Option<&Augmentation>,
    work_dir: &Path,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Featurised, EngineError> {
    let cache = FeatureCache::new(work_dir.join("features"), CacheMode::ReadWrite);
    let done = AtomicUsize::new(0);
    let total = dataset.clips.len();
    let result = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let count = || {
                done.fetch_add(1, Ordering::Relaxed);
            };
            pipeline::featurise(
                dataset,
                features,
                &cache,
                augmentation,
                &count,
                Some(cancel),
            )
        });
        while !worker.is_finished() {
            progress(done.load(Ordering::Relaxed), total);
            std::thread::sleep(Duration::from_millis(300));
        }
        worker.join()
    });
    check_cancel(cancel)?;
    let featurised = result
        .map_err(|_| EngineError::Internal("feature extraction panicked".into()))?
        .map_err(|e| pipeline_error(e, work_dir))?;
    progress(total, total);
    enough_clips(&featurised, work_dir)?;
    Ok(featurised)
}

/// Runs `work` while a helper thread copies `cancel` into `stop` (the flag training checks
/// between batches).
fn with_cancel_bridge<T>(cancel: &AtomicBool, stop: &AtomicBool, work: impl FnOnce() -> T) -> T {
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(Ordering::Relaxed) {
                if cancel.load(Ordering::Relaxed) {
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let result = work();
        finished.store(true, Ordering::Relaxed);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_built_in_model_says_what_it_was_trained_on_and_how_it_scored() {
        let engine = MlEngine::new().unwrap();
        let about = engine.default_model().unwrap().about;
        for needed in [
            "trained on ravdess (English): 1440 clips, 24 speakers",
            "ased (Amharic): 2474 clips, 65 speakers",
            "(speaker-mod:5): ased",
            "ravdess, each clip alone",
        ] {
            assert!(about.contains(needed), "{needed} in {about}");
        }
        assert!(about.contains("less accurate"), "{about}");
    }

    #[test]
    fn figures_of_several_corpora_are_given_per_corpus() {
        let ua = |v: f64| serde_json::json!({ "ua": { "mean": v } });
        let merged = serde_json::json!({
            "ua": { "mean": 0.8 },
            "per_corpus": { "ased": ua(0.923), "ravdess": ua(0.667) },
        });
        assert_eq!(
            describe_figures("speaker-mod:5", &merged),
            " UA on unseen speakers (speaker-mod:5): ased 92.3 %, ravdess 66.7 %."
        );
        assert!(describe_figures("corpus-out", &merged).contains("left out of training"));
        assert_eq!(
            describe_figures("holdout:1", &ua(0.5)),
            " UA 50.0 % on unseen speakers (holdout:1)."
        );
    }

    /// 16-bit mono WAV bytes of a speech-like sine at `freq` Hz.
    fn tone(freq: f32, seconds: f32) -> Vec<u8> {
        let rate = 16_000u32;
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = std::io::Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
        for i in 0..(rate as f32 * seconds) as usize {
            let t = i as f32 / rate as f32;
            // Rising and falling 4 times a second, as syllables do (steady tones are not
            // speech to the voice-activity detector).
            let syllables = 0.2 + 0.8 * (std::f32::consts::PI * 4.0 * t).sin().abs();
            let v = 0.4 * syllables * (2.0 * std::f32::consts::PI * freq * t).sin();
            writer.write_sample((v * 32767.0) as i16).unwrap();
        }
        writer.finalize().unwrap();
        cursor.into_inner()
    }

    /// A ZIP of `Actor_0k/<emotion>/clipN.wav`: low tones are sad, high ones happy.
    fn tone_zip(path: &Path) {
        let mut entries = Vec::new();
        for speaker in 1..=4 {
            for (emotion, freq) in [("sad", 150.0), ("happy", 900.0)] {
                for take in 0..4 {
                    let detune = 1.0 + 0.02 * speaker as f32 + 0.01 * take as f32;
                    let name = format!("Actor_{speaker:02}/{emotion}/clip{take}.wav");
                    entries.push((name, tone(freq * detune, 0.75)));
                }
            }
        }
        zip_of(path, &entries);
    }

    #[test]
    fn predicts_with_the_shipped_model() {
        let engine = MlEngine::new().unwrap();
        assert!(engine.model_kinds().len() >= 12);
        for name in ModelSpec::all_names() {
            assert!(
                engine.model_kinds().iter().any(|k| k.id == name),
                "{name} offered"
            );
        }
        let default = engine.default_model().unwrap();
        let wav = tone(220.0, 1.5);
        let p = engine
            .predict(None, &wav, "03-01-05-01-02-01-12.wav")
            .unwrap();
        assert!(default.labels.contains(&p.label));
        assert_eq!(p.probabilities.len(), default.labels.len());
        assert_eq!(p.probabilities[0].label, p.label);
        assert!((p.duration_s - 1.5).abs() < 0.01);
        assert!(p.waveform.len() <= WAVEFORM_BUCKETS && p.waveform.len() > 900);
        assert!(p.waveform.iter().all(|[lo, hi]| lo <= hi && *hi <= 1.0));
        assert_eq!(p.true_label.as_deref(), Some("angry"));

        let err = engine
            .predict(None, b"not audio at all", "notes.wav")
            .unwrap_err();
        match err {
            EngineError::Input(message) => assert!(message.contains("notes.wav"), "{message}"),
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    /// Clips of one speaker are classified together by the shipped (per-speaker) model: a
    /// clip 30 dB louder than the speaker's other clip sounds louder to it, while each alone
    /// sounds the same; an unreadable clip among them fails alone, by name.
    #[test]
    fn clips_of_one_speaker_are_classified_together() {
        let voice = |gain: f32| {
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 16_000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let mut cursor = std::io::Cursor::new(Vec::new());
            let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
            for i in 0..32_000u32 {
                let t = i as f32 / 16_000.0;
                let syllables = 0.2 + 0.8 * (std::f32::consts::PI * 4.0 * t).sin().abs();
                let buzz: f32 = (1..=6)
                    .map(|k| (2.0 * std::f32::consts::PI * 160.0 * k as f32 * t).sin() / k as f32)
                    .sum();
                let noise = (i.wrapping_mul(2_654_435_761) >> 8) as f32 / (1u32 << 24) as f32;
                let v = gain * syllables * (buzz + 0.3 * (2.0 * noise - 1.0)) / 2.5;
                writer.write_sample((v * 32767.0) as i16).unwrap();
            }
            writer.finalize().unwrap();
            cursor.into_inner()
        };
        let (quiet, loud) = (voice(0.03), voice(0.95));
        let engine = MlEngine::new().unwrap();
        let gap = |a: &Prediction, b: &Prediction| {
            a.probabilities
                .iter()
                .map(|p| {
                    let other = b.probabilities.iter().find(|q| q.label == p.label).unwrap();
                    (p.prob - other.prob).abs()
                })
                .fold(0.0f32, f32::max)
        };
        let alone = (
            engine.predict(None, &quiet, "quiet.wav").unwrap(),
            engine.predict(None, &loud, "loud.wav").unwrap(),
        );
        let clips: [(&[u8], &str); 3] = [
            (&quiet, "quiet.wav"),
            (b"not audio", "notes.wav"),
            (&loud, "loud.wav"),
        ];
        let together = engine.predict_one_speaker(None, &clips);
        assert!(gap(&alone.0, &alone.1) < 0.01);
        let (q, l) = (together[0].as_ref().unwrap(), together[2].as_ref().unwrap());
        assert!(gap(q, l) > 0.05, "{q:?} {l:?}");
        assert!(matches!(&together[1], Err(EngineError::Input(m)) if m.contains("notes.wav")));
        assert!((q.duration_s - 2.0).abs() < 0.01 && !q.waveform.is_empty());
    }

    #[test]
    fn trains_tests_and_predicts_with_a_trained_model() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("tones.zip");
        tone_zip(&zip);
        let engine = MlEngine::new().unwrap();
        let work = dir.path().join("job");
        std::fs::create_dir_all(&work).unwrap();
        let mut phases = Vec::new();
        let spec = TrainSpec::new("mlp", 2);
        let outcome = engine
            .train(
                &zip,
                &spec,
                &work,
                &mut |p| phases.push(p),
                &AtomicBool::new(false),
            )
            .unwrap();
        assert!(outcome.bundle.is_file());
        assert_eq!(outcome.labels, ["happy", "sad"]);
        assert_eq!(outcome.history.len(), 2);
        assert!(outcome.val_accuracy.is_some());
        assert_eq!(outcome.epochs_run, 2);
        assert!(
            matches!(outcome.kept_epoch, Some(1 | 2)),
            "{:?}",
            outcome.kept_epoch
        );
        assert!(
            phases
                .iter()
                .any(|p| p.phase.starts_with("extracting features"))
        );
        assert!(phases.iter().any(|p| p.epoch == 2 && p.train_acc.is_some()));
        let last = phases.last().unwrap();
        assert_eq!((last.epoch, last.epochs), (2, 2), "{last:?}");
        assert!(last.val_acc.is_some());

        let test_work = dir.path().join("test-job");
        let mut fractions = Vec::new();
        let tested = engine
            .test(
                Some(&outcome.bundle),
                &zip,
                &test_work,
                &mut |f, _| fractions.push(f),
                &AtomicBool::new(false),
            )
            .unwrap();
        assert_eq!(tested.samples, 32);
        assert_eq!(tested.labels, ["happy", "sad"]);
        assert_eq!(tested.confusion.iter().flatten().sum::<u32>(), 32);
        assert!(tested.confusion_svg.unwrap().contains("<svg"));
        assert_eq!(fractions.last().copied(), Some(1.0));

        let p = engine
            .predict(Some(&outcome.bundle), &tone(150.0, 0.75), "clip.wav")
            .unwrap();
        assert!(["happy", "sad"].contains(&p.label.as_str()));
        assert_eq!(p.true_label, None);
        assert_eq!(engine.lock().len(), 1, "trained classifier cached");

        // A cancelled job stops.
        let cancelled = engine.train(
            &zip,
            &spec,
            &dir.path().join("cancelled"),
            &mut |_| {},
            &AtomicBool::new(true),
        );
        assert_eq!(cancelled.unwrap_err(), EngineError::Cancelled);
    }

    #[test]
    fn an_interrupted_training_resumes_from_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("tones.zip");
        tone_zip(&zip);
        let engine = MlEngine::new().unwrap();
        let work = dir.path().join("job");
        let spec = TrainSpec::new("mlp", 4);
        // Stopped after its first epoch, as by a server restart or a cancel.
        let cancel = AtomicBool::new(false);
        let first = engine.train(
            &zip,
            &spec,
            &work,
            &mut |p| {
                if p.epoch == 1 {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
            &cancel,
        );
        assert_eq!(first.unwrap_err(), EngineError::Cancelled);

        let mut epochs_trained = Vec::new();
        let outcome = engine
            .train(
                &zip,
                &spec,
                &work,
                &mut |p| {
                    if p.train_loss.is_some() && p.phase.starts_with("epoch") {
                        epochs_trained.push(p.epoch);
                    }
                },
                &AtomicBool::new(false),
            )
            .unwrap();
        assert!(
            !epochs_trained.contains(&1),
            "epoch 1 came from the checkpoint: {epochs_trained:?}"
        );
        let epochs: Vec<u32> = outcome.history.iter().map(|r| r.epoch).collect();
        assert_eq!(epochs, [1, 2, 3, 4], "the history spans both runs");
    }

    #[test]
    fn trains_a_classical_model() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("tones.zip");
        tone_zip(&zip);
        let engine = MlEngine::new().unwrap();
        let spec = TrainSpec::new("svm-linear", 5);
        let mut phases = Vec::new();
        let outcome = engine
            .train(
                &zip,
                &spec,
                &dir.path().join("job"),
                &mut |p| phases.push(p),
                &AtomicBool::new(false),
            )
            .unwrap();
        assert!(outcome.train_accuracy > 0.9, "{outcome:?}");
        let last = phases.last().unwrap();
        assert!(last.epoch >= 1 && last.epoch == last.epochs, "{last:?}");
        let p = engine
            .predict(Some(&outcome.bundle), &tone(900.0, 0.75), "happy/x.wav")
            .unwrap();
        assert_eq!(p.true_label.as_deref(), Some("happy"));
    }

    /// Trains `spec` on the tone dataset in `dir`, ignoring progress.
    fn train_tones(engine: &MlEngine, dir: &Path, spec: &TrainSpec) -> TrainOutcome {
        let zip = dir.join("tones.zip");
        tone_zip(&zip);
        engine
            .train(
                &zip,
                spec,
                &dir.join("job"),
                &mut |_| {},
                &AtomicBool::new(false),
            )
            .unwrap()
    }

    #[test]
    fn trains_a_frame_model() {
        let dir = tempfile::tempdir().unwrap();
        let engine = MlEngine::new().unwrap();
        let outcome = train_tones(&engine, dir.path(), &TrainSpec::new("cnn1d-mfcc", 1));
        assert_eq!(outcome.history.len(), 1);
        let p = engine
            .predict(Some(&outcome.bundle), &tone(150.0, 2.0), "clip.wav")
            .unwrap();
        assert_eq!(p.probabilities.len(), 2);
    }

    #[test]
    fn an_augmented_ensemble_is_trained_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let spec = TrainSpec {
            augment: true,
            members: 2,
            ..TrainSpec::new("cnn1d-mfcc", 1)
        };
        let outcome = train_tones(&MlEngine::new().unwrap(), dir.path(), &spec);
        let bundle = Bundle::load(&outcome.bundle).unwrap();
        assert_eq!(bundle.meta.members, 2);
        let training = &bundle.meta.provenance["training"];
        assert!(
            training.contains("2 augmented copies") && training.contains("SpecAugment"),
            "{training}"
        );
    }

    #[test]
    fn an_augmented_cnn4_follows_the_shipped_recipe() {
        let dir = tempfile::tempdir().unwrap();
        let spec = TrainSpec {
            augment: true,
            ..TrainSpec::new("cnn4", 1)
        };
        let outcome = train_tones(&MlEngine::new().unwrap(), dir.path(), &spec);
        let bundle = Bundle::load(&outcome.bundle).unwrap();
        let shipped = crate::default_model::bundle(None).unwrap();
        assert_eq!(bundle.meta.model, shipped.meta.model);
        assert_eq!(bundle.meta.features, shipped.meta.features);
        // Crops, schedule, augmentation, rooms, single clips, the last epoch kept: all of it.
        assert_eq!(
            bundle.meta.provenance["training"],
            shipped.meta.provenance["training"]
        );
    }

    #[test]
    fn bad_uploads_are_input_errors_without_server_paths() {
        let dir = tempfile::tempdir().unwrap();
        let engine = MlEngine::new().unwrap();
        let zip = dir.path().join("empty.zip");
        zip::ZipWriter::new(std::fs::File::create(&zip).unwrap())
            .finish()
            .unwrap();
        let work = dir.path().join("job");
        let spec = TrainSpec::new("svm-linear", 1);
        let never = AtomicBool::new(false);
        match engine.train(&zip, &spec, &work, &mut |_| {}, &never) {
            Err(EngineError::Input(message)) => {
                assert!(
                    !message.contains(&*dir.path().to_string_lossy()),
                    "{message}"
                )
            }
            other => panic!("expected an input error, got {other:?}"),
        }
        let bad_kind = TrainSpec::new("abacus", 1);
        assert!(matches!(
            engine.train(&zip, &bad_kind, &work, &mut |_| {}, &never),
            Err(EngineError::Input(_))
        ));
    }

    /// A ZIP of `entries` (name, bytes) at `path`.
    fn zip_of(path: &Path, entries: &[(impl AsRef<str>, Vec<u8>)]) {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        for (entry, bytes) in entries {
            zip.start_file(entry.as_ref(), zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    /// Clips that cannot be read (text named like a clip, an empty file, a cut WAV) are left
    /// out and named, and add no class; with too few readable clips the job fails saying so.
    #[test]
    fn unreadable_clips_are_skipped_by_name_and_add_no_class() {
        let dir = tempfile::tempdir().unwrap();
        let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
        for actor in 1..=4 {
            for (emotion, freq) in [("sad", 150.0), ("happy", 900.0)] {
                let name = format!("Actor_0{actor}/{emotion}/clip.wav");
                entries.push((name, tone(freq * (1.0 + 0.02 * actor as f32), 0.5)));
            }
        }
        let cut = tone(440.0, 0.5)[..30].to_vec();
        entries.push((
            "Actor_01/angry/notes.wav".into(),
            b"just some text".to_vec(),
        ));
        entries.push(("Actor_02/angry/empty.wav".into(), Vec::new()));
        entries.push(("Actor_03/angry/cut.wav".into(), cut));
        let path = dir.path().join("mixed.zip");
        zip_of(&path, &entries);
        let never = AtomicBool::new(false);
        let engine = MlEngine::new().unwrap();
        let spec = TrainSpec::new("svm-linear", 1);
        let outcome = engine
            .train(&path, &spec, &dir.path().join("job"), &mut |_| {}, &never)
            .unwrap();
        assert_eq!(outcome.labels, ["happy", "sad"]);
        assert_eq!(outcome.skipped.len(), 3, "{:?}", outcome.skipped);
        for name in ["notes.wav", "empty.wav", "cut.wav"] {
            assert!(
                outcome.skipped.iter().any(|s| s.contains(name)),
                "{name}: {:?}",
                outcome.skipped
            );
        }
        assert!(
            !outcome
                .skipped
                .concat()
                .contains(&*dir.path().to_string_lossy())
        );

        let few = dir.path().join("few.zip");
        zip_of(&few, &[&entries[..2], &entries[8..]].concat());
        match engine.train(&few, &spec, &dir.path().join("job2"), &mut |_| {}, &never) {
            Err(EngineError::Input(message)) => assert!(
                message.contains("only 2 of 5 clips could be read"),
                "{message}"
            ),
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    /// Testing the shipped model on RAVDESS clips (its own training corpus) says so.
    #[test]
    fn testing_a_model_on_its_own_training_corpus_warns() {
        let dir = tempfile::tempdir().unwrap();
        let entries: Vec<(String, Vec<u8>)> = (1..=4)
            .flat_map(|actor| {
                [("03", 300.0), ("05", 700.0)].map(|(code, freq)| {
                    let name = format!("Actor_{actor:02}/03-01-{code}-01-01-01-{actor:02}.wav");
                    (name, tone(freq, 0.8))
                })
            })
            .collect();
        let path = dir.path().join("ravdess-like.zip");
        zip_of(&path, &entries);
        let never = AtomicBool::new(false);
        let outcome = MlEngine::new()
            .unwrap()
            .test(None, &path, &dir.path().join("job"), &mut |_, _| {}, &never)
            .unwrap();
        assert_eq!(outcome.notes.len(), 1, "{:?}", outcome.notes);
        assert!(outcome.notes[0].starts_with("This model was trained on ravdess"));
    }

    /// One actor's clips: validation cannot be speaker-independent, and the job says so.
    #[test]
    fn training_on_one_speaker_is_not_called_speaker_independent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.zip");
        let entries: Vec<(String, Vec<u8>)> = [("sad", 150.0), ("happy", 900.0)]
            .into_iter()
            .flat_map(|(emotion, freq)| {
                (0..5).map(move |take| {
                    let name = format!("Actor_01/{emotion}/clip{take}.wav");
                    (name, tone(freq * (1.0 + 0.01 * take as f32), 0.5))
                })
            })
            .collect();
        zip_of(&path, &entries);
        let never = AtomicBool::new(false);
        let spec = TrainSpec::new("svm-linear", 1);
        let work = dir.path().join("job");
        let outcome = MlEngine::new()
            .unwrap()
            .train(&path, &spec, &work, &mut |_| {}, &never)
            .unwrap();
        assert!(
            outcome
                .protocol
                .starts_with("not speaker-independent: the data hold one speaker"),
            "{}",
            outcome.protocol
        );
    }

    /// Each says what is wrong with the upload: one emotion only, or no audio among files.
    #[test]
    fn a_zip_of_one_emotion_or_no_audio_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let engine = MlEngine::new().unwrap();
        let happy: Vec<(String, Vec<u8>)> = (1..=4)
            .map(|a| (format!("Actor_0{a}/happy/a.wav"), tone(440.0, 0.5)))
            .collect();
        let (happy_zip, readme_zip) = (dir.path().join("happy.zip"), dir.path().join("readme.zip"));
        zip_of(&happy_zip, &happy);
        zip_of(&readme_zip, &[("readme.txt", b"hello".to_vec())]);
        let cases = [
            (
                happy_zip,
                "the dataset holds one emotion only (happy); training needs at least two",
            ),
            (readme_zip, "0 skipped, 1 non-audio files"),
        ];
        let never = AtomicBool::new(false);
        for (zip, says) in cases {
            let work = dir.path().join("job");
            let spec = TrainSpec::new("svm-linear", 1);
            match engine.train(&zip, &spec, &work, &mut |_| {}, &never) {
                Err(EngineError::Input(message)) => assert!(message.contains(says), "{message}"),
                other => panic!("expected an input error, got {other:?}"),
            }
        }
    }
}
