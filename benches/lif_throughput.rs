//! Model L throughput: the conductance-based K = 1e3 network of the issue (N_E = N_I = 1e4,
//! 2.5e7 synapses, dt = 0.05 ms, nu_X tau_rp = 0.05) with each integrator, and K = 1e4 on
//! N_E = N_I = 2e4 (5e8 synapses; the paper's 1e5 + 1e5 would need 2.5e9 synapses, 10 GB, and
//! about 1.5e3 wall seconds per simulated second on the CPU here), on the CPU and the GPU
//! backend. Reports network build time, bytes per synapse, wall seconds per simulated second,
//! synaptic events/s and neuron-steps/s.
//! `cargo bench --bench lif_throughput [-- cpu|gpu] [k1e3|k1e4] [precise|lumped]` (default:
//! everything).

use balnet::device::gpu::GpuContext;
use balnet::lif::backend::LifBackend;
use balnet::lif::config::{Integrator, LifConfig, SynapseConfig};
use balnet::lif::cpu::LifCpu;
use balnet::lif::gpu::LifGpu;
use std::time::Instant;

fn bench(label: &str, gpu: bool, cfg: LifConfig) -> anyhow::Result<()> {
    let s = cfg.validate()?;
    let t0 = Instant::now();
    let mut b: Box<dyn LifBackend> = if gpu {
        Box::new(LifGpu::new(GpuContext::new()?, &s, 0)?)
    } else {
        Box::new(LifCpu::new(&s, 0))
    };
    let setup = t0.elapsed().as_secs_f64();
    let (syn, bps) = b.synapses().unwrap_or((0, 0.0));
    let steps = (s.warmup_steps + s.steps) as u32;
    let t1 = Instant::now();
    b.advance(steps)?;
    let sm = b.recording()?.summary();
    let wall = t1.elapsed().as_secs_f64();
    let sim = steps as f64 * s.config.dt * 1e-3;
    let rate =
        (sm.mean_rate_hz[0] * s.n_e as f64 + sm.mean_rate_hz[1] * s.n_i as f64) / s.n() as f64;
    let events = rate * syn as f64 * sim;
    println!(
        "{label:<34} build {:.2} s (setup {setup:.2} s), {syn} synapses x {bps:.2} B, rate {rate:.2} Hz: {:.2} wall s per simulated s, {:.3e} synaptic events/s, {:.3e} neuron-steps/s",
        b.build_seconds(),
        wall / sim,
        events / wall,
        s.n() as f64 * steps as f64 / wall
    );
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
    for backend in backends.iter().filter(|b| want(&backends, b)) {
        let gpu = *backend == "gpu";
        let run = |label: String, cfg: LifConfig| {
            // A network too large for the device is reported, not fatal.
            if let Err(e) = bench(&label, gpu, cfg) {
                println!("{label:<34} not run: {e:#}");
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
