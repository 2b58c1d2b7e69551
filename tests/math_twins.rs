//! The f32 math twins on a device: each function of shaders/common/math.wgsl run on spread
//! inputs by a small kernel (results written to a storage buffer, read back once) against its
//! Rust twin in src/math.rs.
//!
//! Bounds. The twins made of +, -, *, constant divisions, clamp, round, select and bitcasts
//! (exp_f32, expm1_series, expm1_f32, exp_neg_series, exp_neg, ln_f32, to_threshold32) write
//! the same f32 operations on both sides, so they agree bit for bit unless the device's
//! compiler fuses a multiply and an add or reassociates a sum (SPIR-V allows both: naga marks
//! nothing NoContraction). Mesa does the latter: on lavapipe (Mesa 22.3) exp_f32's last line
//! `p * (r * r) + r + 1.0` runs as `p * (r * r) + (r + 1.0)` (every result then bitwise equal
//! to a CPU twin written so), which leaves 23% of exp_f32's results one ulp off the CPU's, and
//! so exp_neg's above 2^-6 and expm1_f32's above its series range (where one ulp of exp_f32
//! is up to four of exp_f32(x) - 1); every other twin here is bitwise. Each such step moves a
//! result by about one ulp, so these twins are held to `ARITH_ULP_MAX` (expm1_f32 above its
//! series range to 4x that), and the test prints how many results are bitwise equal.
//! to_threshold32 has one product by 2^32 (exact): it must be bitwise. log1p_f32 calls the
//! device's `log`, whose accuracy WGSL leaves at 3 ulp (2^-21 absolute in [0.5, 2]): it is
//! held to that bound propagated through log1p's scaling, plus 4 ulp of rounding. (lavapipe's
//! log is about 5e-8 off near 1, within that bound: its log1p_f32 differs from the CPU's by
//! 1e-3 relative at |x| = 1e-4 and by more than the value itself at |x| = 3e-8.)
//! NaN (WGSL's clamp of NaN is the device's choice) and subnormal inputs (devices may flush
//! them) are not tested.

mod common;

use balnet::device::buffers;
use balnet::device::kernels::{KernelSource, PipelineSpec};
use balnet::math;

/// Most ulps between a device's and the CPU's result for the arithmetic-only twins.
const ARITH_ULP_MAX: i64 = 2;

const WG: u32 = 64;

const KERNEL: &str = r#"
@group(0) @binding(0) var<storage, read> inputs: array<vec2<u32>>; // (function, x bits)
@group(0) @binding(1) var<storage, read_write> outputs: array<u32>;

@compute @workgroup_size(64)
fn twins(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= arrayLength(&inputs)) {
        return;
    }
    let x = bitcast<f32>(inputs[i].y);
    var r = 0u;
    switch inputs[i].x {
        case 0u: { r = bitcast<u32>(exp_f32(x)); }
        case 1u: { r = bitcast<u32>(expm1_f32(x)); }
        case 2u: { r = bitcast<u32>(expm1_series(x)); }
        case 3u: { r = bitcast<u32>(exp_neg_series(x)); }
        case 4u: { r = bitcast<u32>(exp_neg(x)); }
        case 5u: { r = bitcast<u32>(ln_f32(x)); }
        case 6u: { r = bitcast<u32>(log1p_f32(x)); }
        case 7u: { r = to_threshold32(x); }
        default: {}
    }
    outputs[i] = r;
}
"#;

/// The twins, in the kernel's switch order.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Twin {
    Exp,
    Expm1,
    Expm1Series,
    ExpNegSeries,
    ExpNeg,
    Ln,
    Log1p,
    Threshold,
}

const TWINS: [Twin; 8] = [
    Twin::Exp,
    Twin::Expm1,
    Twin::Expm1Series,
    Twin::ExpNegSeries,
    Twin::ExpNeg,
    Twin::Ln,
    Twin::Log1p,
    Twin::Threshold,
];

impl Twin {
    /// The Rust twin's result as bits.
    fn cpu(self, x: f32) -> u32 {
        match self {
            Twin::Exp => math::exp_f32(x).to_bits(),
            Twin::Expm1 => math::expm1_f32(x).to_bits(),
            Twin::Expm1Series => math::expm1_series(x).to_bits(),
            Twin::ExpNegSeries => math::exp_neg_series(x).to_bits(),
            Twin::ExpNeg => math::exp_neg(x).to_bits(),
            Twin::Ln => math::ln_f32(x).to_bits(),
            Twin::Log1p => math::log1p_f32(x).to_bits(),
            Twin::Threshold => math::to_threshold32(x),
        }
    }

    /// Spread inputs over the range each twin serves, its branch points and ends.
    fn inputs(self) -> Vec<f32> {
        let grid = |lo: f64, hi: f64, n: usize| -> Vec<f32> {
            (0..=n)
                .map(|i| (lo + (hi - lo) * i as f64 / n as f64) as f32)
                .collect()
        };
        // Geometric from lo to hi (both > 0).
        let geo = |lo: f64, hi: f64, n: usize| -> Vec<f32> {
            (0..=n)
                .map(|i| (lo * (hi / lo).powf(i as f64 / n as f64)) as f32)
                .collect()
        };
        let around = |v: f32| -> Vec<f32> {
            let b = v.to_bits();
            (b - 4..=b + 4).map(f32::from_bits).collect()
        };
        let neg = |v: Vec<f32>| -> Vec<f32> { v.into_iter().map(|x| -x).collect() };
        let mut v = match self {
            Twin::Exp => {
                let mut v = grid(-87.0, 88.0, 200_000);
                v.extend([-1e30, -100.0, -87.5, 88.5, 100.0, 1e30, 0.0, -0.0]);
                v.extend(geo(1e-30, 1.0, 20_000));
                v.extend(neg(geo(1e-30, 1.0, 20_000)));
                v
            }
            Twin::Expm1 => {
                let mut v = geo(1e-30, 20.0, 100_000);
                v.extend(neg(geo(1e-30, 20.0, 100_000)));
                v.extend(around(math::EXPM1_SERIES_MAX));
                v.extend(around(-math::EXPM1_SERIES_MAX));
                v.push(0.0);
                v
            }
            Twin::Expm1Series => {
                let mut v = grid(-0.25, 0.25, 100_000);
                v.extend(geo(1e-30, 0.25, 10_000));
                v
            }
            Twin::ExpNegSeries => {
                let mut v = grid(0.0, math::EXP_NEG_SERIES_MAX as f64, 100_000);
                v.extend(geo(1e-30, math::EXP_NEG_SERIES_MAX as f64, 10_000));
                v
            }
            Twin::ExpNeg => {
                let mut v = geo(1e-30, 90.0, 200_000);
                v.extend(around(math::EXP_NEG_SERIES_MAX));
                v.push(0.0);
                v
            }
            Twin::Ln => {
                // Every 64th 24-bit uniform (what the precise integrator's gaps take), then
                // larger values and the neighbourhood of 1.
                let mut v: Vec<f32> = (1..=(1u32 << 24))
                    .step_by(64)
                    .map(|k| k as f32 * (1.0 / 16_777_216.0))
                    .collect();
                v.extend(geo(1.0, 1e30, 100_000));
                v.extend(around(1.0));
                v.extend([f32::MIN_POSITIVE, f32::MAX, 1.0 / 16_777_216.0]);
                v
            }
            Twin::Log1p => {
                // log1p(-p) of the Binomial sampler (p <= 1/2 there), and x > 0.
                let mut v = neg(geo(1e-30, 0.999_999, 100_000));
                v.extend(geo(1e-30, 1e6, 100_000));
                v.push(0.0);
                v
            }
            Twin::Threshold => {
                let mut v = grid(-0.1, 1.1, 200_000);
                v.extend(geo(1e-30, 1.0, 100_000));
                v.extend(around(1.0));
                v.extend([0.0, -0.0, 4_294_967_040.0 / 4_294_967_296.0]);
                v
            }
        };
        v.retain(|x| x.is_finite() && (*x == 0.0 || x.is_normal()));
        v
    }
}

/// x as an integer that orders f32 values, so that |a - b| counts the ulps between them
/// (+0 and -0 the same).
fn ordered(x: f32) -> i64 {
    let b = x.to_bits();
    if b & 0x8000_0000 != 0 {
        -((b & 0x7fff_ffff) as i64)
    } else {
        b as i64
    }
}

/// The spacing of f32 at |v|.
fn ulp(v: f32) -> f64 {
    let a = v.abs();
    (f32::from_bits(a.to_bits() + 1) as f64) - a as f64
}

/// WGSL's log accuracy at u, carried through log1p_f32's scaling x / (u - 1), plus 4 ulp.
fn log1p_bound(x: f32, cpu: f32) -> f64 {
    let u = 1.0 + x;
    if u == 1.0 {
        return 0.0; // both sides return x itself
    }
    let lnu = (u as f64).ln();
    let log_err = if (0.5..=2.0).contains(&u) {
        2f64.powi(-21)
    } else {
        3.0 * ulp(lnu as f32)
    };
    log_err * (x as f64 / (u - 1.0) as f64).abs() + 4.0 * ulp(cpu)
}

#[test]
fn math_twins_agree_with_rust() {
    let Some(ctx) = common::gpu() else { return };
    let kernel = KernelSource::compose(
        "math_twins",
        vec![],
        "",
        KERNEL,
        true,
        vec![PipelineSpec::new("twins")],
    );
    let pipeline = ctx
        .kernel_pipelines(&kernel, |_| None)
        .expect("compile")
        .remove(0);
    let mut items: Vec<[u32; 2]> = Vec::new();
    let mut spans = Vec::new();
    for (f, t) in TWINS.iter().enumerate() {
        let start = items.len();
        items.extend(t.inputs().iter().map(|x| [f as u32, x.to_bits()]));
        spans.push((*t, start..items.len()));
    }
    let ibuf = buffers::storage_from(&ctx, "twin inputs", &items);
    let obuf = buffers::storage_zeroed(&ctx, "twin outputs", items.len() as u64 * 4);
    let bind = buffers::bind_all(&ctx, &pipeline, &[&ibuf, &obuf]);
    let (gx, gy) = buffers::grid_2d(&ctx, items.len() as u64, WG).expect("grid");
    let mut enc = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(gx, gy, 1);
    }
    ctx.queue.submit([enc.finish()]);
    let gpu: Vec<u32> = buffers::read_back(&ctx, &obuf, 0, items.len()).expect("read back");

    eprintln!("device: {}", ctx.report.summary());
    let mut failures = Vec::new();
    for (t, range) in spans {
        let mut bitwise = 0usize;
        let mut worst = (0i64, 0f32);
        let mut worst_rel = 0f64;
        for i in range.clone() {
            let x = f32::from_bits(items[i][1]);
            let (c, g) = (t.cpu(x), gpu[i]);
            if c == g {
                bitwise += 1;
                continue;
            }
            let (ok, ulps) = match t {
                Twin::Threshold => (false, (c as i64 - g as i64).abs()),
                _ => {
                    let (cf, gf) = (f32::from_bits(c), f32::from_bits(g));
                    let ulps = (ordered(cf) - ordered(gf)).abs();
                    let ok = match t {
                        Twin::Log1p => ((cf as f64) - (gf as f64)).abs() <= log1p_bound(x, cf),
                        Twin::Expm1 if x.abs() >= math::EXPM1_SERIES_MAX => {
                            ulps <= 4 * ARITH_ULP_MAX
                        }
                        _ => ulps <= ARITH_ULP_MAX,
                    };
                    (ok && gf.is_finite() == cf.is_finite(), ulps)
                }
            };
            if ulps > worst.0 {
                worst = (ulps, x);
            }
            if t != Twin::Threshold {
                let (cf, gf) = (f32::from_bits(c) as f64, f32::from_bits(g) as f64);
                worst_rel = worst_rel.max((cf - gf).abs() / cf.abs().max(f64::MIN_POSITIVE));
            }
            if !ok && failures.len() < 20 {
                failures.push(format!(
                    "{t:?}({x:e} = {:#010x}): cpu {c:#010x} ({:e}), device {g:#010x} ({:e}), {ulps} ulp",
                    x.to_bits(),
                    f32::from_bits(c),
                    f32::from_bits(g)
                ));
            }
        }
        eprintln!(
            "{t:?}: {} inputs, {bitwise} bitwise equal, worst {} ulp (at x = {:e}), worst relative difference {worst_rel:.1e}",
            range.len(),
            worst.0,
            worst.1
        );
    }
    assert!(
        failures.is_empty(),
        "outside the bounds:\n{}",
        failures.join("\n")
    );
}
