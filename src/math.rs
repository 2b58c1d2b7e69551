//! f32 elementary functions spelled out so that the CPU vectorises them and their WGSL twins
//! in `shaders/math.wgsl` compute the same functions (WGSL's own have no specified accuracy).

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
}
