//! What a model H run measures: population power sums at each record point and the
//! moments derived from them.

use crate::hydro::config::HydroSetup;
use crate::hydro::theory::{self, TheoryPoint};
use serde::Serialize;

/// Sums over one population of 1, d, d², d³, d⁴ with d = x - shift. The shift is the
/// population's mean at the previous record (x0_mean at first), carried by each backend from
/// record to record, so that |mean(d)| stays of the order of the spread however far the state
/// travels: the central moments computed from the raw sums do not cancel (with a fixed shift
/// far from the state, a tiny beta gave negative variances).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct PowerSums {
    pub count: f64,
    pub s1: f64,
    pub s2: f64,
    pub s3: f64,
    pub s4: f64,
}

impl PowerSums {
    #[inline(always)]
    pub fn add(&mut self, d: f64) {
        let d2 = d * d;
        self.count += 1.0;
        self.s1 += d;
        self.s2 += d2;
        self.s3 += d2 * d;
        self.s4 += d2 * d2;
    }

    pub fn merge(&mut self, o: &PowerSums) {
        self.count += o.count;
        self.s1 += o.s1;
        self.s2 += o.s2;
        self.s3 += o.s3;
        self.s4 += o.s4;
    }

    /// (mean, variance, skewness, excess kurtosis) of the population (1/count normalisation).
    pub fn moments(&self, shift: f64) -> (f64, f64, f64, f64) {
        let n = self.count;
        let m = self.s1 / n;
        let e2 = self.s2 / n;
        let e3 = self.s3 / n;
        let e4 = self.s4 / n;
        let var = e2 - m * m;
        let c3 = e3 - 3.0 * m * e2 + 2.0 * m * m * m;
        let c4 = e4 - 4.0 * m * e3 + 6.0 * m * m * e2 - 3.0 * m.powi(4);
        (m + shift, var, c3 / var.powf(1.5), c4 / (var * var) - 3.0)
    }
}

/// What a backend hands back at a record point.
#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize)]
pub struct RecordSample {
    /// Steps completed (the state is x(step)).
    pub step: u64,
    pub sums: [PowerSums; 2],
    /// Lambda_b = sum over population b of f_b(x_j) at this state.
    pub lambda: [f64; 2],
    /// Per population, the centre the power sums were taken about.
    pub shift: [f64; 2],
}

impl RecordSample {
    /// Population a's mean, when finite: the centre of the next record's sums.
    pub fn mean(&self, a: usize) -> Option<f64> {
        let m = self.shift[a] + self.sums[a].s1 / self.sums[a].count;
        m.is_finite().then_some(m)
    }
}

/// One row of moments.csv.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MomentRow {
    pub t: f64,
    pub step: u64,
    pub population: usize,
    pub mean: f64,
    pub var: f64,
    pub rate: f64,
    pub skewness: f64,
    pub excess_kurtosis: f64,
    pub drift: f64,
}

pub const POP_NAMES: [&str; 2] = ["E", "I"];

/// Late-time (t >= `LATE_T`) comparison of one moment of one population.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LateComparison {
    pub simulated: f64,
    pub limit: f64,
    pub corrected: f64,
    pub error_vs_limit: f64,
    pub error_vs_limit_times_sqrt_n: f64,
    pub first_order_coefficient: f64,
    pub error_vs_corrected: f64,
    /// The corrected prediction plus the O(dt) offset of the scheme's own n → ∞ limit
    /// (`hydro_limit::scheme_steady_state` minus the dt → 0 steady state).
    pub corrected_at_dt: f64,
    pub error_vs_corrected_at_dt: f64,
}

/// Per population, the O(dt) offsets (rate, mean, var) of the scheme's n → ∞ steady state
/// from the dt → 0 one; zero where the theory has no balanced state.
pub fn scheme_offsets(s: &HydroSetup) -> [[f64; 3]; 2] {
    let p = s.theory_params();
    match (
        theory::steady_state(&p),
        theory::scheme_steady_state(&p, s.config.dt),
    ) {
        (Ok(c), Ok(d)) => std::array::from_fn(|a| {
            [
                d.rate[a] - c.rate[a],
                d.mu[a] - c.mu[a],
                d.var[a] - c.var[a],
            ]
        }),
        _ => [[0.0; 3]; 2],
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LatePopulation {
    pub population: &'static str,
    pub rate: LateComparison,
    pub mean: LateComparison,
    pub var: LateComparison,
}

/// Start of the window used for steady-state comparisons (docs/models.md: after the initial layer).
pub const LATE_T: f64 = 2.0;

/// Turns record samples into rows of moments.csv.
pub fn rows_from_samples(s: &HydroSetup, samples: &[RecordSample]) -> Vec<MomentRow> {
    let c = &s.config;
    let n = c.n as f64;
    let mut rows = Vec::with_capacity(samples.len() * 2);
    for smp in samples {
        let r = [smp.lambda[0] / n, smp.lambda[1] / n];
        for a in 0..2 {
            let (mean, var, skewness, excess_kurtosis) = smp.sums[a].moments(smp.shift[a]);
            let drift = n.sqrt() * (s.h[a] + c.j[a][0] * r[0] - c.j[a][1] * r[1]);
            rows.push(MomentRow {
                t: smp.step as f64 * c.dt,
                step: smp.step,
                population: a,
                mean,
                var,
                rate: r[a],
                skewness,
                excess_kurtosis,
                drift,
            });
        }
    }
    rows
}

/// Late-time averages of the simulation against the limit and the corrected prediction
/// (linear in the records when `pts` is in time order, as `hydro::theory::trajectory` gives
/// them).
pub fn late_time_comparison(
    rows: &[MomentRow],
    pts: &[TheoryPoint],
    n: f64,
    dt_offsets: [[f64; 3]; 2],
) -> Vec<LatePopulation> {
    let sn = n.sqrt();
    let sorted = pts.is_sorted_by(|x, y| x.t <= y.t);
    let mut out = Vec::new();
    for a in 0..2 {
        // The theory point at each row's time: `pts` is in time order, so a binary search
        // finds the first point within 1e-9 (a linear search per row made this quadratic in
        // the number of records: 2e5 records took minutes).
        let late: Vec<(&MomentRow, &TheoryPoint)> = rows
            .iter()
            .filter(|r| r.population == a && r.t >= LATE_T - 1e-9)
            .filter_map(|r| {
                let p = if sorted {
                    pts.get(pts.partition_point(|p| p.t - r.t <= -1e-9))
                        .filter(|p| (p.t - r.t).abs() < 1e-9)
                } else {
                    pts.iter().find(|p| (p.t - r.t).abs() < 1e-9)
                };
                p.map(|p| (r, p))
            })
            .collect();
        if late.is_empty() {
            continue;
        }
        let k = late.len() as f64;
        let cmp = |sim: &dyn Fn(&MomentRow) -> f64,
                   lim: &dyn Fn(&TheoryPoint) -> f64,
                   coef: &dyn Fn(&TheoryPoint) -> f64,
                   offset: f64| {
            let simulated = late.iter().map(|(r, _)| sim(r)).sum::<f64>() / k;
            let limit = late.iter().map(|(_, p)| lim(p)).sum::<f64>() / k;
            let c1 = late.iter().map(|(_, p)| coef(p)).sum::<f64>() / k;
            let corrected = limit + c1 / sn;
            LateComparison {
                simulated,
                limit,
                corrected,
                error_vs_limit: simulated - limit,
                error_vs_limit_times_sqrt_n: (simulated - limit) * sn,
                first_order_coefficient: c1,
                error_vs_corrected: simulated - corrected,
                corrected_at_dt: corrected + offset,
                error_vs_corrected_at_dt: simulated - corrected - offset,
            }
        };
        out.push(LatePopulation {
            population: POP_NAMES[a],
            rate: cmp(
                &|r| r.rate,
                &|p| p.rate[a],
                &|p| p.delta[a],
                dt_offsets[a][0],
            ),
            mean: cmp(&|r| r.mean, &|p| p.mu[a], &|p| p.m1[a], dt_offsets[a][1]),
            var: cmp(&|r| r.var, &|p| p.var[a], &|p| p.v1[a], dt_offsets[a][2]),
        });
    }
    out
}

/// The first record among `samples` (a chunk's new records, in step order) at which the
/// state is no longer a faithful f32 simulation, as a failure message naming its step and
/// population: a non-finite moment, or a state so far from 0 that f32 cannot resolve one
/// synaptic jump (see `resolution_lost`).
pub fn health_failure(s: &HydroSetup, samples: &[RecordSample]) -> Option<String> {
    let c = &s.config;
    for row in rows_from_samples(s, samples) {
        let at = format!(
            "at step {} (t = {}) in population {}",
            row.step,
            row.step as f64 * c.dt,
            POP_NAMES[row.population]
        );
        if !(row.mean.is_finite() && row.var.is_finite() && row.rate.is_finite()) {
            return Some(format!("non-finite state {at}"));
        }
        if let Some(why) = resolution_lost(s, row.population, row.mean, row.var) {
            return Some(format!("f32 resolution lost {at}: {why}"));
        }
    }
    None
}

/// Why population a's state (mean, variance) is beyond f32's resolution, if it is: the
/// spacing of f32 values at |mean| + 4 sd exceeds the smallest synaptic jump J_ab/sqrt(n)
/// into the population, so that single jumps round away (or double) and the simulated
/// process is no longer the model's.
pub fn resolution_lost(s: &HydroSetup, a: usize, mean: f64, var: f64) -> Option<String> {
    let c = &s.config;
    let sn = (c.n as f64).sqrt();
    let jump = (0..2)
        .map(|b| (c.j[a][b] / sn).abs())
        .filter(|&j| j > 0.0)
        .fold(f64::INFINITY, f64::min);
    let x = mean.abs() + 4.0 * var.max(0.0).sqrt();
    if !jump.is_finite() || x < f64::MIN_POSITIVE {
        return None;
    }
    let spacing = (x.log2().floor() - 23.0).exp2();
    (spacing > jump).then(|| {
        format!(
            "|x| reaches {x:.4e} (mean {mean:.4e}, sd {:.3e}), where f32 values are {spacing:.3e} apart, more than the smallest jump J/sqrt(n) = {jump:.3e}; start the state nearer 0 (x0_mean) or raise the jumps (smaller n)",
            var.max(0.0).sqrt()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_sums_give_known_moments() {
        // The sample {1, 2, 3, 4, 10}: mean 4, variance 10 (1/n), third central moment 36.
        let xs = [1.0, 2.0, 3.0, 4.0, 10.0];
        let mut s = PowerSums::default();
        for x in xs {
            s.add(x - 3.5);
        }
        let (m, v, sk, ku) = s.moments(3.5);
        assert!((m - 4.0).abs() < 1e-12 && (v - 10.0).abs() < 1e-12);
        assert!((sk - 36.0 / 10f64.powf(1.5)).abs() < 1e-12);
        let c4 = xs.iter().map(|x| (x - 4.0f64).powi(4)).sum::<f64>() / 5.0;
        assert!((ku - (c4 / 100.0 - 3.0)).abs() < 1e-12);
    }
}
