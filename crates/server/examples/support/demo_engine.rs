//! A stand-in engine for trying the web app before the real models are wired in.
//! It does no ML: predictions come from the RAVDESS file-name code (or a hash of the audio),
//! training sleeps through its epochs, testing returns fixed metrics. Never use it for real work.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ser_server::{
    ClassMetrics, DefaultModel, Engine, EngineError, EpochRecord, LabelProb, ModelKind, Prediction,
    TestOutcome, TrainOutcome, TrainProgress, TrainSpec,
};

const LABELS: [&str; 8] = [
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
];

pub struct DemoEngine {
    /// Sleep per training epoch.
    pub epoch_time: Duration,
}

/// RAVDESS names clips like 03-01-05-01-02-01-12.wav; the third field is the emotion.
fn ravdess_label(file_name: &str) -> Option<&'static str> {
    let code: usize = file_name.split('-').nth(2)?.parse().ok()?;
    LABELS.get(code.checked_sub(1)?).copied()
}

/// Min/max per bucket of 16-bit PCM WAV data (or of the raw bytes when not WAV).
fn waveform(audio: &[u8], buckets: usize) -> (Vec<[f32; 2]>, f32) {
    let (samples, rate): (Vec<f32>, f32) = if audio.len() > 44 && &audio[..4] == b"RIFF" {
        let rate = u32::from_le_bytes([audio[24], audio[25], audio[26], audio[27]]) as f32;
        let pcm = audio[44..]
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0);
        (pcm.collect(), rate.max(1.0))
    } else {
        (
            audio
                .iter()
                .map(|b| (f32::from(*b) - 128.0) / 128.0)
                .collect(),
            16000.0,
        )
    };
    let per = samples.len().div_ceil(buckets).max(1);
    let pairs = samples
        .chunks(per)
        .map(|c| {
            [
                c.iter().copied().fold(0.0, f32::min),
                c.iter().copied().fold(0.0, f32::max),
            ]
        })
        .collect();
    (pairs, samples.len() as f32 / rate)
}

impl Engine for DemoEngine {
    fn model_kinds(&self) -> Vec<ModelKind> {
        let kind = |id: &str, name: &str, description: &str| ModelKind {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            ensemble: id != "svm",
        };
        vec![
            kind(
                "cnn1d-pooled",
                "1-D CNN on pooled features",
                "Eight convolution layers over a 180-value MFCC, chroma and mel summary (report 000).",
            ),
            kind(
                "cnn1d-mfcc",
                "1-D CNN on MFCC frames",
                "Three convolution blocks over 40 MFCCs per frame (report 004).",
            ),
            kind(
                "cnn-transformer",
                "CNN + Transformer on log-mel",
                "Two parallel 2-D CNN branches followed by a Transformer encoder (report 003).",
            ),
            kind(
                "svm",
                "Linear SVM",
                "A fast classical baseline on pooled features.",
            ),
        ]
    }

    fn default_model(&self) -> Option<DefaultModel> {
        Some(DefaultModel {
            name: "Ser RAVDESS (demo)".into(),
            kind: "cnn1d-pooled".into(),
            about: "Trained on generated tones (a test engine).".into(),
            labels: LABELS.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn predict(
        &self,
        _model: Option<&Path>,
        audio: &[u8],
        file_name: &str,
    ) -> Result<Prediction, EngineError> {
        if audio.len() < 16 {
            return Err(EngineError::Input(format!(
                "{file_name}: too short to be audio"
            )));
        }
        let true_label = ravdess_label(file_name).map(str::to_owned);
        let hash = audio
            .iter()
            .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)));
        let guess = true_label
            .clone()
            .unwrap_or_else(|| LABELS[(hash % 8) as usize].to_owned());
        let confidence = 0.55 + (hash % 40) as f32 / 100.0;
        let mut probabilities = vec![LabelProb {
            label: guess.clone(),
            prob: confidence,
        }];
        let rest = (1.0 - confidence) / 7.0;
        probabilities.extend(LABELS.iter().filter(|l| **l != guess).map(|l| LabelProb {
            label: l.to_string(),
            prob: rest,
        }));
        let (waveform, duration_s) = waveform(audio, 1000);
        Ok(Prediction {
            label: guess,
            confidence,
            probabilities,
            true_label,
            waveform,
            duration_s,
            uncertain: false,
            timeline: None,
        })
    }

    fn train(
        &self,
        _dataset_zip: &Path,
        spec: &TrainSpec,
        work_dir: &Path,
        progress: &mut (dyn FnMut(TrainProgress) + Send),
        cancel: &AtomicBool,
    ) -> Result<TrainOutcome, EngineError> {
        progress(TrainProgress {
            epoch: 0,
            epochs: spec.epochs,
            phase: "extracting features".into(),
            ..Default::default()
        });
        std::thread::sleep(self.epoch_time);
        let mut history = Vec::new();
        for epoch in 1..=spec.epochs {
            if cancel.load(Ordering::Relaxed) {
                return Err(EngineError::Cancelled);
            }
            std::thread::sleep(self.epoch_time);
            let t = epoch as f32 / spec.epochs as f32;
            let record = EpochRecord {
                epoch,
                train_loss: 2.0 * (-3.0 * t).exp() + 0.05,
                train_acc: 0.15 + 0.8 * (1.0 - (-4.0 * t).exp()),
                val_loss: Some(2.1 * (-2.2 * t).exp() + 0.3),
                val_acc: Some(0.14 + 0.58 * (1.0 - (-3.5 * t).exp())),
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
        }
        let bundle = work_dir.join("model.bundle");
        std::fs::write(&bundle, b"demo").map_err(|e| EngineError::Internal(e.to_string()))?;
        let last = history.last().cloned();
        Ok(TrainOutcome {
            skipped: Vec::new(),
            kept_epoch: None,
            epochs_run: spec.epochs,
            bundle,
            train_accuracy: last.as_ref().map_or(0.0, |r| r.train_acc),
            val_accuracy: last.and_then(|r| r.val_acc),
            labels: LABELS.iter().map(|s| s.to_string()).collect(),
            history,
            protocol: "speaker-independent, 20% of actors held out".into(),
        })
    }

    fn live(
        &self,
        _model: Option<&Path>,
        _window_s: f64,
        _hop_s: f64,
    ) -> Result<Box<dyn ser_server::LiveSession>, EngineError> {
        Err(EngineError::Input(
            "live prediction needs the real engine (ser serve), not the demo".into(),
        ))
    }

    fn test(
        &self,
        _model: Option<&Path>,
        _dataset_zip: &Path,
        _work_dir: &Path,
        progress: &mut dyn FnMut(f32, &str),
        cancel: &AtomicBool,
    ) -> Result<TestOutcome, EngineError> {
        for i in 1..=10 {
            if cancel.load(Ordering::Relaxed) {
                return Err(EngineError::Cancelled);
            }
            std::thread::sleep(self.epoch_time);
            progress(i as f32 / 10.0, "classifying clips");
        }
        let n = LABELS.len();
        let confusion: Vec<Vec<u32>> = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        if i == j {
                            14 + (i as u32 * 3) % 7
                        } else if (i + 1) % n == j {
                            4
                        } else {
                            u32::from((i + j) % 3 == 0)
                        }
                    })
                    .collect()
            })
            .collect();
        let per_class = (0..n)
            .map(|i| {
                let tp = confusion[i][i] as f32;
                let row: u32 = confusion[i].iter().sum();
                let col: u32 = confusion.iter().map(|r| r[i]).sum();
                let (p, r) = (tp / col as f32, tp / row as f32);
                ClassMetrics {
                    label: LABELS[i].into(),
                    precision: p,
                    recall: r,
                    f1: 2.0 * p * r / (p + r),
                    support: row,
                }
            })
            .collect::<Vec<_>>();
        let total: u32 = confusion.iter().flatten().sum();
        let correct: u32 = (0..n).map(|i| confusion[i][i]).sum();
        Ok(TestOutcome {
            skipped: Vec::new(),
            notes: Vec::new(),
            accuracy: correct as f32 / total as f32,
            unweighted_accuracy: per_class.iter().map(|c| c.recall).sum::<f32>() / n as f32,
            samples: total,
            labels: LABELS.iter().map(|s| s.to_string()).collect(),
            per_class,
            confusion,
            confusion_svg: None,
        })
    }
}
