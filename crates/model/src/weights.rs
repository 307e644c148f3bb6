//! Network weights <-> safetensors bytes, keyed by module path (e.g. `Cnn1dMfcc.out.weight`).
//!
//! Batch-norm running statistics are included (burn visits them as float tensors). The
//! parameter ids can be kept in the safetensors metadata: optimiser state is keyed by id, so
//! checkpoints need them to resume the optimiser moments.

use std::collections::{BTreeMap, HashMap};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Tensor, TensorData};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

/// Metadata key holding `{"path": id, ...}` when ids are kept.
const PARAM_IDS_KEY: &str = "burn_param_ids";

/// Why weights could not be applied to a network.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The bytes do not parse as safetensors; holds the parser's message.
    #[error("weights are not valid safetensors: {0}")]
    Format(String),
    /// A tensor is stored in a type other than f32.
    #[error("weight {name} is {found}, expected f32")]
    Dtype {
        /// The tensor's name.
        name: String,
        /// Its stored type.
        found: String,
    },
    /// A tensor's shape differs from the network's parameter (or, when blending, from the
    /// latest weights).
    #[error("weight {name} has shape {found:?}, the architecture expects {expected:?}")]
    Shape {
        /// The tensor's name.
        name: String,
        /// The shape the network (or the latest weights) has.
        expected: Vec<usize>,
        /// The shape stored.
        found: Vec<usize>,
    },
    /// The network has parameters that the weights do not hold; their names.
    #[error("weights lack {0:?} that the architecture needs")]
    Missing(Vec<String>),
    /// The weights hold tensors that no parameter of the network takes; their names, sorted.
    #[error("weights hold {0:?} that the architecture does not have")]
    Unused(Vec<String>),
}

/// One tensor as plain data.
struct Plain {
    shape: Vec<usize>,
    values: Vec<f32>,
}

/// Serialises every float tensor of `module` to safetensors bytes.
pub fn to_safetensors<M: Module>(module: &M, keep_ids: bool) -> Vec<u8> {
    let mut collector = Collector::default();
    module.visit(&mut collector);
    let metadata = keep_ids.then(|| {
        let ids = serde_json::to_string(&collector.ids).unwrap_or_default();
        HashMap::from([(PARAM_IDS_KEY.to_string(), ids)])
    });
    serialize_plain(&collector.tensors, metadata)
}

fn serialize_plain(
    tensors: &[(String, Plain)],
    metadata: Option<HashMap<String, String>>,
) -> Vec<u8> {
    // safetensors stores little-endian bytes.
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, t)| t.values.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .filter_map(|((name, t), b)| {
            TensorView::new(Dtype::F32, t.shape.clone(), b)
                .ok()
                .map(|v| (name.clone(), v))
        })
        .collect();
    // Serialising views we just built from consistent shapes cannot fail.
    safetensors::tensor::serialize(views, metadata).unwrap_or_default()
}

/// Loads safetensors bytes into `module`, checking names and shapes against it.
pub fn load_safetensors<M: Module>(module: M, bytes: &[u8]) -> Result<M, WeightsError> {
    let (mut tensors, ids) = read_plain(bytes)?;
    let module = load_plain(module, &mut tensors, &ids, "")?;
    check_all_used(tensors)?;
    Ok(module)
}

/// Tensor-name prefix of ensemble member `index` (`m0.`, `m1.`, ...).
fn member_prefix(index: usize) -> String {
    format!("m{index}.")
}

/// Joins the safetensors weights of several networks into one file, each member's tensors
/// under its own prefix (parameter ids are not kept: ensembles are for prediction).
pub fn join_members(members: &[&[u8]]) -> Result<Vec<u8>, WeightsError> {
    let mut tensors = Vec::new();
    for (index, bytes) in members.iter().enumerate() {
        let (plain, _) = read_plain(bytes)?;
        let prefix = member_prefix(index);
        tensors.extend(
            plain
                .into_iter()
                .map(|(name, t)| (format!("{prefix}{name}"), t)),
        );
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(serialize_plain(&tensors, None))
}

/// Loads `count` ensemble members written by [`join_members`], each into a fresh module
/// from `build`; every tensor must belong to one of them.
pub fn load_members<M: Module>(
    build: impl Fn() -> M,
    bytes: &[u8],
    count: usize,
) -> Result<Vec<M>, WeightsError> {
    let (mut tensors, ids) = read_plain(bytes)?;
    let members = (0..count)
        .map(|index| load_plain(build(), &mut tensors, &ids, &member_prefix(index)))
        .collect::<Result<Vec<M>, _>>()?;
    check_all_used(tensors)?;
    Ok(members)
}

/// Moves the tensors named `prefix` + module path out of `tensors` into `module`.
fn load_plain<M: Module>(
    module: M,
    tensors: &mut PlainMap,
    ids: &HashMap<String, u64>,
    prefix: &str,
) -> Result<M, WeightsError> {
    let mut mapper = Loader {
        prefix: prefix.to_string(),
        path: Vec::new(),
        tensors: std::mem::take(tensors),
        ids: ids.clone(),
        missing: Vec::new(),
        errors: Vec::new(),
    };
    let module = module.map(&mut mapper);
    *tensors = mapper.tensors;
    if let Some(err) = mapper.errors.into_iter().next() {
        return Err(err);
    }
    if !mapper.missing.is_empty() {
        return Err(WeightsError::Missing(mapper.missing));
    }
    Ok(module)
}

fn check_all_used(tensors: PlainMap) -> Result<(), WeightsError> {
    if tensors.is_empty() {
        return Ok(());
    }
    let mut unused: Vec<String> = tensors.into_keys().collect();
    unused.sort();
    Err(WeightsError::Unused(unused))
}

/// `keep` · `average` + (1 - `keep`) · `latest`, tensor by tensor: one step of an
/// exponential moving average of a network's weights (batch-norm statistics included). Both
/// must hold the same tensor names and shapes; parameter ids are not kept.
pub fn blend(average: &[u8], latest: &[u8], keep: f32) -> Result<Vec<u8>, WeightsError> {
    let (mut average, _) = read_plain(average)?;
    let (latest, _) = read_plain(latest)?;
    let mut names: Vec<&String> = latest.keys().collect();
    names.sort();
    let mut blended = Vec::with_capacity(names.len());
    for name in names {
        let new = &latest[name];
        let Some(mut old) = average.remove(name) else {
            return Err(WeightsError::Missing(vec![name.clone()]));
        };
        if old.shape != new.shape {
            return Err(WeightsError::Shape {
                name: name.clone(),
                expected: new.shape.clone(),
                found: old.shape,
            });
        }
        for (a, &b) in old.values.iter_mut().zip(&new.values) {
            *a = keep * *a + (1.0 - keep) * b;
        }
        blended.push((name.clone(), old));
    }
    check_all_used(average)?;
    Ok(serialize_plain(&blended, None))
}

/// Checks that `bytes` parse as safetensors holding only f32 tensors.
pub fn check_safetensors(bytes: &[u8]) -> Result<(), WeightsError> {
    read_plain(bytes).map(|_| ())
}

type PlainMap = HashMap<String, Plain>;

fn read_plain(bytes: &[u8]) -> Result<(PlainMap, HashMap<String, u64>), WeightsError> {
    let (_, meta) =
        SafeTensors::read_metadata(bytes).map_err(|e| WeightsError::Format(e.to_string()))?;
    let ids = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(PARAM_IDS_KEY))
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let st = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Format(e.to_string()))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            let found = format!("{:?}", view.dtype());
            return Err(WeightsError::Dtype { name, found });
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let shape = view.shape().to_vec();
        tensors.insert(name, Plain { shape, values });
    }
    Ok((tensors, ids))
}

#[derive(Default)]
struct Collector {
    path: Vec<String>,
    tensors: Vec<(String, Plain)>,
    ids: BTreeMap<String, u64>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let name = self.path.join(".");
        let tensor = param.transform_for_save().val();
        let shape = tensor.dims().to_vec();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .unwrap_or_default();
        self.ids.insert(name.clone(), param.id.val());
        self.tensors.push((name, Plain { shape, values }));
    }
}

struct Loader {
    /// Prepended to every module path (ensemble members).
    prefix: String,
    path: Vec<String>,
    tensors: PlainMap,
    ids: HashMap<String, u64>,
    missing: Vec<String>,
    errors: Vec<WeightsError>,
}

impl ModuleMapper for Loader {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = format!("{}{}", self.prefix, self.path.join("."));
        let Some(plain) = self.tensors.remove(&name) else {
            self.missing.push(name);
            return param;
        };
        let expected = param.lazy_shape().to_vec();
        if plain.shape != expected {
            let found = plain.shape;
            self.errors.push(WeightsError::Shape {
                name,
                expected,
                found,
            });
            return param;
        }
        let device = param.lazy_device();
        let tensor = Tensor::from_data(TensorData::new(plain.values, plain.shape), &device);
        let id = self
            .ids
            .get(&name)
            .map_or(param.id, |&id| ParamId::from(id));
        param.transform_for_load(tensor, id)
    }
}
