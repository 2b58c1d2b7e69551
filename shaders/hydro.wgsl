// Model H on the GPU: the WGSL twin of src/model/hydro.rs (per-neuron step) and of the CPU
// driver in src/backend/cpu.rs. Compiled after rng.wgsl.
//
// Layout: x[p] with p = a * n_pad + k (k < n), so every workgroup of WG * ITEMS neurons holds
// one population; the RNG counter uses the global index g = a * n + k, as on the CPU.
// Per step: `update` (every neuron, writes per-workgroup partial sums of the new state) then
// `finalize` (one workgroup: two-float reduction of the partials, record, next step's
// Poisson tables). No float atomics; the reduction tree has a fixed shape.

const WG: u32 = 256u;
const ITEMS: u32 = 16u;
const PART: u32 = 6u;          // per-workgroup partials: lambda, spikes, s1, s2, s3, s4
const TABLE_CAP: u32 = 16384u;
const GUIDE_CAP: u32 = 16384u; // 2^14
const TABLE_STRIDE: u32 = 32772u; // 4 + TABLE_CAP + GUIDE_CAP
const REC_STRIDE: u32 = 24u;   // step, then per population: count, (hi, lo) of s1..s4 and lambda
const COUPLING_INDEPENDENT: u32 = 0u;
const COUPLING_SHARED: u32 = 1u;
const PURPOSE_HYDRO_INIT: u32 = 16u;
const PURPOSE_HYDRO_STEP: u32 = 17u;
const PURPOSE_HYDRO_TAIL: u32 = 18u;

struct HydroParams {
    n: u32,
    n_pad: u32,
    wg_per_pop: u32,
    record_every: u32,
    replica: u32,
    key_lo: u32,
    key_hi: u32,
    coupling: u32,
    dt: f32,
    decay_e: f32,
    decay_i: f32,
    drive_e: f32,
    drive_i: f32,
    jump_ee: f32,
    jump_ei: f32,
    jump_ie: f32,
    jump_ii: f32,
    nu_max_e: f32,
    nu_max_i: f32,
    beta_e: f32,
    beta_i: f32,
    theta_e: f32,
    theta_i: f32,
    shift_e: f32,
    shift_i: f32,
    x0_mean_e: f32,
    x0_mean_i: f32,
    x0_sd_e: f32,
    x0_sd_i: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct HydroState {
    step: u32,
    spikes_e: u32,
    spikes_i: u32,
    record_index: u32,
    lambda_e: f32,
    lambda_i: f32,
    lambda_e_lo: f32,
    lambda_i_lo: f32,
}

@group(0) @binding(0) var<uniform> params: HydroParams;
@group(0) @binding(1) var<storage, read_write> xs: array<f32>;
@group(0) @binding(2) var<storage, read_write> spikes: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
@group(0) @binding(4) var<storage, read_write> state: HydroState;
@group(0) @binding(5) var<storage, read_write> tables: array<u32>;
@group(0) @binding(6) var<storage, read_write> records: array<f32>;

var<workgroup> red: array<f32, 1536>;   // PART * WG
var<workgroup> red_lo: array<f32, 1280>; // 5 * WG (low words of the two-float sums)
var<workgroup> wg_u32: u32;
var<workgroup> wg_lambda: vec2<f32>;
var<workgroup> wg_spikes: vec2<u32>;
var<workgroup> wg_fin: array<f32, 24>;

fn pick(a: u32, e: f32, i: f32) -> f32 {
    return select(e, i, a == 1u);
}

fn key() -> vec2<u32> {
    return vec2<u32>(params.key_lo, params.key_hi);
}

// e^x as hydro.rs computes it (Cephes expf): WGSL's exp has no specified accuracy.
fn exp_f32(x_in: f32) -> f32 {
    let x = clamp(x_in, -87.0, 88.0);
    let kf = round(x * 1.44269504);
    let r = x - kf * 0.6933594 - kf * -2.1219444e-4;
    let p = ((((1.9875691e-4 * r + 1.3981999e-3) * r + 8.333452e-3) * r + 4.1665796e-2) * r
        + 1.6666665e-1) * r + 0.5;
    let y = p * (r * r) + r + 1.0;
    return y * bitcast<f32>(u32(i32(kf) + 127) << 23u);
}

fn rate_fn(a: u32, x: f32) -> f32 {
    return pick(a, params.nu_max_e, params.nu_max_i)
        / (1.0 + exp_f32(-pick(a, params.beta_e, params.beta_i) * (x - pick(a, params.theta_e, params.theta_i))));
}

fn relax(a: u32, x: f32) -> f32 {
    return x * pick(a, params.decay_e, params.decay_i) + pick(a, params.drive_e, params.drive_i);
}

fn jump(a: u32, b: u32) -> f32 {
    if (a == 0u) {
        return select(params.jump_ee, params.jump_ei, b == 1u);
    }
    return select(params.jump_ie, params.jump_ii, b == 1u);
}

fn expm1_f32(x: f32) -> f32 {
    if (abs(x) < 1e-3) {
        return x * (1.0 + x * (0.5 + x * (1.0 / 6.0)));
    }
    return exp_f32(x) - 1.0;
}

fn spike_prob(a: u32, x: f32) -> f32 {
    return -expm1_f32(-rate_fn(a, x) * params.dt);
}

fn table_sample(b: u32, w: u32) -> u32 {
    let base = b * TABLE_STRIDE;
    let lo = tables[base];
    let last = tables[base + 1u] - 1u;
    let shift = tables[base + 2u];
    var i = tables[base + 4u + TABLE_CAP + (w >> shift)];
    while (i < last && w >= tables[base + 4u + i]) {
        i = i + 1u;
    }
    return lo + i;
}

fn thin_self_rare(count: u32, c: f32, q: f32, s: ptr<function, Stream>) -> u32 {
    let nf = f32(count);
    let lq = log1p_f32(-q);
    let p_any = -expm1_f32(nf * lq);
    let v = uniform01(s);
    var f = 1.0 - p_any / c;
    if (v < f) {
        return 0u;
    }
    let ratio = q / (1.0 - q);
    var term = nf * q * exp((nf - 1.0) * lq) / c;
    var j = 1u;
    loop {
        let f_next = f + term;
        if (v < f_next || j >= count || f_next == f) {
            return j;
        }
        f = f_next;
        term = term * (f32(count - j) / f32(j + 1u)) * ratio;
        j = j + 1u;
    }
    return j; // unreachable
}

// thin_self of src/model/hydro.rs, with its two closures written out: the exact q and the
// tail stream of neuron g at step t.
fn thin_self(count: u32, u: f32, q_max: f32, a: u32, x: f32, lambda_a: f32, g: u32, t: u32) -> u32 {
    let c = f32(count) * q_max;
    if (count == 0u || u >= c) {
        return count;
    }
    var s = stream_new(counter(g, t, PURPOSE_HYDRO_TAIL, params.replica), key());
    return count - thin_self_rare(count, c, rate_fn(a, x) / lambda_a, &s);
}

fn step_independent(a: u32, g: u32, x: f32, t: u32, lambda_total: vec2<f32>) -> f32 {
    let w = philox4x32_10(counter(g, t, PURPOSE_HYDRO_STEP, params.replica), key());
    var counts = vec2<u32>(table_sample(0u, w.x), table_sample(1u, w.y));
    let q_max = pick(a, params.nu_max_e, params.nu_max_i) / lambda_total[a];
    counts[a] = thin_self(counts[a], u32_to_uniform(w.z), q_max, a, x, lambda_total[a], g, t);
    return relax(a, x) + (jump(a, 0u) * f32(counts.x) - jump(a, 1u) * f32(counts.y));
}

fn spikes_shared(a: u32, g: u32, x: f32, t: u32) -> bool {
    let w = philox4x32_10(counter(g / 4u, t, PURPOSE_HYDRO_STEP, params.replica), key());
    return u32_to_uniform(w[g % 4u]) < spike_prob(a, x);
}

fn step_shared(a: u32, x: f32, own_spike: bool, counts: vec2<u32>) -> f32 {
    var s = counts;
    s[a] = s[a] - select(0u, 1u, own_spike);
    return relax(a, x) + (jump(a, 0u) * f32(s.x) - jump(a, 1u) * f32(s.y));
}

// Fixed-shape sum of red[j * WG + lid] for j < count; result in red[j * WG]. Two levels of
// RADIX-way sums in order (few barriers: each costs a context switch per SIMD group on CPU
// implementations such as lavapipe).
const RADIX: u32 = 16u; // WG = RADIX * RADIX
fn tree_reduce(lid: u32, count: u32) {
    if (lid < RADIX) {
        for (var j = 0u; j < count; j = j + 1u) {
            var s = 0.0;
            for (var r = 0u; r < RADIX; r = r + 1u) {
                s = s + red[j * WG + lid * RADIX + r];
            }
            red[j * WG + lid * RADIX] = s;
        }
    }
    workgroupBarrier();
    if (lid == 0u) {
        for (var j = 0u; j < count; j = j + 1u) {
            var s = 0.0;
            for (var r = 0u; r < RADIX; r = r + 1u) {
                s = s + red[j * WG + r * RADIX];
            }
            red[j * WG] = s;
        }
    }
    workgroupBarrier();
}

fn write_partials(wg_index: u32, lid: u32, acc: array<f32, 6>, record: bool) {
    let count = select(2u, PART, record);
    for (var j = 0u; j < PART; j = j + 1u) {
        red[j * WG + lid] = acc[j];
    }
    workgroupBarrier();
    tree_reduce(lid, count);
    if (lid == 0u) {
        for (var j = 0u; j < PART; j = j + 1u) {
            partials[wg_index * PART + j] = red[j * WG];
        }
    }
}

fn accumulate(acc: ptr<function, array<f32, 6>>, a: u32, x: f32, fired: bool, record: bool) {
    (*acc)[0] = (*acc)[0] + rate_fn(a, x);
    (*acc)[1] = (*acc)[1] + select(0.0, 1.0, fired);
    if (record) {
        let d = x - pick(a, params.shift_e, params.shift_i);
        let d2 = d * d;
        (*acc)[2] = (*acc)[2] + d;
        (*acc)[3] = (*acc)[3] + d2;
        (*acc)[4] = (*acc)[4] + d2 * d;
        (*acc)[5] = (*acc)[5] + d2 * d2;
    }
}

@compute @workgroup_size(256)
fn init(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let wg_index = wid.x + wid.y * nwg.x;
    if (wg_index >= 2u * params.wg_per_pop) {
        return;
    }
    let a = select(0u, 1u, wg_index >= params.wg_per_pop);
    var acc = array<f32, 6>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (var i = 0u; i < ITEMS; i = i + 1u) {
        let p = wg_index * WG * ITEMS + i * WG + lid;
        let k = p - a * params.n_pad;
        if (k < params.n) {
            let g = k + a * params.n;
            var s = stream_new(counter(g, 0u, PURPOSE_HYDRO_INIT, params.replica), key());
            let x = pick(a, params.x0_mean_e, params.x0_mean_i) + pick(a, params.x0_sd_e, params.x0_sd_i) * normal(&s);
            xs[p] = x;
            var fired = false;
            if (params.coupling == COUPLING_SHARED) {
                fired = spikes_shared(a, g, x, 0u);
                spikes[p] = select(0u, 1u, fired);
            }
            accumulate(&acc, a, x, fired, true);
        }
    }
    write_partials(wg_index, lid, acc, true);
}

@compute @workgroup_size(256)
fn update(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
    let wg_index = wid.x + wid.y * nwg.x;
    if (wg_index >= 2u * params.wg_per_pop) {
        return;
    }
    if (lid == 0u) {
        wg_u32 = state.step;
        wg_lambda = vec2<f32>(state.lambda_e, state.lambda_i);
        wg_spikes = vec2<u32>(state.spikes_e, state.spikes_i);
    }
    let t = workgroupUniformLoad(&wg_u32);
    let lambda_total = wg_lambda;
    let counts = wg_spikes;
    let record = ((t + 1u) % params.record_every) == 0u;
    let a = select(0u, 1u, wg_index >= params.wg_per_pop);
    var acc = array<f32, 6>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (var i = 0u; i < ITEMS; i = i + 1u) {
        let p = wg_index * WG * ITEMS + i * WG + lid;
        let k = p - a * params.n_pad;
        if (k < params.n) {
            let g = k + a * params.n;
            let x = xs[p];
            var xn: f32;
            var fired = false;
            if (params.coupling == COUPLING_SHARED) {
                xn = step_shared(a, x, spikes[p] != 0u, counts);
                fired = spikes_shared(a, g, xn, t + 1u);
                spikes[p] = select(0u, 1u, fired);
            } else {
                xn = step_independent(a, g, x, t, lambda_total);
            }
            xs[p] = xn;
            accumulate(&acc, a, xn, fired, record);
        }
    }
    write_partials(wg_index, lid, acc, record);
}

fn two_sum(a: f32, b: f32) -> vec2<f32> {
    let s = a + b;
    let bb = s - a;
    return vec2<f32>(s, (a - (s - bb)) + (b - bb));
}

// (hi, lo) + (hi, lo), renormalised.
fn df_add(x: vec2<f32>, y: vec2<f32>) -> vec2<f32> {
    let s = two_sum(x.x, y.x);
    let lo = s.y + (x.y + y.y);
    return two_sum(s.x, lo);
}

// Two-float sums over population a's partials of quantities 0 (lambda) and 2..5 (moments);
// integer sum of quantity 1 (spikes). Results in wg_fin[a * 12 + ...].
fn reduce_population(lid: u32, a: u32, record: bool) {
    var sums: array<vec2<f32>, 5>;
    for (var j = 0u; j < 5u; j = j + 1u) {
        sums[j] = vec2<f32>(0.0, 0.0);
    }
    var spk = 0u;
    for (var w = lid; w < params.wg_per_pop; w = w + WG) {
        let base = (a * params.wg_per_pop + w) * PART;
        sums[0] = df_add(sums[0], vec2<f32>(partials[base], 0.0));
        spk = spk + u32(partials[base + 1u]);
        if (record) {
            for (var j = 1u; j < 5u; j = j + 1u) {
                sums[j] = df_add(sums[j], vec2<f32>(partials[base + 1u + j], 0.0));
            }
        }
    }
    for (var j = 0u; j < 5u; j = j + 1u) {
        red[j * WG + lid] = sums[j].x;
        red_lo[j * WG + lid] = sums[j].y;
    }
    red[5u * WG + lid] = f32(spk); // exact: spike counts stay below 2^24 per thread
    workgroupBarrier();
    // Two levels of RADIX-way ordered sums, as in tree_reduce.
    for (var level = 0u; level < 2u; level = level + 1u) {
        let stride = select(RADIX, 1u, level == 0u);
        let busy = select(1u, RADIX, level == 0u);
        if (lid < busy) {
            let base = lid * RADIX * stride;
            for (var j = 0u; j < 5u; j = j + 1u) {
                var acc = vec2<f32>(red[j * WG + base], red_lo[j * WG + base]);
                for (var r = 1u; r < RADIX; r = r + 1u) {
                    let e = j * WG + base + r * stride;
                    acc = df_add(acc, vec2<f32>(red[e], red_lo[e]));
                }
                red[j * WG + base] = acc.x;
                red_lo[j * WG + base] = acc.y;
            }
            var cnt = red[5u * WG + base];
            for (var r = 1u; r < RADIX; r = r + 1u) {
                cnt = cnt + red[5u * WG + base + r * stride];
            }
            red[5u * WG + base] = cnt;
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        for (var j = 0u; j < 5u; j = j + 1u) {
            wg_fin[a * 12u + 2u * j] = red[j * WG];
            wg_fin[a * 12u + 2u * j + 1u] = red_lo[j * WG];
        }
        wg_fin[a * 12u + 10u] = red[5u * WG];
    }
    workgroupBarrier();
}

fn to_threshold_cdf(p: f32) -> u32 {
    return u32(clamp(p * 4294967296.0, 0.0, 4294967040.0));
}

fn to_threshold_sf(sf: f32) -> u32 {
    let m = u32(clamp(sf * 4294967296.0, 0.0, 4294967040.0));
    return select(0u - m, 0xFFFFFFFFu, m == 0u);
}

// The inverse-CDF table of Poisson(lambda) for population b (PoissonTable::build in f32).
fn build_table(lid: u32, b: u32, lambda: f32) {
    let base = b * TABLE_STRIDE;
    let wdt = 10.0 * sqrt(lambda) + 12.0;
    let lo = u32(floor(max(lambda - wdt, 0.0)));
    let hi = u32(ceil(lambda + wdt));
    let len = hi - lo + 1u;
    // guide_bits: about 4 buckets per entry, at most GUIDE_CAP
    var bits = 1u;
    while ((1u << bits) < len) {
        bits = bits + 1u;
    }
    bits = min(bits + 2u, 14u);
    let mid = len / 2u;
    let chunk = (len + WG - 1u) / WG;
    let start = min(lid * chunk, len);
    let end = min(start + chunk, len);
    // pmf of this thread's entries, kept in the threshold slots as f32 bits.
    var low = 0.0;
    var up = 0.0;
    for (var i = start; i < end; i = i + 1u) {
        var pm: f32;
        if (lambda <= 0.0) {
            pm = select(0.0, 1.0, i == 0u);
        } else {
            pm = exp(poisson_log_pmf(f32(lo + i), lambda));
        }
        tables[base + 4u + i] = bitcast<u32>(pm);
        if (i < mid) {
            low = low + pm;
        } else {
            up = up + pm;
        }
    }
    red[lid] = low;
    red[WG + lid] = up;
    storageBarrier();
    workgroupBarrier();
    if (lid == 0u) {
        // Exclusive prefix of the lower sums, exclusive suffix of the upper sums.
        var acc = 0.0;
        for (var t = 0u; t < WG; t = t + 1u) {
            let v = red[t];
            red[t] = acc;
            acc = acc + v;
        }
        acc = 0.0;
        for (var t = WG; t > 0u; t = t - 1u) {
            let v = red[WG + t - 1u];
            red[WG + t - 1u] = acc;
            acc = acc + v;
        }
        tables[base] = lo;
        tables[base + 1u] = len;
        tables[base + 2u] = 32u - bits;
    }
    workgroupBarrier();
    var cdf = red[lid];
    for (var i = start; i < min(end, mid); i = i + 1u) {
        cdf = cdf + bitcast<f32>(tables[base + 4u + i]);
        tables[base + 4u + i] = to_threshold_cdf(cdf);
    }
    var sf = red[WG + lid];
    for (var i = end; i > max(start, mid); i = i - 1u) {
        let pm = bitcast<f32>(tables[base + 4u + i - 1u]);
        tables[base + 4u + i - 1u] = to_threshold_sf(sf);
        sf = sf + pm;
    }
    storageBarrier();
    workgroupBarrier();
    let shift = 32u - bits;
    for (var gi = lid; gi < (1u << bits); gi = gi + WG) {
        let w = gi << shift;
        // first i with T[i] > w (binary search), capped at len - 1
        var l = 0u;
        var r = len;
        while (l < r) {
            let m = (l + r) / 2u;
            if (tables[base + 4u + m] <= w) {
                l = m + 1u;
            } else {
                r = m;
            }
        }
        tables[base + 4u + TABLE_CAP + gi] = min(l, len - 1u);
    }
    storageBarrier();
    workgroupBarrier();
}

fn finalize_common(lid: u32, advance: bool) {
    if (lid == 0u) {
        wg_u32 = state.step;
    }
    let t_old = workgroupUniformLoad(&wg_u32);
    let t = select(t_old, t_old + 1u, advance);
    let record = !advance || (t % params.record_every) == 0u;
    reduce_population(lid, 0u, record);
    reduce_population(lid, 1u, record);
    if (lid == 0u) {
        state.step = t;
        state.lambda_e = wg_fin[0];
        state.lambda_e_lo = wg_fin[1];
        state.lambda_i = wg_fin[12];
        state.lambda_i_lo = wg_fin[13];
        state.spikes_e = u32(wg_fin[10]);
        state.spikes_i = u32(wg_fin[22]);
        if (record) {
            let r = state.record_index * REC_STRIDE;
            records[r] = bitcast<f32>(t);
            for (var a = 0u; a < 2u; a = a + 1u) {
                let o = r + 1u + a * 11u;
                records[o] = f32(params.n);
                for (var j = 0u; j < 10u; j = j + 1u) {
                    records[o + 1u + j] = wg_fin[a * 12u + j];
                }
            }
            state.record_index = state.record_index + 1u;
        }
        wg_lambda = vec2<f32>(wg_fin[0], wg_fin[12]);
    }
    let lam = workgroupUniformLoad(&wg_lambda);
    if (params.coupling == COUPLING_INDEPENDENT) {
        build_table(lid, 0u, params.dt * lam.x);
        build_table(lid, 1u, params.dt * lam.y);
    }
}

@compute @workgroup_size(256)
fn finalize_init(@builtin(local_invocation_index) lid: u32) {
    finalize_common(lid, false);
}

@compute @workgroup_size(256)
fn finalize(@builtin(local_invocation_index) lid: u32) {
    finalize_common(lid, true);
}
