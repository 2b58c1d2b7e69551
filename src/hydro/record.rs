//! What a model H run measures: population power sums at each record point and the
//! moments derived from them.

use serde::Serialize;

/// Sums over one population of 1, d, d², d³, d⁴ with d = x - shift (the shift, the theory's
/// mean, keeps the raw sums from cancelling).
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
