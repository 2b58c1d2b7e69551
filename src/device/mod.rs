//! Where a simulation runs: the CPU (with its instruction-set level) or a GPU through wgpu;
//! the GPU context, buffers and shader sources.

pub mod buffers;
pub mod constants;
pub mod gpu;
pub mod isa;
pub mod kernels;
pub mod layout;
pub mod shaders;

pub use gpu::{AdapterReport, GpuContext, NO_ADAPTER_FIX, list_adapters};

/// Which backend to run on.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// The GPU if an adapter exists, else the CPU with a one-line notice.
    Auto,
    Cpu,
    Gpu,
}
