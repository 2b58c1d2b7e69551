//! Model H: the all-to-all stochastic hybrid network and its hydrodynamic limit. Start at
//! [`Simulation`] (an example runs a network and checks it against the corrected limit).

pub mod backend;
pub mod config;
pub mod cpu;
pub mod gpu;
pub mod lanes;
pub mod output;
pub mod plot;
pub mod record;
pub mod sim;
pub mod step;
pub mod theory;

pub use config::{Coupling, HydroConfig, HydroSetup};
pub use sim::{Member, Simulation};
