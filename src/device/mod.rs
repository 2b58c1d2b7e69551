//! Where a simulation runs: the CPU (with its instruction-set level) or a GPU through wgpu;
//! the GPU context, buffers and shader sources.

pub mod buffers;
pub mod constants;
pub mod gpu;
pub mod isa;
pub mod kernels;
pub mod layout;
pub mod shaders;

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

    /// The device for `choice`; for `auto` the GPU if an adapter exists, else the CPU and a
    /// one-line notice for the caller to show.
    pub fn open(choice: BackendChoice) -> anyhow::Result<(Device, Option<String>)> {
        if choice != BackendChoice::Cpu {
            gpu::check_env()?;
        }
        Ok(match choice {
            BackendChoice::Cpu => (Device::cpu()?, None),
            BackendChoice::Gpu => (Device::gpu()?, None),
            BackendChoice::Auto => match GpuContext::new() {
                Ok(g) => (Device::Gpu(g), None),
                Err(e) => (
                    Device::cpu()?,
                    Some(format!("{e:#}; running on the CPU backend")),
                ),
            },
        })
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

/// The memory this machine can still give (Linux: MemAvailable of /proc/meminfo), in bytes;
/// None where it cannot be read.
pub fn available_memory() -> Option<f64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb * 1024.0)
}
