//! `balnet selftest`: what a user runs on a new machine or GPU driver before trusting it.
//! Known-answer vectors, bitwise CPU/GPU equality of Philox, and quick distribution checks
//! of every sampler on each available backend.

use crate::device::gpu::GpuContext;
use crate::rng::check::{self, DrawSite, GpuSamplerKernel};
use serde::Serialize;
use std::sync::Arc;

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub backend: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// Counters compared bitwise between the backends, and samples per sampler check.
pub const SELFTEST_PHILOX_ITEMS: usize = 100_000;
pub const SELFTEST_SAMPLES: usize = 200_000;
/// Largest CPU/GPU mismatch rate of a sampler's draws (transcendental rounding) accepted.
pub const MAX_MISMATCH_RATE: f64 = 1e-3;

fn push(v: &mut Vec<Check>, name: String, backend: &'static str, passed: bool, detail: String) {
    v.push(Check {
        name,
        backend,
        passed,
        detail,
    });
}

fn sampler_checks(
    out: &mut Vec<Check>,
    backend: &'static str,
    draws: impl Fn(check::Sampler) -> anyhow::Result<Vec<u32>>,
    reference: Option<&dyn Fn(check::Sampler) -> Vec<u32>>,
) {
    for sampler in check::sampler_grid() {
        match draws(sampler) {
            Err(e) => push(out, sampler.label(), backend, false, format!("{e:#}")),
            Ok(d) => {
                let v = check::evaluate(sampler, &d);
                let mut detail = format!(
                    "{} p={:.3e}, z(mean,var,mu3)=({:.2},{:.2},{:.2}), invalid={}",
                    v.gof_kind,
                    v.gof.p_value,
                    v.moments.z_mean,
                    v.moments.z_var,
                    v.moments.z_mu3,
                    v.invalid
                );
                let mut passed = v.passed();
                if let Some(cpu) = reference {
                    let c = cpu(sampler);
                    let bits = check::mismatch_rate(&d, &c);
                    let rate = check::different_sample_rate(sampler, &d, &c);
                    detail.push_str(&format!(
                        ", CPU/GPU different samples {rate:.2e} (bitwise {bits:.2e})"
                    ));
                    passed &= rate <= MAX_MISMATCH_RATE;
                }
                push(out, sampler.label(), backend, passed, detail);
            }
        }
    }
}

/// Runs the checks on the CPU and, when `gpu` is given, on the GPU.
pub fn run(gpu: Option<&Arc<GpuContext>>, cpu: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let site = DrawSite::new(0x5eed_ba1a_0000_0001, 7);
    let cpu_draws = |s: check::Sampler| check::cpu_draws(s, site, SELFTEST_SAMPLES);
    if cpu {
        for (i, (c, k, want)) in check::KNOWN_ANSWERS.iter().enumerate() {
            let got = crate::rng::philox4x32_10(*c, *k);
            push(
                &mut out,
                format!("philox known answer {}", i + 1),
                "cpu",
                got == *want,
                format!("{got:08x?}"),
            );
        }
        sampler_checks(&mut out, "cpu", |s| Ok(cpu_draws(s)), None);
    }
    if let Some(ctx) = gpu {
        let kernel = match GpuSamplerKernel::new(ctx) {
            Ok(k) => k,
            Err(e) => {
                push(
                    &mut out,
                    "compile sampler kernel".into(),
                    "gpu",
                    false,
                    format!("{e:#}"),
                );
                return out;
            }
        };
        let kat: Vec<_> = check::KNOWN_ANSWERS
            .iter()
            .map(|(c, k, _)| (*c, *k))
            .collect();
        match kernel.philox(ctx, &kat) {
            Ok(got) => {
                for (i, g) in got.iter().enumerate() {
                    push(
                        &mut out,
                        format!("philox known answer {}", i + 1),
                        "gpu",
                        *g == check::KNOWN_ANSWERS[i].2,
                        format!("{g:08x?}"),
                    );
                }
            }
            Err(e) => push(
                &mut out,
                "philox known answers".into(),
                "gpu",
                false,
                format!("{e:#}"),
            ),
        }
        let items = check::spread_items(SELFTEST_PHILOX_ITEMS);
        let name = format!("philox CPU == GPU bitwise on {} counters", items.len());
        match kernel.philox(ctx, &items) {
            Ok(got) => {
                let want = check::cpu_philox(&items);
                let diff = got.iter().zip(&want).filter(|(a, b)| a != b).count();
                push(&mut out, name, "gpu", diff == 0, format!("{diff} differ"));
            }
            Err(e) => push(&mut out, name, "gpu", false, format!("{e:#}")),
        }
        sampler_checks(
            &mut out,
            "gpu",
            |s| kernel.draws(ctx, s, site, SELFTEST_SAMPLES),
            Some(&cpu_draws),
        );
    }
    out
}
