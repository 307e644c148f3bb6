//! Building blocks shared by several networks.

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool1d, MaxPool1dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig1d, PaddingConfig2d, Relu};
use burn::tensor::{Device, Tensor, TensorData};

use super::flex_ops::{conv1d_forward, max_pool1d_forward, norm_relu_pool_forward};

/// Conv1d ('same' padding) + optional BatchNorm + ReLU + optional max-pool by 2.
#[derive(Module, Debug)]
pub struct ConvBlock1d {
    conv: Conv1d,
    norm: Option<BatchNorm>,
    pool: Option<MaxPool1d>,
    act: Relu,
}

impl ConvBlock1d {
    pub fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        batch_norm: bool,
        pool: bool,
        device: &Device,
    ) -> Self {
        Self {
            conv: Conv1dConfig::new(c_in, c_out, kernel)
                .with_padding(PaddingConfig1d::Same)
                .init(device),
            norm: batch_norm.then(|| BatchNormConfig::new(c_out).init(device)),
            pool: pool.then(|| MaxPool1dConfig::new(2).with_stride(2).init()),
            act: Relu::new(),
        }
    }

    /// A chain of conv + BN + ReLU + max-pool blocks with the given output channels;
    /// returns the blocks and the last block's channel count.
    pub fn stack(
        c_in: usize,
        channels: &[usize],
        kernel: usize,
        device: &Device,
    ) -> (Vec<Self>, usize) {
        let mut c_prev = c_in;
        let blocks = channels
            .iter()
            .map(|&c_out| {
                let block = Self::new(c_prev, c_out, kernel, true, true, device);
                c_prev = c_out;
                block
            })
            .collect();
        (blocks, c_prev)
    }

    /// [B, C_in, T] -> [B, C_out, T or T/2]
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let mut x = conv1d_forward(&self.conv, x);
        if let Some(norm) = &self.norm {
            // Training on Flex: one kernel for the batch norm, the ReLU and the pool.
            if let Some(fused) = norm_relu_pool_forward(norm, x.clone(), self.pool.is_some()) {
                return fused;
            }
            x = norm.forward(x);
        }
        x = self.act.forward(x);
        match &self.pool {
            Some(pool) => max_pool1d_forward(pool, x),
            None => x,
        }
    }
}

/// Conv2d ('same' padding) + BatchNorm + ReLU + optional 2x2 max-pool.
#[derive(Module, Debug)]
pub struct ConvBlock2d {
    conv: Conv2d,
    norm: BatchNorm,
    pool: Option<MaxPool2d>,
    act: Relu,
}

impl ConvBlock2d {
    pub fn new(c_in: usize, c_out: usize, kernel: usize, pool: bool, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([c_in, c_out], [kernel, kernel])
                .with_padding(PaddingConfig2d::Same)
                .init(device),
            norm: BatchNormConfig::new(c_out).init(device),
            pool: pool.then(|| MaxPool2dConfig::new([2, 2]).init()),
            act: Relu::new(),
        }
    }

    /// [B, C_in, H, W] -> [B, C_out, H or H/2, W or W/2]
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.act.forward(self.norm.forward(self.conv.forward(x)));
        match &self.pool {
            Some(pool) => pool.forward(x),
            None => x,
        }
    }
}

/// Length after `n` halvings (floor), as max-pool with kernel 2 / stride 2 gives.
pub fn halved(len: usize, n: usize) -> usize {
    len >> n
}

/// Mean over the time axis: [B, C, T] -> [B, C].
pub fn mean_over_time(x: Tensor<3>) -> Tensor<2> {
    x.mean_dim(2).squeeze_dim(2)
}

/// Mean and standard deviation over the time axis, side by side: [B, C, T] -> [B, 2C].
pub fn mean_and_std_over_time(x: Tensor<3>) -> Tensor<2> {
    let mean = x.clone().mean_dim(2);
    let centred = x - mean.clone();
    let var = (centred.clone() * centred).mean_dim(2);
    // The epsilon keeps the gradient of the root finite on a constant channel.
    let std = (var + 1e-5).sqrt();
    Tensor::cat(vec![mean, std], 1).squeeze_dim(2)
}

/// Mean over the sequence axis: [B, T, D] -> [B, D].
pub fn mean_over_sequence(x: Tensor<3>) -> Tensor<2> {
    x.mean_dim(1).squeeze_dim(1)
}

/// Sinusoidal positional encoding [1, T, D] (Vaswani et al.), computed on the fly: it is
/// cheap next to attention and keeps the weights file free of constants.
pub fn sinusoidal_encoding(t: usize, d: usize, device: &Device) -> Tensor<3> {
    let mut values = vec![0f32; t * d];
    for pos in 0..t {
        for i in 0..d {
            let rate = 10_000f64.powf((2 * (i / 2)) as f64 / d as f64);
            let angle = pos as f64 / rate;
            values[pos * d + i] = if i % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
        }
    }
    Tensor::from_data(TensorData::new(values, [1, t, d]), device)
}
