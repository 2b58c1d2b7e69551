//! The `precise` model L step of `lif.rs` over LANES neurons of one population at once: the
//! recurrent update and the first four external arrivals (the words of each neuron's first
//! Philox block) are computed lane-wise with masks so that the exp/log chains vectorise; a
//! lane whose external process outlives those words finishes on the per-neuron code. Lane by
//! lane it computes bitwise what `lif::step_neuron_with` computes (the tests check it).

use super::step::{self, LifConsts, LifPop, LifSyn, NeuronState};
use crate::math::{exp_neg_select, exp_neg_series, ln_f32, u32_to_f32_lane};
use crate::rng::{LANES, Stream};

/// Results of a block, lane by lane (structure of arrays): the new state and the spike time
/// (NaN: no spike).
pub struct BlockOut {
    pub v: [f32; LANES],
    pub refractory: [f32; LANES],
    pub spike: [f32; LANES],
}

impl BlockOut {
    /// Lane l's new state.
    #[inline(always)]
    pub fn state(&self, l: usize) -> NeuronState {
        NeuronState {
            v: self.v[l],
            refractory: self.refractory[l],
        }
    }
}

/// The constants of one population and synapse kind, copied out of `LifConsts` so that the
/// lane loops read registers; COND picks the synapse kind (the other kind's fields are 0).
#[derive(Clone, Copy)]
struct K {
    dt: f32,
    e_l: f32,
    e_e: f32,
    e_i: f32,
    theta: f32,
    v_r: f32,
    tau_rp: f32,
    inv_tau_l: f32,
    a: f32,
    ga: f32,
    exp_neg_a: f32,
    j_e: f32,
    j_i: f32,
    mean_gap: f32,
}

impl K {
    fn new(c: &LifConsts, p: &LifPop) -> Self {
        let (a, ga, exp_neg_a, j_e, j_i) = match c.syn {
            LifSyn::Conductance { a, ga, exp_neg_a } => (a, ga, exp_neg_a, 0.0, 0.0),
            LifSyn::Current { j_e, j_i } => (0.0, 0.0, 0.0, j_e, j_i),
        };
        K {
            dt: c.dt,
            e_l: p.e_l,
            e_e: p.e_e,
            e_i: p.e_i,
            theta: p.theta,
            v_r: p.v_r,
            tau_rp: p.tau_rp,
            inv_tau_l: p.inv_tau_l,
            a,
            ga,
            exp_neg_a,
            j_e,
            j_i,
            mean_gap: c.ext_mean_gap,
        }
    }

    /// `step::leak` (SHORT: `step::leak_short`), branch-free.
    #[inline(always)]
    fn leak<const SHORT: bool>(&self, v: f32, t: f32) -> f32 {
        let x = t * self.inv_tau_l;
        let d = if SHORT {
            exp_neg_series(x)
        } else {
            exp_neg_select(x)
        };
        self.e_l + (v - self.e_l) * d
    }

    /// `step::apply_inputs`, branch-free.
    #[inline(always)]
    fn inputs<const COND: bool>(&self, v: f32, n_e: u32, n_i: u32) -> f32 {
        if COND {
            let ge = self.a * u32_to_f32_lane(n_e);
            let gi = self.ga * u32_to_f32_lane(n_i);
            let g = ge + gi;
            // g.max(MIN_POSITIVE) for every g, NaN included (then MIN_POSITIVE).
            let floor = if g > f32::MIN_POSITIVE {
                g
            } else {
                f32::MIN_POSITIVE
            };
            let v_inf = (ge * self.e_e + gi * self.e_i) / floor;
            v_inf + (v - v_inf) * exp_neg_select(g)
        } else {
            v + self.j_e * u32_to_f32_lane(n_e) + self.j_i * u32_to_f32_lane(n_i)
        }
    }

    /// `step::precise_arrival` (SHORT: `_short`), branch-free.
    #[inline(always)]
    fn arrival<const SHORT: bool, const COND: bool>(&self, v: f32, now: f32, at: f32) -> f32 {
        let v = self.leak::<SHORT>(v, at - now);
        if COND {
            self.e_e + (v - self.e_e) * self.exp_neg_a
        } else {
            v + self.j_e
        }
    }

    /// `step::ext_gap` (the uniform `rng::u32_to_uniform_open0`, converted as the signed
    /// integer it fits in: the same value).
    #[inline(always)]
    fn gap(&self, w: u32) -> f32 {
        let u = ((w >> 8) + 1) as i32 as f32 * (1.0 / 16_777_216.0);
        -ln_f32(u) * self.mean_gap
    }
}

/// `precise` step of neurons i0 .. i0 + LANES, all of population a; `first[w][l]` is word w of
/// lane l's external stream (counter `step::ext_counter(i0 + l, t, replica)`). SHORT must be
/// `c.short_leaks(a)` or false.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn step_precise_lanes<const SHORT: bool>(
    c: &LifConsts,
    a: usize,
    i0: u32,
    t: u32,
    replica: u32,
    st: &[NeuronState; LANES],
    rec_e: &[u32; LANES],
    rec_i: &[u32; LANES],
    first: &[[u32; LANES]; 4],
) -> BlockOut {
    // The synapse kind fixed per instance, so that the lane loops hold no match.
    match c.syn {
        LifSyn::Conductance { .. } => {
            block::<SHORT, true>(c, a, i0, t, replica, st, rec_e, rec_i, first)
        }
        LifSyn::Current { .. } => {
            block::<SHORT, false>(c, a, i0, t, replica, st, rec_e, rec_i, first)
        }
    }
}

/// `step_precise_lanes` for one synapse kind (COND: conductance). Every lane loop is
/// straight-line arithmetic and selects (no branch, no call), so that it compiles to packed
/// code at every level: one zmm, two ymm or four xmm registers per quantity.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<const SHORT: bool, const COND: bool>(
    c: &LifConsts,
    a: usize,
    i0: u32,
    t: u32,
    replica: u32,
    st: &[NeuronState; LANES],
    rec_e: &[u32; LANES],
    rec_i: &[u32; LANES],
    first: &[[u32; LANES]; 4],
) -> BlockOut {
    let k = K::new(c, &c.pop[a]);
    let dt = k.dt;
    let no_ext = c.ext_lambda <= 0.0;
    let mut v0 = [0f32; LANES];
    let mut r0 = [0f32; LANES];
    for l in 0..LANES {
        v0[l] = st[l].v;
        r0[l] = st[l].refractory;
    }
    let mut v = [0f32; LANES];
    let mut now = [0f32; LANES];
    let mut at = [0f32; LANES];
    let mut spike = [f32::NAN; LANES];
    // Lane masks as i32 (0 or -1, as vector compares give them), not bool: bytes would be
    // packed and unpacked between the lane loops.
    let mut fired = [0i32; LANES];
    // ended: the lane's step is settled (whole-step refractory, fired, or process past dt).
    let mut ended = [0i32; LANES];
    let mut whole_ref = [0i32; LANES];
    // `step::precise_start`.
    for l in 0..LANES {
        let w_ref = r0[l] >= dt;
        let vin = k.inputs::<COND>(v0[l], rec_e[l], rec_i[l]);
        let refractory = r0[l] > 0.0;
        let f = !refractory && vin >= k.theta && !w_ref;
        v[l] = if refractory { k.v_r } else { vin };
        now[l] = if refractory { r0[l] } else { 0.0 };
        at[l] = now[l];
        spike[l] = if f { 0.0 } else { f32::NAN };
        fired[l] = mask(f);
        whole_ref[l] = mask(w_ref);
        ended[l] = mask(w_ref || f || no_ext);
    }
    // The gaps of the first four arrivals first: 64 independent logarithms, whose
    // polynomial chains then overlap instead of waiting on each arrival.
    let mut gap = [[0f32; LANES]; 4];
    for w in 0..4 {
        for l in 0..LANES {
            gap[w][l] = k.gap(first[w][l]);
        }
    }
    // The first four arrivals of `step::precise_continue`.
    for w in 0..4 {
        for l in 0..LANES {
            let next = at[l] + gap[w][l];
            let e = ended[l] != 0;
            let live = !e && next < dt;
            let vx = k.arrival::<SHORT, COND>(v[l], now[l], next);
            let f = live && vx >= k.theta;
            at[l] = if e { at[l] } else { next };
            v[l] = if live { vx } else { v[l] };
            now[l] = if live { next } else { now[l] };
            spike[l] = if f { next } else { spike[l] };
            fired[l] |= mask(f);
            ended[l] = mask(e || !live || f);
        }
    }
    // Settled lanes, branch-free; the rare unsettled ones below.
    let mut out = BlockOut {
        v: [0f32; LANES],
        refractory: [0f32; LANES],
        spike,
    };
    for l in 0..LANES {
        let leaked = k.leak::<SHORT>(v[l], dt - now[l]);
        out.v[l] = if (whole_ref[l] | fired[l]) != 0 {
            k.v_r
        } else {
            leaked
        };
        out.refractory[l] = if whole_ref[l] != 0 {
            r0[l] - dt
        } else if fired[l] != 0 {
            spike[l] + k.tau_rp - dt
        } else {
            0.0
        };
    }
    for l in 0..LANES {
        if ended[l] == 0 {
            // The process is still inside the step after 4 arrivals (about 4% of lanes at
            // K_X nu_X dt = 1.25): further blocks on the per-neuron code.
            let ctr = step::ext_counter(i0 + l as u32, t, replica);
            let words = [first[0][l], first[1][l], first[2][l], first[3][l]];
            let mut s = Stream::with_first_block(ctr, c.key, words);
            for _ in 0..4 {
                s.next_u32();
            }
            let (ns, o) = step::precise_continue(c, &c.pop[a], &mut s, v[l], now[l], at[l]);
            out.v[l] = ns.v;
            out.refractory[l] = ns.refractory;
            if let Some(x) = o.spike {
                out.spike[l] = x;
            }
        }
    }
    out
}

/// A lane mask: -1 where b holds, else 0.
#[inline(always)]
fn mask(b: bool) -> i32 {
    -(b as i32)
}

/// Whether `step_lumped_lanes` serves c: its external count is none or `rng`'s inversion,
/// whose CDF table it holds (else the per-neuron code draws it).
pub fn lumped_lanes_apply(c: &LifConsts) -> bool {
    c.ext_lambda <= 0.0 || c.ext_cdf_len > 0
}

/// `lumped` step of neurons i0 .. i0 + LANES, all of population a (`lumped_lanes_apply(c)`
/// must hold); `first0[l]` is word 0 of lane l's external stream. Lane by lane bitwise what
/// `lif::step_neuron_with` computes.
#[inline(always)]
pub fn step_lumped_lanes(
    c: &LifConsts,
    a: usize,
    st: &[NeuronState; LANES],
    rec_e: &[u32; LANES],
    rec_i: &[u32; LANES],
    first0: &[u32; LANES],
) -> BlockOut {
    match c.syn {
        LifSyn::Conductance { .. } => lumped_block::<true>(c, a, st, rec_e, rec_i, first0),
        LifSyn::Current { .. } => lumped_block::<false>(c, a, st, rec_e, rec_i, first0),
    }
}

/// `step_lumped_lanes` for one synapse kind (COND: conductance).
#[inline(always)]
fn lumped_block<const COND: bool>(
    c: &LifConsts,
    a: usize,
    st: &[NeuronState; LANES],
    rec_e: &[u32; LANES],
    rec_i: &[u32; LANES],
    first0: &[u32; LANES],
) -> BlockOut {
    let p = &c.pop[a];
    let k = K::new(c, p);
    let dt = k.dt;
    let mut v0 = [0f32; LANES];
    let mut r0 = [0f32; LANES];
    for l in 0..LANES {
        v0[l] = st[l].v;
        r0[l] = st[l].refractory;
    }
    let n_x = if c.ext_lambda <= 0.0 {
        [0; LANES]
    } else {
        inversion_lanes(first0, &c.ext_cdf[..c.ext_cdf_len])
    };
    // `step::leak(p, v, dt)`'s factor, the same for every lane.
    let decay = crate::math::exp_neg(dt * k.inv_tau_l);
    let mut out = BlockOut {
        v: [0f32; LANES],
        refractory: [0f32; LANES],
        spike: [f32::NAN; LANES],
    };
    for l in 0..LANES {
        let w_ref = r0[l] >= dt;
        let part_ref = r0[l] > 0.0;
        let leaked = k.e_l + (v0[l] - k.e_l) * decay;
        let vn = k.inputs::<COND>(leaked, rec_e[l] + n_x[l], rec_i[l]);
        let fired = !part_ref && vn >= k.theta;
        out.v[l] = if part_ref || fired { k.v_r } else { vn };
        out.refractory[l] = if w_ref {
            r0[l] - dt
        } else if part_ref {
            0.0
        } else if fired {
            k.tau_rp - dt
        } else {
            0.0
        };
        out.spike[l] = if fired { dt } else { f32::NAN };
    }
    out
}

/// `rng::poisson_inversion_p0` of each lane's uniform `rng::u32_to_uniform(w[l])`: the
/// number of entries of its CDF table `cdf` (`rng::poisson_inversion_table`) at or below u,
/// counted in every lane at once up to the first entry above the block's largest u.
#[inline(always)]
fn inversion_lanes(w: &[u32; LANES], cdf: &[f32]) -> [u32; LANES] {
    let mut u = [0f32; LANES];
    for l in 0..LANES {
        // `rng::u32_to_uniform`, converted as the signed integer it fits in (the same value).
        u[l] = (w[l] >> 8) as i32 as f32 * (1.0 / 16_777_216.0);
    }
    let u_max = u.iter().fold(0f32, |m, &x| m.max(x));
    let mut n = [0u32; LANES];
    for &f in cdf {
        if f > u_max {
            break;
        }
        for l in 0..LANES {
            n[l] += (u[l] >= f) as u32;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lif::config::{Integrator, LifConfig, SynapseConfig};
    use crate::rng;

    /// Asserts that every lane of `out` is bitwise what `step_neuron` gives lane l of
    /// population 0 (state and spike time); returns how many lanes fired.
    #[allow(clippy::too_many_arguments)]
    fn assert_lanes_are_the_neuron_step(
        c: &LifConsts,
        b: u32,
        i0: u32,
        t: u32,
        st: &[NeuronState; LANES],
        rec_e: &[u32; LANES],
        rec_i: &[u32; LANES],
        out: &BlockOut,
    ) -> usize {
        let mut fired = 0;
        for l in 0..LANES {
            let (want, o) = step::step_neuron(c, 0, i0 + l as u32, t, 0, st[l], rec_e[l], rec_i[l]);
            assert_eq!(want.v.to_bits(), out.v[l].to_bits(), "block {b} lane {l}");
            assert_eq!(
                want.refractory.to_bits(),
                out.refractory[l].to_bits(),
                "block {b} lane {l}"
            );
            match o.spike {
                Some(x) => {
                    fired += 1;
                    assert_eq!(x.to_bits(), out.spike[l].to_bits());
                }
                None => assert!(out.spike[l].is_nan()),
            }
        }
        fired
    }

    /// Model L constants of a K = 1e3 network with `nu_x`, `syn` and `integrator`.
    fn consts(nu_x: f64, syn: SynapseConfig, integrator: Integrator) -> LifConsts {
        let s = LifConfig {
            k: 1000,
            nu_x,
            synapse: syn,
            integrator,
            ..LifConfig::default()
        }
        .validate()
        .expect("valid");
        LifConsts::new(&s)
    }

    /// A block of LANES neurons from i0 with pseudo-random states (V uniform in
    /// [-70, -70 + v_span] mV, some refractory for the whole step or part of it) and
    /// recurrent counts below `max_e` / `max_i`; `salt` picks the draws.
    fn random_block(
        i0: u32,
        b: u32,
        salt: u32,
        v_span: f32,
        max_e: u32,
        max_i: u32,
    ) -> ([NeuronState; LANES], [u32; LANES], [u32; LANES]) {
        let mut st = [NeuronState::default(); LANES];
        let mut rec_e = [0u32; LANES];
        let mut rec_i = [0u32; LANES];
        for l in 0..LANES {
            let h = rng::philox4x32_10([i0 + l as u32, b, salt, 0], [3, 4]);
            st[l].v = -70.0 + v_span * rng::u32_to_uniform(h[0]);
            st[l].refractory = match h[1] % 5 {
                0 => 1.0,
                1 => 0.02,
                _ => 0.0,
            };
            rec_e[l] = h[2] % max_e;
            rec_i[l] = h[3] % max_i;
        }
        (st, rec_e, rec_i)
    }

    #[test]
    fn lanes_equal_the_per_neuron_step() {
        for (nu_x, syn) in [
            (25.0, SynapseConfig::Conductance { a: 2e-3, g: 20.0 }),
            (400.0, SynapseConfig::Conductance { a: 2e-3, g: 20.0 }),
            (40.0, SynapseConfig::Current { j: 0.5, g: 5.0 }),
        ] {
            let c = consts(nu_x, syn, Integrator::Precise);
            let mut fired = 0;
            for b in 0..400u32 {
                let i0 = 16 * b;
                let t = 7 + b;
                let (st, rec_e, rec_i) = random_block(i0, b, 99, 16.0, 6, 3);
                let mut first = [[0u32; LANES]; 4];
                for l in 0..LANES {
                    let w = rng::philox4x32_10(step::ext_counter(i0 + l as u32, t, 0), c.key);
                    for k in 0..4 {
                        first[k][l] = w[k];
                    }
                }
                assert!(c.short_leaks(0));
                let short =
                    step_precise_lanes::<true>(&c, 0, i0, t, 0, &st, &rec_e, &rec_i, &first);
                let general =
                    step_precise_lanes::<false>(&c, 0, i0, t, 0, &st, &rec_e, &rec_i, &first);
                for out in [short, general] {
                    fired +=
                        assert_lanes_are_the_neuron_step(&c, b, i0, t, &st, &rec_e, &rec_i, &out);
                }
            }
            assert!(fired > 0, "some lanes fire (nu_x {nu_x})");
        }
    }

    #[test]
    fn lumped_lanes_equal_the_per_neuron_step() {
        let mut fired = 0;
        for (nu_x, syn) in [
            (25.0, SynapseConfig::Conductance { a: 2e-3, g: 20.0 }),
            (150.0, SynapseConfig::Conductance { a: 2e-3, g: 20.0 }),
            (0.0, SynapseConfig::Conductance { a: 2e-3, g: 20.0 }),
            (40.0, SynapseConfig::Current { j: 0.5, g: 5.0 }),
        ] {
            let c = consts(nu_x, syn, Integrator::Lumped);
            assert!(lumped_lanes_apply(&c));
            for b in 0..400u32 {
                let i0 = 16 * b;
                let t = 7 + b;
                let (st, rec_e, rec_i) = random_block(i0, b, 98, 20.0, 12, 5);
                let mut first0 = [0u32; LANES];
                for l in 0..LANES {
                    first0[l] =
                        rng::philox4x32_10(step::ext_counter(i0 + l as u32, t, 0), c.key)[0];
                }
                let out = step_lumped_lanes(&c, 0, &st, &rec_e, &rec_i, &first0);
                fired += assert_lanes_are_the_neuron_step(&c, b, i0, t, &st, &rec_e, &rec_i, &out);
            }
        }
        assert!(fired > 0, "some lanes fire");
    }
}
