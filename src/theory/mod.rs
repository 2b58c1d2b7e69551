//! Analytical predictions the simulations are held against.

pub mod hydro_limit;
pub mod lif_meanfield;
