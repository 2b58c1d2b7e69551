//! Numerical health of model H runs: moments that stay right however far the state is from
//! where the power sums would have been centred (tiny beta), the first bad record named
//! exactly, f32 resolution loss detected, and an unstable balanced state warned about in
//! run.json.

mod common;

use balnet::device::Device;
use balnet::hydro::config::HydroConfig;
use balnet::hydro::record::{self, MomentRow, PowerSums, RecordSample};
use balnet::hydro::sim::Simulation;
use balnet::progress::{Outcome, Quiet};

/// Central moments (mean, variance, skewness, excess kurtosis) of `x` by two passes in f64.
fn two_pass(x: &[f32]) -> [f64; 4] {
    let n = x.len() as f64;
    let m = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let c = |k: i32| x.iter().map(|&v| (v as f64 - m).powi(k)).sum::<f64>() / n;
    let v = c(2);
    [m, v, c(3) / v.powf(1.5), c(4) / (v * v) - 3.0]
}

/// beta = 1e-6 puts the balanced mean at logit(r)/beta ~ -8.5e5, where the power sums used to
/// be centred while the state stays near 0: the moments came out as skewness ~ 500,
/// kurtosis ~ -1e8 and, at smaller spreads, negative variances. Centred on the previous
/// record's mean, the moments of every record equal the state's two-pass moments.
fn tiny_beta(device: &Device, tol: [f64; 4]) {
    let n = 10_000u64;
    let cfg = HydroConfig {
        n,
        duration: 1.0,
        beta: [1e-6, 1e-6],
        record_every: 100,
        ..HydroConfig::default()
    };
    let setup = cfg.validate(false).expect("valid config");
    let mu = balnet::hydro::theory::steady_state(&setup.theory_params())
        .expect("balanced state")
        .mu;
    assert!(
        mu[0] < -1e5,
        "the balanced mean {mu:?} is far from the state"
    );
    let mut sim = Simulation::new(setup, device).expect("simulation");
    assert_eq!(sim.run_to_end(&mut Quiet).expect("run"), Outcome::Complete);
    let rows: Vec<MomentRow> = sim.moments(0);
    assert!(rows.iter().all(|r| r.var > 0.0), "a non-positive variance");
    // The initial state is N(0, 0.5^2): its sample moments within 5 standard errors.
    let sqn = (n as f64).sqrt();
    for r in rows.iter().filter(|r| r.step == 0) {
        assert!(r.mean.abs() < 5.0 * 0.5 / sqn, "{r:?}");
        assert!(
            (r.var / 0.25 - 1.0).abs() < 5.0 * 2f64.sqrt() / sqn,
            "{r:?}"
        );
        assert!(r.skewness.abs() < 5.0 * 6f64.sqrt() / sqn, "{r:?}");
        assert!(r.excess_kurtosis.abs() < 5.0 * 24f64.sqrt() / sqn, "{r:?}");
    }
    // The last record is the final state: its moments are the state's own.
    let x = sim.state(0).expect("state");
    let last_step = rows.last().expect("rows").step;
    for a in 0..2 {
        let got = rows
            .iter()
            .find(|r| r.step == last_step && r.population == a)
            .expect("last row");
        let want = two_pass(&x[a * n as usize..(a + 1) * n as usize]);
        let have = [got.mean, got.var, got.skewness, got.excess_kurtosis];
        for k in 0..4 {
            let err = if k == 0 {
                (have[k] - want[k]).abs() / want[1].sqrt()
            } else if k == 1 {
                (have[k] / want[k] - 1.0).abs()
            } else {
                (have[k] - want[k]).abs()
            };
            assert!(
                err < tol[k],
                "population {a}, moment {k}: {} against the state's {} (error {err:.2e})",
                have[k],
                want[k]
            );
        }
    }
}

#[test]
fn tiny_beta_moments_equal_the_states_cpu() {
    // f64 sums of f32 states: round-off only.
    tiny_beta(&Device::cpu().unwrap(), [1e-9, 1e-9, 1e-7, 1e-7]);
}

#[test]
fn tiny_beta_moments_equal_the_states_gpu() {
    let Some(ctx) = common::gpu() else { return };
    // f32 terms in two-float sums (a few f32 ulps per term, relative to the spread).
    tiny_beta(&Device::Gpu(ctx), [1e-5, 1e-5, 1e-3, 1e-3]);
}

/// `balnet run` of `cfg` on the CPU into a fresh directory: the process output and run.json.
fn cli_run(cfg: HydroConfig, name: &str) -> (std::process::Output, serde_json::Value) {
    let d = common::fresh_dir("balnet-numerics", name);
    let mut c = serde_json::to_value(cfg).unwrap();
    c["model"] = "hydro".into();
    let path = d.join("c.json");
    std::fs::write(&path, c.to_string()).unwrap();
    let out = d.join("run");
    let o = common::balnet()
        .args(["run", path.to_str().unwrap(), "--backend", "cpu", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let v = serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap())
        .expect("run.json");
    (o, v)
}

fn sample(step: u64, s2: f64) -> RecordSample {
    let sums = PowerSums {
        count: 100.0,
        s1: 0.5,
        s2,
        s3: 0.1,
        s4: 30.0,
    };
    RecordSample {
        step,
        sums: [sums, sums],
        lambda: [30.0, 45.0],
        shift: [0.0, 0.0],
    }
}

/// The first non-finite record of a chunk is the one named, however long the chunk (the
/// check used to look at the newest 64 records only, naming a later step).
#[test]
fn the_first_non_finite_record_is_named() {
    let s = HydroConfig::default().validate(false).unwrap();
    for first_bad in [0u64, 10, 63, 64, 150] {
        let samples: Vec<RecordSample> = (0..200u64)
            .map(|i| sample(i * 50, if i >= first_bad { f64::NAN } else { 10.0 }))
            .collect();
        let msg = record::health_failure(&s, &samples).expect("a failure");
        let want = format!("non-finite state at step {} ", first_bad * 50);
        assert!(msg.starts_with(&want), "{msg} (want {want})");
        assert!(msg.contains("population E"), "{msg}");
    }
    let fine: Vec<RecordSample> = (0..200u64).map(|i| sample(i * 50, 10.0)).collect();
    assert_eq!(record::health_failure(&s, &fine), None);
}

/// A state at |x| = 1e6 with jumps J/sqrt(n) = 0.01 (n = 1e4): f32 values there are 0.0625
/// apart, so single jumps round away. The run fails at once, naming the step, instead of
/// completing with the wrong process; near 0 the same network runs clean.
#[test]
fn f32_resolution_loss_fails_the_run() {
    let cfg = |x0: f64| HydroConfig {
        n: 10_000,
        duration: 0.5,
        x0_mean: [x0, x0],
        ..HydroConfig::default()
    };
    let mut sim = Simulation::new(cfg(1e6).validate(false).unwrap(), &Device::cpu().unwrap())
        .expect("simulation");
    assert_eq!(sim.run_to_end(&mut Quiet).unwrap(), Outcome::Failed);
    let msg = sim.failure(0).expect("failure");
    assert!(
        msg.starts_with("f32 resolution lost at step 0 ") && msg.contains("6.250e-2 apart"),
        "{msg}"
    );
    // The check's threshold is the spacing of f32 at the state: 1e3 is resolved (6.1e-5).
    let mut ok = Simulation::new(cfg(1e3).validate(false).unwrap(), &Device::cpu().unwrap())
        .expect("simulation");
    assert_eq!(ok.run_to_end(&mut Quiet).unwrap(), Outcome::Complete);
    assert_eq!(ok.failure(0), None);
    // Through the CLI: exit 1, run.json `failed` with the message.
    let (o, v) = cli_run(cfg(1e6), "resolution");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(v["status"], "failed");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("f32 resolution lost at step 0"),
        "{v}"
    );
}

/// det J_s > 0 but J_EE E f'_E >= J_II E f'_I: no stable balanced state. The run goes on
/// and says so on stderr and in run.json (it used to run silently).
#[test]
fn an_unstable_balanced_state_is_warned_about_in_run_json() {
    let cfg = HydroConfig {
        n: 1000,
        duration: 0.2,
        j: [[3.0, 2.0], [2.0, 0.5]],
        ..HydroConfig::default()
    };
    let (o, v) = cli_run(cfg, "unstable");
    assert!(o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning:") && err.contains("the balanced state is unstable"),
        "{err}"
    );
    let w = v["warnings"].as_array().expect("warnings");
    assert!(
        w.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("the balanced state is unstable")),
        "{v}"
    );
}
