//! Model L: conductance- and current-based LIF networks and their mean-field theory.

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
pub mod step;
pub mod theory;
