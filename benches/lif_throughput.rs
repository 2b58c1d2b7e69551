//! Model L throughput: the conductance-based K = 1e3 network of the issue (N_E = N_I = 1e4,
//! 2.5e7 synapses, dt = 0.05 ms, nu_X tau_rp = 0.05) with each integrator, and K = 1e4 on
//! N_E = N_I = 2e4 (5e8 synapses; the paper's 1e5 + 1e5 would need 2.5e9 synapses, 10 GB, and
//! about 1.5e3 wall seconds per simulated second on the CPU here), on the CPU and the GPU
//! backend. Reports network build time, bytes per synapse, wall seconds per simulated second,
//! synaptic events/s and neuron-steps/s.
//! `cargo bench --bench lif_throughput [-- cpu|gpu] [k1e3|k1e4] [precise|lumped]` (default:
//! everything). The CPU runs once per instruction-set level this machine has
//! (only the one `BALNET_ISA` names, when it is set).

use balnet::device::isa::Isa;
use balnet::device::{CpuDevice, Device};
use balnet::lif::config::{Integrator, LifConfig, SynapseConfig};
use balnet::lif::sim::Simulation;
use balnet::progress::Quiet;

fn bench(label: &str, device: &Device, cfg: LifConfig) -> anyhow::Result<()> {
    let s = cfg.validate()?;
    let mut sim = Simulation::new(s.clone(), device)?;
    let setup = sim.setup_seconds();
    let (syn, bps) = sim.synapses().unwrap_or((0, 0.0));
    sim.run_to_end(&mut Quiet)?;
    let sm = sim.recording()?.summary();
    let wall = sim.stepping_seconds();
    let steps = sim.steps_done();
    let simulated = steps as f64 * s.config.dt * 1e-3;
    let rate =
        (sm.mean_rate_hz[0] * s.n_e as f64 + sm.mean_rate_hz[1] * s.n_i as f64) / s.n() as f64;
    let events = rate * syn as f64 * simulated;
    println!(
        "{label:<40} build {:.2} s (setup {setup:.2} s), {syn} synapses x {bps:.2} B, rate {rate:.2} Hz: {:.2} wall s per simulated s, {:.3e} synaptic events/s, {:.3e} neuron-steps/s",
        sim.build_seconds(),
        wall / simulated,
        events / wall,
        sim.neuron_steps_per_second()
    );
    if let Some(t) = sim.gpu_info().and_then(|g| g.kernel_times) {
        println!("{:<40} kernel times ({}): {}", "", t.source, t.summary());
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let want = |group: &[&str], k: &str| {
        !args.iter().any(|a| group.contains(&a.as_str())) || args.iter().any(|a| a == k)
    };
    let backends = ["cpu", "gpu"];
    let sizes = ["k1e3", "k1e4"];
    let integrators = ["precise", "lumped"];
    let k1e3 = LifConfig {
        k: 1000,
        synapse: SynapseConfig::Conductance { a: 2e-3, g: 20.0 },
        nu_x: 25.0,
        warmup: 100.0,
        duration: 400.0,
        ..LifConfig::default()
    };
    let mut devices: Vec<(String, Device)> = Vec::new();
    for backend in backends.iter().filter(|b| want(&backends, b)) {
        if *backend == "gpu" {
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
    for (backend, device) in &devices {
        let run = |label: String, cfg: LifConfig| {
            // A network too large for the device is reported, not fatal.
            if let Err(e) = bench(&label, device, cfg) {
                println!("{label:<40} not run: {e:#}");
            }
        };
        for (name, integrator) in [
            ("precise", Integrator::Precise),
            ("lumped", Integrator::Lumped),
        ] {
            if want(&sizes, "k1e3") && want(&integrators, name) {
                run(
                    format!("{backend} K=1e3 N=2e4 {integrator:?}"),
                    LifConfig {
                        integrator,
                        ..k1e3.clone()
                    },
                );
            }
        }
        if want(&sizes, "k1e4") && want(&integrators, "precise") {
            run(
                format!("{backend} K=1e4 N=4e4 Precise"),
                LifConfig {
                    k: 10_000,
                    n_e: Some(20_000),
                    n_i: Some(20_000),
                    synapse: SynapseConfig::Conductance { a: 8e-4, g: 20.0 },
                    warmup: 20.0,
                    duration: 80.0,
                    ..k1e3.clone()
                },
            );
        }
    }
    Ok(())
}
