//! Host side of the model H kernels (`shaders/hydro.wgsl`): buffers sized from the adapter's
//! limits, many steps encoded per submission, records read back once per chunk.

use super::buffers;
use super::context::GpuContext;
use crate::backend::HydroBackend;
use crate::config::Coupling;
use crate::model::hydro::{HydroConsts, POISSON_GUIDE_CAP, POISSON_TABLE_CAP};
use crate::record::{PowerSums, RecordSample};
use std::sync::Arc;

/// Must match the constants of shaders/hydro.wgsl.
pub const HYDRO_WG: u64 = 256;
pub const HYDRO_ITEMS: u64 = 16;
pub const HYDRO_PART: u64 = 6;
pub const HYDRO_REC_STRIDE: usize = 24;
const TABLE_STRIDE: u64 = 4 + POISSON_TABLE_CAP as u64 + POISSON_GUIDE_CAP as u64;
/// Steps encoded in one command buffer.
pub const STEPS_PER_SUBMIT: u32 = 256;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
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
struct HydroState {
    step: u32,
    spikes: [u32; 2],
    record_index: u32,
    lambda: [f32; 2],
    lambda_lo: [f32; 2],
}

/// Bytes of device memory a model H network of `n` per population needs.
pub fn hydro_gpu_bytes(n: u64, coupling: Coupling) -> u64 {
    let per_wg = HYDRO_WG * HYDRO_ITEMS;
    let n_pad = n.div_ceil(per_wg) * per_wg;
    let x = 2 * n_pad * 4;
    let spikes = if coupling == Coupling::Shared { x } else { 16 };
    x + spikes + 2 * n_pad / per_wg * HYDRO_PART * 4 + 2 * TABLE_STRIDE * 4
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
    record_capacity: u32,
    bind: wgpu::BindGroup,
    update: wgpu::ComputePipeline,
    finalize: wgpu::ComputePipeline,
    grid: (u32, u32),
    n: u32,
    n_pad: u32,
    initial: RecordSample,
}

impl HydroGpu {
    pub fn new(
        ctx: Arc<GpuContext>,
        c: HydroConsts,
        replica: u32,
        shift: [f64; 2],
    ) -> anyhow::Result<Self> {
        let n = c.n as u64;
        let per_wg = HYDRO_WG * HYDRO_ITEMS;
        let n_pad = n.div_ceil(per_wg) * per_wg;
        let x_bytes = 2 * n_pad * 4;
        let max_bind = ctx.limits.max_storage_buffer_binding_size;
        let max_buf = ctx.limits.max_buffer_size;
        if x_bytes > max_bind.min(max_buf) {
            anyhow::bail!(
                "n = {n} per population needs a {x_bytes}-byte state buffer; the adapter {} allows {} bytes per storage binding and {} per buffer (largest n here: {})",
                ctx.report.name,
                max_bind,
                max_buf,
                max_bind.min(max_buf) / 8 / per_wg * per_wg
            );
        }
        let wg_per_pop = (n_pad / per_wg) as u32;
        let record_capacity = 4096u32;
        let params = HydroParams {
            n: c.n,
            n_pad: n_pad as u32,
            wg_per_pop,
            record_every: 1,
            replica,
            key_lo: c.key[0],
            key_hi: c.key[1],
            coupling: match c.coupling {
                Coupling::Shared => 1,
                _ => 0,
            },
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
        let pbuf = buffers::uniform_from(&ctx, "hydro params", &params);
        let x = buffers::storage_zeroed(&ctx, "hydro x", x_bytes);
        let spikes_bytes = if c.coupling == Coupling::Shared {
            x_bytes
        } else {
            16
        };
        let spikes = buffers::storage_zeroed(&ctx, "hydro spikes", spikes_bytes);
        let partials = buffers::storage_zeroed(
            &ctx,
            "hydro partials",
            2 * wg_per_pop as u64 * HYDRO_PART * 4,
        );
        let state = buffers::storage_zeroed(&ctx, "hydro state", 32);
        let tables = buffers::storage_zeroed(&ctx, "hydro tables", 2 * TABLE_STRIDE * 4);
        let records = buffers::storage_zeroed(
            &ctx,
            "hydro records",
            (record_capacity as u64 + 1) * HYDRO_REC_STRIDE as u64 * 4,
        );
        let layout = ctx
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("hydro"),
                entries: &(0..7)
                    .map(|i| wgpu::BindGroupLayoutEntry {
                        binding: i,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: wgpu::BindingType::Buffer {
                            ty: if i == 0 {
                                wgpu::BufferBindingType::Uniform
                            } else {
                                wgpu::BufferBindingType::Storage { read_only: false }
                            },
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    })
                    .collect::<Vec<_>>(),
            });
        let pl = ctx
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("hydro"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let mk = |entry: &str| ctx.pipeline_with_layout("hydro", crate::shaders::HYDRO, entry, &pl);
        let init = mk("init")?;
        let finalize_init = mk("finalize_init")?;
        let update = mk("update")?;
        let finalize = mk("finalize")?;
        let bind = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("hydro"),
            layout: &layout,
            entries: &[&pbuf, &x, &spikes, &partials, &state, &tables, &records]
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect::<Vec<_>>(),
        });
        let grid = buffers::grid_2d(&ctx, 2 * n_pad / HYDRO_ITEMS, HYDRO_WG as u32)?;
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("init"),
            });
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_bind_group(0, &bind, &[]);
            pass.set_pipeline(&init);
            pass.dispatch_workgroups(grid.0, grid.1, 1);
            pass.set_pipeline(&finalize_init);
            pass.dispatch_workgroups(1, 1, 1);
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
            record_capacity,
            bind,
            update,
            finalize,
            grid,
            n: c.n,
            n_pad: n_pad as u32,
            initial: RecordSample {
                step: 0,
                sums: [PowerSums::default(); 2],
                lambda: [0.0; 2],
            },
        };
        let first = g.take_records()?;
        g.initial = *first
            .first()
            .ok_or_else(|| anyhow::anyhow!("GPU init wrote no record"))?;
        Ok(g)
    }

    /// Reads the records written since the last call and resets the record index.
    fn take_records(&mut self) -> anyhow::Result<Vec<RecordSample>> {
        let st: Vec<HydroState> = buffers::read_back(&self.ctx, &self.state, 0, 1)?;
        let count = st[0].record_index as usize;
        let raw: Vec<f32> =
            buffers::read_back(&self.ctx, &self.records, 0, count * HYDRO_REC_STRIDE)?;
        let mut reset = st[0];
        reset.record_index = 0;
        self.ctx
            .queue
            .write_buffer(&self.state, 0, bytemuck::bytes_of(&reset));
        Ok(raw
            .chunks_exact(HYDRO_REC_STRIDE)
            .map(|r| {
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
            })
            .collect())
    }
}

impl HydroBackend for HydroGpu {
    fn name(&self) -> String {
        format!("gpu ({})", self.ctx.report.name)
    }

    fn initial_record(&mut self) -> anyhow::Result<RecordSample> {
        Ok(self.initial)
    }

    fn advance(&mut self, steps: u32, record_every: u32) -> anyhow::Result<Vec<RecordSample>> {
        self.params.record_every = record_every;
        let mut out = Vec::new();
        let mut left = steps;
        while left > 0 {
            // Keep each chunk's records within the record buffer.
            let max_steps = (self.record_capacity * record_every).min(STEPS_PER_SUBMIT * 16);
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
                    for _ in 0..k {
                        pass.set_pipeline(&self.update);
                        pass.dispatch_workgroups(self.grid.0, self.grid.1, 1);
                        pass.set_pipeline(&self.finalize);
                        pass.dispatch_workgroups(1, 1, 1);
                    }
                }
                self.ctx.queue.submit([enc.finish()]);
                done += k;
            }
            out.extend(self.take_records()?);
            left -= chunk;
        }
        Ok(out)
    }

    fn snapshot(&mut self) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        // The device buffers that carry state from step to step, raw (the partials and
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
            let b = crate::backend::blob(blobs, name)?;
            anyhow::ensure!(
                b.len() as u64 == buf.size(),
                "checkpoint `{name}` has {} bytes, this network's buffer {}",
                b.len(),
                buf.size()
            );
            self.ctx.queue.write_buffer(buf, 0, b);
        }
        self.ctx.wait()?;
        Ok(())
    }

    fn state(&mut self) -> anyhow::Result<Vec<f32>> {
        let n = self.n as usize;
        let mut x: Vec<f32> = buffers::read_back(&self.ctx, &self.x, 0, n)?;
        x.extend(buffers::read_back::<f32>(
            &self.ctx,
            &self.x,
            self.n_pad as u64,
            n,
        )?);
        Ok(x)
    }
}
