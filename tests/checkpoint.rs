//! Checkpoint and resume: a run killed after a checkpoint and resumed writes the same records
//! and final state, bit for bit, as the uninterrupted run, on each backend (model H:
//! moments.csv and state.npy; model L: rates.csv, neurons.npy, vhist.csv, raster.csv and
//! the spike files).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::balnet;

fn tmp(name: &str) -> PathBuf {
    common::fresh_dir("balnet-ck", name)
}

fn ok(c: &mut std::process::Command) {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn kill_and_resume(name: &str, backend: &str, config: &str, every: &str) {
    kill_and_resume_files(name, backend, config, every, &["moments.csv", "state.npy"]);
}

fn kill_and_resume_files(name: &str, backend: &str, config: &str, every: &str, files: &[&str]) {
    let d = tmp(name);
    let cfg = d.join("c.json");
    std::fs::write(&cfg, config).unwrap();
    let cfg = cfg.to_str().unwrap();
    let reference = d.join("reference");
    ok(&mut common::run_command(cfg, backend, &reference));

    let out = d.join("killed");
    let mut child = common::run_command(cfg, backend, &out)
        .args(["--checkpoint-every", every])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !out.join("checkpoint.bin").exists() && t0.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(2));
    }
    let finished = child.try_wait().unwrap().is_some();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(out.join("checkpoint.bin").exists(), "no checkpoint written");
    if finished {
        eprintln!(
            "{backend}: the run ended before it was killed (resuming from its last checkpoint)"
        );
    }
    ok(balnet().args([
        "run",
        "--resume",
        out.to_str().unwrap(),
        "--backend",
        backend,
    ]));
    for &f in files {
        let (a, b) = (read(&reference, f), read(&out, f));
        assert!(a == b, "{backend}: {f} differs after resume");
    }
    let run: serde_json::Value =
        serde_json::from_str(&String::from_utf8(read(&out, "run.json")).unwrap()).unwrap();
    assert_eq!(run["status"], "complete");
}

fn read(dir: &Path, f: &str) -> Vec<u8> {
    std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
}

#[test]
fn resumed_cpu_run_equals_the_uninterrupted_one() {
    for coupling in ["independent", "shared"] {
        kill_and_resume(
            &format!("hydro-cpu-{coupling}"),
            "cpu",
            &format!(
                r#"{{"model":"hydro","n":50000,"duration":3.0,"record_every":50,"coupling":"{coupling}","save_state":true}}"#
            ),
            "200",
        );
    }
}

#[test]
fn resumed_gpu_run_equals_the_uninterrupted_one() {
    if common::gpu().is_none() {
        return;
    }
    kill_and_resume(
        "hydro-gpu",
        "gpu",
        r#"{"model":"hydro","n":20000,"duration":1.0,"record_every":50,"save_state":true}"#,
        "250",
    );
}

/// Model L: 2.5 K neurons with stored connectivity and delays (the ring), 3200 steps,
/// checkpoints every 700 steps (the first in the warm-up, the later ones mid-bin), every
/// spike recorded (the resumed run cuts the spike files back to the checkpoint).
const LIF: &str = r#"{"model":"lif","K":100,"synapse":{"kind":"conductance","a":0.009,"g":20},"nu_x":25,"n_e":2000,"n_i":500,"warmup":20,"duration":300,"delay":{"kind":"uniform","e_ms":[0.5,2.0],"i_ms":[0.1,1.0]},"record":{"rate_bin_ms":0.3,"spikes":"all"}}"#;
const LIF_FILES: [&str; 6] = [
    "rates.csv",
    "neurons.npy",
    "vhist.csv",
    "raster.csv",
    "spikes_step.npy",
    "spikes_neuron.npy",
];

#[test]
fn resumed_lif_cpu_run_equals_the_uninterrupted_one() {
    kill_and_resume_files("lif-cpu", "cpu", LIF, "700", &LIF_FILES);
    // Annealed connectivity (no stored synapses), the precise integrator.
    kill_and_resume_files(
        "lif-cpu-annealed",
        "cpu",
        &LIF.replace(
            r#""delay":{"kind":"uniform","e_ms":[0.5,2.0],"i_ms":[0.1,1.0]}"#,
            r#""connectivity":"annealed","integrator":"precise""#,
        ),
        "900",
        &LIF_FILES,
    );
}

#[test]
fn resumed_lif_gpu_run_equals_the_uninterrupted_one() {
    if common::gpu().is_none() {
        return;
    }
    kill_and_resume_files("lif-gpu", "gpu", LIF, "700", &LIF_FILES);
}
