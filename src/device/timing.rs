//! Device time per dispatch kind (what run.json and the benches report; `device::timer`
//! measures it), from timestamp queries where the adapter has them
//! (`wgpu::Features::TIMESTAMP_QUERY`).
//!
//! The backends batch many steps per submission in one compute pass. To time a kind of
//! dispatch (model H's update, update_record and finalize, model L's step, step_v and flush)
//! without changing that path, a few steps of each chunk (model H: its last TIMED_STEPS, which
//! hold its last record; model L: its first TIMED_STEPS and their flush) are encoded with one pass per dispatch, each pass writing a
//! timestamp at its beginning and end: the same dispatches in the same order, so the results
//! are the same bits. The query results are read back with the chunk's records (no readback
//! per step). Where the adapter has no timestamp queries, `KernelTimes::wall` reports the wall
//! time per step of the whole stepping instead, and says so.

use serde::Serialize;

/// Time of one kind of dispatch over the timed passes.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KernelTime {
    pub kind: &'static str,
    /// Timed dispatches of this kind.
    pub dispatches: u64,
    /// Their total device time (ms).
    pub total_ms: f64,
    /// Mean per dispatch (us).
    pub mean_us: f64,
}

/// What run.json's `gpu.kernel_times` and the benches report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KernelTimes {
    /// "timestamp queries" or "wall clock".
    pub source: &'static str,
    pub note: String,
    pub kinds: Vec<KernelTime>,
}

impl KernelTimes {
    /// Wall time per step of the stepping, for adapters without timestamp queries.
    pub fn wall(stepping_seconds: f64, steps: u64) -> Self {
        let mean_us = if steps > 0 {
            stepping_seconds * 1e6 / steps as f64
        } else {
            0.0
        };
        KernelTimes {
            source: "wall clock",
            note: "the adapter has no timestamp queries: wall time per step of all of a \
                   step's dispatches, submission and host work included"
                .into(),
            kinds: vec![KernelTime {
                kind: "step (all dispatches)",
                dispatches: steps,
                total_ms: stepping_seconds * 1e3,
                mean_us,
            }],
        }
    }

    /// The times of several batches that step together (consecutive GPU batches of one
    /// run): dispatches and totals added per kind; the first one's note.
    pub fn merged(all: Vec<KernelTimes>) -> Option<Self> {
        let mut it = all.into_iter();
        let mut out = it.next()?;
        for t in it {
            for k in t.kinds {
                match out.kinds.iter_mut().find(|o| o.kind == k.kind) {
                    Some(o) => {
                        o.dispatches += k.dispatches;
                        o.total_ms += k.total_ms;
                        o.mean_us = o.total_ms * 1e3 / o.dispatches.max(1) as f64;
                    }
                    None => out.kinds.push(k),
                }
            }
        }
        Some(out)
    }

    /// Mean device time per step: the sum over kinds of mean x dispatches per timed step.
    pub fn per_step_us(&self, timed_steps: u64) -> f64 {
        if timed_steps == 0 {
            return 0.0;
        }
        self.kinds.iter().map(|k| k.total_ms * 1e3).sum::<f64>() / timed_steps as f64
    }

    /// "update 12.3 us, finalize 4.5 us" (mean per dispatch; ms from 1000 us on).
    pub fn summary(&self) -> String {
        self.kinds
            .iter()
            .map(|k| {
                if k.mean_us >= 1e3 {
                    format!("{} {:.3} ms", k.kind, k.mean_us * 1e-3)
                } else {
                    format!("{} {:.2} us", k.kind, k.mean_us)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
