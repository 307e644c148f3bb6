//! Network definitions, classical models and the model bundle format.
//!
//! - [`nets`]: burn networks (Flex CPU backend; CUDA/wgpu behind the `cuda`/`wgpu` features).
//! - [`classical`]: SVM and random forest on pooled vectors.
//! - [`bundle`]: the `.ser` file: header + JSON config + safetensors weights.
//! - [`catalogue`]: every trainable model with its display name, description and default
//!   features (one table for the CLI and the web).
//! - [`input`]: feature matrices, normalisation, crops and windows.
//! - [`predictor`]: probabilities from a bundle and a feature matrix.

/// The burn version these networks are built with, for crates that drive training.
pub use burn;

pub mod bundle;
pub mod catalogue;
pub mod classical;
pub mod input;
pub mod nets;
pub mod predictor;
pub mod rng;
pub mod weights;

pub use bundle::{Bundle, BundleError, BundleMeta, ModelSpec};
pub use input::{FeatureView, InputError, InputSpec, Normalisation};
pub use nets::{Architecture, InputKind, Net};
pub use predictor::Predictor;

/// burn's CPU device (Flex backend), for callers that do not want to depend on burn.
pub fn cpu_device() -> burn::tensor::Device {
    burn::tensor::Device::flex()
}

/// Lets glibc's malloc serve large blocks (up to 32 MiB) from the heap and keep up to 128 MiB
/// of freed memory, instead of mapping each block afresh and unmapping it on free. A training
/// step allocates and frees tens of multi-megabyte activation and gradient buffers; with the
/// defaults the kernel's page faults and unmapping took about 15 % of a step of report 004's
/// CNN, and this makes such steps 1.15-1.3x faster (BENCHMARKS.md). Call it once, early; it
/// does nothing off glibc.
pub fn keep_large_buffers_in_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes two allocator parameters; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}

/// The device training runs on: the first CUDA GPU with the `cuda` feature, the default
/// wgpu adapter with `wgpu`, else the Flex CPU backend.
pub fn training_device() -> burn::tensor::Device {
    #[cfg(feature = "cuda")]
    return burn::tensor::Device::cuda(0usize);
    #[cfg(all(feature = "wgpu", not(feature = "cuda")))]
    return burn::tensor::Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
    #[cfg(not(any(feature = "cuda", feature = "wgpu")))]
    burn::tensor::Device::flex()
}

/// Errors in model configuration.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No network or classical model has this name.
    #[error("unknown model {0:?} (known: {known})", known = ModelSpec::all_names().join(", "))]
    UnknownModel(String),
    /// Hyper-parameters that cannot be built or set: out of bounds, inconsistent with each
    /// other or with the input, or of the wrong type; the message names the model.
    #[error("bad model configuration: {0}")]
    BadConfig(String),
}
