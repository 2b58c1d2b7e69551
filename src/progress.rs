//! How a caller follows and stops a long run: an [`Observer`] that the simulation calls
//! between chunks of steps (progress, cancellation, checkpoints), and a [`CancelToken`] that
//! another thread or a signal handler can set. The library never prints; the CLI's progress
//! bar and the Python package's tqdm bar are observers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Called by `Simulation::run` between chunks of steps (at most a few thousand steps apart).
pub trait Observer {
    /// What the run has recorded so far, after every chunk of steps (the run directory's
    /// writers append the new rows and flush them, so that a killed run keeps them). An error
    /// (a full disk) stops the run with that error.
    fn on_records(&mut self, _records: &Records<'_>) -> anyhow::Result<()> {
        Ok(())
    }
    /// `done` of `total` steps are complete.
    fn progress(&mut self, _done: u64, _total: u64) {}
    /// True stops the run at the next chunk boundary (the result says it was cancelled).
    fn cancelled(&self) -> bool {
        false
    }
    /// Take a checkpoint whenever the step count is a multiple of this.
    fn checkpoint_every(&self) -> Option<u64> {
        None
    }
    /// A checkpoint taken at the cadence of `checkpoint_every`.
    fn on_checkpoint(&mut self, _ck: &crate::io::checkpoint::Checkpoint) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Everything a simulation has recorded so far (observers keep track of what they have
/// already written).
#[derive(Clone, Copy, Debug)]
pub enum Records<'a> {
    /// Model H: member `member`'s record samples, the initial state first.
    Hydro {
        member: usize,
        samples: &'a [crate::hydro::record::RecordSample],
    },
    /// Model L: the population rate bins (the first `complete_bins` of them are final; the
    /// rest, at most one, is still filling), the raster, in time order, and the spikes of
    /// `record.spikes`' neurons in the chunk of steps just run (`spikes_before` of them came
    /// before it).
    Lif {
        bins: &'a [[u32; 2]],
        complete_bins: usize,
        raster: &'a [(f64, u32)],
        spikes: &'a crate::lif::record::SpikeChunk,
        spikes_before: u64,
    },
}

/// An observer that does nothing: a quiet run to the end.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Observer for Quiet {}

/// A flag shared between the run and whoever may stop it (a Ctrl-C handler, a GUI).
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Observer for CancelToken {
    fn cancelled(&self) -> bool {
        self.is_cancelled()
    }
}

pub use crate::io::run_json::Status;

/// How a call of `Simulation::run` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every requested step ran.
    Complete,
    /// The observer asked to stop; the steps up to the last chunk boundary ran.
    Cancelled,
    /// The state became non-finite (see the simulation's failure message).
    Failed,
}

impl Outcome {
    /// run.json's status for a run that ended with this outcome: `failed` when the run (every
    /// member of it) failed, else `interrupted` when cancelled, else `complete`.
    pub fn status(self, failed: bool) -> Status {
        if failed {
            Status::Failed
        } else if self == Outcome::Cancelled {
            Status::Interrupted
        } else {
            Status::Complete
        }
    }
}
