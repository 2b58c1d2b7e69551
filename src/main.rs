//! The `balnet` command line: parse, dispatch to the library, print.

use balnet::config::{self, ConfigError};
mod cli;

use balnet::device::{self as gpu, BackendChoice, Device, GpuContext};
use balnet::hydro::config::{Coupling, HydroConfig};
use balnet::progress::CancelToken;
use balnet::resume::{Resumed, resumed_config};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "balnet",
    version,
    about = "Large balanced E/I networks on the GPU and CPU, checked against theory"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// GPU kernel shapes: auto (by the adapter's device type), gpu or cpu; overrides
    /// BALNET_GPU_LAYOUT. The numbers do not depend on it, only the speed.
    #[arg(long, global = true, value_name = "auto|gpu|cpu")]
    gpu_layout: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq)]
enum BackendArg {
    /// The GPU if an adapter exists, else the CPU with a one-line notice.
    Auto,
    Cpu,
    Gpu,
}

impl From<BackendArg> for BackendChoice {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Cpu => BackendChoice::Cpu,
            BackendArg::Gpu => BackendChoice::Gpu,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// List every GPU adapter wgpu finds and the limits that decide how large a network fits.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Simulate the network of a config file and write its run directory.
    Run {
        /// JSON config (see configs/ and the README); not with --resume.
        #[arg(required_unless_present = "resume")]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "auto")]
        backend: BackendArg,
        /// Neurons per population (overrides the config).
        #[arg(long)]
        n: Option<u64>,
        /// Number of steps (overrides the config's duration).
        #[arg(long)]
        steps: Option<u64>,
        /// 64-bit seed (overrides the config).
        #[arg(long)]
        seed: Option<u64>,
        /// Output directory [default: runs/<config name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run even when the stiffness number is above 1.
        #[arg(long)]
        force: bool,
        /// Write DIR/checkpoint.bin every this many steps (model L: warm-up included).
        #[arg(long)]
        checkpoint_every: Option<u64>,
        /// Continue the run in DIR from its checkpoint (the config of DIR/run.json, the
        /// checkpoint's backend kind unless --backend says otherwise); its outputs equal the
        /// uninterrupted run's. A corrupt checkpoint, or one of another config, is refused.
        #[arg(long, conflicts_with_all = ["config", "n", "steps", "seed", "out"])]
        resume: Option<PathBuf>,
        /// Print the host and device memory estimates (buffers, bindings) and run nothing.
        #[arg(long, conflicts_with = "resume")]
        dry_run: bool,
    },
    /// The large-n limit of a config (and with --n, its first-order finite-n prediction).
    Theory {
        config: PathBuf,
        /// Network size for the first-order prediction.
        #[arg(long)]
        n: Option<u64>,
        /// Write theory.csv into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run every point of a sweep file (base config x grid x seeds) into DIR/runs/<id>/ and
    /// write DIR/summary.csv; finished points are skipped on a rerun.
    Sweep {
        sweep: PathBuf,
        /// Output directory [default: runs/<sweep name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only the points with index = I mod N (job arrays), e.g. 0/4.
        #[arg(long)]
        shard: Option<String>,
        /// List the points and their estimated memory; run nothing.
        #[arg(long)]
        dry_run: bool,
        /// Rebuild DIR/summary.csv from the run directories present (after sharded runs).
        #[arg(long)]
        merge: bool,
        /// Points run at once (each run also uses every core through the shared pool).
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
    /// Check the random number generator and samplers on this machine's backends.
    Selftest {
        #[arg(long, value_enum, default_value = "auto")]
        backend: BackendArg,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// run.json of the run in progress, for the second-signal exit to mark `interrupted`.
static RUN_JSON: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// "kernel times (timestamp queries): update 2.65 us, finalize 0.09 us" after a GPU run.
fn print_kernel_times(gpu: Option<&balnet::device::GpuRunInfo>) {
    if let Some(t) = gpu.and_then(|g| g.kernel_times.as_ref())
        && !t.kinds.is_empty()
    {
        println!(
            "kernel times ({}, mean per dispatch): {}",
            t.source,
            t.summary()
        );
    }
}

fn main() -> ExitCode {
    // Mesa's Vulkan window-system layer prints an error when XDG_RUNTIME_DIR is unset, which
    // headless batch machines often leave unset; balnet never presents to a window.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    // Rust ignores SIGPIPE, so printing into a closed pipe (`balnet sweep --dry-run | head`)
    // panicked; with the default action the process ends quietly, as Unix tools do.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    // Ctrl-C and SIGTERM stop a run at the next chunk of steps; it then writes every file
    // and marks run.json `interrupted`. A second signal ends the process at once.
    let stop = CancelToken::new();
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.is_cancelled() {
            // The run has not written its directory yet: run.json must not stay `running`.
            if let Some(p) = RUN_JSON.lock().ok().and_then(|g| g.clone()) {
                let _ = balnet::io::mark_interrupted(
                    &p,
                    "stopped by a second signal before the run directory was written: the appended records (moments.csv, or rates.csv and raster.csv) hold every chunk before it; the other files may be missing or older",
                );
            }
            eprintln!("\nstopped by a second signal");
            std::process::exit(130);
        }
        flag.cancel();
        eprintln!("\ninterrupted: stopping at the next chunk and writing the run directory");
    });
    match run(cli, &stop) {
        Ok(code) => code,
        Err(e) => {
            if let Some(c) = e.downcast_ref::<ConfigError>() {
                eprintln!("error: {c}");
                return ExitCode::from(2);
            }
            if let Some(t) = e.downcast_ref::<balnet::Error>() {
                eprintln!("error: {t:#}");
                return ExitCode::from(t.exit_code());
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli, stop: &CancelToken) -> anyhow::Result<ExitCode> {
    if let Some(l) = &cli.gpu_layout {
        gpu::gpu::set_layout(gpu::GpuLayout::parse("--gpu-layout", l)?);
    }
    match cli.command {
        Command::Info { json } => info(json),
        Command::Run {
            config,
            backend,
            n,
            steps,
            seed,
            out,
            force,
            checkpoint_every,
            resume,
            dry_run,
        } => {
            if checkpoint_every == Some(0) {
                return Err(ConfigError("--checkpoint-every 0: must be >= 1".into()).into());
            }
            let (cfg, out, backend) = match (resume.clone(), config) {
                (Some(dir), _) => {
                    let backend = resumed_backend(&dir, backend);
                    match resumed_config(&dir, "--checkpoint-every", "--resume")? {
                        Resumed::Hydro(c) => (*c, dir, backend),
                        Resumed::Lif(c) => {
                            let run = LifRun {
                                backend,
                                out: dir,
                                checkpoint_every,
                                resume: true,
                            };
                            return run_lif(*c, &run, stop);
                        }
                    }
                }
                (None, Some(config)) => {
                    let out = out.unwrap_or_else(|| {
                        let stem = config.file_stem().map(|s| s.to_string_lossy().to_string());
                        PathBuf::from("runs").join(stem.unwrap_or_else(|| "run".into()))
                    });
                    if read_model(&config)?.1 == "lif" {
                        if n.is_some() {
                            return Err(ConfigError(
                                "--n applies to model H; set n_e and n_i in a model L config"
                                    .into(),
                            )
                            .into());
                        }
                        let cfg: balnet::lif::config::LifConfig = parse_config(&config)?;
                        let cfg = lif_overrides(cfg, seed, steps);
                        if dry_run {
                            let s = balnet::lif::output::setup(cfg, None, None)?;
                            let (host, syn) = balnet::lif::sim::memory_estimate(&s);
                            println!(
                                "model L: {} + {} neurons, K_E = {}, K_I = {}, {syn:.3e} synapses",
                                s.n_e, s.n_i, s.k_e, s.k_i
                            );
                            println!(
                                "host memory (CPU backend) about {}",
                                balnet::io::human_bytes(host)
                            );
                            for (limit, from) in dry_run_bindings()? {
                                let d = balnet::lif::sim::device_memory_estimate(&s, limit);
                                println!("{} [binding limit: {from}]", d.summary());
                            }
                            return Ok(ExitCode::SUCCESS);
                        }
                        let run = LifRun {
                            backend: backend.into(),
                            out,
                            checkpoint_every,
                            resume: false,
                        };
                        return run_lif(cfg, &run, stop);
                    }
                    (load_hydro(&config)?, out, backend.into())
                }
                (None, None) => unreachable!("clap requires CONFIG or --resume"),
            };
            let overrides = balnet::hydro::output::Overrides { n, steps, seed };
            let setup = balnet::hydro::output::setup(cfg, &overrides, force)?;
            for w in &setup.warnings {
                eprintln!("warning: {w}");
            }
            if dry_run {
                let r = setup.config.replicas as u64;
                println!(
                    "model H: n = {} per population, {} replica(s), {} steps",
                    setup.config.n, r, setup.steps
                );
                println!(
                    "host memory (CPU backend) about {}",
                    balnet::io::human_bytes(balnet::hydro::sim::memory_estimate(&setup, r))
                );
                let layout = gpu::gpu::requested_layout()?;
                let cpu_layout = layout == gpu::GpuLayout::Cpu;
                for (limit, from) in dry_run_bindings()? {
                    let d =
                        balnet::hydro::sim::device_memory_estimate(&setup, r, cpu_layout, limit);
                    println!(
                        "{} [binding limit: {from}; {} layout]",
                        d.summary(),
                        if cpu_layout { "cpu" } else { "gpu" }
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let device = open_device(backend, setup.config.coupling == Coupling::Pairwise)?;
            let opts = balnet::hydro::output::RunOptions {
                out: out.clone(),
                checkpoint_every,
                resume: resume.is_some(),
            };
            let mut bar = cli::progress::Bar::new(stop.clone());
            set_run_json(Some(out.join("run.json")));
            let s = balnet::hydro::output::run(setup, &device, &opts, &mut bar);
            set_run_json(None);
            let s = s?;
            drop(bar);
            if s.status == "interrupted" {
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
            println!("wrote {}", out.display());
            Ok(exit_of(s.status, s.error.as_deref()))
        }
        Command::Theory { config, n, out } => {
            if read_model(&config)?.1 == "lif" {
                if n.is_some() {
                    return Err(ConfigError(
                        "--n applies to model H; set n_e and n_i in a model L config".into(),
                    )
                    .into());
                }
                let cfg: balnet::lif::config::LifConfig = parse_config(&config)?;
                let t = balnet::lif::output::theory_lif(cfg, out.as_deref())?;
                println!(
                    "self-consistent state (identical E and I neurons): rate {:.4} Hz, ISI CV {:.4}, mu {:.3} mV, sigma {:.3} mV, effective tau {:.4} ms",
                    t.rate_hz, t.cv, t.mu_mv, t.sigma_mv, t.tau_ms
                );
                if let Some(o) = out {
                    println!(
                        "wrote {} and {}",
                        o.join("theory.json").display(),
                        o.join("pv.csv").display()
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let cfg = load_hydro(&config)?;
            let ss = balnet::hydro::output::theory_hydro(cfg, n, out.as_deref())?;
            for (a, name) in ["E", "I"].iter().enumerate() {
                print!(
                    "{name}: rate {:.6}, mean {:.6}, var {:.6}; first-order coefficients delta {:.5}, m1 {:.5}, v1 {:.5}, k1 {:.5}",
                    ss.rate[a], ss.mu[a], ss.var[a], ss.delta[a], ss.m1[a], ss.v1[a], ss.k1[a]
                );
                if let Some(n) = n {
                    let s = (n as f64).sqrt();
                    print!(
                        "; at n = {n}: rate {:.6}, mean {:.6}, var {:.6}",
                        ss.rate[a] + ss.delta[a] / s,
                        ss.mu[a] + ss.m1[a] / s,
                        ss.var[a] + ss.v1[a] / s
                    );
                }
                println!();
            }
            if let Some(o) = out {
                println!("wrote {}", o.join("theory.csv").display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Selftest { backend, json } => selftest(backend, json),
        Command::Sweep {
            sweep,
            out,
            shard,
            dry_run,
            merge,
            jobs,
        } => sweep_cmd(&sweep, out, shard, dry_run, merge, jobs, stop),
    }
}

/// The config text and its model name ("hydro" or "lif"; anything else is an error).
fn read_model(path: &std::path::Path) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
    let model =
        config::model_of(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    if model != "hydro" && model != "lif" {
        return Err(ConfigError(format!(
            "{}: model = {model:?}: must be \"hydro\" (model H) or \"lif\" (model L)",
            path.display()
        ))
        .into());
    }
    Ok((text, model))
}

fn parse_config<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> anyhow::Result<T> {
    let (text, _) = read_model(path)?;
    Ok(config::parse_json(&text)
        .map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))?)
}

fn sweep_cmd(
    path: &std::path::Path,
    out: Option<PathBuf>,
    shard: Option<String>,
    dry_run: bool,
    merge: bool,
    jobs: usize,
    stop: &CancelToken,
) -> anyhow::Result<ExitCode> {
    use balnet::sweep;
    let (spec, base) = sweep::load(path)?;
    let points = sweep::points(&spec, &base)?;
    let out = out.unwrap_or_else(|| {
        let stem = path.file_stem().map(|s| s.to_string_lossy().to_string());
        PathBuf::from("runs").join(stem.unwrap_or_else(|| "sweep".into()))
    });
    let shard = match shard {
        Some(s) => sweep::parse_shard(&s)?,
        None => (0, 1),
    };
    // A model H sweep over n also gets the convergence report.
    let convergence = spec.grid.contains_key("n")
        && points
            .first()
            .is_some_and(|p| p.config.get("model").and_then(|m| m.as_str()) == Some("hydro"));
    let report = |out: &std::path::Path| -> anyhow::Result<()> {
        if convergence {
            let rows = balnet::report::convergence::collect(out)?;
            balnet::report::convergence::write(out, &rows)?;
            println!(
                "convergence report: {} and {}",
                out.join("convergence.csv").display(),
                out.join("convergence.png").display()
            );
        }
        Ok(())
    };
    if merge {
        let rows = sweep::write_summary(&out, &points)?;
        println!(
            "{} runs of {} in {}",
            rows,
            points.len(),
            out.join("summary.csv").display()
        );
        report(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if dry_run {
        for p in points.iter().filter(|p| p.index % shard.1 == shard.0) {
            let params: Vec<String> = p.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let mem = sweep::estimated_bytes(&p.config)
                .map(|b| format!("{:.1} MB", b / 1e6))
                .unwrap_or_else(|e| format!("invalid: {e}"));
            println!(
                "{} {} seed={} memory {mem} status {}",
                p.id,
                params.join(" "),
                p.seed,
                sweep::status_of(&sweep::run_dir(&out, p)).unwrap_or_else(|| "new".into())
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let total = points
        .iter()
        .filter(|p| p.index % shard.1 == shard.0)
        .count();
    let mut done = 0;
    if jobs == 0 {
        return Err(ConfigError("--jobs 0: must be >= 1".into()).into());
    }
    let mut devices = sweep::SweepDevices::open(spec.backend)?;
    devices.stop = stop.clone();
    if let Some(n) = &devices.note {
        eprintln!("note: {n}");
    }
    let rep = sweep::run_sweep(&points, &out, shard, &devices, jobs, |p, r| {
        done += 1;
        match r {
            Ok(true)
                if sweep::status_of(&sweep::run_dir(&out, p)).as_deref() == Some("interrupted") =>
            {
                eprintln!("[{done}/{total}] {} interrupted", p.id)
            }
            Ok(true) => eprintln!("[{done}/{total}] {} complete", p.id),
            Ok(false) => eprintln!("[{done}/{total}] {} already complete, skipped", p.id),
            Err(e) => eprintln!("[{done}/{total}] {} failed: {e:#}", p.id),
        }
    })?;
    println!(
        "{} ran, {} skipped (complete), {} failed; summary in {}",
        rep.ran,
        rep.skipped,
        rep.failed,
        out.join("summary.csv").display()
    );
    if stop.is_cancelled() {
        println!("interrupted: rerun the same command to finish the remaining points");
    } else if shard.1 == 1 {
        report(&out)?;
    }
    Ok(if rep.failed > 0 {
        ExitCode::from(1)
    } else if stop.is_cancelled() {
        ExitCode::from(EXIT_INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// Exit status of a run that was interrupted (by SIGINT or SIGTERM) after writing its run
/// directory: 128 + SIGINT, as shells report a process stopped by Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;

/// The process's exit status for a run that ended with run.json's `status`: 0 when complete,
/// 1 when failed (the error printed), 130 when interrupted.
fn exit_of(status: &str, error: Option<&str>) -> ExitCode {
    match status {
        "interrupted" => ExitCode::from(EXIT_INTERRUPTED),
        "failed" => {
            eprintln!("error: the run failed: {}", error.unwrap_or("see run.json"));
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    }
}

/// `--backend` for a resumed run: `auto` takes the checkpoint's backend kind.
fn resumed_backend(dir: &std::path::Path, backend: BackendArg) -> BackendChoice {
    match (
        backend,
        balnet::io::checkpoint::peek_backend_kind(&dir.join("checkpoint.bin")),
    ) {
        (BackendArg::Auto, Some(balnet::device::DeviceKind::Cpu)) => BackendChoice::Cpu,
        (BackendArg::Auto, Some(balnet::device::DeviceKind::Gpu)) => BackendChoice::Gpu,
        (b, _) => b.into(),
    }
}

fn set_run_json(p: Option<PathBuf>) {
    if let Ok(mut g) = RUN_JSON.lock() {
        *g = p;
    }
}

fn load_hydro(path: &std::path::Path) -> anyhow::Result<HydroConfig> {
    parse_config(path)
}

/// The CLI's overrides of a model L config: the seed, and the recorded duration from a
/// step count.
fn lif_overrides(
    mut cfg: balnet::lif::config::LifConfig,
    seed: Option<u64>,
    steps: Option<u64>,
) -> balnet::lif::config::LifConfig {
    if let Some(s) = seed {
        cfg.seed = s;
    }
    if let Some(k) = steps {
        cfg.duration = k as f64 * cfg.dt;
    }
    cfg
}

/// Where and how a model L run goes.
struct LifRun {
    backend: BackendChoice,
    out: PathBuf,
    checkpoint_every: Option<u64>,
    resume: bool,
}

fn run_lif(
    cfg: balnet::lif::config::LifConfig,
    run: &LifRun,
    stop: &CancelToken,
) -> anyhow::Result<ExitCode> {
    let setup = balnet::lif::output::setup(cfg, None, None)?;
    for w in &setup.warnings {
        eprintln!("warning: {w}");
    }
    let device = open_device(run.backend, false)?;
    let opts = balnet::lif::output::LifRunOptions {
        out: run.out.clone(),
        checkpoint_every: run.checkpoint_every,
        resume: run.resume,
    };
    let out = &run.out;
    let mut bar = cli::progress::Bar::new(stop.clone());
    set_run_json(Some(out.join("run.json")));
    let s = balnet::lif::output::run_lif_with(setup, &device, &opts, &mut bar);
    set_run_json(None);
    let s = s?;
    drop(bar);
    if s.status == "interrupted" {
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
    println!("wrote {}", out.display());
    Ok(exit_of(s.status, s.error.as_deref()))
}

/// The binding limits a `--dry-run` estimate is given for, with where each came from: the
/// first adapter's (lowered by BALNET_MAX_BINDING_BYTES), and Vulkan's 2 GiB in wgpu (a
/// discrete GPU's) when that is larger.
fn dry_run_bindings() -> anyhow::Result<Vec<(u64, String)>> {
    let over = gpu::gpu::max_binding_override()?;
    let adapters = gpu::list_adapters();
    let (limit, from) = match adapters.first() {
        Some(a) => (
            a.max_storage_buffer_binding_size.min(a.max_buffer_size),
            format!("adapter {}", a.name),
        ),
        None => (
            gpu::VULKAN_MAX_BINDING_BYTES,
            "no adapter here; Vulkan's 2 GiB - 1 in wgpu".to_string(),
        ),
    };
    let mut v = vec![match over {
        Some(b) if b < limit => (b, format!("{} = {b}", gpu::gpu::MAX_BINDING_ENV)),
        _ => (limit, from),
    }];
    if v[0].0 < gpu::VULKAN_MAX_BINDING_BYTES {
        v.push((
            gpu::VULKAN_MAX_BINDING_BYTES,
            "a discrete GPU under Vulkan (2 GiB - 1 in wgpu)".to_string(),
        ));
    }
    Ok(v)
}

fn info(json: bool) -> anyhow::Result<ExitCode> {
    gpu::gpu::check_env()?;
    let requested = gpu::gpu::requested_layout()?;
    let max_binding = gpu::gpu::max_binding_override()?;
    let adapters = gpu::list_adapters();
    if json {
        let layouts: Vec<&str> = adapters
            .iter()
            .map(|a| gpu::gpu::resolve_layout(requested, &a.device_type).name())
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "adapters": adapters,
                "gpu_layout_requested": requested.name(),
                "gpu_layout": layouts,
                "max_binding_bytes_override": max_binding,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if adapters.is_empty() {
        println!("{}", gpu::NO_ADAPTER_FIX);
        return Ok(ExitCode::SUCCESS);
    }
    for (i, a) in adapters.iter().enumerate() {
        println!("adapter {i}: {}", a.name);
        println!(
            "  backend {}, type {}, driver {} {}",
            a.backend, a.device_type, a.driver, a.driver_info
        );
        println!(
            "  max buffer size                  {} bytes",
            a.max_buffer_size
        );
        println!(
            "  max storage-buffer binding       {} bytes",
            a.max_storage_buffer_binding_size
        );
        println!(
            "  max storage buffers per stage    {}",
            a.max_storage_buffers_per_shader_stage
        );
        println!(
            "  max workgroups per dimension     {}",
            a.max_compute_workgroups_per_dimension
        );
        println!(
            "  max invocations per workgroup    {}",
            a.max_compute_invocations_per_workgroup
        );
        println!(
            "  max workgroup storage            {} bytes",
            a.max_compute_workgroup_storage_size
        );
        println!(
            "  subgroup size                    {}..{}",
            a.subgroup_min_size, a.subgroup_max_size
        );
        println!(
            "  shader f64 {}, shader i64 {}, subgroups {}",
            a.shader_f64, a.shader_i64, a.subgroups
        );
        let f32s = a.max_storage_buffer_binding_size / 4;
        println!("  largest f32 array in one binding {f32s} elements");
        println!("  timestamp queries                {}", a.timestamp_query);
        println!(
            "  kernel layout                    {} (asked: {})",
            gpu::gpu::resolve_layout(requested, &a.device_type).name(),
            requested.name()
        );
        if let Some(b) = max_binding {
            println!(
                "  binding limit used               {} bytes ({})",
                b.min(a.max_storage_buffer_binding_size),
                gpu::gpu::MAX_BINDING_ENV
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The device for `--backend`: `auto` falls back to the CPU with a notice; a CPU-only
/// config (`pairwise`) runs on the CPU unless the GPU was demanded (then the run refuses).
fn open_device(backend: BackendChoice, cpu_only: bool) -> anyhow::Result<Device> {
    let (device, note) = Device::open_for(backend, cpu_only)?;
    if let Some(n) = note {
        eprintln!("note: {n}");
    }
    Ok(device)
}

/// The GPU context for `--backend`, or None for the CPU. `auto` falls back with a notice.
fn open_gpu(backend: BackendArg) -> anyhow::Result<Option<std::sync::Arc<GpuContext>>> {
    Ok(open_device(backend.into(), false)?.gpu_context().cloned())
}

fn selftest(backend: BackendArg, json: bool) -> anyhow::Result<ExitCode> {
    let gpu = open_gpu(backend)?;
    if let Some(g) = &gpu
        && !json
    {
        println!("GPU adapter: {}", g.report.summary());
    }
    let cpu = backend != BackendArg::Gpu || gpu.is_some();
    let checks = balnet::selftest::run(gpu.as_ref(), cpu);
    let failed = checks.iter().filter(|c| !c.passed).count();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "checks": checks, "passed": checks.len() - failed, "failed": failed
            }))?
        );
    } else {
        for c in &checks {
            let verdict = if c.passed { "PASS" } else { "FAIL" };
            println!("{verdict} [{}] {}: {}", c.backend, c.name, c.detail);
        }
        println!("{} passed, {} failed", checks.len() - failed, failed);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
