//! Bind-group and pipeline layouts of the compute kernels: every binding is a buffer seen by
//! the compute stage, without a minimum binding size.

use crate::device::gpu::GpuContext;

/// A buffer binding of type `ty` at `binding`, visible to compute shaders, with a dynamic
/// offset where `has_dynamic_offset`.
pub fn buffer_entry(
    binding: u32,
    ty: wgpu::BufferBindingType,
    has_dynamic_offset: bool,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset,
            min_binding_size: None,
        },
        count: None,
    }
}

/// A uniform buffer at `binding` (no dynamic offset).
pub fn uniform_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    buffer_entry(binding, wgpu::BufferBindingType::Uniform, false)
}

/// A uniform buffer at `binding` bound with a dynamic offset.
pub fn dynamic_uniform_entry(binding: u32) -> wgpu::BindGroupLayoutEntry {
    buffer_entry(binding, wgpu::BufferBindingType::Uniform, true)
}

/// A storage buffer at `binding` (no dynamic offset), read-only where `read_only`.
pub fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    buffer_entry(
        binding,
        wgpu::BufferBindingType::Storage { read_only },
        false,
    )
}

/// A bind group layout of `entries`.
pub fn group_layout(
    ctx: &GpuContext,
    label: &str,
    entries: &[wgpu::BindGroupLayoutEntry],
) -> wgpu::BindGroupLayout {
    ctx.device
        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(label),
            entries,
        })
}

/// A pipeline layout of `groups` (group i at index i; None for a group a pipeline leaves
/// unbound), without immediates.
pub fn pipeline_layout(
    ctx: &GpuContext,
    label: &str,
    groups: &[Option<&wgpu::BindGroupLayout>],
) -> wgpu::PipelineLayout {
    ctx.device
        .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(label),
            bind_group_layouts: groups,
            immediate_size: 0,
        })
}
