//! CPU instruction-set levels: detection once per run, and `multiversion!`, which compiles a
//! kernel body for each level and dispatches on the detected one. Every level computes
//! bitwise the same numbers (Rust never contracts a * b + c into an FMA).

use crate::rng;

/// The instruction-set level the chunk kernels run at, detected once. Every level computes
/// bitwise the same numbers (no fused multiply-add contraction, the same exp), only faster.
#[derive(Clone, Copy, Debug)]
pub enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512(rng::Avx512Lanes),
    Avx2,
    Baseline,
}

impl Isa {
    /// Every level this CPU can run, best first.
    pub fn available() -> Vec<Isa> {
        let mut v = vec![Isa::detect()];
        #[cfg(target_arch = "x86_64")]
        if !matches!(v[0], Isa::Avx2 | Isa::Baseline) && std::is_x86_feature_detected!("avx2") {
            v.push(Isa::Avx2);
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
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }

    pub fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512(_) => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Baseline => "baseline",
        }
    }
}

/// Defines `$name(isa, args..)`, which runs `$body(philox, args..)` compiled for the given level.
macro_rules! multiversion {
    ($name:ident => $body:ident($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        #[allow(clippy::too_many_arguments)]
        fn $name(isa: $crate::device::isa::Isa, $($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi1,bmi2")]
                #[allow(clippy::too_many_arguments)]
                fn avx512(p: $crate::rng::Avx512Lanes, $($arg: $ty),*) -> $ret {
                    $body(p, $($arg),*)
                }
                #[target_feature(enable = "avx2,fma,bmi1,bmi2")]
                #[allow(clippy::too_many_arguments)]
                fn avx2($($arg: $ty),*) -> $ret {
                    $body($crate::rng::PortableLanes, $($arg),*)
                }
                // SAFETY: `isa` came from `Isa::detect`, which checked these features.
                match isa {
                    $crate::device::isa::Isa::Avx512(p) => return unsafe { avx512(p, $($arg),*) },
                    $crate::device::isa::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::device::isa::Isa::Baseline => {}
                }
            }
            let _ = isa;
            $body($crate::rng::PortableLanes, $($arg),*)
        }
    };
}

pub(crate) use multiversion;
