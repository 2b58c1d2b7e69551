//! balnet's Philox4x32-10 as a `rand` generator, so that a Rust user can draw balnet's random
//! words with `rand`'s distributions (`rand::RngExt::random`, `rand::distr::*`).
//!
//! ```
//! use balnet::rng::{PhiloxRng, philox4x32_10, seed_key};
//! use rand::{Rng, RngExt, SeedableRng};
//!
//! // The words of a balnet run with seed 7 at counter (neuron 3, step 10, purpose 17, replica 0):
//! let mut r = PhiloxRng::at(7, [3, 10, 17, 0]);
//! assert_eq!(r.next_u32(), philox4x32_10([3, 10, 17, 0], seed_key(7))[0]);
//! // ... and any of rand's distributions on top of them.
//! let mut r = PhiloxRng::seed_from_u64(7);
//! let u: f64 = r.random();
//! assert!((0.0..1.0).contains(&u));
//! ```

use super::{philox4x32_10, seed_key};
use rand::{SeedableRng, TryRng};
use std::convert::Infallible;

/// Philox4x32-10 in counter mode: block i is `philox4x32_10(start + i, key)` with the 128-bit
/// counter incremented from its first word (with carry). The first block at a counter is the
/// block balnet draws there; later blocks walk the counter space (balnet's own multi-block
/// draws at one site are [`super::Stream`]).
#[derive(Clone, Debug)]
pub struct PhiloxRng {
    key: [u32; 2],
    ctr: [u32; 4],
    buf: [u32; 4],
    used: usize,
}

impl PhiloxRng {
    /// The generator of run seed `seed` (balnet's key) starting at counter `ctr` =
    /// (neuron, step, purpose, replica).
    pub fn at(seed: u64, ctr: [u32; 4]) -> Self {
        PhiloxRng {
            key: seed_key(seed),
            ctr,
            buf: [0; 4],
            used: 4,
        }
    }

    fn refill(&mut self) {
        self.buf = philox4x32_10(self.ctr, self.key);
        self.used = 0;
        for w in &mut self.ctr {
            let (v, carry) = w.overflowing_add(1);
            *w = v;
            if !carry {
                break;
            }
        }
    }

    fn word(&mut self) -> u32 {
        if self.used == 4 {
            self.refill();
        }
        let w = self.buf[self.used];
        self.used += 1;
        w
    }
}

impl TryRng for PhiloxRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.word())
    }

    /// Two words, the first in the low half.
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let lo = self.word() as u64;
        Ok(lo | ((self.word() as u64) << 32))
    }

    /// Words in little-endian byte order.
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(4) {
            let b = self.word().to_le_bytes();
            chunk.copy_from_slice(&b[..chunk.len()]);
        }
        Ok(())
    }
}

impl SeedableRng for PhiloxRng {
    /// The 64-bit key, little-endian.
    type Seed = [u8; 8];

    fn from_seed(seed: [u8; 8]) -> Self {
        Self::at(u64::from_le_bytes(seed), [0; 4])
    }

    /// balnet's seed: the key of a run with this `seed`, from counter 0.
    fn seed_from_u64(seed: u64) -> Self {
        Self::at(seed, [0; 4])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::PHILOX_KNOWN_ANSWERS;
    use rand::{Rng, RngExt};

    #[test]
    fn words_are_the_philox_known_answers_and_the_counter_carries() {
        for (ctr, key, want) in PHILOX_KNOWN_ANSWERS {
            let seed = key[0] as u64 | (key[1] as u64) << 32;
            let mut r = PhiloxRng::at(seed, ctr);
            let got: Vec<u32> = (0..4).map(|_| r.next_u32()).collect();
            assert_eq!(got, want);
        }
        // From counter (ffffffff, 0, 0, 0) the second block is at (0, 1, 0, 0).
        let mut r = PhiloxRng::at(5, [u32::MAX, 0, 0, 0]);
        for _ in 0..4 {
            r.next_u32();
        }
        assert_eq!(r.next_u32(), philox4x32_10([0, 1, 0, 0], seed_key(5))[0]);
    }

    #[test]
    fn rand_distributions_draw_from_it() {
        let mut r = PhiloxRng::seed_from_u64(11);
        let n = 200_000;
        let mean = (0..n).map(|_| r.random::<f64>()).sum::<f64>() / n as f64;
        // Uniform [0, 1): mean 1/2, standard error 1/sqrt(12 n) = 6.5e-4.
        assert!(
            (mean - 0.5).abs() < 5.0 * (1.0 / (12.0 * n as f64)).sqrt(),
            "mean {mean}"
        );
        let mut b = [0u8; 6];
        let mut r = PhiloxRng::seed_from_u64(11);
        r.fill_bytes(&mut b);
        let w = philox4x32_10([0; 4], seed_key(11));
        assert_eq!(&b[..4], &w[0].to_le_bytes());
        assert_eq!(&b[4..], &w[1].to_le_bytes()[..2]);
    }
}
