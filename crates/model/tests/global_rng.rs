//! Which networks draw from burn's process-global generator while training. Training on
//! several threads at once (folds, ensemble members) is reproducible only for networks that
//! leave it alone after initialisation, so `Architecture::draws_global_randomness` must name
//! every one that does not. Its own test binary: no other test touches the generator here.

use burn::tensor::{Device, Distribution, Tensor, TensorData};
use ser_model::nets::seed_dropout;
use ser_model::{Architecture, InputKind};

fn next_draws(device: &Device) -> TensorData {
    Tensor::<1>::random([16], Distribution::Default, device).into_data()
}

#[test]
fn only_the_declared_networks_draw_from_the_global_generator_while_training() {
    let device = Device::flex().autodiff();
    for name in Architecture::NAMES {
        let arch = Architecture::from_name(name).unwrap();
        let (f, t) = match arch.input_kind() {
            InputKind::Pooled => (24, 1),
            InputKind::Frames => (16, 24),
        };
        let net = arch.build(f, 5, &device).unwrap();
        net.initialise_now();
        seed_dropout(1);
        device.seed(9);
        let untouched = next_draws(&device);
        device.seed(9);
        let _ = net.forward(Tensor::ones([3, f, t], &device));
        let drew = next_draws(&device) != untouched;
        assert_eq!(drew, arch.draws_global_randomness(), "{name}");
    }
}
