//! Model H configuration: serde types, defaults, and validation with errors that name the
//! field, the value and the allowed range.

use crate::config::{ConfigError, bad};
use crate::hydro::theory::{self as hl, HydroTheoryParams};
use serde::{Deserialize, Serialize};

/// How the per-pair Poisson inputs of model H are drawn (MODEL.md, "Coupling modes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coupling {
    /// One Poisson process per ordered pair, summed exactly (the paper's model).
    Independent,
    /// Broadcast spikes: every neuron receives the same spikes (common noise).
    Shared,
    /// Brute force, O(n^2) per step, CPU only, n <= `PAIRWISE_MAX_N`.
    Pairwise,
}

/// Largest n per population accepted in `pairwise` mode.
pub const PAIRWISE_MAX_N: u64 = 4000;
/// Largest n per population (global neuron indices must fit a u32 counter word).
pub const HYDRO_MAX_N: u64 = 1 << 30;
/// Stiffness number dt·sqrt(n)·max|J|·max f' above which `run` warns, and refuses without --force.
pub const STIFFNESS_WARN: f64 = 0.1;
pub const STIFFNESS_REFUSE: f64 = 1.0;

/// The moments `run` can write to moments.csv.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Moment {
    Mean,
    Var,
    Rate,
    Skewness,
    ExcessKurtosis,
    Drift,
}

pub const ALL_MOMENTS: [Moment; 6] = [
    Moment::Mean,
    Moment::Var,
    Moment::Rate,
    Moment::Skewness,
    Moment::ExcessKurtosis,
    Moment::Drift,
];

/// Model H: the balanced all-to-all stochastic hybrid network. Index 0 = E, 1 = I.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HydroConfig {
    /// Must be "hydro".
    pub model: String,
    /// Neurons per population.
    pub n: u64,
    /// Time step (units of the synaptic time constant).
    pub dt: f64,
    /// Simulated time; ignored when `steps` is given.
    pub duration: f64,
    /// Number of steps (overrides `duration`).
    pub steps: Option<u64>,
    pub tau: [f64; 2],
    pub nu_max: [f64; 2],
    pub beta: [f64; 2],
    pub theta: [f64; 2],
    /// Coupling magnitudes [[J_EE, J_EI], [J_IE, J_II]], all >= 0.
    #[serde(rename = "J")]
    pub j: [[f64; 2]; 2],
    /// External drive h (scaled by sqrt(n)); give either `h` or `rates`.
    pub h: Option<[f64; 2]>,
    /// Target balanced rates r; h = -J_s r.
    pub rates: Option<[f64; 2]>,
    pub m: [f64; 2],
    pub x0_mean: [f64; 2],
    pub x0_sd: [f64; 2],
    pub coupling: Coupling,
    pub seed: u64,
    /// Record the population moments every this many steps.
    pub record_every: u64,
    /// Which moments go into moments.csv.
    pub record: Vec<Moment>,
    /// Write the final state as state.npy.
    pub save_state: bool,
    /// Replica index of the run (the RNG counter's replica word): replica r of a batched run
    /// equals a single run with `replica: r`.
    pub replica: u32,
    /// Independent networks simulated together (replica, replica + 1, ...), each recorded
    /// separately; CPU backend.
    pub replicas: u32,
}

impl Default for HydroConfig {
    fn default() -> Self {
        HydroConfig {
            model: "hydro".into(),
            n: 10_000,
            dt: 1e-3,
            duration: 4.0,
            steps: None,
            tau: [1.0, 1.0],
            nu_max: [1.0, 1.0],
            beta: [1.0, 1.0],
            theta: [0.0, 0.0],
            j: [[1.0, 2.0], [2.0, 1.5]],
            h: None,
            rates: None,
            m: [0.0, 0.0],
            x0_mean: [0.0, 0.0],
            x0_sd: [0.5, 0.5],
            coupling: Coupling::Independent,
            seed: 1,
            record_every: 100,
            record: ALL_MOMENTS.to_vec(),
            save_state: false,
            replica: 0,
            replicas: 1,
        }
    }
}

/// MODEL.md's default target rates.
pub const DEFAULT_RATES: [f64; 2] = [0.3, 0.45];

/// A validated model H configuration with its derived quantities.
#[derive(Clone, Debug, Serialize)]
pub struct HydroSetup {
    pub config: HydroConfig,
    pub steps: u64,
    /// The resolved drive h and balanced rates r.
    pub h: [f64; 2],
    pub rates: [f64; 2],
    pub stiffness: f64,
    pub warnings: Vec<String>,
}

impl HydroSetup {
    /// The record times of a run: every `record_every` steps from 0 to `steps`.
    pub fn record_times(&self) -> Vec<f64> {
        let every = self.config.record_every;
        (0..=self.steps / every)
            .map(|k| (k * every) as f64 * self.config.dt)
            .collect()
    }

    pub fn theory_params(&self) -> HydroTheoryParams {
        HydroTheoryParams {
            h: self.h,
            ..base_params(&self.config)
        }
    }
}

const POP: [&str; 2] = ["E", "I"];

fn check_pair(
    name: &str,
    v: [f64; 2],
    ok: impl Fn(f64) -> bool,
    range: &str,
) -> Result<(), ConfigError> {
    for (a, x) in v.iter().enumerate() {
        if !ok(*x) {
            return Err(bad(format!(
                "{name}[{a}] ({}) = {x}: must be {range}",
                POP[a]
            )));
        }
    }
    Ok(())
}

impl HydroConfig {
    /// Checks every field and derives h, r, the step count and the stiffness number.
    pub fn validate(self, force: bool) -> Result<HydroSetup, ConfigError> {
        let c = self;
        if c.model != "hydro" {
            return Err(bad(format!("model = {:?}: must be \"hydro\"", c.model)));
        }
        if c.n < 2 || c.n > HYDRO_MAX_N {
            return Err(bad(format!("n = {}: must be in [2, {HYDRO_MAX_N}]", c.n)));
        }
        if !(c.dt.is_finite() && c.dt > 0.0) {
            return Err(bad(format!("dt = {}: must be a finite number > 0", c.dt)));
        }
        check_pair("tau", c.tau, |x| x.is_finite() && x > 0.0, "finite and > 0")?;
        if c.dt >= 0.5 * c.tau[0].min(c.tau[1]) {
            return Err(bad(format!(
                "dt = {}: must be < tau/2 = {}",
                c.dt,
                0.5 * c.tau[0].min(c.tau[1])
            )));
        }
        let steps = match c.steps {
            Some(s) => s,
            None => {
                if !(c.duration.is_finite() && c.duration > 0.0) {
                    return Err(bad(format!(
                        "duration = {}: must be a finite number > 0",
                        c.duration
                    )));
                }
                (c.duration / c.dt).round() as u64
            }
        };
        if steps == 0 || steps > u32::MAX as u64 - 1 {
            return Err(bad(format!(
                "steps = {steps}: must be in [1, {}]",
                u32::MAX - 1
            )));
        }
        check_pair(
            "nu_max",
            c.nu_max,
            |x| x.is_finite() && x > 0.0,
            "finite and > 0",
        )?;
        check_pair(
            "beta",
            c.beta,
            |x| x.is_finite() && x > 0.0,
            "finite and > 0",
        )?;
        check_pair("theta", c.theta, f64::is_finite, "finite")?;
        check_pair("m", c.m, f64::is_finite, "finite")?;
        check_pair("x0_mean", c.x0_mean, f64::is_finite, "finite")?;
        check_pair(
            "x0_sd",
            c.x0_sd,
            |x| x.is_finite() && x >= 0.0,
            "finite and >= 0",
        )?;
        for a in 0..2 {
            check_pair(
                &format!("J[{a}]"),
                c.j[a],
                |x| x.is_finite() && x >= 0.0,
                "finite and >= 0",
            )?;
        }
        if c.replicas == 0 || c.replicas > 65536 {
            return Err(bad(format!(
                "replicas = {}: must be in [1, 65536]",
                c.replicas
            )));
        }
        if c.replica as u64 + c.replicas as u64 > u32::MAX as u64 {
            return Err(bad(format!(
                "replica = {} + replicas = {}: must stay below 2^32",
                c.replica, c.replicas
            )));
        }
        if c.replicas > 1 && c.coupling == Coupling::Pairwise {
            return Err(bad(
                "replicas > 1 is not available with coupling = \"pairwise\"",
            ));
        }
        if c.record_every == 0 {
            return Err(bad("record_every = 0: must be >= 1"));
        }
        if c.record.is_empty() {
            return Err(bad("record = []: name at least one moment"));
        }
        if c.coupling == Coupling::Pairwise && c.n > PAIRWISE_MAX_N {
            return Err(bad(format!(
                "coupling = \"pairwise\" with n = {}: pairwise draws every pair's count (O(n^2) per step) and is limited to n <= {PAIRWISE_MAX_N}; use \"independent\", which is the same process",
                c.n
            )));
        }
        let (h, rates) = match (c.h, c.rates) {
            (Some(_), Some(_)) => {
                return Err(bad("both `h` and `rates` given: give one (h = -J_s r)"));
            }
            (Some(h), None) => {
                check_pair("h", h, f64::is_finite, "finite")?;
                let mut p = base_params(&c);
                p.h = h;
                let r = hl::balanced_rates(&p)
                    .map_err(|e| bad(format!("h = {h:?} cannot be balanced: {e}")))?;
                (h, r)
            }
            (None, r) => {
                let r = r.unwrap_or(DEFAULT_RATES);
                for a in 0..2 {
                    if !(r[a] > 0.0 && r[a] < c.nu_max[a]) {
                        return Err(bad(format!(
                            "rates[{a}] ({}) = {}: must be in (0, nu_max = {})",
                            POP[a], r[a], c.nu_max[a]
                        )));
                    }
                }
                let h = hl::h_from_rates(&c.j, r);
                let mut p = base_params(&c);
                p.h = h;
                hl::balanced_rates(&p).map_err(|e| bad(format!("rates = {r:?}: {e}")))?;
                (h, r)
            }
        };
        let mut p = base_params(&c);
        p.h = h;
        let stiffness = hl::stiffness_number(&p, c.n as f64, c.dt);
        let mut warnings = Vec::new();
        let lambda_max = c.dt * c.n as f64 * c.nu_max[0].max(c.nu_max[1]);
        if lambda_max > crate::rng::alias::POISSON_TABLE_LAMBDA_MAX {
            return Err(bad(format!(
                "dt * n * max nu_max = {lambda_max:.4e}: the per-step Poisson mean must stay <= {:.1e}; lower dt or n",
                crate::rng::alias::POISSON_TABLE_LAMBDA_MAX
            )));
        }
        if stiffness > STIFFNESS_REFUSE && !force {
            return Err(bad(format!(
                "stiffness number dt*sqrt(n)*max|J|*max f' = {stiffness:.3} > {STIFFNESS_REFUSE}: the relaxation towards balance is not resolved; lower dt below {:.3e} or pass --force",
                c.dt * STIFFNESS_WARN / stiffness
            )));
        }
        if stiffness > STIFFNESS_WARN {
            warnings.push(format!(
                "stiffness number dt*sqrt(n)*max|J|*max f' = {stiffness:.3} > {STIFFNESS_WARN}: expect an O(dt) bias; dt < {:.3e} keeps it below {STIFFNESS_WARN}",
                c.dt * STIFFNESS_WARN / stiffness
            ));
        }
        if p.det_j_s() <= 0.0 {
            warnings.push(format!(
                "det J_s = {:.4} <= 0: the balanced state is unstable",
                p.det_j_s()
            ));
        } else if let Ok(ss) = hl::steady_state(&p)
            && let Err(e) = hl::check_stability(&p, ss.mu, ss.var)
        {
            warnings.push(format!("balanced state may be unstable: {e}"));
        }
        Ok(HydroSetup {
            config: c,
            steps,
            h,
            rates,
            stiffness,
            warnings,
        })
    }
}

fn base_params(c: &HydroConfig) -> HydroTheoryParams {
    HydroTheoryParams {
        tau: c.tau,
        nu_max: c.nu_max,
        beta: c.beta,
        theta: c.theta,
        j: c.j,
        h: [0.0; 2],
        m: c.m,
        x0_mean: c.x0_mean,
        x0_sd: c.x0_sd,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_json;

    fn err(json: &str) -> String {
        match parse_json::<HydroConfig>(json) {
            Err(e) => e.0,
            Ok(c) => c.validate(false).err().map(|e| e.0).unwrap_or_default(),
        }
    }

    #[test]
    fn defaults_are_valid_and_match_model_md() {
        let s = HydroConfig::default().validate(false).expect("valid");
        assert!((s.h[0] - 0.6).abs() < 1e-12 && (s.h[1] - 0.075).abs() < 1e-12);
        assert_eq!(s.steps, 4000);
    }

    #[test]
    fn bad_inputs_name_the_problem() {
        assert!(err(r#"{"model":"hydro","bogus":1}"#).contains("unknown field `bogus`"));
        assert!(err(r#"{"model":"hydro","n":-5}"#).contains("field `n`"));
        assert!(err(r#"{"model":"hydro","dt":0}"#).contains("dt = 0"));
        assert!(err(r#"{"model":"hydro","J":[[1,2,3],[1,1]]}"#).contains("field `J"));
        assert!(
            err(r#"{"model":"hydro","J":[[1,2],[1,1]],"h":[1,1]}"#).contains("cannot be balanced")
        );
        assert!(err(r#"{"model":"hydro", "#).contains("EOF"));
        assert!(err(r#"{"model":"hydro","rates":[0.3,1.2]}"#).contains("rates[1]"));
        assert!(err(r#"{"model":"hydro","n":5000,"coupling":"pairwise"}"#).contains("n <= 4000"));
        assert!(err(r#"{"model":"hydro","n":100000000}"#).contains("stiffness"));
    }
}
