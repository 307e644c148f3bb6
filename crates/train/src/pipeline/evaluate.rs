//! A trained bundle scored on a labelled dataset (`ser eval --model`).

use std::time::Instant;

use ser_corpus::{Dataset, Split};
use ser_model::Predictor;

use crate::report::{EvalReport, FoldReport, ModelInfo, Protocol};

use super::PipelineError;
use super::featurise::Featurised;
use super::provenance::dataset_info;
use super::samples::Samples;

/// Scores a trained bundle on every clip of `dataset` whose emotion the model knows (features
/// computed with the bundle's own settings): classes of the dataset the model cannot say are
/// not charged to it. Clips with other emotions are left out and counted in the report's
/// provenance. `merges` (`from`, `to`) counts the model's answer `from` as `to` (the dataset's
/// labels are expected merged the same way). The caller is responsible for the test speakers
/// being unseen in training: `provenance["dataset"]` of the bundle says what it was trained on.
pub fn evaluate_bundle(
    dataset: &Dataset,
    featurised: &Featurised,
    bundle: &ser_model::Bundle,
    merges: &[(String, String)],
) -> Result<EvalReport, PipelineError> {
    let labels = bundle.meta.labels.clone();
    let index = |name: &str| {
        let name = ser_corpus::canonical_label(name);
        labels.iter().position(|l| *l == name)
    };
    let merged_answers: Vec<(usize, usize)> = merges
        .iter()
        .filter_map(|(from, to)| index(from).zip(index(to)))
        .collect();
    let known: Vec<usize> = (0..dataset.clips.len())
        .filter(|&i| labels.contains(&dataset.clips[i].emotion))
        .collect();
    if known.is_empty() {
        return Err(PipelineError::NoKnownEmotion {
            known: labels.to_vec(),
        });
    }
    let predictor = Predictor::new(bundle).map_err(|e| PipelineError::predict(0, e))?;
    let samples = Samples {
        dataset,
        featurised,
        labels: &labels,
        merged_answers,
    };
    let split = Split {
        train: Vec::new(),
        val: Vec::new(),
        test: known.clone(),
        protocol: "trained-model".into(),
        fold: None,
        seed: 0,
    };
    let scoring = Instant::now();
    let scored = samples.score(&predictor, &split, 0)?;
    let seconds = scoring.elapsed().as_secs_f64();
    let n_scored = scored.metrics.n_samples;
    let features = bundle
        .meta
        .features
        .as_ref()
        .map_or("features", |f| f.name.as_str());
    let meta = &bundle.meta;
    let mut report = EvalReport::new(
        ModelInfo::new(
            &meta.model,
            meta.members,
            features,
            meta.input.features,
            labels.len(),
        ),
        dataset_info(dataset),
        Protocol {
            id: "trained-model".into(),
            description: "a trained model scored on every clip of the dataset; held-out only if \
                          the model never saw these speakers"
                .into(),
        },
        vec![FoldReport {
            fold: 0,
            test_speakers: scored.test_speakers,
            metrics: scored.metrics,
            by_group: scored.by_group,
            calibration: None,
            unseen_corpus: None,
            history: None,
        }],
    )?;
    report.timing.inference_ms_per_clip = Some(1000.0 * seconds / n_scored.max(1) as f64);
    for (key, value) in &bundle.meta.provenance {
        report
            .provenance
            .insert(format!("model {key}"), value.clone());
    }
    let unknown = dataset.clips.len() - known.len();
    if unknown > 0 {
        report.provenance.insert(
            "left out".into(),
            format!("{unknown} clips with emotions the model does not know"),
        );
    }
    Ok(report)
}
