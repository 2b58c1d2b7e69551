//! The n -> infinity convergence report of a model H sweep over n (and seeds): per n and
//! population, the late-time error of rate, mean and variance against the limit, times
//! sqrt(n), averaged over seeds with its standard error, beside the first-order coefficient
//! and the scheme's O(dt) offset; convergence.csv and a log-log convergence.png with the
//! n^{-1/2} slope drawn.

use crate::config::Model;
use crate::io::run_json::{Comparison, RunJson};
use crate::io::{Csv, num};
use crate::progress::Status;
use crate::report::plot::{Panel, Series, SeriesStyle, write_panels_png};
use std::collections::BTreeMap;
use std::path::Path;

/// One row of convergence.csv.
#[derive(Clone, Debug)]
pub struct ConvergenceRow {
    pub n: u64,
    pub seeds: usize,
    pub population: &'static str,
    pub quantity: &'static str,
    /// Mean over seeds of (sim - limit) and its standard error.
    pub error: f64,
    pub error_se: f64,
    pub coefficient: f64,
    /// corrected_at_dt - corrected (the scheme's O(dt) offset).
    pub dt_offset: f64,
}

const QUANTITIES: [&str; 3] = ["rate", "mean", "var"];
const POPS: [&str; 2] = ["E", "I"];

/// Reads every complete model H run under dir/runs and groups it by n.
pub fn collect(dir: &Path) -> anyhow::Result<Vec<ConvergenceRow>> {
    let mut by_n: BTreeMap<u64, Vec<RunJson>> = BTreeMap::new();
    let runs = dir.join("runs");
    let mut entries: Vec<_> = std::fs::read_dir(&runs)
        .map_err(|e| anyhow::anyhow!("{}: {e}", runs.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let Some(v) = RunJson::read(&p) else {
            continue;
        };
        if v.status != Some(Status::Complete) || v.model != Some(Model::Hydro) {
            continue;
        }
        let Some(n) = v.config.n else {
            continue;
        };
        by_n.entry(n).or_default().push(v);
    }
    let mut rows = Vec::new();
    for (n, runs) in &by_n {
        for (a, pop) in POPS.iter().enumerate() {
            for q in QUANTITIES {
                let get = |r: &RunJson, f: fn(&Comparison) -> Option<f64>| {
                    r.late_time.get(a).and_then(|p| p.get(q)).and_then(f)
                };
                let errs: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| get(r, |c| c.error_vs_limit))
                    .collect();
                if errs.is_empty() {
                    continue;
                }
                let k = errs.len() as f64;
                let m = errs.iter().sum::<f64>() / k;
                let se = if errs.len() > 1 {
                    (errs.iter().map(|e| (e - m).powi(2)).sum::<f64>() / (k - 1.0) / k).sqrt()
                } else {
                    f64::NAN
                };
                let r0 = &runs[0];
                rows.push(ConvergenceRow {
                    n: *n,
                    seeds: errs.len(),
                    population: pop,
                    quantity: q,
                    error: m,
                    error_se: se,
                    coefficient: get(r0, |c| c.first_order_coefficient).unwrap_or(f64::NAN),
                    dt_offset: get(r0, |c| c.corrected_at_dt).unwrap_or(f64::NAN)
                        - get(r0, |c| c.corrected).unwrap_or(f64::NAN),
                });
            }
        }
    }
    Ok(rows)
}

/// Writes convergence.csv and convergence.png into dir.
pub fn write(dir: &Path, rows: &[ConvergenceRow]) -> anyhow::Result<()> {
    let mut csv = Csv::new(&[
        "n",
        "seeds",
        "population",
        "quantity",
        "error",
        "error_se",
        "error_x_sqrt_n",
        "error_x_sqrt_n_se",
        "coefficient",
        "dt_offset_x_sqrt_n",
        "prediction_x_sqrt_n",
    ]);
    for r in rows {
        let s = (r.n as f64).sqrt();
        csv.row(&[
            r.n.to_string(),
            r.seeds.to_string(),
            r.population.into(),
            r.quantity.into(),
            num(r.error),
            num(r.error_se),
            num(r.error * s),
            num(r.error_se * s),
            num(r.coefficient),
            num(r.dt_offset * s),
            num(r.coefficient + r.dt_offset * s),
        ]);
    }
    csv.write(&dir.join("convergence.csv"))?;
    let mut panels = Vec::new();
    for q in QUANTITIES {
        let mut series = Vec::new();
        for (a, pop) in POPS.iter().enumerate() {
            let pts: Vec<&ConvergenceRow> = rows
                .iter()
                .filter(|r| r.population == *pop && r.quantity == q && r.error != 0.0)
                .collect();
            if pts.is_empty() {
                continue;
            }
            series.push(Series {
                label: format!("{pop} |sim - limit|"),
                x: pts.iter().map(|r| r.n as f64).collect(),
                y: pts.iter().map(|r| r.error.abs()).collect(),
                style: SeriesStyle::Points(a),
            });
            // The n^{-1/2} slope through the first-order coefficient.
            let c = pts[0].coefficient.abs();
            series.push(Series {
                label: format!("{pop} |coefficient| / sqrt(n)"),
                x: pts.iter().map(|r| r.n as f64).collect(),
                y: pts.iter().map(|r| c / (r.n as f64).sqrt()).collect(),
                style: SeriesStyle::Dashed(a),
            });
        }
        panels.push(Panel {
            title: format!("{q}: late-time error against the limit"),
            x_label: "n per population".into(),
            y_label: "|error|".into(),
            series,
            log_x: true,
            log_y: true,
        });
    }
    write_panels_png(
        &dir.join("convergence.png"),
        "model H convergence to the large-n limit",
        &panels,
        3,
    )
}
