//! Forward-pass shapes and parameter counts of every architecture.

use burn::tensor::{Device, Tensor, TensorData};
use ser_model::{Architecture, InputKind};

fn input(b: usize, f: usize, t: usize, device: &Device) -> Tensor<3> {
    let values: Vec<f32> = (0..b * f * t)
        .map(|i| ((i % 17) as f32 - 8.0) / 8.0)
        .collect();
    Tensor::from_data(TensorData::new(values, [b, f, t]), device)
}

#[test]
fn every_architecture_gives_batch_by_classes_logits() {
    let device = Device::flex();
    for name in Architecture::NAMES {
        let arch = Architecture::from_name(name).unwrap();
        let (f, t) = match arch.input_kind() {
            InputKind::Pooled => (24, 1),
            InputKind::Frames => (16, 24),
        };
        let net = arch.build(f, 5, &device).unwrap();
        let logits = net.forward(input(3, f, t, &device));
        assert_eq!(logits.dims(), [3, 5], "{name}");
        let values = logits
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap();
        assert!(values.iter().all(|v| v.is_finite()), "{name}");
        let count = arch.parameter_count(f, 5).unwrap();
        assert!(count > 100, "{name}: {count}");
        println!("{name}: {count} parameters");
    }
}

#[test]
fn architecture_names_round_trip_through_json() {
    for name in Architecture::NAMES {
        let arch = Architecture::from_name(name).unwrap();
        let json = serde_json::to_string(&arch).unwrap();
        assert!(json.contains(&format!("\"name\":\"{name}\"")), "{json}");
        let back: Architecture = serde_json::from_str(&json).unwrap();
        assert_eq!(back, arch);
        let minimal: Architecture =
            serde_json::from_str(&format!("{{\"name\":\"{name}\"}}")).unwrap();
        assert_eq!(minimal.name(), name);
    }
    assert!("no-such-net".parse::<Architecture>().is_err());
}

#[test]
fn bad_sizes_are_errors_not_panics() {
    let device = Device::flex();
    let arch = Architecture::from_name("resnet9").unwrap();
    assert!(arch.build(4, 3, &device).is_err());
    let arch = Architecture::from_name("mlp").unwrap();
    assert!(arch.build(10, 1, &device).is_err());
}

#[test]
fn cnn4_statistics_pooling_doubles_the_pooled_vector() {
    let device = Device::flex();
    let stats: Architecture =
        serde_json::from_str(r#"{"name":"cnn4","pooling":"mean-std"}"#).unwrap();
    let net = stats.build(16, 5, &device).unwrap();
    assert_eq!(net.forward(input(3, 16, 24, &device)).dims(), [3, 5]);
    let mean = Architecture::from_name("cnn4").unwrap();
    // Only the output layer grows: 128 more inputs for 5 classes.
    assert_eq!(
        stats.parameter_count(16, 5).unwrap(),
        mean.parameter_count(16, 5).unwrap() + 128 * 5
    );
    // Mean pooling is the default and stays out of the JSON (bundles made before it match).
    assert!(!serde_json::to_string(&mean).unwrap().contains("pooling"));
    assert!(
        serde_json::to_string(&stats)
            .unwrap()
            .contains("\"pooling\":\"mean-std\"")
    );
}
