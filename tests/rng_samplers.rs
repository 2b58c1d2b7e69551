//! The counter-based RNG and its samplers on both backends: known answers, bitwise equality of
//! the streams, and goodness of fit of every sampler on 1e6 draws.
//!
//! False-failure probability: each sampler check fails a correct sampler with probability at
//! most GOF_ALPHA + 3 x P(|Z| > 5) = 1e-6 + 1.7e-6; over the 26 samplers x 2 backends here
//! that is below 1.5e-4 for the fixed seed used.

mod common;

use balnet::rng;
use balnet::rng::check::{self as sc, DrawSite, GpuSamplerKernel, Sampler};

const SAMPLES: usize = 1_000_000;

fn site() -> DrawSite {
    DrawSite::new(0x0123_4567_89ab_cdef, 42)
}

#[test]
fn known_answers_cpu() {
    for (c, k, want) in sc::KNOWN_ANSWERS {
        assert_eq!(rng::philox4x32_10(c, k), want);
    }
}

#[test]
fn known_answers_and_bitwise_philox_gpu() {
    let Some(ctx) = common::gpu() else { return };
    let kernel = GpuSamplerKernel::new(&ctx).expect("compile");
    let kat: Vec<_> = sc::KNOWN_ANSWERS.iter().map(|(c, k, _)| (*c, *k)).collect();
    let got = kernel.philox(&ctx, &kat).expect("gpu philox");
    for (g, (_, _, want)) in got.iter().zip(sc::KNOWN_ANSWERS) {
        assert_eq!(*g, want);
    }
    let items = sc::spread_items(1_000_000);
    // The edge words 0 and 0xffffffff appear in every counter and key position.
    assert!(
        items
            .iter()
            .any(|(c, k)| c.contains(&0) && k.contains(&u32::MAX))
    );
    let gpu = kernel.philox(&ctx, &items).expect("gpu philox");
    let cpu = sc::cpu_philox(&items);
    let diff = gpu.iter().zip(&cpu).filter(|(a, b)| a != b).count();
    assert_eq!(diff, 0, "{diff} of {} Philox outputs differ", items.len());
}

fn check(sampler: Sampler, draws: &[u32], backend: &str) {
    let v = sc::evaluate(sampler, draws);
    eprintln!(
        "{backend} {:<32} {} p={:.3e} z=({:.2},{:.2},{:.2})",
        sampler.label(),
        v.gof_kind,
        v.gof.p_value,
        v.moments.z_mean,
        v.moments.z_var,
        v.moments.z_mu3
    );
    assert!(v.passed(), "{backend} {}: {v:?}", sampler.label());
}

#[test]
fn samplers_fit_their_laws_cpu() {
    for sampler in sc::sampler_grid() {
        check(sampler, &sc::cpu_draws(sampler, site(), SAMPLES), "cpu");
    }
}

#[test]
fn samplers_fit_their_laws_and_match_cpu_gpu() {
    let Some(ctx) = common::gpu() else { return };
    let kernel = GpuSamplerKernel::new(&ctx).expect("compile");
    for sampler in sc::sampler_grid() {
        let gpu = kernel
            .draws(&ctx, sampler, site(), SAMPLES)
            .expect("gpu draws");
        check(sampler, &gpu, "gpu");
        let cpu = sc::cpu_draws(sampler, site(), SAMPLES);
        let same = sc::different_sample_rate(sampler, &gpu, &cpu);
        eprintln!(
            "    CPU/GPU different samples {same:.2e}, bitwise mismatch {:.2e}",
            sc::mismatch_rate(&gpu, &cpu)
        );
        assert!(same <= 1e-3, "{}: {same}", sampler.label());
    }
}

#[test]
fn invalid_parameters_give_the_sentinel_on_both_backends() {
    let bad = [
        Sampler::Poisson(f32::NAN),
        Sampler::Poisson(-1.0),
        Sampler::Poisson(f32::INFINITY),
        Sampler::Poisson(2e7),
        Sampler::Binomial(10, f32::NAN),
        Sampler::Binomial(10, 1.5),
        Sampler::Binomial(rng::BINOMIAL_M_MAX + 1, 0.5),
    ];
    let gpu = common::gpu();
    let kernel = gpu
        .as_ref()
        .map(|c| GpuSamplerKernel::new(c).expect("compile"));
    for s in bad {
        let cpu = sc::cpu_draws(s, site(), 1000);
        assert!(cpu.iter().all(|&d| d == rng::SAMPLE_INVALID), "cpu {s:?}");
        if let (Some(ctx), Some(k)) = (&gpu, &kernel) {
            let g = k.draws(ctx, s, site(), 1000).expect("gpu");
            assert!(g.iter().all(|&d| d == rng::SAMPLE_INVALID), "gpu {s:?}");
        }
    }
}

#[test]
fn draws_do_not_depend_on_how_the_range_is_split() {
    // The same counters drawn as one range or as two offset ranges give the same samples.
    let s = Sampler::Poisson(123.0);
    let whole = sc::cpu_draws(s, site(), 10_000);
    let mut second = site();
    second.first_neuron = 4_000;
    let tail = sc::cpu_draws(s, second, 6_000);
    assert_eq!(&whole[4_000..], &tail[..]);
    if let Some(ctx) = common::gpu() {
        let k = GpuSamplerKernel::new(&ctx).expect("compile");
        let g_whole = k.draws(&ctx, s, site(), 10_000).expect("gpu");
        assert_eq!(
            &g_whole[4_000..],
            &k.draws(&ctx, s, second, 6_000).expect("gpu")[..]
        );
    }
}

/// Negative control of the goodness-of-fit checks above, and their power: draws from a law 1%
/// off its nominal parameter fail the nominal law's check. With 1e6 draws the mean's z-test
/// alone puts a 1% bias of Poisson(3) at 17 sd, of Poisson(450) at 212 sd and of
/// Binomial(100, 0.3) at 65 sd, far beyond its bound of 5 sd: each is caught with probability
/// above 0.99 (the chi-square test adds to it). A 1% bias of a small mean, Poisson(0.02), is
/// below the check's resolution (the mean's sd is sqrt(lambda/1e6), 0.7% of lambda there).
#[test]
fn a_one_percent_biased_sampler_fails_its_check() {
    for (drawn, nominal) in [
        (Sampler::Poisson(3.03), Sampler::Poisson(3.0)),
        (Sampler::Poisson(454.5), Sampler::Poisson(450.0)),
        (Sampler::Binomial(100, 0.303), Sampler::Binomial(100, 0.3)),
    ] {
        let v = sc::evaluate(nominal, &sc::cpu_draws(drawn, site(), SAMPLES));
        eprintln!(
            "{} drawn, checked as {}: passed {} (z mean {:.1}, p {:.1e})",
            drawn.label(),
            nominal.label(),
            v.passed(),
            v.moments.z_mean,
            v.gof.p_value
        );
        assert!(
            !v.passed(),
            "{} passed as {}",
            drawn.label(),
            nominal.label()
        );
    }
}
