//! `balnet info` (the adapters and their limits) and `balnet selftest`.

use balnet::device::BackendChoice;
use std::process::ExitCode;

pub fn info(json: bool) -> anyhow::Result<ExitCode> {
    balnet::device::gpu::check_env()?;
    let requested = balnet::device::gpu::requested_layout()?;
    let max_binding = balnet::device::gpu::max_binding_override()?;
    let adapters = balnet::device::list_adapters();
    if json {
        let layouts: Vec<&str> = adapters
            .iter()
            .map(|a| balnet::device::gpu::resolve_layout(requested, &a.device_type).name())
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "adapters": adapters,
                "gpu_layout_requested": requested.name(),
                "gpu_layout": layouts,
                "max_binding_bytes_override": max_binding,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if adapters.is_empty() {
        println!("{}", balnet::device::NO_ADAPTER_FIX);
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
        println!("  timestamp queries                {}", a.timestamp_query);
        println!(
            "  kernel layout                    {} (asked: {})",
            balnet::device::gpu::resolve_layout(requested, &a.device_type).name(),
            requested.name()
        );
        if let Some(b) = max_binding {
            println!(
                "  binding limit used               {} bytes ({})",
                b.min(a.max_storage_buffer_binding_size),
                balnet::device::gpu::MAX_BINDING_ENV
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn selftest(backend: BackendChoice, json: bool) -> anyhow::Result<ExitCode> {
    let r = balnet::app::selftest::selftest(backend)?;
    if let Some(n) = &r.note {
        eprintln!("note: {n}");
    }
    let failed = r.failed();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "checks": r.checks, "passed": r.checks.len() - failed, "failed": failed
            }))?
        );
    } else {
        if let Some(a) = &r.adapter {
            println!("GPU adapter: {a}");
        }
        for c in &r.checks {
            let verdict = if c.passed { "PASS" } else { "FAIL" };
            println!("{verdict} [{}] {}: {}", c.backend, c.name, c.detail);
        }
        println!("{} passed, {} failed", r.checks.len() - failed, failed);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
