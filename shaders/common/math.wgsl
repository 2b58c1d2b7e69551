// f32 elementary functions: the WGSL twins of src/math.rs, function for function and in the
// same order (WGSL's own exp and log have no specified accuracy; WGSL has no expm1 or log1p).
// Compiled into every kernel, after rng.wgsl; EXPM1_SERIES_MAX and EXP_NEG_SERIES_MAX are
// generated from src/math.rs (src/device/constants.rs). tests/math_twins.rs runs each twin
// against its Rust twin.

// exp_f32 of math.rs (Cephes expf: Cody–Waite reduction by ln 2, degree-6 polynomial).
fn exp_f32(x_in: f32) -> f32 {
    let x = clamp(x_in, -87.0, 88.0);
    let kf = round(x * 1.44269504);
    let r = x - kf * 0.6933594 - kf * -2.1219444e-4;
    let p = ((((1.9875691e-4 * r + 1.3981999e-3) * r + 8.333452e-3) * r + 4.1665796e-2) * r
        + 1.6666665e-1) * r + 0.5;
    let y = p * (r * r) + r + 1.0;
    return y * bitcast<f32>(u32(i32(kf) + 127) << 23u);
}

// expm1_f32 of math.rs, branch-free (both sides computed, the same value).
fn expm1_f32(x: f32) -> f32 {
    return select(exp_f32(x) - 1.0, expm1_series(x), abs(x) < EXPM1_SERIES_MAX);
}

fn expm1_series(x: f32) -> f32 {
    return x * (1.0 + x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0
        + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0))))))));
}

fn exp_neg_series(x: f32) -> f32 {
    return 1.0 - x * (1.0 - x * (0.5 - x * (1.0 / 6.0 - x * (1.0 / 24.0))));
}

fn exp_neg(x: f32) -> f32 {
    if (x < EXP_NEG_SERIES_MAX) {
        return exp_neg_series(x);
    }
    return exp_f32(-x);
}

fn ln_f32(x: f32) -> f32 {
    let bits = bitcast<u32>(x);
    let e0 = i32((bits >> 23u) & 0xffu) - 126;
    let m0 = bitcast<f32>((bits & 0x007fffffu) | 0x3f000000u);
    let small = m0 < 0.70710677;
    let e = f32(e0 - select(0, 1, small));
    let m = select(m0 - 1.0, m0 + m0 - 1.0, small);
    let z = m * m;
    var y = ((((((((7.0376836e-2 * m - 1.151461e-1) * m + 1.1676999e-1) * m
        - 1.2420141e-1) * m + 1.4249323e-1) * m - 1.6668058e-1) * m + 2.0000715e-1) * m
        - 2.4999994e-1) * m + 3.333333e-1) * m * z;
    y = y + -2.1219444e-4 * e;
    y = y + -0.5 * z;
    return m + y + 0.6933594 * e;
}

// log1p_f32 of math.rs: calls the device's log, so not bit for bit the CPU's.
fn log1p_f32(x: f32) -> f32 {
    let u = 1.0 + x;
    if (u == 1.0) {
        return x;
    }
    return log(u) * (x / (u - 1.0));
}

fn to_threshold32(p: f32) -> u32 {
    return u32(clamp(p * 4294967296.0, 0.0, 4294967040.0));
}
