//! `balnet run`: a run (or `--resume`, `--dry-run`) through `balnet::app::run`, and what it
//! prints.

use super::{exit_of, print_kernel_times, set_run_json};
use balnet::app::run::{Estimate, RunReport, RunRequest, RunSummary};
use balnet::io::human_bytes;
use balnet::progress::{CancelToken, Status};
use std::process::ExitCode;

pub fn run(req: &RunRequest, dry_run: bool, stop: &CancelToken) -> anyhow::Result<ExitCode> {
    let resolved = balnet::app::run::resolve(req)?;
    for w in resolved.setup.warnings() {
        eprintln!("warning: {w}");
    }
    if dry_run {
        print_estimate(&balnet::app::run::estimate(&resolved)?);
        return Ok(ExitCode::SUCCESS);
    }
    let prepared = resolved.open()?;
    if let Some(n) = &prepared.note {
        eprintln!("note: {n}");
    }
    let out = prepared.resolved.out.clone();
    let mut bar = super::progress::Bar::new(stop.clone());
    set_run_json(Some(out.join("run.json")));
    let report = prepared.run(&mut bar);
    set_run_json(None);
    let report = report?;
    drop(bar);
    print_report(&report);
    println!("wrote {}", out.display());
    Ok(exit_of(report.status(), report.error()))
}

fn print_estimate(e: &Estimate) {
    match e {
        Estimate::Hydro {
            n,
            replicas,
            steps,
            host_bytes,
            cpu_layout,
            devices,
        } => {
            println!("model H: n = {n} per population, {replicas} replica(s), {steps} steps");
            println!(
                "host memory (CPU backend) about {}",
                human_bytes(*host_bytes)
            );
            let layout = if *cpu_layout { "cpu" } else { "gpu" };
            for d in devices {
                println!(
                    "{} [binding limit: {}; {layout} layout]",
                    d.memory.summary(),
                    d.binding_from
                );
            }
        }
        Estimate::Lif {
            n_e,
            n_i,
            k_e,
            k_i,
            synapses,
            host_bytes,
            devices,
        } => {
            println!(
                "model L: {n_e} + {n_i} neurons, K_E = {k_e}, K_I = {k_i}, {synapses:.3e} synapses"
            );
            println!(
                "host memory (CPU backend) about {}",
                human_bytes(*host_bytes)
            );
            for d in devices {
                println!("{} [binding limit: {}]", d.memory.summary(), d.binding_from);
            }
        }
    }
}

fn print_report(r: &RunReport) {
    match &r.summary {
        RunSummary::Hydro(s) => {
            if s.status == Status::Interrupted {
                println!("interrupted: the run directory holds the records up to there");
            }
            println!("backend: {}", s.backend);
            println!(
                "n = {} per population, {} steps: setup {:.2} s, stepping {:.2} s, {:.3e} neuron-steps/s",
                s.config.n, s.steps, s.setup_seconds, s.stepping_seconds, s.neuron_steps_per_second
            );
            print_kernel_times(s.gpu.as_ref());
            for p in &s.late_time {
                println!(
                    "{} (t >= {}): rate {:.5} (limit {:.5}, corrected {:.5}), mean {:.5} (limit {:.5}, corrected {:.5}), var {:.5} (limit {:.5}, corrected {:.5})",
                    p.population,
                    balnet::hydro::record::LATE_T,
                    p.rate.simulated,
                    p.rate.limit,
                    p.rate.corrected,
                    p.mean.simulated,
                    p.mean.limit,
                    p.mean.corrected,
                    p.var.simulated,
                    p.var.limit,
                    p.var.corrected
                );
            }
        }
        RunSummary::Lif(s) => print_lif(s),
    }
}

fn print_lif(s: &balnet::lif::output::LifRunSummary) {
    if s.status == Status::Interrupted {
        println!("interrupted: the run directory holds what was recorded until then");
    }
    println!("backend: {}", s.backend);
    if let (Some(k), Some(b)) = (s.synapses, s.bytes_per_synapse) {
        println!(
            "network: {} + {} neurons, {k} synapses ({b:.2} bytes each), built in {:.2} s",
            s.n_e, s.n_i, s.network_build_seconds
        );
    }
    println!(
        "stepping {:.2} s: {:.2} wall s per simulated s, {:.3e} neuron-steps/s{}",
        s.stepping_seconds,
        s.wall_seconds_per_simulated_second,
        s.neuron_steps_per_second,
        s.synaptic_events_per_second
            .map(|e| format!(", {e:.3e} synaptic events/s"))
            .unwrap_or_default()
    );
    print_kernel_times(s.gpu.as_ref());
    if let Some(sm) = &s.summary {
        for (a, name) in ["E", "I"].iter().enumerate() {
            println!(
                "{name}: rate {:.3} Hz, mean CV {} ({} neurons with >= 3 spikes), silent {:.3}",
                sm.mean_rate_hz[a],
                sm.mean_cv[a]
                    .map(|c| format!("{c:.3}"))
                    .unwrap_or("-".into()),
                sm.neurons_with_cv[a],
                sm.fraction_silent[a]
            );
        }
    }
    if let Some(t) = &s.theory {
        println!("mean-field: rate {:.3} Hz, CV {:.3}", t.rate_hz, t.cv);
    }
}
