//! The `precise` model L step of `lif.rs` over LANES neurons of one population at once: the
//! recurrent update and the first four external arrivals (the words of each neuron's first
//! Philox block) are computed lane-wise with masks so that the exp/log chains vectorise; a
//! lane whose external process outlives those words finishes on the per-neuron code. Lane by
//! lane it computes bitwise what `lif::step_neuron_with` computes (the tests check it).

use super::step::{self as ml, LifConsts, NeuronState};
use crate::rng::{LANES, Stream};

/// Results of a block: per lane the new state and the spike time (NaN: no spike).
pub struct BlockOut {
    pub state: [NeuronState; LANES],
    pub spike: [f32; LANES],
}

/// `precise` step of neurons i0 .. i0 + LANES, all of population a; `first[w][l]` is word w of
/// lane l's external stream (counter `ml::ext_counter(i0 + l, t, replica)`). SHORT must be
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
    let p = &c.pop[a];
    let dt = c.dt;
    let mut v = [0f32; LANES];
    let mut now = [0f32; LANES];
    let mut at = [0f32; LANES];
    let mut spike = [f32::NAN; LANES];
    // ended: the lane's step is settled (whole-step refractory, fired, or process past dt).
    let mut ended = [false; LANES];
    let mut whole_ref = [false; LANES];
    for l in 0..LANES {
        whole_ref[l] = st[l].refractory >= dt;
        let (vs, ns, fired) = ml::precise_start(c, p, st[l], rec_e[l], rec_i[l]);
        v[l] = vs;
        now[l] = ns;
        at[l] = ns;
        if fired && !whole_ref[l] {
            spike[l] = 0.0;
        }
        ended[l] = whole_ref[l] || fired || c.ext_lambda <= 0.0;
    }
    for w in 0..4 {
        for l in 0..LANES {
            let next = at[l] + ml::ext_gap(c, first[w][l]);
            let live = !ended[l] && next < dt;
            let vx = if SHORT {
                ml::precise_arrival_short(c, p, v[l], now[l], next)
            } else {
                ml::precise_arrival(c, p, v[l], now[l], next)
            };
            let fired = live && vx >= p.theta;
            if !ended[l] {
                at[l] = next;
            }
            if live {
                v[l] = vx;
                now[l] = next;
            }
            if fired {
                spike[l] = next;
            }
            ended[l] |= !live || fired;
        }
    }
    let mut out = BlockOut {
        state: [NeuronState::default(); LANES],
        spike,
    };
    // Settled lanes, written branch-free; the rare unsettled ones below.
    for l in 0..LANES {
        let leaked = NeuronState {
            v: if SHORT {
                ml::leak_short(p, v[l], dt - now[l])
            } else {
                ml::leak(p, v[l], dt - now[l])
            },
            refractory: 0.0,
        };
        let fired = NeuronState {
            v: p.v_r,
            refractory: spike[l] + p.tau_rp - dt,
        };
        let held = NeuronState {
            v: p.v_r,
            refractory: st[l].refractory - dt,
        };
        out.state[l] = if whole_ref[l] {
            held
        } else if spike[l].is_finite() {
            fired
        } else {
            leaked
        };
    }
    for l in 0..LANES {
        if !ended[l] {
            // The process is still inside the step after 4 arrivals (about 4% of lanes at
            // K_X nu_X dt = 1.25): further blocks on the per-neuron code.
            let ctr = ml::ext_counter(i0 + l as u32, t, replica);
            let words = [first[0][l], first[1][l], first[2][l], first[3][l]];
            let mut s = Stream::with_first_block(ctr, c.key, words);
            for _ in 0..4 {
                s.next_u32();
            }
            let (ns, o) = ml::precise_continue(c, p, &mut s, v[l], now[l], at[l]);
            out.state[l] = ns;
            if let Some(x) = o.spike {
                out.spike[l] = x;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lif::config::{Integrator, LifConfig, SynapseConfig};
    use crate::rng;

    #[test]
    fn lanes_equal_the_per_neuron_step() {
        for (nu_x, syn) in [
            (25.0, SynapseConfig::Conductance { a: 2e-3, g: 20.0 }),
            (400.0, SynapseConfig::Conductance { a: 2e-3, g: 20.0 }),
            (40.0, SynapseConfig::Current { j: 0.5, g: 5.0 }),
        ] {
            let s = LifConfig {
                k: 1000,
                nu_x,
                synapse: syn,
                integrator: Integrator::Precise,
                ..LifConfig::default()
            }
            .validate()
            .expect("valid");
            let c = LifConsts::new(&s);
            let mut fired = 0;
            for b in 0..400u32 {
                let i0 = 16 * b;
                let t = 7 + b;
                let mut st = [NeuronState::default(); LANES];
                let mut rec_e = [0u32; LANES];
                let mut rec_i = [0u32; LANES];
                for l in 0..LANES {
                    let h = rng::philox4x32_10([i0 + l as u32, b, 99, 0], [3, 4]);
                    let u = rng::u32_to_uniform(h[0]);
                    st[l].v = -70.0 + 16.0 * u;
                    st[l].refractory = match h[1] % 5 {
                        0 => 1.0,
                        1 => 0.02,
                        _ => 0.0,
                    };
                    rec_e[l] = h[2] % 6;
                    rec_i[l] = h[3] % 3;
                }
                let mut first = [[0u32; LANES]; 4];
                for l in 0..LANES {
                    let w = rng::philox4x32_10(ml::ext_counter(i0 + l as u32, t, 0), c.key);
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
                    for l in 0..LANES {
                        let (want, o) =
                            ml::step_neuron(&c, 0, i0 + l as u32, t, 0, st[l], rec_e[l], rec_i[l]);
                        assert_eq!(
                            want.v.to_bits(),
                            out.state[l].v.to_bits(),
                            "block {b} lane {l}"
                        );
                        assert_eq!(
                            want.refractory.to_bits(),
                            out.state[l].refractory.to_bits(),
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
                }
            }
            assert!(fired > 0, "some lanes fire (nu_x {nu_x})");
        }
    }
}
