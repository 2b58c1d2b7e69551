//! `balnet sweep`: a base config and a grid of values for any of its fields (by JSON path),
//! times a number of seeds. Every point becomes a run directory `DIR/runs/<id>/` with the usual
//! files; DIR/summary.csv has one row per point. A point counts as done only when its run.json
//! says `"status": "complete"`, so a rerun skips finished points and redoes interrupted
//! ones; a failing point is recorded with its error and the others go on. `--shard I/N` runs
//! the points whose index is I mod N (for job arrays); `--merge` rebuilds summary.csv from
//! whatever run directories exist.

use crate::config::{self, ConfigError, Model};
use crate::device::{BackendChoice, Device};
use crate::io::run_json::{RunJson, cell};
use crate::io::{self, Csv};
use crate::model_config::ModelConfig;
use crate::progress::{CancelToken, Status};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One axis of the grid: explicit values or a linear / logarithmic range of `count` points.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Axis {
    Values(Vec<Value>),
    Range(RangeSpec),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSpec {
    /// [start, stop, count], both ends included.
    #[serde(default)]
    pub linspace: Option<(f64, f64, usize)>,
    /// [start, stop, count], log-spaced, both ends included (start, stop > 0).
    #[serde(default)]
    pub logspace: Option<(f64, f64, usize)>,
}

/// The sweep file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The base config: a path (relative to the sweep file) or an inline config object.
    pub base: Value,
    /// Field path ("n", "J.0.1", "synapse.a") -> values. Points are the Cartesian product,
    /// axes in path order.
    #[serde(default)]
    pub grid: BTreeMap<String, Axis>,
    /// Seeds per grid point: seed_base, seed_base + 1, ...
    #[serde(default = "one")]
    pub seeds: u64,
    #[serde(default = "one")]
    pub seed_base: u64,
    /// Backend of every run.
    #[serde(default = "auto")]
    pub backend: BackendChoice,
}

fn one() -> u64 {
    1
}

fn auto() -> BackendChoice {
    BackendChoice::Auto
}

/// One run of the sweep.
#[derive(Clone, Debug)]
pub struct Point {
    pub index: usize,
    pub id: String,
    /// (path, value) of each axis, then the seed.
    pub params: Vec<(String, Value)>,
    pub seed: u64,
    pub config: Value,
}

impl Point {
    /// The model its config names (None for a config that names neither).
    pub fn model(&self) -> Option<Model> {
        self.config
            .get("model")
            .and_then(Value::as_str)
            .and_then(Model::from_name)
    }
}

fn axis_values(path: &str, a: &Axis) -> Result<Vec<Value>, ConfigError> {
    let num = |x: f64| {
        if x.fract() == 0.0 && x.abs() < 9e15 {
            Value::from(x as i64)
        } else {
            Value::from(x)
        }
    };
    let count = |k: usize| -> Result<(), ConfigError> {
        if k as u64 > MAX_POINTS {
            return Err(ConfigError(format!(
                "grid.{path}: {k} values: at most {MAX_POINTS} points per sweep"
            )));
        }
        Ok(())
    };
    if let Axis::Range(RangeSpec {
        linspace: Some((_, _, k)),
        ..
    })
    | Axis::Range(RangeSpec {
        logspace: Some((_, _, k)),
        ..
    }) = a
    {
        count(*k)?;
    }
    let v = match a {
        Axis::Values(v) => v.clone(),
        Axis::Range(RangeSpec {
            linspace: Some((a, b, k)),
            logspace: None,
        }) => (0..*k)
            .map(|i| num(a + (b - a) * i as f64 / (*k as f64 - 1.0).max(1.0)))
            .collect(),
        Axis::Range(RangeSpec {
            linspace: None,
            logspace: Some((a, b, k)),
        }) => {
            if !(*a > 0.0 && *b > 0.0) {
                return Err(ConfigError(format!(
                    "grid.{path}: logspace [{a}, {b}, {k}] needs start and stop > 0"
                )));
            }
            (0..*k)
                .map(|i| {
                    let f = i as f64 / (*k as f64 - 1.0).max(1.0);
                    num((a.ln() + (b.ln() - a.ln()) * f).exp().round_sig())
                })
                .collect()
        }
        Axis::Range(_) => {
            return Err(ConfigError(format!(
                "grid.{path}: give a list of values, or exactly one of linspace / logspace"
            )));
        }
    };
    if v.is_empty() {
        return Err(ConfigError(format!("grid.{path}: no values")));
    }
    Ok(v)
}

trait RoundSig {
    fn round_sig(self) -> f64;
}

impl RoundSig for f64 {
    /// Rounds to 12 significant digits, so that logspace(1e3, 1e6, 4) gives 1e4, not 9999.99.
    fn round_sig(self) -> f64 {
        if self == 0.0 || !self.is_finite() {
            return self;
        }
        let e = self.abs().log10().floor() as i32;
        let scale = 10f64.powi(11 - e);
        (self * scale).round() / scale
    }
}

/// Sets the field at a dotted path ("J.0.1": object keys and array indices) of a config whose
/// fields are all present (`with_defaults`); a path that names no field is an error, so a
/// mistyped grid axis is refused before anything runs.
pub fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), ConfigError> {
    let pointer: String = path
        .split('.')
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect();
    match root.pointer_mut(&pointer) {
        Some(slot) => {
            *slot = value;
            Ok(())
        }
        None => Err(ConfigError(format!(
            "grid path {}: {}",
            crate::io::shorten(path, 60),
            why_no_field(root, path)
        ))),
    }
}

/// Why `path` names no field of `root`: the first step that fails.
fn why_no_field(root: &Value, path: &str) -> String {
    let mut cur = root;
    for part in path.split('.') {
        let part_s = crate::io::shorten(part, 40);
        cur = match cur {
            Value::Object(m) => match m.get(part) {
                Some(v) => v,
                None => {
                    return format!(
                        "no such config field `{part_s}` (a field of the model's config, or an element such as J.0.1)"
                    );
                }
            },
            Value::Array(a) => match part.parse::<usize>() {
                Ok(i) if i < a.len() => &a[i],
                Ok(i) => return format!("index {i} out of range (length {})", a.len()),
                Err(_) => return format!("`{part_s}` is not an array index"),
            },
            _ => {
                return format!(
                    "`{part_s}` is inside a value that is neither an object nor an array"
                );
            }
        };
    }
    "no such config field".into()
}

/// The sweep file parsed, with its base config loaded (a base path is relative to the file).
pub fn load(path: &Path) -> Result<(SweepSpec, Value), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
    let label = path.display().to_string();
    load_text(&text, Some(&label), path.parent().unwrap_or(Path::new(".")))
}

/// A sweep spec's text parsed, with its base config loaded: a base path is relative to
/// `base_dir`; `label` (the file's path) prefixes the spec's messages.
pub fn load_text(
    text: &str,
    label: Option<&str>,
    base_dir: &Path,
) -> Result<(SweepSpec, Value), ConfigError> {
    let spec: SweepSpec = config::parse_json(text).map_err(|e| match label {
        Some(l) => ConfigError(format!("{l}: {}", e.0)),
        None => ConfigError(format!("sweep: {}", e.0)),
    })?;
    let base = match &spec.base {
        Value::String(p) => {
            let bp = base_dir.join(p);
            let t = std::fs::read_to_string(&bp)
                .map_err(|e| ConfigError(format!("base {}: cannot read: {e}", bp.display())))?;
            serde_json::from_str(&t).map_err(|e| {
                ConfigError(format!(
                    "base {}: {}",
                    bp.display(),
                    crate::config::json_error_message(&e)
                ))
            })?
        }
        Value::Object(_) => spec.base.clone(),
        other => {
            return Err(ConfigError(format!(
                "field `base`: a config path or object, got {}",
                config::shorten(&other.to_string(), 40)
            )));
        }
    };
    if spec.seeds == 0 {
        return Err(ConfigError("seeds = 0: must be >= 1".into()));
    }
    Ok((spec, base))
}

/// The base config with every field the file leaves out filled from the model's defaults, so
/// that any field (e.g. "J.0.1") can be set by path.
pub fn with_defaults(base: &Value) -> Result<Value, ConfigError> {
    let model = base.get("model").and_then(Value::as_str);
    let mut full = match model.and_then(Model::from_name) {
        Some(m) => ModelConfig::default_value(m),
        None => {
            return Err(ConfigError(format!(
                "base config: model = {model:?}: must be \"hydro\" or \"lif\""
            )));
        }
    };
    merge(&mut full, base);
    Ok(full)
}

/// Overlays `top` on `under`: objects field by field, except tagged variants (objects with a
/// "kind"), which replace what was there; anything else replaces.
fn merge(under: &mut Value, top: &Value) {
    match (under, top) {
        (Value::Object(u), Value::Object(t)) if !t.contains_key("kind") => {
            for (k, v) in t {
                match u.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        u.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (u, t) => *u = t.clone(),
    }
}

/// Most points one sweep may have (grid points x seeds): a sweep file is a plan a person
/// reads, and each point is a run directory.
pub const MAX_POINTS: u64 = 1_000_000;

/// Every point of the sweep, in a fixed order (axes in path order, seeds innermost).
pub fn points(spec: &SweepSpec, base: &Value) -> Result<Vec<Point>, ConfigError> {
    let base = &with_defaults(base)?;
    let axes: Vec<(String, Vec<Value>)> = spec
        .grid
        .iter()
        .map(|(p, a)| axis_values(p, a).map(|v| (p.clone(), v)))
        .collect::<Result<_, _>>()?;
    let total = axes
        .iter()
        .try_fold(spec.seeds, |acc, (_, v)| acc.checked_mul(v.len() as u64))
        .filter(|&t| t <= MAX_POINTS)
        .ok_or_else(|| {
            let sizes: Vec<String> = axes
                .iter()
                .map(|(p, v)| format!("{p}: {}", v.len()))
                .collect();
            ConfigError(format!(
                "the sweep has more than {MAX_POINTS} points (seeds: {}, {}): split it",
                spec.seeds,
                sizes.join(", ")
            ))
        })?;
    let _ = total;
    let mut combos: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (path, values) in &axes {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((path.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    let mut out = Vec::new();
    for combo in combos {
        for s in 0..spec.seeds {
            let seed = spec.seed_base + s;
            let mut cfg = base.clone();
            for (p, v) in &combo {
                set_path(&mut cfg, p, v.clone())?;
            }
            set_path(&mut cfg, "seed", Value::from(seed))?;
            let index = out.len();
            out.push(Point {
                index,
                id: format!("{index:05}"),
                params: combo.clone(),
                seed,
                config: cfg,
            });
        }
    }
    Ok(out)
}

/// `I/N` of `--shard`.
pub fn parse_shard(s: &str) -> Result<(usize, usize), ConfigError> {
    let bad = || ConfigError(format!("--shard {s}: expected I/N with 0 <= I < N"));
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Estimated memory of a point's run (bytes), from its model and sizes.
pub fn estimated_bytes(cfg: &Value) -> Result<f64, ConfigError> {
    point_config(cfg)?.estimated_bytes()
}

/// The typed config of a point (its `model` chooses the type), read as config files are
/// (integral numbers written as floats accepted in integer fields).
fn point_config(cfg: &Value) -> Result<ModelConfig, ConfigError> {
    ModelConfig::from_value(cfg, None)
}

/// The devices of a sweep, opened once: the one `backend` asks for, and the CPU for points
/// that run on the CPU only (`pairwise`, unless the GPU was demanded: then they fail).
pub struct SweepDevices {
    pub backend: BackendChoice,
    pub device: Device,
    cpu: Device,
    /// The notice of an `auto` fallback to the CPU, for the caller to show.
    pub note: Option<String>,
    /// Set (e.g. by Ctrl-C) to stop: the running points stop at their next chunk and are
    /// marked `interrupted`, no further point starts.
    pub stop: CancelToken,
}

impl SweepDevices {
    pub fn open(backend: BackendChoice) -> anyhow::Result<Self> {
        let (device, note) = Device::open(backend)?;
        Ok(SweepDevices {
            backend,
            device,
            cpu: Device::cpu()?,
            note,
            stop: CancelToken::new(),
        })
    }

    fn for_hydro(&self, c: &crate::hydro::config::HydroConfig) -> &Device {
        if c.coupling == crate::hydro::config::Coupling::Pairwise
            && self.backend != BackendChoice::Gpu
        {
            &self.cpu
        } else {
            &self.device
        }
    }
}

/// Whether `dir` holds a complete run of exactly `p`'s config: its run.json says complete and
/// its config.json (written when the point started) equals the point's config. A changed base
/// or grid gives other configs, so those points run again instead of keeping stale results.
pub fn is_done(p: &Point, dir: &Path) -> bool {
    let same_config = std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .is_some_and(|c| c == p.config);
    same_config && status_of(dir) == Some(Status::Complete)
}

/// Runs one point into `dir` unless it already holds a complete run of this config (then
/// Ok(false)). Returns Ok(true) if it ran; a failed run is Err with its message (run.json
/// records it). A directory that holds another config's run is emptied first.
pub fn run_point(p: &Point, dir: &Path, dev: &SweepDevices) -> anyhow::Result<bool> {
    if is_done(p, dir) {
        return Ok(false);
    }
    clear_stale(p, dir)?;
    std::fs::create_dir_all(dir)?;
    io::write_json(&dir.join("config.json"), &p.config)?;
    let text = serde_json::to_string(&p.config)?;
    let result = match p.model() {
        Some(Model::Hydro) => {
            let cfg: crate::hydro::config::HydroConfig = config::parse_json(&text)?;
            let device = dev.for_hydro(&cfg);
            cfg.validate(false)
                .map_err(anyhow::Error::from)
                .and_then(|s| {
                    let opts = crate::io::RunOptions::new(dir.to_path_buf());
                    crate::hydro::output::run(s, device, &opts, &mut dev.stop.clone()).map(|_| ())
                })
        }
        Some(Model::Lif) => {
            let cfg: crate::lif::config::LifConfig = config::parse_json(&text)?;
            cfg.validate().map_err(anyhow::Error::from).and_then(|s| {
                crate::lif::output::run(
                    s,
                    &dev.device,
                    &crate::io::RunOptions::new(dir.to_path_buf()),
                    &mut dev.stop.clone(),
                )
                .map(|_| ())
            })
        }
        None => Err(point_config(&p.config).err().map_or_else(
            || anyhow::anyhow!("model: must be \"hydro\" or \"lif\""),
            anyhow::Error::from,
        )),
    };
    if let Err(e) = result {
        // Errors before run.json existed (bad config) leave a failed record of their own.
        if status_of(dir) != Some(Status::Failed) {
            io::write_json(
                &dir.join("run.json"),
                &serde_json::json!({"status": "failed", "error": format!("{e:#}")}),
            )?;
        }
        return Err(e);
    }
    Ok(true)
}

/// Removes the files of a run of another config from `dir` (a changed sweep in the same
/// output directory), so that no file of the old run stays beside the new one.
fn clear_stale(p: &Point, dir: &Path) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else {
        return Ok(());
    };
    if serde_json::from_str::<Value>(&text).ok().as_ref() == Some(&p.config) {
        return Ok(());
    }
    std::fs::remove_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot clear the stale run in {}: {e}", dir.display()))
}

/// The `status` field of dir/run.json, if readable.
pub fn status_of(dir: &Path) -> Option<Status> {
    RunJson::read(dir)?.status
}

/// Key results of a run directory, as (column, value) pairs: status, error, throughput and
/// the model's steady-state numbers.
fn results(dir: &Path) -> Vec<(String, String)> {
    let v = RunJson::read(dir).unwrap_or_default();
    let text = |x: &Option<String>| x.as_deref().unwrap_or_default().replace(',', ";");
    let mut out = vec![
        (
            "status".to_string(),
            v.status.map(Status::name).unwrap_or_default().to_string(),
        ),
        ("error".to_string(), text(&v.error)),
    ];
    match v.model {
        Some(Model::Hydro) => {
            for (a, pop) in ["E", "I"].iter().enumerate() {
                for q in ["rate", "mean", "var"] {
                    let c = v
                        .late_time
                        .get(a)
                        .and_then(|p| p.get(q))
                        .copied()
                        .unwrap_or_default();
                    out.push((format!("{pop}_{q}"), cell(c.simulated)));
                    out.push((
                        format!("{pop}_{q}_err_x_sqrt_n"),
                        cell(c.error_vs_limit_times_sqrt_n),
                    ));
                    out.push((
                        format!("{pop}_{q}_coefficient"),
                        cell(c.first_order_coefficient),
                    ));
                }
            }
            out.push((
                "neuron_steps_per_second".into(),
                cell(v.neuron_steps_per_second),
            ));
        }
        Some(Model::Lif) => {
            let sm = v.summary.clone().unwrap_or_default();
            for (a, pop) in ["E", "I"].iter().enumerate() {
                out.push((format!("{pop}_rate_hz"), cell(sm.mean_rate_hz[a])));
                out.push((format!("{pop}_cv"), cell(sm.mean_cv[a])));
            }
            let th = v.theory.clone().unwrap_or_default();
            out.push(("theory_rate_hz".into(), cell(th.rate_hz)));
            out.push(("theory_cv".into(), cell(th.cv)));
            out.push((
                "wall_seconds_per_simulated_second".into(),
                cell(v.wall_seconds_per_simulated_second),
            ));
        }
        None => {}
    }
    out
}

/// Writes DIR/summary.csv for the points whose run directory exists, in point order.
pub fn write_summary(dir: &Path, points: &[Point]) -> anyhow::Result<usize> {
    let mut rows: Vec<Vec<(String, String)>> = Vec::new();
    for p in points {
        let rd = run_dir(dir, p);
        if !rd.join("run.json").exists() {
            continue;
        }
        let mut row = vec![("id".to_string(), p.id.clone())];
        for (path, v) in &p.params {
            row.push((path.clone(), v.to_string()));
        }
        row.push(("seed".into(), p.seed.to_string()));
        row.extend(results(&rd));
        rows.push(row);
    }
    // Columns: the union in first-seen order (hydro and lif rows differ).
    let mut cols: Vec<String> = Vec::new();
    for r in &rows {
        for (c, _) in r {
            if !cols.contains(c) {
                cols.push(c.clone());
            }
        }
    }
    let header: Vec<&str> = cols.iter().map(String::as_str).collect();
    let mut csv = Csv::new(&header);
    for r in &rows {
        let cells: Vec<String> = cols
            .iter()
            .map(|c| {
                r.iter()
                    .find(|(k, _)| k == c)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
            .collect();
        csv.row(&cells);
    }
    csv.write(&dir.join("summary.csv"))?;
    Ok(rows.len())
}

pub fn run_dir(dir: &Path, p: &Point) -> PathBuf {
    dir.join("runs").join(&p.id)
}

/// Largest n per population at which a sweep's seeds of one grid point run as one GPU batch
/// (above it one network keeps the device busy on its own).
pub const SEED_BATCH_MAX_N: u64 = 65536;

/// What one worker runs: a point, or the seeds of one grid point as one GPU batch.
enum Work<'a> {
    One(&'a Point),
    Seeds(Vec<&'a Point>),
}

/// The model H config of a point that may join a seed batch, if it may.
fn batchable(p: &Point) -> Option<crate::hydro::config::HydroConfig> {
    if p.model() != Some(Model::Hydro) {
        return None;
    }
    let c: crate::hydro::config::HydroConfig =
        config::parse_json(&serde_json::to_string(&p.config).ok()?).ok()?;
    (c.n <= SEED_BATCH_MAX_N
        && c.replicas == 1
        && c.coupling != crate::hydro::config::Coupling::Pairwise)
        .then_some(c)
}

/// The points to run, as work items: with `batch_seeds`, the unfinished seeds of each grid
/// point go together (points equal but for their seed); everything else runs alone.
fn work_items<'a>(mine: &[&'a Point], dir: &Path, batch_seeds: bool) -> Vec<Work<'a>> {
    let mut items: Vec<Work> = Vec::new();
    // Unfinished batchable points by grid point (their params), in first-seen order.
    let mut groups: Vec<Vec<&Point>> = Vec::new();
    for &p in mine {
        let done = is_done(p, &run_dir(dir, p));
        if batch_seeds && !done && batchable(p).is_some() {
            match groups.iter_mut().find(|g| g[0].params == p.params) {
                Some(g) => g.push(p),
                None => groups.push(vec![p]),
            }
        } else {
            items.push(Work::One(p));
        }
    }
    for g in groups {
        if g.len() == 1 {
            items.push(Work::One(g[0]));
        } else {
            items.push(Work::Seeds(g));
        }
    }
    items
}

/// Runs the seeds of one grid point as one batch; one result per point (as `run_point`).
fn run_seeds(points: &[&Point], dir: &Path, dev: &SweepDevices) -> Vec<anyhow::Result<bool>> {
    let mut runs = Vec::new();
    for p in points {
        let d = run_dir(dir, p);
        if let Err(e) = clear_stale(p, &d) {
            return points
                .iter()
                .map(|_| Err(anyhow::anyhow!("{e:#}")))
                .collect();
        }
        let prepared = std::fs::create_dir_all(&d)
            .map_err(anyhow::Error::from)
            .and_then(|_| io::write_json(&d.join("config.json"), &p.config));
        match (prepared, batchable(p)) {
            (Ok(()), Some(c)) => runs.push((c, d)),
            _ => {
                return points
                    .iter()
                    .map(|p| run_point(p, &run_dir(dir, p), dev))
                    .collect();
            }
        }
    }
    match crate::hydro::output::run_seed_batch(&runs, &dev.device, &mut dev.stop.clone()) {
        Ok(results) => results.into_iter().map(|r| r.map(|_| true)).collect(),
        Err(e) => {
            let msg = format!("{e:#}");
            runs.iter()
                .map(|(_, d)| {
                    let _ = io::write_json(
                        &d.join("run.json"),
                        &serde_json::json!({"status": "failed", "error": msg}),
                    );
                    Err(anyhow::anyhow!("{msg}"))
                })
                .collect()
        }
    }
}

/// Outcome counts of a sweep invocation.
#[derive(Clone, Copy, Debug, Default)]
pub struct SweepReport {
    pub ran: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// Runs the shard's points, `jobs` at a time (each run also uses the shared rayon pool),
/// rewriting summary.csv after each point so an interruption leaves it consistent with the
/// finished runs. Results do not depend on `jobs`: every run draws from its own counters. On
/// the GPU, the seeds of a grid point at n <= SEED_BATCH_MAX_N run as one batch (the same
/// numbers as their single runs, in one set of dispatches).
pub fn run_sweep(
    points: &[Point],
    dir: &Path,
    shard: (usize, usize),
    dev: &SweepDevices,
    jobs: usize,
    on_point: impl FnMut(&Point, &anyhow::Result<bool>) + Send,
) -> anyhow::Result<SweepReport> {
    std::fs::create_dir_all(dir.join("runs"))?;
    let mine: Vec<&Point> = points
        .iter()
        .filter(|p| p.index % shard.1 == shard.0)
        .collect();
    let batch_seeds = dev.device.kind() == crate::device::DeviceKind::Gpu;
    let items = work_items(&mine, dir, batch_seeds);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let shared = std::sync::Mutex::new((SweepReport::default(), on_point, None::<anyhow::Error>));
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if dev.stop.is_cancelled() {
                        break;
                    }
                    let Some(item) = items.get(k) else { break };
                    let done: Vec<(&Point, anyhow::Result<bool>)> = match item {
                        Work::One(p) => vec![(p, run_point(p, &run_dir(dir, p), dev))],
                        Work::Seeds(ps) => {
                            ps.iter().copied().zip(run_seeds(ps, dir, dev)).collect()
                        }
                    };
                    let mut g = shared.lock().unwrap_or_else(|e| e.into_inner());
                    for (p, r) in &done {
                        match r {
                            Ok(true) => g.0.ran += 1,
                            Ok(false) => g.0.skipped += 1,
                            Err(_) => g.0.failed += 1,
                        }
                        (g.1)(p, r);
                    }
                    if let Err(e) = write_summary(dir, points) {
                        g.2 = Some(e);
                    }
                }
            });
        }
    });
    let (rep, _, err) = shared.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = err {
        return Err(e);
    }
    write_summary(dir, points)?;
    Ok(rep)
}
