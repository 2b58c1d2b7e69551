//! Model H stepping throughput in neuron-steps/s (2 n × steps / stepping seconds, start-up
//! excluded and reported separately), per backend, coupling mode and n.
//!
//! `cargo bench --bench hydro_throughput -- [cpu] [gpu] [independent] [shared] [n=1e6,...]
//! [steps=S]`: with no backend named both run; with no mode named both run; default n
//! 1e4, 1e5, 1e6. Records every 50 steps, as the default experiment does. The CPU runs once
//! per instruction-set level this machine has (avx512, avx2, baseline; only the one
//! `BALNET_ISA` names, when it is set), each row naming it.

use balnet::device::isa::Isa;
use balnet::device::{CpuDevice, Device};
use balnet::hydro::config::{Coupling, HydroConfig};
use balnet::hydro::sim::Simulation;
use balnet::progress::Quiet;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let pick = |names: &[&str]| -> Vec<String> {
        let chosen: Vec<String> = names
            .iter()
            .filter(|n| args.iter().any(|a| a == *n))
            .map(|s| s.to_string())
            .collect();
        if chosen.is_empty() {
            names.iter().map(|s| s.to_string()).collect()
        } else {
            chosen
        }
    };
    let backends = pick(&["cpu", "gpu"]);
    let modes = pick(&["independent", "shared"]);
    let mut ns: Vec<u64> = vec![10_000, 100_000, 1_000_000];
    let mut fixed_steps: Option<u64> = None;
    for a in &args {
        if let Some(v) = a.strip_prefix("n=") {
            ns = v
                .split(',')
                .map(|s| s.parse::<f64>().map(|x| x as u64))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = a.strip_prefix("steps=") {
            fixed_steps = Some(v.parse()?);
        }
    }
    let mut devices: Vec<(String, Device)> = Vec::new();
    for b in &backends {
        if b == "gpu" {
            devices.push(("gpu".into(), Device::gpu()?));
        } else {
            for isa in Isa::benchmarked()? {
                devices.push((
                    format!("cpu/{}", isa.name()),
                    Device::Cpu(CpuDevice::with_isa(isa)),
                ));
            }
        }
    }
    println!(
        "{:<12} {:<12} {:>9} {:>6} {:>9} {:>10} {:>14}",
        "backend", "coupling", "n", "steps", "setup_s", "step_s", "neuron-steps/s"
    );
    for (b, device) in &devices {
        for m in &modes {
            for &n in &ns {
                let steps = fixed_steps.unwrap_or((2e8 / n as f64).clamp(50.0, 2000.0) as u64);
                let config = HydroConfig {
                    n,
                    steps: Some(steps),
                    record_every: 50,
                    coupling: if m == "shared" {
                        Coupling::Shared
                    } else {
                        Coupling::Independent
                    },
                    ..HydroConfig::default()
                };
                let s = config.validate(true)?;
                let mut sim = Simulation::new(s, device)?;
                let setup_s = sim.setup_seconds();
                sim.run_to_end(&mut Quiet)?;
                let step_s = sim.stepping_seconds();
                println!(
                    "{:<12} {:<12} {:>9} {:>6} {:>9.3} {:>10.3} {:>14.3e}",
                    b,
                    m,
                    n,
                    steps,
                    setup_s,
                    step_s,
                    sim.neuron_steps_per_second()
                );
                if let Some(t) = sim.gpu_info().and_then(|g| g.kernel_times) {
                    println!("{:<12} kernel times ({}): {}", "", t.source, t.summary());
                }
            }
        }
    }
    Ok(())
}
