//! Model H: the balanced all-to-all stochastic hybrid network (docs/models.md). Derived constants
//! and the per-neuron step, written once here and mirrored in `shaders/hydro/step.wgsl`.
//!
//! Neuron k of population a has global index `k + a * n`; its initial state comes from counter
//! (global index, 0, HYDRO_INIT, replica) and its draws at step t from the counter of its quad
//! (`quad_index`: four neighbours of one population share a counter) under the run's key.

use crate::hydro::config::{Coupling, HydroSetup};
use crate::math::{exp_f32_lane, expm1_f32, to_threshold32};
use crate::rng::alias::AliasTable;
use crate::rng::{self, Purpose, Stream};

/// The own-population remainder B is drawn up to the count at which its tail falls below
/// this probability (far below the tables' 2^-32 resolution).
pub const OWN_EXTRA_TAIL: f64 = 1e-13;
/// The most terms `own_extra_terms` gives (B is cut there if the tail is still above).
pub const OWN_EXTRA_TERMS_MAX: u32 = 64;

/// Per-run constants of the step, in the f32 the kernels use. Index 0 = E, 1 = I.
#[derive(Clone, Copy, Debug)]
pub struct HydroConsts {
    pub n: u32,
    pub dt: f32,
    /// e^{-dt/tau_a}
    pub decay: [f32; 2],
    /// tau_a (1 - e^{-dt/tau_a}) (sqrt(n) h_a + m_a), computed in f64.
    pub drive: [f32; 2],
    /// J_ab / sqrt(n)
    pub jump: [[f32; 2]; 2],
    pub nu_max: [f32; 2],
    pub beta: [f32; 2],
    pub theta: [f32; 2],
    pub x0_mean: [f32; 2],
    pub x0_sd: [f32; 2],
    pub key: [u32; 2],
    pub coupling: Coupling,
    /// Largest value the own-population remainder B takes: the smallest J with
    /// P(Poisson(dt max nu_max) > J) < OWN_EXTRA_TAIL (B's mean never exceeds dt nu_max).
    pub own_extra_terms: u32,
    /// `HydroConfig::pairwise_self_coupling` (a test's negative control): `pairwise_counts`
    /// includes the neuron's own pair.
    pub pairwise_self_coupling: bool,
}

impl HydroConsts {
    pub fn new(s: &HydroSetup) -> Self {
        let c = &s.config;
        let sn = (c.n as f64).sqrt();
        let mut decay = [0f32; 2];
        let mut drive = [0f32; 2];
        let mut jump = [[0f32; 2]; 2];
        for a in 0..2 {
            let d = (-c.dt / c.tau[a]).exp();
            decay[a] = d as f32;
            drive[a] = (c.tau[a] * (1.0 - d) * (sn * s.h[a] + c.m[a])) as f32;
            for b in 0..2 {
                jump[a][b] = (c.j[a][b] / sn) as f32;
            }
        }
        let f = |v: [f64; 2]| [v[0] as f32, v[1] as f32];
        HydroConsts {
            n: c.n as u32,
            dt: c.dt as f32,
            decay,
            drive,
            jump,
            nu_max: f(c.nu_max),
            beta: f(c.beta),
            theta: f(c.theta),
            x0_mean: f(c.x0_mean),
            x0_sd: f(c.x0_sd),
            key: rng::seed_key(c.seed),
            coupling: c.coupling,
            own_extra_terms: own_extra_terms(c.dt * c.nu_max[0].max(c.nu_max[1])),
            pairwise_self_coupling: c.pairwise_self_coupling,
        }
    }

    /// f_a(x) = nu_max / (1 + exp(-beta (x - theta)))
    #[inline(always)]
    pub fn rate_fn(&self, a: usize, x: f32) -> f32 {
        self.nu_max[a] / (1.0 + exp_f32_lane(-self.beta[a] * (x - self.theta[a])))
    }

    /// x(0) of global neuron `g` in population a.
    pub fn initial_x(&self, a: usize, g: u32, replica: u32) -> f32 {
        let mut s = Stream::new(
            rng::counter(g, 0, Purpose::HydroInit.as_u32(), replica),
            self.key,
        );
        self.x0_mean[a] + self.x0_sd[a] * rng::normal(&mut s)
    }

    /// The deterministic part of the step: exact leak plus drive.
    #[inline(always)]
    pub fn relax(&self, a: usize, x: f32) -> f32 {
        x * self.decay[a] + self.drive[a]
    }

    /// Spike probability of one step in `shared` mode: 1 - exp(-f dt).
    #[inline(always)]
    pub fn spike_prob(&self, a: usize, x: f32) -> f32 {
        self.spike_prob_of_rate(self.rate_fn(a, x))
    }

    /// 1 - exp(-rate dt).
    #[inline(always)]
    pub fn spike_prob_of_rate(&self, rate: f32) -> f32 {
        -expm1_f32(-rate * self.dt)
    }
}

/// The per-step tables of `independent` mode. Neuron k of population a needs
/// N_b ~ Poisson(dt (Lambda_b - [a = b] f_a(x_k))). Its own population's count is split at
/// s_a = min(nu_max_a, Lambda_a) into A + B, A ~ Poisson(dt (Lambda_a - s_a)) from a table
/// shared by the population and B ~ Poisson(dt (s_a - f_a(x_k))) drawn per neuron by inversion
/// (mean <= dt nu_max, so B is almost always 0). The sum of independent Poisson counts is
/// Poisson: the law is exact, and no neuron takes a rare branch.
#[derive(Clone, Debug)]
pub struct StepTables {
    /// `tables[a][b]`: what neurons of population a draw from population b.
    pub tables: [[AliasTable; 2]; 2],
    /// s_a
    pub split: [f32; 2],
    /// A word at or above this bound gives B = 0 whatever x_k is: the threshold of
    /// P(B >= 1) at B's largest mean dt s_a, plus a margin for f32 rounding. Lets the CPU
    /// lanes skip computing B's mean in the common case (the GPU computes it anyway).
    pub own_extra_gate: [u32; 2],
}

/// The word bound of `StepTables::own_extra_gate`: mu = dt (s - f) <= dt s in f32, and
/// P(B >= 1) grows with mu; 16 units of 2^-32 cover any rounding wobble of -expm1 (whose
/// f32 error is below one unit here).
pub fn own_extra_gate(c: &HydroConsts, split: f32) -> u32 {
    to_threshold32(-expm1_f32(-(c.dt * split))).saturating_add(16)
}

/// s_a = min(nu_max_a, Lambda_a) and the four per-step Poisson means: `[a][b]` = dt Lambda_b
/// for b != a, dt (Lambda_a - s_a) for b = a.
pub fn step_means(c: &HydroConsts, lambda_total: [f64; 2]) -> ([f32; 2], [[f64; 2]; 2]) {
    let split = [
        (c.nu_max[0] as f64).min(lambda_total[0]),
        (c.nu_max[1] as f64).min(lambda_total[1]),
    ];
    let split32 = [split[0] as f32, split[1] as f32];
    let dt = c.dt as f64;
    let means = std::array::from_fn(|a| {
        std::array::from_fn(|b| {
            let own = if a == b { split32[b] as f64 } else { 0.0 };
            (dt * (lambda_total[b] - own)).max(0.0)
        })
    });
    (split32, means)
}

impl StepTables {
    pub fn build(c: &HydroConsts, lambda_total: [f64; 2]) -> Self {
        let (split, means) = step_means(c, lambda_total);
        StepTables {
            tables: means.map(|row| row.map(AliasTable::build)),
            split,
            own_extra_gate: split.map(|s| own_extra_gate(c, s)),
        }
    }

    pub fn rebuild(&mut self, c: &HydroConsts, lambda_total: [f64; 2]) {
        let (split, means) = step_means(c, lambda_total);
        for a in 0..2 {
            for b in 0..2 {
                self.tables[a][b].rebuild(means[a][b]);
            }
        }
        self.split = split;
        self.own_extra_gate = split.map(|s| own_extra_gate(c, s));
    }
}

/// Mean of neuron k's own-population remainder B: dt (s_a - f_a(x_k)), never negative.
#[inline(always)]
pub fn own_extra_mean(c: &HydroConsts, a: usize, x: f32, split: f32) -> f32 {
    (c.dt * (split - c.rate_fn(a, x))).max(0.0)
}

/// The smallest J >= 1 with P(Poisson(mu_max) > J) < OWN_EXTRA_TAIL, at most
/// OWN_EXTRA_TERMS_MAX.
pub fn own_extra_terms(mu_max: f64) -> u32 {
    // P(X > j), summed from its own terms (no cancellation).
    let tail = |j: u32| -> f64 {
        (j as u64 + 1..j as u64 + 400)
            .map(|k| crate::stats::poisson_ln_pmf(k, mu_max).exp())
            .sum()
    };
    let mut j = 1u32;
    while mu_max > 0.0 && tail(j) >= OWN_EXTRA_TAIL && j < OWN_EXTRA_TERMS_MAX {
        j += 1;
    }
    j
}

/// B ~ Poisson(mu) by inversion from the word w, up to `terms`: B >= j exactly when w is below
/// the threshold of P(B >= j), so P(B >= j) is right to 2^-32. The survival function is
/// carried from P(B >= 1) = -expm1(-mu), accurate for small mu. Thresholds decrease, so this is
/// also the number of j <= terms with w below threshold j (how the GPU counts it, unrolled).
#[inline(always)]
pub fn own_extra_count(mu: f32, w: u32, terms: u32) -> u32 {
    let mut sf = -expm1_f32(-mu);
    let mut term = mu * (1.0 - sf);
    let mut j = 0u32;
    while j < terms && w < to_threshold32(sf) {
        j += 1;
        sf -= term;
        term = term * mu / (j + 1) as f32;
    }
    j
}

/// The counter word that neuron k of population a shares with its quad (neurons 4i .. 4i + 3
/// of a population; quads never straddle populations).
#[inline(always)]
pub fn quad_index(n: u32, a: usize, k: u32) -> u32 {
    a as u32 * n.div_ceil(4) + k / 4
}

/// Blocks per quad of a step's `independent` draws: 12 words for 4 neurons, 3 each.
pub const STEP_BLOCKS: u32 = 3;

/// Neuron k's three words of step t: words 3 (k mod 4) .. 3 (k mod 4) + 2 of its quad's step
/// stream (Philox blocks 0, 1, 2 at counter (quad, t, HYDRO_STEP, replica)). Word 0 draws from
/// the E table, word 1 from the I table, word 2 the own-population remainder.
pub fn step_words(c: &HydroConsts, a: usize, k: u32, t: u32, replica: u32) -> [u32; 3] {
    let q = quad_index(c.n, a, k);
    let mut w = [0u32; 12];
    for b in 0..STEP_BLOCKS {
        let ctr = rng::counter(q, t, Purpose::HydroStep.as_u32() | (b << 24), replica);
        w[4 * b as usize..4 * b as usize + 4].copy_from_slice(&rng::philox4x32_10(ctr, c.key));
    }
    let i = 3 * (k % 4) as usize;
    [w[i], w[i + 1], w[i + 2]]
}

/// One `independent`-mode step of neuron k of population a (state x) at step t, with this
/// step's tables (built from the populations' summed intensities of the current state).
#[inline(always)]
pub fn step_independent(
    c: &HydroConsts,
    a: usize,
    k: u32,
    x: f32,
    t: u32,
    replica: u32,
    st: &StepTables,
) -> f32 {
    let w = step_words(c, a, k, t, replica);
    let mut counts = [st.tables[a][0].sample(w[0]), st.tables[a][1].sample(w[1])];
    counts[a] += own_extra_count(
        own_extra_mean(c, a, x, st.split[a]),
        w[2],
        c.own_extra_terms,
    );
    c.relax(a, x) + (c.jump[a][0] * counts[0] as f32 - c.jump[a][1] * counts[1] as f32)
}

/// `shared` mode: whether neuron k of population a spikes at step t: word k mod 4 of its quad's
/// Philox call, below the threshold of 1 - exp(-f dt).
#[inline(always)]
pub fn spikes_shared(c: &HydroConsts, a: usize, k: u32, x: f32, t: u32, replica: u32) -> bool {
    let ctr = rng::counter(
        quad_index(c.n, a, k),
        t,
        Purpose::HydroStep.as_u32(),
        replica,
    );
    let w = rng::philox4x32_10(ctr, c.key);
    w[(k % 4) as usize] < to_threshold32(c.spike_prob(a, x))
}

/// One `shared`-mode step: input from this step's spike counts without the neuron's own.
#[inline(always)]
pub fn step_shared(c: &HydroConsts, a: usize, x: f32, own_spike: bool, spikes: [u32; 2]) -> f32 {
    let mut s = spikes;
    s[a] -= own_spike as u32;
    c.relax(a, x) + (c.jump[a][0] * s[0] as f32 - c.jump[a][1] * s[1] as f32)
}

/// `pairwise` mode: neuron `g`'s input counts from every other neuron, each pair's count
/// drawn separately: Poisson(dt f(x_j)) with P(0) = `p0[j]` precomputed per source.
pub fn pairwise_counts(
    c: &HydroConsts,
    g: u32,
    t: u32,
    replica: u32,
    lambda: &[f32],
    p0: &[f32],
) -> [u32; 2] {
    let n = c.n as usize;
    let mut counts = [0u32; 2];
    let mut w = [0u32; 4];
    for j in 0..lambda.len() {
        if j % 4 == 0 {
            let ctr = rng::counter(g, t, Purpose::hydro_pair_chunk((j / 4) as u32), replica);
            w = rng::philox4x32_10(ctr, c.key);
        }
        if j == g as usize && !c.pairwise_self_coupling {
            continue;
        }
        let u = rng::u32_to_uniform(w[j % 4]);
        if u < p0[j] {
            continue;
        }
        // Inversion continued from P(0) with the same uniform.
        let mut p = p0[j];
        let mut f = p0[j];
        let mut k = 0u32;
        while u >= f && k < 64 {
            k += 1;
            p = p * lambda[j] / k as f32;
            let f_next = f + p;
            if f_next == f {
                break;
            }
            f = f_next;
        }
        counts[j / n] += k;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// B ~ Poisson(mu) at the small means of the scheme and at larger ones (where B > 1 is
    /// common), by chi-square on 4e5 draws each.
    #[test]
    fn own_extra_count_is_poisson() {
        for &mu in &[1e-3f32, 0.05, 0.5, 2.0] {
            let draws: Vec<u32> = (0..400_000u32)
                .map(|i| own_extra_count(mu, rng::philox4x32_10([i, 1, 2, 3], [4, 5])[2], 64))
                .collect();
            let law = crate::stats::DiscreteLaw::poisson(mu as f64);
            let gof = crate::stats::chi_square(&draws, &law);
            assert!(gof.p_value > 1e-6, "mu {mu}: {gof:?}");
        }
        // The thresholds are right to 2^-32: P(B >= 1) over all words equals floor(sf 2^32).
        let mu = 1e-3f32;
        assert_eq!(
            own_extra_count(mu, to_threshold32(-expm1_f32(-mu)) - 1, 64),
            1,
            "last word below the first threshold"
        );
        assert_eq!(own_extra_count(mu, to_threshold32(-expm1_f32(-mu)), 64), 0);
        // At the default dt nu_max = 1e-3, three terms leave a tail of 4e-14.
        assert_eq!(own_extra_terms(1e-3), 3);
    }

    /// The quads of each population are disjoint and cover it; neighbouring populations do
    /// not share a counter even when n is not a multiple of 4.
    #[test]
    fn quads_stay_within_a_population() {
        for n in [1u32, 3, 4, 5, 1003] {
            let e_last = quad_index(n, 0, n - 1);
            assert!(e_last < quad_index(n, 1, 0), "n {n}");
            assert_eq!(quad_index(n, 0, 0), 0);
        }
    }
}
