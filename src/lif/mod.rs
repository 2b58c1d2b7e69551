//! Model L: conductance- and current-based LIF networks and their mean-field theory. Start at
//! [`Simulation`] (an example runs an annealed network against mean-field theory).

pub mod backend;
pub mod config;
pub mod connectivity;
pub mod cpu;
pub mod gpu;
pub mod gpu_connectivity;
pub mod lanes;
pub mod output;
pub mod plot;
pub mod record;
pub mod sim;
pub mod step;
pub mod theory;

pub use config::{Connectivity, Integrator, LifConfig, LifSetup, SynapseConfig};
pub use sim::Simulation;
