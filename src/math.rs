//! f32 elementary functions spelled out so that the CPU vectorises them and their WGSL twins
//! in `shaders/common/math.wgsl` compute the same functions (WGSL's own have no specified accuracy).

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

/// Below this |x|, `expm1_f32` uses its series.
pub const EXPM1_SERIES_MAX: f32 = 0.25;

/// exp(x) - 1, accurate near 0 (WGSL has no expm1).
#[inline(always)]
pub fn expm1_f32(x: f32) -> f32 {
    if x.abs() < EXPM1_SERIES_MAX {
        expm1_series(x)
    } else {
        exp_f32(x) - 1.0
    }
}

/// The series branch of `expm1_f32`: degree 8 (truncation error below 5e-11 relative for
/// |x| < 0.25, so f32 rounding dominates).
#[inline(always)]
pub fn expm1_series(x: f32) -> f32 {
    x * (1.0
        + x * (0.5
            + x * (1.0 / 6.0
                + x * (1.0 / 24.0
                    + x * (1.0 / 120.0
                        + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0))))))))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn expm1_f32_is_accurate() {
        let mut worst = 0f64;
        for i in 1..=200_000 {
            for sign in [-1.0, 1.0] {
                let x = sign * (i as f64 / 200_000.0).powi(3) * 2.0;
                let got = expm1_f32(x as f32) as f64;
                let want = (x as f32 as f64).exp_m1();
                worst = worst.max(((got - want) / want).abs());
            }
        }
        // Above the series range exp_f32's 2 ulp become 2 ulp * e^x / (e^x - 1) relative,
        // largest at x = 0.25: 2.4e-7 * 1.284 / 0.284 = 1.08e-6.
        assert!(worst < 1.1e-6, "max relative error {worst:e}");
    }
}
