// Model H on the GPU: the WGSL twin of src/hydro/step.rs (per-neuron step) and src/rng/alias.rs
// (alias tables), and of the CPU driver in src/hydro/cpu.rs. Compiled after rng.wgsl, math.wgsl,
// the constants generated from Rust (src/device/constants.rs: PART, REC_STRIDE, COUPLING_*,
// PURPOSE_*, ...) and a prelude the host writes (HydroKernel::prelude in src/hydro/gpu.rs):
// `WG` (invocations per workgroup of the neuron kernels),
// `FWG` (of `finalize`), `QUADS` (vec4s of neurons per invocation), `COUPLING`, `OWN_EXTRA_TERMS` (HydroConsts::own_extra_terms),
// `EXPM1_SERIES_ONLY` (true when every argument of expm1_f32 is within its series range),
// `INVOCATION_PARTIALS` (each invocation writes its own partial sums instead of a workgroup
// tree: no barrier in the neuron kernels, for CPU devices where barriers are costly), and
// `table_entry(i)`, which reads the step's alias tables from a uniform buffer where they fit,
// else from a storage buffer, and `xs_load(q)` / `xs_store(q, v)`, quad q of the state x of all
// segments: `xs` itself, or where x is larger than one storage binding, `xs` and the parts
// `xs_1` ... at group 3 (src/device/split.rs).
//
// R replicas run side by side. Segment s = 2 r + a holds population a of replica r: x as vec4s
// (neurons 4q .. 4q + 3 of a quad q together), padded to n_pad neurons so that every workgroup
// covers one segment. Per step: `update` (every neuron; writes per-workgroup partial sums of
// the new state) then `finalize` (one workgroup per replica: two-float reduction of the
// partials, record, next step's four alias tables). No float atomics; every reduction tree has
// a fixed shape. Software devices (lavapipe) run both sides of every branch, so the step has no
// rare branch: each neuron pays for all the code below.

// PART: per-workgroup partials (lambda, spikes, s1, s2, s3, s4); REC_STRIDE: words per record
// (step, then per population: count, (hi, lo) of lambda, s1..s4, the centre of the sums).
const ITEMS: u32 = QUADS * 4u;

struct HydroParams {
    n: u32,
    n_pad: u32,
    wg_per_seg: u32,
    record_every: u32,
    replicas: u32,
    quads: u32,
    _pad4: u32,
    _pad5: u32,
    _pad6: u32,
    table_stride: u32,
    record_capacity: u32,
    _pad0: u32,
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
    _pad7: f32,
    _pad8: f32,
    x0_mean_e: f32,
    x0_mean_i: f32,
    x0_sd_e: f32,
    x0_sd_i: f32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

// One replica's step state; its key and counter replica word are set by the host, so that the
// replicas of a batch may also differ in seed. Tables are indexed a * 2 + b (what population a
// draws from b).
struct ReplicaState {
    step: u32,
    spikes_e: u32,
    spikes_i: u32,
    record_index: u32,
    lambda_e: f32,
    lambda_e_lo: f32,
    lambda_i: f32,
    lambda_i_lo: f32,
    split_e: f32,
    split_i: f32,
    key_lo: u32,
    key_hi: u32,
    replica: u32,
    shift_e: f32,
    shift_i: f32,
    _pad0: u32,
    table_lo: vec4<u32>,
    table_bits: vec4<u32>,
}

@group(0) @binding(0) var<uniform> params: HydroParams;
@group(0) @binding(1) var<storage, read_write> xs: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> spikes: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;
@group(0) @binding(4) var<storage, read_write> state: array<ReplicaState>;
@group(0) @binding(5) var<storage, read_write> records: array<f32>;
@group(0) @binding(6) var<storage, read_write> scratch: array<u32>;
@group(1) @binding(0) var<storage, read_write> tables_w: array<u32>;

var<workgroup> red: array<f32, 1536>;   // PART * WG (WG <= 256), 12 * FWG (FWG <= 64)
var<workgroup> red_lo: array<f32, 640>;  // 10 * FWG: low words of the two-float sums
var<workgroup> red_u: array<u32, 256>;   // 4 * FWG
var<workgroup> wg_u32: u32;
var<workgroup> wg_state: ReplicaState;
var<workgroup> wg_fin: array<f32, 24>;
var<workgroup> wg_tab: array<vec4<u32>, 4>; // per table: lo, bits, len, mode
var<workgroup> wg_mean: vec4<f32>;

fn pick(a: u32, e: f32, i: f32) -> f32 {
    return select(e, i, a == 1u);
}

// expm1_f32 of math.wgsl; its series alone where EXPM1_SERIES_ONLY says that every argument
// is within the series range (the same value).
fn expm1_hydro(x: f32) -> f32 {
    if (EXPM1_SERIES_ONLY) {
        return expm1_series(x);
    }
    return expm1_f32(x);
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

// spike_prob_of_rate of hydro/step.rs: 1 - exp(-rate dt).
fn spike_prob_of_rate(rate: f32) -> f32 {
    return -expm1_hydro(-rate * params.dt);
}

fn alias_sample(base: u32, bits: u32, lo: u32, w: u32) -> u32 {
    let shift = 32u - bits;
    let idx = w >> shift;
    let e = table_entry(base + idx);
    let stay = (w & ((1u << shift) - 1u)) < (e >> bits);
    return lo + select(e & ((1u << bits) - 1u), idx, stay);
}

fn own_extra_mean(a: u32, x: f32, split: f32) -> f32 {
    return max(params.dt * (split - rate_fn(a, x)), 0.0);
}

// own_extra_count of hydro/step.rs as a count of the thresholds above w (a constant trip count, so
// the loop unrolls and no lane waits for another).
fn own_extra_count(mu: f32, w: u32) -> u32 {
    var sf = -expm1_hydro(-mu);
    var term = mu * (1.0 - sf);
    var count = 0u;
    for (var j = 1u; j <= OWN_EXTRA_TERMS; j = j + 1u) {
        count = count + select(0u, 1u, w < to_threshold32(sf));
        sf = sf - term;
        term = term * mu / f32(j + 1u);
    }
    return count;
}

// This workgroup's view of the step's tables (population a's two).
struct StepTables {
    base: vec2<u32>,
    bits: vec2<u32>,
    lo: vec2<u32>,
    split: f32,
}

fn step_independent(a: u32, x: f32, we: u32, wi: u32, wb: u32, st: StepTables) -> f32 {
    var counts = vec2<u32>(alias_sample(st.base.x, st.bits.x, st.lo.x, we),
                           alias_sample(st.base.y, st.bits.y, st.lo.y, wi));
    counts[a] = counts[a] + own_extra_count(own_extra_mean(a, x, st.split), wb);
    return relax(a, x) + (jump(a, 0u) * f32(counts.x) - jump(a, 1u) * f32(counts.y));
}

fn step_shared(a: u32, x: f32, own_spike: bool, counts: vec2<u32>) -> f32 {
    var s = counts;
    s[a] = s[a] - select(0u, 1u, own_spike);
    return relax(a, x) + (jump(a, 0u) * f32(s.x) - jump(a, 1u) * f32(s.y));
}

// Fixed-shape sum of red[j * width + lid] for j < count over `width` invocations (a
// multiple of 8, at most 256): 8-way sums in order, then one sum of the width / 8 results;
// the result in red[j * width], visible to invocation 0 (callers add a barrier when others
// read it). Few barriers: each costs a context switch per SIMD group on CPU implementations
// such as lavapipe.
fn tree_reduce(lid: u32, count: u32, width: u32) {
    workgroupBarrier();
    if (lid < width / 8u) {
        for (var j = 0u; j < count; j = j + 1u) {
            var s = 0.0;
            for (var r = 0u; r < 8u; r = r + 1u) {
                s = s + red[j * width + lid * 8u + r];
            }
            red[j * width + lid * 8u] = s;
        }
    }
    workgroupBarrier();
    if (lid == 0u) {
        for (var j = 0u; j < count; j = j + 1u) {
            var s = 0.0;
            for (var r = 0u; r < width / 8u; r = r + 1u) {
                s = s + red[j * width + r * 8u];
            }
            red[j * width] = s;
        }
    }
}

// The same tree over red_u in wrapping u32 arithmetic.
fn tree_reduce_u32(lid: u32, count: u32, width: u32) {
    workgroupBarrier();
    if (lid < width / 8u) {
        for (var j = 0u; j < count; j = j + 1u) {
            var s = 0u;
            for (var r = 0u; r < 8u; r = r + 1u) {
                s = s + red_u[j * width + lid * 8u + r];
            }
            red_u[j * width + lid * 8u] = s;
        }
    }
    workgroupBarrier();
    if (lid == 0u) {
        for (var j = 0u; j < count; j = j + 1u) {
            var s = 0u;
            for (var r = 0u; r < width / 8u; r = r + 1u) {
                s = s + red_u[j * width + r * 8u];
            }
            red_u[j * width] = s;
        }
    }
}

fn write_partials(wg_index: u32, lid: u32, acc: array<f32, 6>, record: bool) {
    let count = select(2u, PART, record);
    if (INVOCATION_PARTIALS) {
        for (var j = 0u; j < count; j = j + 1u) {
            partials[(wg_index * WG + lid) * PART + j] = acc[j];
        }
        return;
    }
    for (var j = 0u; j < PART; j = j + 1u) {
        red[j * WG + lid] = acc[j];
    }
    tree_reduce(lid, count, WG);
    if (lid == 0u) {
        for (var j = 0u; j < PART; j = j + 1u) {
            partials[wg_index * PART + j] = red[j * WG];
        }
    }
}

// `shift` is the replica's centre of the power sums (ReplicaState.shift_a: the mean of its
// previous record, x0_mean at first), so that the sums do not cancel however far the state
// moves from where it started.
fn accumulate(acc: ptr<function, array<f32, 6>>, a: u32, x: f32, rate: f32, fired: bool, record: bool,
              shift: f32) {
    (*acc)[0] = (*acc)[0] + rate;
    (*acc)[1] = (*acc)[1] + select(0.0, 1.0, fired);
    if (!record) {
        return;
    }
    let d = x - shift;
    let d2 = d * d;
    (*acc)[2] = (*acc)[2] + d;
    (*acc)[3] = (*acc)[3] + d2;
    (*acc)[4] = (*acc)[4] + d2 * d;
    (*acc)[5] = (*acc)[5] + d2 * d2;
}

// Replica rl's state, as every invocation of the workgroup sees it.
fn load_state(lid: u32, rl: u32) -> ReplicaState {
    if (INVOCATION_PARTIALS) {
        return state[rl];
    }
    if (lid == 0u) {
        wg_state = state[rl];
    }
    return workgroupUniformLoad(&wg_state);
}

// Where workgroup wg_index works: (segment, chunk within it), or segment 2R when it has none.
fn segment_of(wg_index: u32) -> vec2<u32> {
    let seg = wg_index / params.wg_per_seg;
    return vec2<u32>(seg, wg_index - seg * params.wg_per_seg);
}

// spikes_shared of hydro/step.rs for the four neurons of quad qi, from their rates f_a(x).
fn spikes_shared_quad(qi: u32, t: u32, replica: u32, key: vec2<u32>, rates: vec4<f32>) -> vec4<bool> {
    let w = philox4x32_10(counter(qi, t, PURPOSE_HYDRO_STEP, replica), key);
    return vec4<bool>(w.x < to_threshold32(spike_prob_of_rate(rates.x)),
                      w.y < to_threshold32(spike_prob_of_rate(rates.y)),
                      w.z < to_threshold32(spike_prob_of_rate(rates.z)),
                      w.w < to_threshold32(spike_prob_of_rate(rates.w)));
}

fn rates_of(a: u32, x: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(rate_fn(a, x.x), rate_fn(a, x.y), rate_fn(a, x.z), rate_fn(a, x.w));
}

fn spike_bits(f: vec4<bool>, i: u32) -> u32 {
    return (select(0u, 1u, f.x) | select(0u, 2u, f.y) | select(0u, 4u, f.z) | select(0u, 8u, f.w)) << (4u * i);
}

@compute @workgroup_size(WG)
fn init(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let wg_index = wid.x + wid.y * nwg.x;
    let sc = segment_of(wg_index);
    if (sc.x >= 2u * params.replicas) {
        return;
    }
    let a = sc.x & 1u;
    let rs = load_state(lid, sc.x >> 1u);
    let replica = rs.replica;
    let key = vec2<u32>(rs.key_lo, rs.key_hi);
    var acc = array<f32, 6>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    var word = 0u;
    for (var i = 0u; i < QUADS; i = i + 1u) {
        let q = sc.y * WG * QUADS + i * WG + lid;
        if (4u * q < params.n) {
            var x: vec4<f32>;
            for (var j = 0u; j < 4u; j = j + 1u) {
                let g = a * params.n + 4u * q + j;
                var s = stream_new(counter(g, 0u, PURPOSE_HYDRO_INIT, replica), key);
                x[j] = pick(a, params.x0_mean_e, params.x0_mean_i) + pick(a, params.x0_sd_e, params.x0_sd_i) * normal(&s);
            }
            xs_store(sc.x * (params.n_pad / 4u) + q, x);
            var fired = vec4<bool>(false);
            let rates = rates_of(a, x);
            if (COUPLING == COUPLING_SHARED) {
                fired = spikes_shared_quad(a * params.quads + q, 0u, replica, key, rates);
                word = word | spike_bits(fired, i);
            }
            for (var j = 0u; j < 4u; j = j + 1u) {
                if (4u * q + j < params.n) {
                    accumulate(&acc, a, x[j], rates[j], fired[j], true, pick(a, rs.shift_e, rs.shift_i));
                }
            }
        }
    }
    if (COUPLING == COUPLING_SHARED) {
        spikes[wg_index * WG + lid] = word;
    }
    write_partials(wg_index, lid, acc, true);
}

// One step of every neuron; `record` (a constant at each entry point, so that each pipeline
// is specialised) adds the moments to the partial sums.
fn update_body(lid: u32, wid: vec3<u32>, nwg: vec3<u32>, record: bool) {
    let wg_index = wid.x + wid.y * nwg.x;
    let sc = segment_of(wg_index);
    if (sc.x >= 2u * params.replicas) {
        return;
    }
    let a = sc.x & 1u;
    let rl = sc.x >> 1u;
    let rs = load_state(lid, rl);
    let replica = rs.replica;
    let key = vec2<u32>(rs.key_lo, rs.key_hi);
    let t = rs.step;
    var st: StepTables;
    st.base = vec2<u32>((rl * 4u + a * 2u) * params.table_stride, (rl * 4u + a * 2u + 1u) * params.table_stride);
    st.bits = select(rs.table_bits.xy, rs.table_bits.zw, a == 1u);
    st.lo = select(rs.table_lo.xy, rs.table_lo.zw, a == 1u);
    st.split = pick(a, rs.split_e, rs.split_i);
    let counts = vec2<u32>(rs.spikes_e, rs.spikes_i);
    var acc = array<f32, 6>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let sw = wg_index * WG + lid;
    var old_word = 0u;
    var new_word = 0u;
    if (COUPLING == COUPLING_SHARED) {
        old_word = spikes[sw];
    }
    for (var i = 0u; i < QUADS; i = i + 1u) {
        let q = sc.y * WG * QUADS + i * WG + lid;
        if (4u * q < params.n) {
            let vi = sc.x * (params.n_pad / 4u) + q;
            let qi = a * params.quads + q;
            let x = xs_load(vi);
            var xn: vec4<f32>;
            if (COUPLING == COUPLING_SHARED) {
                for (var j = 0u; j < 4u; j = j + 1u) {
                    xn[j] = step_shared(a, x[j], ((old_word >> (4u * i + j)) & 1u) != 0u, counts);
                }
            } else {
                let w0 = philox4x32_10(counter(qi, t, PURPOSE_HYDRO_STEP, replica), key);
                let w1 = philox4x32_10(counter(qi, t, PURPOSE_HYDRO_STEP | (1u << 24u), replica), key);
                let w2 = philox4x32_10(counter(qi, t, PURPOSE_HYDRO_STEP | (2u << 24u), replica), key);
                xn = vec4<f32>(step_independent(a, x.x, w0.x, w0.y, w0.z, st),
                               step_independent(a, x.y, w0.w, w1.x, w1.y, st),
                               step_independent(a, x.z, w1.z, w1.w, w2.x, st),
                               step_independent(a, x.w, w2.y, w2.z, w2.w, st));
            }
            xs_store(vi, xn);
            let rates = rates_of(a, xn);
            var fired = vec4<bool>(false);
            if (COUPLING == COUPLING_SHARED) {
                fired = spikes_shared_quad(qi, t + 1u, replica, key, rates);
                new_word = new_word | spike_bits(fired, i);
            }
            for (var j = 0u; j < 4u; j = j + 1u) {
                if (4u * q + j < params.n) {
                    accumulate(&acc, a, xn[j], rates[j], fired[j], record, pick(a, rs.shift_e, rs.shift_i));
                }
            }
        }
    }
    if (COUPLING == COUPLING_SHARED) {
        spikes[sw] = new_word;
    }
    write_partials(wg_index, lid, acc, record);
}

@compute @workgroup_size(WG)
fn update(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
    update_body(lid, wid, nwg, false);
}

// The step after which a record is taken (the host picks it: (step + 1) % record_every == 0).
@compute @workgroup_size(WG)
fn update_record(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
    update_body(lid, wid, nwg, true);
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

// Two-float sums over replica rl's partials of quantities 0 (lambda) and 2..5 (moments, on
// record steps) of both populations; integer sums of quantity 1 (spikes). Population a's
// results in wg_fin[a * 12 + ...]: (hi, lo) of lambda, s1..s4, then the spike count.
fn reduce_populations(lid: u32, rl: u32, record: bool) {
    var sums: array<vec2<f32>, 10>;
    var spk = vec2<u32>(0u, 0u);
    for (var j = 0u; j < 10u; j = j + 1u) {
        sums[j] = vec2<f32>(0.0, 0.0);
    }
    let per_seg = params.wg_per_seg * select(1u, WG, INVOCATION_PARTIALS);
    for (var a = 0u; a < 2u; a = a + 1u) {
        for (var w = lid; w < per_seg; w = w + FWG) {
            let base = ((2u * rl + a) * per_seg + w) * PART;
            sums[a * 5u] = df_add(sums[a * 5u], vec2<f32>(partials[base], 0.0));
            spk[a] = spk[a] + u32(partials[base + 1u]);
            if (record) {
                for (var j = 1u; j < 5u; j = j + 1u) {
                    sums[a * 5u + j] = df_add(sums[a * 5u + j], vec2<f32>(partials[base + 1u + j], 0.0));
                }
            }
        }
    }
    for (var j = 0u; j < 10u; j = j + 1u) {
        red[j * FWG + lid] = sums[j].x;
        red_lo[j * FWG + lid] = sums[j].y;
    }
    red[10u * FWG + lid] = f32(spk.x); // exact: spike counts stay below 2^24 per thread
    red[11u * FWG + lid] = f32(spk.y);
    let count = select(1u, 5u, record);
    // Two levels of ordered sums, as in tree_reduce.
    for (var level = 0u; level < 2u; level = level + 1u) {
        workgroupBarrier();
        let stride = select(8u, 1u, level == 0u);
        let busy = select(1u, FWG / 8u, level == 0u);
        let width = select(FWG / 8u, 8u, level == 0u);
        if (lid < busy) {
            let base = lid * 8u * stride;
            for (var a = 0u; a < 2u; a = a + 1u) {
                for (var j = 0u; j < count; j = j + 1u) {
                    let q = (a * 5u + j) * FWG + base;
                    var acc = vec2<f32>(red[q], red_lo[q]);
                    for (var r = 1u; r < width; r = r + 1u) {
                        acc = df_add(acc, vec2<f32>(red[q + r * stride], red_lo[q + r * stride]));
                    }
                    red[q] = acc.x;
                    red_lo[q] = acc.y;
                }
                let q = (10u + a) * FWG + base;
                var cnt = red[q];
                for (var r = 1u; r < width; r = r + 1u) {
                    cnt = cnt + red[q + r * stride];
                }
                red[q] = cnt;
            }
        }
    }
    if (lid == 0u) {
        for (var a = 0u; a < 2u; a = a + 1u) {
            for (var j = 0u; j < 5u; j = j + 1u) {
                wg_fin[a * 12u + 2u * j] = red[(a * 5u + j) * FWG];
                wg_fin[a * 12u + 2u * j + 1u] = red_lo[(a * 5u + j) * FWG];
            }
            wg_fin[a * 12u + 10u] = red[(10u + a) * FWG];
        }
    }
}

// [lo, hi] of the table of Poisson(lambda) (poisson_table_range of rng/alias.rs, in f32).
fn table_range(lambda: f32) -> vec2<u32> {
    let w = 10.0 * sqrt(lambda) + 12.0;
    return vec2<u32>(u32(floor(max(lambda - w, 0.0))), u32(ceil(lambda + w)));
}

fn alias_bits(len: u32) -> u32 {
    var bits = 1u;
    while ((1u << bits) < len) {
        bits = bits + 1u;
    }
    return bits;
}

// poisson_masses of rng/alias.rs in f32 for the four tables of replica rl, into their masses
// scratch: the pmf (Loader's cancellation-free log form) in parallel, normalised by a
// fixed-tree f32 sum; floor(p 2^32) per entry, the mode the rounding remainder
// (complete_mode_mass). wg_tab[tb] = (lo, bits, len, mode).
fn poisson_masses(lid: u32, rl: u32, means: vec4<f32>) {
    let stride = params.table_stride;
    if (lid == 0u) {
        for (var tb = 0u; tb < 4u; tb = tb + 1u) {
            let range = table_range(means[tb]);
            let len = range.y - range.x + 1u;
            let fl = u32(floor(means[tb]));
            wg_tab[tb] = vec4<u32>(range.x, alias_bits(len), len, min(fl - min(fl, range.x), len - 1u));
        }
    }
    workgroupBarrier();
    for (var tb = 0u; tb < 4u; tb = tb + 1u) {
        let tab = wg_tab[tb];
        let lambda = means[tb];
        let mbase = (rl * 4u + tb) * 2u * stride;
        var part = 0.0;
        for (var i = lid; i < (1u << tab.y); i = i + FWG) {
            var p = 0.0;
            if (i < tab.z) {
                p = select(exp_f32(poisson_log_pmf(f32(tab.x + i), lambda)), select(0.0, 1.0, i == 0u), lambda <= 0.0);
            }
            scratch[mbase + i] = bitcast<u32>(p);
            part = part + p;
        }
        red[tb * FWG + lid] = part;
    }
    tree_reduce(lid, 4u, FWG);
    workgroupBarrier();
    for (var tb = 0u; tb < 4u; tb = tb + 1u) {
        let tab = wg_tab[tb];
        let total = red[tb * FWG];
        let mbase = (rl * 4u + tb) * 2u * stride;
        var others = 0u;
        for (var i = lid; i < (1u << tab.y); i = i + FWG) {
            let p = bitcast<f32>(scratch[mbase + i]);
            let m = select(to_threshold_floor(p / total), 0u, i == tab.w);
            scratch[mbase + i] = m;
            others = others + m;
        }
        red_u[tb * FWG + lid] = others;
    }
    tree_reduce_u32(lid, 4u, FWG);
    if (lid == 0u) {
        for (var tb = 0u; tb < 4u; tb = tb + 1u) {
            let tab = wg_tab[tb];
            let mbase = (rl * 4u + tb) * 2u * stride;
            let rest = red_u[tb * FWG];
            scratch[mbase + tab.w] = select(0u - rest, 0xFFFFFFFFu, rest == 0u);
            if (rest == 0u) {
                scratch[mbase + (tab.w + 1u) % (1u << tab.y)] = 1u;
            }
        }
    }
    storageBarrier();
    workgroupBarrier();
}

fn to_threshold_floor(p: f32) -> u32 {
    return u32(clamp(floor(p * 4294967296.0), 0.0, 4294967040.0));
}

// alias_build of rng/alias.rs: Vose's method in exact integer arithmetic, masses at mbase, the
// two stacks at sbase, entries written to the tables at ebase.
fn alias_build(mbase: u32, sbase: u32, ebase: u32, bits: u32) {
    let k = 1u << bits;
    let cap = 1u << (32u - bits);
    var ns = 0u;
    var nl = 0u;
    for (var i = 0u; i < k; i = i + 1u) {
        if (scratch[mbase + i] < cap) {
            scratch[sbase + ns] = i;
            ns = ns + 1u;
        } else {
            scratch[sbase + k - 1u - nl] = i;
            nl = nl + 1u;
        }
    }
    loop {
        if (ns == 0u || nl == 0u) {
            break;
        }
        ns = ns - 1u;
        let l = scratch[sbase + ns];
        nl = nl - 1u;
        let g = scratch[sbase + k - 1u - nl];
        let ml = scratch[mbase + l];
        tables_w[ebase + l] = (ml << bits) | g;
        let mg = scratch[mbase + g] - (cap - ml);
        scratch[mbase + g] = mg;
        if (mg < cap) {
            scratch[sbase + ns] = g;
            ns = ns + 1u;
        } else {
            scratch[sbase + k - 1u - nl] = g;
            nl = nl + 1u;
        }
    }
    for (var i = 0u; i < ns; i = i + 1u) {
        let e = scratch[sbase + i];
        tables_w[ebase + e] = e;
    }
    for (var i = 0u; i < nl; i = i + 1u) {
        let e = scratch[sbase + k - 1u - i];
        tables_w[ebase + e] = e;
    }
}

fn finalize_common(lid: u32, rl: u32, advance: bool) {
    if (lid == 0u) {
        wg_u32 = state[rl].step;
    }
    let t_old = workgroupUniformLoad(&wg_u32);
    let t = select(t_old, t_old + 1u, advance);
    let record = !advance || (t % params.record_every) == 0u;
    reduce_populations(lid, rl, record);
    if (lid == 0u) {
        state[rl].step = t;
        state[rl].lambda_e = wg_fin[0];
        state[rl].lambda_e_lo = wg_fin[1];
        state[rl].lambda_i = wg_fin[12];
        state[rl].lambda_i_lo = wg_fin[13];
        state[rl].spikes_e = u32(wg_fin[10]);
        state[rl].spikes_i = u32(wg_fin[22]);
        if (record) {
            let r = (state[rl].record_index * params.replicas + rl) * REC_STRIDE;
            records[r] = bitcast<f32>(t);
            let shift = vec2<f32>(state[rl].shift_e, state[rl].shift_i);
            var next = shift;
            for (var a = 0u; a < 2u; a = a + 1u) {
                let o = r + 1u + a * 12u;
                records[o] = f32(params.n);
                for (var j = 0u; j < 10u; j = j + 1u) {
                    records[o + 1u + j] = wg_fin[a * 12u + j];
                }
                records[o + 11u] = shift[a];
                // The next record's centre: this record's mean (kept when not finite).
                let m = shift[a] + (wg_fin[a * 12u + 2u] + wg_fin[a * 12u + 3u]) / f32(params.n);
                if ((bitcast<u32>(m) & 0x7f800000u) != 0x7f800000u) {
                    next[a] = m;
                }
            }
            state[rl].shift_e = next.x;
            state[rl].shift_i = next.y;
            state[rl].record_index = state[rl].record_index + 1u;
        }
        // step_means of hydro/step.rs: split s_a = min(nu_max_a, Lambda_a); table (a, b) has mean
        // dt Lambda_b, less dt s_b when a = b.
        let lam = vec2<f32>(wg_fin[0] + wg_fin[1], wg_fin[12] + wg_fin[13]);
        let split = vec2<f32>(min(params.nu_max_e, lam.x), min(params.nu_max_i, lam.y));
        state[rl].split_e = split.x;
        state[rl].split_i = split.y;
        wg_mean = vec4<f32>(max(params.dt * ((wg_fin[0] - split.x) + wg_fin[1]), 0.0),
                            max(params.dt * lam.y, 0.0),
                            max(params.dt * lam.x, 0.0),
                            max(params.dt * ((wg_fin[12] - split.y) + wg_fin[13]), 0.0));
    }
    if (COUPLING == COUPLING_INDEPENDENT) {
        poisson_masses(lid, rl, workgroupUniformLoad(&wg_mean));
        // The four tables' Vose passes side by side in four lanes of one SIMD group.
        if (lid < 4u) {
            let stride = params.table_stride;
            let mbase = (rl * 4u + lid) * 2u * stride;
            alias_build(mbase, mbase + stride, (rl * 4u + lid) * stride, wg_tab[lid].y);
        }
        if (lid == 0u) {
            state[rl].table_lo = vec4<u32>(wg_tab[0].x, wg_tab[1].x, wg_tab[2].x, wg_tab[3].x);
            state[rl].table_bits = vec4<u32>(wg_tab[0].y, wg_tab[1].y, wg_tab[2].y, wg_tab[3].y);
        }
    }
}

@compute @workgroup_size(FWG)
fn finalize_init(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
    finalize_common(lid, wid.x + wid.y * nwg.x, false);
}

@compute @workgroup_size(FWG)
fn finalize(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
            @builtin(num_workgroups) nwg: vec3<u32>) {
    finalize_common(lid, wid.x + wid.y * nwg.x, true);
}
