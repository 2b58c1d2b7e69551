//! Model L: the LIF neuron with delta conductance (or current) synapses (docs/models.md, model
//! L scheme). Derived constants and the per-neuron step, written once here; the CPU backend runs it
//! over neurons in parallel.
//!
//! Neuron i (E: i < n_e, I: i >= n_e) draws its external input at step t from counter
//! (i, t, LIF_EXT, replica); `annealed` inputs from (i, t, LIF_ANNEALED, replica);
//! `fixed_indegree` partners from (i, block, LIF_CONN, replica), block = 0, 1, ...; Gaussian
//! in-degrees (CV_K > 0) from (i, 0, LIF_DEGREE, replica).

use crate::lif::config::{Integrator, LifSetup, SynapseConfig};
use crate::math::{EXP_NEG_SERIES_MAX, exp_neg, exp_neg_series, ln_f32};
use crate::rng::{self, Purpose, Stream};

/// Room for the lumped external count's CDF table: below lambda = 10 it needs at most 32
/// entries (`rng::poisson_inversion_table`).
pub const EXT_CDF_MAX: usize = 48;

/// Per-population constants of the step (f32, as the kernels use them).
#[derive(Clone, Copy, Debug)]
pub struct LifPop {
    pub tau_l: f32,
    pub e_l: f32,
    pub e_e: f32,
    pub e_i: f32,
    pub theta: f32,
    pub v_r: f32,
    pub tau_rp: f32,
    /// e^{-dt / tau_l}
    pub decay: f32,
    pub inv_tau_l: f32,
}

/// Synapse constants: conductance (a, g a, e^{-a}) or current (J, -g J).
#[derive(Clone, Copy, Debug)]
pub enum LifSyn {
    Conductance { a: f32, ga: f32, exp_neg_a: f32 },
    Current { j_e: f32, j_i: f32 },
}

#[derive(Clone, Copy, Debug)]
pub struct LifConsts {
    pub n_e: u32,
    pub n_i: u32,
    pub dt: f32,
    pub pop: [LifPop; 2],
    pub syn: LifSyn,
    /// Mean external count per step, K_X nu_X dt, and e^{-ext_lambda}.
    pub ext_lambda: f32,
    pub ext_p0: f32,
    /// Mean gap between external arrivals (ms): dt / ext_lambda.
    pub ext_mean_gap: f32,
    /// The CDF table of the lumped external count (`rng::poisson_inversion_table`): its
    /// first `ext_cdf_len` entries; length 0 when K_X nu_X dt is 0 or not below
    /// `rng::POISSON_INVERSION_MAX`.
    pub ext_cdf: [f32; EXT_CDF_MAX],
    pub ext_cdf_len: usize,
    pub integrator: Integrator,
    pub key: [u32; 2],
}

impl LifConsts {
    pub fn new(s: &LifSetup) -> Self {
        let c = &s.config;
        let pop = s.neuron.map(|p| LifPop {
            tau_l: p.tau_l as f32,
            e_l: p.e_l as f32,
            e_e: p.e_e as f32,
            e_i: p.e_i as f32,
            theta: p.theta as f32,
            v_r: p.v_r as f32,
            tau_rp: p.tau_rp as f32,
            decay: (-c.dt / p.tau_l).exp() as f32,
            inv_tau_l: (1.0 / p.tau_l) as f32,
        });
        let ext_lambda = (s.k_x as f64 * c.nu_x * c.dt * 1e-3) as f32;
        let syn = match c.synapse {
            SynapseConfig::Conductance { a, g } => LifSyn::Conductance {
                a: a as f32,
                ga: (g * a) as f32,
                exp_neg_a: (-a).exp() as f32,
            },
            SynapseConfig::Current { j, g } => LifSyn::Current {
                j_e: j as f32,
                j_i: (-g * j) as f32,
            },
        };
        let ext_p0 = (-ext_lambda).exp();
        let mut ext_cdf = [0f32; EXT_CDF_MAX];
        let ext_cdf_len = if ext_lambda > 0.0 && ext_lambda < rng::POISSON_INVERSION_MAX {
            rng::poisson_inversion_table(ext_lambda, ext_p0, &mut ext_cdf).unwrap_or(0)
        } else {
            0
        };
        LifConsts {
            n_e: s.n_e,
            n_i: s.n_i,
            dt: c.dt as f32,
            pop,
            syn,
            ext_lambda,
            ext_p0,
            ext_mean_gap: (c.dt / ext_lambda as f64) as f32,
            ext_cdf,
            ext_cdf_len,
            integrator: c.integrator,
            key: rng::seed_key(c.seed),
        }
    }

    #[inline(always)]
    pub fn population(&self, i: u32) -> usize {
        (i >= self.n_e) as usize
    }
}

/// State of one neuron.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NeuronState {
    /// Membrane potential (mV).
    pub v: f32,
    /// Refractory time left at the start of the next step (ms); <= 0 when not refractory.
    pub refractory: f32,
}

/// What one step of one neuron produced.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepOutcome {
    /// Spike time within the step (ms from the step's start), if the neuron fired.
    pub spike: Option<f32>,
}

/// Leak over `t` ms: V <- E_L + (V - E_L) e^{-t / tau_L}.
#[inline(always)]
pub fn leak(p: &LifPop, v: f32, t: f32) -> f32 {
    p.e_l + (v - p.e_l) * exp_neg(t * p.inv_tau_l)
}

/// `leak` for 0 <= t <= dt when dt / tau_L < 2^-6 (`LifConsts::short_leaks`): the same
/// value, without evaluating the branch `exp_neg` never takes there.
#[inline(always)]
pub fn leak_short(p: &LifPop, v: f32, t: f32) -> f32 {
    p.e_l + (v - p.e_l) * exp_neg_series(t * p.inv_tau_l)
}

/// The simultaneous update with `n_e` excitatory and `n_i` inhibitory arrivals.
#[inline(always)]
pub fn apply_inputs(p: &LifPop, syn: &LifSyn, v: f32, n_e: u32, n_i: u32) -> f32 {
    match *syn {
        LifSyn::Conductance { a, ga, .. } => {
            let ge = a * n_e as f32;
            let gi = ga * n_i as f32;
            let g = ge + gi;
            // Branch-free: with no input, v_inf = 0 and e^0 = 1 give back v exactly.
            let v_inf = (ge * p.e_e + gi * p.e_i) / g.max(f32::MIN_POSITIVE);
            v_inf + (v - v_inf) * exp_neg(g)
        }
        LifSyn::Current { j_e, j_i } => v + j_e * n_e as f32 + j_i * n_i as f32,
    }
}

/// One excitatory arrival (the `precise` integrator's external input).
#[inline(always)]
fn apply_one_excitatory(p: &LifPop, syn: &LifSyn, v: f32) -> f32 {
    match *syn {
        LifSyn::Conductance { exp_neg_a, .. } => p.e_e + (v - p.e_e) * exp_neg_a,
        LifSyn::Current { j_e, .. } => v + j_e,
    }
}

/// The counter of neuron i's external input at step t.
#[inline(always)]
pub fn ext_counter(i: u32, t: u32, replica: u32) -> [u32; 4] {
    rng::counter(i, t, Purpose::LifExt.as_u32(), replica)
}

/// The `lumped` integrator's external count of a step: Poisson(K_X nu_X dt) (the same draw
/// as `rng::poisson`).
#[inline(always)]
pub fn external_count(c: &LifConsts, s: &mut Stream) -> u32 {
    if c.ext_lambda <= 0.0 {
        0
    } else if c.ext_lambda < rng::POISSON_INVERSION_MAX {
        rng::poisson_inversion_p0(s, c.ext_lambda, c.ext_p0)
    } else {
        rng::poisson(s, c.ext_lambda)
    }
}

/// One step of neuron `i` (population a) at step t: recurrent arrivals (rec_e, rec_i) land
/// at the step's start; external arrivals are drawn here. Returns the new state and whether
/// (and when) the neuron fired.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn step_neuron(
    c: &LifConsts,
    a: usize,
    i: u32,
    t: u32,
    replica: u32,
    st: NeuronState,
    rec_e: u32,
    rec_i: u32,
) -> (NeuronState, StepOutcome) {
    let mut s = Stream::new(ext_counter(i, t, replica), c.key);
    step_neuron_with(c, a, &mut s, st, rec_e, rec_i)
}

/// `step_neuron` drawing from the neuron's external stream `s` (already positioned at its
/// start).
#[inline(always)]
pub fn step_neuron_with(
    c: &LifConsts,
    a: usize,
    s: &mut Stream,
    st: NeuronState,
    rec_e: u32,
    rec_i: u32,
) -> (NeuronState, StepOutcome) {
    let p = &c.pop[a];
    let dt = c.dt;
    // Refractory for the whole step: held at V_r, every arrival discarded.
    if st.refractory >= dt {
        return (
            NeuronState {
                v: p.v_r,
                refractory: st.refractory - dt,
            },
            StepOutcome::default(),
        );
    }
    match c.integrator {
        Integrator::Lumped => {
            if st.refractory > 0.0 {
                // Refractory ends inside the step: the lumped scheme resumes next step.
                return (
                    NeuronState {
                        v: p.v_r,
                        refractory: 0.0,
                    },
                    StepOutcome::default(),
                );
            }
            let n_x = external_count(c, s);
            let v = leak(p, st.v, dt);
            let v = apply_inputs(p, &c.syn, v, rec_e + n_x, rec_i);
            if v >= p.theta {
                (
                    NeuronState {
                        v: p.v_r,
                        refractory: p.tau_rp - dt,
                    },
                    StepOutcome { spike: Some(dt) },
                )
            } else {
                (NeuronState { v, refractory: 0.0 }, StepOutcome::default())
            }
        }
        Integrator::Precise => step_precise(c, p, s, st, rec_e, rec_i),
    }
}

/// The `precise` integrator: recurrent arrivals at the step's start (unless refractory then),
/// then the external Poisson process run forward from the moment the neuron is free, its
/// arrivals at exponential gaps (mean dt / (K_X nu_X dt)), each applied after the exact leak
/// and followed by a threshold check. The gaps come from 24-bit uniforms in (0, 1], so a gap
/// is capped at 16.6 mean gaps (a truncation of probability 2^-24).
#[inline(always)]
fn step_precise(
    c: &LifConsts,
    p: &LifPop,
    s: &mut Stream,
    st: NeuronState,
    rec_e: u32,
    rec_i: u32,
) -> (NeuronState, StepOutcome) {
    let (v, now, fired) = precise_start(c, p, st, rec_e, rec_i);
    if fired {
        return fire_at(c, p, 0.0);
    }
    precise_continue(c, p, s, v, now, now)
}

/// The state after a spike at `at` ms into the step.
#[inline(always)]
pub fn fire_at(c: &LifConsts, p: &LifPop, at: f32) -> (NeuronState, StepOutcome) {
    (
        NeuronState {
            v: p.v_r,
            refractory: at + p.tau_rp - c.dt,
        },
        StepOutcome { spike: Some(at) },
    )
}

/// Start of a `precise` step of a neuron not refractory for the whole step: (V, the time it
/// is free from, whether the recurrent arrivals at the start made it fire).
#[inline(always)]
pub fn precise_start(
    c: &LifConsts,
    p: &LifPop,
    st: NeuronState,
    rec_e: u32,
    rec_i: u32,
) -> (f32, f32, bool) {
    let v = apply_inputs(p, &c.syn, st.v, rec_e, rec_i);
    let refractory = st.refractory > 0.0;
    (
        if refractory { p.v_r } else { v },
        if refractory { st.refractory } else { 0.0 },
        !refractory && v >= p.theta,
    )
}

/// The gap to the next external arrival drawn from word w (ms).
#[inline(always)]
pub fn ext_gap(c: &LifConsts, w: u32) -> f32 {
    -ln_f32(rng::u32_to_uniform_open0(w)) * c.ext_mean_gap
}

/// V just after an external arrival at `at`, from V at `now`.
#[inline(always)]
pub fn precise_arrival(c: &LifConsts, p: &LifPop, v: f32, now: f32, at: f32) -> f32 {
    apply_one_excitatory(p, &c.syn, leak(p, v, at - now))
}

/// `precise_arrival` where `short_leaks` holds (the same value).
#[inline(always)]
pub fn precise_arrival_short(c: &LifConsts, p: &LifPop, v: f32, now: f32, at: f32) -> f32 {
    apply_one_excitatory(p, &c.syn, leak_short(p, v, at - now))
}

impl LifConsts {
    /// Whether every leak within a step of population a stays in `exp_neg`'s series range
    /// (dt / tau_L < 2^-6), so the lane kernel can skip the other branch.
    pub fn short_leaks(&self, a: usize) -> bool {
        self.dt * self.pop[a].inv_tau_l < EXP_NEG_SERIES_MAX
    }
}

/// The rest of a `precise` step from V at `now`, the external process at `at` (its last
/// arrival, or `now` before any): arrivals until one lands beyond dt or one fires.
#[inline(always)]
pub fn precise_continue(
    c: &LifConsts,
    p: &LifPop,
    s: &mut Stream,
    mut v: f32,
    mut now: f32,
    mut at: f32,
) -> (NeuronState, StepOutcome) {
    if c.ext_lambda > 0.0 {
        loop {
            at += ext_gap(c, s.next_u32());
            if at >= c.dt {
                break;
            }
            v = precise_arrival(c, p, v, now, at);
            now = at;
            if v >= p.theta {
                return fire_at(c, p, at);
            }
        }
    }
    (
        NeuronState {
            v: leak(p, v, c.dt - now),
            refractory: 0.0,
        },
        StepOutcome::default(),
    )
}

/// Initial state of neuron i.
pub fn initial_state(
    c: &LifConsts,
    v0: &crate::lif::config::InitialV,
    i: u32,
    replica: u32,
) -> NeuronState {
    let mut s = Stream::new(
        rng::counter(i, 0, Purpose::LifInit.as_u32(), replica),
        c.key,
    );
    let v = match *v0 {
        crate::lif::config::InitialV::Uniform { lo, hi } => {
            lo as f32 + (hi - lo) as f32 * rng::uniform01(&mut s)
        }
        crate::lif::config::InitialV::Gaussian { mean, sd } => {
            mean as f32 + sd as f32 * rng::normal(&mut s)
        }
    };
    let a = c.population(i);
    NeuronState {
        v: v.min(c.pop[a].theta - 1e-3),
        refractory: 0.0,
    }
}

/// `annealed` connectivity: this step's recurrent inputs of neuron i, Binomial(K_b, S_b / N_b)
/// from last step's population spike counts (the neuron's own spike excluded from S).
pub fn annealed_inputs(
    c: &LifConsts,
    i: u32,
    t: u32,
    replica: u32,
    k: [u32; 2],
    spikes: [u32; 2],
    own_spike: bool,
) -> (u32, u32) {
    let a = c.population(i);
    let mut s = Stream::new(
        rng::counter(i, t, Purpose::LifAnnealed.as_u32(), replica),
        c.key,
    );
    let mut draw = |b: usize| {
        let n_b = if b == 0 { c.n_e } else { c.n_i };
        let others = n_b - (a == b) as u32;
        let sb = spikes[b] - (a == b && own_spike) as u32;
        if k[b] == 0 || sb == 0 || others == 0 {
            return 0;
        }
        rng::binomial(&mut s, k[b], sb as f32 / others as f32)
    };
    let e = draw(0);
    let i_ = draw(1);
    (e, i_)
}
