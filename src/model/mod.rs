//! Model families: parameters, derived constants and the per-neuron steps.

pub mod hydro;
pub mod hydro_lanes;
pub mod lif;
pub mod lif_connectivity;
pub mod lif_lanes;
