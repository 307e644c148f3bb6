//! An adversarial head that makes the clip embedding uninformative about a nuisance: which
//! sentence was spoken, which speaker spoke, which corpus a clip comes from (gradient
//! reversal, Ganin & Lempitsky 2015).
//!
//! The head learns to tell the nuisance apart from the embedding; the network below it gets
//! the head's gradient reversed, so it learns to leave the nuisance out. Each nuisance class
//! belongs to a group, and the head only tells apart classes of one group: for sentences the
//! group is (corpus, emotion), so the network unlearns which words were said without being
//! pushed to unlearn the emotion (in ASED most sentences were spoken in one emotion only, so
//! "which sentence" would otherwise also mean "which emotion").

use ser_model::burn;
use ser_model::burn::module::Module;
use ser_model::burn::nn::{Linear, LinearConfig, Relu};
use ser_model::burn::tensor::{Device, Int, Tensor, TensorData, activation::log_softmax};
use serde::{Deserialize, Serialize};

use super::FitError;

/// What the adversary tries to recover, and how strongly the network is pushed away from it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Adversary {
    /// The nuisance the head tries to recover.
    pub target: NuisanceKind,
    /// The largest gradient-reversal factor, reached as training goes on (it grows from 0 as
    /// 2 / (1 + exp(-10 p)) - 1 over the share p of steps done, so that the head learns
    /// before the network is pushed).
    pub weight: f32,
}

/// A nuisance the adversary can be set on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NuisanceKind {
    /// The sentence (or statement) spoken, told apart among those of the same corpus and
    /// emotion.
    Sentence,
    /// The speaker, among all speakers.
    Speaker,
    /// The corpus, among all corpora.
    Corpus,
}

impl NuisanceKind {
    /// The names `from_str` accepts, for help and error messages.
    pub const NAMES: [&'static str; 3] = ["sentence", "speaker", "corpus"];

    /// The kebab-case name, one of [`Self::NAMES`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Sentence => "sentence",
            Self::Speaker => "speaker",
            Self::Corpus => "corpus",
        }
    }
}

impl std::str::FromStr for NuisanceKind {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "sentence" => Ok(Self::Sentence),
            "speaker" => Ok(Self::Speaker),
            "corpus" => Ok(Self::Corpus),
            other => Err(format!(
                "unknown nuisance {other:?} (one of: {})",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// Each sample's nuisance class, and the group of each class.
#[derive(Debug, Clone, PartialEq)]
pub struct Nuisance {
    /// Nuisance class of each sample.
    pub class_of: Vec<usize>,
    /// Group of each nuisance class; the head only tells apart classes of the same group.
    pub group_of_class: Vec<usize>,
}

impl Nuisance {
    /// Classes and groups from one (group, class) key per sample; `None` (nothing known)
    /// becomes a class alone in its group, on which the adversary has nothing to learn.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = Option<(&'a str, &'a str)>>) -> Self {
        let mut classes: Vec<(Option<&str>, Option<&str>)> = Vec::new();
        let mut groups: Vec<Option<&str>> = Vec::new();
        let mut group_of_class = Vec::new();
        let class_of = keys
            .into_iter()
            .map(|key| {
                let (group, class) = key.unzip();
                if let Some(i) = classes.iter().position(|c| *c == (group, class)) {
                    return i;
                }
                let g = groups.iter().position(|g| *g == group).unwrap_or_else(|| {
                    groups.push(group);
                    groups.len() - 1
                });
                classes.push((group, class));
                group_of_class.push(g);
                classes.len() - 1
            })
            .collect();
        Self {
            class_of,
            group_of_class,
        }
    }

    /// Number of nuisance classes.
    pub fn classes(&self) -> usize {
        self.group_of_class.len()
    }

    pub(crate) fn check(&self, samples: usize) -> Result<(), FitError> {
        if self.class_of.len() != samples || self.class_of.iter().any(|&c| c >= self.classes()) {
            return Err(FitError::BadData(format!(
                "{} nuisance labels for {samples} samples",
                self.class_of.len()
            )));
        }
        Ok(())
    }

    /// Additive logit mask for one sample: 0 on the classes of its group, a large negative
    /// value elsewhere.
    fn mask_row(&self, class: usize, out: &mut Vec<f32>) {
        let group = self.group_of_class[class];
        out.extend(
            self.group_of_class
                .iter()
                .map(|&g| if g == group { 0.0 } else { -1e4 }),
        );
    }
}

/// A small MLP on the embedding.
#[derive(Module, Debug)]
pub(crate) struct AdversaryHead {
    hidden: Linear,
    relu: Relu,
    out: Linear,
}

impl AdversaryHead {
    pub fn new(embedding: usize, classes: usize, device: &Device) -> Self {
        const HIDDEN: usize = 128;
        Self {
            hidden: LinearConfig::new(embedding, HIDDEN).init(device),
            relu: Relu::new(),
            out: LinearConfig::new(HIDDEN, classes).init(device),
        }
    }

    /// The adversary's cross-entropy on a batch whose embedding reaches the network below
    /// with its gradient reversed and scaled by `lambda`.
    pub fn loss(
        &self,
        embedding: Tensor<2>,
        lambda: f32,
        nuisance: &Nuisance,
        batch_classes: &[usize],
        device: &Device,
    ) -> Tensor<1> {
        let b = batch_classes.len();
        let k = nuisance.classes();
        let mut mask = Vec::with_capacity(b * k);
        for &class in batch_classes {
            nuisance.mask_row(class, &mut mask);
        }
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [b, k]), device);
        let logits = self.out.forward(
            self.relu
                .forward(self.hidden.forward(reverse_gradient(embedding, lambda))),
        ) + mask;
        let targets = Tensor::<1, Int>::from_data(
            TensorData::new(batch_classes.iter().map(|&c| c as i64).collect(), [b]),
            device,
        );
        log_softmax(logits, 1)
            .gather(1, targets.unsqueeze_dim(1))
            .mean()
            .neg()
    }
}

/// The identity going forward; going back, the gradient times `-lambda`.
pub(crate) fn reverse_gradient(x: Tensor<2>, lambda: f32) -> Tensor<2> {
    x.clone().detach().mul_scalar(1.0 + lambda) - x.mul_scalar(lambda)
}

/// The reversal factor after the share `progress` (0..=1) of training steps.
pub(crate) fn ramp(weight: f32, progress: f64) -> f32 {
    let p = progress.clamp(0.0, 1.0);
    weight * (2.0 / (1.0 + (-10.0 * p).exp()) - 1.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_classes_grouped_as_given() {
        let n = Nuisance::from_keys([
            Some(("ased/sad", "03")),
            Some(("ased/sad", "04")),
            Some(("ased/happy", "03")),
            None,
            Some(("ased/sad", "03")),
        ]);
        assert_eq!(n.class_of, vec![0, 1, 2, 3, 0]);
        assert_eq!(n.group_of_class, vec![0, 0, 1, 2]);
        let mut row = Vec::new();
        n.mask_row(1, &mut row);
        assert_eq!(row, vec![0.0, 0.0, -1e4, -1e4]);
        assert!(n.check(5).is_ok());
        assert!(n.check(4).is_err());
    }

    #[test]
    fn the_ramp_starts_at_zero_and_reaches_the_weight() {
        assert_eq!(ramp(0.5, 0.0), 0.0);
        assert!((ramp(0.5, 1.0) - 0.5).abs() < 1e-3);
        assert!(ramp(0.5, 0.1) < ramp(0.5, 0.3));
    }

    #[test]
    fn reversal_keeps_values_and_flips_the_gradient() {
        let device = ser_model::training_device().autodiff();
        let x = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, -2.0, 3.0, 0.5], [2, 2]),
            &device,
        )
        .require_grad();
        let y = reverse_gradient(x.clone(), 0.7);
        let values: Vec<f32> = y
            .clone()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        for (a, b) in values.iter().zip([1.0f32, -2.0, 3.0, 0.5]) {
            assert!((a - b).abs() < 1e-6);
        }
        let grads = (y * 2.0).sum().backward();
        let g: Vec<f32> = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        for v in g {
            assert!((v - -1.4).abs() < 1e-6, "{v}");
        }
    }
}
