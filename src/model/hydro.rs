//! Model H: the balanced all-to-all stochastic hybrid network (MODEL.md). Derived constants
//! and the per-neuron step, written once here and mirrored in `shaders/hydro.wgsl`.
//!
//! Neuron k of population a has global index `k + a * n`; its draws at step t come from
//! counter (global index, t, purpose, replica) under the run's key.

use crate::config::{Coupling, HydroSetup};
use crate::rng::{self, Stream, purpose};

/// Capacity of one population's per-step Poisson inverse-CDF table, and of its guide table.
pub const POISSON_TABLE_CAP: usize = 16384;
pub const POISSON_GUIDE_CAP: usize = 16384;
/// Largest per-step Poisson mean the table covers (its range is lambda ± (10 sqrt(lambda) + 12)).
pub const POISSON_TABLE_LAMBDA_MAX: f64 = 5.0e5;
/// Purposes of `pairwise` mode: PAIR_PURPOSE_BASE + source / 4 (four sources per Philox call).
pub const PAIR_PURPOSE_BASE: u32 = 1 << 20;

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
        }
    }

    /// f_a(x) = nu_max / (1 + exp(-beta (x - theta)))
    #[inline(always)]
    pub fn rate_fn(&self, a: usize, x: f32) -> f32 {
        self.nu_max[a] / (1.0 + exp_f32(-self.beta[a] * (x - self.theta[a])))
    }

    /// x(0) of global neuron `g` in population a.
    pub fn initial_x(&self, a: usize, g: u32, replica: u32) -> f32 {
        let mut s = Stream::new(rng::counter(g, 0, purpose::HYDRO_INIT, replica), self.key);
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

/// Below this |x|, `expm1_f32` uses its series.
pub const EXPM1_SERIES_MAX: f32 = 1e-3;

/// exp(x) - 1, accurate near 0 (WGSL has no expm1).
#[inline(always)]
pub fn expm1_f32(x: f32) -> f32 {
    if x.abs() < EXPM1_SERIES_MAX {
        expm1_series(x)
    } else {
        exp_f32(x) - 1.0
    }
}

/// The series branch of `expm1_f32` (relative error < 1e-13 for |x| < 1e-3, below f32's).
#[inline(always)]
pub fn expm1_series(x: f32) -> f32 {
    x * (1.0 + x * (0.5 + x * (1.0 / 6.0)))
}

/// e^x in f32 within 2 ulp (Cephes expf: Cody–Waite reduction by ln 2, degree-6 polynomial),
/// spelled out so that the CPU vectorises it and the WGSL twin computes the same function
/// (WGSL's exp has no specified accuracy). x is clamped to [-87, 88]; NaN stays NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let kf = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = x - kf * 0.693_359_4 - kf * -2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * (r * r) + r + 1.0;
    y * f32::from_bits(((kf as i32 + 127) as u32) << 23)
}

/// Exact inverse-CDF table of Poisson(lambda) on [lo, lo + len): thresholds T[i] =
/// round(F(lo + i) 2^32), sampled with a full 32-bit word w as the first i with w < T[i];
/// the guide table gives each w's starting index (Chen & Asau), so a draw is one or two
/// comparisons. Mass outside the range (< 1e-20) is given to the end entries.
#[derive(Clone, Debug)]
pub struct PoissonTable {
    pub lo: u32,
    pub len: u32,
    pub guide_shift: u32,
    /// T[0 .. len) in a fixed-capacity array, so that an index masked by CAP - 1 needs no
    /// bounds check and the lane sampler vectorises into gathers.
    pub thresholds: Box<[u32; POISSON_TABLE_CAP]>,
    pub guide: Box<[u32; POISSON_GUIDE_CAP]>,
}

const TABLE_MASK: usize = POISSON_TABLE_CAP - 1;
const GUIDE_MASK: usize = POISSON_GUIDE_CAP - 1;

fn boxed_zeros<const N: usize>() -> Box<[u32; N]> {
    vec![0u32; N]
        .into_boxed_slice()
        .try_into()
        .expect("length N")
}

/// [lo, hi] of the table of Poisson(lambda).
pub fn poisson_table_range(lambda: f64) -> (u32, u32) {
    let w = 10.0 * lambda.sqrt() + 12.0;
    let lo = (lambda - w).max(0.0).floor() as u32;
    let hi = (lambda + w).ceil() as u32;
    (lo, hi)
}

/// log2 of the guide-table size for a table of `len` entries: about 4 buckets per entry (so
/// that a draw rarely needs more than the guide's first comparison), at most POISSON_GUIDE_CAP.
pub fn guide_bits(len: u32) -> u32 {
    let mut bits = 1;
    while (1u32 << bits) < len {
        bits += 1;
    }
    (bits + 2).min(POISSON_GUIDE_CAP.trailing_zeros())
}

impl PoissonTable {
    /// Builds the table in f64 (the GPU builds the same table in f32 on the device).
    pub fn build(lambda: f64) -> Self {
        let mut t = PoissonTable {
            lo: 0,
            len: 1,
            guide_shift: 31,
            thresholds: boxed_zeros::<POISSON_TABLE_CAP>(),
            guide: boxed_zeros::<POISSON_GUIDE_CAP>(),
        };
        t.rebuild(lambda);
        t
    }

    /// Rebuilds the table for a new lambda in place (no allocation: the CPU backend keeps
    /// one table per population for the whole run).
    pub fn rebuild(&mut self, lambda: f64) {
        let built = Self::compute(lambda);
        let len = built.0.len();
        self.thresholds[..len].copy_from_slice(&built.0);
        let bits = guide_bits(len as u32);
        let guide_shift = 32 - bits;
        let thresholds = &self.thresholds[..len];
        for (g, e) in self.guide.iter_mut().take(1 << bits).enumerate() {
            let w = (g as u64) << guide_shift;
            *e = thresholds
                .partition_point(|&t| (t as u64) <= w)
                .min(len - 1) as u32;
        }
        self.lo = built.1;
        self.len = len as u32;
        self.guide_shift = guide_shift;
    }

    /// The thresholds of Poisson(lambda) on [lo, lo + len), and lo.
    fn compute(lambda: f64) -> (Vec<u32>, u32) {
        let (lo, hi) = poisson_table_range(lambda);
        let len = (hi - lo + 1) as usize;
        let mut pmf = vec![0f64; len];
        if lambda <= 0.0 {
            pmf[0] = 1.0;
        } else {
            let mode = lambda.floor().max(lo as f64).min(hi as f64) as u32;
            let im = (mode - lo) as usize;
            pmf[im] = crate::stats::poisson_ln_pmf(mode as u64, lambda).exp();
            for i in im + 1..len {
                pmf[i] = pmf[i - 1] * lambda / (lo as usize + i) as f64;
            }
            for i in (0..im).rev() {
                pmf[i] = pmf[i + 1] * (lo as usize + i + 1) as f64 / lambda;
            }
        }
        let mut thresholds = vec![0u32; len];
        // Lower half from the CDF, upper half from the survival function, so that both
        // tails keep their relative precision.
        let mid = len / 2;
        let mut cdf = 0.0;
        for i in 0..mid {
            cdf += pmf[i];
            thresholds[i] = to_threshold(cdf);
        }
        let mut sf = 0.0;
        for i in (mid..len).rev() {
            thresholds[i] = to_threshold(1.0 - sf);
            sf += pmf[i];
        }
        (thresholds, lo)
    }

    /// The first i at or after the guide's entry with w < T[i] (or the last entry). The first
    /// comparison is branch-free; the loop rarely runs.
    #[inline(always)]
    pub fn sample(&self, w: u32) -> u32 {
        let mut i = self.guide[(w >> self.guide_shift) as usize & GUIDE_MASK] as usize;
        let last = self.len as usize - 1;
        i += ((i < last) & (w >= self.thresholds[i & TABLE_MASK])) as usize;
        while i < last && w >= self.thresholds[i & TABLE_MASK] {
            i += 1;
        }
        self.lo + i as u32
    }
}

fn to_threshold(p: f64) -> u32 {
    (p * 4_294_967_296.0).round().clamp(0.0, 4_294_967_295.0) as u32
}

/// Removes from `count` Poisson arrivals (drawn at the population's total intensity) those of
/// the neuron's own term: each is removed with probability q = f(x_k) / Lambda_a, i.e.
/// count - Binomial(count, q), exactly. The common case costs one comparison: with
/// c = count * q_max >= 1 - (1 - q)^count, a uniform u >= c means nothing is removed; only
/// for u < c (probability ~ count/n) is f(x_k) evaluated and the rest of the law drawn from a
/// fresh stream, from the mixture component D(0) = 1 - P(>=1)/c, D(j) = P(j)/c.
#[inline(always)]
pub fn thin_self(
    count: u32,
    u: f32,
    q_max: f32,
    q_exact: impl FnOnce() -> f32,
    tail: impl FnOnce() -> Stream,
) -> u32 {
    let c = count as f32 * q_max;
    if count == 0 || u >= c {
        return count;
    }
    count - thin_self_rare(count, c, q_exact(), &mut tail())
}

/// The rare branch of `thin_self`: a draw from D (see there).
pub fn thin_self_rare(count: u32, c: f32, q: f32, s: &mut Stream) -> u32 {
    let nf = count as f32;
    let lq = rng::log1p_f32(-q);
    let p_any = -expm1_f32(nf * lq);
    let v = rng::uniform01(s);
    let mut f = 1.0 - p_any / c;
    if v < f {
        return 0;
    }
    let ratio = q / (1.0 - q);
    let mut term = nf * q * ((nf - 1.0) * lq).exp() / c;
    let mut j = 1u32;
    loop {
        let f_next = f + term;
        if v < f_next || j >= count || f_next == f {
            return j;
        }
        f = f_next;
        term = term * ((count - j) as f32 / (j + 1) as f32) * ratio;
        j += 1;
    }
}

/// One `independent`-mode step of neuron `g` (population a, state x) at step t.
/// lambda_total: the populations' summed intensities Lambda_b (last step's state).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn step_independent(
    c: &HydroConsts,
    a: usize,
    g: u32,
    x: f32,
    t: u32,
    replica: u32,
    tables: &[PoissonTable; 2],
    q_max: [f32; 2],
    lambda_total: [f32; 2],
) -> f32 {
    let w = rng::philox4x32_10(rng::counter(g, t, purpose::HYDRO_STEP, replica), c.key);
    let mut counts = [tables[0].sample(w[0]), tables[1].sample(w[1])];
    counts[a] = thin_self(
        counts[a],
        rng::u32_to_uniform(w[2]),
        q_max[a],
        || c.rate_fn(a, x) / lambda_total[a],
        || Stream::new(rng::counter(g, t, purpose::HYDRO_TAIL, replica), c.key),
    );
    c.relax(a, x) + (c.jump[a][0] * counts[0] as f32 - c.jump[a][1] * counts[1] as f32)
}

/// `shared` mode: whether neuron `g` spikes at step t (one Philox call serves 4 neurons).
#[inline(always)]
pub fn spikes_shared(c: &HydroConsts, a: usize, g: u32, x: f32, t: u32, replica: u32) -> bool {
    let w = rng::philox4x32_10(rng::counter(g / 4, t, purpose::HYDRO_STEP, replica), c.key);
    rng::u32_to_uniform(w[(g % 4) as usize]) < c.spike_prob(a, x)
}

/// One `shared`-mode step: input from this step's spike counts without the neuron's own.
#[inline(always)]
pub fn step_shared(c: &HydroConsts, a: usize, x: f32, own_spike: bool, spikes: [u32; 2]) -> f32 {
    let mut s = spikes;
    s[a] -= own_spike as u32;
    c.relax(a, x) + (c.jump[a][0] * s[0] as f32 - c.jump[a][1] * s[1] as f32)
}

/// `pairwise` mode: neuron `g`'s input counts from every other neuron, each pair's count
/// drawn separately: Poisson(dt f(x_j)) with P(0) = p0[j] precomputed per source.
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
            let ctr = rng::counter(g, t, PAIR_PURPOSE_BASE + (j / 4) as u32, replica);
            w = rng::philox4x32_10(ctr, c.key);
        }
        if j == g as usize {
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
    use crate::sampler_check::{self as sc};

    #[test]
    fn exp_f32_is_accurate() {
        let mut worst = 0f64;
        for i in 0..=2_000_000 {
            let x = -87.0 + 175.0 * i as f64 / 2e6;
            let got = exp_f32(x as f32) as f64;
            let want = (x as f32 as f64).exp();
            worst = worst.max(((got - want) / want).abs());
        }
        // 2 ulp of f32 is 2.4e-7 relative.
        assert!(worst < 2.4e-7, "max relative error {worst:e}");
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(0.0), 1.0);
    }

    #[test]
    fn table_sampler_fits_poisson() {
        for &lambda in &[0.0, 0.02, 1.0, 9.99, 150.0, 450.0, 4500.0, 45000.0] {
            let t = PoissonTable::build(lambda);
            let mut draws = Vec::with_capacity(400_000);
            for i in 0..400_000u32 {
                let w = rng::philox4x32_10([i, 3, 5, 0], [7, 9]);
                draws.push(t.sample(w[0]));
            }
            if lambda == 0.0 {
                assert!(draws.iter().all(|&d| d == 0));
                continue;
            }
            let v = sc::evaluate(sc::Sampler::Poisson(lambda as f32), &draws);
            // Law built from the f32 lambda; compare against the exact f64 lambda instead.
            let law = crate::stats::DiscreteLaw::poisson(lambda);
            let gof = crate::stats::chi_square(&draws, &law);
            assert!(gof.p_value > 1e-6, "lambda {lambda}: {gof:?} {v:?}");
        }
    }

    #[test]
    fn thinning_is_exactly_binomial() {
        // count - thin ~ Binomial(count, q): with count = 50, q = 0.01 and q_max = 0.015 (both branches),
        // compare the removed counts with Binomial(50, 0.01) by chi-square.
        let (count, q, q_max) = (50u32, 0.01f32, 0.015f32);
        let mut removed = Vec::new();
        for i in 0..400_000u32 {
            let w = rng::philox4x32_10([i, 1, 2, 3], [4, 5]);
            let kept = thin_self(
                count,
                rng::u32_to_uniform(w[2]),
                q_max,
                || q,
                || Stream::new([i, 1, 99, 3], [4, 5]),
            );
            removed.push(count - kept);
        }
        let law = crate::stats::DiscreteLaw::binomial(count as u64, q as f64);
        let gof = crate::stats::chi_square(&removed, &law);
        assert!(gof.p_value > 1e-6, "{gof:?}");
    }
}
