//! Numerics shared by both theories: the scaled complementary error function erfcx (the
//! Siegert integrals of model L, the Gaussian tails of model H's sigmoid moments), adaptive
//! Gauss–Kronrod quadrature over break points, and Brent's root finder.

use std::f64::consts::PI;
use std::sync::OnceLock;

/// Most segments an adaptive quadrature may create before it gives up.
pub const MAX_SEGMENTS: usize = 4000;

/// sqrt(pi).
pub const SQRT_PI: f64 = 1.772_453_850_905_516;

// ---------------------------------------------------------------------------------------
// Root finding
// ---------------------------------------------------------------------------------------

/// Brent's method (zeroin) for a root of `f` in `[a, b]` with `f(a)`, `f(b)` of opposite
/// signs, to a few ulps of the root.
pub fn brent<F: Fn(f64) -> Result<f64, String>>(
    f: &F,
    a: f64,
    b: f64,
    fa: f64,
    fb: f64,
) -> Result<f64, String> {
    let (mut a, mut b, mut fa, mut fb) = (a, b, fa, fb);
    let (mut c, mut fc) = (a, fa);
    let (mut d, mut e) = (b - a, b - a);
    for _ in 0..300 {
        if (fb > 0.0) == (fc > 0.0) {
            (c, fc) = (a, fa);
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            (a, b, c) = (b, c, b);
            (fa, fb, fc) = (fb, fc, fb);
        }
        let tol = 2.0 * f64::EPSILON * b.abs() + f64::MIN_POSITIVE;
        let m = 0.5 * (c - b);
        if m.abs() <= tol || fb == 0.0 {
            return Ok(b);
        }
        if e.abs() >= tol && fa.abs() > fb.abs() {
            let s = fb / fa;
            let (mut p, mut q) = if a == c {
                (2.0 * m * s, 1.0 - s)
            } else {
                let (q0, r) = (fa / fc, fb / fc);
                (
                    s * (2.0 * m * q0 * (q0 - r) - (b - a) * (r - 1.0)),
                    (q0 - 1.0) * (r - 1.0) * (s - 1.0),
                )
            };
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if 2.0 * p < (3.0 * m * q - (tol * q).abs()).min((e * q).abs()) {
                e = d;
                d = p / q;
            } else {
                d = m;
                e = m;
            }
        } else {
            d = m;
            e = m;
        }
        (a, fa) = (b, fb);
        b += if d.abs() > tol { d } else { tol.copysign(m) };
        fb = f(b)?;
    }
    Err(format!("root finder did not converge near nu = {b} Hz"))
}

// ---------------------------------------------------------------------------------------
// erfcx
// ---------------------------------------------------------------------------------------

/// Scaled complementary error function `erfcx(x) = e^{x²} erfc(x)`, accurate to ~1e-15
/// relative for all real x (checked against mpmath). For x → +∞ it decays like
/// `1/(x sqrt(pi))` without overflow; for x < 0 it equals `2 e^{x²} − erfcx(−x)` and is
/// +∞ only where that exceeds `f64::MAX` (x < −26.6). NaN for NaN.
///
/// Branches for |x|: the Taylor series `Σ (−x)^n / Γ(n/2 + 1)` below 0.5; the
/// Chiarella–Reichel sum (Math. Comp. 22 (1968) 137; trapezoid rule for
/// `(2x/π) ∫_0^∞ e^{−t²}/(x² + t²) dt` with step h = 0.4 plus its pole correction, error
/// ~ e^{−π²/h²} ≈ 1e-27) on [0.5, 8); the asymptotic series
/// `(1/(x sqrt(pi))) Σ (−1)^n (2n−1)!!/(2x²)^n` from 8 on (smallest term ~e^{−64}).
pub fn erfcx(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 * exp_of_square(x) - erfcx_non_negative(-x);
    }
    erfcx_non_negative(x)
}

/// `e^{x²}` with the rounding error of `x²` compensated (relative error ~1e-16, not
/// `2x²·1e-16`).
fn exp_of_square(x: f64) -> f64 {
    let p = x * x;
    let err = x.mul_add(x, -p);
    let e = p.exp();
    if e.is_finite() { e + e * err } else { e }
}

/// `erfcx` for `x ≥ 0`.
fn erfcx_non_negative(x: f64) -> f64 {
    if x < 0.5 {
        erfcx_series(x)
    } else if x < 8.0 {
        erfcx_chiarella_reichel(x)
    } else {
        erfcx_asymptotic(x)
    }
}

/// Taylor series `erfcx(x) = Σ_m x^{2m}/m! − (2x/sqrt(pi)) Σ_m (2x²)^m/(2m+1)!!`, |x| < 0.5.
fn erfcx_series(x: f64) -> f64 {
    let x2 = x * x;
    let (mut even, mut even_term) = (1.0, 1.0);
    let (mut odd, mut odd_term) = (1.0, 1.0);
    for m in 1..40 {
        let mf = m as f64;
        even_term *= x2 / mf;
        odd_term *= 2.0 * x2 / (2.0 * mf + 1.0);
        even += even_term;
        odd += odd_term;
        if odd_term < 1e-18 * odd && even_term < 1e-18 * even {
            break;
        }
    }
    even - 2.0 * x / SQRT_PI * odd
}

/// Step of the Chiarella–Reichel sum.
const CR_STEP: f64 = 0.4;
/// Terms of the Chiarella–Reichel sum (e^{−(n h)²} < 1e-22 beyond).
const CR_TERMS: usize = 18;

/// `(n h)²` and `e^{−(n h)²}` for n = 1..=CR_TERMS.
fn cr_table() -> &'static [(f64, f64); CR_TERMS] {
    static TABLE: OnceLock<[(f64, f64); CR_TERMS]> = OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|i| {
            let nh = (i + 1) as f64 * CR_STEP;
            (nh * nh, (-nh * nh).exp())
        })
    })
}

/// Chiarella–Reichel: `erfcx(x) = (h/(π x)) + (2 h x/π) Σ_{n≥1} e^{−n²h²}/(x² + n²h²)
/// + 2 e^{x²}/(1 − e^{2πx/h})`, for 0.5 ≤ x < 8.
fn erfcx_chiarella_reichel(x: f64) -> f64 {
    let x2 = x * x;
    let sum: f64 = cr_table().iter().map(|&(nh2, w)| w / (x2 + nh2)).sum();
    let arg = 2.0 * PI * x / CR_STEP;
    let pole = 2.0 * (x2 - arg).exp() / (-arg).exp_m1();
    CR_STEP / (PI * x) + 2.0 * CR_STEP * x / PI * sum + pole
}

/// Asymptotic series `(1/(x sqrt(pi))) Σ_n (−1)^n (2n−1)!!/(2x²)^n`, x ≥ 8 (alternating:
/// the error is below the first omitted term).
fn erfcx_asymptotic(x: f64) -> f64 {
    let inv = 1.0 / (2.0 * x * x);
    let (mut sum, mut term) = (1.0, 1.0);
    for n in 1..60 {
        term *= -((2 * n - 1) as f64) * inv;
        sum += term;
        if term.abs() < 1e-18 {
            break;
        }
    }
    sum / x / SQRT_PI
}

// ---------------------------------------------------------------------------------------
// Adaptive Gauss–Kronrod quadrature
// ---------------------------------------------------------------------------------------

/// Gauss–Kronrod 15-point abscissae (QUADPACK qk15), descending; the last is the centre.
pub const XGK: [f64; 8] = [
    0.991_455_371_120_812_6,
    0.949_107_912_342_758_5,
    0.864_864_423_359_769_1,
    0.741_531_185_599_394_5,
    0.586_087_235_467_691_1,
    0.405_845_151_377_397_2,
    0.207_784_955_007_898_48,
    0.0,
];
/// Kronrod weights for [`XGK`].
pub const WGK: [f64; 8] = [
    0.022_935_322_010_529_224,
    0.063_092_092_629_978_56,
    0.104_790_010_322_250_19,
    0.140_653_259_715_525_92,
    0.169_004_726_639_267_9,
    0.190_350_578_064_785_42,
    0.204_432_940_075_298_89,
    0.209_482_141_084_727_82,
];
/// Gauss 7-point weights for the odd-indexed [`XGK`] (the Gauss nodes), centre last.
pub const WG: [f64; 4] = [
    0.129_484_966_168_869_7,
    0.279_705_391_489_276_64,
    0.381_830_050_505_118_9,
    0.417_959_183_673_469_4,
];

/// One Gauss–Kronrod segment.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    a: f64,
    b: f64,
    value: f64,
    error: f64,
    /// `∫ |f|` estimate (for the round-off floor).
    abs_value: f64,
}

/// Applies the 15-point Kronrod rule on `[a, b]` with QUADPACK's error estimate.
pub fn gk15<F: Fn(f64) -> f64>(f: &F, a: f64, b: f64) -> Segment {
    let (c, h) = (0.5 * (a + b), 0.5 * (b - a));
    let fc = f(c);
    let (mut kron, mut gauss) = (WGK[7] * fc, WG[3] * fc);
    let mut abs_sum = WGK[7] * fc.abs();
    let mut vals = [(0.0, 0.0); 7];
    for (i, v) in vals.iter_mut().enumerate() {
        let (f1, f2) = (f(c - h * XGK[i]), f(c + h * XGK[i]));
        kron += WGK[i] * (f1 + f2);
        abs_sum += WGK[i] * (f1.abs() + f2.abs());
        if i % 2 == 1 {
            gauss += WG[i / 2] * (f1 + f2);
        }
        *v = (f1, f2);
    }
    let mean = 0.5 * kron;
    let asc = WGK[7] * (fc - mean).abs()
        + vals
            .iter()
            .zip(WGK.iter())
            .map(|(&(f1, f2), w)| w * ((f1 - mean).abs() + (f2 - mean).abs()))
            .sum::<f64>();
    let mut error = ((kron - gauss) * h).abs();
    if asc != 0.0 && error != 0.0 {
        error = (asc * h.abs()) * (200.0 * error / (asc * h.abs())).powf(1.5).min(1.0);
    }
    Segment {
        a,
        b,
        value: kron * h,
        error,
        abs_value: abs_sum * h.abs(),
    }
}

/// Globally adaptive quadrature of `f` over the consecutive pieces given by `breaks`
/// (ascending): bisects the segment with the largest error estimate until the total
/// error is below `rel_tol·|I|` or the round-off floor `50 ε ∫|f|`.
pub fn integrate_pieces<F: Fn(f64) -> f64>(
    f: &F,
    breaks: &[f64],
    rel_tol: f64,
) -> Result<f64, String> {
    let mut segs: Vec<Segment> = breaks
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| gk15(f, w[0], w[1]))
        .collect();
    loop {
        let total: f64 = segs.iter().map(|s| s.value).sum();
        let err: f64 = segs.iter().map(|s| s.error).sum();
        let abs_total: f64 = segs.iter().map(|s| s.abs_value).sum();
        if !(total.is_finite() && err.is_finite()) {
            return Err(format!("non-finite integrand (integral estimate {total})"));
        }
        if err <= rel_tol * total.abs() || err <= 50.0 * f64::EPSILON * abs_total {
            return Ok(total);
        }
        let worst = (0..segs.len())
            .max_by(|&i, &j| segs[i].error.total_cmp(&segs[j].error))
            .ok_or("empty integration range")?;
        let s = segs[worst];
        let mid = 0.5 * (s.a + s.b);
        if segs.len() >= MAX_SEGMENTS || !(s.a < mid && mid < s.b) {
            return Err(format!(
                "quadrature did not converge: estimate {total}, error {err} after {} segments",
                segs.len()
            ));
        }
        segs[worst] = gk15(f, s.a, mid);
        segs.push(gk15(f, mid, s.b));
    }
}

/// [`integrate_pieces`] for an integrand that can itself fail; the first failure of the
/// integrand is returned in preference to the quadrature's own.
pub fn integrate_pieces_fallible<F: Fn(f64) -> Result<f64, String>>(
    f: &F,
    breaks: &[f64],
    rel_tol: f64,
) -> Result<f64, String> {
    let failure: std::cell::RefCell<Option<String>> = std::cell::RefCell::new(None);
    let plain = |x: f64| match f(x) {
        Ok(v) => v,
        Err(e) => {
            failure.borrow_mut().get_or_insert(e);
            0.0
        }
    };
    let result = integrate_pieces(&plain, breaks, rel_tol);
    match failure.into_inner() {
        Some(e) => Err(e),
        None => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative difference `|x/y − 1|`.
    fn rel(x: f64, y: f64) -> f64 {
        (x / y - 1.0).abs()
    }

    // --- erfcx -------------------------------------------------------------------------

    #[test]
    fn erfcx_matches_mpmath_reference_values() {
        // Reference: mpmath 1.3.0 at 50 digits, exp(mpf(x)**2) * erfc(mpf(x)) with
        // x = mpf(float(x)), i.e. at exactly the f64 argument below; printed to 20 digits.
        let reference = [
            (-26.6, 3.894_337_719_605_585e307),
            (-5.0, 144_009_798_674.661_04),
            (-1.0, 5.008_980_080_762_283),
            (-0.3, 1.453_749_232_842_765_6),
            (0.0, 1.0),
            (0.3, 0.734_599_334_567_655_1),
            (0.5, 0.615_690_344_192_925_9),
            (1.0, 0.427_583_576_155_807),
            (2.0, 0.255_395_676_310_505_74),
            (5.0, 0.110_704_637_733_068_63),
            (7.99, 0.070_071_436_717_952_68),
            (8.0, 0.069_985_166_200_880_93),
            (8.01, 0.069_899_106_304_747_04),
            (30.0, 0.018_795_888_861_416_75),
            (1e3, 5.641_893_014_533_877e-4),
            (1e6, 5.641_895_835_474_742e-7),
        ];
        for (x, want) in reference {
            let got = erfcx(x);
            assert!(rel(got, want) < 1e-14, "erfcx({x}) = {got}, mpmath {want}");
        }
    }

    #[test]
    fn erfcx_limits_and_identities() {
        assert_eq!(erfcx(0.0), 1.0);
        // Large x: x sqrt(pi) erfcx(x) = 1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + …
        for x in [1e2_f64, 1e4, 1e8, 1e150, 1e300] {
            let series = 1.0 - 0.5 / (x * x) + 0.75 / x.powi(4) - 1.875 / x.powi(6);
            assert!(rel(x * SQRT_PI * erfcx(x), series) < 1e-15, "x = {x}");
        }
        assert_eq!(erfcx(f64::INFINITY), 0.0);
        let tiny = erfcx(f64::MAX);
        assert!(tiny.is_finite() && tiny >= 0.0);
        // Reflection erfcx(x) + erfcx(−x) = 2 e^{x²}; overflow only where 2e^{x²} > f64::MAX.
        for x in [0.1, 0.7, 1.5, 3.0, 10.0, 26.0] {
            assert!(
                rel(erfcx(x) + erfcx(-x), 2.0 * (x * x).exp()) < 1e-14,
                "x = {x}"
            );
        }
        assert!(erfcx(-26.62).is_finite());
        assert_eq!(erfcx(-26.7), f64::INFINITY);
        assert_eq!(erfcx(f64::NEG_INFINITY), f64::INFINITY);
        assert!(erfcx(f64::NAN).is_nan());
    }

    #[test]
    fn erfcx_solves_its_differential_equation() {
        // erfcx'(x) = 2x erfcx(x) − 2/sqrt(pi), checked by a 4th-order central difference
        // across the branch points 0.5 and 8 and in each branch.
        for x in [
            -3.0, -0.6, -0.2, 0.2, 0.49, 0.5, 0.51, 1.7, 4.0, 7.99, 8.0, 8.01, 15.0,
        ] {
            let h: f64 = 1e-3;
            let d = (erfcx(x - 2.0 * h) - 8.0 * erfcx(x - h) + 8.0 * erfcx(x + h)
                - erfcx(x + 2.0 * h))
                / (12.0 * h);
            let want = 2.0 * x * erfcx(x) - 2.0 / SQRT_PI;
            assert!(
                (d - want).abs() < 1e-9 * (1.0 + want.abs()),
                "x = {x}: {d} vs {want}"
            );
        }
    }

    // --- quadrature ----------------------------------------------------------------------

    #[test]
    fn gauss_kronrod_rules_are_exact_for_polynomials() {
        // K15 integrates degree ≤ 22 exactly, the embedded G7 degree ≤ 13, on [−1, 1].
        for k in 0..=22 {
            let f = |x: f64| x.powi(k);
            let seg = gk15(&f, -1.0, 1.0);
            let exact = if k % 2 == 0 {
                2.0 / f64::from(k + 1)
            } else {
                0.0
            };
            assert!((seg.value - exact).abs() < 1e-15, "K15, degree {k}");
            let mut gauss = WG[3] * f(0.0);
            for (i, w) in WG.iter().take(3).enumerate() {
                gauss += w * (f(XGK[2 * i + 1]) + f(-XGK[2 * i + 1]));
            }
            if k <= 13 {
                assert!((gauss - exact).abs() < 1e-15, "G7, degree {k}");
            }
        }
    }
}
