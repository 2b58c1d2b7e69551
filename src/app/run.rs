//! A run: a config (or a checkpointed run directory to continue) resolved into a validated
//! setup and a device, run into its run directory; and its `--dry-run` memory estimate.

use super::{ConfigRequest, Overrides, Setup, Spelling, check_checkpoint_every};
use crate::config::ConfigError;
use crate::device::{self, BackendChoice, Device, DeviceMemory};
use crate::io::RunOptions;
use crate::progress::{Observer, Status};
use std::path::{Path, PathBuf};

/// What to run.
#[derive(Clone, Debug)]
pub enum RunTarget {
    /// A config, into `out`.
    New { config: ConfigRequest, out: PathBuf },
    /// The run in this directory, continued from its checkpoint with the config of its
    /// run.json.
    Resume(PathBuf),
}

/// A request to run.
#[derive(Clone, Debug)]
pub struct RunRequest {
    pub target: RunTarget,
    pub overrides: Overrides,
    pub backend: BackendChoice,
    /// Model H: run even when the stiffness number is above 1.
    pub force: bool,
    /// Write DIR/checkpoint.bin every this many steps.
    pub checkpoint_every: Option<u64>,
    pub spelling: Spelling,
}

/// A checked request: the validated setup, where it goes and on which backend.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub setup: Setup,
    pub out: PathBuf,
    pub backend: BackendChoice,
    pub resume: bool,
    pub checkpoint_every: Option<u64>,
}

/// Checks a request and validates its config. A resumed run takes the config of its
/// run.json and, with backend `auto`, its checkpoint's kind of backend.
pub fn resolve(req: &RunRequest) -> Result<Resolved, ConfigError> {
    check_checkpoint_every(req.checkpoint_every, req.spelling)?;
    let (config, out, backend, resume) = match &req.target {
        RunTarget::Resume(_)
            if req.overrides.n.is_some()
                || req.overrides.steps.is_some()
                || req.overrides.seed.is_some() =>
        {
            return Err(ConfigError(format!(
                "{}: takes no {}, {} or {} (the run's own)",
                req.spelling.name("resume"),
                req.spelling.name("n"),
                req.spelling.name("steps"),
                req.spelling.name("seed")
            )));
        }
        RunTarget::Resume(dir) => {
            let names = (
                req.spelling.name("checkpoint_every"),
                req.spelling.name("resume"),
            );
            let config = crate::resume::resumed_config(dir, &names.0, &names.1)?;
            (config, dir.clone(), resumed_backend(dir, req.backend), true)
        }
        RunTarget::New { config, out } => (config.load()?, out.clone(), req.backend, false),
    };
    let setup = Setup::new(config, &req.overrides, req.force, req.spelling)?;
    Ok(Resolved {
        setup,
        out,
        backend,
        resume,
        checkpoint_every: req.checkpoint_every,
    })
}

/// `auto` for a resumed run: the checkpoint's kind of backend.
fn resumed_backend(dir: &Path, backend: BackendChoice) -> BackendChoice {
    let kind = crate::io::checkpoint::peek_backend_kind(&dir.join("checkpoint.bin"));
    super::backend_for_checkpoint(backend, kind)
}

/// A resolved run with its device open.
pub struct Prepared {
    pub resolved: Resolved,
    pub device: Device,
    /// Why `auto` fell back to the CPU, or chose a software adapter, if it did.
    pub note: Option<String>,
}

impl Resolved {
    /// Opens the device: a CPU-only config stays on the CPU unless the GPU was demanded.
    pub fn open(self) -> anyhow::Result<Prepared> {
        let (device, note) = Device::open_for(self.backend, self.setup.cpu_only())?;
        Ok(Prepared {
            resolved: self,
            device,
            note,
        })
    }
}

pub use super::RunSummary;

/// What a run reports.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub out: PathBuf,
    pub summary: RunSummary,
}

impl RunReport {
    pub fn status(&self) -> Status {
        match &self.summary {
            RunSummary::Hydro(s) => s.status,
            RunSummary::Lif(s) => s.status,
        }
    }

    pub fn error(&self) -> Option<&str> {
        match &self.summary {
            RunSummary::Hydro(s) => s.error.as_deref(),
            RunSummary::Lif(s) => s.error.as_deref(),
        }
    }
}

impl Prepared {
    /// Runs into the run directory; `obs` sees progress and records and may cancel. The
    /// network is built as a `session::Session`, the object Python's `Simulation` drives.
    pub fn run(self, obs: &mut dyn Observer) -> anyhow::Result<RunReport> {
        let r = self.resolved;
        let opts = RunOptions {
            out: r.out.clone(),
            checkpoint_every: r.checkpoint_every,
            resume: r.resume,
        };
        // The run directory exists before the network is built, as it always has (a network
        // that does not fit leaves an empty directory, not a missing one).
        crate::io::create_dir(&opts.out)?;
        let mut session = super::session::Session::on_device(r.setup, &self.device, self.note)?;
        let summary = session.write_run(&opts, obs)?;
        Ok(RunReport {
            out: r.out,
            summary,
        })
    }
}

/// One device memory estimate of a dry run and the binding limit it assumes.
#[derive(Clone, Debug)]
pub struct DeviceEstimate {
    pub memory: DeviceMemory,
    /// Where the binding limit comes from ("adapter ...", an environment variable, Vulkan's
    /// 2 GiB on a discrete GPU).
    pub binding_from: String,
}

/// `--dry-run`: the sizes and memory estimates of a resolved run.
#[derive(Clone, Debug)]
pub enum Estimate {
    Hydro {
        n: u64,
        replicas: u64,
        steps: u64,
        host_bytes: f64,
        /// Whether the GPU estimate is for the cpu kernel layout.
        cpu_layout: bool,
        devices: Vec<DeviceEstimate>,
    },
    Lif {
        n_e: u32,
        n_i: u32,
        k_e: u32,
        k_i: u32,
        synapses: f64,
        host_bytes: f64,
        devices: Vec<DeviceEstimate>,
    },
}

/// The estimates of a dry run (nothing is allocated or opened but the adapter list).
pub fn estimate(r: &Resolved) -> anyhow::Result<Estimate> {
    let bindings = dry_run_bindings()?;
    Ok(match &r.setup {
        Setup::Hydro(s) => {
            let replicas = s.config.replicas as u64;
            let cpu_layout = device::gpu::requested_layout()? == device::GpuLayout::Cpu;
            let devices = bindings
                .into_iter()
                .map(|(limit, from)| DeviceEstimate {
                    memory: crate::hydro::sim::device_memory_estimate(
                        s, replicas, cpu_layout, limit,
                    ),
                    binding_from: from,
                })
                .collect();
            Estimate::Hydro {
                n: s.config.n,
                replicas,
                steps: s.steps,
                host_bytes: crate::hydro::sim::memory_estimate(s, replicas),
                cpu_layout,
                devices,
            }
        }
        Setup::Lif(s) => {
            let (host_bytes, synapses) = crate::lif::sim::memory_estimate(s);
            let devices = bindings
                .into_iter()
                .map(|(limit, from)| DeviceEstimate {
                    memory: crate::lif::sim::device_memory_estimate(s, limit),
                    binding_from: from,
                })
                .collect();
            Estimate::Lif {
                n_e: s.n_e,
                n_i: s.n_i,
                k_e: s.k_e,
                k_i: s.k_i,
                synapses,
                host_bytes,
                devices,
            }
        }
    })
}

/// The binding limits a dry-run estimate is given for, with where each came from: the first
/// adapter's (lowered by BALNET_MAX_BINDING_BYTES), and Vulkan's 2 GiB in wgpu (a discrete
/// GPU's) when that is larger.
fn dry_run_bindings() -> anyhow::Result<Vec<(u64, String)>> {
    let over = device::gpu::max_binding_override()?;
    let adapters = device::list_adapters();
    let (limit, from) = match adapters.first() {
        Some(a) => (
            a.max_storage_buffer_binding_size.min(a.max_buffer_size),
            format!("adapter {}", a.name),
        ),
        None => (
            device::VULKAN_MAX_BINDING_BYTES,
            "no adapter here; Vulkan's 2 GiB - 1 in wgpu".to_string(),
        ),
    };
    let mut v = vec![match over {
        Some(b) if b < limit => (b, format!("{} = {b}", device::gpu::MAX_BINDING_ENV)),
        _ => (limit, from),
    }];
    if v[0].0 < device::VULKAN_MAX_BINDING_BYTES {
        v.push((
            device::VULKAN_MAX_BINDING_BYTES,
            "a discrete GPU under Vulkan (2 GiB - 1 in wgpu)".to_string(),
        ));
    }
    Ok(v)
}
