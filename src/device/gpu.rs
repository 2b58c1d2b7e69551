//! The wgpu device: adapter discovery, device creation with the adapter's real limits, and
//! shader compilation (of `device::kernels` modules) with errors turned into `Result`s.

use crate::device::kernels::KernelSource;
use serde::Serialize;
use std::sync::Arc;

/// What to do when the environment variable is set: pick the adapter whose name contains it.
pub const ADAPTER_ENV: &str = "BALNET_ADAPTER";

/// The device features balnet asks for: none, so that every WebGPU adapter runs it (the
/// kernels are validated against exactly this in tests/naga_translate.rs).
pub const REQUIRED_FEATURES: wgpu::Features = wgpu::Features::empty();

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

/// A device and queue, created with the adapter's own limits so large networks fit.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub report: AdapterReport,
    pub limits: wgpu::Limits,
}

impl GpuContext {
    /// The best adapter: discrete before integrated before software, or the one named by
    /// `BALNET_ADAPTER`. Err(NO_ADAPTER_FIX) when there is none.
    pub fn new() -> anyhow::Result<Arc<GpuContext>> {
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
        let desc = wgpu::DeviceDescriptor {
            label: Some("balnet"),
            required_features: REQUIRED_FEATURES,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| anyhow::anyhow!("cannot open GPU device {}: {e}", report.name))?;
        Ok(Arc::new(GpuContext {
            device,
            queue,
            report,
            limits,
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

    /// A CPU implementation of the API (e.g. lavapipe), which wants kernels shaped for SIMD
    /// lanes rather than for thousands of threads.
    pub fn is_cpu_device(&self) -> bool {
        self.report.device_type == format!("{:?}", wgpu::DeviceType::Cpu)
    }

    /// Blocks until all submitted work is done.
    pub fn wait(&self) -> anyhow::Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| anyhow::anyhow!("GPU wait failed: {e}"))?;
        Ok(())
    }
}
