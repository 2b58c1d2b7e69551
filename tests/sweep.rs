//! `balnet sweep` end to end: sharded runs merged equal one unsharded sweep; a sweep killed
//! midway and rerun completes every point and gives the uninterrupted summary; on the GPU the
//! seeds of a grid point run as one batch with the numbers of their single runs.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::balnet;

fn tmp(name: &str) -> PathBuf {
    common::fresh_dir("balnet-sweep", name)
}

/// A sweep of `points` small model H runs (2 x 2000 neurons, 2.2 time units: late-time
/// moments exist) over n and seeds.
fn write_sweep(dir: &Path, ns: &[u64], seeds: u64) -> PathBuf {
    let p = dir.join("sweep.json");
    let ns: Vec<String> = ns.iter().map(|n| n.to_string()).collect();
    std::fs::write(
        &p,
        format!(
            r#"{{"base": {{"model": "hydro", "duration": 2.2, "record_every": 100}},
                "grid": {{"n": [{}]}}, "seeds": {seeds}, "backend": "cpu"}}"#,
            ns.join(", ")
        ),
    )
    .unwrap();
    p
}

/// summary.csv without the throughput column (wall-clock dependent).
fn summary(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| header[i] != "neuron_steps_per_second")
        .collect();
    std::iter::once(header.join(","))
        .chain(lines.map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            keep.iter().map(|&i| cells[i]).collect::<Vec<_>>().join(",")
        }))
        .collect()
}

fn run(args: &[&str]) {
    let out = balnet().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn shards_merged_and_parallel_jobs_equal_one_sweep() {
    let d = tmp("shards");
    let spec = write_sweep(&d, &[1000, 2000, 3000], 2);
    let spec = spec.to_str().unwrap();
    let whole = d.join("whole");
    run(&["sweep", spec, "--out", whole.to_str().unwrap()]);
    let parts = d.join("parts");
    for i in 0..3 {
        run(&[
            "sweep",
            spec,
            "--out",
            parts.to_str().unwrap(),
            "--shard",
            &format!("{i}/3"),
        ]);
    }
    run(&["sweep", spec, "--out", parts.to_str().unwrap(), "--merge"]);
    // Two points at a time: the same results.
    let two = d.join("jobs2");
    run(&["sweep", spec, "--out", two.to_str().unwrap(), "--jobs", "2"]);
    assert_eq!(summary(&whole), summary(&two));
    let (a, b) = (summary(&whole), summary(&parts));
    assert_eq!(a.len(), 1 + 6);
    assert!(a[1..].iter().all(|l| l.contains(",complete,")), "{a:?}");
    // A late-time column is filled in (the runs reach t = 2).
    assert!(
        a[1].split(',').filter(|c| !c.is_empty()).count() > 10,
        "{}",
        a[1]
    );
    assert_eq!(a, b);
}

#[test]
fn killed_sweep_resumes_to_the_same_summary() {
    let d = tmp("kill");
    let spec = write_sweep(&d, &[2000, 3000, 4000, 5000], 2);
    let spec_s = spec.to_str().unwrap();
    let reference = d.join("reference");
    run(&["sweep", spec_s, "--out", reference.to_str().unwrap()]);

    let out = d.join("killed");
    let mut child = balnet()
        .args(["sweep", spec_s, "--out", out.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill (SIGKILL) once at least two points are complete and the sweep is still going.
    let t0 = Instant::now();
    loop {
        let complete = (0..8)
            .filter(|i| {
                std::fs::read_to_string(out.join(format!("runs/{i:05}/run.json")))
                    .map(|t| t.contains("\"complete\""))
                    .unwrap_or(false)
            })
            .count();
        if complete >= 2 || t0.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = summary(&out);
    // Whatever the summary holds is consistent: no row claims a run that is not complete.
    for l in &before[1..] {
        let id = l.split(',').next().unwrap();
        let status = balnet::sweep::status_of(&out.join("runs").join(id));
        if l.contains(",complete,") {
            assert_eq!(status, Some(balnet::progress::Status::Complete));
        }
    }
    assert!(
        before.len() < 1 + 8,
        "the sweep was killed before finishing"
    );
    run(&["sweep", spec_s, "--out", out.to_str().unwrap()]);
    assert_eq!(summary(&out), summary(&reference));
}

#[test]
fn bad_sweeps_are_one_line_errors() {
    let d = tmp("bad");
    for (json, needle) in [
        (
            r#"{"base": {"model": "hydro"}, "grid": {"n": []}}"#,
            "grid.n: no values",
        ),
        (
            r#"{"base": {"model": "hydro"}, "grid": {"J.5.0": [1.0]}}"#,
            "index 5 out of range",
        ),
        (
            r#"{"base": {"model": "hydro"}, "sweeps": 3}"#,
            "unknown field `sweeps`",
        ),
        (
            r#"{"base": {"model": "hydro"}, "grid": {"n": {"logspace": [0, 10, 3]}}}"#,
            "needs start and stop > 0",
        ),
    ] {
        let p = d.join("s.json");
        std::fs::write(&p, json).unwrap();
        let out = balnet()
            .args(["sweep", p.to_str().unwrap(), "--dry-run"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{json}: {err}");
        assert!(err.contains(needle), "{json}: {err}");
    }
}

/// On the GPU a sweep's seeds at small n run as one batch (run.json says so), and every
/// point's moments.csv is byte for byte its single `balnet run` on the GPU.
#[test]
fn gpu_sweep_batches_seeds_with_single_run_results() {
    if common::gpu().is_none() {
        return;
    }
    let d = tmp("seed-batch");
    let p = d.join("sweep.json");
    std::fs::write(
        &p,
        r#"{"base": {"model": "hydro", "n": 1500, "duration": 0.4, "record_every": 20},
            "grid": {"coupling": ["independent", "shared"]}, "seeds": 3, "seed_base": 11,
            "backend": "gpu"}"#,
    )
    .unwrap();
    let out = d.join("out");
    run(&["sweep", p.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    for id in 0..6 {
        let rd = out.join("runs").join(format!("{id:05}"));
        let rj = std::fs::read_to_string(rd.join("run.json")).unwrap();
        assert!(rj.contains("one batch of 3 sweep points"), "{id}: {rj}");
        let single = d.join(format!("single{id}"));
        run(&[
            "run",
            rd.join("config.json").to_str().unwrap(),
            "--backend",
            "gpu",
            "--out",
            single.to_str().unwrap(),
        ]);
        let a = std::fs::read(rd.join("moments.csv")).unwrap();
        let b = std::fs::read(single.join("moments.csv")).unwrap();
        assert!(
            a == b,
            "point {id}: batched moments differ from the single run"
        );
    }
}

/// A sweep rerun into the same directory after its base config changed reruns every point
/// (their configs differ) and keeps nothing of the old results; rerun unchanged, it skips them.
#[test]
fn changed_base_reruns_the_points() {
    let d = tmp("changed");
    let out = d.join("out");
    let spec = write_sweep(&d, &[1000], 2);
    let spec_s = spec.to_str().unwrap();
    let run_out = |args: &[&str]| {
        let o = balnet().args(args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let first = run_out(&["sweep", spec_s, "--out", out.to_str().unwrap()]);
    assert!(first.contains("2 ran, 0 skipped"), "{first}");
    let again = run_out(&["sweep", spec_s, "--out", out.to_str().unwrap()]);
    assert!(again.contains("0 ran, 2 skipped"), "{again}");
    // The base's duration changes from 2.2 to 2.4: both points are stale.
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("2.2", "2.4");
    std::fs::write(&spec, text).unwrap();
    let changed = run_out(&["sweep", spec_s, "--out", out.to_str().unwrap()]);
    assert!(changed.contains("2 ran, 0 skipped"), "{changed}");
    for i in 0..2 {
        let rj = std::fs::read_to_string(out.join(format!("runs/{i:05}/run.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&rj).unwrap();
        assert_eq!(v["config"]["duration"], 2.4, "point {i}");
        let rows = std::fs::read_to_string(out.join(format!("runs/{i:05}/moments.csv"))).unwrap();
        // Records every 100 steps of dt 1e-3 up to t = 2.4: 25 record points x 2 populations.
        assert_eq!(rows.lines().count(), 1 + 2 * 25, "point {i}");
    }
}

/// A grid path that names no config field is refused before anything runs.
#[test]
fn unknown_grid_path_is_refused_up_front() {
    let d = tmp("badpath");
    let p = d.join("sweep.json");
    std::fs::write(
        &p,
        r#"{"base": {"model": "hydro", "duration": 0.3}, "grid": {"nn": [1000, 2000]}, "seeds": 1, "backend": "cpu"}"#,
    )
    .unwrap();
    let out = d.join("out");
    let o = balnet()
        .args(["sweep", p.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("grid path nn: no such config field `nn`"),
        "{err}"
    );
    assert!(!out.join("runs").exists(), "nothing ran");
}

/// Sweeps too large to list (1e10 seeds, a 1e10-value logspace) are refused in bounded time
/// and memory with one line, before any allocation of that size.
#[test]
fn oversized_sweeps_are_refused() {
    let d = tmp("huge");
    for (name, body) in [
        (
            "seeds",
            r#"{"base": {"model": "hydro"}, "grid": {"n": [1000]}, "seeds": 10000000000}"#,
        ),
        (
            "axis",
            r#"{"base": {"model": "hydro"}, "grid": {"n": {"logspace": [1000, 100000, 10000000000]}}, "seeds": 1}"#,
        ),
    ] {
        let p = d.join(format!("{name}.json"));
        std::fs::write(&p, body).unwrap();
        let t0 = Instant::now();
        let o = balnet()
            .args(["sweep", p.to_str().unwrap(), "--dry-run"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("1000000"), "{name}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: {err}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{name}");
    }
}

/// SIGINT stops a sweep: the running point stops at its next chunk (run.json
/// `interrupted`), no further point starts, and rerunning the command finishes the rest.
#[test]
fn sigint_stops_a_sweep_and_a_rerun_finishes_it() {
    let d = tmp("sigint");
    let p = d.join("sweep.json");
    std::fs::write(
        &p,
        r#"{"base": {"model": "hydro", "duration": 3.0, "record_every": 100}, "grid": {"n": [20000, 30000, 40000]}, "seeds": 1, "backend": "cpu"}"#,
    )
    .unwrap();
    let out = d.join("out");
    let (ps, os) = (p.to_str().unwrap(), out.to_str().unwrap());
    let mut child = balnet()
        .args(["sweep", ps, "--out", os])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = |i: u32| {
        std::fs::read_to_string(out.join(format!("runs/{i:05}/run.json")))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["status"].as_str().map(String::from))
    };
    let t0 = Instant::now();
    while status(1).as_deref() != Some("running") && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    // 130 (128 + SIGINT): the sweep stopped early, not complete.
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(status(0).as_deref(), Some("complete"));
    assert_eq!(status(1).as_deref(), Some("interrupted"));
    assert_eq!(status(2), None, "no point starts after the signal");
    let o = balnet().args(["sweep", ps, "--out", os]).output().unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("2 ran, 1 skipped"), "{text}");
    assert!((0..3).all(|i| status(i).as_deref() == Some("complete")));
}
