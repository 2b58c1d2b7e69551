//! What a model L run measures after its warm-up: the population rate per time bin, each
//! neuron's spike count and ISI running sums (rate and CV), a histogram of V per population
//! (refractory neurons excluded), and a spike raster of chosen neurons.

use crate::lif::config::LifSetup;
use serde::Serialize;

/// Running ISI statistics of one neuron (times in ms).
#[derive(Clone, Copy, Debug, Default)]
pub struct IsiStats {
    pub spikes: u32,
    pub last: f64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl IsiStats {
    pub fn add_spike(&mut self, t: f64) {
        if self.spikes > 0 {
            let isi = t - self.last;
            self.sum += isi;
            self.sum_sq += isi * isi;
        }
        self.last = t;
        self.spikes += 1;
    }

    /// CV of the ISIs (needs >= 3 spikes, i.e. >= 2 intervals).
    pub fn cv(&self) -> Option<f64> {
        if self.spikes < 3 {
            return None;
        }
        let k = (self.spikes - 1) as f64;
        let m = self.sum / k;
        let var = (self.sum_sq / k - m * m).max(0.0);
        Some(var.sqrt() / m)
    }
}

/// The recorded data of a run (the same on every backend).
#[derive(Clone, Debug)]
pub struct LifRecording {
    pub n_e: u32,
    pub dt: f64,
    /// Recorded time (ms), after the warm-up.
    pub recorded_ms: f64,
    pub bin_steps: u32,
    /// Spike counts per rate bin and population.
    pub bins: Vec<[u32; 2]>,
    pub neurons: Vec<IsiStats>,
    pub vhist_range: [f64; 2],
    pub vhist: [Vec<u64>; 2],
    /// (time ms since the end of the warm-up, neuron).
    pub raster: Vec<(f64, u32)>,
    pub raster_neurons: u32,
}

/// The spikes of the neurons `record.spikes` selects over some recorded steps: the recorded
/// step of each (0 = the first step after the warm-up) and its global neuron id (E
/// 0..n_e, I n_e..n_e+n_i), sorted by step and, within a step, by neuron id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpikeChunk {
    pub step: Vec<u32>,
    pub neuron: Vec<u32>,
}

impl SpikeChunk {
    pub fn len(&self) -> usize {
        self.step.len()
    }

    pub fn is_empty(&self) -> bool {
        self.step.is_empty()
    }

    pub fn clear(&mut self) {
        self.step.clear();
        self.neuron.clear();
    }

    pub fn push(&mut self, step: u32, neuron: u32) {
        self.step.push(step);
        self.neuron.push(neuron);
    }

    /// Appends `other` (whose steps come after this chunk's).
    pub fn extend(&mut self, other: &SpikeChunk) {
        self.step.extend_from_slice(&other.step);
        self.neuron.extend_from_slice(&other.neuron);
    }
}

/// The fewest steps between two spikes of one neuron: one refractory period (the shorter of
/// the two populations'), less one step for rounding, and at least one step. Sizes the
/// buffers of spikes (host and device) and their memory estimates alike.
pub(crate) fn refractory_gap_steps(s: &LifSetup) -> u64 {
    let tau_rp = s.neuron[0].tau_rp.min(s.neuron[1].tau_rp);
    ((tau_rp / s.config.dt).floor() as u64)
        .saturating_sub(1)
        .max(1)
}

/// The most spikes one neuron can emit in `steps` consecutive steps: one per refractory
/// period at most (rounding costs one step), and at most one per step.
pub fn max_spikes_per_neuron(s: &LifSetup, steps: u64) -> u64 {
    (steps / refractory_gap_steps(s) + 2).min(steps)
}

/// Summary numbers of run.json.
#[derive(Clone, Debug, Serialize)]
pub struct LifSummary {
    pub mean_rate_hz: [f64; 2],
    pub mean_cv: [Option<f64>; 2],
    pub neurons_with_cv: [u32; 2],
    pub fraction_silent: [f64; 2],
    pub spikes: u64,
}

impl LifRecording {
    pub fn new(s: &LifSetup) -> Self {
        let r = &s.config.record;
        LifRecording {
            n_e: s.n_e,
            dt: s.config.dt,
            recorded_ms: 0.0,
            bin_steps: ((r.rate_bin_ms / s.config.dt).round() as u32).max(1),
            bins: Vec::new(),
            neurons: vec![IsiStats::default(); s.n() as usize],
            vhist_range: r.vhist_range,
            vhist: [
                vec![0; r.vhist_bins as usize],
                vec![0; r.vhist_bins as usize],
            ],
            raster: Vec::new(),
            raster_neurons: r.raster_neurons,
        }
    }

    pub fn in_raster(&self, i: u32) -> bool {
        i < self.raster_neurons.min(self.n_e)
            || (i >= self.n_e && i - self.n_e < self.raster_neurons)
    }

    /// Records the spikes of recorded step `k` (0 = first step after the warm-up): (neuron,
    /// offset within the step in ms).
    pub fn record_step(&mut self, k: u64, spikes: &[(u32, f32)]) {
        let bin = (k / self.bin_steps as u64) as usize;
        if self.bins.len() <= bin {
            self.bins.resize(bin + 1, [0, 0]);
        }
        for &(i, off) in spikes {
            let t = k as f64 * self.dt + off as f64;
            self.bins[bin][(i >= self.n_e) as usize] += 1;
            self.neurons[i as usize].add_spike(t);
            if self.in_raster(i) {
                self.raster.push((t, i));
            }
        }
        self.recorded_ms = (k + 1) as f64 * self.dt;
    }

    /// Bin index of V (None outside the histogram's range).
    #[inline]
    pub fn vhist_bin(range: [f64; 2], bins: usize, v: f32) -> Option<usize> {
        let x = (v as f64 - range[0]) / (range[1] - range[0]);
        if (0.0..1.0).contains(&x) {
            Some((x * bins as f64) as usize)
        } else {
            None
        }
    }

    pub fn summary(&self) -> LifSummary {
        let n = self.neurons.len() as u32;
        let ranges = [(0, self.n_e), (self.n_e, n)];
        let mut out = LifSummary {
            mean_rate_hz: [0.0; 2],
            mean_cv: [None; 2],
            neurons_with_cv: [0; 2],
            fraction_silent: [0.0; 2],
            spikes: self.neurons.iter().map(|s| s.spikes as u64).sum(),
        };
        for (a, &(lo, hi)) in ranges.iter().enumerate() {
            let m = (hi - lo) as f64;
            let ns = &self.neurons[lo as usize..hi as usize];
            let total: u64 = ns.iter().map(|s| s.spikes as u64).sum();
            out.mean_rate_hz[a] = total as f64 / m / (self.recorded_ms * 1e-3);
            let cvs: Vec<f64> = ns.iter().filter_map(|s| s.cv()).collect();
            out.neurons_with_cv[a] = cvs.len() as u32;
            if !cvs.is_empty() {
                out.mean_cv[a] = Some(cvs.iter().sum::<f64>() / cvs.len() as f64);
            }
            out.fraction_silent[a] = ns.iter().filter(|s| s.spikes == 0).count() as f64 / m;
        }
        out
    }

    /// The recording as checkpoint blobs (`rec_*`), bit for bit.
    pub fn to_blobs(&self) -> Vec<(String, Vec<u8>)> {
        use crate::io::checkpoint::to_blob;
        let bins: Vec<u32> = self.bins.iter().flatten().copied().collect();
        let spikes: Vec<u32> = self.neurons.iter().map(|s| s.spikes).collect();
        let times: Vec<u64> = self
            .neurons
            .iter()
            .flat_map(|s| [s.last.to_bits(), s.sum.to_bits(), s.sum_sq.to_bits()])
            .collect();
        let vhist: Vec<u64> = self.vhist.iter().flatten().copied().collect();
        let raster_t: Vec<u64> = self.raster.iter().map(|r| r.0.to_bits()).collect();
        let raster_i: Vec<u32> = self.raster.iter().map(|r| r.1).collect();
        vec![
            to_blob("rec_recorded_ms", &[self.recorded_ms.to_bits()]),
            to_blob("rec_bins", &bins),
            to_blob("rec_spikes", &spikes),
            to_blob("rec_isi", &times),
            to_blob("rec_vhist", &vhist),
            to_blob("rec_raster_t", &raster_t),
            to_blob("rec_raster_i", &raster_i),
        ]
    }

    /// Restores `to_blobs` into a recording of the same network (its sizes are checked).
    pub fn restore_blobs(&mut self, blobs: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
        use crate::io::checkpoint::blob_vec;
        let n = self.neurons.len();
        let nb = self.vhist[0].len();
        let recorded: Vec<u64> = blob_vec(blobs, "rec_recorded_ms", Some(1))?;
        let bins: Vec<u32> = blob_vec(blobs, "rec_bins", None)?;
        anyhow::ensure!(
            bins.len().is_multiple_of(2),
            "checkpoint `rec_bins`: odd length"
        );
        let spikes: Vec<u32> = blob_vec(blobs, "rec_spikes", Some(n))?;
        let times: Vec<u64> = blob_vec(blobs, "rec_isi", Some(3 * n))?;
        let vhist: Vec<u64> = blob_vec(blobs, "rec_vhist", Some(2 * nb))?;
        let raster_t: Vec<u64> = blob_vec(blobs, "rec_raster_t", None)?;
        let raster_i: Vec<u32> = blob_vec(blobs, "rec_raster_i", Some(raster_t.len()))?;
        self.recorded_ms = f64::from_bits(recorded[0]);
        self.bins = bins.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
        for (k, st) in self.neurons.iter_mut().enumerate() {
            *st = IsiStats {
                spikes: spikes[k],
                last: f64::from_bits(times[3 * k]),
                sum: f64::from_bits(times[3 * k + 1]),
                sum_sq: f64::from_bits(times[3 * k + 2]),
            };
        }
        self.vhist = [vhist[..nb].to_vec(), vhist[nb..].to_vec()];
        self.raster = raster_t
            .iter()
            .zip(&raster_i)
            .map(|(&t, &i)| (f64::from_bits(t), i))
            .collect();
        Ok(())
    }

    /// Per neuron: rate (Hz) and CV (NaN with fewer than 3 spikes), row-major [n, 2].
    pub fn per_neuron(&self) -> Vec<f32> {
        let t = self.recorded_ms * 1e-3;
        self.neurons
            .iter()
            .flat_map(|s| {
                [
                    (s.spikes as f64 / t) as f32,
                    s.cv().map(|c| c as f32).unwrap_or(f32::NAN),
                ]
            })
            .collect()
    }
}
