//! `balnet run` and `balnet theory` for model H: set up, drive a backend in chunks, record,
//! hold the result against the theory, and write the run directory.

use crate::config::ConfigError;
use crate::device::BackendChoice;
use crate::device::gpu::GpuContext;
use crate::hydro::backend::HydroBackend;
use crate::hydro::config::{Coupling, HydroConfig, HydroSetup, Moment};
use crate::hydro::cpu::HydroCpu;
use crate::hydro::record::{MomentRow, POP_NAMES, RecordSample};
use crate::hydro::step::HydroConsts;
use crate::hydro::theory::{self as hl, TheoryPoint};
use crate::io::{self as record, Csv, num};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Command-line overrides and options of `run`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub backend: BackendChoice,
    pub n: Option<u64>,
    pub steps: Option<u64>,
    pub seed: Option<u64>,
    pub out: PathBuf,
    pub force: bool,
    pub progress: bool,
    /// Write DIR/checkpoint.bin every this many steps.
    pub checkpoint_every: Option<u64>,
    /// Continue from DIR/checkpoint.bin (same backend kind).
    pub resume: bool,
}

impl RunOptions {
    /// A quiet run into `out` on `backend`: no overrides, no progress bar, no checkpoints.
    pub fn new(backend: BackendChoice, out: PathBuf) -> Self {
        RunOptions {
            backend,
            n: None,
            steps: None,
            seed: None,
            out,
            force: false,
            progress: false,
            checkpoint_every: None,
            resume: false,
        }
    }
}

/// Late-time (t >= `LATE_T`) comparison of one moment of one population.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LateComparison {
    pub simulated: f64,
    pub limit: f64,
    pub corrected: f64,
    pub error_vs_limit: f64,
    pub error_vs_limit_times_sqrt_n: f64,
    pub first_order_coefficient: f64,
    pub error_vs_corrected: f64,
    /// The corrected prediction plus the O(dt) offset of the scheme's own n → ∞ limit
    /// (`hydro_limit::scheme_steady_state` minus the dt → 0 steady state).
    pub corrected_at_dt: f64,
    pub error_vs_corrected_at_dt: f64,
}

/// Per population, the O(dt) offsets (rate, mean, var) of the scheme's n → ∞ steady state
/// from the dt → 0 one; zero where the theory has no balanced state.
pub fn scheme_offsets(s: &HydroSetup) -> [[f64; 3]; 2] {
    let p = s.theory_params();
    match (
        hl::steady_state(&p),
        hl::scheme_steady_state(&p, s.config.dt),
    ) {
        (Ok(c), Ok(d)) => std::array::from_fn(|a| {
            [
                d.rate[a] - c.rate[a],
                d.mu[a] - c.mu[a],
                d.var[a] - c.var[a],
            ]
        }),
        _ => [[0.0; 3]; 2],
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LatePopulation {
    pub population: &'static str,
    pub rate: LateComparison,
    pub mean: LateComparison,
    pub var: LateComparison,
}

/// Start of the window used for steady-state comparisons (MODEL.md: after the initial layer).
pub const LATE_T: f64 = 2.0;

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

/// Applies the CLI overrides and validates.
pub fn setup(mut config: HydroConfig, opts: &RunOptions) -> Result<HydroSetup, ConfigError> {
    if let Some(n) = opts.n {
        config.n = n;
    }
    if let Some(s) = opts.steps {
        config.steps = Some(s);
    }
    if let Some(s) = opts.seed {
        config.seed = s;
    }
    config.validate(opts.force)
}

/// Opens the backend: `auto` picks the GPU when an adapter exists, else the CPU with a notice.
/// `pairwise` is CPU only.
pub fn open_backend(
    s: &HydroSetup,
    choice: BackendChoice,
    replica: u32,
    shift: [f64; 2],
) -> anyhow::Result<(Box<dyn HydroBackend>, Option<String>)> {
    let c = HydroConsts::new(s);
    let cpu = |c| -> Box<dyn HydroBackend> { Box::new(HydroCpu::new(c, replica, shift)) };
    if s.config.coupling == Coupling::Pairwise {
        if choice == BackendChoice::Gpu {
            return Err(ConfigError(
                "coupling = \"pairwise\" runs on the CPU backend only (use --backend cpu)".into(),
            )
            .into());
        }
        return Ok((cpu(c), None));
    }
    match gpu_context(choice)? {
        None => Ok((cpu(c), None)),
        Some(ctx) => {
            let name = ctx.report.summary();
            let member = crate::hydro::gpu::Member {
                key: c.key,
                replica,
            };
            let b = crate::hydro::gpu::HydroGpu::new(ctx, c, &[member], shift)?;
            Ok((Box::new(b), Some(name)))
        }
    }
}

/// The GPU for `choice`: none for `cpu`, an error without an adapter for `gpu`, and for `auto`
/// the adapter if one exists, else none with a one-line notice.
pub fn gpu_context(choice: BackendChoice) -> anyhow::Result<Option<std::sync::Arc<GpuContext>>> {
    Ok(match choice {
        BackendChoice::Cpu => None,
        BackendChoice::Gpu => Some(GpuContext::new()?),
        BackendChoice::Auto => match GpuContext::new() {
            Ok(g) => Some(g),
            Err(e) => {
                eprintln!("note: {e:#}; running on the CPU backend");
                None
            }
        },
    })
}

/// Where the power sums are centred: the theory's steady-state mean (x0_mean if none).
pub fn moment_shift(s: &HydroSetup) -> [f64; 2] {
    hl::steady_state(&s.theory_params())
        .map(|p| p.mu)
        .unwrap_or(s.config.x0_mean)
}

/// Turns record samples into rows of moments.csv.
pub fn rows_from_samples(
    s: &HydroSetup,
    shift: [f64; 2],
    samples: &[RecordSample],
) -> Vec<MomentRow> {
    let c = &s.config;
    let n = c.n as f64;
    let mut rows = Vec::with_capacity(samples.len() * 2);
    for smp in samples {
        let r = [smp.lambda[0] / n, smp.lambda[1] / n];
        for a in 0..2 {
            let (mean, var, skewness, excess_kurtosis) = smp.sums[a].moments(shift[a]);
            let drift = n.sqrt() * (s.h[a] + c.j[a][0] * r[0] - c.j[a][1] * r[1]);
            rows.push(MomentRow {
                t: smp.step as f64 * c.dt,
                step: smp.step,
                population: a,
                mean,
                var,
                rate: r[a],
                skewness,
                excess_kurtosis,
                drift,
            });
        }
    }
    rows
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

/// Late-time averages of the simulation against the limit and the corrected prediction.
pub fn late_time_comparison(
    rows: &[MomentRow],
    pts: &[TheoryPoint],
    n: f64,
    dt_offsets: [[f64; 3]; 2],
) -> Vec<LatePopulation> {
    let sn = n.sqrt();
    let mut out = Vec::new();
    for a in 0..2 {
        let late: Vec<(&MomentRow, &TheoryPoint)> = rows
            .iter()
            .filter(|r| r.population == a && r.t >= LATE_T - 1e-9)
            .filter_map(|r| {
                pts.iter()
                    .find(|p| (p.t - r.t).abs() < 1e-9)
                    .map(|p| (r, p))
            })
            .collect();
        if late.is_empty() {
            continue;
        }
        let k = late.len() as f64;
        let cmp = |sim: &dyn Fn(&MomentRow) -> f64,
                   lim: &dyn Fn(&TheoryPoint) -> f64,
                   coef: &dyn Fn(&TheoryPoint) -> f64,
                   offset: f64| {
            let simulated = late.iter().map(|(r, _)| sim(r)).sum::<f64>() / k;
            let limit = late.iter().map(|(_, p)| lim(p)).sum::<f64>() / k;
            let c1 = late.iter().map(|(_, p)| coef(p)).sum::<f64>() / k;
            let corrected = limit + c1 / sn;
            LateComparison {
                simulated,
                limit,
                corrected,
                error_vs_limit: simulated - limit,
                error_vs_limit_times_sqrt_n: (simulated - limit) * sn,
                first_order_coefficient: c1,
                error_vs_corrected: simulated - corrected,
                corrected_at_dt: corrected + offset,
                error_vs_corrected_at_dt: simulated - corrected - offset,
            }
        };
        out.push(LatePopulation {
            population: POP_NAMES[a],
            rate: cmp(
                &|r| r.rate,
                &|p| p.rate[a],
                &|p| p.delta[a],
                dt_offsets[a][0],
            ),
            mean: cmp(&|r| r.mean, &|p| p.mu[a], &|p| p.m1[a], dt_offsets[a][1]),
            var: cmp(&|r| r.var, &|p| p.var[a], &|p| p.v1[a], dt_offsets[a][2]),
        });
    }
    out
}

/// The record times of a run: every `record_every` steps from 0 to `steps`.
pub fn record_times(s: &HydroSetup) -> Vec<f64> {
    let every = s.config.record_every;
    (0..=s.steps / every)
        .map(|k| (k * every) as f64 * s.config.dt)
        .collect()
}

/// The first non-finite moment, as (step, population).
fn first_non_finite(rows: &[MomentRow]) -> Option<(u64, usize)> {
    rows.iter()
        .find(|r| !(r.mean.is_finite() && r.var.is_finite() && r.rate.is_finite()))
        .map(|r| (r.step, r.population))
}

/// Runs a model H simulation and writes its directory. Errors after the directory exists
/// still leave run.json (status "failed", with the error) and whatever was recorded.
pub fn run_hydro(config: HydroConfig, opts: &RunOptions) -> anyhow::Result<RunSummary> {
    let t_setup = Instant::now();
    let s = setup(config, opts)?;
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", opts.out.display()))?;
    let params = s.theory_params();
    let theory = hl::trajectory(&params, &record_times(&s)).ok();
    let shift = moment_shift(&s);
    if s.config.replicas > 1 {
        return crate::hydro::sim::run_replicas(s, opts, t_setup);
    }
    let (mut backend, adapter) = open_backend(&s, opts.backend, s.config.replica, shift)?;
    let mut summary = RunSummary::running(&s, backend.name(), adapter);
    let kind = if summary.backend.starts_with("gpu") {
        "gpu"
    } else {
        "cpu"
    };
    let ck_path = opts.out.join("checkpoint.bin");
    let mut samples = vec![backend.initial_record()?];
    let mut done = 0u64;
    if opts.resume {
        let ck = crate::io::checkpoint::read(&ck_path)?;
        if ck.backend_kind != kind {
            return Err(ConfigError(format!(
                "checkpoint was written by the {} backend; resume with --backend {}",
                ck.backend_kind, ck.backend_kind
            ))
            .into());
        }
        backend.restore(&ck.blobs)?;
        samples = ck.samples;
        done = ck.step;
        summary
            .warnings
            .push(format!("resumed from a checkpoint at step {done}"));
    }
    record::write_json(&opts.out.join("run.json"), &summary)?;
    summary.setup_seconds = t_setup.elapsed().as_secs_f64();

    let every = s.config.record_every;
    let per_chunk = (2000 / every).max(1) * every;
    let bar = crate::progress::bar(s.steps, opts.progress);
    bar.set_position(done);
    let t_step = Instant::now();
    let start = done;
    let mut failure = None;
    while done < s.steps {
        let mut k = per_chunk.min(s.steps - done);
        if let Some(c) = opts.checkpoint_every {
            k = k.min(c - done % c);
        }
        match backend.advance(k as u32, every as u32) {
            Ok(v) => samples.extend(v),
            Err(e) => {
                failure = Some(format!("{e:#}"));
                break;
            }
        }
        done += k;
        bar.set_position(done);
        if let Some(c) = opts.checkpoint_every
            && done.is_multiple_of(c)
            && done < s.steps
        {
            let ck = crate::io::checkpoint::Checkpoint {
                backend_kind: kind.into(),
                step: done,
                samples: samples.clone(),
                blobs: backend.snapshot()?,
            };
            crate::io::checkpoint::write(&ck_path, &ck)?;
        }
        if let Some(f) = non_finite_failure(&s, shift, &samples) {
            failure = Some(f);
            break;
        }
    }
    bar.finish_and_clear();
    summary.stepping_seconds = t_step.elapsed().as_secs_f64();
    summary.neuron_steps_per_second =
        2.0 * s.config.n as f64 * (done - start) as f64 / summary.stepping_seconds.max(1e-12);
    let state = if s.config.save_state && failure.is_none() {
        Some(backend.state()?)
    } else {
        None
    };
    finish_run(
        &s,
        shift,
        theory.as_deref(),
        &samples,
        state,
        failure,
        summary,
        &opts.out,
    )
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
    mut summary: RunSummary,
    out: &Path,
) -> anyhow::Result<RunSummary> {
    let rows = rows_from_samples(s, shift, samples);
    write_moments_csv(&out.join("moments.csv"), &rows, &s.config.record)?;
    if let Some(pts) = theory {
        write_theory_csv(&out.join("theory.csv"), pts, Some(s.config.n as f64))?;
        summary.late_time = late_time_comparison(&rows, pts, s.config.n as f64, scheme_offsets(s));
    }
    if let Err(e) = crate::hydro::plot::write(&out.join("moments.png"), s, &rows, theory) {
        summary
            .warnings
            .push(format!("moments.png not written: {e:#}"));
    }
    if let Some(x) = state {
        record::write_npy_f32(&out.join("state.npy"), &x)?;
    }
    summary.status = if failure.is_some() {
        "failed"
    } else {
        "complete"
    };
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

/// The first non-finite moment in the newest records, as a failure message.
pub fn non_finite_failure(
    s: &HydroSetup,
    shift: [f64; 2],
    samples: &[RecordSample],
) -> Option<String> {
    let rows = rows_from_samples(s, shift, &samples[samples.len().saturating_sub(64)..]);
    first_non_finite(&rows).map(|(step, a)| {
        format!(
            "non-finite state at step {step} (t = {}) in population {}",
            step as f64 * s.config.dt,
            POP_NAMES[a]
        )
    })
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
        let pts = hl::trajectory(&p, &record_times(&s)).map_err(|e| ConfigError(e.to_string()))?;
        write_theory_csv(&dir.join("theory.csv"), &pts, n.map(|v| v as f64))?;
    }
    Ok(ss)
}
