//! The command line end to end: bad configs give one line and exit code 2; a small run writes
//! its directory.

use std::process::Command;

fn balnet(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_balnet"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("run balnet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("balnet-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn bad_configs_exit_2_with_one_line() {
    let cases = [
        (r#"{"model":"hydro","speed":3}"#, "unknown field `speed`"),
        (r#"{"model":"hydro","n":-5}"#, "field `n`"),
        (r#"{"model":"hydro","dt":0}"#, "dt = 0"),
        (r#"{"model":"hydro","dt":-1e-3}"#, "dt = -0.001"),
        (r#"{"model":"hydro","J":[[1,2],[1,1],[0,0]]}"#, "field `J`"),
        (
            r#"{"model":"hydro","J":[[1,2],[1,1]],"h":[1,1]}"#,
            "cannot be balanced",
        ),
        (r#"{"model":"hydro","n":1000,"#, "EOF"),
        (r#"{"model":"spiking"}"#, "model = \"spiking\""),
        // Model L (issue 5): K >= N_E, gamma K > N_I, a <= 0, theta <= V_r, dt > tau_rp,
        // a network that cannot fit in memory.
        (
            r#"{"model":"lif","K":100,"n_e":100}"#,
            "K = 100: must be < n_e = 100",
        ),
        (
            r#"{"model":"lif","K":100,"gamma":2.0,"n_i":150}"#,
            "gamma K = 200: must be < n_i = 150",
        ),
        (
            r#"{"model":"lif","K":100,"synapse":{"kind":"conductance","a":0,"g":20}}"#,
            "synapse.a = 0",
        ),
        (
            r#"{"model":"lif","K":100,"synapse":{"kind":"conductance","a":-0.01,"g":20}}"#,
            "synapse.a = -0.01",
        ),
        (
            r#"{"model":"lif","K":100,"neuron":{"theta":-70}}"#,
            "theta = -70 (E): must be > v_r = -65",
        ),
        (
            r#"{"model":"lif","K":100,"dt":3.0}"#,
            "dt = 3 ms: must be <= tau_rp = 2 ms",
        ),
        (
            r#"{"model":"lif","K":4000000,"gamma":0,"n_e":16000000,"n_i":100}"#,
            "lower n_e/n_i or K",
        ),
    ];
    for (i, (json, needle)) in cases.iter().enumerate() {
        let p = tmp(&format!("bad{i}.json"));
        std::fs::write(&p, json).unwrap();
        let (code, _, err) = balnet(&["run", p.to_str().unwrap(), "--backend", "cpu"]);
        assert_eq!(code, 2, "{json}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{json}: {err}");
        assert!(err.contains(needle), "{json}: {err}");
    }
}

#[test]
fn run_and_theory_write_their_files() {
    let p = tmp("small.json");
    std::fs::write(
        &p,
        r#"{"model":"hydro","n":2000,"duration":0.5,"record_every":50,"save_state":true}"#,
    )
    .unwrap();
    let out = tmp("run_small");
    let (code, stdout, err) = balnet(&[
        "run",
        p.to_str().unwrap(),
        "--backend",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("neuron-steps/s"));
    for f in [
        "run.json",
        "moments.csv",
        "theory.csv",
        "moments.png",
        "state.npy",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["status"], "complete");
    let csv = std::fs::read_to_string(out.join("moments.csv")).unwrap();
    // header + (500 / 50 + 1) records x 2 populations
    assert_eq!(csv.lines().count(), 1 + 11 * 2);
    let (code, stdout, _) = balnet(&["theory", p.to_str().unwrap(), "--n", "10000"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("E: rate 0.300000"));
}

#[test]
fn lif_run_and_theory_write_their_files() {
    let p = tmp("lif_small.json");
    std::fs::write(
        &p,
        r#"{"model":"lif","K":100,"synapse":{"kind":"conductance","a":0.009,"g":20},"nu_x":25,"warmup":20,"duration":100}"#,
    )
    .unwrap();
    let out = tmp("lif_run_small");
    let (code, stdout, err) = balnet(&[
        "run",
        p.to_str().unwrap(),
        "--backend",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("synaptic events/s"), "{stdout}");
    for f in [
        "run.json",
        "rates.csv",
        "neurons.npy",
        "vhist.csv",
        "raster.csv",
        "lif.png",
    ] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["status"], "complete");
    assert_eq!(run["synapses"], 2000 * 125);
    // 100 ms in 1 ms bins.
    let rates = std::fs::read_to_string(out.join("rates.csv")).unwrap();
    assert_eq!(rates.lines().count(), 1 + 100);
    let (code, stdout, err) = balnet(&["theory", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("self-consistent state"), "{stdout}");
}

/// Output into a pipe whose reader has gone (`balnet sweep --dry-run | head -1`) ends the
/// process quietly (SIGPIPE, as other Unix tools), not with a panic and a backtrace.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    // 20000 points: a listing of about 1 MB, far more than a pipe's buffer, so the writer
    // is still writing when the reader goes.
    let d = tmp("pipe");
    std::fs::create_dir_all(&d).unwrap();
    let base = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/hydro_balanced.json");
    let sweep = d.join("sweep.json");
    std::fs::write(
        &sweep,
        format!(r#"{{"base": "{base}", "grid": {{"n": [1000, 2000]}}, "seeds": 10000}}"#),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_balnet"))
        .args(["sweep", sweep.to_str().unwrap(), "--dry-run", "--out"])
        .arg(d.join("out"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("n=1000"), "{first}");
    // The reader is dropped here: the rest of the listing goes into a closed pipe.
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.signal(), Some(13), "{:?}: {err}", o.status);
}

/// An invalid kernel layout or binding limit (flag or environment) is one line naming the
/// setting, the value and the allowed ones, exit 2, before any device is opened (`auto` does
/// not hide it by falling back to the CPU).
#[test]
fn bad_gpu_settings_exit_2_with_one_line() {
    // (environment, arguments, what the line must say)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
    let cases: [Case; 4] = [
        (
            &[],
            &["--gpu-layout", "fast", "info"],
            "--gpu-layout = fast",
        ),
        (
            &[("BALNET_GPU_LAYOUT", "gpx")],
            &["info"],
            "BALNET_GPU_LAYOUT = gpx",
        ),
        (
            &[("BALNET_GPU_LAYOUT", "gpx")],
            &["selftest", "--backend", "auto"],
            "BALNET_GPU_LAYOUT = gpx",
        ),
        (
            &[("BALNET_MAX_BINDING_BYTES", "100")],
            &["selftest", "--backend", "auto"],
            "BALNET_MAX_BINDING_BYTES = 100",
        ),
    ];
    for (env, args, want) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_balnet"))
            .env("XDG_RUNTIME_DIR", std::env::temp_dir())
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("balnet");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// The up-front memory check counts the limits a job runs under, not only the machine's free
/// memory: under `ulimit -v` (RLIMIT_AS, as batch systems set it) a network bigger than the
/// limit is refused with one line naming the limit, instead of aborting in the allocator.
#[cfg(target_os = "linux")]
#[test]
fn networks_larger_than_the_address_space_limit_are_refused_up_front() {
    let cases = [
        // Model L: 8.4e8 synapses, 3.4 GB.
        (r#"{"model":"lif","K":5806}"#, "lower n_e/n_i or K"),
        // Model H: 2 x 1e8 neurons, 1.6 GB (coarse dt: --force).
        (r#"{"model":"hydro","n":100000000}"#, "lower n, replicas"),
    ];
    for (i, (json, needle)) in cases.iter().enumerate() {
        let p = tmp(&format!("ulimit{i}.json"));
        std::fs::write(&p, json).unwrap();
        let out_dir = tmp(&format!("ulimit{i}-out"));
        let out = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -v 1000000 && exec "$0" "$@""#)
            .arg(env!("CARGO_BIN_EXE_balnet"))
            .args(["run", p.to_str().unwrap(), "--backend", "cpu", "--force"])
            .args(["--steps", "5", "--out", out_dir.to_str().unwrap()])
            .output()
            .expect("run balnet under ulimit -v");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{json}: {err}");
        let last = err.trim().lines().last().unwrap_or("");
        assert!(last.contains(needle), "{json}: {err}");
        assert!(
            last.contains("address-space limit, ulimit -v"),
            "{json}: {err}"
        );
    }
}
