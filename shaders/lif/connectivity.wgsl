// `fixed_indegree` connectivity of model L built on the device: the WGSL twin of
// src/lif/connectivity.rs (ConnStream, uniform_below, partners). Compiled after rng.wgsl,
// math.wgsl and the constants generated from Rust (src/device/constants.rs: CONN_WG,
// TARGET_BITS, TARGET_MASK, PURPOSE_*).
//
// Passes (host side: src/lif/gpu_connectivity.rs):
//   conn_count  per postsynaptic neuron (a batch at a time): Floyd's algorithm from the neuron's
//               own Philox stream, out-degree of each presynaptic neuron by atomics;
//   conn_scan   one workgroup: offsets = exclusive prefix sum of the out-degrees (counts reset);
//   conn_fill   Floyd again, each synapse word written into its row of `unsorted` at a cursor
//               (atomics: the order within a row depends on scheduling);
//   conn_sort   one workgroup per row: each word moved to `synapses` at its rank by target.
//               Targets in a row are distinct, so the rank is the number of set bits below the
//               target in a bitmap of the row's targets (windows of 49152 targets at a time),
//               which makes the CSR independent of the order the atomics handed out.
// Floyd's "already taken" test uses an open-addressing hash set per batch slot in `scratch`,
// followed by the slot's picks in draw order (needed to pair them with their delays).

// Invocations per row in conn_sort: the subgroup size on CPU devices, 256 on GPUs.
override SORT_WG: u32 = 256u;
const WINDOW_WORDS: u32 = 1536u; // bitmap words of one window: 49152 targets (< 16 KiB in all)
const HASH_MUL: u32 = 0x9E3779B1u;

struct ConnParams {
    n_e: u32,
    n_i: u32,
    n: u32,
    replica: u32,
    key_lo: u32,
    key_hi: u32,
    batch_start: u32,
    batch_len: u32,
    // Words of one batch slot in `scratch`: hash set, then picks.
    hash_words: u32,
    slot_words: u32,
    delay_lo_e: u32,
    delay_hi_e: u32,
    delay_lo_i: u32,
    delay_hi_i: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> cp: ConnParams;
@group(0) @binding(1) var<storage, read> degrees: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> offsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> synapses: array<u32>;
@group(0) @binding(5) var<storage, read_write> scratch: array<u32>;
@group(0) @binding(6) var<storage, read_write> unsorted: array<u32>;

var<workgroup> scan_wg: array<u32, 257>;
var<workgroup> win_bits: array<atomic<u32>, 1536>; // WINDOW_WORDS
var<workgroup> win_prefix: array<u32, 1536>;
var<workgroup> sort_lane: array<u32, 256>;
var<workgroup> sort_row: vec2<u32>;
var<workgroup> sort_base: u32;

fn conn_key() -> vec2<u32> {
    return vec2<u32>(cp.key_lo, cp.key_hi);
}

// ConnStream of lif/connectivity.rs: Philox at counters (i, block, LIF_CONN, replica).
struct ConnStream {
    i: u32,
    block: u32,
    buf: vec4<u32>,
    used: u32,
}

fn conn_stream_new(i: u32) -> ConnStream {
    return ConnStream(i, 0u, vec4<u32>(0u), 4u);
}

fn conn_next_u32(s: ptr<function, ConnStream>) -> u32 {
    if ((*s).used >= 4u) {
        (*s).buf = philox4x32_10(counter((*s).i, (*s).block, PURPOSE_LIF_CONN, cp.replica), conn_key());
        (*s).block = (*s).block + 1u;
        (*s).used = 0u;
    }
    let w = (*s).buf[(*s).used];
    (*s).used = (*s).used + 1u;
    return w;
}

// Uniform integer in [0, m) (Lemire's multiply-shift with rejection): the same draws as
// lif/connectivity.rs, written with one call of conn_next_u32 (each call site inlines a
// Philox block, which a CPU device runs at every call whatever the lanes need).
fn uniform_below(s: ptr<function, ConnStream>, m: u32) -> u32 {
    loop {
        let p = mulhilo(conn_next_u32(s), m);
        if (p.y >= m || p.y >= (0u - m) % m) {
            return p.x;
        }
    }
    return 0u; // unreachable: naga needs a final return
}

// Floyd's step: takes candidate t unless the set holds it, else j (never in the set yet).
// The set lives at scratch[base ..][.. 2^bits], entries value + 1 (0 = empty).
fn floyd_take(base: u32, bits: u32, t: u32, j: u32) -> u32 {
    let mask = (1u << bits) - 1u;
    var h = (t * HASH_MUL) >> (32u - bits);
    loop {
        let e = scratch[base + h];
        if (e == 0u) {
            scratch[base + h] = t + 1u;
            return t;
        }
        if (e == t + 1u) {
            break;
        }
        h = (h + 1u) & mask;
    }
    h = (j * HASH_MUL) >> (32u - bits);
    loop {
        if (scratch[base + h] == 0u) {
            scratch[base + h] = j + 1u;
            return j;
        }
        h = (h + 1u) & mask;
    }
    return j; // unreachable: naga needs a final return
}

// Smallest bits >= 1 with 2^bits >= 2 k.
fn hash_bits(k: u32) -> u32 {
    var bits = 1u;
    while ((1u << bits) < 2u * k) {
        bits = bits + 1u;
    }
    return bits;
}

fn write_synapse(pre: u32, post: u32, delay: u32) {
    let pos = offsets[pre] + atomicAdd(&counts[pre], 1u);
    unsorted[pos] = post | (delay << TARGET_BITS);
}

// `partners` of lif/connectivity.rs for postsynaptic neuron i in batch slot `slot`: with
// fill = false each partner is counted, with fill = true its synapse word is written.
fn partners(i: u32, slot: u32, fill: bool) {
    let a = select(0u, 1u, i >= cp.n_e);
    let deg = degrees[i];
    var st = conn_stream_new(i);
    let hash_base = slot * cp.slot_words;
    let picks_base = hash_base + cp.hash_words;
    for (var b = 0u; b < 2u; b = b + 1u) {
        let k = deg[b];
        let pop_base = select(0u, cp.n_e, b == 1u);
        let size = select(cp.n_e, cp.n_i, b == 1u);
        let others = size - select(0u, 1u, a == b);
        let own = select(0xFFFFFFFFu, i - pop_base, a == b);
        let lo = select(cp.delay_lo_e, cp.delay_lo_i, b == 1u);
        let hi = select(cp.delay_hi_e, cp.delay_hi_i, b == 1u);
        let bits = hash_bits(k);
        for (var m = 0u; m < k; m = m + 1u) {
            let j = others - k + m;
            let t = uniform_below(&st, j + 1u);
            let pick = floyd_take(hash_base, bits, t, j);
            // Candidate index -> population index, skipping the neuron itself.
            let pre = pop_base + select(pick, pick + 1u, pick >= own);
            if (!fill) {
                atomicAdd(&counts[pre], 1u);
            } else if (hi > lo) {
                scratch[picks_base + m] = pre;
            } else {
                write_synapse(pre, i, lo);
            }
        }
        for (var h = 0u; h < (1u << bits); h = h + 1u) {
            scratch[hash_base + h] = 0u;
        }
        if (hi > lo) {
            // The delays follow the picks in the stream (the count pass draws them too, so
            // that the next population's picks start at the same word).
            for (var m = 0u; m < k; m = m + 1u) {
                let d = lo + uniform_below(&st, hi - lo + 1u);
                if (fill) {
                    write_synapse(scratch[picks_base + m], i, d);
                }
            }
        }
    }
}

fn batch_slot(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * CONN_WG;
}

@compute @workgroup_size(CONN_WG)
fn conn_count(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let slot = batch_slot(gid, nwg);
    if (slot < cp.batch_len) {
        partners(cp.batch_start + slot, slot, false);
    }
}

@compute @workgroup_size(CONN_WG)
fn conn_fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let slot = batch_slot(gid, nwg);
    if (slot < cp.batch_len) {
        partners(cp.batch_start + slot, slot, true);
    }
}

// Exclusive prefix sum of counts[0 .. n] into offsets[0 ..= n]; counts are left at zero to
// serve as the fill cursors. Each invocation scans one contiguous range.
@compute @workgroup_size(256)
fn conn_scan(@builtin(local_invocation_index) lid: u32) {
    let n = cp.n;
    let per = (n + 255u) / 256u;
    let s0 = min(lid * per, n);
    let s1 = min(s0 + per, n);
    var sum = 0u;
    for (var j = s0; j < s1; j = j + 1u) {
        sum = sum + atomicLoad(&counts[j]);
    }
    scan_wg[lid] = sum;
    workgroupBarrier();
    if (lid == 0u) {
        var acc = 0u;
        for (var r = 0u; r < 256u; r = r + 1u) {
            let v = scan_wg[r];
            scan_wg[r] = acc;
            acc = acc + v;
        }
        scan_wg[256] = acc;
    }
    workgroupBarrier();
    var acc = scan_wg[lid];
    for (var j = s0; j < s1; j = j + 1u) {
        offsets[j] = acc;
        acc = acc + atomicLoad(&counts[j]);
        atomicStore(&counts[j], 0u);
    }
    if (lid == 0u) {
        offsets[n] = scan_wg[256];
    }
}

@compute @workgroup_size(SORT_WG)
fn conn_sort(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= cp.n) {
        return;
    }
    if (lid == 0u) {
        sort_row = vec2<u32>(offsets[row], offsets[row + 1u]);
        sort_base = 0u;
    }
    let bounds = workgroupUniformLoad(&sort_row);
    let first = bounds.x;
    let len = bounds.y - bounds.x;
    if (len == 0u) {
        return;
    }
    for (var w0 = 0u; w0 < cp.n; w0 = w0 + 32u * WINDOW_WORDS) {
        let words = min(WINDOW_WORDS, (cp.n - w0 + 31u) / 32u);
        for (var k = lid; k < words; k = k + SORT_WG) {
            atomicStore(&win_bits[k], 0u);
        }
        workgroupBarrier();
        for (var e = lid; e < len; e = e + SORT_WG) {
            let t = unsorted[first + e] & TARGET_MASK;
            if (t >= w0 && t - w0 < 32u * words) {
                atomicOr(&win_bits[(t - w0) >> 5u], 1u << (t & 31u));
            }
        }
        workgroupBarrier();
        // Exclusive prefix of the words' bit counts, from the ranks of earlier windows on.
        let per = (words + SORT_WG - 1u) / SORT_WG;
        let k0 = min(lid * per, words);
        let k1 = min(k0 + per, words);
        var sum = 0u;
        for (var k = k0; k < k1; k = k + 1u) {
            sum = sum + countOneBits(atomicLoad(&win_bits[k]));
        }
        sort_lane[lid] = sum;
        workgroupBarrier();
        if (lid == 0u) {
            var acc = sort_base;
            for (var l = 0u; l < SORT_WG; l = l + 1u) {
                let v = sort_lane[l];
                sort_lane[l] = acc;
                acc = acc + v;
            }
            sort_base = acc;
        }
        workgroupBarrier();
        var acc = sort_lane[lid];
        for (var k = k0; k < k1; k = k + 1u) {
            win_prefix[k] = acc;
            acc = acc + countOneBits(atomicLoad(&win_bits[k]));
        }
        workgroupBarrier();
        for (var e = lid; e < len; e = e + SORT_WG) {
            let w = unsorted[first + e];
            let t = w & TARGET_MASK;
            if (t >= w0 && t - w0 < 32u * words) {
                let r = t - w0;
                let below = atomicLoad(&win_bits[r >> 5u]) & ((1u << (r & 31u)) - 1u);
                synapses[first + win_prefix[r >> 5u] + countOneBits(below)] = w;
            }
        }
        workgroupBarrier();
    }
}
