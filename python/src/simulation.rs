//! `balnet._balnet.Simulation`: a network kept in process (`balnet::app::session::Session`),
//! stepped by `run(duration)` any number of times; the Python class `balnet.Simulation`
//! turns what it returns into pandas and NumPy objects.

use super::{
    PyProgress, backend_choice, config_request, f32_bytes, f64_bytes, member_dict,
    raise_interruptions, run_polled, to_py, u32_bytes,
};
use balnet::app::session::{Engine, Session};
use balnet::app::{Overrides, Spelling};
use balnet::progress::{CancelToken, Observer};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// Progress and Ctrl-C for `run`.
struct StepObserver {
    progress: PyProgress,
}

impl Observer for StepObserver {
    fn progress(&mut self, done: u64, total: u64) {
        self.progress.call((done, total));
    }
    fn cancelled(&self) -> bool {
        self.progress.stop.is_cancelled()
    }
}

#[pyclass(module = "balnet._balnet")]
pub struct Simulation {
    session: Mutex<Session>,
    warnings: Vec<String>,
}

impl Simulation {
    fn lock(&self) -> PyResult<MutexGuard<'_, Session>> {
        self.session.try_lock().map_err(|e| match e {
            std::sync::TryLockError::WouldBlock => PyRuntimeError::new_err(
                "balnet: this Simulation is busy (running in another thread)",
            ),
            std::sync::TryLockError::Poisoned(_) => {
                PyRuntimeError::new_err("balnet: this Simulation panicked earlier")
            }
        })
    }

    fn wrap(session: Session) -> Self {
        let warnings = match &session.engine {
            Engine::Hydro(s) => s.setup().warnings.clone(),
            Engine::Lif(s) => s.setup().warnings.clone(),
        };
        Simulation {
            session: Mutex::new(session),
            warnings,
        }
    }
}

/// Every model H member's moments so far (see `member_dict`).
fn member_list<'py>(
    py: Python<'py>,
    sim: &balnet::hydro::sim::Simulation,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for (i, m) in sim.members().iter().enumerate() {
        list.append(member_dict(py, m.replica, sim.setup(), sim.records(i))?)?;
    }
    Ok(list)
}

#[pymethods]
impl Simulation {
    /// Builds the network of a config (a file or JSON text, with `fields_json` set in it) on
    /// `backend`; `n` and `seed` as `balnet.run`'s.
    #[new]
    #[pyo3(signature = (config_path=None, config_json=None, fields_json=None, backend="auto".to_string(), n=None, seed=None, steps=None, force=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        config_path: Option<String>,
        config_json: Option<String>,
        fields_json: Option<String>,
        backend: String,
        n: Option<u64>,
        seed: Option<u64>,
        steps: Option<u64>,
        force: bool,
    ) -> PyResult<Self> {
        let work = || -> anyhow::Result<Session> {
            let req = config_request(
                config_path.as_deref(),
                config_json.as_deref(),
                fields_json.as_deref(),
            )?;
            let o = Overrides { n, steps, seed };
            Session::open(&req, &o, force, backend_choice(&backend)?, Spelling::Python)
        };
        // Building a large network takes a while: Ctrl-C meanwhile is raised once it is built.
        let polled = run_polled(py, &CancelToken::new(), work)?;
        Ok(Self::wrap(
            raise_interruptions(polled, None)?.map_err(to_py)?,
        ))
    }

    /// The simulation a checkpoint file holds (`checkpoint`, or a run's checkpoint.bin),
    /// continued from it.
    #[staticmethod]
    #[pyo3(signature = (path, backend="auto".to_string()))]
    fn from_checkpoint(py: Python<'_>, path: PathBuf, backend: String) -> PyResult<Self> {
        let work = || Session::from_checkpoint(&path, backend_choice(&backend)?);
        Ok(Self::wrap(py.detach(work).map_err(to_py)?))
    }

    /// "hydro" or "lif".
    #[getter]
    fn model(&self) -> PyResult<&'static str> {
        Ok(self.lock()?.model().name())
    }

    #[getter]
    fn dt(&self) -> PyResult<f64> {
        Ok(self.lock()?.dt())
    }

    #[getter]
    fn steps_done(&self) -> PyResult<u64> {
        Ok(self.lock()?.steps_done())
    }

    /// The auto backend's notice (a fallback to the CPU), if any.
    #[getter]
    fn note(&self) -> PyResult<Option<String>> {
        Ok(self.lock()?.note.clone())
    }

    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// "cpu (2 threads, avx2)" or "gpu (adapter)".
    #[getter]
    fn backend(&self) -> PyResult<String> {
        let s = self.lock()?;
        Ok(match &s.engine {
            Engine::Hydro(h) => h.backend_name().to_string(),
            Engine::Lif(l) => l.backend_name(),
        })
    }

    /// Advances `duration` (model L: ms; model H: its time unit), continuing the network;
    /// returns the status: "complete", "interrupted" (Ctrl-C or the callback raised; the
    /// exception follows) or "failed" (`failure` says why).
    #[pyo3(signature = (duration, progress=None))]
    fn run(&self, py: Python<'_>, duration: f64, progress: Option<Py<PyAny>>) -> PyResult<String> {
        let stop = CancelToken::new();
        let mut obs = StepObserver {
            progress: PyProgress::new(progress, stop.clone()),
        };
        let mut s = self.lock()?;
        let session: &mut Session = &mut s;
        let polled = run_polled(py, &stop, || session.run(duration, &mut obs))?;
        let outcome = raise_interruptions(polled, obs.progress.take_error())?.map_err(to_py)?;
        let failed = match &s.engine {
            Engine::Hydro(h) => (0..h.members().len()).all(|i| h.failure(i).is_some()),
            Engine::Lif(l) => l.failure().is_some(),
        };
        Ok(outcome.status(failed).name().to_string())
    }

    /// Why the simulation failed (a non-finite state), if it did.
    #[getter]
    fn failure(&self) -> PyResult<Option<String>> {
        let s = self.lock()?;
        Ok(match &s.engine {
            Engine::Hydro(h) => h.failure(0).map(String::from),
            Engine::Lif(l) => l.failure().map(String::from),
        })
    }

    /// Model L: the external rate nu_X (Hz) from the next step on.
    fn set_nu_x(&self, nu_x: f64) -> PyResult<()> {
        self.lock()?.set_nu_x(nu_x).map_err(to_py)
    }

    /// Model H: the external drive `h`, or the balanced `rates` it is solved from (exactly
    /// one, [E, I]), from the next step on.
    #[pyo3(signature = (h=None, rates=None))]
    fn set_drive(&self, h: Option<[f64; 2]>, rates: Option<[f64; 2]>) -> PyResult<()> {
        self.lock()?.set_hydro_drive(h, rates).map_err(to_py)
    }

    /// The resolved config now (JSON text).
    fn config_json(&self) -> PyResult<String> {
        let s = self.lock()?;
        let v = match &s.engine {
            Engine::Hydro(h) => serde_json::to_string(&h.setup().config),
            Engine::Lif(l) => serde_json::to_string(&l.setup().config),
        };
        v.map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// Model L: the population rates per bin (`t_ms`, `rate_e_hz`, `rate_i_hz` as f64
    /// bytes; the last bin may still be filling), `bin_ms`, `recorded_ms`, and the
    /// mean-field prediction of the current drive (`theory`: JSON text or None).
    fn lif_rates<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut s = self.lock()?;
        let sim = s.lif("rates").map_err(|e| to_py(e.into()))?;
        let setup = sim.setup().clone();
        let theory = sim.theory();
        let rec = sim.recording().map_err(|e| to_py(e.into()))?;
        let bin_ms = rec.bin_steps as f64 * setup.config.dt;
        let rows: Vec<[f64; 3]> = rec
            .bins
            .iter()
            .enumerate()
            .map(|(b, c)| balnet::lif::output::rate_row(b, c, bin_ms, [setup.n_e, setup.n_i]))
            .collect();
        let d = PyDict::new(py);
        for (k, name) in ["t_ms", "rate_e_hz", "rate_i_hz"].into_iter().enumerate() {
            d.set_item(name, f64_bytes(py, rows.iter().map(|r| r[k])))?;
        }
        d.set_item("bin_ms", bin_ms)?;
        d.set_item("recorded_ms", rec.recorded_ms)?;
        let th = theory.map(|p| {
            serde_json::json!({"rate_hz": p.rate, "cv": p.cv, "mu_mv": p.mu,
                "sigma_mv": p.sigma, "tau_ms": p.tau * 1e3})
            .to_string()
        });
        d.set_item("theory", th)?;
        Ok(d)
    }

    /// Model L: per neuron (E first) `rate_hz` and `cv` (NaN below 3 spikes) as f32 bytes,
    /// as neurons.npy holds them, and `n_e`.
    fn lif_neurons<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut s = self.lock()?;
        let sim = s.lif("neurons").map_err(|e| to_py(e.into()))?;
        let n_e = sim.setup().n_e;
        let rec = sim.recording().map_err(|e| to_py(e.into()))?;
        let cols = rec.per_neuron();
        let d = PyDict::new(py);
        d.set_item("rate_hz", f32_bytes(py, cols.iter().step_by(2).copied()))?;
        d.set_item("cv", f32_bytes(py, cols.iter().skip(1).step_by(2).copied()))?;
        d.set_item("n_e", n_e)?;
        Ok(d)
    }

    /// Model L: the spikes of `record.spikes` so far (`step`: recorded step, `neuron`: global
    /// id; u32 bytes) and the raster (`raster_t_ms` f64, `raster_neuron` u32).
    fn lif_spikes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut s = self.lock()?;
        let d = PyDict::new(py);
        d.set_item("step", u32_bytes(py, s.spikes.step.iter().copied()))?;
        d.set_item("neuron", u32_bytes(py, s.spikes.neuron.iter().copied()))?;
        let sim = s.lif("spikes").map_err(|e| to_py(e.into()))?;
        let rec = sim.host_recording();
        d.set_item("raster_t_ms", f64_bytes(py, rec.raster.iter().map(|r| r.0)))?;
        d.set_item(
            "raster_neuron",
            u32_bytes(py, rec.raster.iter().map(|r| r.1)),
        )?;
        d.set_item("n_e", sim.setup().n_e)?;
        Ok(d)
    }

    /// Model L: every neuron's membrane potential `v` (mV) and refractory clock
    /// `refractory` (ms left; <= 0 when not refractory) now, as f32 bytes.
    fn lif_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut s = self.lock()?;
        let sim = s.lif("state").map_err(|e| to_py(e.into()))?;
        let st = sim.neuron_state().map_err(|e| to_py(e.into()))?;
        let d = PyDict::new(py);
        d.set_item("v", f32_bytes(py, st.iter().map(|x| x.v)))?;
        d.set_item("refractory", f32_bytes(py, st.iter().map(|x| x.refractory)))?;
        Ok(d)
    }

    /// Model H: each member's moments so far (as `balnet.run`'s `members`).
    fn hydro_members<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut s = self.lock()?;
        member_list(py, s.hydro("moments").map_err(|e| to_py(e.into()))?)
    }

    /// Model H: the state x of member `member` (E neurons, then I) as f32 bytes.
    #[pyo3(signature = (member=0))]
    fn hydro_state<'py>(&self, py: Python<'py>, member: usize) -> PyResult<Bound<'py, PyAny>> {
        let mut s = self.lock()?;
        let sim = s.hydro("hydro_state").map_err(|e| to_py(e.into()))?;
        let x = sim.state(member).map_err(|e| to_py(e.into()))?;
        Ok(f32_bytes(py, x.into_iter()).into_any())
    }

    /// Runs to the configured end and writes the run directory `out` (what `balnet run`
    /// writes; the records so far included). Returns what `balnet._balnet.run` returns.
    #[pyo3(signature = (out, checkpoint_every=None, progress=None))]
    fn write_run<'py>(
        &self,
        py: Python<'py>,
        out: PathBuf,
        checkpoint_every: Option<u64>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        balnet::app::check_checkpoint_every(checkpoint_every, Spelling::Python)
            .map_err(|e| to_py(e.into()))?;
        let stop = CancelToken::new();
        let mut obs = StepObserver {
            progress: PyProgress::new(progress, stop.clone()),
        };
        let opts = balnet::io::RunOptions {
            out,
            checkpoint_every,
            resume: false,
        };
        let mut s = self.lock()?;
        let session: &mut Session = &mut s;
        let polled = run_polled(py, &stop, || session.write_run(&opts, &mut obs))?;
        raise_interruptions(polled, obs.progress.take_error())?.map_err(to_py)?;
        let d = PyDict::new(py);
        d.set_item("model", s.model().name())?;
        d.set_item("note", s.note.clone())?;
        d.set_item("warnings", self.warnings.clone())?;
        let members = match &s.engine {
            Engine::Hydro(h) => member_list(py, h)?,
            Engine::Lif(_) => PyList::empty(py),
        };
        d.set_item("members", members)?;
        Ok(d)
    }

    /// Writes a checkpoint file of the simulation now.
    fn checkpoint(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let mut s = self.lock()?;
        let session: &mut Session = &mut s;
        py.detach(|| session.checkpoint(&path)).map_err(to_py)
    }

    /// Continues from a checkpoint file of the same network (its config, replica and kind of
    /// backend); anything else is refused.
    fn restore(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let mut s = self.lock()?;
        let session: &mut Session = &mut s;
        py.detach(|| session.restore(&path)).map_err(to_py)
    }
}
