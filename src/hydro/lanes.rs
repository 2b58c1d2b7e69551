//! The model H steps of `hydro.rs` over `BLOCK` neighbouring neurons (LANES quads) at once,
//! structured so that the compiler vectorises Philox, the table draws, the relaxation and the
//! rate function. Lane by lane they compute bitwise what the per-neuron functions compute (the
//! tests below check it); the per-neuron functions stay the definition.

use super::step::{self, HydroConsts, StepTables};
use crate::rng::{LANES, PhiloxLanes, Purpose};

/// Neurons per block: LANES quads of 4 (a block starts at a multiple of 4 within its
/// population, so that its quads are whole).
pub const BLOCK: usize = 4 * LANES;

/// Counters (q0 + i, t, purpose, replica) for i in 0..LANES.
#[inline(always)]
fn counters(q0: u32, t: u32, purpose: u32, replica: u32) -> [[u32; LANES]; 4] {
    let mut ctr = [[0u32; LANES]; 4];
    for i in 0..LANES {
        ctr[0][i] = q0.wrapping_add(i as u32);
        ctr[1][i] = t;
        ctr[2][i] = purpose;
        ctr[3][i] = replica;
    }
    ctr
}

/// The independent-mode accumulator of f_a(x): `acc[i][m]` holds what the neuron-order
/// accumulator's entry 4 m + i would (neurons j with j % LANES = 4 m + i, in order).
pub type RateAcc = [[f64; 4]; LANES / 4];

/// The entries of a `RateAcc` in neuron-order (entry j % LANES first by j).
pub fn rate_acc_in_order(acc: &RateAcc) -> [f64; LANES] {
    std::array::from_fn(|l| acc[l % 4][l / 4])
}

/// `step::step_independent` for neurons k0 .. k0 + BLOCK of population a, in place; adds the new
/// f_a(x) of neuron j to the accumulator entry of j % LANES (see `RateAcc`). Neuron 4 l + i is
/// word triple i of quad l: the lanes are taken a quad position i at a time, so that each
/// Philox output row is one word of 16 neurons (4 l + i for l in 0..LANES) as it stands.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn step_independent_block(
    p: impl PhiloxLanes,
    c: &HydroConsts,
    a: usize,
    k0: u32,
    x: &mut [f32; BLOCK],
    t: u32,
    replica: u32,
    st: &StepTables,
    rate_acc: &mut RateAcc,
) {
    debug_assert!(k0.is_multiple_of(4));
    let q0 = step::quad_index(c.n, a, k0);
    // Three calls written out (not `array::from_fn`, whose closure the compiler may leave as a
    // call compiled without this level's features: 46 -> 53 Ir per neuron-step when it did).
    let draw = |b: u32| {
        p.philox(
            counters(q0, t, Purpose::HydroStep.as_u32() | (b << 24), replica),
            c.key,
        )
    };
    let w: [[[u32; LANES]; 4]; 3] = [draw(0), draw(1), draw(2)];
    // xt[i][l]: neuron 4 l + i.
    let mut xt = [[0f32; LANES]; 4];
    for l in 0..LANES {
        for i in 0..4 {
            xt[i][l] = x[4 * l + i];
        }
    }
    let tables = &st.tables[a];
    for (i, (xi, acc)) in xt.iter_mut().zip(rate_acc.iter_mut()).enumerate() {
        // Words 3 i, 3 i + 1, 3 i + 2 of each quad's 12.
        let word = |k: usize| &w[(3 * i + k) / 4][(3 * i + k) % 4];
        let (we, wi, wb) = (word(0), word(1), word(2));
        let mut counts = [
            p.alias_sample(&tables[0], we),
            p.alias_sample(&tables[1], wi),
        ];
        // The own remainder B is 0 for a word at or above the gate; only below it (rarely) do
        // the lanes compute B's mean and invert.
        let gate = st.own_extra_gate[a];
        if wb.iter().fold(false, |r, &v| r | (v < gate)) {
            for l in 0..LANES {
                let mu = step::own_extra_mean(c, a, xi[l], st.split[a]);
                counts[a][l] += step::own_extra_count(mu, wb[l], c.own_extra_terms);
            }
        }
        let mut rate = [0f32; LANES];
        for l in 0..LANES {
            // A count is below 2^31 (the table's lo + 2^14 + the remainder's 64 terms at most),
            // so its signed conversion is the same f32 as the unsigned one, which AVX2 lacks.
            let n = [counts[0][l] as i32 as f32, counts[1][l] as i32 as f32];
            let xn = c.relax(a, xi[l]) + (c.jump[a][0] * n[0] - c.jump[a][1] * n[1]);
            xi[l] = xn;
            rate[l] = c.rate_fn(a, xn);
        }
        // Lane l = 4 s + m is neuron 16 s + 4 m + i: entry 4 m + i, in s order.
        for s in 0..LANES / 4 {
            for m in 0..4 {
                acc[m] += rate[4 * s + m] as f64;
            }
        }
    }
    for l in 0..LANES {
        for i in 0..4 {
            x[4 * l + i] = xt[i][l];
        }
    }
}

/// `shared` mode, neurons k0 .. k0 + BLOCK of population a: one step from `spikes` (this
/// step's own spikes, updated to the next step's in place) and the population spike counts,
/// then next step's spikes drawn at t + 1, as `step::step_shared` followed by
/// `step::spikes_shared`; adds the new f_a(x) of neuron j to `rate_acc[j % LANES]`. Returns
/// the number of neurons that fired.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn step_shared_block(
    p: impl PhiloxLanes,
    c: &HydroConsts,
    a: usize,
    k0: u32,
    x: &mut [f32; BLOCK],
    spikes: &mut [u8; BLOCK],
    t: u32,
    replica: u32,
    counts: [u32; 2],
    rate_acc: &mut [f64; LANES],
) -> u32 {
    debug_assert!(k0.is_multiple_of(4));
    // Input without and with the neuron's own spike removed from its population's count.
    let mut own = counts;
    own[a] = own[a].saturating_sub(1);
    let inp = [
        c.jump[a][0] * counts[0] as f32 - c.jump[a][1] * counts[1] as f32,
        c.jump[a][0] * own[0] as f32 - c.jump[a][1] * own[1] as f32,
    ];
    let q0 = step::quad_index(c.n, a, k0);
    let w = p.philox(
        counters(q0, t + 1, Purpose::HydroStep.as_u32(), replica),
        c.key,
    );
    // Neuron j draws word j % 4 of its quad's call, j / 4.
    let mut u = [0u32; BLOCK];
    for j in 0..BLOCK {
        u[j] = w[j % 4][j / 4];
    }
    let mut fired = 0u32;
    for sub in 0..BLOCK / LANES {
        let o = sub * LANES;
        let mut arg = [0f32; LANES];
        let mut rate = [0f32; LANES];
        let mut all_small = true;
        // f32 only in this loop: with the f64 sums in it, the compiler takes 4 lanes per
        // vector for all of it (a ymm holds 4 f64) instead of 8 f32.
        for l in 0..LANES {
            let j = o + l;
            let xn = c.relax(a, x[j]) + if spikes[j] != 0 { inp[1] } else { inp[0] };
            x[j] = xn;
            rate[l] = c.rate_fn(a, xn);
            arg[l] = -rate[l] * c.dt;
            all_small &= arg[l].abs() < crate::math::EXPM1_SERIES_MAX;
        }
        for (acc, &r) in rate_acc.iter_mut().zip(&rate) {
            *acc += r as f64;
        }
        // -expm1(arg) = spike_prob_of_rate(rate); the series branch alone when it serves
        // every lane (always, when nu_max dt < 0.25), so exp is not evaluated needlessly.
        let mut prob = [0f32; LANES];
        if all_small {
            for l in 0..LANES {
                prob[l] = -crate::math::expm1_series(arg[l]);
            }
        } else {
            for l in 0..LANES {
                prob[l] = -crate::math::expm1_f32(arg[l]);
            }
        }
        for l in 0..LANES {
            let f = (u[o + l] < crate::math::to_threshold32(prob[l])) as u8;
            spikes[o + l] = f;
            fired += f as u32;
        }
    }
    fired
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hydro::config::{Coupling, HydroConfig};
    use crate::rng;

    fn consts(coupling: Coupling) -> HydroConsts {
        let cfg = HydroConfig {
            n: 1000,
            coupling,
            ..HydroConfig::default()
        };
        HydroConsts::new(&cfg.validate(true).expect("valid"))
    }

    #[test]
    fn independent_block_equals_per_neuron_steps() {
        let c = consts(Coupling::Independent);
        // A large split makes the own remainder B non-zero in many lanes, so the rare branch
        // is taken too; the small one is the usual case.
        for (lambda, split) in [([300.0, 450.0], 1.0f32), ([3.0, 4.5], 600.0)] {
            let mut st = StepTables::build(&c, lambda);
            st.split = [split, split];
            st.own_extra_gate = st.split.map(|s| step::own_extra_gate(&c, s));
            for b in 0..100u32 {
                let a = (b % 2) as usize;
                let k0 = 64 * b + 4 * (b % 3);
                let mut x = [0f32; BLOCK];
                for (i, xi) in x.iter_mut().enumerate() {
                    *xi = c.initial_x(a, a as u32 * c.n + k0 + i as u32, 0);
                }
                let mut lanes = x;
                let mut acc: RateAcc = [[0f64; 4]; LANES / 4];
                step_independent_block(
                    rng::PortableLanes,
                    &c,
                    a,
                    k0,
                    &mut lanes,
                    7,
                    2,
                    &st,
                    &mut acc,
                );
                let mut acc_one = [0f64; LANES];
                for i in 0..BLOCK {
                    let one = step::step_independent(&c, a, k0 + i as u32, x[i], 7, 2, &st);
                    assert_eq!(one.to_bits(), lanes[i].to_bits(), "block {b} neuron {i}");
                    acc_one[i % LANES] += c.rate_fn(a, one) as f64;
                }
                assert_eq!(rate_acc_in_order(&acc), acc_one);
            }
        }
    }

    #[test]
    fn shared_block_equals_per_neuron_steps() {
        let c = consts(Coupling::Shared);
        for b in 0..50u32 {
            let a = (b % 2) as usize;
            let k0 = 64 * b + 4 * (b % 3);
            let mut x = [0f32; BLOCK];
            let mut sp = [0u8; BLOCK];
            for i in 0..BLOCK {
                x[i] = c.initial_x(a, k0 + i as u32, 0) + 2.0;
                sp[i] = (i % 3 == 0) as u8;
            }
            let counts = [300, 450];
            let (mut xb, mut sb) = (x, sp);
            let mut acc = [0f64; LANES];
            let fired = step_shared_block(
                rng::PortableLanes,
                &c,
                a,
                k0,
                &mut xb,
                &mut sb,
                5,
                1,
                counts,
                &mut acc,
            );
            let mut fired_one = 0;
            for i in 0..BLOCK {
                let k = k0 + i as u32;
                let xn = step::step_shared(&c, a, x[i], sp[i] != 0, counts);
                let f = step::spikes_shared(&c, a, k, xn, 6, 1);
                assert_eq!(xn.to_bits(), xb[i].to_bits(), "block {b} neuron {i}");
                assert_eq!(f as u8, sb[i], "block {b} neuron {i}");
                fired_one += f as u32;
            }
            assert_eq!(fired, fired_one);
        }
    }
}
