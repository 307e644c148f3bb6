//! Training kernels for the Flex CPU backend, as burn backend extensions with hand-written
//! backward passes: the 1-D convolution, the max-pool by 2 and the fused batch norm + ReLU
//! (+ max-pool) of [`super::blocks::ConvBlock1d`], and dropout with a given mask.
//!
//! Each is used only when a network trains on Flex (an autodiff Flex device) with f32 weights;
//! inference and the other backends (CUDA, wgpu) keep burn's modules, so predictions do not
//! depend on this code. Each is checked against burn's own module, output and gradients.

mod conv1d;
mod dropout;
mod max_pool1d;
mod norm_relu_pool;

use std::borrow::Cow;

use burn::backend::DispatchDevice;
use burn::backend::flex::FlexTensor;
use burn::tensor::{Tensor, TensorData};

pub use conv1d::conv1d_forward;
pub use dropout::masked_dropout_forward;
pub use max_pool1d::max_pool1d_forward;
pub use norm_relu_pool::norm_relu_pool_forward;

/// Whether `x` lives on an autodiff Flex device (training on the CPU).
fn trains_on_flex<const D: usize>(x: &Tensor<D>) -> bool {
    let device = x.device();
    device.is_autodiff() && matches!(device.inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// The values of an f32 tensor in row-major order: borrowed when it is contiguous, else a
/// contiguous copy.
fn f32s(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("f32 tensor")
                .to_vec(),
        ),
    }
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

#[cfg(test)]
mod test_support {
    use burn::tensor::{Device, Tensor, TensorData};

    use crate::rng::SplitMix64;

    pub fn random(shape: [usize; 3], seed: u64, device: &Device) -> Tensor<3> {
        let mut rng = SplitMix64::new(seed);
        let values: Vec<f32> = (0..shape.iter().product())
            .map(|_| rng.unit() as f32 * 2.0 - 1.0)
            .collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// Equal within 1e-4 relative, element by element.
    pub fn assert_close(ours: Tensor<3>, burns: Tensor<3>, what: &str) {
        let (ours, burns) = (
            ours.into_data().try_to_vec::<f32>().unwrap(),
            burns.into_data().try_to_vec::<f32>().unwrap(),
        );
        assert_eq!(ours.len(), burns.len(), "{what}: sizes differ");
        for (i, (a, b)) in ours.iter().zip(&burns).enumerate() {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{what}[{i}]: {a} against burn's {b}"
            );
        }
    }
}
