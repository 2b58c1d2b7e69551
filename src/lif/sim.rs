//! The model L simulation: one network built from a validated config on a [`Device`],
//! stepped in chunks, recording on its own side (population rate bins, per-neuron spike
//! counts and ISI sums, V histograms, a raster). Everything that runs model L (the CLI,
//! sweeps, tests, benches, the Python package) drives this object.
//!
//! ```
//! use balnet::device::Device;
//! use balnet::lif::{Connectivity, LifConfig, Simulation, SynapseConfig};
//! use balnet::progress::Quiet;
//!
//! // An annealed network (the mean-field assumption itself) of 2 x 10^4 neurons, K = 1000.
//! let config = LifConfig {
//!     k: 1000,
//!     synapse: SynapseConfig::Conductance { a: 2e-3, g: 20.0 },
//!     connectivity: Connectivity::Annealed,
//!     warmup: 100.0,
//!     duration: 400.0,
//!     ..LifConfig::default()
//! };
//! let mut sim = Simulation::new(config.validate().unwrap(), &Device::cpu().unwrap()).unwrap();
//! sim.run_to_end(&mut Quiet).unwrap();
//! let rate = sim.recording().unwrap().summary().mean_rate_hz[0];
//! let theory = sim.theory().unwrap().rate;
//! // The diffusion approximation predicts the annealed network's rate within 10% at K = 1000
//! // (at K = 100, where single inputs are larger, it is about 10% high).
//! assert!((rate - theory).abs() < 0.1 * theory, "simulated {rate} Hz, theory {theory} Hz");
//! ```

use crate::device::{CpuDevice, Device, DeviceKind};
use crate::io::checkpoint::{self, Checkpoint};
use crate::lif::backend::LifBackend;
use crate::lif::config::LifSetup;
use crate::lif::connectivity::Csr;
use crate::lif::cpu::LifCpu;
use crate::lif::gpu::LifGpu;
use crate::lif::record::{LifRecording, SpikeChunk, max_spikes_per_neuron};
use crate::lif::step::NeuronState;
use crate::lif::theory::SingleNeuronPrediction;
use crate::progress::{Observer, Outcome, Records};
use crate::{Error, Result};
use std::time::Instant;

/// Steps between the observer's calls (and the GPU's submissions are batched within).
const CHUNK_STEPS: u64 = 1000;

enum Engine {
    Cpu(CpuDevice, Box<LifCpu>),
    Gpu(Box<LifGpu>),
}

/// A model L network and what it has recorded.
pub struct Simulation {
    setup: LifSetup,
    replica: u32,
    engine: Engine,
    gpu: Option<crate::device::GpuRunInfo>,
    done: u64,
    failure: Option<String>,
    setup_seconds: f64,
    stepping_seconds: f64,
    stepped: u64,
    /// Spikes of `record.spikes` recorded before the last chunk.
    spikes_before: u64,
}

impl crate::driver::Chunked for Simulation {
    fn steps_done(&self) -> u64 {
        self.done
    }

    fn configured_steps(&self) -> u64 {
        self.total_steps()
    }

    fn chunk_steps(&self) -> u64 {
        CHUNK_STEPS
    }

    fn has_failed(&self) -> bool {
        self.failure.is_some()
    }

    fn advance_chunk(&mut self, k: u64) -> anyhow::Result<()> {
        self.spikes_before = self.spikes_recorded();
        match &mut self.engine {
            Engine::Cpu(dev, b) => {
                b.clear_spikes();
                dev.install(|| b.advance(k as u32))?;
            }
            Engine::Gpu(b) => {
                b.clear_spikes();
                b.advance(k as u32)?;
            }
        }
        self.done += k;
        self.stepped += k;
        Ok(())
    }

    fn fail(&mut self, message: String) {
        self.failure = Some(message);
    }

    fn report(&mut self, obs: &mut dyn Observer) -> anyhow::Result<()> {
        let rec = self.backend().host_recording();
        let recorded = self.done.saturating_sub(self.setup.warmup_steps);
        obs.on_records(&Records::Lif {
            bins: &rec.bins,
            complete_bins: ((recorded / rec.bin_steps as u64) as usize).min(rec.bins.len()),
            raster: &rec.raster,
            spikes: self.backend().spikes(),
            spikes_before: self.spikes_before,
        })
    }

    fn checkpoint(&mut self) -> Result<Checkpoint> {
        Simulation::checkpoint(self)
    }

    fn add_stepping_seconds(&mut self, seconds: f64) {
        self.stepping_seconds += seconds;
    }
}

impl Simulation {
    /// Builds the network of `setup` on `device` (after checking that it fits memory).
    pub fn new(setup: LifSetup, device: &Device) -> Result<Self> {
        Self::with_replica(setup, device, 0)
    }

    /// As `new`, for replica `replica` of the config's seed (the replica word of every
    /// counter: another connectivity and other input, the same parameters).
    pub fn with_replica(setup: LifSetup, device: &Device, replica: u32) -> Result<Self> {
        let t0 = Instant::now();
        check_memory(&setup)?;
        let engine = match device {
            Device::Cpu(dev) => Engine::Cpu(
                dev.clone(),
                Box::new(dev.install(|| LifCpu::with_isa(&setup, replica, dev.isa))),
            ),
            Device::Gpu(ctx) => Engine::Gpu(Box::new(LifGpu::new(ctx.clone(), &setup, replica)?)),
        };
        let gpu = device.gpu_context().map(|g| crate::device::GpuRunInfo {
            device_memory: Some(device_memory_estimate(&setup, g.max_binding_bytes())),
            ..g.run_info()
        });
        Ok(Simulation {
            setup,
            replica,
            engine,
            gpu,
            done: 0,
            failure: None,
            setup_seconds: t0.elapsed().as_secs_f64(),
            stepping_seconds: 0.0,
            stepped: 0,
            spikes_before: 0,
        })
    }

    fn backend(&self) -> &dyn LifBackend {
        match &self.engine {
            Engine::Cpu(_, b) => b.as_ref(),
            Engine::Gpu(b) => b.as_ref(),
        }
    }

    pub fn setup(&self) -> &LifSetup {
        &self.setup
    }

    /// "cpu (2 threads, avx2)" or "gpu (adapter name)".
    pub fn backend_name(&self) -> String {
        match &self.engine {
            Engine::Cpu(dev, b) => dev.install(|| b.name()),
            Engine::Gpu(b) => b.name(),
        }
    }

    /// The GPU's layout, binding limit, memory estimate and kernel times so far (None on
    /// the CPU).
    pub fn gpu_info(&self) -> Option<crate::device::GpuRunInfo> {
        let g = self.gpu.clone()?;
        Some(match &self.engine {
            Engine::Gpu(b) => {
                g.with_kernel_times(b.kernel_times(), self.stepping_seconds, self.stepped)
            }
            Engine::Cpu(..) => g,
        })
    }

    pub fn device_kind(&self) -> DeviceKind {
        match self.engine {
            Engine::Cpu(..) => DeviceKind::Cpu,
            Engine::Gpu(_) => DeviceKind::Gpu,
        }
    }

    /// Steps completed (warm-up included).
    pub fn steps_done(&self) -> u64 {
        self.done
    }

    /// Steps this object stepped (those before a restored checkpoint excluded).
    pub fn steps_stepped(&self) -> u64 {
        self.stepped
    }

    /// Warm-up plus recorded steps of the config.
    pub fn total_steps(&self) -> u64 {
        self.setup.warmup_steps + self.setup.steps
    }

    /// (synapse count, bytes per synapse) of stored connectivity, if any.
    pub fn synapses(&self) -> Option<(u64, f64)> {
        self.backend().synapses()
    }

    /// Seconds spent building the network (within `setup_seconds`).
    pub fn build_seconds(&self) -> f64 {
        self.backend().build_seconds()
    }

    pub fn setup_seconds(&self) -> f64 {
        self.setup_seconds
    }

    pub fn stepping_seconds(&self) -> f64 {
        self.stepping_seconds
    }

    /// Neuron-steps per second of stepping.
    pub fn neuron_steps_per_second(&self) -> f64 {
        self.setup.n() as f64 * self.stepped as f64 / self.stepping_seconds.max(1e-12)
    }

    /// Why the run stopped early, if it did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// The stored connectivity (`fixed_indegree`), read back from the device on the GPU.
    pub fn connectivity(&self) -> Result<Option<Csr>> {
        Ok(match &self.engine {
            Engine::Cpu(_, b) => b.csr().cloned(),
            Engine::Gpu(b) => b.csr()?,
        })
    }

    /// The self-consistent mean-field state (identical E and I neurons, K_X = K), if any.
    pub fn theory(&self) -> Option<SingleNeuronPrediction> {
        crate::lif::theory::self_consistent(&self.setup).ok()
    }

    /// What was recorded so far (after the warm-up).
    pub fn recording(&mut self) -> Result<LifRecording> {
        Ok(match &mut self.engine {
            Engine::Cpu(_, b) => b.recording()?,
            Engine::Gpu(b) => b.recording()?,
        })
    }

    /// Runs the rest of warm-up and recording.
    pub fn run_to_end(&mut self, obs: &mut dyn Observer) -> Result<Outcome> {
        self.run(self.total_steps().saturating_sub(self.done), obs)
    }

    /// The host's side of the recording (rate bins, raster, V histogram; per-neuron
    /// statistics only on the CPU), without reading the device.
    pub fn host_recording(&self) -> &LifRecording {
        self.backend().host_recording()
    }

    /// The spikes of the neurons `record.spikes` selects in the last chunk of steps that
    /// `run` stepped (at most 1000 steps; observers get every chunk's in
    /// `Records::Lif::spikes`): recorded step and global neuron id, sorted by step, then id.
    pub fn last_spikes(&self) -> &SpikeChunk {
        self.backend().spikes()
    }

    /// Spikes of `record.spikes` recorded so far (the last chunk's included).
    pub fn spikes_recorded(&self) -> u64 {
        self.spikes_before + self.backend().spikes().len() as u64
    }

    /// The replica word of the network's counters.
    pub fn replica(&self) -> u32 {
        self.replica
    }

    /// Advances `steps` steps in chunks of at most CHUNK_STEPS (the shared chunk loop,
    /// `driver::run_chunks`): progress and the records so far after each, cancellation and
    /// the observer's checkpoints between chunks.
    pub fn run(&mut self, steps: u64, obs: &mut dyn Observer) -> Result<Outcome> {
        crate::driver::run_chunks(self, steps, obs)
    }

    /// Changes the external rate nu_X (Hz) from the next step on, keeping the network, its
    /// state and its recording: the config is validated again with the new value. On the GPU
    /// backend the external input cannot be switched on or off (to or from 0).
    pub fn set_nu_x(&mut self, nu_x: f64) -> Result<()> {
        let mut config = self.setup.config.clone();
        config.nu_x = nu_x;
        let s = config.validate()?;
        let r = match &mut self.engine {
            Engine::Cpu(_, b) => b.set_drive(&s),
            Engine::Gpu(b) => b.set_drive(&s),
        };
        r.map_err(|e| Error::Config(format!("{e:#}")))?;
        self.setup = s;
        Ok(())
    }

    /// Every neuron's membrane potential and refractory clock now (E neurons, then I), read
    /// from the backend's state (on the GPU, a readback).
    pub fn neuron_state(&mut self) -> Result<Vec<NeuronState>> {
        let (blobs, name) = match &mut self.engine {
            Engine::Cpu(_, b) => (b.snapshot()?, "cpu_state"),
            Engine::Gpu(b) => (b.snapshot()?, "gpu_state"),
        };
        let n = self.setup.n() as usize;
        let words: Vec<u32> = checkpoint::blob_vec(&blobs, name, None)?;
        if words.len() < 2 * n {
            return Err(Error::Runtime(anyhow::anyhow!(
                "{name}: {} words for {n} neurons",
                words.len()
            )));
        }
        Ok(words[..2 * n]
            .chunks_exact(2)
            .map(|w| NeuronState {
                v: f32::from_bits(w[0]),
                refractory: f32::from_bits(w[1]),
            })
            .collect())
    }

    /// The network's state and its recording so far, to continue bit for bit on the same
    /// kind of backend.
    pub fn checkpoint(&mut self) -> Result<Checkpoint> {
        let mut blobs = match &mut self.engine {
            Engine::Cpu(_, b) => b.snapshot()?,
            Engine::Gpu(b) => b.snapshot()?,
        };
        blobs.push(checkpoint::to_blob(
            "spikes_recorded",
            &[self.spikes_recorded()],
        ));
        Ok(Checkpoint {
            model: crate::config::Model::Lif.name().into(),
            backend_kind: self.device_kind(),
            config: checkpoint::config_value(&self.setup.config)?,
            replica: self.replica,
            step: self.done,
            samples: Vec::new(),
            blobs,
        })
    }

    /// Continues from a checkpoint of the same network (model, resolved config, replica) on
    /// the same kind of device; anything else is refused with one line.
    pub fn restore(&mut self, ck: &Checkpoint) -> Result<()> {
        let config = checkpoint::config_value(&self.setup.config)?;
        ck.check_matches(
            crate::config::Model::Lif.name(),
            self.device_kind(),
            &config,
            self.replica,
            self.total_steps(),
        )?;
        let spikes: Vec<u64> = checkpoint::blob_vec(&ck.blobs, "spikes_recorded", Some(1))?;
        match &mut self.engine {
            Engine::Cpu(_, b) => {
                b.restore(&ck.blobs)?;
                b.clear_spikes();
            }
            Engine::Gpu(b) => {
                b.restore(&ck.blobs)?;
                b.clear_spikes();
            }
        }
        let at = self.backend().steps_done();
        if at != ck.step {
            return Err(Error::Config(format!(
                "checkpoint refused: its header says step {} but its state is at step {at}",
                ck.step
            )));
        }
        self.done = ck.step;
        self.spikes_before = spikes[0];
        Ok(())
    }
}

/// Bytes of the host's buffer of one chunk's spikes of `record.spikes` at most (8 bytes a
/// spike, the most the selected neurons can emit in a chunk), and of the GPU's device buffer
/// (`gpu::spike_buffer_shape`); 0 without `record.spikes`.
pub fn spike_buffer_bytes(s: &LifSetup) -> (f64, f64) {
    let selected = s.spike_neurons() as f64;
    let host = selected * max_spikes_per_neuron(s, CHUNK_STEPS) as f64 * 8.0;
    let device = crate::lif::gpu::spike_buffer_shape(s).1 as f64 * 8.0;
    (host, device)
}

/// Estimated memory of the CPU backend (bytes) and its stored synapse count: 4 bytes per
/// synapse, the input ring buffer (with stored synapses), neuron state and recording (the
/// buffer of one chunk's spikes of `record.spikes` included) and what the CSR build holds
/// besides the CSR (`connectivity::build_extra_bytes`).
pub fn memory_estimate(s: &LifSetup) -> (f64, f64) {
    let n = s.n() as f64;
    let synapses = match s.config.connectivity {
        crate::lif::config::Connectivity::FixedIndegree => n * (s.k_e + s.k_i) as f64,
        _ => 0.0,
    };
    let (acc, build) = if synapses > 0.0 {
        (
            n * s.delay_slots as f64 * 8.0,
            crate::lif::connectivity::build_extra_bytes(s, rayon::current_num_threads()),
        )
    } else {
        (0.0, 0.0)
    };
    let spikes = spike_buffer_bytes(s).0;
    (
        synapses * 4.0 + n * 8.0 + acc + n * 40.0 + spikes + build,
        synapses,
    )
}

/// Estimated device memory of the GPU backend for bindings of at most `max_binding` bytes:
/// while stepping the CSR (4 bytes per synapse, split over bindings, and n + 1 offsets), the
/// state (8 bytes per neuron), the delay ring (slots x n words with delays > 1 step), three
/// spike lists (24 bytes per neuron), the records (32 bytes per neuron and the raster); during
/// the connectivity build also the unsorted copy of the synapses (4 bytes per synapse), the
/// in- and out-degrees (12 bytes per neuron) and the batch scratch (at most 64 MiB).
pub fn device_memory_estimate(s: &LifSetup, max_binding: u64) -> crate::device::DeviceMemory {
    use crate::lif::config::{Connectivity, DelayConfig};
    let n = s.n() as u64;
    let fixed = s.config.connectivity == Connectivity::FixedIndegree;
    let syn = if fixed { n * (s.k_e + s.k_i) as u64 } else { 0 };
    let ring = if fixed && s.delay_slots > 2 {
        s.delay_slots as u64 * n * 4
    } else {
        16
    };
    // The raster buffer of one chunk of GPU steps, as `gpu::LifSizes` sizes it.
    let raster = crate::lif::gpu::raster_capacity(s);
    let records = (2 * n + raster) * 16;
    let (state, lists, offsets) = (n * 8, n * 24, (n + 1) * 4);
    let stepping = syn * 4 + offsets + state + ring + lists + records;
    let build = if fixed {
        let max_k = s.k_e.max(s.k_i) as u64;
        let hash = (2 * max_k).next_power_of_two().max(2);
        let picks = if matches!(s.config.delay, DelayConfig::Uniform { .. }) {
            max_k
        } else {
            0
        };
        let slot = (hash + picks) * 4;
        let scratch = ((64u64 << 20).min(max_binding) / slot).clamp(1, n) * slot;
        2 * syn * 4 + offsets + n * 12 + scratch
    } else {
        0
    };
    let bindings = if fixed {
        syn.div_ceil((max_binding / 16 * 4).max(4)).max(1)
    } else {
        0
    };
    let single = state.max(ring).max(lists).max(records);
    crate::device::DeviceMemory {
        peak_bytes: build.max(stepping),
        peak_phase: if build > stepping {
            "connectivity build"
        } else {
            "stepping"
        },
        stepping_bytes: stepping,
        largest_array: if fixed { "synapses" } else { "records" },
        largest_array_bytes: if fixed { syn * 4 } else { records },
        largest_array_bindings: if fixed { bindings } else { 1 },
        max_binding_bytes: max_binding,
        largest_single_binding_bytes: single,
        refused: if single > max_binding {
            Some(format!("a {single}-byte buffer exceeds one binding"))
        } else if bindings > crate::lif::gpu_connectivity::SYN_PARTS_MAX as u64 {
            Some(format!(
                "the synapses need {bindings} bindings, more than {}",
                crate::lif::gpu_connectivity::SYN_PARTS_MAX
            ))
        } else {
            None
        },
    }
}

/// The estimate against the machine's available memory.
fn check_memory(s: &LifSetup) -> Result<()> {
    let (need, synapses) = memory_estimate(s);
    crate::device::check_fits(need, |avail| {
        format!(
            "network needs about {:.2} GB ({:.3e} synapses x 4 bytes + state) but only {:.2} GB is available ({}): lower n_e/n_i or K",
            need / 1e9,
            synapses,
            avail.bytes / 1e9,
            avail.source
        )
    })
}
