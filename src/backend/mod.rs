//! Backends: the CPU reference and the GPU (wgpu) path, driven through one trait.

pub mod cpu;
pub mod gpu;
pub mod isa;
pub mod lif_cpu;

use crate::record::RecordSample;
use crate::record::lif::LifRecording;

/// A model L simulation on some backend; it records on its own side.
pub trait LifBackend {
    fn name(&self) -> String;
    /// Advances `steps` steps (warm-up first, then recorded steps).
    fn advance(&mut self, steps: u32) -> anyhow::Result<()>;
    fn steps_done(&self) -> u64;
    /// What was recorded so far.
    fn recording(&mut self) -> anyhow::Result<LifRecording>;
    /// (synapse count, bytes per synapse) of stored connectivity, if any.
    fn synapses(&self) -> Option<(u64, f64)>;
    /// Seconds spent building the network.
    fn build_seconds(&self) -> f64;
}

/// A model H simulation on some backend. The driver calls `advance` in chunks; the backend
/// records on its own side and hands back the record points of the chunk.
pub trait HydroBackend {
    /// "cpu (2 threads)" or "gpu (adapter name)".
    fn name(&self) -> String;
    /// Population sums of the current state (for the t = 0 row).
    fn initial_record(&mut self) -> anyhow::Result<RecordSample>;
    /// Advances `steps` steps and returns the samples taken after every step whose count of
    /// completed steps is a multiple of `record_every`.
    fn advance(&mut self, steps: u32, record_every: u32) -> anyhow::Result<Vec<RecordSample>>;
    /// The full state x (E neurons then I neurons).
    fn state(&mut self) -> anyhow::Result<Vec<f32>>;
    /// Everything needed to continue bit for bit on the same backend: named byte blobs.
    fn snapshot(&mut self) -> anyhow::Result<Vec<(String, Vec<u8>)>>;
    /// Restores a `snapshot` of a backend of the same kind and size.
    fn restore(&mut self, blobs: &[(String, Vec<u8>)]) -> anyhow::Result<()>;
}

/// The blob named `name` of a snapshot.
pub fn blob<'a>(blobs: &'a [(String, Vec<u8>)], name: &str) -> anyhow::Result<&'a [u8]> {
    blobs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| &v[..])
        .ok_or_else(|| anyhow::anyhow!("checkpoint has no `{name}`"))
}

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
