//! Hydrodynamic (n → ∞) limit of model H and its first-order finite-n corrections.
//!
//! Implements docs/models.md (model H): the balanced rates `r = −J_s^{-1} h`, the closed-form
//! within-population variances `s_a²(t)`, the means `mu_a(t)` fixed by the balance constraint
//! `E f_a(mu_a + s_a Z) = r_a`, and the O(n^{-1/2}) coefficients (δ, m1, v1, k1) of the
//! rates, means, variances and third cumulants.
//!
//! Conventions: index 0 = E, 1 = I; `j[a][b]` is the magnitude of the coupling onto population
//! `a` from population `b`; `J_s = [[J_EE, −J_EI], [J_IE, −J_II]]`; `sgn_E = +1`, `sgn_I = −1`.
//!
//! Gaussian expectations `E g(mu + s Z)` use a self-computed 96-node Gauss–Hermite rule while
//! `beta·s ≤ 1.5`. For steeper sigmoids (`beta·s > 1.5`) Gauss–Hermite converges slowly (the
//! logistic has poles at distance `π/(beta·s)` from the real `Z` axis: with 96 nodes the error
//! is ~1e-9 at `beta·s = 3` and ~5e-6 at `beta·s = 5`). There the expectation is written in
//! the logistic's own variable: with `y = beta (mu − theta)`, `c = beta s` and `L` a standard
//! logistic variable, `E σ(y + c Z) = P(L < y + c Z) = ∫ σ'(l) Φ((y − l)/c) dl`, and the
//! derivatives are the same integral with Φ replaced by its y-derivatives. The integrand is
//! analytic in the strip |Im l| < π (the poles of σ') whatever c is and decays like e^{−|l|},
//! so the trapezoid rule with a fixed step 0.5 over |l| ≤ 40 (161 nodes) converges
//! exponentially (error ~ e^{−2π·3/0.5}) at any beta·s, and beyond beta·s = 1e3 the asymptotic
//! series in 1/(beta·s) takes over (one Φ and one φ): the cost no longer grows with beta·s
//! (a z-grid of step 0.3/(beta·s) needs ~63·beta·s nodes, which made `theory` take minutes at
//! beta·s = 1e3). All three are accurate to ~1e-13 (tested against a brute-force fine grid,
//! and the trapezoid rule against the series where both apply).
//!
//! The v1/k1 ODEs are linear, `y' = −(k/tau) y + g(t)`, and are stepped by exponential
//! quadrature (the decay exact, the forcing interpolated quadratically), so their step is set
//! by how fast the forcing changes and not by stability: 2e-3·min(tau) while the faster
//! population's transient lasts (t < 20·min(tau)), 2e-3·max(tau) after it. At most ~2e4 steps
//! whatever tau_E / tau_I is (an RK4 step of 2e-3·min(tau) up to 20·max(tau) took
//! 1e4·max(tau)/min(tau) steps).

use crate::numerics::erfcx;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// Index of the excitatory population.
pub const E: usize = 0;
/// Index of the inhibitory population.
pub const I: usize = 1;
const POP: [&str; 2] = ["E", "I"];
/// Sign of each population's outgoing coupling (`sgn_E = +1`, `sgn_I = −1`).
pub const SGN: [f64; 2] = [1.0, -1.0];

/// Number of Gauss–Hermite nodes used for the sigmoid moments.
pub const GH_NODES: usize = 96;
/// Above this `beta·s` the sigmoid moments switch from Gauss–Hermite to the trapezoid rule.
const GH_MAX_BETA_S: f64 = 1.5;
/// Trapezoid step in the logistic variable l (poles at distance π ⇒ error ~ e^{−2π·3/0.5} times
/// the integrand on the strip; below 1e-13 down to beta·s = 1.5, see the brute-force test).
const TRAP_STEP: f64 = 0.5;
/// Half-width of the trapezoid grid in l (the weight σ'(l) < e^{−40} ≈ 4e-18 beyond).
const TRAP_HALF_WIDTH: f64 = 40.0;
/// Absolute tolerance (relative for |mu| > 1) of the mean on the manifold.
const MEAN_TOL: f64 = 1e-13;
/// Step of the v1/k1 ODEs, in units of min(tau) (then of max(tau) once t > 20·min(tau)).
const RK_STEP_PER_TAU: f64 = 2e-3;
/// Beyond this many max(tau) the slow state is stationary to ~e^{-40} and the v1/k1 ODEs
/// are solved exactly with constant forcing.
const FREEZE_TAUS: f64 = 20.0;

/// Parameters of model H needed by the theory. Index 0 = E, 1 = I.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HydroTheoryParams {
    /// Leak time constants tau_a (> 0).
    pub tau: [f64; 2],
    /// Maximal rates of the logistic transfer functions (> 0).
    pub nu_max: [f64; 2],
    /// Slopes of the logistic transfer functions (> 0).
    pub beta: [f64; 2],
    /// Thresholds of the logistic transfer functions.
    pub theta: [f64; 2],
    /// Coupling magnitudes `J_ab ≥ 0`, `j[a][b]`: a receiving, b sending
    /// (`[[J_EE, J_EI], [J_IE, J_II]]`).
    pub j: [[f64; 2]; 2],
    /// External drive h_a (scaled by sqrt(n) in the network).
    pub h: [f64; 2],
    /// O(1) offsets m_a.
    pub m: [f64; 2],
    /// Mean of the i.i.d. Gaussian initial state (only enters the initial layer, ignored here).
    pub x0_mean: [f64; 2],
    /// Standard deviation of the i.i.d. Gaussian initial state (≥ 0).
    pub x0_sd: [f64; 2],
}

impl HydroTheoryParams {
    /// The defaults (docs/models.md, model H): tau = nu_max = beta = 1, theta = m = 0,
    /// J = [[1, 2], [2, 1.5]], h from r = (0.3, 0.45) (h = (0.6, 0.075)), x(0) ~ N(0, 0.5²).
    pub fn model_defaults() -> Self {
        let j = [[1.0, 2.0], [2.0, 1.5]];
        Self {
            tau: [1.0; 2],
            nu_max: [1.0; 2],
            beta: [1.0; 2],
            theta: [0.0; 2],
            j,
            h: h_from_rates(&j, [0.3, 0.45]),
            m: [0.0; 2],
            x0_mean: [0.0; 2],
            x0_sd: [0.5; 2],
        }
    }

    /// The near-singular set (docs/models.md, model H): defaults with J = [[1, 2], [1, 1.8]] and
    /// h from r = (0.3, 0.4) (det J_s = 0.2).
    pub fn near_singular() -> Self {
        let j = [[1.0, 2.0], [1.0, 1.8]];
        Self {
            j,
            h: h_from_rates(&j, [0.3, 0.4]),
            ..Self::model_defaults()
        }
    }

    /// Returns a copy whose drive h is set from target rates r (`h = −J_s r`).
    pub fn with_rates(self, r: [f64; 2]) -> Self {
        Self {
            h: h_from_rates(&self.j, r),
            ..self
        }
    }

    /// `J_s = [[J_EE, −J_EI], [J_IE, −J_II]]`.
    pub fn j_s(&self) -> [[f64; 2]; 2] {
        j_s(&self.j)
    }

    /// `det J_s = J_EI·J_IE − J_EE·J_II`.
    pub fn det_j_s(&self) -> f64 {
        det(&self.j_s())
    }

    /// Checks that every parameter is finite and in its domain (tau, nu_max, beta > 0;
    /// J ≥ 0; x0_sd ≥ 0).
    pub fn validate(&self) -> Result<(), TheoryError> {
        for (a, pa) in POP.iter().enumerate() {
            positive(&format!("tau_{pa}"), self.tau[a])?;
            positive(&format!("nu_max_{pa}"), self.nu_max[a])?;
            positive(&format!("beta_{pa}"), self.beta[a])?;
            finite(&format!("theta_{pa}"), self.theta[a])?;
            finite(&format!("h_{pa}"), self.h[a])?;
            finite(&format!("m_{pa}"), self.m[a])?;
            finite(&format!("x0_mean_{pa}"), self.x0_mean[a])?;
            non_negative(&format!("x0_sd_{pa}"), self.x0_sd[a])?;
            for (b, pb) in POP.iter().enumerate() {
                non_negative(&format!("J_{pa}{pb}"), self.j[a][b])?;
            }
        }
        Ok(())
    }
}

impl Default for HydroTheoryParams {
    fn default() -> Self {
        Self::model_defaults()
    }
}

/// Why the theory has no (stable) answer for the given parameters.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TheoryError {
    /// A parameter is non-finite or outside its domain.
    #[error("invalid parameter {name} = {}: must be {requirement}", num(*.value))]
    InvalidParameter {
        name: String,
        value: f64,
        requirement: &'static str,
    },
    /// `det J_s ≤ 0`.
    #[error(
        "det J_s = {} <= 0: the balanced state is unstable (needs J_EI*J_IE > J_EE*J_II; \
         here J_EI*J_IE = {}, J_EE*J_II = {})",
        num(*.det), num(*.ei_ie), num(*.ee_ii)
    )]
    DetNotPositive { det: f64, ei_ie: f64, ee_ii: f64 },
    /// The balanced rate `r = −J_s^{-1} h` is not in `(0, nu_max)`.
    #[error(
        "balanced rate r_{pop} = {} is outside (0, nu_max_{pop} = {}): \
         no balanced state for this drive h",
        num(*.rate), num(*.nu_max)
    )]
    RateOutOfRange {
        pop: &'static str,
        rate: f64,
        nu_max: f64,
    },
    /// `J_EE E f'_E ≥ J_II E f'_I`: the fast mean dynamics do not contract.
    #[error(
        "J_EE*E f'_E = {} >= J_II*E f'_I = {}: the balanced state is unstable \
         (needs J_EE E f'_E < J_II E f'_I; at mu = [{}, {}], s^2 = [{}, {}])",
        num(*.ee), num(*.ii), num(.mu[0]), num(.mu[1]), num(.var[0]), num(.var[1])
    )]
    TraceNotNegative {
        ee: f64,
        ii: f64,
        mu: [f64; 2],
        var: [f64; 2],
    },
    /// The balance constraint `E f_a(mu + s Z) = r_a` has no solution or the root finder
    /// failed.
    #[error(
        "no mean mu_{pop} solves E f_{pop}(mu + s Z) = {} at s^2 = {}: {reason}",
        num(*.rate), num(*.var)
    )]
    NoManifoldSolution {
        pop: &'static str,
        rate: f64,
        var: f64,
        reason: &'static str,
    },
}

/// A number rounded to 12 significant digits for messages (so 2 − 2.3 prints as −0.3).
fn num(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let e = x.abs().log10().floor() as i32;
    let scale = 10f64.powi(11 - e);
    let r = (x * scale).round() / scale;
    if r.is_finite() { r } else { x }
}

fn finite(name: &str, value: f64) -> Result<(), TheoryError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(TheoryError::InvalidParameter {
            name: name.to_string(),
            value,
            requirement: "finite",
        })
    }
}

fn positive(name: &str, value: f64) -> Result<(), TheoryError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(TheoryError::InvalidParameter {
            name: name.to_string(),
            value,
            requirement: "finite and > 0",
        })
    }
}

fn non_negative(name: &str, value: f64) -> Result<(), TheoryError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(TheoryError::InvalidParameter {
            name: name.to_string(),
            value,
            requirement: "finite and >= 0",
        })
    }
}

fn j_s(j: &[[f64; 2]; 2]) -> [[f64; 2]; 2] {
    [[j[0][0], -j[0][1]], [j[1][0], -j[1][1]]]
}

fn det(m: &[[f64; 2]; 2]) -> f64 {
    m[0][0] * m[1][1] - m[0][1] * m[1][0]
}

/// Solves `m x = v` for a 2×2 matrix (Cramer's rule; NaN/inf if singular).
fn solve2(m: &[[f64; 2]; 2], v: [f64; 2]) -> [f64; 2] {
    let d = det(m);
    [
        (m[1][1] * v[0] - m[0][1] * v[1]) / d,
        (m[0][0] * v[1] - m[1][0] * v[0]) / d,
    ]
}

fn det_check(j: &[[f64; 2]; 2]) -> Result<(), TheoryError> {
    let d = det(&j_s(j));
    if d > 0.0 {
        Ok(())
    } else {
        Err(TheoryError::DetNotPositive {
            det: d,
            ei_ie: j[0][1] * j[1][0],
            ee_ii: j[0][0] * j[1][1],
        })
    }
}

/// External drive giving the balanced rates r: `h = −J_s r`.
pub fn h_from_rates(j: &[[f64; 2]; 2], r: [f64; 2]) -> [f64; 2] {
    let js = j_s(j);
    [
        -(js[0][0] * r[0] + js[0][1] * r[1]),
        -(js[1][0] * r[0] + js[1][1] * r[1]),
    ]
}

/// `r = −J_s^{-1} h` without any check (NaN/inf if J_s is singular).
fn rates_unchecked(p: &HydroTheoryParams) -> [f64; 2] {
    let r = solve2(&p.j_s(), p.h);
    [-r[0], -r[1]]
}

/// The balanced population rates `r = −J_s^{-1} h`. Errors if a parameter is invalid, if
/// `det J_s ≤ 0`, or unless `0 < r_b < nu_max_b` for both populations.
pub fn balanced_rates(p: &HydroTheoryParams) -> Result<[f64; 2], TheoryError> {
    p.validate()?;
    det_check(&p.j)?;
    let r = rates_unchecked(p);
    for b in 0..2 {
        if !(r[b] > 0.0 && r[b] < p.nu_max[b]) {
            return Err(TheoryError::RateOutOfRange {
                pop: POP[b],
                rate: r[b],
                nu_max: p.nu_max[b],
            });
        }
    }
    Ok(r)
}

/// Checks that the balanced state is stable at the Gaussian state N(mu_a, var_a):
/// `det J_s > 0` and `J_EE E f'_E < J_II E f'_I` (the fast mean dynamics
/// `sqrt(n) J_s diag(E f') δmu` contract).
pub fn check_stability(
    p: &HydroTheoryParams,
    mu: [f64; 2],
    var: [f64; 2],
) -> Result<(), TheoryError> {
    p.validate()?;
    det_check(&p.j)?;
    let mut df = [0.0; 2];
    for a in 0..2 {
        df[a] = sigmoid_moments(p, a, mu[a], var[a])?.df;
    }
    trace_check(p, mu, var, df)
}

fn trace_check(
    p: &HydroTheoryParams,
    mu: [f64; 2],
    var: [f64; 2],
    df: [f64; 2],
) -> Result<(), TheoryError> {
    let ee = p.j[0][0] * df[0];
    let ii = p.j[1][1] * df[1];
    if ee < ii {
        Ok(())
    } else {
        Err(TheoryError::TraceNotNegative { ee, ii, mu, var })
    }
}

// ------------------------------------------------------------------------------------------
// Gaussian expectations of the logistic sigmoid and its derivatives.

/// A Gauss–Hermite rule for `E g(Z)`, `Z ~ N(0, 1)` (probabilists' nodes; weights sum to 1).
#[derive(Debug, Clone)]
pub struct GaussHermite {
    /// Nodes, in decreasing order.
    pub nodes: Vec<f64>,
    /// Weights (sum to 1).
    pub weights: Vec<f64>,
}

impl GaussHermite {
    /// The `n`-point rule, computed by Newton's method on the orthonormal Hermite recurrence
    /// (initial guesses as in Numerical Recipes' `gauher`). Valid for `1 ≤ n ≤ 150`;
    /// panics otherwise (the recurrence overflows for n ≳ 200).
    pub fn new(n: usize) -> Self {
        assert!(
            (1..=150).contains(&n),
            "Gauss-Hermite rule with {n} nodes: supported are 1..=150"
        );
        let nf = n as f64;
        let mut x = vec![0.0; n];
        let mut w = vec![0.0; n];
        let mut z = 0.0_f64;
        for i in 0..n.div_ceil(2) {
            z = match i {
                0 => (2.0 * nf + 1.0).sqrt() - 1.85575 * (2.0 * nf + 1.0).powf(-1.0 / 6.0),
                1 => z - 1.14 * nf.powf(0.426) / z,
                2 => 1.86 * z - 0.86 * x[0],
                3 => 1.91 * z - 0.91 * x[1],
                _ => 2.0 * z - x[i - 2],
            };
            let mut pp = 1.0;
            for _ in 0..100 {
                let (p1, p2) = hermite_orthonormal(n, z);
                pp = (2.0 * nf).sqrt() * p2;
                let z1 = z;
                z = z1 - p1 / pp;
                if (z - z1).abs() <= 1e-15 * z.abs().max(1.0) {
                    break;
                }
            }
            // Recompute the derivative at the converged node for the weight.
            let (_, p2) = hermite_orthonormal(n, z);
            pp = if p2 != 0.0 {
                (2.0 * nf).sqrt() * p2
            } else {
                pp
            };
            x[i] = z;
            x[n - 1 - i] = -z;
            w[i] = 2.0 / (pp * pp);
            w[n - 1 - i] = w[i];
        }
        if n % 2 == 1 {
            x[n / 2] = 0.0;
        }
        // Physicists' (weight e^{-x²}) → probabilists' (weight φ(z)).
        let nodes = x.iter().map(|v| v * std::f64::consts::SQRT_2).collect();
        let sqrt_pi = std::f64::consts::PI.sqrt();
        let weights = w.iter().map(|v| v / sqrt_pi).collect();
        Self { nodes, weights }
    }

    /// `E g(Z)` by this rule.
    pub fn expect(&self, mut g: impl FnMut(f64) -> f64) -> f64 {
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(&z, &w)| w * g(z))
            .sum()
    }
}

/// Orthonormal Hermite values (without the e^{-x²/2} factor): returns (p_n(z), p_{n-1}(z)).
fn hermite_orthonormal(n: usize, z: f64) -> (f64, f64) {
    const PI_M4: f64 = 0.751_125_544_464_942_5; // π^{-1/4}
    let mut p1 = PI_M4;
    let mut p2 = 0.0;
    for j in 0..n {
        let p3 = p2;
        p2 = p1;
        let jf = j as f64;
        p1 = z * (2.0 / (jf + 1.0)).sqrt() * p2 - (jf / (jf + 1.0)).sqrt() * p3;
    }
    (p1, p2)
}

fn gh_rule() -> &'static GaussHermite {
    static RULE: OnceLock<GaussHermite> = OnceLock::new();
    RULE.get_or_init(|| GaussHermite::new(GH_NODES))
}

/// `E f`, `E f'`, `E f''`, `E f'''` of a logistic f over a Gaussian argument.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SigmoidMoments {
    /// `E f(mu + s Z)`.
    pub f: f64,
    /// `E f'(mu + s Z)` (= d/dmu of `f`).
    pub df: f64,
    /// `E f''(mu + s Z)` (= 2 d/d(s²) of `f`).
    pub d2f: f64,
    /// `E f'''(mu + s Z)`.
    pub d3f: f64,
}

/// Logistic `nu_max σ(beta (x − theta))` and its first three derivatives at one point.
#[inline]
fn logistic_derivs(nu_max: f64, beta: f64, y: f64) -> [f64; 4] {
    let e = (-y.abs()).exp();
    let inv = 1.0 / (1.0 + e);
    let (s, c) = if y >= 0.0 {
        (inv, e * inv)
    } else {
        (e * inv, inv)
    }; // σ, 1 − σ
    let sc = s * c;
    [
        nu_max * s,
        nu_max * beta * sc,
        nu_max * beta * beta * sc * (c - s),
        nu_max * beta * beta * beta * sc * (1.0 - 6.0 * sc),
    ]
}

/// `E f^{(k)}(mu + sd·Z)`, k = 0..3, `Z ~ N(0, 1)`, for `f(x) = nu_max / (1 + e^{−beta (x −
/// theta)})`. Gauss–Hermite (96 nodes) for `beta·sd ≤ 1.5`, the trapezoid rule in the
/// logistic's variable beyond (see the module docs): 161 nodes at most whatever beta·sd is. `sd`
/// must be ≥ 0.
pub fn logistic_gauss_moments(
    nu_max: f64,
    beta: f64,
    theta: f64,
    mu: f64,
    sd: f64,
) -> SigmoidMoments {
    let mut acc = [0.0; 4];
    let mut add = |w: f64, z: f64| {
        let d = logistic_derivs(nu_max, beta, beta * (mu + sd * z - theta));
        for (a, v) in acc.iter_mut().zip(d) {
            *a += w * v;
        }
    };
    let bs = beta * sd;
    if bs.is_nan() || bs <= GH_MAX_BETA_S {
        let rule = gh_rule();
        for (&z, &w) in rule.nodes.iter().zip(&rule.weights) {
            add(w, z);
        }
    } else {
        let y = beta * (mu - theta);
        return if bs >= ASYMPTOTIC_BETA_S {
            logistic_gauss_moments_asymptotic(nu_max, beta, y, bs)
        } else {
            logistic_gauss_moments_steep(nu_max, beta, y, bs)
        };
    }
    SigmoidMoments {
        f: acc[0],
        df: acc[1],
        d2f: acc[2],
        d3f: acc[3],
    }
}

/// The trapezoid nodes l_k = k·TRAP_STEP, |l_k| ≤ TRAP_HALF_WIDTH, with weights
/// TRAP_STEP·σ'(l_k) (they sum to 1 − O(e^{−40})).
fn logistic_rule() -> &'static [(f64, f64)] {
    static RULE: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    RULE.get_or_init(|| {
        let k_max = (TRAP_HALF_WIDTH / TRAP_STEP).round() as i64;
        (-k_max..=k_max)
            .map(|k| {
                let l = k as f64 * TRAP_STEP;
                let e = (-l.abs()).exp();
                (l, TRAP_STEP * e / ((1.0 + e) * (1.0 + e)))
            })
            .collect()
    })
}

/// `E f^{(k)}` for `c = beta·s > 1.5` (see the module docs), `y = beta (mu − theta)`,
/// `w = (y − l)/c`: `E f = nu ∫ σ'(l) Φ(w) dl`, `E f' = nu beta ∫ σ'(l) φ(w)/c dl`,
/// `E f'' = −nu beta² ∫ σ'(l) w φ(w)/c² dl`, `E f''' = nu beta³ ∫ σ'(l) (w² − 1) φ(w)/c³ dl`,
/// by the trapezoid rule of [`logistic_rule`]: a fixed node count.
fn logistic_gauss_moments_steep(nu_max: f64, beta: f64, y: f64, c: f64) -> SigmoidMoments {
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    let mut acc = [0.0; 4];
    for &(l, w_l) in logistic_rule() {
        let w = (y - l) / c;
        // Φ(w) from the scaled complement (accurate to ~1e-15 in both tails; statrs' erfc is
        // off by ~1e-12 near |w| = 2): Φ(−|w|) = ½ erfcx(|w|/√2) e^{−w²/2}.
        let gauss = (-0.5 * w * w).exp();
        let tail = 0.5 * erfcx(w.abs() * std::f64::consts::FRAC_1_SQRT_2) * gauss;
        let big_phi = if w < 0.0 { tail } else { 1.0 - tail };
        let phi = INV_SQRT_2PI * gauss;
        acc[0] += w_l * big_phi;
        acc[1] += w_l * phi;
        acc[2] -= w_l * w * phi;
        acc[3] += w_l * (w * w - 1.0) * phi;
    }
    let bc = beta / c;
    SigmoidMoments {
        f: nu_max * acc[0],
        df: nu_max * bc * acc[1],
        d2f: nu_max * bc * bc * acc[2],
        d3f: nu_max * bc * bc * bc * acc[3],
    }
}

/// Above this `beta·s` the moments use the asymptotic series in 1/(beta·s)
/// ([`logistic_gauss_moments_asymptotic`], error ~2·He_8/c⁶ < 1e-16 of each moment's scale
/// here) instead of the trapezoid rule.
const ASYMPTOTIC_BETA_S: f64 = 1e3;

/// `E f^{(k)}` for `c = beta·s ≥ ASYMPTOTIC_BETA_S`: with `u = y/c` and L logistic,
/// `E g(u − L/c) = g(u) + (π²/6) g''(u)/c² + (7π⁴/360) g''''(u)/c⁴ + O(c⁻⁶)` (the even
/// moments of L are π²/3 and 7π⁴/15), for g = Φ, φ, φ', φ'' (times nu (beta/c)^k).
fn logistic_gauss_moments_asymptotic(nu_max: f64, beta: f64, y: f64, c: f64) -> SigmoidMoments {
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    let pi2 = std::f64::consts::PI * std::f64::consts::PI;
    let (a2, a4) = (
        pi2 / 6.0 / (c * c),
        7.0 * pi2 * pi2 / 360.0 / (c * c * c * c),
    );
    let u = y / c;
    let gauss = (-0.5 * u * u).exp();
    let tail = 0.5 * erfcx(u.abs() * std::f64::consts::FRAC_1_SQRT_2) * gauss;
    let big_phi = if u < 0.0 { tail } else { 1.0 - tail };
    let phi = INV_SQRT_2PI * gauss;
    let u2 = u * u;
    // φ^{(k)} = (−1)^k He_k(u) φ(u), k = 1..6.
    let d1 = -u;
    let d2 = u2 - 1.0;
    let d3 = -u * (u2 - 3.0);
    let d4 = u2 * u2 - 6.0 * u2 + 3.0;
    let d5 = -u * (u2 * u2 - 10.0 * u2 + 15.0);
    let d6 = u2 * u2 * u2 - 15.0 * u2 * u2 + 45.0 * u2 - 15.0;
    let bc = beta / c;
    SigmoidMoments {
        f: nu_max * (big_phi + phi * (a2 * d1 + a4 * d3)),
        df: nu_max * bc * phi * (1.0 + a2 * d2 + a4 * d4),
        d2f: nu_max * bc * bc * phi * (d1 + a2 * d3 + a4 * d5),
        d3f: nu_max * bc * bc * bc * phi * (d2 + a2 * d4 + a4 * d6),
    }
}

fn moments_unchecked(p: &HydroTheoryParams, a: usize, mu: f64, var: f64) -> SigmoidMoments {
    logistic_gauss_moments(p.nu_max[a], p.beta[a], p.theta[a], mu, var.max(0.0).sqrt())
}

/// `E f_a^{(k)}(mu + s Z)`, k = 0..3, with `s² = var` (population `a`: 0 = E, 1 = I;
/// panics if a > 1). Errors if mu is not finite or var is not finite and ≥ 0.
pub fn sigmoid_moments(
    p: &HydroTheoryParams,
    a: usize,
    mu: f64,
    var: f64,
) -> Result<SigmoidMoments, TheoryError> {
    finite(&format!("mu_{}", POP[a]), mu)?;
    non_negative(&format!("s^2_{}", POP[a]), var)?;
    Ok(moments_unchecked(p, a, mu, var))
}

// ------------------------------------------------------------------------------------------
// Variances and means in the limit.

/// `D_a = J_aE² r_E + J_aI² r_I`.
fn diffusion(p: &HydroTheoryParams, r: [f64; 2], a: usize) -> f64 {
    p.j[a][0] * p.j[a][0] * r[0] + p.j[a][1] * p.j[a][1] * r[1]
}

/// `s_a²(t)` and `d s_a²/dt` given the rates.
fn variance_and_slope(p: &HydroTheoryParams, r: [f64; 2], a: usize, t: f64) -> (f64, f64) {
    let d = diffusion(p, r, a);
    let s0 = p.x0_sd[a] * p.x0_sd[a];
    let x = 2.0 * t / p.tau[a];
    let decay = (-x).exp();
    let var = s0 * decay - 0.5 * p.tau[a] * d * (-x).exp_m1();
    (var, -2.0 * var / p.tau[a] + d)
}

/// The limit variance of population `a` (0 = E, 1 = I; panics if a > 1):
/// `s_a²(t) = s_a²(0) e^{−2t/tau_a} + (tau_a D_a/2)(1 − e^{−2t/tau_a})`,
/// `D_a = J_aE² r_E + J_aI² r_I`, `s_a²(0) = x0_sd_a²`. Uses `r = −J_s^{-1} h` unchecked
/// (call [`balanced_rates`] to validate; NaN if J_s is singular).
pub fn variance_limit(p: &HydroTheoryParams, a: usize, t: f64) -> f64 {
    variance_and_slope(p, rates_unchecked(p), a, t).0
}

/// The mean `mu` with `E f_a(mu + s Z) = r_a`, `s² = var`: the balance constraint (population
/// `a`: 0 = E, 1 = I; panics if a > 1). Bracketing (expanded from a logistic-probit guess)
/// and safeguarded Newton to 1e-13. Errors unless `0 < r_a < nu_max_a`, var ≥ 0.
pub fn mean_on_manifold(
    p: &HydroTheoryParams,
    a: usize,
    var: f64,
    r_a: f64,
) -> Result<f64, TheoryError> {
    positive(&format!("nu_max_{}", POP[a]), p.nu_max[a])?;
    positive(&format!("beta_{}", POP[a]), p.beta[a])?;
    finite(&format!("theta_{}", POP[a]), p.theta[a])?;
    non_negative(&format!("s^2_{}", POP[a]), var)?;
    solve_mean(p, a, var, r_a, None)
}

/// Initial guess from the probit approximation of the Gaussian-smoothed logistic.
fn mean_guess(p: &HydroTheoryParams, a: usize, var: f64, r_a: f64) -> f64 {
    let q = r_a / p.nu_max[a];
    let beta = p.beta[a];
    let beta_eff = beta / (1.0 + std::f64::consts::PI * beta * beta * var / 8.0).sqrt();
    p.theta[a] + (q / (1.0 - q)).ln() / beta_eff
}

fn solve_mean(
    p: &HydroTheoryParams,
    a: usize,
    var: f64,
    r_a: f64,
    guess: Option<f64>,
) -> Result<f64, TheoryError> {
    let fail = |reason| TheoryError::NoManifoldSolution {
        pop: POP[a],
        rate: r_a,
        var,
        reason,
    };
    if !(r_a > 0.0 && r_a < p.nu_max[a]) {
        return Err(fail("the target rate must lie in (0, nu_max)"));
    }
    let g = |mu: f64| {
        let m = moments_unchecked(p, a, mu, var);
        (m.f - r_a, m.df)
    };
    let mut x = match guess {
        Some(m) if m.is_finite() => m,
        _ => mean_guess(p, a, var, r_a),
    };
    if !x.is_finite() {
        return Err(fail("the initial guess is not finite"));
    }
    let (mut gx, mut dgx) = g(x);
    if gx == 0.0 {
        return Ok(x);
    }
    // Bracket: step against the sign of g, doubling the step; a point still on the same
    // side becomes the new anchor.
    // E f(mu + sZ) changes on the scale of 1/beta or of s, whichever is larger.
    let scale = 1.0 / p.beta[a] + var.sqrt();
    let mut step = if guess.is_some() { 0.05 } else { 0.5 } * scale;
    let mut other = None;
    for _ in 0..200 {
        let y = if gx > 0.0 { x - step } else { x + step };
        if !y.is_finite() {
            break;
        }
        let (gy, dgy) = g(y);
        if gy == 0.0 {
            return Ok(y);
        }
        if gy.signum() != gx.signum() {
            other = Some(y);
            break;
        }
        (x, gx, dgx) = (y, gy, dgy);
        step *= 2.0;
    }
    let Some(y) = other else {
        return Err(fail("could not bracket the root"));
    };
    let (mut lo, mut hi) = if gx < 0.0 { (x, y) } else { (y, x) };
    // Safeguarded Newton (rtsafe).
    for _ in 0..300 {
        let newton = x - gx / dgx;
        let next = if dgx > 0.0 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        let dx = next - x;
        x = next;
        (gx, dgx) = g(x);
        if gx == 0.0 {
            return Ok(x);
        }
        if gx < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let tol = MEAN_TOL * x.abs().max(1.0);
        if dx.abs() <= tol || hi - lo <= tol {
            return Ok(x);
        }
    }
    Err(fail("the root finder did not converge"))
}

// ------------------------------------------------------------------------------------------
// First-order finite-n corrections.

/// The limit and its first-order finite-n coefficients at one time: a simulated moment is
/// approximately `limit + coefficient / sqrt(n)`. Index 0 = E, 1 = I.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TheoryPoint {
    /// Time (infinite for the steady state).
    pub t: f64,
    /// Limit means `mu_a(t)` (on the balance manifold).
    pub mu: [f64; 2],
    /// Limit variances `s_a²(t)`.
    pub var: [f64; 2],
    /// Limit rates `r_a` (constant in time).
    pub rate: [f64; 2],
    /// Rate coefficients: rate ≈ r + δ/√n, `δ = J_s^{-1}(c − m)`.
    pub delta: [f64; 2],
    /// Mean coefficients: mean ≈ mu + m1/√n.
    pub m1: [f64; 2],
    /// Variance coefficients: var ≈ s² + v1/√n.
    pub v1: [f64; 2],
    /// Third-cumulant coefficients: κ3 ≈ k1/√n.
    pub k1: [f64; 2],
}

/// Everything along the limit trajectory that does not depend on v1, k1.
#[derive(Debug, Clone, Copy)]
struct SlowState {
    mu: [f64; 2],
    var: [f64; 2],
    mom: [SigmoidMoments; 2],
    delta: [f64; 2],
    /// Forcing of the v1 ODE: `Σ_b J_ab² δ_b − 2 sgn_a J_aa s_a² E f_a'`.
    force_v: [f64; 2],
    /// Forcing of the k1 ODE: `J_aE³ r_E − J_aI³ r_I − 3 sgn_a J_aa s_a⁴ E f_a''`.
    force_k: [f64; 2],
}

/// Time derivative of the mean on the manifold:
/// `dmu/dt = −(½ E f'') (ds²/dt) / E f'` (from differentiating `E f(mu + sZ) = r`).
fn dmu_dt(mom: &SigmoidMoments, dvar: f64) -> f64 {
    -0.5 * mom.d2f * dvar / mom.df
}

/// Builds the slow state from (mu, var, dvar) per population.
fn slow_from(
    p: &HydroTheoryParams,
    r: [f64; 2],
    mu: [f64; 2],
    var: [f64; 2],
    dvar: [f64; 2],
) -> SlowState {
    let mom = [
        moments_unchecked(p, 0, mu[0], var[0]),
        moments_unchecked(p, 1, mu[1], var[1]),
    ];
    let c: [f64; 2] = std::array::from_fn(|a| dmu_dt(&mom[a], dvar[a]) + mu[a] / p.tau[a]);
    let delta = solve2(&p.j_s(), [c[0] - p.m[0], c[1] - p.m[1]]);
    let jj = &p.j;
    let force_v = std::array::from_fn(|a| {
        jj[a][0] * jj[a][0] * delta[0] + jj[a][1] * jj[a][1] * delta[1]
            - 2.0 * SGN[a] * jj[a][a] * var[a] * mom[a].df
    });
    let force_k = std::array::from_fn(|a| {
        jj[a][0].powi(3) * r[0]
            - jj[a][1].powi(3) * r[1]
            - 3.0 * SGN[a] * jj[a][a] * var[a] * var[a] * mom[a].d2f
    });
    SlowState {
        mu,
        var,
        mom,
        delta,
        force_v,
        force_k,
    }
}

fn slow_at(
    p: &HydroTheoryParams,
    r: [f64; 2],
    t: f64,
    guess: Option<[f64; 2]>,
) -> Result<SlowState, TheoryError> {
    let mut mu = [0.0; 2];
    let mut var = [0.0; 2];
    let mut dvar = [0.0; 2];
    for a in 0..2 {
        (var[a], dvar[a]) = variance_and_slope(p, r, a, t);
        mu[a] = solve_mean(p, a, var[a], r[a], guess.map(|g| g[a]))?;
    }
    Ok(slow_from(p, r, mu, var, dvar))
}

fn slow_steady(p: &HydroTheoryParams, r: [f64; 2]) -> Result<SlowState, TheoryError> {
    let mut mu = [0.0; 2];
    let mut var = [0.0; 2];
    for a in 0..2 {
        var[a] = 0.5 * p.tau[a] * diffusion(p, r, a);
        mu[a] = solve_mean(p, a, var[a], r[a], None)?;
    }
    Ok(slow_from(p, r, mu, var, [0.0; 2]))
}

/// Assembles a [`TheoryPoint`], with `m1_a = (δ_a − ½ E f_a'' v1_a − (1/6) E f_a''' k1_a) /
/// E f_a'`.
fn point(t: f64, r: [f64; 2], s: &SlowState, v1: [f64; 2], k1: [f64; 2]) -> TheoryPoint {
    let m1 = std::array::from_fn(|a| {
        let m = &s.mom[a];
        (s.delta[a] - 0.5 * m.d2f * v1[a] - m.d3f * k1[a] / 6.0) / m.df
    });
    TheoryPoint {
        t,
        mu: s.mu,
        var: s.var,
        rate: r,
        delta: s.delta,
        m1,
        v1,
        k1,
    }
}

/// The limit and first-order coefficients at the requested times (each finite and ≥ 0, any
/// order; the output follows the input order).
///
/// The means sit on the balance manifold from t = 0 on: the initial layer of duration
/// O(n^{-1/2}) that brings x0_mean onto it is not resolved, and the one-off kick it gives v1
/// (docs/models.md: `v1(0+) = ∫_layer Σ_b J_ab² (R_b − r_b) ds`) is ignored: v1(0) = k1(0) = 0.
/// The kick decays like e^{−2t/tau} and is forgotten at steady state. The v1 and k1 ODEs
/// are stepped by exponential quadrature (`exp_quadrature_step`) with step ≈ 2e-3·min(tau)
/// up to t = 20·min(tau) and ≈ 2e-3·max(tau) after it; beyond t = 20·max(tau) the slow state
/// is stationary (to ~e^{−40}) and they are solved exactly with constant forcing. The work is
/// at most ~2e4 steps plus one per requested time, whatever the tau ratio.
///
/// Errors: invalid parameters, no balanced state, or an unstable one at any requested time.
pub fn trajectory(p: &HydroTheoryParams, times: &[f64]) -> Result<Vec<TheoryPoint>, TheoryError> {
    let r = balanced_rates(p)?;
    for (i, &t) in times.iter().enumerate() {
        non_negative(&format!("times[{i}]"), t)?;
    }
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&x, &y| times[x].total_cmp(&times[y]));

    let tau_min = p.tau[0].min(p.tau[1]);
    let tau_max = p.tau[0].max(p.tau[1]);
    let t_freeze = FREEZE_TAUS * tau_max;
    // The faster population's transient is over (to ~e^{−40}) at t_fast; beyond, the forcing
    // changes on the scale of the slower tau only.
    let t_fast = FREEZE_TAUS * tau_min;
    let h_fast = RK_STEP_PER_TAU * tau_min;
    let h_slow = RK_STEP_PER_TAU * tau_max;

    let mut out: Vec<Option<TheoryPoint>> = vec![None; times.len()];
    let mut t = 0.0;
    let mut state = slow_at(p, r, 0.0, None)?;
    let mut v1 = [0.0; 2];
    let mut k1 = [0.0; 2];
    let mut steady: Option<SlowState> = None;

    for &idx in &order {
        let target = times[idx];
        // Stepped part, up to min(target, t_freeze): steps of h_fast below t_fast, of h_slow
        // beyond (at most 1e4 of each, plus one per requested time).
        let t_end = target.min(t_freeze);
        for (seg_end, h_max) in [(t_end.min(t_fast), h_fast), (t_end, h_slow)] {
            if seg_end <= t {
                continue;
            }
            let steps = ((seg_end - t) / h_max).ceil().max(1.0) as usize;
            let h = (seg_end - t) / steps as f64;
            for k in 0..steps {
                let t1 = if k + 1 == steps { seg_end } else { t + h };
                let hh = t1 - t;
                let mid = slow_at(p, r, t + 0.5 * hh, Some(state.mu))?;
                let end = slow_at(p, r, t1, Some(mid.mu))?;
                for a in 0..2 {
                    v1[a] = exp_quadrature_step(
                        v1[a],
                        2.0 / p.tau[a],
                        [state.force_v[a], mid.force_v[a], end.force_v[a]],
                        hh,
                    );
                    k1[a] = exp_quadrature_step(
                        k1[a],
                        3.0 / p.tau[a],
                        [state.force_k[a], mid.force_k[a], end.force_k[a]],
                        hh,
                    );
                }
                t = t1;
                state = end;
            }
        }
        // Exact part beyond t_freeze: constant forcing at the steady state.
        if target > t {
            let ss = match steady {
                Some(s) => s,
                None => {
                    let s = slow_steady(p, r)?;
                    steady = Some(s);
                    s
                }
            };
            let dt = target - t;
            for a in 0..2 {
                let v_star = 0.5 * p.tau[a] * ss.force_v[a];
                let k_star = p.tau[a] / 3.0 * ss.force_k[a];
                v1[a] = v_star + (v1[a] - v_star) * (-2.0 * dt / p.tau[a]).exp();
                k1[a] = k_star + (k1[a] - k_star) * (-3.0 * dt / p.tau[a]).exp();
            }
            t = target;
            state = slow_at(p, r, t, Some(ss.mu))?;
        }
        trace_check(p, state.mu, state.var, [state.mom[0].df, state.mom[1].df])?;
        out[idx] = Some(point(target, r, &state, v1, k1));
    }
    Ok(out.into_iter().flatten().collect())
}

/// One step of `y' = −k y + g(t)` with g given at the start, middle and end of the step:
/// `y(h) = e^{−kh} y(0) + ∫_0^h e^{−k(h−u)} g(u) du` with g replaced by its quadratic
/// interpolant, exact for the decay at any k·h (so the step needs no stability bound) and
/// Simpson's rule as k·h → 0.
fn exp_quadrature_step(y: f64, k: f64, g: [f64; 3], h: f64) -> f64 {
    let z = k * h;
    // I_j = ∫_0^1 s^j e^{−z(1−s)} ds.
    let (i0, i1, i2) = if z < 1.0 {
        // I_j = Σ_m (−z)^m j! / (j + m + 1)!: |terms| ≤ 1/(m+1)!, 25 terms reach 1e-26.
        let (mut i0, mut i1, mut i2) = (0.0, 0.0, 0.0);
        let mut zm = 1.0; // (−z)^m / (m + 1)!, then / (m + 2), / (m + 3)
        for m in 0..25 {
            let mf = m as f64;
            if m > 0 {
                zm *= -z / (mf + 1.0);
            }
            i0 += zm;
            i1 += zm / (mf + 2.0);
            i2 += 2.0 * zm / ((mf + 2.0) * (mf + 3.0));
        }
        (i0, i1, i2)
    } else {
        let i0 = -(-z).exp_m1() / z;
        let i1 = (1.0 - i0) / z;
        (i0, i1, (1.0 - 2.0 * i1) / z)
    };
    let w0 = 2.0 * i2 - 3.0 * i1 + i0;
    let wm = 4.0 * (i1 - i2);
    let w1 = 2.0 * i2 - i1;
    (-z).exp() * y + h * (w0 * g[0] + wm * g[1] + w1 * g[2])
}

/// The t → ∞ limit: `s_a² = tau_a D_a/2`, mu on the manifold, `c = mu/tau`, and the fixed
/// points `v1* = tau/2 (Σ_b J_ab² δ_b − 2 sgn_a J_aa s_a² E f_a')`,
/// `k1* = tau/3 (J_aE³ r_E − J_aI³ r_I − 3 sgn_a J_aa s_a⁴ E f_a'')`. `t` is +∞.
/// Errors: invalid parameters, no balanced state, or an unstable one.
pub fn steady_state(p: &HydroTheoryParams) -> Result<TheoryPoint, TheoryError> {
    let r = balanced_rates(p)?;
    let s = slow_steady(p, r)?;
    trace_check(p, s.mu, s.var, [s.mom[0].df, s.mom[1].df])?;
    let v1 = std::array::from_fn(|a| 0.5 * p.tau[a] * s.force_v[a]);
    let k1 = std::array::from_fn(|a| p.tau[a] / 3.0 * s.force_k[a]);
    Ok(point(f64::INFINITY, r, &s, v1, k1))
}

/// The n → ∞ steady state of the simulation scheme itself at time step `dt` (docs/models.md),
/// which is off the dt → 0 limit by O(dt) — and that offset, seen through sqrt(n), grows
/// like dt·sqrt(n) against the first-order corrections:
/// - the drive is integrated with weight tau_a (1 − e^{−dt/tau_a}) = w_a dt but the jumps with
///   weight dt, so balance pins the rates to r_dt = −J_s^{-1} (w ∘ h) (≈ r (1 − dt/(2 tau)));
/// - the within-population variance is that of the AR(1) step with innovation variance
///   dt D_a(r_dt): s²_dt = dt D_a / (1 − e^{−2 dt/tau_a}) (≈ (tau D / 2)(1 + dt/tau));
/// - the mean solves the balance constraint with those: E f_a(mu + s_dt Z) = r_dt,a.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SchemeSteadyState {
    pub rate: [f64; 2],
    pub mu: [f64; 2],
    pub var: [f64; 2],
}

pub fn scheme_steady_state(
    p: &HydroTheoryParams,
    dt: f64,
) -> Result<SchemeSteadyState, TheoryError> {
    positive("dt", dt)?;
    let w: [f64; 2] = std::array::from_fn(|a| p.tau[a] * (-(-dt / p.tau[a]).exp_m1()) / dt);
    let scaled = HydroTheoryParams {
        h: [p.h[0] * w[0], p.h[1] * w[1]],
        ..*p
    };
    let rate = balanced_rates(&scaled)?;
    let mut mu = [0.0; 2];
    let mut var = [0.0; 2];
    for a in 0..2 {
        let d = p.j[a][0].powi(2) * rate[0] + p.j[a][1].powi(2) * rate[1];
        var[a] = dt * d / (-(-2.0 * dt / p.tau[a]).exp_m1());
        mu[a] = mean_on_manifold(p, a, var[a], rate[a])?;
    }
    Ok(SchemeSteadyState { rate, mu, var })
}

// ------------------------------------------------------------------------------------------
// Stiffness and the initial layer.

/// How stiff the simulation scheme is at (n, dt): the relaxation rate towards balance is
/// about `sqrt(n)·max|J|·max f'`, and `number = dt·rate` should be well below 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stiffness {
    /// `dt · sqrt(n) · max|J| · max_b f'_max,b`.
    pub number: f64,
    /// `sqrt(n) · max|J| · max_b f'_max,b` (1/time).
    pub relaxation_rate: f64,
    /// `max_ab J_ab`.
    pub max_abs_j: f64,
    /// `max_b nu_max_b · beta_b / 4`, the largest slope of the sigmoids.
    pub max_slope: f64,
}

/// The stiffness of the scheme at network size n (per population) and step dt.
pub fn stiffness(p: &HydroTheoryParams, n: f64, dt: f64) -> Stiffness {
    let max_abs_j = p.j.iter().flatten().fold(0.0_f64, |m, &v| m.max(v.abs()));
    let max_slope = (0..2)
        .map(|b| p.nu_max[b] * p.beta[b] / 4.0)
        .fold(0.0_f64, f64::max);
    let relaxation_rate = n.sqrt() * max_abs_j * max_slope;
    Stiffness {
        number: dt * relaxation_rate,
        relaxation_rate,
        max_abs_j,
        max_slope,
    }
}

/// `dt · sqrt(n) · max|J| · max_b f'_max,b` with `f'_max = nu_max·beta/4`.
pub fn stiffness_number(p: &HydroTheoryParams, n: f64, dt: f64) -> f64 {
    stiffness(p, n, dt).number
}

/// Eigenvalues `(re, im)` of `J_s diag(E f'_a)` at the balanced state with variances var
/// (the fast mean dynamics are `sqrt(n)` times this matrix).
pub fn fast_mean_eigenvalues(
    p: &HydroTheoryParams,
    var: [f64; 2],
) -> Result<[(f64, f64); 2], TheoryError> {
    let r = balanced_rates(p)?;
    let mut df = [0.0; 2];
    for a in 0..2 {
        non_negative(&format!("s^2_{}", POP[a]), var[a])?;
        let mu = solve_mean(p, a, var[a], r[a], None)?;
        df[a] = moments_unchecked(p, a, mu, var[a]).df;
    }
    let js = p.j_s();
    let tr = js[0][0] * df[0] + js[1][1] * df[1];
    let dt = det(&js) * df[0] * df[1];
    let disc = tr * tr - 4.0 * dt;
    Ok(if disc < 0.0 {
        let im = 0.5 * (-disc).sqrt();
        [(0.5 * tr, im), (0.5 * tr, -im)]
    } else {
        let sq = disc.sqrt();
        [(0.5 * (tr + sq), 0.0), (0.5 * (tr - sq), 0.0)]
    })
}

/// e-folding time of the slowest mode of the initial layer, `1 / (sqrt(n) · min_k |Re λ_k|)`
/// with λ the eigenvalues of `J_s diag(E f')` at the balanced state with the initial
/// variances `x0_sd²`. `f64::INFINITY` if the layer does not contract, NaN if there is no
/// balanced state (invalid parameters).
pub fn initial_layer_duration(p: &HydroTheoryParams, n: f64) -> f64 {
    let var = [p.x0_sd[0] * p.x0_sd[0], p.x0_sd[1] * p.x0_sd[1]];
    match fast_mean_eigenvalues(p, var) {
        Ok(ev) => {
            let slowest = ev[0].0.max(ev[1].0);
            if slowest < 0.0 {
                1.0 / (n.sqrt() * -slowest)
            } else {
                f64::INFINITY
            }
        }
        Err(_) => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_steady_state_tends_to_the_limit_at_first_order_in_dt() {
        let p = HydroTheoryParams::model_defaults();
        let c = steady_state(&p).expect("limit");
        for dt in [1e-2, 1e-3, 1e-4] {
            let d = scheme_steady_state(&p, dt).expect("scheme");
            for a in 0..2 {
                let tau = p.tau[a];
                // r (1 - dt/(2 tau)) and (tau D / 2)(1 + dt/tau) to first order in dt.
                let rate_pred = c.rate[a] * (1.0 - dt / (2.0 * tau));
                assert!(
                    (d.rate[a] - rate_pred).abs() < 0.5 * c.rate[a] * dt * dt,
                    "{dt}"
                );
                // D scales with the rates: (1 + dt/tau)(1 - dt/(2 tau)) = 1 + dt/(2 tau).
                let var_pred = c.var[a] * (1.0 + dt / (2.0 * tau));
                assert!((d.var[a] - var_pred).abs() < c.var[a] * dt * dt, "{dt}");
                assert!((d.mu[a] - c.mu[a]).abs() < 10.0 * dt, "{dt}");
            }
        }
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Brute-force `E g(mu + s Z)` by composite Simpson on a fine grid over |Z| ≤ 12.
    fn brute_moments(nu: f64, beta: f64, theta: f64, mu: f64, s: f64) -> [f64; 4] {
        let n = 240_000; // even, step 1e-4
        let (lo, hi) = (-12.0, 12.0);
        let h = (hi - lo) / n as f64;
        let mut acc = [0.0; 4];
        for k in 0..=n {
            let z = lo + k as f64 * h;
            let w = if k == 0 || k == n {
                1.0
            } else if k % 2 == 1 {
                4.0
            } else {
                2.0
            };
            let phi = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let x = mu + s * z;
            // Derivatives of nu σ(beta (x − theta)) written directly from σ.
            let sg = 1.0 / (1.0 + (-beta * (x - theta)).exp());
            let d = [
                nu * sg,
                nu * beta * sg * (1.0 - sg),
                nu * beta.powi(2) * sg * (1.0 - sg) * (1.0 - 2.0 * sg),
                nu * beta.powi(3) * sg * (1.0 - sg) * (1.0 - 6.0 * sg + 6.0 * sg * sg),
            ];
            for (a, v) in acc.iter_mut().zip(d) {
                *a += w * phi * v;
            }
        }
        acc.map(|v| v * h / 3.0)
    }

    #[test]
    fn defaults_drive_and_rates() {
        let p = HydroTheoryParams::model_defaults();
        let h = h_from_rates(&p.j, [0.3, 0.45]);
        assert!(
            close(h[0], 0.6, 1e-15) && close(h[1], 0.075, 1e-15),
            "{h:?}"
        );
        assert!(close(p.det_j_s(), 2.5, 1e-15));
        let r = balanced_rates(&p).unwrap();
        assert!(close(r[0], 0.3, 1e-15) && close(r[1], 0.45, 1e-15), "{r:?}");
        // Round trip at other rates and couplings.
        let q = HydroTheoryParams::near_singular();
        assert!(close(q.det_j_s(), 0.2, 1e-15));
        let r = balanced_rates(&q).unwrap();
        assert!(close(r[0], 0.3, 1e-14) && close(r[1], 0.4, 1e-14), "{r:?}");
        let q = p.with_rates([0.1, 0.7]);
        let r = balanced_rates(&q).unwrap();
        assert!(close(r[0], 0.1, 1e-15) && close(r[1], 0.7, 1e-15), "{r:?}");
    }

    #[test]
    fn gauss_hermite_rule_integrates_polynomials() {
        let rule = GaussHermite::new(GH_NODES);
        assert_eq!(rule.nodes.len(), GH_NODES);
        assert!(rule.nodes.windows(2).all(|w| w[0] > w[1]));
        // E Z^{2k} = (2k − 1)!!, odd moments vanish; exact up to degree 2·96 − 1.
        let mut double_fact = 1.0;
        for k in 0..=20 {
            if k > 0 {
                double_fact *= (2 * k - 1) as f64;
            }
            let even = rule.expect(|z| z.powi(2 * k));
            assert!(close(even / double_fact, 1.0, 1e-12), "k = {k}: {even}");
            let odd = rule.expect(|z| z.powi(2 * k + 1));
            assert!(
                odd.abs() <= 1e-12 * double_fact * (2 * k + 1) as f64,
                "{k}: {odd}"
            );
        }
        // Small odd rules too.
        for n in [1, 2, 3, 7, 33] {
            let r = GaussHermite::new(n);
            assert!(close(r.expect(|_| 1.0), 1.0, 1e-14), "{n}");
            assert!(close(
                r.expect(|z| z * z),
                if n > 1 { 1.0 } else { 0.0 },
                1e-13
            ));
        }
    }

    #[test]
    fn sigmoid_moments_match_brute_force() {
        let cases = [(1.0, 1.0, 0.0), (3.0, 2.0, 0.5), (0.5, 0.4, -1.0)];
        let mut worst: f64 = 0.0;
        for &(nu, beta, theta) in &cases {
            for s in [0.0, 0.3, 1.0, 1.5, 1.6, 2.0, 3.0, 5.0] {
                if beta * s > 10.0 {
                    continue;
                }
                for mu in [-4.0, -1.0, 0.2, 1.7, 5.0] {
                    let q = logistic_gauss_moments(nu, beta, theta, mu, s);
                    let b = brute_moments(nu, beta, theta, mu, s);
                    let got = [q.f, q.df, q.d2f, q.d3f];
                    for k in 0..4 {
                        let tol = 1e-12 * nu * beta.powi(k as i32).max(1.0);
                        let err = (got[k] - b[k]).abs();
                        worst = worst.max(err / tol);
                        assert!(
                            err <= tol,
                            "nu={nu} beta={beta} s={s} mu={mu} k={k}: {err:e}"
                        );
                    }
                }
            }
        }
        eprintln!("sigmoid moments: worst error / tolerance = {worst:.3}");
        // E f' is d/dmu E f, and E f'' is 2 d/d(s²) E f (finite differences).
        let p = HydroTheoryParams::model_defaults();
        let (mu, var, e) = (-0.7, 1.1, 1e-5);
        let m = sigmoid_moments(&p, 0, mu, var).unwrap();
        let fp = |mu, var| sigmoid_moments(&p, 0, mu, var).unwrap().f;
        assert!(close(
            (fp(mu + e, var) - fp(mu - e, var)) / (2.0 * e),
            m.df,
            1e-9
        ));
        assert!(close(
            (fp(mu, var + e) - fp(mu, var - e)) / (2.0 * e),
            0.5 * m.d2f,
            1e-9
        ));
        assert!(sigmoid_moments(&p, 0, mu, -0.1).is_err());
    }

    #[test]
    fn steep_sigmoid_moments_follow_the_asymptotic_form() {
        // Where both apply (50 <= c = beta s <= 3000), the trapezoid rule in the logistic's
        // variable and the asymptotic series agree to the series' O(c⁻⁶) error; at c = 1.6 the
        // trapezoid rule matches the brute-force grid (`sigmoid_moments_match_brute_force`).
        for (nu, beta) in [(1.0, 1.0), (2.0, 1e6), (0.5, 30.0)] {
            for c in [50.0, 200.0, 1000.0, 3000.0] {
                for u in [-6.0, -3.0, -0.7, 0.0, 0.4, 2.5, 5.0] {
                    let y = u * c;
                    let t = logistic_gauss_moments_steep(nu, beta, y, c);
                    let a = logistic_gauss_moments_asymptotic(nu, beta, y, c);
                    let bc = beta / c;
                    let tol = |k: i32| nu * bc.powi(k) * (1e-13 + 1e3 / c.powi(6));
                    assert!(close(t.f, a.f, tol(0)), "c={c} u={u}: {} vs {}", t.f, a.f);
                    assert!(
                        close(t.df, a.df, tol(1)),
                        "c={c} u={u}: {} vs {}",
                        t.df,
                        a.df
                    );
                    assert!(
                        close(t.d2f, a.d2f, tol(2)),
                        "c={c} u={u}: {} vs {}",
                        t.d2f,
                        a.d2f
                    );
                    assert!(
                        close(t.d3f, a.d3f, tol(3)),
                        "c={c} u={u}: {} vs {}",
                        t.d3f,
                        a.d3f
                    );
                }
            }
        }
        // Both are a fixed amount of work at any beta·s.
        let t0 = std::time::Instant::now();
        for s in [2.0, 1e2, 1e4, 1e8] {
            let q = logistic_gauss_moments(1.0, 1e6, 0.0, 0.3 * s, s);
            assert!(q.f.is_finite() && q.f > 0.5 && q.f < 1.0, "{q:?}");
        }
        assert!(t0.elapsed().as_secs_f64() < 1e-2, "{:?}", t0.elapsed());
    }

    #[test]
    fn theory_cost_is_bounded_for_steep_sigmoids_wide_states_and_tau_ratios() {
        // beta = 1e6, x0_sd = 1e4 and tau_I / tau_E = 1e6 used to take minutes (or hang):
        // the quadrature's node count grew like beta·s and the v1/k1 steps like the tau
        // ratio. Each of these is now a bounded amount of work.
        let d = HydroTheoryParams::model_defaults();
        let cases = [
            (
                "beta = 1e6",
                1.0,
                HydroTheoryParams {
                    beta: [1e6; 2],
                    ..d
                },
            ),
            (
                "x0_sd = 1e4",
                1.0,
                HydroTheoryParams {
                    x0_sd: [1e4; 2],
                    ..d
                },
            ),
            (
                "tau = [1, 1e6]",
                3.0,
                HydroTheoryParams {
                    tau: [1.0, 1e6],
                    ..d
                },
            ),
            (
                "tau = [1e-6, 1] and x0_sd = 1e4",
                3.0,
                HydroTheoryParams {
                    tau: [1e-6, 1.0],
                    x0_sd: [1e4; 2],
                    ..d
                },
            ),
        ];
        // Bounds with a margin of 3-10 over an unloaded 2-core machine (0.01 s, 0.3 s, 0.2 s
        // and 0.5 s there); the long runs take 0.04-1.3 s.
        for (name, bound, p) in cases {
            let t0 = std::time::Instant::now();
            let ss = steady_state(&p);
            // `balnet theory --out` of a 4-time-unit config recorded every 0.05.
            let times: Vec<f64> = (0..=80).map(|k| k as f64 * 0.05).collect();
            let tr = trajectory(&p, &times);
            let el = t0.elapsed().as_secs_f64();
            // A long run: at most 2e4 steps to t = 20 max(tau), whatever the tau ratio.
            let t1 = std::time::Instant::now();
            let late = trajectory(&p, &[1e3, 1e9]);
            let el_late = t1.elapsed().as_secs_f64();
            eprintln!("{name}: to t = 1e9 in {el_late:.3} s");
            assert!(el_late < 10.0, "{name}: {el_late} s");
            if let (Ok(l), Ok(s)) = (&late, &ss) {
                for a in 0..2 {
                    assert!(
                        close(l[1].v1[a], s.v1[a], 1e-8 * (1.0 + s.v1[a].abs())),
                        "{name}"
                    );
                }
            }
            eprintln!(
                "{name}: {el:.3} s, steady state {:?}",
                ss.as_ref().map(|s| (s.mu, s.var, s.m1))
            );
            assert!(el < bound, "{name}: {el} s");
            // A balanced state that the theory can describe: finite, the rates as asked, the
            // balance constraint met.
            if let Ok(s) = ss {
                for a in 0..2 {
                    assert!(
                        s.mu[a].is_finite() && s.var[a].is_finite() && s.m1[a].is_finite(),
                        "{name}"
                    );
                    let f = sigmoid_moments(&p, a, s.mu[a], s.var[a]).unwrap().f;
                    assert!(close(f, s.rate[a], 1e-10), "{name}: {f} vs {}", s.rate[a]);
                }
            }
            if let Ok(tr) = tr {
                assert!(
                    tr.iter()
                        .all(|q| q.mu.iter().chain(&q.v1).all(|x| x.is_finite())),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn exp_quadrature_step_is_exact_for_quadratic_forcing_at_any_stiffness() {
        // y' = −k y + g(t), g = 1 + 2t − 3t², y(0) = 0.7: exact solution by its series-free
        // closed form via variation of constants, compared with one step.
        for k in [0.0, 0.7, 3.0, 50.0, 1e6] {
            for h in [1e-3, 0.1, 2.0] {
                let g = |t: f64| 1.0 + 2.0 * t - 3.0 * t * t;
                // Particular solution of y' + k y = a + b t + c t²: p(t) = A + B t + C t².
                let got = exp_quadrature_step(0.7, k, [g(0.0), g(0.5 * h), g(h)], h);
                let want = if k == 0.0 {
                    0.7 + h + h * h - h * h * h
                } else {
                    let cc = -3.0 / k;
                    let bb = (2.0 - 2.0 * cc) / k;
                    let aa = (1.0 - bb) / k;
                    let p = |t: f64| aa + bb * t + cc * t * t;
                    p(h) + (0.7 - p(0.0)) * (-k * h).exp()
                };
                assert!(
                    close(got, want, 1e-12 * (1.0 + want.abs())),
                    "k={k} h={h}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn mean_on_manifold_satisfies_constraint() {
        let p = HydroTheoryParams::model_defaults();
        let q = HydroTheoryParams {
            nu_max: [2.0, 5.0],
            beta: [3.0, 0.5],
            theta: [1.0, -2.0],
            ..p
        };
        for params in [p, q] {
            for a in 0..2 {
                let nu = params.nu_max[a];
                for var in [0.0, 0.25, 1.05, 4.0, 25.0] {
                    for frac in [1e-6, 0.01, 0.3, 0.45, 0.5, 0.9, 0.999_999] {
                        let r = frac * nu;
                        let mu = mean_on_manifold(&params, a, var, r).unwrap();
                        let f = sigmoid_moments(&params, a, mu, var).unwrap().f;
                        assert!(close(f, r, 1e-12 * nu), "a={a} var={var} r={r}: {f}");
                    }
                }
            }
        }
        // s = 0: the inverse logistic.
        let mu = mean_on_manifold(&q, 0, 0.0, 0.5).unwrap();
        let want = q.theta[0] + (0.25_f64 / 0.75).ln() / q.beta[0];
        assert!(close(mu, want, 1e-13), "{mu} vs {want}");
        for r in [0.0, -0.1, 1.0, 1.3, f64::NAN] {
            assert!(matches!(
                mean_on_manifold(&p, 0, 1.0, r),
                Err(TheoryError::NoManifoldSolution { .. })
            ));
        }
        assert!(mean_on_manifold(&p, 0, -1.0, 0.3).is_err());
    }

    #[test]
    fn variance_closed_form_matches_its_ode() {
        for sd0 in [0.0, 0.5, 2.0] {
            let p = HydroTheoryParams {
                tau: [1.0, 0.7],
                x0_sd: [sd0, sd0],
                ..HydroTheoryParams::model_defaults()
            };
            let r = balanced_rates(&p).unwrap();
            for a in 0..2 {
                let d = p.j[a][0].powi(2) * r[0] + p.j[a][1].powi(2) * r[1];
                let rhs = |v: f64| -2.0 * v / p.tau[a] + d;
                let (mut v, h) = (sd0 * sd0, 1e-3);
                for step in 1..=3000 {
                    let k1 = rhs(v);
                    let k2 = rhs(v + 0.5 * h * k1);
                    let k3 = rhs(v + 0.5 * h * k2);
                    let k4 = rhs(v + h * k3);
                    v += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
                    if step % 500 == 0 {
                        let t = step as f64 * h;
                        let c = variance_limit(&p, a, t);
                        assert!(close(v, c, 1e-11), "a={a} t={t}: {v} vs {c}");
                    }
                }
                // Stationary value tau D / 2.
                let inf = variance_limit(&p, a, 1e3);
                assert!(close(inf, 0.5 * p.tau[a] * d, 1e-14));
            }
        }
    }

    #[test]
    fn dmu_dt_matches_finite_differences() {
        for sd0 in [0.2, 0.5, 2.5] {
            let p = HydroTheoryParams {
                x0_sd: [sd0, sd0],
                ..HydroTheoryParams::model_defaults()
            };
            let r = balanced_rates(&p).unwrap();
            for t in [0.0, 0.1, 0.5, 2.0] {
                let s = slow_at(&p, r, t, None).unwrap();
                let e = 1e-4;
                for a in 0..2 {
                    let mu_at = |t: f64| mean_on_manifold(&p, a, variance_limit(&p, a, t), r[a]);
                    let fd = if t > 0.0 {
                        (mu_at(t + e).unwrap() - mu_at(t - e).unwrap()) / (2.0 * e)
                    } else {
                        // one-sided, second order
                        (-3.0 * mu_at(0.0).unwrap() + 4.0 * mu_at(e).unwrap()
                            - mu_at(2.0 * e).unwrap())
                            / (2.0 * e)
                    };
                    let (_, dvar) = variance_and_slope(&p, r, a, t);
                    let an = dmu_dt(&s.mom[a], dvar);
                    assert!(close(an, fd, 1e-7), "sd0={sd0} t={t} a={a}: {an} vs {fd}");
                }
            }
        }
    }

    #[test]
    fn errors_for_unbalanced_or_unstable_parameters() {
        let p = HydroTheoryParams::model_defaults();
        // det J_s = 1*2 - 1*2.3 = -0.3.
        let bad = HydroTheoryParams {
            j: [[1.0, 1.0], [2.0, 2.3]],
            ..p
        };
        let err = balanced_rates(&bad).unwrap_err();
        match &err {
            TheoryError::DetNotPositive { det, .. } => assert!(close(*det, -0.3, 1e-15)),
            e => panic!("{e}"),
        }
        let msg = err.to_string();
        assert!(msg.starts_with("det J_s = -0.3"), "{msg}");
        assert!(msg.contains("J_EI*J_IE > J_EE*J_II"), "{msg}");
        assert!(steady_state(&bad).is_err() && trajectory(&bad, &[1.0]).is_err());
        assert!(check_stability(&bad, [0.0; 2], [1.0; 2]).is_err());
        // det J_s = 0 exactly.
        let sing = HydroTheoryParams {
            j: [[1.0, 2.0], [1.0, 2.0]],
            ..p
        };
        assert!(matches!(
            balanced_rates(&sing),
            Err(TheoryError::DetNotPositive { .. })
        ));
        // Rates outside (0, nu_max).
        for r in [[1.2, 0.45], [0.3, -0.1], [0.3, 1.0], [0.0, 0.5]] {
            let q = p.with_rates(r);
            assert!(
                matches!(balanced_rates(&q), Err(TheoryError::RateOutOfRange { .. })),
                "{r:?}"
            );
            assert!(steady_state(&q).is_err() && trajectory(&q, &[0.5]).is_err());
            assert!(initial_layer_duration(&q, 1e4).is_nan());
        }
        let msg = balanced_rates(&p.with_rates([1.2, 0.45]))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("r_E = 1.2") && msg.contains("nu_max_E = 1"),
            "{msg}"
        );
        // det > 0 but J_EE E f'_E > J_II E f'_I: the fast dynamics are unstable.
        let osc = HydroTheoryParams {
            j: [[3.0, 2.0], [2.0, 0.5]],
            ..p
        }
        .with_rates([0.3, 0.45]);
        assert!(osc.det_j_s() > 0.0);
        assert!(matches!(
            steady_state(&osc),
            Err(TheoryError::TraceNotNegative { .. })
        ));
        assert!(trajectory(&osc, &[1.0]).is_err());
        assert_eq!(initial_layer_duration(&osc, 1e4), f64::INFINITY);
        // Invalid parameters and times.
        let neg = HydroTheoryParams {
            tau: [-1.0, 1.0],
            ..p
        };
        assert!(matches!(
            balanced_rates(&neg),
            Err(TheoryError::InvalidParameter { .. })
        ));
        assert!(trajectory(&p, &[0.5, -1.0]).is_err());
        assert!(trajectory(&p, &[f64::NAN]).is_err());
        // The defaults are stable on their whole trajectory.
        let s = steady_state(&p).unwrap();
        assert!(check_stability(&p, s.mu, s.var).is_ok());
    }

    #[test]
    fn steady_state_is_the_large_t_limit_of_the_trajectory() {
        for p in [
            HydroTheoryParams::model_defaults(),
            HydroTheoryParams::near_singular(),
            HydroTheoryParams {
                tau: [1.3, 0.6],
                m: [0.2, -0.1],
                x0_sd: [1.5, 0.1],
                ..HydroTheoryParams::model_defaults()
            },
        ] {
            let ss = steady_state(&p).unwrap();
            let tr = trajectory(&p, &[60.0, 12.0 * p.tau[0].max(p.tau[1])]).unwrap();
            let scale = 1.0 + ss.v1[0].abs().max(ss.v1[1].abs());
            for (pt, tol) in [(tr[1], 1e-8 * scale), (tr[0], 1e-11 * scale)] {
                for a in 0..2 {
                    for (x, y) in [
                        (pt.mu[a], ss.mu[a]),
                        (pt.var[a], ss.var[a]),
                        (pt.rate[a], ss.rate[a]),
                        (pt.delta[a], ss.delta[a]),
                        (pt.m1[a], ss.m1[a]),
                        (pt.v1[a], ss.v1[a]),
                        (pt.k1[a], ss.k1[a]),
                    ] {
                        assert!(close(x, y, tol), "t={} a={a}: {x} vs {y}", pt.t);
                    }
                }
            }
        }
    }

    #[test]
    fn trajectory_integrates_the_v1_k1_odes() {
        // v1(t) = ∫_0^t e^{−2(t−u)/tau} F_v(u) du, k1 likewise with 3/tau: Simpson's rule on
        // the forcing, independent of the RK4 stepping.
        let p = HydroTheoryParams {
            tau: [1.0, 0.8],
            x0_sd: [1.2, 0.3],
            ..HydroTheoryParams::near_singular()
        };
        let r = balanced_rates(&p).unwrap();
        let t = 1.5;
        let n = 3000;
        let h = t / n as f64;
        let mut v = [0.0; 2];
        let mut k = [0.0; 2];
        for i in 0..=n {
            let u = i as f64 * h;
            let w = if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            let s = slow_at(&p, r, u, None).unwrap();
            for a in 0..2 {
                v[a] += w * (-2.0 * (t - u) / p.tau[a]).exp() * s.force_v[a] * h / 3.0;
                k[a] += w * (-3.0 * (t - u) / p.tau[a]).exp() * s.force_k[a] * h / 3.0;
            }
        }
        // Output order follows input order.
        let tr = trajectory(&p, &[t, 0.0, 0.7]).unwrap();
        assert_eq!(tr[0].t, t);
        assert_eq!(tr[1].t, 0.0);
        assert_eq!(tr[1].v1, [0.0; 2]);
        assert_eq!(tr[1].k1, [0.0; 2]);
        for a in 0..2 {
            assert!(
                close(tr[0].v1[a], v[a], 1e-9),
                "{} vs {}",
                tr[0].v1[a],
                v[a]
            );
            assert!(
                close(tr[0].k1[a], k[a], 1e-9),
                "{} vs {}",
                tr[0].k1[a],
                k[a]
            );
        }
        let again = trajectory(&p, &[0.7]).unwrap();
        for a in 0..2 {
            assert!(close(again[0].v1[a], tr[2].v1[a], 1e-10));
        }
    }

    #[test]
    fn first_order_coefficients_are_consistent() {
        // The corrected moments reproduce the corrected rate (Edgeworth to first order):
        // E f[N(mu + ε m1, s² + ε v1)] + ε k1/6 E f''' = r + ε δ + O(ε²).
        let p = HydroTheoryParams::model_defaults();
        for pt in [
            steady_state(&p).unwrap(),
            trajectory(&p, &[0.3]).unwrap()[0],
        ] {
            let js = p.j_s();
            for (a, js_a) in js.iter().enumerate() {
                let eps = 1e-5;
                let m =
                    sigmoid_moments(&p, a, pt.mu[a] + eps * pt.m1[a], pt.var[a] + eps * pt.v1[a])
                        .unwrap();
                let lhs = m.f + eps * pt.k1[a] / 6.0 * m.d3f;
                let want = pt.rate[a] + eps * pt.delta[a];
                assert!(close(lhs, want, 1e-8), "a={a}: {lhs} vs {want}");
                // J_s δ = c − m with c = mu/tau at steady state.
                if pt.t.is_infinite() {
                    let c = js_a[0] * pt.delta[0] + js_a[1] * pt.delta[1];
                    assert!(close(c, pt.mu[a] / p.tau[a] - p.m[a], 1e-13));
                }
            }
        }
    }

    /// The steady state and its first-order coefficients derived again from docs/models.md's
    /// equations with nothing of this module: the rates from h by Cramer's rule, s² = tau D/2,
    /// mu by bisection on E f(mu + s Z) = r, Gaussian expectations of the logistic and its
    /// derivatives (written out from sigma = 1/(1 + e^{−beta(x − theta)})) by the trapezoid
    /// rule on z in [−14, 14] (4e4 points), then δ = J_s^{-1}(mu/tau − m), v1 = tau/2
    /// (Σ_b J_ab² δ_b − 2 sgn_a J_aa s² E f′), k1 = tau/3 (J_aE³ r_E − J_aI³ r_I − 3 sgn_a
    /// J_aa s⁴ E f″), m1 = (δ − E f″ v1/2 − E f‴ k1/6)/E f′. Returns (rate, mu, var, δ,
    /// v1, k1, m1).
    fn independent_steady_state(p: &HydroTheoryParams) -> [[f64; 2]; 7] {
        let js = [[p.j[0][0], -p.j[0][1]], [p.j[1][0], -p.j[1][1]]];
        let d = js[0][0] * js[1][1] - js[0][1] * js[1][0];
        let solve = |b: [f64; 2]| {
            [
                (b[0] * js[1][1] - js[0][1] * b[1]) / d,
                (js[0][0] * b[1] - js[1][0] * b[0]) / d,
            ]
        };
        let r = solve([-p.h[0], -p.h[1]]);
        // E[g(mu + s Z)] by the trapezoid rule (the integrand is smooth and decays like the
        // Gaussian: the rule converges geometrically).
        let expect = |g: &dyn Fn(f64) -> f64, mu: f64, s: f64| {
            let (lo, hi, k) = (-14.0f64, 14.0f64, 40_000);
            let h = (hi - lo) / k as f64;
            (0..=k)
                .map(|i| {
                    let z = lo + i as f64 * h;
                    let w = if i == 0 || i == k { 0.5 } else { 1.0 };
                    w * g(mu + s * z) * (-0.5 * z * z).exp()
                })
                .sum::<f64>()
                * h
                / (2.0 * std::f64::consts::PI).sqrt()
        };
        let mut out = [[0.0; 2]; 7];
        let mut e = [[0.0; 2]; 3];
        for a in 0..2 {
            let (nu, beta, theta) = (p.nu_max[a], p.beta[a], p.theta[a]);
            let sig = move |x: f64| 1.0 / (1.0 + (-beta * (x - theta)).exp());
            let f = move |x: f64| nu * sig(x);
            let df = move |x: f64| nu * beta * sig(x) * (1.0 - sig(x));
            let d2f = move |x: f64| {
                let q = sig(x);
                nu * beta * beta * q * (1.0 - q) * (1.0 - 2.0 * q)
            };
            let d3f = move |x: f64| {
                let q = sig(x);
                nu * beta.powi(3) * q * (1.0 - q) * (1.0 - 6.0 * q + 6.0 * q * q)
            };
            let var = p.tau[a] * (p.j[a][0].powi(2) * r[0] + p.j[a][1].powi(2) * r[1]) / 2.0;
            let s = var.sqrt();
            let (mut lo, mut hi) = (-60.0, 60.0);
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if expect(&f, mid, s) < r[a] {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let mu = 0.5 * (lo + hi);
            out[0][a] = r[a];
            out[1][a] = mu;
            out[2][a] = var;
            e[0][a] = expect(&df, mu, s);
            e[1][a] = expect(&d2f, mu, s);
            e[2][a] = expect(&d3f, mu, s);
        }
        let delta = solve([out[1][0] / p.tau[0] - p.m[0], out[1][1] / p.tau[1] - p.m[1]]);
        for a in 0..2 {
            let sgn = if a == 0 { 1.0 } else { -1.0 };
            let (var, jaa) = (out[2][a], p.j[a][a]);
            let v1 = p.tau[a] / 2.0
                * (p.j[a][0].powi(2) * delta[0] + p.j[a][1].powi(2) * delta[1]
                    - 2.0 * sgn * jaa * var * e[0][a]);
            let k1 = p.tau[a] / 3.0
                * (p.j[a][0].powi(3) * r[0]
                    - p.j[a][1].powi(3) * r[1]
                    - 3.0 * sgn * jaa * var * var * e[1][a]);
            out[3][a] = delta[a];
            out[4][a] = v1;
            out[5][a] = k1;
            out[6][a] = (delta[a] - 0.5 * e[1][a] * v1 - e[2][a] * k1 / 6.0) / e[0][a];
        }
        out
    }

    /// `steady_state` against the independent derivation above, for the defaults, the
    /// near-singular set and a set with unequal tau, beta, theta and nonzero m: a wrong term
    /// in any coefficient (a sign, the self-exclusion, a factor 2 or 3) moves it by far more
    /// than the 1e-7 relative tolerance, which only the two quadratures' errors use. And the
    /// near-singular set's corrections are the larger ones by about the ratio docs/models.md
    /// gives ("finite-n errors ~7x larger"): max |δ| and max |m1| grow 5-10x.
    #[test]
    fn first_order_coefficients_match_an_independent_derivation() {
        let sets = [
            ("defaults", HydroTheoryParams::model_defaults()),
            ("near-singular", HydroTheoryParams::near_singular()),
            (
                "unequal",
                HydroTheoryParams {
                    tau: [1.3, 0.6],
                    beta: [1.4, 0.8],
                    theta: [0.2, -0.3],
                    m: [0.2, -0.1],
                    ..HydroTheoryParams::model_defaults()
                }
                .with_rates([0.35, 0.5]),
            ),
        ];
        let mut maxima = Vec::new();
        for (name, p) in sets {
            let ss = steady_state(&p).unwrap();
            let want = independent_steady_state(&p);
            let got = [ss.rate, ss.mu, ss.var, ss.delta, ss.v1, ss.k1, ss.m1];
            let names = ["rate", "mu", "var", "delta", "v1", "k1", "m1"];
            for q in 0..7 {
                for a in 0..2 {
                    let (x, y) = (got[q][a], want[q][a]);
                    eprintln!(
                        "{name} {} pop {a}: theory {x:.10}, independent {y:.10}",
                        names[q]
                    );
                    assert!(
                        (x - y).abs() <= 1e-7 * y.abs().max(1.0),
                        "{name} {} pop {a}: {x} vs {y}",
                        names[q]
                    );
                }
            }
            let max_abs = |x: [f64; 2]| x[0].abs().max(x[1].abs());
            maxima.push((max_abs(ss.delta), max_abs(ss.m1)));
        }
        for (k, what) in ["delta", "m1"].iter().enumerate() {
            let pick = |m: &(f64, f64)| if k == 0 { m.0 } else { m.1 };
            let ratio = pick(&maxima[1]) / pick(&maxima[0]);
            eprintln!("near-singular / defaults, max |{what}|: {ratio:.2}");
            assert!((5.0..10.0).contains(&ratio), "{what}: ratio {ratio}");
        }
    }

    /// Negative control of the derivation test: the self-exclusion term left out of v1 (and
    /// of k1), or k1's factor tau/3 replaced by tau/2, moves the coefficients by far more than
    /// that test's tolerance, so it would fail.
    #[test]
    fn the_independent_derivation_tells_a_wrong_coefficient() {
        let p = HydroTheoryParams::model_defaults();
        let ss = steady_state(&p).unwrap();
        let want = independent_steady_state(&p);
        for a in 0..2 {
            let sgn = if a == 0 { 1.0 } else { -1.0 };
            let m = sigmoid_moments(&p, a, ss.mu[a], ss.var[a]).unwrap();
            let v1_without = ss.v1[a] + p.tau[a] * sgn * p.j[a][a] * ss.var[a] * m.df;
            let k1_without = ss.k1[a] + p.tau[a] * sgn * p.j[a][a] * ss.var[a].powi(2) * m.d2f;
            let k1_factor = ss.k1[a] * 3.0 / 2.0;
            for (what, x, y) in [
                ("v1 without self-exclusion", v1_without, want[4][a]),
                ("k1 without self-exclusion", k1_without, want[5][a]),
                ("k1 with tau/2", k1_factor, want[5][a]),
            ] {
                eprintln!("{what} pop {a}: {x:.6} vs {y:.6}");
                assert!((x - y).abs() > 1e-3 * y.abs().max(1.0), "{what} pop {a}");
            }
        }
    }

    #[test]
    fn stiffness_and_initial_layer() {
        let p = HydroTheoryParams::model_defaults();
        // dt sqrt(n) max|J| nu beta/4 = 1e-3 * 1e3 * 2 * 0.25.
        let st = stiffness(&p, 1e6, 1e-3);
        assert!(close(st.number, 0.5, 1e-15), "{st:?}");
        assert!(close(stiffness_number(&p, 1e6, 1e-3), 0.5, 1e-15));
        assert!(close(st.max_slope, 0.25, 0.0) && close(st.max_abs_j, 2.0, 0.0));
        // The fast mean dynamics contract (trace < 0, det > 0) and the layer scales as
        // n^{-1/2}; docs/models.md (initial layer): "about 15/sqrt(n)" at the defaults.
        let d4 = initial_layer_duration(&p, 1e4);
        let d6 = initial_layer_duration(&p, 1e6);
        assert!(close(d4 / d6, 10.0, 1e-12));
        let c = d6 * 1e3;
        let ss = steady_state(&p).unwrap();
        let ev = fast_mean_eigenvalues(&p, ss.var).unwrap();
        eprintln!(
            "initial layer: {c:.2}/sqrt(n) at s²(0); slowest e-fold at steady state {:.2}/sqrt(n); \
             eigenvalues at s²(0) {:?}",
            -1.0 / ev[0].0.max(ev[1].0),
            fast_mean_eigenvalues(&p, [0.25; 2]).unwrap()
        );
        assert!(c > 8.0 && c < 25.0, "{c}");
    }
}
