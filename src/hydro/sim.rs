//! Batched replicas of a model H run (`replicas: R`): R independent networks, replica
//! indices `replica .. replica + R`, stepped together: on the GPU in the same dispatches (one
//! batch, or several where one does not fit a storage binding), on the CPU with rayon over
//! replicas and, within each, over neurons. Replica r draws from counters with replica word r,
//! so it is bit for bit the single run with `replica: r` on the same backend. A batch may also
//! mix seeds (`Member`): sweeps over seeds use that. Writes DIR/replica_<r>/moments.csv per
//! replica, DIR/theory.csv and DIR/run.json (per-replica late-time comparisons, total
//! throughput).

use crate::config::ConfigError;
use crate::device::BackendChoice;
use crate::device::gpu::GpuContext;
use crate::hydro::backend::HydroBackend;
use crate::hydro::config::HydroSetup;
use crate::hydro::cpu::HydroCpu;
use crate::hydro::gpu::{HydroGpu, HydroLayout, Member};
use crate::hydro::output::{self, LatePopulation, RunOptions};
use crate::hydro::record::RecordSample;
use crate::hydro::step::HydroConsts;
use crate::hydro::theory as hl;
use crate::io as record;
use rayon::prelude::*;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// Networks stepped together, on one backend.
pub enum Batch {
    Cpu(Vec<HydroCpu>),
    /// Consecutive GPU batches (more than one only when the members' state does not fit one
    /// storage binding).
    Gpu(Vec<HydroGpu>),
}

impl Batch {
    /// One network per member on `choice` (`auto`: the GPU when an adapter exists).
    pub fn open(
        s: &HydroSetup,
        members: &[Member],
        choice: BackendChoice,
        shift: [f64; 2],
    ) -> anyhow::Result<Batch> {
        let c = HydroConsts::new(s);
        match output::gpu_context(choice)? {
            None => Ok(Batch::Cpu(
                members
                    .par_iter()
                    .map(|m| HydroCpu::new(HydroConsts { key: m.key, ..c }, m.replica, shift))
                    .collect(),
            )),
            Some(ctx) => Ok(Batch::Gpu(gpu_batches(ctx, c, members, shift)?)),
        }
    }

    pub fn name(&self) -> String {
        match self {
            Batch::Cpu(b) => b.first().map(|b| b.name()).unwrap_or_default(),
            Batch::Gpu(b) => b.first().map(|b| b.name()).unwrap_or_default(),
        }
    }

    /// The GPU adapter's description (None on the CPU).
    pub fn adapter(&self) -> Option<String> {
        match self {
            Batch::Cpu(_) => None,
            Batch::Gpu(b) => b.first().map(|g| g.adapter()),
        }
    }

    /// Per member, the population sums of its initial state.
    pub fn initial_records(&mut self) -> anyhow::Result<Vec<RecordSample>> {
        match self {
            Batch::Cpu(b) => b.iter_mut().map(|b| b.initial_record()).collect(),
            Batch::Gpu(b) => Ok(b.iter().flat_map(|g| g.initial_records()).collect()),
        }
    }

    /// The state x of member i (E neurons then I neurons).
    pub fn state(&mut self, i: usize) -> anyhow::Result<Vec<f32>> {
        match self {
            Batch::Cpu(b) => b[i].state(),
            Batch::Gpu(b) => {
                let mut i = i;
                for g in b.iter() {
                    let r = g.replicas() as usize;
                    if i < r {
                        return g.replica_state(i as u32);
                    }
                    i -= r;
                }
                anyhow::bail!("no member {i} in this batch")
            }
        }
    }

    /// Advances every member `steps` steps; per member, its record samples.
    pub fn advance(
        &mut self,
        steps: u32,
        record_every: u32,
    ) -> anyhow::Result<Vec<Vec<RecordSample>>> {
        match self {
            Batch::Cpu(b) => b
                .par_iter_mut()
                .map(|b| b.advance(steps, record_every))
                .collect(),
            Batch::Gpu(b) => {
                let mut out = Vec::new();
                for g in b {
                    out.extend(g.advance_replicas(steps, record_every)?);
                }
                Ok(out)
            }
        }
    }
}

/// The members split into as few GPU batches as the adapter's storage-binding limit allows,
/// and small enough that each batch's alias tables fit one uniform-buffer binding when one
/// network's do (uniform reads are much cheaper than storage reads on CPU devices).
fn gpu_batches(
    ctx: Arc<GpuContext>,
    c: HydroConsts,
    members: &[Member],
    shift: [f64; 2],
) -> anyhow::Result<Vec<HydroGpu>> {
    let max_uniform = ctx.limits.max_uniform_buffer_binding_size;
    let one = HydroLayout::new(c.n as u64, 1, &c, ctx.is_cpu_device(), max_uniform);
    let limit = ctx
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size);
    let mut per_batch = (limit / (2 * one.n_pad * 4)).max(1);
    if one.tables_uniform {
        per_batch =
            per_batch.min(HydroLayout::uniform_table_bytes(max_uniform) / one.table_bytes());
    }
    members
        .chunks(per_batch.max(1) as usize)
        .map(|m| HydroGpu::new(ctx.clone(), c, m, shift))
        .collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct ReplicaSummary {
    pub replica: u32,
    pub late_time: Vec<LatePopulation>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReplicasRunSummary {
    pub status: &'static str,
    pub balnet_version: &'static str,
    pub model: &'static str,
    pub backend: String,
    pub config: crate::hydro::config::HydroConfig,
    pub steps: u64,
    pub replicas: u32,
    pub setup_seconds: f64,
    pub stepping_seconds: f64,
    /// Over all replicas: R 2n steps / stepping seconds.
    pub neuron_steps_per_second: f64,
    pub per_replica: Vec<ReplicaSummary>,
    pub warnings: Vec<String>,
}

pub fn run_replicas(
    s: HydroSetup,
    opts: &RunOptions,
    t_setup: Instant,
) -> anyhow::Result<output::RunSummary> {
    if opts.checkpoint_every.is_some() || opts.resume {
        return Err(ConfigError("checkpoints are not available with replicas > 1".into()).into());
    }
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", opts.out.display()))?;
    let shift = output::moment_shift(&s);
    let first = s.config.replica;
    let r_count = s.config.replicas;
    let key = crate::rng::seed_key(s.config.seed);
    let members: Vec<Member> = (0..r_count)
        .map(|r| Member {
            key,
            replica: first + r,
        })
        .collect();
    let mut batch = Batch::open(&s, &members, opts.backend, shift)?;
    let mut samples: Vec<Vec<RecordSample>> = batch
        .initial_records()?
        .into_iter()
        .map(|x| vec![x])
        .collect();
    let setup_seconds = t_setup.elapsed().as_secs_f64();
    let every = s.config.record_every;
    let per_chunk = (2000 / every).max(1) * every;
    let bar = crate::progress::bar(s.steps, opts.progress);
    let t_step = Instant::now();
    let mut done = 0u64;
    while done < s.steps {
        let k = per_chunk.min(s.steps - done);
        let chunk = batch.advance(k as u32, every as u32)?;
        for (all, new) in samples.iter_mut().zip(chunk) {
            all.extend(new);
        }
        done += k;
        bar.set_position(done);
    }
    bar.finish_and_clear();
    let stepping_seconds = t_step.elapsed().as_secs_f64();
    let theory = hl::trajectory(&s.theory_params(), &output::record_times(&s)).ok();
    if let Some(pts) = &theory {
        output::write_theory_csv(&opts.out.join("theory.csv"), pts, Some(s.config.n as f64))?;
    }
    let mut per_replica = Vec::new();
    for (r, smp) in samples.iter().enumerate() {
        let dir = opts.out.join(format!("replica_{}", first + r as u32));
        std::fs::create_dir_all(&dir)?;
        let rows = output::rows_from_samples(&s, shift, smp);
        output::write_moments_csv(&dir.join("moments.csv"), &rows, &s.config.record)?;
        per_replica.push(ReplicaSummary {
            replica: first + r as u32,
            late_time: theory
                .as_ref()
                .map(|pts| {
                    output::late_time_comparison(
                        &rows,
                        pts,
                        s.config.n as f64,
                        output::scheme_offsets(&s),
                    )
                })
                .unwrap_or_default(),
        });
    }
    let nsps = r_count as f64 * 2.0 * s.config.n as f64 * done as f64 / stepping_seconds.max(1e-12);
    let summary = ReplicasRunSummary {
        status: "complete",
        balnet_version: env!("CARGO_PKG_VERSION"),
        model: "hydro",
        backend: batch.name(),
        config: s.config.clone(),
        steps: s.steps,
        replicas: r_count,
        setup_seconds,
        stepping_seconds,
        neuron_steps_per_second: nsps,
        per_replica,
        warnings: s.warnings.clone(),
    };
    record::write_json(&opts.out.join("run.json"), &summary)?;
    Ok(output::RunSummary {
        status: "complete",
        setup_seconds,
        stepping_seconds,
        neuron_steps_per_second: nsps,
        ..output::RunSummary::running(&s, summary.backend, batch.adapter())
    })
}

/// Runs model H configs that differ only in their seed as one batch (a sweep's seeds at small
/// n on the GPU): each config's directory gets exactly the files, and the numbers, of its
/// single run on the same backend; timings are the batch's. Returns one result per config.
pub fn run_seed_batch(
    runs: &[(crate::hydro::config::HydroConfig, std::path::PathBuf)],
    backend: BackendChoice,
) -> anyhow::Result<Vec<anyhow::Result<()>>> {
    let t_setup = Instant::now();
    let Some((first, _)) = runs.first() else {
        return Ok(Vec::new());
    };
    let s = first.clone().validate(false)?;
    let setups: Vec<HydroSetup> = runs
        .iter()
        .map(|(c, _)| c.clone().validate(false))
        .collect::<Result<_, _>>()?;
    let members: Vec<Member> = setups
        .iter()
        .map(|m| Member {
            key: crate::rng::seed_key(m.config.seed),
            replica: m.config.replica,
        })
        .collect();
    let shift = output::moment_shift(&s);
    let theory = hl::trajectory(&s.theory_params(), &output::record_times(&s)).ok();
    let mut batch = Batch::open(&s, &members, backend, shift)?;
    let name = batch.name();
    let note = format!(
        "stepped in one batch of {} sweep points (seeds); timings are the batch's",
        runs.len()
    );
    for (m, (_, dir)) in setups.iter().zip(runs) {
        std::fs::create_dir_all(dir)?;
        let mut summary = output::RunSummary::running(m, name.clone(), batch.adapter());
        summary.warnings.push(note.clone());
        record::write_json(&dir.join("run.json"), &summary)?;
    }
    let mut samples: Vec<Vec<RecordSample>> = batch
        .initial_records()?
        .into_iter()
        .map(|x| vec![x])
        .collect();
    let mut failure: Vec<Option<String>> = vec![None; runs.len()];
    let setup_seconds = t_setup.elapsed().as_secs_f64();
    let every = s.config.record_every;
    let per_chunk = (2000 / every).max(1) * every;
    let t_step = Instant::now();
    let mut done = 0u64;
    while done < s.steps && failure.iter().any(Option::is_none) {
        let k = per_chunk.min(s.steps - done);
        let chunk = batch.advance(k as u32, every as u32)?;
        for (i, new) in chunk.into_iter().enumerate() {
            if failure[i].is_none() {
                samples[i].extend(new);
                failure[i] = output::non_finite_failure(&setups[i], shift, &samples[i]);
            }
        }
        done += k;
    }
    let stepping_seconds = t_step.elapsed().as_secs_f64();
    let nsps =
        runs.len() as f64 * 2.0 * s.config.n as f64 * done as f64 / stepping_seconds.max(1e-12);
    let mut out = Vec::new();
    for (i, (m, (_, dir))) in setups.iter().zip(runs).enumerate() {
        let mut summary = output::RunSummary::running(m, name.clone(), batch.adapter());
        summary.warnings.push(note.clone());
        summary.setup_seconds = setup_seconds;
        summary.stepping_seconds = stepping_seconds;
        summary.neuron_steps_per_second = nsps;
        let state = if m.config.save_state && failure[i].is_none() {
            Some(batch.state(i)?)
        } else {
            None
        };
        let f = failure[i].take();
        out.push(
            output::finish_run(
                m,
                shift,
                theory.as_deref(),
                &samples[i],
                state,
                f,
                summary,
                dir,
            )
            .map(|_| ()),
        );
    }
    Ok(out)
}
