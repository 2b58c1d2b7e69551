//! Host side of the model L kernel (shaders/lif/step.wgsl): the network built on the device
//! (`gpu_connectivity`), one dispatch per step (delivery into the block's counters, then the
//! neuron update and the recording), many steps per submission, and the records (rate bins,
//! V histogram, raster) read back once per chunk of steps; per-neuron spike counts and ISI
//! sums stay on the device until `recording` is asked for. No per-step readback.

use super::gpu_connectivity::{self, DeviceCsr};
use crate::device::bind;
use crate::device::buffers;
use crate::device::constants::WgslConst;
use crate::device::gpu::GpuContext;
use crate::device::kernels::{KernelSource, PipelineSpec};
use crate::device::layout::HostLayout;
use crate::device::timer::{KernelTimer, TIMED_STEPS};
use crate::device::timing::KernelTimes;
use crate::lif::backend::LifBackend;
use crate::lif::config::{Connectivity, Integrator, LifSetup};
use crate::lif::connectivity::Csr;
use crate::lif::record::{
    IsiStats, LifRecording, SpikeChunk, max_spikes_per_neuron, refractory_gap_steps,
};
use crate::lif::step::{self, LifConsts, LifSyn};
use rayon::prelude::*;
use std::sync::Arc;

/// Neurons of one workgroup's block, at most (WG * items).
const BLOCK_MAX: u32 = 1024;
/// Where the raster length and the rate bins start in the counters buffer (the kernel's
/// spike-list lengths and population counts come before: C_LIST, C_POP in shaders/lif/step.wgsl).
const C_RASTER: usize = 9;
/// The length of the spike buffer of `record.spikes` (within the same free words).
const C_SPIKES: usize = 10;
const C_BINS: usize = 16;
/// Invocations per workgroup at most (the subgroup size on CPU devices, clamped).
const WG_MAX: u32 = 64;

/// The codes of the kernel's override constants.
pub const INTEGRATOR_LUMPED: u32 = 0;
pub const INTEGRATOR_PRECISE: u32 = 1;
pub const SYN_CONDUCTANCE: u32 = 0;
pub const SYN_CURRENT: u32 = 1;
pub const CONN_FIXED_INDEGREE: u32 = 0;
pub const CONN_ANNEALED: u32 = 1;
pub const CONN_ALL_TO_ALL: u32 = 2;
/// Steps encoded in one command buffer.
const STEPS_PER_SUBMIT: u32 = 256;
/// Steps between record readbacks (sizes the rate-bin ring and the raster buffer).
pub(crate) const GPU_CHUNK_STEPS: u32 = 4096;
/// Entries (8 bytes each) of the device buffer of `record.spikes` above which the steps
/// between readbacks are shortened, so that the buffer cannot overflow.
const SPIKE_BUFFER_ENTRIES: u64 = 1 << 22;

/// (steps between readbacks, capacity in spikes) of the device's spike buffer for
/// `record.spikes`: the steps are halved from GPU_CHUNK_STEPS until the most spikes the selected
/// neurons can emit in them (one per refractory period each) fit SPIKE_BUFFER_ENTRIES, or a
/// single step remains (then the buffer holds one spike per selected neuron). The capacity
/// is that bound, so no spike can be lost.
pub fn spike_buffer_shape(s: &LifSetup) -> (u32, u64) {
    let selected = s.spike_neurons() as u64;
    if selected == 0 {
        return (GPU_CHUNK_STEPS, 0);
    }
    let mut steps = GPU_CHUNK_STEPS;
    while steps > 1 && selected * max_spikes_per_neuron(s, steps as u64) > SPIKE_BUFFER_ENTRIES {
        steps /= 2;
    }
    (steps, selected * max_spikes_per_neuron(s, steps as u64))
}

crate::gpu_struct! {
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct GpuPop {
        tau_l: f32,
        e_l: f32,
        e_e: f32,
        e_i: f32,
        theta: f32,
        v_r: f32,
        tau_rp: f32,
        decay: f32,
        inv_tau_l: f32,
        _pad: [f32; 3] => [_pad0, _pad1, _pad2],
    }
}

crate::gpu_struct! {
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct LifParams {
        pop: [GpuPop; 2],
        n_e: u32,
        n_i: u32,
        n: u32,
        items: u32,
        dt: f32,
        ext_lambda: f32,
        ext_p0: f32,
        ext_mean_gap: f32,
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
        /// `record.spikes`: half-open ranges of global ids (E, then I) and the buffer's
        /// capacity.
        spike_e_lo: u32,
        spike_e_hi: u32,
        spike_i_lo: u32,
        spike_i_hi: u32,
        spike_cap: u32,
    }
}

crate::gpu_struct! {
    /// The step of a submission (one per dynamic offset of the steps buffer).
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct StepInfo {
        k: u32,
        _pad: [u32; 3] => [_pad0, _pad1, _pad2],
    }
}

/// The host twins of the kernel's structs (device::layout).
/// Raster entries one chunk of GPU steps can produce: the raster neurons, each firing at most
/// once per refractory period (`refractory_gap_steps`). The allocation and the memory
/// estimate (`sim::device_memory_estimate`) both take it from here.
pub(crate) fn raster_capacity(s: &LifSetup) -> u64 {
    let r = &s.config.record;
    let raster_count = r.raster_neurons.min(s.n_e) + r.raster_neurons.min(s.n_i);
    raster_count as u64 * (GPU_CHUNK_STEPS as u64 / refractory_gap_steps(s) + 2)
}

pub(crate) fn host_layouts() -> Vec<HostLayout> {
    vec![
        HostLayout::of::<GpuPop>("LifPop"),
        HostLayout::of::<LifParams>("LifParams"),
        HostLayout::of::<StepInfo>("StepInfo"),
    ]
}

/// What specialises the model L step kernel: its override constants (SAMPLE_V aside, which
/// each step picks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifKernel {
    /// INTEGRATOR_LUMPED or INTEGRATOR_PRECISE.
    pub integrator: u32,
    /// SYN_CONDUCTANCE or SYN_CURRENT.
    pub syn_kind: u32,
    /// CONN_FIXED_INDEGREE, CONN_ANNEALED or CONN_ALL_TO_ALL.
    pub connectivity: u32,
    /// Some delays are longer than one step (fixed_indegree only).
    pub ring: bool,
    pub short_leaks: bool,
    pub ext_input: bool,
    /// Invocations per workgroup.
    pub wg: u32,
}

impl LifKernel {
    /// Every WG `shape_for` can choose: a power-of-two subgroup size clamped to [1, WG_MAX] on
    /// CPU devices, 64 on GPUs.
    pub const WG_VALUES: [u32; 7] = [1, 2, 4, 8, 16, 32, WG_MAX];

    /// The kernel of a run.
    fn of(c: &LifConsts, s: &LifSetup, wg: u32) -> Self {
        let fixed = s.config.connectivity == Connectivity::FixedIndegree;
        LifKernel {
            integrator: match c.integrator {
                Integrator::Lumped => INTEGRATOR_LUMPED,
                Integrator::Precise => INTEGRATOR_PRECISE,
            },
            syn_kind: match c.syn {
                LifSyn::Conductance { .. } => SYN_CONDUCTANCE,
                LifSyn::Current { .. } => SYN_CURRENT,
            },
            connectivity: match s.config.connectivity {
                Connectivity::FixedIndegree => CONN_FIXED_INDEGREE,
                Connectivity::Annealed => CONN_ANNEALED,
                Connectivity::AllToAll => CONN_ALL_TO_ALL,
            },
            ring: fixed && s.delay_slots > 2,
            short_leaks: c.short_leaks(0) && c.short_leaks(1),
            ext_input: c.ext_lambda > 0.0,
            wg,
        }
    }

    /// Every combination of the override constants a run can produce.
    pub fn all() -> Vec<LifKernel> {
        let mut v = Vec::new();
        for integrator in [INTEGRATOR_LUMPED, INTEGRATOR_PRECISE] {
            for syn_kind in [SYN_CONDUCTANCE, SYN_CURRENT] {
                for connectivity in [CONN_FIXED_INDEGREE, CONN_ANNEALED, CONN_ALL_TO_ALL] {
                    for ring in [false, true] {
                        if ring && connectivity != CONN_FIXED_INDEGREE {
                            continue;
                        }
                        for short_leaks in [false, true] {
                            for ext_input in [false, true] {
                                for wg in Self::WG_VALUES {
                                    v.push(LifKernel {
                                        integrator,
                                        syn_kind,
                                        connectivity,
                                        ring,
                                        short_leaks,
                                        ext_input,
                                        wg,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        v
    }

    fn constants(&self, sample_v: bool) -> Vec<(&'static str, f64)> {
        vec![
            ("INTEGRATOR", self.integrator as f64),
            ("SYN_KIND", self.syn_kind as f64),
            ("CONNECTIVITY", self.connectivity as f64),
            ("RING", self.ring as u32 as f64),
            ("SHORT_LEAKS", self.short_leaks as u32 as f64),
            ("EXT_INPUT", self.ext_input as u32 as f64),
            ("SAMPLE_V", sample_v as u32 as f64),
            ("WG", self.wg as f64),
        ]
    }

    /// The kernel's three pipelines: the step, the step that samples the V histogram, and
    /// the flush of the records.
    pub fn pipelines(&self) -> [PipelineSpec; 3] {
        [
            PipelineSpec::with_constants("step_network", self.constants(false)),
            PipelineSpec::with_constants("step_network", self.constants(true)),
            PipelineSpec::with_constants("flush_records", self.constants(false)),
        ]
    }

    /// The module with the pipelines of each of `kernels`, in order (synapses in one binding).
    pub fn source(kernels: &[LifKernel]) -> KernelSource {
        Self::source_split(kernels, 1, 0)
    }

    /// As `source`, for a synapse array in `parts` bindings of `part_words` words each
    /// (`gpu_connectivity::SynSplit`; `part_words` ignored for one part).
    pub fn source_split(kernels: &[LifKernel], parts: u32, part_words: u64) -> KernelSource {
        let mut pipelines: Vec<PipelineSpec> = kernels.iter().flat_map(|k| k.pipelines()).collect();
        if parts > 1 {
            for p in &mut pipelines {
                p.constants
                    .push(("SYN_PART_QUADS", (part_words / 4) as f64));
            }
        }
        KernelSource::compose(
            if parts == 1 {
                "lif".to_string()
            } else {
                format!("lif ({parts} synapse parts)")
            },
            vec![
                WgslConst::u32("BLOCK_MAX", BLOCK_MAX),
                WgslConst::u32("C_RASTER", C_RASTER as u32),
                WgslConst::u32("C_SPIKES", C_SPIKES as u32),
                WgslConst::u32("C_BINS", C_BINS as u32),
                WgslConst::u32("TARGET_BITS", crate::lif::connectivity::TARGET_BITS),
                WgslConst::u32("TARGET_MASK", crate::lif::connectivity::TARGET_MASK),
                WgslConst::u32("INTEGRATOR_LUMPED", INTEGRATOR_LUMPED),
                WgslConst::u32("INTEGRATOR_PRECISE", INTEGRATOR_PRECISE),
                WgslConst::u32("SYN_CONDUCTANCE", SYN_CONDUCTANCE),
                WgslConst::u32("SYN_CURRENT", SYN_CURRENT),
                WgslConst::u32("CONN_FIXED_INDEGREE", CONN_FIXED_INDEGREE),
                WgslConst::u32("CONN_ANNEALED", CONN_ANNEALED),
                WgslConst::u32("CONN_ALL_TO_ALL", CONN_ALL_TO_ALL),
            ],
            &gpu_connectivity::step_prelude(parts),
            crate::device::shaders::LIF,
            false,
            pipelines,
        )
    }
}

/// (invocations per workgroup, neurons per invocation). A CPU device such as lavapipe runs
/// a workgroup as SIMD groups of its subgroup size on one thread, executing every branch and
/// loop body at least once per group whatever the lanes decide: one group per workgroup and
/// blocks of BLOCK_MAX neurons keep that overhead small. A GPU gets 64 x 4.
fn shape_for(ctx: &GpuContext) -> (u32, u32) {
    if ctx.cpu_layout() {
        let wg = ctx.report.subgroup_max_size.clamp(1, WG_MAX);
        (wg, BLOCK_MAX / wg)
    } else {
        (64, 4)
    }
}

pub struct LifGpu {
    ctx: Arc<GpuContext>,
    s: LifSetup,
    params: LifParams,
    params_buf: wgpu::Buffer,
    step_stride: u32,
    /// The step kernel's bind groups and pipelines.
    bindings: LifBindings,
    grid: (u32, u32),
    csr: Option<DeviceCsr>,
    counters: wgpu::Buffer,
    counter_words: usize,
    records: wgpu::Buffer,
    /// (step, neuron) of the selected neurons' spikes since the last readback.
    spike_buf: wgpu::Buffer,
    /// Steps between readbacks that the spike buffer allows.
    spike_chunk_steps: u32,
    spike_chunk: SpikeChunk,
    /// The state buffers that carry from step to step, kept for snapshots.
    carried: Carried,
    t: u64,
    rec: LifRecording,
    build_seconds: f64,
    /// Timestamp queries of the first steps of each chunk (None without the feature).
    timer: Option<KernelTimer>,
}

/// Device buffers a snapshot saves besides `counters` and `records`.
struct Carried {
    state: wgpu::Buffer,
    ring: wgpu::Buffer,
    lists: wgpu::Buffer,
}

fn check_size(ctx: &GpuContext, what: &str, bytes: u64) -> anyhow::Result<()> {
    let limit = ctx
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size);
    if bytes > limit {
        return Err(crate::Error::DoesNotFit(format!(
            "model L on the GPU: the {what} needs {bytes} bytes; the adapter {} binds at most {limit} bytes per storage buffer: lower n_e/n_i (or the delays), or use --backend cpu",
            ctx.report.name
        ))
        .into());
    }
    Ok(())
}

/// The sizes of one network's device buffers and records, each checked against the adapter's
/// binding limits.
struct LifSizes {
    /// Bytes of the delay ring (16 where no delay is longer than one step).
    ring_bytes: u64,
    /// Steps per rate bin.
    bin_steps: u32,
    /// Rate bins held between readbacks.
    bins_cap: u32,
    /// Raster entries held between readbacks.
    raster_cap: u32,
    /// Words of the counters buffer (the kernel's counters, the rate bins, the V histograms).
    counter_words: usize,
    /// Bytes of the per-neuron records and the raster.
    record_bytes: u64,
    /// Steps between readbacks that the spike buffer of `record.spikes` allows.
    spike_chunk_steps: u32,
    /// Capacity in spikes of that buffer.
    spike_cap: u64,
    /// Bytes of that buffer.
    spike_bytes: u64,
}

impl LifSizes {
    fn new(ctx: &GpuContext, s: &LifSetup) -> anyhow::Result<Self> {
        let n = s.n();
        let fixed = s.config.connectivity == Connectivity::FixedIndegree;
        let slots = s.delay_slots;
        let ring_bytes = if fixed && slots > 2 {
            slots as u64 * n as u64 * 4
        } else {
            16
        };
        let r = &s.config.record;
        let bin_steps = ((r.rate_bin_ms / s.config.dt).round() as u32).max(1);
        let bins_cap = GPU_CHUNK_STEPS / bin_steps + 2;
        let raster_cap = raster_capacity(s) as u32;
        let counter_words = C_BINS + 2 * bins_cap as usize + 2 * r.vhist_bins as usize;
        let record_bytes = (2 * n as u64 + raster_cap as u64) * 16;
        check_size(ctx, "neuron state", n as u64 * 8)?;
        check_size(ctx, "delay ring buffer", ring_bytes)?;
        check_size(ctx, "spike lists", 3 * n as u64 * 8)?;
        check_size(ctx, "per-neuron records and raster", record_bytes)?;
        check_size(ctx, "record counters", counter_words as u64 * 4)?;
        let (spike_chunk_steps, spike_cap) = spike_buffer_shape(s);
        let spike_bytes = (spike_cap * 8).max(16);
        check_size(ctx, "spike buffer of record.spikes", spike_bytes)?;
        Ok(LifSizes {
            ring_bytes,
            bin_steps,
            bins_cap,
            raster_cap,
            counter_words,
            record_bytes,
            spike_chunk_steps,
            spike_cap,
            spike_bytes,
        })
    }
}

/// The device-built connectivity of `fixed_indegree` (None for the other schemes) and the
/// seconds its build took; an error where an in-degree from one population exceeds what the
/// kernel's 16-bit arrival counts hold.
fn build_network(
    ctx: &GpuContext,
    s: &LifSetup,
    replica: u32,
) -> anyhow::Result<(Option<DeviceCsr>, f64)> {
    let started = std::time::Instant::now();
    let csr = if s.config.connectivity == Connectivity::FixedIndegree {
        Some(gpu_connectivity::build(ctx, s, replica)?)
    } else {
        None
    };
    let build_seconds = started.elapsed().as_secs_f64();
    if let Some(d) = &csr
        && d.max_in_degree >= 1 << 16
    {
        anyhow::bail!(
            "in-degree {} from one population: the GPU backend counts arrivals in 16 bits (at most 65535); use --backend cpu",
            d.max_in_degree
        );
    }
    Ok((csr, build_seconds))
}

/// (V, refractory time left) of every neuron at step 0.
fn initial_neuron_state(consts: &LifConsts, s: &LifSetup, replica: u32) -> Vec<[f32; 2]> {
    (0..s.n())
        .into_par_iter()
        .map(|i| {
            let st = step::initial_state(consts, &s.config.v0, i, replica);
            [st.v, st.refractory]
        })
        .collect()
}

impl GpuPop {
    fn new(p: &step::LifPop) -> Self {
        GpuPop {
            tau_l: p.tau_l,
            e_l: p.e_l,
            e_e: p.e_e,
            e_i: p.e_i,
            theta: p.theta,
            v_r: p.v_r,
            tau_rp: p.tau_rp,
            decay: p.decay,
            inv_tau_l: p.inv_tau_l,
            _pad: [0.0; 3],
        }
    }
}

impl LifParams {
    /// The kernel's parameters at step 0 (`base_step` is set by each submission).
    fn new(consts: &LifConsts, s: &LifSetup, sizes: &LifSizes, items: u32, replica: u32) -> Self {
        let r = &s.config.record;
        let (syn_e, syn_i, exp_neg_a) = match consts.syn {
            LifSyn::Conductance { a, ga, exp_neg_a } => (a, ga, exp_neg_a),
            LifSyn::Current { j_e, j_i } => (j_e, j_i, 0.0),
        };
        let spike_ranges = s.spike_ranges().unwrap_or([[0, 0], [0, 0]]);
        LifParams {
            pop: consts.pop.map(|p| GpuPop::new(&p)),
            n_e: s.n_e,
            n_i: s.n_i,
            n: s.n(),
            items,
            dt: consts.dt,
            ext_lambda: consts.ext_lambda,
            ext_p0: consts.ext_p0,
            ext_mean_gap: consts.ext_mean_gap,
            syn_e,
            syn_i,
            exp_neg_a,
            key_lo: consts.key[0],
            key_hi: consts.key[1],
            replica,
            k_e: s.k_e,
            k_i: s.k_i,
            slots: s.delay_slots,
            warmup: s.warmup_steps as u32,
            bin_steps: sizes.bin_steps,
            bins_cap: sizes.bins_cap,
            vhist_every: r.vhist_every,
            vhist_bins: r.vhist_bins,
            vhist_lo: r.vhist_range[0] as f32,
            vhist_scale: (r.vhist_bins as f64 / (r.vhist_range[1] - r.vhist_range[0])) as f32,
            raster_neurons: r.raster_neurons,
            raster_cap: sizes.raster_cap,
            base_step: 0,
            spike_e_lo: spike_ranges[0][0],
            spike_e_hi: spike_ranges[0][1],
            spike_i_lo: spike_ranges[1][0],
            spike_i_hi: spike_ranges[1][1],
            spike_cap: sizes.spike_cap as u32,
        }
    }
}

/// The step table (group 1): StepInfo k = 0..=STEPS_PER_SUBMIT, one every `stride` bytes
/// (the dynamic offsets of a submission's steps), and that stride.
fn step_table(ctx: &GpuContext) -> (wgpu::Buffer, u32) {
    let stride = ctx.limits.min_uniform_buffer_offset_alignment.max(16);
    let mut table = vec![0u8; ((STEPS_PER_SUBMIT + 1) * stride) as usize];
    for k in 0..=STEPS_PER_SUBMIT {
        let o = (k * stride) as usize;
        let info = StepInfo { k, _pad: [0; 3] };
        table[o..o + std::mem::size_of::<StepInfo>()].copy_from_slice(bytemuck::bytes_of(&info));
    }
    let buffer = wgpu::util::DeviceExt::create_buffer_init(
        &ctx.device,
        &wgpu::util::BufferInitDescriptor {
            label: Some("lif steps"),
            contents: &table,
            usage: wgpu::BufferUsages::UNIFORM,
        },
    );
    (buffer, stride)
}

/// The device buffers of the step kernel but the connectivity's.
struct LifBuffers {
    params: wgpu::Buffer,
    steps: wgpu::Buffer,
    /// Bytes between the step table's entries.
    step_stride: u32,
    state: wgpu::Buffer,
    ring: wgpu::Buffer,
    lists: wgpu::Buffer,
    counters: wgpu::Buffer,
    records: wgpu::Buffer,
    spikes: wgpu::Buffer,
    /// Bound in place of the CSR where there is none (annealed, all-to-all).
    no_synapses: wgpu::Buffer,
}

impl LifBuffers {
    fn new(
        ctx: &GpuContext,
        n: u32,
        sizes: &LifSizes,
        params: &LifParams,
        state: &[[f32; 2]],
    ) -> Self {
        let params = buffers::uniform_from(ctx, "lif params", params);
        let (steps, step_stride) = step_table(ctx);
        LifBuffers {
            params,
            steps,
            step_stride,
            state: buffers::storage_from(ctx, "lif state", state),
            ring: buffers::storage_zeroed(ctx, "lif ring", sizes.ring_bytes),
            lists: buffers::storage_zeroed(ctx, "lif spike lists", 3 * n as u64 * 8),
            counters: buffers::storage_zeroed(ctx, "lif counters", sizes.counter_words as u64 * 4),
            records: buffers::storage_zeroed(ctx, "lif records", sizes.record_bytes),
            spikes: buffers::storage_zeroed(ctx, "lif spikes", sizes.spike_bytes),
            no_synapses: buffers::storage_zeroed(ctx, "lif no synapses", 16),
        }
    }
}

/// Group 2: the synapse parts after the first, where the array spans several bindings (an
/// empty layout and no group otherwise).
fn synapse_parts_group(
    ctx: &GpuContext,
    csr: Option<&DeviceCsr>,
    parts: u32,
) -> (wgpu::BindGroupLayout, Option<wgpu::BindGroup>) {
    let layout = bind::group_layout(
        ctx,
        "lif synapse parts",
        &(0..parts - 1)
            .map(|binding| bind::storage_entry(binding, true))
            .collect::<Vec<_>>(),
    );
    let group = csr.filter(|_| parts > 1).map(|d| {
        let rest: Vec<&wgpu::Buffer> = d.synapses[1..].iter().collect();
        buffers::bind_buffers(ctx, Some("lif synapse parts"), &layout, &rest)
    });
    (layout, group)
}

/// The step kernel's bind groups and its three pipelines (`LifKernel::pipelines`).
struct LifBindings {
    bind: wgpu::BindGroup,
    bind_step: wgpu::BindGroup,
    bind_parts: Option<wgpu::BindGroup>,
    pipeline: wgpu::ComputePipeline,
    step_v: wgpu::ComputePipeline,
    flush: wgpu::ComputePipeline,
}

impl LifBindings {
    fn new(
        ctx: &GpuContext,
        kernel: LifKernel,
        bufs: &LifBuffers,
        csr: Option<&DeviceCsr>,
    ) -> anyhow::Result<Self> {
        let (offsets, synapses) = match csr {
            Some(d) => (&d.offsets, &d.synapses[0]),
            None => (&bufs.no_synapses, &bufs.no_synapses),
        };
        let (parts, part_words) = csr.map_or((1, 0), |d| (d.split.parts, d.split.part_words));
        let (parts_layout, bind_parts) = synapse_parts_group(ctx, csr, parts);
        let main_layout = bind::group_layout(
            ctx,
            "lif",
            &[
                bind::uniform_entry(0),
                bind::storage_entry(1, false),
                bind::storage_entry(2, true),
                bind::storage_entry(3, true),
                bind::storage_entry(4, false),
                bind::storage_entry(5, false),
                bind::storage_entry(6, false),
                bind::storage_entry(7, false),
                bind::storage_entry(8, false),
            ],
        );
        let step_layout = bind::group_layout(ctx, "lif step", &[bind::dynamic_uniform_entry(0)]);
        let pipeline_layout = bind::pipeline_layout(
            ctx,
            "lif",
            &if parts > 1 {
                vec![Some(&main_layout), Some(&step_layout), Some(&parts_layout)]
            } else {
                vec![Some(&main_layout), Some(&step_layout)]
            },
        );
        let source = LifKernel::source_split(&[kernel], parts, part_words);
        let Ok([pipeline, step_v, flush]) = <[wgpu::ComputePipeline; 3]>::try_from(
            ctx.kernel_pipelines(&source, |_| Some(&pipeline_layout))?,
        ) else {
            anyhow::bail!("model L: expected the three pipelines of LifKernel::pipelines");
        };
        let bind = buffers::bind_buffers(
            ctx,
            Some("lif"),
            &main_layout,
            &[
                &bufs.params,
                &bufs.state,
                offsets,
                synapses,
                &bufs.ring,
                &bufs.lists,
                &bufs.counters,
                &bufs.records,
                &bufs.spikes,
            ],
        );
        let bind_step = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("lif step"),
            layout: &step_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &bufs.steps,
                    offset: 0,
                    size: wgpu::BufferSize::new(std::mem::size_of::<StepInfo>() as u64),
                }),
            }],
        });
        Ok(LifBindings {
            bind,
            bind_step,
            bind_parts,
            pipeline,
            step_v,
            flush,
        })
    }
}

impl LifGpu {
    pub fn new(ctx: Arc<GpuContext>, s: &LifSetup, replica: u32) -> anyhow::Result<Self> {
        let consts = LifConsts::new(s);
        let (wg, items) = shape_for(&ctx);
        let sizes = LifSizes::new(&ctx, s)?;
        let (csr, build_seconds) = build_network(&ctx, s, replica)?;
        let state = initial_neuron_state(&consts, s, replica);
        let params = LifParams::new(&consts, s, &sizes, items, replica);
        let bufs = LifBuffers::new(&ctx, s.n(), &sizes, &params, &state);
        let kernel = LifKernel::of(&consts, s, wg);
        let bindings = LifBindings::new(&ctx, kernel, &bufs, csr.as_ref())?;
        let blocks = s.n().div_ceil(wg * items);
        let grid = buffers::grid_2d(&ctx, blocks as u64, 1)?;
        let timer = KernelTimer::new(&ctx);
        Ok(LifGpu {
            ctx,
            s: s.clone(),
            params,
            params_buf: bufs.params,
            step_stride: bufs.step_stride,
            bindings,
            grid,
            csr,
            counters: bufs.counters,
            counter_words: sizes.counter_words,
            records: bufs.records,
            spike_buf: bufs.spikes,
            spike_chunk_steps: sizes.spike_chunk_steps,
            spike_chunk: SpikeChunk::default(),
            carried: Carried {
                state: bufs.state,
                ring: bufs.ring,
                lists: bufs.lists,
            },
            t: 0,
            rec: LifRecording::new(s),
            build_seconds,
            timer,
        })
    }

    /// The CSR the device built (read back).
    pub fn csr(&self) -> anyhow::Result<Option<Csr>> {
        self.csr.as_ref().map(|d| d.read(&self.ctx)).transpose()
    }

    /// Whether step t samples the V histogram.
    fn samples_v(&self, t: u64) -> bool {
        let warm = self.s.warmup_steps;
        t >= warm && (t - warm).is_multiple_of(self.params.vhist_every as u64)
    }

    /// Encodes and submits steps [t, t + count), each submission ending with the recording
    /// of its last step's spikes. Where the device has timestamp queries, the first
    /// submission holds min(count, TIMED_STEPS) steps, each dispatch in a pass of its own
    /// with two timestamps (the same dispatches in the same order).
    fn submit_steps(&mut self, count: u32) {
        let mut done = 0;
        while done < count {
            let timed = done == 0
                && self
                    .timer
                    .as_ref()
                    .is_some_and(|t| t.has_room(count.min(TIMED_STEPS) + 1));
            let k = (count - done).min(if timed { TIMED_STEPS } else { STEPS_PER_SUBMIT });
            self.params.base_step = (self.t + done as u64) as u32;
            self.ctx
                .queue
                .write_buffer(&self.params_buf, 0, bytemuck::bytes_of(&self.params));
            let mut enc = self
                .ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("lif steps"),
                });
            let mut timer = self.timer.take();
            // (kind, pipeline) of each dispatch: k steps, then the flush.
            let dispatches: Vec<(&'static str, &wgpu::ComputePipeline)> = (0..=k)
                .map(|j| {
                    let t = self.t + (done + j) as u64;
                    if j == k {
                        ("flush", &self.bindings.flush)
                    } else if self.samples_v(t) {
                        ("step_v", &self.bindings.step_v)
                    } else {
                        ("step", &self.bindings.pipeline)
                    }
                })
                .collect();
            // The groups every dispatch shares, set once per pass.
            let bind_shared = |pass: &mut wgpu::ComputePass| {
                pass.set_bind_group(0, &self.bindings.bind, &[]);
                if let Some(b) = &self.bindings.bind_parts {
                    pass.set_bind_group(2, b, &[]);
                }
            };
            let dispatch =
                |pass: &mut wgpu::ComputePass, j: u32, pipeline: &wgpu::ComputePipeline| {
                    pass.set_pipeline(pipeline);
                    pass.set_bind_group(1, &self.bindings.bind_step, &[j * self.step_stride]);
                    pass.dispatch_workgroups(self.grid.0, self.grid.1, 1);
                };
            match timer.as_mut() {
                Some(timer) if timed => {
                    for (j, (kind, pipeline)) in dispatches.iter().enumerate() {
                        let mut pass = timer.pass(&mut enc, kind);
                        bind_shared(&mut pass);
                        dispatch(&mut pass, j as u32, pipeline);
                    }
                    for _ in 0..k {
                        timer.step_timed();
                    }
                    timer.resolve(&mut enc);
                }
                _ => {
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    bind_shared(&mut pass);
                    for (j, (_, pipeline)) in dispatches.iter().enumerate() {
                        dispatch(&mut pass, j as u32, pipeline);
                    }
                }
            }
            drop(dispatches);
            self.timer = timer;
            self.ctx.queue.submit([enc.finish()]);
            done += k;
        }
    }

    /// Device time per dispatch kind so far (None without timestamp queries).
    pub fn kernel_times(&self) -> Option<KernelTimes> {
        self.timer.as_ref().map(|t| t.report())
    }

    /// The buffers a snapshot saves, by blob name.
    fn carried_buffers(&self) -> [(&'static str, &wgpu::Buffer); 5] {
        [
            ("gpu_state", &self.carried.state),
            ("gpu_ring", &self.carried.ring),
            ("gpu_lists", &self.carried.lists),
            ("gpu_counters", &self.counters),
            ("gpu_records", &self.records),
        ]
    }

    /// Adds the rate bins, V histogram and raster of steps [t0, t1) to the host recording and
    /// clears them on the device.
    fn collect(&mut self, t0: u64, t1: u64) -> anyhow::Result<()> {
        let warm = self.s.warmup_steps;
        if t1 <= warm {
            return Ok(());
        }
        let words: Vec<u32> = buffers::read_back(&self.ctx, &self.counters, 0, self.counter_words)?;
        let p = self.params;
        let (k0, k1) = (t0.max(warm) - warm, t1 - warm);
        let (b0, b1) = (k0 / p.bin_steps as u64, (k1 - 1) / p.bin_steps as u64);
        if self.rec.bins.len() <= b1 as usize {
            self.rec.bins.resize(b1 as usize + 1, [0, 0]);
        }
        for b in b0..=b1 {
            let o = C_BINS + 2 * (b % p.bins_cap as u64) as usize;
            self.rec.bins[b as usize][0] += words[o];
            self.rec.bins[b as usize][1] += words[o + 1];
        }
        let vh = C_BINS + 2 * p.bins_cap as usize;
        let nb = p.vhist_bins as usize;
        for a in 0..2 {
            for (d, &w) in self.rec.vhist[a]
                .iter_mut()
                .zip(&words[vh + a * nb..vh + (a + 1) * nb])
            {
                *d += w as u64;
            }
        }
        let raster_len = words[C_RASTER];
        if raster_len > p.raster_cap {
            anyhow::bail!(
                "GPU raster buffer overflow: {raster_len} spikes of raster neurons in {} steps (capacity {})",
                t1 - t0,
                p.raster_cap
            );
        }
        let mut raster: Vec<[u32; 4]> = buffers::read_back(
            &self.ctx,
            &self.records,
            2 * p.n as u64,
            raster_len as usize,
        )?;
        raster.sort_unstable_by_key(|e| (e[0], e[1]));
        let dt = self.s.config.dt;
        self.rec.raster.extend(
            raster
                .iter()
                .map(|e| (e[0] as f64 * dt + f32::from_bits(e[2]) as f64, e[1])),
        );
        self.rec.recorded_ms = k1 as f64 * dt;
        let spike_len = words[C_SPIKES];
        if spike_len > p.spike_cap {
            // Cannot happen (the capacity bounds what the selected neurons can emit in a
            // chunk); never drop spikes silently.
            anyhow::bail!(
                "GPU spike buffer overflow: {spike_len} spikes of record.spikes in {} steps (capacity {})",
                t1 - t0,
                p.spike_cap
            );
        }
        if spike_len > 0 {
            let mut sp: Vec<[u32; 2]> =
                buffers::read_back(&self.ctx, &self.spike_buf, 0, spike_len as usize)?;
            sp.sort_unstable();
            self.spike_chunk.step.extend(sp.iter().map(|e| e[0]));
            self.spike_chunk.neuron.extend(sp.iter().map(|e| e[1]));
        }
        // Clear the bins, the histogram, the raster and spike lengths (the list counters
        // carry on).
        let zeros = vec![0u32; self.counter_words - C_BINS];
        let q = &self.ctx.queue;
        q.write_buffer(
            &self.counters,
            (C_BINS * 4) as u64,
            bytemuck::cast_slice(&zeros),
        );
        q.write_buffer(
            &self.counters,
            (C_RASTER * 4) as u64,
            bytemuck::cast_slice(&[0u32; 2]),
        );
        Ok(())
    }
}

impl LifBackend for LifGpu {
    fn set_drive(&mut self, s: &LifSetup) -> anyhow::Result<()> {
        let c = LifConsts::new(s);
        // The kernels are specialised for the presence of external input (EXT_INPUT).
        anyhow::ensure!(
            (c.ext_lambda > 0.0) == (self.params.ext_lambda > 0.0),
            "nu_x: switching the external input on or off (to or from 0) needs a new network on the GPU backend"
        );
        self.params.ext_lambda = c.ext_lambda;
        self.params.ext_p0 = c.ext_p0;
        self.params.ext_mean_gap = c.ext_mean_gap;
        self.s = s.clone();
        Ok(())
    }

    fn name(&self) -> String {
        format!("gpu ({})", self.ctx.report.name)
    }

    fn advance(&mut self, steps: u32) -> anyhow::Result<()> {
        let mut left = steps;
        while left > 0 {
            let chunk = left.min(GPU_CHUNK_STEPS).min(self.spike_chunk_steps);
            let t0 = self.t;
            self.submit_steps(chunk);
            self.t += chunk as u64;
            self.collect(t0, self.t)?;
            if let Some(timer) = &mut self.timer {
                timer.collect(&self.ctx)?;
            }
            left -= chunk;
        }
        Ok(())
    }

    fn steps_done(&self) -> u64 {
        self.t
    }

    fn recording(&mut self) -> anyhow::Result<LifRecording> {
        let n = self.params.n as usize;
        let raw: Vec<[u32; 4]> = buffers::read_back(&self.ctx, &self.records, 0, 2 * n)?;
        let dt = self.s.config.dt;
        let time = |step: u32, off: u32| step as f64 * dt + f32::from_bits(off) as f64;
        let mut rec = self.rec.clone();
        rec.neurons = raw
            .chunks_exact(2)
            .map(|r| {
                let (r0, r1) = (r[0], r[1]);
                if r0[0] == 0 {
                    return IsiStats::default();
                }
                let last = time(r0[2], r1[0]);
                IsiStats {
                    spikes: r0[0],
                    last,
                    sum: last - time(r0[1], r0[3]),
                    sum_sq: f32::from_bits(r1[1]) as f64 + f32::from_bits(r1[2]) as f64,
                }
            })
            .collect();
        Ok(rec)
    }

    fn host_recording(&self) -> &LifRecording {
        &self.rec
    }

    fn spikes(&self) -> &SpikeChunk {
        &self.spike_chunk
    }

    fn clear_spikes(&mut self) {
        self.spike_chunk.clear();
    }

    fn snapshot(&mut self) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        // Every device buffer that carries from step to step, raw (the connectivity is
        // rebuilt from the seed; the parameters and the step table are constant but for
        // `base_step`, which each submission sets), and the host's recording.
        let mut out = vec![crate::io::checkpoint::to_blob("gpu_step", &[self.t])];
        for (name, buf) in self.carried_buffers() {
            let words: Vec<u32> = buffers::read_back(&self.ctx, buf, 0, (buf.size() / 4) as usize)?;
            out.push(crate::io::checkpoint::to_blob(name, &words));
        }
        out.extend(self.rec.to_blobs());
        Ok(out)
    }

    fn restore(&mut self, blobs: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
        let step: Vec<u64> = crate::io::checkpoint::blob_vec(blobs, "gpu_step", Some(1))?;
        for (name, buf) in self.carried_buffers() {
            let b = crate::io::checkpoint::blob(blobs, name)?;
            anyhow::ensure!(
                b.len() as u64 == buf.size(),
                "checkpoint `{name}` has {} bytes, this network's buffer {}",
                b.len(),
                buf.size()
            );
        }
        self.rec.restore_blobs(blobs)?;
        for (name, buf) in self.carried_buffers() {
            let b = crate::io::checkpoint::blob(blobs, name)?;
            self.ctx.queue.write_buffer(buf, 0, b);
        }
        // The writes reach the buffers before the next submission's steps.
        self.t = step[0];
        Ok(())
    }

    fn synapses(&self) -> Option<(u64, f64)> {
        self.csr
            .as_ref()
            .map(|d| (d.synapse_count, d.bytes_per_synapse()))
    }

    fn build_seconds(&self) -> f64 {
        self.build_seconds
    }
}
