//! Model L on the GPU backend against the CPU backend: the same network (CSR word for word)
//! and the same statistics.

mod common;

use balnet::backend::gpu::lif::LifGpu;
use balnet::config::lif::{DelayConfig, LifConfig, LifSetup, SynapseConfig};
use balnet::model::lif_connectivity::build_csr;

fn setup(f: impl FnOnce(&mut LifConfig)) -> LifSetup {
    let mut c = LifConfig {
        k: 100,
        synapse: SynapseConfig::Conductance { a: 9e-3, g: 20.0 },
        ..LifConfig::default()
    };
    f(&mut c);
    c.validate().expect("valid config")
}

/// The device builds exactly the CPU's CSR (offsets and every synapse word, delays included)
/// for fixed in-degrees, Gaussian in-degrees, random delays, unequal populations and a replica.
#[test]
fn gpu_builds_the_cpu_network() {
    let Some(ctx) = common::gpu() else { return };
    let cases: Vec<(&str, LifSetup, u32)> = vec![
        (
            "fixed K",
            setup(|c| {
                c.n_e = Some(800);
                c.n_i = Some(300);
            }),
            0,
        ),
        (
            "cv_k 0.3, seed 7",
            setup(|c| {
                c.n_e = Some(700);
                c.n_i = Some(500);
                c.cv_k = 0.3;
                c.seed = 7;
            }),
            0,
        ),
        (
            "random delays, replica 3",
            setup(|c| {
                c.n_e = Some(600);
                c.n_i = Some(400);
                c.k = 150;
                c.delay = DelayConfig::Uniform {
                    e_ms: [0.5, 2.0],
                    i_ms: [0.0, 0.5],
                };
            }),
            3,
        ),
        (
            "rows longer than the workgroup sort",
            setup(|c| {
                c.n_e = Some(9000);
                c.n_i = Some(100);
                c.k = 20;
                c.gamma = 4.0;
            }),
            0,
        ),
    ];
    for (name, s, replica) in cases {
        let gpu = LifGpu::new(ctx.clone(), &s, replica).expect("gpu backend");
        let got = gpu.csr().expect("read back").expect("csr");
        let want = build_csr(&s, replica);
        assert_eq!(got.offsets, want.offsets, "{name}: offsets");
        let diff = got
            .synapses
            .iter()
            .zip(&want.synapses)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            diff,
            0,
            "{name}: {diff} of {} synapse words differ",
            want.synapses.len()
        );
        assert_eq!(got, want, "{name}");
        eprintln!("{name}: {} synapses identical", want.synapses.len());
    }
}
