//! `balnet run` and `balnet theory` for model L: build the network, step it in chunks with a
//! progress bar, and write rates.csv, neurons.npy, vhist.csv, raster.csv, lif.png and run.json.

use crate::config::ConfigError;
use crate::device::BackendChoice;
use crate::io::{self as record, Csv, num};
use crate::lif::backend::LifBackend;
use crate::lif::config::{LifConfig, LifSetup, SynapseConfig};
use crate::lif::cpu::LifCpu;
use crate::lif::gpu::LifGpu;
use crate::lif::record::{LifRecording, LifSummary};
use crate::lif::theory::{self as mf, LifNeuron, SingleNeuronPrediction, Synapse};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Clone, Debug)]
pub struct LifRunOptions {
    pub backend: BackendChoice,
    pub seed: Option<u64>,
    pub duration_ms: Option<f64>,
    pub out: PathBuf,
    pub progress: bool,
}

/// The mean-field prediction of MODEL.md for identical E and I neurons.
#[derive(Clone, Debug, Serialize)]
pub struct LifTheory {
    pub rate_hz: f64,
    pub cv: f64,
    pub mu_mv: f64,
    pub sigma_mv: f64,
    pub tau_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct LifRunSummary {
    pub status: &'static str,
    pub balnet_version: &'static str,
    pub model: &'static str,
    pub backend: String,
    pub config: LifConfig,
    pub n_e: u32,
    pub n_i: u32,
    pub k_e: u32,
    pub k_i: u32,
    pub k_x: u32,
    pub synapses: Option<u64>,
    pub bytes_per_synapse: Option<f64>,
    pub network_build_seconds: f64,
    pub setup_seconds: f64,
    pub stepping_seconds: f64,
    /// Simulated seconds (warm-up included) per wall second of stepping.
    pub simulated_per_wall: f64,
    pub wall_seconds_per_simulated_second: f64,
    /// Recurrent synaptic events (spikes x out-degree) per wall second of stepping.
    pub synaptic_events_per_second: Option<f64>,
    pub neuron_steps_per_second: f64,
    pub summary: Option<LifSummary>,
    pub theory: Option<LifTheory>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

pub fn setup(mut config: LifConfig, opts: &LifRunOptions) -> Result<LifSetup, ConfigError> {
    if let Some(s) = opts.seed {
        config.seed = s;
    }
    if let Some(d) = opts.duration_ms {
        config.duration = d;
    }
    config.validate()
}

/// The theory's neuron and synapse for population a of a setup.
pub fn theory_inputs(s: &LifSetup, a: usize) -> (LifNeuron, Synapse) {
    let p = s.neuron[a];
    let neuron = LifNeuron {
        tau_l: p.tau_l * 1e-3,
        e_l: p.e_l,
        e_e: p.e_e,
        e_i: p.e_i,
        theta: p.theta,
        v_r: p.v_r,
        tau_rp: p.tau_rp * 1e-3,
    };
    let syn = match s.config.synapse {
        SynapseConfig::Conductance { a, g } => Synapse::Conductance { a, g },
        SynapseConfig::Current { j, g } => Synapse::Current { j, g },
    };
    (neuron, syn)
}

/// The self-consistent network state (identical E and I neurons, K_X = K); an error says why
/// there is none.
pub fn self_consistent(s: &LifSetup) -> Result<SingleNeuronPrediction, String> {
    if s.neuron[0] != s.neuron[1] {
        return Err(
            "E and I neurons differ: the self-consistent theory is for identical ones".into(),
        );
    }
    if s.k_x != s.k_e {
        return Err(format!(
            "K_X = {} differs from K = {}: the theory takes K_X = K",
            s.k_x, s.k_e
        ));
    }
    let (neuron, syn) = theory_inputs(s, 0);
    let gamma = s.k_i as f64 / s.k_e as f64;
    mf::self_consistent_rate(&neuron, &syn, s.k_e as f64, gamma, s.config.nu_x)
}

fn theory_of(p: &SingleNeuronPrediction) -> LifTheory {
    LifTheory {
        rate_hz: p.rate,
        cv: p.cv,
        mu_mv: p.mu,
        sigma_mv: p.sigma,
        tau_ms: p.tau * 1e3,
    }
}

/// The backend of a run: `gpu` needs an adapter, `auto` takes one if there is one and else
/// says so once and runs on the CPU.
pub fn open_backend(s: &LifSetup, choice: BackendChoice) -> anyhow::Result<Box<dyn LifBackend>> {
    Ok(match crate::hydro::output::gpu_context(choice)? {
        None => Box::new(LifCpu::new(s, 0)),
        Some(ctx) => Box::new(LifGpu::new(ctx, s, 0)?),
    })
}

/// Estimated memory of the CPU backend (bytes) and its stored synapse count: 4 bytes per
/// synapse, the input ring buffer (with stored synapses), neuron state and recording.
pub fn memory_estimate(s: &LifSetup) -> (f64, f64) {
    let n = s.n() as f64;
    let synapses = match s.config.connectivity {
        crate::lif::config::Connectivity::FixedIndegree => n * (s.k_e + s.k_i) as f64,
        _ => 0.0,
    };
    let acc = if synapses > 0.0 {
        n * s.delay_slots as f64 * 8.0
    } else {
        0.0
    };
    (synapses * 4.0 + n * 8.0 + acc + n * 40.0, synapses)
}

/// The estimate against the machine's available memory.
fn check_memory(s: &LifSetup) -> Result<(), ConfigError> {
    let (need, synapses) = memory_estimate(s);
    let avail = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb * 1024.0);
    if let Some(avail) = avail
        && need > 0.9 * avail
    {
        return Err(ConfigError(format!(
            "network needs about {:.1} GB ({:.3e} synapses x 4 bytes + state) but only {:.1} GB is available: lower n_e/n_i or K",
            need / 1e9,
            synapses,
            avail / 1e9
        )));
    }
    Ok(())
}

pub fn run_lif(config: LifConfig, opts: &LifRunOptions) -> anyhow::Result<LifRunSummary> {
    let t_setup = Instant::now();
    let s = setup(config, opts)?;
    check_memory(&s)?;
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", opts.out.display()))?;
    let theory = self_consistent(&s).ok();
    let mut backend = open_backend(&s, opts.backend)?;
    let (synapses, bps) = match backend.synapses() {
        Some((k, b)) => (Some(k), Some(b)),
        None => (None, None),
    };
    let mut summary = LifRunSummary {
        status: "running",
        balnet_version: env!("CARGO_PKG_VERSION"),
        model: "lif",
        backend: backend.name(),
        config: s.config.clone(),
        n_e: s.n_e,
        n_i: s.n_i,
        k_e: s.k_e,
        k_i: s.k_i,
        k_x: s.k_x,
        synapses,
        bytes_per_synapse: bps,
        network_build_seconds: backend.build_seconds(),
        setup_seconds: t_setup.elapsed().as_secs_f64(),
        stepping_seconds: 0.0,
        simulated_per_wall: 0.0,
        wall_seconds_per_simulated_second: 0.0,
        synaptic_events_per_second: None,
        neuron_steps_per_second: 0.0,
        summary: None,
        theory: theory.as_ref().map(theory_of),
        warnings: s.warnings.clone(),
        error: None,
    };
    record::write_json(&opts.out.join("run.json"), &summary)?;
    let total = s.warmup_steps + s.steps;
    let bar = crate::progress::bar(total, opts.progress);
    let t_step = Instant::now();
    let mut done = 0u64;
    let mut failure = None;
    while done < total {
        let k = 1000.min(total - done);
        if let Err(e) = backend.advance(k as u32) {
            failure = Some(format!("{e:#}"));
            break;
        }
        done += k;
        bar.set_position(done);
    }
    bar.finish_and_clear();
    let wall = t_step.elapsed().as_secs_f64().max(1e-12);
    let rec = backend.recording()?;
    let sim_s = done as f64 * s.config.dt * 1e-3;
    summary.stepping_seconds = wall;
    summary.simulated_per_wall = sim_s / wall;
    summary.wall_seconds_per_simulated_second = wall / sim_s.max(1e-12);
    summary.neuron_steps_per_second = s.n() as f64 * done as f64 / wall;
    let sm = rec.summary();
    if let Some(k) = synapses {
        // Events over the whole run from the recorded rate (warm-up included).
        let mean_rate =
            (sm.mean_rate_hz[0] * s.n_e as f64 + sm.mean_rate_hz[1] * s.n_i as f64) / s.n() as f64;
        let per_neuron_out = k as f64 / s.n() as f64;
        summary.synaptic_events_per_second =
            Some(mean_rate * s.n() as f64 * per_neuron_out * sim_s / wall);
    }
    summary.summary = Some(sm);
    write_outputs(&opts.out, &s, &rec, theory.as_ref())?;
    if let Err(e) = crate::lif::plot::write(&opts.out.join("lif.png"), &s, &rec, theory.as_ref()) {
        summary.warnings.push(format!("lif.png not written: {e:#}"));
    }
    summary.status = if failure.is_some() {
        "failed"
    } else {
        "complete"
    };
    summary.error = failure.clone();
    record::write_json(&opts.out.join("run.json"), &summary)?;
    if let Some(f) = failure {
        anyhow::bail!("{f} (recorded data kept in {})", opts.out.display());
    }
    Ok(summary)
}

/// rates.csv, neurons.npy, vhist.csv and raster.csv.
pub fn write_outputs(
    dir: &Path,
    s: &LifSetup,
    rec: &LifRecording,
    theory: Option<&SingleNeuronPrediction>,
) -> anyhow::Result<()> {
    let bin_ms = rec.bin_steps as f64 * s.config.dt;
    let mut rates = Csv::new(&["t_ms", "rate_e_hz", "rate_i_hz"]);
    for (b, c) in rec.bins.iter().enumerate() {
        rates.row(&[
            num(b as f64 * bin_ms),
            num(c[0] as f64 / s.n_e as f64 / (bin_ms * 1e-3)),
            num(c[1] as f64 / s.n_i as f64 / (bin_ms * 1e-3)),
        ]);
    }
    rates.write(&dir.join("rates.csv"))?;
    record::write_npy_f32_2d(
        &dir.join("neurons.npy"),
        s.n() as usize,
        2,
        &rec.per_neuron(),
    )?;
    let bins = rec.vhist[0].len();
    let width = (rec.vhist_range[1] - rec.vhist_range[0]) / bins as f64;
    let mut header = vec!["v_mv", "density_e", "density_i"];
    if theory.is_some() {
        header.push("density_theory");
    }
    let mut vh = Csv::new(&header);
    let totals = [
        rec.vhist[0].iter().sum::<u64>().max(1) as f64,
        rec.vhist[1].iter().sum::<u64>().max(1) as f64,
    ];
    for b in 0..bins {
        let v = rec.vhist_range[0] + (b as f64 + 0.5) * width;
        let mut cells = vec![
            num(v),
            num(rec.vhist[0][b] as f64 / totals[0] / width),
            num(rec.vhist[1][b] as f64 / totals[1] / width),
        ];
        if let Some(p) = theory {
            cells.push(num(mf::membrane_density(p.mu, p.sigma, v)));
        }
        vh.row(&cells);
    }
    vh.write(&dir.join("vhist.csv"))?;
    let mut raster = Csv::new(&["t_ms", "neuron", "population"]);
    for &(t, i) in &rec.raster {
        raster.row(&[
            num(t),
            i.to_string(),
            if i < s.n_e { "E" } else { "I" }.to_string(),
        ]);
    }
    raster.write(&dir.join("raster.csv"))?;
    Ok(())
}

/// `balnet theory` for model L: the self-consistent state, printed and (with `out`) written
/// as theory.json and pv.csv.
pub fn theory_lif(config: LifConfig, out: Option<&Path>) -> anyhow::Result<LifTheory> {
    let s = config.validate()?;
    let p = self_consistent(&s).map_err(|e| anyhow::anyhow!("no self-consistent state: {e}"))?;
    let t = theory_of(&p);
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
        record::write_json(&dir.join("theory.json"), &t)?;
        let mut csv = Csv::new(&["v_mv", "density"]);
        let [lo, hi] = s.config.record.vhist_range;
        for k in 0..=200 {
            let v = lo + (hi - lo) * k as f64 / 200.0;
            csv.row(&[num(v), num(mf::membrane_density(p.mu, p.sigma, v))]);
        }
        csv.write(&dir.join("pv.csv"))?;
    }
    Ok(t)
}
