//! Support vector machine, one-vs-rest, trained by dual coordinate descent on the hinge loss
//! (Hsieh et al. 2008) with the bias folded into the kernel (K + 1). Each binary problem
//! uses class-balanced costs so that small classes are not ignored. Probabilities are a
//! softmax of the decision values with a temperature fitted on the training data.

use serde::{Deserialize, Serialize};

use super::softmax;

/// Hyper-parameters of [`Svm`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SvmConfig {
    /// Cost of margin violations.
    pub c: f32,
    /// RBF width; `None` = 1 / features (scikit-learn's "scale" on standardised input).
    pub gamma: Option<f32>,
    /// Most passes over the training rows per binary problem.
    pub max_epochs: usize,
    /// Stop when the projected-gradient spread falls below this.
    pub tol: f32,
}

impl Default for SvmConfig {
    fn default() -> Self {
        Self {
            c: 1.0,
            gamma: None,
            max_epochs: 200,
            tol: 1e-3,
        }
    }
}

/// The similarity an [`Svm`] compares vectors by.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Kernel {
    /// The dot product: a linear decision boundary.
    Linear,
    /// exp(-gamma · |a - b|²): a boundary that can bend around the data.
    Rbf {
        /// Inverse width: the larger, the more local the similarity.
        gamma: f32,
    },
}

impl Kernel {
    /// k(a, b) + 1 (the constant absorbs the bias).
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Kernel::Linear => a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() + 1.0,
            Kernel::Rbf { gamma } => {
                let d2: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
                (-gamma * d2).exp() + 1.0
            }
        }
    }
}

/// A fitted one-vs-rest SVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Svm {
    kernel: Kernel,
    features: usize,
    /// Support vectors (rows with a non-zero coefficient for some class).
    vectors: Vec<Vec<f32>>,
    /// Per class, alpha_i * y_i for each support vector.
    coef: Vec<Vec<f32>>,
    /// Softmax temperature applied to decision values.
    scale: f32,
}

impl Svm {
    /// Fits one binary problem per class (that class against the rest) on standardised
    /// rows `x` with labels `y < classes`, then the scale of the decision values. `kernel` is used
    /// as given (`cfg.gamma` is read by [`super::ClassicalConfig::fit`]).
    pub fn fit(
        cfg: &SvmConfig,
        kernel: Kernel,
        x: &[Vec<f32>],
        y: &[usize],
        classes: usize,
    ) -> Svm {
        let gram = gram_matrix(kernel, x);
        let alphas: Vec<Vec<f32>> = (0..classes)
            .map(|c| {
                let signs: Vec<f32> = y.iter().map(|&l| if l == c { 1.0 } else { -1.0 }).collect();
                solve_binary(cfg, &gram, &signs)
            })
            .collect();
        let keep: Vec<usize> = (0..x.len())
            .filter(|&i| alphas.iter().any(|a| a[i] != 0.0))
            .collect();
        let mut svm = Svm {
            kernel,
            features: x[0].len(),
            vectors: keep.iter().map(|&i| x[i].clone()).collect(),
            coef: alphas
                .iter()
                .map(|a| keep.iter().map(|&i| a[i]).collect())
                .collect(),
            scale: 1.0,
        };
        svm.scale = fit_temperature(&svm.decisions_all(x), y);
        svm
    }

    /// Input length and class count.
    pub fn dims(&self) -> (usize, usize) {
        (self.features, self.coef.len())
    }

    /// One decision value per class.
    pub fn decision(&self, x: &[f32]) -> Vec<f32> {
        let k: Vec<f32> = self
            .vectors
            .iter()
            .map(|v| self.kernel.eval(v, x))
            .collect();
        self.coef
            .iter()
            .map(|c| c.iter().zip(&k).map(|(a, k)| a * k).sum())
            .collect()
    }

    /// Class probabilities for one vector: a softmax of the decision values, each times the
    /// scale fitted on the training data.
    pub fn predict_proba(&self, x: &[f32]) -> Vec<f32> {
        let scores: Vec<f32> = self.decision(x).iter().map(|d| d * self.scale).collect();
        softmax(&scores)
    }

    fn decisions_all(&self, x: &[Vec<f32>]) -> Vec<Vec<f32>> {
        x.iter().map(|xi| self.decision(xi)).collect()
    }
}

/// Kernel matrix, row-major n x n (the RBF solver needs whole rows; n is clips, not frames).
fn gram_matrix(kernel: Kernel, x: &[Vec<f32>]) -> Vec<f32> {
    let n = x.len();
    let mut gram = vec![0f32; n * n];
    for i in 0..n {
        for j in i..n {
            let k = kernel.eval(&x[i], &x[j]);
            gram[i * n + j] = k;
            gram[j * n + i] = k;
        }
    }
    gram
}

/// Dual coordinate descent for one binary problem; returns alpha_i * y_i.
fn solve_binary(cfg: &SvmConfig, gram: &[f32], signs: &[f32]) -> Vec<f32> {
    let n = signs.len();
    let positives = signs.iter().filter(|&&s| s > 0.0).count().max(1) as f32;
    let negatives = (n as f32 - positives).max(1.0);
    // Balanced costs: each side carries half the total weight.
    let cost = |s: f32| cfg.c * n as f32 / (2.0 * if s > 0.0 { positives } else { negatives });
    let mut alpha = vec![0f32; n];
    let mut f = vec![0f32; n]; // f_i = sum_j alpha_j y_j K_ij
    for _ in 0..cfg.max_epochs {
        let (mut pg_max, mut pg_min) = (f32::NEG_INFINITY, f32::INFINITY);
        for i in 0..n {
            let (yi, ci) = (signs[i], cost(signs[i]));
            let g = yi * f[i] - 1.0;
            let pg = if alpha[i] <= 0.0 {
                g.min(0.0)
            } else if alpha[i] >= ci {
                g.max(0.0)
            } else {
                g
            };
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() <= 1e-12 {
                continue;
            }
            let q = gram[i * n + i].max(1e-12);
            let new = (alpha[i] - g / q).clamp(0.0, ci);
            let delta = (new - alpha[i]) * yi;
            alpha[i] = new;
            if delta != 0.0 {
                let row = &gram[i * n..(i + 1) * n];
                f.iter_mut().zip(row).for_each(|(fj, k)| *fj += delta * k);
            }
        }
        if pg_max - pg_min < cfg.tol {
            break;
        }
    }
    alpha.iter().zip(signs).map(|(a, s)| a * s).collect()
}

/// The softmax temperature minimising the negative log-likelihood (golden-section search
/// over log-scale).
fn fit_temperature(decisions: &[Vec<f32>], y: &[usize]) -> f32 {
    let nll = |log_s: f64| -> f64 {
        let s = log_s.exp() as f32;
        decisions
            .iter()
            .zip(y)
            .map(|(d, &label)| {
                let scores: Vec<f32> = d.iter().map(|v| v * s).collect();
                -(softmax(&scores)[label].max(1e-12) as f64).ln()
            })
            .sum()
    };
    let (mut lo, mut hi) = ((0.05f64).ln(), (50f64).ln());
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..40 {
        let a = hi - ratio * (hi - lo);
        let b = lo + ratio * (hi - lo);
        if nll(a) < nll(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    ((lo + hi) / 2.0).exp() as f32
}
