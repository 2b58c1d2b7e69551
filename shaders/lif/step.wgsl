// Model L on the GPU: the WGSL twin of src/lif/step.rs (the neuron step, function for
// function, same f32 arithmetic and random counters) and of the CPU driver src/lif/cpu.rs.
// Compiled after rng.wgsl, math.wgsl and the constants generated from Rust
// (src/device/constants.rs: BLOCK_MAX, TARGET_BITS, TARGET_MASK, C_RASTER, C_SPIKES, C_BINS, the
// INTEGRATOR_* / SYN_* / CONN_* codes of the override constants, PURPOSE_*, ...).
//
// One dispatch per step t. Workgroup w owns the block of neurons [lo, lo + WG * items):
//   1. the spikes of step t - 1 (list (t + 2) % 3): those of the block's own neurons are
//      recorded (rate bins, ISI sums, raster); with fixed_indegree all of them are pushed
//      through their CSR rows, restricted to the block's targets (rows are sorted by target:
//      two searches give a row's segment in the block). Delay-1 arrivals go to the
//      block's counters in workgroup memory, longer delays to the ring buffer `ring` (slot
//      (t - 1 + d) % slots); both by integer atomics, so the sums are deterministic. Only this
//      workgroup touches its block's counters, so no atomic is contended across workgroups.
//   2. update: every neuron of the block steps with the counts of its slot t. The precise
//      integrator runs on the first Philox block of the neuron's external stream (as
//      src/lif/lanes.rs does, here with all four words); the few neurons whose external
//      process outlives it finish in a second pass (`precise_continue`), so that the main pass
//      has no Philox in a loop. Spikes and continuations go to lane-private lists in
//      workgroup memory; the spikes are then appended to list t % 3 with one atomic per
//      workgroup.
// Counters of list (t + 1) % 3 are reset by workgroup 0 (nobody reads them during step t).
// The last step of each submission is recorded by `flush_records`; the next submission's
// first step then skips it.
// Counter packing: E arrivals in the low 16 bits, I arrivals in the high 16 (in-degrees from
// each population are < 2^16, checked by the host).
//
// CPU devices such as lavapipe run every branch's straight-line code (masked) and every loop
// body at least once, whatever the lanes decide; so the kernel is specialised per run by
// `override` constants, and rare work (spikes, continuations) runs on lists, not per neuron.

override INTEGRATOR: u32 = 1u;   // 0 lumped, 1 precise
override SYN_KIND: u32 = 0u;     // 0 conductance, 1 current
override CONNECTIVITY: u32 = 0u; // 0 fixed_indegree, 1 annealed, 2 all_to_all
override RING: bool = false;     // some delays are longer than one step
override SHORT_LEAKS: bool = false; // dt / tau_L < 2^-6 in both populations (`short_leaks`)
override EXT_INPUT: bool = true; // K_X nu_X dt > 0
override SAMPLE_V: bool = false; // this step samples the V histogram

// Invocations per workgroup: the subgroup size on CPU devices (one SIMD group: nothing is
// executed masked for idle groups, barriers are cheap), 64 on GPUs.
override WG: u32 = 64u;
// BLOCK_MAX: WG * items, at most.
const SEG_CAP: u32 = 128u;    // spikes whose segments are held at once (workgroup memory < 16 KiB)
const EV_SPIKE: u32 = 0x80000000u;
const EV_CONTINUE: u32 = 0x40000000u;
const EV_LOCAL: u32 = 0x3FFFFFFFu;
const KIND_I: u32 = 0x80000000u;
const ONE_E: u32 = 1u;
const ONE_I: u32 = 65536u;
const NO_SPIKE: f32 = -1.0;
// counters[]: spike-list lengths [3], population spike counts [3][2], raster length, length of
// the spike buffer of record.spikes, then the rate bins [bins_cap][2] and the V histogram
// [2][vhist_bins]: C_LIST, C_POP here, C_RASTER, C_SPIKES and C_BINS generated from
// src/lif/gpu.rs.
const C_LIST: u32 = 0u;
const C_POP: u32 = 3u;

struct LifPop {
    tau_l: f32,
    e_l: f32,
    e_e: f32,
    e_i: f32,
    theta: f32,
    v_r: f32,
    tau_rp: f32,
    decay: f32,
    inv_tau_l: f32,
    _pad0: f32,
    _pad1: f32,
    _pad2: f32,
}

struct LifParams {
    pop: array<LifPop, 2>,
    n_e: u32,
    n_i: u32,
    n: u32,
    items: u32,
    dt: f32,
    ext_lambda: f32,
    ext_p0: f32,
    ext_mean_gap: f32,
    // conductance: a, g a, e^{-a}; current: J, -g J, unused
    syn_e: f32,
    syn_i: f32,
    exp_neg_a: f32,
    key_lo: u32,
    key_hi: u32,
    replica: u32,
    k_e: u32,
    k_i: u32,
    slots: u32,
    warmup: u32,
    bin_steps: u32,
    bins_cap: u32,
    vhist_every: u32,
    vhist_bins: u32,
    vhist_lo: f32,
    vhist_scale: f32,
    raster_neurons: u32,
    raster_cap: u32,
    base_step: u32,
    // record.spikes: half-open ranges of global ids, and the spike buffer's capacity
    spike_e_lo: u32,
    spike_e_hi: u32,
    spike_i_lo: u32,
    spike_i_hi: u32,
    spike_cap: u32,
}

struct StepInfo {
    k: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: LifParams;
// Per neuron: V and the refractory time left (>= 0), whose sign bit says whether the neuron
// fired in the last step (`annealed` and `all_to_all` exclude their own spike). During a
// step, a neuron left to `precise_continue` holds (V, now) instead.
@group(0) @binding(1) var<storage, read_write> state: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
// Synapse words in quads (one storage access serves four on CPU devices); part 0 of the
// array when it spans several bindings (syn_quad, generated by src/lif/gpu_connectivity.rs,
// reads quad q of the whole array).
@group(0) @binding(3) var<storage, read> synapses: array<vec4<u32>>;
// [slot][neuron], packed E/I counts of arrivals with delay >= 2 steps.
@group(0) @binding(4) var<storage, read_write> ring: array<atomic<u32>>;
// Three spike lists of n (neuron, spike time in the step as f32 bits).
@group(0) @binding(5) var<storage, read_write> lists: array<vec2<u32>>;
@group(0) @binding(6) var<storage, read_write> counters: array<atomic<u32>>;
// Per neuron two words: (spikes, first step, last step, first offset bits) and (last offset
// bits, ISI^2 sum hi bits, lo bits, 0); then the raster entries (step, neuron, offset bits, 0).
@group(0) @binding(7) var<storage, read_write> records: array<vec4<u32>>;
// (recorded step, neuron) of every spike of the neurons record.spikes selects since the last
// readback (the host reads it once per chunk of steps and sorts it).
@group(0) @binding(8) var<storage, read_write> spikes: array<vec2<u32>>;
@group(1) @binding(0) var<uniform> step_info: StepInfo;

var<workgroup> wg_acc: array<atomic<u32>, 1024>; // BLOCK_MAX
// Per spike of a round: (first synapse index | KIND_I, segment length); after compaction
// (segment base - prefix, ONE_E or ONE_I, exclusive prefix, end in the flattened arrivals).
var<workgroup> seg: array<vec4<u32>, 128>;        // SEG_CAP
// Lane-private event lists (lane l owns [l * items, (l + 1) * items)): (local index | EV_*,
// spike time bits) of the neurons that fired or need `precise_continue`.
var<workgroup> wg_events: array<vec2<u32>, 1024>; // BLOCK_MAX
var<workgroup> wg_lane: array<vec2<u32>, 64>;     // per lane: (E spikes, I spikes), then list offsets
var<workgroup> wg_u32: u32;
var<workgroup> wg_pair: vec2<u32>;

fn key() -> vec2<u32> {
    return vec2<u32>(params.key_lo, params.key_hi);
}

fn population(i: u32) -> u32 {
    return select(0u, 1u, i >= params.n_e);
}

struct NeuronState {
    v: f32,
    refractory: f32,
}

// (NeuronState, StepOutcome) of lif/step.rs: the new state and, if it fired, when.
struct StepResult {
    st: NeuronState,
    fired: bool,
    at: f32,
}

fn no_spike(v: f32, refractory: f32) -> StepResult {
    return StepResult(NeuronState(v, refractory), false, 0.0);
}

// With SHORT_LEAKS this is lif/step.rs's `leak_short` (the same value for 0 <= t <= dt).
fn leak(p: LifPop, v: f32, t: f32) -> f32 {
    if (SHORT_LEAKS) {
        return p.e_l + (v - p.e_l) * exp_neg_series(t * p.inv_tau_l);
    }
    return p.e_l + (v - p.e_l) * exp_neg(t * p.inv_tau_l);
}

fn apply_inputs(p: LifPop, v: f32, n_e: u32, n_i: u32) -> f32 {
    if (SYN_KIND == SYN_CONDUCTANCE) {
        let ge = params.syn_e * f32(n_e);
        let gi = params.syn_i * f32(n_i);
        let g = ge + gi;
        let v_inf = (ge * p.e_e + gi * p.e_i) / max(g, F32_MIN_POSITIVE);
        return v_inf + (v - v_inf) * exp_neg(g);
    }
    return v + params.syn_e * f32(n_e) + params.syn_i * f32(n_i);
}

fn apply_one_excitatory(p: LifPop, v: f32) -> f32 {
    if (SYN_KIND == SYN_CONDUCTANCE) {
        return p.e_e + (v - p.e_e) * params.exp_neg_a;
    }
    return v + params.syn_e;
}

fn ext_counter(i: u32, t: u32, replica: u32) -> vec4<u32> {
    return counter(i, t, PURPOSE_LIF_EXT, replica);
}

fn external_count(s: ptr<function, Stream>) -> u32 {
    if (params.ext_lambda <= 0.0) {
        return 0u;
    }
    if (params.ext_lambda < POISSON_INVERSION_MAX) {
        return poisson_inversion_p0(s, params.ext_lambda, params.ext_p0);
    }
    return poisson(s, params.ext_lambda);
}

fn fire_at(p: LifPop, at: f32) -> StepResult {
    return StepResult(NeuronState(p.v_r, at + p.tau_rp - params.dt), true, at);
}

struct PreciseStart {
    v: f32,
    now: f32,
    fired: bool,
}

fn precise_start(p: LifPop, st: NeuronState, rec_e: u32, rec_i: u32) -> PreciseStart {
    let v = apply_inputs(p, st.v, rec_e, rec_i);
    let refractory = st.refractory > 0.0;
    return PreciseStart(
        select(v, p.v_r, refractory),
        select(0.0, st.refractory, refractory),
        !refractory && v >= p.theta,
    );
}

fn ext_gap(w: u32) -> f32 {
    return -ln_f32(u32_to_uniform_open0(w)) * params.ext_mean_gap;
}

fn precise_arrival(p: LifPop, v: f32, now: f32, at: f32) -> f32 {
    return apply_one_excitatory(p, leak(p, v, at - now));
}

fn precise_continue(p: LifPop, s: ptr<function, Stream>, v_in: f32, now_in: f32, at_in: f32) -> StepResult {
    var v = v_in;
    var now = now_in;
    var at = at_in;
    if (params.ext_lambda > 0.0) {
        loop {
            at = at + ext_gap(stream_next_u32(s));
            if (at >= params.dt) {
                break;
            }
            v = precise_arrival(p, v, now, at);
            now = at;
            if (v >= p.theta) {
                return fire_at(p, at);
            }
        }
    }
    return no_spike(leak(p, v, params.dt - now), 0.0);
}

fn step_precise(p: LifPop, s: ptr<function, Stream>, st: NeuronState, rec_e: u32, rec_i: u32) -> StepResult {
    let b = precise_start(p, st, rec_e, rec_i);
    if (b.fired) {
        return fire_at(p, 0.0);
    }
    return precise_continue(p, s, b.v, b.now, b.now);
}

fn step_neuron_with(p: LifPop, s: ptr<function, Stream>, st: NeuronState, rec_e: u32, rec_i: u32) -> StepResult {
    let dt = params.dt;
    // Refractory for the whole step: held at V_r, every arrival discarded.
    if (st.refractory >= dt) {
        return no_spike(p.v_r, st.refractory - dt);
    }
    if (INTEGRATOR == INTEGRATOR_LUMPED) {
        if (st.refractory > 0.0) {
            return no_spike(p.v_r, 0.0);
        }
        let n_x = external_count(s);
        let v = apply_inputs(p, leak(p, st.v, dt), rec_e + n_x, rec_i);
        if (v >= p.theta) {
            return StepResult(NeuronState(p.v_r, p.tau_rp - dt), true, dt);
        }
        return no_spike(v, 0.0);
    }
    return step_precise(p, s, st, rec_e, rec_i);
}

fn annealed_inputs(i: u32, t: u32, counts: vec2<u32>, own_spike: bool) -> vec2<u32> {
    let a = population(i);
    var s = stream_new(counter(i, t, PURPOSE_LIF_ANNEALED, params.replica), key());
    var out = vec2<u32>(0u, 0u);
    for (var b = 0u; b < 2u; b = b + 1u) {
        let n_b = select(params.n_e, params.n_i, b == 1u);
        let others = n_b - select(0u, 1u, a == b);
        let sb = counts[b] - select(0u, 1u, a == b && own_spike);
        let k = select(params.k_e, params.k_i, b == 1u);
        if (k != 0u && sb != 0u && others != 0u) {
            out[b] = binomial(&s, k, f32(sb) / f32(others));
        }
    }
    return out;
}

// `step_precise_lanes` of lif/lanes.rs for one neuron with all four words of its first
// external Philox block: the recurrent update, then up to four external arrivals. `ended`
// false: the process is still inside the step (v, now, at given), for `precise_continue`.
struct FirstBlock {
    st: NeuronState,
    spike: f32, // NO_SPIKE or the time in the step
    ended: bool,
    v: f32,
    now: f32,
    at: f32,
}

fn step_precise_first_block(p: LifPop, i: u32, t: u32, st: NeuronState, rec_e: u32, rec_i: u32) -> FirstBlock {
    let dt = params.dt;
    let whole_ref = st.refractory >= dt;
    let b = precise_start(p, st, rec_e, rec_i);
    var v = b.v;
    var now = b.now;
    var at = b.now;
    var spike = select(NO_SPIKE, 0.0, b.fired && !whole_ref);
    var ended = whole_ref || b.fired || !EXT_INPUT;
    if (EXT_INPUT) {
        let words = philox4x32_10(ext_counter(i, t, params.replica), key());
        for (var w = 0u; w < 4u; w = w + 1u) {
            let next = at + ext_gap(words[w]);
            let live = !ended && next < dt;
            let vx = precise_arrival(p, v, now, next);
            let fired = live && vx >= p.theta;
            at = select(at, next, !ended);
            v = select(v, vx, live);
            now = select(now, next, live);
            spike = select(spike, next, fired);
            ended = ended || !live || fired;
        }
    }
    var out: NeuronState;
    if (whole_ref) {
        out = NeuronState(p.v_r, st.refractory - dt);
    } else if (spike != NO_SPIKE) {
        out = NeuronState(p.v_r, spike + p.tau_rp - dt);
    } else {
        out = NeuronState(leak(p, v, dt - now), 0.0);
    }
    return FirstBlock(out, spike, ended, v, now, at);
}

// --- recording ---------------------------------------------------------------------------

fn in_raster(i: u32) -> bool {
    return i < min(params.raster_neurons, params.n_e)
        || (i >= params.n_e && i - params.n_e < params.raster_neurons);
}

// (hi, lo) + x, renormalised (two-float running sum).
fn two_float_add(s: vec2<f32>, x: f32) -> vec2<f32> {
    let hi = s.x + x;
    let bb = hi - s.x;
    let err = (s.x - (hi - bb)) + (x - bb);
    let lo = s.y + err;
    let h2 = hi + lo;
    return vec2<f32>(h2, lo - (h2 - hi));
}

// A spike of neuron i at `off` ms into recorded step k.
fn record_spike(i: u32, k: u32, off: f32) {
    let bin = (k / params.bin_steps) % params.bins_cap;
    atomicAdd(&counters[C_BINS + 2u * bin + population(i)], 1u);
    var r0 = records[2u * i];
    var r1 = records[2u * i + 1u];
    if (r0.x > 0u) {
        let isi = f32(k - r0.z) * params.dt + (off - bitcast<f32>(r1.x));
        let sq = two_float_add(vec2<f32>(bitcast<f32>(r1.y), bitcast<f32>(r1.z)), isi * isi);
        r1.y = bitcast<u32>(sq.x);
        r1.z = bitcast<u32>(sq.y);
    } else {
        r0.y = k;
        r0.w = bitcast<u32>(off);
    }
    r0.x = r0.x + 1u;
    r0.z = k;
    r1.x = bitcast<u32>(off);
    records[2u * i] = r0;
    records[2u * i + 1u] = r1;
    if (in_raster(i)) {
        let r = atomicAdd(&counters[C_RASTER], 1u);
        if (r < params.raster_cap) {
            records[2u * params.n + r] = vec4<u32>(k, i, bitcast<u32>(off), 0u);
        }
    }
    if ((i >= params.spike_e_lo && i < params.spike_e_hi) || (i >= params.spike_i_lo && i < params.spike_i_hi)) {
        let r = atomicAdd(&counters[C_SPIKES], 1u);
        if (r < params.spike_cap) {
            spikes[r] = vec2<u32>(k, i);
        }
    }
}

fn record_v(a: u32, v: f32) {
    let x = (v - params.vhist_lo) * params.vhist_scale;
    if (x >= 0.0 && x < f32(params.vhist_bins)) {
        let b = min(u32(x), params.vhist_bins - 1u);
        atomicAdd(&counters[C_BINS + 2u * params.bins_cap + a * params.vhist_bins + b], 1u);
    }
}

// --- the spikes of the previous step: recording and delivery ----------------------------

fn synapse(e: u32) -> u32 {
    return syn_quad(e / 4u)[e % 4u];
}

fn post_of(e: u32) -> u32 {
    return synapse(e) & TARGET_MASK;
}

fn add_arrival(t: u32, lo: u32, w: u32, one: u32) {
    let post = w & TARGET_MASK;
    if (RING) {
        let d = w >> TARGET_BITS;
        if (d == 1u) {
            atomicAdd(&wg_acc[post - lo], one);
        } else {
            atomicAdd(&ring[((t - 1u + d) % params.slots) * params.n + post], one);
        }
    } else {
        atomicAdd(&wg_acc[post - lo], one);
    }
}

// First index in [first, last) of a row whose target is >= x (rows are sorted by target and
// spread evenly over the neurons): a gallop from the proportional guess brackets it within a
// few cache lines (a plain binary search over a 100 MB synapse array misses the cache at
// nearly every probe), then a binary search inside the bracket.
fn lower_bound(first: u32, last: u32, x: u32) -> u32 {
    let len = last - first;
    let guess = min(first + u32(f32(len) * (f32(x) / f32(params.n))), last);
    var l = first;
    var r = last;
    if (guess < last && post_of(guess) < x) {
        // The answer is above guess.
        l = guess + 1u;
        var step = 1u;
        loop {
            let probe = l + step - 1u;
            if (probe >= last) {
                break;
            }
            if (post_of(probe) >= x) {
                r = probe;
                break;
            }
            l = probe + 1u;
            step = step * 2u;
        }
    } else {
        // The answer is at or below guess.
        r = guess;
        var step = 1u;
        loop {
            if (r <= l) {
                break;
            }
            let probe = r - min(step, r - l);
            if (post_of(probe) < x) {
                l = probe + 1u;
                break;
            }
            r = probe;
            step = step * 2u;
        }
    }
    while (l < r) {
        let m = (l + r) / 2u;
        if (post_of(m) < x) {
            l = m + 1u;
        } else {
            r = m;
        }
    }
    return l;
}

// Pushes the round's nq segments (seg[q].xy) into the block's counters.
fn deliver_segments(lid: u32, t: u32, lo: u32, nq: u32) {
    workgroupBarrier();
    if (lid == 0u) {
        // Flattened positions of the arrivals, empty segments dropped.
        var acc = 0u;
        var m = 0u;
        for (var q = 0u; q < nq; q = q + 1u) {
            let sq = seg[q];
            if (sq.y > 0u) {
                let first = sq.x & ~KIND_I;
                let one = select(ONE_E, ONE_I, (sq.x & KIND_I) != 0u);
                seg[m] = vec4<u32>(first - acc, one, acc, acc + sq.y);
                acc = acc + sq.y;
                m = m + 1u;
            }
        }
        wg_pair = vec2<u32>(m, acc);
    }
    let mt = workgroupUniformLoad(&wg_pair);
    let segs = mt.x;
    let total = mt.y;
    // Each invocation takes a contiguous run [f0, f1) of the block's arrivals.
    let chunk = (total + WG - 1u) / WG;
    let f0 = min(lid * chunk, total);
    let f1 = min(f0 + chunk, total);
    // The segment holding f0: the last one starting at or before it.
    var l = 0u;
    var r = segs;
    while (l < r) {
        let m = (l + r) / 2u;
        if (seg[m].z <= f0) {
            l = m + 1u;
        } else {
            r = m;
        }
    }
    var q = max(l, 1u) - 1u;
    var sq = seg[q];
    // Quad by quad: the arrivals f .. f + m - 1 lie in one aligned quad of one segment.
    var f = f0;
    while (f < f1) {
        if (f == sq.w) {
            // Segments are not empty: f enters the next one.
            q = q + 1u;
            sq = seg[q];
        }
        let e = sq.x + f;
        let quad = syn_quad(e / 4u);
        let k0 = e % 4u;
        let m = min(4u - k0, min(sq.w, f1) - f);
        for (var k = 0u; k < 4u; k = k + 1u) {
            if (k >= k0 && k < k0 + m) {
                add_arrival(t, lo, quad[k], sq.y);
            }
        }
        f = f + m;
    }
    workgroupBarrier();
}

// The spikes of step t - 1: recorded (if `record`) for the block's own neurons, and with
// fixed_indegree (if `deliver`) delivered into the block [lo, hi).
fn previous_spikes(lid: u32, t: u32, lo: u32, hi: u32, record: bool, deliver: bool) {
    if (lid == 0u) {
        wg_u32 = atomicLoad(&counters[C_LIST + (t + 2u) % 3u]);
    }
    let count = workgroupUniformLoad(&wg_u32);
    let list = ((t + 2u) % 3u) * params.n;
    let fixed = CONNECTIVITY == CONN_FIXED_INDEGREE && deliver;
    for (var r0 = 0u; r0 < count; r0 = r0 + SEG_CAP) {
        let nq = min(SEG_CAP, count - r0);
        for (var q = lid; q < nq; q = q + WG) {
            let e = lists[list + r0 + q];
            let j = e.x;
            if (record && j >= lo && j < hi) {
                record_spike(j, t - 1u - params.warmup, bitcast<f32>(e.y));
            }
            if (fixed) {
                let row0 = offsets[j];
                let row1 = offsets[j + 1u];
                let s = select(lower_bound(row0, row1, lo), row0, lo == 0u);
                let end = select(lower_bound(s, row1, hi), row1, hi == params.n);
                seg[q] = vec4<u32>(s | select(0u, KIND_I, j >= params.n_e), end - s, 0u, 0u);
            }
        }
        if (fixed) {
            deliver_segments(lid, t, lo, nq);
        }
    }
}

// --- the step ------------------------------------------------------------------------------

struct Block {
    lo: u32,
    hi: u32,
    t: u32,
}

fn block_of(wid: vec3<u32>, nwg: vec3<u32>) -> Block {
    let block = wid.x + wid.y * nwg.x;
    let lo = block * WG * params.items;
    return Block(lo, min(lo + WG * params.items, params.n), params.base_step + step_info.k);
}

// The constants of population a from both populations' (loaded once per workgroup): field
// selects instead of a gather from the uniform buffer per neuron.
fn pop_select(pe: LifPop, pi: LifPop, a: u32) -> LifPop {
    let i = a == 1u;
    return LifPop(select(pe.tau_l, pi.tau_l, i), select(pe.e_l, pi.e_l, i),
        select(pe.e_e, pi.e_e, i), select(pe.e_i, pi.e_i, i), select(pe.theta, pi.theta, i),
        select(pe.v_r, pi.v_r, i), select(pe.tau_rp, pi.tau_rp, i),
        select(pe.decay, pi.decay, i), select(pe.inv_tau_l, pi.inv_tau_l, i), 0.0, 0.0, 0.0);
}

// The state word of a settled neuron.
fn settled(st: NeuronState, fired: bool) -> vec2<f32> {
    return vec2<f32>(st.v, bitcast<f32>(bitcast<u32>(st.refractory) | select(0u, 0x80000000u, fired)));
}

@compute @workgroup_size(WG)
fn step_network(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
                @builtin(num_workgroups) nwg: vec3<u32>) {
    let blk = block_of(wid, nwg);
    if (blk.lo >= params.n) {
        return;
    }
    let t = blk.t;
    let lo = blk.lo;
    let hi = blk.hi;
    let items = params.items;
    let cur = t % 3u;
    if (wid.x == 0u && wid.y == 0u && lid == 0u) {
        let nxt = (t + 1u) % 3u;
        atomicStore(&counters[C_LIST + nxt], 0u);
        atomicStore(&counters[C_POP + 2u * nxt], 0u);
        atomicStore(&counters[C_POP + 2u * nxt + 1u], 0u);
    }
    if (CONNECTIVITY == CONN_FIXED_INDEGREE) {
        for (var k = 0u; k < items; k = k + 1u) {
            atomicStore(&wg_acc[k * WG + lid], 0u);
        }
    }
    // The first step of a submission finds the previous one already recorded (flush_records).
    previous_spikes(lid, t, lo, hi, t > params.warmup && step_info.k > 0u, true);
    let prev = (t + 2u) % 3u;
    let counts = vec2<u32>(atomicLoad(&counters[C_POP + 2u * prev]), atomicLoad(&counters[C_POP + 2u * prev + 1u]));
    let ring_slot = (t % params.slots) * params.n;
    let ev0 = lid * items;
    var n_ev = 0u;
    let pop_e = params.pop[0];
    let pop_i = params.pop[1];
    for (var k = 0u; k < items; k = k + 1u) {
        let local = k * WG + lid;
        let i = lo + local;
        if (i >= hi) {
            break;
        }
        let a = population(i);
        let p = pop_select(pop_e, pop_i, a);
        let sv = state[i];
        let st = NeuronState(sv.x, bitcast<f32>(bitcast<u32>(sv.y) & 0x7FFFFFFFu));
        var rec: vec2<u32>;
        if (CONNECTIVITY == CONN_FIXED_INDEGREE) {
            var packed = atomicLoad(&wg_acc[local]);
            if (RING) {
                packed = packed + atomicLoad(&ring[ring_slot + i]);
                atomicStore(&ring[ring_slot + i], 0u);
            }
            rec = vec2<u32>(packed & 0xFFFFu, packed >> 16u);
        } else {
            let own = (bitcast<u32>(sv.y) & 0x80000000u) != 0u;
            if (CONNECTIVITY == CONN_ANNEALED) {
                rec = annealed_inputs(i, t, counts, own);
            } else {
                rec = counts - vec2<u32>(select(0u, 1u, a == 0u && own), select(0u, 1u, a == 1u && own));
            }
        }
        var out: NeuronState;
        var spike = NO_SPIKE;
        var ended = true;
        var word: vec2<f32>;
        // The event's second word: the spike time, or where the external process stands.
        var at = 0.0;
        if (INTEGRATOR == INTEGRATOR_PRECISE) {
            let b = step_precise_first_block(p, i, t, st, rec.x, rec.y);
            out = b.st;
            spike = b.spike;
            ended = b.ended;
            word = select(vec2<f32>(b.v, b.now), settled(out, spike != NO_SPIKE), ended);
            at = select(b.at, spike, ended);
        } else {
            var s = stream_new(ext_counter(i, t, params.replica), key());
            let o = step_neuron_with(p, &s, st, rec.x, rec.y);
            out = o.st;
            spike = select(NO_SPIKE, o.at, o.fired);
            word = settled(out, o.fired);
            at = spike;
        }
        state[i] = word;
        if (!ended || spike != NO_SPIKE) {
            let flag = select(EV_SPIKE, EV_CONTINUE, !ended);
            wg_events[ev0 + n_ev] = vec2<u32>(local | flag, bitcast<u32>(at));
            n_ev = n_ev + 1u;
        }
        if (SAMPLE_V && ended && out.refractory <= 0.0) {
            record_v(a, out.v);
        }
    }
    // The lane's neurons whose external process outlived the first block.
    if (INTEGRATOR == INTEGRATOR_PRECISE && EXT_INPUT) {
        for (var e = 0u; e < n_ev; e = e + 1u) {
            let ev = wg_events[ev0 + e];
            if ((ev.x & EV_CONTINUE) != 0u) {
                let local = ev.x & EV_LOCAL;
                let i = lo + local;
                let p = pop_select(pop_e, pop_i, population(i));
                let cv = state[i];
                // The stream after its first block's four words.
                var s = Stream(ext_counter(i, t, params.replica), key(), 1u, vec4<u32>(0u), 4u);
                let o = precise_continue(p, &s, cv.x, cv.y, bitcast<f32>(ev.y));
                state[i] = settled(o.st, o.fired);
                wg_events[ev0 + e] = vec2<u32>(local | select(0u, EV_SPIKE, o.fired), bitcast<u32>(o.at));
                if (SAMPLE_V && o.st.refractory <= 0.0) {
                    record_v(population(i), o.st.v);
                }
            }
        }
    }
    // Spikes into list t % 3: one global atomic per workgroup.
    var counted = vec2<u32>(0u, 0u);
    for (var e = 0u; e < n_ev; e = e + 1u) {
        let ev = wg_events[ev0 + e];
        if ((ev.x & EV_SPIKE) != 0u) {
            counted[population(lo + (ev.x & EV_LOCAL))] += 1u;
        }
    }
    wg_lane[lid] = counted;
    workgroupBarrier();
    if (lid == 0u) {
        var tot = vec2<u32>(0u, 0u);
        for (var l = 0u; l < WG; l = l + 1u) {
            let c = wg_lane[l];
            wg_lane[l] = vec2<u32>(tot.x + tot.y, 0u);
            tot = tot + c;
        }
        if (tot.x + tot.y > 0u) {
            let base = atomicAdd(&counters[C_LIST + cur], tot.x + tot.y);
            atomicAdd(&counters[C_POP + 2u * cur], tot.x);
            atomicAdd(&counters[C_POP + 2u * cur + 1u], tot.y);
            for (var l = 0u; l < WG; l = l + 1u) {
                wg_lane[l].x += base;
            }
        }
    }
    workgroupBarrier();
    var slot = wg_lane[lid].x;
    for (var e = 0u; e < n_ev; e = e + 1u) {
        let ev = wg_events[ev0 + e];
        if ((ev.x & EV_SPIKE) != 0u) {
            lists[cur * params.n + slot] = vec2<u32>(lo + (ev.x & EV_LOCAL), ev.y);
            slot = slot + 1u;
        }
    }
}

// Records the spikes of step base_step + k - 1 (the last step of a submission).
@compute @workgroup_size(WG)
fn flush_records(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
    let blk = block_of(wid, nwg);
    if (blk.lo >= params.n) {
        return;
    }
    previous_spikes(lid, blk.t, blk.lo, blk.hi, blk.t > params.warmup, false);
}
