//! The model H steps of `hydro.rs` over `LANES` (independent) or `4 LANES` (shared) neighbouring
//! neurons at once, structured so that the compiler vectorises Philox, the relaxation and the
//! rate function. Lane by lane they compute bitwise what the per-neuron functions compute
//! (the tests below check it); the per-neuron functions stay the definition.

use super::hydro::{self as mh, HydroConsts, PoissonTable};
use crate::rng::{self, LANES, PhiloxLanes, Stream, purpose};

/// Neurons per `shared`-mode block: one Philox call serves 4 neurons.
pub const SHARED_BLOCK: usize = 4 * LANES;

/// Counters (g0 + i, t, purpose, replica) for i in 0..LANES.
#[inline(always)]
fn counters(g0: u32, t: u32, purpose: u32, replica: u32) -> [[u32; LANES]; 4] {
    let mut ctr = [[0u32; LANES]; 4];
    for i in 0..LANES {
        ctr[0][i] = g0.wrapping_add(i as u32);
        ctr[1][i] = t;
        ctr[2][i] = purpose;
        ctr[3][i] = replica;
    }
    ctr
}

/// `mh::step_independent` for neurons g0 .. g0 + LANES of population a, in place.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn step_independent_lanes(
    p: impl PhiloxLanes,
    c: &HydroConsts,
    a: usize,
    g0: u32,
    x: &mut [f32; LANES],
    t: u32,
    replica: u32,
    tables: &[PoissonTable; 2],
    q_max: [f32; 2],
    lambda_total: [f32; 2],
) {
    let w = p.philox(counters(g0, t, purpose::HYDRO_STEP, replica), c.key);
    let mut counts = [[0u32; LANES]; 2];
    for i in 0..LANES {
        counts[0][i] = tables[0].sample(w[0][i]);
        counts[1][i] = tables[1].sample(w[1][i]);
    }
    // Self-exclusion: the common case (nothing removed) is one comparison per lane; the
    // rare lanes go through the per-neuron function.
    let mut rare = false;
    for i in 0..LANES {
        let k = counts[a][i];
        rare |= k != 0 && rng::u32_to_uniform(w[2][i]) < k as f32 * q_max[a];
    }
    if rare {
        for i in 0..LANES {
            let g = g0 + i as u32;
            let xi = x[i];
            counts[a][i] = mh::thin_self(
                counts[a][i],
                rng::u32_to_uniform(w[2][i]),
                q_max[a],
                || c.rate_fn(a, xi) / lambda_total[a],
                || Stream::new(rng::counter(g, t, purpose::HYDRO_TAIL, replica), c.key),
            );
        }
    }
    for i in 0..LANES {
        x[i] = c.relax(a, x[i])
            + (c.jump[a][0] * counts[0][i] as f32 - c.jump[a][1] * counts[1][i] as f32);
    }
}

/// Adds f_a(x_i) of every lane to its own f64 accumulator.
#[inline(always)]
pub fn accumulate_rates(c: &HydroConsts, a: usize, x: &[f32; LANES], acc: &mut [f64; LANES]) {
    for i in 0..LANES {
        acc[i] += c.rate_fn(a, x[i]) as f64;
    }
}

/// `shared` mode, neurons g0 .. g0 + SHARED_BLOCK of population a (g0 a multiple of 4): one
/// step from `spikes` (this step's own spikes, updated to the next step's in place) and the
/// population spike counts, then next step's spikes drawn at t + 1, as `mh::step_shared`
/// followed by `mh::spikes_shared`; adds each new f_a(x) to `rate_acc[i % LANES]`. Returns the
/// number of neurons that fired.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn step_shared_block(
    p: impl PhiloxLanes,
    c: &HydroConsts,
    a: usize,
    g0: u32,
    x: &mut [f32; SHARED_BLOCK],
    spikes: &mut [u8; SHARED_BLOCK],
    t: u32,
    replica: u32,
    counts: [u32; 2],
    rate_acc: &mut [f64; LANES],
) -> u32 {
    debug_assert!(g0.is_multiple_of(4));
    // Input without and with the neuron's own spike removed from its population's count.
    let mut own = counts;
    own[a] = own[a].saturating_sub(1);
    let inp = [
        c.jump[a][0] * counts[0] as f32 - c.jump[a][1] * counts[1] as f32,
        c.jump[a][0] * own[0] as f32 - c.jump[a][1] * own[1] as f32,
    ];
    let w = p.philox(counters(g0 / 4, t + 1, purpose::HYDRO_STEP, replica), c.key);
    // Neuron i draws word i % 4 of counter i / 4.
    let mut u = [0u32; SHARED_BLOCK];
    for i in 0..SHARED_BLOCK {
        u[i] = w[i % 4][i / 4];
    }
    let mut fired = 0u32;
    for s in 0..SHARED_BLOCK / LANES {
        let mut arg = [0f32; LANES];
        let mut all_small = true;
        for l in 0..LANES {
            let i = s * LANES + l;
            let xn = c.relax(a, x[i]) + if spikes[i] != 0 { inp[1] } else { inp[0] };
            x[i] = xn;
            let rate = c.rate_fn(a, xn);
            rate_acc[l] += rate as f64;
            arg[l] = -rate * c.dt;
            all_small &= arg[l].abs() < mh::EXPM1_SERIES_MAX;
        }
        // -expm1(arg) = spike_prob_of_rate(rate); the series branch alone when it serves
        // every lane (always, when nu_max dt < 1e-3), so exp is not evaluated needlessly.
        let mut f = [0u8; LANES];
        if all_small {
            for l in 0..LANES {
                let p = -mh::expm1_series(arg[l]);
                f[l] = (rng::u32_to_uniform(u[s * LANES + l]) < p) as u8;
            }
        } else {
            for l in 0..LANES {
                let p = -mh::expm1_f32(arg[l]);
                f[l] = (rng::u32_to_uniform(u[s * LANES + l]) < p) as u8;
            }
        }
        for l in 0..LANES {
            spikes[s * LANES + l] = f[l];
            fired += f[l] as u32;
        }
    }
    fired
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Coupling, HydroConfig};

    fn consts(coupling: Coupling) -> HydroConsts {
        let cfg = HydroConfig {
            n: 1000,
            coupling,
            ..HydroConfig::default()
        };
        HydroConsts::new(&cfg.validate(true).expect("valid"))
    }

    #[test]
    fn independent_lanes_equal_per_neuron_steps() {
        let c = consts(Coupling::Independent);
        // Large q_max so that the rare thinning branch is taken in some blocks.
        let tables = [PoissonTable::build(3.0), PoissonTable::build(4.5)];
        for (q_max, blocks) in [([1e-3f32, 1e-3], 200u32), ([0.2, 0.2], 200)] {
            let lam = [300.0f32, 450.0];
            for b in 0..blocks {
                let a = (b % 2) as usize;
                let g0 = 16 * b + 3;
                let mut x = [0f32; LANES];
                for (i, xi) in x.iter_mut().enumerate() {
                    *xi = c.initial_x(a, g0 + i as u32, 0);
                }
                let mut lanes = x;
                step_independent_lanes(
                    rng::PortableLanes,
                    &c,
                    a,
                    g0,
                    &mut lanes,
                    7,
                    2,
                    &tables,
                    q_max,
                    lam,
                );
                for i in 0..LANES {
                    let one =
                        mh::step_independent(&c, a, g0 + i as u32, x[i], 7, 2, &tables, q_max, lam);
                    assert_eq!(one.to_bits(), lanes[i].to_bits(), "block {b} lane {i}");
                }
            }
        }
    }

    #[test]
    fn shared_block_equals_per_neuron_steps() {
        let c = consts(Coupling::Shared);
        for b in 0..50u32 {
            let a = (b % 2) as usize;
            let g0 = 64 * b + 4 * (b % 3);
            let mut x = [0f32; SHARED_BLOCK];
            let mut sp = [0u8; SHARED_BLOCK];
            for i in 0..SHARED_BLOCK {
                x[i] = c.initial_x(a, g0 + i as u32, 0) + 2.0;
                sp[i] = (i % 3 == 0) as u8;
            }
            let counts = [300, 450];
            let (mut xb, mut sb) = (x, sp);
            let mut acc = [0f64; LANES];
            let fired = step_shared_block(
                rng::PortableLanes,
                &c,
                a,
                g0,
                &mut xb,
                &mut sb,
                5,
                1,
                counts,
                &mut acc,
            );
            let mut fired_one = 0;
            for i in 0..SHARED_BLOCK {
                let g = g0 + i as u32;
                let xn = mh::step_shared(&c, a, x[i], sp[i] != 0, counts);
                let f = mh::spikes_shared(&c, a, g, xn, 6, 1);
                assert_eq!(xn.to_bits(), xb[i].to_bits(), "block {b} neuron {i}");
                assert_eq!(f as u8, sb[i], "block {b} neuron {i}");
                fired_one += f as u32;
            }
            assert_eq!(fired, fired_one);
        }
    }
}
