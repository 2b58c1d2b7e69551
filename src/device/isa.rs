//! CPU instruction-set levels: detection once per run, and `multiversion!`, which compiles a
//! kernel body for each level and dispatches on the detected one. Every level computes
//! bitwise the same numbers (Rust never contracts a * b + c into an FMA).

use crate::rng;

/// The instruction-set level the chunk kernels run at, detected once. Every level computes
/// bitwise the same numbers (no fused multiply-add contraction, the same exp), only faster.
/// A level above baseline carries a token that only detection can make, so an `Isa` for a
/// feature this CPU lacks cannot be constructed.
#[derive(Clone, Copy, Debug)]
pub enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512(rng::Avx512Lanes),
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2Token),
    Baseline,
}

/// Proof that this CPU has AVX2, FMA, BMI1 and BMI2 (made only by `Avx2Token::detect`).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub struct Avx2Token(rng::Avx2Lanes);

#[cfg(target_arch = "x86_64")]
impl Avx2Token {
    pub fn detect() -> Option<Self> {
        let lanes = rng::Avx2Lanes::detect()?;
        (std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("bmi1")
            && std::is_x86_feature_detected!("bmi2"))
        .then_some(Avx2Token(lanes))
    }

    /// The AVX2 Philox this token proves available.
    pub fn lanes(self) -> rng::Avx2Lanes {
        self.0
    }
}

/// The environment variable that picks a level: `avx512`, `avx2` or `baseline`.
pub const ISA_ENV: &str = "BALNET_ISA";

impl Isa {
    /// The levels a benchmark measures: the one `BALNET_ISA` names when it is set (an error
    /// when this CPU lacks it), else every level this CPU can run, best first.
    pub fn benchmarked() -> anyhow::Result<Vec<Isa>> {
        match std::env::var(ISA_ENV) {
            Err(_) => Ok(Isa::available()),
            Ok(want) => Ok(vec![Self::named(&want)?]),
        }
    }

    /// The environment variable that lists the levels a test run must cover (comma-separated,
    /// e.g. `avx512,avx2,baseline`; `.ci/run` and `scripts/test.sh` set it from the CPU's
    /// flags), so that a level the machine has is never silently left out of a comparison.
    pub const REQUIRE_ENV: &'static str = "BALNET_REQUIRE_ISA";

    /// `available()`, checked against `BALNET_REQUIRE_ISA`: an error naming the missing
    /// levels when one it lists is not available (or is not a level at all). The tests that
    /// compare levels call this instead of `available()`.
    pub fn available_as_required() -> anyhow::Result<Vec<Isa>> {
        let avail = Isa::available();
        let Ok(list) = std::env::var(Self::REQUIRE_ENV) else {
            return Ok(avail);
        };
        let have: Vec<&str> = avail.iter().map(|i| i.name()).collect();
        let missing: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty() && !have.contains(w))
            .collect();
        if !missing.is_empty() {
            anyhow::bail!(
                "{}={list}: this CPU (or build) does not give {} (it has: {})",
                Self::REQUIRE_ENV,
                missing.join(", "),
                have.join(", ")
            );
        }
        Ok(avail)
    }

    /// Every level this CPU can run, best first.
    pub fn available() -> Vec<Isa> {
        let mut v = vec![Isa::detect()];
        #[cfg(target_arch = "x86_64")]
        if let (Isa::Avx512(_), Some(t)) = (v[0], Avx2Token::detect()) {
            v.push(Isa::Avx2(t));
        }
        if !matches!(v[0], Isa::Baseline) {
            v.push(Isa::Baseline);
        }
        v
    }

    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(p) = rng::Avx512Lanes::detect()
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512dq")
                && std::is_x86_feature_detected!("fma")
            {
                return Isa::Avx512(p);
            }
            if let Some(t) = Avx2Token::detect() {
                return Isa::Avx2(t);
            }
        }
        Isa::Baseline
    }

    /// The level `BALNET_ISA` names (an error when this CPU lacks it or the name is not a
    /// level), or the detected best level when it is unset.
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var(ISA_ENV) {
            Err(_) => Ok(Isa::detect()),
            Ok(want) => Self::named(&want),
        }
    }

    /// The level called `name` if this CPU has it.
    pub fn named(name: &str) -> anyhow::Result<Self> {
        let avail = Isa::available();
        if !["avx512", "avx2", "baseline"].contains(&name) {
            anyhow::bail!(
                "{ISA_ENV}={name}: must be avx512, avx2 or baseline",
                name = name.chars().take(40).collect::<String>()
            );
        }
        avail
            .iter()
            .copied()
            .find(|i| i.name() == name)
            .ok_or_else(|| {
                let have: Vec<&str> = avail.iter().map(|i| i.name()).collect();
                anyhow::anyhow!(
                    "{ISA_ENV}={name}: this CPU does not have it (it has: {})",
                    have.join(", ")
                )
            })
    }

    /// `rng::philox4x32_10_lanes` at this level (for callers outside a `multiversion!`
    /// kernel that draw whole lane blocks at a time).
    pub fn philox_lanes(
        self,
        ctr: [[u32; rng::LANES]; 4],
        key: [u32; 2],
    ) -> [[u32; rng::LANES]; 4] {
        use rng::PhiloxLanes;
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512(p) => p.philox(ctr, key),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2(t) => t.lanes().philox(ctr, key),
            Isa::Baseline => rng::BaselineLanes.philox(ctr, key),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512(_) => "avx512",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2(_) => "avx2",
            Isa::Baseline => "baseline",
        }
    }
}

/// Defines `$name(isa, args..)`, which runs `$body(philox, args..)` compiled for the given level.
macro_rules! multiversion {
    ($name:ident => $body:ident($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        // Not inlined (it runs once per chunk): each level's kernel is then one symbol,
        // `$name::{avx512,avx2,baseline}`, that a profiler can count on its own.
        #[inline(never)]
        #[allow(clippy::too_many_arguments)]
        fn $name(isa: $crate::device::isa::Isa, $($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi1,bmi2")]
                #[inline(never)]
                #[allow(clippy::too_many_arguments)]
                fn avx512(p: $crate::rng::Avx512Lanes, $($arg: $ty),*) -> $ret {
                    $body(p, $($arg),*)
                }
                #[target_feature(enable = "avx2,fma,bmi1,bmi2")]
                #[inline(never)]
                #[allow(clippy::too_many_arguments)]
                fn avx2(p: $crate::rng::Avx2Lanes, $($arg: $ty),*) -> $ret {
                    $body(p, $($arg),*)
                }
                // SAFETY: an `Isa` above baseline holds a token that only feature detection makes.
                match isa {
                    $crate::device::isa::Isa::Avx512(p) => return unsafe { avx512(p, $($arg),*) },
                    $crate::device::isa::Isa::Avx2(t) => return unsafe { avx2(t.lanes(), $($arg),*) },
                    $crate::device::isa::Isa::Baseline => {}
                }
            }
            let _ = isa;
            #[inline(never)]
            #[allow(clippy::too_many_arguments)]
            fn baseline($($arg: $ty),*) -> $ret {
                $body($crate::rng::BaselineLanes, $($arg),*)
            }
            baseline($($arg),*)
        }
    };
}

pub(crate) use multiversion;
