// f32 elementary functions: the WGSL twins of src/math.rs (WGSL's exp has no specified
// accuracy). Compiled before every kernel, after rng.wgsl.

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
