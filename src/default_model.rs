//! The model that ships inside the binary (`models/default.ser`), used whenever no
//! `--model` is given.

use std::path::Path;

use anyhow::Context;
use ser_infer::Classifier;
use ser_model::Bundle;

/// The shipped bundle's bytes, embedded at build time so an installed binary needs no files.
const DEFAULT_MODEL: &[u8] = include_bytes!("../models/default.ser");

/// How the shipped model is named in messages.
pub const DEFAULT_MODEL_NAME: &str = "models/default.ser (shipped)";

/// The bundle at `model`, or the shipped one for `None` or `"default"`.
pub fn bundle(model: Option<&str>) -> anyhow::Result<Bundle> {
    match model {
        None | Some("default") => Ok(Bundle::from_bytes(
            DEFAULT_MODEL,
            Path::new(DEFAULT_MODEL_NAME),
        )?),
        Some(path) => Bundle::load(path).with_context(|| format!("cannot use model {path}")),
    }
}

/// A classifier for `model` (see [`bundle`]).
pub fn classifier(model: Option<&str>) -> anyhow::Result<Classifier> {
    let name = model.unwrap_or(DEFAULT_MODEL_NAME);
    Ok(Classifier::new(&bundle(model)?, Path::new(name))?)
}
