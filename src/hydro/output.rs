//! The model H run directory, written from a [`Simulation`]'s results: run.json (resolved
//! config, backend, timings, late-time comparison, warnings), moments.csv, theory.csv,
//! moments.png, state.npy; `replica_<r>/moments.csv` for batched replicas; checkpoint.bin.
//! Also `balnet theory` for model H.

use crate::config::ConfigError;
use crate::device::Device;
use crate::hydro::config::{HydroConfig, HydroSetup, Moment};
use crate::hydro::record::{self as hrec, LatePopulation, MomentRow, POP_NAMES, RecordSample};
use crate::hydro::sim::{Member, Simulation};
use crate::hydro::theory::{self as hl, TheoryPoint};
use crate::io::checkpoint::{self, Checkpoint};
use crate::io::{self as record, Csv, num};
use crate::progress::{Observer, Outcome, Quiet};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Command-line overrides of a config.
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    pub n: Option<u64>,
    pub steps: Option<u64>,
    pub seed: Option<u64>,
}

/// Where and how a run writes its directory.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub out: PathBuf,
    /// Write DIR/checkpoint.bin every this many steps.
    pub checkpoint_every: Option<u64>,
    /// Continue from DIR/checkpoint.bin (same backend kind).
    pub resume: bool,
}

impl RunOptions {
    /// A run into `out` without checkpoints.
    pub fn new(out: PathBuf) -> Self {
        RunOptions {
            out,
            checkpoint_every: None,
            resume: false,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub status: &'static str,
    pub balnet_version: &'static str,
    pub model: &'static str,
    pub backend: String,
    pub adapter: Option<String>,
    pub config: HydroConfig,
    pub steps: u64,
    pub h: [f64; 2],
    pub rates: [f64; 2],
    pub stiffness_number: f64,
    pub warnings: Vec<String>,
    pub setup_seconds: f64,
    pub stepping_seconds: f64,
    pub neuron_steps_per_second: f64,
    pub late_time: Vec<LatePopulation>,
    pub error: Option<String>,
}

impl RunSummary {
    /// The summary of a run that has started (status `running`, no timings yet).
    pub fn running(s: &HydroSetup, backend: String, adapter: Option<String>) -> Self {
        RunSummary {
            status: "running",
            balnet_version: env!("CARGO_PKG_VERSION"),
            model: "hydro",
            backend,
            adapter,
            config: s.config.clone(),
            steps: s.steps,
            h: s.h,
            rates: s.rates,
            stiffness_number: s.stiffness,
            warnings: s.warnings.clone(),
            setup_seconds: 0.0,
            stepping_seconds: 0.0,
            neuron_steps_per_second: 0.0,
            late_time: Vec::new(),
            error: None,
        }
    }
}

/// Applies the overrides and validates (`force`: run even when the stiffness number is above
/// the refusal threshold).
pub fn setup(
    mut config: HydroConfig,
    o: &Overrides,
    force: bool,
) -> Result<HydroSetup, ConfigError> {
    if let Some(n) = o.n {
        config.n = n;
    }
    if let Some(s) = o.steps {
        config.steps = Some(s);
    }
    if let Some(s) = o.seed {
        config.seed = s;
    }
    config.validate(force)
}

/// Forwards to the caller's observer and writes the checkpoints it is asked for.
struct CheckpointWriter<'a> {
    inner: &'a mut dyn Observer,
    every: Option<u64>,
    path: PathBuf,
}

impl Observer for CheckpointWriter<'_> {
    fn progress(&mut self, done: u64, total: u64) {
        self.inner.progress(done, total)
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
    fn checkpoint_every(&self) -> Option<u64> {
        self.every
    }
    fn on_checkpoint(&mut self, ck: &Checkpoint) -> anyhow::Result<()> {
        checkpoint::write(&self.path, ck)
    }
}

fn create_dir(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))
}

/// Runs a model H simulation on `device` and writes its directory. Errors after the directory
/// exists still leave run.json (status "failed", with the error) and whatever was recorded.
pub fn run(
    s: HydroSetup,
    device: &Device,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> anyhow::Result<RunSummary> {
    let t_setup = Instant::now();
    create_dir(&opts.out)?;
    if s.config.replicas > 1 {
        if opts.checkpoint_every.is_some() || opts.resume {
            return Err(
                ConfigError("checkpoints are not available with replicas > 1".into()).into(),
            );
        }
        return run_replicas(s, device, opts, obs, t_setup);
    }
    let mut sim = Simulation::new(s, device)?;
    let mut summary = RunSummary::running(
        sim.setup(),
        sim.backend_name().to_string(),
        sim.adapter().map(String::from),
    );
    let ck_path = opts.out.join("checkpoint.bin");
    if opts.resume {
        let ck = checkpoint::read(&ck_path)?;
        sim.restore(&ck)?;
        summary
            .warnings
            .push(format!("resumed from a checkpoint at step {}", ck.step));
    }
    record::write_json(&opts.out.join("run.json"), &summary)?;
    summary.setup_seconds = t_setup.elapsed().as_secs_f64();
    let mut ck = CheckpointWriter {
        inner: obs,
        every: opts.checkpoint_every,
        path: ck_path,
    };
    let outcome = sim.run_to_end(&mut ck)?;
    summary.stepping_seconds = sim.stepping_seconds();
    summary.neuron_steps_per_second = sim.neuron_steps_per_second();
    let failure = sim.failure(0).map(String::from);
    let state = if sim.setup().config.save_state && failure.is_none() {
        Some(sim.state(0)?)
    } else {
        None
    };
    finish_run(
        sim.setup(),
        sim.shift(),
        sim.theory().as_deref(),
        sim.records(0),
        state,
        failure,
        outcome,
        summary,
        &opts.out,
    )
}

fn run_replicas(
    s: HydroSetup,
    device: &Device,
    opts: &RunOptions,
    obs: &mut dyn Observer,
    t_setup: Instant,
) -> anyhow::Result<RunSummary> {
    let first = s.config.replica;
    let r_count = s.config.replicas;
    let mut sim = Simulation::new(s, device)?;
    let setup_seconds = t_setup.elapsed().as_secs_f64();
    let outcome = sim.run_to_end(obs)?;
    let s = sim.setup().clone();
    let theory = sim.theory();
    if let Some(pts) = &theory {
        write_theory_csv(&opts.out.join("theory.csv"), pts, Some(s.config.n as f64))?;
    }
    let mut per_replica = Vec::new();
    for r in 0..r_count as usize {
        let dir = opts.out.join(format!("replica_{}", first + r as u32));
        create_dir(&dir)?;
        let rows = sim.moments(r);
        write_moments_csv(&dir.join("moments.csv"), &rows, &s.config.record)?;
        per_replica.push(ReplicaSummary {
            replica: first + r as u32,
            late_time: sim.late_time(r),
        });
    }
    let status = status_of(
        sim.failure(0).is_some() && (0..r_count as usize).all(|r| sim.failure(r).is_some()),
        outcome,
    );
    let summary = ReplicasRunSummary {
        status,
        balnet_version: env!("CARGO_PKG_VERSION"),
        model: "hydro",
        backend: sim.backend_name().to_string(),
        config: s.config.clone(),
        steps: s.steps,
        replicas: r_count,
        setup_seconds,
        stepping_seconds: sim.stepping_seconds(),
        neuron_steps_per_second: sim.neuron_steps_per_second(),
        per_replica,
        warnings: s.warnings.clone(),
    };
    record::write_json(&opts.out.join("run.json"), &summary)?;
    Ok(RunSummary {
        status,
        setup_seconds,
        stepping_seconds: summary.stepping_seconds,
        neuron_steps_per_second: summary.neuron_steps_per_second,
        ..RunSummary::running(&s, summary.backend, sim.adapter().map(String::from))
    })
}

/// run.json's status for a run that failed or ended with `outcome`.
fn status_of(failed: bool, outcome: Outcome) -> &'static str {
    if failed {
        "failed"
    } else if outcome == Outcome::Cancelled {
        "interrupted"
    } else {
        "complete"
    }
}

/// Runs model H configs that differ only in their seed as one batch (a sweep's seeds at small
/// n on the GPU): each config's directory gets exactly the files, and the numbers, of its
/// single run on the same backend; timings are the batch's. Returns one result per config.
pub fn run_seed_batch(
    runs: &[(HydroConfig, PathBuf)],
    device: &Device,
) -> anyhow::Result<Vec<anyhow::Result<()>>> {
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
    let mut sim = Simulation::with_members(s, members, device)?;
    let name = sim.backend_name().to_string();
    let adapter = sim.adapter().map(String::from);
    let note = format!(
        "stepped in one batch of {} sweep points (seeds); timings are the batch's",
        runs.len()
    );
    for (m, (_, dir)) in setups.iter().zip(runs) {
        create_dir(dir)?;
        let mut summary = RunSummary::running(m, name.clone(), adapter.clone());
        summary.warnings.push(note.clone());
        record::write_json(&dir.join("run.json"), &summary)?;
    }
    let outcome = sim.run_to_end(&mut Quiet)?;
    let theory = sim.theory();
    let mut out = Vec::new();
    for (i, (m, (_, dir))) in setups.iter().zip(runs).enumerate() {
        let mut summary = RunSummary::running(m, name.clone(), adapter.clone());
        summary.warnings.push(note.clone());
        summary.setup_seconds = sim.setup_seconds();
        summary.stepping_seconds = sim.stepping_seconds();
        summary.neuron_steps_per_second = sim.neuron_steps_per_second();
        let failure = sim.failure(i).map(String::from);
        let state = if m.config.save_state && failure.is_none() {
            Some(sim.state(i)?)
        } else {
            None
        };
        out.push(
            finish_run(
                m,
                sim.shift(),
                theory.as_deref(),
                sim.records(i),
                state,
                failure,
                outcome,
                summary,
                dir,
            )
            .map(|_| ()),
        );
    }
    Ok(out)
}

fn moment_value(r: &MomentRow, m: Moment) -> f64 {
    match m {
        Moment::Mean => r.mean,
        Moment::Var => r.var,
        Moment::Rate => r.rate,
        Moment::Skewness => r.skewness,
        Moment::ExcessKurtosis => r.excess_kurtosis,
        Moment::Drift => r.drift,
    }
}

fn moment_name(m: Moment) -> &'static str {
    match m {
        Moment::Mean => "mean",
        Moment::Var => "var",
        Moment::Rate => "rate",
        Moment::Skewness => "skewness",
        Moment::ExcessKurtosis => "excess_kurtosis",
        Moment::Drift => "drift",
    }
}

pub fn write_moments_csv(path: &Path, rows: &[MomentRow], which: &[Moment]) -> anyhow::Result<()> {
    let mut header = vec!["t", "step", "population"];
    header.extend(which.iter().map(|&m| moment_name(m)));
    let mut csv = Csv::new(&header);
    for r in rows {
        let mut cells = vec![
            num(r.t),
            r.step.to_string(),
            POP_NAMES[r.population].to_string(),
        ];
        cells.extend(which.iter().map(|&m| num(moment_value(r, m))));
        csv.row(&cells);
    }
    csv.write(path)
}

/// The limit and its first-order prediction for a network of `n` per population.
pub fn write_theory_csv(path: &Path, pts: &[TheoryPoint], n: Option<f64>) -> anyhow::Result<()> {
    let mut header = vec![
        "t",
        "population",
        "mu",
        "var",
        "rate",
        "delta",
        "m1",
        "v1",
        "k1",
    ];
    if n.is_some() {
        header.extend(["mean_pred", "var_pred", "rate_pred"]);
    }
    let mut csv = Csv::new(&header);
    for p in pts {
        for a in 0..2 {
            let mut cells = vec![
                num(p.t),
                POP_NAMES[a].to_string(),
                num(p.mu[a]),
                num(p.var[a]),
                num(p.rate[a]),
                num(p.delta[a]),
                num(p.m1[a]),
                num(p.v1[a]),
                num(p.k1[a]),
            ];
            if let Some(n) = n {
                let s = n.sqrt();
                cells.push(num(p.mu[a] + p.m1[a] / s));
                cells.push(num(p.var[a] + p.v1[a] / s));
                cells.push(num(p.rate[a] + p.delta[a] / s));
            }
            csv.row(&cells);
        }
    }
    csv.write(path)
}

/// What a run writes once its records are in: moments.csv, theory.csv and the late-time
/// comparison, moments.png, state.npy (when the config asks and the run did not fail), and
/// run.json with status `complete` or `failed` (then also an error naming where it stopped).
#[allow(clippy::too_many_arguments)]
pub fn finish_run(
    s: &HydroSetup,
    shift: [f64; 2],
    theory: Option<&[TheoryPoint]>,
    samples: &[RecordSample],
    state: Option<Vec<f32>>,
    failure: Option<String>,
    outcome: Outcome,
    mut summary: RunSummary,
    out: &Path,
) -> anyhow::Result<RunSummary> {
    let rows = hrec::rows_from_samples(s, shift, samples);
    write_moments_csv(&out.join("moments.csv"), &rows, &s.config.record)?;
    if let Some(pts) = theory {
        write_theory_csv(&out.join("theory.csv"), pts, Some(s.config.n as f64))?;
        summary.late_time =
            hrec::late_time_comparison(&rows, pts, s.config.n as f64, hrec::scheme_offsets(s));
    }
    if let Err(e) = crate::hydro::plot::write(&out.join("moments.png"), s, &rows, theory) {
        summary
            .warnings
            .push(format!("moments.png not written: {e:#}"));
    }
    if let Some(x) = state {
        record::write_npy_f32(&out.join("state.npy"), &x)?;
    }
    summary.status = status_of(failure.is_some(), outcome);
    summary.error = failure.clone();
    record::write_json(&out.join("run.json"), &summary)?;
    if let Some(f) = failure {
        anyhow::bail!(
            "run stopped: {f}; recorded moments up to there are in {}",
            out.display()
        );
    }
    Ok(summary)
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
    pub config: HydroConfig,
    pub steps: u64,
    pub replicas: u32,
    pub setup_seconds: f64,
    pub stepping_seconds: f64,
    /// Over all replicas: R 2n steps / stepping seconds.
    pub neuron_steps_per_second: f64,
    pub per_replica: Vec<ReplicaSummary>,
    pub warnings: Vec<String>,
}

/// `balnet theory`: the limit (and with `n`, the first-order prediction) on the run's grid.
pub fn theory_hydro(
    config: HydroConfig,
    n: Option<u64>,
    out: Option<&Path>,
) -> anyhow::Result<TheoryPoint> {
    let mut config = config;
    if let Some(n) = n {
        config.n = n;
    }
    let s = config.validate(true)?;
    let p = s.theory_params();
    let ss = hl::steady_state(&p).map_err(|e| ConfigError(format!("no balanced state: {e}")))?;
    hl::check_stability(&p, ss.mu, ss.var)
        .map_err(|e| ConfigError(format!("balanced state is unstable: {e}")))?;
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
        let pts = hl::trajectory(&p, &s.record_times()).map_err(|e| ConfigError(e.to_string()))?;
        write_theory_csv(&dir.join("theory.csv"), &pts, n.map(|v| v as f64))?;
    }
    Ok(ss)
}
