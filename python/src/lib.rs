//! `balnet._balnet`: the compiled half of the Python package `balnet`.
//!
//! Every function here runs the library exactly as the `balnet` command line does (the same
//! config parsing, overrides, device choice and run-directory writers), with the GIL released
//! while it works. The Python half (`python/balnet/`) turns what these functions return into
//! pandas DataFrames and result objects; complex values cross as JSON text and numeric
//! columns as little-endian bytes, so that no number is rounded on the way.
//!
//! Interruption: the work runs on a worker thread while the calling (main) thread wakes every
//! 50 ms, takes the GIL for a moment and runs Python's signal handlers
//! (`Python::check_signals`). A KeyboardInterrupt there sets the run's CancelToken: the run
//! stops at its next chunk of steps, writes its directory with run.json `interrupted`, and
//! the exception is raised once the worker is done.

use balnet::config;
use balnet::device::{BackendChoice, Device};
use balnet::hydro::config::{Coupling, HydroConfig};
use balnet::hydro::record::{self as hrec, RecordSample};
use balnet::lif::config::LifConfig;
use balnet::progress::{CancelToken, Observer, Records};
use balnet::resume::{Resumed, resumed_config};
use pyo3::create_exception;
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

create_exception!(
    _balnet,
    ConfigError,
    PyValueError,
    "A bad configuration or argument; the message is the command line's one-line error."
);
create_exception!(
    _balnet,
    DoesNotFitError,
    PyMemoryError,
    "The network does not fit the memory or the device's limits; the message has the numbers."
);

/// The Python exception for a library error: ConfigError for `Error::Config`,
/// DoesNotFitError for `Error::DoesNotFit`, RuntimeError for everything else.
fn to_py(e: anyhow::Error) -> PyErr {
    match balnet::Error::from(e) {
        balnet::Error::Config(m) => ConfigError::new_err(m),
        balnet::Error::DoesNotFit(m) => DoesNotFitError::new_err(m),
        balnet::Error::Runtime(e) => PyRuntimeError::new_err(format!("{e:#}")),
    }
}

fn config_err(msg: impl Into<String>) -> anyhow::Error {
    config::ConfigError(msg.into()).into()
}

/// Runs `f` on a worker thread with the GIL released, running Python's signal handlers on
/// this thread every 50 ms meanwhile; an exception from a handler (KeyboardInterrupt) sets
/// `stop` and is returned beside `f`'s result.
fn run_polled<T: Send>(
    py: Python<'_>,
    stop: &CancelToken,
    f: impl FnOnce() -> T + Send,
) -> PyResult<(T, Option<PyErr>)> {
    py.detach(|| {
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel::<()>();
            let worker = s.spawn(move || {
                let r = f();
                let _ = tx.send(());
                r
            });
            let mut signal: Option<PyErr> = None;
            // Until the worker is done (its message, or its sender dropped by a panic).
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(Duration::from_millis(50))
            {
                if signal.is_none()
                    && let Err(e) = Python::attach(|py| py.check_signals())
                {
                    stop.cancel();
                    signal = Some(e);
                }
            }
            match worker.join() {
                Ok(r) => Ok((r, signal)),
                Err(p) => {
                    let what = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(PyRuntimeError::new_err(format!("balnet panicked: {what}")))
                }
            }
        })
    })
}

/// The caller's progress callback `callback(done, total)` and the run's stop flag. An
/// exception from the callback stops the run (and is raised after it).
struct PyProgress {
    callback: Option<Py<PyAny>>,
    stop: CancelToken,
    error: Arc<Mutex<Option<PyErr>>>,
}

impl PyProgress {
    fn new(callback: Option<Py<PyAny>>, stop: CancelToken) -> Self {
        PyProgress {
            callback,
            stop,
            error: Arc::new(Mutex::new(None)),
        }
    }

    fn call(&self, args: (u64, u64)) {
        let Some(cb) = &self.callback else { return };
        if self.stop.is_cancelled() {
            return;
        }
        if let Err(e) = Python::attach(|py| cb.call1(py, args).map(|_| ())) {
            if let Ok(mut g) = self.error.lock() {
                g.get_or_insert(e);
            }
            self.stop.cancel();
        }
    }

    fn take_error(&self) -> Option<PyErr> {
        self.error.lock().ok().and_then(|mut g| g.take())
    }
}

/// Forwards progress and cancellation, and keeps a copy of every member's model H record
/// samples (the initial state first), from which the DataFrame of moments is built.
struct RunObserver {
    progress: PyProgress,
    samples: Vec<Vec<RecordSample>>,
}

impl Observer for RunObserver {
    fn on_records(&mut self, records: &Records<'_>) -> anyhow::Result<()> {
        if let Records::Hydro { member, samples } = *records {
            if self.samples.len() <= member {
                self.samples.resize_with(member + 1, Vec::new);
            }
            let have = self.samples[member].len();
            self.samples[member].extend_from_slice(samples.get(have..).unwrap_or_default());
        }
        Ok(())
    }
    fn progress(&mut self, done: u64, total: u64) {
        self.progress.call((done, total));
    }
    fn cancelled(&self) -> bool {
        self.progress.stop.is_cancelled()
    }
}

/// A config as the command line reads it: its text and, for a file, the path that prefixes
/// its error messages.
struct Source {
    text: String,
    label: Option<String>,
}

impl Source {
    fn new(path: Option<&str>, json: Option<&str>) -> anyhow::Result<Source> {
        match (path, json) {
            (Some(p), _) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| config_err(format!("{p}: cannot read: {e}")))?;
                Ok(Source {
                    text,
                    label: Some(p.to_string()),
                })
            }
            (None, Some(j)) => Ok(Source {
                text: j.to_string(),
                label: None,
            }),
            (None, None) => Err(config_err("no config given")),
        }
    }

    fn err(&self, msg: &str) -> anyhow::Error {
        match &self.label {
            Some(l) => config_err(format!("{l}: {msg}")),
            None => config_err(msg),
        }
    }

    /// The model ("hydro" or "lif"), with the command line's messages.
    fn model(&self) -> anyhow::Result<String> {
        let model = config::model_of(&self.text).map_err(|e| self.err(&e.0))?;
        Ok(model)
    }

    /// Sets top-level fields (a JSON object) in the config before it is parsed.
    fn with_fields(mut self, fields: Option<&str>) -> anyhow::Result<Source> {
        let Some(f) = fields else { return Ok(self) };
        let f: serde_json::Map<String, Value> = serde_json::from_str(f)
            .map_err(|e| config_err(format!("overrides: {}", config::json_error_message(&e))))?;
        if f.is_empty() {
            return Ok(self);
        }
        let mut v: Value = serde_json::from_str(&self.text).map_err(|e| {
            self.err(&format!(
                "malformed JSON: {}",
                config::json_error_message(&e)
            ))
        })?;
        let Some(obj) = v.as_object_mut() else {
            return Err(self.err("expected a JSON object"));
        };
        for (k, x) in f {
            obj.insert(k, x);
        }
        self.text = serde_json::to_string_pretty(&v)?;
        Ok(self)
    }

    fn parse<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        config::parse_json(&self.text).map_err(|e| self.err(&e.0))
    }
}

fn backend_choice(b: &str) -> anyhow::Result<BackendChoice> {
    BackendChoice::parse(b).map_err(|e| config_err(e.0))
}

/// What a run hands back to Python.
struct RunOutput {
    model: &'static str,
    note: Option<String>,
    warnings: Vec<String>,
    /// Model H: (replica number, setup, record samples) per member.
    members: Vec<(u32, balnet::hydro::config::HydroSetup, Vec<RecordSample>)>,
}

struct RunArgs {
    out: PathBuf,
    config_path: Option<String>,
    config_json: Option<String>,
    fields_json: Option<String>,
    backend: String,
    n: Option<u64>,
    steps: Option<u64>,
    seed: Option<u64>,
    force: bool,
    checkpoint_every: Option<u64>,
    resume: bool,
}

fn run_inner(a: &RunArgs, obs: &mut RunObserver) -> anyhow::Result<RunOutput> {
    if a.checkpoint_every == Some(0) {
        return Err(config_err("checkpoint_every = 0: must be >= 1"));
    }
    let mut backend = backend_choice(&a.backend)?;
    let (hydro, lif) = if a.resume {
        if a.backend == "auto" {
            match balnet::io::checkpoint::peek_backend_kind(&a.out.join("checkpoint.bin")) {
                Some(balnet::device::DeviceKind::Cpu) => backend = BackendChoice::Cpu,
                Some(balnet::device::DeviceKind::Gpu) => backend = BackendChoice::Gpu,
                None => {}
            }
        }
        match resumed_config(&a.out, "checkpoint_every", "resume")? {
            Resumed::Hydro(c) => (Some(*c), None),
            Resumed::Lif(c) => (None, Some(*c)),
        }
    } else {
        let src = Source::new(a.config_path.as_deref(), a.config_json.as_deref())?;
        let model = src.model()?;
        let src = src.with_fields(a.fields_json.as_deref())?;
        if model == "lif" {
            if a.n.is_some() {
                return Err(config_err(
                    "n applies to model H; set n_e and n_i in a model L config",
                ));
            }
            (None, Some(src.parse::<LifConfig>()?))
        } else {
            (Some(src.parse::<HydroConfig>()?), None)
        }
    };
    if let Some(cfg) = lif {
        let setup = balnet::lif::output::setup(cfg, a.seed, a.steps)?;
        let warnings = setup.warnings.clone();
        let (device, note) = Device::open_for(backend, false)?;
        let opts = balnet::lif::output::LifRunOptions {
            out: a.out.clone(),
            checkpoint_every: a.checkpoint_every,
            resume: a.resume,
        };
        balnet::lif::output::run_lif_with(setup, &device, &opts, obs)?;
        return Ok(RunOutput {
            model: "lif",
            note,
            warnings,
            members: Vec::new(),
        });
    }
    let cfg = hydro.ok_or_else(|| config_err("no config given"))?;
    let overrides = balnet::hydro::output::Overrides {
        n: a.n,
        steps: a.steps,
        seed: a.seed,
    };
    let setup = balnet::hydro::output::setup(cfg, &overrides, a.force)?;
    let warnings = setup.warnings.clone();
    let (device, note) = Device::open_for(backend, setup.config.coupling == Coupling::Pairwise)?;
    let opts = balnet::hydro::output::RunOptions {
        out: a.out.clone(),
        checkpoint_every: a.checkpoint_every,
        resume: a.resume,
    };
    let first = setup.config.replica;
    let s = setup.clone();
    balnet::hydro::output::run(setup, &device, &opts, obs)?;
    let members = std::mem::take(&mut obs.samples)
        .into_iter()
        .enumerate()
        .map(|(i, v)| (first + i as u32, s.clone(), v))
        .collect();
    Ok(RunOutput {
        model: "hydro",
        note,
        warnings,
        members,
    })
}

fn f64_bytes<'py>(py: Python<'py>, v: impl Iterator<Item = f64>) -> Bound<'py, PyBytes> {
    let b: Vec<u8> = v.flat_map(f64::to_le_bytes).collect();
    PyBytes::new(py, &b)
}

fn u64_bytes<'py>(py: Python<'py>, v: impl Iterator<Item = u64>) -> Bound<'py, PyBytes> {
    let b: Vec<u8> = v.flat_map(u64::to_le_bytes).collect();
    PyBytes::new(py, &b)
}

/// Runs a config (a file or JSON text) into `out` exactly as `balnet run` does and returns a
/// dict: `model`, `note` (the auto backend's fallback notice), `warnings`, and for model H
/// `members`, one dict per replica: `replica`, `columns` (names in moments.csv order) and the
/// columns as little-endian bytes (`t`, moments: f64; `step`: u64; `population`: u8 0 = E,
/// 1 = I).
#[pyfunction]
#[pyo3(signature = (out, config_path=None, config_json=None, fields_json=None, backend="auto".to_string(), n=None, steps=None, seed=None, force=false, checkpoint_every=None, resume=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn run(
    py: Python<'_>,
    out: PathBuf,
    config_path: Option<String>,
    config_json: Option<String>,
    fields_json: Option<String>,
    backend: String,
    n: Option<u64>,
    steps: Option<u64>,
    seed: Option<u64>,
    force: bool,
    checkpoint_every: Option<u64>,
    resume: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Py<PyDict>> {
    let args = RunArgs {
        out,
        config_path,
        config_json,
        fields_json,
        backend,
        n,
        steps,
        seed,
        force,
        checkpoint_every,
        resume,
    };
    let stop = CancelToken::new();
    let mut obs = RunObserver {
        progress: PyProgress::new(progress, stop.clone()),
        samples: Vec::new(),
    };
    let (r, signal) = run_polled(py, &stop, || run_inner(&args, &mut obs))?;
    if let Some(e) = signal {
        return Err(e);
    }
    if let Some(e) = obs.progress.take_error() {
        return Err(e);
    }
    let r = r.map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("model", r.model)?;
    d.set_item("note", r.note)?;
    d.set_item("warnings", r.warnings)?;
    let members = PyList::empty(py);
    for (replica, s, samples) in &r.members {
        let rows = hrec::rows_from_samples(s, samples);
        let m = PyDict::new(py);
        m.set_item("replica", *replica)?;
        let mut names = vec!["t", "step", "population"];
        m.set_item("t", f64_bytes(py, rows.iter().map(|r| r.t)))?;
        m.set_item("step", u64_bytes(py, rows.iter().map(|r| r.step)))?;
        let pops: Vec<u8> = rows.iter().map(|r| r.population as u8).collect();
        m.set_item("population", PyBytes::new(py, &pops))?;
        for &q in &s.config.record {
            use balnet::hydro::config::Moment;
            let (name, get): (&str, fn(&hrec::MomentRow) -> f64) = match q {
                Moment::Mean => ("mean", |r| r.mean),
                Moment::Var => ("var", |r| r.var),
                Moment::Rate => ("rate", |r| r.rate),
                Moment::Skewness => ("skewness", |r| r.skewness),
                Moment::ExcessKurtosis => ("excess_kurtosis", |r| r.excess_kurtosis),
                Moment::Drift => ("drift", |r| r.drift),
            };
            names.push(name);
            m.set_item(name, f64_bytes(py, rows.iter().map(get)))?;
        }
        m.set_item("columns", names)?;
        members.append(m)?;
    }
    d.set_item("members", members)?;
    Ok(d.unbind())
}

/// `balnet theory`: the large-n limit of a config as JSON text. Model H: per population
/// [E, I] the steady state `rate`, `mu`, `var` and the first-order coefficients `delta`,
/// `m1`, `v1`, `k1` (and with `n`, `n`); with `out`, writes theory.csv there. Model L: the
/// self-consistent `rate_hz`, `cv`, `mu_mv`, `sigma_mv`, `tau_ms`; with `out`, theory.json
/// and pv.csv.
#[pyfunction]
#[pyo3(signature = (config_path=None, config_json=None, fields_json=None, n=None, out=None))]
fn theory(
    py: Python<'_>,
    config_path: Option<String>,
    config_json: Option<String>,
    fields_json: Option<String>,
    n: Option<u64>,
    out: Option<PathBuf>,
) -> PyResult<String> {
    let work = || -> anyhow::Result<String> {
        let src = Source::new(config_path.as_deref(), config_json.as_deref())?;
        let model = src.model()?;
        let src = src.with_fields(fields_json.as_deref())?;
        if model == "lif" {
            if n.is_some() {
                return Err(config_err(
                    "n applies to model H; set n_e and n_i in a model L config",
                ));
            }
            let t = balnet::lif::output::theory_lif(src.parse::<LifConfig>()?, out.as_deref())?;
            let mut v = serde_json::to_value(&t)?;
            v["model"] = "lif".into();
            return Ok(serde_json::to_string(&v)?);
        }
        let ss =
            balnet::hydro::output::theory_hydro(src.parse::<HydroConfig>()?, n, out.as_deref())?;
        Ok(serde_json::to_string(&serde_json::json!({
            "model": "hydro",
            "n": n,
            "rate": ss.rate, "mu": ss.mu, "var": ss.var,
            "delta": ss.delta, "m1": ss.m1, "v1": ss.v1, "k1": ss.k1,
        }))?)
    };
    py.detach(work).map_err(to_py)
}

/// The sweep of a sweep file (`spec_path`), or of a spec given as JSON text (`spec_json`:
/// `base` a config object or a path relative to the working directory, `grid`, `seeds`,
/// `seed_base`, `backend`), run into `out` as `balnet sweep` does: DIR/runs/<id>/ per point,
/// DIR/summary.csv, and the convergence report for a model H sweep over n. `backend`
/// overrides the spec's. Returns JSON text: `ran`, `skipped`, `failed`, `interrupted`,
/// `note`, `convergence` (whether the report was written), `failures` ([id, message]).
#[pyfunction]
#[pyo3(signature = (out, spec_path=None, spec_json=None, backend=None, jobs=1, progress=None))]
fn sweep(
    py: Python<'_>,
    out: PathBuf,
    spec_path: Option<PathBuf>,
    spec_json: Option<String>,
    backend: Option<String>,
    jobs: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    use balnet::sweep as sw;
    let stop = CancelToken::new();
    let prog = PyProgress::new(progress, stop.clone());
    let work = || -> anyhow::Result<String> {
        let (mut spec, base) = match (&spec_path, &spec_json) {
            (Some(p), _) => sw::load(p)?,
            (None, Some(j)) => {
                let spec: sw::SweepSpec =
                    config::parse_json(j).map_err(|e| config_err(format!("sweep: {}", e.0)))?;
                let base = match &spec.base {
                    Value::String(p) => {
                        let t = std::fs::read_to_string(p)
                            .map_err(|e| config_err(format!("base {p}: cannot read: {e}")))?;
                        serde_json::from_str(&t).map_err(|e| {
                            config_err(format!("base {p}: {}", config::json_error_message(&e)))
                        })?
                    }
                    Value::Object(_) => spec.base.clone(),
                    other => {
                        return Err(config_err(format!(
                            "base: a config path or dict, got {}",
                            config::shorten(&other.to_string(), 40)
                        )));
                    }
                };
                if spec.seeds == 0 {
                    return Err(config_err("seeds = 0: must be >= 1"));
                }
                (spec, base)
            }
            (None, None) => return Err(config_err("no sweep given")),
        };
        if let Some(b) = &backend {
            spec.backend = backend_choice(b)?;
        }
        if jobs == 0 {
            return Err(config_err("jobs = 0: must be >= 1"));
        }
        let points = sw::points(&spec, &base)?;
        let convergence = spec.grid.contains_key("n")
            && points
                .first()
                .is_some_and(|p| p.config.get("model").and_then(|m| m.as_str()) == Some("hydro"));
        let mut devices = sw::SweepDevices::open(spec.backend)?;
        devices.stop = stop.clone();
        let total = points.len() as u64;
        let mut done = 0u64;
        let mut failures: Vec<(String, String)> = Vec::new();
        let rep = sw::run_sweep(&points, &out, (0, 1), &devices, jobs, |p, r| {
            done += 1;
            if let Err(e) = r {
                failures.push((p.id.clone(), format!("{e:#}")));
            }
            prog.call((done, total));
        })?;
        let interrupted = stop.is_cancelled();
        let report = convergence && !interrupted;
        if report {
            let rows = balnet::report::convergence::collect(&out)?;
            balnet::report::convergence::write(&out, &rows)?;
        }
        Ok(serde_json::to_string(&serde_json::json!({
            "ran": rep.ran, "skipped": rep.skipped, "failed": rep.failed,
            "interrupted": interrupted, "note": devices.note, "convergence": report,
            "failures": failures,
        }))?)
    };
    let (r, signal) = run_polled(py, &stop, work)?;
    if let Some(e) = signal {
        return Err(e);
    }
    if let Some(e) = prog.take_error() {
        return Err(e);
    }
    r.map_err(to_py)
}

/// What this build and machine offer, as JSON text: `version`, `isa` (the CPU instruction-set
/// level the CPU backend uses: BALNET_ISA or the best detected), `isa_available`, `adapters`
/// (every GPU adapter wgpu finds, as `balnet info --json`), `no_adapter_fix` when none.
#[pyfunction]
fn info(py: Python<'_>) -> PyResult<String> {
    let work = || -> anyhow::Result<String> {
        use balnet::device::isa::Isa;
        let isa = Isa::from_env().map(|i| i.name().to_string());
        let adapters = balnet::device::list_adapters();
        let fix = adapters
            .is_empty()
            .then_some(balnet::device::NO_ADAPTER_FIX);
        Ok(serde_json::to_string(&serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "isa": isa.as_ref().ok(),
            "isa_error": isa.as_ref().err().map(|e| format!("{e:#}")),
            "isa_available": Isa::available().iter().map(|i| i.name()).collect::<Vec<_>>(),
            "adapters": adapters,
            "no_adapter_fix": fix,
        }))?)
    };
    py.detach(work).map_err(to_py)
}

/// `balnet selftest --json` on `backend`: JSON text with `checks` (name, backend, passed,
/// detail), `passed`, `failed`, `adapter`, `note`.
#[pyfunction]
#[pyo3(signature = (backend="auto".to_string()))]
fn selftest(py: Python<'_>, backend: String) -> PyResult<String> {
    let work = || -> anyhow::Result<String> {
        let choice = backend_choice(&backend)?;
        let (device, note) = Device::open(choice)?;
        let gpu = device.gpu_context().cloned();
        let cpu = choice != BackendChoice::Gpu || gpu.is_some();
        let checks = balnet::selftest::run(gpu.as_ref(), cpu);
        let failed = checks.iter().filter(|c| !c.passed).count();
        Ok(serde_json::to_string(&serde_json::json!({
            "checks": checks, "passed": checks.len() - failed, "failed": failed,
            "adapter": gpu.map(|g| g.report.summary()), "note": note,
        }))?)
    };
    py.detach(work).map_err(to_py)
}

#[pymodule]
fn _balnet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ConfigError", m.py().get_type::<ConfigError>())?;
    m.add("DoesNotFitError", m.py().get_type::<DoesNotFitError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(theory, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(info, m)?)?;
    m.add_function(wrap_pyfunction!(selftest, m)?)?;
    Ok(())
}
