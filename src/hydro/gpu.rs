//! Host side of the model H kernels (`shaders/hydro.wgsl`): R replicas side by side, buffers
//! sized from the adapter's limits, many steps encoded per submission, records read back once
//! per chunk.

use crate::device::buffers;
use crate::device::gpu::GpuContext;
use crate::hydro::backend::HydroBackend;
use crate::hydro::config::Coupling;
use crate::hydro::record::{PowerSums, RecordSample};
use crate::hydro::step::HydroConsts;
use crate::rng::alias::{ALIAS_CAP, alias_bits, poisson_table_range};
use std::sync::Arc;

pub const HYDRO_PART: u64 = 6;
pub const HYDRO_REC_STRIDE: usize = 24;
const STATE_BYTES: u64 = 96;
/// Steps encoded in one command buffer.
pub const STEPS_PER_SUBMIT: u32 = 256;
/// Bytes of records held on the device between readbacks (all replicas together).
const RECORD_BYTES: u64 = 1 << 25;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct HydroParams {
    n: u32,
    n_pad: u32,
    wg_per_seg: u32,
    record_every: u32,
    replicas: u32,
    quads: u32,
    _pad4: [u32; 3],
    table_stride: u32,
    record_capacity: u32,
    _pad0: u32,
    dt: f32,
    decay: [f32; 2],
    drive: [f32; 2],
    jump: [f32; 4],
    nu_max: [f32; 2],
    beta: [f32; 2],
    theta: [f32; 2],
    shift: [f32; 2],
    x0_mean: [f32; 2],
    x0_sd: [f32; 2],
    _pad: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ReplicaState {
    step: u32,
    spikes: [u32; 2],
    record_index: u32,
    /// (hi, lo) of Lambda_E, then of Lambda_I.
    lambda: [f32; 4],
    split: [f32; 2],
    key: [u32; 2],
    replica: u32,
    _pad: [u32; 3],
    table_lo: [u32; 4],
    table_bits: [u32; 4],
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
        let shapes: &[(u64, u64)] = if cpu_device { &CPU_SHAPES } else { &GPU_SHAPES };
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
            fwg: if cpu_device { 8 } else { 64 },
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

    /// The WGSL the kernels are compiled after (see the head of shaders/hydro.wgsl).
    fn prelude(&self, c: &HydroConsts) -> String {
        let coupling = match c.coupling {
            Coupling::Shared => 1,
            _ => 0,
        };
        let tables = if self.tables_uniform {
            format!(
                "@group(2) @binding(0) var<uniform> tables_r: array<vec4<u32>, {}>;\n\
                 fn table_entry(i: u32) -> u32 {{ return tables_r[i >> 2u][i & 3u]; }}\n",
                self.replicas * self.table_stride
            )
        } else {
            "@group(2) @binding(0) var<storage, read> tables_r: array<u32>;\n\
             fn table_entry(i: u32) -> u32 { return tables_r[i]; }\n"
                .to_string()
        };
        format!(
            "const WG: u32 = {}u;\nconst FWG: u32 = {}u;\nconst QUADS: u32 = {}u;\n\
             const COUPLING: u32 = {coupling}u;\nconst OWN_EXTRA_TERMS: u32 = {}u;\n\
             const EXPM1_SERIES_ONLY: bool = {};\nconst INVOCATION_PARTIALS: bool = {};\n{tables}",
            self.wg,
            self.fwg,
            self.quads,
            c.own_extra_terms,
            c.dt as f64 * (c.nu_max[0].max(c.nu_max[1]) as f64) <= 0.2,
            self.invocation_partials
        )
    }
}

pub struct HydroGpu {
    ctx: Arc<GpuContext>,
    params: HydroParams,
    params_buffer: wgpu::Buffer,
    x: wgpu::Buffer,
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
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    buffer_entry(binding, wgpu::BufferBindingType::Storage { read_only })
}

fn buffer_entry(binding: u32, ty: wgpu::BufferBindingType) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// One network of a batch: its key (seed) and the replica word of its counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    pub key: [u32; 2],
    pub replica: u32,
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
        let n = c.n as u64;
        let layout = HydroLayout::new(
            n,
            replicas as u64,
            &c,
            ctx.is_cpu_device(),
            ctx.limits.max_uniform_buffer_binding_size,
        );
        let x_bytes = layout.x_bytes();
        let max_bind = ctx.limits.max_storage_buffer_binding_size;
        let max_buf = ctx.limits.max_buffer_size;
        if x_bytes > max_bind.min(max_buf) {
            let per = layout.wg as u64 * 4 * layout.quads;
            return Err(crate::Error::DoesNotFit(format!(
                "n = {n} per population x {replicas} replicas needs a {x_bytes}-byte state buffer; the adapter {} allows {} bytes per storage binding and {} per buffer (largest n here: {})",
                ctx.report.name,
                max_bind,
                max_buf,
                max_bind.min(max_buf) / 8 / replicas as u64 / per * per
            ))
            .into());
        }
        let params = HydroParams {
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
            shift: [shift[0] as f32, shift[1] as f32],
            x0_mean: c.x0_mean,
            x0_sd: c.x0_sd,
            _pad: [0; 3],
        };
        let r = replicas as u64;
        let pbuf = buffers::uniform_from(&ctx, "hydro params", &params);
        let x = buffers::storage_zeroed(&ctx, "hydro x", x_bytes);
        let spikes_bytes = if c.coupling == Coupling::Shared {
            layout.workgroups() * layout.wg as u64 * 4
        } else {
            16
        };
        let spikes = buffers::storage_zeroed(&ctx, "hydro spikes", spikes_bytes);
        let partials = buffers::storage_zeroed(
            &ctx,
            "hydro partials",
            layout.partial_sets() * HYDRO_PART * 4,
        );
        let initial_state: Vec<ReplicaState> = members
            .iter()
            .map(|m| ReplicaState {
                key: m.key,
                replica: m.replica,
                ..bytemuck::Zeroable::zeroed()
            })
            .collect();
        debug_assert_eq!(std::mem::size_of::<ReplicaState>() as u64, STATE_BYTES);
        let state = buffers::storage_from(&ctx, "hydro state", &initial_state);
        let records = buffers::storage_zeroed(
            &ctx,
            "hydro records",
            layout.record_capacity * r * HYDRO_REC_STRIDE as u64 * 4,
        );
        let table_words = r * 4 * layout.table_stride;
        let scratch = buffers::storage_zeroed(&ctx, "hydro table scratch", 2 * table_words * 4);
        let tables = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("hydro tables"),
            size: table_words * 4,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::UNIFORM
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let dev = &ctx.device;
        let main_layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("hydro"),
            entries: &(0..7)
                .map(|i| {
                    if i == 0 {
                        buffer_entry(0, wgpu::BufferBindingType::Uniform)
                    } else {
                        storage_entry(i, false)
                    }
                })
                .collect::<Vec<_>>(),
        });
        let tables_w_layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("hydro tables (write)"),
            entries: &[storage_entry(0, false)],
        });
        let tables_r_layout = dev.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("hydro tables (read)"),
            entries: &[if layout.tables_uniform {
                buffer_entry(0, wgpu::BufferBindingType::Uniform)
            } else {
                storage_entry(0, true)
            }],
        });
        let pl = |groups: &[Option<&wgpu::BindGroupLayout>]| {
            dev.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("hydro"),
                bind_group_layouts: groups,
                immediate_size: 0,
            })
        };
        let pl_init = pl(&[Some(&main_layout)]);
        let pl_update = pl(&[Some(&main_layout), None, Some(&tables_r_layout)]);
        let pl_finalize = pl(&[Some(&main_layout), Some(&tables_w_layout)]);
        let source = format!("{}\n{}", layout.prelude(&c), crate::device::shaders::HYDRO);
        let mk = |entry: &str, pl: &wgpu::PipelineLayout| {
            ctx.pipeline_with_layout("hydro", &source, entry, pl)
        };
        let init = mk("init", &pl_init)?;
        let finalize_init = mk("finalize_init", &pl_finalize)?;
        let update = mk("update", &pl_update)?;
        let update_record = mk("update_record", &pl_update)?;
        let finalize = mk("finalize", &pl_finalize)?;
        let bind = buffers::bind_buffers(
            &ctx,
            Some("hydro"),
            &main_layout,
            &[&pbuf, &x, &spikes, &partials, &state, &records, &scratch],
        );
        let bind_tables_w =
            buffers::bind_buffers(&ctx, Some("hydro"), &tables_w_layout, &[&tables]);
        let bind_tables_r =
            buffers::bind_buffers(&ctx, Some("hydro"), &tables_r_layout, &[&tables]);
        let grid = buffers::grid_2d(&ctx, layout.workgroups(), 1)?;
        let grid_replicas = buffers::grid_2d(&ctx, r, 1)?;
        let mut enc = dev.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("init"),
        });
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_bind_group(0, &bind, &[]);
            pass.set_bind_group(1, &bind_tables_w, &[]);
            pass.set_pipeline(&init);
            pass.dispatch_workgroups(grid.0, grid.1, 1);
            pass.set_pipeline(&finalize_init);
            pass.dispatch_workgroups(grid_replicas.0, grid_replicas.1, 1);
        }
        ctx.queue.submit([enc.finish()]);
        let mut g = HydroGpu {
            ctx,
            params,
            params_buffer: pbuf,
            x,
            spikes,
            tables,
            state,
            records,
            layout,
            bind,
            bind_tables_w,
            bind_tables_r,
            update,
            update_record,
            finalize,
            t: 0,
            grid,
            grid_replicas,
            initial: Vec::new(),
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
            let mut done = 0;
            while done < chunk {
                let k = (chunk - done).min(STEPS_PER_SUBMIT);
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
            for (all, new) in out.iter_mut().zip(self.take_records()?) {
                all.extend(new);
            }
            left -= chunk;
        }
        Ok(out)
    }

    /// The state x of replica `r` (index within the batch): E neurons then I neurons.
    pub fn replica_state(&self, r: u32) -> anyhow::Result<Vec<f32>> {
        let n = self.params.n as usize;
        let seg = self.layout.n_pad;
        let base = 2 * r as u64 * seg;
        let mut x: Vec<f32> = buffers::read_back(&self.ctx, &self.x, base, n)?;
        x.extend(buffers::read_back::<f32>(
            &self.ctx,
            &self.x,
            base + seg,
            n,
        )?);
        Ok(x)
    }
}

fn parse_record(r: &[f32]) -> RecordSample {
    let pop = |a: usize| {
        let o = 1 + a * 11;
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
        )
    };
    let (e, le) = pop(0);
    let (i, li) = pop(1);
    RecordSample {
        step: r[0].to_bits() as u64,
        sums: [e, i],
        lambda: [le, li],
    }
}

impl HydroBackend for HydroGpu {
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
        let mut out = Vec::new();
        for (name, buf) in [
            ("gpu_x", &self.x),
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
        for (name, buf) in [
            ("gpu_x", &self.x),
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
