//! The CPU reference backend for model H: plain Rust over the per-neuron step functions of
//! `model::hydro`, parallel over fixed chunks of neurons with rayon. Chunk partial sums are
//! combined in chunk order, so results do not depend on the thread count.

use super::backend::HydroBackend;
use crate::device::isa::{Isa, multiversion};
use crate::hydro::config::Coupling;
use crate::hydro::lanes::{self, BLOCK};
use crate::hydro::record::{PowerSums, RecordSample};
use crate::hydro::step::{self, HydroConsts, StepTables};
use crate::rng::{LANES, PhiloxLanes};
use rayon::prelude::*;

/// Neurons per parallel work item.
pub const CPU_CHUNK: usize = 8192;

pub struct HydroCpu {
    c: HydroConsts,
    replica: u32,
    /// x of E neurons then I neurons (global index k + a n).
    x: Vec<f32>,
    /// `shared` mode: this step's spike of each neuron.
    spikes: Vec<u8>,
    /// Steps completed.
    t: u32,
    /// Lambda_b = sum f_b(x_j) over population b, for the current state.
    lambda: [f64; 2],
    /// `shared` mode: this step's spike count per population.
    spike_count: [u32; 2],
    shift: [f64; 2],
    isa: Isa,
    /// This step's Poisson tables (`independent`), rebuilt in place every step.
    tables: Option<Box<StepTables>>,
}

#[derive(Default, Clone, Copy)]
struct ChunkSums {
    lambda: f64,
    spikes: u32,
    sums: PowerSums,
}

/// Chunk partials combined in chunk order (independent of the thread count).
fn combine(parts: &[ChunkSums]) -> ChunkSums {
    let mut s = ChunkSums::default();
    for p in parts {
        s.lambda += p.lambda;
        s.spikes += p.spikes;
        s.sums.merge(&p.sums);
    }
    s
}

impl HydroCpu {
    /// x(0) ~ N(x0_mean, x0_sd²) from the HYDRO_INIT stream; `shift` is where the first
    /// record's power sums are centred (each later record's on its predecessor's mean).
    pub fn new(c: HydroConsts, replica: u32, shift: [f64; 2]) -> Self {
        Self::with_isa(c, replica, shift, Isa::detect())
    }

    /// As `new`, with the kernels' instruction-set level given (every level gives the same
    /// numbers; tests compare them).
    pub fn with_isa(c: HydroConsts, replica: u32, shift: [f64; 2], isa: Isa) -> Self {
        let n = c.n as usize;
        let x: Vec<f32> = (0..2 * n)
            .into_par_iter()
            .map(|g| c.initial_x(g / n, g as u32, replica))
            .collect();
        let mut e = HydroCpu {
            c,
            replica,
            x,
            spikes: Vec::new(),
            t: 0,
            lambda: [0.0; 2],
            spike_count: [0; 2],
            shift,
            isa,
            tables: None,
        };
        if c.coupling == Coupling::Shared {
            e.spikes = vec![0; 2 * n];
        }
        let s = e.reduce_current(true);
        e.lambda = [s[0].lambda, s[1].lambda];
        e
    }

    /// The record of the current state from its sums; the next record's sums are centred on
    /// its mean (as the GPU's finalize does).
    fn take_record(&mut self, s: [ChunkSums; 2]) -> RecordSample {
        let r = RecordSample {
            step: self.t as u64,
            sums: [s[0].sums, s[1].sums],
            lambda: [s[0].lambda, s[1].lambda],
            shift: self.shift,
        };
        for a in 0..2 {
            if let Some(m) = r.mean(a) {
                self.shift[a] = m;
            }
        }
        r
    }

    /// Lambda (and, in shared mode, this step's spikes) of the current state.
    fn reduce_current(&mut self, draw_spikes: bool) -> [ChunkSums; 2] {
        let n = self.c.n as usize;
        let c = self.c;
        let (t, replica, shift) = (self.t, self.replica, self.shift);
        let shared = c.coupling == Coupling::Shared;
        let mut out = [ChunkSums::default(); 2];
        for (a, o) in out.iter_mut().enumerate() {
            let xs = &self.x[a * n..(a + 1) * n];
            let parts: Vec<ChunkSums> = if shared && draw_spikes {
                let sp = &mut self.spikes[a * n..(a + 1) * n];
                xs.par_chunks(CPU_CHUNK)
                    .zip(sp.par_chunks_mut(CPU_CHUNK))
                    .enumerate()
                    .map(|(ci, (xc, sc))| {
                        let mut s = ChunkSums::default();
                        for (i, (&x, sk)) in xc.iter().zip(sc.iter_mut()).enumerate() {
                            let k = (ci * CPU_CHUNK + i) as u32;
                            s.lambda += c.rate_fn(a, x) as f64;
                            s.sums.add(x as f64 - shift[a]);
                            *sk = step::spikes_shared(&c, a, k, x, t, replica) as u8;
                            s.spikes += *sk as u32;
                        }
                        s
                    })
                    .collect()
            } else {
                xs.par_chunks(CPU_CHUNK)
                    .map(|xc| {
                        let mut s = ChunkSums::default();
                        for &x in xc {
                            s.lambda += c.rate_fn(a, x) as f64;
                            s.sums.add(x as f64 - shift[a]);
                        }
                        s
                    })
                    .collect()
            };
            *o = combine(&parts);
            if shared && draw_spikes {
                self.spike_count[a] = o.spikes;
            }
        }
        out
    }

    /// One step x(t) -> x(t+1); returns the population sums of the new state.
    fn step(&mut self, record: bool) -> [ChunkSums; 2] {
        let n = self.c.n as usize;
        let c = self.c;
        let (t, replica, isa) = (self.t, self.replica, self.isa);
        let mut out = [ChunkSums::default(); 2];
        let shift = self.shift;
        let args = |a: usize| StepArgs {
            c: &c,
            a,
            t,
            replica,
            shift: shift[a],
            record,
        };
        match c.coupling {
            Coupling::Independent => {
                let tables = self
                    .tables
                    .get_or_insert_with(|| Box::new(StepTables::build(&c, self.lambda)));
                tables.rebuild(&c, self.lambda);
                let tables: &StepTables = tables;
                for (a, o) in out.iter_mut().enumerate() {
                    let k = args(a);
                    let xs = &mut self.x[a * n..(a + 1) * n];
                    let parts: Vec<ChunkSums> = xs
                        .par_chunks_mut(CPU_CHUNK)
                        .enumerate()
                        .map(|(ci, xc)| {
                            independent_chunk(isa, &k, (ci * CPU_CHUNK) as u32, xc, tables)
                        })
                        .collect();
                    *o = combine(&parts);
                }
            }
            Coupling::Shared => {
                let counts = self.spike_count;
                for (a, o) in out.iter_mut().enumerate() {
                    let k = args(a);
                    let xs = &mut self.x[a * n..(a + 1) * n];
                    let sp = &mut self.spikes[a * n..(a + 1) * n];
                    let parts: Vec<ChunkSums> = xs
                        .par_chunks_mut(CPU_CHUNK)
                        .zip(sp.par_chunks_mut(CPU_CHUNK))
                        .enumerate()
                        .map(|(ci, (xc, sc))| {
                            shared_chunk(isa, &k, (ci * CPU_CHUNK) as u32, xc, sc, counts)
                        })
                        .collect();
                    *o = combine(&parts);
                    self.spike_count[a] = o.spikes;
                }
            }
            Coupling::Pairwise => {
                let lambda: Vec<f32> = self
                    .x
                    .iter()
                    .enumerate()
                    .map(|(g, &x)| c.rate_fn(g / n, x) * c.dt)
                    .collect();
                let p0: Vec<f32> = lambda.iter().map(|l| (-l).exp()).collect();
                let old = self.x.clone();
                self.x.par_iter_mut().enumerate().for_each(|(g, x)| {
                    let a = g / n;
                    let k = step::pairwise_counts(&c, g as u32, t, replica, &lambda, &p0);
                    *x = c.relax(a, old[g])
                        + (c.jump[a][0] * k[0] as f32 - c.jump[a][1] * k[1] as f32);
                });
                for (a, o) in out.iter_mut().enumerate() {
                    for &x in &self.x[a * n..(a + 1) * n] {
                        o.lambda += c.rate_fn(a, x) as f64;
                        if record {
                            o.sums.add(x as f64 - self.shift[a]);
                        }
                    }
                }
            }
        }
        self.t += 1;
        self.lambda = [out[0].lambda, out[1].lambda];
        out
    }
}

impl HydroBackend for HydroCpu {
    fn set_drive(&mut self, drive: [f32; 2]) {
        self.c.drive = drive;
    }

    fn name(&self) -> String {
        format!(
            "cpu ({} threads, {})",
            rayon::current_num_threads(),
            self.isa.name()
        )
    }

    fn initial_record(&mut self) -> anyhow::Result<RecordSample> {
        let s = self.reduce_current(false);
        Ok(self.take_record(s))
    }

    fn advance(&mut self, steps: u32, record_every: u32) -> anyhow::Result<Vec<RecordSample>> {
        let mut out = Vec::new();
        // On a pool thread, as `LifCpu::advance` (about 10 % at n = 1e6 on 2 cores).
        rayon::scope(|_| {
            for _ in 0..steps {
                let record = (self.t + 1).is_multiple_of(record_every);
                let s = self.step(record);
                if record {
                    out.push(self.take_record(s));
                }
            }
        });
        Ok(out)
    }

    fn state(&mut self) -> anyhow::Result<Vec<f32>> {
        Ok(self.x.clone())
    }

    fn snapshot(&mut self) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let scalars: [u64; 7] = [
            self.t as u64,
            self.lambda[0].to_bits(),
            self.lambda[1].to_bits(),
            self.spike_count[0] as u64,
            self.spike_count[1] as u64,
            self.shift[0].to_bits(),
            self.shift[1].to_bits(),
        ];
        Ok(vec![
            (
                "cpu_scalars".into(),
                bytemuck::cast_slice(&scalars).to_vec(),
            ),
            ("x".into(), bytemuck::cast_slice(&self.x).to_vec()),
            ("spikes".into(), self.spikes.clone()),
        ])
    }

    fn restore(&mut self, blobs: &[(String, Vec<u8>)]) -> anyhow::Result<()> {
        let s: Vec<u64> =
            bytemuck::pod_collect_to_vec(crate::io::checkpoint::blob(blobs, "cpu_scalars")?);
        let x: Vec<f32> = bytemuck::pod_collect_to_vec(crate::io::checkpoint::blob(blobs, "x")?);
        let spikes = crate::io::checkpoint::blob(blobs, "spikes")?.to_vec();
        anyhow::ensure!(
            s.len() == 7 && x.len() == self.x.len() && spikes.len() == self.spikes.len(),
            "checkpoint does not fit this network (state of {} neurons, checkpoint {})",
            self.x.len(),
            x.len()
        );
        self.t = s[0] as u32;
        self.lambda = [f64::from_bits(s[1]), f64::from_bits(s[2])];
        self.spike_count = [s[3] as u32, s[4] as u32];
        self.shift = [f64::from_bits(s[5]), f64::from_bits(s[6])];
        self.x = x;
        self.spikes = spikes;
        Ok(())
    }
}

/// What a chunk kernel needs besides its neurons.
struct StepArgs<'a> {
    c: &'a HydroConsts,
    a: usize,
    t: u32,
    replica: u32,
    shift: f64,
    record: bool,
}

multiversion!(independent_chunk => independent_chunk_body(
    k: &StepArgs,
    k0: u32,
    xs: &mut [f32],
    tables: &StepTables
) -> ChunkSums);

multiversion!(shared_chunk => shared_chunk_body(
    k: &StepArgs,
    k0: u32,
    xs: &mut [f32],
    spikes: &mut [u8],
    counts: [u32; 2]
) -> ChunkSums);

/// Power sums of a chunk's new state, on record steps only.
#[inline(always)]
fn record_sums(k: &StepArgs, xs: &[f32], s: &mut ChunkSums) {
    if k.record {
        for &x in xs {
            s.sums.add(x as f64 - k.shift);
        }
    }
}

/// `independent` mode over neurons k0 .. k0 + xs.len() of population k.a (k0 a multiple of
/// BLOCK): BLOCK at a time, the remainder one by one. Lambda is summed per quad lane, then
/// over lanes in order.
#[inline(always)]
fn independent_chunk_body(
    p: impl PhiloxLanes,
    k: &StepArgs,
    k0: u32,
    xs: &mut [f32],
    tables: &StepTables,
) -> ChunkSums {
    let (c, a, t, replica) = (k.c, k.a, k.t, k.replica);
    let mut acc: lanes::RateAcc = [[0f64; 4]; LANES / 4];
    let mut rest = 0f64;
    let mut blocks = xs.chunks_exact_mut(BLOCK);
    let mut kk = k0;
    for blk in blocks.by_ref() {
        let blk: &mut [f32; BLOCK] = blk.try_into().expect("BLOCK-sized block");
        lanes::step_independent_block(p, c, a, kk, blk, t, replica, tables, &mut acc);
        kk += BLOCK as u32;
    }
    for x in blocks.into_remainder() {
        *x = step::step_independent(c, a, kk, *x, t, replica, tables);
        rest += c.rate_fn(a, *x) as f64;
        kk += 1;
    }
    let mut s = ChunkSums {
        lambda: lanes::rate_acc_in_order(&acc).iter().sum::<f64>() + rest,
        ..ChunkSums::default()
    };
    record_sums(k, xs, &mut s);
    s
}

/// `shared` mode over neurons k0 .. k0 + xs.len() of population k.a (k0 a multiple of
/// BLOCK): BLOCK at a time, the remainder one by one.
#[inline(always)]
fn shared_chunk_body(
    p: impl PhiloxLanes,
    k: &StepArgs,
    k0: u32,
    xs: &mut [f32],
    spikes: &mut [u8],
    counts: [u32; 2],
) -> ChunkSums {
    let (c, a, t, replica) = (k.c, k.a, k.t, k.replica);
    let mut s = ChunkSums::default();
    let mut acc = [0f64; LANES];
    let mut rest = 0f64;
    let body = xs.len() / BLOCK * BLOCK;
    let mut kk = k0;
    for (xb, sb) in xs[..body]
        .chunks_exact_mut(BLOCK)
        .zip(spikes[..body].chunks_exact_mut(BLOCK))
    {
        let xb: &mut [f32; BLOCK] = xb.try_into().expect("block");
        let sb: &mut [u8; BLOCK] = sb.try_into().expect("block");
        s.spikes += lanes::step_shared_block(p, c, a, kk, xb, sb, t, replica, counts, &mut acc);
        kk += BLOCK as u32;
    }
    for i in body..xs.len() {
        let xn = step::step_shared(c, a, xs[i], spikes[i] != 0, counts);
        xs[i] = xn;
        let fired = step::spikes_shared(c, a, kk, xn, t + 1, replica);
        spikes[i] = fired as u8;
        rest += c.rate_fn(a, xn) as f64;
        s.spikes += fired as u32;
        kk += 1;
    }
    s.lambda = acc.iter().sum::<f64>() + rest;
    record_sums(k, xs, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{CpuDevice, Device};
    use crate::hydro::config::HydroConfig;
    use crate::hydro::sim::Simulation;
    use crate::progress::Quiet;

    /// The final state's bits and every record of a run of `cfg` on `cpu`.
    fn bits(cfg: &HydroConfig, cpu: CpuDevice) -> (Vec<u32>, Vec<RecordSample>) {
        let s = cfg.clone().validate(true).expect("valid");
        let mut sim = Simulation::new(s, &Device::Cpu(cpu)).expect("simulation");
        sim.run_to_end(&mut Quiet).expect("run");
        let x = sim.state(0).expect("state");
        (
            x.iter().map(|v| v.to_bits()).collect(),
            sim.records(0).to_vec(),
        )
    }

    /// The thread count does not change a bit: fixed chunks combined in chunk order.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        for coupling in [Coupling::Independent, Coupling::Shared] {
            let cfg = HydroConfig {
                n: 20_000,
                coupling,
                steps: Some(30),
                record_every: 10,
                ..HydroConfig::default()
            };
            let run = |threads: usize| {
                let cpu = CpuDevice::with_isa(Isa::detect())
                    .with_threads(threads)
                    .expect("pool");
                bits(&cfg, cpu)
            };
            let (a, b) = (run(1), run(2));
            assert_eq!(a.0, b.0, "{coupling:?}");
            assert_eq!(a.1.len(), 4);
            assert_eq!(a.1.len(), b.1.len());
            for (p, q) in a.1.iter().zip(&b.1) {
                assert_eq!(p.lambda, q.lambda);
                assert_eq!(p.sums, q.sums);
            }
        }
    }

    /// Every instruction-set level gives bitwise the same trajectory, including the chunk
    /// heads and tails (n = 1003 is neither a multiple of 4 nor of LANES).
    #[test]
    fn every_isa_gives_the_same_bits() {
        for coupling in [Coupling::Independent, Coupling::Shared] {
            let cfg = HydroConfig {
                n: 1003,
                coupling,
                steps: Some(40),
                record_every: 10,
                replica: 3,
                ..HydroConfig::default()
            };
            let runs: Vec<(Vec<u32>, Vec<RecordSample>)> = Isa::available_as_required()
                .expect("BALNET_REQUIRE_ISA")
                .into_iter()
                .map(|isa| bits(&cfg, CpuDevice::with_isa(isa)))
                .collect();
            assert!(!runs.is_empty());
            for r in &runs[1..] {
                assert_eq!(r.0, runs[0].0, "{coupling:?}");
                assert_eq!(r.1.len(), runs[0].1.len());
                for (p, q) in r.1.iter().zip(&runs[0].1) {
                    assert_eq!(p.step, q.step);
                    assert_eq!(p.lambda.map(f64::to_bits), q.lambda.map(f64::to_bits));
                    assert_eq!(p.shift.map(f64::to_bits), q.shift.map(f64::to_bits));
                    // Every population's power sums, every order, to the bit.
                    for (a, b) in p.sums.iter().zip(&q.sums) {
                        let bits = |s: &crate::hydro::record::PowerSums| {
                            [s.count, s.s1, s.s2, s.s3, s.s4].map(f64::to_bits)
                        };
                        assert_eq!(bits(a), bits(b), "{coupling:?} step {}", p.step);
                    }
                }
            }
            println!("{coupling:?}: {} levels agree", runs.len());
        }
    }
}
