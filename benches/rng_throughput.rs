//! Throughput of Philox and the Poisson sampler: one CPU thread, all CPU threads, and the GPU
//! backend (wall time of one call: upload, kernel and readback). Run with
//! `cargo bench --bench rng_throughput`.

use balnet::device::gpu::GpuContext;
use balnet::rng::check::{DrawSite, GpuSamplerKernel, Sampler};
use balnet::rng::{self, Stream};
use rayon::prelude::*;
use std::time::Instant;

const COUNT: u32 = 4_000_000;

fn cpu_rate(threads: usize, f: impl Fn(u32) -> u32 + Sync) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        let t = Instant::now();
        let s: u64 = (0..COUNT).into_par_iter().map(|i| f(i) as u64).sum();
        std::hint::black_box(s);
        COUNT as f64 / t.elapsed().as_secs_f64()
    })
}

fn main() {
    let threads = rayon::current_num_threads();
    let key = rng::seed_key(42);
    let philox = |i: u32| rng::philox4x32_10([i, 1, 2, 3], key)[0];
    println!("Philox4x32-10 (4 words per call), calls/s:");
    println!("  cpu 1 thread   {:.3e}", cpu_rate(1, philox));
    println!("  cpu {threads} threads  {:.3e}", cpu_rate(threads, philox));
    for lambda in [1.0f32, 300.0, 1e5] {
        let pois = move |i: u32| {
            let mut s = Stream::new([i, 1, rng::purpose::SAMPLER_TEST, 0], key);
            rng::poisson(&mut s, lambda)
        };
        println!("Poisson(lambda = {lambda}), samples/s:");
        println!("  cpu 1 thread   {:.3e}", cpu_rate(1, pois));
        println!("  cpu {threads} threads  {:.3e}", cpu_rate(threads, pois));
    }
    let Ok(ctx) = GpuContext::new() else {
        println!("no GPU adapter: GPU rows skipped");
        return;
    };
    println!("GPU adapter: {}", ctx.report.summary());
    let kernel = GpuSamplerKernel::new(&ctx).expect("compile");
    let site = DrawSite::new(42, 1);
    // Warm up (pipeline compilation), then time draws of COUNT samples.
    let _ = kernel.draws(&ctx, Sampler::Poisson(1.0), site, 1024);
    for (label, s) in [
        ("uniform (1 Philox call each)", Sampler::Uniform),
        ("Poisson(lambda = 1)", Sampler::Poisson(1.0)),
        ("Poisson(lambda = 300)", Sampler::Poisson(300.0)),
        ("Poisson(lambda = 1e5)", Sampler::Poisson(1e5)),
    ] {
        let t = Instant::now();
        let _ = kernel.draws(&ctx, s, site, COUNT as usize).expect("gpu");
        let with_readback = t.elapsed().as_secs_f64();
        println!(
            "  gpu {label}: {:.3e} samples/s (including upload and readback of the buffers)",
            COUNT as f64 / with_readback
        );
    }
}
