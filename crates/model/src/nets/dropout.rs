//! Dropout whose masks come from the calling thread's generator instead of the backend's one
//! global generator, so that networks trained at the same time on different threads (folds or
//! ensemble members run in parallel) each draw exactly the masks they would draw alone.
//!
//! The masks are the ones burn's `Dropout::forward` draws after `Backend::seed(seed)`: the
//! same generator (rand's `StdRng`) seeded the same way, the same Bernoulli draws in the same
//! order. A run that seeds both with the same value trains exactly as before. Training on Flex
//! applies them in one kernel ([`super::flex_ops::masked_dropout_forward`]), with burn's
//! arithmetic, so outputs and gradients are the same bits as burn's too.

use std::cell::RefCell;

use burn::nn::Dropout;
use burn::tensor::Tensor;
use rand::distr::Bernoulli;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::flex_ops::masked_dropout_forward;

thread_local! {
    static MASKS: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// Seeds this thread's dropout masks (as `Backend::seed` seeds the backend's generator).
pub fn seed_dropout(seed: u64) {
    MASKS.with(|masks| *masks.borrow_mut() = Some(StdRng::seed_from_u64(seed)));
}

/// Burn's dropout with this thread's masks.
pub trait ThreadDropout {
    /// Zeroes each element with the layer's probability and scales the rest by
    /// `1 / (1 - prob)` while training (an autodiff device, the layer not frozen); the input
    /// unchanged otherwise.
    fn forward_seeded<const D: usize>(&self, input: Tensor<D>) -> Tensor<D>;
}

impl ThreadDropout for Dropout {
    fn forward_seeded<const D: usize>(&self, input: Tensor<D>) -> Tensor<D> {
        if !self.training.is_enabled() || !input.device().is_autodiff() || self.prob == 0.0 {
            return input;
        }
        let keep = 1.0 - self.prob;
        let mask = draw_mask(input.shape().num_elements(), keep);
        masked_dropout_forward(input, mask, (1.0 / keep) as f32)
    }
}

/// `n` Bernoulli(`keep`) draws from this thread's generator: element by element what
/// `TensorData::random(.., Distribution::Bernoulli(keep), rng)` draws (burn's dropout), without
/// building a sampler per element.
fn draw_mask(n: usize, keep: f64) -> Vec<bool> {
    let coin = Bernoulli::new(keep).expect("a probability in [0, 1]");
    MASKS.with(|masks| {
        // Unseeded threads start from a fixed seed: training stays reproducible.
        let mut masks = masks.borrow_mut();
        let rng = masks.get_or_insert_with(|| StdRng::seed_from_u64(0));
        (0..n).map(|_| rng.sample(coin)).collect()
    })
}

#[cfg(test)]
mod tests {
    use burn::nn::DropoutConfig;
    use burn::tensor::Device;

    use super::*;

    fn training_device() -> Device {
        Device::flex().autodiff()
    }

    /// The same masks as burn's own dropout after seeding the backend with the same value.
    #[test]
    fn draws_what_burn_draws() {
        let device = training_device();
        let layer = DropoutConfig::new(0.3).init();
        let input = Tensor::<3>::ones([4, 8, 50], &device);
        device.seed(42);
        let burn_first = layer.forward(input.clone()).into_data();
        let burn_second = layer.forward(input.clone()).into_data();
        seed_dropout(42);
        let ours_first = layer.forward_seeded(input.clone()).into_data();
        let ours_second = layer.forward_seeded(input).into_data();
        assert_eq!(ours_first, burn_first);
        assert_eq!(ours_second, burn_second);
    }

    /// Two threads with the same seed draw the same masks, whatever the other one draws.
    #[test]
    fn each_thread_draws_its_own_masks() {
        let draw = |seed: u64, extra: usize| {
            std::thread::spawn(move || {
                let device = training_device();
                let layer = DropoutConfig::new(0.5).init();
                seed_dropout(seed);
                let input = Tensor::<3>::ones([2, 4, 16], &device);
                let first = layer.forward_seeded(input.clone()).into_data();
                for _ in 0..extra {
                    layer.forward_seeded(input.clone());
                }
                first
            })
        };
        let (a, b, c) = (draw(7, 0), draw(7, 50), draw(8, 0));
        let (a, b, c) = (a.join().unwrap(), b.join().unwrap(), c.join().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn keeps_about_the_kept_share_and_scales_it() {
        let layer = DropoutConfig::new(0.25).init();
        seed_dropout(1);
        let input = Tensor::<3>::ones([8, 16, 100], &training_device());
        let values: Vec<f32> = layer
            .forward_seeded(input)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let kept = values.iter().filter(|&&v| v != 0.0).count() as f64 / values.len() as f64;
        assert!((kept - 0.75).abs() < 0.01, "kept {kept}");
        assert!(
            values
                .iter()
                .all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6)
        );
    }

    #[test]
    fn inference_leaves_the_input_alone() {
        let layer = DropoutConfig::new(0.5).init();
        let input = Tensor::<3>::ones([2, 3, 4], &Device::flex());
        let output = layer.forward_seeded(input.clone());
        assert_eq!(output.into_data(), input.into_data());
    }

    /// Input gradients equal burn's dropout's bit for bit (same seed, same masks).
    #[test]
    fn gradients_are_burns() {
        let device = training_device();
        let layer = DropoutConfig::new(0.3).init();
        let values: Vec<f32> = (0..4 * 8 * 50).map(|i| (i as f32 * 0.37).sin()).collect();
        let input = || {
            Tensor::<3>::from_data(
                burn::tensor::TensorData::new(values.clone(), [4, 8, 50]),
                &device,
            )
            .require_grad()
        };
        let weights = Tensor::<3>::ones([4, 8, 50], &device).mul_scalar(0.7);
        let grad_of = |ours: bool| {
            let x = input();
            let y = if ours {
                seed_dropout(5);
                layer.forward_seeded(x.clone())
            } else {
                device.seed(5);
                layer.forward(x.clone())
            };
            let grads = (y * weights.clone()).sum().backward();
            x.grad(&grads).unwrap().into_data()
        };
        assert_eq!(grad_of(true), grad_of(false));
    }

    /// The masks behave as independent coin flips: the kept share, neighbouring elements and
    /// successive steps (agreement of two flips is keep² + drop² when independent).
    #[test]
    fn masks_are_independent_flips() {
        let n = 200_000;
        seed_dropout(11);
        let (first, second) = (draw_mask(n, 0.7), draw_mask(n, 0.7));
        let share = |m: &[bool]| m.iter().filter(|&&k| k).count() as f64 / m.len() as f64;
        let agreement = |a: &[bool], b: &[bool]| {
            a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
        };
        let independent = 0.7f64.powi(2) + 0.3f64.powi(2);
        // Standard errors are about 0.001 at this size; allow four.
        assert!(
            (share(&first) - 0.7).abs() < 0.004,
            "kept {}",
            share(&first)
        );
        let neighbours = agreement(&first[..n - 1], &first[1..]);
        assert!(
            (neighbours - independent).abs() < 0.004,
            "neighbours {neighbours}"
        );
        let steps = agreement(&first, &second);
        assert!((steps - independent).abs() < 0.004, "steps {steps}");
    }
}
