//! A 1-D convolution (stride 1, no dilation, no groups) computed as single GEMMs over the whole
//! batch: the forward `Y [C_out, B·T] = W · im2col(x)ᵀ`, and a backward in which both gradients
//! share one permuted copy of the output gradient `dY` laid out `[C_out, B·T]`:
//!
//! - `dW [C_out, C_in·K] = dY · im2col(x)` (one GEMM with inner dimension B·T);
//! - `dX = col2im(Wᵀ · dY)` (one GEMM, then K shifted adds per row).
//!
//! burn 0.22's Flex computes the weight gradient as a convolution with `dY` as a length-T kernel
//! (one thin GEMM per input channel) and the input gradient as a transposed convolution; profiled
//! on report 004's CNN that was most of a training step (BENCHMARKS.md).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::backend_extension;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, DType, Dispatch, Flex, TensorMetadata};
use burn::nn::PaddingConfig1d;
use burn::nn::conv::Conv1d;
use burn::tensor::Tensor;
use rayon::prelude::*;
use std::sync::Arc;

use super::{f32s, tensor, trains_on_flex};

/// Backends with the stride-1 convolution of this module.
#[backend_extension(Flex, Autodiff)]
pub trait Conv1dStride1Backend: Backend {
    /// `[B, C_in, T] * [C_out, C_in, K] + [C_out]` with `(left, right)` zero padding.
    fn conv1d_stride1(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        left: usize,
        right: usize,
    ) -> FloatTensor<Self>;
}

fn options(left: usize, right: usize) -> ConvOptions<1> {
    ConvOptions::new_with_padding([1], [(left, right)], [1], 1)
}

impl Conv1dStride1Backend for Flex {
    fn conv1d_stride1(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        left: usize,
        right: usize,
    ) -> FlexTensor {
        Flex::conv1d(x, weight, Some(bias), options(left, right))
    }
}

impl<C: CheckpointStrategy> Conv1dStride1Backend for Autodiff<Flex, C> {
    fn conv1d_stride1(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        left: usize,
        right: usize,
    ) -> FloatTensor<Self> {
        let shape = Conv1dShape::new(x.shape().dims(), weight.shape().dims(), left, right);
        let all_f32 = [&x, &weight, &bias]
            .iter()
            .all(|t| t.primitive().dtype() == DType::F32);
        if !all_f32 || shape.is_empty() {
            return Self::conv1d(x, weight, Some(bias), options(left, right));
        }
        let prep = Conv1dStride1Grad
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful();
        let (x, weight, bias) = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        match prep {
            OpsKind::Tracked(prep) => {
                let cols = shape.im2col(&f32s(&x));
                let weight = f32s(&weight).into_owned();
                let out = shape.forward(&cols, &weight, &f32s(&bias));
                let out = tensor(out, [shape.batch, shape.c_out, shape.t_out]);
                prep.finish((Arc::new(cols), Arc::new(weight), shape), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::conv1d(x, weight, Some(bias), options(left, right)))
            }
        }
    }
}

#[derive(Debug)]
struct Conv1dStride1Grad;

impl Backward<Flex, 3> for Conv1dStride1Grad {
    /// The input's im2col, the weights and the sizes.
    type State = (Arc<Vec<f32>>, Arc<Vec<f32>>, Conv1dShape);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let (cols, weight, shape) = ops.state;
        let grad = shape.channel_major(&f32s(&grads.consume::<Flex>(&ops.node)));
        if let Some(node) = node_x {
            let dx = shape.input_grad(&weight, &grad);
            grads.register::<Flex>(node.id, tensor(dx, [shape.batch, shape.c_in, shape.t_in]));
        }
        if let Some(node) = node_weight {
            let dw = shape.weight_grad(&cols, &grad);
            grads.register::<Flex>(node.id, tensor(dw, [shape.c_out, shape.c_in, shape.kernel]));
        }
        if let Some(node) = node_bias {
            let db = shape.bias_grad(&grad);
            grads.register::<Flex>(node.id, tensor(db, [shape.c_out]));
        }
    }
}

/// Sizes of one stride-1 convolution. Activations are `[B, C, T]`; the GEMMs work on
/// "channel-major" `[C, B·T]` matrices and on the im2col matrix `[B·T_out, C_in·K]`.
#[derive(Debug, Clone, Copy)]
struct Conv1dShape {
    batch: usize,
    c_in: usize,
    c_out: usize,
    kernel: usize,
    t_in: usize,
    t_out: usize,
    left: usize,
}

impl Conv1dShape {
    fn new(x: [usize; 3], weight: [usize; 3], left: usize, right: usize) -> Self {
        Self {
            batch: x[0],
            c_in: x[1],
            t_in: x[2],
            c_out: weight[0],
            kernel: weight[2],
            t_out: (x[2] + left + right + 1).saturating_sub(weight[2]),
            left,
        }
    }

    fn is_empty(&self) -> bool {
        [self.batch, self.c_in, self.c_out, self.kernel, self.t_out].contains(&0)
    }

    fn cols_width(&self) -> usize {
        self.c_in * self.kernel
    }

    /// Row `(b, t)` holds `x_pad[b, c, t + k]` at column `c·K + k` (zero in the padding).
    fn im2col(&self, x: &[f32]) -> Vec<f32> {
        let (k_n, t_in, row) = (self.kernel, self.t_in, self.cols_width());
        let mut cols = vec![0.0; self.batch * self.t_out * row];
        cols.par_chunks_mut(self.t_out * row)
            .zip(x.par_chunks(self.c_in * t_in))
            .for_each(|(item_cols, item)| {
                for (t, dst) in item_cols.chunks_exact_mut(row).enumerate() {
                    // Output t reads inputs t - left .. t - left + K; clip to [0, T).
                    let first = t.saturating_sub(self.left);
                    let last = (t + k_n).saturating_sub(self.left).min(t_in);
                    if first >= last {
                        continue;
                    }
                    let offset = first + self.left - t;
                    if last - first == k_n && copy_fixed_windows(dst, item, t_in, first, k_n) {
                        continue;
                    }
                    for (window, src) in dst.chunks_exact_mut(k_n).zip(item.chunks_exact(t_in)) {
                        window[offset..][..last - first].copy_from_slice(&src[first..last]);
                    }
                }
            });
        cols
    }

    /// `y [B, C_out, T_out]` from `W [C_out, C_in·K] · im2colᵀ` plus the bias.
    fn forward(&self, cols: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
        let (m, n, inner) = (self.c_out, self.batch * self.t_out, self.cols_width());
        // SAFETY: every matrix is a dense row-major buffer of the stated size; im2colᵀ is
        // im2col read with swapped strides.
        let out = unsafe { gemm_row_major(m, n, inner, weight, (inner, 1), cols, (1, inner)) };
        // [C_out, B·T] -> [B, C_out, T], each row shifted by its channel's bias on the way.
        swap_outer_axes(&out, [self.c_out, self.batch, self.t_out], |c, v| {
            v + bias[c]
        })
    }

    /// `[B, C_out, T_out]` -> `[C_out, B·T_out]`.
    fn channel_major(&self, values: &[f32]) -> Vec<f32> {
        swap_outer_axes(values, [self.batch, self.c_out, self.t_out], |_, v| v)
    }

    /// `dW [C_out, C_in·K] = dY [C_out, B·T] · im2col [B·T, C_in·K]`.
    fn weight_grad(&self, cols: &[f32], grad: &[f32]) -> Vec<f32> {
        let (m, n, inner) = (self.c_out, self.cols_width(), self.batch * self.t_out);
        // SAFETY: every matrix is a dense row-major buffer of the stated size.
        unsafe { gemm_row_major(m, n, inner, grad, (inner, 1), cols, (n, 1)) }
    }

    /// `dX = col2im(Wᵀ [C_in·K, C_out] · dY [C_out, B·T])`.
    fn input_grad(&self, weight: &[f32], grad: &[f32]) -> Vec<f32> {
        let (m, n, inner) = (self.cols_width(), self.batch * self.t_out, self.c_out);
        // SAFETY: as above; Wᵀ is W [C_out, C_in·K] read with swapped strides.
        let dcols = unsafe { gemm_row_major(m, n, inner, weight, (1, m), grad, (n, 1)) };
        self.col2im(&dcols)
    }

    /// Adds each tap's column gradient (`[C_in·K, B·T_out]`) back onto the input position it
    /// read.
    fn col2im(&self, dcols: &[f32]) -> Vec<f32> {
        let (k_n, t_in, t_out) = (self.kernel, self.t_in, self.t_out);
        let bt = self.batch * t_out;
        let mut dx = vec![0.0; self.batch * self.c_in * t_in];
        dx.par_chunks_mut(self.c_in * t_in)
            .enumerate()
            .for_each(|(b, item)| {
                for (c, dst) in item.chunks_exact_mut(t_in).enumerate() {
                    for k in 0..k_n {
                        let src = &dcols[(c * k_n + k) * bt + b * t_out..][..t_out];
                        // Output t read input s = t + k - left, where that is inside [0, T).
                        let first_t = self.left.saturating_sub(k);
                        let last_t = (t_in + self.left).saturating_sub(k).min(t_out);
                        for t in first_t..last_t {
                            dst[t + k - self.left] += src[t];
                        }
                    }
                }
            });
        dx
    }

    /// `db [C_out]`: the sum of each channel's output gradient.
    fn bias_grad(&self, grad: &[f32]) -> Vec<f32> {
        grad.chunks_exact(self.batch * self.t_out)
            .map(|row| row.iter().sum())
            .collect()
    }
}

/// Fills one im2col row whose windows are all inside the input when the kernel has one of the
/// usual lengths (3 or 5; returns whether it did): window `c` of `dst` gets
/// `x[c, start .. start + K]` from the item's rows `item`, as a fixed-size copy. A slice copy of
/// a few floats is a `memmove` call, one per input channel and frame (10 % of a cnn4 step).
fn copy_fixed_windows(
    dst: &mut [f32],
    item: &[f32],
    t_in: usize,
    start: usize,
    k_n: usize,
) -> bool {
    fn fixed<const K: usize>(dst: &mut [f32], item: &[f32], t_in: usize, start: usize) -> bool {
        for (window, src) in dst.chunks_exact_mut(K).zip(item.chunks_exact(t_in)) {
            let window: &mut [f32; K] = window.try_into().expect("K floats");
            *window = src[start..start + K].try_into().expect("K floats");
        }
        true
    }
    match k_n {
        3 => fixed::<3>(dst, item, t_in, start),
        5 => fixed::<5>(dst, item, t_in, start),
        _ => false,
    }
}

/// `[A, B, T]` -> `[B, A, T]`, rows of T kept whole, each value `v` of row `a` written as
/// `map(a, v)`.
fn swap_outer_axes(
    values: &[f32],
    [a_n, b_n, t_n]: [usize; 3],
    map: impl Fn(usize, f32) -> f32 + Sync,
) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    out.par_chunks_mut(a_n * t_n)
        .enumerate()
        .for_each(|(b, dst)| {
            for (a, row) in dst.chunks_exact_mut(t_n).enumerate() {
                let src = &values[(a * b_n + b) * t_n..][..t_n];
                for (d, &v) in row.iter_mut().zip(src) {
                    *d = map(a, v);
                }
            }
        });
    out
}

/// `lhs [m, inner] · rhs [inner, n]` as a new row-major `[m, n]` buffer, each operand given by
/// its (row, column) strides.
///
/// # Safety
/// The strides must address elements inside the slices.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_row_major(
    m: usize,
    n: usize,
    inner: usize,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
) -> Vec<f32> {
    if inner == 0 {
        return vec![0.0; m * n];
    }
    let parallelism = match rayon::current_num_threads() {
        1 => gemm::Parallelism::None,
        threads => gemm::Parallelism::Rayon(threads),
    };
    // Not zeroed first: with `read_dst` false gemm writes every element of `dst` and reads
    // none (these buffers are several megabytes; zeroing them was a few percent of a step).
    let mut dst = Vec::<f32>::with_capacity(m * n);
    unsafe {
        gemm::gemm(
            m,
            n,
            inner,
            dst.spare_capacity_mut().as_mut_ptr().cast::<f32>(),
            1,
            n as isize,
            false,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
        // gemm wrote all m·n elements (above).
        dst.set_len(m * n);
    }
    dst
}

/// `conv.forward(x)`, as batched GEMMs when training on Flex.
pub fn conv1d_forward(conv: &Conv1d, x: Tensor<3>) -> Tensor<3> {
    let bias = match &conv.bias {
        Some(bias)
            if trains_on_flex(&x) && conv.stride == 1 && conv.dilation == 1 && conv.groups == 1 =>
        {
            bias
        }
        _ => return conv.forward(x),
    };
    let (left, right) = match conv.padding {
        PaddingConfig1d::Valid => (0, 0),
        // As burn's 'same' padding at stride 1: K - 1 in all, the extra one on the right.
        PaddingConfig1d::Same => ((conv.kernel_size - 1) / 2, conv.kernel_size / 2),
        PaddingConfig1d::Explicit(left, right) => (left, right),
    };
    let out = <Dispatch as Conv1dStride1Backend>::conv1d_stride1(
        x.into_dispatch(),
        conv.weight.val().into_dispatch(),
        bias.val().into_dispatch(),
        left,
        right,
    );
    Tensor::from_dispatch(out)
}

#[cfg(test)]
mod tests {
    use burn::nn::conv::Conv1dConfig;
    use burn::tensor::Device;

    use super::super::test_support::{assert_close, random};
    use super::*;

    /// Output, input gradient, weight gradient and bias gradient of one convolution, through
    /// either path; the loss weighs each output differently so every gradient entry matters.
    fn run(conv: &Conv1d, x: Tensor<3>, ours: bool) -> [Tensor<3>; 4] {
        let x = x.require_grad();
        let y = if ours {
            conv1d_forward(conv, x.clone())
        } else {
            conv.forward(x.clone())
        };
        let weights = random(y.dims(), 9, &y.device());
        let grads = (y.clone() * weights).sum().backward();
        let bias = conv
            .bias
            .as_ref()
            .expect("bias")
            .val()
            .grad(&grads)
            .expect("bias grad");
        [
            y.inner(),
            x.grad(&grads).expect("input grad"),
            conv.weight.val().grad(&grads).expect("weight grad"),
            bias.reshape([1, 1, -1]),
        ]
    }

    #[test]
    fn gradients_match_burns_convolution() {
        let device = Device::flex().autodiff();
        for (kernel, padding) in [
            (5, PaddingConfig1d::Same),
            (4, PaddingConfig1d::Same),
            (3, PaddingConfig1d::Valid),
            (3, PaddingConfig1d::Explicit(2, 1)),
            (3, PaddingConfig1d::Explicit(0, 4)),
        ] {
            let conv = Conv1dConfig::new(6, 7, kernel)
                .with_padding(padding.clone())
                .init(&device);
            // 11 frames, and fewer frames than taps (as deep in a network on short crops).
            for frames in [11, 2] {
                let padding_total = match padding {
                    PaddingConfig1d::Same => kernel - 1,
                    PaddingConfig1d::Valid => 0,
                    PaddingConfig1d::Explicit(left, right) => left + right,
                };
                if frames + padding_total < kernel {
                    continue; // no output at all: burn's own conv1d refuses it
                }
                let x = random([3, 6, frames], 1, &device);
                let ours = run(&conv, x.clone(), true);
                let burns = run(&conv, x, false);
                for ((a, b), what) in ours
                    .into_iter()
                    .zip(burns)
                    .zip(["output", "dx", "dw", "db"])
                {
                    assert_close(
                        a,
                        b,
                        &format!("kernel {kernel} {padding:?} T {frames} {what}"),
                    );
                }
            }
        }
    }
}
