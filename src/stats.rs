//! Goodness-of-fit statistics used by the self-test and the statistical tests: chi-square for
//! discrete laws (cells pooled to an expected count of at least 5), Kolmogorov–Smirnov for
//! continuous laws, and sample moments with their standard errors.

use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::function::gamma::ln_gamma;

#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct TestResult {
    pub statistic: f64,
    pub dof: f64,
    pub p_value: f64,
}

/// ln P(K = k), K ~ Poisson(lambda), in f64.
pub fn poisson_ln_pmf(k: u64, lambda: f64) -> f64 {
    if lambda == 0.0 {
        return if k == 0 { 0.0 } else { f64::NEG_INFINITY };
    }
    let k = k as f64;
    k * lambda.ln() - lambda - ln_gamma(k + 1.0)
}

/// ln P(K = k), K ~ Binomial(m, p), in f64.
pub fn binomial_ln_pmf(k: u64, m: u64, p: f64) -> f64 {
    if k > m {
        return f64::NEG_INFINITY;
    }
    let (kf, mf) = (k as f64, m as f64);
    let lc = ln_gamma(mf + 1.0) - ln_gamma(kf + 1.0) - ln_gamma(mf - kf + 1.0);
    let a = if k == 0 { 0.0 } else { kf * p.ln() };
    let b = if k == m {
        0.0
    } else {
        (mf - kf) * (-p).ln_1p()
    };
    lc + a + b
}

/// A discrete law on [lo, hi] (probability outside it below 1e-15), as probabilities.
pub struct DiscreteLaw {
    pub lo: u64,
    pub probs: Vec<f64>,
}

impl DiscreteLaw {
    pub fn from_ln_pmf(mean: f64, sd: f64, max: u64, ln_pmf: impl Fn(u64) -> f64) -> Self {
        let lo = (mean - 12.0 * sd - 20.0).max(0.0).floor() as u64;
        let hi = ((mean + 12.0 * sd + 20.0).ceil() as u64).min(max);
        let probs = (lo..=hi).map(|k| ln_pmf(k).exp()).collect();
        DiscreteLaw { lo, probs }
    }

    pub fn poisson(lambda: f64) -> Self {
        Self::from_ln_pmf(lambda, lambda.sqrt(), u64::MAX / 2, |k| {
            poisson_ln_pmf(k, lambda)
        })
    }

    pub fn binomial(m: u64, p: f64) -> Self {
        let sd = (m as f64 * p * (1.0 - p)).sqrt();
        Self::from_ln_pmf(m as f64 * p, sd, m, |k| binomial_ln_pmf(k, m, p))
    }

    /// Central moments 2, 3, 4, 6 and the mean.
    pub fn moments(&self) -> LawMoments {
        let mean: f64 = self
            .probs
            .iter()
            .enumerate()
            .map(|(i, p)| (self.lo + i as u64) as f64 * p)
            .sum();
        let c = |r: i32| -> f64 {
            self.probs
                .iter()
                .enumerate()
                .map(|(i, p)| ((self.lo + i as u64) as f64 - mean).powi(r) * p)
                .sum()
        };
        LawMoments {
            mean,
            mu2: c(2),
            mu3: c(3),
            mu4: c(4),
            mu6: c(6),
        }
    }
}

/// Pearson chi-square of integer samples against a discrete law. Adjacent cells are pooled
/// until each expects at least 5 counts; the law's mass outside its stored range goes to
/// the end cells.
pub fn chi_square(samples: &[u32], law: &DiscreteLaw) -> TestResult {
    let n = samples.len() as f64;
    let len = law.probs.len();
    let mut counts = vec![0f64; len];
    for &s in samples {
        let k = (s as u64).saturating_sub(law.lo).min(len as u64 - 1) as usize;
        counts[k] += 1.0;
    }
    let total_p: f64 = law.probs.iter().sum();
    let mut probs = law.probs.clone();
    probs[len - 1] += (1.0 - total_p).max(0.0);
    let mut cells: Vec<(f64, f64)> = Vec::new();
    let (mut o, mut e) = (0.0, 0.0);
    for i in 0..len {
        o += counts[i];
        e += probs[i] * n;
        if e >= 5.0 {
            cells.push((o, e));
            o = 0.0;
            e = 0.0;
        }
    }
    if let Some(last) = cells.last_mut() {
        last.0 += o;
        last.1 += e;
    } else {
        cells.push((o, e));
    }
    let stat: f64 = cells.iter().map(|(o, e)| (o - e) * (o - e) / e).sum();
    let dof = (cells.len() as f64 - 1.0).max(1.0);
    let p_value = ChiSquared::new(dof).map(|d| d.sf(stat)).unwrap_or(f64::NAN);
    TestResult {
        statistic: stat,
        dof,
        p_value,
    }
}

/// One-sample Kolmogorov–Smirnov against a continuous CDF (asymptotic p-value).
pub fn ks_test(samples: &[f32], cdf: impl Fn(f64) -> f64) -> TestResult {
    let mut x: Vec<f64> = samples.iter().map(|&v| v as f64).collect();
    x.sort_by(|a, b| a.total_cmp(b));
    let n = x.len() as f64;
    let mut d: f64 = 0.0;
    for (i, &v) in x.iter().enumerate() {
        let f = cdf(v);
        d = d.max((i as f64 + 1.0) / n - f).max(f - i as f64 / n);
    }
    TestResult {
        statistic: d,
        dof: n,
        p_value: kolmogorov_sf(n.sqrt() * d),
    }
}

/// P(K > t) for the Kolmogorov distribution.
pub fn kolmogorov_sf(t: f64) -> f64 {
    if t < 0.2 {
        return 1.0;
    }
    let mut s = 0.0;
    for j in 1..200 {
        let jf = j as f64;
        let term = (-2.0 * jf * jf * t * t).exp();
        s += if j % 2 == 1 { term } else { -term };
        if term < 1e-18 {
            break;
        }
    }
    (2.0 * s).clamp(0.0, 1.0)
}

/// A law's mean and central moments.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct LawMoments {
    pub mean: f64,
    pub mu2: f64,
    pub mu3: f64,
    pub mu4: f64,
    pub mu6: f64,
}

impl LawMoments {
    pub const STANDARD_NORMAL: LawMoments = LawMoments {
        mean: 0.0,
        mu2: 1.0,
        mu3: 0.0,
        mu4: 3.0,
        mu6: 15.0,
    };
    pub const UNIFORM01: LawMoments = LawMoments {
        mean: 0.5,
        mu2: 1.0 / 12.0,
        mu3: 0.0,
        mu4: 1.0 / 80.0,
        mu6: 1.0 / 448.0,
    };
}

/// Sample mean, variance and third central moment, each as a z-score against a law:
/// (sample - law) / standard error, with the standard errors of the law's moments.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct MomentCheck {
    pub mean: f64,
    pub var: f64,
    pub mu3: f64,
    pub z_mean: f64,
    pub z_var: f64,
    pub z_mu3: f64,
}

impl MomentCheck {
    pub fn max_abs_z(&self) -> f64 {
        self.z_mean
            .abs()
            .max(self.z_var.abs())
            .max(self.z_mu3.abs())
    }
}

pub fn moment_check(samples: impl Iterator<Item = f64> + Clone, law: &LawMoments) -> MomentCheck {
    let mut n = 0.0;
    let mut sum = 0.0;
    for x in samples.clone() {
        n += 1.0;
        sum += x - law.mean;
    }
    let mean_shift = sum / n;
    let (mut s2, mut s3) = (0.0, 0.0);
    for x in samples {
        let d = x - law.mean - mean_shift;
        s2 += d * d;
        s3 += d * d * d;
    }
    let var = s2 / (n - 1.0);
    let mu3 = s3 / n;
    let se_mean = (law.mu2 / n).sqrt();
    // Exact variance of the unbiased sample variance (nonzero even for Bernoulli(1/2)).
    let se_var = ((law.mu4 - law.mu2 * law.mu2 + 2.0 * law.mu2 * law.mu2 / (n - 1.0)) / n).sqrt();
    let se_mu3 = ((law.mu6 - law.mu3 * law.mu3 - 6.0 * law.mu4 * law.mu2 + 9.0 * law.mu2.powi(3))
        / n)
        .sqrt();
    MomentCheck {
        mean: law.mean + mean_shift,
        var,
        mu3,
        z_mean: mean_shift / se_mean,
        z_var: (var - law.mu2) / se_var,
        z_mu3: (mu3 - law.mu3) / se_mu3,
    }
}

/// Standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * statrs::function::erf::erfc(-x / std::f64::consts::SQRT_2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn law_moments_match_closed_forms() {
        let l = 37.5;
        let m = DiscreteLaw::poisson(l).moments();
        assert!((m.mean - l).abs() < 1e-9 && (m.mu2 - l).abs() < 1e-8);
        assert!((m.mu3 - l).abs() < 1e-7 && (m.mu4 - (l + 3.0 * l * l)).abs() < 1e-5);
        let (n, p) = (200u64, 0.3);
        let b = DiscreteLaw::binomial(n, p).moments();
        let npq = n as f64 * p * (1.0 - p);
        assert!((b.mean - 60.0).abs() < 1e-9 && (b.mu2 - npq).abs() < 1e-8);
        assert!((b.mu3 - npq * (1.0 - 2.0 * p)).abs() < 1e-7);
    }

    #[test]
    fn chi_square_rejects_a_shifted_law() {
        // Exact quantiles of Poisson(20) pass; the same samples against Poisson(21) fail.
        let law = DiscreteLaw::poisson(20.0);
        let mut samples = Vec::new();
        let n = 100_000usize;
        let mut cdf = 0.0;
        for (i, p) in law.probs.iter().enumerate() {
            let from = (cdf * n as f64).round() as usize;
            cdf += p;
            let to = (cdf * n as f64).round() as usize;
            samples.extend(std::iter::repeat_n((law.lo as usize + i) as u32, to - from));
        }
        assert!(chi_square(&samples, &law).p_value > 0.5);
        assert!(chi_square(&samples, &DiscreteLaw::poisson(21.0)).p_value < 1e-10);
    }

    #[test]
    fn kolmogorov_sf_known_points() {
        // Known quantiles of the Kolmogorov distribution: P(K > 1.3581) = 0.05, P(K > 1.6276) = 0.01.
        assert!((kolmogorov_sf(1.3581) - 0.05).abs() < 1e-3);
        assert!((kolmogorov_sf(1.6276) - 0.01).abs() < 1e-3);
    }
}
