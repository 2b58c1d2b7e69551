//! Model H stepping throughput in neuron-steps/s (2 n × steps / stepping seconds, start-up
//! excluded and reported separately), per backend, coupling mode and n.
//!
//! `cargo bench --bench hydro_throughput -- [cpu] [gpu] [independent] [shared] [n=1e6,...]
//! [steps=S]`: with no backend named both run; with no mode named both run; default n
//! 1e4, 1e5, 1e6. Records every 50 steps, as the default experiment does.

use balnet::device::BackendChoice;
use balnet::hydro::config::{Coupling, HydroConfig};
use balnet::hydro::output::{RunOptions, moment_shift, open_backend, setup};
use std::time::Instant;

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
    println!(
        "{:<5} {:<12} {:>9} {:>6} {:>9} {:>10} {:>14}",
        "backend", "coupling", "n", "steps", "setup_s", "step_s", "neuron-steps/s"
    );
    for b in &backends {
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
                let opts = RunOptions {
                    force: true,
                    ..RunOptions::new(
                        if b == "gpu" {
                            BackendChoice::Gpu
                        } else {
                            BackendChoice::Cpu
                        },
                        std::env::temp_dir(),
                    )
                };
                let t0 = Instant::now();
                let s = setup(config, &opts)?;
                let shift = moment_shift(&s);
                let (mut backend, _) = open_backend(&s, opts.backend, 0, shift)?;
                backend.initial_record()?;
                let setup_s = t0.elapsed().as_secs_f64();
                let t1 = Instant::now();
                let rec = backend.advance(steps as u32, 50)?;
                let step_s = t1.elapsed().as_secs_f64();
                std::hint::black_box(rec);
                println!(
                    "{:<7} {:<12} {:>9} {:>6} {:>9.3} {:>10.3} {:>14.3e}",
                    b,
                    m,
                    n,
                    steps,
                    setup_s,
                    step_s,
                    2.0 * n as f64 * steps as f64 / step_s
                );
            }
        }
    }
    Ok(())
}
