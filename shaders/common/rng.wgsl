// Counter-based random numbers: Philox4x32-10 and samplers. The WGSL twin of src/rng/mod.rs:
// same function names, same order, same f32 arithmetic. u32 arithmetic only (WGSL has no
// 64-bit integers); mulhilo is built from 16-bit halves.
//
// Counter layout: (neuron, step, purpose | block << 24, replica); key = seed (lo, hi).

// Its constants (PHILOX_M0 .. W1, STREAM_MAX_BLOCKS, SAMPLE_INVALID, POISSON_LAMBDA_MAX,
// POISSON_INVERSION_MAX, BINOMIAL_INVERSION_MAX, BINOMIAL_M_MAX, TAU_F32, the PURPOSE_*
// counter words) are generated from src/rng (src/device/constants.rs) and compiled first.

// 32 x 32 -> 64-bit product as (hi, lo) from 16-bit halves.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xFFFFu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xFFFFu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xFFFFu) + (hl & 0xFFFFu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox_round(c: vec4<u32>, k: vec2<u32>) -> vec4<u32> {
    let p0 = mulhilo(PHILOX_M0, c.x);
    let p1 = mulhilo(PHILOX_M1, c.z);
    return vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
}

fn philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = ctr;
    var k = key;
    c = philox_round(c, k);
    for (var i = 0u; i < 9u; i = i + 1u) {
        k = vec2<u32>(k.x + PHILOX_W0, k.y + PHILOX_W1);
        c = philox_round(c, k);
    }
    return c;
}

fn counter(neuron: u32, step: u32, purpose: u32, replica: u32) -> vec4<u32> {
    return vec4<u32>(neuron, step, purpose, replica);
}

fn u32_to_uniform(u: u32) -> f32 {
    return f32(u >> 8u) * (1.0 / 16777216.0);
}

fn u32_to_uniform_open0(u: u32) -> f32 {
    return f32((u >> 8u) + 1u) * (1.0 / 16777216.0);
}

struct Stream {
    ctr: vec4<u32>,
    key: vec2<u32>,
    block: u32,
    buf: vec4<u32>,
    used: u32,
}

fn stream_new(ctr: vec4<u32>, key: vec2<u32>) -> Stream {
    return Stream(ctr, key, 0u, vec4<u32>(0u), 4u);
}

fn stream_exhausted(s: ptr<function, Stream>) -> bool {
    return (*s).used >= 4u && (*s).block >= STREAM_MAX_BLOCKS;
}

fn stream_next_u32(s: ptr<function, Stream>) -> u32 {
    if ((*s).used >= 4u) {
        if ((*s).block >= STREAM_MAX_BLOCKS) {
            return 0u;
        }
        let c = vec4<u32>((*s).ctr.x, (*s).ctr.y, (*s).ctr.z | ((*s).block << 24u), (*s).ctr.w);
        (*s).buf = philox4x32_10(c, (*s).key);
        (*s).block = (*s).block + 1u;
        (*s).used = 0u;
    }
    let w = (*s).buf[(*s).used];
    (*s).used = (*s).used + 1u;
    return w;
}

fn uniform01(s: ptr<function, Stream>) -> f32 {
    return u32_to_uniform(stream_next_u32(s));
}

fn normal(s: ptr<function, Stream>) -> f32 {
    let u1 = u32_to_uniform_open0(stream_next_u32(s));
    let u2 = u32_to_uniform(stream_next_u32(s));
    let r = sqrt(-2.0 * log(u1));
    return r * cos(TAU_F32 * u2);
}

fn bernoulli(s: ptr<function, Stream>, p: f32) -> u32 {
    let u = uniform01(s);
    return select(0u, 1u, u < p);
}

fn stirlerr(k: f32) -> f32 {
    if (k < 16.0) {
        var table = array<f32, 16>(
            0.0,
            8.106146680e-02,
            4.134069596e-02,
            2.767792568e-02,
            2.079067210e-02,
            1.664469119e-02,
            1.387612882e-02,
            1.189670995e-02,
            1.041126526e-02,
            9.255462183e-03,
            8.330563433e-03,
            7.573675488e-03,
            6.942840107e-03,
            6.408994188e-03,
            5.951370113e-03,
            5.554733552e-03,
        );
        return table[u32(k)];
    }
    let r = 1.0 / k;
    let r2 = r * r;
    return r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0)));
}

fn bd0(k: f32, np: f32) -> f32 {
    let d = k - np;
    if (abs(d) < 0.1 * (k + np)) {
        let v = d / (k + np);
        let v2 = v * v;
        var s = d * v;
        var ej = 2.0 * k * v;
        var j = 1.0;
        for (var i = 0u; i < 12u; i = i + 1u) {
            ej = ej * v2;
            let s1 = s + ej / (2.0 * j + 1.0);
            if (s1 == s) {
                break;
            }
            s = s1;
            j = j + 1.0;
        }
        return s;
    }
    return k * log(k / np) + np - k;
}

fn poisson_log_pmf(k: f32, lambda: f32) -> f32 {
    if (k == 0.0) {
        return -lambda;
    }
    return -stirlerr(k) - bd0(k, lambda) - 0.5 * log(TAU_F32 * k);
}

fn poisson_inversion(s: ptr<function, Stream>, lambda: f32) -> u32 {
    return poisson_inversion_p0(s, lambda, exp(-lambda));
}

// Poisson inversion with P(0) = `p0` = exp(-lambda) supplied (callers drawing many variates
// of one lambda compute it once); the same draws as `poisson` for lambda < 10.
fn poisson_inversion_p0(s: ptr<function, Stream>, lambda: f32, p0: f32) -> u32 {
    let u = uniform01(s);
    var p = p0;
    var f = p;
    var k = 0u;
    while (u >= f && k < 200u) {
        k = k + 1u;
        p = p * lambda / f32(k);
        let f_next = f + p;
        if (f_next == f) {
            break;
        }
        f = f_next;
    }
    return k;
}

fn poisson_ptrs(s: ptr<function, Stream>, lambda: f32) -> u32 {
    let slam = sqrt(lambda);
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.02483 * b;
    let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    let v_r = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        if (stream_exhausted(s)) {
            return SAMPLE_INVALID;
        }
        let u = uniform01(s) - 0.5;
        let v = u32_to_uniform_open0(stream_next_u32(s));
        let us = 0.5 - abs(u);
        let kf = floor((2.0 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= v_r) {
            return u32(kf);
        }
        if (kf < 0.0 || (us < 0.013 && v > us)) {
            continue;
        }
        let lhs = log(v * inv_alpha / (a / (us * us) + b));
        if (lhs <= poisson_log_pmf(kf, lambda)) {
            return u32(kf);
        }
    }
    return SAMPLE_INVALID; // unreachable: the loop returns; naga needs a final return
}

fn poisson(s: ptr<function, Stream>, lambda: f32) -> u32 {
    if (!(lambda >= 0.0 && lambda <= POISSON_LAMBDA_MAX)) {
        return SAMPLE_INVALID;
    }
    if (lambda == 0.0) {
        return 0u;
    }
    if (lambda < POISSON_INVERSION_MAX) {
        return poisson_inversion(s, lambda);
    }
    return poisson_ptrs(s, lambda);
}

fn binomial_inversion(s: ptr<function, Stream>, m: u32, p: f32) -> u32 {
    let u = uniform01(s);
    let q = 1.0 - p;
    let ratio = p / q;
    var pk = exp(f32(m) * log1p_f32(-p));
    var f = pk;
    var k = 0u;
    while (u >= f && k < m && k < 400u) {
        pk = pk * ratio * (f32(m - k) / f32(k + 1u));
        k = k + 1u;
        let f_next = f + pk;
        if (f_next == f) {
            break;
        }
        f = f_next;
    }
    return k;
}

fn binomial_log_pmf_scaled(k: f32, m: f32, p: f32, q: f32) -> f32 {
    if (k == 0.0) {
        return m * log1p_f32(-p) + 0.5 * log(TAU_F32);
    }
    if (k == m) {
        return m * log(p) + 0.5 * log(TAU_F32);
    }
    let mk = m - k;
    return stirlerr(m) - stirlerr(k) - stirlerr(mk) - bd0(k, m * p) - bd0(mk, m * q)
        + 0.5 * log(m / (k * mk));
}

fn binomial_btrs(s: ptr<function, Stream>, m: u32, p: f32) -> u32 {
    let mf = f32(m);
    let q = 1.0 - p;
    let spq = sqrt(mf * p * q);
    let b = 1.15 + 2.53 * spq;
    let a = -0.0873 + 0.0248 * b + 0.01 * p;
    let c = mf * p + 0.5;
    let v_r = 0.92 - 4.2 / b;
    let alpha = (2.83 + 5.1 / b) * spq;
    let mode = floor((mf + 1.0) * p);
    let log_f_mode = binomial_log_pmf_scaled(mode, mf, p, q);
    loop {
        if (stream_exhausted(s)) {
            return SAMPLE_INVALID;
        }
        let u = uniform01(s) - 0.5;
        let v = u32_to_uniform_open0(stream_next_u32(s));
        let us = 0.5 - abs(u);
        let kf = floor((2.0 * a / us + b) * u + c);
        if (kf < 0.0 || kf > mf) {
            continue;
        }
        if (us >= 0.07 && v <= v_r) {
            return u32(kf);
        }
        let lhs = log(v * alpha / (a / (us * us) + b));
        if (lhs <= binomial_log_pmf_scaled(kf, mf, p, q) - log_f_mode) {
            return u32(kf);
        }
    }
    return SAMPLE_INVALID; // unreachable: the loop returns; naga needs a final return
}

fn binomial(s: ptr<function, Stream>, m: u32, p: f32) -> u32 {
    if (!(p >= 0.0 && p <= 1.0) || m > BINOMIAL_M_MAX) {
        return SAMPLE_INVALID;
    }
    if (m == 0u || p == 0.0) {
        return 0u;
    }
    if (p == 1.0) {
        return m;
    }
    let flip = p > 0.5;
    let pp = select(p, 1.0 - p, flip);
    var k: u32;
    if (f32(m) * pp < BINOMIAL_INVERSION_MAX) {
        k = binomial_inversion(s, m, pp);
    } else {
        k = binomial_btrs(s, m, pp);
    }
    if (k == SAMPLE_INVALID) {
        return k;
    }
    return select(k, m - k, flip);
}
