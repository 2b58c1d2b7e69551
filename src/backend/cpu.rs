//! The CPU reference backend for model H: plain Rust over the per-neuron step functions of
//! `model::hydro`, parallel over fixed chunks of neurons with rayon. Chunk partial sums are
//! combined in chunk order, so results do not depend on the thread count.

use super::HydroBackend;
use crate::config::Coupling;
use crate::model::hydro::{self as mh, HydroConsts, PoissonTable};
use crate::record::{PowerSums, RecordSample};
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
    /// x(0) ~ N(x0_mean, x0_sd²) from the HYDRO_INIT stream; `shift` is where the power sums
    /// are centred (the theory's mean).
    pub fn new(c: HydroConsts, replica: u32, shift: [f64; 2]) -> Self {
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
        };
        if c.coupling == Coupling::Shared {
            e.spikes = vec![0; 2 * n];
        }
        let s = e.reduce_current(true);
        e.lambda = [s[0].lambda, s[1].lambda];
        e
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
                            let g = (a * n + ci * CPU_CHUNK + i) as u32;
                            s.lambda += c.rate_fn(a, x) as f64;
                            s.sums.add(x as f64 - shift[a]);
                            *sk = mh::spikes_shared(&c, a, g, x, t, replica) as u8;
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
        let (t, replica, shift) = (self.t, self.replica, self.shift);
        let lam_tot = [self.lambda[0] as f32, self.lambda[1] as f32];
        let mut out = [ChunkSums::default(); 2];
        match c.coupling {
            Coupling::Independent => {
                let tables = [
                    PoissonTable::build(c.dt as f64 * self.lambda[0]),
                    PoissonTable::build(c.dt as f64 * self.lambda[1]),
                ];
                let q_max = [c.nu_max[0] / lam_tot[0], c.nu_max[1] / lam_tot[1]];
                for (a, o) in out.iter_mut().enumerate() {
                    let xs = &mut self.x[a * n..(a + 1) * n];
                    let parts: Vec<ChunkSums> = xs
                        .par_chunks_mut(CPU_CHUNK)
                        .enumerate()
                        .map(|(ci, xc)| {
                            let mut s = ChunkSums::default();
                            let g0 = (a * n + ci * CPU_CHUNK) as u32;
                            for (i, x) in xc.iter_mut().enumerate() {
                                let xn = mh::step_independent(
                                    &c,
                                    a,
                                    g0 + i as u32,
                                    *x,
                                    t,
                                    replica,
                                    &tables,
                                    q_max,
                                    lam_tot,
                                );
                                *x = xn;
                                s.lambda += c.rate_fn(a, xn) as f64;
                                if record {
                                    s.sums.add(xn as f64 - shift[a]);
                                }
                            }
                            s
                        })
                        .collect();
                    *o = combine(&parts);
                }
            }
            Coupling::Shared => {
                let counts = self.spike_count;
                for (a, o) in out.iter_mut().enumerate() {
                    let xs = &mut self.x[a * n..(a + 1) * n];
                    let sp = &mut self.spikes[a * n..(a + 1) * n];
                    let parts: Vec<ChunkSums> = xs
                        .par_chunks_mut(CPU_CHUNK)
                        .zip(sp.par_chunks_mut(CPU_CHUNK))
                        .enumerate()
                        .map(|(ci, (xc, sc))| {
                            let mut s = ChunkSums::default();
                            let g0 = (a * n + ci * CPU_CHUNK) as u32;
                            for (i, (x, sk)) in xc.iter_mut().zip(sc.iter_mut()).enumerate() {
                                let xn = mh::step_shared(&c, a, *x, *sk != 0, counts);
                                *x = xn;
                                let fired =
                                    mh::spikes_shared(&c, a, g0 + i as u32, xn, t + 1, replica);
                                *sk = fired as u8;
                                s.spikes += fired as u32;
                                s.lambda += c.rate_fn(a, xn) as f64;
                                if record {
                                    s.sums.add(xn as f64 - shift[a]);
                                }
                            }
                            s
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
                    let k = mh::pairwise_counts(&c, g as u32, t, replica, &lambda, &p0);
                    *x = c.relax(a, old[g])
                        + (c.jump[a][0] * k[0] as f32 - c.jump[a][1] * k[1] as f32);
                });
                for (a, o) in out.iter_mut().enumerate() {
                    for &x in &self.x[a * n..(a + 1) * n] {
                        o.lambda += c.rate_fn(a, x) as f64;
                        if record {
                            o.sums.add(x as f64 - shift[a]);
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
    fn name(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }

    fn initial_record(&mut self) -> anyhow::Result<RecordSample> {
        let s = self.reduce_current(false);
        Ok(RecordSample {
            step: self.t as u64,
            sums: [s[0].sums, s[1].sums],
            lambda: [s[0].lambda, s[1].lambda],
        })
    }

    fn advance(&mut self, steps: u32, record_every: u32) -> anyhow::Result<Vec<RecordSample>> {
        let mut out = Vec::new();
        for _ in 0..steps {
            let record = (self.t + 1).is_multiple_of(record_every);
            let s = self.step(record);
            if record {
                out.push(RecordSample {
                    step: self.t as u64,
                    sums: [s[0].sums, s[1].sums],
                    lambda: [s[0].lambda, s[1].lambda],
                });
            }
        }
        Ok(out)
    }

    fn state(&mut self) -> anyhow::Result<Vec<f32>> {
        Ok(self.x.clone())
    }
}
