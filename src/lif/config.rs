//! Model L configuration (docs/config.md, model L): LIF networks with conductance- or
//! current-based delta synapses, fixed in-degree / annealed / all-to-all connectivity.
//! Units: ms, mV, Hz.

use crate::config::{ConfigError, bad, fmt_value, require, round_count, u32_in, u64_in};
use serde::{Deserialize, Serialize};

/// Largest network: neuron indices share a u32 with an 8-bit delay slot in the synapse list.
pub const LIF_MAX_NEURONS: u64 = 1 << 24;
/// Largest delay in steps (the slot field of a synapse).
pub const LIF_MAX_DELAY_STEPS: u64 = 255;

/// Neuron parameters (defaults: the conductance-based paper's values, docs/models.md, model L).
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
    /// leak in between and a threshold check after each (default; docs/models.md).
    Precise,
}

/// Transmission delays.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    deny_unknown_fields,
    from = "DelayConfigRepr"
)]
pub enum DelayConfig {
    /// Every spike arrives at the next step.
    OneStep,
    /// Per synapse, uniform on [lo, hi] ms (rounded to whole steps, at least one), separately
    /// for E and I presynaptic neurons (`fixed_indegree` only).
    Uniform { e_ms: [f64; 2], i_ms: [f64; 2] },
}

/// How `DelayConfig` is read: serde ignores the other fields of an internally tagged unit
/// variant even with `deny_unknown_fields`, so `one_step` is read as an empty struct variant,
/// which rejects them (`{"kind": "one_step", "typo": 1}` is an error).
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum DelayConfigRepr {
    OneStep {},
    Uniform { e_ms: [f64; 2], i_ms: [f64; 2] },
}

impl From<DelayConfigRepr> for DelayConfig {
    fn from(r: DelayConfigRepr) -> Self {
        match r {
            DelayConfigRepr::OneStep {} => DelayConfig::OneStep,
            DelayConfigRepr::Uniform { e_ms, i_ms } => DelayConfig::Uniform { e_ms, i_ms },
        }
    }
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
    /// Neurons whose every spike goes to spikes_step.npy / spikes_neuron.npy (none when
    /// absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spikes: Option<SpikeSelection>,
}

/// Which neurons' spikes are recorded in full: `"all"`, or half-open index ranges within
/// each population, `{"E": [lo, hi], "I": [lo, hi]}` (a population left out is not recorded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpikeSelection {
    All,
    Ranges {
        e: Option<[u64; 2]>,
        i: Option<[u64; 2]>,
    },
}

const SPIKES_SYNTAX: &str =
    r#"must be "all" or an object {"E": [lo, hi], "I": [lo, hi]} of half-open index ranges"#;

impl SpikeSelection {
    /// The recorded neurons as half-open ranges of global ids (E: 0..n_e, I: n_e..n_e+n_i),
    /// E first; empty ranges for a population that is not recorded.
    pub fn global_ranges(&self, n_e: u32, n_i: u32) -> [[u32; 2]; 2] {
        match *self {
            SpikeSelection::All => [[0, n_e], [n_e, n_e + n_i]],
            SpikeSelection::Ranges { e, i } => {
                let e = e.map_or([0, 0], |[lo, hi]| [lo as u32, hi as u32]);
                let i = i.map_or([n_e, n_e], |[lo, hi]| [n_e + lo as u32, n_e + hi as u32]);
                [e, i]
            }
        }
    }

    fn validate(&self, n_e: u64, n_i: u64) -> Result<(), ConfigError> {
        if let SpikeSelection::Ranges { e, i } = *self {
            for (name, r, n) in [("E", e, n_e), ("I", i, n_i)] {
                if let Some([lo, hi]) = r
                    && !(lo <= hi && hi <= n)
                {
                    return Err(bad(format!(
                        "record.spikes.{name} = [{lo}, {hi}]: must be a half-open range [lo, hi] with 0 <= lo <= hi <= n_{} = {n}",
                        name.to_lowercase()
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Serialize for SpikeSelection {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match *self {
            SpikeSelection::All => ser.serialize_str("all"),
            SpikeSelection::Ranges { e, i } => {
                let mut m = ser.serialize_map(None)?;
                if let Some(r) = e {
                    m.serialize_entry("E", &r)?;
                }
                if let Some(r) = i {
                    m.serialize_entry("I", &r)?;
                }
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for SpikeSelection {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(de)?;
        let shown = crate::io::shorten(&v.to_string(), 60);
        let fail = || D::Error::custom(format!("{shown}: {SPIKES_SYNTAX}"));
        match &v {
            serde_json::Value::String(s) if s == "all" => Ok(SpikeSelection::All),
            serde_json::Value::Object(m) => {
                let mut e = None;
                let mut i = None;
                for (k, r) in m {
                    let range = match r.as_array().map(|a| a.as_slice()) {
                        Some([lo, hi]) => match (lo.as_u64(), hi.as_u64()) {
                            (Some(lo), Some(hi)) => [lo, hi],
                            _ => return Err(fail()),
                        },
                        _ => return Err(fail()),
                    };
                    match k.as_str() {
                        "E" => e = Some(range),
                        "I" => i = Some(range),
                        _ => return Err(fail()),
                    }
                }
                Ok(SpikeSelection::Ranges { e, i })
            }
            _ => Err(fail()),
        }
    }
}

impl Default for LifRecord {
    fn default() -> Self {
        LifRecord {
            rate_bin_ms: 1.0,
            vhist_bins: 100,
            vhist_range: [-80.0, -55.0],
            vhist_every: 20,
            raster_neurons: 50,
            spikes: None,
        }
    }
}

/// Model L run configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifConfig {
    /// Must be "lif".
    pub model: crate::config::Model,
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
            model: crate::config::Model::Lif,
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

    /// The neurons whose spikes are recorded in full (`record.spikes`), as half-open ranges
    /// of global ids [E, I]; None when none are.
    pub fn spike_ranges(&self) -> Option<[[u32; 2]; 2]> {
        self.config
            .record
            .spikes
            .map(|sel| sel.global_ranges(self.n_e, self.n_i))
    }

    /// How many neurons `record.spikes` selects.
    pub fn spike_neurons(&self) -> u32 {
        self.spike_ranges()
            .map_or(0, |r| (r[0][1] - r[0][0]) + (r[1][1] - r[1][0]))
    }

    /// Whether global neuron `i` is in `ranges` (of `spike_ranges`).
    #[inline]
    pub fn in_spike_ranges(ranges: &[[u32; 2]; 2], i: u32) -> bool {
        (ranges[0][0] <= i && i < ranges[0][1]) || (ranges[1][0] <= i && i < ranges[1][1])
    }
}

/// Largest |potential| (mV) of any voltage field (reversals, threshold, reset, initial
/// values, histogram range): the kernels compute V in f32.
pub const LIF_MAX_MV: f64 = 1e4;
/// Range of the time constants tau_l, tau_rp and of dt (ms): e^{-dt/tau_l}, 1/tau_l and the
/// arrival gaps are f32.
pub const LIF_MIN_MS: f64 = 1e-6;
pub const LIF_MAX_MS: f64 = 1e9;
/// Largest number of steps, warm-up included (the step index is a word of the RNG counter).
pub const LIF_MAX_STEPS: u64 = u32::MAX as u64 - 1;
/// Largest mean number of external arrivals per neuron and step, K_X nu_X dt: the `precise`
/// integrator takes them one at a time, and the Poisson sampler is exact to 1e7.
pub const LIF_MAX_EXT_PER_STEP: f64 = 1e4;
/// Largest external rate (Hz).
pub const LIF_MAX_NU_X: f64 = 1e6;
/// Largest conductance jump strength a (1 - e^{-a} is 1 to f64 precision beyond ~37) and
/// largest inhibition factor g.
pub const LIF_MAX_A: f64 = 100.0;
pub const LIF_MAX_G: f64 = 1e6;
/// Largest synapse count n x (K + gamma K) (fixed_indegree, 4 bytes each).
pub const LIF_MAX_SYNAPSES: u64 = 1 << 40;
/// Largest gamma and cv_k.
pub const LIF_MAX_GAMMA: f64 = 1e6;

fn finite_pos(name: &str, v: f64) -> Result<(), ConfigError> {
    require(v.is_finite() && v > 0.0, name, &v, "a finite number > 0")
}

fn potential(name: &str, v: f64) -> Result<(), ConfigError> {
    require(
        v.is_finite() && v.abs() <= LIF_MAX_MV,
        name,
        &v,
        &format!("finite with |v| <= {LIF_MAX_MV:e} mV"),
    )
}

fn time_ms(name: &str, v: f64) -> Result<(), ConfigError> {
    finite_pos(name, v)?;
    require(
        (LIF_MIN_MS..=LIF_MAX_MS).contains(&v),
        name,
        &v,
        &format!("in [{LIF_MIN_MS:e}, {LIF_MAX_MS:e}] ms"),
    )
}

fn check_neuron(pop: &str, p: &NeuronParams, dt: f64) -> Result<(), ConfigError> {
    time_ms(&format!("tau_l ({pop})"), p.tau_l)?;
    time_ms(&format!("tau_rp ({pop})"), p.tau_rp)?;
    for (name, v) in [
        ("e_l", p.e_l),
        ("e_e", p.e_e),
        ("e_i", p.e_i),
        ("theta", p.theta),
        ("v_r", p.v_r),
    ] {
        potential(&format!("{name} ({pop})"), v)?;
    }
    if p.theta <= p.v_r {
        return Err(bad(format!(
            "theta = {} ({pop}): must be > v_r = {}",
            fmt_value(&p.theta),
            fmt_value(&p.v_r)
        )));
    }
    if dt > p.tau_rp {
        return Err(bad(format!(
            "dt = {} ms: must be <= tau_rp = {} ms ({pop})",
            fmt_value(&dt),
            fmt_value(&p.tau_rp)
        )));
    }
    Ok(())
}

/// Steps of `ms` milliseconds at dt, rounded, in [lo, hi] (checked before the conversion).
fn steps_of(name: &str, ms: f64, dt: f64, lo: u64, hi: u64) -> Result<u64, ConfigError> {
    round_count(
        &format!(
            "{name}/dt ({name} = {} ms, dt = {} ms)",
            fmt_value(&ms),
            fmt_value(&dt)
        ),
        ms / dt,
        lo,
        hi,
    )
}

impl LifConfig {
    /// Checks every field (range and integer type) before deriving anything from it, then
    /// derives sizes, in-degrees and step counts (with checked arithmetic). Errors are one
    /// line naming the field, its value (shortened) and the allowed range; the checks run in
    /// a fixed order (the stages below, in turn), and the first that fails is reported.
    pub fn validate(self) -> Result<LifSetup, ConfigError> {
        let c = self;
        if c.model != crate::config::Model::Lif {
            return Err(bad(format!(
                "model = {}: must be \"lif\"",
                fmt_value(c.model.name())
            )));
        }
        finite_pos("dt", c.dt)?;
        time_ms("dt", c.dt)?;
        let (n_e, n_i) = c.check_populations()?;
        let (k_e, k_i) = c.check_in_degrees(n_e, n_i)?;
        let k_x = c.check_external()?;
        c.check_synapse()?;
        let neuron = [c.neuron_e.apply(c.neuron), c.neuron_i.apply(c.neuron)];
        check_neuron("E", &neuron[0], c.dt)?;
        check_neuron("I", &neuron[1], c.dt)?;
        let (steps, warmup_steps) = c.check_timing()?;
        let delay_slots = c.check_delay()?;
        c.check_v0()?;
        c.check_record(n_e, n_i)?;
        let mut warnings = Vec::new();
        if let SynapseConfig::Conductance { a, g } = c.synapse
            && g * a > 1.0
        {
            warnings.push(format!(
                "g a = {}: one inhibitory spike moves V most of the way to E_I",
                fmt_value(&(g * a))
            ));
        }
        Ok(LifSetup {
            n_e: n_e as u32,
            n_i: n_i as u32,
            neuron,
            k_e: k_e as u32,
            k_i: k_i as u32,
            k_x,
            warmup_steps,
            steps,
            delay_slots,
            warnings,
            config: c,
        })
    }

    /// K, then the population sizes (default 10 K each): (n_e, n_i).
    fn check_populations(&self) -> Result<(u64, u64), ConfigError> {
        let c = self;
        u64_in("K", c.k, 1, LIF_MAX_NEURONS)?;
        // Defaults 10 K each; K <= LIF_MAX_NEURONS so 10 K cannot overflow.
        let n_e = c.n_e.unwrap_or(10 * c.k);
        let n_i = c.n_i.unwrap_or(10 * c.k);
        let total = n_e.checked_add(n_i);
        if n_e < 1 || n_i < 1 || total.is_none_or(|t| t > LIF_MAX_NEURONS) {
            return Err(bad(format!(
                "n_e = {n_e}, n_i = {n_i}: each must be >= 1 and n_e + n_i <= {LIF_MAX_NEURONS}"
            )));
        }
        Ok((n_e, n_i))
    }

    /// gamma, the E and I in-degrees against the connectivity and the population sizes,
    /// cv_k, and the number of stored synapses: (k_e, k_i).
    fn check_in_degrees(&self, n_e: u64, n_i: u64) -> Result<(u64, u64), ConfigError> {
        let c = self;
        require(
            c.gamma.is_finite() && (0.0..=LIF_MAX_GAMMA).contains(&c.gamma),
            "gamma",
            &c.gamma,
            &format!("finite and in [0, {LIF_MAX_GAMMA:e}]"),
        )?;
        let (k_e, k_i) = match c.connectivity {
            Connectivity::AllToAll => (n_e, n_i),
            _ => (
                c.k,
                round_count(
                    &format!("gamma K (gamma = {}, K = {})", fmt_value(&c.gamma), c.k),
                    c.gamma * c.k as f64,
                    0,
                    LIF_MAX_NEURONS,
                )?,
            ),
        };
        if c.connectivity == Connectivity::FixedIndegree {
            // No self-connections: an E neuron can draw from n_e - 1 others.
            if k_e >= n_e {
                return Err(bad(format!("K = {k_e}: must be < n_e = {n_e}")));
            }
            if k_i >= n_i {
                return Err(bad(format!(
                    "gamma K = {k_i}: must be < n_i = {n_i} (gamma = {}, K = {})",
                    fmt_value(&c.gamma),
                    c.k
                )));
            }
        } else if c.connectivity == Connectivity::Annealed && (k_e > n_e || k_i > n_i) {
            return Err(bad(format!(
                "K = {k_e}, gamma K = {k_i}: must be <= n_e = {n_e}, n_i = {n_i}"
            )));
        }
        require(
            c.cv_k.is_finite() && (0.0..=1.0).contains(&c.cv_k),
            "cv_k",
            &c.cv_k,
            "in [0, 1]",
        )?;
        if c.cv_k > 0.0 && c.connectivity != Connectivity::FixedIndegree {
            return Err(bad("cv_k > 0 needs connectivity = \"fixed_indegree\""));
        }
        if c.connectivity == Connectivity::FixedIndegree {
            // Stored synapses n x (K + gamma K): at most 2^24 x 2^25, no overflow; bounded.
            let n = n_e + n_i;
            let synapses = (k_e + k_i).checked_mul(n);
            if synapses.is_none_or(|s| s > LIF_MAX_SYNAPSES) {
                return Err(bad(format!(
                    "synapses = (n_e + n_i) x (K + gamma K) = {n} x {}: must be <= {LIF_MAX_SYNAPSES}; lower n_e/n_i or K",
                    k_e + k_i
                )));
            }
        }
        Ok((k_e, k_i))
    }

    /// The external drive: K_X (default K), nu_x and the arrivals per neuron and step; K_X.
    fn check_external(&self) -> Result<u32, ConfigError> {
        let c = self;
        // Used as a u32 (external in-degree); default K.
        let k_x = match c.k_x {
            Some(v) => u32_in("K_X", v, 0, u32::MAX)?,
            None => c.k as u32,
        };
        require(
            c.nu_x.is_finite() && (0.0..=LIF_MAX_NU_X).contains(&c.nu_x),
            "nu_x",
            &c.nu_x,
            &format!("finite and in [0, {LIF_MAX_NU_X:e}] Hz"),
        )?;
        let ext_per_step = k_x as f64 * c.nu_x * c.dt * 1e-3;
        if ext_per_step > LIF_MAX_EXT_PER_STEP {
            return Err(bad(format!(
                "K_X nu_x dt = {k_x} x {} Hz x {} ms = {} external arrivals per neuron and step: must be <= {LIF_MAX_EXT_PER_STEP:e}; lower dt",
                fmt_value(&c.nu_x),
                fmt_value(&c.dt),
                fmt_value(&ext_per_step)
            )));
        }
        Ok(k_x)
    }

    /// The synapse strengths: a or J, and g.
    fn check_synapse(&self) -> Result<(), ConfigError> {
        let g_range = format!("finite and in [0, {LIF_MAX_G:e}]");
        match self.synapse {
            SynapseConfig::Conductance { a, g } => {
                finite_pos("synapse.a", a)?;
                require(
                    a <= LIF_MAX_A,
                    "synapse.a",
                    &a,
                    &format!("<= {LIF_MAX_A} (1 - e^-a is 1 beyond)"),
                )?;
                require(
                    g.is_finite() && (0.0..=LIF_MAX_G).contains(&g),
                    "synapse.g",
                    &g,
                    &g_range,
                )?;
            }
            SynapseConfig::Current { j, g } => {
                potential("synapse.j", j)?;
                require(
                    g.is_finite() && (0.0..=LIF_MAX_G).contains(&g),
                    "synapse.g",
                    &g,
                    &g_range,
                )?;
                potential("synapse.g * synapse.j", g * j)?;
            }
        }
        Ok(())
    }

    /// duration and warmup, and their step counts at dt: (steps, warmup_steps).
    fn check_timing(&self) -> Result<(u64, u64), ConfigError> {
        let c = self;
        require(
            c.duration.is_finite() && c.duration > 0.0,
            "duration",
            &c.duration,
            "a finite number > 0 (ms)",
        )?;
        require(
            c.warmup.is_finite() && c.warmup >= 0.0,
            "warmup",
            &c.warmup,
            "finite and >= 0 (ms)",
        )?;
        let steps = steps_of("duration", c.duration, c.dt, 1, LIF_MAX_STEPS)?;
        let warmup_steps = steps_of("warmup", c.warmup, c.dt, 0, LIF_MAX_STEPS)?;
        if steps + warmup_steps > LIF_MAX_STEPS {
            return Err(bad(format!(
                "duration/dt + warmup/dt = {steps} + {warmup_steps} steps: must be <= {LIF_MAX_STEPS}"
            )));
        }
        Ok((steps, warmup_steps))
    }

    /// The transmission delays; the ring-buffer slots (largest delay in steps + 1).
    fn check_delay(&self) -> Result<u32, ConfigError> {
        let c = self;
        let (e_ms, i_ms) = match c.delay {
            DelayConfig::OneStep => return Ok(2),
            DelayConfig::Uniform { e_ms, i_ms } => (e_ms, i_ms),
        };
        if c.connectivity != Connectivity::FixedIndegree {
            return Err(bad(
                "delay.kind = \"uniform\" needs connectivity = \"fixed_indegree\"",
            ));
        }
        let mut hi = 1;
        for (name, r) in [("delay.e_ms", e_ms), ("delay.i_ms", i_ms)] {
            if !(r[0].is_finite() && r[1].is_finite() && 0.0 <= r[0] && r[0] <= r[1]) {
                return Err(bad(format!(
                    "{name} = {}: must satisfy 0 <= lo <= hi, finite",
                    fmt_value(&r)
                )));
            }
            let s = (r[1] / c.dt).round().max(1.0);
            if !s.is_finite() || s > LIF_MAX_DELAY_STEPS as f64 {
                return Err(bad(format!(
                    "{name} = {} ms: at most {LIF_MAX_DELAY_STEPS} steps of dt = {} ms",
                    fmt_value(&r),
                    fmt_value(&c.dt)
                )));
            }
            hi = hi.max(s as u64);
        }
        Ok(hi as u32 + 1)
    }

    /// The initial membrane potentials.
    fn check_v0(&self) -> Result<(), ConfigError> {
        match self.v0 {
            InitialV::Uniform { lo, hi } => {
                potential("v0.lo", lo)?;
                potential("v0.hi", hi)?;
                if lo > hi {
                    return Err(bad(format!(
                        "v0 = uniform [{}, {}]: need lo <= hi",
                        fmt_value(&lo),
                        fmt_value(&hi)
                    )));
                }
            }
            InitialV::Gaussian { mean, sd } => {
                potential("v0.mean", mean)?;
                require(
                    sd.is_finite() && (0.0..=LIF_MAX_MV).contains(&sd),
                    "v0.sd",
                    &sd,
                    &format!("finite and in [0, {LIF_MAX_MV:e}] mV"),
                )?;
            }
        }
        Ok(())
    }

    /// What is recorded: rate bins, the V histogram, the spike selection.
    fn check_record(&self, n_e: u64, n_i: u64) -> Result<(), ConfigError> {
        let (r, dt) = (&self.record, self.dt);
        finite_pos("record.rate_bin_ms", r.rate_bin_ms)?;
        if r.rate_bin_ms < dt {
            return Err(bad(format!(
                "record.rate_bin_ms = {}: must be >= dt = {}",
                fmt_value(&r.rate_bin_ms),
                fmt_value(&dt)
            )));
        }
        // Its width in steps is a u32.
        steps_of("record.rate_bin_ms", r.rate_bin_ms, dt, 1, u32::MAX as u64)?;
        if r.vhist_bins == 0 || r.vhist_bins > 100_000 {
            return Err(bad(format!(
                "record.vhist_bins = {}: must be in [1, 100000]",
                r.vhist_bins
            )));
        }
        potential("record.vhist_range[0]", r.vhist_range[0])?;
        potential("record.vhist_range[1]", r.vhist_range[1])?;
        if r.vhist_range[0] >= r.vhist_range[1] {
            return Err(bad(format!(
                "record.vhist_range = {}: need lo < hi",
                fmt_value(&r.vhist_range)
            )));
        }
        if r.vhist_every == 0 {
            return Err(bad("record.vhist_every = 0: must be >= 1"));
        }
        if let Some(sel) = &r.spikes {
            sel.validate(n_e, n_i)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_json;

    fn err(json: &str) -> String {
        match parse_json::<LifConfig>(json) {
            Err(e) => e.0,
            Ok(c) => c.validate().err().map(|e| e.0).unwrap_or_default(),
        }
    }

    #[test]
    fn ranges_and_integer_types_are_checked_before_use() {
        let cases = [
            // 10 K would overflow; n_e + n_i would wrap.
            (
                r#"{"model":"lif","K":18446744073709551615}"#,
                "K = 18446744073709551615: must be in [1, 16777216]",
            ),
            (
                r#"{"model":"lif","K":10,"n_e":18446744073709551615,"n_i":2}"#,
                "n_e + n_i <= 16777216",
            ),
            (r#"{"model":"lif","K":10,"n_e":0}"#, "each must be >= 1"),
            (r#"{"model":"lif","K":100,"gamma":1e300}"#, "gamma = 1e300"),
            (
                r#"{"model":"lif","K":100,"gamma":1e6}"#,
                "gamma K (gamma = 1000000, K = 100) = 100000000: must be in [0, 16777216]",
            ),
            (
                r#"{"model":"lif","K":100,"K_X":4294967296}"#,
                "K_X = 4294967296: must be in [0, 4294967295]",
            ),
            (
                r#"{"model":"lif","K":100,"K_X":4294967295}"#,
                "external arrivals per neuron and step",
            ),
            // 2^63 + 2^63 steps used to wrap to 0 and pass.
            (
                r#"{"model":"lif","K":100,"dt":1,"duration":9.223372036854775808e18,"warmup":9.223372036854775808e18}"#,
                "duration/dt",
            ),
            (
                r#"{"model":"lif","K":100,"duration":1.5e8,"warmup":1e8}"#,
                "duration/dt + warmup/dt",
            ),
            (
                r#"{"model":"lif","K":100,"record":{"rate_bin_ms":1e300}}"#,
                "record.rate_bin_ms/dt",
            ),
            (
                r#"{"model":"lif","K":100,"neuron":{"tau_l":1e-300}}"#,
                "tau_l (E) = 1e-300",
            ),
            (
                r#"{"model":"lif","K":100,"neuron_i":{"e_i":-1e300}}"#,
                "e_i (I) = -1e300",
            ),
            (
                r#"{"model":"lif","K":100,"synapse":{"kind":"conductance","a":1e300,"g":1}}"#,
                "synapse.a = 1e300",
            ),
            (
                r#"{"model":"lif","K":100,"delay":{"kind":"one_step","typo":1}}"#,
                "unknown field `typo`",
            ),
            (
                r#"{"model":"lif","K":100,"delay":{"kind":"uniform","e_ms":[1,1e300],"i_ms":[1,2]}}"#,
                "delay.e_ms = [1, 1e300]",
            ),
            (
                r#"{"model":"lif","K":100,"v0":{"kind":"gaussian","mean":0,"sd":1,"x":{"y":1}}}"#,
                "unknown field `x`",
            ),
            (
                r#"{"model":"lif","K":100,"record":{"vhist_range":[-1e300,0]}}"#,
                "record.vhist_range[0] = -1e300",
            ),
        ];
        for (json, needle) in cases {
            let e = err(json);
            assert!(e.contains(needle), "{json}: {e}");
            assert!(e.len() < 400 && e.lines().count() == 1, "{json}: {e}");
        }
        assert_eq!(
            err(r#"{"model":"lif","K":100,"delay":{"kind":"one_step"}}"#),
            ""
        );
        let s = parse_json::<LifConfig>(r#"{"model":"lif","K":100,"K_X":7}"#)
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(
            (s.n_e, s.n_i, s.k_e, s.k_i, s.k_x),
            (1000, 1000, 100, 25, 7)
        );
    }

    #[test]
    fn spike_selection_syntax_and_ranges() {
        let sel = |spikes: &str| {
            let json =
                format!(r#"{{"model":"lif","K":100,"n_i":300,"record":{{"spikes":{spikes}}}}}"#);
            let e = err(&json);
            assert!(
                e.is_empty() || (e.len() < 400 && e.lines().count() == 1),
                "{e}"
            );
            e
        };
        for (spikes, needle) in [
            (
                r#""every""#,
                r#"field `record.spikes`: "every": must be "all" or an object"#,
            ),
            (r#"{"E":[0,1],"X":[0,1]}"#, "must be \"all\" or an object"),
            (r#"{"E":[0]}"#, "must be \"all\" or an object"),
            (r#"{"E":[-1,5]}"#, "must be \"all\" or an object"),
            (
                r#"{"E":[0,1001]}"#,
                "record.spikes.E = [0, 1001]: must be a half-open range [lo, hi] with 0 <= lo <= hi <= n_e = 1000",
            ),
            (
                r#"{"I":[5,4]}"#,
                "record.spikes.I = [5, 4]: must be a half-open range [lo, hi] with 0 <= lo <= hi <= n_i = 300",
            ),
        ] {
            let e = sel(spikes);
            assert!(e.contains(needle), "{spikes}: {e}");
        }
        let setup = |spikes: &str| {
            parse_json::<LifConfig>(&format!(
                r#"{{"model":"lif","K":100,"n_i":300,"record":{{"spikes":{spikes}}}}}"#
            ))
            .unwrap()
            .validate()
            .unwrap()
        };
        let s = setup(r#""all""#);
        assert_eq!(s.spike_ranges(), Some([[0, 1000], [1000, 1300]]));
        assert_eq!(s.spike_neurons(), 1300);
        let s = setup(r#"{"I":[10,20]}"#);
        assert_eq!(s.spike_ranges(), Some([[0, 0], [1010, 1020]]));
        assert_eq!(s.spike_neurons(), 10);
        // Serialized as configured (run.json, checkpoints), and read back the same.
        let v = serde_json::to_value(&s.config.record).unwrap();
        assert_eq!(v["spikes"], serde_json::json!({"I": [10, 20]}));
        let back: LifRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, s.config.record);
        // Absent: nothing recorded, and nothing serialized.
        let s = setup("null");
        assert_eq!(s.spike_ranges(), None);
        let v = serde_json::to_value(&s.config.record).unwrap();
        assert!(v.get("spikes").is_none());
    }
}
