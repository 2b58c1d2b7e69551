//! The CPU reference backend for model L: per step, every neuron advanced by
//! `model::lif::step_neuron` (rayon over fixed chunks), then the step's spikes pushed through
//! the CSR to the targets' input counters in a ring buffer indexed by delay (rayon over
//! disjoint target ranges, so the integer sums are deterministic).

use super::LifBackend;
use super::isa::{Isa, multiversion};
use crate::config::lif::{Connectivity, LifSetup};
use crate::model::lif::{self as ml, LifConsts, NeuronState};
use crate::model::lif_connectivity::{self as conn, Csr, TARGET_BITS, TARGET_MASK};
use crate::record::lif::LifRecording;
use crate::rng::{LANES, PhiloxLanes, Stream};
use rayon::prelude::*;

/// Neurons per parallel work item.
const CHUNK: usize = 1024;

pub struct LifCpu {
    s: LifSetup,
    c: LifConsts,
    replica: u32,
    state: Vec<NeuronState>,
    csr: Option<Csr>,
    /// Input counters: ((target * slots) + slot) * 2 + {0: E, 1: I}.
    acc: Vec<u32>,
    slots: u32,
    /// Last step's spikes: (neuron, offset in the step, ms), in neuron order.
    spikes: Vec<(u32, f32)>,
    /// Last step's spike of each neuron (annealed / all-to-all exclude their own).
    spiked: Vec<u8>,
    spike_counts: [u32; 2],
    t: u32,
    rec: LifRecording,
    isa: Isa,
    pub build_seconds: f64,
}

/// What the neuron-update kernel needs besides its neurons.
struct ChunkArgs<'a> {
    c: &'a LifConsts,
    t: u32,
    replica: u32,
    connectivity: Connectivity,
    k: [u32; 2],
    counts: [u32; 2],
    slot_now: usize,
    acc_stride: usize,
    sample_v: bool,
    vrange: [f64; 2],
    vbins: usize,
}

multiversion!(neuron_chunk => neuron_chunk_body(
    k: &ChunkArgs,
    i0: u32,
    st: &mut [NeuronState],
    spiked: &mut [u8],
    acc: &mut [u32]
) -> ChunkOut);

/// Advances neurons i0 .. i0 + st.len(): their external streams' first Philox blocks are
/// computed LANES at a time, then each neuron steps on its own.
#[inline(always)]
fn neuron_chunk_body(
    p: impl PhiloxLanes,
    k: &ChunkArgs,
    i0: u32,
    st: &mut [NeuronState],
    spiked: &mut [u8],
    acc: &mut [u32],
) -> ChunkOut {
    let c = k.c;
    let mut out = ChunkOut::default();
    if k.sample_v {
        out.vhist = Some([vec![0; k.vbins], vec![0; k.vbins]]);
    }
    let mut words = [[0u32; LANES]; 4];
    for (k_local, (x, own)) in st.iter_mut().zip(spiked.iter_mut()).enumerate() {
        let i = i0 + k_local as u32;
        let lane = k_local % LANES;
        if lane == 0 {
            let mut ctr = [[0u32; LANES]; 4];
            for l in 0..LANES {
                let cl = ml::ext_counter(i + l as u32, k.t, k.replica);
                for w in 0..4 {
                    ctr[w][l] = cl[w];
                }
            }
            words = p.philox(ctr, c.key);
        }
        let a = c.population(i);
        let (rec_e, rec_i) = match k.connectivity {
            Connectivity::FixedIndegree => {
                let o = k_local * k.acc_stride + k.slot_now * 2;
                let v = (acc[o], acc[o + 1]);
                acc[o] = 0;
                acc[o + 1] = 0;
                v
            }
            Connectivity::Annealed => {
                ml::annealed_inputs(c, i, k.t, k.replica, k.k, k.counts, *own != 0)
            }
            Connectivity::AllToAll => (
                k.counts[0] - (a == 0 && *own != 0) as u32,
                k.counts[1] - (a == 1 && *own != 0) as u32,
            ),
        };
        let first = [
            words[0][lane],
            words[1][lane],
            words[2][lane],
            words[3][lane],
        ];
        let mut s = Stream::with_first_block(ml::ext_counter(i, k.t, k.replica), c.key, first);
        let (next, outcome) = ml::step_neuron_with(c, a, &mut s, *x, rec_e, rec_i);
        *x = next;
        *own = outcome.spike.is_some() as u8;
        if let Some(off) = outcome.spike {
            out.spikes.push((i, off));
            out.counts[a] += 1;
        }
        if let Some(h) = out.vhist.as_mut()
            && next.refractory <= 0.0
            && let Some(b) = LifRecording::vhist_bin(k.vrange, k.vbins, next.v)
        {
            h[a][b] += 1;
        }
    }
    out
}

#[derive(Default)]
struct ChunkOut {
    spikes: Vec<(u32, f32)>,
    counts: [u32; 2],
    vhist: Option<[Vec<u64>; 2]>,
}

impl LifCpu {
    pub fn new(s: &LifSetup, replica: u32) -> Self {
        let c = LifConsts::new(s);
        let n = s.n() as usize;
        let t0 = std::time::Instant::now();
        let csr = (s.config.connectivity == Connectivity::FixedIndegree)
            .then(|| conn::build_csr(s, replica));
        let build_seconds = t0.elapsed().as_secs_f64();
        let state = (0..n as u32)
            .into_par_iter()
            .map(|i| ml::initial_state(&c, &s.config.v0, i, replica))
            .collect();
        let slots = s.delay_slots;
        LifCpu {
            s: s.clone(),
            c,
            replica,
            state,
            acc: if csr.is_some() {
                vec![0; n * slots as usize * 2]
            } else {
                Vec::new()
            },
            csr,
            slots,
            spikes: Vec::new(),
            spiked: vec![0; n],
            spike_counts: [0; 2],
            t: 0,
            rec: LifRecording::new(s),
            isa: Isa::detect(),
            build_seconds,
        }
    }

    pub fn csr(&self) -> Option<&Csr> {
        self.csr.as_ref()
    }

    /// One step: update every neuron, then deliver the spikes.
    fn step(&mut self) {
        let n = self.s.n() as usize;
        let (c, t, replica) = (self.c, self.t, self.replica);
        let slots = self.slots as usize;
        let slot_now = t as usize % slots;
        let connectivity = self.s.config.connectivity;
        let k = [self.s.k_e, self.s.k_i];
        let counts = self.spike_counts;
        let warm = self.s.warmup_steps;
        let recording = t as u64 >= warm;
        let r = &self.s.config.record;
        let sample_v = recording && (t as u64 - warm).is_multiple_of(r.vhist_every as u64);
        let (vrange, vbins) = (r.vhist_range, r.vhist_bins as usize);
        let acc_stride = slots * 2;
        let has_acc = !self.acc.is_empty();
        let acc_chunks: Vec<&mut [u32]> = if has_acc {
            self.acc.chunks_mut(CHUNK * acc_stride).collect()
        } else {
            (0..n.div_ceil(CHUNK))
                .map(|_| <&mut [u32]>::default())
                .collect()
        };
        let k_args = ChunkArgs {
            c: &c,
            t,
            replica,
            connectivity,
            k,
            counts,
            slot_now,
            acc_stride,
            sample_v,
            vrange,
            vbins,
        };
        let isa = self.isa;
        let outs: Vec<ChunkOut> = self
            .state
            .par_chunks_mut(CHUNK)
            .zip(self.spiked.par_chunks_mut(CHUNK))
            .zip(acc_chunks)
            .enumerate()
            .map(|(ci, ((st, sp), acc))| {
                neuron_chunk(isa, &k_args, (ci * CHUNK) as u32, st, sp, acc)
            })
            .collect();
        let mut spikes = std::mem::take(&mut self.spikes);
        spikes.clear();
        let mut counts = [0u32; 2];
        for o in &outs {
            spikes.extend_from_slice(&o.spikes);
            counts[0] += o.counts[0];
            counts[1] += o.counts[1];
            if let Some(h) = &o.vhist {
                for a in 0..2 {
                    for (d, s) in self.rec.vhist[a].iter_mut().zip(&h[a]) {
                        *d += s;
                    }
                }
            }
        }
        if let Some(csr) = &self.csr {
            deliver(csr, &spikes, self.s.n_e, &mut self.acc, slots, t as usize);
        }
        if recording {
            self.rec.record_step(t as u64 - warm, &spikes);
        }
        self.spikes = spikes;
        self.spike_counts = counts;
        self.t += 1;
    }
}

/// Pushes each spike of step t to its targets' counters at slot (t + delay) % slots. The
/// targets are split into ranges handled in parallel; each range scans every spiking row
/// from the first target in range (rows are sorted by target).
fn deliver(csr: &Csr, spikes: &[(u32, f32)], n_e: u32, acc: &mut [u32], slots: usize, t: usize) {
    if spikes.is_empty() {
        return;
    }
    const RANGE: usize = 2048;
    let stride = slots * 2;
    acc.par_chunks_mut(RANGE * stride)
        .enumerate()
        .for_each(|(ri, part)| {
            let lo = (ri * RANGE) as u32;
            let hi = lo + (part.len() / stride) as u32;
            for &(j, _) in spikes {
                let kind = (j >= n_e) as usize;
                let row = csr.row(j);
                let start = row.partition_point(|&w| (w & TARGET_MASK) < lo);
                for &w in &row[start..] {
                    let target = w & TARGET_MASK;
                    if target >= hi {
                        break;
                    }
                    let slot = (t + (w >> TARGET_BITS) as usize) % slots;
                    part[(target - lo) as usize * stride + slot * 2 + kind] += 1;
                }
            }
        });
}

impl LifBackend for LifCpu {
    fn name(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }

    fn advance(&mut self, steps: u32) -> anyhow::Result<()> {
        for _ in 0..steps {
            self.step();
        }
        Ok(())
    }

    fn steps_done(&self) -> u64 {
        self.t as u64
    }

    fn recording(&mut self) -> anyhow::Result<LifRecording> {
        Ok(self.rec.clone())
    }

    fn synapses(&self) -> Option<(u64, f64)> {
        self.csr
            .as_ref()
            .map(|c| (c.synapses.len() as u64, c.bytes_per_synapse()))
    }

    fn build_seconds(&self) -> f64 {
        self.build_seconds
    }
}
