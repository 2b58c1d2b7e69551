//! The wgpu device: adapter discovery, device creation with the adapter's real limits, and
//! shader compilation (of `device::kernels` modules) with errors turned into `Result`s.

use crate::device::kernels::KernelSource;
use serde::Serialize;
use std::sync::Arc;

/// What to do when the environment variable is set: pick the adapter whose name contains it.
pub const ADAPTER_ENV: &str = "BALNET_ADAPTER";
/// Which kernel shapes to use (`auto`, `gpu`, `cpu`; see `GpuLayout`).
pub const LAYOUT_ENV: &str = "BALNET_GPU_LAYOUT";
/// Lowers the adapter's storage-binding limit to this many bytes (tests the split of large
/// arrays over several bindings on any adapter).
pub const MAX_BINDING_ENV: &str = "BALNET_MAX_BINDING_BYTES";

/// The kernel shapes: those for thousands of GPU threads (workgroup reductions with barriers,
/// 64 x 4 model L blocks, 256-wide row sorts) or those for a CPU implementation of the API
/// such as lavapipe (one SIMD group per workgroup). `Auto` picks by the adapter's device type.
/// Both compute the same numbers; the choice only changes speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GpuLayout {
    Auto,
    Gpu,
    Cpu,
}

impl GpuLayout {
    pub const ALL: [GpuLayout; 3] = [GpuLayout::Auto, GpuLayout::Gpu, GpuLayout::Cpu];

    pub fn name(self) -> &'static str {
        match self {
            GpuLayout::Auto => "auto",
            GpuLayout::Gpu => "gpu",
            GpuLayout::Cpu => "cpu",
        }
    }

    /// `auto`, `gpu` or `cpu` (case-insensitive); an error naming `what` and the allowed values.
    pub fn parse(what: &str, s: &str) -> Result<Self, crate::config::ConfigError> {
        let t = s.trim().to_ascii_lowercase();
        GpuLayout::ALL
            .into_iter()
            .find(|l| l.name() == t)
            .ok_or_else(|| {
                crate::config::ConfigError(format!(
                    "{what} = {}: allowed values are auto, gpu, cpu",
                    crate::io::shorten(s, crate::config::MAX_VALUE_CHARS)
                ))
            })
    }
}

/// The layout set by the caller (the CLI's `--gpu-layout`), which wins over `BALNET_GPU_LAYOUT`.
static LAYOUT_OVERRIDE: std::sync::Mutex<Option<GpuLayout>> = std::sync::Mutex::new(None);

/// Sets the layout for every GPU context opened from now on in this process (over
/// `BALNET_GPU_LAYOUT`).
pub fn set_layout(layout: GpuLayout) {
    if let Ok(mut g) = LAYOUT_OVERRIDE.lock() {
        *g = Some(layout);
    }
}

/// The layout asked for: `set_layout`'s, else `BALNET_GPU_LAYOUT`'s, else auto; an invalid
/// variable is a config error.
pub fn requested_layout() -> Result<GpuLayout, crate::config::ConfigError> {
    if let Some(l) = LAYOUT_OVERRIDE.lock().ok().and_then(|g| *g) {
        return Ok(l);
    }
    match std::env::var(LAYOUT_ENV) {
        Ok(v) => GpuLayout::parse(LAYOUT_ENV, &v),
        Err(std::env::VarError::NotPresent) => Ok(GpuLayout::Auto),
        Err(std::env::VarError::NotUnicode(_)) => Err(crate::config::ConfigError(format!(
            "{LAYOUT_ENV} is not valid UTF-8: allowed values are auto, gpu, cpu"
        ))),
    }
}

/// `BALNET_MAX_BINDING_BYTES`: None when unset; a positive multiple of 16 of at most 2^40
/// otherwise (config error if not).
pub fn max_binding_override() -> Result<Option<u64>, crate::config::ConfigError> {
    let v = match std::env::var(MAX_BINDING_ENV) {
        Ok(v) => v,
        Err(std::env::VarError::NotPresent) => return Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(crate::config::ConfigError(format!(
                "{MAX_BINDING_ENV} is not valid UTF-8: a byte count, a multiple of 16 in [256, 2^40]"
            )));
        }
    };
    match v.trim().parse::<u64>() {
        Ok(b) if (256..=1 << 40).contains(&b) && b % 16 == 0 => Ok(Some(b)),
        _ => Err(crate::config::ConfigError(format!(
            "{MAX_BINDING_ENV} = {}: a byte count, a multiple of 16 in [256, 2^40]",
            crate::io::shorten(&v, crate::config::MAX_VALUE_CHARS)
        ))),
    }
}

/// `AdapterReport::device_type` of a software implementation of the API (a CPU device, such
/// as Mesa's lavapipe).
pub const SOFTWARE_DEVICE_TYPE: &str = "Cpu";

/// The shapes `requested` gives on an adapter of `device_type` (`AdapterReport::device_type`):
/// `auto` is `cpu` on a CPU implementation of the API, `gpu` on every other.
pub fn resolve_layout(requested: GpuLayout, device_type: &str) -> GpuLayout {
    match requested {
        GpuLayout::Auto if device_type == SOFTWARE_DEVICE_TYPE => GpuLayout::Cpu,
        GpuLayout::Auto => GpuLayout::Gpu,
        l => l,
    }
}

/// What a GPU context is opened with besides the adapter: the layout asked for and a lower
/// storage-binding limit (`from_env` reads `--gpu-layout`/`BALNET_GPU_LAYOUT` and
/// `BALNET_MAX_BINDING_BYTES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuOptions {
    pub layout: GpuLayout,
    pub max_binding_bytes: Option<u64>,
    /// Whether to time dispatches with timestamp queries where the adapter has them
    /// (`BALNET_KERNEL_TIMES`, default on).
    pub kernel_times: bool,
}

impl GpuOptions {
    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        Ok(GpuOptions {
            layout: requested_layout()?,
            max_binding_bytes: max_binding_override()?,
            kernel_times: kernel_times_requested()?,
        })
    }
}

/// `BALNET_KERNEL_TIMES`: `on` (or `1`, or unset) times dispatches with timestamp queries
/// where the adapter has them; `off` (or `0`) does not. Anything else is a config error.
pub const KERNEL_TIMES_ENV: &str = "BALNET_KERNEL_TIMES";

/// See [`KERNEL_TIMES_ENV`].
pub fn kernel_times_requested() -> Result<bool, crate::config::ConfigError> {
    match std::env::var(KERNEL_TIMES_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(true),
        Ok(v) if matches!(v.trim(), "on" | "1") => Ok(true),
        Ok(v) if matches!(v.trim(), "off" | "0") => Ok(false),
        Ok(v) => Err(crate::config::ConfigError(format!(
            "{KERNEL_TIMES_ENV} = {}: allowed values are on, off, 1, 0",
            crate::io::shorten(&v, crate::config::MAX_VALUE_CHARS)
        ))),
        Err(std::env::VarError::NotUnicode(_)) => Err(crate::config::ConfigError(format!(
            "{KERNEL_TIMES_ENV} is not valid UTF-8: allowed values are on, off, 1, 0"
        ))),
    }
}

/// Checks the environment variables a GPU context reads (before `auto` falls back to the
/// CPU, so that a typo is reported rather than hidden).
pub fn check_env() -> Result<(), crate::config::ConfigError> {
    requested_layout()?;
    max_binding_override()?;
    kernel_times_requested()?;
    Ok(())
}

/// The device features balnet asks for: none, so that every WebGPU adapter runs it (the
/// kernels are validated against exactly this in tests/naga_translate.rs).
pub const REQUIRED_FEATURES: wgpu::Features = wgpu::Features::empty();

/// Features used where the adapter has them, none by a shader: timestamp queries, for the
/// kernel times (`device::timing`).
pub const OPTIONAL_FEATURES: wgpu::Features = wgpu::Features::TIMESTAMP_QUERY;

/// How to get a GPU adapter when none is found.
pub const NO_ADAPTER_FIX: &str = "no GPU adapter found: install a Vulkan driver (on Debian/Ubuntu: \
    `apt-get install mesa-vulkan-drivers` gives the software device lavapipe; a real GPU needs its vendor driver) \
    or use --backend cpu";

/// Everything `balnet info` reports about one adapter.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterReport {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub vendor: u32,
    pub device: u32,
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_storage_buffers_per_shader_stage: u32,
    pub max_compute_workgroups_per_dimension: u32,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_size_x: u32,
    pub max_compute_workgroup_storage_size: u32,
    pub subgroup_min_size: u32,
    pub subgroup_max_size: u32,
    pub shader_f64: bool,
    pub shader_i64: bool,
    pub subgroups: bool,
    pub timestamp_query: bool,
}

impl AdapterReport {
    /// Whether the adapter is a software implementation on the CPU (lavapipe, SwiftShader).
    pub fn is_software(&self) -> bool {
        self.device_type == SOFTWARE_DEVICE_TYPE
    }

    pub fn from_adapter(adapter: &wgpu::Adapter) -> Self {
        let info = adapter.get_info();
        let l = adapter.limits();
        let f = adapter.features();
        AdapterReport {
            name: info.name,
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: info.driver,
            driver_info: info.driver_info,
            vendor: info.vendor,
            device: info.device,
            max_buffer_size: l.max_buffer_size,
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroup_size_x: l.max_compute_workgroup_size_x,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            subgroup_min_size: info.subgroup_min_size,
            subgroup_max_size: info.subgroup_max_size,
            shader_f64: f.contains(wgpu::Features::SHADER_F64),
            shader_i64: f.contains(wgpu::Features::SHADER_INT64),
            subgroups: f.contains(wgpu::Features::SUBGROUP),
            timestamp_query: f.contains(wgpu::Features::TIMESTAMP_QUERY),
        }
    }

    /// One line for logs and run.json: name, type, backend, driver.
    pub fn summary(&self) -> String {
        format!(
            "{} ({}, {}, {} {})",
            self.name, self.device_type, self.backend, self.driver, self.driver_info
        )
    }
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::PRIMARY;
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu can see (Vulkan, Metal, DX12).
pub fn list_adapters() -> Vec<AdapterReport> {
    let inst = instance();
    pollster::block_on(inst.enumerate_adapters(wgpu::Backends::PRIMARY))
        .iter()
        .map(AdapterReport::from_adapter)
        .collect()
}

fn type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// What run.json records about the GPU a run used besides the adapter.
#[derive(Clone, Debug, Serialize)]
pub struct GpuRunInfo {
    /// The kernel shapes used: "gpu" or "cpu".
    pub layout: &'static str,
    /// What was asked for ("auto" unless `--gpu-layout` or `BALNET_GPU_LAYOUT` said).
    pub layout_requested: &'static str,
    /// The storage-binding limit the buffers were split by, in bytes.
    pub max_binding_bytes: u64,
    /// Whether `BALNET_MAX_BINDING_BYTES` lowered it below the adapter's.
    pub max_binding_lowered: bool,
    /// The device-memory estimate of the run (buffers and bindings).
    pub device_memory: Option<crate::device::DeviceMemory>,
    /// Device time per dispatch kind (timestamp queries), or the wall time per step where
    /// the adapter has none; set when the run ends.
    pub kernel_times: Option<crate::device::timing::KernelTimes>,
}

/// A device and queue, created with the adapter's own limits so large networks fit.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub report: AdapterReport,
    /// The limits the device was created with, `max_storage_buffer_binding_size` lowered to
    /// `BALNET_MAX_BINDING_BYTES` where set (all sizing code reads this).
    pub limits: wgpu::Limits,
    /// The layout asked for (`BALNET_GPU_LAYOUT`, `--gpu-layout`).
    pub layout_requested: GpuLayout,
    /// The shapes the kernels use: `Gpu` or `Cpu` (`Auto` resolved by the device type).
    pub layout: GpuLayout,
    /// Whether the device was opened with timestamp queries (the adapter has them).
    pub timestamps: bool,
}

impl GpuContext {
    /// The best adapter: discrete before integrated before software, or the one named by
    /// `BALNET_ADAPTER`. Err(NO_ADAPTER_FIX) when there is none.
    pub fn new() -> anyhow::Result<Arc<GpuContext>> {
        Self::open(GpuOptions::from_env()?)
    }

    /// As `new`, with the layout and binding limit of `options` (not the environment's).
    pub fn open(options: GpuOptions) -> anyhow::Result<Arc<GpuContext>> {
        let layout_requested = options.layout;
        let max_binding = options.max_binding_bytes;
        let inst = instance();
        let mut adapters = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::PRIMARY));
        if let Ok(want) = std::env::var(ADAPTER_ENV) {
            let want = want.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&want));
            if adapters.is_empty() {
                anyhow::bail!(
                    "{ADAPTER_ENV}={want}: no adapter with that name (see `balnet info`)"
                );
            }
        }
        adapters.sort_by_key(|a| type_rank(a.get_info().device_type));
        let adapter = adapters
            .into_iter()
            .next()
            .ok_or_else(|| anyhow::anyhow!(NO_ADAPTER_FIX))?;
        let report = AdapterReport::from_adapter(&adapter);
        let limits = adapter.limits();
        let mut optional = adapter.features() & OPTIONAL_FEATURES;
        if !options.kernel_times {
            optional.remove(wgpu::Features::TIMESTAMP_QUERY);
        }
        let desc = wgpu::DeviceDescriptor {
            label: Some("balnet"),
            required_features: REQUIRED_FEATURES | optional,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| anyhow::anyhow!("cannot open GPU device {}: {e}", report.name))?;
        let mut limits = limits;
        if let Some(b) = max_binding {
            limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(b);
        }
        let layout = resolve_layout(layout_requested, &report.device_type);
        Ok(Arc::new(GpuContext {
            device,
            queue,
            report,
            limits,
            layout_requested,
            layout,
            timestamps: optional.contains(wgpu::Features::TIMESTAMP_QUERY),
        }))
    }

    /// Compiles the module `k` and builds its pipelines, in the order of `k.pipelines`, each
    /// with the layout `layout_of(entry)` gives (None: an automatic layout).
    pub fn kernel_pipelines<'l>(
        &self,
        k: &KernelSource,
        layout_of: impl Fn(&str) -> Option<&'l wgpu::PipelineLayout>,
    ) -> anyhow::Result<Vec<wgpu::ComputePipeline>> {
        let label = k.label.as_str();
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(k.source.as_str().into()),
            });
        if let Some(err) = pollster::block_on(scope.pop()) {
            anyhow::bail!("shader {label} failed to compile: {err}");
        }
        k.pipelines
            .iter()
            .map(|p| {
                let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
                let pipeline =
                    self.device
                        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                            label: Some(label),
                            layout: layout_of(p.entry),
                            module: &module,
                            entry_point: Some(p.entry),
                            compilation_options: wgpu::PipelineCompilationOptions {
                                constants: &p.constants,
                                zero_initialize_workgroup_memory: k.zero_workgroup_memory,
                            },
                            cache: None,
                        });
                if let Some(err) = pollster::block_on(scope.pop()) {
                    anyhow::bail!("shader {label}::{} failed to compile: {err}", p.entry);
                }
                Ok(pipeline)
            })
            .collect()
    }

    /// Whether the kernels take the shapes for a CPU implementation of the API (e.g.
    /// lavapipe: SIMD lanes rather than thousands of threads): the resolved `layout`.
    pub fn cpu_layout(&self) -> bool {
        self.layout == GpuLayout::Cpu
    }

    /// The largest storage binding (and buffer) the kernels may use, in bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// What run.json records about this context.
    pub fn run_info(&self) -> GpuRunInfo {
        GpuRunInfo {
            layout: self.layout.name(),
            layout_requested: self.layout_requested.name(),
            max_binding_bytes: self.max_binding_bytes(),
            max_binding_lowered: self.limits.max_storage_buffer_binding_size
                < self.report.max_storage_buffer_binding_size,
            device_memory: None,
            kernel_times: None,
        }
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) -> anyhow::Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| anyhow::anyhow!("GPU wait failed: {e}"))?;
        Ok(())
    }
}
