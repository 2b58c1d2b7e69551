//! Buffer creation and readback. Readback is only ever done at record points, never per step.

use crate::device::gpu::GpuContext;
use bytemuck::Pod;
use wgpu::util::DeviceExt;

/// Storage buffer initialised from `data` (readable back, writable from the host).
pub fn storage_from<T: Pod>(ctx: &GpuContext, label: &str, data: &[T]) -> wgpu::Buffer {
    let bytes: &[u8] = bytemuck::cast_slice(data);
    if bytes.is_empty() {
        return storage_zeroed(ctx, label, 16);
    }
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        })
}

/// Zero-filled storage buffer of `size` bytes (rounded up to 16).
pub fn storage_zeroed(ctx: &GpuContext, label: &str, size: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size.max(16).div_ceil(16) * 16,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// Uniform buffer holding one `T`.
pub fn uniform_from<T: Pod>(ctx: &GpuContext, label: &str, value: &T) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
}

/// A bind group binding `buffers` at 0, 1, 2, ... of group 0 of `pipeline`.
pub fn bind_all(
    ctx: &GpuContext,
    pipeline: &wgpu::ComputePipeline,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    bind_buffers(ctx, None, &pipeline.get_bind_group_layout(0), buffers)
}

/// A bind group of `layout` binding `buffers` (whole) at 0, 1, 2, ...
pub fn bind_buffers(
    ctx: &GpuContext,
    label: Option<&str>,
    layout: &wgpu::BindGroupLayout,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label,
        layout,
        entries: &entries,
    })
}

/// Copies `count` elements of `T` starting at element `offset` back to the host (blocks).
pub fn read_back<T: Pod>(
    ctx: &GpuContext,
    buffer: &wgpu::Buffer,
    offset: u64,
    count: usize,
) -> anyhow::Result<Vec<T>> {
    let elem = std::mem::size_of::<T>() as u64;
    let size = count as u64 * elem;
    if size == 0 {
        return Ok(Vec::new());
    }
    let padded = size.div_ceil(4) * 4;
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: padded,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback"),
        });
    enc.copy_buffer_to_buffer(buffer, offset * elem, &staging, 0, padded);
    ctx.queue.submit([enc.finish()]);
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    ctx.wait()?;
    rx.recv()
        .map_err(|_| anyhow::anyhow!("GPU readback was dropped"))?
        .map_err(|e| anyhow::anyhow!("GPU readback failed: {e}"))?;
    let view = staging
        .get_mapped_range(..)
        .map_err(|e| anyhow::anyhow!("GPU readback mapping failed: {e}"))?;
    let out: Vec<T> = bytemuck::pod_collect_to_vec(&view[..size as usize]);
    drop(view);
    staging.unmap();
    Ok(out)
}

/// Workgroup grid for `items` invocations at `wg_size` per workgroup, split over x and y so
/// that no dimension exceeds the adapter's limit. Kernels recover the flat index as
/// `gid.x + gid.y * (num_workgroups.x * wg_size)`.
pub fn grid_2d(ctx: &GpuContext, items: u64, wg_size: u32) -> anyhow::Result<(u32, u32)> {
    let groups = items.div_ceil(wg_size as u64).max(1);
    let max = ctx.limits.max_compute_workgroups_per_dimension as u64;
    if groups <= max {
        return Ok((groups as u32, 1));
    }
    let y = groups.div_ceil(max);
    if y > max {
        anyhow::bail!(
            "{items} items need {groups} workgroups of {wg_size}: more than {max} x {max} (adapter limit)"
        );
    }
    Ok((groups.div_ceil(y) as u32, y as u32))
}
