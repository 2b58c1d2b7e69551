//! The `balnet` command line: parse, dispatch to the library, print.

use balnet::backend::gpu::{self, GpuContext};
use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "balnet",
    version,
    about = "Large balanced E/I networks on the GPU and CPU, checked against theory"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum BackendArg {
    Auto,
    Cpu,
    Gpu,
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter wgpu finds and the limits that decide how large a network fits.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check the random number generator and samplers on this machine's backends.
    Selftest {
        #[arg(long, value_enum, default_value = "auto")]
        backend: BackendArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    // Mesa's Vulkan window-system layer prints an error when XDG_RUNTIME_DIR is unset, which
    // headless batch machines often leave unset; balnet never presents to a window.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Info { json } => info(json),
        Command::Selftest { backend, json } => selftest(backend, json),
    }
}

fn info(json: bool) -> anyhow::Result<ExitCode> {
    let adapters = gpu::list_adapters();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "adapters": adapters }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if adapters.is_empty() {
        println!("{}", gpu::NO_ADAPTER_FIX);
        return Ok(ExitCode::SUCCESS);
    }
    for (i, a) in adapters.iter().enumerate() {
        println!("adapter {i}: {}", a.name);
        println!(
            "  backend {}, type {}, driver {} {}",
            a.backend, a.device_type, a.driver, a.driver_info
        );
        println!(
            "  max buffer size                  {} bytes",
            a.max_buffer_size
        );
        println!(
            "  max storage-buffer binding       {} bytes",
            a.max_storage_buffer_binding_size
        );
        println!(
            "  max storage buffers per stage    {}",
            a.max_storage_buffers_per_shader_stage
        );
        println!(
            "  max workgroups per dimension     {}",
            a.max_compute_workgroups_per_dimension
        );
        println!(
            "  max invocations per workgroup    {}",
            a.max_compute_invocations_per_workgroup
        );
        println!(
            "  max workgroup storage            {} bytes",
            a.max_compute_workgroup_storage_size
        );
        println!(
            "  subgroup size                    {}..{}",
            a.subgroup_min_size, a.subgroup_max_size
        );
        println!(
            "  shader f64 {}, shader i64 {}, subgroups {}",
            a.shader_f64, a.shader_i64, a.subgroups
        );
        let f32s = a.max_storage_buffer_binding_size / 4;
        println!("  largest f32 array in one binding {f32s} elements");
    }
    Ok(ExitCode::SUCCESS)
}

/// The GPU context for `--backend`, or None for the CPU. `auto` falls back with a notice.
fn open_gpu(backend: BackendArg) -> anyhow::Result<Option<std::sync::Arc<GpuContext>>> {
    match backend {
        BackendArg::Cpu => Ok(None),
        BackendArg::Gpu => GpuContext::new().map(Some),
        BackendArg::Auto => match GpuContext::new() {
            Ok(c) => Ok(Some(c)),
            Err(e) => {
                eprintln!("note: {e:#}; running on the CPU backend");
                Ok(None)
            }
        },
    }
}

fn selftest(backend: BackendArg, json: bool) -> anyhow::Result<ExitCode> {
    let gpu = open_gpu(backend)?;
    if let Some(g) = &gpu {
        if !json {
            println!("GPU adapter: {}", g.report.summary());
        }
    }
    let cpu = backend != BackendArg::Gpu || gpu.is_some();
    let checks = balnet::selftest::run(gpu.as_ref(), cpu);
    let failed = checks.iter().filter(|c| !c.passed).count();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "checks": checks, "passed": checks.len() - failed, "failed": failed
            }))?
        );
    } else {
        for c in &checks {
            let verdict = if c.passed { "PASS" } else { "FAIL" };
            println!("{verdict} [{}] {}: {}", c.backend, c.name, c.detail);
        }
        println!("{} passed, {} failed", checks.len() - failed, failed);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
