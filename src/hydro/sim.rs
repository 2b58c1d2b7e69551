//! The model H simulation: one object that holds the networks of a run (one, R replicas, or
//! the seeds of a sweep point batched together), steps them on a [`Device`] in chunks, keeps
//! their records in memory, and checkpoints and restores them. Everything that runs model H
//! (the CLI, sweeps, tests, benches, the Python package) drives this object.
//!
//! ```
//! use balnet::device::Device;
//! use balnet::hydro::{HydroConfig, Simulation};
//! use balnet::progress::Quiet;
//!
//! // 2 x 3000 neurons for 2.5 time units.
//! let config = HydroConfig { n: 3000, duration: 2.5, ..HydroConfig::default() };
//! let setup = config.validate(false).unwrap();
//! let mut sim = Simulation::new(setup, &Device::cpu().unwrap()).unwrap();
//! sim.run_to_end(&mut Quiet).unwrap();
//! // Late-time moments against the limit plus its first-order correction in 1/sqrt(n).
//! for p in sim.late_time(0) {
//!     let rate = p.rate;
//!     // The population rate is pinned by balance to r + delta/sqrt(n), up to sampling noise
//!     // of order 1/n^(3/4) and an O(dt) offset that `corrected_at_dt` includes.
//!     assert!((rate.simulated - rate.corrected_at_dt).abs() < 0.01, "{}: {rate:?}", p.population);
//! }
//! ```

use crate::device::{CpuDevice, Device, DeviceKind};
use crate::hydro::backend::HydroBackend;
use crate::hydro::config::{Coupling, HydroSetup};
use crate::hydro::cpu::HydroCpu;
pub use crate::hydro::gpu::Member;
use crate::hydro::gpu::{HydroGpu, HydroLayout};
use crate::hydro::record::{self, LatePopulation, MomentRow, RecordSample};
use crate::hydro::step::HydroConsts;
use crate::hydro::theory::{self, TheoryPoint};
use crate::io::checkpoint::{self, Checkpoint};
use crate::progress::{Observer, Outcome, Records};
use crate::{Error, Result};
use rayon::prelude::*;
use std::sync::Arc;
use std::time::Instant;

/// The networks of a simulation on their backend.
enum Engine {
    Cpu(CpuDevice, Vec<HydroCpu>),
    /// Consecutive GPU batches (more than one only when the members' state does not fit one
    /// storage binding).
    Gpu(Vec<HydroGpu>),
}

/// Model H networks that share one configuration, stepped together.
pub struct Simulation {
    setup: HydroSetup,
    members: Vec<Member>,
    engine: Engine,
    records: Vec<Vec<RecordSample>>,
    failures: Vec<Option<String>>,
    done: u64,
    name: String,
    adapter: Option<String>,
    gpu: Option<crate::device::GpuRunInfo>,
    setup_seconds: f64,
    stepping_seconds: f64,
    stepped: u64,
    /// `theory()`, once computed.
    theory: std::sync::OnceLock<Option<Vec<TheoryPoint>>>,
}

/// The members of a run: replicas `replica .. replica + replicas` of the config's seed.
pub fn default_members(s: &HydroSetup) -> Vec<Member> {
    let key = crate::rng::seed_key(s.config.seed);
    (0..s.config.replicas)
        .map(|r| Member {
            key,
            replica: s.config.replica + r,
        })
        .collect()
}

/// Estimated host memory (bytes) of `members` networks of `s`: the state (4 bytes per neuron,
/// plus a spike byte in `shared` mode, twice over while the CPU builds it), the per-step
/// alias tables, and the records kept in memory (one sample per record point and member,
/// and the moment rows written from them at the end).
pub fn memory_estimate(s: &HydroSetup, members: u64) -> f64 {
    let n = 2.0 * s.config.n as f64;
    let per_neuron = if s.config.coupling == Coupling::Shared {
        9.0
    } else {
        8.0
    };
    let records = (s.steps / s.config.record_every + 1) as f64;
    let per_record =
        (std::mem::size_of::<RecordSample>() + 2 * std::mem::size_of::<MomentRow>()) as f64;
    members as f64
        * (n * per_neuron
            + 4.0 * 4.0 * (crate::rng::alias::ALIAS_CAP as f64) * 4.0
            + records * per_record)
}

/// Estimated device memory of the GPU backend for `members` networks of `s` in the kernel
/// layout `cpu_layout` (`HydroLayout::bytes`: the x state, 8 bytes per padded neuron pair,
/// spike words in `shared` mode, partial sums, alias tables and the record ring). The x state
/// of one network is split over up to `HYDRO_X_PARTS_MAX` storage bindings of `max_binding`
/// bytes (a larger network is refused).
pub fn device_memory_estimate(
    s: &HydroSetup,
    members: u64,
    cpu_layout: bool,
    max_binding: u64,
) -> crate::device::DeviceMemory {
    let c = HydroConsts::new(s);
    let all = HydroLayout::new(c.n as u64, members.max(1), &c, cpu_layout, 65536);
    let one = HydroLayout::new(c.n as u64, 1, &c, cpu_layout, 65536);
    let bytes = all.bytes(s.config.coupling);
    let x = 2 * one.n_pad * 4;
    crate::device::DeviceMemory {
        peak_bytes: bytes,
        peak_phase: "stepping",
        stepping_bytes: bytes,
        largest_array: "x state (both populations, all networks)",
        largest_array_bytes: members.max(1) * x,
        largest_array_bindings: (members.max(1) * x).div_ceil(max_binding.max(1)),
        max_binding_bytes: max_binding,
        largest_single_binding_bytes: x.min(max_binding),
        refused: (x.div_ceil(max_binding.max(1)) > crate::hydro::gpu::HYDRO_X_PARTS_MAX as u64)
            .then(|| {
                format!(
                    "the x state of one network ({x} bytes) needs more than {} bindings",
                    crate::hydro::gpu::HYDRO_X_PARTS_MAX
                )
            }),
    }
}

/// The estimate against the machine's available memory.
fn check_memory(s: &HydroSetup, members: u64) -> Result<()> {
    let need = memory_estimate(s, members);
    crate::device::check_fits(need, |avail| {
        format!(
            "{members} network(s) of 2 x {} neurons with {} records each need about {:.2} GB but only {:.2} GB is available ({}): lower n, replicas or the record count (record_every)",
            s.config.n,
            s.steps / s.config.record_every + 1,
            need / 1e9,
            avail.bytes / 1e9,
            avail.source
        )
    })
}

/// Where the first record's power sums are centred: the initial mean x0_mean (each later
/// record's sums are centred on the mean of the record before, by the backend).
pub fn moment_shift(s: &HydroSetup) -> [f64; 2] {
    s.config.x0_mean
}

impl crate::driver::Chunked for Simulation {
    fn steps_done(&self) -> u64 {
        self.done
    }

    fn configured_steps(&self) -> u64 {
        self.setup.steps
    }

    fn chunk_steps(&self) -> u64 {
        let every = self.setup.config.record_every;
        (2000 / every).max(1) * every
    }

    fn has_failed(&self) -> bool {
        self.failures.iter().all(Option::is_some)
    }

    fn advance_chunk(&mut self, k: u64) -> anyhow::Result<()> {
        let every = self.setup.config.record_every;
        let chunk = self.advance(k as u32, every as u32)?;
        for (i, new) in chunk.into_iter().enumerate() {
            if self.failures[i].is_none() {
                // Every new record is checked, so the failure names the first bad one
                // whatever the chunk's length.
                self.failures[i] = record::health_failure(&self.setup, &new);
                self.records[i].extend(new);
            }
        }
        self.done += k;
        self.stepped += k;
        Ok(())
    }

    fn fail(&mut self, message: String) {
        for f in self.failures.iter_mut().filter(|f| f.is_none()) {
            *f = Some(message.clone());
        }
    }

    fn report(&mut self, obs: &mut dyn Observer) -> anyhow::Result<()> {
        for (i, samples) in self.records.iter().enumerate() {
            obs.on_records(&Records::Hydro { member: i, samples })?;
        }
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<Checkpoint> {
        Simulation::checkpoint(self)
    }

    fn add_stepping_seconds(&mut self, seconds: f64) {
        self.stepping_seconds += seconds;
    }
}

impl Simulation {
    /// The networks of `setup` (its replicas of its seed) on `device`.
    pub fn new(setup: HydroSetup, device: &Device) -> Result<Self> {
        let members = default_members(&setup);
        Self::with_members(setup, members, device)
    }

    /// One network per member (key and replica word), all with `setup`'s parameters: member
    /// i computes exactly what a single run with its seed and replica computes.
    pub fn with_members(setup: HydroSetup, members: Vec<Member>, device: &Device) -> Result<Self> {
        let t0 = Instant::now();
        if members.is_empty() {
            return Err(Error::Config(
                "a simulation needs at least one network".into(),
            ));
        }
        if setup.config.coupling == Coupling::Pairwise && device.kind() == DeviceKind::Gpu {
            return Err(Error::Config(
                "coupling = \"pairwise\" runs on the CPU backend only (use --backend cpu)".into(),
            ));
        }
        check_memory(&setup, members.len() as u64)?;
        let shift = moment_shift(&setup);
        let c = HydroConsts::new(&setup);
        let engine = match device {
            Device::Cpu(dev) => {
                let nets = dev.install(|| {
                    members
                        .par_iter()
                        .map(|m| {
                            HydroCpu::with_isa(
                                HydroConsts { key: m.key, ..c },
                                m.replica,
                                shift,
                                dev.isa,
                            )
                        })
                        .collect()
                });
                Engine::Cpu(dev.clone(), nets)
            }
            Device::Gpu(ctx) => Engine::Gpu(gpu_batches(ctx.clone(), c, &members, shift)?),
        };
        let mut sim = Simulation {
            name: String::new(),
            adapter: device.adapter(),
            gpu: device.gpu_context().map(|g| crate::device::GpuRunInfo {
                device_memory: Some(device_memory_estimate(
                    &setup,
                    members.len() as u64,
                    g.cpu_layout(),
                    g.max_binding_bytes(),
                )),
                ..g.run_info()
            }),
            records: Vec::new(),
            failures: vec![None; members.len()],
            setup,
            members,
            engine,
            done: 0,
            setup_seconds: 0.0,
            stepping_seconds: 0.0,
            stepped: 0,
            theory: std::sync::OnceLock::new(),
        };
        sim.name = match &sim.engine {
            Engine::Cpu(dev, b) => dev.install(|| b[0].name()),
            Engine::Gpu(b) => b[0].name(),
        };
        sim.records = sim
            .initial_records()?
            .into_iter()
            .map(|r| vec![r])
            .collect();
        for (f, r) in sim.failures.iter_mut().zip(&sim.records) {
            *f = record::health_failure(&sim.setup, r);
        }
        sim.setup_seconds = t0.elapsed().as_secs_f64();
        Ok(sim)
    }

    fn initial_records(&mut self) -> Result<Vec<RecordSample>> {
        Ok(match &mut self.engine {
            Engine::Cpu(dev, b) => dev.install(|| {
                b.iter_mut()
                    .map(|b| b.initial_record())
                    .collect::<anyhow::Result<_>>()
            })?,
            Engine::Gpu(b) => b.iter().flat_map(|g| g.initial_records()).collect(),
        })
    }

    pub fn setup(&self) -> &HydroSetup {
        &self.setup
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// "cpu (2 threads, avx512)" or "gpu (adapter name)".
    pub fn backend_name(&self) -> &str {
        &self.name
    }

    pub fn device_kind(&self) -> DeviceKind {
        match self.engine {
            Engine::Cpu(..) => DeviceKind::Cpu,
            Engine::Gpu(_) => DeviceKind::Gpu,
        }
    }

    /// The GPU adapter's one-line description (None on the CPU).
    pub fn adapter(&self) -> Option<&str> {
        self.adapter.as_deref()
    }

    /// The GPU's layout, binding limit, memory estimate and kernel times so far (None on
    /// the CPU).
    pub fn gpu_info(&self) -> Option<crate::device::GpuRunInfo> {
        let g = self.gpu.clone()?;
        Some(match &self.engine {
            Engine::Gpu(batches) => {
                let timed = batches.iter().filter_map(|b| b.kernel_times()).collect();
                let measured = crate::device::timing::KernelTimes::merged(timed);
                g.with_kernel_times(measured, self.stepping_seconds, self.stepped)
            }
            Engine::Cpu(..) => g,
        })
    }

    /// Steps completed.
    pub fn steps_done(&self) -> u64 {
        self.done
    }

    /// Seconds spent building the networks.
    pub fn setup_seconds(&self) -> f64 {
        self.setup_seconds
    }

    /// Seconds spent stepping (all calls of `run` on this object).
    pub fn stepping_seconds(&self) -> f64 {
        self.stepping_seconds
    }

    /// Neuron-steps per second of stepping, over all members (2 n per network and step).
    pub fn neuron_steps_per_second(&self) -> f64 {
        self.members.len() as f64 * 2.0 * self.setup.config.n as f64 * self.stepped as f64
            / self.stepping_seconds.max(1e-12)
    }

    /// The record samples of member `i` so far (the first is the initial state).
    pub fn records(&self, i: usize) -> &[RecordSample] {
        &self.records[i]
    }

    /// The population moments of member `i` at every record point so far.
    pub fn moments(&self, i: usize) -> Vec<MomentRow> {
        record::rows_from_samples(&self.setup, &self.records[i])
    }

    /// Why member `i` stopped early (a non-finite state, a device error), if it did.
    pub fn failure(&self, i: usize) -> Option<&str> {
        self.failures[i].as_deref()
    }

    /// The limit and its first-order prediction at the run's record times (None where the
    /// theory has no balanced state). Computed once, on first use (it depends only on the
    /// setup), and shared by every member's late-time comparison.
    pub fn theory(&self) -> Option<&[TheoryPoint]> {
        self.theory
            .get_or_init(|| {
                theory::trajectory(&self.setup.theory_params(), &self.setup.record_times()).ok()
            })
            .as_deref()
    }

    /// Late-time averages of member `i` against the limit and the corrected prediction.
    pub fn late_time(&self, i: usize) -> Vec<LatePopulation> {
        match self.theory() {
            Some(pts) => record::late_time_comparison(
                &self.moments(i),
                pts,
                self.setup.config.n as f64,
                record::scheme_offsets(&self.setup),
            ),
            None => Vec::new(),
        }
    }

    /// Runs to the configured number of steps.
    pub fn run_to_end(&mut self, obs: &mut dyn Observer) -> Result<Outcome> {
        self.run(self.setup.steps.saturating_sub(self.done), obs)
    }

    /// Advances every member `steps` steps in chunks (at most ~2000 steps, whole multiples
    /// of `record_every`), recording every `record_every` steps, through the shared chunk
    /// loop (`driver::run_chunks`): between chunks it reports progress, honours cancellation
    /// and takes the observer's checkpoints; a member whose state turns non-finite stops
    /// there (its failure names the first bad record), and the run stops when every member
    /// has.
    pub fn run(&mut self, steps: u64, obs: &mut dyn Observer) -> Result<Outcome> {
        crate::driver::run_chunks(self, steps, obs)
    }

    /// Advances every member; per member, its record samples.
    fn advance(&mut self, steps: u32, record_every: u32) -> anyhow::Result<Vec<Vec<RecordSample>>> {
        match &mut self.engine {
            Engine::Cpu(dev, b) => dev.install(|| {
                b.par_iter_mut()
                    .map(|b| b.advance(steps, record_every))
                    .collect()
            }),
            Engine::Gpu(b) => {
                let mut out = Vec::new();
                for g in b {
                    out.extend(g.advance_replicas(steps, record_every)?);
                }
                Ok(out)
            }
        }
    }

    /// Changes the external drive from the next step on, keeping the network, its state and
    /// its records: `h` (the drive itself) or `rates` (the balanced rates it is solved from),
    /// exactly one of them; the config is validated again with it. The limit's trajectory
    /// is not computed across a drive change: `theory()` is None after one.
    pub fn set_drive(&mut self, h: Option<[f64; 2]>, rates: Option<[f64; 2]>) -> Result<()> {
        if h.is_some() == rates.is_some() {
            return Err(Error::Config(
                "drive: give exactly one of h and rates".into(),
            ));
        }
        let mut config = self.setup.config.clone();
        config.h = h;
        config.rates = rates;
        let s = config.validate(true)?;
        let drive = crate::hydro::step::HydroConsts::new(&s).drive;
        match &mut self.engine {
            Engine::Cpu(_, b) => b.iter_mut().for_each(|m| m.set_drive(drive)),
            Engine::Gpu(b) => b.iter_mut().for_each(|g| g.set_drive(drive)),
        }
        self.setup = s;
        self.theory = std::sync::OnceLock::from(None);
        Ok(())
    }

    /// The state x of member `i` (E neurons then I neurons).
    pub fn state(&mut self, i: usize) -> Result<Vec<f32>> {
        if i >= self.members.len() {
            return Err(Error::Config(format!(
                "no member {i} in this simulation of {} networks",
                self.members.len()
            )));
        }
        Ok(match &mut self.engine {
            Engine::Cpu(_, b) => b[i].state()?,
            Engine::Gpu(b) => {
                // The batch holding member i and its index there.
                let mut k = i;
                let mut found = None;
                for g in b.iter() {
                    let r = g.replicas() as usize;
                    if k < r {
                        found = Some(g.replica_state(k as u32)?);
                        break;
                    }
                    k -= r;
                }
                found.ok_or_else(|| Error::Config(format!("no member {i} in this simulation")))?
            }
        })
    }

    /// The single network as a checkpoint: its records so far and its device state.
    pub fn checkpoint(&mut self) -> Result<Checkpoint> {
        let kind = self.device_kind();
        let blobs = match &mut self.engine {
            Engine::Cpu(_, b) if b.len() == 1 => b[0].snapshot()?,
            Engine::Gpu(b) if b.len() == 1 && b[0].replicas() == 1 => b[0].snapshot()?,
            _ => {
                return Err(Error::Config(
                    "checkpoints are not available with replicas > 1".into(),
                ));
            }
        };
        Ok(Checkpoint {
            model: crate::config::Model::Hydro.name().into(),
            backend_kind: kind,
            config: checkpoint::config_value(&self.setup.config)?,
            replica: self.members[0].replica,
            step: self.done,
            samples: self.records[0].clone(),
            blobs,
        })
    }

    /// Continues from a checkpoint of the same network (model, resolved config, replica) on
    /// the same kind of device; anything else is refused with one line.
    pub fn restore(&mut self, ck: &Checkpoint) -> Result<()> {
        let config = checkpoint::config_value(&self.setup.config)?;
        ck.check_matches(
            crate::config::Model::Hydro.name(),
            self.device_kind(),
            &config,
            self.members[0].replica,
            self.setup.steps,
        )?;
        if self.members.len() != 1 {
            return Err(Error::Config(
                "checkpoints are not available with replicas > 1".into(),
            ));
        }
        if self.members[0].key != crate::rng::seed_key(self.setup.config.seed) {
            return Err(Error::Config(
                "checkpoint refused: this network is not of its config's seed".into(),
            ));
        }
        // Records are taken at every multiple of record_every, the initial state first.
        let every = self.setup.config.record_every;
        let consistent = ck.samples.len() as u64 == ck.step / every + 1
            && ck
                .samples
                .iter()
                .enumerate()
                .all(|(k, smp)| smp.step == k as u64 * every);
        if !consistent {
            return Err(Error::Config(format!(
                "checkpoint refused: its {} records do not match step {} at record_every = {every}",
                ck.samples.len(),
                ck.step
            )));
        }
        match &mut self.engine {
            Engine::Cpu(_, b) if b.len() == 1 => b[0].restore(&ck.blobs)?,
            Engine::Gpu(b) if b.len() == 1 && b[0].replicas() == 1 => b[0].restore(&ck.blobs)?,
            _ => {
                return Err(Error::Config(
                    "checkpoints are not available with replicas > 1".into(),
                ));
            }
        }
        self.records[0] = ck.samples.clone();
        self.done = ck.step;
        Ok(())
    }
}

/// The members split into as few GPU batches as the adapter's storage-binding limit allows,
/// and small enough that each batch's alias tables fit one uniform-buffer binding when one
/// network's do (uniform reads are much cheaper than storage reads on CPU devices).
fn gpu_batches(
    ctx: Arc<crate::device::GpuContext>,
    c: HydroConsts,
    members: &[Member],
    shift: [f64; 2],
) -> anyhow::Result<Vec<HydroGpu>> {
    let max_uniform = ctx.limits.max_uniform_buffer_binding_size;
    let one = HydroLayout::new(c.n as u64, 1, &c, ctx.cpu_layout(), max_uniform);
    let limit = ctx
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size);
    let mut per_batch = (limit / (2 * one.n_pad * 4)).max(1);
    if one.tables_uniform {
        per_batch =
            per_batch.min(HydroLayout::uniform_table_bytes(max_uniform) / one.table_bytes());
    }
    members
        .chunks(per_batch.max(1) as usize)
        .map(|m| HydroGpu::new(ctx.clone(), c, m, shift))
        .collect()
}
