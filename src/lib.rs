//! balnet: simulation of large balanced excitatory/inhibitory networks on the GPU (wgpu/WGSL)
//! and the CPU, checked against the networks' large-n theory.

// Populations are indexed a = 0 (E), 1 (I) across several parallel arrays at once.
#![allow(clippy::needless_range_loop)]

pub mod config;
pub mod device;
pub mod error;
pub use error::{Error, Result};
pub mod hydro;
pub mod io;
pub mod lif;
pub mod math;
pub mod progress;
pub mod report;
pub mod rng;
pub mod selftest;
pub mod stats;
pub mod sweep;
