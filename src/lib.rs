//! balnet simulates large balanced excitatory/inhibitory networks on the GPU (wgpu/WGSL) and
//! the CPU, and checks them against their large-n theory.
//!
//! Two models, each in its own module with the same file roles (`config`, `step`, `lanes`,
//! `cpu`, `gpu`, `record`, `theory`, `sim`, `output`, `plot`):
//! - [`hydro`] (model H): the all-to-all stochastic hybrid network with one Poisson process
//!   per ordered pair of neurons, whose population laws converge to a Gaussian limit with
//!   autonomous ODEs (the hydrodynamic limit), with first-order finite-n corrections;
//! - [`lif`] (model L): leaky integrate-and-fire networks with conductance- or current-based
//!   synapses, and their mean-field (diffusion) theory.
//!
//! A model runs through its `Simulation`, built from a validated config and a
//! [`device::Device`]; results stay in memory and `output` writes the CLI's run directory
//! from them. Shared parts: [`rng`] (the counter-based Philox stream, identical in Rust and
//! WGSL), [`math`] (f32 functions with WGSL twins), [`device`], [`io`], [`report`], [`sweep`].
//!
//! ```
//! use balnet::device::Device;
//! use balnet::hydro::{HydroConfig, Simulation};
//! use balnet::progress::Quiet;
//!
//! let setup = HydroConfig { n: 2000, duration: 3.0, ..HydroConfig::default() }
//!     .validate(false)
//!     .unwrap();
//! // Balance pins the population rates: r = -J_s^{-1} h, (0.3, 0.45) by default.
//! assert!((setup.rates[0] - 0.3).abs() < 1e-12);
//! let mut sim = Simulation::new(setup, &Device::cpu().unwrap()).unwrap();
//! sim.run_to_end(&mut Quiet).unwrap();
//! let last = sim.moments(0).into_iter().rev().find(|r| r.population == 0).unwrap();
//! // At n = 2000 the E rate sits within a few per cent of its limit 0.3.
//! assert!((last.rate - 0.3).abs() < 0.03, "E rate {}", last.rate);
//! ```

// Populations are indexed a = 0 (E), 1 (I) across several parallel arrays at once.
#![allow(clippy::needless_range_loop)]

pub mod app;
pub mod config;
pub mod device;
pub mod driver;
pub mod error;
pub mod hydro;
pub mod io;
pub mod kernels;
pub mod lif;
pub mod math;
pub mod model_config;
pub mod numerics;
pub mod progress;
pub mod report;
pub mod resume;
pub mod rng;
pub mod selftest;
pub mod stats;
pub mod sweep;

pub use error::{Error, Result};
