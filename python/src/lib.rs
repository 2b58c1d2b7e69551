//! `balnet._balnet`: the compiled half of the Python package `balnet`.
//!
//! Every function here converts its arguments into a request of the library's application
//! layer (`balnet::app`, which the `balnet` command line calls too: the same config parsing,
//! checks, overrides, device choice and run-directory writers) and its report into Python
//! values, with the GIL released while it works. `Simulation` keeps a network in process
//! (`balnet::app::session`). The Python half (`python/balnet/`) turns what these functions return into
//! pandas DataFrames and result objects; complex values cross as JSON text and numeric
//! columns as little-endian bytes, so that no number is rounded on the way.
//!
//! Interruption: the work runs on a worker thread while the calling (main) thread wakes every
//! 50 ms, takes the GIL for a moment and runs Python's signal handlers
//! (`Python::check_signals`). A KeyboardInterrupt there sets the run's CancelToken: the run
//! stops at its next chunk of steps, writes its directory with run.json `interrupted`, and
//! the exception is raised once the worker is done.

use balnet::app::run::{RunRequest, RunSummary, RunTarget};
use balnet::app::{ConfigRequest, ConfigSource, Overrides, Setup, Spelling};
use balnet::config;
use balnet::device::BackendChoice;
use balnet::hydro::config::HydroSetup;
use balnet::hydro::record::{self, RecordSample};
use balnet::progress::{CancelToken, Observer, Records};
use pyo3::create_exception;
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

mod simulation;

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

/// The result of `run_polled`, or the exception to raise instead: a signal handler's
/// (KeyboardInterrupt) first, then the progress callback's (`callback_error`).
fn raise_interruptions<T>(
    (r, signal): (T, Option<PyErr>),
    callback_error: Option<PyErr>,
) -> PyResult<T> {
    match (signal, callback_error) {
        (Some(e), _) | (None, Some(e)) => Err(e),
        (None, None) => Ok(r),
    }
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

/// The config request of a path or JSON text, with `fields_json` (a JSON object of top-level
/// fields) set in it.
fn config_request(
    path: Option<&str>,
    json: Option<&str>,
    fields_json: Option<&str>,
) -> anyhow::Result<ConfigRequest> {
    let source = match (path, json) {
        (Some(p), _) => ConfigSource::Path(PathBuf::from(p)),
        (None, Some(j)) => ConfigSource::Text(j.to_string()),
        (None, None) => return Err(config_err("no config given")),
    };
    let fields = match fields_json {
        Some(f) => serde_json::from_str(f)
            .map_err(|e| config_err(format!("overrides: {}", config::json_error_message(&e))))?,
        None => Default::default(),
    };
    Ok(ConfigRequest { source, fields })
}

fn backend_choice(b: &str) -> anyhow::Result<BackendChoice> {
    BackendChoice::parse(b).map_err(|e| config_err(e.0))
}

/// What a run hands back to Python.
struct RunOutput {
    model: config::Model,
    note: Option<String>,
    warnings: Vec<String>,
    /// Model H: (replica number, setup, record samples) per member.
    members: Vec<(u32, HydroSetup, Vec<RecordSample>)>,
}

fn run_inner(req: &RunRequest, obs: &mut RunObserver) -> anyhow::Result<RunOutput> {
    let prepared = balnet::app::run::resolve(req)?.open()?;
    let warnings = prepared.resolved.setup.warnings().to_vec();
    let note = prepared.note.clone();
    let hydro = match &prepared.resolved.setup {
        Setup::Hydro(s) => Some((**s).clone()),
        Setup::Lif(_) => None,
    };
    let report = prepared.run(obs)?;
    let members = match (&report.summary, hydro) {
        (RunSummary::Hydro(_), Some(s)) => std::mem::take(&mut obs.samples)
            .into_iter()
            .enumerate()
            .map(|(i, v)| (s.config.replica + i as u32, s.clone(), v))
            .collect(),
        _ => Vec::new(),
    };
    let model = match report.summary {
        RunSummary::Hydro(_) => config::Model::Hydro,
        RunSummary::Lif(_) => config::Model::Lif,
    };
    Ok(RunOutput {
        model,
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

fn f32_bytes<'py>(py: Python<'py>, v: impl Iterator<Item = f32>) -> Bound<'py, PyBytes> {
    let b: Vec<u8> = v.flat_map(f32::to_le_bytes).collect();
    PyBytes::new(py, &b)
}

fn u32_bytes<'py>(py: Python<'py>, v: impl Iterator<Item = u32>) -> Bound<'py, PyBytes> {
    let b: Vec<u8> = v.flat_map(u32::to_le_bytes).collect();
    PyBytes::new(py, &b)
}

/// One model H member's moments as a dict: `replica`, `columns` (names in moments.csv order)
/// and the columns as little-endian bytes (`t`, moments: f64; `step`: u64; `population`: u8
/// 0 = E, 1 = I).
fn member_dict<'py>(
    py: Python<'py>,
    replica: u32,
    s: &HydroSetup,
    samples: &[RecordSample],
) -> PyResult<Bound<'py, PyDict>> {
    let rows = record::rows_from_samples(s, samples);
    let m = PyDict::new(py);
    m.set_item("replica", replica)?;
    let mut names = vec!["t", "step", "population"];
    m.set_item("t", f64_bytes(py, rows.iter().map(|r| r.t)))?;
    m.set_item("step", u64_bytes(py, rows.iter().map(|r| r.step)))?;
    let pops: Vec<u8> = rows.iter().map(|r| r.population as u8).collect();
    m.set_item("population", PyBytes::new(py, &pops))?;
    for &q in &s.config.record {
        let name = balnet::hydro::output::moment_name(q);
        names.push(name);
        let values = rows
            .iter()
            .map(|r| balnet::hydro::output::moment_value(r, q));
        m.set_item(name, f64_bytes(py, values))?;
    }
    m.set_item("columns", names)?;
    Ok(m)
}

/// Runs a config (a file or JSON text) into `out` exactly as `balnet run` does and returns a
/// dict: `model`, `note` (the auto backend's fallback notice), `warnings`, and for model H
/// `members`, one dict per replica (see `member_dict`).
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
    let request = || -> anyhow::Result<RunRequest> {
        let target = if resume {
            RunTarget::Resume(out.clone())
        } else {
            let config = config_request(
                config_path.as_deref(),
                config_json.as_deref(),
                fields_json.as_deref(),
            )?;
            RunTarget::New {
                config,
                out: out.clone(),
            }
        };
        Ok(RunRequest {
            target,
            overrides: Overrides { n, steps, seed },
            backend: backend_choice(&backend)?,
            force,
            checkpoint_every,
            spelling: Spelling::Python,
        })
    };
    let req = request().map_err(to_py)?;
    let stop = CancelToken::new();
    let mut obs = RunObserver {
        progress: PyProgress::new(progress, stop.clone()),
        samples: Vec::new(),
    };
    let polled = run_polled(py, &stop, || run_inner(&req, &mut obs))?;
    let r = raise_interruptions(polled, obs.progress.take_error())?.map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("model", r.model.name())?;
    d.set_item("note", r.note)?;
    d.set_item("warnings", r.warnings)?;
    let members = PyList::empty(py);
    for (replica, s, samples) in &r.members {
        members.append(member_dict(py, *replica, s, samples)?)?;
    }
    d.set_item("members", members)?;
    Ok(d.unbind())
}

/// `balnet theory`: the large-n limit of a config as JSON text. Model H: per population
/// [E, I] the steady state `rate`, `mu`, `var`, the first-order coefficients `delta`, `m1`,
/// `v1`, `k1`, and with `n` the predictions there `rate_pred`, `mean_pred`, `var_pred`; with
/// `out`, writes theory.csv there. Model L: the self-consistent `rate_hz`, `cv`, `mu_mv`,
/// `sigma_mv`, `tau_ms`; with `out`, theory.json and pv.csv.
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
    use balnet::app::theory::TheoryReport;
    let work = || -> anyhow::Result<String> {
        let req = config_request(
            config_path.as_deref(),
            config_json.as_deref(),
            fields_json.as_deref(),
        )?;
        match balnet::app::theory::theory(&req, n, out.as_deref(), Spelling::Python)? {
            TheoryReport::Lif(t) => {
                let mut v = serde_json::to_value(&t)?;
                v["model"] = "lif".into();
                Ok(serde_json::to_string(&v)?)
            }
            TheoryReport::Hydro { steady: ss, n } => {
                let pred = n.map(|n| [0, 1].map(|a| TheoryReport::at_n(&ss, a, n)));
                let col = |k: usize| pred.map(|p| [p[0][k], p[1][k]]);
                Ok(serde_json::to_string(&serde_json::json!({
                    "model": "hydro",
                    "n": n,
                    "rate": ss.rate, "mu": ss.mu, "var": ss.var,
                    "delta": ss.delta, "m1": ss.m1, "v1": ss.v1, "k1": ss.k1,
                    "rate_pred": col(0), "mean_pred": col(1), "var_pred": col(2),
                }))?)
            }
        }
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
    use balnet::app::sweep::{self as app_sweep, SweepSource};
    let stop = CancelToken::new();
    let prog = PyProgress::new(progress, stop.clone());
    let work = || -> anyhow::Result<String> {
        let source = match (spec_path, spec_json) {
            (Some(p), _) => SweepSource::Path(p),
            (None, Some(j)) => SweepSource::Text(j),
            (None, None) => return Err(config_err("no sweep given")),
        };
        let backend = backend.as_deref().map(backend_choice).transpose()?;
        let loaded = app_sweep::load(&source, backend)?;
        let devices = app_sweep::open(&loaded, jobs, &stop, Spelling::Python)?;
        let total = loaded.points.len() as u64;
        let mut done = 0u64;
        let mut failures: Vec<(String, String)> = Vec::new();
        let mut on_point = |p: &balnet::sweep::Point, r: &anyhow::Result<bool>, _| {
            done += 1;
            if let Err(e) = r {
                failures.push((p.id.clone(), format!("{e:#}")));
            }
            prog.call((done, total));
        };
        let o = app_sweep::run(&loaded, &out, (0, 1), jobs, &devices, &mut on_point)?;
        Ok(serde_json::to_string(&serde_json::json!({
            "ran": o.report.ran, "skipped": o.report.skipped, "failed": o.report.failed,
            "interrupted": o.interrupted, "note": devices.note, "convergence": o.convergence,
            "failures": failures,
        }))?)
    };
    let polled = run_polled(py, &stop, work)?;
    raise_interruptions(polled, prog.take_error())?.map_err(to_py)
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
        let r = balnet::app::selftest::selftest(backend_choice(&backend)?)?;
        let failed = r.failed();
        Ok(serde_json::to_string(&serde_json::json!({
            "checks": r.checks, "passed": r.checks.len() - failed, "failed": failed,
            "adapter": r.adapter, "note": r.note,
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
    m.add_class::<simulation::Simulation>()?;
    Ok(())
}
