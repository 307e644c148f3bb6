//! Training loop, metrics, evaluation reports and plots.
//!
//! - [`fit`]: the training loop: networks (AdamW, schedules, augmentation, early stopping,
//!   resumable checkpoints, an optional adversarial head), classical models and seed ensembles.
//! - [`history`]: per-epoch training records (loss, accuracy, learning rate, time).
//! - [`metrics`]: WA/UA, per-class and macro scores, confusion matrices, per-speaker accuracy,
//!   and mean ± std aggregation over cross-validation folds.
//! - [`calibration`]: temperature scaling fitted on validation speakers, and leave-one-out
//!   temperatures for corpora nobody calibrated on.
//! - [`plots`]: self-contained SVG charts (confusion heat map, per-class bars, training curves,
//!   per-speaker bars, model comparison) drawn with plotters; reused by the web server.
//! - [`report`]: evaluation and comparison reports as JSON, offline HTML and Markdown.
//! - [`pipeline`]: dataset → features → cross-validation reports, or a trained bundle.
//! - [`folds`]: finished folds kept on disk, so a cross-validation resumes or runs in parts.
//! - [`parallel`]: folds and ensemble members side by side, each on its share of the threads.
//! - [`recipe`]: the shipped model's training recipe, for the web Training page and the docs.
//! - [`demo`]: deterministic synthetic evaluations for examples, UI work and tests.

pub mod calibration;
pub mod demo;
pub mod fit;
pub mod folds;
pub mod history;
pub mod metrics;
pub mod parallel;
pub mod pipeline;
pub mod plots;
pub mod recipe;
pub mod report;
