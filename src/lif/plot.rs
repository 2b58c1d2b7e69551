//! lif.png: population rate against time, the distributions of per-neuron rates and CVs,
//! and P(V) with the mean-field Gaussian (dashed).

use crate::lif::config::LifSetup;
use crate::lif::record::LifRecording;
use crate::lif::theory::{self as mf, SingleNeuronPrediction};
use crate::report::plot::{Panel, Series, SeriesStyle, write_panels_png};
use std::path::Path;

const POPS: [&str; 2] = ["E", "I"];

/// Normalised histogram of `values` on `bins` equal bins over [lo, hi], as (centres, density).
fn density(values: &[f64], lo: f64, hi: f64, bins: usize) -> (Vec<f64>, Vec<f64>) {
    let w = (hi - lo) / bins as f64;
    let mut h = vec![0f64; bins];
    for &v in values {
        let k = ((v - lo) / w).floor();
        if k >= 0.0 && (k as usize) < bins {
            h[k as usize] += 1.0;
        }
    }
    let total = values.len().max(1) as f64 * w;
    (
        (0..bins).map(|k| lo + (k as f64 + 0.5) * w).collect(),
        h.into_iter().map(|c| c / total).collect(),
    )
}

pub fn write(
    path: &Path,
    s: &LifSetup,
    rec: &LifRecording,
    theory: Option<&SingleNeuronPrediction>,
) -> anyhow::Result<()> {
    let bin_ms = rec.bin_steps as f64 * s.config.dt;
    let n = [s.n_e as f64, s.n_i as f64];
    let per = rec.per_neuron();
    let ranges = [(0usize, s.n_e as usize), (s.n_e as usize, s.n() as usize)];
    let mut rate_series = Vec::new();
    let mut rate_hist = Vec::new();
    let mut cv_hist = Vec::new();
    let mut v_series = Vec::new();
    let max_rate = per.chunks(2).map(|r| r[0] as f64).fold(1.0f64, f64::max);
    for a in 0..2 {
        rate_series.push(Series {
            label: POPS[a].into(),
            x: (0..rec.bins.len()).map(|b| b as f64 * bin_ms).collect(),
            y: rec
                .bins
                .iter()
                .map(|c| c[a] as f64 / n[a] / (bin_ms * 1e-3))
                .collect(),
            style: SeriesStyle::Solid(a),
        });
        let rates: Vec<f64> = per[2 * ranges[a].0..2 * ranges[a].1]
            .chunks(2)
            .map(|r| r[0] as f64)
            .collect();
        let (x, y) = density(&rates, 0.0, max_rate * 1.05, 40);
        rate_hist.push(Series {
            label: POPS[a].into(),
            x,
            y,
            style: SeriesStyle::Solid(a),
        });
        let cvs: Vec<f64> = per[2 * ranges[a].0..2 * ranges[a].1]
            .chunks(2)
            .filter(|r| r[1].is_finite())
            .map(|r| r[1] as f64)
            .collect();
        let (x, y) = density(&cvs, 0.0, 2.0, 40);
        cv_hist.push(Series {
            label: POPS[a].into(),
            x,
            y,
            style: SeriesStyle::Solid(a),
        });
        let bins = rec.vhist[a].len();
        let w = (rec.vhist_range[1] - rec.vhist_range[0]) / bins as f64;
        let total = rec.vhist[a].iter().sum::<u64>().max(1) as f64;
        v_series.push(Series {
            label: POPS[a].into(),
            x: (0..bins)
                .map(|b| rec.vhist_range[0] + (b as f64 + 0.5) * w)
                .collect(),
            y: rec.vhist[a].iter().map(|&c| c as f64 / total / w).collect(),
            style: SeriesStyle::Solid(a),
        });
    }
    if let Some(p) = theory {
        let [lo, hi] = rec.vhist_range;
        let x: Vec<f64> = (0..=200)
            .map(|k| lo + (hi - lo) * k as f64 / 200.0)
            .collect();
        v_series.push(Series {
            label: "mean-field".into(),
            y: x.iter()
                .map(|&v| mf::membrane_density(p.mu, p.sigma, v))
                .collect(),
            x,
            style: SeriesStyle::Dashed(2),
        });
    }
    let panel = |title: &str, xl: &str, yl: &str, series: Vec<Series>| Panel {
        title: title.into(),
        x_label: xl.into(),
        y_label: yl.into(),
        series,
        log_x: false,
        log_y: false,
    };
    let panels = [
        panel(
            "population rate",
            "t (ms after warm-up)",
            "rate (Hz)",
            rate_series,
        ),
        panel("rate distribution", "rate (Hz)", "density", rate_hist),
        panel(
            "ISI CV distribution (>= 3 spikes)",
            "CV",
            "density",
            cv_hist,
        ),
        panel("P(V), non-refractory", "V (mV)", "density", v_series),
    ];
    let title = format!(
        "model L, {:?}, N_E = {}, N_I = {}, K = {}, nu_X = {} Hz, seed {}",
        s.config.connectivity, s.n_e, s.n_i, s.config.k, s.config.nu_x, s.config.seed
    );
    write_panels_png(path, &title, &panels, 2)
}
