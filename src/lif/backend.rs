//! The operations every model L backend implements (CPU and GPU).

use crate::lif::record::LifRecording;

/// A model L simulation on some backend; it records on its own side.
pub trait LifBackend: Send {
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
