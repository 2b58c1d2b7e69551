//! The CPU reference backend for model L: per step, every neuron advanced by
//! `model::lif::step_neuron` (rayon over fixed chunks), then the step's spikes pushed through
//! the CSR to the targets' input counters in a ring buffer indexed by delay (rayon over
//! disjoint target ranges, so the integer sums are deterministic).

use super::backend::LifBackend;
use crate::device::isa::{Isa, multiversion};
use crate::lif::config::Integrator;
use crate::lif::config::{Connectivity, LifSetup};
use crate::lif::connectivity::{self, Csr, TARGET_BITS, TARGET_MASK};
use crate::lif::lanes;
use crate::lif::record::{LifRecording, SpikeChunk};
use crate::lif::step::{self, LifConsts, NeuronState};
use crate::rng::{LANES, PhiloxLanes, Stream};
use rayon::prelude::*;

/// Neurons per parallel work item.
const CHUNK: usize = 2048;

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
    /// `record.spikes`' ranges of global ids, and the selected spikes since `clear_spikes`.
    spike_ranges: Option<[[u32; 2]; 2]>,
    spike_chunk: SpikeChunk,
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
    acc: &mut [u32],
    prev: Option<(&Csr, &[(u32, f32)])>
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
    prev: Option<(&Csr, &[(u32, f32)])>,
) -> ChunkOut {
    let c = k.c;
    // Last step's spikes reach this chunk's counters first (delay >= 1 step), in the same
    // parallel pass, while the counters are about to be read.
    if let Some((csr, spikes)) = prev
        && k.t > 0
    {
        deliver_range(
            csr,
            spikes,
            c.n_e,
            acc,
            k.acc_stride / 2,
            k.t as usize - 1,
            i0,
        );
    }
    let mut out = ChunkOut::default();
    if k.sample_v {
        out.vhist = Some([vec![0; k.vbins], vec![0; k.vbins]]);
    }
    let len = st.len();
    let lanes = lane_integrator_applies(c);
    let mut k_local = 0;
    while k_local < len {
        let i = i0 + k_local as u32;
        let whole_block = k_local + LANES <= len && (i + LANES as u32 <= c.n_e || i >= c.n_e);
        if whole_block {
            let words = block_ext_words(&p, k, i);
            let mut block = Block {
                i,
                k_local,
                rec_e: [0; LANES],
                rec_i: [0; LANES],
            };
            block_inputs(k, i0, &mut block, spiked, acc);
            if lanes {
                step_block_lanes(k, &block, &words, st, spiked, &mut out);
            } else {
                step_block_streams(k, &block, &words, st, spiked, &mut out);
            }
            k_local += LANES;
        } else {
            let a = c.population(i);
            let (rec_e, rec_i) = recurrent_inputs(k, i0, k_local, spiked[k_local] != 0, acc);
            let (next, o) = step::step_neuron(c, a, i, k.t, k.replica, st[k_local], rec_e, rec_i);
            st[k_local] = next;
            record_neuron(k, i, next, o.spike, &mut spiked[k_local], &mut out);
            k_local += 1;
        }
    }
    out
}

/// LANES neurons of one population, from global id `i` (local index `k_local`), with their
/// recurrent inputs this step.
struct Block {
    i: u32,
    k_local: usize,
    rec_e: [u32; LANES],
    rec_i: [u32; LANES],
}

/// Whether a block steps through the lane kernels: always for `precise`, for `lumped` where
/// `lumped_lanes_apply` holds.
#[inline(always)]
fn lane_integrator_applies(c: &LifConsts) -> bool {
    c.integrator == Integrator::Precise || lanes::lumped_lanes_apply(c)
}

/// The first Philox block of the external streams of neurons i .. i + LANES.
#[inline(always)]
fn block_ext_words(p: &impl PhiloxLanes, k: &ChunkArgs, i: u32) -> [[u32; LANES]; 4] {
    let mut ctr = [[0u32; LANES]; 4];
    for l in 0..LANES {
        let cl = step::ext_counter(i + l as u32, k.t, k.replica);
        for w in 0..4 {
            ctr[w][l] = cl[w];
        }
    }
    p.philox(ctr, k.c.key)
}

/// This step's recurrent input of neuron i0 + k_local (`own`: it spiked last step); clears
/// its counters.
#[inline(always)]
fn recurrent_inputs(
    k: &ChunkArgs,
    i0: u32,
    k_local: usize,
    own: bool,
    acc: &mut [u32],
) -> (u32, u32) {
    let i = i0 + k_local as u32;
    let a = k.c.population(i);
    match k.connectivity {
        Connectivity::FixedIndegree => take_counts(acc, k_local * k.acc_stride + k.slot_now * 2),
        Connectivity::Annealed => step::annealed_inputs(k.c, i, k.t, k.replica, k.k, k.counts, own),
        Connectivity::AllToAll => (
            k.counts[0] - (a == 0 && own) as u32,
            k.counts[1] - (a == 1 && own) as u32,
        ),
    }
}

/// The block's recurrent inputs (E and I counts per lane), into `b`; clears them.
#[inline(always)]
fn block_inputs(k: &ChunkArgs, i0: u32, b: &mut Block, spiked: &[u8], acc: &mut [u32]) {
    let (k_local, rec_e, rec_i) = (b.k_local, &mut b.rec_e, &mut b.rec_i);
    if k.connectivity == Connectivity::FixedIndegree {
        // The common case, without the per-neuron dispatch: the block's counters as one
        // slice (one bounds check), each neuron's slot pair taken and cleared.
        let blk = &mut acc[k_local * k.acc_stride..(k_local + LANES) * k.acc_stride];
        for (l, cell) in blk.chunks_exact_mut(k.acc_stride).enumerate() {
            let pair = &mut cell[k.slot_now * 2..k.slot_now * 2 + 2];
            (rec_e[l], rec_i[l]) = (pair[0], pair[1]);
            pair.fill(0);
        }
    } else {
        for l in 0..LANES {
            (rec_e[l], rec_i[l]) =
                recurrent_inputs(k, i0, k_local + l, spiked[k_local + l] != 0, acc);
        }
    }
}

/// Steps a block through the lane kernels (`lumped` or `precise`).
#[inline(always)]
fn step_block_lanes(
    k: &ChunkArgs,
    b: &Block,
    words: &[[u32; LANES]; 4],
    st: &mut [NeuronState],
    spiked: &mut [u8],
    out: &mut ChunkOut,
) {
    let (c, i, k_local) = (k.c, b.i, b.k_local);
    let a = c.population(i);
    let block: &[NeuronState; LANES] = st[k_local..k_local + LANES].try_into().expect("block");
    let (rec_e, rec_i) = (&b.rec_e, &b.rec_i);
    let r = if c.integrator != Integrator::Precise {
        lanes::step_lumped_lanes(c, a, block, rec_e, rec_i, &words[0])
    } else if c.short_leaks(a) {
        lanes::step_precise_lanes::<true>(c, a, i, k.t, k.replica, block, rec_e, rec_i, words)
    } else {
        lanes::step_precise_lanes::<false>(c, a, i, k.t, k.replica, block, rec_e, rec_i, words)
    };
    // Spike flags and state in separate loops, so that the flags vectorise.
    let flags = &mut spiked[k_local..k_local + LANES];
    let mut fired = 0u32;
    for (f, x) in flags.iter_mut().zip(&r.spike) {
        let s = x.is_finite();
        *f = s as u8;
        fired += s as u32;
    }
    for (l, x) in st[k_local..k_local + LANES].iter_mut().enumerate() {
        *x = r.state(l);
    }
    if fired > 0 || out.vhist.is_some() {
        for l in 0..LANES {
            let spike = r.spike[l].is_finite().then_some(r.spike[l]);
            record_neuron(
                k,
                i + l as u32,
                r.state(l),
                spike,
                &mut spiked[k_local + l],
                out,
            );
        }
    }
}

/// Steps a block neuron by neuron, each on its own external stream (whose first block is
/// already drawn): `lumped` where the lane kernel does not apply.
#[inline(always)]
fn step_block_streams(
    k: &ChunkArgs,
    b: &Block,
    words: &[[u32; LANES]; 4],
    st: &mut [NeuronState],
    spiked: &mut [u8],
    out: &mut ChunkOut,
) {
    let (c, i, k_local) = (k.c, b.i, b.k_local);
    let a = c.population(i);
    for l in 0..LANES {
        let first = [words[0][l], words[1][l], words[2][l], words[3][l]];
        let ctr = step::ext_counter(i + l as u32, k.t, k.replica);
        let mut s = Stream::with_first_block(ctr, c.key, first);
        let (next, o) =
            step::step_neuron_with(c, a, &mut s, st[k_local + l], b.rec_e[l], b.rec_i[l]);
        st[k_local + l] = next;
        record_neuron(
            k,
            i + l as u32,
            next,
            o.spike,
            &mut spiked[k_local + l],
            out,
        );
    }
}

/// Records neuron i's step: its spike flag, the spike (neuron, offset in the step) and the
/// population count, and its V in the histogram when sampled and not refractory.
#[inline(always)]
fn record_neuron(
    k: &ChunkArgs,
    i: u32,
    next: NeuronState,
    spike: Option<f32>,
    own: &mut u8,
    out: &mut ChunkOut,
) {
    let a = k.c.population(i);
    *own = spike.is_some() as u8;
    if let Some(off) = spike {
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

#[derive(Default)]
struct ChunkOut {
    spikes: Vec<(u32, f32)>,
    counts: [u32; 2],
    vhist: Option<[Vec<u64>; 2]>,
}

impl LifCpu {
    /// The network of `s` (replica word `replica`) at the detected instruction-set level.
    pub fn new(s: &LifSetup, replica: u32) -> Self {
        Self::with_isa(s, replica, Isa::detect())
    }

    /// As `new`, with the kernels' instruction-set level given (every level gives the same
    /// bits).
    pub fn with_isa(s: &LifSetup, replica: u32, isa: Isa) -> Self {
        let c = LifConsts::new(s);
        let n = s.n() as usize;
        let t0 = std::time::Instant::now();
        let csr = (s.config.connectivity == Connectivity::FixedIndegree)
            .then(|| connectivity::build_csr_with(s, replica, isa));
        let build_seconds = t0.elapsed().as_secs_f64();
        let state = (0..n as u32)
            .into_par_iter()
            .map(|i| step::initial_state(&c, &s.config.v0, i, replica))
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
            spike_ranges: s.spike_ranges(),
            spike_chunk: SpikeChunk::default(),
            isa,
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
        let prev_spikes = std::mem::take(&mut self.spikes);
        let prev = self.csr.as_ref().map(|csr| (csr, &prev_spikes[..]));
        let outs: Vec<ChunkOut> = self
            .state
            .par_chunks_mut(CHUNK)
            .zip(self.spiked.par_chunks_mut(CHUNK))
            .zip(acc_chunks)
            .enumerate()
            .map(|(ci, ((st, sp), acc))| {
                neuron_chunk(isa, &k_args, (ci * CHUNK) as u32, st, sp, acc, prev)
            })
            .collect();
        let mut spikes = prev_spikes;
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
        if recording {
            let k = t as u64 - warm;
            self.rec.record_step(k, &spikes);
            if let Some(r) = &self.spike_ranges {
                // `spikes` is in neuron order (the chunks in order, each in order).
                for &(i, _) in &spikes {
                    if LifSetup::in_spike_ranges(r, i) {
                        self.spike_chunk.push(k as u32, i);
                    }
                }
            }
        }
        self.spikes = spikes;
        self.spike_counts = counts;
        self.t += 1;
    }
}

/// The (E, I) input counters at `o` (this step's slot of one neuron), cleared for reuse.
#[inline(always)]
fn take_counts(acc: &mut [u32], o: usize) -> (u32, u32) {
    let v = (acc[o], acc[o + 1]);
    acc[o] = 0;
    acc[o + 1] = 0;
    v
}

/// Pushes each spike of step t (emitted during it) to the counters of the targets in
/// [lo, lo + part.len() / stride) at slot (t + delay) % slots; rows are sorted by target, so
/// each row is entered at the first target in range. Never inlined (it is scalar code at every
/// instruction-set level), so that profiles count delivery apart from the neuron update.
#[inline(never)]
fn deliver_range(
    csr: &Csr,
    spikes: &[(u32, f32)],
    n_e: u32,
    part: &mut [u32],
    slots: usize,
    t: usize,
    lo: u32,
) {
    let stride = slots * 2;
    let hi = lo + (part.len() / stride) as u32;
    let n = (csr.offsets.len() - 1) as f64;
    let frac = [lo as f64 / n, hi as f64 / n];
    // off[delay] = the counter's offset within a target's stride: slot (t + delay) % slots
    // (1 <= delay < slots; the entries past slots are never read).
    let t_slot = t % slots;
    let mut off = [0u32; 1 << (32 - TARGET_BITS)];
    for (d, o) in off.iter_mut().enumerate().take(slots) {
        *o = (((t_slot + d) % slots) * 2) as u32;
    }
    for (s, &(j, _)) in spikes.iter().enumerate() {
        // The piece of the row PREFETCH_AHEAD spikes on is requested now: the pieces are a
        // few cache lines each, in rows scattered over the CSR, too short for the hardware
        // prefetcher.
        if let Some(&(ahead, _)) = spikes.get(s + PREFETCH_AHEAD) {
            let row = csr.row(ahead);
            let a = (row.len() as f64 * frac[0]) as usize;
            let b = ((row.len() as f64 * frac[1]) as usize).min(row.len());
            for k in (a..b).step_by(16) {
                prefetch(&row[k]);
            }
        }
        let kind = (j >= n_e) as usize;
        let row = csr.row(j);
        let range = row_range(row, [lo, hi], frac);
        let part = &mut part[kind..];
        for &w in &row[range] {
            let target = (w & TARGET_MASK) - lo;
            part[target as usize * stride + off[(w >> TARGET_BITS) as usize] as usize] += 1;
        }
    }
}

/// Spikes ahead whose row pieces `deliver_range` requests from memory.
const PREFETCH_AHEAD: usize = 4;

/// Asks for the cache line holding `x` (a hint: it never faults, and does nothing on other
/// architectures).
#[inline(always)]
fn prefetch(x: &u32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE (part of x86-64) is all the instruction needs; a prefetch reads nothing the
    // program sees.
    unsafe {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((x as *const u32).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// The entries of a sorted row whose targets are in [b[0], b[1]); `frac[k]` is b[k] / n.
/// Targets are spread evenly over [0, n): each bound starts from its proportional position
/// (a multiply, where the exact quotient would be a 64-bit division per row and bound) and
/// walks to the first target >= it: a few entries, one or two cache lines, where a binary
/// search would miss the cache at every probe.
#[inline(always)]
fn row_range(row: &[u32], b: [u32; 2], frac: [f64; 2]) -> std::ops::Range<usize> {
    let first_at_least = |k: usize, from: usize| {
        let b = b[k];
        let guess = (row.len() as f64 * frac[k]) as usize;
        let mut i = guess.clamp(from, row.len());
        while i > from && (row[i - 1] & TARGET_MASK) >= b {
            i -= 1;
        }
        while i < row.len() && (row[i] & TARGET_MASK) < b {
            i += 1;
        }
        i
    };
    let start = first_at_least(0, 0);
    start..first_at_least(1, start)
}

impl LifBackend for LifCpu {
    fn set_drive(&mut self, s: &LifSetup) -> anyhow::Result<()> {
        self.c = LifConsts::new(s);
        self.s = s.clone();
        Ok(())
    }

    fn name(&self) -> String {
        format!(
            "cpu ({} threads, {})",
            rayon::current_num_threads(),
            self.isa.name()
        )
    }

    fn advance(&mut self, steps: u32) -> anyhow::Result<()> {
        // On a pool thread (the caller is usually outside the pool), so that each step's
        // parallel pass starts and joins among the pool's threads instead of waking the pool
        // from the caller's thread and back every step (5-10 % of a step at N = 2e4 on 2
        // cores).
        rayon::scope(|_| {
            for _ in 0..steps {
                self.step();
            }
        });
        Ok(())
    }

    fn steps_done(&self) -> u64 {
        self.t as u64
    }

    fn recording(&mut self) -> anyhow::Result<LifRecording> {
        Ok(self.rec.clone())
    }

    fn host_recording(&self) -> &LifRecording {
        &self.rec
    }

    fn spikes(&self) -> &SpikeChunk {
        &self.spike_chunk
    }

    fn clear_spikes(&mut self) {
        self.spike_chunk.clear();
    }

    fn snapshot(&mut self) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        use crate::io::checkpoint::to_blob;
        let scalars = [
            self.t as u64,
            self.spike_counts[0] as u64,
            self.spike_counts[1] as u64,
        ];
        let state: Vec<u32> = self
            .state
            .iter()
            .flat_map(|st| [st.v.to_bits(), st.refractory.to_bits()])
            .collect();
        let spikes: Vec<u32> = self
            .spikes
            .iter()
            .flat_map(|&(i, off)| [i, off.to_bits()])
            .collect();
        let mut out = vec![
            to_blob("cpu_scalars", &scalars),
            to_blob("cpu_state", &state),
            to_blob("cpu_acc", &self.acc),
            to_blob("cpu_spikes", &spikes),
            to_blob("cpu_spiked", &self.spiked),
        ];
        out.extend(self.rec.to_blobs());
        Ok(out)
    }

    fn restore(&mut self, blobs: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
        use crate::io::checkpoint::blob_vec;
        let n = self.state.len();
        let scalars: Vec<u64> = blob_vec(blobs, "cpu_scalars", Some(3))?;
        let state: Vec<u32> = blob_vec(blobs, "cpu_state", Some(2 * n))?;
        let acc: Vec<u32> = blob_vec(blobs, "cpu_acc", Some(self.acc.len()))?;
        let spikes: Vec<u32> = blob_vec(blobs, "cpu_spikes", None)?;
        let spiked: Vec<u8> = blob_vec(blobs, "cpu_spiked", Some(n))?;
        anyhow::ensure!(
            spikes.len().is_multiple_of(2)
                && spikes.len() <= 2 * n
                && scalars[0] <= u32::MAX as u64,
            "checkpoint does not fit this network"
        );
        self.rec.restore_blobs(blobs)?;
        self.t = scalars[0] as u32;
        self.spike_counts = [scalars[1] as u32, scalars[2] as u32];
        self.state = state
            .chunks_exact(2)
            .map(|w| NeuronState {
                v: f32::from_bits(w[0]),
                refractory: f32::from_bits(w[1]),
            })
            .collect();
        self.acc = acc;
        self.spikes = spikes
            .chunks_exact(2)
            .map(|w| (w[0], f32::from_bits(w[1])))
            .collect();
        self.spiked = spiked;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lif::config::{LifConfig, SynapseConfig};

    /// Every instruction-set level gives bitwise the same network: states, spike times and the
    /// input counters after 300 steps, for both integrators (n_e = 1003 leaves partial lane
    /// blocks at the chunk and population ends).
    #[test]
    fn every_isa_gives_the_same_bits() {
        for integrator in [Integrator::Precise, Integrator::Lumped] {
            let s = LifConfig {
                k: 100,
                n_e: Some(1003),
                n_i: Some(1000),
                synapse: SynapseConfig::Conductance { a: 9e-3, g: 20.0 },
                nu_x: 25.0,
                integrator,
                ..LifConfig::default()
            }
            .validate()
            .expect("valid");
            let runs: Vec<_> = Isa::available_as_required()
                .expect("BALNET_REQUIRE_ISA")
                .into_iter()
                .map(|isa| {
                    let mut e = LifCpu::with_isa(&s, 2, isa);
                    e.advance(300).expect("advance");
                    let state: Vec<(u32, u32)> = e
                        .state
                        .iter()
                        .map(|st| (st.v.to_bits(), st.refractory.to_bits()))
                        .collect();
                    let spikes: Vec<(u32, u32)> =
                        e.spikes.iter().map(|&(i, x)| (i, x.to_bits())).collect();
                    (state, spikes, e.acc.clone(), e.spike_counts)
                })
                .collect();
            assert!(runs[0].3[0] + runs[0].3[1] > 0, "the network fires");
            for r in &runs[1..] {
                assert_eq!(r, &runs[0], "{integrator:?}");
            }
        }
    }
}
