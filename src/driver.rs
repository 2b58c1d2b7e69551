//! The chunk loop of both models' Simulations: advance in chunks, report the records and
//! progress after each, honour cancellation, take the observer's checkpoints. What differs
//! between the models (how a chunk is stepped, what is reported, when a run has failed) is
//! the [`Chunked`] trait.

use crate::io::checkpoint::Checkpoint;
use crate::progress::{Observer, Outcome};
use crate::{Error, Result};
use std::time::Instant;

/// The largest step count a simulation reaches (step counters are u32 on the GPU, and the
/// step after the last must be representable).
pub const MAX_STEPS: u64 = u32::MAX as u64 - 1;

/// A simulation the chunk loop can drive.
pub trait Chunked {
    /// Steps done so far (warm-up included).
    fn steps_done(&self) -> u64;
    /// Steps of the configured run: the progress total, and no checkpoint is taken at it.
    fn configured_steps(&self) -> u64;
    /// The longest chunk from the current step (before the checkpoint cadence applies).
    fn chunk_steps(&self) -> u64;
    /// Whether the run cannot go on (model H: every member has failed).
    fn has_failed(&self) -> bool;
    /// Advances `steps` steps; an error is the run's failure (see `fail`).
    fn advance_chunk(&mut self, steps: u64) -> anyhow::Result<()>;
    /// Records the failure of an `advance_chunk`.
    fn fail(&mut self, message: String);
    /// Hands the records so far to the observer.
    fn report(&mut self, obs: &mut dyn Observer) -> anyhow::Result<()>;
    fn checkpoint(&mut self) -> Result<Checkpoint>;
    /// Adds wall time spent stepping.
    fn add_stepping_seconds(&mut self, seconds: f64);
}

/// Advances `sim` by `steps` steps in chunks: after each, the records and progress go to
/// `obs`, and a checkpoint is handed to it every `obs.checkpoint_every()` steps (chunks end on
/// those steps); it stops early when `obs` is cancelled (Outcome::Cancelled) or the run fails
/// (Outcome::Failed). An observer's error ends the loop with that error.
pub fn run_chunks(sim: &mut impl Chunked, steps: u64, obs: &mut dyn Observer) -> Result<Outcome> {
    let done = sim.steps_done();
    let target = done
        .checked_add(steps)
        .filter(|&t| t <= MAX_STEPS)
        .ok_or_else(|| {
            Error::Config(format!(
                "steps: {done} + {steps} exceeds the largest step count {MAX_STEPS}"
            ))
        })?;
    let total = target.max(sim.configured_steps());
    let t0 = Instant::now();
    let result = chunk_loop(sim, target, total, obs);
    sim.add_stepping_seconds(t0.elapsed().as_secs_f64());
    result
}

fn chunk_loop(
    sim: &mut impl Chunked,
    target: u64,
    total: u64,
    obs: &mut dyn Observer,
) -> Result<Outcome> {
    while sim.steps_done() < target {
        if sim.has_failed() {
            return Ok(Outcome::Failed);
        }
        if obs.cancelled() {
            return Ok(Outcome::Cancelled);
        }
        let done = sim.steps_done();
        let mut k = sim.chunk_steps().min(target - done);
        if let Some(c) = obs_every(obs) {
            k = k.min(c - done % c);
        }
        if let Err(e) = sim.advance_chunk(k) {
            sim.fail(format!("{e:#}"));
            return Ok(Outcome::Failed);
        }
        sim.report(obs)?;
        let done = sim.steps_done();
        obs.progress(done, total);
        if let Some(c) = obs_every(obs)
            && done.is_multiple_of(c)
            && done < sim.configured_steps()
        {
            let ck = sim.checkpoint()?;
            obs.on_checkpoint(&ck)?;
        }
    }
    Ok(if sim.has_failed() {
        Outcome::Failed
    } else {
        Outcome::Complete
    })
}

/// The observer's checkpoint cadence (None or 0: no checkpoints).
fn obs_every(obs: &dyn Observer) -> Option<u64> {
    obs.checkpoint_every().filter(|&c| c > 0)
}
