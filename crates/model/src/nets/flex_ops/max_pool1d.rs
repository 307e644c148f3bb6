//! Max-pool over time by 2 (kernel 2, stride 2, no padding): each output keeps the larger of two
//! neighbouring frames, and its gradient goes back to that frame. burn's Flex pools through its
//! general 2-D pooling with index tensors and a scatter backward, about a tenth of a training
//! step of report 004's CNN (BENCHMARKS.md); here the forward records one bit per output.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::backend_extension;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, DType, Dispatch, Flex, TensorMetadata};
use burn::nn::PaddingConfig1d;
use burn::nn::pool::MaxPool1d;
use burn::tensor::Tensor;
use rayon::prelude::*;
use std::sync::Arc;

use super::{f32s, tensor, trains_on_flex};

/// Backends with the max-pool by 2 of this module.
#[backend_extension(Flex, Autodiff)]
pub trait MaxPool1dBy2Backend: Backend {
    /// `[B, C, T]` -> `[B, C, T / 2]` (floor: an odd last frame is dropped).
    fn max_pool1d_by_2(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// burn's pooling with the same settings: kernel 2, stride 2, no padding or dilation, floor.
fn burns<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::max_pool1d(x, 2, 2, 0, 1, false)
}

impl MaxPool1dBy2Backend for Flex {
    fn max_pool1d_by_2(x: FlexTensor) -> FlexTensor {
        burns::<Flex>(x)
    }
}

impl<C: CheckpointStrategy> MaxPool1dBy2Backend for Autodiff<Flex, C> {
    fn max_pool1d_by_2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let [batch, channels, frames] = x.primitive().shape().dims();
        if x.primitive().dtype() != DType::F32 || frames < 2 {
            return burns::<Self>(x);
        }
        let prep = MaxPool1dBy2Grad
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let x = x.into_primitive();
        match prep {
            OpsKind::Tracked(prep) => {
                let (out, took_second) = pool_rows(&f32s(&x), frames);
                let out = tensor(out, [batch, channels, frames / 2]);
                prep.finish((Arc::new(took_second), [batch, channels, frames]), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(burns::<Flex>(x)),
        }
    }
}

/// Pools each row of `frames` values; also says, per output, whether the second frame won
/// (ties go to the first, as in burn and PyTorch).
fn pool_rows(x: &[f32], frames: usize) -> (Vec<f32>, Vec<bool>) {
    let half = frames / 2;
    let rows = x.len() / frames;
    let mut out = vec![0.0; rows * half];
    let mut took_second = vec![false; rows * half];
    out.par_chunks_mut(half)
        .zip(took_second.par_chunks_mut(half))
        .zip(x.par_chunks(frames))
        .for_each(|((out, second), row)| {
            for (t, pair) in row.chunks_exact(2).enumerate() {
                second[t] = pair[1] > pair[0];
                out[t] = if second[t] { pair[1] } else { pair[0] };
            }
        });
    (out, took_second)
}

#[derive(Debug)]
struct MaxPool1dBy2Grad;

impl Backward<Flex, 1> for MaxPool1dBy2Grad {
    /// Which frame of each pair won, and the input's shape.
    type State = (Arc<Vec<bool>>, [usize; 3]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let grad = f32s(&grad);
        let Some(node) = node_x else { return };
        let (took_second, [batch, channels, frames]) = ops.state;
        let half = frames / 2;
        let mut dx = vec![0.0; batch * channels * frames];
        dx.par_chunks_mut(frames)
            .zip(grad.par_chunks(half))
            .zip(took_second.par_chunks(half))
            .for_each(|((dx, grad), second)| {
                for (t, (&g, &second)) in grad.iter().zip(second).enumerate() {
                    dx[2 * t + usize::from(second)] = g;
                }
            });
        grads.register::<Flex>(node.id, tensor(dx, [batch, channels, frames]));
    }
}

/// `pool.forward(x)`, with this module's kernel when training on Flex and `pool` is a max-pool
/// by 2.
pub fn max_pool1d_forward(pool: &MaxPool1d, x: Tensor<3>) -> Tensor<3> {
    let by_2 = pool.kernel_size == 2
        && pool.stride == 2
        && pool.dilation == 1
        && !pool.ceil_mode
        && matches!(pool.padding, PaddingConfig1d::Valid);
    if !(by_2 && trains_on_flex(&x)) {
        return pool.forward(x);
    }
    Tensor::from_dispatch(<Dispatch as MaxPool1dBy2Backend>::max_pool1d_by_2(
        x.into_dispatch(),
    ))
}

#[cfg(test)]
mod tests {
    use burn::nn::pool::MaxPool1dConfig;
    use burn::tensor::Device;

    use super::super::test_support::{assert_close, random};
    use super::*;

    /// Output and input gradient through either path, under a loss that weighs each output
    /// differently.
    fn run(pool: &MaxPool1d, x: Tensor<3>, ours: bool) -> [Tensor<3>; 2] {
        let x = x.require_grad();
        let y = if ours {
            max_pool1d_forward(pool, x.clone())
        } else {
            pool.forward(x.clone())
        };
        let weights = random(y.dims(), 9, &y.device());
        let grads = (y.clone() * weights).sum().backward();
        [y.inner(), x.grad(&grads).expect("input grad")]
    }

    #[test]
    fn output_and_gradient_match_burns_max_pool() {
        let device = Device::flex().autodiff();
        let pool = MaxPool1dConfig::new(2).with_stride(2).init();
        // Odd and even lengths; ties (as after a ReLU) on the second input.
        for (frames, relu) in [(11, false), (12, false), (12, true)] {
            let mut x = random([3, 4, frames], 1, &device);
            if relu {
                x = x.clamp_min(0.0);
            }
            let ours = run(&pool, x.clone(), true);
            let burns = run(&pool, x, false);
            for ((a, b), what) in ours.into_iter().zip(burns).zip(["output", "dx"]) {
                assert_close(a, b, &format!("T {frames} relu {relu} {what}"));
            }
        }
    }
}
