//! A config of either model, told apart by its `model` field: what run, theory, sweep, resume
//! and the Python package read and dispatch on.

use crate::config::{self, ConfigError, Model};
use crate::hydro::config::HydroConfig;
use crate::lif::config::LifConfig;
use serde_json::Value;

/// A parsed (not yet validated) config of model H or model L.
#[derive(Clone, Debug)]
pub enum ModelConfig {
    Hydro(Box<HydroConfig>),
    Lif(Box<LifConfig>),
}

impl ModelConfig {
    /// Parses config text; `label` (a file's path) prefixes every message.
    pub fn parse(text: &str, label: Option<&str>) -> Result<ModelConfig, ConfigError> {
        let labelled = |e: ConfigError| match label {
            Some(l) => ConfigError(format!("{l}: {}", e.0)),
            None => e,
        };
        let cfg = match config::model_of(text).map_err(labelled)? {
            Model::Hydro => {
                ModelConfig::Hydro(Box::new(config::parse_json(text).map_err(labelled)?))
            }
            Model::Lif => ModelConfig::Lif(Box::new(config::parse_json(text).map_err(labelled)?)),
        };
        Ok(cfg)
    }

    /// Parses a config held as a JSON value (a sweep's point, run.json's `config`).
    pub fn from_value(v: &Value, label: Option<&str>) -> Result<ModelConfig, ConfigError> {
        let text = serde_json::to_string(v).map_err(|e| ConfigError(e.to_string()))?;
        Self::parse(&text, label)
    }

    pub fn model(&self) -> Model {
        match self {
            ModelConfig::Hydro(_) => Model::Hydro,
            ModelConfig::Lif(_) => Model::Lif,
        }
    }

    /// Every field of `model`'s default config, as JSON (a sweep's base is completed from it).
    pub fn default_value(model: Model) -> Value {
        let v = match model {
            Model::Hydro => serde_json::to_value(HydroConfig::default()),
            Model::Lif => serde_json::to_value(LifConfig::default()),
        };
        v.unwrap_or(Value::Null)
    }

    /// Estimated host memory of a run of this config (bytes), from its model and sizes.
    pub fn estimated_bytes(&self) -> Result<f64, ConfigError> {
        match self {
            ModelConfig::Hydro(c) => {
                let replicas = c.replicas as u64;
                Ok(crate::hydro::sim::memory_estimate(
                    &c.clone().validate(true)?,
                    replicas,
                ))
            }
            ModelConfig::Lif(c) => Ok(crate::lif::sim::memory_estimate(&c.clone().validate()?).0),
        }
    }
}

/// Sets top-level `fields` of a config's text before it is parsed (Python's keyword
/// overrides); `label` prefixes the messages.
pub fn with_fields(
    text: &str,
    fields: &serde_json::Map<String, Value>,
    label: Option<&str>,
) -> Result<String, ConfigError> {
    if fields.is_empty() {
        return Ok(text.to_string());
    }
    let labelled = |m: String| match label {
        Some(l) => ConfigError(format!("{l}: {m}")),
        None => ConfigError(m),
    };
    let mut v: Value = serde_json::from_str(text).map_err(|e| {
        labelled(format!(
            "malformed JSON: {}",
            config::json_error_message(&e)
        ))
    })?;
    let Some(obj) = v.as_object_mut() else {
        return Err(labelled("expected a JSON object".into()));
    };
    for (k, x) in fields {
        obj.insert(k.clone(), x.clone());
    }
    serde_json::to_string_pretty(&v).map_err(|e| ConfigError(e.to_string()))
}
