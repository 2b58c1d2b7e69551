//! Runs the samplers of `rng` over ranges of counters on the CPU and on the GPU, so that the
//! two can be compared bit for bit and checked against their distributions. Used by
//! `balnet selftest`, the tests and the benchmarks.

use crate::device::constants::WgslConst;
use crate::device::kernels::{KernelSource, PipelineSpec};
use crate::device::layout::HostLayout;
use crate::device::{buffers, gpu::GpuContext};
use crate::rng::{self, Stream};
use rayon::prelude::*;

/// One sampler with its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    Uniform,
    Normal,
    Bernoulli(f32),
    Poisson(f32),
    Binomial(u32, f32),
}

impl Sampler {
    fn mode(self) -> u32 {
        match self {
            Sampler::Uniform => 1,
            Sampler::Normal => 2,
            Sampler::Bernoulli(_) => 3,
            Sampler::Poisson(_) => 4,
            Sampler::Binomial(..) => 5,
        }
    }

    /// The sampler's draw at one counter, as raw bits (f32 results bitcast).
    pub fn draw(self, s: &mut Stream) -> u32 {
        match self {
            Sampler::Uniform => rng::uniform01(s).to_bits(),
            Sampler::Normal => rng::normal(s).to_bits(),
            Sampler::Bernoulli(p) => rng::bernoulli(s, p),
            Sampler::Poisson(l) => rng::poisson(s, l),
            Sampler::Binomial(m, p) => rng::binomial(s, m, p),
        }
    }

    pub fn label(self) -> String {
        match self {
            Sampler::Uniform => "uniform".into(),
            Sampler::Normal => "normal".into(),
            Sampler::Bernoulli(p) => format!("bernoulli(p={p})"),
            Sampler::Poisson(l) => format!("poisson(lambda={l})"),
            Sampler::Binomial(m, p) => format!("binomial(m={m}, p={p})"),
        }
    }
}

/// Where a batch of draws sits in counter space: neurons first..first+count at one
/// (step, purpose, replica), under `key`.
#[derive(Clone, Copy, Debug)]
pub struct DrawSite {
    pub key: [u32; 2],
    pub first_neuron: u32,
    pub step: u32,
    pub replica: u32,
}

impl DrawSite {
    pub fn new(seed: u64, step: u32) -> Self {
        DrawSite {
            key: rng::seed_key(seed),
            first_neuron: 0,
            step,
            replica: 0,
        }
    }
}

/// CPU draws, parallel over counters (the result does not depend on the thread count).
pub fn cpu_draws(sampler: Sampler, site: DrawSite, count: usize) -> Vec<u32> {
    (0..count as u32)
        .into_par_iter()
        .map(|i| {
            let ctr = rng::counter(
                site.first_neuron.wrapping_add(i),
                site.step,
                rng::Purpose::SamplerTest.as_u32(),
                site.replica,
            );
            let mut s = Stream::new(ctr, site.key);
            sampler.draw(&mut s)
        })
        .collect()
}

/// CPU Philox on explicit (counter, key) items.
pub fn cpu_philox(items: &[([u32; 4], [u32; 2])]) -> Vec<[u32; 4]> {
    items
        .par_iter()
        .map(|(c, k)| rng::philox4x32_10(*c, *k))
        .collect()
}

crate::gpu_struct! {
    #[repr(C)]
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    struct SamplerParams {
        mode: u32,
        count: u32,
        first_neuron: u32,
        step: u32,
        purpose: u32,
        replica: u32,
        key_lo: u32,
        key_hi: u32,
        m: u32,
        p: f32,
        _pad: [u32; 2] => [_pad0, _pad1],
    }
}

/// Invocations per workgroup of the sampler kernel.
const SAMPLER_WG: u32 = 64;

/// The sampler kernel module (shaders/rng/check.wgsl).
pub fn kernel_source() -> KernelSource {
    KernelSource::compose(
        "sampler_test",
        vec![WgslConst::u32("SAMPLER_WG", SAMPLER_WG)],
        "",
        crate::device::shaders::SAMPLER_TEST,
        true,
        vec![PipelineSpec::new("sample")],
    )
}

/// The host twins of the kernel's structs (device::layout).
pub(crate) fn host_layouts() -> Vec<HostLayout> {
    vec![HostLayout::of::<SamplerParams>("SamplerParams")]
}

/// The compiled sampler kernel; reuse it across calls.
pub struct GpuSamplerKernel {
    pipeline: wgpu::ComputePipeline,
}

impl GpuSamplerKernel {
    pub fn new(ctx: &GpuContext) -> anyhow::Result<Self> {
        let pipeline = ctx.kernel_pipelines(&kernel_source(), |_| None)?.remove(0);
        Ok(GpuSamplerKernel { pipeline })
    }

    fn run(
        &self,
        ctx: &GpuContext,
        params: SamplerParams,
        inputs: &[u32],
        out_words: usize,
    ) -> anyhow::Result<Vec<u32>> {
        let ubuf = buffers::uniform_from(ctx, "sampler params", &params);
        let ibuf = buffers::storage_from(ctx, "sampler inputs", inputs);
        let obuf = buffers::storage_zeroed(ctx, "sampler outputs", out_words as u64 * 4);
        let bind = buffers::bind_all(ctx, &self.pipeline, &[&ubuf, &ibuf, &obuf]);
        let (gx, gy) = buffers::grid_2d(ctx, params.count as u64, SAMPLER_WG)?;
        let mut enc = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("sampler"),
                timestamp_writes: None,
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
        ctx.queue.submit([enc.finish()]);
        buffers::read_back(ctx, &obuf, 0, out_words)
    }

    /// GPU draws at the same counters as `cpu_draws`.
    pub fn draws(
        &self,
        ctx: &GpuContext,
        sampler: Sampler,
        site: DrawSite,
        count: usize,
    ) -> anyhow::Result<Vec<u32>> {
        let (m, p) = match sampler {
            Sampler::Bernoulli(p) | Sampler::Poisson(p) => (0, p),
            Sampler::Binomial(m, p) => (m, p),
            _ => (0, 0.0),
        };
        let params = SamplerParams {
            mode: sampler.mode(),
            count: count as u32,
            first_neuron: site.first_neuron,
            step: site.step,
            purpose: rng::Purpose::SamplerTest.as_u32(),
            replica: site.replica,
            key_lo: site.key[0],
            key_hi: site.key[1],
            m,
            p,
            _pad: [0; 2],
        };
        self.run(ctx, params, &[0u32; 4], count)
    }

    /// GPU Philox on explicit (counter, key) items.
    pub fn philox(
        &self,
        ctx: &GpuContext,
        items: &[([u32; 4], [u32; 2])],
    ) -> anyhow::Result<Vec<[u32; 4]>> {
        let inputs: Vec<u32> = items
            .iter()
            .flat_map(|(c, k)| [c[0], c[1], c[2], c[3], k[0], k[1]])
            .collect();
        let params = SamplerParams {
            mode: 0,
            count: items.len() as u32,
            first_neuron: 0,
            step: 0,
            purpose: 0,
            replica: 0,
            key_lo: 0,
            key_hi: 0,
            m: 0,
            p: 0.0,
            _pad: [0; 2],
        };
        let out = self.run(ctx, params, &inputs, items.len() * 4)?;
        Ok(out
            .chunks_exact(4)
            .map(|c| [c[0], c[1], c[2], c[3]])
            .collect())
    }
}

pub use crate::rng::PHILOX_KNOWN_ANSWERS as KNOWN_ANSWERS;

/// `count` (counter, key) items spread over the whole space: edge words (0, 1, 2^31,
/// 0xffffffff, ...) in every position, then pseudo-random words from a different generator
/// (SplitMix64), so the GPU's 16-bit-half multiply is exercised on every carry pattern.
pub fn spread_items(count: usize) -> Vec<([u32; 4], [u32; 2])> {
    const EDGES: [u32; 6] = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff];
    let mut items = Vec::with_capacity(count);
    'edges: for a in EDGES {
        for b in EDGES {
            for pos in 0..6 {
                if items.len() >= count {
                    break 'edges;
                }
                let mut w = [b; 6];
                w[pos] = a;
                items.push(([w[0], w[1], w[2], w[3]], [w[4], w[5]]));
            }
        }
    }
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    while items.len() < count {
        let a = next();
        let b = next();
        let c = next();
        items.push((
            [a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32],
            [c as u32, (c >> 32) as u32],
        ));
    }
    items
}

/// Poisson means checked by the self-test and the tests: both sides of the inversion/PTRS
/// switch at `rng::POISSON_INVERSION_MAX` and up to 1e6.
pub const POISSON_GRID: [f32; 13] = [
    1e-3, 0.1, 1.0, 9.99, 10.0, 10.01, 30.0, 100.0, 300.0, 1e3, 1e4, 1e5, 1e6,
];

/// Binomial (m, p) pairs: both sides of the inversion/BTRS switch at
/// m·min(p, 1-p) = `rng::BINOMIAL_INVERSION_MAX`, the p > 1/2 reflection, m up to 1e6.
pub const BINOMIAL_GRID: [(u32, f32); 10] = [
    (1, 0.5),
    (10, 0.1),
    (100, 0.099),
    (100, 0.101),
    (50, 0.95),
    (1000, 0.5),
    (1000, 0.7),
    (1_000_000, 1e-5),
    (1_000_000, 0.3),
    (1_000_000, 0.9),
];

/// Every sampler configuration the self-test and the tests check.
pub fn sampler_grid() -> Vec<Sampler> {
    let mut v = vec![Sampler::Uniform, Sampler::Normal, Sampler::Bernoulli(0.3)];
    v.extend(POISSON_GRID.iter().map(|&l| Sampler::Poisson(l)));
    v.extend(BINOMIAL_GRID.iter().map(|&(m, p)| Sampler::Binomial(m, p)));
    v
}

/// Significance level of each goodness-of-fit test, and the z bound of each moment check.
/// With ~26 samplers x 2 backends x (1 GOF + 3 moments), the chance that a correct sampler
/// fails any check with a given seed is below 52 x (1e-6 + 3 x 5.7e-7) ≈ 1.4e-4.
pub const GOF_ALPHA: f64 = 1e-6;
pub const MOMENT_Z_MAX: f64 = 5.0;

/// A sampler's draws against its law.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct SamplerVerdict {
    pub gof: crate::stats::TestResult,
    pub gof_kind: &'static str,
    pub moments: crate::stats::MomentCheck,
    pub invalid: usize,
}

impl SamplerVerdict {
    pub fn passed(&self) -> bool {
        self.invalid == 0
            && self.gof.p_value >= GOF_ALPHA
            && self.moments.max_abs_z() <= MOMENT_Z_MAX
    }
}

/// Chi-square (discrete) or KS (continuous) and moment z-scores of `draws` (as returned by
/// `cpu_draws`/`draws`) against the sampler's exact law.
pub fn evaluate(sampler: Sampler, draws: &[u32]) -> SamplerVerdict {
    use crate::stats::{self, DiscreteLaw, LawMoments};
    let invalid = draws.iter().filter(|&&d| d == rng::SAMPLE_INVALID).count();
    let discrete = |law: DiscreteLaw| {
        let m = law.moments();
        let gof = stats::chi_square(draws, &law);
        let mc = stats::moment_check(draws.iter().map(|&d| d as f64), &m);
        (gof, mc)
    };
    let (gof, gof_kind, moments) = match sampler {
        Sampler::Uniform | Sampler::Normal => {
            let x: Vec<f32> = draws.iter().map(|&d| f32::from_bits(d)).collect();
            let (gof, law) = if sampler == Sampler::Uniform {
                (
                    stats::ks_test(&x, |v| v.clamp(0.0, 1.0)),
                    LawMoments::UNIFORM01,
                )
            } else {
                (
                    stats::ks_test(&x, stats::normal_cdf),
                    LawMoments::STANDARD_NORMAL,
                )
            };
            let mc = stats::moment_check(x.iter().map(|&v| v as f64), &law);
            (gof, "ks", mc)
        }
        Sampler::Bernoulli(p) => {
            let (g, m) = discrete(DiscreteLaw::binomial(1, p as f64));
            (g, "chi2", m)
        }
        Sampler::Poisson(l) => {
            let (g, m) = discrete(DiscreteLaw::poisson(l as f64));
            (g, "chi2", m)
        }
        Sampler::Binomial(n, p) => {
            let (g, m) = discrete(DiscreteLaw::binomial(n as u64, p as f64));
            (g, "chi2", m)
        }
    };
    SamplerVerdict {
        gof,
        gof_kind,
        moments,
        invalid,
    }
}

/// Fraction of positions where the two backends' draws differ bitwise.
pub fn mismatch_rate(a: &[u32], b: &[u32]) -> f64 {
    let diff = a.iter().zip(b).filter(|(x, y)| x != y).count();
    diff as f64 / a.len().max(1) as f64
}

/// Relative difference below which two f32 draws count as the same sample: the CPU's and
/// the GPU's `log`/`cos`/`exp` may round differently by a few ulps.
pub const SAME_SAMPLE_REL_TOL: f64 = 1e-5;

/// Fraction of positions where the draws are not the same sample: for integer samplers any
/// difference, for f32 samplers (uniform, normal) a difference above `SAME_SAMPLE_REL_TOL`.
pub fn different_sample_rate(sampler: Sampler, a: &[u32], b: &[u32]) -> f64 {
    let continuous = matches!(sampler, Sampler::Uniform | Sampler::Normal);
    let diff = a
        .iter()
        .zip(b)
        .filter(|(x, y)| {
            if !continuous {
                return x != y;
            }
            let (x, y) = (f32::from_bits(**x) as f64, f32::from_bits(**y) as f64);
            (x - y).abs() > SAME_SAMPLE_REL_TOL * x.abs().max(1.0)
        })
        .count();
    diff as f64 / a.len().max(1) as f64
}
