//! The operations every model H backend implements (CPU and GPU).

use crate::hydro::record::RecordSample;

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
    /// Takes the deterministic drive per step (`HydroConsts::drive`) from the next step on.
    fn set_drive(&mut self, drive: [f32; 2]);
}
