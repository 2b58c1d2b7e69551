//! Mean-field (diffusion-approximation) theory of model L: single LIF neurons driven by
//! Poisson input through conductance- or current-based synapses, and the self-consistent
//! rate of a network of identical E and I neurons.
//!
//! Implements docs/models.md, "LIF mean-field" (the diffusion approximation).
//!
//! # Units
//! Inside this module **times are in seconds and rates in Hz (spikes/s)**; voltages are in mV;
//! the conductance strength `a` is dimensionless and the current-based jump `j` is in mV.
//! (Configs and outputs of model L use ms; convert at the boundary: 20 ms = 0.020 s.)
//!
//! # Input rates
//! `r_e` is the total rate per excitatory input, recurrent plus external: in the network the
//! caller passes `r_e = nu_X + nu_E`, which assumes `K_X = K` (the config default). `r_i` is
//! the rate of each of the `gamma·K` inhibitory inputs.
//!
//! # Noise convention
//! `sigma` is the one of the Ricciardi/Siegert formula with `y = (V − mu)/sigma`: the
//! membrane obeys
//!
//! ```text
//!     tau dV = (mu − V) dt + sigma sqrt(tau) dW
//! ```
//!
//! so that, without threshold, V is Gaussian with mean `mu` and variance `sigma²/2` (not
//! `sigma²`). docs/models.md's `sigma² = a² K tau [...]` is `tau` times the variance rate of
//! the shot noise, which is this convention. The Monte-Carlo test below simulates this SDE
//! and shows that it matches the Siegert formula while `sigma sqrt(2 tau) dW` does not.
//!
//! # Numerics
//! - [`erfcx`] = `e^{x²} erfc(x)` to ~1e-15 relative on the whole real line (series near 0,
//!   the Chiarella–Reichel exponentially convergent sum on [0.5, 8), the asymptotic series
//!   beyond, reflection `2 e^{x²} − erfcx(−x)` for x < 0).
//! - The mean first-passage integral uses
//!   `sqrt(pi) ∫_{y_r}^{y_θ} erfcx(−x) dx = ∫_0^∞ e^{−u²} (e^{2 y_θ u} − e^{2 y_r u}) / u du`,
//!   with a factor `e^{−max(y_θ,0)²}` taken out; its logarithmic part is integrated in
//!   `s = ln u`, its Gaussian peak at `u = y_θ > 0` in `u − y_θ`. Neither large `y_θ` (rate
//!   → 0 without overflow or NaN) nor large negative `y` (deterministic limit) is a problem.
//! - The CV double integral is evaluated with the same factor taken out twice, as a nested
//!   adaptive Gauss–Kronrod (7/15) quadrature whose integrand is bounded by 4.
//! - All quadratures are globally adaptive with break points placed at the integrands'
//!   known features (relative tolerance 1e-13 for the rate, 1e-10 for the CV).

use crate::lif::config::{LifSetup, SynapseConfig};
use std::f64::consts::PI;

/// sqrt(pi).
use crate::numerics::{brent, erfcx, integrate_pieces, integrate_pieces_fallible};
/// Relative tolerance of the mean-first-passage (rate) quadrature.
const RATE_REL_TOL: f64 = 1e-13;
/// Relative tolerance of the outer CV quadrature.
const CV_OUTER_REL_TOL: f64 = 1e-10;
/// Relative tolerance of the inner CV quadrature.
const CV_INNER_REL_TOL: f64 = 1e-12;
/// Geometric grid used to bracket the fixed points: points per decade of rate.
const ROOT_GRID_PER_DECADE: usize = 10;
/// The bracketing grid starts this many decades below the largest possible rate.
const ROOT_GRID_DECADES: usize = 12;
/// Largest rate (Hz) searched for a fixed point when `tau_rp = 0` (no refractory ceiling).
const NO_REFRACTORY_MAX_RATE: f64 = 1e5;

// ---------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------

/// A leaky integrate-and-fire neuron. Times in seconds, voltages in mV.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LifNeuron {
    /// Leak (membrane) time constant tau_L, s.
    pub tau_l: f64,
    /// Leak reversal potential E_L, mV.
    pub e_l: f64,
    /// Excitatory reversal potential E_E, mV (conductance-based synapses only).
    pub e_e: f64,
    /// Inhibitory reversal potential E_I, mV (conductance-based synapses only).
    pub e_i: f64,
    /// Spike threshold theta, mV.
    pub theta: f64,
    /// Reset potential V_r, mV (must be below `theta`).
    pub v_r: f64,
    /// Absolute refractory period tau_rp, s.
    pub tau_rp: f64,
}

impl Default for LifNeuron {
    /// The conductance-based paper's values: tau_L = 20 ms, E_L = −80 mV, E_E = 0 mV,
    /// E_I = −75 mV, theta = −55 mV, V_r = −65 mV, tau_rp = 2 ms.
    fn default() -> Self {
        Self {
            tau_l: 0.020,
            e_l: -80.0,
            e_e: 0.0,
            e_i: -75.0,
            theta: -55.0,
            v_r: -65.0,
            tau_rp: 0.002,
        }
    }
}

impl LifNeuron {
    /// Checks that every field is finite, `tau_l > 0`, `tau_rp ≥ 0` and `v_r < theta`.
    pub fn validate(&self) -> Result<(), String> {
        finite("tau_l", self.tau_l)?;
        finite("e_l", self.e_l)?;
        finite("e_e", self.e_e)?;
        finite("e_i", self.e_i)?;
        finite("theta", self.theta)?;
        finite("v_r", self.v_r)?;
        finite("tau_rp", self.tau_rp)?;
        positive("tau_l", self.tau_l)?;
        non_negative("tau_rp", self.tau_rp)?;
        reset_below_threshold(self.v_r, self.theta)
    }
}

/// Synapses of model L.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Synapse {
    /// Instantaneous conductance pulses: an excitatory input spike gives `g_E/g_L` a pulse
    /// `tau_L·a·δ(t)`, an inhibitory one `tau_L·g·a·δ(t)` (a, g dimensionless).
    Conductance {
        /// Excitatory strength a (dimensionless, ≥ 0).
        a: f64,
        /// Relative inhibitory strength g (≥ 0).
        g: f64,
    },
    /// Instantaneous voltage jumps: `+j` per excitatory and `−g·j` per inhibitory spike.
    Current {
        /// Excitatory jump J, mV (≥ 0).
        j: f64,
        /// Relative inhibitory strength g (≥ 0).
        g: f64,
    },
}

impl Synapse {
    /// Checks that the strengths are finite and non-negative.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Synapse::Conductance { a, g } => {
                non_negative_finite("synapse a", a)?;
                non_negative_finite("synapse g", g)
            }
            Synapse::Current { j, g } => {
                non_negative_finite("synapse j", j)?;
                non_negative_finite("synapse g", g)
            }
        }
    }
}

/// Mean, noise amplitude and effective time constant of the membrane potential.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputStats {
    /// Mean free membrane potential mu, mV.
    pub mu: f64,
    /// Noise amplitude sigma, mV (free-membrane standard deviation is `sigma/sqrt(2)`).
    pub sigma: f64,
    /// Effective membrane time constant tau, s.
    pub tau: f64,
}

/// Mean-field prediction for one neuron.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SingleNeuronPrediction {
    /// Firing rate nu, Hz.
    pub rate: f64,
    /// Coefficient of variation of the inter-spike intervals (NaN when undefined: `sigma = 0`
    /// and `mu ≤ theta`, i.e. the neuron never fires).
    pub cv: f64,
    /// Mean free membrane potential, mV.
    pub mu: f64,
    /// Noise amplitude sigma, mV (see the module docs for the convention).
    pub sigma: f64,
    /// Effective membrane time constant, s.
    pub tau: f64,
}

// ---------------------------------------------------------------------------------------
// Input statistics
// ---------------------------------------------------------------------------------------

/// Diffusion approximation of the input (docs/models.md), for `k` excitatory inputs at rate `r_e`
/// (Hz, recurrent plus external: `r_e = nu_X + nu_E` with `K_X = K`) and `gamma·k`
/// inhibitory inputs at rate `r_i` (Hz).
///
/// Conductance-based:
/// `1/tau = 1/tau_L + a K (r_E + g gamma r_I)`,
/// `mu = tau [E_L/tau_L + a K (r_E E_E + g gamma r_I E_I)]`,
/// `sigma² = a² K tau [r_E (mu − E_E)² + g² gamma r_I (mu − E_I)²]`
/// (effective-time-constant approximation; `a` stands for the exact jump `1 − e^{−a}`).
///
/// Current-based: `tau = tau_L`, `mu = E_L + tau J K (r_E − g gamma r_I)`,
/// `sigma² = tau J² K (r_E + g² gamma r_I)`. `tau J K (...)` alone is the potential relative
/// to rest; here `mu` is the absolute potential in mV (like `theta` and `V_r`), so the rest
/// `E_L` is added, as docs/models.md (LIF mean-field) writes it.
pub fn input_stats(
    neuron: &LifNeuron,
    synapse: &Synapse,
    k: f64,
    gamma: f64,
    r_e: f64,
    r_i: f64,
) -> Result<InputStats, String> {
    neuron.validate()?;
    synapse.validate()?;
    non_negative_finite("k", k)?;
    non_negative_finite("gamma", gamma)?;
    non_negative_finite("r_e", r_e)?;
    non_negative_finite("r_i", r_i)?;
    let stats = match *synapse {
        Synapse::Conductance { a, g } => conductance_stats(neuron, a, g, k, gamma, r_e, r_i),
        Synapse::Current { j, g } => current_stats(neuron, j, g, k, gamma, r_e, r_i),
    };
    if stats.mu.is_finite() && stats.sigma.is_finite() && stats.tau.is_finite() {
        Ok(stats)
    } else {
        Err(format!(
            "input statistics overflowed (mu = {}, sigma = {}, tau = {}): rates or k too large",
            stats.mu, stats.sigma, stats.tau
        ))
    }
}

/// Conductance-based input statistics (see [`input_stats`]).
fn conductance_stats(
    n: &LifNeuron,
    a: f64,
    g: f64,
    k: f64,
    gamma: f64,
    r_e: f64,
    r_i: f64,
) -> InputStats {
    let exc = a * k * r_e;
    let inh = a * k * g * gamma * r_i;
    let tau = 1.0 / (1.0 / n.tau_l + exc + inh);
    let mu = tau * (n.e_l / n.tau_l + exc * n.e_e + inh * n.e_i);
    let var =
        a * a * k * tau * (r_e * (mu - n.e_e).powi(2) + g * g * gamma * r_i * (mu - n.e_i).powi(2));
    InputStats {
        mu,
        sigma: var.max(0.0).sqrt(),
        tau,
    }
}

/// Current-based input statistics (see [`input_stats`]).
fn current_stats(
    n: &LifNeuron,
    j: f64,
    g: f64,
    k: f64,
    gamma: f64,
    r_e: f64,
    r_i: f64,
) -> InputStats {
    let tau = n.tau_l;
    let mu = n.e_l + tau * j * k * (r_e - g * gamma * r_i);
    let var = tau * j * j * k * (r_e + g * g * gamma * r_i);
    InputStats {
        mu,
        sigma: var.max(0.0).sqrt(),
        tau,
    }
}

/// Free-membrane (no threshold) stationary density of V, in 1/mV: the Gaussian "P(V)" of
/// the diffusion approximation. With this module's convention (module docs) its mean is
/// `mu` and its variance is `sigma²/2`, i.e. its standard deviation is `sigma/sqrt(2)`.
/// Returns NaN for `sigma ≤ 0` or non-finite arguments other than `v = ±∞` (density 0).
pub fn membrane_density(mu: f64, sigma: f64, v: f64) -> f64 {
    if !(sigma > 0.0 && sigma.is_finite() && mu.is_finite()) || v.is_nan() {
        return f64::NAN;
    }
    let sd = sigma / std::f64::consts::SQRT_2;
    let z = (v - mu) / sd;
    (-0.5 * z * z).exp() / (sd * (2.0 * PI).sqrt())
}

// ---------------------------------------------------------------------------------------
// Siegert rate and CV
// ---------------------------------------------------------------------------------------

/// Stationary firing rate (Hz) of the LIF neuron driven by white noise (Ricciardi/Siegert):
///
/// `1/nu = tau_rp + tau sqrt(pi) ∫_{y_r}^{y_θ} e^{x²}(1 + erf x) dx`,
/// `y_θ = (theta − mu)/sigma`, `y_r = (v_r − mu)/sigma`.
///
/// `tau_rp` and `tau` in seconds, the rest in mV. `sigma = 0` (or `|y| > 1e300`) gives the
/// noiseless limit:
/// `1/(tau_rp + tau ln((mu − v_r)/(mu − theta)))` for `mu > theta`, else 0. For large
/// `y_θ` the rate underflows gracefully to 0 (never NaN).
pub fn siegert_rate(
    tau_rp: f64,
    tau: f64,
    mu: f64,
    sigma: f64,
    theta: f64,
    v_r: f64,
) -> Result<f64, String> {
    validate_siegert(tau_rp, tau, mu, sigma, theta, v_r)?;
    let (y_r, y_th) = ((v_r - mu) / sigma, (theta - mu) / sigma);
    if noiseless(sigma, y_r, y_th) {
        return Ok(deterministic_rate(tau_rp, tau, mu, theta, v_r));
    }
    if silent(y_th) {
        return Ok(0.0);
    }
    let mfpt = scaled_mfpt_integral(y_r, y_th)?;
    Ok(rate_from_scaled(tau_rp, tau, &mfpt))
}

/// Coefficient of variation of the inter-spike intervals (not its square):
///
/// `CV² = 2 pi (nu tau)² ∫_{y_r}^{y_θ} e^{x²} ∫_{−∞}^{x} e^{y²}(1 + erf y)² dy dx`.
///
/// Same arguments as [`siegert_rate`]. `sigma = 0` gives 0 for `mu > theta` and NaN
/// (undefined: no spikes) for `mu ≤ theta`; 1 where the rate underflows to 0 (`y_θ > 27.3`,
/// rare Kramers escapes). Accurate to ~1e-10 relative.
pub fn siegert_cv(
    tau_rp: f64,
    tau: f64,
    mu: f64,
    sigma: f64,
    theta: f64,
    v_r: f64,
) -> Result<f64, String> {
    validate_siegert(tau_rp, tau, mu, sigma, theta, v_r)?;
    siegert_rate_and_cv(tau_rp, tau, mu, sigma, theta, v_r).map(|(_, cv)| cv)
}

/// Rate (Hz) and CV together, sharing the rate integral. Arguments must be validated.
fn siegert_rate_and_cv(
    tau_rp: f64,
    tau: f64,
    mu: f64,
    sigma: f64,
    theta: f64,
    v_r: f64,
) -> Result<(f64, f64), String> {
    let (y_r, y_th) = ((v_r - mu) / sigma, (theta - mu) / sigma);
    if noiseless(sigma, y_r, y_th) {
        let cv = if mu > theta { 0.0 } else { f64::NAN };
        return Ok((deterministic_rate(tau_rp, tau, mu, theta, v_r), cv));
    }
    if silent(y_th) {
        return Ok((0.0, 1.0));
    }
    let mfpt = scaled_mfpt_integral(y_r, y_th)?;
    let rate = rate_from_scaled(tau_rp, tau, &mfpt);
    // nu·tau·e^{B²} = tau / (tau_rp e^{−B²} + tau Q̃): bounded even when nu underflows.
    let w = (-mfpt.big_b * mfpt.big_b).exp();
    let nu_tau_scaled = tau / (tau_rp * w + tau * mfpt.scaled);
    let d = scaled_cv_integral(y_r, y_th)?;
    let cv2 = 2.0 * PI * nu_tau_scaled * nu_tau_scaled * d;
    Ok((rate, cv2.max(0.0).sqrt()))
}

/// Checks the arguments of the Siegert functions.
fn validate_siegert(
    tau_rp: f64,
    tau: f64,
    mu: f64,
    sigma: f64,
    theta: f64,
    v_r: f64,
) -> Result<(), String> {
    non_negative_finite("tau_rp", tau_rp)?;
    finite("tau", tau)?;
    positive("tau", tau)?;
    finite("mu", mu)?;
    non_negative_finite("sigma", sigma)?;
    finite("theta", theta)?;
    finite("v_r", v_r)?;
    reset_below_threshold(v_r, theta)
}

/// Whether to use the noiseless limit: `sigma = 0`, or `|y| > 1e300` (sigma so small that
/// the deterministic limit is exact to working precision, and the quadrature ranges would
/// overflow).
fn noiseless(sigma: f64, y_r: f64, y_th: f64) -> bool {
    const Y_MAX: f64 = 1e300;
    sigma == 0.0 || !(y_r.abs() <= Y_MAX && y_th.abs() <= Y_MAX)
}

/// Whether the threshold is so far above the mean (`y_θ > 27.3`) that `e^{−y_θ²}`, the factor
/// of the rate, underflows to 0: the rate is then exactly 0 in f64 and the spikes, were there
/// any, would be Kramers escapes, an exponential ISI distribution (CV = 1; the full integrals
/// give 1 to 2e-16 for y_θ from 28 to 1e10). Short-cutting it keeps the cost bounded: the
/// integrals' break points grow like ln y_θ (the CV's double integral like (ln y_θ)², 1.2 s at
/// y_θ = 1e141, where it also lost all accuracy and returned CV = 2).
fn silent(y_th: f64) -> bool {
    let b = y_th.max(0.0);
    (-b * b).exp() == 0.0
}

/// Noiseless LIF rate: `1/(tau_rp + tau ln((mu − v_r)/(mu − theta)))` if `mu > theta`, else 0.
fn deterministic_rate(tau_rp: f64, tau: f64, mu: f64, theta: f64, v_r: f64) -> f64 {
    if mu > theta {
        1.0 / (tau_rp + tau * ((mu - v_r) / (mu - theta)).ln())
    } else {
        0.0
    }
}

/// The mean-first-passage integral `Q = sqrt(pi) ∫_{y_r}^{y_θ} erfcx(−x) dx`, stored as
/// `Q = e^{B²} · scaled` with `B = max(y_θ, 0)`.
#[derive(Debug, Clone, Copy)]
struct ScaledIntegral {
    /// `Q e^{−B²}`.
    scaled: f64,
    /// `B = max(y_θ, 0)`.
    big_b: f64,
}

/// Rate from the scaled first-passage integral: `nu = e^{−B²} / (tau_rp e^{−B²} + tau Q̃)`.
fn rate_from_scaled(tau_rp: f64, tau: f64, q: &ScaledIntegral) -> f64 {
    let w = (-q.big_b * q.big_b).exp();
    w / (tau_rp * w + tau * q.scaled)
}

/// `sqrt(pi) ∫_a^b erfcx(−x) dx` for `a < b`, via
/// `∫_0^∞ e^{−u²} (e^{2bu} − e^{2au}) / u du` with `e^{−B²}` (`B = max(b, 0)`) taken out:
/// `∫_0^∞ e^{−u² + 2bu − B²} (1 − e^{−2(b−a)u}) du/u`. The logarithmic part (small u) is
/// integrated in `s = ln u`; for `b > 0` the Gaussian peak at `u = b` is integrated in
/// `z = u − b`, so that its exponent `−z²` carries no rounding error of size `b² ε`.
fn scaled_mfpt_integral(a: f64, b: f64) -> Result<ScaledIntegral, String> {
    let big_b = b.max(0.0);
    let width = b - a;
    // Below u_lo the integrand is ≈ 2(b−a)u e^{−B²}: its integral there is 2(b−a)u_lo e^{−B²}.
    let u_lo = 1e-17 / (1.0 + 2.0 * a.abs() + 2.0 * b.abs());
    let tail = 2.0 * width * u_lo * (-big_b * big_b).exp();
    // Upper end of the s-part: beyond u = 9 (b ≤ 0) e^{−u² + 2bu} < e^{−81}; for b > 0 the
    // s-part stops where the z-part (peak) starts.
    let u_mid = if b > 0.0 { (b - 9.0).max(0.5 * b) } else { 9.0 };
    let in_s = |s: f64| {
        let u = s.exp();
        let exponent = if b > 0.0 {
            -(u - b) * (u - b)
        } else {
            u * (2.0 * b - u)
        };
        exponent.exp() * (-(-2.0 * width * u).exp_m1())
    };
    // Break points every unit of s: the features of this integrand are ≳ 1 wide in s, and an
    // adaptive rule must not be handed a long piece whose only feature falls between nodes.
    let (s_lo, s_mid) = (u_lo.ln(), u_mid.ln());
    let mut breaks: Vec<f64> = (0..2000)
        .map(|i| s_lo + f64::from(i))
        .take_while(|&s| s < s_mid)
        .collect();
    breaks.push(s_mid);
    let mut body = integrate_pieces(&in_s, &breaks, RATE_REL_TOL)
        .map_err(|e| format!("rate integral for y_r = {a}, y_theta = {b}: {e}"))?;
    if b > 0.0 {
        let in_z = |z: f64| {
            let u = b + z;
            (-z * z).exp() * (-(-2.0 * width * u).exp_m1()) / u
        };
        let z_lo = u_mid - b;
        let mut z_breaks = vec![z_lo];
        z_breaks.extend([-6.0, -3.0, 0.0, 3.0, 6.0].iter().filter(|&&z| z > z_lo));
        z_breaks.push(9.0);
        body += integrate_pieces(&in_z, &z_breaks, RATE_REL_TOL)
            .map_err(|e| format!("rate integral for y_r = {a}, y_theta = {b}: {e}"))?;
    }
    Ok(ScaledIntegral {
        scaled: body + tail,
        big_b,
    })
}

/// `e^{−2B²} ∫_a^b e^{x²} ∫_{−∞}^{x} e^{y²}(1 + erf y)² dy dx` (`B = max(b, 0)`), the double
/// integral of the CV. The outer variable is `z = x − b ≤ 0` (so that `x² − b² = z(2b + z)`
/// is exact near the peak), the inner one `t = x − y ≥ 0`; the integrand never exceeds 4.
fn scaled_cv_integral(a: f64, b: f64) -> Result<f64, String> {
    let outer = |z: f64| cv_inner(z, b);
    // For b ≫ 1 the outer integrand is ~ e^{2(x² − b²)}/x, a peak of width 1/(4b) at z = 0:
    // break points at z = −4^k/(4 max(b, 1)) resolve it, plus x = 0 where the form changes.
    let mut breaks = geometric_breaks(0.0, -1.0 / (4.0 * b.max(1.0)), a - b);
    if a < 0.0 && b > 0.0 {
        breaks.push(-b);
    }
    breaks.sort_by(f64::total_cmp);
    integrate_pieces_fallible(&outer, &breaks, CV_OUTER_REL_TOL)
        .map_err(|e| format!("CV integral for y_r = {a}, y_theta = {b}: {e}"))
}

/// Break points `start, start + first, start + 4 first, start + 16 first, …, end` (`first`
/// has the sign of `end − start`), unsorted.
fn geometric_breaks(start: f64, first: f64, end: f64) -> Vec<f64> {
    let mut breaks = vec![start];
    let mut step = first;
    while (start + step - end) * first < 0.0 {
        breaks.push(start + step);
        step *= 4.0;
    }
    breaks.push(end);
    breaks
}

/// Inner CV integral at `x = b + z`, times `e^{x² − 2B²}`:
/// `∫_0^∞ e^{x² − 2B²} e^{y²}(1 + erf y)² dt` with `y = x − t`, evaluated without overflow
/// or cancellation (every exponent below is ≤ 0 and free of `b² ε` rounding):
/// for `y ≥ 0` as `e^{(x² − b²) + (y² − b²)} (2 − e^{−y²} erfcx(y))²`, for `y < 0` as
/// `e^{x² − y² − 2B²} erfcx(−y)²`. The integrand falls off from t = 0 on the scale
/// `1/(2|x|)` (|x| ≥ 1) or 1: geometric break points.
fn cv_inner(z: f64, b: f64) -> Result<f64, String> {
    let x = b + z;
    let big_b2 = b.max(0.0).powi(2);
    // x² − B²: exact form near the peak when b > 0 (then B = b).
    let x2_minus_b2 = if b > 0.0 { z * (2.0 * b + z) } else { x * x };
    let f = |t: f64| {
        let y = x - t;
        if y >= 0.0 {
            // Only reached when x ≥ 0, hence b ≥ 0 and B = b: y² − b² = (z − t)(2b + z − t).
            let one_plus_erf = 2.0 - (-y * y).exp() * erfcx(y);
            (x2_minus_b2 + (z - t) * (2.0 * b + z - t)).exp() * one_plus_erf * one_plus_erf
        } else {
            let exponent = if x > 0.0 {
                x2_minus_b2 - y * y - big_b2
            } else {
                t * (2.0 * x - t) - 2.0 * big_b2
            };
            let e = erfcx(-y);
            exponent.exp() * e * e
        }
    };
    let first = 1.0 / (2.0 * x.abs().max(1.0));
    let mut breaks = if x >= 0.0 {
        // y from x down to 0, then from 0 to −9 (e^{−y²} < e^{−81} beyond).
        let mut v = geometric_breaks(0.0, first, x + 9.0);
        v.push(x);
        v
    } else {
        // e^{x² − y²} = e^{2xt − t²}: below e^{−80} once 2|x|t + t² > 80.
        let t_max = 80.0 / ((x * x + 80.0).sqrt() + x.abs());
        geometric_breaks(0.0, first.min(0.25 * t_max), t_max)
    };
    breaks.sort_by(f64::total_cmp);
    integrate_pieces(&f, &breaks, CV_INNER_REL_TOL)
}

// ---------------------------------------------------------------------------------------
// Single neuron and network
// ---------------------------------------------------------------------------------------

/// Rate, CV and input statistics of one neuron receiving `k` excitatory inputs at `r_e` Hz
/// (recurrent plus external) and `gamma·k` inhibitory inputs at `r_i` Hz.
pub fn single_neuron(
    neuron: &LifNeuron,
    synapse: &Synapse,
    k: f64,
    gamma: f64,
    r_e: f64,
    r_i: f64,
) -> Result<SingleNeuronPrediction, String> {
    let s = input_stats(neuron, synapse, k, gamma, r_e, r_i)?;
    validate_siegert(
        neuron.tau_rp,
        s.tau,
        s.mu,
        s.sigma,
        neuron.theta,
        neuron.v_r,
    )?;
    let (rate, cv) = siegert_rate_and_cv(
        neuron.tau_rp,
        s.tau,
        s.mu,
        s.sigma,
        neuron.theta,
        neuron.v_r,
    )?;
    Ok(SingleNeuronPrediction {
        rate,
        cv,
        mu: s.mu,
        sigma: s.sigma,
        tau: s.tau,
    })
}

/// The transfer function of the network, `Phi(nu) = rate(r_E = nu_x + nu, r_I = nu)`, Hz.
fn network_phi(
    neuron: &LifNeuron,
    synapse: &Synapse,
    k: f64,
    gamma: f64,
    nu_x: f64,
    nu: f64,
) -> Result<f64, String> {
    let s = input_stats(neuron, synapse, k, gamma, nu_x + nu, nu)?;
    siegert_rate(
        neuron.tau_rp,
        s.tau,
        s.mu,
        s.sigma,
        neuron.theta,
        neuron.v_r,
    )
}

/// All self-consistent rates (Hz) of the network of identical E and I neurons,
/// `nu = Phi(nu) = rate(r_E = nu_x + nu, r_I = nu)`, found as sign changes of
/// `Phi(nu) − nu` on a geometric grid (10 points per decade from 1e-12 of the largest
/// possible rate `1/tau_rp`) and refined by Brent's method; ascending. Roots closer together
/// than the grid spacing (near-tangencies) can be missed. `nu_x` is the external rate in Hz
/// (each of the `K_X = k` external inputs). Returns `[0]` if `Phi(0) = 0` (quiet network).
pub fn self_consistent_roots(
    neuron: &LifNeuron,
    synapse: &Synapse,
    k: f64,
    gamma: f64,
    nu_x: f64,
) -> Result<Vec<f64>, String> {
    non_negative_finite("nu_x", nu_x)?;
    let f = |nu: f64| network_phi(neuron, synapse, k, gamma, nu_x, nu).map(|p| p - nu);
    let f0 = f(0.0)?;
    if f0 <= 0.0 {
        return Ok(vec![0.0]);
    }
    let nu_hi = rate_ceiling(neuron, &f)?;
    let mut roots = Vec::new();
    let (mut lo, mut f_lo) = (0.0, f0);
    for nu in root_grid(nu_hi) {
        let f_nu = f(nu)?;
        if f_nu == 0.0 {
            roots.push(nu);
        } else if (f_lo > 0.0) != (f_nu > 0.0) && f_lo != 0.0 {
            roots.push(brent(&f, lo, nu, f_lo, f_nu)?);
        }
        (lo, f_lo) = (nu, f_nu);
    }
    Ok(roots)
}

/// Self-consistent state of the network of identical E and I neurons (docs/models.md,
/// LIF mean-field): `nu = Phi(r_E = nu_x + nu, r_I = nu)`, with the rate, CV and input
/// statistics at that point. If several fixed points exist, the lowest-rate one is returned
/// (see [`self_consistent_roots`] for all). Since `Phi(0) − 0 > 0`, the lowest root is
/// crossed from above, i.e. `Phi'(nu) < 1` there: it is stable under the rate dynamics
/// `tau dnu/dt = Phi(nu) − nu` (barring an exact tangency). `nu_x` in Hz.
pub fn self_consistent_rate(
    neuron: &LifNeuron,
    synapse: &Synapse,
    k: f64,
    gamma: f64,
    nu_x: f64,
) -> Result<SingleNeuronPrediction, String> {
    let roots = self_consistent_roots(neuron, synapse, k, gamma, nu_x)?;
    let nu = *roots.first().ok_or_else(|| {
        format!(
            "no self-consistent rate found for k = {k}, gamma = {gamma}, nu_x = {nu_x} Hz \
             (Phi(nu) − nu never changed sign on the search grid)"
        )
    })?;
    let mut p = single_neuron(neuron, synapse, k, gamma, nu_x + nu, nu)?;
    p.rate = nu;
    Ok(p)
}

/// Largest rate searched: `1/tau_rp`, or without refractoriness the first power of ten up
/// to 1e5 Hz where `Phi(nu) < nu`.
fn rate_ceiling<F: Fn(f64) -> Result<f64, String>>(
    neuron: &LifNeuron,
    f: &F,
) -> Result<f64, String> {
    if neuron.tau_rp > 0.0 {
        return Ok(1.0 / neuron.tau_rp);
    }
    let mut nu = 10.0;
    while nu <= NO_REFRACTORY_MAX_RATE {
        if f(nu)? < 0.0 {
            return Ok(nu);
        }
        nu *= 10.0;
    }
    Err(format!(
        "with tau_rp = 0, Phi(nu) > nu up to nu = {NO_REFRACTORY_MAX_RATE} Hz: runaway activity"
    ))
}

/// Geometric grid `nu_hi · 10^{−12 … 0}`, ascending.
fn root_grid(nu_hi: f64) -> impl Iterator<Item = f64> {
    let n = ROOT_GRID_DECADES * ROOT_GRID_PER_DECADE;
    (0..=n).map(move |i| {
        let decades = (n - i) as f64 / ROOT_GRID_PER_DECADE as f64;
        nu_hi * 10f64.powf(-decades)
    })
}

// ---------------------------------------------------------------------------------------
// Argument checks
// ---------------------------------------------------------------------------------------

/// `Err` naming `name` unless `value` is finite.
fn finite(name: &str, value: f64) -> Result<(), String> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(format!("{name} must be finite, got {value}"))
    }
}

/// `Err` naming `name` unless `value > 0`.
fn positive(name: &str, value: f64) -> Result<(), String> {
    if value > 0.0 {
        Ok(())
    } else {
        Err(format!("{name} must be > 0, got {value}"))
    }
}

/// `Err` naming `name` unless `value ≥ 0`.
fn non_negative(name: &str, value: f64) -> Result<(), String> {
    if value >= 0.0 {
        Ok(())
    } else {
        Err(format!("{name} must be >= 0, got {value}"))
    }
}

/// `Err` naming `name` unless `value` is finite and ≥ 0.
fn non_negative_finite(name: &str, value: f64) -> Result<(), String> {
    finite(name, value)?;
    non_negative(name, value)
}

/// `Err` unless the reset lies below the threshold.
fn reset_below_threshold(v_r: f64, theta: f64) -> Result<(), String> {
    if v_r < theta {
        Ok(())
    } else {
        Err(format!(
            "v_r must be below theta, got v_r = {v_r} mV, theta = {theta} mV"
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// The theory of a validated network config.

/// The theory's neuron and synapse for population a of a setup.
pub fn theory_inputs(s: &LifSetup, a: usize) -> (LifNeuron, Synapse) {
    let p = s.neuron[a];
    let neuron = LifNeuron {
        tau_l: p.tau_l * 1e-3,
        e_l: p.e_l,
        e_e: p.e_e,
        e_i: p.e_i,
        theta: p.theta,
        v_r: p.v_r,
        tau_rp: p.tau_rp * 1e-3,
    };
    let syn = match s.config.synapse {
        SynapseConfig::Conductance { a, g } => Synapse::Conductance { a, g },
        SynapseConfig::Current { j, g } => Synapse::Current { j, g },
    };
    (neuron, syn)
}

/// The self-consistent network state (identical E and I neurons, K_X = K); an error says why
/// there is none.
pub fn self_consistent(s: &LifSetup) -> Result<SingleNeuronPrediction, String> {
    if s.neuron[0] != s.neuron[1] {
        return Err(
            "E and I neurons differ: the self-consistent theory is for identical ones".into(),
        );
    }
    if s.k_x != s.k_e {
        return Err(format!(
            "K_X = {} differs from K = {}: the theory takes K_X = K",
            s.k_x, s.k_e
        ));
    }
    let (neuron, syn) = theory_inputs(s, 0);
    let gamma = s.k_i as f64 / s.k_e as f64;
    self_consistent_rate(&neuron, &syn, s.k_e as f64, gamma, s.config.nu_x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::SQRT_PI;

    /// Relative difference `|x/y − 1|`.
    fn rel(x: f64, y: f64) -> f64 {
        (x / y - 1.0).abs()
    }

    /// The conductance-based network of docs/models.md (model L) at K = 1e3.
    fn paper_network() -> (LifNeuron, Synapse, f64, f64) {
        (
            LifNeuron::default(),
            Synapse::Conductance { a: 2e-3, g: 20.0 },
            1e3,
            0.25,
        )
    }

    #[test]
    fn rate_integral_matches_direct_quadrature_of_erfcx() {
        // The u-representation used by siegert_rate against integrating erfcx(−x) directly.
        for (a, b) in [
            (-2.0, 0.5),
            (-10.0, -3.0),
            (-1.0, 3.0),
            (1.0, 4.0),
            (-0.3, -0.1),
        ] {
            let q = scaled_mfpt_integral(a, b).expect("rate integral");
            let via_u = q.scaled * (q.big_b * q.big_b).exp();
            let f = |x: f64| SQRT_PI * erfcx(-x);
            let direct = integrate_pieces(&f, &[a, 0.5 * (a + b), b], 1e-14).expect("direct");
            assert!(
                rel(via_u, direct) < 1e-12,
                "({a}, {b}): {via_u} vs {direct}"
            );
        }
    }

    // --- Siegert rate -----------------------------------------------------------------------

    #[test]
    fn siegert_rate_tends_to_deterministic_lif_rate_without_noise() {
        let (tau_rp, tau, mu, theta, v_r) = (0.002, 0.02, -50.0_f64, -55.0, -65.0);
        let det = 1.0 / (tau_rp + tau * ((mu - v_r) / (mu - theta)).ln());
        assert_eq!(siegert_rate(tau_rp, tau, mu, 0.0, theta, v_r), Ok(det));
        let err = |sigma: f64| {
            rel(
                siegert_rate(tau_rp, tau, mu, sigma, theta, v_r).unwrap(),
                det,
            )
        };
        // The correction is O(sigma²): ×100 per decade of sigma, and tiny at sigma = 1e-4 mV.
        let ratio = err(1e-2) / err(1e-3);
        assert!((90.0..110.0).contains(&ratio), "error ratio {ratio}");
        assert!(err(1e-4) < 1e-9);
        assert!(err(1e-7) < 1e-13);
    }

    #[test]
    fn siegert_rate_vanishes_below_threshold_without_noise_and_follows_kramers() {
        let (tau, theta, v_r) = (0.02, -55.0, -65.0);
        assert_eq!(siegert_rate(0.002, tau, -60.0, 0.0, theta, v_r), Ok(0.0));
        // Large y_θ = (theta − mu)/sigma: nu tau sqrt(pi) e^{y²}/y → 1/(1 + 1/(2y²) + 3/(4y⁴)
        // + 15/(8y⁶) + …), the asymptotic series of 2∫_0^y e^{x²} dx.
        for y in [20.0, 26.0] {
            let sigma = 0.1;
            let rate = siegert_rate(0.0, tau, theta - y * sigma, sigma, theta, v_r).unwrap();
            let y2 = y * y;
            let kramers = y * (-y2).exp()
                / (tau * SQRT_PI)
                / (1.0 + 0.5 / y2 + 0.75 / (y2 * y2) + 1.875 / (y2 * y2 * y2));
            assert!(rel(rate, kramers) < 1e-9, "y = {y}: {rate} vs {kramers}");
        }
        // Far below threshold the rate underflows to 0, never NaN.
        for sigma in [0.3, 1e-2, 1e-9, 1e-300, 5e-324] {
            let rate = siegert_rate(0.002, tau, -60.0, sigma, theta, v_r).unwrap();
            assert!((0.0..1e-30).contains(&rate), "sigma = {sigma}: {rate}");
        }
    }

    #[test]
    fn siegert_rate_rejects_bad_parameters_by_name() {
        let msg = |r: Result<f64, String>| r.expect_err("must fail");
        assert!(msg(siegert_rate(0.002, 0.02, -50.0, 1.0, -55.0, -55.0)).contains("v_r"));
        assert!(msg(siegert_rate(0.002, 0.0, -50.0, 1.0, -55.0, -65.0)).contains("tau"));
        assert!(msg(siegert_rate(0.002, 0.02, -50.0, -1.0, -55.0, -65.0)).contains("sigma"));
        assert!(msg(siegert_rate(-1.0, 0.02, -50.0, 1.0, -55.0, -65.0)).contains("tau_rp"));
        assert!(msg(siegert_cv(0.002, 0.02, f64::NAN, 1.0, -55.0, -65.0)).contains("mu"));
    }

    // --- Siegert CV ---------------------------------------------------------------------

    #[test]
    fn siegert_cv_vanishes_like_linear_noise_theory_above_threshold() {
        // Small noise: ISI variance = ∫ (sigma²/tau) / v(V)³ dV with drift v = (mu − V)/tau,
        // i.e. CV = nu tau sigma sqrt((1/(mu−theta)² − 1/(mu−V_r)²)/2).
        let (tau_rp, tau, mu, theta, v_r) = (0.002, 0.02, -50.0, -55.0, -65.0);
        assert_eq!(siegert_cv(tau_rp, tau, mu, 0.0, theta, v_r), Ok(0.0));
        let spread = (((mu - theta).powi(-2) - (mu - v_r).powi(-2)) / 2.0).sqrt();
        for sigma in [1e-3, 1e-5] {
            let rate = siegert_rate(tau_rp, tau, mu, sigma, theta, v_r).unwrap();
            let cv = siegert_cv(tau_rp, tau, mu, sigma, theta, v_r).unwrap();
            let linear = rate * tau * sigma * spread;
            assert!(rel(cv, linear) < 1e-6, "sigma = {sigma}: {cv} vs {linear}");
        }
    }

    #[test]
    fn siegert_cv_tends_to_one_for_rare_spikes_without_refractoriness() {
        // Rare escapes over a high barrier form a Poisson process: CV → 1.
        let (tau, theta, v_r, sigma) = (0.02, -55.0, -65.0, 1.0);
        for y in [5.0, 8.0, 26.0, 40.0, 1e3] {
            let cv = siegert_cv(0.0, tau, theta - y * sigma, sigma, theta, v_r).unwrap();
            assert!((cv - 1.0).abs() < 1e-8, "y_theta = {y}: CV = {cv}");
        }
        assert!(
            siegert_cv(0.0, tau, -60.0, 0.0, theta, v_r)
                .unwrap()
                .is_nan()
        );
    }

    #[test]
    fn far_subthreshold_neurons_are_silent_at_bounded_cost() {
        // Where e^{-y_θ²} underflows the rate is exactly 0 and the CV that of Kramers escapes
        // (1); the full integrals agree just below the switch, and far beyond it (y_θ = 1e141
        // used to take 1.2 s per call and return CV = 2) the answer comes at once.
        let (tau, theta, v_r, sigma) = (0.02, -55.0, -65.0, 1.0);
        let (r27, cv27) = siegert_rate_and_cv(2e-3, tau, theta - 27.0, sigma, theta, v_r).unwrap();
        assert!(
            r27 > 0.0 && r27 < 1e-300 && (cv27 - 1.0).abs() < 1e-12,
            "{r27} {cv27}"
        );
        for y in [28.0, 1e3, 1e141, 1e299] {
            let t0 = std::time::Instant::now();
            let (r, cv) =
                siegert_rate_and_cv(2e-3, tau, theta - y * sigma, sigma, theta, v_r).unwrap();
            assert!(
                t0.elapsed().as_secs_f64() < 1e-3,
                "y = {y}: {:?}",
                t0.elapsed()
            );
            assert_eq!((r, cv), (0.0, 1.0), "y = {y}");
            assert_eq!(
                siegert_rate(2e-3, tau, theta - y * sigma, sigma, theta, v_r).unwrap(),
                0.0
            );
        }
        // A network whose synapses are 1e-140 strong: silent, in well under a second.
        let (neuron, _, k, gamma) = paper_network();
        let t0 = std::time::Instant::now();
        let p = self_consistent_rate(
            &neuron,
            &Synapse::Conductance { a: 1e-140, g: 20.0 },
            k,
            gamma,
            25.0,
        )
        .unwrap();
        assert!(t0.elapsed().as_secs_f64() < 0.2, "{:?}", t0.elapsed());
        assert_eq!((p.rate, p.cv), (0.0, 1.0));
    }

    // --- Monte Carlo --------------------------------------------------------------------

    /// SplitMix64 with Marsaglia's polar normal draws (test-only).
    struct Rng(u64, Option<f64>);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        /// Uniform on (0, 1).
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            if let Some(z) = self.1.take() {
                return z;
            }
            loop {
                let (u, v) = (2.0 * self.uniform() - 1.0, 2.0 * self.uniform() - 1.0);
                let s = u * u + v * v;
                if s < 1.0 && s > 0.0 {
                    let f = (-2.0 * s.ln() / s).sqrt();
                    self.1 = Some(v * f);
                    return u * f;
                }
            }
        }
    }

    /// Inter-spike intervals (s) of `tau dV = (mu − V) dt + sigma sqrt(tau) dW` with threshold,
    /// reset and refractory period, by Euler–Maruyama with step `dt`; a crossing between two
    /// sub-threshold steps is detected with the Brownian-bridge probability
    /// `exp(−2 (theta − V_n)(theta − V_{n+1}) / (sigma² dt/tau))`.
    fn simulate_isis(
        (tau_rp, tau, mu, sigma, theta, v_r): (f64, f64, f64, f64, f64, f64),
        dt: f64,
        n_spikes: usize,
        rng: &mut Rng,
    ) -> Vec<f64> {
        let (drift, noise) = (dt / tau, sigma * (dt / tau).sqrt());
        let bridge = 2.0 / (noise * noise);
        let mut isis = Vec::with_capacity(n_spikes);
        let (mut v, mut age) = (v_r, tau_rp);
        while isis.len() < n_spikes {
            let v_new = v + (mu - v) * drift + noise * rng.normal();
            age += dt;
            let product = (theta - v) * (theta - v_new) * bridge;
            let spike = v_new >= theta || (product < 50.0 && rng.uniform() < (-product).exp());
            if spike {
                isis.push(age);
                (v, age) = (v_r, tau_rp);
            } else {
                v = v_new;
            }
        }
        isis
    }

    /// Mean and coefficient of variation of a sample.
    fn mean_cv(x: &[f64]) -> (f64, f64) {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn monte_carlo_lif_matches_siegert_rate_and_cv() {
        // tau = 10 ms, tau_rp = 2 ms, mu = −56 mV, sigma = 4 mV, theta = −55, V_r = −65.
        let p = (0.002, 0.010, -56.0, 4.0, -55.0, -65.0);
        let (tau_rp, tau, mu, sigma, theta, v_r) = p;
        let rate = siegert_rate(tau_rp, tau, mu, sigma, theta, v_r).unwrap();
        let cv = siegert_cv(tau_rp, tau, mu, sigma, theta, v_r).unwrap();
        let (batches, per_batch) = (20, 1000);
        let isis = simulate_isis(p, tau / 1000.0, batches * per_batch, &mut Rng(12345, None));
        let (mean_isi, cv_mc) = mean_cv(&isis);
        let rate_mc = 1.0 / mean_isi;
        let rate_se = rate_mc * cv_mc / (isis.len() as f64).sqrt();
        let batch_cvs: Vec<f64> = isis.chunks(per_batch).map(|c| mean_cv(c).1).collect();
        let (cv_mean, cv_cv) = mean_cv(&batch_cvs);
        let cv_se = cv_mean * cv_cv / (batches as f64).sqrt();
        println!(
            "MC: rate {rate_mc:.3} ± {rate_se:.3} Hz (theory {rate:.3}), CV {cv_mc:.4} ± {cv_se:.4} (theory {cv:.4})"
        );
        assert!(
            (rate_mc - rate).abs() < 4.0 * rate_se,
            "rate {rate_mc} vs {rate}"
        );
        assert!((cv_mc - cv).abs() < 4.0 * cv_se, "CV {cv_mc} vs {cv}");
        // The other convention, tau dV = … + sigma sqrt(2 tau) dW, would need sigma·sqrt(2)
        // in the formula: far off.
        let rate_alt = siegert_rate(tau_rp, tau, mu, sigma * 2f64.sqrt(), theta, v_r).unwrap();
        assert!(
            (rate_mc - rate_alt).abs() > 20.0 * rate_se,
            "alternative {rate_alt}"
        );
    }

    #[test]
    fn membrane_density_is_the_free_ou_law() {
        // The free SDE tau dV = (mu − V) dt + sigma sqrt(tau) dW (Euler–Maruyama, as in the
        // Monte-Carlo test) has stationary variance sigma²/2: the density's variance.
        let (mu, sigma, tau, dt) = (-60.0, 3.0, 0.01, 1e-5_f64);
        let (lo, hi, n) = (mu - 12.0 * sigma, mu + 12.0 * sigma, 24_000);
        let h = (hi - lo) / n as f64;
        let (mut mass, mut mean, mut second) = (0.0, 0.0, 0.0);
        for i in 0..=n {
            let v = lo + h * i as f64;
            let w = if i == 0 || i == n { 0.5 * h } else { h };
            let p = membrane_density(mu, sigma, v) * w;
            (mass, mean, second) = (mass + p, mean + p * v, second + p * (v - mu).powi(2));
        }
        assert!((mass - 1.0).abs() < 1e-12 && (mean - mu).abs() < 1e-10);
        assert!(rel(second, 0.5 * sigma * sigma) < 1e-12);
        let mut rng = Rng(777, None);
        let (drift, noise) = (dt / tau, sigma * (dt / tau).sqrt());
        let mut v = mu;
        let mut batch_vars = Vec::new();
        for _ in 0..40 {
            let (mut s, mut count) = (0.0, 0.0);
            for step in 0..100_000 {
                v += (mu - v) * drift + noise * rng.normal();
                if step % 100 == 0 {
                    (s, count) = (s + (v - mu).powi(2), count + 1.0);
                }
            }
            batch_vars.push(s / count);
        }
        let (var, var_cv) = mean_cv(&batch_vars);
        let se = var * var_cv / (batch_vars.len() as f64).sqrt();
        // Euler–Maruyama's own bias is + dt/(2 tau) relative (0.05 %).
        assert!(
            (var - second).abs() < 4.0 * se + 1e-3 * second,
            "{var} ± {se} vs {second}"
        );
    }

    // --- input statistics and network --------------------------------------------------

    #[test]
    fn input_stats_special_cases() {
        let n = LifNeuron::default();
        let cond = Synapse::Conductance { a: 2e-3, g: 20.0 };
        // No input: the leak alone.
        let s = input_stats(&n, &cond, 1e3, 0.25, 0.0, 0.0).unwrap();
        assert_eq!((s.tau, s.mu, s.sigma), (n.tau_l, n.e_l, 0.0));
        // Huge input: the leak is negligible, mu → conductance-weighted mean of E_E and E_I.
        let s = input_stats(&n, &cond, 1e3, 0.25, 1e9, 1e9).unwrap();
        let (ge, gi) = (1.0, 20.0 * 0.25);
        assert!((s.mu - (ge * n.e_e + gi * n.e_i) / (ge + gi)).abs() < 1e-6);
        // sigma² = a² K tau Σ r (mu − E)² is exactly tau times the shot-noise variance rate.
        let (r_e, r_i) = (30.0, 20.0);
        let s = input_stats(&n, &cond, 1e3, 0.25, r_e, r_i).unwrap();
        let jumps = 1e3 * r_e * (2e-3 * (s.mu - n.e_e)).powi(2)
            + 0.25e3 * r_i * (20.0 * 2e-3 * (s.mu - n.e_i)).powi(2);
        assert!(rel(s.sigma * s.sigma, s.tau * jumps) < 1e-14);
        // Current-based: balanced input leaves mu at rest; sigma² = tau J² K (r_E + g² γ r_I).
        let cur = Synapse::Current { j: 0.2, g: 4.0 };
        let s = input_stats(&n, &cur, 1e3, 0.25, 10.0, 10.0).unwrap();
        assert!((s.mu - n.e_l).abs() < 1e-12 && s.tau == n.tau_l);
        assert!(
            rel(
                s.sigma * s.sigma,
                n.tau_l * 0.04 * 1e3 * (10.0 + 4.0 * 10.0)
            ) < 1e-14
        );
        // Errors name the parameter.
        let e = input_stats(&n, &cur, -1.0, 0.25, 1.0, 1.0).unwrap_err();
        assert!(e.starts_with("k "), "{e}");
        let e = input_stats(
            &n,
            &Synapse::Current {
                j: f64::NAN,
                g: 1.0,
            },
            1.0,
            0.25,
            1.0,
            1.0,
        );
        assert!(e.unwrap_err().contains("synapse j"));
        let bad = LifNeuron { v_r: -50.0, ..n };
        assert!(
            input_stats(&bad, &cur, 1.0, 0.25, 1.0, 1.0)
                .unwrap_err()
                .contains("v_r")
        );
    }

    #[test]
    fn single_neuron_agrees_with_its_parts() {
        let (n, syn, k, gamma) = paper_network();
        let p = single_neuron(&n, &syn, k, gamma, 60.0, 40.0).unwrap();
        let s = input_stats(&n, &syn, k, gamma, 60.0, 40.0).unwrap();
        let args = (n.tau_rp, s.tau, s.mu, s.sigma, n.theta, n.v_r);
        assert_eq!((p.mu, p.sigma, p.tau), (s.mu, s.sigma, s.tau));
        assert_eq!(
            p.rate,
            siegert_rate(args.0, args.1, args.2, args.3, args.4, args.5).unwrap()
        );
        assert_eq!(
            p.cv,
            siegert_cv(args.0, args.1, args.2, args.3, args.4, args.5).unwrap()
        );
    }

    #[test]
    fn self_consistent_rate_is_a_stable_fixed_point() {
        let (n, syn, k, gamma) = paper_network();
        println!("K = 1e3, a = 2e-3, g = 20, gamma = 1/4 (conductance-based):");
        for x in [0.01, 0.03, 0.05, 0.07, 0.09, 0.11] {
            let nu_x = x / n.tau_rp;
            let p = self_consistent_rate(&n, &syn, k, gamma, nu_x).unwrap();
            let phi = |nu: f64| network_phi(&n, &syn, k, gamma, nu_x, nu).unwrap();
            assert!(
                (phi(p.rate) - p.rate).abs() <= 1e-9 * p.rate,
                "nu_x tau_rp = {x}"
            );
            // Stable: Phi crosses the diagonal from above.
            let h = 1e-4 * p.rate;
            let slope = (phi(p.rate + h) - phi(p.rate - h)) / (2.0 * h);
            assert!(slope < 1.0, "nu_x tau_rp = {x}: Phi' = {slope}");
            println!(
                "  nu_X tau_rp = {x:.2}: nu tau_rp = {:.5}, CV = {:.4}, mu = {:.3} mV, \
                 sigma = {:.3} mV, tau = {:.3} ms, Phi' = {slope:.3}",
                p.rate * n.tau_rp,
                p.cv,
                p.mu,
                p.sigma,
                p.tau * 1e3
            );
        }
    }

    #[test]
    fn self_consistent_rate_current_based_and_quiet_cases() {
        let n = LifNeuron::default();
        // Current-based, inhibition-dominated (g gamma = 1.25 > 1), J ∝ 1/sqrt(K).
        let cur = Synapse::Current { j: 0.2, g: 5.0 };
        let p = self_consistent_rate(&n, &cur, 1e3, 0.25, 20.0).unwrap();
        let s = input_stats(&n, &cur, 1e3, 0.25, 20.0 + p.rate, p.rate).unwrap();
        let phi = siegert_rate(n.tau_rp, s.tau, s.mu, s.sigma, n.theta, n.v_r).unwrap();
        assert!(p.rate > 0.0 && (phi - p.rate).abs() <= 1e-9 * p.rate);
        // No external drive, no recurrent activity: the quiet state (sigma = 0, mu = E_L).
        let cond = Synapse::Conductance { a: 2e-3, g: 20.0 };
        let q = self_consistent_rate(&n, &cond, 1e3, 0.25, 0.0).unwrap();
        assert_eq!(q.rate, 0.0);
        assert!(
            self_consistent_rate(&n, &cond, 1e3, 0.25, -1.0)
                .unwrap_err()
                .contains("nu_x")
        );
    }
}
