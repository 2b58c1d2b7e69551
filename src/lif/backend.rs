//! The operations every model L backend implements (CPU and GPU).

use crate::lif::config::LifSetup;
use crate::lif::record::{LifRecording, SpikeChunk};

/// A model L simulation on some backend; it records on its own side.
pub trait LifBackend: Send {
    fn name(&self) -> String;
    /// Advances `steps` steps (warm-up first, then recorded steps).
    fn advance(&mut self, steps: u32) -> anyhow::Result<()>;
    fn steps_done(&self) -> u64;
    /// What was recorded so far.
    fn recording(&mut self) -> anyhow::Result<LifRecording>;
    /// The host's side of the recording, without reading the device: rate bins, raster, V
    /// histogram and recorded time are current; per-neuron statistics only on the CPU (use
    /// `recording` for them).
    fn host_recording(&self) -> &LifRecording;
    /// The spikes of the neurons `record.spikes` selects, recorded since the last
    /// `clear_spikes` (on the host, after each `advance`).
    fn spikes(&self) -> &SpikeChunk;
    fn clear_spikes(&mut self);
    /// Everything that carries from step to step (neuron state, delay ring or input
    /// counters, spike lists, step counter, the recording so far) as named byte blobs, to
    /// continue bit for bit on the same kind of backend.
    fn snapshot(&mut self) -> anyhow::Result<Vec<(String, Vec<u8>)>>;
    /// Restores a `snapshot` of a backend of the same kind and network.
    fn restore(&mut self, blobs: &[(String, Vec<u8>)]) -> anyhow::Result<()>;
    /// (synapse count, bytes per synapse) of stored connectivity, if any.
    fn synapses(&self) -> Option<(u64, f64)>;
    /// Seconds spent building the network.
    fn build_seconds(&self) -> f64;
    /// Takes the external drive of `s` (K_X nu_X dt and what derives from it), a setup of
    /// this network that differs only in nu_X; the next step uses it.
    fn set_drive(&mut self, s: &LifSetup) -> anyhow::Result<()>;
}
