//! Batched replicas of a model H run (`replicas: R`): R independent networks, replica
//! indices `replica .. replica + R`, stepped together on the CPU backend (rayon over replicas
//! and, within each, over neurons). Replica r draws from counters with replica word r, so it
//! is bit for bit the single run with `replica: r`. Writes DIR/replica_<r>/moments.csv per
//! replica, DIR/theory.csv and DIR/run.json (per-replica late-time comparisons, total
//! throughput).

use crate::backend::cpu::HydroCpu;
use crate::backend::{BackendChoice, HydroBackend};
use crate::config::{ConfigError, HydroSetup};
use crate::model::hydro::HydroConsts;
use crate::record::{self, RecordSample};
use crate::run::{self, LatePopulation, RunOptions};
use crate::theory::hydro_limit as hl;
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

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
    pub config: crate::config::HydroConfig,
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
) -> anyhow::Result<run::RunSummary> {
    if opts.backend == BackendChoice::Gpu {
        return Err(ConfigError(
            "replicas > 1 runs on the CPU backend in this version (use --backend cpu or auto)"
                .into(),
        )
        .into());
    }
    if opts.checkpoint_every.is_some() || opts.resume {
        return Err(ConfigError("checkpoints are not available with replicas > 1".into()).into());
    }
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", opts.out.display()))?;
    let c = HydroConsts::new(&s);
    let shift = run::moment_shift(&s);
    let first = s.config.replica;
    let r_count = s.config.replicas;
    let mut backends: Vec<HydroCpu> = (0..r_count)
        .into_par_iter()
        .map(|r| HydroCpu::new(c, first + r, shift))
        .collect();
    let mut samples: Vec<Vec<RecordSample>> = backends
        .iter_mut()
        .map(|b| b.initial_record().map(|x| vec![x]))
        .collect::<anyhow::Result<_>>()?;
    let setup_seconds = t_setup.elapsed().as_secs_f64();
    let every = s.config.record_every;
    let per_chunk = (2000 / every).max(1) * every;
    let bar = crate::progress::bar(s.steps, opts.progress);
    let t_step = Instant::now();
    let mut done = 0u64;
    while done < s.steps {
        let k = per_chunk.min(s.steps - done);
        let chunk: Vec<Vec<RecordSample>> = backends
            .par_iter_mut()
            .map(|b| b.advance(k as u32, every as u32))
            .collect::<anyhow::Result<_>>()?;
        for (all, new) in samples.iter_mut().zip(chunk) {
            all.extend(new);
        }
        done += k;
        bar.set_position(done);
    }
    bar.finish_and_clear();
    let stepping_seconds = t_step.elapsed().as_secs_f64();
    let theory = hl::trajectory(&s.theory_params(), &run::record_times(&s)).ok();
    if let Some(pts) = &theory {
        run::write_theory_csv(&opts.out.join("theory.csv"), pts, Some(s.config.n as f64))?;
    }
    let mut per_replica = Vec::new();
    for (r, smp) in samples.iter().enumerate() {
        let dir = opts.out.join(format!("replica_{}", first + r as u32));
        std::fs::create_dir_all(&dir)?;
        let rows = run::rows_from_samples(&s, shift, smp);
        run::write_moments_csv(&dir.join("moments.csv"), &rows, &s.config.record)?;
        per_replica.push(ReplicaSummary {
            replica: first + r as u32,
            late_time: theory
                .as_ref()
                .map(|pts| {
                    run::late_time_comparison(
                        &rows,
                        pts,
                        s.config.n as f64,
                        run::scheme_offsets(&s),
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
        backend: backends
            .first()
            .map(|b| b.name())
            .unwrap_or_else(|| "cpu".into()),
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
    Ok(run::RunSummary {
        status: "complete",
        balnet_version: env!("CARGO_PKG_VERSION"),
        model: "hydro",
        backend: summary.backend,
        adapter: None,
        config: s.config.clone(),
        steps: s.steps,
        h: s.h,
        rates: s.rates,
        stiffness_number: s.stiffness,
        warnings: s.warnings.clone(),
        setup_seconds,
        stepping_seconds,
        neuron_steps_per_second: nsps,
        late_time: Vec::new(),
        error: None,
    })
}
