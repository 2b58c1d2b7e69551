//! f32 elementary functions spelled out so that the CPU vectorises them and their WGSL twins
//! in `shaders/common/math.wgsl` compute the same functions (WGSL's own have no specified
//! accuracy, and WGSL has no expm1 or log1p). Every f32 helper that exists on both sides lives
//! here and there, function for function and in the same order; `tests/math_twins.rs` runs
//! each WGSL twin against this file on a device.

/// e^x in f32 within 2 ulp (Cephes expf: Cody–Waite reduction by ln 2, degree-6 polynomial),
/// spelled out so that the CPU vectorises it and the WGSL twin computes the same function
/// (WGSL's exp has no specified accuracy). x is clamped to [-87, 88]; NaN stays NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let (y, kf) = exp_reduced(x);
    y * f32::from_bits(((kf as i32 + 127) as u32) << 23)
}

/// The part of `exp_f32` before the scaling by 2^k: (e^r, k) with x = k ln 2 + r (x clamped to
/// [-87, 88]). CPU only: the WGSL twin of `exp_f32` spells it out.
#[inline(always)]
fn exp_reduced(x: f32) -> (f32, f32) {
    let x = x.clamp(-87.0, 88.0);
    let kf = round_ties_even_small(x * std::f32::consts::LOG2_E);
    let r = x - kf * 0.693_359_4 - kf * -2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    (p * (r * r) + r + 1.0, kf)
}

/// x rounded to the nearest integer, ties to even, for |x| < 2^22 (NaN stays NaN): adding and
/// removing 1.5 * 2^23 rounds in the FPU's default mode. The same value as
/// `f32::round_ties_even` (a zero may be +0 where that gives -0), which without SSE4.1 (the baseline x86-64 level) is a call to libm's
/// `rintf` per lane instead of two vector additions.
#[inline(always)]
pub fn round_ties_even_small(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
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

/// The series branch of `exp_neg` (x < 2^-6).
#[inline(always)]
pub fn exp_neg_series(x: f32) -> f32 {
    1.0 - x * (1.0 - x * (0.5 - x * (1.0 / 6.0 - x * (1.0 / 24.0))))
}

/// Below this x, `exp_neg` uses its series.
pub const EXP_NEG_SERIES_MAX: f32 = 0.015625;

/// e^{-x} for x >= 0: below 2^-6 the Taylor polynomial to x^4 (truncation < x^5/120 < 1e-11,
/// far below f32 rounding), a short dependency chain for the common short leaks; else
/// `exp_f32`.
#[inline(always)]
pub fn exp_neg(x: f32) -> f32 {
    if x < EXP_NEG_SERIES_MAX {
        exp_neg_series(x)
    } else {
        exp_f32(-x)
    }
}

/// `exp_f32` with 2^k formed from the float k's bits (k + 127 + 2^23 holds k + 127 in its
/// mantissa) instead of a saturating float-to-int conversion, which SSE2 has no packed form
/// of: the same value for every non-NaN x (a NaN stays NaN). CPU only, no WGSL twin.
#[inline(always)]
pub fn exp_f32_lane(x: f32) -> f32 {
    let (y, kf) = exp_reduced(x);
    // kf is an integer in [-126, 127] here, so kf + 8388735 is exact.
    y * f32::from_bits((kf + 8_388_735.0).to_bits() << 23)
}

/// `n as f32` from two exact signed conversions (the halves of n, each below 2^16) and one
/// rounding of their exact sum: the same value for every n, without the unsigned
/// conversion that AVX2 and SSE2 lack. CPU only.
#[inline(always)]
pub fn u32_to_f32_lane(n: u32) -> f32 {
    (n >> 16) as i32 as f32 * 65_536.0 + (n & 0xffff) as i32 as f32
}

/// `exp_neg` without its branch: both sides evaluated and one selected, the same value as
/// `exp_neg` for every non-NaN x, so that a loop over lanes if-converts into packed code
/// (CPU only: a lane-wise helper with no WGSL twin).
#[inline(always)]
pub fn exp_neg_select(x: f32) -> f32 {
    let series = exp_neg_series(x);
    let full = exp_f32_lane(-x);
    if x < EXP_NEG_SERIES_MAX { series } else { full }
}

/// ln x for x in (0, 1] and beyond (finite, > 0) in f32 within 2 ulp (Cephes logf), spelled
/// out so that it vectorises and the WGSL twin computes the same function.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    let e0 = ((bits >> 23) & 0xff) as i32 - 126;
    let m0 = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let small = m0 < std::f32::consts::FRAC_1_SQRT_2;
    let e = (e0 - small as i32) as f32;
    let m = if small { m0 + m0 - 1.0 } else { m0 - 1.0 };
    let z = m * m;
    let mut y = ((((((((7.037_683_6e-2 * m - 1.151_461e-1) * m + 1.167_699_9e-1) * m
        - 1.242_014_1e-1)
        * m
        + 1.424_932_3e-1)
        * m
        - 1.666_805_8e-1)
        * m
        + 2.000_071_5e-1)
        * m
        - 2.499_999_4e-1)
        * m
        + 3.333_333e-1)
        * m
        * z;
    y += -2.121_944_4e-4 * e;
    y += -0.5 * z;
    m + y + 0.693_359_4 * e
}

/// ln(1 + x), accurate for small x (Kahan's trick). Not bit-for-bit twinned: both sides call
/// their platform's ln (the WGSL twin `log`, whose accuracy the device decides).
#[inline]
pub fn log1p_f32(x: f32) -> f32 {
    let u = 1.0 + x;
    if u == 1.0 {
        x
    } else {
        u.ln() * (x / (u - 1.0))
    }
}

/// The 2^32-resolution threshold of probability p: a word w < threshold has probability
/// floor(p 2^32) / 2^32.
#[inline(always)]
pub fn to_threshold32(p: f32) -> u32 {
    let v = (p * 4_294_967_296.0).clamp(0.0, 4_294_967_040.0);
    // A NaN probability (a corrupted state) gives 0, as `as u32` would; written out so that
    // the conversion vectorises (LLVM scalarises the saturating `as` here). (WGSL's clamp of
    // NaN is the device's choice: the twins agree for every non-NaN p.)
    let v = if v.is_nan() { 0.0 } else { v };
    // SAFETY: v is finite and in [0, 2^32), so the truncation is defined.
    unsafe { v.to_int_unchecked::<u32>() }
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
    fn small_rounding_equals_round_ties_even() {
        // Every f32 in [-2^8, 2^8] with a fractional part of at most 8 bits, ties included,
        // and the clamp range's ends.
        for i in -(1i32 << 16)..=(1 << 16) {
            let x = i as f32 / 256.0;
            // Equal as values: a zero may come out +0 where round_ties_even gives -0, which
            // exp_f32 cannot tell apart (r = x - 0 c is x either way, 2^0 = 1).
            assert_eq!(round_ties_even_small(x), x.round_ties_even(), "{x}");
        }
        for x in [-126.0f32, 127.0, 0.5, -0.5, 1.5, 2.5, -2.5, 1e-30, -1e-30] {
            assert_eq!(round_ties_even_small(x), x.round_ties_even(), "{x}");
        }
        assert!(round_ties_even_small(f32::NAN).is_nan());
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

    #[test]
    fn ln_f32_is_accurate() {
        let mut worst = 0f64;
        // Every 24-bit uniform the gaps use, and a spread of larger values.
        for k in 1..=(1u32 << 24) {
            let x = k as f32 * (1.0 / 16_777_216.0);
            let got = ln_f32(x) as f64;
            let want = (x as f64).ln();
            let err = (got - want).abs() / want.abs().max(f32::EPSILON as f64);
            worst = worst.max(err);
        }
        for k in 0..10_000 {
            let x = 1.0 + k as f32 * 0.37;
            let want = (x as f64).ln();
            worst = worst.max((ln_f32(x) as f64 - want).abs() / want.abs().max(1e-7));
        }
        assert!(
            worst < 4.0 * f32::EPSILON as f64,
            "worst relative error {worst:e}"
        );
        assert_eq!(ln_f32(1.0), 0.0);
    }

    #[test]
    fn lane_twins_equal_the_scalar_functions() {
        // exp_f32_lane: every 64th f32 bit pattern (both signs, all exponents, the clamp).
        for b in (0..=u32::MAX).step_by(64) {
            let x = f32::from_bits(b);
            if x.is_nan() {
                assert!(exp_f32_lane(x).is_nan());
            } else {
                assert_eq!(exp_f32_lane(x).to_bits(), exp_f32(x).to_bits(), "{x:e}");
            }
        }
        // u32_to_f32_lane: the rounding boundaries above 2^24 and a stride over all u32.
        let edges = (24..32).flat_map(|e| {
            let b = 1u32 << e;
            (0..512u32).flat_map(move |d| [b.wrapping_sub(d), b | d, b | (d << (e - 24))])
        });
        for n in (0..=u32::MAX).step_by(4099).chain(edges).chain([u32::MAX]) {
            assert_eq!(u32_to_f32_lane(n).to_bits(), (n as f32).to_bits(), "{n}");
        }
    }

    #[test]
    fn exp_neg_select_equals_exp_neg() {
        // Both sides of the branch, its boundary (bit patterns around 2^-6) and the clamp.
        let b = EXP_NEG_SERIES_MAX.to_bits();
        let near = (b - 4096..b + 4096).map(f32::from_bits);
        let sweep = (0..200_000).map(|k| k as f32 * 1e-4);
        let ends = [0.0f32, -0.0, 1e-30, 86.9, 87.0, 88.0, 100.0, f32::INFINITY];
        for x in near.chain(sweep).chain(ends) {
            assert_eq!(exp_neg_select(x).to_bits(), exp_neg(x).to_bits(), "{x:e}");
        }
    }

    #[test]
    fn exp_neg_is_accurate() {
        for k in 0..100_000 {
            let x = k as f32 * 1e-5;
            let want = (-(x as f64)).exp();
            let got = exp_neg(x) as f64;
            assert!((got - want).abs() / want < 2.5e-7, "{x}: {got} vs {want}");
        }
    }
}
