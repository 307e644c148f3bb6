//! Batch norm on the batch's statistics + ReLU (+ max-pool by 2) as one kernel forward and one
//! backward: the tail of [`super::super::blocks::ConvBlock1d`] while training.
//!
//! burn 0.22 composes a training batch norm from about ten tensor operations (two transposed
//! copies for the statistics, then centring, scaling and shifting as separate passes, and twice
//! that in the backward), then ReLU and pooling each read and write the activation again. Here
//! the forward reads the input twice (statistics, then the normalised, rectified, pooled output)
//! and keeps only what the backward needs: the normalised input and, per output, which input
//! frame it came from (none where the ReLU cut it). The backward reads the output gradient twice
//! (the per-channel sums, then the input gradient).
//!
//! With `x̂ = (x - mean) / sqrt(var + eps)` and `z` the gradient at the batch norm's output:
//! `dβ = Σ z`, `dγ = Σ z·x̂`, `dx = γ / sqrt(var + eps) · (z - mean(z) - x̂·mean(z·x̂))`, sums and
//! means over the batch and time of each channel (the variance is the biased one, as burn's).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::backend_extension;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, AutodiffBackend, Backend, DType, Dispatch, Flex, TensorMetadata};
use burn::nn::BatchNorm;
use burn::tensor::Tensor;
use rayon::prelude::*;
use std::sync::Arc;

use super::{f32s, tensor};

/// Backends with the fused batch norm + ReLU (+ max-pool by 2) of this module.
#[backend_extension(Flex, Autodiff)]
pub trait NormReluPoolBackend: Backend {
    /// `[B, C, T]` -> the output `[B, C, T]` (or `[B, C, T / 2]` with `pool`, an odd last frame
    /// dropped), and the batch's mean and biased variance `[C]` (for the running statistics).
    fn norm_relu_pool(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        pool: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// burn's operations for the same result.
fn burns<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
    pool: bool,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let normed = B::batch_norm_train(x, gamma, beta, epsilon);
    let mut y = B::relu(normed.output);
    if pool {
        y = B::max_pool1d(y, 2, 2, 0, 1, false);
    }
    (y, normed.mean, normed.variance)
}

fn all_f32<B: Backend>(tensors: [&FloatTensor<B>; 3]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}

impl NormReluPoolBackend for Flex {
    fn norm_relu_pool(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        pool: bool,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        if !all_f32::<Flex>([&x, &gamma, &beta]) {
            return burns::<Flex>(x, gamma, beta, epsilon, pool);
        }
        Forward::run(&x, &gamma, &beta, epsilon, pool)
            .into_tensors()
            .0
    }
}

impl<C: CheckpointStrategy> NormReluPoolBackend for Autodiff<Flex, C> {
    fn norm_relu_pool(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        pool: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        if !all_f32::<Self>([&x, &gamma, &beta]) {
            return burns::<Self>(x, gamma, beta, epsilon, pool);
        }
        let prep = NormReluPoolGrad
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (x, gamma, beta) = (
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        let forward = Forward::run(&x, &gamma, &beta, epsilon, pool);
        let ((out, mean, variance), saved) = forward.into_tensors();
        let out = match prep {
            OpsKind::Tracked(prep) => prep.finish(saved, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        (out, Self::from_inner(mean), Self::from_inner(variance))
    }
}

/// Sizes of one call: activations `[batch, channels, frames]`, outputs of `out_frames` each.
#[derive(Debug, Clone, Copy)]
struct Shape {
    batch: usize,
    channels: usize,
    frames: usize,
    out_frames: usize,
    pool: bool,
}

impl Shape {
    fn rows(&self) -> usize {
        self.batch * self.channels
    }

    /// Values per channel over the batch and time.
    fn per_channel(&self) -> f64 {
        (self.batch * self.frames) as f64
    }
}

/// Where an output came from: the ReLU cut it (no gradient), or the first or second frame of
/// its pair (the only frame without pooling is "first"); `FIRST + 1 == SECOND`.
const CUT: u8 = 0;
const FIRST: u8 = 1;
const SECOND: u8 = 2;

/// What the backward needs: the normalised input `x̂ [B, C, T]`, each output's source frame,
/// `γ / sqrt(var + eps)` per channel, and the sizes.
#[derive(Debug)]
struct Saved {
    normalised: Vec<f32>,
    source: Vec<u8>,
    scale: Vec<f32>,
    shape: Shape,
}

/// A forward pass's results, as plain values.
struct Forward {
    out: Vec<f32>,
    mean: Vec<f32>,
    variance: Vec<f32>,
    saved: Saved,
}

impl Forward {
    fn run(
        x: &FlexTensor,
        gamma: &FlexTensor,
        beta: &FlexTensor,
        epsilon: f64,
        pool: bool,
    ) -> Self {
        let [batch, channels, frames] = x.shape().dims();
        let out_frames = if pool { frames / 2 } else { frames };
        let shape = Shape {
            batch,
            channels,
            frames,
            out_frames,
            pool,
        };
        let (x, gamma, beta) = (f32s(x), f32s(gamma), f32s(beta));
        let (mean, variance) = channel_moments(&x, shape);
        let inv_std: Vec<f32> = variance
            .iter()
            .map(|&v| (1.0 / (f64::from(v) + epsilon).sqrt()) as f32)
            .collect();
        let scale: Vec<f32> = gamma.iter().zip(&inv_std).map(|(g, s)| g * s).collect();
        let mut normalised = vec![0.0; x.len()];
        let mut out = vec![0.0; shape.rows() * out_frames];
        let mut source = vec![CUT; out.len()];
        normalised
            .par_chunks_mut(frames)
            .zip(out.par_chunks_mut(out_frames.max(1)))
            .zip(source.par_chunks_mut(out_frames.max(1)))
            .zip(x.par_chunks(frames))
            .enumerate()
            .for_each(|(row, (((normalised, out), source), x))| {
                let c = row % channels;
                let (m, s) = (mean[c], inv_std[c]);
                for (n, &v) in normalised.iter_mut().zip(x) {
                    *n = (v - m) * s;
                }
                let (g, b) = (gamma[c], beta[c]);
                if pool {
                    rectify_and_pool_row(normalised, g, b, out, source);
                } else {
                    rectify_row(normalised, g, b, out, source);
                }
            });
        Forward {
            out,
            mean,
            variance,
            saved: Saved {
                normalised,
                source,
                scale,
                shape,
            },
        }
    }

    /// (output, mean, variance) as tensors, and what the backward keeps.
    fn into_tensors(self) -> ((FlexTensor, FlexTensor, FlexTensor), Arc<Saved>) {
        let Shape {
            batch,
            channels,
            out_frames,
            ..
        } = self.saved.shape;
        (
            (
                tensor(self.out, [batch, channels, out_frames]),
                tensor(self.mean, [channels]),
                tensor(self.variance, [channels]),
            ),
            Arc::new(self.saved),
        )
    }
}

/// `out = relu(g·x̂ + b)` of one row, and where each output came from (branch-free: the
/// comparisons are coin flips to a branch predictor).
fn rectify_row(normalised: &[f32], g: f32, b: f32, out: &mut [f32], source: &mut [u8]) {
    for ((o, from), &n) in out.iter_mut().zip(source.iter_mut()).zip(normalised) {
        let y = g * n + b;
        let alive = y > 0.0;
        *o = if alive { y } else { 0.0 };
        *from = u8::from(alive) * FIRST;
    }
}

/// `out = max-pool-by-2(relu(g·x̂ + b))` of one row, and where each output came from; ties go
/// to the first frame, as in burn and PyTorch.
fn rectify_and_pool_row(normalised: &[f32], g: f32, b: f32, out: &mut [f32], source: &mut [u8]) {
    for ((o, from), pair) in out
        .iter_mut()
        .zip(source.iter_mut())
        .zip(normalised.chunks_exact(2))
    {
        let (first, second) = (g * pair[0] + b, g * pair[1] + b);
        let takes_second = second > first;
        let y = if takes_second { second } else { first };
        let alive = y > 0.0;
        *o = if alive { y } else { 0.0 };
        *from = u8::from(alive) * (FIRST + u8::from(takes_second));
    }
}

/// `(Σ a, Σ a·b)` in eight lanes: one running float sum would not vectorise.
fn sum_and_dot(a: &[f32], b: &[f32]) -> (f32, f32) {
    const LANES: usize = 8;
    let (mut sum, mut dot) = ([0f32; LANES], [0f32; LANES]);
    let (a_lanes, b_lanes) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_lanes.remainder().iter().sum();
    let tail_dot: f32 = a_lanes
        .remainder()
        .iter()
        .zip(b_lanes.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (a, b) in a_lanes.zip(b_lanes) {
        for i in 0..LANES {
            sum[i] += a[i];
            dot[i] += a[i] * b[i];
        }
    }
    (
        sum.iter().sum::<f32>() + tail,
        dot.iter().sum::<f32>() + tail_dot,
    )
}

/// Each channel's mean and biased variance over the batch and time (rows summed in f64).
fn channel_moments(x: &[f32], shape: Shape) -> (Vec<f32>, Vec<f32>) {
    let n = shape.per_channel();
    (0..shape.channels)
        .into_par_iter()
        .map(|c| {
            let (mut sum, mut squares) = (0f64, 0f64);
            for b in 0..shape.batch {
                let row = &x[(b * shape.channels + c) * shape.frames..][..shape.frames];
                let (s, q) = sum_and_dot(row, row);
                sum += f64::from(s);
                squares += f64::from(q);
            }
            let mean = sum / n;
            (mean as f32, (squares / n - mean * mean).max(0.0) as f32)
        })
        .unzip()
}

#[derive(Debug)]
struct NormReluPoolGrad;

impl Backward<Flex, 3> for NormReluPoolGrad {
    type State = Arc<Saved>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let grad = f32s(&grad);
        let saved = ops.state;
        let shape = saved.shape;
        let (sum_z, sum_zx) = saved.channel_sums(&grad);
        if let Some(node) = node_x {
            let dx = saved.input_grad(&grad, &sum_z, &sum_zx);
            grads.register::<Flex>(
                node.id,
                tensor(dx, [shape.batch, shape.channels, shape.frames]),
            );
        }
        let to_f32 = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(to_f32(&sum_zx), [shape.channels]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(to_f32(&sum_z), [shape.channels]));
        }
    }
}

impl Saved {
    /// The gradient `z` at the batch norm's output for one row (`frames` values) from the
    /// output gradient's row `grad`: each output's gradient goes to the frame it came from.
    fn expand_row(&self, grad: &[f32], source: &[u8], z: &mut [f32]) {
        if self.shape.pool {
            z.fill(0.0);
            for ((pair, &g), &from) in z.chunks_exact_mut(2).zip(grad).zip(source) {
                pair[0] = if from == FIRST { g } else { 0.0 };
                pair[1] = if from == SECOND { g } else { 0.0 };
            }
        } else {
            for ((z, &g), &from) in z.iter_mut().zip(grad).zip(source) {
                *z = if from == FIRST { g } else { 0.0 };
            }
        }
    }

    /// Row `row` of the output gradient and of the sources.
    fn output_row<'a>(&'a self, grad: &'a [f32], row: usize) -> (&'a [f32], &'a [u8]) {
        let out_frames = self.shape.out_frames;
        (
            &grad[row * out_frames..][..out_frames],
            &self.source[row * out_frames..][..out_frames],
        )
    }

    /// `Σ z` and `Σ z·x̂` of each channel, `z` the gradient at the batch norm's output.
    fn channel_sums(&self, grad: &[f32]) -> (Vec<f64>, Vec<f64>) {
        let Shape {
            batch,
            channels,
            frames,
            ..
        } = self.shape;
        (0..channels)
            .into_par_iter()
            .map(|c| {
                let mut z = vec![0.0; frames];
                let (mut sum_z, mut sum_zx) = (0f64, 0f64);
                for b in 0..batch {
                    let row = b * channels + c;
                    let (grad, source) = self.output_row(grad, row);
                    self.expand_row(grad, source, &mut z);
                    let (s, d) = sum_and_dot(&z, &self.normalised[row * frames..][..frames]);
                    sum_z += f64::from(s);
                    sum_zx += f64::from(d);
                }
                (sum_z, sum_zx)
            })
            .unzip()
    }

    /// `dx = γ/σ · (z - mean(z) - x̂·mean(z·x̂))` for every input frame.
    fn input_grad(&self, grad: &[f32], sum_z: &[f64], sum_zx: &[f64]) -> Vec<f32> {
        let Shape {
            channels, frames, ..
        } = self.shape;
        let n = self.shape.per_channel();
        let mut dx = vec![0.0; self.normalised.len()];
        dx.par_chunks_mut(frames)
            .zip(self.normalised.par_chunks(frames))
            .enumerate()
            .for_each_init(
                || vec![0.0; frames],
                |z, (row, (dx, normalised))| {
                    let c = row % channels;
                    let (grad, source) = self.output_row(grad, row);
                    self.expand_row(grad, source, z);
                    let scale = self.scale[c];
                    let mean_z = (sum_z[c] / n) as f32;
                    let mean_zx = (sum_zx[c] / n) as f32;
                    for ((d, &xn), &z) in dx.iter_mut().zip(normalised).zip(z.iter()) {
                        *d = scale * (z - mean_z - xn * mean_zx);
                    }
                },
            );
        dx
    }
}

/// `relu(norm(x))`, then a max-pool by 2 with `pool`, by this module's kernel when `norm`
/// trains on Flex (updating its running statistics as burn's batch norm does); `None` when the
/// caller should use burn's modules (inference, another backend, fewer than two frames).
pub fn norm_relu_pool_forward(norm: &BatchNorm, x: Tensor<3>, pool: bool) -> Option<Tensor<3>> {
    // Fewer than two frames (nothing to pool, or a batch norm over single values) stay burn's.
    if !(norm.training.is_enabled() && super::trains_on_flex(&x)) || x.dims()[2] < 2 {
        return None;
    }
    let (out, mean, variance) = <Dispatch as NormReluPoolBackend>::norm_relu_pool(
        x.into_dispatch(),
        norm.gamma.val().into_dispatch(),
        norm.beta.val().into_dispatch(),
        norm.epsilon,
        pool,
    );
    let (mean, variance) = (
        Tensor::<1>::from_dispatch(mean),
        Tensor::<1>::from_dispatch(variance),
    );
    let device = mean.device();
    let momentum = norm.momentum;
    let blend = |running: Tensor<1>, batch: Tensor<1>| {
        running
            .to_device(&device)
            .mul_scalar(1.0 - momentum)
            .add(batch.detach().mul_scalar(momentum))
            .detach()
    };
    norm.running_mean
        .update(blend(norm.running_mean.value_sync(), mean));
    norm.running_var
        .update(blend(norm.running_var.value_sync(), variance));
    Some(Tensor::from_dispatch(out))
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::nn::BatchNormConfig;
    use burn::nn::pool::MaxPool1dConfig;
    use burn::tensor::Device;

    use super::super::test_support::{assert_close, random};
    use super::*;

    /// The output, the input's gradient and the running statistics through either path, under a
    /// loss that weighs each output differently; `gamma` and `beta` set away from 1 and 0.
    fn run(x: Tensor<3>, pool: bool, ours: bool) -> Vec<Tensor<3>> {
        let device = x.device();
        let channels = x.dims()[1];
        let mut norm = BatchNormConfig::new(channels).init(&device);
        let affine = |seed| random([1, 1, channels], seed, &device).reshape([channels]);
        norm.gamma = Param::from_tensor(affine(5).add_scalar(1.0));
        norm.beta = Param::from_tensor(affine(6));
        let x = x.require_grad();
        let y = if ours {
            norm_relu_pool_forward(&norm, x.clone(), pool).expect("trains on Flex")
        } else {
            let y = norm.forward(x.clone()).clamp_min(0.0);
            match pool {
                true => MaxPool1dConfig::new(2).with_stride(2).init().forward(y),
                false => y,
            }
        };
        let weights = random(y.dims(), 9, &device);
        let grads = (y.clone() * weights).sum().backward();
        let as_3d = |t: Tensor<1>| t.reshape([1, 1, channels]);
        vec![
            y.inner(),
            x.grad(&grads).expect("input grad"),
            as_3d(norm.gamma.grad(&grads).expect("gamma grad")),
            as_3d(norm.beta.grad(&grads).expect("beta grad")),
            as_3d(norm.running_mean.value().inner()),
            as_3d(norm.running_var.value().inner()),
        ]
    }

    #[test]
    fn output_gradients_and_running_statistics_match_burns_modules() {
        let device = Device::flex().autodiff();
        for (shape, pool) in [([3, 4, 11], true), ([2, 5, 12], true), ([3, 4, 7], false)] {
            let x = random(shape, 1, &device).mul_scalar(3.0).add_scalar(0.5);
            let ours = run(x.clone(), pool, true);
            let burns = run(x, pool, false);
            let names = [
                "output",
                "dx",
                "dgamma",
                "dbeta",
                "running mean",
                "running var",
            ];
            for ((a, b), what) in ours.into_iter().zip(burns).zip(names) {
                assert_close(a, b, &format!("{shape:?} pool {pool}: {what}"));
            }
        }
    }

    #[test]
    fn inference_is_left_to_burn() {
        let norm = BatchNormConfig::new(3).init(&Device::flex());
        let x = random([2, 3, 8], 2, &Device::flex());
        assert!(norm_relu_pool_forward(&norm, x, true).is_none());
    }
}
