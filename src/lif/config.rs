//! Model L configuration (MODEL.md, "Model L"): LIF networks with conductance- or
//! current-based delta synapses, fixed in-degree / annealed / all-to-all connectivity.
//! Units: ms, mV, Hz.

use crate::config::{ConfigError, bad};
use serde::{Deserialize, Serialize};

/// Largest network: neuron indices share a u32 with an 8-bit delay slot in the synapse list.
pub const LIF_MAX_NEURONS: u64 = 1 << 24;
/// Largest delay in steps (the slot field of a synapse).
pub const LIF_MAX_DELAY_STEPS: u64 = 255;

/// Neuron parameters (MODEL.md defaults: the conductance-based paper's values).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NeuronParams {
    /// Leak time constant (ms).
    pub tau_l: f64,
    /// Leak reversal (mV).
    pub e_l: f64,
    /// Excitatory reversal (mV).
    pub e_e: f64,
    /// Inhibitory reversal (mV).
    pub e_i: f64,
    /// Threshold (mV).
    pub theta: f64,
    /// Reset (mV).
    pub v_r: f64,
    /// Refractory period (ms).
    pub tau_rp: f64,
}

impl Default for NeuronParams {
    fn default() -> Self {
        NeuronParams {
            tau_l: 20.0,
            e_l: -80.0,
            e_e: 0.0,
            e_i: -75.0,
            theta: -55.0,
            v_r: -65.0,
            tau_rp: 2.0,
        }
    }
}

/// Per-population overrides of `neuron` (any subset of its fields).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NeuronOverrides {
    pub tau_l: Option<f64>,
    pub e_l: Option<f64>,
    pub e_e: Option<f64>,
    pub e_i: Option<f64>,
    pub theta: Option<f64>,
    pub v_r: Option<f64>,
    pub tau_rp: Option<f64>,
}

impl NeuronOverrides {
    pub fn apply(&self, base: NeuronParams) -> NeuronParams {
        NeuronParams {
            tau_l: self.tau_l.unwrap_or(base.tau_l),
            e_l: self.e_l.unwrap_or(base.e_l),
            e_e: self.e_e.unwrap_or(base.e_e),
            e_i: self.e_i.unwrap_or(base.e_i),
            theta: self.theta.unwrap_or(base.theta),
            v_r: self.v_r.unwrap_or(base.v_r),
            tau_rp: self.tau_rp.unwrap_or(base.tau_rp),
        }
    }
}

/// Synapses: instantaneous conductance pulses (dimensionless strength a; inhibitory g a) or
/// current jumps (J mV; inhibitory -g J).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SynapseConfig {
    Conductance { a: f64, g: f64 },
    Current { j: f64, g: f64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connectivity {
    /// K E and gamma K I partners per neuron, drawn without replacement, no self-connections,
    /// stored once (CSR by presynaptic neuron).
    FixedIndegree,
    /// Per step, Binomial(K, S_b / N_b) inputs from last step's population spike counts.
    Annealed,
    /// Every spike reaches every other neuron (K = N_b).
    AllToAll,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Integrator {
    /// Leak, then all of the step's arrivals at once, then threshold (clock-driven).
    Lumped,
    /// External arrivals at their exact times within the step, one at a time with the exact
    /// leak in between and a threshold check after each (MODEL.md default).
    Precise,
}

/// Transmission delays.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DelayConfig {
    /// Every spike arrives at the next step.
    OneStep,
    /// Per synapse, uniform on [lo, hi] ms (rounded to whole steps, at least one), separately
    /// for E and I presynaptic neurons (`fixed_indegree` only).
    Uniform { e_ms: [f64; 2], i_ms: [f64; 2] },
}

/// Initial membrane potentials.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum InitialV {
    Uniform { lo: f64, hi: f64 },
    Gaussian { mean: f64, sd: f64 },
}

/// What is recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifRecord {
    /// Width of the population-rate bins (ms).
    pub rate_bin_ms: f64,
    /// Membrane-potential histogram: bins on [lo, hi] mV (refractory neurons excluded).
    pub vhist_bins: u32,
    pub vhist_range: [f64; 2],
    /// Sample the V histogram every this many steps.
    pub vhist_every: u32,
    /// Spike raster of the first `raster_neurons` E and the first `raster_neurons` I neurons.
    pub raster_neurons: u32,
}

impl Default for LifRecord {
    fn default() -> Self {
        LifRecord {
            rate_bin_ms: 1.0,
            vhist_bins: 100,
            vhist_range: [-80.0, -55.0],
            vhist_every: 20,
            raster_neurons: 50,
        }
    }
}

/// Model L run configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifConfig {
    /// Must be "lif".
    pub model: String,
    /// Population sizes; default 10 K each.
    pub n_e: Option<u64>,
    pub n_i: Option<u64>,
    pub neuron: NeuronParams,
    pub neuron_e: NeuronOverrides,
    pub neuron_i: NeuronOverrides,
    pub synapse: SynapseConfig,
    /// E in-degree; I in-degree is gamma K.
    #[serde(rename = "K")]
    pub k: u64,
    pub gamma: f64,
    /// External in-degree; default K.
    #[serde(rename = "K_X")]
    pub k_x: Option<u64>,
    /// Rate of each external Poisson source (Hz).
    pub nu_x: f64,
    pub connectivity: Connectivity,
    /// Coefficient of variation of the in-degrees (`fixed_indegree`); 0 = exactly K.
    pub cv_k: f64,
    pub delay: DelayConfig,
    pub integrator: Integrator,
    /// Time step (ms).
    pub dt: f64,
    /// Simulated time after the warm-up (ms).
    pub duration: f64,
    /// Simulated time before recording starts (ms).
    pub warmup: f64,
    pub seed: u64,
    pub v0: InitialV,
    pub record: LifRecord,
}

impl Default for LifConfig {
    fn default() -> Self {
        LifConfig {
            model: "lif".into(),
            n_e: None,
            n_i: None,
            neuron: NeuronParams::default(),
            neuron_e: NeuronOverrides::default(),
            neuron_i: NeuronOverrides::default(),
            synapse: SynapseConfig::Conductance { a: 2e-3, g: 20.0 },
            k: 1000,
            gamma: 0.25,
            k_x: None,
            nu_x: 25.0,
            connectivity: Connectivity::FixedIndegree,
            cv_k: 0.0,
            delay: DelayConfig::OneStep,
            integrator: Integrator::Precise,
            dt: 0.05,
            duration: 1000.0,
            warmup: 200.0,
            seed: 1,
            v0: InitialV::Uniform {
                lo: -65.0,
                hi: -55.0,
            },
            record: LifRecord::default(),
        }
    }
}

/// A validated model L configuration with its derived sizes.
#[derive(Clone, Debug, Serialize)]
pub struct LifSetup {
    pub config: LifConfig,
    pub n_e: u32,
    pub n_i: u32,
    /// Per population (E, I) after overrides.
    pub neuron: [NeuronParams; 2],
    /// In-degrees from E and I (`all_to_all`: N_E, N_I).
    pub k_e: u32,
    pub k_i: u32,
    pub k_x: u32,
    pub warmup_steps: u64,
    pub steps: u64,
    /// Ring-buffer slots (largest delay in steps + 1).
    pub delay_slots: u32,
    pub warnings: Vec<String>,
}

impl LifSetup {
    pub fn n(&self) -> u32 {
        self.n_e + self.n_i
    }
}

fn finite_pos(name: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(bad(format!("{name} = {v}: must be a finite number > 0")))
    }
}

fn finite(name: &str, v: f64) -> Result<(), ConfigError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(bad(format!("{name} = {v}: must be finite")))
    }
}

fn check_neuron(pop: &str, p: &NeuronParams, dt: f64) -> Result<(), ConfigError> {
    finite_pos(&format!("tau_l ({pop})"), p.tau_l)?;
    finite_pos(&format!("tau_rp ({pop})"), p.tau_rp)?;
    for (name, v) in [
        ("e_l", p.e_l),
        ("e_e", p.e_e),
        ("e_i", p.e_i),
        ("theta", p.theta),
        ("v_r", p.v_r),
    ] {
        finite(&format!("{name} ({pop})"), v)?;
    }
    if p.theta <= p.v_r {
        return Err(bad(format!(
            "theta = {} ({pop}): must be > v_r = {}",
            p.theta, p.v_r
        )));
    }
    if dt > p.tau_rp {
        return Err(bad(format!(
            "dt = {dt} ms: must be <= tau_rp = {} ms ({pop})",
            p.tau_rp
        )));
    }
    Ok(())
}

impl LifConfig {
    /// Checks every field and derives sizes, in-degrees and step counts.
    pub fn validate(self) -> Result<LifSetup, ConfigError> {
        let c = self;
        if c.model != "lif" {
            return Err(bad(format!("model = {:?}: must be \"lif\"", c.model)));
        }
        finite_pos("dt", c.dt)?;
        if c.k == 0 {
            return Err(bad("K = 0: must be >= 1"));
        }
        let n_e = c.n_e.unwrap_or(10 * c.k);
        let n_i = c.n_i.unwrap_or(10 * c.k);
        if n_e < 1 || n_i < 1 || n_e + n_i > LIF_MAX_NEURONS {
            return Err(bad(format!(
                "n_e = {n_e}, n_i = {n_i}: each must be >= 1 and n_e + n_i <= {LIF_MAX_NEURONS}"
            )));
        }
        if !(c.gamma.is_finite() && c.gamma >= 0.0) {
            return Err(bad(format!("gamma = {}: must be finite and >= 0", c.gamma)));
        }
        let (k_e, k_i) = match c.connectivity {
            Connectivity::AllToAll => (n_e, n_i),
            _ => (c.k, (c.gamma * c.k as f64).round() as u64),
        };
        if c.connectivity == Connectivity::FixedIndegree {
            // No self-connections: an E neuron can draw from n_e - 1 others.
            if k_e >= n_e {
                return Err(bad(format!("K = {k_e}: must be < n_e = {n_e}")));
            }
            if k_i >= n_i {
                return Err(bad(format!(
                    "gamma K = {k_i}: must be < n_i = {n_i} (gamma = {}, K = {})",
                    c.gamma, c.k
                )));
            }
        } else if c.connectivity == Connectivity::Annealed && (k_e > n_e || k_i > n_i) {
            return Err(bad(format!(
                "K = {k_e}, gamma K = {k_i}: must be <= n_e = {n_e}, n_i = {n_i}"
            )));
        }
        if !(c.cv_k.is_finite() && (0.0..=1.0).contains(&c.cv_k)) {
            return Err(bad(format!("cv_k = {}: must be in [0, 1]", c.cv_k)));
        }
        if c.cv_k > 0.0 && c.connectivity != Connectivity::FixedIndegree {
            return Err(bad("cv_k > 0 needs connectivity = \"fixed_indegree\""));
        }
        let k_x = c.k_x.unwrap_or(c.k);
        if !(c.nu_x.is_finite() && c.nu_x >= 0.0) {
            return Err(bad(format!(
                "nu_x = {} Hz: must be finite and >= 0",
                c.nu_x
            )));
        }
        match c.synapse {
            SynapseConfig::Conductance { a, g } => {
                finite_pos("synapse.a", a)?;
                if !(g.is_finite() && g >= 0.0) {
                    return Err(bad(format!("synapse.g = {g}: must be finite and >= 0")));
                }
            }
            SynapseConfig::Current { j, g } => {
                finite("synapse.j", j)?;
                if !(g.is_finite() && g >= 0.0) {
                    return Err(bad(format!("synapse.g = {g}: must be finite and >= 0")));
                }
            }
        }
        let neuron = [c.neuron_e.apply(c.neuron), c.neuron_i.apply(c.neuron)];
        check_neuron("E", &neuron[0], c.dt)?;
        check_neuron("I", &neuron[1], c.dt)?;
        if !(c.duration.is_finite() && c.duration > 0.0) {
            return Err(bad(format!(
                "duration = {} ms: must be a finite number > 0",
                c.duration
            )));
        }
        if !(c.warmup.is_finite() && c.warmup >= 0.0) {
            return Err(bad(format!(
                "warmup = {} ms: must be finite and >= 0",
                c.warmup
            )));
        }
        let steps = (c.duration / c.dt).round() as u64;
        let warmup_steps = (c.warmup / c.dt).round() as u64;
        if steps == 0 || steps + warmup_steps > u32::MAX as u64 - 1 {
            return Err(bad(format!(
                "duration/dt = {steps} steps (+ {warmup_steps} warm-up): must be in [1, {}]",
                u32::MAX - 1
            )));
        }
        let delay_slots = match c.delay {
            DelayConfig::OneStep => 2,
            DelayConfig::Uniform { e_ms, i_ms } => {
                if c.connectivity != Connectivity::FixedIndegree {
                    return Err(bad(
                        "delay.kind = \"uniform\" needs connectivity = \"fixed_indegree\"",
                    ));
                }
                let mut hi = 1;
                for (name, r) in [("delay.e_ms", e_ms), ("delay.i_ms", i_ms)] {
                    if !(r[0].is_finite() && r[1].is_finite() && 0.0 <= r[0] && r[0] <= r[1]) {
                        return Err(bad(format!(
                            "{name} = [{}, {}]: must satisfy 0 <= lo <= hi",
                            r[0], r[1]
                        )));
                    }
                    let s = (r[1] / c.dt).round().max(1.0) as u64;
                    if s > LIF_MAX_DELAY_STEPS {
                        return Err(bad(format!(
                            "{name} = [{}, {}] ms: at most {LIF_MAX_DELAY_STEPS} steps of dt = {} ms",
                            r[0], r[1], c.dt
                        )));
                    }
                    hi = hi.max(s);
                }
                hi as u32 + 1
            }
        };
        match c.v0 {
            InitialV::Uniform { lo, hi } => {
                if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                    return Err(bad(format!(
                        "v0 = uniform [{lo}, {hi}]: need lo <= hi, finite"
                    )));
                }
            }
            InitialV::Gaussian { mean, sd } => {
                if !(mean.is_finite() && sd.is_finite() && sd >= 0.0) {
                    return Err(bad(format!(
                        "v0 = gaussian(mean {mean}, sd {sd}): need finite mean, sd >= 0"
                    )));
                }
            }
        }
        let r = &c.record;
        finite_pos("record.rate_bin_ms", r.rate_bin_ms)?;
        if r.rate_bin_ms < c.dt {
            return Err(bad(format!(
                "record.rate_bin_ms = {}: must be >= dt = {}",
                r.rate_bin_ms, c.dt
            )));
        }
        if r.vhist_bins == 0 || r.vhist_bins > 100_000 {
            return Err(bad(format!(
                "record.vhist_bins = {}: must be in [1, 100000]",
                r.vhist_bins
            )));
        }
        if !(r.vhist_range[0].is_finite()
            && r.vhist_range[1].is_finite()
            && r.vhist_range[0] < r.vhist_range[1])
        {
            return Err(bad(format!(
                "record.vhist_range = [{}, {}]: need lo < hi",
                r.vhist_range[0], r.vhist_range[1]
            )));
        }
        if r.vhist_every == 0 {
            return Err(bad("record.vhist_every = 0: must be >= 1"));
        }
        let mut warnings = Vec::new();
        if let SynapseConfig::Conductance { a, g } = c.synapse
            && g * a > 1.0
        {
            warnings.push(format!(
                "g a = {}: one inhibitory spike moves V most of the way to E_I",
                g * a
            ));
        }
        Ok(LifSetup {
            n_e: n_e as u32,
            n_i: n_i as u32,
            neuron,
            k_e: k_e as u32,
            k_i: k_i as u32,
            k_x: k_x as u32,
            warmup_steps,
            steps,
            delay_slots,
            warnings,
            config: c,
        })
    }
}
