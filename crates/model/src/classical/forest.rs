//! Random forest: bootstrap samples, CART trees split on Gini impurity over a random subset
//! of sqrt(D) features per node. Probabilities average the trees' leaf class frequencies.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// Hyper-parameters of [`RandomForest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForestConfig {
    /// Number of trees (at least one is grown).
    pub trees: usize,
    /// Nodes this deep become leaves (the root is at depth 0).
    pub max_depth: usize,
    /// Fewest training rows each side of a split keeps (at least 1).
    pub min_samples_leaf: usize,
    /// Features tried per split; `None` = sqrt(D).
    pub max_features: Option<usize>,
}

impl Default for ForestConfig {
    fn default() -> Self {
        Self {
            trees: 100,
            max_depth: 24,
            min_samples_leaf: 1,
            max_features: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Node {
    Split {
        feature: usize,
        threshold: f32,
        left: usize,
        right: usize,
    },
    Leaf(Vec<f32>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

/// A fitted random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForest {
    features: usize,
    classes: usize,
    trees: Vec<Tree>,
}

/// What growing a tree needs to see.
struct Grower<'a> {
    x: &'a [Vec<f32>],
    y: &'a [usize],
    classes: usize,
    cfg: &'a ForestConfig,
    mtry: usize,
    rng: SplitMix64,
    nodes: Vec<Node>,
}

impl RandomForest {
    /// Grows the trees on rows `x` with labels `y < classes`, each tree on its own bootstrap
    /// sample; `seed` fixes the samples and the features tried. The rows must be checked
    /// already (non-empty, of one length), as [`super::ClassicalConfig::fit`] does.
    pub fn fit(cfg: &ForestConfig, x: &[Vec<f32>], y: &[usize], classes: usize, seed: u64) -> Self {
        let d = x[0].len();
        let mtry = cfg
            .max_features
            .unwrap_or((d as f64).sqrt().round() as usize)
            .clamp(1, d);
        let trees = (0..cfg.trees.max(1))
            .map(|t| {
                let mut rng = SplitMix64::new(seed ^ (t as u64).wrapping_mul(0x9E37_79B9));
                let sample: Vec<usize> = (0..x.len()).map(|_| rng.below(x.len())).collect();
                let mut grower = Grower {
                    x,
                    y,
                    classes,
                    cfg,
                    mtry,
                    rng,
                    nodes: Vec::new(),
                };
                grower.grow(sample, 0);
                Tree {
                    nodes: grower.nodes,
                }
            })
            .collect();
        Self {
            features: d,
            classes,
            trees,
        }
    }

    /// Input length and class count.
    pub fn dims(&self) -> (usize, usize) {
        (self.features, self.classes)
    }

    /// Class probabilities for one vector: the mean of the class frequencies of the leaves
    /// it reaches.
    pub fn predict_proba(&self, x: &[f32]) -> Vec<f32> {
        let mut probs = vec![0f32; self.classes];
        for tree in &self.trees {
            let leaf = tree.leaf(x);
            probs.iter_mut().zip(leaf).for_each(|(p, l)| *p += l);
        }
        let n = self.trees.len().max(1) as f32;
        probs.iter_mut().for_each(|p| *p /= n);
        probs
    }
}

impl Tree {
    fn leaf(&self, x: &[f32]) -> &[f32] {
        let mut i = 0;
        loop {
            match &self.nodes[i] {
                Node::Leaf(p) => return p,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    let v = x.get(*feature).copied().unwrap_or(0.0);
                    i = if v <= *threshold { *left } else { *right };
                }
            }
        }
    }
}

impl Grower<'_> {
    /// Grows the subtree for `sample` and returns its node index.
    fn grow(&mut self, sample: Vec<usize>, depth: usize) -> usize {
        let counts = self.counts(&sample);
        let pure = counts.iter().filter(|&&c| c > 0).count() <= 1;
        let split = if pure || depth >= self.cfg.max_depth {
            None
        } else {
            self.best_split(&sample)
        };
        let Some((feature, threshold)) = split else {
            let n = sample.len().max(1) as f32;
            self.nodes
                .push(Node::Leaf(counts.iter().map(|&c| c as f32 / n).collect()));
            return self.nodes.len() - 1;
        };
        let (left, right): (Vec<usize>, Vec<usize>) = sample
            .into_iter()
            .partition(|&i| self.x[i][feature] <= threshold);
        let index = self.nodes.len();
        self.nodes.push(Node::Leaf(Vec::new())); // placeholder until the children exist
        let left = self.grow(left, depth + 1);
        let right = self.grow(right, depth + 1);
        self.nodes[index] = Node::Split {
            feature,
            threshold,
            left,
            right,
        };
        index
    }

    fn counts(&self, sample: &[usize]) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        sample.iter().for_each(|&i| counts[self.y[i]] += 1);
        counts
    }

    /// The (feature, threshold) with the lowest weighted Gini impurity, if any split
    /// leaves `min_samples_leaf` on both sides.
    fn best_split(&mut self, sample: &[usize]) -> Option<(usize, f32)> {
        let d = self.x[0].len();
        let mut features: Vec<usize> = (0..d).collect();
        self.rng.shuffle(&mut features);
        let total = self.counts(sample);
        let mut best: Option<(f64, usize, f32)> = None;
        let mut order = sample.to_vec();
        for &f in &features[..self.mtry] {
            order.sort_by(|&a, &b| self.x[a][f].total_cmp(&self.x[b][f]));
            if let Some((score, threshold)) = self.scan(&order, f, &total)
                && best.is_none_or(|(s, _, _)| score < s)
            {
                best = Some((score, f, threshold));
            }
        }
        best.map(|(_, f, t)| (f, t))
    }

    /// Sweeps one sorted feature; returns the best impurity and midpoint threshold.
    fn scan(&self, order: &[usize], f: usize, total: &[usize]) -> Option<(f64, f32)> {
        let n = order.len();
        let min_leaf = self.cfg.min_samples_leaf.max(1);
        let mut left = vec![0usize; self.classes];
        let mut best: Option<(f64, f32)> = None;
        for k in 0..n - 1 {
            left[self.y[order[k]]] += 1;
            let (a, b) = (self.x[order[k]][f], self.x[order[k + 1]][f]);
            if a == b || k + 1 < min_leaf || n - k - 1 < min_leaf {
                continue;
            }
            let score = weighted_gini(&left, total, k + 1, n);
            if best.is_none_or(|(s, _)| score < s) {
                let mid = a + (b - a) / 2.0;
                // Adjacent floats: the midpoint can round up to b; split at a instead.
                best = Some((score, if mid < b { mid } else { a }));
            }
        }
        best
    }
}

fn weighted_gini(left: &[usize], total: &[usize], n_left: usize, n: usize) -> f64 {
    let n_right = n - n_left;
    let (mut sl, mut sr) = (0f64, 0f64);
    for (l, t) in left.iter().zip(total) {
        sl += (*l as f64).powi(2);
        sr += ((t - l) as f64).powi(2);
    }
    let gini_l = 1.0 - sl / (n_left as f64).powi(2);
    let gini_r = 1.0 - sr / (n_right as f64).powi(2);
    (n_left as f64 * gini_l + n_right as f64 * gini_r) / n as f64
}
