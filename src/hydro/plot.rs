//! moments.png: mean, variance and rate per population against time, with the limit
//! (dashed) overlaid.

use crate::hydro::config::HydroSetup;
use crate::hydro::record::{MomentRow, POP_NAMES};
use crate::hydro::theory::TheoryPoint;
use crate::report::plot::{Panel, Series, SeriesStyle, json_name, write_panels_png};
use std::path::Path;

pub fn write(
    path: &Path,
    s: &HydroSetup,
    rows: &[MomentRow],
    theory: Option<&[TheoryPoint]>,
) -> anyhow::Result<()> {
    type Get = fn(&MomentRow) -> f64;
    type GetT = fn(&TheoryPoint, usize) -> f64;
    let quantities: [(&str, Get, GetT); 3] = [
        ("mean of x", |r| r.mean, |p, a| p.mu[a]),
        ("variance of x", |r| r.var, |p, a| p.var[a]),
        ("rate E f(x)", |r| r.rate, |p, a| p.rate[a]),
    ];
    let mut panels = Vec::new();
    for (title, get, get_t) in quantities {
        let mut series = Vec::new();
        for a in 0..2 {
            let pop: Vec<&MomentRow> = rows.iter().filter(|r| r.population == a).collect();
            series.push(Series {
                label: format!("{} simulated", POP_NAMES[a]),
                x: pop.iter().map(|r| r.t).collect(),
                y: pop.iter().map(|r| get(r)).collect(),
                style: SeriesStyle::Solid(a),
            });
            if let Some(pts) = theory {
                series.push(Series {
                    label: format!("{} limit", POP_NAMES[a]),
                    x: pts.iter().map(|p| p.t).collect(),
                    y: pts.iter().map(|p| get_t(p, a)).collect(),
                    style: SeriesStyle::Dashed(a),
                });
            }
        }
        panels.push(Panel {
            title: title.to_string(),
            x_label: "t".into(),
            y_label: title.to_string(),
            series,
            log_x: false,
            log_y: false,
        });
    }
    let title = format!(
        "model H, {} coupling, n = {} per population, seed {}",
        json_name(&s.config.coupling),
        s.config.n,
        s.config.seed
    );
    write_panels_png(path, &title, &panels, 3)
}
