//! A simulation kept in process and stepped on demand (what the Python package's
//! `balnet.Simulation` drives): run for a duration any number of times, continuing the same
//! network, change the external drive between runs, read the state, checkpoint and restore.
//! Nothing is written unless asked.

use super::{ConfigRequest, Overrides, RunSummary, Setup, Spelling};
use crate::config::{ConfigError, Model};
use crate::device::{BackendChoice, Device};
use crate::io::checkpoint;
use crate::lif::record::SpikeChunk;
use crate::model_config::ModelConfig;
use crate::progress::{Observer, Outcome, Records};
use std::path::Path;

/// The simulation of either model.
pub enum Engine {
    Hydro(Box<crate::hydro::sim::Simulation>),
    Lif(Box<crate::lif::sim::Simulation>),
}

/// A simulation in process, with the spikes of `record.spikes` it has recorded (model L).
pub struct Session {
    pub engine: Engine,
    /// Model L: every spike of the `record.spikes` neurons so far.
    pub spikes: SpikeChunk,
    /// Why `auto` fell back to the CPU, if it did.
    pub note: Option<String>,
}

/// Forwards to the caller's observer and keeps model L's spikes.
struct Keep<'a> {
    inner: &'a mut dyn Observer,
    spikes: &'a mut SpikeChunk,
}

impl Observer for Keep<'_> {
    fn on_records(&mut self, records: &Records<'_>) -> anyhow::Result<()> {
        if let Records::Lif { spikes, .. } = records {
            self.spikes.extend(spikes);
        }
        self.inner.on_records(records)
    }
    fn progress(&mut self, done: u64, total: u64) {
        self.inner.progress(done, total);
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

impl Session {
    /// Builds the network of a config (with the overrides; `force`: model H above the
    /// stiffness threshold) on `backend`.
    pub fn open(
        config: &ConfigRequest,
        overrides: &Overrides,
        force: bool,
        backend: BackendChoice,
        spelling: Spelling,
    ) -> anyhow::Result<Session> {
        let setup = Setup::new(config.load()?, overrides, force, spelling)?;
        Self::build(setup, backend)
    }

    /// The simulation a checkpoint file was taken of, continued from it (its config, its
    /// kind of backend unless `backend` says otherwise).
    pub fn from_checkpoint(path: &Path, backend: BackendChoice) -> anyhow::Result<Session> {
        let ck = checkpoint::read(path)?;
        let config = ModelConfig::from_value(&ck.config, Some(&path.display().to_string()))?;
        let backend = super::backend_for_checkpoint(backend, Some(ck.backend_kind));
        let setup = Setup::new(config, &Overrides::default(), true, Spelling::Python)?;
        let mut s = Self::build(setup, backend)?;
        s.restore_from(&ck)?;
        Ok(s)
    }

    fn build(setup: Setup, backend: BackendChoice) -> anyhow::Result<Session> {
        let (device, note) = Device::open_for(backend, setup.cpu_only())?;
        Self::on_device(setup, &device, note)
    }

    /// Builds the network of `setup` on an open device (`note`: why `auto` chose it).
    pub fn on_device(
        setup: Setup,
        device: &Device,
        note: Option<String>,
    ) -> anyhow::Result<Session> {
        let engine = match setup {
            Setup::Hydro(s) => {
                Engine::Hydro(Box::new(crate::hydro::sim::Simulation::new(*s, device)?))
            }
            Setup::Lif(s) => Engine::Lif(Box::new(crate::lif::sim::Simulation::new(*s, device)?)),
        };
        Ok(Session {
            engine,
            spikes: SpikeChunk::default(),
            note,
        })
    }

    /// Runs to the configured end (`duration`, or `steps`) and writes the run directory of
    /// `opts`, the records so far included: what `balnet run` writes for a fresh simulation
    /// (with `opts.resume`, from the directory's checkpoint).
    pub fn write_run(
        &mut self,
        opts: &crate::io::RunOptions,
        obs: &mut dyn Observer,
    ) -> anyhow::Result<RunSummary> {
        let mut keep = Keep {
            inner: obs,
            spikes: &mut self.spikes,
        };
        Ok(match &mut self.engine {
            Engine::Hydro(s) => RunSummary::Hydro(Box::new(crate::hydro::output::run_simulation(
                s, opts, &mut keep,
            )?)),
            Engine::Lif(s) => RunSummary::Lif(Box::new(crate::lif::output::run_simulation(
                s, opts, &mut keep,
            )?)),
        })
    }

    pub fn model(&self) -> Model {
        match &self.engine {
            Engine::Hydro(_) => Model::Hydro,
            Engine::Lif(_) => Model::Lif,
        }
    }

    /// The time step (model H: its time unit; model L: ms).
    pub fn dt(&self) -> f64 {
        match &self.engine {
            Engine::Hydro(s) => s.setup().config.dt,
            Engine::Lif(s) => s.setup().config.dt,
        }
    }

    pub fn steps_done(&self) -> u64 {
        match &self.engine {
            Engine::Hydro(s) => s.steps_done(),
            Engine::Lif(s) => s.steps_done(),
        }
    }

    /// The steps of `duration` (rounded to whole steps); a negative or non-finite duration
    /// is refused.
    pub fn steps_of(&self, duration: f64) -> Result<u64, ConfigError> {
        let steps = (duration / self.dt()).round();
        if !duration.is_finite() || duration < 0.0 || steps > crate::driver::MAX_STEPS as f64 {
            return Err(ConfigError(format!(
                "duration = {}: must be a finite time >= 0 of at most {} steps of dt = {}",
                crate::config::fmt_value(&duration),
                crate::driver::MAX_STEPS,
                crate::config::fmt_value(&self.dt())
            )));
        }
        Ok(steps as u64)
    }

    /// Advances `duration` (model H: time units; model L: ms, the warm-up included in the
    /// first runs), continuing the same network.
    pub fn run(&mut self, duration: f64, obs: &mut dyn Observer) -> anyhow::Result<Outcome> {
        let steps = self.steps_of(duration)?;
        let mut keep = Keep {
            inner: obs,
            spikes: &mut self.spikes,
        };
        let outcome = match &mut self.engine {
            Engine::Hydro(s) => s.run(steps, &mut keep)?,
            Engine::Lif(s) => s.run(steps, &mut keep)?,
        };
        Ok(outcome)
    }

    /// The model L simulation, for `what` (a call that applies to model L only).
    pub fn lif(&mut self, what: &str) -> Result<&mut crate::lif::sim::Simulation, ConfigError> {
        match &mut self.engine {
            Engine::Lif(s) => Ok(s),
            Engine::Hydro(_) => Err(ConfigError(format!(
                "{what} applies to model L; this is a model H simulation"
            ))),
        }
    }

    /// The model H simulation, for `what` (a call that applies to model H only).
    pub fn hydro(&mut self, what: &str) -> Result<&mut crate::hydro::sim::Simulation, ConfigError> {
        match &mut self.engine {
            Engine::Hydro(s) => Ok(s),
            Engine::Lif(_) => Err(ConfigError(format!(
                "{what} applies to model H; this is a model L simulation"
            ))),
        }
    }

    /// Model L: the external rate nu_X (Hz) from the next step on.
    pub fn set_nu_x(&mut self, nu_x: f64) -> anyhow::Result<()> {
        Ok(self.lif("set_nu_x")?.set_nu_x(nu_x)?)
    }

    /// Model H: the external drive `h`, or the balanced `rates` it is solved from (exactly
    /// one), from the next step on.
    pub fn set_hydro_drive(
        &mut self,
        h: Option<[f64; 2]>,
        rates: Option<[f64; 2]>,
    ) -> anyhow::Result<()> {
        let sim = self.hydro("set_drive")?;
        Ok(sim.set_drive(h, rates)?)
    }

    /// Writes a checkpoint file of the simulation now (the same format as a run's
    /// checkpoint.bin).
    pub fn checkpoint(&mut self, path: &Path) -> anyhow::Result<()> {
        let mut ck = match &mut self.engine {
            Engine::Hydro(s) => s.checkpoint()?,
            Engine::Lif(s) => s.checkpoint()?,
        };
        ck.blobs
            .push(checkpoint::to_blob("session_spikes", &self.spike_words()));
        checkpoint::write(path, &ck)
    }

    /// Continues from a checkpoint file of the same network.
    pub fn restore(&mut self, path: &Path) -> anyhow::Result<()> {
        let ck = checkpoint::read(path)?;
        self.restore_from(&ck)
    }

    fn restore_from(&mut self, ck: &checkpoint::Checkpoint) -> anyhow::Result<()> {
        match &mut self.engine {
            Engine::Hydro(s) => s.restore(ck)?,
            Engine::Lif(s) => s.restore(ck)?,
        }
        let words: Vec<u32> =
            checkpoint::blob_vec(&ck.blobs, "session_spikes", None).unwrap_or_default();
        self.spikes = SpikeChunk::default();
        for w in words.chunks_exact(2) {
            self.spikes.push(w[0], w[1]);
        }
        Ok(())
    }

    fn spike_words(&self) -> Vec<u32> {
        self.spikes
            .step
            .iter()
            .zip(&self.spikes.neuron)
            .flat_map(|(&s, &n)| [s, n])
            .collect()
    }
}
