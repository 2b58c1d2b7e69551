//! An interrupted run keeps what it recorded: `kill -9` mid-run leaves every record up to the
//! last chunk readable (moments.csv, rates.csv, raster.csv equal the uninterrupted run's first
//! rows); SIGINT / SIGTERM (once or twice) leave run.json `interrupted`, never `running`; a
//! full disk or an unwritable directory fails with the path named, no `*.tmp` left and run.json
//! `failed`; corrupt or mismatched checkpoints are refused with one line (exit 2); outputs are
//! linear in the number of records.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::balnet;

/// Model H: 5 chunks of 2000 steps, 201 records each (a second or two on the CPU).
const HYDRO: &str = r#"{"model":"hydro","n":5000,"duration":10.0,"record_every":10}"#;
/// Model L: 2.5 K neurons, K = 100, 5100 steps.
const LIF: &str = r#"{"model":"lif","K":100,"synapse":{"kind":"conductance","a":0.009,"g":20},"nu_x":25,"n_e":2000,"n_i":500,"warmup":10,"duration":500}"#;

fn tmp(name: &str) -> PathBuf {
    common::fresh_dir("balnet-crash", name)
}

fn write_config(dir: &Path, name: &str, json: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, json).unwrap();
    p.to_str().unwrap().to_string()
}

fn run_ok(args: &[&str]) {
    let out = balnet().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `balnet run CFG --backend BACKEND --out OUT EXTRA...`, spawned.
fn spawn_run(cfg: &str, backend: &str, out: &Path, extra: &[&str]) -> Child {
    common::run_command(cfg, backend, out)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&read(&dir.join("run.json"))).unwrap()
}

/// The lines of `p` that end in a newline (a kill during a flush may cut the last one).
fn complete_lines(p: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let mut lines: Vec<String> = text.split_inclusive('\n').map(String::from).collect();
    if lines.last().is_some_and(|l| !l.ends_with('\n')) {
        lines.pop();
    }
    lines
}

/// Waits until `p` has more than `lines` complete lines (or the child has exited).
fn wait_for_lines(child: &mut Child, p: &Path, lines: usize) {
    let t0 = Instant::now();
    while complete_lines(p).len() <= lines && t0.elapsed() < Duration::from_secs(120) {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `got` is a prefix of `want` (complete lines), and has at least `min` lines.
fn assert_prefix(what: &str, got: &[String], want: &Path, min: usize) {
    let want = complete_lines(want);
    assert!(
        got.len() >= min,
        "{what}: {} lines kept, expected >= {min}",
        got.len()
    );
    assert!(
        got.len() <= want.len(),
        "{what}: more lines than the full run"
    );
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            a,
            b,
            "{what}: line {} differs from the uninterrupted run",
            i + 1
        );
    }
    // Every kept line parses as CSV with the header's field count.
    let fields = want[0].split(',').count();
    for l in &got[1..] {
        assert_eq!(l.trim_end().split(',').count(), fields, "{what}: {l}");
        let v: f64 = l.split(',').next().unwrap().parse().unwrap();
        assert!(v.is_finite(), "{what}: {l}");
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn kill_9_keeps_every_record_up_to_the_last_chunk() {
    let d = tmp("kill9");
    let h = write_config(&d, "h.json", HYDRO);
    let l = write_config(&d, "l.json", LIF);
    let (h_ref, l_ref) = (d.join("h_ref"), d.join("l_ref"));
    run_ok(&[
        "run",
        &h,
        "--backend",
        "cpu",
        "--out",
        h_ref.to_str().unwrap(),
    ]);
    run_ok(&[
        "run",
        &l,
        "--backend",
        "cpu",
        "--out",
        l_ref.to_str().unwrap(),
    ]);

    // Model H: killed once the first two chunks (2 x 201 records, 2 rows each) are on disk.
    kill_mid_run(
        &d,
        &h,
        "h_killed",
        "moments.csv",
        &h_ref,
        1 + 2 * 401,
        |out| {
            assert_eq!(run_json(out)["status"], "running");
        },
    );
    // Model L: rates.csv and raster.csv, killed after 100 rate bins.
    kill_mid_run(&d, &l, "l_killed", "rates.csv", &l_ref, 100, |out| {
        let raster = complete_lines(&out.join("raster.csv"));
        assert_prefix("raster.csv", &raster, &l_ref.join("raster.csv"), 2);
    });
}

/// Runs `cfg`, kills it (SIGKILL) once `csv` has more than `lines` lines, and checks that what
/// was kept is a prefix of the reference run's file, then `more(out)`. The kill must land
/// before the run's end for this to test anything: a run that finished first is retried (up to
/// 3 times), and the test fails if none was cut short.
fn kill_mid_run(
    d: &Path,
    cfg: &str,
    name: &str,
    csv: &str,
    reference: &Path,
    lines: usize,
    more: impl Fn(&Path),
) {
    let full = complete_lines(&reference.join(csv)).len();
    for attempt in 0..3 {
        let out = d.join(format!("{name}{attempt}"));
        let mut child = spawn_run(cfg, "cpu", &out, &[]);
        wait_for_lines(&mut child, &out.join(csv), lines);
        child.kill().unwrap();
        child.wait().unwrap();
        let kept = complete_lines(&out.join(csv));
        assert_prefix(csv, &kept, &reference.join(csv), lines);
        if kept.len() < full {
            more(&out);
            return;
        }
        eprintln!("{name}: attempt {attempt} ended before the kill; again");
    }
    panic!("{name}: the kill never landed before the run's end in 3 attempts");
}

/// One signal, or two in a row: the run stops and run.json says `interrupted`.
fn interrupted(backend: &str, config: &str, csv: &str, signals: &[&str], name: &str) {
    let d = tmp(name);
    let cfg = write_config(&d, "c.json", config);
    let reference = d.join("ref");
    run_ok(&[
        "run",
        &cfg,
        "--backend",
        backend,
        "--out",
        reference.to_str().unwrap(),
    ]);
    // The signal must land before the run's end for this to test anything: a run that ended
    // first (exited before the signal, or wrote `complete`) is retried, up to 3 times, and the
    // test fails if none was interrupted.
    for attempt in 0..3 {
        let out = d.join(format!("run{attempt}"));
        let mut child = spawn_run(&cfg, backend, &out, &[]);
        wait_for_lines(&mut child, &out.join(csv), 20);
        let still_running = child.try_wait().unwrap().is_none();
        for s in signals {
            signal(&child, s);
        }
        let status = child.wait().unwrap();
        let v = run_json(&out);
        if !still_running || v["status"] == "complete" {
            eprintln!("{name}: attempt {attempt} ended before the signal; again");
            continue;
        }
        check_interrupted(&out, &reference, csv, signals.len(), status, &v, name);
        return;
    }
    panic!("{name}: the signal never landed before the run's end in 3 attempts");
}

/// What an interrupted run leaves: run.json `interrupted`; after one signal exit 130, no
/// error and every file; the kept rows a prefix of the reference run's, cut short.
fn check_interrupted(
    out: &Path,
    reference: &Path,
    csv: &str,
    signals: usize,
    status: std::process::ExitStatus,
    v: &serde_json::Value,
    name: &str,
) {
    assert_eq!(v["status"], "interrupted", "{name}: {v}");
    if signals == 1 {
        // Every file written, then exit 130 (128 + SIGINT): not complete, not a failure.
        assert_eq!(status.code(), Some(130), "{name}: {status:?}");
        assert!(v["error"].is_null(), "{name}: {v}");
        // Every file of the run directory is written.
        let files: &[&str] = if csv == "moments.csv" {
            &["moments.csv", "theory.csv", "moments.png"]
        } else {
            &[
                "rates.csv",
                "raster.csv",
                "neurons.npy",
                "vhist.csv",
                "lif.png",
            ]
        };
        for f in files {
            assert!(out.join(f).exists(), "{name}: {f} missing");
        }
    }
    let kept = complete_lines(&out.join(csv));
    assert_prefix(csv, &kept, &reference.join(csv), 21);
    let full = complete_lines(&reference.join(csv)).len();
    assert!(kept.len() < full, "{name}: the run was not stopped early");
}

#[test]
fn sigint_and_sigterm_mark_the_run_interrupted() {
    interrupted("cpu", HYDRO, "moments.csv", &["-INT"], "hydro_int");
    interrupted("cpu", LIF, "rates.csv", &["-TERM"], "lif_term");
    // A second signal ends the process before the directory is written: run.json still
    // becomes `interrupted`.
    interrupted(
        "cpu",
        HYDRO,
        "moments.csv",
        &["-INT", "-INT"],
        "hydro_int_int",
    );
    interrupted("cpu", LIF, "rates.csv", &["-TERM", "-INT"], "lif_term_int");
}

#[test]
fn unwritable_out_dir_names_the_path() {
    let d = tmp("unwritable");
    let h = write_config(&d, "h.json", r#"{"model":"hydro","n":1000,"duration":0.2}"#);
    std::fs::write(d.join("file"), "not a directory").unwrap();
    let out = d.join("file").join("run");
    let o = balnet()
        .args([
            "run",
            &h,
            "--backend",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(out.to_str().unwrap()), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// A 200 kB tmpfs, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path) -> Option<SmallDisk> {
        let m = dir.join("disk");
        std::fs::create_dir_all(&m).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=200k",
                "tmpfs",
                m.to_str().unwrap(),
            ])
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallDisk(m)),
            Ok(o) => {
                common::skip_unless_allowed(
                    "MOUNT",
                    &format!(
                        "cannot mount a tmpfs ({}): the full-disk checks",
                        String::from_utf8_lossy(&o.stderr).trim()
                    ),
                );
                None
            }
            Err(e) => {
                common::skip_unless_allowed(
                    "MOUNT",
                    &format!("cannot run mount ({e}): the full-disk checks"),
                );
                None
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn tmp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(tmp_files(&p));
        } else if p.to_string_lossy().contains(".tmp") {
            out.push(p);
        }
    }
    out
}

/// Runs `args` into `out` on the full disk: exit 1, the error names `file` and the cause,
/// no temporary file is left, run.json says `failed` with the error.
fn fails_on_full_disk(args: &[&str], out: &Path, file: &str) {
    let o = balnet().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(file), "error should name {file}: {err}");
    assert!(err.contains("No space left"), "{err}");
    assert!(tmp_files(out).is_empty(), "{:?}", tmp_files(out));
    let v = run_json(out);
    assert_eq!(v["status"], "failed", "{v}");
    let e = v["error"].as_str().unwrap_or_default();
    assert!(e.contains(file) && e.contains("No space left"), "{e}");
}

#[test]
fn full_disk_fails_with_the_path_and_no_temporary_files() {
    let d = tmp("full");
    let Some(disk) = SmallDisk::mount(&d) else {
        return;
    };
    // moments.csv outgrows the disk: 2 x 10^4 records of about 100 bytes.
    let h = write_config(
        &d,
        "h.json",
        r#"{"model":"hydro","n":500,"steps":10000,"record_every":1}"#,
    );
    let out = disk.0.join("moments");
    fails_on_full_disk(
        &[
            "run",
            &h,
            "--backend",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ],
        &out,
        "moments.csv",
    );
    std::fs::remove_dir_all(&out).unwrap();
    // A checkpoint (400 kB of state) does not fit.
    let h = write_config(
        &d,
        "h2.json",
        r#"{"model":"hydro","n":50000,"duration":1.0}"#,
    );
    let out = disk.0.join("checkpoint");
    fails_on_full_disk(
        &[
            "run",
            &h,
            "--backend",
            "cpu",
            "--out",
            out.to_str().unwrap(),
            "--checkpoint-every",
            "200",
        ],
        &out,
        "checkpoint.bin",
    );
    std::fs::remove_dir_all(&out).unwrap();
    // Model L: rates.csv and raster.csv fill it.
    let l = write_config(
        &d,
        "l.json",
        r#"{"model":"lif","K":100,"synapse":{"kind":"conductance","a":0.009,"g":20},"nu_x":25,"n_e":2000,"n_i":500,"warmup":1,"duration":3000,"record":{"rate_bin_ms":0.1,"raster_neurons":500}}"#,
    );
    let out = disk.0.join("lif");
    fails_on_full_disk(
        &[
            "run",
            &l,
            "--backend",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ],
        &out,
        ".csv",
    );
}

/// A run with checkpoints, killed after its first one.
fn killed_after_checkpoint(cfg: &str, out: &Path, every: &str) {
    let mut child = spawn_run(cfg, "cpu", out, &["--checkpoint-every", every]);
    let t0 = Instant::now();
    while !out.join("checkpoint.bin").exists() && t0.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(out.join("checkpoint.bin").exists());
}

/// `balnet run --resume dir` is refused: exit 2, one line containing `needle`, and the
/// directory's run.json and records untouched.
fn refused(dir: &Path, needle: &str) {
    let before: Vec<(PathBuf, Vec<u8>)> = ["run.json", "moments.csv", "rates.csv"]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.exists())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    let o = balnet()
        .args(["run", "--resume", dir.to_str().unwrap(), "--backend", "cpu"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(needle), "expected {needle:?}: {err}");
    for (p, b) in before {
        assert!(std::fs::read(&p).unwrap() == b, "{} changed", p.display());
    }
}

#[test]
fn corrupt_checkpoints_are_refused() {
    let d = tmp("corrupt");
    for (name, json, every) in [("h", HYDRO, "2000"), ("l", LIF, "1000")] {
        let cfg = write_config(&d, &format!("{name}.json"), json);
        let out = d.join(name);
        killed_after_checkpoint(&cfg, &out, every);
        let p = out.join("checkpoint.bin");
        let good = std::fs::read(&p).unwrap();
        // A flipped byte in the header, in the state, in the checksum.
        for at in [20, good.len() / 2, good.len() - 1] {
            let mut b = good.clone();
            b[at] ^= 0x01;
            std::fs::write(&p, &b).unwrap();
            refused(&out, "corrupt checkpoint (checksum mismatch)");
        }
        std::fs::write(&p, &good[..good.len() - 100]).unwrap();
        refused(&out, "corrupt checkpoint");
        std::fs::write(&p, b"BALNETCK\x02\0\0\0\0\0\0\0{}").unwrap();
        refused(&out, "older balnet");
    }
}

#[test]
fn mismatched_checkpoints_are_refused() {
    let d = tmp("mismatch");
    let h1 = write_config(&d, "h1.json", HYDRO);
    let h2 = write_config(
        &d,
        "h2.json",
        &HYDRO.replace("\"n\":5000", "\"n\":5000,\"seed\":2"),
    );
    let l = write_config(&d, "l.json", LIF);
    let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
    killed_after_checkpoint(&h1, &a, "2000");
    killed_after_checkpoint(&h2, &b, "2000");
    killed_after_checkpoint(&l, &c, "1000");
    let good = std::fs::read(a.join("checkpoint.bin")).unwrap();
    // Another seed's checkpoint.
    std::fs::copy(b.join("checkpoint.bin"), a.join("checkpoint.bin")).unwrap();
    refused(&a, "seed: 2 in the checkpoint, 1 here");
    // Another model's checkpoint.
    std::fs::copy(c.join("checkpoint.bin"), a.join("checkpoint.bin")).unwrap();
    refused(&a, "written by a model lif run, this is a model hydro run");
    // run.json edited to another n.
    std::fs::write(a.join("checkpoint.bin"), &good).unwrap();
    let json = read(&a.join("run.json"));
    std::fs::write(
        a.join("run.json"),
        json.replace("\"n\": 5000", "\"n\": 6000"),
    )
    .unwrap();
    refused(&a, "n: 5000 in the checkpoint, 6000 here");
    std::fs::write(a.join("run.json"), &json).unwrap();
    // The right checkpoint resumes.
    run_ok(&["run", "--resume", a.to_str().unwrap()]);
    assert_eq!(run_json(&a)["status"], "complete");
}

/// moments.png, the late-time comparison and moments.csv of 2 x 10^5 records take well under
/// a few seconds (the comparison was quadratic: minutes).
#[test]
fn outputs_are_linear_in_the_records() {
    use balnet::hydro::record::{self, PowerSums, RecordSample};
    let config = balnet::hydro::HydroConfig {
        n: 100,
        steps: Some(200_000),
        record_every: 1,
        ..Default::default()
    };
    let s = config.validate(false).unwrap();
    let shift = balnet::hydro::sim::moment_shift(&s);
    // Noisy records around the balanced state, with a spike.
    let mut state = 12345u64;
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let samples: Vec<RecordSample> = (0..=200_000u64)
        .map(|step| {
            let sums = std::array::from_fn(|_| PowerSums {
                count: 100.0,
                s1: 10.0 * noise(),
                s2: 100.0 + 10.0 * noise(),
                s3: noise(),
                s4: 300.0 + noise(),
            });
            let lambda = [30.0 + 5.0 * noise(), 30.0 + 5.0 * noise()];
            RecordSample {
                step,
                sums,
                lambda: if step == 123_456 { [1e3, 30.0] } else { lambda },
                shift,
            }
        })
        .collect();
    let d = tmp("linear");
    let t0 = Instant::now();
    let rows = record::rows_from_samples(&s, &samples);
    let pts = balnet::hydro::theory::trajectory(&s.theory_params(), &s.record_times()).unwrap();
    let t_theory = t0.elapsed();
    let t1 = Instant::now();
    let late = record::late_time_comparison(&rows, &pts, 100.0, record::scheme_offsets(&s));
    let t_late = t1.elapsed();
    assert_eq!(late.len(), 2);
    let t2 = Instant::now();
    balnet::hydro::plot::write(&d.join("moments.png"), &s, &rows, Some(&pts)).unwrap();
    let t_plot = t2.elapsed();
    let t3 = Instant::now();
    balnet::hydro::output::write_moments_csv(&d.join("moments.csv"), &rows, &s.config.record)
        .unwrap();
    let t_csv = t3.elapsed();
    eprintln!(
        "2e5 records: rows + theory {t_theory:.2?}, late-time comparison {t_late:.2?}, moments.png {t_plot:.2?}, moments.csv {t_csv:.2?}"
    );
    assert!(
        t_late < Duration::from_secs(2),
        "late-time comparison {t_late:?}"
    );
    assert!(t_plot < Duration::from_secs(4), "moments.png {t_plot:?}");
    assert!(std::fs::metadata(d.join("moments.png")).unwrap().len() > 10_000);
}
