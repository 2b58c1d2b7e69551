//! RNG stream purposes: the third word of every Philox counter, one per distinct use of
//! randomness, declared once here for the CPU code and (as generated `PURPOSE_*` constants,
//! see `device::constants`) for every WGSL kernel. Changing a value changes the random stream.

/// Declares `Purpose` with its values, its WGSL constant names and the list of all of them,
/// from one table (so that none of the three can miss a purpose).
macro_rules! purposes {
    ($($(#[$doc:meta])* $variant:ident = $value:expr => $wgsl:literal,)*) => {
        /// One distinct use of randomness: the third counter word of its draws (below
        /// `rng::PURPOSE_LIMIT`; a `Stream` puts its block index in the top 8 bits).
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Purpose {
            $($(#[$doc])* $variant = $value,)*
        }

        impl Purpose {
            /// Every purpose, in declaration order.
            pub const ALL: &'static [Purpose] = &[$(Purpose::$variant,)*];

            /// The name of its WGSL constant (`const PURPOSE_...: u32`).
            pub const fn wgsl_name(self) -> &'static str {
                match self {
                    $(Purpose::$variant => $wgsl,)*
                }
            }
        }
    };
}

purposes! {
    /// Test and self-test draws.
    SamplerTest = 1 => "PURPOSE_SAMPLER_TEST",
    /// Model H: initial condition.
    HydroInit = 16 => "PURPOSE_HYDRO_INIT",
    /// Model H: the per-step draws of the `independent` and `shared` schemes.
    HydroStep = 17 => "PURPOSE_HYDRO_STEP",
    /// Model H: reserved for rare tail draws and thinning of the `independent` scheme (no
    /// draw uses it at present; kept so that no other purpose takes the word).
    HydroTail = 18 => "PURPOSE_HYDRO_TAIL",
    /// Model H: reserved for `pairwise` per-pair counts (no draw uses it at present: pairwise
    /// mode draws at `hydro_pair_chunk`).
    HydroPair = 19 => "PURPOSE_HYDRO_PAIR",
    /// Model L: initial condition.
    LifInit = 32 => "PURPOSE_LIF_INIT",
    /// Model L: external Poisson input.
    LifExt = 33 => "PURPOSE_LIF_EXT",
    /// Model L: `annealed` recurrent inputs.
    LifAnnealed = 34 => "PURPOSE_LIF_ANNEALED",
    /// Model L: `fixed_indegree` partners (step word = block of the neuron's stream).
    LifConn = 35 => "PURPOSE_LIF_CONN",
    /// Model L: Gaussian in-degrees (CV_K > 0).
    LifDegree = 36 => "PURPOSE_LIF_DEGREE",
    /// Model H `pairwise` mode: the first of a range of purposes, `hydro_pair_chunk(source /
    /// 4)` (four sources per Philox call).
    HydroPairChunks = 1 << 20 => "PURPOSE_HYDRO_PAIR_CHUNKS",
}

impl Purpose {
    /// The counter word.
    #[inline(always)]
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// The purpose word of `pairwise` source chunk `chunk` (sources 4 chunk .. 4 chunk + 3).
    #[inline(always)]
    pub const fn hydro_pair_chunk(chunk: u32) -> u32 {
        Purpose::HydroPairChunks.as_u32() + chunk
    }
}

/// `Purpose::SamplerTest.as_u32()` under its old name, for benches/rng_throughput.rs (being
/// rewritten on another branch); new code uses `Purpose`.
pub const SAMPLER_TEST: u32 = Purpose::SamplerTest.as_u32();

/// Largest number of `pairwise` source chunks: the chunk purposes stay below
/// `rng::PURPOSE_LIMIT`.
pub const HYDRO_PAIR_CHUNKS_MAX: u32 = super::PURPOSE_LIMIT - Purpose::HydroPairChunks.as_u32();

#[cfg(test)]
mod tests {
    use super::*;

    /// The counter words of the streams: any change here changes every run's draws.
    #[test]
    fn purpose_words_are_unchanged_and_distinct() {
        let words: Vec<(u32, &str)> = Purpose::ALL
            .iter()
            .map(|p| (p.as_u32(), p.wgsl_name()))
            .collect();
        assert_eq!(
            words,
            [
                (1, "PURPOSE_SAMPLER_TEST"),
                (16, "PURPOSE_HYDRO_INIT"),
                (17, "PURPOSE_HYDRO_STEP"),
                (18, "PURPOSE_HYDRO_TAIL"),
                (19, "PURPOSE_HYDRO_PAIR"),
                (32, "PURPOSE_LIF_INIT"),
                (33, "PURPOSE_LIF_EXT"),
                (34, "PURPOSE_LIF_ANNEALED"),
                (35, "PURPOSE_LIF_CONN"),
                (36, "PURPOSE_LIF_DEGREE"),
                (1 << 20, "PURPOSE_HYDRO_PAIR_CHUNKS"),
            ]
        );
        for (i, p) in Purpose::ALL.iter().enumerate() {
            assert!(p.as_u32() < super::super::PURPOSE_LIMIT, "{p:?}");
            for q in &Purpose::ALL[i + 1..] {
                assert_ne!(p.as_u32(), q.as_u32(), "{p:?} and {q:?}");
            }
        }
        // The pairwise chunk range [2^20, 2^24) holds no other purpose, and covers the
        // largest pairwise network (4000 per population: 2000 chunks).
        for p in Purpose::ALL {
            if *p != Purpose::HydroPairChunks {
                assert!(p.as_u32() < Purpose::HydroPairChunks.as_u32(), "{p:?}");
            }
        }
        let chunks = (2 * crate::hydro::config::PAIRWISE_MAX_N).div_ceil(4);
        assert!(chunks <= HYDRO_PAIR_CHUNKS_MAX as u64);
    }
}
