//! `balnet theory`: the large-n limit of a config (model H: its steady state and first-order
//! coefficients, with `n` its prediction at that size; model L: the self-consistent
//! mean-field state).

use super::{ConfigRequest, Spelling, check_n};
use crate::model_config::ModelConfig;
use std::path::Path;

/// The theory of a config.
#[derive(Clone, Debug)]
pub enum TheoryReport {
    Hydro {
        /// Steady state and first-order coefficients per population [E, I].
        steady: crate::hydro::theory::TheoryPoint,
        /// The size of the first-order prediction, if asked.
        n: Option<u64>,
    },
    Lif(crate::lif::output::LifTheory),
}

impl TheoryReport {
    /// Model H's first-order prediction at `n` of population `a`: (rate, mean, var).
    pub fn at_n(steady: &crate::hydro::theory::TheoryPoint, a: usize, n: u64) -> [f64; 3] {
        let s = (n as f64).sqrt();
        [
            steady.rate[a] + steady.delta[a] / s,
            steady.mu[a] + steady.m1[a] / s,
            steady.var[a] + steady.v1[a] / s,
        ]
    }
}

/// The theory of `config`; with `out`, also its files there (model H: theory.csv; model L:
/// theory.json and pv.csv).
pub fn theory(
    config: &ConfigRequest,
    n: Option<u64>,
    out: Option<&Path>,
    spelling: Spelling,
) -> anyhow::Result<TheoryReport> {
    let cfg = config.load()?;
    check_n(cfg.model(), n, spelling)?;
    Ok(match cfg {
        ModelConfig::Hydro(c) => TheoryReport::Hydro {
            steady: crate::hydro::output::theory(*c, n, out)?,
            n,
        },
        ModelConfig::Lif(c) => TheoryReport::Lif(crate::lif::output::theory(*c, out)?),
    })
}
