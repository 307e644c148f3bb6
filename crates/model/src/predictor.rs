//! Class probabilities from a bundle: the one inference path for CLI, server and evaluation.

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData, activation::softmax};

use crate::bundle::{Bundle, BundleError, BundleMeta, ModelSpec};
use crate::classical::ClassicalModel;
use crate::input::{FeatureView, InputError, crop_or_pad, pool_mean, window_starts};
use crate::nets::{InputKind, Net};

/// Windows per forward pass: bounds memory on hour-long inputs.
const MAX_WINDOWS_PER_PASS: usize = 64;

enum Loaded {
    /// One network, or the members of an ensemble (probabilities averaged).
    Network {
        nets: Vec<Net>,
        device: Device,
    },
    Classical(ClassicalModel),
}

/// A model ready to predict.
pub struct Predictor {
    meta: BundleMeta,
    model: Loaded,
}

impl Predictor {
    /// A predictor on the Flex CPU backend.
    pub fn new(bundle: &Bundle) -> Result<Self, BundleError> {
        Self::with_device(bundle, Device::flex(), Path::new("<bundle>"))
    }

    /// A CPU predictor for a bundle read from `source` (named in errors).
    pub fn from_bundle(bundle: &Bundle, source: &Path) -> Result<Self, BundleError> {
        Self::with_device(bundle, Device::flex(), source)
    }

    /// Loads `path` and builds a CPU predictor from it.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, BundleError> {
        let bundle = Bundle::load(path.as_ref())?;
        Self::with_device(&bundle, Device::flex(), path.as_ref())
    }

    /// A predictor on `device`; `path` only names the source in errors.
    pub fn with_device(bundle: &Bundle, device: Device, path: &Path) -> Result<Self, BundleError> {
        // Bundles built in memory have not been through `load`'s checks; the payload's are
        // the building of the model itself.
        bundle.validate_header(path)?;
        let model = match &bundle.meta.model {
            ModelSpec::Classical(_) => Loaded::Classical(bundle.validate_classical(path)?),
            ModelSpec::Network(_) => Loaded::Network {
                nets: bundle
                    .load_networks(&device, path)?
                    .iter()
                    .map(Module::valid)
                    .collect(),
                device,
            },
        };
        Ok(Self {
            meta: bundle.meta.clone(),
            model,
        })
    }

    /// A predictor over a network already in memory (validation during training).
    pub fn from_network(meta: BundleMeta, net: Net, device: Device) -> Self {
        let model = Loaded::Network {
            nets: vec![net.valid()],
            device,
        };
        Self { meta, model }
    }

    /// The bundle's header: labels, input, features, temperature and provenance.
    pub fn meta(&self) -> &BundleMeta {
        &self.meta
    }

    /// The class names, in the order of the probabilities.
    pub fn labels(&self) -> &[String] {
        &self.meta.labels
    }

    /// Probabilities (summing to 1, in label order) for one feature matrix.
    pub fn predict(&self, features: FeatureView<'_>) -> Result<Vec<f32>, InputError> {
        Ok(self.predict_batch(&[features])?.remove(0))
    }

    /// Probabilities for several clips at once (one forward pass per 64 windows), scaled by
    /// the bundle's temperature.
    pub fn predict_batch(&self, items: &[FeatureView<'_>]) -> Result<Vec<Vec<f32>>, InputError> {
        let mut probabilities = self.predict_batch_raw(items)?;
        if let Some(temperature) = self.meta.temperature {
            for row in &mut probabilities {
                apply_temperature(row, temperature);
            }
        }
        Ok(probabilities)
    }

    /// The model's own probabilities, before temperature scaling.
    pub fn predict_batch_raw(
        &self,
        items: &[FeatureView<'_>],
    ) -> Result<Vec<Vec<f32>>, InputError> {
        let expected = self.meta.input.features;
        for item in items {
            FeatureView::new(item.rows, item.cols, item.data)?;
            if item.rows != expected {
                return Err(InputError::Rows {
                    expected,
                    found: item.rows,
                });
            }
        }
        match (&self.model, self.meta.input.kind) {
            (Loaded::Classical(model), _) => Ok(items
                .iter()
                .map(|item| model.predict_proba(&self.pooled(*item)))
                .collect()),
            (Loaded::Network { nets, device }, InputKind::Pooled) => {
                let rows: Vec<Vec<f32>> = items.iter().map(|i| self.pooled(*i)).collect();
                Ok(self.forward_windows(nets, device, rows, 1))
            }
            (Loaded::Network { nets, device }, InputKind::Frames) => {
                Ok(self.predict_frames(nets, device, items))
            }
        }
    }

    /// Mean over frames, then standardised.
    fn pooled(&self, item: FeatureView<'_>) -> Vec<f32> {
        let mut v = pool_mean(item);
        self.meta.normalisation.apply(&mut v, 1);
        v
    }

    /// Cuts every clip into windows, runs them, and averages each clip's probabilities.
    fn predict_frames(
        &self,
        nets: &[Net],
        device: &Device,
        items: &[FeatureView<'_>],
    ) -> Vec<Vec<f32>> {
        let len = self.meta.input.frames.unwrap_or(1);
        let mut windows = Vec::new();
        let mut owners = Vec::new();
        for (k, item) in items.iter().enumerate() {
            let mut data = item.data.to_vec();
            self.meta.normalisation.apply(&mut data, item.cols);
            let view = FeatureView {
                rows: item.rows,
                cols: item.cols,
                data: &data,
            };
            for start in window_starts(item.cols, len) {
                let mut w = Vec::with_capacity(item.rows * len);
                crop_or_pad(view, start, len, &mut w);
                windows.push(w);
                owners.push(k);
            }
        }
        let probs = self.forward_windows(nets, device, windows, len);
        average_by_owner(&probs, &owners, items.len(), self.meta.labels.len())
    }

    /// Softmax outputs for [rows, len] windows, in passes of bounded size, averaged over
    /// the ensemble's members.
    fn forward_windows(
        &self,
        nets: &[Net],
        device: &Device,
        windows: Vec<Vec<f32>>,
        len: usize,
    ) -> Vec<Vec<f32>> {
        let rows = self.meta.input.features;
        let classes = self.meta.labels.len();
        let mut out = Vec::with_capacity(windows.len());
        for chunk in windows.chunks(MAX_WINDOWS_PER_PASS) {
            let flat: Vec<f32> = chunk.concat();
            let x = Tensor::<3>::from_data(TensorData::new(flat, [chunk.len(), rows, len]), device);
            let p = nets
                .iter()
                .map(|net| softmax(net.forward(x.clone()), 1))
                .reduce(|a, b| a + b)
                .expect("a network bundle has at least one member")
                .div_scalar(nets.len() as f32)
                .into_data()
                .convert::<f32>();
            let values = p.try_into_vec::<f32>().unwrap_or_default();
            out.extend(values.chunks(classes).map(<[f32]>::to_vec));
        }
        out
    }
}

/// Rescales probabilities in place to `softmax(ln p / temperature)`: above 1 softer, below 1
/// sharper; the order of the classes never changes. A temperature that is not a positive
/// finite number leaves them as they are.
pub fn apply_temperature(probabilities: &mut [f32], temperature: f32) {
    if !(temperature.is_finite() && temperature > 0.0) || temperature == 1.0 {
        return;
    }
    let logs: Vec<f64> = probabilities
        .iter()
        .map(|&p| f64::from(p).max(1e-12).ln() / f64::from(temperature))
        .collect();
    let max = logs.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let sum: f64 = logs.iter().map(|&v| (v - max).exp()).sum();
    for (p, v) in probabilities.iter_mut().zip(logs) {
        *p = ((v - max).exp() / sum) as f32;
    }
}

fn average_by_owner(
    probs: &[Vec<f32>],
    owners: &[usize],
    n: usize,
    classes: usize,
) -> Vec<Vec<f32>> {
    let mut sums = vec![vec![0f32; classes]; n];
    let mut counts = vec![0usize; n];
    for (p, &k) in probs.iter().zip(owners) {
        sums[k].iter_mut().zip(p).for_each(|(s, v)| *s += v);
        counts[k] += 1;
    }
    for (s, c) in sums.iter_mut().zip(counts) {
        s.iter_mut().for_each(|v| *v /= c.max(1) as f32);
    }
    sums
}
