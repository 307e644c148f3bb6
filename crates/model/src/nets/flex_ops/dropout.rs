//! Dropout with a given mask as one kernel: `y = (x · m) · s` forward and `dx = (dy · s) · m`
//! backward (`m` 0 or 1 per element, `s = 1 / keep`), the same arithmetic in the same order as
//! burn's `input * mask * scale` (two tensor products and their two backward products), so the
//! results are bit for bit those of that composition; it only skips building the mask tensor
//! and the intermediate products.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::backend_extension;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata};
use burn::tensor::DType;
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;
use std::sync::Arc;

use super::f32s;

/// Backends with the masked dropout of this module.
#[backend_extension(Flex, Autodiff)]
pub trait MaskedDropoutBackend: Backend {
    /// `x` with the elements whose `keep` flag is false zeroed and the rest scaled by `scale`
    /// (`keep` holds one flag per element, in row-major order). f32 tensors only.
    fn masked_dropout(x: FloatTensor<Self>, keep: Arc<Vec<bool>>, scale: f32) -> FloatTensor<Self>;
}

/// The mask's value for a keep flag: 1 or 0.
fn mask_value(keep: bool) -> f32 {
    f32::from(u8::from(keep))
}

/// `(values · m) · scale`, element by element.
fn apply(values: &[f32], keep: &[bool], scale: f32) -> Vec<f32> {
    values
        .par_iter()
        .zip(keep.par_iter())
        .map(|(&v, &k)| (v * mask_value(k)) * scale)
        .collect()
}

fn like(values: Vec<f32>, of: &FlexTensor) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, of.shape()))
}

impl MaskedDropoutBackend for Flex {
    fn masked_dropout(x: FlexTensor, keep: Arc<Vec<bool>>, scale: f32) -> FlexTensor {
        like(apply(&f32s(&x), &keep, scale), &x)
    }
}

impl<C: CheckpointStrategy> MaskedDropoutBackend for Autodiff<Flex, C> {
    fn masked_dropout(x: FloatTensor<Self>, keep: Arc<Vec<bool>>, scale: f32) -> FloatTensor<Self> {
        let prep = MaskedDropoutGrad
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful();
        let x = x.into_primitive();
        let out = like(apply(&f32s(&x), &keep, scale), &x);
        match prep {
            OpsKind::Tracked(prep) => prep.finish((keep, scale), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

#[derive(Debug)]
struct MaskedDropoutGrad;

impl Backward<Flex, 1> for MaskedDropoutGrad {
    type State = (Arc<Vec<bool>>, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let Some(node) = node_x else { return };
        let (keep, scale) = ops.state;
        // burn's order: the scale's backward, then the mask's.
        let dx: Vec<f32> = f32s(&grad)
            .par_iter()
            .zip(keep.par_iter())
            .map(|(&g, &k)| (g * scale) * mask_value(k))
            .collect();
        grads.register::<Flex>(node.id, like(dx, &grad));
    }
}

/// `x · mask · scale` with this module's kernel when training on Flex, with burn's tensor
/// operations otherwise.
pub fn masked_dropout_forward<const D: usize>(
    x: Tensor<D>,
    keep: Vec<bool>,
    scale: f32,
) -> Tensor<D> {
    if super::trains_on_flex(&x) && x.dtype() == DType::F32 {
        return Tensor::from_dispatch(<Dispatch as MaskedDropoutBackend>::masked_dropout(
            x.into_dispatch(),
            Arc::new(keep),
            scale,
        ));
    }
    let mask: Vec<f32> = keep.into_iter().map(mask_value).collect();
    let mask = Tensor::from_data(TensorData::new(mask, x.shape()), &x.device());
    x * mask * scale
}
