//! Model H configuration: serde types, defaults, and validation with errors that name the
//! field, the value and the allowed range.

use crate::config::{ConfigError, bad, fmt_value, require, round_count, u32_in, u64_in};
use crate::hydro::theory::{self, HydroTheoryParams};
use serde::{Deserialize, Serialize};

/// How the per-pair Poisson inputs of model H are drawn (docs/models.md, model H coupling modes).
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
/// Stiffness number dt·sqrt(n)·max|J|·max f' above which `run` checks whether its O(dt) bias
/// deserves a warning (see `stiffness_warning`), and above which it refuses without --force.
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
    pub model: crate::config::Model,
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
    /// Test-only negative control, never read from or written to JSON: `pairwise` mode with
    /// each neuron's own pair included (self-coupling), i.e. without the self-exclusion that
    /// the model has. The test suite checks that its comparisons tell this broken process from
    /// the model; every other mode ignores it.
    #[doc(hidden)]
    #[serde(skip)]
    pub pairwise_self_coupling: bool,
}

impl Default for HydroConfig {
    fn default() -> Self {
        HydroConfig {
            model: crate::config::Model::Hydro,
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
            pairwise_self_coupling: false,
        }
    }
}

/// The default target rates (docs/models.md, model H).
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

/// Largest magnitude of a model parameter (tau, nu_max, beta, theta, J, h, m, x0_mean,
/// x0_sd): the kernels compute in f32, where products such as beta (x - theta) and
/// sqrt(n) h must stay finite and resolved.
pub const HYDRO_MAX_MAGNITUDE: f64 = 1e6;
/// Smallest tau, nu_max and beta (the inverse of the largest magnitude).
pub const HYDRO_MIN_SCALE: f64 = 1e-6;
/// Smallest dt / max tau: the kernels' leak factor e^{-dt/tau} is an f32, whose spacing
/// below 1 is 6e-8; at dt/tau = 1e-6 the leak per step is resolved to 6%, below it worse
/// (at 3e-8 the factor is 1 and the leak is gone), so a smaller dt would run silently wrong.
pub const HYDRO_MIN_DT_OVER_TAU: f64 = 1e-6;
/// Largest number of steps (the step index is a word of the RNG counter).
pub const HYDRO_MAX_STEPS: u64 = u32::MAX as u64 - 1;
/// Largest number of records over all replicas, (steps / record_every + 1) x replicas: each
/// is kept in memory (moments, theory) and written to moments.csv.
pub const HYDRO_MAX_RECORDS: u64 = 10_000_000;
/// Largest number of replicas of a batched run.
pub const HYDRO_MAX_REPLICAS: u64 = 65536;

fn check_pair(
    name: &str,
    v: [f64; 2],
    ok: impl Fn(f64) -> bool,
    range: &str,
) -> Result<(), ConfigError> {
    for (a, x) in v.iter().enumerate() {
        if !ok(*x) {
            return Err(bad(format!(
                "{name}[{a}] ({}) = {}: must be {range}",
                POP[a],
                fmt_value(x)
            )));
        }
    }
    Ok(())
}

/// Each of `v` finite with |x| <= HYDRO_MAX_MAGNITUDE.
fn check_finite_pair(name: &str, v: [f64; 2]) -> Result<(), ConfigError> {
    check_pair(
        name,
        v,
        |x| x.is_finite() && x.abs() <= HYDRO_MAX_MAGNITUDE,
        &format!("finite with |x| <= {HYDRO_MAX_MAGNITUDE:e}"),
    )
}

/// Each of `v` finite and in [lo, HYDRO_MAX_MAGNITUDE] (lo = 0 allows 0; else lo > 0).
fn check_scale_pair(name: &str, v: [f64; 2], lo: f64) -> Result<(), ConfigError> {
    check_pair(
        name,
        v,
        |x| x.is_finite() && x >= lo && x <= HYDRO_MAX_MAGNITUDE,
        &format!("in [{}, {HYDRO_MAX_MAGNITUDE:e}]", fmt_value(&lo)),
    )
}

/// Whether the stiffness number deserves a warning, and why (`None`: it does not).
///
/// The stiffness number S = dt sqrt(n) max|J| max f' is dt times the rate at which the
/// population means relax towards balance. What it costs is an O(dt) bias, and
/// `theory::scheme_steady_state` predicts the part of it that survives n -> infinity (the drive
/// integrated with weight tau (1 - e^{-dt/tau}) but jumps with weight dt, and the AR(1)
/// variance of the step): per moment an offset ~ dt, which `run` reports and adds to its
/// prediction (`corrected_at_dt` in run.json). That offset matters when it is comparable to
/// the finite-n effect a run is there to measure, the first-order correction c / sqrt(n):
/// their ratio grows like dt sqrt(n), i.e. like S. What the offset does not describe is the
/// coarse resolution of the fast relaxation itself, which grows faster than linearly in S.
///
/// Measured (configs/hydro_balanced.json, n = 1e5, t in [2, 6], seeds 1 and 2, dt from 5e-4
/// to 5e-3): the predicted offset is 0.6-0.9 S of the first-order correction (9-14% at the
/// shipped dt = 1e-3, S = 0.158); once it is added (`corrected_at_dt`) the rates and means
/// are within 0.1 of the first-order correction of the simulation up to S = 0.5 (the
/// variances scatter by about +-1 of it over seeds at every dt, the statistical floor of the
/// window), while at S = 0.79 the E mean is off by 12 times the first-order correction and
/// the E rate by 1.2-1.5 times.
///
/// Hence the warning is issued when S > `STIFFNESS_WARN_UNPREDICTED` = 0.5, where the
/// unpredicted part takes over, or when the predicted O(dt) offset of some rate, mean or
/// variance exceeds `STIFFNESS_BIAS_FRACTION` = 50% of that moment's first-order correction
/// |c| / sqrt(n) (floored at a tenth of the moment's own 1/sqrt(n) scale, where c is tiny),
/// where comparisons with the dt -> 0 theory measure dt as much as n. Below both the bias is
/// harmless: predicted, reported, and small next to the finite-n effect. The shipped
/// configs/hydro_balanced.json is such a case and runs without a warning.
fn stiffness_warning(p: &HydroTheoryParams, n: f64, dt: f64, stiffness: f64) -> Option<String> {
    let fix = |target: f64| dt * target / stiffness.max(f64::MIN_POSITIVE);
    if stiffness > STIFFNESS_WARN_UNPREDICTED {
        return Some(format!(
            "stiffness number dt*sqrt(n)*max|J|*max f' = {stiffness:.3} > {STIFFNESS_WARN_UNPREDICTED}: the relaxation towards balance is coarsely resolved and the O(dt) bias is only partly predicted (run.json's corrected_at_dt); dt < {:.3e} keeps it below {STIFFNESS_WARN_UNPREDICTED}",
            fix(STIFFNESS_WARN_UNPREDICTED)
        ));
    }
    let (Ok(c), Ok(d)) = (theory::steady_state(p), theory::scheme_steady_state(p, dt)) else {
        return None;
    };
    let sn = n.sqrt();
    let mut worst: Option<(f64, String)> = None;
    for a in 0..2 {
        let sd = c.var[a].sqrt();
        for (name, offset, coeff, scale) in [
            ("rate", d.rate[a] - c.rate[a], c.delta[a], c.rate[a]),
            ("mean", d.mu[a] - c.mu[a], c.m1[a], sd),
            ("var", d.var[a] - c.var[a], c.v1[a], c.var[a]),
        ] {
            // The first-order correction, floored at a tenth of the moment's 1/sqrt(n) scale.
            let finite_n = coeff.abs().max(0.1 * scale) / sn;
            let ratio = offset.abs() / finite_n;
            if ratio.is_finite() && worst.as_ref().is_none_or(|w| ratio > w.0) {
                worst = Some((ratio, format!("{name} {}", POP[a])));
            }
        }
    }
    let (ratio, which) = worst?;
    (ratio > STIFFNESS_BIAS_FRACTION).then(|| {
        format!(
            "stiffness number dt*sqrt(n)*max|J|*max f' = {stiffness:.3}: the predicted O(dt) bias of the {which} is {:.0}% of its first-order finite-n correction (> {:.0}%), so comparisons with the dt -> 0 theory measure dt as much as n; run.json's corrected_at_dt includes it; dt < {:.3e} brings it to {:.0}%",
            100.0 * ratio,
            100.0 * STIFFNESS_BIAS_FRACTION,
            dt * STIFFNESS_BIAS_FRACTION / ratio,
            100.0 * STIFFNESS_BIAS_FRACTION
        )
    })
}

/// Fraction of the first-order finite-n correction above which the predicted O(dt) bias is
/// warned about (see `stiffness_warning`).
pub const STIFFNESS_BIAS_FRACTION: f64 = 0.5;
/// Stiffness number above which the bias is warned about whatever its predicted part.
pub const STIFFNESS_WARN_UNPREDICTED: f64 = 0.5;

impl HydroConfig {
    /// Checks every field (range and integer type) before deriving anything from it, then
    /// derives h, r, the step count and the stiffness number. Errors are one line naming the
    /// field, its value (shortened) and the allowed range; the checks run in a fixed order
    /// (the stages below, in turn), and the first that fails is reported.
    pub fn validate(self, force: bool) -> Result<HydroSetup, ConfigError> {
        let c = self;
        if c.model != crate::config::Model::Hydro {
            return Err(bad(format!(
                "model = {}: must be \"hydro\"",
                fmt_value(c.model.name())
            )));
        }
        u64_in("n", c.n, 2, HYDRO_MAX_N)?;
        let steps = c.check_timing()?;
        c.check_parameters()?;
        c.check_replicas()?;
        c.check_record(steps)?;
        if c.coupling == Coupling::Pairwise && c.n > PAIRWISE_MAX_N {
            return Err(bad(format!(
                "coupling = \"pairwise\" with n = {}: pairwise draws every pair's count (O(n^2) per step) and is limited to n <= {PAIRWISE_MAX_N}; use \"independent\", which is the same process",
                c.n
            )));
        }
        let (h, rates) = c.resolve_drive()?;
        let mut p = base_params(&c);
        p.h = h;
        let stiffness = c.check_kernel_ranges(&p, force)?;
        let warnings = c.warnings(&p, stiffness);
        Ok(HydroSetup {
            config: c,
            steps,
            h,
            rates,
            stiffness,
            warnings,
        })
    }

    /// tau, dt against tau, and the step count (`steps`, or duration/dt).
    fn check_timing(&self) -> Result<u64, ConfigError> {
        let c = self;
        check_scale_pair("tau", c.tau, HYDRO_MIN_SCALE)?;
        let (tau_min, tau_max) = (c.tau[0].min(c.tau[1]), c.tau[0].max(c.tau[1]));
        require(
            c.dt.is_finite() && c.dt > 0.0,
            "dt",
            &c.dt,
            "a finite number > 0",
        )?;
        require(
            c.dt < 0.5 * tau_min,
            "dt",
            &c.dt,
            &format!("< tau/2 = {}", fmt_value(&(0.5 * tau_min))),
        )?;
        require(
            c.dt >= HYDRO_MIN_DT_OVER_TAU * tau_max,
            "dt",
            &c.dt,
            &format!(
                ">= {HYDRO_MIN_DT_OVER_TAU:e} max tau = {} (the f32 leak factor e^(-dt/tau) would not resolve the leak)",
                fmt_value(&(HYDRO_MIN_DT_OVER_TAU * tau_max))
            ),
        )?;
        match c.steps {
            Some(s) => u64_in("steps", s, 1, HYDRO_MAX_STEPS),
            None => {
                require(
                    c.duration.is_finite() && c.duration > 0.0,
                    "duration",
                    &c.duration,
                    "a finite number > 0",
                )?;
                round_count(
                    &format!(
                        "duration/dt (duration = {}, dt = {})",
                        fmt_value(&c.duration),
                        fmt_value(&c.dt)
                    ),
                    c.duration / c.dt,
                    1,
                    HYDRO_MAX_STEPS,
                )
            }
        }
    }

    /// The neurons' and the coupling's parameters: nu_max, beta, theta, m, x0 and J.
    fn check_parameters(&self) -> Result<(), ConfigError> {
        let c = self;
        check_scale_pair("nu_max", c.nu_max, HYDRO_MIN_SCALE)?;
        check_scale_pair("beta", c.beta, HYDRO_MIN_SCALE)?;
        check_finite_pair("theta", c.theta)?;
        check_finite_pair("m", c.m)?;
        check_finite_pair("x0_mean", c.x0_mean)?;
        check_scale_pair("x0_sd", c.x0_sd, 0.0)?;
        for a in 0..2 {
            check_scale_pair(&format!("J[{a}]"), c.j[a], 0.0)?;
        }
        Ok(())
    }

    /// replica and replicas, and the neurons of all replicas together.
    fn check_replicas(&self) -> Result<(), ConfigError> {
        let c = self;
        u64_in("replicas", c.replicas as u64, 1, HYDRO_MAX_REPLICAS)?;
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
        // Neurons of all replicas together (both populations): n x replicas <= HYDRO_MAX_N.
        match c.n.checked_mul(c.replicas as u64) {
            Some(t) if t <= HYDRO_MAX_N => Ok(()),
            _ => Err(bad(format!(
                "n x replicas = {} x {}: must be <= {HYDRO_MAX_N} (neurons per population over all replicas)",
                c.n, c.replicas
            ))),
        }
    }

    /// What is recorded: record_every, the number of records over all replicas, and the
    /// moments.
    fn check_record(&self, steps: u64) -> Result<(), ConfigError> {
        let c = self;
        // Used as a u32 by the backends' advance(steps, record_every).
        u32_in("record_every", c.record_every, 1, u32::MAX)?;
        let records = (steps / c.record_every + 1)
            .checked_mul(c.replicas as u64)
            .filter(|&r| r <= HYDRO_MAX_RECORDS);
        if records.is_none() {
            return Err(bad(format!(
                "records = (steps / record_every + 1) x replicas = ({steps} / {} + 1) x {}: must be <= {HYDRO_MAX_RECORDS}; raise record_every",
                c.record_every, c.replicas
            )));
        }
        if c.record.is_empty() {
            return Err(bad("record = []: name at least one moment"));
        }
        for (i, m) in c.record.iter().enumerate() {
            if c.record[..i].contains(m) {
                return Err(bad(format!(
                    "record[{i}] = {m:?}: listed twice (each moment at most once)"
                )));
            }
        }
        Ok(())
    }

    /// The drive h and the balanced rates r, from `h` or from `rates` (default
    /// `DEFAULT_RATES`), with a balanced state either way: (h, r).
    fn resolve_drive(&self) -> Result<([f64; 2], [f64; 2]), ConfigError> {
        let c = self;
        match (c.h, c.rates) {
            (Some(_), Some(_)) => Err(bad("both `h` and `rates` given: give one (h = -J_s r)")),
            (Some(h), None) => {
                check_finite_pair("h", h)?;
                let mut p = base_params(c);
                p.h = h;
                let r = theory::balanced_rates(&p)
                    .map_err(|e| bad(format!("h = {} cannot be balanced: {e}", fmt_value(&h))))?;
                Ok((h, r))
            }
            (None, r) => {
                let r = r.unwrap_or(DEFAULT_RATES);
                for a in 0..2 {
                    if !(r[a] > 0.0 && r[a] < c.nu_max[a]) {
                        return Err(bad(format!(
                            "rates[{a}] ({}) = {}: must be in (0, nu_max = {})",
                            POP[a],
                            fmt_value(&r[a]),
                            fmt_value(&c.nu_max[a])
                        )));
                    }
                }
                let h = theory::h_from_rates(&c.j, r);
                let mut p = base_params(c);
                p.h = h;
                theory::balanced_rates(&p)
                    .map_err(|e| bad(format!("rates = {}: {e}", fmt_value(&r))))?;
                Ok((h, r))
            }
        }
    }

    /// What the f32 kernels and the Poisson sampler can take: the drive sqrt(n) h + m, the
    /// per-step Poisson mean, and the stiffness number (refused above `STIFFNESS_REFUSE`
    /// unless `force`), which is returned.
    fn check_kernel_ranges(&self, p: &HydroTheoryParams, force: bool) -> Result<f64, ConfigError> {
        let c = self;
        let n = c.n as f64;
        // The drive sqrt(n) h + m enters the f32 kernels.
        for a in 0..2 {
            let drive = n.sqrt() * p.h[a] + c.m[a];
            if !drive.is_finite() || drive.abs() > f32::MAX as f64 / 4.0 {
                return Err(bad(format!(
                    "sqrt(n) h[{a}] + m[{a}] = {}: too large for the f32 kernels",
                    fmt_value(&drive)
                )));
            }
        }
        let stiffness = theory::stiffness_number(p, n, c.dt);
        let lambda_max = c.dt * n * c.nu_max[0].max(c.nu_max[1]);
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
        Ok(stiffness)
    }

    /// The warnings of a valid config: the stiffness number's bias, and a balanced state
    /// that is unstable or has no limit theory.
    fn warnings(&self, p: &HydroTheoryParams, stiffness: f64) -> Vec<String> {
        let mut warnings = Vec::new();
        if stiffness > STIFFNESS_WARN
            && let Some(w) = stiffness_warning(p, self.n as f64, self.dt, stiffness)
        {
            warnings.push(w);
        }
        if p.det_j_s() <= 0.0 {
            warnings.push(format!(
                "det J_s = {:.4} <= 0: the balanced state is unstable",
                p.det_j_s()
            ));
        } else {
            match theory::steady_state(p) {
                Ok(ss) => {
                    if let Err(e) = theory::check_stability(p, ss.mu, ss.var) {
                        warnings.push(format!("balanced state may be unstable: {e}"));
                    }
                }
                // The run goes on (it shows what the network does), but the limit theory
                // has nothing to compare it with: say so rather than run silently.
                Err(e) => warnings.push(format!(
                    "{e}; the run has no limit to compare with (theory.csv and the late-time comparison are left out)"
                )),
            }
        }
        warnings
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

    #[test]
    fn ranges_and_integer_types_are_checked_before_use() {
        let cases = [
            (
                r#"{"model":"hydro","n":18446744073709551615}"#,
                "n = 18446744073709551615: must be in [2, 1073741824]",
            ),
            (
                r#"{"model":"hydro","steps":18446744073709551615}"#,
                "steps = 18446744073709551615",
            ),
            (r#"{"model":"hydro","duration":1e300}"#, "duration/dt"),
            (
                r#"{"model":"hydro","duration":4294967.295}"#,
                "must be in [1, 4294967294]",
            ),
            (r#"{"model":"hydro","duration":1e-9}"#, "duration/dt"),
            (
                r#"{"model":"hydro","record_every":4294967296}"#,
                "record_every = 4294967296: must be in [1, 4294967295]",
            ),
            (
                r#"{"model":"hydro","record_every":1,"steps":20000000}"#,
                "records = ",
            ),
            (
                r#"{"model":"hydro","n":100000,"replicas":20000}"#,
                "n x replicas",
            ),
            (
                r#"{"model":"hydro","record":["mean","mean"]}"#,
                "listed twice",
            ),
            (
                r#"{"model":"hydro","beta":[1e300,1]}"#,
                "beta[0] (E) = 1e300: must be in [0.000001, 1e6]",
            ),
            (
                r#"{"model":"hydro","theta":[0,-1e7]}"#,
                "theta[1] (I) = -10000000",
            ),
            (
                r#"{"model":"hydro","tau":[1e6,1],"dt":0.1}"#,
                "dt = 0.1: must be >= 1e-6 max tau",
            ),
            (r#"{"model":"hydro","h":[1e300,1]}"#, "h[0] (E) = 1e300"),
        ];
        for (json, needle) in cases {
            let e = err(json);
            assert!(e.contains(needle), "{json}: {e}");
            assert!(e.len() < 400 && e.lines().count() == 1, "{json}: {e}");
        }
        let long = format!(r#"{{"model":"{}"}}"#, "h".repeat(1_000_000));
        let e = err(&long);
        assert!(e.len() < 200 && e.contains("1000000 bytes"), "{e}");
        // beta = 1e6 and x0_sd = 1e4 are accepted (the theory handles them; see theory.rs).
        assert!(err(r#"{"model":"hydro","beta":[1e6,1e6]}"#).contains("stiffness"));
        assert_eq!(err(r#"{"model":"hydro","x0_sd":[1e4,1e4]}"#), "");
    }

    #[test]
    fn the_shipped_config_runs_without_a_stiffness_warning() {
        let text = include_str!("../../configs/hydro_balanced.json");
        let s = parse_json::<HydroConfig>(text)
            .unwrap()
            .validate(false)
            .unwrap();
        assert!((s.stiffness - 0.158).abs() < 1e-3, "{}", s.stiffness);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        // At S > 0.5 (dt = 4e-3 there) the warning is back, naming the fix.
        let mut c = parse_json::<HydroConfig>(text).unwrap();
        c.dt = 4e-3;
        let s = c.validate(false).unwrap();
        assert!(
            s.warnings.len() == 1 && s.warnings[0].contains("0.632 > 0.5"),
            "{:?}",
            s.warnings
        );
        // A predicted offset above half the first-order correction warns below S = 0.5: at
        // n = 1e7 the first-order corrections are 10 times smaller than at n = 1e5.
        let mut c = parse_json::<HydroConfig>(text).unwrap();
        (c.n, c.dt) = (10_000_000, 1.5e-4);
        let s = c.validate(false).unwrap();
        assert!(s.stiffness < 0.5, "{}", s.stiffness);
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }
}
