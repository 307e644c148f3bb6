//! Training loop, metrics, evaluation reports and plots.
