//! The resolved config of a run directory (its run.json), to resume the run from its
//! checkpoint: what `balnet run --resume DIR` and the Python package's `run(resume=DIR)` read.

use crate::config::{self, ConfigError, Model};
use crate::model_config::ModelConfig;
use std::path::Path;

/// The resolved config of the run in `dir`. `checkpoint_every` and `resume` name those
/// settings in the messages as the caller spells them (the CLI's flags, Python's arguments).
pub fn resumed_config(
    dir: &Path,
    checkpoint_every: &str,
    resume: &str,
) -> Result<ModelConfig, ConfigError> {
    let p = dir.join("run.json");
    let text = std::fs::read_to_string(&p)
        .map_err(|e| ConfigError(format!("{}: cannot read: {e}", p.display())))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        ConfigError(format!(
            "{}: {}",
            p.display(),
            config::json_error_message(&e)
        ))
    })?;
    if !dir.join("checkpoint.bin").exists() {
        return Err(ConfigError(format!(
            "{}: no checkpoint.bin (run with {checkpoint_every})",
            dir.display()
        )));
    }
    let bad = |e: serde_json::Error| {
        ConfigError(format!(
            "{}: config: {}",
            p.display(),
            config::json_error_message(&e)
        ))
    };
    match v["model"].as_str().and_then(Model::from_name) {
        Some(Model::Hydro) => Ok(ModelConfig::Hydro(Box::new(
            serde_json::from_value(v["config"].clone()).map_err(bad)?,
        ))),
        Some(Model::Lif) => Ok(ModelConfig::Lif(Box::new(
            serde_json::from_value(v["config"].clone()).map_err(bad)?,
        ))),
        None => Err(ConfigError(format!(
            "{}: model = {}: {resume} applies to model H and model L runs",
            p.display(),
            crate::io::shorten(&v["model"].to_string(), 40)
        ))),
    }
}
