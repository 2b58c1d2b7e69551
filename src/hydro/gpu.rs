//! Host side of the model H kernels (`shaders/hydro/step.wgsl`): R replicas side by side,
//! buffers sized from the adapter's limits, many steps encoded per submission, records read
//! back once per chunk.

use crate::device::bind;
use crate::device::buffers;
use crate::device::constants::WgslConst;
use crate::device::gpu::GpuContext;
use crate::device::kernels::{KernelSource, PipelineSpec};
use crate::device::layout::HostLayout;
use crate::device::split::{Split, part_decls, part_switch};
use crate::device::timer::{KernelTimer, TIMED_STEPS};
use crate::device::timing::KernelTimes;
use crate::hydro::backend::HydroBackend;
use crate::hydro::config::Coupling;
use crate::hydro::record::{PowerSums, RecordSample};
use crate::hydro::step::HydroConsts;
use crate::rng::alias::{ALIAS_CAP, alias_bits, poisson_table_range};
use std::sync::Arc;

pub const HYDRO_PART: u64 = 6;
pub const HYDRO_REC_STRIDE: usize = 26;
/// Bytes of one replica's `ReplicaState`.
const STATE_BYTES: u64 = std::mem::size_of::<ReplicaState>() as u64;
/// Steps encoded in one command buffer.
pub const STEPS_PER_SUBMIT: u32 = 256;

/// Most storage bindings the state x is split over: 8 x 2 GiB (Vulkan's binding limit in
/// wgpu) = 16 GiB, a network of 2 x 2e9 neurons; the kernels then bind 8 + 7 = 15 storage
/// buffers (Metal allows 31 per stage).
pub const HYDRO_X_PARTS_MAX: u32 = 8;
/// Bytes of records held on the device between readbacks (all replicas together).
const RECORD_BYTES: u64 = 1 << 25;

/// `COUPLING` of the kernels: `independent` (the GPU runs no other scheme than these two).
pub const COUPLING_INDEPENDENT: u32 = 0;
/// `COUPLING` of the kernels: `shared`.
pub const COUPLING_SHARED: u32 = 1;

crate::gpu_struct! {
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct HydroParams {
        n: u32,
        n_pad: u32,
        wg_per_seg: u32,
        record_every: u32,
        replicas: u32,
        quads: u32,
        _pad4: [u32; 3] => [_pad4, _pad5, _pad6],
        table_stride: u32,
        record_capacity: u32,
        _pad0: u32,
        dt: f32,
        decay: [f32; 2] => [decay_e, decay_i],
        drive: [f32; 2] => [drive_e, drive_i],
        jump: [f32; 4] => [jump_ee, jump_ei, jump_ie, jump_ii],
        nu_max: [f32; 2] => [nu_max_e, nu_max_i],
        beta: [f32; 2] => [beta_e, beta_i],
        theta: [f32; 2] => [theta_e, theta_i],
        _pad7: [f32; 2] => [_pad7, _pad8],
        x0_mean: [f32; 2] => [x0_mean_e, x0_mean_i],
        x0_sd: [f32; 2] => [x0_sd_e, x0_sd_i],
        _pad: [u32; 3] => [_pad1, _pad2, _pad3],
    }
}

crate::gpu_struct! {
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct ReplicaState {
        step: u32,
        spikes: [u32; 2] => [spikes_e, spikes_i],
        record_index: u32,
        /// (hi, lo) of Lambda_E, then of Lambda_I.
        lambda: [f32; 4] => [lambda_e, lambda_e_lo, lambda_i, lambda_i_lo],
        split: [f32; 2] => [split_e, split_i],
        key: [u32; 2] => [key_lo, key_hi],
        replica: u32,
        /// Centre of the next record's power sums, per population: the previous record's
        /// mean (the initial one at first).
        shift: [f32; 2] => [shift_e, shift_i],
        _pad0: u32,
        table_lo: [u32; 4],
        table_bits: [u32; 4],
    }
}

/// The host twins of the kernels' structs (device::layout).
pub(crate) fn host_layouts() -> Vec<HostLayout> {
    vec![
        HostLayout::of::<HydroParams>("HydroParams"),
        HostLayout::of::<ReplicaState>("ReplicaState"),
    ]
}

/// What specialises the model H kernels: the constants of the prelude
/// (see the head of shaders/hydro/step.wgsl) and how the step reads its alias tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HydroKernel {
    pub wg: u32,
    pub fwg: u32,
    pub quads: u32,
    /// COUPLING_INDEPENDENT or COUPLING_SHARED.
    pub coupling: u32,
    pub own_extra_terms: u32,
    pub expm1_series_only: bool,
    pub invocation_partials: bool,
    /// Some(vec4s of all replicas' tables) where they are read from a uniform buffer, None for
    /// a storage buffer.
    pub uniform_tables: Option<u64>,
    /// Storage bindings the state x is split over (`device::split`; 1: one binding) and the
    /// vec4s of x per part (the override constant XS_PART_QUADS; unused for one part).
    pub x_parts: u32,
    pub x_part_quads: u64,
}

impl HydroKernel {
    /// The pipelines, in the order `HydroGpu::new` takes them.
    pub const ENTRIES: [&'static str; 5] = [
        "init",
        "finalize_init",
        "update",
        "update_record",
        "finalize",
    ];

    /// Largest `uniform_tables`: 64 KiB of vec4s (`HydroLayout::uniform_table_bytes`).
    pub const UNIFORM_TABLE_VEC4S_MAX: u64 = 65536 / 16;

    /// Every specialisation `HydroLayout::kernel` can produce: each workgroup shape of both
    /// device kinds (with that kind's FWG and partials), both couplings, the expm1 shortcut on
    /// and off, tables in storage or in uniform buffers; the numeric values that only set a
    /// trip count or an array length at their ends (OWN_EXTRA_TERMS 1, 3 = the default
    /// dt nu_max, 64; uniform tables of 2 and `UNIFORM_TABLE_VEC4S_MAX` vec4s).
    pub fn all() -> Vec<HydroKernel> {
        let mut v = Vec::new();
        for cpu_device in [false, true] {
            for &(wg, quads) in HydroLayout::shapes(cpu_device) {
                for coupling in [COUPLING_INDEPENDENT, COUPLING_SHARED] {
                    for own_extra_terms in [1, 3, crate::hydro::step::OWN_EXTRA_TERMS_MAX] {
                        for expm1_series_only in [false, true] {
                            for uniform_tables in
                                [None, Some(2), Some(Self::UNIFORM_TABLE_VEC4S_MAX)]
                            {
                                for x_parts in [1, HYDRO_X_PARTS_MAX] {
                                    v.push(HydroKernel {
                                        wg: wg as u32,
                                        fwg: HydroLayout::finalize_wg(cpu_device),
                                        quads: quads as u32,
                                        coupling,
                                        own_extra_terms,
                                        expm1_series_only,
                                        invocation_partials: cpu_device,
                                        uniform_tables,
                                        x_parts,
                                        x_part_quads: 1 << 20,
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

    /// The WGSL the kernel file is compiled after (see the head of shaders/hydro/step.wgsl).
    pub fn prelude(&self) -> String {
        let tables = match self.uniform_tables {
            Some(vec4s) => format!(
                "@group(2) @binding(0) var<uniform> tables_r: array<vec4<u32>, {vec4s}>;\n\
                 fn table_entry(i: u32) -> u32 {{ return tables_r[i >> 2u][i & 3u]; }}\n"
            ),
            None => "@group(2) @binding(0) var<storage, read> tables_r: array<u32>;\n\
                     fn table_entry(i: u32) -> u32 { return tables_r[i]; }\n"
                .to_string(),
        };
        // The state x: part 0 is `xs` (group 0, binding 1, in the kernel file), the others at
        // group 3 (split.rs's accessors).
        let mut xs = String::new();
        if self.x_parts > 1 {
            xs += "override XS_PART_QUADS: u32;\n";
            xs += &part_decls("xs", "read_write", "vec4<f32>", self.x_parts, 3, 0);
        }
        xs += "fn xs_load(q: u32) -> vec4<f32> {\n";
        xs += &part_switch("xs", self.x_parts, "XS_PART_QUADS", "q", |a| {
            format!("return {a}")
        });
        if self.x_parts > 1 {
            xs += "    return vec4<f32>(0.0);\n";
        }
        xs += "}\nfn xs_store(q: u32, v: vec4<f32>) {\n";
        xs += &part_switch("xs", self.x_parts, "XS_PART_QUADS", "q", |a| {
            format!("{a} = v")
        });
        xs += "}\n";
        format!(
            "const WG: u32 = {}u;\nconst FWG: u32 = {}u;\nconst QUADS: u32 = {}u;\n\
             const COUPLING: u32 = {}u;\nconst OWN_EXTRA_TERMS: u32 = {}u;\n\
             const EXPM1_SERIES_ONLY: bool = {};\nconst INVOCATION_PARTIALS: bool = {};\n{tables}{xs}",
            self.wg,
            self.fwg,
            self.quads,
            self.coupling,
            self.own_extra_terms,
            self.expm1_series_only,
            self.invocation_partials
        )
    }

    /// The constants generated from Rust that the kernel file uses besides the common ones.
    fn wgsl_constants() -> Vec<WgslConst> {
        vec![
            WgslConst::u32("PART", HYDRO_PART as u32),
            WgslConst::u32("REC_STRIDE", HYDRO_REC_STRIDE as u32),
            WgslConst::u32("COUPLING_INDEPENDENT", COUPLING_INDEPENDENT),
            WgslConst::u32("COUPLING_SHARED", COUPLING_SHARED),
        ]
    }

    /// The module and its pipelines (`ENTRIES`).
    pub fn source(&self) -> KernelSource {
        KernelSource::compose(
            format!("hydro {self:?}"),
            Self::wgsl_constants(),
            &self.prelude(),
            crate::device::shaders::HYDRO,
            true,
            Self::ENTRIES
                .iter()
                .map(|&e| {
                    if self.x_parts > 1 {
                        PipelineSpec::with_constants(
                            e,
                            vec![("XS_PART_QUADS", self.x_part_quads as f64)],
                        )
                    } else {
                        PipelineSpec::new(e)
                    }
                })
                .collect(),
        )
    }
}

/// How a network is laid out on the device: workgroup size, padding, table sizes.
#[derive(Clone, Copy, Debug)]
pub struct HydroLayout {
    pub wg: u32,
    /// Invocations of the `finalize` workgroup (one per replica).
    pub fwg: u32,
    /// Every invocation writes its own partial sums (no barrier in the neuron kernels).
    pub invocation_partials: bool,
    /// vec4s of neurons per invocation.
    pub quads: u64,
    pub n_pad: u64,
    pub wg_per_seg: u64,
    pub replicas: u64,
    pub table_stride: u64,
    pub record_capacity: u64,
    /// The alias tables are read from a uniform buffer (else from a storage buffer).
    pub tables_uniform: bool,
}

impl HydroLayout {
    /// The first workgroup shape (invocations, vec4s per invocation) of the device's list
    /// whose padding of a population to whole workgroups stays within 1/16 of n, else the
    /// smallest. GPUs want many invocations; CPU implementations (lavapipe: 8-lane SIMD
    /// groups that run every instruction of a workgroup, barriers as context switches) want
    /// few invocations with many neurons each, so that the per-workgroup reduction is paid
    /// rarely. Depends on n and the device kind only, so replica r of a batch computes what the
    /// single run does.
    pub fn new(n: u64, replicas: u64, c: &HydroConsts, cpu_device: bool, max_uniform: u64) -> Self {
        let shapes = Self::shapes(cpu_device);
        let pad = |(wg, quads): (u64, u64)| n.div_ceil(wg * 4 * quads) * wg * 4 * quads;
        let (wg, quads) = shapes
            .iter()
            .copied()
            .find(|&s| pad(s) <= n + n / 16)
            .unwrap_or(shapes[shapes.len() - 1]);
        let items = 4 * quads;
        let n_pad = pad((wg, quads));
        // The largest table any step can need: every neuron at its maximal rate.
        let lambda_max = c.dt as f64 * n as f64 * c.nu_max[0].max(c.nu_max[1]) as f64;
        let (lo, hi) = poisson_table_range(lambda_max);
        let table_stride = (1u64 << alias_bits(hi - lo + 1)).min(ALIAS_CAP as u64);
        let record_capacity =
            (RECORD_BYTES / (replicas * HYDRO_REC_STRIDE as u64 * 4)).clamp(1, 4096);
        HydroLayout {
            wg: wg as u32,
            fwg: Self::finalize_wg(cpu_device),
            invocation_partials: cpu_device,
            quads,
            n_pad,
            wg_per_seg: n_pad / (wg * items),
            replicas,
            table_stride,
            record_capacity,
            tables_uniform: replicas * 4 * table_stride * 4
                <= Self::uniform_table_bytes(max_uniform),
        }
    }

    /// The workgroup shapes (invocations, vec4s per invocation) `new` chooses from, in order.
    pub fn shapes(cpu_device: bool) -> &'static [(u64, u64)] {
        const GPU_SHAPES: [(u64, u64); 5] = [(256, 16), (256, 4), (128, 4), (64, 4), (64, 1)];
        const CPU_SHAPES: [(u64, u64); 10] = [
            (64, 64),
            (32, 64),
            (16, 64),
            (8, 64),
            (8, 32),
            (8, 16),
            (8, 8),
            (8, 4),
            (8, 2),
            (8, 1),
        ];
        if cpu_device { &CPU_SHAPES } else { &GPU_SHAPES }
    }

    /// Invocations of the `finalize` workgroup.
    pub fn finalize_wg(cpu_device: bool) -> u32 {
        if cpu_device { 8 } else { 64 }
    }

    /// The most bytes of tables read through a uniform buffer (64 KiB, the binding size every
    /// WebGPU adapter supports, or less where the adapter allows less).
    pub fn uniform_table_bytes(max_uniform: u64) -> u64 {
        max_uniform.min(65536)
    }

    /// Bytes of alias tables per network (four tables).
    pub fn table_bytes(&self) -> u64 {
        4 * self.table_stride * 4
    }

    fn x_bytes(&self) -> u64 {
        self.replicas * 2 * self.n_pad * 4
    }

    fn workgroups(&self) -> u64 {
        self.replicas * 2 * self.wg_per_seg
    }

    /// Sets of partial sums the neuron kernels write.
    fn partial_sets(&self) -> u64 {
        self.workgroups()
            * if self.invocation_partials {
                self.wg as u64
            } else {
                1
            }
    }

    /// Bytes of device memory the layout needs.
    pub fn bytes(&self, coupling: Coupling) -> u64 {
        let spikes = if coupling == Coupling::Shared {
            self.workgroups() * self.wg as u64 * 4
        } else {
            16
        };
        self.x_bytes()
            + spikes
            + self.partial_sets() * HYDRO_PART * 4
            + self.replicas * STATE_BYTES
            + self.record_capacity * self.replicas * HYDRO_REC_STRIDE as u64 * 4
            + self.replicas * 4 * self.table_stride * 4 * 3
    }

    /// The kernels' specialisation for this layout and network.
    pub fn kernel(&self, c: &HydroConsts) -> HydroKernel {
        HydroKernel {
            wg: self.wg,
            fwg: self.fwg,
            quads: self.quads as u32,
            coupling: match c.coupling {
                Coupling::Shared => COUPLING_SHARED,
                _ => COUPLING_INDEPENDENT,
            },
            own_extra_terms: c.own_extra_terms,
            expm1_series_only: c.dt as f64 * (c.nu_max[0].max(c.nu_max[1]) as f64) <= 0.2,
            invocation_partials: self.invocation_partials,
            uniform_tables: self
                .tables_uniform
                .then_some(self.replicas * self.table_stride),
            x_parts: 1,
            x_part_quads: 0,
        }
    }
}

pub struct HydroGpu {
    ctx: Arc<GpuContext>,
    params: HydroParams,
    params_buffer: wgpu::Buffer,
    /// The state x, in `x_split.parts` buffers.
    x: Vec<wgpu::Buffer>,
    x_split: Split,
    /// x's parts after the first (group 3), where there are several.
    bind_x_parts: Option<wgpu::BindGroup>,
    spikes: wgpu::Buffer,
    tables: wgpu::Buffer,
    state: wgpu::Buffer,
    records: wgpu::Buffer,
    layout: HydroLayout,
    bind: wgpu::BindGroup,
    bind_tables_w: wgpu::BindGroup,
    bind_tables_r: wgpu::BindGroup,
    update: wgpu::ComputePipeline,
    update_record: wgpu::ComputePipeline,
    finalize: wgpu::ComputePipeline,
    /// Steps completed (the host picks the recording update kernel from it).
    t: u64,
    grid: (u32, u32),
    grid_replicas: (u32, u32),
    initial: Vec<RecordSample>,
    /// Timestamp queries of the first steps of each chunk (None without the feature).
    timer: Option<KernelTimer>,
}

/// One network of a batch: its key (seed) and the replica word of its counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    pub key: [u32; 2],
    pub replica: u32,
}

/// The split of the state x (`layout.x_bytes()`) into parts of whole vec4s where it exceeds
/// one binding; an error where it needs more than HYDRO_X_PARTS_MAX parts or the kernels more
/// storage buffers than the adapter allows per stage.
fn split_x(ctx: &GpuContext, layout: &HydroLayout, n: u64, replicas: u32) -> anyhow::Result<Split> {
    let x_bytes = layout.x_bytes();
    let max_bind = ctx.limits.max_storage_buffer_binding_size;
    let max_buf = ctx.limits.max_buffer_size;
    let x_split = Split::new(x_bytes / 16, 16, 1, max_bind.min(max_buf));
    // Storage buffers of the kernels: 6 in group 0, the tables (2) and x's other parts.
    let storage = 8 + x_split.parts - 1;
    if x_split.parts > HYDRO_X_PARTS_MAX
        || storage > ctx.limits.max_storage_buffers_per_shader_stage
    {
        let per = layout.wg as u64 * 4 * layout.quads;
        let parts = HYDRO_X_PARTS_MAX
            .min(
                ctx.limits
                    .max_storage_buffers_per_shader_stage
                    .saturating_sub(7),
            )
            .max(1) as u64;
        return Err(crate::Error::DoesNotFit(format!(
            "n = {n} per population x {replicas} replicas needs a {x_bytes}-byte state in {} storage bindings; the adapter {} allows {} bytes per binding and {} storage buffers per kernel, so {parts} parts at most (largest n here: {})",
            x_split.parts,
            ctx.report.name,
            max_bind.min(max_buf),
            ctx.limits.max_storage_buffers_per_shader_stage,
            max_bind.min(max_buf) * parts / 8 / replicas as u64 / per * per
        ))
        .into());
    }
    Ok(x_split)
}

impl HydroParams {
    /// The kernels' parameters (`record_every` is set by each submission).
    fn new(c: &HydroConsts, layout: &HydroLayout, replicas: u32) -> Self {
        HydroParams {
            n: c.n,
            n_pad: layout.n_pad as u32,
            wg_per_seg: layout.wg_per_seg as u32,
            record_every: 1,
            replicas,
            quads: c.n.div_ceil(4),
            _pad4: [0; 3],
            table_stride: layout.table_stride as u32,
            record_capacity: layout.record_capacity as u32,
            _pad0: 0,
            dt: c.dt,
            decay: c.decay,
            drive: c.drive,
            jump: [c.jump[0][0], c.jump[0][1], c.jump[1][0], c.jump[1][1]],
            nu_max: c.nu_max,
            beta: c.beta,
            theta: c.theta,
            _pad7: [0.0; 2],
            x0_mean: c.x0_mean,
            x0_sd: c.x0_sd,
            _pad: [0; 3],
        }
    }
}

/// The kernels' device buffers.
struct HydroBuffers {
    params: wgpu::Buffer,
    /// The state x, in `x_split.parts` buffers.
    x: Vec<wgpu::Buffer>,
    spikes: wgpu::Buffer,
    partials: wgpu::Buffer,
    state: wgpu::Buffer,
    records: wgpu::Buffer,
    /// The finalize kernel's scratch for the next tables.
    table_scratch: wgpu::Buffer,
    tables: wgpu::Buffer,
}

impl HydroBuffers {
    /// The buffers of `members`, each replica's state with its key, replica word and the
    /// centre `shift` of its first record's power sums.
    fn new(
        ctx: &GpuContext,
        c: &HydroConsts,
        layout: &HydroLayout,
        x_split: &Split,
        params: &HydroParams,
        members: &[Member],
        shift: [f64; 2],
    ) -> Self {
        let r = params.replicas as u64;
        let params = buffers::uniform_from(ctx, "hydro params", params);
        let x = x_split.buffers(ctx, "hydro x");
        let spikes_bytes = if c.coupling == Coupling::Shared {
            layout.workgroups() * layout.wg as u64 * 4
        } else {
            16
        };
        let spikes = buffers::storage_zeroed(ctx, "hydro spikes", spikes_bytes);
        let partials = buffers::storage_zeroed(
            ctx,
            "hydro partials",
            layout.partial_sets() * HYDRO_PART * 4,
        );
        let initial_state: Vec<ReplicaState> = members
            .iter()
            .map(|m| ReplicaState {
                key: m.key,
                replica: m.replica,
                shift: [shift[0] as f32, shift[1] as f32],
                ..bytemuck::Zeroable::zeroed()
            })
            .collect();
        let state = buffers::storage_from(ctx, "hydro state", &initial_state);
        let records = buffers::storage_zeroed(
            ctx,
            "hydro records",
            layout.record_capacity * r * HYDRO_REC_STRIDE as u64 * 4,
        );
        let table_words = r * 4 * layout.table_stride;
        let table_scratch =
            buffers::storage_zeroed(ctx, "hydro table scratch", 2 * table_words * 4);
        let tables = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("hydro tables"),
            size: table_words * 4,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::UNIFORM
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        HydroBuffers {
            params,
            x,
            spikes,
            partials,
            state,
            records,
            table_scratch,
            tables,
        }
    }
}

/// The kernels' bind group layouts: group 0 (parameters, x's first part and the other
/// buffers), the tables written (finalize, group 1) and read (update, group 2), and x's
/// parts after the first (group 3) where x spans several bindings.
struct HydroGroupLayouts {
    main: wgpu::BindGroupLayout,
    tables_write: wgpu::BindGroupLayout,
    tables_read: wgpu::BindGroupLayout,
    x_parts: Option<wgpu::BindGroupLayout>,
}

impl HydroGroupLayouts {
    fn new(ctx: &GpuContext, layout: &HydroLayout, x_buffers: usize) -> Self {
        let main = bind::group_layout(
            ctx,
            "hydro",
            &(0..7)
                .map(|i| {
                    if i == 0 {
                        bind::uniform_entry(0)
                    } else {
                        bind::storage_entry(i, false)
                    }
                })
                .collect::<Vec<_>>(),
        );
        let tables_write = bind::group_layout(
            ctx,
            "hydro tables (write)",
            &[bind::storage_entry(0, false)],
        );
        let tables_read = bind::group_layout(
            ctx,
            "hydro tables (read)",
            &[if layout.tables_uniform {
                bind::uniform_entry(0)
            } else {
                bind::storage_entry(0, true)
            }],
        );
        let x_parts = (x_buffers > 1).then(|| {
            bind::group_layout(
                ctx,
                "hydro x parts",
                &(0..x_buffers as u32 - 1)
                    .map(|i| bind::storage_entry(i, false))
                    .collect::<Vec<_>>(),
            )
        });
        HydroGroupLayouts {
            main,
            tables_write,
            tables_read,
            x_parts,
        }
    }
}

/// The kernels' pipelines, one per HydroKernel::ENTRIES.
struct HydroPipelines {
    init: wgpu::ComputePipeline,
    finalize_init: wgpu::ComputePipeline,
    update: wgpu::ComputePipeline,
    update_record: wgpu::ComputePipeline,
    finalize: wgpu::ComputePipeline,
}

impl HydroPipelines {
    fn new(
        ctx: &GpuContext,
        kernel: &HydroKernel,
        groups: &HydroGroupLayouts,
    ) -> anyhow::Result<Self> {
        let x_parts = groups.x_parts.as_ref();
        let init_layout =
            bind::pipeline_layout(ctx, "hydro", &[Some(&groups.main), None, None, x_parts]);
        let update_layout = bind::pipeline_layout(
            ctx,
            "hydro",
            &[Some(&groups.main), None, Some(&groups.tables_read), x_parts],
        );
        let finalize_layout = bind::pipeline_layout(
            ctx,
            "hydro",
            &[Some(&groups.main), Some(&groups.tables_write)],
        );
        let pipelines = ctx.kernel_pipelines(&kernel.source(), |entry| {
            Some(match entry {
                "init" => &init_layout,
                "update" | "update_record" => &update_layout,
                _ => &finalize_layout,
            })
        })?;
        let Ok([init, finalize_init, update, update_record, finalize]) =
            <[wgpu::ComputePipeline; 5]>::try_from(pipelines)
        else {
            anyhow::bail!("model H: expected one pipeline per HydroKernel::ENTRIES");
        };
        Ok(HydroPipelines {
            init,
            finalize_init,
            update,
            update_record,
            finalize,
        })
    }
}

/// The kernels' bind groups (of `HydroGroupLayouts`).
struct HydroBindGroups {
    main: wgpu::BindGroup,
    x_parts: Option<wgpu::BindGroup>,
    tables_write: wgpu::BindGroup,
    tables_read: wgpu::BindGroup,
}

impl HydroBindGroups {
    fn new(ctx: &GpuContext, groups: &HydroGroupLayouts, bufs: &HydroBuffers) -> Self {
        let main = buffers::bind_buffers(
            ctx,
            Some("hydro"),
            &groups.main,
            &[
                &bufs.params,
                &bufs.x[0],
                &bufs.spikes,
                &bufs.partials,
                &bufs.state,
                &bufs.records,
                &bufs.table_scratch,
            ],
        );
        let x_parts = groups.x_parts.as_ref().map(|l| {
            let rest: Vec<&wgpu::Buffer> = bufs.x[1..].iter().collect();
            buffers::bind_buffers(ctx, Some("hydro x parts"), l, &rest)
        });
        let tables_write =
            buffers::bind_buffers(ctx, Some("hydro"), &groups.tables_write, &[&bufs.tables]);
        let tables_read =
            buffers::bind_buffers(ctx, Some("hydro"), &groups.tables_read, &[&bufs.tables]);
        HydroBindGroups {
            main,
            x_parts,
            tables_write,
            tables_read,
        }
    }
}

/// Submits the initial state's draw (`init`) and its first tables and record
/// (`finalize_init`).
fn dispatch_init(
    ctx: &GpuContext,
    groups: &HydroBindGroups,
    pipelines: &HydroPipelines,
    grid: (u32, u32),
    grid_replicas: (u32, u32),
) {
    let mut enc = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("init"),
        });
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_bind_group(0, &groups.main, &[]);
        pass.set_bind_group(1, &groups.tables_write, &[]);
        if let Some(b) = &groups.x_parts {
            pass.set_bind_group(3, b, &[]);
        }
        pass.set_pipeline(&pipelines.init);
        pass.dispatch_workgroups(grid.0, grid.1, 1);
        pass.set_pipeline(&pipelines.finalize_init);
        pass.dispatch_workgroups(grid_replicas.0, grid_replicas.1, 1);
    }
    ctx.queue.submit([enc.finish()]);
}

impl HydroGpu {
    /// One network per member, side by side in the same dispatches; member i computes what a
    /// single run with its key and replica word computes.
    pub fn new(
        ctx: Arc<GpuContext>,
        c: HydroConsts,
        members: &[Member],
        shift: [f64; 2],
    ) -> anyhow::Result<Self> {
        let replicas = members.len() as u32;
        anyhow::ensure!(replicas > 0, "a GPU batch needs at least one network");
        let layout = HydroLayout::new(
            c.n as u64,
            replicas as u64,
            &c,
            ctx.cpu_layout(),
            ctx.limits.max_uniform_buffer_binding_size,
        );
        let x_split = split_x(&ctx, &layout, c.n as u64, replicas)?;
        let mut kernel = layout.kernel(&c);
        kernel.x_parts = x_split.parts;
        kernel.x_part_quads = x_split.part_len;
        let params = HydroParams::new(&c, &layout, replicas);
        let bufs = HydroBuffers::new(&ctx, &c, &layout, &x_split, &params, members, shift);
        let group_layouts = HydroGroupLayouts::new(&ctx, &layout, bufs.x.len());
        let pipelines = HydroPipelines::new(&ctx, &kernel, &group_layouts)?;
        let groups = HydroBindGroups::new(&ctx, &group_layouts, &bufs);
        let grid = buffers::grid_2d(&ctx, layout.workgroups(), 1)?;
        let grid_replicas = buffers::grid_2d(&ctx, replicas as u64, 1)?;
        dispatch_init(&ctx, &groups, &pipelines, grid, grid_replicas);
        let timer = KernelTimer::new(&ctx);
        let mut g = HydroGpu {
            ctx,
            params,
            params_buffer: bufs.params,
            x: bufs.x,
            x_split,
            bind_x_parts: groups.x_parts,
            spikes: bufs.spikes,
            tables: bufs.tables,
            state: bufs.state,
            records: bufs.records,
            layout,
            bind: groups.main,
            bind_tables_w: groups.tables_write,
            bind_tables_r: groups.tables_read,
            update: pipelines.update,
            update_record: pipelines.update_record,
            finalize: pipelines.finalize,
            t: 0,
            grid,
            grid_replicas,
            initial: Vec::new(),
            timer,
        };
        let first = g.take_records()?;
        g.initial = first
            .into_iter()
            .map(|v| {
                v.first()
                    .copied()
                    .ok_or_else(|| anyhow::anyhow!("GPU init wrote no record"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(g)
    }

    pub fn layout(&self) -> HydroLayout {
        self.layout
    }

    /// The adapter's one-line description.
    pub fn adapter(&self) -> String {
        self.ctx.report.summary()
    }

    pub fn replicas(&self) -> u32 {
        self.params.replicas
    }

    /// Per replica, the records written since the last call; resets the record index.
    fn take_records(&mut self) -> anyhow::Result<Vec<Vec<RecordSample>>> {
        let r = self.params.replicas as usize;
        let mut st: Vec<ReplicaState> = buffers::read_back(&self.ctx, &self.state, 0, r)?;
        let count = st[0].record_index as usize;
        let raw: Vec<f32> =
            buffers::read_back(&self.ctx, &self.records, 0, count * r * HYDRO_REC_STRIDE)?;
        for s in &mut st {
            s.record_index = 0;
        }
        self.ctx
            .queue
            .write_buffer(&self.state, 0, bytemuck::cast_slice(&st));
        let mut out = vec![Vec::with_capacity(count); r];
        for (i, rec) in raw.chunks_exact(HYDRO_REC_STRIDE).enumerate() {
            out[i % r].push(parse_record(rec));
        }
        Ok(out)
    }

    /// Population sums of every replica's initial state.
    pub fn initial_records(&self) -> Vec<RecordSample> {
        self.initial.clone()
    }

    /// Advances every replica `steps` steps; per replica, the samples taken after every step
    /// whose count of completed steps is a multiple of `record_every`.
    pub fn advance_replicas(
        &mut self,
        steps: u32,
        record_every: u32,
    ) -> anyhow::Result<Vec<Vec<RecordSample>>> {
        self.params.record_every = record_every;
        let mut out = vec![Vec::new(); self.params.replicas as usize];
        let mut left = steps;
        while left > 0 {
            // Keep each chunk's records within the record buffer.
            let max_steps =
                (self.layout.record_capacity as u32 * record_every).min(STEPS_PER_SUBMIT * 16);
            let chunk = left.min(max_steps);
            self.ctx
                .queue
                .write_buffer(&self.params_buffer, 0, bytemuck::bytes_of(&self.params));
            // The chunk's last steps (which hold its last record's update) are timed where
            // the device has timestamp queries.
            let timed = self.timed_steps(chunk);
            let batched = chunk - timed;
            let mut done = 0;
            while done < batched {
                let k = (batched - done).min(STEPS_PER_SUBMIT);
                let mut enc =
                    self.ctx
                        .device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("steps"),
                        });
                {
                    let mut pass = enc.begin_compute_pass(&Default::default());
                    pass.set_bind_group(0, &self.bind, &[]);
                    pass.set_bind_group(1, &self.bind_tables_w, &[]);
                    pass.set_bind_group(2, &self.bind_tables_r, &[]);
                    if let Some(b) = &self.bind_x_parts {
                        pass.set_bind_group(3, b, &[]);
                    }
                    for _ in 0..k {
                        self.t += 1;
                        pass.set_pipeline(if self.t.is_multiple_of(record_every as u64) {
                            &self.update_record
                        } else {
                            &self.update
                        });
                        pass.dispatch_workgroups(self.grid.0, self.grid.1, 1);
                        pass.set_pipeline(&self.finalize);
                        pass.dispatch_workgroups(self.grid_replicas.0, self.grid_replicas.1, 1);
                    }
                }
                self.ctx.queue.submit([enc.finish()]);
                done += k;
            }
            self.submit_timed_steps(timed, record_every);
            for (all, new) in out.iter_mut().zip(self.take_records()?) {
                all.extend(new);
            }
            if let Some(timer) = &mut self.timer {
                timer.collect(&self.ctx)?;
            }
            left -= chunk;
        }
        Ok(out)
    }

    /// How many of a chunk's steps to time: min(chunk, TIMED_STEPS) where the device has
    /// timestamp queries, else 0.
    fn timed_steps(&self, chunk: u32) -> u32 {
        let steps = chunk.min(TIMED_STEPS);
        match &self.timer {
            Some(t) if t.has_room(2 * steps) => steps,
            _ => 0,
        }
    }

    /// Encodes and submits `steps` steps with a pass (and two timestamps) per dispatch: the
    /// same dispatches in the same order as `advance_replicas`' batched pass.
    fn submit_timed_steps(&mut self, steps: u32, record_every: u32) {
        let Some(timer) = self.timer.as_mut() else {
            return;
        };
        if steps == 0 {
            return;
        }
        let mut enc = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("timed steps"),
            });
        for _ in 0..steps {
            self.t += 1;
            let recording = self.t.is_multiple_of(record_every as u64);
            let kinds = [
                if recording {
                    ("update_record", &self.update_record, self.grid)
                } else {
                    ("update", &self.update, self.grid)
                },
                ("finalize", &self.finalize, self.grid_replicas),
            ];
            for (kind, pipeline, grid) in kinds {
                let mut pass = timer.pass(&mut enc, kind);
                pass.set_bind_group(0, &self.bind, &[]);
                pass.set_bind_group(1, &self.bind_tables_w, &[]);
                pass.set_bind_group(2, &self.bind_tables_r, &[]);
                if let Some(b) = &self.bind_x_parts {
                    pass.set_bind_group(3, b, &[]);
                }
                pass.set_pipeline(pipeline);
                pass.dispatch_workgroups(grid.0, grid.1, 1);
            }
            timer.step_timed();
        }
        timer.resolve(&mut enc);
        self.ctx.queue.submit([enc.finish()]);
    }

    /// Device time per dispatch kind so far (None without timestamp queries).
    pub fn kernel_times(&self) -> Option<KernelTimes> {
        self.timer.as_ref().map(|t| t.report())
    }

    /// The state x of replica `r` (index within the batch): E neurons then I neurons.
    pub fn replica_state(&self, r: u32) -> anyhow::Result<Vec<f32>> {
        let n = self.params.n as u64;
        let seg = self.layout.n_pad;
        let base = 2 * r as u64 * seg;
        // In f32 elements: the split counts vec4s.
        let quads = |start: u64| -> anyhow::Result<Vec<f32>> {
            let q0 = start / 4;
            let raw: Vec<[f32; 4]> =
                self.x_split
                    .read_back(&self.ctx, &self.x, q0, n.div_ceil(4))?;
            Ok(raw.into_iter().flatten().take(n as usize).collect())
        };
        let mut x = quads(base)?;
        x.extend(quads(base + seg)?);
        Ok(x)
    }
}

fn parse_record(r: &[f32]) -> RecordSample {
    let pop = |a: usize| {
        let o = 1 + a * 12;
        let df = |j: usize| r[o + 1 + 2 * j] as f64 + r[o + 2 + 2 * j] as f64;
        (
            PowerSums {
                count: r[o] as f64,
                s1: df(1),
                s2: df(2),
                s3: df(3),
                s4: df(4),
            },
            df(0),
            r[o + 11] as f64,
        )
    };
    let (e, le, se) = pop(0);
    let (i, li, si) = pop(1);
    RecordSample {
        step: r[0].to_bits() as u64,
        sums: [e, i],
        lambda: [le, li],
        shift: [se, si],
    }
}

impl HydroBackend for HydroGpu {
    fn set_drive(&mut self, drive: [f32; 2]) {
        // Uploaded with the parameters before the next chunk of steps.
        self.params.drive = drive;
    }

    fn name(&self) -> String {
        format!("gpu ({})", self.ctx.report.name)
    }

    fn initial_record(&mut self) -> anyhow::Result<RecordSample> {
        self.initial
            .first()
            .copied()
            .ok_or_else(|| anyhow::anyhow!("no replica"))
    }

    fn advance(&mut self, steps: u32, record_every: u32) -> anyhow::Result<Vec<RecordSample>> {
        let mut all = self.advance_replicas(steps, record_every)?;
        anyhow::ensure!(all.len() == 1, "advance() drives a single replica");
        Ok(all.remove(0))
    }

    fn snapshot(&mut self) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        // The device buffers that carry state from step to step, raw (partials, scratch and
        // records are rewritten every step / chunk).
        let x: Vec<u32> = self
            .x_split
            .read_back::<[u32; 4]>(&self.ctx, &self.x, 0, self.x_split.total)?
            .into_iter()
            .flatten()
            .collect();
        let mut out = vec![("gpu_x".to_string(), bytemuck::cast_slice(&x).to_vec())];
        for (name, buf) in [
            ("gpu_spikes", &self.spikes),
            ("gpu_state", &self.state),
            ("gpu_tables", &self.tables),
        ] {
            let words: Vec<u32> = buffers::read_back(&self.ctx, buf, 0, (buf.size() / 4) as usize)?;
            out.push((name.to_string(), bytemuck::cast_slice(&words).to_vec()));
        }
        Ok(out)
    }

    fn restore(&mut self, blobs: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
        let bx = crate::io::checkpoint::blob(blobs, "gpu_x")?;
        let x_bytes = self.x_split.total * self.x_split.elem_bytes;
        anyhow::ensure!(
            bx.len() as u64 == x_bytes,
            "checkpoint `gpu_x` has {} bytes, this network's state {x_bytes}",
            bx.len()
        );
        self.x_split.write_all(&self.ctx, &self.x, bx);
        for (name, buf) in [
            ("gpu_spikes", &self.spikes),
            ("gpu_state", &self.state),
            ("gpu_tables", &self.tables),
        ] {
            let b = crate::io::checkpoint::blob(blobs, name)?;
            anyhow::ensure!(
                b.len() as u64 == buf.size(),
                "checkpoint `{name}` has {} bytes, this network's buffer {}",
                b.len(),
                buf.size()
            );
            self.ctx.queue.write_buffer(buf, 0, b);
        }
        self.ctx.wait()?;
        let st: Vec<ReplicaState> = buffers::read_back(&self.ctx, &self.state, 0, 1)?;
        self.t = st[0].step as u64;
        Ok(())
    }

    fn state(&mut self) -> anyhow::Result<Vec<f32>> {
        self.replica_state(0)
    }
}
