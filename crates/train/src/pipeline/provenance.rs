//! What a report or a bundle says about how it was made: the settings a fold store checks,
//! the differences between an earlier report and a run, one-line descriptions of training
//! settings and corpora, and the model and dataset summaries of reports.

use ser_corpus::Dataset;
use ser_model::bundle::ModelSpec;

use crate::fit::FitConfig;
use crate::report::{DatasetInfo, EvalReport, ModelInfo};

use super::cross_validation::Experiment;
use super::featurise::Featurised;

/// What a fold store checks before mixing folds: everything that shapes the figures (the
/// training settings as separate keys, so a refusal can name the one that differs).
pub fn evaluation_settings(
    dataset: &Dataset,
    featurised: &Featurised,
    experiment: &Experiment,
) -> serde_json::Value {
    let mut settings = match serde_json::to_value(&experiment.fit) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    settings.remove("checkpoint_dir");
    settings.remove("resume");
    let extra = serde_json::json!({
        "features": experiment.features,
        "augmented_copies": featurised.augmented_copies(),
        "protocol": experiment.protocol.to_string(),
        "split": { "seed": experiment.split.seed, "val_fraction": experiment.split.val_fraction },
        "data": dataset_info(dataset).description,
        "labels": dataset.label_set().map(|l| l.names().to_vec()),
    });
    if let serde_json::Value::Object(extra) = extra {
        settings.extend(extra);
    }
    // Only when on, so that stores of earlier runs still match.
    if featurised.channel_simulation {
        settings.insert("channel_simulation".into(), true.into());
    }
    if featurised.trains_alone() {
        settings.insert("train_alone".into(), true.into());
    }
    serde_json::Value::Object(settings)
}

/// What [`report_differences`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// The model's name (with ensemble size and features).
    Model,
    /// The protocol's spec.
    Protocol,
    /// The split seed.
    Seed,
    /// The number of training epochs asked for.
    Epochs,
    /// The one-line training settings (provenance key [`TRAINING`]).
    Training,
    /// The dataset's description (clip count and naming scheme or corpora).
    Data,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Setting::Model => "model",
            Setting::Protocol => "protocol",
            Setting::Seed => "seed",
            Setting::Epochs => "epochs",
            Setting::Training => "training settings",
            Setting::Data => "data",
        })
    }
}

/// One way an earlier report differs from what an experiment evaluates.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// The setting that differs.
    pub what: Setting,
    /// The report's value; `None` when it does not record it.
    pub theirs: Option<String>,
    /// The experiment's value.
    pub ours: String,
}

/// How `report` differs from what `experiment` evaluates on `dataset`: model (with ensemble
/// size and features), protocol, seed, epochs, training settings and data.
pub fn report_differences(
    report: &EvalReport,
    dataset: &Dataset,
    featurised: &Featurised,
    experiment: &Experiment,
) -> Vec<Difference> {
    let recorded = |key: &str| report.provenance.get(key).cloned();
    let checks = [
        (
            Setting::Model,
            Some(report.model.name.clone()),
            model_info(experiment, featurised, report.labels.len()).name,
        ),
        (
            Setting::Protocol,
            Some(report.protocol.id.clone()),
            experiment.protocol.to_string(),
        ),
        (
            Setting::Seed,
            recorded("seed"),
            experiment.split.seed.to_string(),
        ),
        (
            Setting::Epochs,
            recorded("epochs"),
            experiment.fit.epochs.to_string(),
        ),
        (
            Setting::Training,
            recorded(TRAINING),
            training_settings(&experiment.fit, featurised),
        ),
        (
            Setting::Data,
            Some(report.dataset.description.clone()),
            dataset_info(dataset).description,
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, theirs, ours)| theirs.as_ref() != Some(ours))
        .map(|(what, theirs, ours)| Difference { what, theirs, ours })
        .collect()
}

/// Provenance key of the training settings beyond model, features, seed and epochs.
pub const TRAINING: &str = "training";

/// The training settings in one line, e.g. "300-frame crops, batch 32, AdamW lr 0.001 weight
/// decay 0.0001, cosine schedule, patience 30, SpecAugment, 2 augmented copies"; reports and
/// bundles keep it so that `train --evaluated` can check a report against a run.
pub fn training_settings(fit: &FitConfig, featurised: &Featurised) -> String {
    let augmented_copies = featurised.augmented_copies();
    let mut parts = vec![
        format!("{}-frame crops", fit.frames),
        format!("batch {}", fit.batch_size),
        format!("AdamW lr {} weight decay {}", fit.lr, fit.weight_decay),
        fit.schedule.describe(),
        match (fit.keep_last, fit.patience) {
            (true, _) => "no early stopping, keeps the last epoch".into(),
            (false, None) => "no early stopping".into(),
            (false, Some(p)) => format!("patience {p}"),
        },
    ];
    if fit.spec_augment.is_some() {
        parts.push("SpecAugment".into());
    }
    if let Some(warp) = &fit.freq_warp {
        parts.push(format!("frequency warp {}", warp.max));
    }
    if let Some(alpha) = fit.mixup {
        parts.push(format!("mixup {alpha}"));
    }
    if let Some(keep) = fit.weight_average {
        parts.push(format!("weight average {keep}"));
    }
    if fit.label_smoothing > 0.0 {
        parts.push(format!("label smoothing {}", fit.label_smoothing));
    }
    if fit.class_balanced {
        parts.push("class-balanced loss".into());
    }
    if let Some(adversary) = &fit.adversary {
        parts.push(format!(
            "{}-adversarial head (reversal up to {})",
            adversary.target.name(),
            adversary.weight
        ));
    }
    if augmented_copies > 0 {
        parts.push(format!("{augmented_copies} augmented copies"));
        if featurised.channel_simulation {
            parts.push("room and device simulation".into());
        }
    }
    if featurised.trains_alone() {
        parts.push("clips also normalised alone".into());
    }
    parts.join(", ")
}

/// Provenance key of a bundle's training corpora, e.g. "ravdess (English): 1440 clips, 24
/// speakers".
pub const CORPORA: &str = "corpora";

/// "ravdess (English): 1440 clips, 24 speakers; ased (Amharic): 2474 clips, 65 speakers"
/// (a language only for corpora [`ser_corpus::known_language`] knows).
pub fn describe_corpora(dataset: &Dataset) -> String {
    let single = [ser_corpus::corpus_name_of(&dataset.root)];
    let names = dataset.corpus_names();
    let names: Vec<String> = if names.is_empty() {
        single.to_vec()
    } else {
        names
    };
    names
        .iter()
        .map(|name| {
            let clips: Vec<&ser_corpus::Clip> = dataset
                .clips
                .iter()
                .filter(|c| c.corpus_name().is_none_or(|n| n == name))
                .collect();
            let speakers: std::collections::BTreeSet<&str> =
                clips.iter().map(|c| c.speaker.as_str()).collect();
            let language = ser_corpus::known_language(name)
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            format!(
                "{name}{language}: {} clips, {} speakers",
                clips.len(),
                speakers.len()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a bundle says it was trained on: its corpora, or for bundles made before corpora
/// were recorded, its dataset's name and clip count ("ravdess: 1440 clips").
pub fn trained_on(meta: &ser_model::BundleMeta) -> String {
    let provenance = &meta.provenance;
    match (provenance.get(CORPORA), provenance.get("dataset")) {
        (Some(corpora), _) => corpora.clone(),
        (None, Some(dataset)) => {
            let data = provenance.get("data").map_or("", String::as_str);
            let clips = data.split_whitespace().next().unwrap_or("?");
            let name = ser_corpus::corpus_name_of(std::path::Path::new(dataset));
            format!("{name}: {clips} clips")
        }
        (None, None) => "unknown data".to_string(),
    }
}

/// Whether the bundle was trained on the corpus named `corpus` (as [`describe_corpora`] or,
/// for bundles made before corpora were recorded, the training dataset's name says).
pub fn trained_on_corpus(meta: &ser_model::BundleMeta, corpus: &str) -> bool {
    let provenance = &meta.provenance;
    match provenance.get(CORPORA) {
        Some(corpora) => corpora
            .split("; ")
            .any(|entry| entry.split([' ', ':']).next() == Some(corpus)),
        None => provenance
            .get("dataset")
            .is_some_and(|d| ser_corpus::corpus_name_of(std::path::Path::new(d)) == corpus),
    }
}

/// Provenance key of an ensemble report: how its members scored alone.
pub const MEMBERS_ALONE: &str = "members alone";

/// "UA 52.1 % on average (51.0, 53.2, 52.1)": each member's UA averaged over folds.
pub(super) fn describe_members(member_ua: &[Vec<f64>]) -> String {
    let means: Vec<f64> = member_ua
        .iter()
        .map(|folds| folds.iter().sum::<f64>() / folds.len().max(1) as f64)
        .collect();
    let overall = means.iter().sum::<f64>() / means.len().max(1) as f64;
    let each: Vec<String> = means.iter().map(|m| format!("{:.1}", 100.0 * m)).collect();
    format!(
        "UA {:.1} % on average ({}), each member scored alone over the same folds",
        100.0 * overall,
        each.join(", ")
    )
}

/// What a report says was evaluated: the model, its ensemble size and its features.
pub fn model_info(experiment: &Experiment, featurised: &Featurised, n_classes: usize) -> ModelInfo {
    let n_in = featurised
        .matrices
        .iter()
        .flatten()
        .next()
        .map_or(0, |m| m.rows);
    ModelInfo::new(
        &experiment.fit.model,
        experiment.fit.members,
        &experiment.features.name,
        n_in,
        n_classes,
    )
}

impl ModelInfo {
    /// "cnn4 on logmel64-frames", or "cnn4 x3 on ..." for an ensemble (parameters of all
    /// members together).
    pub(super) fn new(
        model: &ModelSpec,
        members: usize,
        features: &str,
        n_in: usize,
        n_classes: usize,
    ) -> Self {
        let parameters = match model {
            ModelSpec::Network(arch) => arch
                .parameter_count(n_in, n_classes)
                .ok()
                .map(|n| (n * members) as u64),
            ModelSpec::Classical(_) => None,
        };
        ModelInfo {
            name: format!("{} on {features}", model.label(members)),
            kind: model.name().to_string(),
            parameters,
        }
    }
}

/// What a report says it was evaluated on.
pub fn dataset_info(dataset: &Dataset) -> DatasetInfo {
    let name = dataset.root.file_name().map_or_else(
        || dataset.root.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let scheme = dataset
        .scheme
        .map_or("folders".to_string(), |s| s.to_string());
    DatasetInfo {
        name,
        description: match dataset.corpus_names() {
            names if names.len() > 1 => {
                let counts = dataset.corpus_counts();
                let parts: Vec<String> = names
                    .iter()
                    .map(|n| format!("{n} {}", counts[n].values().sum::<usize>()))
                    .collect();
                format!(
                    "{} clips from {} corpora ({})",
                    dataset.clips.len(),
                    names.len(),
                    parts.join(", ")
                )
            }
            _ => format!("{} clips, naming scheme {scheme}", dataset.clips.len()),
        },
        clips: Some(dataset.clips.len()),
        speakers: Some(dataset.speakers().len()),
    }
}

/// The commit this build was made from (see build.rs).
pub(super) fn git_commit() -> Option<String> {
    option_env!("SER_BUILD_COMMIT").map(str::to_string)
}
