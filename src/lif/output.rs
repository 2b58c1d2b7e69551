//! The model L run directory, written from a [`Simulation`]'s results: rates.csv,
//! neurons.npy, vhist.csv, raster.csv, lif.png and run.json; and `balnet theory` for model L.

use crate::config::ConfigError;
use crate::device::Device;
use crate::io::{self as record, Csv, num};
use crate::lif::config::{LifConfig, LifSetup};
use crate::lif::record::{LifRecording, LifSummary};
use crate::lif::sim::Simulation;
use crate::lif::theory::{self as mf, SingleNeuronPrediction, self_consistent};
use crate::progress::{Observer, Outcome};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

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

/// Applies the CLI overrides (seed, and the recorded duration from a step count) and
/// validates.
pub fn setup(
    mut config: LifConfig,
    seed: Option<u64>,
    steps: Option<u64>,
) -> Result<LifSetup, ConfigError> {
    if let Some(s) = seed {
        config.seed = s;
    }
    if let Some(k) = steps {
        config.duration = k as f64 * config.dt;
    }
    config.validate()
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

/// Runs a model L simulation on `device` and writes its directory: rates.csv, neurons.npy,
/// vhist.csv, raster.csv, lif.png and run.json (status `complete`, `failed` or
/// `interrupted`).
pub fn run_lif(
    s: LifSetup,
    device: &Device,
    out: &Path,
    obs: &mut dyn Observer,
) -> anyhow::Result<LifRunSummary> {
    let t_setup = Instant::now();
    std::fs::create_dir_all(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let theory = self_consistent(&s).ok();
    let mut sim = Simulation::new(s, device)?;
    let s = sim.setup().clone();
    let (synapses, bps) = match sim.synapses() {
        Some((k, b)) => (Some(k), Some(b)),
        None => (None, None),
    };
    let mut summary = LifRunSummary {
        status: "running",
        balnet_version: env!("CARGO_PKG_VERSION"),
        model: "lif",
        backend: sim.backend_name(),
        config: s.config.clone(),
        n_e: s.n_e,
        n_i: s.n_i,
        k_e: s.k_e,
        k_i: s.k_i,
        k_x: s.k_x,
        synapses,
        bytes_per_synapse: bps,
        network_build_seconds: sim.build_seconds(),
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
    record::write_json(&out.join("run.json"), &summary)?;
    let outcome = sim.run_to_end(obs)?;
    let failure = sim.failure().map(String::from);
    let done = sim.steps_done();
    let wall = sim.stepping_seconds().max(1e-12);
    let rec = sim.recording()?;
    let sim_s = done as f64 * s.config.dt * 1e-3;
    summary.stepping_seconds = wall;
    summary.simulated_per_wall = sim_s / wall;
    summary.wall_seconds_per_simulated_second = wall / sim_s.max(1e-12);
    summary.neuron_steps_per_second = sim.neuron_steps_per_second();
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
    write_outputs(out, &s, &rec, theory.as_ref())?;
    if let Err(e) = crate::lif::plot::write(&out.join("lif.png"), &s, &rec, theory.as_ref()) {
        summary.warnings.push(format!("lif.png not written: {e:#}"));
    }
    summary.status = if failure.is_some() {
        "failed"
    } else if outcome == Outcome::Cancelled {
        "interrupted"
    } else {
        "complete"
    };
    summary.error = failure.clone();
    record::write_json(&out.join("run.json"), &summary)?;
    if let Some(f) = failure {
        anyhow::bail!("{f} (recorded data kept in {})", out.display());
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
    let p =
        self_consistent(&s).map_err(|e| ConfigError(format!("no self-consistent state: {e}")))?;
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
