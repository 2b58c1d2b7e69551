//! Backends: the CPU reference and the GPU (wgpu) path.

pub mod gpu;
