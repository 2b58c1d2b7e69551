//! Checkpoint and resume (model H): a run killed after a checkpoint and resumed writes the
//! same moments.csv and final state, bit for bit, as the uninterrupted run, on each backend.

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

fn kill_and_resume(backend: &str, config: &str, every: &str) {
    let d = tmp(backend);
    let cfg = d.join("c.json");
    std::fs::write(&cfg, config).unwrap();
    let cfg = cfg.to_str().unwrap();
    let reference = d.join("reference");
    ok(balnet().args([
        "run",
        cfg,
        "--backend",
        backend,
        "--out",
        reference.to_str().unwrap(),
    ]));

    let out = d.join("killed");
    let mut child = balnet()
        .args([
            "run",
            cfg,
            "--backend",
            backend,
            "--out",
            out.to_str().unwrap(),
            "--checkpoint-every",
            every,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !out.join("checkpoint.bin").exists() && t0.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(out.join("checkpoint.bin").exists(), "no checkpoint written");
    ok(balnet().args([
        "run",
        "--resume",
        out.to_str().unwrap(),
        "--backend",
        backend,
    ]));
    for f in ["moments.csv", "state.npy"] {
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
        "gpu",
        r#"{"model":"hydro","n":20000,"duration":1.0,"record_every":50,"save_state":true}"#,
        "250",
    );
}
