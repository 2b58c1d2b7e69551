//! Batched replicas against sequential single runs (model H, `independent`), in neuron-steps/s
//! = R 2 n steps / seconds. The batch steps R networks in the same dispatches (GPU) or rayon
//! tasks (CPU); the sequential runs open one backend per network, as R separate `balnet run`s
//! would (the device itself is opened once). Stepping-only figures exclude set-up, which is
//! reported separately; "with set-up" includes it.
//!
//! `cargo bench --bench replica_throughput -- [cpu|gpu] [n=1000] [replicas=256] [steps=1000]
//! [sequential=256]` (sequential: how many of the R single runs to time; the figure is per
//! network, so a subset measures the same rate).

use balnet::device::BackendChoice;
use balnet::hydro::backend::HydroBackend;
use balnet::hydro::config::HydroConfig;
use balnet::hydro::cpu::HydroCpu;
use balnet::hydro::gpu::{HydroGpu, Member};
use balnet::hydro::output::{RunOptions, gpu_context, moment_shift, setup};
use balnet::hydro::sim::Batch;
use balnet::hydro::step::HydroConsts;
use std::time::Instant;

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
    let backend = if args.iter().any(|a| a == "cpu") {
        BackendChoice::Cpu
    } else {
        BackendChoice::Gpu
    };
    let config = HydroConfig {
        n,
        steps: Some(steps),
        record_every: 50,
        ..HydroConfig::default()
    };
    let opts = RunOptions {
        force: true,
        ..RunOptions::new(backend, std::env::temp_dir())
    };
    let s = setup(config, &opts)?;
    let shift = moment_shift(&s);
    let c = HydroConsts::new(&s);
    let members: Vec<Member> = (0..r as u32)
        .map(|replica| Member {
            key: c.key,
            replica,
        })
        .collect();
    let rate = |nets: u64, secs: f64| nets as f64 * 2.0 * n as f64 * steps as f64 / secs;

    let t0 = Instant::now();
    let mut batch = Batch::open(&s, &members, backend, shift)?;
    batch.initial_records()?;
    let setup_b = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    std::hint::black_box(batch.advance(steps as u32, 50)?);
    let step_b = t1.elapsed().as_secs_f64();
    println!(
        "batch of {r} on {}: set-up {setup_b:.3} s, stepping {step_b:.3} s: {:.3e} neuron-steps/s ({:.3e} with set-up)",
        batch.name(),
        rate(r, step_b),
        rate(r, step_b + setup_b)
    );

    let ctx = gpu_context(backend)?;
    let (mut setup_q, mut step_q) = (0.0, 0.0);
    for m in members.iter().take(sequential as usize) {
        let t0 = Instant::now();
        let mut b: Box<dyn HydroBackend> = match &ctx {
            Some(ctx) => Box::new(HydroGpu::new(ctx.clone(), c, &[*m], shift)?),
            None => Box::new(HydroCpu::new(c, m.replica, shift)),
        };
        b.initial_record()?;
        setup_q += t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        std::hint::black_box(b.advance(steps as u32, 50)?);
        step_q += t1.elapsed().as_secs_f64();
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
