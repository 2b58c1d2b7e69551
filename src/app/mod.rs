//! The application layer: what `balnet run`, `theory`, `sweep`, `selftest` and the Python
//! package do, written once. A front end builds a typed request, calls one function here
//! and presents the typed report; every check on a request lives here, and nothing here
//! prints.
//!
//! - [`run`]: a run of a config (or the continuation of a checkpointed run directory) into
//!   its run directory, and its `--dry-run` estimate;
//! - [`theory`]: the large-n limit of a config;
//! - [`sweep`]: a sweep file's points, their summary and the convergence report;
//! - [`selftest`]: the random-number checks on this machine's backends;
//! - [`session`]: a simulation kept in process and stepped on demand (Python's
//!   `balnet.Simulation`); a run writes its directory through one.

pub mod run;
pub mod selftest;
pub mod session;
pub mod sweep;
pub mod theory;

use crate::config::{ConfigError, Model};
use crate::hydro::config::HydroSetup;
use crate::lif::config::LifSetup;
use crate::model_config::{self, ModelConfig};
use serde_json::Value;
use std::path::PathBuf;

/// How the caller spells its arguments, for the messages: the command line's flags
/// (`--checkpoint-every 0`) or Python's keyword arguments (`checkpoint_every = 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spelling {
    Cli,
    Python,
}

impl Spelling {
    /// The argument `name` (snake_case) as the caller writes it.
    pub fn name(self, name: &str) -> String {
        match self {
            Spelling::Cli => format!("--{}", name.replace('_', "-")),
            Spelling::Python => name.to_string(),
        }
    }

    /// The argument with its value: `--jobs 0` or `jobs = 0`.
    pub fn with_value(self, name: &str, value: impl std::fmt::Display) -> String {
        match self {
            Spelling::Cli => format!("{} {value}", self.name(name)),
            Spelling::Python => format!("{name} = {value}"),
        }
    }
}

/// Where a config comes from.
#[derive(Clone, Debug)]
pub enum ConfigSource {
    /// A JSON file; its path prefixes the messages.
    Path(PathBuf),
    /// JSON text.
    Text(String),
}

/// A config and the top-level fields to set in it before it is parsed (Python's keyword
/// overrides; empty from the command line).
#[derive(Clone, Debug)]
pub struct ConfigRequest {
    pub source: ConfigSource,
    pub fields: serde_json::Map<String, Value>,
}

impl ConfigRequest {
    pub fn path(p: impl Into<PathBuf>) -> Self {
        ConfigRequest {
            source: ConfigSource::Path(p.into()),
            fields: Default::default(),
        }
    }

    /// Reads and parses the config (not yet validated).
    pub fn load(&self) -> Result<ModelConfig, ConfigError> {
        let (text, label) = match &self.source {
            ConfigSource::Path(p) => {
                let label = p.display().to_string();
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(format!("{label}: cannot read: {e}")))?;
                (text, Some(label))
            }
            ConfigSource::Text(t) => (t.clone(), None),
        };
        // The model is read first, so that a bad `model` is the message whatever the fields.
        crate::config::model_of(&text).map_err(|e| labelled(label.as_deref(), e))?;
        let text = model_config::with_fields(&text, &self.fields, label.as_deref())?;
        ModelConfig::parse(&text, label.as_deref())
    }

    /// The file stem of a config file ("run" for text), for default output directories.
    pub fn stem(&self) -> String {
        match &self.source {
            ConfigSource::Path(p) => p
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "run".into()),
            ConfigSource::Text(_) => "run".into(),
        }
    }
}

fn labelled(label: Option<&str>, e: ConfigError) -> ConfigError {
    match label {
        Some(l) if !e.0.starts_with(l) => ConfigError(format!("{l}: {}", e.0)),
        _ => e,
    }
}

pub use crate::config::Overrides;

/// `n` applies to model H only (model L configs set n_e and n_i).
pub fn check_n(model: Model, n: Option<u64>, spelling: Spelling) -> Result<(), ConfigError> {
    if model == Model::Lif && n.is_some() {
        return Err(ConfigError(format!(
            "{} applies to model H; set n_e and n_i in a model L config",
            spelling.name("n")
        )));
    }
    Ok(())
}

/// A validated config of either model.
#[derive(Clone, Debug)]
pub enum Setup {
    Hydro(Box<HydroSetup>),
    Lif(Box<LifSetup>),
}

impl Setup {
    /// Applies the overrides and validates (`force`: model H runs even above the stiffness
    /// refusal threshold).
    pub fn new(
        config: ModelConfig,
        o: &Overrides,
        force: bool,
        spelling: Spelling,
    ) -> Result<Setup, ConfigError> {
        check_n(config.model(), o.n, spelling)?;
        Ok(match config {
            ModelConfig::Hydro(c) => {
                Setup::Hydro(Box::new(crate::hydro::output::setup(*c, o, force)?))
            }
            ModelConfig::Lif(c) => {
                Setup::Lif(Box::new(crate::lif::output::setup(*c, o.seed, o.steps)?))
            }
        })
    }

    pub fn model(&self) -> Model {
        match self {
            Setup::Hydro(_) => Model::Hydro,
            Setup::Lif(_) => Model::Lif,
        }
    }

    /// What validation warns about (shown before the run starts).
    pub fn warnings(&self) -> &[String] {
        match self {
            Setup::Hydro(s) => &s.warnings,
            Setup::Lif(s) => &s.warnings,
        }
    }

    /// Whether the config runs on the CPU only (model H `pairwise`).
    pub fn cpu_only(&self) -> bool {
        match self {
            Setup::Hydro(s) => s.config.coupling == crate::hydro::config::Coupling::Pairwise,
            Setup::Lif(_) => false,
        }
    }
}

/// The backend that continues a checkpoint of backend kind `kind`: `auto` takes the
/// checkpoint's kind (a checkpoint continues bit for bit on its own kind only).
pub fn backend_for_checkpoint(
    backend: crate::device::BackendChoice,
    kind: Option<crate::device::DeviceKind>,
) -> crate::device::BackendChoice {
    use crate::device::{BackendChoice, DeviceKind};
    match (backend, kind) {
        (BackendChoice::Auto, Some(DeviceKind::Cpu)) => BackendChoice::Cpu,
        (BackendChoice::Auto, Some(DeviceKind::Gpu)) => BackendChoice::Gpu,
        (b, _) => b,
    }
}

/// The summary a run wrote as its run.json.
#[derive(Clone, Debug)]
pub enum RunSummary {
    Hydro(Box<crate::hydro::output::RunSummary>),
    Lif(Box<crate::lif::output::LifRunSummary>),
}

/// `checkpoint_every` must be at least 1.
pub fn check_checkpoint_every(every: Option<u64>, spelling: Spelling) -> Result<(), ConfigError> {
    if every == Some(0) {
        return Err(ConfigError(format!(
            "{}: must be >= 1",
            spelling.with_value("checkpoint_every", 0)
        )));
    }
    Ok(())
}
