//! What both models' configurations share: the typed configuration error and the JSON
//! parser that names the field path of every mistake.

/// A bad configuration: the CLI prints it on one line and exits with code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub(crate) fn bad(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

/// Parses a JSON config; unknown fields, wrong types and malformed JSON are errors that
/// name the field path and the position.
pub fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            bad(e.inner().to_string())
        } else {
            bad(format!("field `{path}`: {}", e.inner()))
        }
    })
}

/// Which model a config file is for, from its "model" field.
pub fn model_of(text: &str) -> Result<String, ConfigError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("malformed JSON: {e}")))?;
    match v.get("model") {
        None => Err(bad("missing field `model` (\"hydro\")")),
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(bad(format!(
            "field `model`: expected a string, got {other}"
        ))),
    }
}
