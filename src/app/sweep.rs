//! `balnet sweep`: the points of a sweep spec run into `DIR/runs/<id>/`, DIR/summary.csv, and
//! for a model H sweep over n the convergence report.

use super::Spelling;
use crate::config::{ConfigError, Model};
use crate::device::BackendChoice;
use crate::progress::{CancelToken, Status};
use crate::sweep::{self, Point, SweepReport, SweepSpec};
use std::path::{Path, PathBuf};

/// Where a sweep spec comes from.
#[derive(Clone, Debug)]
pub enum SweepSource {
    /// A sweep file; a base path in it is relative to the file.
    Path(PathBuf),
    /// JSON text; a base path in it is relative to the working directory.
    Text(String),
}

/// A sweep spec loaded: its points and whether it gets the convergence report.
pub struct LoadedSweep {
    pub spec: SweepSpec,
    pub points: Vec<Point>,
    /// A model H sweep over n: convergence.csv and convergence.png after the runs.
    pub convergence: bool,
}

/// Loads a spec; `backend` overrides the spec's.
pub fn load(source: &SweepSource, backend: Option<BackendChoice>) -> anyhow::Result<LoadedSweep> {
    let (mut spec, base) = match source {
        SweepSource::Path(p) => sweep::load(p)?,
        SweepSource::Text(t) => sweep::load_text(t, None, Path::new("."))?,
    };
    if let Some(b) = backend {
        spec.backend = b;
    }
    let points = sweep::points(&spec, &base)?;
    let convergence =
        spec.grid.contains_key("n") && points.first().and_then(Point::model) == Some(Model::Hydro);
    Ok(LoadedSweep {
        spec,
        points,
        convergence,
    })
}

/// The default output directory of a sweep file: `runs/<its stem>`.
pub fn default_out(source: &SweepSource) -> PathBuf {
    let stem = match source {
        SweepSource::Path(p) => p.file_stem().map(|s| s.to_string_lossy().to_string()),
        SweepSource::Text(_) => None,
    };
    PathBuf::from("runs").join(stem.unwrap_or_else(|| "sweep".into()))
}

/// What a dry run lists for one point.
pub struct PointPlan<'a> {
    pub point: &'a Point,
    /// Estimated host memory (bytes), or why the point's config is invalid.
    pub memory: Result<f64, ConfigError>,
    /// The status of its run directory (None: not run yet).
    pub status: Option<Status>,
}

/// The points of shard `shard` = (i, n) (index = i mod n) with their estimates.
pub fn plan<'a>(s: &'a LoadedSweep, out: &Path, shard: (usize, usize)) -> Vec<PointPlan<'a>> {
    shard_points(s, shard)
        .map(|p| PointPlan {
            point: p,
            memory: sweep::estimated_bytes(&p.config),
            status: sweep::status_of(&sweep::run_dir(out, p)),
        })
        .collect()
}

/// How many points shard `shard` has.
pub fn shard_len(s: &LoadedSweep, shard: (usize, usize)) -> usize {
    shard_points(s, shard).count()
}

fn shard_points(s: &LoadedSweep, shard: (usize, usize)) -> impl Iterator<Item = &Point> {
    s.points
        .iter()
        .filter(move |p| p.index % shard.1 == shard.0)
}

/// How a sweep invocation ended.
pub struct SweepOutcome {
    pub report: SweepReport,
    pub interrupted: bool,
    /// Whether the convergence report was written.
    pub convergence: bool,
}

/// One finished point, for the caller's progress: the point, its result (Ok(true) ran,
/// Ok(false) skipped as complete) and its run directory's status.
pub type OnPoint<'a> = dyn FnMut(&Point, &anyhow::Result<bool>, Option<Status>) + Send + 'a;

/// Checks `jobs` and opens the sweep's devices (their `note` says why `auto` fell back to
/// the CPU, if it did); `stop` (Ctrl-C) stops the running points at their next chunk.
pub fn open(
    s: &LoadedSweep,
    jobs: usize,
    stop: &CancelToken,
    spelling: Spelling,
) -> anyhow::Result<sweep::SweepDevices> {
    if jobs == 0 {
        return Err(
            ConfigError(format!("{}: must be >= 1", spelling.with_value("jobs", 0))).into(),
        );
    }
    let mut devices = sweep::SweepDevices::open(s.spec.backend)?;
    devices.stop = stop.clone();
    Ok(devices)
}

/// Runs the shard's points, `jobs` at a time, until done or stopped; writes summary.csv,
/// and the convergence report when the whole sweep (not a shard) finished uninterrupted.
pub fn run(
    s: &LoadedSweep,
    out: &Path,
    shard: (usize, usize),
    jobs: usize,
    devices: &sweep::SweepDevices,
    on_point: &mut OnPoint<'_>,
) -> anyhow::Result<SweepOutcome> {
    let report = sweep::run_sweep(&s.points, out, shard, devices, jobs, |p, r| {
        on_point(p, r, sweep::status_of(&sweep::run_dir(out, p)))
    })?;
    let interrupted = devices.stop.is_cancelled();
    let convergence = s.convergence && !interrupted && shard.1 == 1;
    if convergence {
        write_convergence(out)?;
    }
    Ok(SweepOutcome {
        report,
        interrupted,
        convergence,
    })
}

/// Rebuilds DIR/summary.csv from the run directories present (after sharded runs), and the
/// convergence report where the sweep has one. Returns the rows written.
pub fn merge(s: &LoadedSweep, out: &Path) -> anyhow::Result<usize> {
    let rows = sweep::write_summary(out, &s.points)?;
    if s.convergence {
        write_convergence(out)?;
    }
    Ok(rows)
}

fn write_convergence(out: &Path) -> anyhow::Result<()> {
    let rows = crate::report::convergence::collect(out)?;
    crate::report::convergence::write(out, &rows)
}

/// Parses a shard "I/N" (0 <= I < N).
pub fn parse_shard(s: Option<&str>) -> Result<(usize, usize), ConfigError> {
    match s {
        Some(s) => sweep::parse_shard(s),
        None => Ok((0, 1)),
    }
}
