//! Timestamp queries of a GPU backend (`device::timing` describes what they measure and
//! holds the report).

use crate::device::gpu::GpuContext;
use crate::device::timing::{KernelTime, KernelTimes};

/// Steps per chunk whose dispatches are timed.
pub const TIMED_STEPS: u32 = 4;

/// Passes (two timestamps each) one chunk's timed steps may use.
const MAX_PASSES: u32 = 64;

/// Timestamp queries of one backend: the passes of the timed steps since the last `collect`
/// and the totals per kind so far.
pub struct KernelTimer {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    /// The kind of each pass written since the last collect.
    passes: Vec<&'static str>,
    /// Whether the passes have been resolved into `resolve`.
    resolved: bool,
    /// ns per tick.
    period: f64,
    /// (kind, dispatches, ns), in first-seen order.
    totals: Vec<(&'static str, u64, f64)>,
    /// Steps whose dispatches were all timed.
    timed_steps: u64,
}

impl KernelTimer {
    /// None where the device was opened without timestamp queries.
    pub fn new(ctx: &GpuContext) -> Option<Self> {
        if !ctx.timestamps {
            return None;
        }
        let set = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("kernel times"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * MAX_PASSES,
        });
        let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kernel times"),
            size: 16 * MAX_PASSES as u64,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Some(KernelTimer {
            set,
            resolve,
            passes: Vec::new(),
            resolved: false,
            period: ctx.queue.get_timestamp_period() as f64,
            totals: Vec::new(),
            timed_steps: 0,
        })
    }

    /// Whether `passes` more passes fit before the next `collect`.
    pub fn has_room(&self, passes: u32) -> bool {
        !self.resolved && self.passes.len() as u32 + passes <= MAX_PASSES
    }

    /// A compute pass of one dispatch of `kind`, with its two timestamps. Callers check
    /// `has_room` for the step first.
    pub fn pass<'e>(
        &mut self,
        enc: &'e mut wgpu::CommandEncoder,
        kind: &'static str,
    ) -> wgpu::ComputePass<'e> {
        let i = self.passes.len() as u32;
        debug_assert!(i < MAX_PASSES);
        self.passes.push(kind);
        enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(kind),
            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                query_set: &self.set,
                beginning_of_pass_write_index: Some(2 * i),
                end_of_pass_write_index: Some(2 * i + 1),
            }),
        })
    }

    /// Counts one step whose dispatches were all timed.
    pub fn step_timed(&mut self) {
        self.timed_steps += 1;
    }

    /// Resolves the passes written so far into the readback buffer (end of the encoder
    /// that wrote them).
    pub fn resolve(&mut self, enc: &mut wgpu::CommandEncoder) {
        if self.passes.is_empty() || self.resolved {
            return;
        }
        enc.resolve_query_set(&self.set, 0..2 * self.passes.len() as u32, &self.resolve, 0);
        self.resolved = true;
    }

    /// Reads the resolved timestamps back (after the submission that resolved them) and adds
    /// them to the totals.
    pub fn collect(&mut self, ctx: &GpuContext) -> anyhow::Result<()> {
        if !self.resolved {
            return Ok(());
        }
        let ticks: Vec<u64> =
            crate::device::buffers::read_back(ctx, &self.resolve, 0, 2 * self.passes.len())?;
        for (kind, t) in self.passes.iter().zip(ticks.chunks_exact(2)) {
            let ns = t[1].saturating_sub(t[0]) as f64 * self.period;
            match self.totals.iter_mut().find(|(k, _, _)| k == kind) {
                Some(e) => {
                    e.1 += 1;
                    e.2 += ns;
                }
                None => self.totals.push((kind, 1, ns)),
            }
        }
        self.passes.clear();
        self.resolved = false;
        Ok(())
    }

    /// Steps whose dispatches were all timed so far.
    pub fn timed_steps(&self) -> u64 {
        self.timed_steps
    }

    /// The totals so far.
    pub fn report(&self) -> KernelTimes {
        KernelTimes {
            source: "timestamp queries",
            note: format!(
                "device time of each dispatch (a pass of its own, timestamps at its beginning \
                 and end) over {TIMED_STEPS} steps of each chunk of steps between readbacks: \
                 {} steps timed",
                self.timed_steps
            ),
            kinds: self
                .totals
                .iter()
                .map(|&(kind, n, ns)| KernelTime {
                    kind,
                    dispatches: n,
                    total_ms: ns * 1e-6,
                    mean_us: if n > 0 { ns * 1e-3 / n as f64 } else { 0.0 },
                })
                .collect(),
        }
    }
}
