//! `fixed_indegree` connectivity of model L: each neuron's presynaptic partners drawn from
//! the counter-based RNG (uniformly without replacement, no self-connection), stored once as
//! CSR by presynaptic neuron for push delivery. A synapse is one u32: target neuron in the low
//! 24 bits, delay in steps in the high 8.

use crate::device::isa::Isa;
use crate::lif::config::{DelayConfig, LifSetup};
use crate::rng::{self, LANES, Purpose, Stream};
use rayon::prelude::*;

pub const TARGET_BITS: u32 = 24;
pub const TARGET_MASK: u32 = (1 << TARGET_BITS) - 1;

/// Synapses stored by presynaptic neuron: the synapses of neuron j are
/// `synapses[offsets[j] .. offsets[j + 1]]`, sorted by target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Csr {
    pub offsets: Vec<u64>,
    pub synapses: Vec<u32>,
}

impl Csr {
    pub fn row(&self, j: u32) -> &[u32] {
        &self.synapses[self.offsets[j as usize] as usize..self.offsets[j as usize + 1] as usize]
    }

    pub fn bytes_per_synapse(&self) -> f64 {
        (self.synapses.len() * 4 + self.offsets.len() * 8) as f64
            / self.synapses.len().max(1) as f64
    }
}

/// The words of neuron i's connectivity draws: Philox at counters (i, block, LIF_CONN,
/// replica) for block = 0, 1, 2, ... (a neuron with K = 1e4 partners needs ~1e4 words, more
/// than a `Stream` holds), LANES blocks at a time at the given instruction-set level (the same
/// words at every level).
pub struct ConnStream {
    i: u32,
    replica: u32,
    key: [u32; 2],
    isa: Isa,
    block: u32,
    buf: [u32; 4 * LANES],
    used: usize,
}

impl ConnStream {
    pub fn new(i: u32, replica: u32, key: [u32; 2], isa: Isa) -> Self {
        ConnStream {
            i,
            replica,
            key,
            isa,
            block: 0,
            buf: [0; 4 * LANES],
            used: 4 * LANES,
        }
    }

    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        if self.used >= self.buf.len() {
            self.refill();
        }
        let w = self.buf[self.used];
        self.used += 1;
        w
    }

    /// The next LANES blocks, in block order.
    #[cold]
    fn refill(&mut self) {
        let mut ctr = [[0u32; LANES]; 4];
        for l in 0..LANES {
            let c = rng::counter(
                self.i,
                self.block.wrapping_add(l as u32),
                Purpose::LifConn.as_u32(),
                self.replica,
            );
            for w in 0..4 {
                ctr[w][l] = c[w];
            }
        }
        let words = self.isa.philox_lanes(ctr, self.key);
        for l in 0..LANES {
            for w in 0..4 {
                self.buf[4 * l + w] = words[w][l];
            }
        }
        self.block = self.block.wrapping_add(LANES as u32);
        self.used = 0;
    }
}

/// Uniform integer in [0, m) without bias (Lemire's multiply-shift with rejection).
#[inline]
pub fn uniform_below(s: &mut ConnStream, m: u32) -> u32 {
    let mut x = s.next_u32();
    let mut p = x as u64 * m as u64;
    let mut low = p as u32;
    if low < m {
        let threshold = m.wrapping_neg() % m;
        while low < threshold {
            x = s.next_u32();
            p = x as u64 * m as u64;
            low = p as u32;
        }
    }
    (p >> 32) as u32
}

/// In-degrees of neuron i from E and I (K and gamma K, or Gaussian with CV_K, rounded and
/// clipped to what the population can give).
pub fn in_degrees(s: &LifSetup, i: u32, st: &mut Stream) -> [u32; 2] {
    let c = &s.config;
    let a = (i >= s.n_e) as usize;
    let avail = [s.n_e - (a == 0) as u32, s.n_i - (a == 1) as u32];
    let mean = [s.k_e as f64, s.k_i as f64];
    std::array::from_fn(|b| {
        let k = if c.cv_k > 0.0 {
            (mean[b] + c.cv_k * mean[b] * rng::normal(st) as f64)
                .round()
                .max(0.0)
        } else {
            mean[b]
        };
        (k as u32).min(avail[b])
    })
}

/// In-degrees (from E, from I) of neuron i: `in_degrees` with its own stream (counter
/// (i, 0, LIF_DEGREE, replica)).
pub fn neuron_degrees(s: &LifSetup, i: u32, replica: u32) -> [u32; 2] {
    let key = rng::seed_key(s.config.seed);
    let mut degree = Stream::new(
        rng::counter(i, 0, Purpose::LifDegree.as_u32(), replica),
        key,
    );
    in_degrees(s, i, &mut degree)
}

/// Delay range in steps, [lo, hi], of synapses from population b.
pub fn delay_range(s: &LifSetup, b: usize) -> (u32, u32) {
    match s.config.delay {
        DelayConfig::OneStep => (1, 1),
        DelayConfig::Uniform { e_ms, i_ms } => {
            let r = if b == 0 { e_ms } else { i_ms };
            let lo = (r[0] / s.config.dt).round().max(1.0) as u32;
            let hi = (r[1] / s.config.dt).round().max(1.0) as u32;
            (lo, hi.max(lo))
        }
    }
}

/// Presynaptic partners of neuron i (global indices) with their delays (steps), appended to
/// `out` as packed synapse words carrying the *presynaptic* index (the CSR build re-packs).
/// Floyd's algorithm: k distinct values from `others` candidates, the neuron itself skipped.
pub fn partners(
    s: &LifSetup,
    i: u32,
    replica: u32,
    isa: Isa,
    out: &mut Vec<(u32, u8)>,
    seen: &mut Vec<u64>,
) {
    let key = rng::seed_key(s.config.seed);
    let k = neuron_degrees(s, i, replica);
    let mut st = ConnStream::new(i, replica, key, isa);
    let a = (i >= s.n_e) as usize;
    let base = [0u32, s.n_e];
    let size = [s.n_e, s.n_i];
    for b in 0..2 {
        let others = size[b] - (a == b) as u32;
        let own = if a == b { i - base[b] } else { u32::MAX };
        let words = (others as usize).div_ceil(64);
        if seen.len() < words {
            seen.resize(words, 0);
        }
        let start = out.len();
        // Floyd: for j in others-k .. others: t = U[0, j]; take t unless taken, else j.
        for j in (others - k[b])..others {
            let t = uniform_below(&mut st, j + 1);
            let pick = if seen[t as usize / 64] >> (t % 64) & 1 == 1 {
                j
            } else {
                t
            };
            seen[pick as usize / 64] |= 1 << (pick % 64);
            // Candidate index -> population index, skipping the neuron itself.
            let local = if pick >= own { pick + 1 } else { pick };
            out.push((base[b] + local, 0));
        }
        for e in &out[start..] {
            let local = e.0 - base[b];
            let cand = if local > own { local - 1 } else { local };
            seen[cand as usize / 64] &= !(1 << (cand % 64));
        }
        let (lo, hi) = delay_range(s, b);
        if hi > lo {
            for e in &mut out[start..] {
                e.1 = (lo + uniform_below(&mut st, hi - lo + 1)) as u8;
            }
        } else {
            for e in &mut out[start..] {
                e.1 = lo as u8;
            }
        }
    }
}

/// Bytes of partner lists one block of the CSR build holds at once (at most; at least 1024
/// neurons' worth).
pub const BUILD_LISTS_BYTES: u64 = 64 << 20;

/// Neurons per block of the CSR build's second pass: as many as keep their partner lists
/// (8 bytes per synapse) within BUILD_LISTS_BYTES, between 1024 and 16384.
fn build_block(s: &LifSetup) -> usize {
    let per_neuron = 8 * (s.k_e + s.k_i).max(1) as u64;
    (BUILD_LISTS_BYTES / per_neuron).clamp(1024, 16 * 1024) as usize
}

/// Host memory of the CSR build besides the CSR itself: the partner lists of a block, the
/// per-thread out-degree counts (4 bytes per neuron each, `threads` of them and the reduction's
/// two), the offsets and fill pointers (16 bytes per neuron).
pub fn build_extra_bytes(s: &LifSetup, threads: usize) -> f64 {
    let n = s.n() as f64;
    let lists = build_block(s) as f64 * 8.0 * (s.k_e + s.k_i).max(1) as f64;
    lists + n * 4.0 * (threads as f64 + 2.0) + n * 16.0
}

/// Builds the CSR: pass 1 counts each presynaptic neuron's out-degree (in parallel), pass 2
/// regenerates the partners and fills the rows in target order (so the result depends only
/// on the seed). Returns the CSR.
pub fn build_csr(s: &LifSetup, replica: u32) -> Csr {
    build_csr_with(s, replica, Isa::detect())
}

/// `build_csr` with the connectivity draws' Philox at instruction-set level `isa` (the same
/// CSR at every level).
pub fn build_csr_with(s: &LifSetup, replica: u32, isa: Isa) -> Csr {
    let n = s.n() as usize;
    const CHUNK: usize = 1024;
    let counts: Vec<u64> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|ci| {
            let mut cnt = vec![0u32; n];
            let mut buf = Vec::new();
            let mut seen = Vec::new();
            for i in ci * CHUNK..((ci + 1) * CHUNK).min(n) {
                buf.clear();
                partners(s, i as u32, replica, isa, &mut buf, &mut seen);
                for &(j, _) in &buf {
                    cnt[j as usize] += 1;
                }
            }
            cnt
        })
        .reduce(
            || vec![0u32; n],
            |mut x, y| {
                for (a, b) in x.iter_mut().zip(y) {
                    *a += b;
                }
                x
            },
        )
        .into_iter()
        .map(|c| c as u64)
        .collect();
    let mut offsets = vec![0u64; n + 1];
    for j in 0..n {
        offsets[j + 1] = offsets[j] + counts[j];
    }
    let total = offsets[n] as usize;
    let mut synapses = vec![0u32; total];
    let mut fill: Vec<u64> = offsets[..n].to_vec();
    // Generate in parallel blocks, fill in target order; a block's partner lists (8 bytes per
    // synapse) stay within BUILD_LISTS_BYTES whatever K is (the order, so the CSR, does not
    // depend on the block size).
    let block = build_block(s);
    for b0 in (0..n).step_by(block) {
        let lists: Vec<Vec<(u32, u8)>> = (b0..(b0 + block).min(n))
            .into_par_iter()
            .map_init(Vec::new, |seen, i| {
                let mut buf = Vec::new();
                partners(s, i as u32, replica, isa, &mut buf, seen);
                buf
            })
            .collect();
        for (k, list) in lists.iter().enumerate() {
            let post = (b0 + k) as u32;
            for &(pre, d) in list {
                let f = &mut fill[pre as usize];
                synapses[*f as usize] = post | (d as u32) << TARGET_BITS;
                *f += 1;
            }
        }
    }
    Csr { offsets, synapses }
}
