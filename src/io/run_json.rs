//! run.json read back as a typed record (sweeps and the convergence report read finished
//! runs this way). Every field is optional: a run that failed before its first summary
//! leaves only `status` and `error`, and non-finite numbers are written as null.

use serde::Deserialize;
use std::path::Path;

/// One late-time comparison of a model H run.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Comparison {
    pub simulated: Option<f64>,
    pub limit: Option<f64>,
    pub corrected: Option<f64>,
    pub error_vs_limit: Option<f64>,
    pub error_vs_limit_times_sqrt_n: Option<f64>,
    pub first_order_coefficient: Option<f64>,
    pub corrected_at_dt: Option<f64>,
}

/// The late-time comparisons of one population.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LatePopulation {
    pub population: String,
    pub rate: Comparison,
    pub mean: Comparison,
    pub var: Comparison,
}

impl LatePopulation {
    /// "rate", "mean" or "var".
    pub fn get(&self, quantity: &str) -> Option<&Comparison> {
        match quantity {
            "rate" => Some(&self.rate),
            "mean" => Some(&self.mean),
            "var" => Some(&self.var),
            _ => None,
        }
    }
}

/// Model L's summary numbers.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LifNumbers {
    pub mean_rate_hz: [Option<f64>; 2],
    pub mean_cv: [Option<f64>; 2],
}

/// Model L's mean-field prediction.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LifPrediction {
    pub rate_hz: Option<f64>,
    pub cv: Option<f64>,
}

/// The config fields the readers need.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfigHead {
    pub n: Option<u64>,
}

/// run.json's `status`: `running` while the run goes, then how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Running,
    Complete,
    Interrupted,
    Failed,
}

impl Status {
    /// The spelling in run.json.
    pub fn name(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Complete => "complete",
            Status::Interrupted => "interrupted",
            Status::Failed => "failed",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What sweeps and reports read from a run.json of either model.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunJson {
    pub status: Option<Status>,
    pub error: Option<String>,
    pub model: Option<crate::config::Model>,
    pub config: ConfigHead,
    pub late_time: Vec<LatePopulation>,
    pub neuron_steps_per_second: Option<f64>,
    pub summary: Option<LifNumbers>,
    pub theory: Option<LifPrediction>,
    pub wall_seconds_per_simulated_second: Option<f64>,
}

impl RunJson {
    /// DIR/run.json, or None when it is missing or not a run summary.
    pub fn read(dir: &Path) -> Option<RunJson> {
        let t = std::fs::read_to_string(dir.join("run.json")).ok()?;
        serde_json::from_str(&t).ok()
    }
}

/// A number as run.json writes it (the shortest round-trip form), empty when absent.
pub fn cell(x: Option<f64>) -> String {
    x.map(|v| serde_json::Value::from(v).to_string())
        .unwrap_or_default()
}
