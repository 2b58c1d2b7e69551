//! Host side of the device-built `fixed_indegree` connectivity (shaders/lif/connectivity.wgsl).
//! The in-degrees come from the host (`connectivity::neuron_degrees`, O(N) and the same
//! code as the CPU backend, so Gaussian in-degrees agree bit for bit); the O(N K) partner
//! draws, the counts, the prefix sum, the fill and the per-row sort run on the device. The
//! result is `connectivity::build_csr`'s CSR word for word, with u32 offsets.

use crate::device::bind;
use crate::device::buffers;
use crate::device::constants::WgslConst;
use crate::device::gpu::GpuContext;
use crate::device::kernels::{KernelSource, PipelineSpec};
use crate::device::layout::HostLayout;
use crate::device::split::{Split, part_decls, part_switch};
use crate::lif::config::{DelayConfig, LifSetup};
use crate::lif::connectivity::{self, Csr};
use crate::rng;
use rayon::prelude::*;

/// Invocations per workgroup of conn_count and conn_fill.
const CONN_WG: u32 = 64;
/// Invocations per row of conn_sort on a GPU; a CPU device uses its subgroup size, clamped to
/// at most this.
const SORT_WG_GPU: u32 = 256;
/// Every SORT_WG `build` can choose (subgroup sizes are powers of two).
pub const SORT_WG_VALUES: &[u32] = &[1, 2, 4, 8, 16, 32, 64, 128, SORT_WG_GPU];
/// Device memory for the batch slots (hash sets and picks) of one build pass.
const SCRATCH_BUDGET: u64 = 64 << 20;

/// Most storage bindings the synapse array (and the build's unsorted copy of it) is split
/// over: 12 x 2 GiB (Vulkan's binding limit in wgpu) = 24 GiB, more than the u32 synapse
/// indices address (4.3e9 synapses = 17 GB); the build then binds 4 + 2 x 12 = 28 storage
/// buffers, within Metal's 31 buffers per stage.
pub const SYN_PARTS_MAX: u32 = 12;

/// How the synapse words are split over storage buffers, one binding each: part p holds words
/// [p * part_words, (p + 1) * part_words) (the last part fewer). One part when the array fits
/// one binding (then the kernels index it directly). `device::split::Split` in words of whole
/// quads (the step kernel reads quads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynSplit {
    pub parts: u32,
    /// Words per part, a multiple of 4.
    pub part_words: u64,
    pub total_words: u64,
}

impl SynSplit {
    /// The split of `total_words` words for bindings of at most `max_binding_bytes`; an error
    /// when more than SYN_PARTS_MAX parts would be needed.
    pub fn new(total_words: u64, max_binding_bytes: u64) -> Result<Self, crate::Error> {
        let sp = Split::new(total_words, 4, 4, max_binding_bytes);
        if sp.parts > SYN_PARTS_MAX {
            return Err(crate::Error::DoesNotFit(format!(
                "the network has {total_words} synapses ({} bytes at 4 bytes each): more than {SYN_PARTS_MAX} storage bindings of {max_binding_bytes} bytes: lower n_e, n_i or K, or use --backend cpu",
                total_words * 4
            )));
        }
        Ok(SynSplit {
            parts: sp.parts,
            part_words: sp.part_len,
            total_words,
        })
    }

    fn split(&self) -> Split {
        Split {
            parts: self.parts,
            part_len: self.part_words,
            total: self.total_words,
            elem_bytes: 4,
        }
    }

    /// Words of part p.
    pub fn len(&self, p: u32) -> u64 {
        self.split().len(p)
    }

    /// Whether the split holds no word.
    pub fn is_empty(&self) -> bool {
        self.total_words == 0
    }

    /// Zeroed storage buffers for the parts.
    pub fn buffers(&self, ctx: &GpuContext, label: &str) -> Vec<wgpu::Buffer> {
        self.split().buffers(ctx, label)
    }
}

/// The step kernel's prelude for `parts` synapse parts: the parts after the first (binding 3
/// of group 0, declared in shaders/lif/step.wgsl) at @group(2), and `syn_quad(q)`, quad q of
/// the whole array.
pub fn step_prelude(parts: u32) -> String {
    let mut s =
        String::from("// The synapse array's parts and accessor (src/lif/gpu_connectivity.rs).\n");
    if parts > 1 {
        s += "override SYN_PART_QUADS: u32;\n";
        s += &part_decls("synapses", "read", "vec4<u32>", parts, 2, 0);
    }
    s += "fn syn_quad(q: u32) -> vec4<u32> {\n";
    s += &part_switch("synapses", parts, "SYN_PART_QUADS", "q", |a| {
        format!("return {a}")
    });
    if parts > 1 {
        s += "    return vec4<u32>(0u);\n";
    }
    s += "}\n";
    s
}

/// The connectivity kernels' prelude for `parts` parts of `synapses` and `unsorted` (the
/// parts after the first at @group(1): synapses' from binding 0, unsorted's after them), and
/// their accessors `syn_store`, `unsorted_load`, `unsorted_store`.
fn conn_prelude(parts: u32) -> String {
    let mut s =
        String::from("// The synapse arrays' parts and accessors (src/lif/gpu_connectivity.rs).\n");
    if parts > 1 {
        s += "override SYN_PART_WORDS: u32;\n";
        s += &part_decls("synapses", "read_write", "u32", parts, 1, 0);
        s += &part_decls("unsorted", "read_write", "u32", parts, 1, parts - 1);
    }
    s += "fn syn_store(e: u32, w: u32) {\n";
    s += &part_switch("synapses", parts, "SYN_PART_WORDS", "e", |a| {
        format!("{a} = w")
    });
    s += "}\nfn unsorted_store(e: u32, w: u32) {\n";
    s += &part_switch("unsorted", parts, "SYN_PART_WORDS", "e", |a| {
        format!("{a} = w")
    });
    s += "}\nfn unsorted_load(e: u32) -> u32 {\n";
    s += &part_switch("unsorted", parts, "SYN_PART_WORDS", "e", |a| {
        format!("return {a}")
    });
    if parts > 1 {
        s += "    return 0u;\n";
    }
    s += "}\n";
    s
}

/// The CSR on the device: `offsets` (n + 1 u32) and `synapses` (one u32 per synapse: target
/// in the low 24 bits, delay in steps in the high 8), rows sorted by target; the synapse words
/// split over `split.parts` buffers.
pub struct DeviceCsr {
    pub offsets: wgpu::Buffer,
    pub synapses: Vec<wgpu::Buffer>,
    pub split: SynSplit,
    pub synapse_count: u64,
    pub n: u32,
    /// Largest in-degree from one population.
    pub max_in_degree: u32,
}

impl DeviceCsr {
    /// Device bytes per synapse (synapse words plus offsets).
    pub fn bytes_per_synapse(&self) -> f64 {
        (self.synapse_count * 4 + (self.n as u64 + 1) * 4) as f64 / self.synapse_count.max(1) as f64
    }

    /// Reads the CSR back (tests, diagnostics).
    pub fn read(&self, ctx: &GpuContext) -> anyhow::Result<Csr> {
        let offsets: Vec<u32> = buffers::read_back(ctx, &self.offsets, 0, self.n as usize + 1)?;
        let mut synapses = Vec::with_capacity(self.synapse_count as usize);
        for (p, b) in self.synapses.iter().enumerate() {
            synapses.extend(buffers::read_back::<u32>(
                ctx,
                b,
                0,
                self.split.len(p as u32) as usize,
            )?);
        }
        Ok(Csr {
            offsets: offsets.into_iter().map(u64::from).collect(),
            synapses,
        })
    }
}

crate::gpu_struct! {
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct ConnParams {
        n_e: u32,
        n_i: u32,
        n: u32,
        replica: u32,
        key_lo: u32,
        key_hi: u32,
        batch_start: u32,
        batch_len: u32,
        hash_words: u32,
        slot_words: u32,
        delay_lo_e: u32,
        delay_hi_e: u32,
        delay_lo_i: u32,
        delay_hi_i: u32,
        _pad: [u32; 2] => [_pad0, _pad1],
    }
}

/// The host twins of the kernels' structs (device::layout).
pub(crate) fn host_layouts() -> Vec<HostLayout> {
    vec![HostLayout::of::<ConnParams>("ConnParams")]
}

/// The entry points of the build, in the order `build` takes their pipelines.
const ENTRIES: [&str; 4] = ["conn_count", "conn_scan", "conn_fill", "conn_sort"];

/// The connectivity module for synapse arrays in `parts` parts of `part_words` words (ignored
/// for one part) with the build's pipelines for each SORT_WG of `sort_wgs`.
pub fn kernel_source(sort_wgs: &[u32], parts: u32, part_words: u64) -> KernelSource {
    let split = |mut c: Vec<(&'static str, f64)>| {
        if parts > 1 {
            c.push(("SYN_PART_WORDS", part_words as f64));
        }
        c
    };
    KernelSource::compose(
        if parts == 1 {
            "lif_connectivity".to_string()
        } else {
            format!("lif_connectivity ({parts} synapse parts)")
        },
        vec![
            WgslConst::u32("CONN_WG", CONN_WG),
            WgslConst::u32("TARGET_BITS", connectivity::TARGET_BITS),
            WgslConst::u32("TARGET_MASK", connectivity::TARGET_MASK),
        ],
        &conn_prelude(parts),
        crate::device::shaders::LIF_CONN,
        false,
        sort_wgs
            .iter()
            .flat_map(|&w| {
                ENTRIES.map(|e| PipelineSpec::with_constants(e, split(vec![("SORT_WG", w as f64)])))
            })
            .collect(),
    )
}

/// The in-degrees (from E, from I) of every neuron, drawn on the host as the CPU backend
/// draws them.
fn in_degrees(s: &LifSetup, replica: u32) -> Vec<[u32; 2]> {
    (0..s.n())
        .into_par_iter()
        .map(|i| connectivity::neuron_degrees(s, i, replica))
        .collect()
}

/// The split of `total` synapse words over storage bindings; an error where the u32 offsets
/// cannot count them or the build needs more storage buffers per stage than the adapter has.
fn synapse_split(ctx: &GpuContext, total: u64) -> anyhow::Result<SynSplit> {
    let limit = ctx.max_binding_bytes();
    if total >= u32::MAX as u64 {
        return Err(crate::Error::DoesNotFit(format!(
            "{total} synapses: the GPU backend's u32 offsets allow fewer than 2^32; lower n_e, n_i or K, or use --backend cpu"
        ))
        .into());
    }
    let split = SynSplit::new(total, limit)?;
    let storage_needed = 4 + 2 * split.parts;
    if storage_needed > ctx.limits.max_storage_buffers_per_shader_stage {
        return Err(crate::Error::DoesNotFit(format!(
            "the network's {total} synapses need {} storage bindings of at most {limit} bytes, and the build {storage_needed} storage buffers per shader stage; the adapter {} allows {}: lower n_e, n_i or K, or use --backend cpu",
            split.parts,
            ctx.report.name,
            ctx.limits.max_storage_buffers_per_shader_stage
        ))
        .into());
    }
    Ok(split)
}

/// The batch slots of the build's passes: each neuron of a batch gets a hash set of
/// `hash_words` words (twice its largest in-degree, a power of two) and, with random delays,
/// room for its picks; `batch` neurons fit SCRATCH_BUDGET.
struct BatchSlots {
    hash_words: u64,
    slot_words: u64,
    batch: u32,
}

impl BatchSlots {
    fn new(ctx: &GpuContext, s: &LifSetup, max_k: u32) -> Self {
        let hash_words = (2 * max_k as u64).next_power_of_two().max(2);
        let random_delays = matches!(s.config.delay, DelayConfig::Uniform { .. });
        let picks_words = if random_delays { max_k as u64 } else { 0 };
        let slot_words = hash_words + picks_words;
        let budget = SCRATCH_BUDGET.min(ctx.max_binding_bytes());
        let batch = (budget / (slot_words * 4)).clamp(1, s.n() as u64) as u32;
        BatchSlots {
            hash_words,
            slot_words,
            batch,
        }
    }
}

impl ConnParams {
    /// The build's parameters (the batch is set before each batch's submission).
    fn new(s: &LifSetup, replica: u32, slots: &BatchSlots) -> Self {
        let key = rng::seed_key(s.config.seed);
        let (lo_e, hi_e) = connectivity::delay_range(s, 0);
        let (lo_i, hi_i) = connectivity::delay_range(s, 1);
        ConnParams {
            n_e: s.n_e,
            n_i: s.n_i,
            n: s.n(),
            replica,
            key_lo: key[0],
            key_hi: key[1],
            batch_start: 0,
            batch_len: 0,
            hash_words: slots.hash_words as u32,
            slot_words: slots.slot_words as u32,
            delay_lo_e: lo_e,
            delay_hi_e: hi_e,
            delay_lo_i: lo_i,
            delay_hi_i: hi_i,
            _pad: [0; 2],
        }
    }
}

/// The build's device buffers; `offsets` and `synapses` become the CSR, the others are freed
/// when the build returns.
struct BuildBuffers {
    params: wgpu::Buffer,
    degrees: wgpu::Buffer,
    out_degrees: wgpu::Buffer,
    offsets: wgpu::Buffer,
    synapses: Vec<wgpu::Buffer>,
    scratch: wgpu::Buffer,
    /// The fill's rows before their sort.
    unsorted: Vec<wgpu::Buffer>,
}

impl BuildBuffers {
    fn new(
        ctx: &GpuContext,
        params: &ConnParams,
        degrees: &[[u32; 2]],
        split: &SynSplit,
        slots: &BatchSlots,
    ) -> Self {
        let n = params.n as u64;
        let scratch_bytes = slots.batch as u64 * slots.slot_words * 4;
        BuildBuffers {
            params: buffers::uniform_from(ctx, "lif conn params", params),
            degrees: buffers::storage_from(ctx, "lif degrees", degrees),
            out_degrees: buffers::storage_zeroed(ctx, "lif out-degrees", n * 4),
            offsets: buffers::storage_zeroed(ctx, "lif offsets", (n + 1) * 4),
            synapses: split.buffers(ctx, "lif synapses"),
            scratch: buffers::storage_zeroed(ctx, "lif conn scratch", scratch_bytes),
            unsorted: split.buffers(ctx, "lif unsorted synapses"),
        }
    }
}

/// The build's pipelines (one per ENTRIES) and bind groups: group 0 the buffers, group 1
/// parts 1.. of both synapse arrays (none with one part).
struct BuildPasses {
    count: wgpu::ComputePipeline,
    scan: wgpu::ComputePipeline,
    fill: wgpu::ComputePipeline,
    sort: wgpu::ComputePipeline,
    bind: wgpu::BindGroup,
    parts_bind: Option<wgpu::BindGroup>,
}

impl BuildPasses {
    fn new(ctx: &GpuContext, split: &SynSplit, bufs: &BuildBuffers) -> anyhow::Result<Self> {
        let parts_layout = bind::group_layout(
            ctx,
            "lif conn parts",
            &(0..2 * (split.parts - 1))
                .map(|binding| bind::storage_entry(binding, false))
                .collect::<Vec<_>>(),
        );
        let parts_bind = (split.parts > 1).then(|| {
            let rest: Vec<&wgpu::Buffer> = bufs.synapses[1..]
                .iter()
                .chain(&bufs.unsorted[1..])
                .collect();
            buffers::bind_buffers(ctx, Some("lif conn parts"), &parts_layout, &rest)
        });
        let layout = bind::group_layout(
            ctx,
            "lif conn",
            &(0..7)
                .map(|i| match i {
                    0 => bind::uniform_entry(i),
                    1 => bind::storage_entry(i, true),
                    _ => bind::storage_entry(i, false),
                })
                .collect::<Vec<_>>(),
        );
        let pipeline_layout = bind::pipeline_layout(
            ctx,
            "lif conn",
            &if split.parts > 1 {
                vec![Some(&layout), Some(&parts_layout)]
            } else {
                vec![Some(&layout)]
            },
        );
        // One SIMD group per row on a CPU device (see lif::gpu::shape_for).
        let sort_wg = if ctx.cpu_layout() {
            ctx.report.subgroup_max_size.clamp(1, SORT_WG_GPU)
        } else {
            SORT_WG_GPU
        };
        let source = kernel_source(&[sort_wg], split.parts, split.part_words);
        let Ok([count, scan, fill, sort]) = <[wgpu::ComputePipeline; 4]>::try_from(
            ctx.kernel_pipelines(&source, |_| Some(&pipeline_layout))?,
        ) else {
            anyhow::bail!("model L connectivity: expected one pipeline per entry point");
        };
        let bind = buffers::bind_buffers(
            ctx,
            Some("lif conn"),
            &layout,
            &[
                &bufs.params,
                &bufs.degrees,
                &bufs.out_degrees,
                &bufs.offsets,
                &bufs.synapses[0],
                &bufs.scratch,
                &bufs.unsorted[0],
            ],
        );
        Ok(BuildPasses {
            count,
            scan,
            fill,
            sort,
            bind,
            parts_bind,
        })
    }

    /// Submits one dispatch of `pipeline` over `grid`.
    fn dispatch(&self, ctx: &GpuContext, pipeline: &wgpu::ComputePipeline, grid: (u32, u32)) {
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("lif conn"),
            });
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_bind_group(0, &self.bind, &[]);
            if let Some(b) = &self.parts_bind {
                pass.set_bind_group(1, b, &[]);
            }
            pass.set_pipeline(pipeline);
            pass.dispatch_workgroups(grid.0, grid.1, 1);
        }
        ctx.queue.submit([enc.finish()]);
    }

    /// Submits `pipeline` over the neurons in batches of `batch`, each batch's params written
    /// to `params_buf` before its own submission.
    fn batches(
        &self,
        ctx: &GpuContext,
        pipeline: &wgpu::ComputePipeline,
        params: &mut ConnParams,
        params_buf: &wgpu::Buffer,
        batch: u32,
    ) -> anyhow::Result<()> {
        let n = params.n;
        let mut start = 0;
        while start < n {
            params.batch_start = start;
            params.batch_len = batch.min(n - start);
            ctx.queue
                .write_buffer(params_buf, 0, bytemuck::bytes_of(params));
            self.dispatch(
                ctx,
                pipeline,
                buffers::grid_2d(ctx, params.batch_len as u64, CONN_WG)?,
            );
            start += params.batch_len;
        }
        Ok(())
    }
}

/// Builds the network of `s` (replica `replica`) on the device.
pub fn build(ctx: &GpuContext, s: &LifSetup, replica: u32) -> anyhow::Result<DeviceCsr> {
    let n = s.n();
    let degrees = in_degrees(s, replica);
    let total: u64 = degrees.iter().map(|d| d[0] as u64 + d[1] as u64).sum();
    let max_k = degrees.iter().map(|d| d[0].max(d[1])).max().unwrap_or(0);
    let split = synapse_split(ctx, total)?;
    let slots = BatchSlots::new(ctx, s, max_k);
    let mut params = ConnParams::new(s, replica, &slots);
    let bufs = BuildBuffers::new(ctx, &params, &degrees, &split, &slots);
    let passes = BuildPasses::new(ctx, &split, &bufs)?;
    passes.batches(ctx, &passes.count, &mut params, &bufs.params, slots.batch)?;
    passes.dispatch(ctx, &passes.scan, (1, 1));
    passes.batches(ctx, &passes.fill, &mut params, &bufs.params, slots.batch)?;
    passes.dispatch(ctx, &passes.sort, buffers::grid_2d(ctx, n as u64, 1)?);
    ctx.wait()?;
    Ok(DeviceCsr {
        offsets: bufs.offsets,
        synapses: bufs.synapses,
        split,
        synapse_count: total,
        n,
        max_in_degree: max_k,
    })
}
