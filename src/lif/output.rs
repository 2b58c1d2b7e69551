//! The model L run directory, written from a [`Simulation`]'s results: rates.csv,
//! neurons.npy, vhist.csv, raster.csv, lif.png and run.json; with `record.spikes`,
//! spikes_step.npy and spikes_neuron.npy; checkpoint.bin; and `balnet theory` for model L.
//!
//! run.json says `running` while the run goes, then `complete`, `interrupted` or `failed`.
//! rates.csv and raster.csv grow as the run goes (every finished rate bin and raster spike,
//! flushed after every chunk of steps), so a killed run keeps them up to its last chunk; so
//! do spikes_step.npy and spikes_neuron.npy (appended after every chunk, their headers'
//! shapes rewritten in place);
//! neurons.npy, vhist.csv and lif.png are written at the end of the run (also of an
//! interrupted or failed one), so a killed run (`kill -9`, run.json still `running`) has none.

use crate::config::ConfigError;
use crate::config::Model;
use crate::device::Device;
use crate::io::checkpoint::{self, Checkpoint};
use crate::io::{self, Csv, CsvAppender, NpyAppender, RunJson, RunOptions, RunStatus, num};
use crate::lif::config::{LifConfig, LifSetup, SpikeSelection};
use crate::lif::record::{LifRecording, LifSummary, SpikeChunk};
use crate::lif::sim::Simulation;
use crate::lif::theory::{self as mean_field, SingleNeuronPrediction, self_consistent};
use crate::progress::{Observer, Records, Status};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The mean-field prediction (docs/models.md, LIF mean-field) for identical E and I neurons.
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
    pub status: Status,
    pub balnet_version: &'static str,
    pub model: Model,
    pub backend: String,
    /// The GPU's kernel layout and binding limit (null on the CPU).
    pub gpu: Option<crate::device::GpuRunInfo>,
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
    /// The spike files of `record.spikes` (None without it).
    pub spikes: Option<SpikesSummary>,
    pub theory: Option<LifTheory>,
    pub warnings: Vec<String>,
    pub error: Option<String>,
}

/// run.json's `spikes`: what spikes_step.npy and spikes_neuron.npy hold.
#[derive(Clone, Debug, Serialize)]
pub struct SpikesSummary {
    /// `record.spikes` as configured.
    pub selection: SpikeSelection,
    /// The selected neurons as half-open ranges of global ids: [[E lo, E hi], [I lo, I hi]].
    pub global_ranges: [[u32; 2]; 2],
    pub neurons: u32,
    /// Spikes in the files.
    pub count: u64,
    /// A spike at step k happened in the step ending at (k + 1) dt after the warm-up.
    pub dt_ms: f64,
    pub warmup_ms: f64,
    /// Recorded steps so far.
    pub steps: u64,
    /// [step file, neuron file] (uint32 each, the same length).
    pub files: [&'static str; 2],
    /// Bytes of both files.
    pub bytes: u64,
    /// Memory of the spike buffers, at most: the host's one chunk of steps (1000) and, on
    /// the GPU, the device's (its chunks shortened so that it cannot overflow).
    pub host_buffer_bytes: f64,
    pub device_buffer_bytes: Option<f64>,
}

/// The two spike files.
pub const SPIKE_FILES: [&str; 2] = ["spikes_step.npy", "spikes_neuron.npy"];

/// spikes_step.npy and spikes_neuron.npy, appended after every chunk of steps.
pub struct SpikeWriter {
    step: NpyAppender,
    neuron: NpyAppender,
}

impl SpikeWriter {
    /// Creates both files empty, or (`resume_at`) reopens them cut back to that many spikes
    /// (what a checkpoint counted).
    pub fn open(dir: &Path, resume_at: Option<u64>) -> anyhow::Result<Self> {
        let [a, b] = SPIKE_FILES.map(|f| dir.join(f));
        Ok(match resume_at {
            None => SpikeWriter {
                step: NpyAppender::create(&a)?,
                neuron: NpyAppender::create(&b)?,
            },
            Some(k) => SpikeWriter {
                step: NpyAppender::reopen_truncated(&a, k)?,
                neuron: NpyAppender::reopen_truncated(&b, k)?,
            },
        })
    }

    /// Appends a chunk's spikes to both files, then updates both headers.
    pub fn append(&mut self, c: &SpikeChunk) -> anyhow::Result<()> {
        if c.is_empty() {
            return Ok(());
        }
        self.step.append_data(&c.step)?;
        self.neuron.append_data(&c.neuron)?;
        self.step.commit()?;
        self.neuron.commit()
    }

    pub fn sync(&self) -> anyhow::Result<()> {
        self.step.sync()?;
        self.neuron.sync()
    }

    pub fn count(&self) -> u64 {
        self.step.len()
    }

    pub fn bytes(&self) -> u64 {
        self.step.bytes() + self.neuron.bytes()
    }
}

fn spikes_summary(
    s: &LifSetup,
    w: &SpikeWriter,
    recorded: u64,
    kind: crate::device::DeviceKind,
) -> Option<SpikesSummary> {
    let selection = s.config.record.spikes?;
    let (host, device) = crate::lif::sim::spike_buffer_bytes(s);
    Some(SpikesSummary {
        selection,
        global_ranges: s.spike_ranges()?,
        neurons: s.spike_neurons(),
        count: w.count(),
        dt_ms: s.config.dt,
        warmup_ms: s.warmup_steps as f64 * s.config.dt,
        steps: recorded,
        files: SPIKE_FILES,
        bytes: w.bytes(),
        host_buffer_bytes: host,
        device_buffer_bytes: (kind == crate::device::DeviceKind::Gpu).then_some(device),
    })
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

impl RunStatus for LifRunSummary {
    fn set_failed(&mut self, error: String) {
        self.status = Status::Failed;
        self.error = Some(error);
    }
}

/// rates.csv and raster.csv written as the run goes: finished rate bins and raster spikes
/// appended and flushed after every chunk of steps; the bin still filling at the end is
/// written by `finish`.
struct LifWriter {
    bin_ms: f64,
    n: [u32; 2],
    n_e: u32,
    rates: CsvAppender,
    bins_written: usize,
    raster: CsvAppender,
    raster_written: usize,
    spikes: Option<SpikeWriter>,
}

impl LifWriter {
    /// Creates both files with their header and what `rec` holds after `recorded` steps, and
    /// the spike files (cut back to `spikes_at` spikes when resuming).
    fn create(
        dir: &Path,
        s: &LifSetup,
        rec: &LifRecording,
        recorded: u64,
        spikes_at: Option<u64>,
    ) -> anyhow::Result<Self> {
        let spikes = if s.config.record.spikes.is_some() {
            Some(SpikeWriter::open(dir, spikes_at)?)
        } else {
            // No stale spike files from an earlier run into this directory.
            for f in SPIKE_FILES {
                let _ = std::fs::remove_file(dir.join(f));
            }
            None
        };
        let mut w = LifWriter {
            bin_ms: rec.bin_steps as f64 * s.config.dt,
            n: [s.n_e, s.n_i],
            n_e: s.n_e,
            rates: CsvAppender::create(&dir.join("rates.csv"), &RATES_HEADER)?,
            bins_written: 0,
            raster: CsvAppender::create(&dir.join("raster.csv"), &RASTER_HEADER)?,
            raster_written: 0,
            spikes,
        };
        let complete = (recorded / rec.bin_steps as u64) as usize;
        w.append(&rec.bins, complete.min(rec.bins.len()), &rec.raster)?;
        Ok(w)
    }

    fn append(
        &mut self,
        bins: &[[u32; 2]],
        complete: usize,
        raster: &[(f64, u32)],
    ) -> anyhow::Result<()> {
        for (b, c) in bins
            .iter()
            .enumerate()
            .take(complete)
            .skip(self.bins_written)
        {
            self.rates.row(&rate_cells(b, c, self.bin_ms, self.n))?;
        }
        self.bins_written = self.bins_written.max(complete);
        for &(t, i) in raster.get(self.raster_written..).unwrap_or_default() {
            self.raster.row(&raster_cells(t, i, self.n_e))?;
        }
        self.raster_written = raster.len();
        self.rates.flush()?;
        self.raster.flush()
    }

    fn finish(mut self, rec: &LifRecording) -> anyhow::Result<()> {
        self.append(&rec.bins, rec.bins.len(), &rec.raster)?;
        if let Some(w) = &self.spikes {
            w.sync()?;
        }
        self.rates.finish()?;
        self.raster.finish()
    }
}

/// Forwards to the caller's observer, appends the new rate bins and raster spikes and writes
/// the checkpoints it is asked for.
struct LifRunWriter<'a> {
    inner: &'a mut dyn Observer,
    every: Option<u64>,
    ck_path: PathBuf,
    files: LifWriter,
}

impl Observer for LifRunWriter<'_> {
    fn on_records(&mut self, records: &Records<'_>) -> anyhow::Result<()> {
        if let Records::Lif {
            bins,
            complete_bins,
            raster,
            spikes,
            ..
        } = *records
        {
            self.files.append(bins, complete_bins, raster)?;
            if let Some(w) = self.files.spikes.as_mut() {
                w.append(spikes)?;
            }
        }
        self.inner.on_records(records)
    }
    fn progress(&mut self, done: u64, total: u64) {
        self.inner.progress(done, total)
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
    fn checkpoint_every(&self) -> Option<u64> {
        self.every
    }
    fn on_checkpoint(&mut self, ck: &Checkpoint) -> anyhow::Result<()> {
        // The spikes a checkpoint counts are on disk before it is.
        if let Some(w) = &self.files.spikes {
            w.sync()?;
        }
        checkpoint::write(&self.ck_path, ck)
    }
}

/// Runs a model L simulation on `device` and writes its directory: rates.csv, neurons.npy,
/// vhist.csv, raster.csv, lif.png and run.json (status `complete`, `failed` or
/// `interrupted`); with checkpoints every `opts.checkpoint_every` steps, or continuing from
/// the directory's checkpoint (its outputs then equal the uninterrupted run's, bit for bit,
/// on the same backend). Errors after run.json exists leave it `failed`, with the error, when
/// it can still be written; a refused --resume touches nothing.
pub fn run(
    s: LifSetup,
    device: &Device,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> anyhow::Result<LifRunSummary> {
    io::create_dir(&opts.out)?;
    let mut sim = Simulation::new(s, device)?;
    run_simulation(&mut sim, opts, obs)
}

/// As [`run`], for a simulation already built (balnet.Simulation's, or `run`'s own): steps
/// it to the configured end and writes its directory, the records it already holds included.
pub fn run_simulation(
    sim: &mut Simulation,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> anyhow::Result<LifRunSummary> {
    let t_setup = Instant::now();
    let out = opts.out.as_path();
    io::create_dir(out)?;
    let s = sim.setup().clone();
    let theory = self_consistent(&s).ok();
    let ck_path = out.join("checkpoint.bin");
    let mut warnings = s.warnings.clone();
    let mut spikes_at = None;
    if opts.resume {
        let (k, warning) = resume(sim, &s, out, &ck_path)?;
        spikes_at = Some(k);
        warnings.push(warning);
    }
    let mut summary = running_summary(sim, &s, theory.as_ref(), warnings);
    summary.setup_seconds = sim.setup_seconds() + t_setup.elapsed().as_secs_f64();
    let mut json = RunJson::new(out.join("run.json"));
    let r = (|| {
        json.write(&summary)?;
        let recorded = sim.steps_done().saturating_sub(s.warmup_steps);
        let files = LifWriter::create(out, &s, sim.host_recording(), recorded, spikes_at)?;
        if let Some(w) = &files.spikes {
            summary.spikes = spikes_summary(&s, w, recorded, sim.device_kind());
            json.write(&summary)?;
        }
        let mut w = LifRunWriter {
            inner: obs,
            every: opts.checkpoint_every,
            ck_path,
            files,
        };
        let outcome = sim.run_to_end(&mut w)?;
        let files = w.files;
        let failure = sim.failure().map(String::from);
        // Rates over the steps stepped here (a resumed run's after its checkpoint).
        let stepped = sim.steps_stepped();
        let wall = sim.stepping_seconds().max(1e-12);
        let rec = sim.recording()?;
        if let Some(w) = &files.spikes {
            let recorded = sim.steps_done().saturating_sub(s.warmup_steps);
            summary.spikes = spikes_summary(&s, w, recorded, sim.device_kind());
        }
        files.finish(&rec)?;
        set_throughput(&mut summary, &s, stepped, wall, &rec);
        summary.neuron_steps_per_second = sim.neuron_steps_per_second();
        summary.gpu = sim.gpu_info();
        summary.summary = Some(rec.summary());
        write_end_outputs(out, &s, &rec, theory.as_ref())?;
        if let Err(e) = crate::lif::plot::write(&out.join("lif.png"), &s, &rec, theory.as_ref()) {
            summary.warnings.push(format!("lif.png not written: {e:#}"));
        }
        summary.status = outcome.status(failure.is_some());
        summary.error = failure.clone();
        json.finish(&summary)?;
        if let Some(f) = failure {
            anyhow::bail!("{f} (recorded data kept in {})", out.display());
        }
        Ok(summary)
    })();
    r.inspect_err(|e| json.fail(e))
}

/// Restores the directory's checkpoint into `sim`, after checking that the spike files hold
/// what it counts (before anything is touched). Returns the spikes recorded up to it and the
/// run's warning.
fn resume(
    sim: &mut Simulation,
    s: &LifSetup,
    out: &Path,
    ck_path: &Path,
) -> anyhow::Result<(u64, String)> {
    let ck = checkpoint::read(ck_path)?;
    sim.restore(&ck)?;
    let k = sim.spikes_recorded();
    if s.config.record.spikes.is_some() {
        for f in SPIKE_FILES {
            let held = io::read_npy_u32_len(&out.join(f))?;
            anyhow::ensure!(
                held >= k,
                "checkpoint refused: {f} holds {held} spikes, fewer than the {k} the checkpoint counts"
            );
        }
    }
    Ok((k, format!("resumed from a checkpoint at step {}", ck.step)))
}

/// run.json of a run that has started (status `running`, no timings yet).
fn running_summary(
    sim: &Simulation,
    s: &LifSetup,
    theory: Option<&SingleNeuronPrediction>,
    warnings: Vec<String>,
) -> LifRunSummary {
    let (synapses, bps) = match sim.synapses() {
        Some((k, b)) => (Some(k), Some(b)),
        None => (None, None),
    };
    LifRunSummary {
        status: Status::Running,
        balnet_version: env!("CARGO_PKG_VERSION"),
        model: Model::Lif,
        backend: sim.backend_name(),
        gpu: sim.gpu_info(),
        config: s.config.clone(),
        n_e: s.n_e,
        n_i: s.n_i,
        k_e: s.k_e,
        k_i: s.k_i,
        k_x: s.k_x,
        synapses,
        bytes_per_synapse: bps,
        network_build_seconds: sim.build_seconds(),
        setup_seconds: 0.0,
        stepping_seconds: 0.0,
        simulated_per_wall: 0.0,
        wall_seconds_per_simulated_second: 0.0,
        synaptic_events_per_second: None,
        neuron_steps_per_second: 0.0,
        summary: None,
        spikes: None,
        theory: theory.map(theory_of),
        warnings,
        error: None,
    }
}

/// The run's speed: `stepped` steps in `wall` seconds (a resumed run's after its
/// checkpoint), and the synaptic events per second from the recorded rate.
fn set_throughput(
    summary: &mut LifRunSummary,
    s: &LifSetup,
    stepped: u64,
    wall: f64,
    rec: &LifRecording,
) {
    let sim_s = stepped as f64 * s.config.dt * 1e-3;
    summary.stepping_seconds = wall;
    summary.simulated_per_wall = sim_s / wall;
    summary.wall_seconds_per_simulated_second = wall / sim_s.max(1e-12);
    if let Some(k) = summary.synapses {
        // Events over the whole run from the recorded rate (warm-up included).
        let sm = rec.summary();
        let mean_rate =
            (sm.mean_rate_hz[0] * s.n_e as f64 + sm.mean_rate_hz[1] * s.n_i as f64) / s.n() as f64;
        let per_neuron_out = k as f64 / s.n() as f64;
        summary.synaptic_events_per_second =
            Some(mean_rate * s.n() as f64 * per_neuron_out * sim_s / wall);
    }
}

const RATES_HEADER: [&str; 3] = ["t_ms", "rate_e_hz", "rate_i_hz"];
const RASTER_HEADER: [&str; 3] = ["t_ms", "neuron", "population"];

/// A row of rates.csv: the start of rate bin `b` (ms after the warm-up) and the E and I
/// population rates (Hz) from its spike counts `c`.
pub fn rate_row(b: usize, c: &[u32; 2], bin_ms: f64, n: [u32; 2]) -> [f64; 3] {
    [
        b as f64 * bin_ms,
        c[0] as f64 / n[0] as f64 / (bin_ms * 1e-3),
        c[1] as f64 / n[1] as f64 / (bin_ms * 1e-3),
    ]
}

fn rate_cells(b: usize, c: &[u32; 2], bin_ms: f64, n: [u32; 2]) -> [String; 3] {
    rate_row(b, c, bin_ms, n).map(num)
}

fn raster_cells(t: f64, i: u32, n_e: u32) -> [String; 3] {
    [
        num(t),
        i.to_string(),
        if i < n_e { "E" } else { "I" }.to_string(),
    ]
}

/// rates.csv, neurons.npy, vhist.csv and raster.csv in one go (what a run builds up as it
/// goes and finishes at its end).
pub fn write_outputs(
    dir: &Path,
    s: &LifSetup,
    rec: &LifRecording,
    theory: Option<&SingleNeuronPrediction>,
) -> anyhow::Result<()> {
    let bin_ms = rec.bin_steps as f64 * s.config.dt;
    let mut rates = Csv::new(&RATES_HEADER);
    for (b, c) in rec.bins.iter().enumerate() {
        rates.row(&rate_cells(b, c, bin_ms, [s.n_e, s.n_i]));
    }
    rates.write(&dir.join("rates.csv"))?;
    write_end_outputs(dir, s, rec, theory)?;
    let mut raster = Csv::new(&RASTER_HEADER);
    for &(t, i) in &rec.raster {
        raster.row(&raster_cells(t, i, s.n_e));
    }
    raster.write(&dir.join("raster.csv"))?;
    Ok(())
}

/// neurons.npy and vhist.csv: written once, at the end of a run.
fn write_end_outputs(
    dir: &Path,
    s: &LifSetup,
    rec: &LifRecording,
    theory: Option<&SingleNeuronPrediction>,
) -> anyhow::Result<()> {
    io::write_npy_f32_2d(
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
            cells.push(num(mean_field::membrane_density(p.mu, p.sigma, v)));
        }
        vh.row(&cells);
    }
    vh.write(&dir.join("vhist.csv"))
}

/// `balnet theory` for model L: the self-consistent state, printed and (with `out`) written
/// as theory.json and pv.csv.
pub fn theory(config: LifConfig, out: Option<&Path>) -> anyhow::Result<LifTheory> {
    let s = config.validate()?;
    let p =
        self_consistent(&s).map_err(|e| ConfigError(format!("no self-consistent state: {e}")))?;
    let t = theory_of(&p);
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
        io::write_json(&dir.join("theory.json"), &t)?;
        let mut csv = Csv::new(&["v_mv", "density"]);
        let [lo, hi] = s.config.record.vhist_range;
        for k in 0..=200 {
            let v = lo + (hi - lo) * k as f64 / 200.0;
            csv.row(&[num(v), num(mean_field::membrane_density(p.mu, p.sigma, v))]);
        }
        csv.write(&dir.join("pv.csv"))?;
    }
    Ok(t)
}
