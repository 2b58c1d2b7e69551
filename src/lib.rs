//! balnet: simulation of large balanced excitatory/inhibitory networks on the GPU (wgpu/WGSL)
//! and the CPU, checked against the networks' large-n theory. See README.md and MODEL.md.

// Populations are indexed a = 0 (E), 1 (I) across several parallel arrays at once.
#![allow(clippy::needless_range_loop)]

pub mod backend;
pub mod checkpoint;
pub mod config;
pub mod convergence;
pub mod math;
pub mod model;
pub mod plot;
pub mod plot_lif;
pub mod plot_moments;
pub mod progress;
pub mod record;
pub mod replicas;
pub mod rng;
pub mod run;
pub mod run_lif;
pub mod sampler_check;
pub mod selftest;
pub mod shaders;
pub mod stats;
pub mod sweep;
pub mod theory;
