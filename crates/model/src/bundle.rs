//! The model bundle: one `.ser` file holding everything needed to predict.
//!
//! Layout (little-endian):
//! ```text
//! b"SERMODEL" | format version: u32 | JSON length: u64 | payload length: u64 | JSON | payload
//! ```
//! The JSON is [`BundleMeta`]; the payload is safetensors bytes of a network's weights or,
//! for a classical model, its JSON. The payload length makes truncation detectable before
//! anything is parsed. An ensemble of networks (format version 2) keeps every member's
//! weights in the one safetensors payload, member `i` under the prefix `m{i}.`.

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use ser_features::FeatureConfig;

use crate::ModelError;
use crate::classical::{ClassicalConfig, ClassicalModel};
use crate::input::{InputSpec, Normalisation};
use crate::nets::{Architecture, InputKind, Net};
use crate::weights::{self, WeightsError};

/// The first eight bytes of every bundle.
pub const MAGIC: &[u8; 8] = b"SERMODEL";
/// The newest format this build reads: 2 added ensembles. Single models are still written
/// as version 1, so older builds keep reading them.
pub const FORMAT_VERSION: u32 = 2;
const HEADER_LEN: usize = 8 + 4 + 8 + 8;
/// Refuse JSON headers beyond this: a corrupt length must not allocate gigabytes.
const MAX_JSON_LEN: u64 = 64 << 20;

/// A network or a classical model, with its hyper-parameters. Serialised flat with the
/// model's kebab-case `name`.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// A burn network; its weights are the bundle's safetensors payload.
    Network(Architecture),
    /// An SVM or random forest on pooled vectors; the fitted model is the payload, as JSON.
    Classical(ClassicalConfig),
}

/// The JSON part of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleMeta {
    /// The model and its hyper-parameters.
    pub model: ModelSpec,
    /// What the model reads: pooled vectors or frames, feature count, window length.
    pub input: InputSpec,
    /// The feature extraction the model was trained on; prediction from audio uses exactly
    /// these settings. `None` only in bundles built from feature matrices (fit checkpoints,
    /// tests); such a bundle can score matrices but not audio.
    #[serde(default)]
    pub features: Option<FeatureConfig>,
    /// The class names, in the order of the model's outputs (at least 2).
    pub labels: Vec<String>,
    /// Per-feature standardisation fitted on the training data, applied before the model.
    pub normalisation: Normalisation,
    /// Networks of the same architecture whose class probabilities are averaged (seeds of one
    /// recipe); 1 for a single model.
    #[serde(default = "one_member", skip_serializing_if = "is_one")]
    pub members: usize,
    /// Temperature fitted on validation speakers; predicted probabilities are
    /// `softmax(ln p / T)` (see [`crate::predictor::apply_temperature`]). `None` = 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// A prediction whose top probability is below this is marked uncertain (the user may
    /// override it). `None` = never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncertain_below: Option<f32>,
    /// Where the model came from: data, protocol, seed, commit, date, ...
    #[serde(default)]
    pub provenance: BTreeMap<String, String>,
    /// Scores measured when the model was made (training writes `{"validation": ...}`);
    /// free-form JSON, `null` when none were measured.
    #[serde(default)]
    pub metrics: serde_json::Value,
}

/// Serde default of a member count: files written before ensembles hold one network.
pub fn one_member() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// A model bundle in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// The JSON header: model, input, labels, normalisation and provenance.
    pub meta: BundleMeta,
    /// Safetensors weights (networks) or the model's JSON (classical).
    pub payload: Vec<u8>,
}

/// Why a bundle could not be read or written; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The bundle's file.
        path: PathBuf,
        /// What the operating system reported.
        source: std::io::Error,
    },
    /// The file does not start with [`MAGIC`].
    #[error("{path}: not a ser model bundle (bad magic bytes)")]
    NotABundle {
        /// The bundle's file.
        path: PathBuf,
    },
    /// The format version is 0 or newer than [`FORMAT_VERSION`].
    #[error(
        "{path}: bundle format version {found} is not supported (this build reads up to {FORMAT_VERSION})"
    )]
    Version {
        /// The bundle's file.
        path: PathBuf,
        /// The version in the header.
        found: u32,
    },
    /// The file is shorter than its header, or than the sections its header announces.
    #[error("{path}: truncated bundle ({found} bytes, the header promises {expected})")]
    Truncated {
        /// The bundle's file.
        path: PathBuf,
        /// Bytes the header implies.
        expected: u64,
        /// Bytes the file holds.
        found: u64,
    },
    /// The JSON header (or a classical model's JSON payload) does not parse, or the header
    /// could not be serialised.
    #[error("{path}: bundle configuration is not valid JSON: {source}")]
    Json {
        /// The bundle's file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// The safetensors payload does not match the network the header describes.
    #[error("{path}: weights do not fit the model: {source}")]
    Weights {
        /// The bundle's file.
        path: PathBuf,
        /// Which tensor is wrong, and how.
        source: WeightsError,
    },
    /// The parts disagree with each other: section lengths, trailing bytes, labels,
    /// normalisation, features, input or model configuration.
    #[error("{path}: {why}")]
    Inconsistent {
        /// The bundle's file.
        path: PathBuf,
        /// What disagrees, in words.
        why: String,
    },
}

impl Bundle {
    /// Writes the bundle atomically (see [`ser_fs::write_atomic`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), BundleError> {
        let path = path.as_ref();
        let bytes = self.to_bytes().map_err(|source| BundleError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        ser_fs::write_atomic(path, &bytes).map_err(|source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads and validates a bundle (weights are checked against the architecture).
    pub fn load(path: impl AsRef<Path>) -> Result<Bundle, BundleError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| BundleError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// The bundle's file contents: header, JSON and payload. Written as format version 1,
    /// or 2 for an ensemble.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let json = serde_json::to_vec(&self.meta)?;
        let mut out = Vec::with_capacity(HEADER_LEN + json.len() + self.payload.len());
        out.extend_from_slice(MAGIC);
        let version: u32 = if self.meta.members > 1 { 2 } else { 1 };
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&self.payload);
        Ok(out)
    }

    /// Parses and validates bundle bytes; `path` only names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Bundle, BundleError> {
        let p = || path.to_path_buf();
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(BundleError::NotABundle { path: p() });
        }
        let truncated = |expected: u64| BundleError::Truncated {
            path: p(),
            expected,
            found: bytes.len() as u64,
        };
        if bytes.len() < HEADER_LEN {
            return Err(truncated(HEADER_LEN as u64));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
        if version == 0 || version > FORMAT_VERSION {
            return Err(BundleError::Version {
                path: p(),
                found: version,
            });
        }
        let json_len = u64::from_le_bytes(bytes[12..20].try_into().unwrap_or_default());
        let payload_len = u64::from_le_bytes(bytes[20..28].try_into().unwrap_or_default());
        let expected = (HEADER_LEN as u64)
            .checked_add(json_len)
            .and_then(|n| n.checked_add(payload_len))
            .filter(|_| json_len <= MAX_JSON_LEN)
            .ok_or_else(|| BundleError::Inconsistent {
                path: p(),
                why: format!("implausible section lengths ({json_len}, {payload_len})"),
            })?;
        if (bytes.len() as u64) < expected {
            return Err(truncated(expected));
        }
        if (bytes.len() as u64) > expected {
            return Err(BundleError::Inconsistent {
                path: p(),
                why: format!("{} bytes of trailing data", bytes.len() as u64 - expected),
            });
        }
        let json_end = HEADER_LEN + json_len as usize;
        let meta: BundleMeta = serde_json::from_slice(&bytes[HEADER_LEN..json_end])
            .map_err(|source| BundleError::Json { path: p(), source })?;
        let bundle = Bundle {
            meta,
            payload: bytes[json_end..].to_vec(),
        };
        bundle.validate(path)?;
        Ok(bundle)
    }

    /// Checks that labels, normalisation, input and payload agree with the model.
    pub fn validate(&self, path: &Path) -> Result<(), BundleError> {
        self.validate_header(path)?;
        match &self.meta.model {
            ModelSpec::Network(_) => self.load_networks(&Device::flex(), path).map(|_| ()),
            ModelSpec::Classical(_) => self.validate_classical(path).map(|_| ()),
        }
    }

    /// Checks the header alone: labels, normalisation, features and input against the model.
    /// The payload is checked by building what it holds ([`Bundle::load_networks`],
    /// [`Bundle::validate_classical`]).
    pub fn validate_header(&self, path: &Path) -> Result<(), BundleError> {
        let bad = |why: String| BundleError::Inconsistent {
            path: path.to_path_buf(),
            why,
        };
        let m = &self.meta;
        if !m.model.allows_members(m.members) {
            return Err(bad(format!(
                "{} ensemble members of a {} model (ensembles hold 1 or more networks)",
                m.members,
                m.model.name()
            )));
        }
        if m.labels.len() < 2 {
            return Err(bad(format!(
                "needs at least 2 labels, has {}",
                m.labels.len()
            )));
        }
        if m.normalisation.mean.len() != m.input.features
            || m.normalisation.std.len() != m.input.features
        {
            return Err(bad(format!(
                "normalisation covers {} features, the input has {}",
                m.normalisation.mean.len(),
                m.input.features
            )));
        }
        if let Some(features) = &m.features {
            features
                .validate()
                .map_err(|e| bad(format!("feature settings: {e}")))?;
            if features.feature_dim() != m.input.features {
                return Err(bad(format!(
                    "feature set {} yields {} features per frame, the model reads {}",
                    features.name,
                    features.feature_dim(),
                    m.input.features
                )));
            }
        }
        match &m.model {
            ModelSpec::Network(arch) => self.validate_network_input(arch, path),
            ModelSpec::Classical(_) => Ok(()),
        }
    }

    fn validate_network_input(&self, arch: &Architecture, path: &Path) -> Result<(), BundleError> {
        let bad = |why: String| BundleError::Inconsistent {
            path: path.to_path_buf(),
            why,
        };
        let input = &self.meta.input;
        if input.kind != arch.input_kind() {
            return Err(bad(format!(
                "{} reads {:?} input, bundle says {:?}",
                arch.name(),
                arch.input_kind(),
                input.kind
            )));
        }
        if input.kind == InputKind::Frames && input.frames.is_none_or(|f| f < arch.min_frames()) {
            return Err(bad(format!(
                "{} needs a crop of >= {} frames",
                arch.name(),
                arch.min_frames()
            )));
        }
        Ok(())
    }

    /// [`Bundle::networks`] with errors that name the bundle's file.
    pub fn load_networks(&self, device: &Device, path: &Path) -> Result<Vec<Net>, BundleError> {
        self.networks(device).map_err(|e| match e {
            NetLoadError::Weights(source) => BundleError::Weights {
                path: path.to_path_buf(),
                source,
            },
            other => BundleError::Inconsistent {
                path: path.to_path_buf(),
                why: other.to_string(),
            },
        })
    }

    /// Deserialises the classical model and checks its sizes.
    pub fn validate_classical(&self, path: &Path) -> Result<ClassicalModel, BundleError> {
        let model: ClassicalModel =
            serde_json::from_slice(&self.payload).map_err(|source| BundleError::Json {
                path: path.to_path_buf(),
                source,
            })?;
        let expected = (self.meta.input.features, self.meta.labels.len());
        if model.dims() != expected {
            return Err(BundleError::Inconsistent {
                path: path.to_path_buf(),
                why: format!(
                    "classical model is {:?} (features, classes), bundle says {expected:?}",
                    model.dims()
                ),
            });
        }
        Ok(model)
    }

    /// Builds the network(s) on `device` and loads the weights: one per ensemble member.
    pub fn networks(&self, device: &Device) -> Result<Vec<Net>, NetLoadError> {
        let ModelSpec::Network(arch) = &self.meta.model else {
            return Err(NetLoadError::NotANetwork);
        };
        let (n_in, n_classes) = (self.meta.input.features, self.meta.labels.len());
        // `build` fails only where `validate` does: check once, then build each member.
        arch.validate(n_in, n_classes)
            .map_err(NetLoadError::Model)?;
        let build = || {
            arch.build(n_in, n_classes, device)
                .expect("validated above")
        };
        if self.meta.members == 1 {
            weights::load_safetensors(build(), &self.payload).map(|net| vec![net])
        } else {
            weights::load_members(build, &self.payload, self.meta.members)
        }
        .map_err(NetLoadError::Weights)
    }

    /// Builds the single network of a one-model bundle (training checkpoints).
    pub fn network(&self, device: &Device) -> Result<Net, NetLoadError> {
        if self.meta.members != 1 {
            return Err(NetLoadError::Ensemble(self.meta.members));
        }
        Ok(self.networks(device)?.remove(0))
    }

    /// One bundle averaging `members`, which must be single networks of one recipe: same
    /// architecture, input, features, labels and normalisation (the training data's).
    /// Metadata (provenance, metrics) comes from the first member.
    pub fn ensemble(members: &[Bundle]) -> Result<Bundle, EnsembleError> {
        let first = members.first().ok_or(EnsembleError::Empty)?;
        let recipe = |b: &Bundle| {
            (
                b.meta.model.clone(),
                b.meta.input.clone(),
                b.meta.features.clone(),
                b.meta.labels.clone(),
                b.meta.normalisation.clone(),
            )
        };
        for (index, member) in members.iter().enumerate() {
            if member.meta.members != 1 || !matches!(member.meta.model, ModelSpec::Network(_)) {
                return Err(EnsembleError::NotASingleNetwork(index));
            }
            if recipe(member) != recipe(first) {
                return Err(EnsembleError::Mismatch(index));
            }
        }
        if members.len() == 1 {
            return Ok(first.clone());
        }
        let payloads: Vec<&[u8]> = members.iter().map(|m| m.payload.as_slice()).collect();
        let mut meta = first.meta.clone();
        meta.members = members.len();
        Ok(Bundle {
            meta,
            payload: weights::join_members(&payloads).map_err(EnsembleError::Weights)?,
        })
    }
}

/// Why bundles could not be joined into an ensemble.
#[derive(Debug, thiserror::Error)]
pub enum EnsembleError {
    /// No bundles were given.
    #[error("an ensemble needs at least one member")]
    Empty,
    /// The member at this index is a classical model or already an ensemble.
    #[error("member {0} is not a single network")]
    NotASingleNetwork(usize),
    /// The member at this index was not made by the first member's recipe.
    #[error(
        "member {0} differs from member 0 in architecture, input, features, labels or normalisation"
    )]
    Mismatch(usize),
    /// A member's payload is not valid safetensors of f32 tensors.
    #[error(transparent)]
    Weights(WeightsError),
}

/// Why a bundle's network could not be instantiated.
#[derive(Debug, thiserror::Error)]
pub enum NetLoadError {
    /// The bundle holds a classical model.
    #[error("the bundle holds a classical model, not a network")]
    NotANetwork,
    /// One network was asked for, but the bundle holds this many.
    #[error("the bundle holds an ensemble of {0} networks, not one")]
    Ensemble(usize),
    /// The architecture's hyper-parameters do not fit the input or the labels.
    #[error(transparent)]
    Model(ModelError),
    /// The payload's tensors do not fit the network.
    #[error(transparent)]
    Weights(WeightsError),
}

impl ModelSpec {
    /// A model by name with default hyper-parameters (networks and classical models).
    pub fn from_name(name: &str) -> Result<Self, ModelError> {
        match ClassicalConfig::from_name(name) {
            Some(c) => Ok(Self::Classical(c)),
            None => Architecture::from_name(name).map(Self::Network),
        }
    }

    /// The same model with one hyper-parameter changed. `key` is a field of its JSON form
    /// ("kernel", "channels", "pooling"); `value` is JSON (`5`, `[96,96,192,192]`) or a bare
    /// word (`mean-std`). An unknown key or a value of the wrong type is refused by name.
    pub fn with_setting(&self, key: &str, value: &str) -> Result<Self, ModelError> {
        let bad =
            |why: String| ModelError::BadConfig(format!("{}: {key}={value}: {why}", self.name()));
        if key == "name" {
            return Err(bad("the model is chosen by its name, not a setting".into()));
        }
        let mut json = serde_json::to_value(self).map_err(|e| bad(e.to_string()))?;
        let parsed = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
        json.as_object_mut()
            .ok_or_else(|| bad("the model's configuration is not a JSON object".into()))?
            .insert(key.to_string(), parsed);
        serde_json::from_value(json).map_err(|e| bad(e.to_string()))
    }

    /// The model's kebab-case name ("cnn4", "svm-rbf"), as `--arch` and the JSON use it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Network(a) => a.name(),
            Self::Classical(c) => c.name(),
        }
    }

    /// What the model reads; classical models always read pooled vectors.
    pub fn input_kind(&self) -> InputKind {
        match self {
            Self::Network(a) => a.input_kind(),
            Self::Classical(_) => InputKind::Pooled,
        }
    }

    /// Whether `members` copies of this model can form one bundle: any model alone, only
    /// networks as an ensemble.
    pub fn allows_members(&self, members: usize) -> bool {
        members == 1 || (members > 1 && matches!(self, Self::Network(_)))
    }

    /// "cnn4", or "cnn4 x3" for an ensemble of three.
    pub fn label(&self, members: usize) -> String {
        match members {
            1 => self.name().to_string(),
            n => format!("{} x{n}", self.name()),
        }
    }

    /// Every model name: networks, then classical models.
    pub fn all_names() -> Vec<&'static str> {
        Architecture::NAMES
            .iter()
            .chain(&ClassicalConfig::NAMES)
            .copied()
            .collect()
    }
}

impl std::str::FromStr for ModelSpec {
    type Err = ModelError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name)
    }
}

impl Serialize for ModelSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Network(a) => a.serialize(s),
            Self::Classical(c) => c.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ModelSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        let name = value
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        if ClassicalConfig::NAMES.contains(&name) {
            serde_json::from_value(value)
                .map(Self::Classical)
                .map_err(D::Error::custom)
        } else {
            serde_json::from_value(value)
                .map(Self::Network)
                .map_err(D::Error::custom)
        }
    }
}
