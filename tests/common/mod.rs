//! Shared test helpers.
#![allow(dead_code)]

use balnet::device::gpu::GpuContext;
use std::sync::{Arc, OnceLock};

/// The GPU context, or None (test skipped, with a message) when no adapter exists. With
/// BALNET_REQUIRE_GPU=1 (CI) a missing adapter fails the test instead.
pub fn gpu() -> Option<Arc<GpuContext>> {
    static CTX: OnceLock<Result<Arc<GpuContext>, String>> = OnceLock::new();
    let ctx = CTX.get_or_init(|| GpuContext::new().map_err(|e| format!("{e:#}")));
    match ctx {
        Ok(c) => Some(c.clone()),
        Err(e) => {
            if std::env::var("BALNET_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("BALNET_REQUIRE_GPU=1 but no GPU adapter: {e}");
            }
            eprintln!("skipped: no GPU adapter ({e})");
            None
        }
    }
}

/// A test that cannot run here (no tmpfs mount, no timestamp queries, ...): with
/// `BALNET_REQUIRE_<what>=1` (`.ci/run` and `scripts/test.sh` set it where the machine allows
/// it) this fails the test; otherwise it prints that the check was skipped. Returns only when
/// skipping is allowed.
pub fn skip_unless_allowed(what: &str, why: &str) {
    let var = format!("BALNET_REQUIRE_{what}");
    if std::env::var(&var).as_deref() == Ok("1") {
        panic!("{var}=1 but this check cannot run: {why}");
    }
    eprintln!("skipped ({var} unset): {why}");
}

/// Whether `BALNET_REQUIRE_GPU=1` is set (CI): checks that are promised on the reference
/// adapter become assertions.
pub fn gpu_required() -> bool {
    std::env::var("BALNET_REQUIRE_GPU").as_deref() == Ok("1")
}

/// Whether the GPU context is a software (CPU-type) adapter such as lavapipe, on which the
/// kernels are the CPU backend's f32 arithmetic and the docs promise the same spike trains.
pub fn software_adapter(ctx: &GpuContext) -> bool {
    ctx.report.is_software()
}

/// The balnet binary as a command, with XDG_RUNTIME_DIR set (Mesa warns without it).
pub fn balnet() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_balnet"));
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c
}

/// `balnet run CFG --backend BACKEND --out OUT` as a command (more arguments can follow).
pub fn run_command(cfg: &str, backend: &str, out: &std::path::Path) -> std::process::Command {
    let mut c = balnet();
    c.args(["run", cfg, "--backend", backend, "--out"]).arg(out);
    c
}

/// A fresh, empty temporary directory for this test process.
pub fn fresh_dir(prefix: &str, name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temporary directory");
    d
}

/// A small valid model L setup (K = 100, conductance synapses a = 9e-3, g = 20) with the given
/// changes.
pub fn lif_setup(
    f: impl FnOnce(&mut balnet::lif::config::LifConfig),
) -> balnet::lif::config::LifSetup {
    let mut c = balnet::lif::config::LifConfig {
        k: 100,
        synapse: balnet::lif::config::SynapseConfig::Conductance { a: 9e-3, g: 20.0 },
        ..balnet::lif::config::LifConfig::default()
    };
    f(&mut c);
    c.validate().expect("valid config")
}

/// Runs a model L setup to its end on `device` and returns what it recorded.
pub fn lif_run(
    s: &balnet::lif::config::LifSetup,
    device: &balnet::device::Device,
) -> balnet::lif::record::LifRecording {
    use balnet::progress::Quiet;
    let mut sim = balnet::lif::sim::Simulation::new(s.clone(), device).expect("simulation");
    sim.run_to_end(&mut Quiet).expect("run");
    assert!(sim.failure().is_none(), "{:?}", sim.failure());
    sim.recording().expect("recording")
}

/// Welch's comparison of the means of two samples (seeds): each side's mean and standard
/// error, t = (mean_a − mean_b)/se, and the two-sided Student-t bound (Welch–Satterthwaite
/// degrees of freedom) for a family-wise false alarm of 1e-3 over `family` such comparisons
/// (Bonferroni). With no spread on either side, t is 0 for equal means and infinite
/// otherwise, and the bound is 0.
pub struct Welch {
    pub mean: [f64; 2],
    pub se: [f64; 2],
    /// sqrt(se_a² + se_b²).
    pub se_diff: f64,
    pub t: f64,
    pub bound: f64,
}

pub fn welch(a: &[f64], b: &[f64], family: usize) -> Welch {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    let mean_se = |v: &[f64]| {
        let k = v.len() as f64;
        let m = v.iter().sum::<f64>() / k;
        let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (k - 1.0);
        (m, (var / k).sqrt())
    };
    let ((ma, sa), (mb, sb)) = (mean_se(a), mean_se(b));
    let se2 = sa * sa + sb * sb;
    let diff = ma - mb;
    let (t, bound) = if se2 > 0.0 {
        let dof =
            se2 * se2 / (sa.powi(4) / (a.len() - 1) as f64 + sb.powi(4) / (b.len() - 1) as f64);
        let bound = StudentsT::new(0.0, 1.0, dof)
            .expect("t distribution")
            .inverse_cdf(1.0 - 1e-3 / (2.0 * family as f64));
        (diff / se2.sqrt(), bound)
    } else {
        (if diff == 0.0 { 0.0 } else { f64::INFINITY }, 0.0)
    };
    Welch {
        mean: [ma, mb],
        se: [sa, sb],
        se_diff: se2.sqrt(),
        t,
        bound,
    }
}
