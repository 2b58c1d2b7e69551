//! WGSL `const` declarations generated from the Rust constants they mirror, so that a value
//! shared by the CPU code and the kernels (RNG constants, purposes, thresholds of the math
//! twins, word layouts, override codes) is written once, in Rust. `device::kernels` puts
//! `common()` and each kernel's own list in front of its WGSL; the .wgsl files do not declare
//! them. `tests/wgsl_layout.rs` checks that naga reads back every value bit for bit.

use crate::rng::{self, Purpose};

/// A value of a generated WGSL constant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WgslValue {
    U32(u32),
    F32(f32),
}

/// One generated `const NAME: type = value;`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WgslConst {
    pub name: &'static str,
    pub value: WgslValue,
}

impl WgslConst {
    pub const fn u32(name: &'static str, v: u32) -> Self {
        WgslConst {
            name,
            value: WgslValue::U32(v),
        }
    }

    pub const fn f32(name: &'static str, v: f32) -> Self {
        WgslConst {
            name,
            value: WgslValue::F32(v),
        }
    }

    /// The WGSL declaration. f32 values are written as the shortest decimal that reads back
    /// as the same f32 (Rust's `{:?}`), with the `f` suffix, which WGSL parses directly as f32.
    pub fn declaration(&self) -> String {
        match self.value {
            WgslValue::U32(v) => format!("const {}: u32 = {v}u;", self.name),
            WgslValue::F32(v) => {
                assert!(v.is_finite(), "WGSL has no literal for {v}");
                format!("const {}: f32 = {v:?}f;", self.name)
            }
        }
    }
}

/// The declarations of `consts`, one a line.
pub fn declarations(consts: &[WgslConst]) -> String {
    let mut s = String::new();
    for c in consts {
        s.push_str(&c.declaration());
        s.push('\n');
    }
    s
}

/// The constants of shaders/common/rng.wgsl and shaders/common/math.wgsl and the purposes:
/// compiled into every kernel.
pub fn common() -> Vec<WgslConst> {
    let mut v = vec![
        WgslConst::u32("PHILOX_M0", rng::PHILOX_M0),
        WgslConst::u32("PHILOX_M1", rng::PHILOX_M1),
        WgslConst::u32("PHILOX_W0", rng::PHILOX_W0),
        WgslConst::u32("PHILOX_W1", rng::PHILOX_W1),
        WgslConst::u32("STREAM_MAX_BLOCKS", rng::STREAM_MAX_BLOCKS),
        WgslConst::u32("SAMPLE_INVALID", rng::SAMPLE_INVALID),
        WgslConst::f32("POISSON_LAMBDA_MAX", rng::POISSON_LAMBDA_MAX),
        WgslConst::f32("POISSON_INVERSION_MAX", rng::POISSON_INVERSION_MAX),
        WgslConst::f32("BINOMIAL_INVERSION_MAX", rng::BINOMIAL_INVERSION_MAX),
        WgslConst::u32("BINOMIAL_M_MAX", rng::BINOMIAL_M_MAX),
        WgslConst::f32("TAU_F32", std::f32::consts::TAU),
        WgslConst::f32("EXPM1_SERIES_MAX", crate::math::EXPM1_SERIES_MAX),
        WgslConst::f32("EXP_NEG_SERIES_MAX", crate::math::EXP_NEG_SERIES_MAX),
        WgslConst::f32("F32_MIN_POSITIVE", f32::MIN_POSITIVE),
    ];
    v.extend(
        Purpose::ALL
            .iter()
            .map(|p| WgslConst::u32(p.wgsl_name(), p.as_u32())),
    );
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_are_exact() {
        assert_eq!(
            WgslConst::u32("A", 0xFFFF_FFFF).declaration(),
            "const A: u32 = 4294967295u;"
        );
        assert_eq!(
            WgslConst::f32("B", 0.015625).declaration(),
            "const B: f32 = 0.015625f;"
        );
        assert_eq!(
            WgslConst::f32("C", std::f32::consts::TAU).declaration(),
            "const C: f32 = 6.2831855f;"
        );
        assert_eq!(
            WgslConst::f32("D", 1.0e7).declaration(),
            "const D: f32 = 10000000.0f;"
        );
        // The shortest decimal reads back as the same f32.
        for v in [f32::MIN_POSITIVE, 0.1, 1.0 / 3.0, f32::MAX] {
            let d = WgslConst::f32("X", v).declaration();
            let lit = d
                .trim_start_matches("const X: f32 = ")
                .trim_end_matches("f;");
            assert_eq!(lit.parse::<f32>().unwrap().to_bits(), v.to_bits(), "{d}");
        }
    }
}
