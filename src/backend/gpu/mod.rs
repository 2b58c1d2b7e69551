//! The GPU backend (wgpu + WGSL): device, buffers, and the host side of each kernel family.

pub mod buffers;
pub mod context;
pub mod hydro;
pub mod lif;
pub mod lif_connectivity;

pub use context::{AdapterReport, GpuContext, NO_ADAPTER_FIX, list_adapters};
