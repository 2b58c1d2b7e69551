//! The model H run directory, written from a [`Simulation`]'s results: run.json (resolved
//! config, backend, timings, late-time comparison, warnings), moments.csv, theory.csv,
//! moments.png, state.npy; `replica_<r>/moments.csv` for batched replicas; checkpoint.bin.
//! Also `balnet theory` for model H.
//!
//! run.json says `running` while the run goes, then `complete`, `interrupted` or `failed`.
//! moments.csv grows as the run goes (the records of every chunk of steps appended and
//! flushed), so a killed run keeps its records up to its last chunk; theory.csv, moments.png
//! and state.npy are written at the end of the run (also of an interrupted or failed one), so
//! a killed run (`kill -9`, run.json still `running`) has none of them.

use crate::config::Model;
use crate::config::{ConfigError, Overrides};
use crate::device::Device;
use crate::hydro::config::{HydroConfig, HydroSetup, Moment};
use crate::hydro::record::{self, LatePopulation, MomentRow, POP_NAMES, RecordSample};
use crate::hydro::sim::{Member, Simulation};
use crate::hydro::theory::{self, TheoryPoint};
use crate::io::checkpoint::{self, Checkpoint};
use crate::io::{self, Csv, CsvAppender, RunJson, RunOptions, RunStatus, num};
use crate::progress::{Observer, Outcome, Records, Status};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub status: Status,
    pub balnet_version: &'static str,
    pub model: Model,
    pub backend: String,
    pub adapter: Option<String>,
    /// The GPU's kernel layout and binding limit (null on the CPU).
    pub gpu: Option<crate::device::GpuRunInfo>,
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
    pub fn running(
        s: &HydroSetup,
        backend: String,
        adapter: Option<String>,
        gpu: Option<crate::device::GpuRunInfo>,
    ) -> Self {
        RunSummary {
            status: Status::Running,
            balnet_version: env!("CARGO_PKG_VERSION"),
            model: Model::Hydro,
            backend,
            adapter,
            gpu,
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

impl RunStatus for RunSummary {
    fn set_failed(&mut self, error: String) {
        self.status = Status::Failed;
        self.error = Some(error);
    }
}

impl RunStatus for ReplicasRunSummary {
    fn set_failed(&mut self, error: String) {
        self.status = Status::Failed;
        self.error = Some(error);
    }
}

/// moments.csv written as the run goes: the header and the records so far when created,
/// then the new records' rows appended and flushed after every chunk of steps.
pub struct MomentsWriter {
    setup: HydroSetup,
    csv: CsvAppender,
    written: usize,
}

impl MomentsWriter {
    /// Creates `path` (truncating it) with the header and the rows of `samples`.
    pub fn create(
        path: &Path,
        setup: &HydroSetup,
        samples: &[RecordSample],
    ) -> anyhow::Result<Self> {
        let csv = CsvAppender::create(path, &moments_header(&setup.config.record))?;
        let mut w = MomentsWriter {
            setup: setup.clone(),
            csv,
            written: 0,
        };
        w.append(samples)?;
        Ok(w)
    }

    /// Appends the rows of `samples[written..]` (all the records so far) and flushes.
    pub fn append(&mut self, samples: &[RecordSample]) -> anyhow::Result<()> {
        let new = samples.get(self.written..).unwrap_or_default();
        if new.is_empty() {
            return Ok(());
        }
        for r in record::rows_from_samples(&self.setup, new) {
            self.csv.row(&moment_cells(&r, &self.setup.config.record))?;
        }
        self.written = samples.len();
        self.csv.flush()
    }

    /// Flushes and syncs the finished file.
    pub fn finish(self) -> anyhow::Result<()> {
        self.csv.finish()
    }
}

/// Forwards to the caller's observer, appends each member's new records to its
/// moments.csv and writes the checkpoints it is asked for.
struct RunWriter<'a> {
    inner: &'a mut dyn Observer,
    every: Option<u64>,
    ck_path: PathBuf,
    moments: Vec<MomentsWriter>,
}

impl Observer for RunWriter<'_> {
    fn on_records(&mut self, records: &Records<'_>) -> anyhow::Result<()> {
        if let Records::Hydro { member, samples } = *records
            && let Some(w) = self.moments.get_mut(member)
        {
            w.append(samples)?;
        }
        self.inner.on_records(records)
    }
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
        checkpoint::write(&self.ck_path, ck)
    }
}

/// Runs a model H simulation on `device` and writes its directory. moments.csv (and each
/// replica's) grows as the run goes, flushed after every chunk of steps, so that a killed
/// run keeps its records up to the last chunk; run.json says `running` meanwhile. Errors after
/// run.json exists (a full disk, a device error) leave it `failed`, with the error, when it
/// can still be written, and whatever was recorded; a refused --resume touches nothing.
pub fn run(
    s: HydroSetup,
    device: &Device,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> anyhow::Result<RunSummary> {
    io::create_dir(&opts.out)?;
    check_replica_options(&s, opts)?;
    let mut sim = Simulation::new(s, device)?;
    run_simulation(&mut sim, opts, obs)
}

/// Checkpoints need a single network.
fn check_replica_options(s: &HydroSetup, opts: &RunOptions) -> anyhow::Result<()> {
    if s.config.replicas > 1 && (opts.checkpoint_every.is_some() || opts.resume) {
        return Err(ConfigError("checkpoints are not available with replicas > 1".into()).into());
    }
    Ok(())
}

/// As [`run`], for a simulation already built (balnet.Simulation's, or `run`'s own): steps
/// it to the configured end and writes its directory, the records it already holds included.
pub fn run_simulation(
    sim: &mut Simulation,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> anyhow::Result<RunSummary> {
    let t_setup = Instant::now();
    io::create_dir(&opts.out)?;
    check_replica_options(sim.setup(), opts)?;
    if sim.setup().config.replicas > 1 {
        return run_replicas(sim, opts, obs, t_setup);
    }
    let mut summary = RunSummary::running(
        sim.setup(),
        sim.backend_name().to_string(),
        sim.adapter().map(String::from),
        sim.gpu_info(),
    );
    let ck_path = opts.out.join("checkpoint.bin");
    if opts.resume {
        let ck = checkpoint::read(&ck_path)?;
        sim.restore(&ck)?;
        summary
            .warnings
            .push(format!("resumed from a checkpoint at step {}", ck.step));
    }
    let mut json = RunJson::new(opts.out.join("run.json"));
    let r = (|| {
        json.write(&summary)?;
        let moments =
            MomentsWriter::create(&opts.out.join("moments.csv"), sim.setup(), sim.records(0))?;
        summary.setup_seconds = sim.setup_seconds() + t_setup.elapsed().as_secs_f64();
        let mut w = RunWriter {
            inner: obs,
            every: opts.checkpoint_every,
            ck_path,
            moments: vec![moments],
        };
        let outcome = sim.run_to_end(&mut w)?;
        for m in w.moments {
            m.finish()?;
        }
        summary.stepping_seconds = sim.stepping_seconds();
        summary.neuron_steps_per_second = sim.neuron_steps_per_second();
        summary.gpu = sim.gpu_info();
        let failure = sim.failure(0).map(String::from);
        let state = if sim.setup().config.save_state && failure.is_none() {
            Some(sim.state(0)?)
        } else {
            None
        };
        finish_run(
            sim.setup(),
            sim.theory(),
            &record::rows_from_samples(sim.setup(), sim.records(0)),
            state,
            failure,
            outcome,
            summary,
            &opts.out,
            &mut json,
        )
    })();
    r.inspect_err(|e| json.fail(e))
}

fn run_replicas(
    sim: &mut Simulation,
    opts: &RunOptions,
    obs: &mut dyn Observer,
    t_setup: Instant,
) -> anyhow::Result<RunSummary> {
    let s = sim.setup().clone();
    let first = s.config.replica;
    let r_count = s.config.replicas;
    let mut summary = ReplicasRunSummary {
        status: Status::Running,
        balnet_version: env!("CARGO_PKG_VERSION"),
        model: Model::Hydro,
        backend: sim.backend_name().to_string(),
        gpu: sim.gpu_info(),
        config: s.config.clone(),
        steps: s.steps,
        replicas: r_count,
        setup_seconds: 0.0,
        stepping_seconds: 0.0,
        neuron_steps_per_second: 0.0,
        per_replica: Vec::new(),
        warnings: s.warnings.clone(),
        error: None,
    };
    let mut json = RunJson::new(opts.out.join("run.json"));
    let r = (|| {
        json.write(&summary)?;
        let mut moments = Vec::new();
        for r in 0..r_count as usize {
            let dir = opts.out.join(format!("replica_{}", first + r as u32));
            io::create_dir(&dir)?;
            moments.push(MomentsWriter::create(
                &dir.join("moments.csv"),
                &s,
                sim.records(r),
            )?);
        }
        summary.setup_seconds = sim.setup_seconds() + t_setup.elapsed().as_secs_f64();
        let mut w = RunWriter {
            inner: obs,
            every: None,
            ck_path: PathBuf::new(),
            moments,
        };
        let outcome = sim.run_to_end(&mut w)?;
        for m in w.moments {
            m.finish()?;
        }
        if let Some(pts) = sim.theory() {
            write_theory_csv(&opts.out.join("theory.csv"), pts, Some(s.config.n as f64))?;
        }
        for r in 0..r_count as usize {
            summary.per_replica.push(ReplicaSummary {
                replica: first + r as u32,
                late_time: sim.late_time(r),
            });
        }
        summary.status = outcome.status((0..r_count as usize).all(|r| sim.failure(r).is_some()));
        summary.stepping_seconds = sim.stepping_seconds();
        summary.neuron_steps_per_second = sim.neuron_steps_per_second();
        summary.gpu = sim.gpu_info();
        json.finish(&summary)?;
        Ok(RunSummary {
            status: summary.status,
            setup_seconds: summary.setup_seconds,
            stepping_seconds: summary.stepping_seconds,
            neuron_steps_per_second: summary.neuron_steps_per_second,
            ..RunSummary::running(
                &s,
                summary.backend.clone(),
                sim.adapter().map(String::from),
                sim.gpu_info(),
            )
        })
    })();
    r.inspect_err(|e| json.fail(e))
}

/// Runs model H configs that differ only in their seed as one batch (a sweep's seeds at small
/// n on the GPU): each config's directory gets exactly the files, and the numbers, of its
/// single run on the same backend; timings are the batch's. Returns one result per config.
pub fn run_seed_batch(
    runs: &[(HydroConfig, PathBuf)],
    device: &Device,
    obs: &mut dyn Observer,
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
    let gpu = sim.gpu_info();
    let note = format!(
        "stepped in one batch of {} sweep points (seeds); timings are the batch's",
        runs.len()
    );
    let mut jsons = Vec::new();
    let mut moments = Vec::new();
    for (i, (m, (_, dir))) in setups.iter().zip(runs).enumerate() {
        io::create_dir(dir)?;
        let mut summary = RunSummary::running(m, name.clone(), adapter.clone(), gpu.clone());
        summary.warnings.push(note.clone());
        let mut json = RunJson::new(dir.join("run.json"));
        json.write(&summary)?;
        jsons.push(json);
        moments.push(MomentsWriter::create(
            &dir.join("moments.csv"),
            m,
            sim.records(i),
        )?);
    }
    let mut w = RunWriter {
        inner: obs,
        every: None,
        ck_path: PathBuf::new(),
        moments,
    };
    let outcome = match sim.run_to_end(&mut w) {
        Ok(o) => o,
        Err(e) => {
            let e = anyhow::Error::from(e);
            for j in &mut jsons {
                j.fail(&e);
            }
            return Err(e);
        }
    };
    // Owned: `sim.state` below needs the simulation mutably.
    let theory = sim.theory().map(<[TheoryPoint]>::to_vec);
    let mut out = Vec::new();
    for (i, ((m, (_, dir)), (mut json, csv))) in setups
        .iter()
        .zip(runs)
        .zip(jsons.into_iter().zip(w.moments))
        .enumerate()
    {
        let r = (|| {
            csv.finish()?;
            let mut summary = RunSummary::running(m, name.clone(), adapter.clone(), gpu.clone());
            summary.warnings.push(note.clone());
            summary.setup_seconds = sim.setup_seconds();
            summary.stepping_seconds = sim.stepping_seconds();
            summary.neuron_steps_per_second = sim.neuron_steps_per_second();
            summary.gpu = sim.gpu_info();
            let failure = sim.failure(i).map(String::from);
            let state = if m.config.save_state && failure.is_none() {
                Some(sim.state(i)?)
            } else {
                None
            };
            finish_run(
                m,
                theory.as_deref(),
                &record::rows_from_samples(m, sim.records(i)),
                state,
                failure,
                outcome,
                summary,
                dir,
                &mut json,
            )
            .map(|_| ())
        })();
        out.push(r.inspect_err(|e| json.fail(e)));
    }
    Ok(out)
}

/// The value of moment `m` in a row of moments.csv.
pub fn moment_value(r: &MomentRow, m: Moment) -> f64 {
    match m {
        Moment::Mean => r.mean,
        Moment::Var => r.var,
        Moment::Rate => r.rate,
        Moment::Skewness => r.skewness,
        Moment::ExcessKurtosis => r.excess_kurtosis,
        Moment::Drift => r.drift,
    }
}

/// The column name of moment `m` in moments.csv (its config spelling).
pub fn moment_name(m: Moment) -> &'static str {
    match m {
        Moment::Mean => "mean",
        Moment::Var => "var",
        Moment::Rate => "rate",
        Moment::Skewness => "skewness",
        Moment::ExcessKurtosis => "excess_kurtosis",
        Moment::Drift => "drift",
    }
}

fn moments_header(which: &[Moment]) -> Vec<&'static str> {
    let mut header = vec!["t", "step", "population"];
    header.extend(which.iter().map(|&m| moment_name(m)));
    header
}

fn moment_cells(r: &MomentRow, which: &[Moment]) -> Vec<String> {
    let mut cells = vec![
        num(r.t),
        r.step.to_string(),
        POP_NAMES[r.population].to_string(),
    ];
    cells.extend(which.iter().map(|&m| num(moment_value(r, m))));
    cells
}

/// moments.csv of `rows` in one atomic write (what [`MomentsWriter`] builds up as a run goes).
pub fn write_moments_csv(path: &Path, rows: &[MomentRow], which: &[Moment]) -> anyhow::Result<()> {
    let mut csv = Csv::new(&moments_header(which));
    for r in rows {
        csv.row(&moment_cells(r, which));
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

/// What a run writes once its records are in (moments.csv is already written): theory.csv
/// and the late-time comparison, moments.png, state.npy (when the config asks and the run did
/// not fail), and run.json with status `complete`, `interrupted` or `failed` (then also an
/// error naming where it stopped).
#[allow(clippy::too_many_arguments)]
fn finish_run(
    s: &HydroSetup,
    theory: Option<&[TheoryPoint]>,
    rows: &[MomentRow],
    state: Option<Vec<f32>>,
    failure: Option<String>,
    outcome: Outcome,
    mut summary: RunSummary,
    out: &Path,
    json: &mut RunJson<RunSummary>,
) -> anyhow::Result<RunSummary> {
    if let Some(pts) = theory {
        write_theory_csv(&out.join("theory.csv"), pts, Some(s.config.n as f64))?;
        summary.late_time =
            record::late_time_comparison(rows, pts, s.config.n as f64, record::scheme_offsets(s));
    }
    if let Err(e) = crate::hydro::plot::write(&out.join("moments.png"), s, rows, theory) {
        summary
            .warnings
            .push(format!("moments.png not written: {e:#}"));
    }
    if let Some(x) = state {
        io::write_npy_f32(&out.join("state.npy"), &x)?;
    }
    summary.status = outcome.status(failure.is_some());
    summary.error = failure.clone();
    json.finish(&summary)?;
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
    pub status: Status,
    pub balnet_version: &'static str,
    pub model: Model,
    pub backend: String,
    /// The GPU's kernel layout and binding limit (null on the CPU).
    pub gpu: Option<crate::device::GpuRunInfo>,
    pub config: HydroConfig,
    pub steps: u64,
    pub replicas: u32,
    pub setup_seconds: f64,
    pub stepping_seconds: f64,
    /// Over all replicas: R 2n steps / stepping seconds.
    pub neuron_steps_per_second: f64,
    pub per_replica: Vec<ReplicaSummary>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

/// `balnet theory`: the limit (and with `n`, the first-order prediction) on the run's grid.
pub fn theory(
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
    let ss =
        theory::steady_state(&p).map_err(|e| ConfigError(format!("no balanced state: {e}")))?;
    theory::check_stability(&p, ss.mu, ss.var)
        .map_err(|e| ConfigError(format!("balanced state is unstable: {e}")))?;
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
        let pts =
            theory::trajectory(&p, &s.record_times()).map_err(|e| ConfigError(e.to_string()))?;
        write_theory_csv(&dir.join("theory.csv"), &pts, n.map(|v| v as f64))?;
    }
    Ok(ss)
}
