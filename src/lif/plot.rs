//! lif.png, three rows of two panels. Left, against time after the warm-up: the population
//! rate as a running mean over [`SMOOTH_MS`] for the whole run; the raw rate bins of the first
//! [`ZOOM_MS`]; the spike raster of the recorded neurons over the same window (I above E).
//! Right: the distributions of per-neuron rates and ISI CVs, and P(V) with the mean-field
//! Gaussian (dashed).
//!
//! Every panel is drawn from the recording the run's files are written from, computed as they
//! are: the rate bins of rates.csv, the spikes of raster.csv, the rates and CVs of neurons.npy
//! and the densities of vhist.csv.

use crate::lif::config::LifSetup;
use crate::lif::record::LifRecording;
use crate::lif::theory::{self as mean_field, SingleNeuronPrediction};
use crate::report::plot::{Panel, Series, SeriesStyle, json_name, write_panels_png};
use std::path::Path;

const POPS: [&str; 2] = ["E", "I"];

/// Window of the running mean of the whole-run rate panel (ms; rounded to whole rate bins).
pub const SMOOTH_MS: f64 = 10.0;
/// Length of the window, from the end of the warm-up, of the raw-bin and raster panels (ms).
pub const ZOOM_MS: f64 = 200.0;

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

/// Means of each `w` consecutive values (a running mean over full windows only; none when
/// there are fewer than `w` values).
fn running_mean(y: &[f64], w: usize) -> Vec<f64> {
    let w = w.max(1);
    if y.len() < w {
        return Vec::new();
    }
    let mut sum: f64 = y[..w].iter().sum();
    let mut out = Vec::with_capacity(y.len() - w + 1);
    out.push(sum / w as f64);
    for k in w..y.len() {
        sum += y[k] - y[k - w];
        out.push(sum / w as f64);
    }
    out
}

/// A time for a label: rounded to 1e-6 ms, so that 20 x 0.05 shows as 1.
fn ms(t: f64) -> f64 {
    (t * 1e6).round() / 1e6
}

fn panel(title: &str, x_label: &str, y_label: &str, series: Vec<Series>) -> Panel {
    Panel {
        title: title.into(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        series,
        log_x: false,
        log_y: false,
    }
}

fn series(label: &str, x: Vec<f64>, y: Vec<f64>, style: SeriesStyle) -> Series {
    Series {
        label: label.into(),
        x,
        y,
        style,
    }
}

/// Invisible points that make a time panel span [0, `t_end`] and include `y`.
fn time_extent(t_end: f64, y: [f64; 2]) -> Series {
    series("", vec![0.0, t_end], y.to_vec(), SeriesStyle::Extent)
}

/// The rate bins: each bin's start (ms after the warm-up) and each population's rate (Hz),
/// as rates.csv has them.
fn rate_bins(s: &LifSetup, rec: &LifRecording) -> (Vec<f64>, [Vec<f64>; 2]) {
    let bin_ms = rec.bin_steps as f64 * s.config.dt;
    let n = [s.n_e as f64, s.n_i as f64];
    let t = (0..rec.bins.len()).map(|b| b as f64 * bin_ms).collect();
    let rate = |a: usize| -> Vec<f64> {
        rec.bins
            .iter()
            .map(|c| c[a] as f64 / n[a] / (bin_ms * 1e-3))
            .collect()
    };
    (t, [rate(0), rate(1)])
}

/// The end of the zoom window: [`ZOOM_MS`], or the recorded time if shorter.
fn zoom_end(rec: &LifRecording) -> f64 {
    ZOOM_MS.min(rec.recorded_ms)
}

/// The population rate over the whole run, as a running mean over about [`SMOOTH_MS`] (whole
/// bins, at least one) drawn at the middle of its window.
fn smoothed_rate_panel(s: &LifSetup, rec: &LifRecording) -> Panel {
    let bin_ms = rec.bin_steps as f64 * s.config.dt;
    let (_, rates) = rate_bins(s, rec);
    let w = ((SMOOTH_MS / bin_ms).round() as usize).clamp(1, rec.bins.len().max(1));
    let window_ms = w as f64 * bin_ms;
    let label_ms = ms(window_ms);
    let mut out = vec![time_extent(rec.recorded_ms, [0.0, 0.0])];
    for (a, y) in rates.iter().enumerate() {
        let y = running_mean(y, w);
        let x = (0..y.len()).map(|k| k as f64 * bin_ms + 0.5 * window_ms);
        out.push(series(POPS[a], x.collect(), y, SeriesStyle::Solid(a)));
    }
    panel(
        &format!("population rate, {label_ms} ms running mean, whole run"),
        "t (ms after warm-up)",
        &format!("rate (Hz, {label_ms} ms mean)"),
        out,
    )
}

/// The raw rate bins of the zoom window.
fn zoom_rate_panel(s: &LifSetup, rec: &LifRecording) -> Panel {
    let bin_ms = rec.bin_steps as f64 * s.config.dt;
    let end = zoom_end(rec);
    let (t, rates) = rate_bins(s, rec);
    let k = t.iter().take_while(|&&t| t < end).count();
    let mut out = vec![time_extent(end, [0.0, 0.0])];
    for (a, y) in rates.iter().enumerate() {
        out.push(series(
            POPS[a],
            t[..k].to_vec(),
            y[..k].to_vec(),
            SeriesStyle::Solid(a),
        ));
    }
    panel(
        &format!(
            "population rate, raw {} ms bins, first {} ms",
            ms(bin_ms),
            ms(end)
        ),
        "t (ms after warm-up)",
        &format!("rate (Hz, {} ms bins)", ms(bin_ms)),
        out,
    )
}

/// The raster neurons' spikes in the zoom window, one row per neuron: E neurons in rows
/// 0..r_E, I neurons above them.
fn raster_panel(s: &LifSetup, rec: &LifRecording) -> Panel {
    let end = zoom_end(rec);
    let rows = [rec.raster_neurons.min(s.n_e), rec.raster_neurons.min(s.n_i)];
    let mut xs: [Vec<f64>; 2] = Default::default();
    let mut ys: [Vec<f64>; 2] = Default::default();
    for &(t, i) in rec.raster.iter().filter(|r| r.0 < end) {
        let (a, row) = if i < s.n_e {
            (0, i)
        } else {
            (1, rows[0] + (i - s.n_e))
        };
        xs[a].push(t);
        ys[a].push(row as f64);
    }
    let top = f64::from(rows[0] + rows[1]) - 0.5;
    let mut out = vec![time_extent(end, [-0.5, top])];
    // No legend, which would cover spikes: the y label names the rows, the colours are the
    // other panels'.
    for (a, (x, y)) in xs.into_iter().zip(ys).enumerate() {
        out.push(series("", x, y, SeriesStyle::Dots(a)));
    }
    let y_label = match rows {
        [0, 0] => "neuron".to_string(),
        [e, 0] => format!("neuron (E 0-{})", e - 1),
        [0, i] => format!("neuron (I 0-{})", i - 1),
        [e, i] => format!("neuron (E 0-{}, I {}-{})", e - 1, e, e + i - 1),
    };
    panel(
        &format!(
            "spike raster, {} E and {} I neurons, first {} ms",
            rows[0],
            rows[1],
            ms(end)
        ),
        "t (ms after warm-up)",
        &y_label,
        out,
    )
}

/// The distributions of the per-neuron rates and ISI CVs (neurons.npy).
fn neuron_panels(s: &LifSetup, rec: &LifRecording) -> [Panel; 2] {
    let per = rec.per_neuron();
    let ranges = [(0usize, s.n_e as usize), (s.n_e as usize, s.n() as usize)];
    let max_rate = per.chunks(2).map(|r| r[0] as f64).fold(1.0f64, f64::max);
    // A neuron's rate is a whole spike count over the recorded time: a multiple of
    // 1/T. Bins of a whole number of those quanta (about 40 bins) hold the same number of
    // representable rates each, so the density has no empty bins between full ones.
    let quantum = 1e3 / rec.recorded_ms.max(1e-9);
    let quanta = ((max_rate * 1.05 / 40.0 / quantum).ceil()).max(1.0);
    let rate_bins = ((max_rate * 1.05) / (quanta * quantum)).ceil().max(1.0);
    let rate_hi = rate_bins * quanta * quantum;
    let mut rate_hist = Vec::new();
    let mut cv_hist = Vec::new();
    for (a, &(lo, hi)) in ranges.iter().enumerate() {
        let rows = || per[2 * lo..2 * hi].chunks(2);
        let rates: Vec<f64> = rows().map(|r| r[0] as f64).collect();
        // Bins centred on the representable rates' groups: [-q/2, hi - q/2).
        let half = 0.5 * quantum;
        let (x, y) = density(&rates, -half, rate_hi - half, rate_bins as usize);
        rate_hist.push(series(POPS[a], x, y, SeriesStyle::Solid(a)));
        let cvs: Vec<f64> = rows()
            .filter(|r| r[1].is_finite())
            .map(|r| r[1] as f64)
            .collect();
        let (x, y) = density(&cvs, 0.0, 2.0, 40);
        cv_hist.push(series(POPS[a], x, y, SeriesStyle::Solid(a)));
    }
    [
        panel("rate distribution", "rate (Hz)", "density", rate_hist),
        panel(
            "ISI CV distribution (>= 3 spikes)",
            "CV",
            "density",
            cv_hist,
        ),
    ]
}

/// P(V) of the non-refractory neurons (vhist.csv), with the mean-field Gaussian if known.
fn voltage_panel(rec: &LifRecording, theory: Option<&SingleNeuronPrediction>) -> Panel {
    let [lo, hi] = rec.vhist_range;
    let mut out = Vec::new();
    for (a, hist) in rec.vhist.iter().enumerate() {
        let w = (hi - lo) / hist.len() as f64;
        let total = hist.iter().sum::<u64>().max(1) as f64;
        let x = (0..hist.len()).map(|b| lo + (b as f64 + 0.5) * w).collect();
        let y = hist.iter().map(|&c| c as f64 / total / w).collect();
        out.push(series(POPS[a], x, y, SeriesStyle::Solid(a)));
    }
    if let Some(p) = theory {
        let x: Vec<f64> = (0..=200)
            .map(|k| lo + (hi - lo) * k as f64 / 200.0)
            .collect();
        let y = x
            .iter()
            .map(|&v| mean_field::membrane_density(p.mu, p.sigma, v))
            .collect();
        out.push(series("mean-field", x, y, SeriesStyle::Dashed(2)));
    }
    panel("P(V), non-refractory", "V (mV)", "density", out)
}

/// The figure's title: the network, and its modes as the config spells them.
fn title(s: &LifSetup) -> String {
    let c = &s.config;
    format!(
        "model L: N_E = {}, N_I = {}, K = {}, gamma = {}, nu_x = {} Hz, dt = {} ms, seed {}\n\
         connectivity {}, synapse {}, integrator {}, delay {}",
        s.n_e,
        s.n_i,
        c.k,
        c.gamma,
        c.nu_x,
        c.dt,
        c.seed,
        json_name(&c.connectivity),
        json_name(&c.synapse),
        json_name(&c.integrator),
        json_name(&c.delay),
    )
}

pub fn write(
    path: &Path,
    s: &LifSetup,
    rec: &LifRecording,
    theory: Option<&SingleNeuronPrediction>,
) -> anyhow::Result<()> {
    let [rate_hist, cv_hist] = neuron_panels(s, rec);
    // Row by row: time on the left, distributions on the right.
    let panels = [
        smoothed_rate_panel(s, rec),
        rate_hist,
        zoom_rate_panel(s, rec),
        cv_hist,
        raster_panel(s, rec),
        voltage_panel(rec, theory),
    ];
    write_panels_png(path, &title(s), &panels, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_mean_of_full_windows() {
        assert_eq!(running_mean(&[1.0, 2.0, 3.0, 6.0], 2), [1.5, 2.5, 4.5]);
        assert_eq!(running_mean(&[1.0, 2.0], 1), [1.0, 2.0]);
        assert_eq!(running_mean(&[1.0, 2.0], 3), Vec::<f64>::new());
        assert_eq!(running_mean(&[4.0], 0), [4.0]);
    }
}
