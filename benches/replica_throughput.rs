//! Batched replicas against sequential single runs (model H, `independent`), in neuron-steps/s
//! = R 2 n steps / seconds. The batch steps R networks in the same dispatches (GPU) or rayon
//! tasks (CPU); the sequential runs open one backend per network, as R separate `balnet run`s
//! would (the device itself is opened once). Stepping-only figures exclude set-up, which is
//! reported separately; "with set-up" includes it.
//!
//! `cargo bench --bench replica_throughput -- [cpu|gpu] [n=1000] [replicas=256] [steps=1000]
//! [sequential=256]` (sequential: how many of the R single runs to time; the figure is per
//! network, so a subset measures the same rate).

use balnet::device::Device;
use balnet::hydro::config::HydroConfig;
use balnet::hydro::sim::{Member, Simulation, default_members};
use balnet::progress::Quiet;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let get = |k: &str, d: u64| -> anyhow::Result<u64> {
        match args.iter().find_map(|a| a.strip_prefix(&format!("{k}="))) {
            Some(v) => Ok(v.parse::<f64>()? as u64),
            None => Ok(d),
        }
    };
    let (n, r, steps) = (get("n", 1000)?, get("replicas", 256)?, get("steps", 1000)?);
    let sequential = get("sequential", r)?.min(r);
    let device = if args.iter().any(|a| a == "cpu") {
        Device::cpu()?
    } else {
        Device::gpu()?
    };
    let config = HydroConfig {
        n,
        steps: Some(steps),
        record_every: 50,
        replicas: r as u32,
        ..HydroConfig::default()
    };
    let s = config.validate(true)?;
    let members: Vec<Member> = default_members(&s);
    let rate = |nets: u64, secs: f64| nets as f64 * 2.0 * n as f64 * steps as f64 / secs;

    let mut batch = Simulation::with_members(s.clone(), members.clone(), &device)?;
    let setup_b = batch.setup_seconds();
    batch.run_to_end(&mut Quiet)?;
    let step_b = batch.stepping_seconds();
    println!(
        "batch of {r} on {}: set-up {setup_b:.3} s, stepping {step_b:.3} s: {:.3e} neuron-steps/s ({:.3e} with set-up)",
        batch.backend_name(),
        rate(r, step_b),
        rate(r, step_b + setup_b)
    );

    let (mut setup_q, mut step_q) = (0.0, 0.0);
    for m in members.iter().take(sequential as usize) {
        let mut one = Simulation::with_members(s.clone(), vec![*m], &device)?;
        setup_q += one.setup_seconds();
        one.run_to_end(&mut Quiet)?;
        step_q += one.stepping_seconds();
    }
    println!(
        "{sequential} sequential single runs: set-up {setup_q:.3} s, stepping {step_q:.3} s: {:.3e} neuron-steps/s ({:.3e} with set-up)",
        rate(sequential, step_q),
        rate(sequential, step_q + setup_q)
    );
    println!(
        "batch / sequential: {:.1}x stepping only, {:.1}x with set-up",
        rate(r, step_b) / rate(sequential, step_q),
        rate(r, step_b + setup_b) / rate(sequential, step_q + setup_q)
    );
    Ok(())
}
