//! The `balnet` command line: parse, dispatch to the library, print.

mod cli;

use balnet::config::ConfigError;
use balnet::device::{BackendChoice, GpuLayout};
use balnet::progress::CancelToken;
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
pub enum BackendArg {
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
        #[arg(long, value_parser = integral)]
        n: Option<u64>,
        /// Number of steps (overrides the config's duration).
        #[arg(long, value_parser = integral)]
        steps: Option<u64>,
        /// 64-bit seed (overrides the config).
        #[arg(long, value_parser = integral)]
        seed: Option<u64>,
        /// Output directory [default: runs/<config name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run even when the stiffness number is above 1.
        #[arg(long)]
        force: bool,
        /// Write DIR/checkpoint.bin every this many steps (model L: warm-up included).
        #[arg(long, value_parser = integral)]
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
        #[arg(long, value_parser = integral)]
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

/// An integer flag, also written as an integral float (`--n 1e6`).
fn integral(s: &str) -> Result<u64, String> {
    balnet::config::parse_integral_u64(s)
}

fn main() -> ExitCode {
    // Mesa's Vulkan window-system layer prints an error when XDG_RUNTIME_DIR is unset or
    // not a directory, which headless batch machines and containers often leave; balnet
    // never presents to a window.
    let xdg_valid =
        std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
    if !xdg_valid {
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
            if let Some(p) = cli::running_run_json() {
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
        balnet::device::gpu::set_layout(GpuLayout::parse("--gpu-layout", l)?);
    }
    match cli.command {
        Command::Info { json } => cli::info::info(json),
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
            let target = match (resume, config) {
                (Some(dir), _) => balnet::app::run::RunTarget::Resume(dir),
                (None, Some(config)) => {
                    let config = balnet::app::ConfigRequest::path(config);
                    let out = out.unwrap_or_else(|| PathBuf::from("runs").join(config.stem()));
                    balnet::app::run::RunTarget::New { config, out }
                }
                (None, None) => unreachable!("clap requires CONFIG or --resume"),
            };
            let req = balnet::app::run::RunRequest {
                target,
                overrides: balnet::app::Overrides { n, steps, seed },
                backend: backend.into(),
                force,
                checkpoint_every,
                spelling: balnet::app::Spelling::Cli,
            };
            cli::run::run(&req, dry_run, stop)
        }
        Command::Theory { config, n, out } => cli::theory::theory(config, n, out),
        Command::Selftest { backend, json } => cli::info::selftest(backend.into(), json),
        Command::Sweep {
            sweep,
            out,
            shard,
            dry_run,
            merge,
            jobs,
        } => cli::sweep::sweep(sweep, out, shard, dry_run, merge, jobs, stop),
    }
}
