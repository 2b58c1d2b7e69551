// Runs one sampler over a range of counters so that the GPU's draws can be compared with the
// CPU's bit for bit (src/rng/check.rs is the host side and the Rust twin; SAMPLER_WG is
// generated from it).

struct SamplerParams {
    mode: u32,      // 0 philox raw, 1 uniform, 2 normal, 3 bernoulli, 4 poisson, 5 binomial
    count: u32,
    first_neuron: u32,
    step: u32,
    purpose: u32,
    replica: u32,
    key_lo: u32,
    key_hi: u32,
    m: u32,
    p: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: SamplerParams;
@group(0) @binding(1) var<storage, read> inputs: array<u32>;
@group(0) @binding(2) var<storage, read_write> outputs: array<u32>;

fn sample_one(i: u32) -> u32 {
    let key = vec2<u32>(params.key_lo, params.key_hi);
    var s = stream_new(counter(params.first_neuron + i, params.step, params.purpose, params.replica), key);
    switch params.mode {
        case 1u: { return bitcast<u32>(uniform01(&s)); }
        case 2u: { return bitcast<u32>(normal(&s)); }
        case 3u: { return bernoulli(&s, params.p); }
        case 4u: { return poisson(&s, params.p); }
        case 5u: { return binomial(&s, params.m, params.p); }
        default: { return 0u; }
    }
}

@compute @workgroup_size(SAMPLER_WG)
fn sample(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * SAMPLER_WG;
    if (i >= params.count) {
        return;
    }
    if (params.mode == 0u) {
        let ctr = vec4<u32>(inputs[6u * i], inputs[6u * i + 1u], inputs[6u * i + 2u], inputs[6u * i + 3u]);
        let key = vec2<u32>(inputs[6u * i + 4u], inputs[6u * i + 5u]);
        let out = philox4x32_10(ctr, key);
        outputs[4u * i] = out.x;
        outputs[4u * i + 1u] = out.y;
        outputs[4u * i + 2u] = out.z;
        outputs[4u * i + 3u] = out.w;
        return;
    }
    outputs[i] = sample_one(i);
}
