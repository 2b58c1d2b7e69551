//! WGSL sources, compiled into the binary. `device::kernels` composes each module from them
//! (every kernel after the generated constants, `RNG` and `MATH`).
//! Each file is the twin of a Rust module: shaders/common/rng.wgsl of `rng`,
//! shaders/common/math.wgsl of `math`, shaders/hydro/step.wgsl of `hydro::step`,
//! shaders/lif/step.wgsl of `lif::step`, shaders/lif/connectivity.wgsl of
//! `lif::connectivity`, shaders/rng/check.wgsl of `rng::check`.

pub const RNG: &str = include_str!("../../shaders/common/rng.wgsl");
pub const MATH: &str = include_str!("../../shaders/common/math.wgsl");
pub const SAMPLER_TEST: &str = include_str!("../../shaders/rng/check.wgsl");
pub const HYDRO: &str = include_str!("../../shaders/hydro/step.wgsl");
pub const LIF: &str = include_str!("../../shaders/lif/step.wgsl");
pub const LIF_CONN: &str = include_str!("../../shaders/lif/connectivity.wgsl");
