//! Figures and reports: the plotting layer and the convergence report of sweeps over n.

pub mod convergence;
pub mod plot;
