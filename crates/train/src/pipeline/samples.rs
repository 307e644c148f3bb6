//! The featurised clips of a dataset as training and scoring see them: the classes models
//! learn, training data of a split, scoring of a test part, groups per corpus, calibration.

use ser_corpus::{Clip, Dataset, Split};
use ser_features::FeatureMatrix;
use ser_model::Predictor;
use ser_model::input::FeatureView;

use crate::fit::{FitConfig, Nuisance, NuisanceKind, TrainData, argmax};
use crate::folds::TestPredictions;
use crate::metrics::EvalInput;

use super::PipelineError;
use super::featurise::Featurised;

/// The classes a protocol's models learn: the emotions every corpus has under corpus-out,
/// else all of the dataset's.
pub(super) fn protocol_labels(
    dataset: &Dataset,
    featurised: &Featurised,
    protocol: &ser_corpus::Protocol,
) -> Result<Vec<String>, PipelineError> {
    if protocol.is_corpus_out() {
        at_least_two(
            dataset.shared_labels(),
            "the corpora share",
            "corpus-out needs",
        )
    } else {
        dataset_labels(dataset, featurised)
    }
}

/// The label names of the clips that could be read, in the order models number their
/// classes (at least two): a clip that failed adds no class.
pub(super) fn dataset_labels(
    dataset: &Dataset,
    featurised: &Featurised,
) -> Result<Vec<String>, PipelineError> {
    let read = dataset
        .clips
        .iter()
        .zip(&featurised.matrices)
        .filter(|(_, m)| m.is_some())
        .map(|(clip, _)| clip.emotion.as_str());
    let labels =
        ser_corpus::LabelSet::from_labels(read).map_err(|_| PipelineError::NoUsableLabels)?;
    at_least_two(
        labels.names().to_vec(),
        "the dataset holds",
        "training needs",
    )
}

/// `labels`, or an error a user can act on when there are fewer than two to tell apart.
pub(super) fn at_least_two(
    labels: Vec<String>,
    holds: &'static str,
    needs: &'static str,
) -> Result<Vec<String>, PipelineError> {
    if labels.len() < 2 {
        return Err(PipelineError::TooFewEmotions {
            found: labels,
            holds,
            needs,
        });
    }
    Ok(labels)
}

/// The (group, class) an adversarial head tells `clip` apart by (see
/// [`crate::fit::Adversary`]); `None` where the clip does not say (no sentence number).
pub(super) fn nuisance_key(clip: &Clip, kind: NuisanceKind) -> Option<(String, String)> {
    let corpus = ser_corpus::corpus_of_speaker(&clip.speaker).unwrap_or_default();
    match kind {
        NuisanceKind::Sentence => {
            let sentence = ["sentence", "statement", "text"]
                .iter()
                .find_map(|field| clip.extra.get(*field))?;
            Some((format!("{corpus}/{}", clip.emotion), sentence.clone()))
        }
        NuisanceKind::Speaker => Some((String::new(), clip.speaker.clone())),
        NuisanceKind::Corpus => Some((String::new(), corpus.to_string())),
    }
}

/// The featurised clips of one dataset, indexed like `dataset.clips`.
pub(super) struct Samples<'a> {
    pub(super) dataset: &'a Dataset,
    pub(super) featurised: &'a Featurised,
    pub(super) labels: &'a [String],
    /// Model classes counted as others (`from`, `to` label indices): the probability of
    /// `from` is added to `to` (e.g. a RAVDESS model's calm scored as neutral).
    pub(super) merged_answers: Vec<(usize, usize)>,
}

impl Samples<'_> {
    /// The usable clips among `indices` (those that were featurised).
    pub(super) fn usable<'b>(
        &'b self,
        indices: &'b [usize],
    ) -> impl Iterator<Item = (usize, &'b FeatureMatrix)> + 'b {
        Self::usable_in(&self.featurised.matrices, indices)
    }

    pub(super) fn usable_in<'b>(
        matrices: &'b [Option<FeatureMatrix>],
        indices: &'b [usize],
    ) -> impl Iterator<Item = (usize, &'b FeatureMatrix)> + 'b {
        indices
            .iter()
            .filter_map(|&i| matrices[i].as_ref().map(|m| (i, m)))
    }

    pub(super) fn label_index(&self, clip: usize) -> usize {
        let emotion = &self.dataset.clips[clip].emotion;
        self.labels
            .iter()
            .position(|l| l == emotion)
            .expect("labels come from the dataset")
    }

    /// The training part of `split` (augmented copies and, when `fit` has an adversary, its
    /// nuisance included) and its validation part.
    pub(super) fn fit_parts(
        &self,
        split: &Split,
        fit: &FitConfig,
    ) -> Result<(TrainData, TrainData), PipelineError> {
        let nuisance = fit.adversary.map(|a| a.target);
        let train = self.train_data(&split.train, true, nuisance)?;
        Ok((train, self.train_data(&split.val, false, None)?))
    }

    /// The clips at `indices` as training data, with their augmented copies when
    /// `with_augmented` (the training part only: validation and test see originals). With
    /// `nuisance`, each sample also carries that nuisance of its clip (for an adversarial
    /// head).
    pub(super) fn train_data(
        &self,
        indices: &[usize],
        with_augmented: bool,
        nuisance: Option<NuisanceKind>,
    ) -> Result<TrainData, PipelineError> {
        let mut rows = 0;
        let (mut x, mut y) = (Vec::new(), Vec::new());
        let mut keys = Vec::new();
        for (i, m) in self.usable(indices) {
            rows = m.rows;
            let (copies, alone) = match with_augmented {
                true => (
                    &self.featurised.augmented[i][..],
                    self.featurised.alone.get(i).and_then(Option::as_ref),
                ),
                false => (&[][..], None),
            };
            let alone = alone.filter(|_| self.featurised.train_alone);
            let key = nuisance.and_then(|kind| nuisance_key(&self.dataset.clips[i], kind));
            for matrix in std::iter::once(m).chain(copies).chain(alone) {
                x.push(matrix.data.clone());
                y.push(self.label_index(i));
                keys.push(key.clone());
            }
        }
        let fit_error = |source| PipelineError::Fit { fold: 0, source };
        let data = TrainData::new(rows, x, y).map_err(fit_error)?;
        match nuisance {
            None => Ok(data),
            Some(_) => {
                let keys = keys
                    .iter()
                    .map(|k| k.as_ref().map(|(g, c)| (&g[..], &c[..])));
                data.with_nuisance(Nuisance::from_keys(keys))
                    .map_err(fit_error)
            }
        }
    }

    /// Predicts the test part of `split`: its metrics (with calibration), per corpus and
    /// named subset, and the test speakers.
    pub(super) fn score(
        &self,
        predictor: &Predictor,
        split: &Split,
        fold: usize,
    ) -> Result<Scored, PipelineError> {
        let (indices, raw) = self.predict(predictor, &split.test, fold)?;
        let temperature = predictor.meta().temperature;
        let scaled = |raw: &[Vec<f32>]| match temperature {
            Some(t) => crate::calibration::calibrated(raw, t),
            None => raw.to_vec(),
        };
        let probabilities = scaled(&raw);
        let truth: Vec<usize> = indices.iter().map(|&i| self.label_index(i)).collect();
        let evaluate = |members: &[usize], probabilities: &[Vec<f32>]| {
            let y_true: Vec<usize> = members.iter().map(|&k| truth[k]).collect();
            let y_pred: Vec<usize> = members.iter().map(|&k| argmax(&probabilities[k])).collect();
            let flat: Vec<f32> = members
                .iter()
                .flat_map(|&k| probabilities[k].iter().copied())
                .collect();
            let speakers: Vec<String> = members
                .iter()
                .map(|&k| self.dataset.clips[indices[k]].speaker.clone())
                .collect();
            EvalInput::new(&y_true, &y_pred, self.labels)
                .with_speakers(&speakers)
                .with_probabilities(&flat)
                .evaluate()
        };
        let everyone: Vec<usize> = (0..indices.len()).collect();
        let metrics = evaluate(&everyone, &probabilities)?;
        let ece_before = match temperature {
            Some(_) => evaluate(&everyone, &raw)?.probability.and_then(|p| p.ece),
            None => None,
        };
        let mut by_group = std::collections::BTreeMap::new();
        for (group, members) in self.groups(&indices) {
            by_group.insert(group, evaluate(&members, &probabilities)?);
        }
        if !self.featurised.alone.is_empty() {
            let (_, raw) = self.predict_in(&self.featurised.alone, predictor, &split.test, fold)?;
            let alone = scaled(&raw);
            for (group, members) in self.corpus_groups(&indices) {
                by_group.insert(
                    format!("{group}, {}", crate::report::ALONE),
                    evaluate(&members, &alone)?,
                );
            }
        }
        let mut test_speakers: Vec<String> = indices
            .iter()
            .map(|&i| self.dataset.clips[i].speaker.clone())
            .collect();
        test_speakers.sort();
        test_speakers.dedup();
        Ok(Scored {
            metrics,
            by_group,
            test_speakers,
            ece_before,
            raw: TestPredictions {
                probabilities: raw,
                truth,
            },
        })
    }

    /// The usable clips among `indices` and the predictor's probabilities for each (before
    /// temperature scaling).
    pub(super) fn predict(
        &self,
        predictor: &Predictor,
        indices: &[usize],
        fold: usize,
    ) -> Result<(Vec<usize>, Vec<Vec<f32>>), PipelineError> {
        self.predict_in(&self.featurised.matrices, predictor, indices, fold)
    }

    /// [`Samples::predict`] of `matrices` (the clips' features or another version of them).
    pub(super) fn predict_in(
        &self,
        matrices: &[Option<FeatureMatrix>],
        predictor: &Predictor,
        indices: &[usize],
        fold: usize,
    ) -> Result<(Vec<usize>, Vec<Vec<f32>>), PipelineError> {
        let mut used = Vec::new();
        let mut probabilities = Vec::new();
        for (i, m) in Self::usable_in(matrices, indices) {
            let view = FeatureView::new(m.rows, m.cols, &m.data)
                .map_err(|e| PipelineError::predict(fold, e))?;
            let mut probs = predictor
                .predict_batch_raw(&[view])
                .map_err(|e| PipelineError::predict(fold, e))?
                .remove(0);
            for &(from, to) in &self.merged_answers {
                probs[to] += probs[from];
                probs[from] = 0.0;
            }
            used.push(i);
            probabilities.push(probs);
        }
        Ok((used, probabilities))
    }

    /// Positions in `indices` per corpus and named subset, for a dataset of several corpora
    /// or with a subset (one corpus alone would only repeat the whole).
    pub(super) fn groups(
        &self,
        indices: &[usize],
    ) -> std::collections::BTreeMap<String, Vec<usize>> {
        let mut groups = self.corpus_groups(indices);
        let merged = self.dataset.clips.iter().any(|c| c.corpus_name().is_some());
        if groups.len() == 1 && !merged {
            groups.clear();
        }
        groups
    }

    /// Positions in `indices` per corpus and named subset, even for one corpus alone.
    pub(super) fn corpus_groups(
        &self,
        indices: &[usize],
    ) -> std::collections::BTreeMap<String, Vec<usize>> {
        let corpus = ser_corpus::corpus_name_of(&self.dataset.root);
        let mut groups: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
        for (k, &i) in indices.iter().enumerate() {
            for group in ser_corpus::evaluation_groups(&self.dataset.clips[i], &corpus) {
                groups.entry(group).or_default().push(k);
            }
        }
        groups
    }

    /// Fits the bundle's temperature on the validation clips (none without them); returns it.
    pub(super) fn calibrate(
        &self,
        bundle: &mut ser_model::Bundle,
        val: &[usize],
        fold: usize,
    ) -> Result<Option<f32>, PipelineError> {
        if val.is_empty() {
            return Ok(None);
        }
        let predictor = Predictor::new(bundle).map_err(|e| PipelineError::predict(fold, e))?;
        let (indices, raw) = self.predict(&predictor, val, fold)?;
        let truth: Vec<usize> = indices.iter().map(|&i| self.label_index(i)).collect();
        let temperature = crate::calibration::fit_temperature(&raw, &truth);
        bundle.meta.temperature = Some(temperature);
        Ok(Some(temperature))
    }
}

/// One scored test part.
pub(super) struct Scored {
    pub(super) metrics: crate::metrics::Metrics,
    pub(super) by_group: std::collections::BTreeMap<String, crate::metrics::Metrics>,
    pub(super) test_speakers: Vec<String>,
    /// ECE before temperature scaling, when the predictor has a temperature.
    pub(super) ece_before: Option<f64>,
    /// The probabilities before temperature scaling.
    pub(super) raw: TestPredictions,
}
