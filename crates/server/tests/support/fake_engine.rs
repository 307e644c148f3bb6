//! The one fake engine, for the server's tests and the dev server example (which includes
//! this file): deterministic answers from file names, quick training with checkpoints, a
//! live session that hears any sound as "happy". No ML.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ser_server::{
    ClassMetrics, DefaultModel, Engine, EngineError, EpochRecord, LabelProb, ModelKind, Prediction,
    TestOutcome, TrainOutcome, TrainProgress, TrainSpec,
};

/// A gate the fake engine's `train` waits at (to hold a job in `running`).
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }

    fn wait(&self, cancel: &AtomicBool) {
        let mut open = self.open.lock().unwrap();
        while !*open && !cancel.load(Ordering::Relaxed) {
            open = self
                .cv
                .wait_timeout(open, Duration::from_millis(20))
                .unwrap()
                .0;
        }
    }
}

/// Predicts the emotion named in the file name ("happy_1.wav" -> happy), fails on names
/// containing "corrupt", hears no speech in names containing "silence", trains in `epochs`
/// quick ticks and writes a bundle file. Like the real engine it checkpoints each epoch in
/// `checkpoints/` of its work folder (the weights, then `state.json` naming the epoch) and
/// resumes from there.
#[derive(Default)]
pub struct FakeEngine {
    /// When set, `train` waits here after `gate_after` epochs (and its first progress report).
    pub gate: Option<Arc<Gate>>,
    pub gate_after: u32,
    /// How many times `train` was called (shared by the engines of several test servers).
    pub trains: Arc<std::sync::atomic::AtomicUsize>,
    /// The first epoch each `train` call ran: above 1 when it resumed from a checkpoint.
    pub first_epochs: Arc<Mutex<Vec<u32>>>,
    /// How long each training epoch takes (at least 5 ms).
    pub epoch_time: Duration,
}

/// The fake engine's checkpoint folder in a job's work folder: one member's, as an ensemble's.
fn fake_checkpoint_dir(work_dir: &Path) -> std::path::PathBuf {
    work_dir.join("checkpoints").join("member-0")
}

/// The epoch the checkpoint in `work_dir` holds (0: none); panics on a torn checkpoint,
/// where the weights do not hold the epoch the state names.
fn fake_resume(work_dir: &Path) -> u32 {
    let dir = fake_checkpoint_dir(work_dir);
    let Ok(state) = std::fs::read_to_string(dir.join("state.json")) else {
        return 0;
    };
    let weights = std::fs::read_to_string(dir.join("weights.bin")).unwrap();
    assert_eq!(weights, state, "a consistent checkpoint");
    state.trim().parse().unwrap()
}

fn fake_checkpoint(work_dir: &Path, epoch: u32) {
    let dir = fake_checkpoint_dir(work_dir);
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["weights.bin", "state.json"] {
        let temp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&temp, epoch.to_string()).unwrap();
        std::fs::rename(&temp, dir.join(name)).unwrap();
    }
}

const LABELS: [&str; 4] = ["angry", "happy", "neutral", "sad"];

impl Engine for FakeEngine {
    fn model_kinds(&self) -> Vec<ModelKind> {
        vec![
            ModelKind {
                id: "fake-cnn".into(),
                name: "Fake CNN".into(),
                description: "Test double.".into(),
                ensemble: true,
            },
            ModelKind {
                id: "fake-svm".into(),
                name: "Fake SVM".into(),
                description: "Test double of a classical model.".into(),
                ensemble: false,
            },
        ]
    }

    fn default_model(&self) -> Option<DefaultModel> {
        Some(DefaultModel {
            name: "Fake default".into(),
            kind: "fake-cnn".into(),
            about: "Trained on generated tones (a test engine).".into(),
            labels: LABELS.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn predict(
        &self,
        model: Option<&Path>,
        audio: &[u8],
        file_name: &str,
    ) -> Result<Prediction, EngineError> {
        if file_name.contains("corrupt") {
            return Err(EngineError::Input(format!(
                "{file_name}: not a valid audio file"
            )));
        }
        if file_name.contains("silence") {
            return Err(EngineError::NoSpeech(file_name.to_owned()));
        }
        if let Some(path) = model.filter(|p| !p.exists()) {
            return Err(EngineError::Internal(format!(
                "missing bundle {}",
                path.display()
            )));
        }
        let label = LABELS
            .iter()
            .find(|l| file_name.contains(*l))
            .unwrap_or(&"neutral");
        Ok(Prediction {
            label: label.to_string(),
            confidence: 0.9,
            probabilities: vec![LabelProb {
                label: label.to_string(),
                prob: 0.9,
            }],
            true_label: LABELS
                .iter()
                .find(|l| file_name.starts_with(*l))
                .map(|s| s.to_string()),
            waveform: vec![[-0.5, 0.5]; 10],
            duration_s: audio.len() as f32 / 32000.0,
            // A name with "unsure" stands for a clip where no emotion stands out.
            uncertain: file_name.contains("unsure"),
            // A name with "long" stands for a recording longer than one window.
            timeline: file_name
                .contains("long")
                .then(|| two_segment_timeline(label)),
        })
    }

    /// Clips predicted together (one speaker) come back with confidence 0.5, so tests can
    /// tell which path a request took.
    fn predict_one_speaker(
        &self,
        model: Option<&Path>,
        clips: &[(&[u8], &str)],
    ) -> Vec<Result<Prediction, EngineError>> {
        clips
            .iter()
            .map(|(audio, name)| {
                self.predict(model, audio, name).map(|p| Prediction {
                    confidence: 0.5,
                    ..p
                })
            })
            .collect()
    }

    fn train(
        &self,
        dataset_zip: &Path,
        spec: &TrainSpec,
        work_dir: &Path,
        progress: &mut (dyn FnMut(TrainProgress) + Send),
        cancel: &AtomicBool,
    ) -> Result<TrainOutcome, EngineError> {
        assert!(dataset_zip.exists(), "dataset was saved before the job ran");
        self.trains.fetch_add(1, Ordering::SeqCst);
        let mut history = Vec::new();
        progress(TrainProgress {
            epoch: 0,
            epochs: spec.epochs,
            phase: "extracting features".into(),
            ..Default::default()
        });
        let first = fake_resume(work_dir) + 1;
        self.first_epochs.lock().unwrap().push(first);
        for epoch in first..=spec.epochs {
            if epoch == self.gate_after + 1
                && let Some(gate) = &self.gate
            {
                gate.wait(cancel);
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(EngineError::Cancelled);
            }
            let record = EpochRecord {
                epoch,
                train_loss: 1.0 / epoch as f32,
                train_acc: 0.5 + 0.04 * epoch as f32,
                val_loss: Some(1.2 / epoch as f32),
                val_acc: Some(0.4 + 0.04 * epoch as f32),
            };
            progress(TrainProgress {
                epoch,
                epochs: spec.epochs,
                train_loss: Some(record.train_loss),
                train_acc: Some(record.train_acc),
                val_loss: record.val_loss,
                val_acc: record.val_acc,
                phase: format!("epoch {epoch} of {}", spec.epochs),
                ..Default::default()
            });
            history.push(record);
            fake_checkpoint(work_dir, epoch);
            std::thread::sleep(self.epoch_time.max(Duration::from_millis(5)));
        }
        let bundle = work_dir.join("model.bundle");
        std::fs::write(&bundle, b"fake bundle")
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok(TrainOutcome {
            skipped: Vec::new(),
            kept_epoch: None,
            epochs_run: spec.epochs,
            bundle,
            train_accuracy: 0.9,
            val_accuracy: Some(0.8),
            labels: LABELS.iter().map(|s| s.to_string()).collect(),
            history,
            protocol: "speaker-independent 80/20".into(),
        })
    }

    fn live(
        &self,
        model: Option<&Path>,
        window_s: f64,
        hop_s: f64,
    ) -> Result<Box<dyn ser_server::LiveSession>, EngineError> {
        if model.is_some_and(|p| !p.exists()) {
            return Err(EngineError::Input("that model works at 8000 Hz".into()));
        }
        let samples = |s: f64| (s * f64::from(ser_server::LIVE_SAMPLE_RATE)) as usize;
        Ok(Box::new(FakeLive {
            window: samples(window_s),
            hop: samples(hop_s),
            pcm: ser_audio::Pcm16Decoder::default(),
            buffer: Vec::new(),
            start: 0,
        }))
    }

    fn test(
        &self,
        _model: Option<&Path>,
        dataset_zip: &Path,
        _work_dir: &Path,
        progress: &mut dyn FnMut(f32, &str),
        _cancel: &AtomicBool,
    ) -> Result<TestOutcome, EngineError> {
        let data = std::fs::read(dataset_zip).map_err(|e| EngineError::Internal(e.to_string()))?;
        if data.windows(5).any(|w| w == b"EMPTY") {
            return Err(EngineError::Input(format!(
                "{}: no labelled audio found",
                dataset_zip.display()
            )));
        }
        for i in 1..=4 {
            progress(i as f32 / 4.0, "classifying");
        }
        Ok(TestOutcome {
            skipped: Vec::new(),
            notes: Vec::new(),
            accuracy: 0.75,
            unweighted_accuracy: 0.7,
            samples: 8,
            labels: vec!["happy".into(), "sad".into()],
            per_class: vec![ClassMetrics {
                label: "happy".into(),
                precision: 0.8,
                recall: 0.8,
                f1: 0.8,
                support: 4,
            }],
            confusion: vec![vec![3, 1], vec![1, 3]],
            confusion_svg: Some("<svg xmlns=\"http://www.w3.org/2000/svg\"/>".into()),
        })
    }
}

/// The timeline the fake engine gives a "long" recording: `label` for 4 s, then sad.
fn two_segment_timeline(label: &str) -> ser_server::Timeline {
    let segment = |start_s: f64, label: &str| ser_server::TimelineSegment {
        start_s,
        end_s: start_s + 4.0,
        label: label.to_string(),
        confidence: 0.8,
        uncertain: false,
        top: vec![LabelProb {
            label: label.to_string(),
            prob: 0.8,
        }],
    };
    ser_server::Timeline {
        segments: vec![segment(0.0, label), segment(6.0, "sad")],
        speech_share: vec![
            LabelProb {
                label: label.to_string(),
                prob: 0.5,
            },
            LabelProb {
                label: "sad".into(),
                prob: 0.5,
            },
        ],
    }
}

/// The fake engine's live session: a window every hop; "happy" when the window holds sound.
struct FakeLive {
    window: usize,
    hop: usize,
    pcm: ser_audio::Pcm16Decoder,
    /// Samples from `start` on.
    buffer: Vec<f32>,
    start: usize,
}

impl FakeLive {
    fn result(&self, samples: &[f32]) -> ser_server::LiveResult {
        let rate = f64::from(ser_server::LIVE_SAMPLE_RATE);
        let speech = samples.iter().any(|v| v.abs() > 0.05);
        ser_server::LiveResult {
            start_s: self.start as f64 / rate,
            end_s: (self.start + samples.len()) as f64 / rate,
            speech,
            label: speech.then(|| "happy".to_string()),
            confidence: speech.then_some(0.9),
            uncertain: false,
        }
    }
}

impl ser_server::LiveSession for FakeLive {
    fn push(&mut self, pcm16le: &[u8]) -> Result<Vec<ser_server::LiveResult>, EngineError> {
        let samples = self.pcm.decode(pcm16le);
        self.buffer.extend_from_slice(&samples);
        let mut out = Vec::new();
        while self.buffer.len() >= self.window {
            out.push(self.result(&self.buffer[..self.window]));
            self.buffer.drain(..self.hop.min(self.buffer.len()));
            self.start += self.hop;
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<ser_server::LiveResult>, EngineError> {
        let rest = std::mem::take(&mut self.buffer);
        Ok((!rest.is_empty())
            .then(|| self.result(&rest))
            .into_iter()
            .collect())
    }
}
