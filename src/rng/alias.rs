//! Walker alias tables of the Poisson pmf, built by Vose's method in exact integer
//! arithmetic: integer masses summing to exactly 2^32, so one 32-bit word draws the pmf at
//! 2^-32 resolution with one table read and one comparison (no branch, no loop).

/// Largest per-step alias table: 2^14 slots (64 KiB, one uniform-buffer binding on the GPU).
pub const ALIAS_BITS_MAX: u32 = 14;
pub const ALIAS_CAP: usize = 1 << ALIAS_BITS_MAX;
pub(crate) const ALIAS_MASK: usize = ALIAS_CAP - 1;
/// Largest per-step Poisson mean the tables cover (range lambda ± (10 sqrt(lambda) + 12) must
/// fit ALIAS_CAP slots).
pub const POISSON_TABLE_LAMBDA_MAX: f64 = 5.0e5;
/// [lo, hi] of the table of Poisson(lambda).
pub fn poisson_table_range(lambda: f64) -> (u32, u32) {
    let w = 10.0 * lambda.sqrt() + 12.0;
    let lo = (lambda - w).max(0.0).floor() as u32;
    let hi = (lambda + w).ceil() as u32;
    (lo, hi)
}

/// log2 of the alias table's slot count for `len` entries: the smallest power of two that
/// holds them, at least 2.
pub fn alias_bits(len: u32) -> u32 {
    let mut bits = 1;
    while (1u32 << bits) < len {
        bits += 1;
    }
    bits
}

/// Integer masses `m[i]` (units of 2^-32, summing to exactly 2^32) of Poisson(lambda) on
/// [lo, lo + len), in m[0 .. len); m[len ..] = 0. The pmf is computed in f64 from the mode
/// outwards and normalised; each entry gets floor(p 2^32), the mode the rounding remainder.
pub fn poisson_masses(lambda: f64, lo: u32, len: u32, m: &mut [u32]) {
    let len = len as usize;
    let mode = (lambda.floor().max(lo as f64) as usize - lo as usize).min(len - 1);
    let mut pmf = vec![0f64; len];
    if lambda <= 0.0 {
        pmf[0] = 1.0;
    } else {
        pmf[mode] = crate::stats::poisson_ln_pmf(lo as u64 + mode as u64, lambda).exp();
        for i in mode + 1..len {
            pmf[i] = pmf[i - 1] * lambda / (lo as usize + i) as f64;
        }
        for i in (0..mode).rev() {
            pmf[i] = pmf[i + 1] * (lo as usize + i + 1) as f64 / lambda;
        }
    }
    let total: f64 = pmf.iter().sum();
    m.fill(0);
    for i in 0..len {
        if i != mode {
            m[i] = (pmf[i] / total * 4_294_967_296.0)
                .floor()
                .min(4_294_967_295.0) as u32;
        }
    }
    complete_mode_mass(m, mode);
}

/// Gives the mode entry 2^32 minus the other masses (u32 wrapping arithmetic, as the GPU does
/// it). Only when the others are all 0 would that be 2^32, which a u32 cannot hold: the mode
/// then keeps 2^32 - 1 and its neighbour slot gets the last unit (an error of 2^-32, the
/// tables' resolution).
pub fn complete_mode_mass(m: &mut [u32], mode: usize) {
    let others = m
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != mode)
        .fold(0u32, |s, (_, &v)| s.wrapping_add(v));
    m[mode] = 0u32.wrapping_sub(others);
    if others == 0 {
        m[mode] = u32::MAX;
        m[(mode + 1) % m.len()] = 1;
    }
}

/// Walker's alias table by Vose's method in exact integer arithmetic: `m` holds 2^bits masses
/// summing to 2^32 (consumed), each slot holds 2^(32 - bits) units. Slot i keeps the draw with
/// probability t_i / 2^(32 - bits) and otherwise goes to its alias: entry i = t_i << bits |
/// alias_i (a full slot is t = 0, alias = i). `stack` is scratch of 2^bits words: the small
/// stack grows from its front, the large one from its back. The GPU runs the same steps.
pub fn alias_build(m: &mut [u32], bits: u32, entries: &mut [u32], stack: &mut [u32]) {
    let k = 1usize << bits;
    let cap = 1u32 << (32 - bits);
    let (mut ns, mut nl) = (0usize, 0usize);
    for i in 0..k {
        if m[i] < cap {
            stack[ns] = i as u32;
            ns += 1;
        } else {
            stack[k - 1 - nl] = i as u32;
            nl += 1;
        }
    }
    while ns > 0 && nl > 0 {
        ns -= 1;
        let l = stack[ns] as usize;
        nl -= 1;
        let g = stack[k - 1 - nl] as usize;
        let ml = m[l];
        entries[l] = (ml << bits) | g as u32;
        let mg = m[g] - (cap - ml);
        m[g] = mg;
        if mg < cap {
            stack[ns] = g as u32;
            ns += 1;
        } else {
            stack[k - 1 - nl] = g as u32;
            nl += 1;
        }
    }
    // Exact arithmetic leaves only full slots.
    for &i in stack[..ns].iter().chain(&stack[k - nl..k]) {
        entries[i as usize] = i;
    }
}

/// The draw of an alias table from a 32-bit word w: slot w >> (32 - bits), kept when the low
/// bits are below its threshold, else its alias. Branch-free.
#[inline(always)]
pub fn alias_sample(entries: &[u32], bits: u32, lo: u32, w: u32) -> u32 {
    let shift = 32 - bits;
    let idx = w >> shift;
    let e = entries[idx as usize & ALIAS_MASK];
    let stay = (w & ((1u32 << shift) - 1)) < (e >> bits);
    lo + if stay { idx } else { e & ((1u32 << bits) - 1) }
}

/// The alias table of Poisson(lambda) over its range: P(draw = j) is the integer mass of j
/// over 2^32, i.e. the law at 2^-32 resolution. Mass outside the range (< 1e-20) is folded
/// into the mode by the normalisation.
#[derive(Clone, Debug)]
pub struct AliasTable {
    pub lo: u32,
    pub bits: u32,
    /// Entries in a fixed-capacity array, so that an index masked by ALIAS_CAP - 1 needs no
    /// bounds check and the lane sampler vectorises into gathers.
    pub entries: Box<[u32; ALIAS_CAP]>,
    masses: Vec<u32>,
    stack: Vec<u32>,
}

impl AliasTable {
    pub fn build(lambda: f64) -> Self {
        let mut t = AliasTable {
            lo: 0,
            bits: 1,
            entries: vec![0u32; ALIAS_CAP]
                .into_boxed_slice()
                .try_into()
                .expect("length ALIAS_CAP"),
            masses: vec![0; ALIAS_CAP],
            stack: vec![0; ALIAS_CAP],
        };
        t.rebuild(lambda);
        t
    }

    /// Rebuilds the table for a new lambda in place (no allocation: the CPU backend keeps its
    /// tables for the whole run).
    pub fn rebuild(&mut self, lambda: f64) {
        let (lo, hi) = poisson_table_range(lambda);
        let len = hi - lo + 1;
        let bits = alias_bits(len);
        let k = 1usize << bits;
        poisson_masses(lambda, lo, len, &mut self.masses[..k]);
        alias_build(
            &mut self.masses[..k],
            bits,
            &mut self.entries[..k],
            &mut self.stack[..k],
        );
        self.lo = lo;
        self.bits = bits;
    }

    #[inline(always)]
    pub fn sample(&self, w: u32) -> u32 {
        alias_sample(&self.entries[..], self.bits, self.lo, w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng;

    /// The table's law, read off its slots, is exactly the integer masses it was built from.
    #[test]
    fn alias_table_holds_its_masses_exactly() {
        for &lambda in &[
            0.0, 1e-12, 0.02, 1.0, 9.99, 150.0, 450.0, 4500.0, 45000.0, 4.9e5,
        ] {
            let (lo, hi) = poisson_table_range(lambda);
            let len = hi - lo + 1;
            let bits = alias_bits(len);
            let k = 1usize << bits;
            assert!(k <= ALIAS_CAP, "lambda {lambda}");
            let mut m = vec![0u32; k];
            poisson_masses(lambda, lo, len, &mut m);
            assert_eq!(m.iter().map(|&v| v as u64).sum::<u64>(), 1u64 << 32);
            let want = m.clone();
            let t = AliasTable::build(lambda);
            let cap = 1u64 << (32 - bits);
            let mut got = vec![0u64; k];
            for i in 0..k {
                let e = t.entries[i];
                let (keep, alias) = ((e >> bits) as u64, (e & (k as u32 - 1)) as usize);
                got[i] += keep;
                got[alias] += cap - keep;
            }
            for i in 0..k {
                assert_eq!(got[i], want[i] as u64, "lambda {lambda} slot {i}");
            }
        }
    }

    #[test]
    fn alias_sampler_fits_poisson() {
        for &lambda in &[0.02, 1.0, 9.99, 150.0, 450.0, 4500.0, 45000.0] {
            let t = AliasTable::build(lambda);
            let draws: Vec<u32> = (0..400_000u32)
                .map(|i| t.sample(rng::philox4x32_10([i, 3, 5, 0], [7, 9])[0]))
                .collect();
            let law = crate::stats::DiscreteLaw::poisson(lambda);
            let gof = crate::stats::chi_square(&draws, &law);
            assert!(gof.p_value > 1e-6, "lambda {lambda}: {gof:?}");
        }
        let zero = AliasTable::build(0.0);
        assert!((0..10_000u32).all(|i| zero.sample(i.wrapping_mul(0x9E37_79B9)) == 0));
    }
}
