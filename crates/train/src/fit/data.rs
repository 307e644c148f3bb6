//! Training data in memory, its normalisation, and mini-batch assembly.

use ser_model::InputKind;
use ser_model::input::{FeatureView, Normalisation, crop_or_pad, pool_mean};
use ser_model::rng::SplitMix64;

use super::FitError;
use super::adversary::Nuisance;
use super::augment::{FreqWarp, SpecAugment, mixup};

/// Labelled feature matrices: each `x[i]` is row-major [rows, T_i] (T_i = 1 for a pooled
/// vector); `y[i]` indexes the label list.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainData {
    /// Feature rows of every sample (bands or coefficients per frame).
    pub rows: usize,
    /// One row-major `[rows, T_i]` matrix per sample; `T_i` may differ between samples.
    pub x: Vec<Vec<f32>>,
    /// Class index of each sample, into the label list.
    pub y: Vec<usize>,
    /// What an adversarial head is trained to recover from each sample, when one is.
    pub nuisance: Option<Nuisance>,
}

impl TrainData {
    /// Checks shapes and values, so that training cannot panic on them.
    pub fn new(rows: usize, x: Vec<Vec<f32>>, y: Vec<usize>) -> Result<Self, FitError> {
        let data = Self {
            rows,
            x,
            y,
            nuisance: None,
        };
        data.check(usize::MAX)?;
        Ok(data)
    }

    /// The same data with each sample's nuisance class (one per sample).
    pub fn with_nuisance(mut self, nuisance: Nuisance) -> Result<Self, FitError> {
        nuisance.check(self.len())?;
        self.nuisance = Some(nuisance);
        Ok(self)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    pub(crate) fn view(&self, i: usize) -> FeatureView<'_> {
        let x = &self.x[i];
        FeatureView {
            rows: self.rows,
            cols: x.len() / self.rows.max(1),
            data: x,
        }
    }

    pub(crate) fn check(&self, classes: usize) -> Result<(), FitError> {
        let bad = |why: String| Err(FitError::BadData(why));
        if self.x.len() != self.y.len() {
            return bad(format!(
                "{} samples but {} labels",
                self.x.len(),
                self.y.len()
            ));
        }
        for (i, (x, &y)) in self.x.iter().zip(&self.y).enumerate() {
            if self.rows == 0 || x.is_empty() || x.len() % self.rows != 0 {
                return bad(format!(
                    "sample {i} has {} values, not a multiple of {} rows",
                    x.len(),
                    self.rows
                ));
            }
            if x.iter().any(|v| !v.is_finite()) {
                return bad(format!("sample {i} holds NaN or infinite values"));
            }
            if y >= classes {
                return bad(format!(
                    "sample {i} has label {y}, but there are {classes} labels"
                ));
            }
        }
        Ok(())
    }
}

/// Normalised training samples, ready for batching.
pub(crate) struct Prepared {
    pub kind: InputKind,
    pub rows: usize,
    /// Crop length (1 for pooled input).
    pub frames: usize,
    pub samples: Vec<Vec<f32>>,
    pub y: Vec<usize>,
    pub nuisance: Option<Nuisance>,
    pub norm: Normalisation,
}

impl Prepared {
    /// Pools (for pooled models), fits the normalisation on this data and applies it.
    pub fn new(data: &TrainData, kind: InputKind, frames: usize) -> Self {
        let samples: Vec<Vec<f32>> = match kind {
            InputKind::Pooled => (0..data.len()).map(|i| pool_mean(data.view(i))).collect(),
            InputKind::Frames => data.x.clone(),
        };
        let views = samples.iter().map(|s| FeatureView {
            rows: data.rows,
            cols: s.len() / data.rows,
            data: s,
        });
        let norm = Normalisation::fit(data.rows, views);
        let mut samples = samples;
        for s in &mut samples {
            let cols = s.len() / data.rows;
            norm.apply(s, cols);
        }
        let frames = if kind == InputKind::Pooled { 1 } else { frames };
        Self {
            kind,
            rows: data.rows,
            frames,
            samples,
            y: data.y.clone(),
            nuisance: data.nuisance.clone(),
            norm,
        }
    }

    fn sample_len(&self) -> usize {
        self.rows * self.frames
    }
}

/// One mini-batch as flat buffers.
pub(crate) struct Batch {
    pub x: Vec<f32>,
    pub targets: Vec<f32>,
    pub weights: Vec<f32>,
    pub labels: Vec<usize>,
    /// Each sample's nuisance class, when the data has them.
    pub nuisance: Option<Vec<usize>>,
}

/// How batches are made (the train-only options of the fit configuration).
pub(crate) struct BatchRecipe<'a> {
    pub classes: usize,
    pub label_smoothing: f32,
    pub class_weights: Option<Vec<f32>>,
    pub spec_augment: Option<&'a SpecAugment>,
    pub freq_warp: Option<&'a FreqWarp>,
    pub mixup: Option<f32>,
}

impl BatchRecipe<'_> {
    pub fn assemble(&self, data: &Prepared, indices: &[usize], rng: &mut SplitMix64) -> Batch {
        let len = data.sample_len();
        let mut x = Vec::with_capacity(indices.len() * len);
        let mut targets = Vec::with_capacity(indices.len() * self.classes);
        let mut weights = Vec::with_capacity(indices.len());
        for &i in indices {
            let sample = &data.samples[i];
            let cols = sample.len() / data.rows;
            let start = if cols > data.frames {
                rng.below(cols - data.frames + 1)
            } else {
                0
            };
            let offset = x.len();
            crop_or_pad(
                FeatureView {
                    rows: data.rows,
                    cols,
                    data: sample,
                },
                start,
                data.frames,
                &mut x,
            );
            if data.kind == InputKind::Frames {
                // Warp first: masks then blank whole warped bands, as on real features.
                if let Some(warp) = self.freq_warp {
                    warp.apply(&mut x[offset..], data.frames, rng);
                }
                if let Some(aug) = self.spec_augment {
                    aug.apply(&mut x[offset..], data.rows, data.frames, rng);
                }
            }
            targets.extend(self.smoothed(data.y[i]));
            weights.push(self.class_weights.as_ref().map_or(1.0, |w| w[data.y[i]]));
        }
        if let Some(alpha) = self.mixup.filter(|&a| a > 0.0) {
            mixup(alpha, &mut x, &mut targets, &mut weights, len, rng);
        }
        let labels = indices.iter().map(|&i| data.y[i]).collect();
        let nuisance = data
            .nuisance
            .as_ref()
            .map(|n| indices.iter().map(|&i| n.class_of[i]).collect());
        Batch {
            x,
            targets,
            weights,
            labels,
            nuisance,
        }
    }

    /// One-hot target with label smoothing: (1 - a) on the label plus a / classes everywhere.
    fn smoothed(&self, label: usize) -> Vec<f32> {
        let a = self.label_smoothing.clamp(0.0, 1.0);
        let mut t = vec![a / self.classes as f32; self.classes];
        t[label] += 1.0 - a;
        t
    }
}

/// Inverse-frequency class weights normalised to mean 1 over samples (n / (C * n_c)).
pub(crate) fn balanced_weights(y: &[usize], classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; classes];
    y.iter().for_each(|&c| counts[c] += 1);
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                y.len() as f32 / (classes * c) as f32
            }
        })
        .collect()
}
