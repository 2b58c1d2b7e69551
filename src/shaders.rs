//! WGSL sources, compiled into the binary. Every kernel is compiled after `RNG` and `MATH`.

pub const RNG: &str = include_str!("../shaders/rng.wgsl");
pub const MATH: &str = include_str!("../shaders/math.wgsl");
pub const SAMPLER_TEST: &str = include_str!("../shaders/sampler_test.wgsl");
pub const HYDRO: &str = include_str!("../shaders/hydro.wgsl");
pub const LIF: &str = include_str!("../shaders/lif.wgsl");
pub const LIF_CONN: &str = include_str!("../shaders/lif_connectivity.wgsl");
