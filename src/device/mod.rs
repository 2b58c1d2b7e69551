//! Where a simulation runs: the CPU (with its instruction-set level) or a GPU through wgpu;
//! the GPU context, buffers and shader sources.

pub mod bind;
pub mod buffers;
pub mod constants;
pub mod gpu;
pub mod isa;
pub mod kernels;
pub mod layout;
pub mod shaders;
pub mod split;
pub mod timer;
pub mod timing;

pub use gpu::{
    AdapterReport, GpuContext, GpuLayout, GpuOptions, GpuRunInfo, NO_ADAPTER_FIX, list_adapters,
};

/// Which backend to run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// The GPU if an adapter exists, else the CPU with a one-line notice.
    Auto,
    Cpu,
    Gpu,
}

impl BackendChoice {
    /// "auto", "cpu" or "gpu"; a config error naming the value otherwise.
    pub fn parse(s: &str) -> Result<Self, crate::config::ConfigError> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "cpu" => Ok(BackendChoice::Cpu),
            "gpu" => Ok(BackendChoice::Gpu),
            other => Err(crate::config::ConfigError(format!(
                "backend = {}: must be \"auto\", \"cpu\" or \"gpu\"",
                crate::io::shorten(&format!("{other:?}"), 40)
            ))),
        }
    }
}

/// The two kinds of device (a checkpoint resumes on the kind that wrote it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Cpu,
    Gpu,
}

impl DeviceKind {
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Gpu => "gpu",
        }
    }
}

/// The CPU: the kernels' instruction-set level and the thread pool they run on.
#[derive(Clone, Debug)]
pub struct CpuDevice {
    pub isa: isa::Isa,
    pool: Option<std::sync::Arc<rayon::ThreadPool>>,
}

impl CpuDevice {
    /// The best level this CPU has (or the one `BALNET_ISA` names), on rayon's global pool.
    pub fn new() -> anyhow::Result<Self> {
        Ok(CpuDevice {
            isa: isa::Isa::from_env()?,
            pool: None,
        })
    }

    /// A given level (from `Isa::available`, so the CPU has it).
    pub fn with_isa(isa: isa::Isa) -> Self {
        CpuDevice { isa, pool: None }
    }

    /// The same level on a pool of its own with `threads` threads (results do not depend on
    /// the thread count).
    pub fn with_threads(mut self, threads: usize) -> anyhow::Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start {threads} threads: {e}"))?;
        self.pool = Some(std::sync::Arc::new(pool));
        Ok(self)
    }

    pub fn threads(&self) -> usize {
        self.install(rayon::current_num_threads)
    }

    /// Runs `f` on this device's pool.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }
}

/// Where a simulation runs.
#[derive(Clone)]
pub enum Device {
    Cpu(CpuDevice),
    Gpu(std::sync::Arc<GpuContext>),
}

impl Device {
    /// The CPU at its best instruction-set level (or `BALNET_ISA`'s).
    pub fn cpu() -> anyhow::Result<Device> {
        Ok(Device::Cpu(CpuDevice::new()?))
    }

    /// The best GPU adapter; an error with the fix when there is none.
    pub fn gpu() -> anyhow::Result<Device> {
        Ok(Device::Gpu(GpuContext::new()?))
    }

    /// The device for `choice`. `auto` takes a discrete, integrated or virtual GPU if there
    /// is one, else the CPU backend, with a one-line notice for the caller to show; a
    /// software adapter (device type CPU, such as Mesa's lavapipe) is slower than the CPU
    /// backend for both models, so `auto` leaves it to `gpu`, which takes the best adapter
    /// whatever its kind.
    pub fn open(choice: BackendChoice) -> anyhow::Result<(Device, Option<String>)> {
        if choice != BackendChoice::Cpu {
            gpu::check_env()?;
        }
        Ok(match choice {
            BackendChoice::Cpu => (Device::cpu()?, None),
            BackendChoice::Gpu => (Device::gpu()?, None),
            BackendChoice::Auto => match GpuContext::new() {
                Ok(g) if g.report.is_software() => (
                    Device::cpu()?,
                    Some(format!(
                        "the best GPU adapter is a software one ({}), slower than balnet's CPU backend: running on the CPU backend (backend gpu runs on the adapter)",
                        g.report.summary()
                    )),
                ),
                Ok(g) => (Device::Gpu(g), None),
                Err(e) => (
                    Device::cpu()?,
                    Some(format!("{e:#}; running on the CPU backend")),
                ),
            },
        })
    }

    /// `open` for a run whose config may be CPU-only (model H `pairwise`): such a run stays
    /// on the CPU unless the GPU was demanded (then the backend refuses it with the reason).
    pub fn open_for(
        choice: BackendChoice,
        cpu_only: bool,
    ) -> anyhow::Result<(Device, Option<String>)> {
        if cpu_only && choice != BackendChoice::Gpu {
            return Ok((Device::cpu()?, None));
        }
        Device::open(choice)
    }

    pub fn kind(&self) -> DeviceKind {
        match self {
            Device::Cpu(_) => DeviceKind::Cpu,
            Device::Gpu(_) => DeviceKind::Gpu,
        }
    }

    pub fn gpu_context(&self) -> Option<&std::sync::Arc<GpuContext>> {
        match self {
            Device::Gpu(g) => Some(g),
            Device::Cpu(_) => None,
        }
    }

    /// What run.json records about the GPU (None on the CPU).
    pub fn gpu_info(&self) -> Option<GpuRunInfo> {
        self.gpu_context().map(|g| g.run_info())
    }

    /// The GPU adapter's one-line description (None on the CPU).
    pub fn adapter(&self) -> Option<String> {
        self.gpu_context().map(|g| g.report.summary())
    }
}

/// Refuses a run that needs more than 90% of the memory available to it (`memory_limit`):
/// `Error::DoesNotFit` with the message `describe` words from the limit.
pub fn check_fits(
    need_bytes: f64,
    describe: impl FnOnce(&MemoryLimit) -> String,
) -> crate::Result<()> {
    if let Some(avail) = memory_limit()
        && need_bytes > 0.9 * avail.bytes
    {
        return Err(crate::Error::DoesNotFit(describe(&avail)));
    }
    Ok(())
}

impl GpuRunInfo {
    /// This info with the run's kernel times: the timestamp queries' `measured`, or where the
    /// adapter has none, the wall time per step over `steps` steps.
    pub fn with_kernel_times(
        mut self,
        measured: Option<timing::KernelTimes>,
        stepping_seconds: f64,
        steps: u64,
    ) -> GpuRunInfo {
        self.kernel_times =
            measured.or_else(|| Some(timing::KernelTimes::wall(stepping_seconds, steps)));
        self
    }
}

/// Vulkan's storage-binding limit in wgpu (2 GiB - 1, also the largest buffer): what a
/// device estimate assumes when no adapter is at hand.
pub const VULKAN_MAX_BINDING_BYTES: u64 = (1 << 31) - 1;

/// Estimated device memory of a GPU run (before allocating; `--dry-run`, run.json).
#[derive(Clone, Debug, serde::Serialize)]
pub struct DeviceMemory {
    /// Bytes at the peak, and when it is reached ("connectivity build" or "stepping").
    pub peak_bytes: u64,
    pub peak_phase: &'static str,
    /// Bytes held while stepping.
    pub stepping_bytes: u64,
    /// The largest array, its bytes and the storage bindings it spans at `max_binding_bytes`.
    pub largest_array: &'static str,
    pub largest_array_bytes: u64,
    pub largest_array_bindings: u64,
    pub max_binding_bytes: u64,
    /// The largest buffer that must fit one storage binding (it is not split).
    pub largest_single_binding_bytes: u64,
    /// Why the GPU backend would refuse the run at this binding limit (None: it fits).
    pub refused: Option<String>,
}

impl DeviceMemory {
    /// One line for `--dry-run`.
    pub fn summary(&self) -> String {
        format!(
            "device memory about {} at the peak ({}), {} while stepping; largest array: {} {} in {} binding(s) of at most {} bytes; largest unsplit buffer {} bytes; {}",
            crate::io::human_bytes(self.peak_bytes as f64),
            self.peak_phase,
            crate::io::human_bytes(self.stepping_bytes as f64),
            self.largest_array,
            crate::io::human_bytes(self.largest_array_bytes as f64),
            self.largest_array_bindings,
            self.max_binding_bytes,
            self.largest_single_binding_bytes,
            match &self.refused {
                None => "fits the bindings".to_string(),
                Some(r) => format!("refused: {r}"),
            }
        )
    }
}

/// The memory this process can still get, in bytes, and what bounds it: the least of the
/// machine's MemAvailable (/proc/meminfo), the cgroup's limit less its usage (cgroup v2
/// `memory.max - memory.current`, or v1 `memory.limit_in_bytes - memory.usage_in_bytes`:
/// containers, Slurm jobs) and the address-space limit less the address space in use
/// (`ulimit -v`, RLIMIT_AS, against VmSize). None where none of these can be read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryLimit {
    pub bytes: f64,
    /// "the machine's available memory", "the cgroup's memory limit" or "the address-space
    /// limit, ulimit -v".
    pub source: &'static str,
}

/// See [`MemoryLimit`].
pub fn memory_limit() -> Option<MemoryLimit> {
    let mut best: Option<MemoryLimit> = None;
    let mut offer = |bytes: Option<f64>, source: &'static str| {
        if let Some(bytes) = bytes
            && best.is_none_or(|b| bytes < b.bytes)
        {
            best = Some(MemoryLimit {
                bytes: bytes.max(0.0),
                source,
            });
        }
    };
    offer(meminfo_available(), "the machine's available memory");
    offer(cgroup_headroom(), "the cgroup's memory limit");
    offer(
        address_space_headroom(),
        "the address-space limit, ulimit -v",
    );
    best
}

/// The memory this process can still get, in bytes (see [`memory_limit`]).
pub fn available_memory() -> Option<f64> {
    memory_limit().map(|m| m.bytes)
}

fn meminfo_available() -> Option<f64> {
    let t = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&t, "MemAvailable:")
}

/// A "Name:   1234 kB" line of a /proc file, in bytes.
fn kib_field(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kb| kb * 1024.0)
}

/// A number in a cgroup file; None for "max" (no limit) or an unreadable file.
fn cgroup_number(path: &std::path::Path) -> Option<f64> {
    let t = std::fs::read_to_string(path).ok()?;
    let v = t.trim().parse::<u64>().ok()?;
    // cgroup v1 writes "no limit" as a huge page-aligned number near i64::MAX.
    (v < (1u64 << 60)).then_some(v as f64)
}

/// The headroom of the cgroup this process is in (the least over its ancestors, which may
/// carry the limit), v2 or v1.
fn cgroup_headroom() -> Option<f64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup_headroom_at(std::path::Path::new("/sys/fs/cgroup"), &own)
}

/// [`cgroup_headroom`] with the cgroup file system at `root` and /proc/self/cgroup's text
/// `own`. A v2 hierarchy is at `root` itself (unified) or at `root/unified` (hybrid).
fn cgroup_headroom_at(root: &std::path::Path, own: &str) -> Option<f64> {
    let unified = if root.join("cgroup.controllers").exists() {
        root.to_path_buf()
    } else {
        root.join("unified")
    };
    let mut best: Option<f64> = None;
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        let (base, max_name, cur_name) = if controllers.is_empty() {
            (unified.clone(), "memory.max", "memory.current")
        } else if controllers.split(',').any(|c| c == "memory") {
            (
                root.join("memory"),
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
            )
        } else {
            continue;
        };
        // The cgroup and each ancestor up to the mount's root.
        let mut dir = base.join(rel);
        if !dir.starts_with(&base) {
            continue;
        }
        loop {
            if let (Some(max), Some(cur)) = (
                cgroup_number(&dir.join(max_name)),
                cgroup_number(&dir.join(cur_name)),
            ) {
                let room = (max - cur).max(0.0);
                best = Some(best.map_or(room, |b: f64| b.min(room)));
            }
            if dir == base || !dir.pop() {
                break;
            }
        }
    }
    best
}

/// RLIMIT_AS less the address space in use (VmSize); None without a limit.
#[cfg(not(unix))]
fn address_space_headroom() -> Option<f64> {
    None
}

/// RLIMIT_AS less the address space in use (VmSize); None without a limit.
#[cfg(unix)]
fn address_space_headroom() -> Option<f64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } != 0
        || lim.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let used = kib_field(&status, "VmSize:")?;
    Some((lim.rlim_cur as f64 - used).max(0.0))
}

#[cfg(test)]
mod memory_tests {
    use super::*;

    fn write(p: &std::path::Path, name: &str, text: &str) {
        std::fs::create_dir_all(p).unwrap();
        std::fs::write(p.join(name), text).unwrap();
    }

    #[test]
    fn cgroup_v2_headroom_is_the_least_over_the_cgroup_and_its_ancestors() {
        let root = std::env::temp_dir().join(format!("balnet-cg2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        write(&root, "cgroup.controllers", "memory\n");
        let job = root.join("slurm/job_7");
        let step = job.join("step_0");
        // The job has 3 GB with 1 GB used; its step has no limit of its own.
        write(&job, "memory.max", "3000000000\n");
        write(&job, "memory.current", "1000000000\n");
        write(&step, "memory.max", "max\n");
        write(&step, "memory.current", "900000000\n");
        assert_eq!(
            cgroup_headroom_at(&root, "0::/slurm/job_7/step_0\n"),
            Some(2e9)
        );
        // No limit anywhere: nothing to say.
        assert_eq!(cgroup_headroom_at(&root, "0::/other\n"), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn cgroup_v1_memory_controller_and_its_no_limit_value() {
        let root = std::env::temp_dir().join(format!("balnet-cg1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let own = "4:memory:/box\n0::/\n";
        let dir = root.join("memory/box");
        write(&dir, "memory.limit_in_bytes", "9223372036854771712\n");
        write(&dir, "memory.usage_in_bytes", "5000\n");
        assert_eq!(cgroup_headroom_at(&root, own), None);
        write(&dir, "memory.limit_in_bytes", "4096000\n");
        assert_eq!(cgroup_headroom_at(&root, own), Some(4091000.0));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_limit_is_never_above_the_machine_s_available_memory() {
        let lim = memory_limit().expect("Linux has /proc/meminfo");
        let avail = meminfo_available().unwrap();
        assert!(lim.bytes <= avail && lim.bytes >= 0.0, "{lim:?} vs {avail}");
    }
}
