//! A small, dependable PNG writer for figures made of time-series panels.
//!
//! [`write_panels_png`] lays [`Panel`]s out on a grid, each with its own axes, ticks, grid,
//! axis labels, title and legend, under an optional figure title.
//!
//! * Text is drawn with DejaVu Sans, embedded in the binary (`assets/DejaVuSans.ttf`, licence in
//!   `assets/DejaVuSans-LICENSE.txt`) and rasterised by plotters' `ab_glyph` feature, so no font
//!   library and no font file is needed on the machine at run time.
//! * Points that cannot be shown are skipped: NaN, ±inf, |v| > 1e300, and non-positive values on
//!   a log axis. A line is broken where such a point falls, rather than bridged.
//! * A line series of more than a few thousand points is drawn through the lowest and highest
//!   point of each bucket of consecutive points (and the ends of each run), so spikes stay
//!   visible and a figure of 10^5-10^6 records costs about what one of 10^4 does.
//! * Empty series and empty panels are allowed (the panel then says "no data"); constant data
//!   gets an axis of non-zero width around the constant.
//! * Ticks and their labels are computed here (1-2-5 steps; decades on log axes), not by
//!   plotters, so every axis gets a handful of readable round numbers.
//! * The file is written atomically (rendered to a temporary file next to `path`, then renamed),
//!   always in PNG format whatever the extension of `path`, and the output is a deterministic
//!   function of the input.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

/// One curve or point cloud of a panel.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text; an empty label leaves the series out of the legend.
    pub label: String,
    pub x: Vec<f64>,
    /// Paired with `x` element by element (the longer of the two is cut to the shorter).
    pub y: Vec<f64>,
    pub style: SeriesStyle,
}

/// How a series is drawn. The `usize` is an index into a fixed ten-colour palette (taken
/// modulo 10), so a simulated curve and its theory can share a colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesStyle {
    Solid(usize),
    Dashed(usize),
    /// Circles of radius 3 pixels.
    Points(usize),
    /// Small (3 x 3 pixel) squares, for dense point clouds such as a spike raster.
    Dots(usize),
    /// Not drawn and not in the legend: the points only widen the axes, e.g. so that panels
    /// showing the same time window get the same x range whatever their data.
    Extent,
}

/// One set of axes.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub log_x: bool,
    pub log_y: bool,
}

/// Size of one panel, in pixels.
const PANEL_W: u32 = 640;
const PANEL_H: u32 = 440;
/// Height of the figure-title band (when the title is not empty) for a one-line title, and
/// what each further line adds.
const TITLE_H: u32 = 46;
const TITLE_LINE_H: u32 = 30;

/// Font family name the embedded font is registered under (plotters' default family, so that any
/// text plotters draws with its default style also finds it).
const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

const FIGURE_TITLE_SIZE: f64 = 24.0;
const PANEL_TITLE_SIZE: f64 = 19.0;
const AXIS_DESC_SIZE: f64 = 16.0;
const TICK_LABEL_SIZE: f64 = 14.0;
const LEGEND_SIZE: f64 = 14.0;
/// Legend layout: the width for the line or marker, and the padding inside the box.
const LEGEND_SYMBOL_W: u32 = 30;
const LEGEND_MARGIN: u32 = 8;

/// Target numbers of labelled ticks per axis.
const X_TICKS: f64 = 6.0;
const Y_TICKS: f64 = 6.0;

/// Values beyond this magnitude are treated like infinities (a range spanning them would
/// overflow).
const MAX_ABS: f64 = 1e300;

/// The ten colours of matplotlib's "tab10" palette.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The palette colour for a colour index (taken modulo the palette size).
pub fn palette_color(index: usize) -> (u8, u8, u8) {
    let c = PALETTE[index % PALETTE.len()];
    (c.0, c.1, c.2)
}

/// A config value as its JSON spelling, for figure titles: a unit enum variant's string
/// (`fixed_indegree`), an internally tagged variant's `kind` (`conductance`), a number or
/// boolean as JSON writes it.
pub fn json_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(m)) => match m.get("kind") {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => serde_json::Value::Object(m).to_string(),
        },
        Ok(v) => v.to_string(),
        Err(_) => "?".to_string(),
    }
}

/// Writes `panels` as a PNG figure of `columns` panels a row (at least 1, at most the number of
/// panels), under `title` (no title band when it is empty; one line per '\n'-separated line).
///
/// The figure is rendered to a temporary file next to `path` (`<file name>.tmp.png`) and renamed
/// onto `path`, so readers never see a half-written file.
pub fn write_panels_png(path: &Path, title: &str, panels: &[Panel], columns: usize) -> Result<()> {
    let tmp = temp_path(path)?;
    let result = (|| -> Result<()> {
        let size = figure_size(title, panels.len(), columns);
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        draw_figure(&root, title, panels, columns)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
        drop(root);
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing figure {}", path.display()))
}

/// The temporary file [`write_panels_png`] renders into: `path` with `.tmp.png` appended. (The
/// image encoder picks the format from the extension, hence `.png` after `.tmp`.)
fn temp_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| anyhow!("figure path {} has no file name", path.display()))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".tmp.png");
    Ok(path.with_file_name(tmp_name))
}

/// Pixel size of a figure.
fn figure_size(title: &str, n_panels: usize, columns: usize) -> (u32, u32) {
    let (cols, rows) = grid(n_panels, columns);
    let title_h = title_height(title);
    (
        PANEL_W.saturating_mul(cols as u32),
        title_h.saturating_add(PANEL_H.saturating_mul(rows as u32)),
    )
}

/// Height of the figure-title band: none for an empty title, else one line's band plus
/// [`TITLE_LINE_H`] per further line (the title's lines are separated by '\n').
fn title_height(title: &str) -> u32 {
    if title.is_empty() {
        return 0;
    }
    let extra = title.lines().count().saturating_sub(1) as u32;
    TITLE_H.saturating_add(TITLE_LINE_H.saturating_mul(extra))
}

/// Columns and rows of the panel grid (1 x 1 for no panels).
fn grid(n_panels: usize, columns: usize) -> (usize, usize) {
    let n = n_panels.max(1);
    let cols = columns.clamp(1, n);
    (cols, n.div_ceil(cols))
}

/// Registers the embedded font with plotters (once per process).
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            for family in [FONT, "serif", "monospace"] {
                register_font(family, FontStyle::Normal, FONT_BYTES)
                    .map_err(|_| "the embedded font could not be parsed".to_string())?;
            }
            Ok(())
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

fn draw_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing the figure failed: {e}")
}

/// Draws the whole figure onto `root`, which should have the size [`figure_size`] gives.
fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    panels: &[Panel],
    columns: usize,
) -> Result<()> {
    ensure_font()?;
    root.fill(&WHITE).map_err(draw_err)?;
    let body = if title.is_empty() {
        root.clone()
    } else {
        let (top, body) = root.split_vertically(title_height(title));
        let (w, h) = top.dim_in_pixel();
        let style = TextStyle::from((FONT, FIGURE_TITLE_SIZE).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Center));
        // Line k's centre: the one-line band's centre, k further lines down.
        let first = (TITLE_H / 2).min(h) as i32;
        for (k, line) in title.lines().enumerate() {
            let y = first + (k as u32 * TITLE_LINE_H) as i32;
            top.draw(&Text::new(line, (w as i32 / 2, y), style.clone()))
                .map_err(draw_err)?;
        }
        body
    };
    if panels.is_empty() {
        let (w, h) = body.dim_in_pixel();
        let style = TextStyle::from((FONT, AXIS_DESC_SIZE).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Center));
        body.draw(&Text::new("no panels", (w as i32 / 2, h as i32 / 2), style))
            .map_err(draw_err)?;
        return Ok(());
    }
    let (cols, rows) = grid(panels.len(), columns);
    let areas = body.split_evenly((rows, cols));
    for (panel, area) in panels.iter().zip(areas.iter()) {
        draw_panel(area, panel).with_context(|| format!("drawing panel {:?}", panel.title))?;
    }
    Ok(())
}

/// Points a line series keeps at most (about; plus the ends of its runs): many per pixel
/// column of a panel, so the drawn line is the same as through every point.
const MAX_LINE_POINTS: usize = 4000;

/// The runs of a line series with at most about `max` points in all: when there are more,
/// consecutive points are grouped in buckets and each bucket keeps its lowest and highest
/// point (in their order), and each run its first and last point, so that spikes, the
/// series' range and its breaks stay as they were. Linear in the number of points.
fn downsample(runs: Vec<Vec<(f64, f64)>>, max: usize) -> Vec<Vec<(f64, f64)>> {
    let total: usize = runs.iter().map(Vec::len).sum();
    if total <= max {
        return runs;
    }
    let bucket = total.div_ceil((max / 2).max(1));
    runs.into_iter()
        .map(|run| {
            let mut out: Vec<(f64, f64)> = Vec::with_capacity(2 * run.len() / bucket + 4);
            let push = |p: (f64, f64), out: &mut Vec<(f64, f64)>| {
                if out.last() != Some(&p) {
                    out.push(p);
                }
            };
            if let Some(&first) = run.first() {
                push(first, &mut out);
            }
            for chunk in run.chunks(bucket) {
                let (mut lo, mut hi) = (0, 0);
                for (i, p) in chunk.iter().enumerate() {
                    if p.1 < chunk[lo].1 {
                        lo = i;
                    }
                    if p.1 > chunk[hi].1 {
                        hi = i;
                    }
                }
                push(chunk[lo.min(hi)], &mut out);
                push(chunk[lo.max(hi)], &mut out);
            }
            if let Some(&last) = run.last() {
                push(last, &mut out);
            }
            out
        })
        .collect()
}

/// Whether a value can be placed on an axis, and where (log axes work in log10 units).
fn to_plot(v: f64, log: bool) -> Option<f64> {
    if log {
        (v.is_finite() && v > 0.0).then(|| v.log10())
    } else {
        (v.is_finite() && v.abs() <= MAX_ABS).then_some(v)
    }
}

/// A series' points in plot coordinates, split into runs of consecutive valid points.
fn segments(s: &Series, log_x: bool, log_y: bool) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for (&x, &y) in s.x.iter().zip(&s.y) {
        match (to_plot(x, log_x), to_plot(y, log_y)) {
            (Some(px), Some(py)) => cur.push((px, py)),
            _ => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The plot-space range of an axis holding `vals`, widened by `pad` of its width on each side.
/// Empty data gives [0, 1]; constant data a non-zero range around the constant.
fn axis_range(vals: impl Iterator<Item = f64>, log: bool, pad: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    let constant = if log {
        // In decades: constant to within a factor 1 + 2.3e-9.
        hi - lo < 1e-9
    } else {
        hi - lo <= 1e-9 * lo.abs().max(hi.abs())
    };
    if constant {
        let c = 0.5 * (lo + hi);
        let half = if log {
            // A factor of 2 either side.
            std::f64::consts::LOG10_2
        } else if c.abs() > 1e-200 {
            0.1 * c.abs()
        } else {
            1.0
        };
        return (c - half, c + half);
    }
    let span = hi - lo;
    (lo - pad * span, hi + pad * span)
}

/// One axis in plot coordinates, with its ticks.
#[derive(Clone, Debug, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    /// Labelled ticks (with grid lines), in plot coordinates, with their labels.
    major: Vec<(f64, String)>,
    /// Unlabelled light grid lines, in plot coordinates.
    minor: Vec<f64>,
}

impl Axis {
    fn new(lo: f64, hi: f64, log: bool, target: f64) -> Axis {
        if log {
            log_axis(lo, hi, target)
        } else {
            let (step, ticks) = nice_ticks(lo, hi, target);
            let labels = linear_labels(&ticks, step);
            Axis {
                lo,
                hi,
                major: ticks.iter().copied().zip(labels).collect(),
                minor: minor_ticks(lo, hi, step),
            }
        }
    }

    fn label(&self, v: f64) -> String {
        self.major
            .iter()
            .find(|t| t.0 == v)
            .map(|t| t.1.clone())
            .unwrap_or_default()
    }
}

/// The axis as a plotters coordinate: linear in plot coordinates, with our ticks and labels.
impl Ranged for Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.lo..self.hi).map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.iter().map(|t| t.0).collect()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Axis {
    fn format_ext(&self, value: &f64) -> String {
        self.label(*value)
    }
}

/// A 1-2-5 tick step giving about `target` ticks over [lo, hi], and the ticks.
fn nice_ticks(lo: f64, hi: f64, target: f64) -> (f64, Vec<f64>) {
    // The 1-2-5 step whose tick count is nearest the target (at most target + 2; on a tie, the
    // larger step).
    let mag = 10f64.powf(((hi - lo) / target).log10().floor());
    let count = |step: f64| (hi / step + 1e-9).floor() - (lo / step - 1e-9).ceil() + 1.0;
    let mut step = 20.0 * mag;
    let mut best = f64::INFINITY;
    for m in [1.0, 2.0, 5.0, 10.0, 20.0] {
        let n = count(m * mag);
        if n <= target + 2.0 && (n - target).abs() <= best {
            best = (n - target).abs();
            step = m * mag;
        }
    }
    let k0 = (lo / step - 1e-9).ceil();
    let k1 = (hi / step + 1e-9).floor();
    let mut ticks = Vec::new();
    let mut k = k0;
    while k <= k1 && ticks.len() < 100 {
        // Multiply rather than accumulate, and avoid a "-0".
        let v = k * step;
        ticks.push(if v == 0.0 { 0.0 } else { v });
        k += 1.0;
    }
    (step, ticks)
}

/// Light grid lines between the ticks of a linear axis.
fn minor_ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let mantissa = step / 10f64.powf(step.log10().floor());
    let sub = if (mantissa - 2.0).abs() < 0.5 {
        4.0
    } else {
        5.0
    };
    let (_, ticks) = nice_ticks(lo, hi, (hi - lo) / (step / sub));
    ticks
}

/// Labels for linear ticks `step` apart, all with the same number of decimals; scientific
/// notation with a common exponent when plain numbers would be long.
fn linear_labels(ticks: &[f64], step: f64) -> Vec<String> {
    let decimals = |s: f64| (-(s.log10() + 1e-9).floor()).clamp(0.0, 12.0) as usize;
    let d = decimals(step);
    let plain: Vec<String> = ticks
        .iter()
        .map(|&v| clean_zero(format!("{v:.d$}")))
        .collect();
    let max_abs = ticks.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max_abs == 0.0 || (max_abs < 1e5 && plain.iter().all(|l| l.len() <= 8)) {
        return plain;
    }
    let e = max_abs.log10().floor() as i32;
    let scale = 10f64.powi(e);
    let d = decimals(step / scale);
    ticks
        .iter()
        .map(|&v| {
            if v == 0.0 {
                "0".to_string()
            } else {
                format!("{}e{e}", clean_zero(format!("{:.d$}", v / scale)))
            }
        })
        .collect()
}

/// Turns a formatted negative zero ("-0", "-0.00") into a positive one.
fn clean_zero(s: String) -> String {
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// `v` to `sig` significant digits, without trailing zeros; scientific outside [1e-3, 1e5).
fn fmt_sig(v: f64, sig: usize) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let e = v.abs().log10().floor() as i32;
    if (-3..5).contains(&e) {
        let d = (sig as i32 - 1 - e).max(0) as usize;
        trim_zeros(format!("{v:.d$}"))
    } else {
        let s = format!("{:.*e}", sig.saturating_sub(1), v);
        match s.split_once('e') {
            Some((m, exp)) => format!("{}e{exp}", trim_zeros(m.to_string())),
            None => s,
        }
    }
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// "10" with `k` as a superscript.
fn pow10_label(k: i64) -> String {
    const SUP: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let mut s = String::from("10");
    if k < 0 {
        s.push('⁻');
    }
    for c in k.unsigned_abs().to_string().chars() {
        s.push(SUP[c.to_digit(10).unwrap_or(0) as usize]);
    }
    s
}

/// Ticks for a log axis spanning [lo, hi] decades: decades when it spans several, else 1-2-5
/// multiples, else plain round numbers.
fn log_axis(lo: f64, hi: f64, target: f64) -> Axis {
    let span = hi - lo;
    let k0 = (lo - 1e-9).ceil() as i64;
    let k1 = (hi + 1e-9).floor() as i64;
    let in_range = |p: f64| p >= lo - 1e-9 && p <= hi + 1e-9;
    if span > 2.5 {
        let n = (k1 - k0 + 1) as f64;
        let mut step = 1i64;
        for s in [1i64, 2, 5, 10, 20, 50, 100, 200, 500, 1000] {
            step = s;
            if n / s as f64 <= target + 2.0 {
                break;
            }
        }
        let decades: Vec<i64> = (k0..=k1).collect();
        let majors: Vec<i64> = decades.iter().copied().filter(|k| k % step == 0).collect();
        let superscript = majors.iter().any(|&k| !(-3..=4).contains(&k));
        let major = majors
            .iter()
            .map(|&k| {
                let label = if superscript {
                    pow10_label(k)
                } else {
                    fmt_sig(10f64.powi(k as i32), 1)
                };
                (k as f64, label)
            })
            .collect();
        let minor = if step == 1 && span <= 8.0 {
            (k0 - 1..=k1)
                .flat_map(|k| (2..=9).map(move |m| k as f64 + (m as f64).log10()))
                .filter(|&p| in_range(p))
                .collect()
        } else if decades.len() <= 60 {
            decades
                .iter()
                .filter(|k| *k % step != 0)
                .map(|&k| k as f64)
                .collect()
        } else {
            Vec::new()
        };
        return Axis {
            lo,
            hi,
            major,
            minor,
        };
    }
    let mut major = Vec::new();
    let mut minor = Vec::new();
    for k in k0 - 1..=k1 {
        for m in 1..=9u32 {
            let p = k as f64 + f64::from(m).log10();
            if !in_range(p) {
                continue;
            }
            if matches!(m, 1 | 2 | 5) {
                // Parsed, to be exact (and subnormal or infinite at the ends of the f64 range).
                let v: f64 = format!("{m}e{k}").parse().unwrap_or(f64::NAN);
                if v.is_finite() && v > 0.0 {
                    major.push((p, fmt_sig(v, 1)));
                }
            } else {
                minor.push(p);
            }
        }
    }
    if major.len() >= 3 {
        return Axis {
            lo,
            hi,
            major,
            minor,
        };
    }
    // Less than about half a decade: round numbers, as on a linear axis (unless that fails,
    // which it can only at the very ends of the f64 range).
    let (vlo, vhi) = (10f64.powf(lo), 10f64.powf(hi));
    if vlo.is_normal() && vhi.is_finite() && vhi > vlo {
        let (step, ticks) = nice_ticks(vlo, vhi, target.min(5.0));
        let labels = linear_labels(&ticks, step);
        let linear: Vec<(f64, String)> = ticks
            .iter()
            .zip(labels)
            .filter(|(v, _)| **v > 0.0)
            .map(|(v, l)| (v.log10(), l))
            .filter(|(p, _)| in_range(*p))
            .collect();
        if linear.len() >= 2 {
            return Axis {
                lo,
                hi,
                major: linear,
                minor: Vec::new(),
            };
        }
    }
    Axis {
        lo,
        hi,
        major,
        minor,
    }
}

/// Draws a polyline given in pixels (relative to `area`), segment by segment, dashed with
/// (dash, gap) lengths in pixels if `dash` is set.
///
/// plotters draws a wide path as one polygon with mitred joins, which throws spikes at sharp
/// turns (noisy data) and wild polygons where consecutive points share a pixel. Here each
/// segment is drawn on its own, after merging points that share a pixel column into that
/// column's first, lowest, highest and last point (which also keeps very long series fast).
fn draw_polyline<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    pixels: impl Iterator<Item = BackendCoord>,
    style: ShapeStyle,
    dash: Option<(f64, f64)>,
) -> Result<()> {
    let path = thin_path(pixels);
    let segment = |p0: BackendCoord, p1: BackendCoord| {
        area.draw(&PathElement::new(vec![p0, p1], style))
            .map_err(draw_err)
    };
    let Some((on, off)) = dash else {
        for w in path.windows(2) {
            segment(w[0], w[1])?;
        }
        return Ok(());
    };
    // Walk the path, drawing the "on" stretches of the dash pattern.
    let mut drawing = true;
    let mut left = on;
    for w in path.windows(2) {
        let (a, b) = (to_f(w[0]), to_f(w[1]));
        let len = (b.0 - a.0).hypot(b.1 - a.1);
        let at = |t: f64| {
            let f = t / len;
            let x = a.0 + f * (b.0 - a.0);
            let y = a.1 + f * (b.1 - a.1);
            (x.round() as i32, y.round() as i32)
        };
        let mut t0 = 0.0;
        while t0 < len {
            let t1 = (t0 + left).min(len);
            if drawing && at(t0) != at(t1) {
                segment(at(t0), at(t1))?;
            }
            left -= t1 - t0;
            if left <= 1e-9 {
                drawing = !drawing;
                left = if drawing { on } else { off };
            }
            t0 = t1;
        }
    }
    Ok(())
}

/// A pixel position, as plotters' backends take it.
type BackendCoord = (i32, i32);

fn to_f(p: BackendCoord) -> (f64, f64) {
    (f64::from(p.0), f64::from(p.1))
}

/// Pixel path without repeated pixels, each run of points in one pixel column reduced to its
/// first, lowest, highest and last point (in path order).
fn thin_path(pos: impl Iterator<Item = BackendCoord>) -> Vec<BackendCoord> {
    let mut out: Vec<BackendCoord> = Vec::new();
    let mut column: Vec<BackendCoord> = Vec::new();
    let flush = |column: &mut Vec<BackendCoord>, out: &mut Vec<BackendCoord>| {
        if column.is_empty() {
            return;
        }
        let first = 0;
        let last = column.len() - 1;
        let lowest = (0..column.len()).max_by_key(|&i| (column[i].1, usize::MAX - i));
        let highest = (0..column.len()).min_by_key(|&i| (column[i].1, i));
        let mut keep = vec![first, last];
        keep.extend(lowest);
        keep.extend(highest);
        keep.sort_unstable();
        for i in keep {
            if out.last() != Some(&column[i]) {
                out.push(column[i]);
            }
        }
        column.clear();
    };
    for p in pos {
        if column.last().is_some_and(|q| q.0 != p.0) {
            flush(&mut column, &mut out);
        }
        column.push(p);
    }
    flush(&mut column, &mut out);
    out
}

/// Gap, in pixels, that plotters leaves between a legend box and the plot's edges.
const LEGEND_GAP: f64 = 5.0;

/// The four corners a legend may take, in order of preference.
const CORNERS: [(bool, bool); 4] = [(true, true), (false, true), (true, false), (false, false)];

/// Where to put a legend box of `box_px` (width, height) pixels on a plot of `plot_px` pixels:
/// the first corner (upper right, upper left, lower right, lower left) that no data point or
/// line crosses. When every corner is taken, the y axis is extended upwards to make room above
/// the data, if the legend is not too tall for that, and the legend goes top right; otherwise it
/// goes to the least crowded corner. Returns the corner (right?, upper?) and the new top of the
/// y range.
fn place_legend(
    segs: &[Vec<Vec<(f64, f64)>>],
    (xlo, xhi): (f64, f64),
    (ylo, yhi): (f64, f64),
    box_px: (f64, f64),
    plot_px: (f64, f64),
) -> ((bool, bool), f64) {
    // The legend box and a little margin, as fractions of the plot's width and height.
    let bw = (box_px.0 + LEGEND_GAP + 6.0) / plot_px.0.max(1.0);
    let bh = (box_px.1 + LEGEND_GAP + 6.0) / plot_px.1.max(1.0);
    let mut counts = [0usize; 4];
    let mut mark = |fx: f64, fy: f64| {
        for (i, &(right, upper)) in CORNERS.iter().enumerate() {
            let in_x = if right { fx >= 1.0 - bw } else { fx <= bw };
            let in_y = if upper { fy >= 1.0 - bh } else { fy <= bh };
            counts[i] += usize::from(in_x && in_y);
        }
    };
    let norm = |(x, y): (f64, f64)| ((x - xlo) / (xhi - xlo), (y - ylo) / (yhi - ylo));
    for run in segs.iter().flatten() {
        let mut prev: Option<(f64, f64)> = None;
        for &p in run {
            let (fx, fy) = norm(p);
            if let Some((px, py)) = prev {
                // Sample the line between points, every 0.5% of the plot at least.
                let n = (((fx - px).abs() + (fy - py).abs()) / 0.005)
                    .ceil()
                    .min(400.0) as usize;
                for k in 1..n {
                    let t = k as f64 / n as f64;
                    mark(px + t * (fx - px), py + t * (fy - py));
                }
            }
            mark(fx, fy);
            prev = Some((fx, fy));
        }
    }
    if let Some(i) = counts.iter().position(|&c| c == 0) {
        return (CORNERS[i], yhi);
    }
    if bh < 0.45 {
        return ((true, true), ylo + (yhi - ylo) / (1.0 - bh));
    }
    let i = (0..4).min_by_key(|&i| counts[i]).unwrap_or(0);
    (CORNERS[i], yhi)
}

/// Pixel margins of a panel's chart and the sizes of its label areas.
#[derive(Clone, Copy, Debug)]
struct PanelLayout {
    margin_top: u32,
    margin_bottom: u32,
    margin_left: u32,
    margin_right: u32,
    x_label_area: u32,
    y_label_area: u32,
    /// Size of the plotting area (inside the axes), in pixels.
    plot_px: (f64, f64),
}

impl PanelLayout {
    /// The layout of `panel` on an area of `(w, h)` pixels (below the panel's title).
    fn new(panel: &Panel, (w, h): (u32, u32)) -> PanelLayout {
        let (margin_top, margin_bottom, margin_left, margin_right) = (8, 8, 10, 24);
        let x_label_area = if panel.x_label.is_empty() { 30 } else { 52 };
        let y_label_area = if panel.y_label.is_empty() { 62 } else { 86 };
        let plot_px = (
            f64::from(w) - f64::from(margin_left + margin_right + y_label_area),
            f64::from(h) - f64::from(margin_top + margin_bottom + x_label_area),
        );
        PanelLayout {
            margin_top,
            margin_bottom,
            margin_left,
            margin_right,
            x_label_area,
            y_label_area,
            plot_px,
        }
    }
}

/// The chart a panel's series are drawn on.
type PanelChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// Each series' runs of points in plot coordinates. Lines are thinned to a few thousand points
/// per series first (min and max per bucket): the legend placement and the drawing then cost
/// the same whatever the record count.
fn panel_segments(panel: &Panel) -> Vec<Vec<Vec<(f64, f64)>>> {
    panel
        .series
        .iter()
        .map(|s| {
            let runs = segments(s, panel.log_x, panel.log_y);
            match s.style {
                SeriesStyle::Solid(_) | SeriesStyle::Dashed(_) => downsample(runs, MAX_LINE_POINTS),
                SeriesStyle::Points(_) | SeriesStyle::Dots(_) | SeriesStyle::Extent => runs,
            }
        })
        .collect()
}

/// The size in pixels of the legend box of `panel` (None when no series has a label), measured
/// as plotters will lay it out.
fn legend_box(panel: &Panel) -> Result<Option<(f64, f64)>> {
    let legend_font: TextStyle = (FONT, LEGEND_SIZE).into();
    let labels: Vec<&str> = panel
        .series
        .iter()
        .filter(|s| s.style != SeriesStyle::Extent)
        .map(|s| s.label.as_str())
        .filter(|l| !l.is_empty())
        .collect();
    if labels.is_empty() {
        return Ok(None);
    }
    let mut text = MultiLineText::<_, &str>::new((0, 0), &legend_font);
    for l in &labels {
        text.push_line(*l);
    }
    let (tw, th) = text
        .estimate_dimension()
        .map_err(|e| anyhow!("measuring the legend: {e:?}"))?;
    Ok(Some((
        f64::from(tw) + f64::from(LEGEND_SYMBOL_W + 2 * LEGEND_MARGIN),
        f64::from(th) + f64::from(2 * LEGEND_MARGIN),
    )))
}

/// The panel's axes and its legend's corner (right?, upper?): the ranges of all its points
/// (extents included), the y range raised where the legend needs room above the data.
fn panel_axes(
    panel: &Panel,
    segs: &[Vec<Vec<(f64, f64)>>],
    plot_px: (f64, f64),
) -> Result<(Axis, Axis, (bool, bool))> {
    let points = || segs.iter().flatten().flatten();
    let (xlo, xhi) = axis_range(points().map(|p| p.0), panel.log_x, 0.0);
    let (ylo, mut yhi) = axis_range(points().map(|p| p.1), panel.log_y, 0.05);
    let mut corner = (true, true);
    if let Some(box_px) = legend_box(panel)? {
        // Extents are not drawn: they take no corner.
        let drawn: Vec<Vec<Vec<(f64, f64)>>> = panel
            .series
            .iter()
            .zip(segs)
            .map(|(s, runs)| match s.style {
                SeriesStyle::Extent => Vec::new(),
                _ => runs.clone(),
            })
            .collect();
        (corner, yhi) = place_legend(&drawn, (xlo, xhi), (ylo, yhi), box_px, plot_px);
    }
    let xaxis = Axis::new(xlo, xhi, panel.log_x, X_TICKS);
    let yaxis = Axis::new(ylo, yhi, panel.log_y, Y_TICKS);
    Ok((xaxis, yaxis, corner))
}

/// The panel's chart on `area`, with its grid, ticks and axis labels drawn.
fn draw_axes<'a, DB: DrawingBackend + 'a>(
    area: &'a DrawingArea<DB, Shift>,
    panel: &Panel,
    layout: &PanelLayout,
    xaxis: Axis,
    yaxis: Axis,
) -> Result<PanelChart<'a, DB>> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(layout.margin_top)
        .margin_bottom(layout.margin_bottom)
        .margin_left(layout.margin_left)
        .margin_right(layout.margin_right)
        .x_label_area_size(layout.x_label_area)
        .y_label_area_size(layout.y_label_area)
        .build_cartesian_2d(xaxis, yaxis)
        .map_err(draw_err)?;
    let mut mesh = chart.configure_mesh();
    mesh.label_style((FONT, TICK_LABEL_SIZE))
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(205, 205, 205))
        .axis_style(RGBColor(60, 60, 60));
    if !panel.x_label.is_empty() {
        mesh.x_desc(panel.x_label.as_str());
    }
    if !panel.y_label.is_empty() {
        mesh.y_desc(panel.y_label.as_str());
    }
    mesh.draw().map_err(draw_err)?;
    Ok(chart)
}

/// Draws one run of a line series; `label` (on the series' first run) adds its legend entry.
fn draw_line_run<'a, DB: DrawingBackend + 'a>(
    chart: &mut PanelChart<'a, DB>,
    run: &[(f64, f64)],
    c: usize,
    dashed: bool,
    label: Option<&str>,
) -> Result<()> {
    let dash = dashed.then_some((8.0, 5.0));
    let style = PALETTE[c % PALETTE.len()].stroke_width(2);
    let plot_area = chart.plotting_area().strip_coord_spec();
    let (bx, by) = plot_area.get_base_pixel();
    let pixels = run.iter().map(|p| {
        let (x, y) = chart.backend_coord(p);
        (x - bx, y - by)
    });
    draw_polyline(&plot_area, pixels, style, dash)?;
    if let Some(label) = label {
        // An empty series, to carry the legend entry.
        let ann = chart
            .draw_series(LineSeries::new(std::iter::empty(), style))
            .map_err(draw_err)?;
        // Solid: two abutting pieces; dashed: two dashes.
        let gap = if dash.is_some() { 5 } else { 0 };
        ann.label(label).legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (8, 0)], style)
                + PathElement::new(vec![(8 + gap, 0), (22, 0)], style)
        });
    }
    Ok(())
}

/// Markers of a point series: circles of radius 3 (`Points`) or 3 x 3 pixel squares (`Dots`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Marker {
    Circle,
    Square,
}

impl Marker {
    fn draw<DB: DrawingBackend>(
        self,
        area: &DrawingArea<DB, Shift>,
        (x, y): BackendCoord,
        style: ShapeStyle,
    ) -> Result<()> {
        match self {
            Marker::Circle => area.draw(&Circle::new((x, y), 3, style)),
            Marker::Square => area.draw(&Rectangle::new([(x - 1, y - 1), (x + 2, y + 2)], style)),
        }
        .map_err(draw_err)
    }
}

/// Draws one run of a point series, one marker per pixel: `marked` holds the pixels of the
/// plotting area this series has marked already (over all its runs; empty before the first).
/// `label` (on the series' first run) adds its legend entry.
fn draw_point_run<'a, DB: DrawingBackend + 'a>(
    chart: &mut PanelChart<'a, DB>,
    run: &[(f64, f64)],
    (c, marker): (usize, Marker),
    marked: &mut Vec<bool>,
    label: Option<&str>,
) -> Result<()> {
    let style = PALETTE[c % PALETTE.len()].filled();
    let plot_area = chart.plotting_area().strip_coord_spec();
    let (bx, by) = plot_area.get_base_pixel();
    let (pw, ph) = plot_area.dim_in_pixel();
    let (pw, ph) = (pw as i32 + 1, ph as i32 + 1);
    if marked.is_empty() {
        *marked = vec![false; (pw * ph).max(0) as usize];
    }
    for p in run {
        let (x, y) = chart.backend_coord(p);
        let (x, y) = (x - bx, y - by);
        // Later points on an already marked pixel would draw the same marker again.
        if (0..pw).contains(&x) && (0..ph).contains(&y) {
            let i = (y * pw + x) as usize;
            if std::mem::replace(&mut marked[i], true) {
                continue;
            }
        }
        marker.draw(&plot_area, (x, y), style)?;
    }
    if let Some(label) = label {
        let ann = chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
            .map_err(draw_err)?;
        let ann = ann.label(label);
        match marker {
            Marker::Circle => ann.legend(move |(x, y)| Circle::new((x + 11, y), 3, style)),
            // A little larger than the markers, to show their colour.
            Marker::Square => {
                ann.legend(move |(x, y)| Rectangle::new([(x + 9, y - 2), (x + 13, y + 2)], style))
            }
        };
    }
    Ok(())
}

/// Draws every series of `panel` (`segs`: their runs, from [`panel_segments`]). Returns whether
/// any has a legend entry.
fn draw_series<'a, DB: DrawingBackend + 'a>(
    chart: &mut PanelChart<'a, DB>,
    panel: &Panel,
    segs: &[Vec<Vec<(f64, f64)>>],
) -> Result<bool> {
    let mut any_label = false;
    for (series, runs) in panel.series.iter().zip(segs) {
        if series.style == SeriesStyle::Extent {
            continue;
        }
        // Pixels of this series that already have a marker (point styles), over all its runs.
        let mut marked: Vec<bool> = Vec::new();
        let label = series.label.as_str();
        any_label |= !label.is_empty();
        // An empty series still gets its legend entry, through one empty run.
        let empty = [Vec::new()];
        let runs = if runs.is_empty() {
            &empty[..]
        } else {
            &runs[..]
        };
        for (i, run) in runs.iter().enumerate() {
            let label = (i == 0 && !label.is_empty()).then_some(label);
            match series.style {
                SeriesStyle::Solid(c) => draw_line_run(chart, run, c, false, label)?,
                SeriesStyle::Dashed(c) => draw_line_run(chart, run, c, true, label)?,
                SeriesStyle::Points(c) => {
                    draw_point_run(chart, run, (c, Marker::Circle), &mut marked, label)?
                }
                SeriesStyle::Dots(c) => {
                    draw_point_run(chart, run, (c, Marker::Square), &mut marked, label)?
                }
                SeriesStyle::Extent => {}
            }
        }
    }
    Ok(any_label)
}

/// "no data" in the middle of the plot.
fn draw_no_data<'a, DB: DrawingBackend + 'a>(chart: &PanelChart<'a, DB>) -> Result<()> {
    let style = TextStyle::from((FONT, AXIS_DESC_SIZE).into_font())
        .color(&RGBColor(120, 120, 120))
        .pos(Pos::new(HPos::Center, VPos::Center));
    let (x, y) = (chart.x_range(), chart.y_range());
    let mid = (0.5 * (x.start + x.end), 0.5 * (y.start + y.end));
    chart
        .plotting_area()
        .draw(&Text::new("no data", mid, style))
        .map_err(draw_err)
}

/// The legend box, in `corner` (right?, upper?).
fn draw_legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut PanelChart<'a, DB>,
    corner: (bool, bool),
) -> Result<()> {
    let legend_font: TextStyle = (FONT, LEGEND_SIZE).into();
    chart
        .configure_series_labels()
        .position(match corner {
            (true, true) => SeriesLabelPosition::UpperRight,
            (false, true) => SeriesLabelPosition::UpperLeft,
            (true, false) => SeriesLabelPosition::LowerRight,
            (false, false) => SeriesLabelPosition::LowerLeft,
        })
        .margin(LEGEND_MARGIN)
        .legend_area_size(LEGEND_SYMBOL_W)
        .label_font(legend_font)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(170, 170, 170))
        .draw()
        .map_err(draw_err)
}

/// Draws one panel on `area`: its title, axes, series, legend ("no data" when nothing can be
/// shown).
fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> Result<()> {
    let area = if panel.title.is_empty() {
        area.clone()
    } else {
        area.titled(&panel.title, (FONT, PANEL_TITLE_SIZE))
            .map_err(draw_err)?
    };
    let layout = PanelLayout::new(panel, area.dim_in_pixel());
    let segs = panel_segments(panel);
    let (xaxis, yaxis, corner) = panel_axes(panel, &segs, layout.plot_px)?;
    let mut chart = draw_axes(&area, panel, &layout, xaxis, yaxis)?;
    let any_label = draw_series(&mut chart, panel, &segs)?;
    let drawn = panel
        .series
        .iter()
        .zip(&segs)
        .any(|(s, runs)| s.style != SeriesStyle::Extent && runs.iter().any(|r| !r.is_empty()));
    if !drawn {
        draw_no_data(&chart)?;
    }
    if any_label {
        draw_legend(&mut chart, corner)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_panels() -> Vec<Panel> {
        let t: Vec<f64> = (0..400).map(|i| i as f64 * 0.05).collect();
        let series = |label: &str, f: &dyn Fn(f64) -> f64, style| Series {
            label: label.to_string(),
            x: t.clone(),
            y: t.iter().map(|&x| f(x)).collect(),
            style,
        };
        let mut noisy = series(
            "E (sim)",
            &|x| 0.1 + 0.05 * (-x).exp() + 0.003 * (7.3 * x).sin(),
            SeriesStyle::Solid(0),
        );
        noisy.y[100] = f64::NAN;
        noisy.y[101] = f64::INFINITY;
        vec![
            Panel {
                title: "mean".into(),
                x_label: "time t".into(),
                y_label: "m(t)".into(),
                series: vec![
                    noisy,
                    series(
                        "E (theory)",
                        &|x| 0.1 + 0.05 * (-x).exp(),
                        SeriesStyle::Dashed(0),
                    ),
                    series(
                        "I (sim)",
                        &|x| 0.2 - 0.04 * (-x).exp() + 0.003 * (5.1 * x).cos(),
                        SeriesStyle::Solid(1),
                    ),
                    series(
                        "I (theory)",
                        &|x| 0.2 - 0.04 * (-x).exp(),
                        SeriesStyle::Dashed(1),
                    ),
                ],
                log_x: false,
                log_y: false,
            },
            Panel {
                title: "variance (log y)".into(),
                x_label: "time t".into(),
                y_label: "variance".into(),
                series: vec![
                    series(
                        "E",
                        &|x| 1e-3 * (-0.5 * x).exp() + 1e-6,
                        SeriesStyle::Solid(2),
                    ),
                    series("zero", &|_| 0.0, SeriesStyle::Solid(3)),
                ],
                log_x: false,
                log_y: true,
            },
            Panel {
                title: "rate, log-log".into(),
                x_label: "N".into(),
                y_label: "error".into(),
                series: vec![Series {
                    label: "measured".into(),
                    x: vec![1e2, 1e3, 1e4, 1e5, 1e6, -5.0],
                    y: vec![0.1, 0.031, 0.01, 0.0031, 0.001, 1.0],
                    style: SeriesStyle::Points(4),
                }],
                log_x: true,
                log_y: true,
            },
            Panel {
                title: "constant and empty".into(),
                x_label: String::new(),
                y_label: "rate".into(),
                series: vec![
                    Series {
                        label: "constant".into(),
                        x: vec![0.0, 1.0, 2.0],
                        y: vec![3.5, 3.5, 3.5],
                        style: SeriesStyle::Solid(5),
                    },
                    Series {
                        label: "empty".into(),
                        x: vec![],
                        y: vec![],
                        style: SeriesStyle::Dashed(6),
                    },
                ],
                log_x: false,
                log_y: false,
            },
        ]
    }

    fn render_rgb(title: &str, panels: &[Panel], columns: usize) -> ((u32, u32), Vec<u8>) {
        let (w, h) = figure_size(title, panels.len(), columns);
        let mut buf = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            draw_figure(&root, title, panels, columns).unwrap();
            root.present().unwrap();
        }
        ((w, h), buf)
    }

    #[test]
    fn writes_a_2x2_png() {
        let dir = std::env::temp_dir().join(format!("balnet-plot-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("panels.png");
        let panels = example_panels();
        write_panels_png(&path, "balnet plot test: 2 x 2 panels", &panels, 2).unwrap();
        assert!(!temp_path(&path).unwrap().exists());
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&bytes[12..16], b"IHDR");
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((w, h), (2 * PANEL_W, TITLE_H + 2 * PANEL_H));
        if let Ok(copy) = std::env::var("BALNET_PLOT_EXAMPLE") {
            std::fs::copy(&path, copy).unwrap();
        }
        // Writing again replaces the file with the same bytes.
        write_panels_png(&path, "balnet plot test: 2 x 2 panels", &panels, 2).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rendering_is_not_blank_and_is_deterministic() {
        let panels = example_panels();
        let ((w, h), buf) = render_rgb("title", &panels, 2);
        let pixels: Vec<&[u8]> = buf.chunks_exact(3).collect();
        let non_white = pixels.iter().filter(|p| **p != [255, 255, 255]).count();
        assert!(
            non_white > (w * h / 50) as usize,
            "only {non_white} non-white pixels"
        );
        // Series colours appear, and so does dark text.
        for c in [0, 1, 2, 4, 5] {
            let (r, g, b) = palette_color(c);
            let n = pixels.iter().filter(|p| **p == [r, g, b]).count();
            assert!(n > 20, "colour {c} drawn on only {n} pixels");
        }
        let dark = pixels.iter().filter(|p| p.iter().all(|&v| v < 80)).count();
        assert!(dark > 2000, "only {dark} dark (text) pixels");
        let (_, again) = render_rgb("title", &panels, 2);
        assert!(buf == again, "rendering is not deterministic");
    }

    #[test]
    fn degenerate_inputs_render() {
        // No panels, one empty panel, one panel with only unplottable points, many columns.
        let empty = Panel {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            series: vec![],
            log_x: true,
            log_y: true,
        };
        let bad = Panel {
            series: vec![Series {
                label: String::new(),
                x: vec![f64::NAN, 1.0, 2.0],
                y: vec![1.0, f64::NEG_INFINITY, 1e301],
                style: SeriesStyle::Solid(0),
            }],
            log_x: false,
            log_y: false,
            ..empty.clone()
        };
        render_rgb("", &[], 3);
        render_rgb("t", std::slice::from_ref(&empty), 0);
        // Extremes: log axes at the ends of the f64 range, huge linear values.
        let extreme = |y: Vec<f64>, log_y| Panel {
            series: vec![Series {
                label: "x".into(),
                x: (0..y.len()).map(|i| i as f64).collect(),
                y,
                style: SeriesStyle::Solid(0),
            }],
            log_x: false,
            log_y,
            ..empty.clone()
        };
        let extremes = [
            extreme(vec![f64::MAX, f64::MAX], true),
            extreme(vec![5e-324, 5e-324], true),
            extreme(vec![5e-324, f64::MAX], true),
            extreme(vec![-1e300, 1e300], false),
            extreme(vec![1e-300, 1e-300], false),
            extreme(vec![1.0, 1.0 + 1e-15], false),
        ];
        render_rgb("", &extremes, 3);
        render_rgb("", &[empty, bad], 7);
    }

    #[test]
    fn titles_extents_and_dots() {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Unit {
            FixedIndegree,
        }
        #[derive(serde::Serialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        enum Tagged {
            Conductance { a: f64 },
        }
        assert_eq!(json_name(&Unit::FixedIndegree), "fixed_indegree");
        assert_eq!(json_name(&Tagged::Conductance { a: 1.0 }), "conductance");
        assert_eq!(json_name(&2.5), "2.5");
        // One band line per title line.
        assert_eq!(figure_size("a", 1, 1), (PANEL_W, TITLE_H + PANEL_H));
        assert_eq!(
            figure_size("a\nb\nc", 2, 2),
            (2 * PANEL_W, TITLE_H + 2 * TITLE_LINE_H + PANEL_H)
        );
        // An extent sets the axes but is neither drawn nor in the legend.
        let panel = Panel {
            title: "raster".into(),
            x_label: "t".into(),
            y_label: "neuron".into(),
            series: vec![
                Series {
                    label: "window".into(),
                    x: vec![0.0, 10.0],
                    y: vec![-0.5, 9.5],
                    style: SeriesStyle::Extent,
                },
                Series {
                    label: String::new(),
                    x: (0..50).map(|k| 2.0 + 0.02 * k as f64).collect(),
                    y: (0..50).map(|k| (k % 10) as f64).collect(),
                    style: SeriesStyle::Dots(3),
                },
            ],
            log_x: false,
            log_y: false,
        };
        assert_eq!(legend_box(&panel).unwrap(), None);
        let segs = panel_segments(&panel);
        let (x, y, _) = panel_axes(&panel, &segs, (500.0, 350.0)).unwrap();
        assert_eq!((x.lo, x.hi), (0.0, 10.0));
        assert!(y.lo < -0.5 && y.hi > 9.5);
        let ((w, h), buf) = render_rgb("two\nlines", std::slice::from_ref(&panel), 1);
        assert_eq!((w, h), figure_size("two\nlines", 1, 1));
        let (r, g, b) = palette_color(3);
        let dots = buf.chunks_exact(3).filter(|p| *p == [r, g, b]).count();
        assert!(dots >= 50 * 9, "dots drawn on only {dots} pixels");
    }

    #[test]
    fn ranges() {
        assert_eq!(axis_range([].into_iter(), false, 0.05), (0.0, 1.0));
        assert_eq!(axis_range([2.0, 2.0].into_iter(), false, 0.05), (1.8, 2.2));
        assert_eq!(axis_range([0.0].into_iter(), false, 0.05), (-1.0, 1.0));
        let (lo, hi) = axis_range([1.0, 3.0].into_iter(), false, 0.05);
        assert!((lo - 0.9).abs() < 1e-12 && (hi - 3.1).abs() < 1e-12);
        let (lo, hi) = axis_range([-2.0].into_iter(), true, 0.0);
        assert!(lo < -2.0 && hi > -2.0);
        assert_eq!(to_plot(0.0, true), None);
        assert_eq!(to_plot(-1.0, true), None);
        assert_eq!(to_plot(100.0, true), Some(2.0));
        assert_eq!(to_plot(f64::NAN, false), None);
        assert_eq!(to_plot(2e300, false), None);
        let s = Series {
            label: String::new(),
            x: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            y: vec![1.0, 2.0, f64::NAN, 3.0, 0.0, 4.0],
            style: SeriesStyle::Solid(0),
        };
        assert_eq!(segments(&s, false, false).len(), 2);
        assert_eq!(segments(&s, false, true).len(), 3);
    }

    #[test]
    fn downsampling_keeps_extremes_ends_and_breaks() {
        let run: Vec<(f64, f64)> = (0..100_000).map(|i| (i as f64, (i % 97) as f64)).collect();
        let mut spiky = run.clone();
        spiky[54_321].1 = 1e6;
        let out = downsample(vec![spiky, vec![(1e6, 3.0)]], 4000);
        assert_eq!(out.len(), 2);
        let n: usize = out.iter().map(Vec::len).sum();
        assert!(n <= 4000 + 4, "{n} points");
        assert_eq!(out[0][0], (0.0, 0.0));
        assert_eq!(*out[0].last().unwrap(), (99_999.0, (99_999 % 97) as f64));
        assert!(out[0].contains(&(54_321.0, 1e6)));
        assert!(out[0].windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(out[1], vec![(1e6, 3.0)]);
        // Small series are kept as they are.
        let small = vec![run[..3000].to_vec()];
        assert_eq!(downsample(small.clone(), 4000), small);
    }

    #[test]
    fn ticks_and_labels() {
        let a = Axis::new(0.0, 20.0, false, 6.0);
        let labels: Vec<&str> = a.major.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0", "5", "10", "15", "20"]);
        let a = Axis::new(-0.31, 0.29, false, 6.0);
        let labels: Vec<&str> = a.major.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["-0.3", "-0.2", "-0.1", "0.0", "0.1", "0.2"]);
        let a = Axis::new(0.0, 3.2e7, false, 6.0);
        assert_eq!(a.major[1].1, "0.5e7");
        let a = Axis::new(-6.2, 0.1, true, 6.0);
        assert_eq!(a.major[0].1, "10⁻⁶");
        let a = Axis::new(-2.1, 2.1, true, 6.0);
        let labels: Vec<&str> = a.major.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0.01", "0.1", "1", "10", "100"]);
        let a = Axis::new(-1.1, 0.1, true, 6.0);
        let labels: Vec<&str> = a.major.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(labels, ["0.1", "0.2", "0.5", "1"]);
        let a = Axis::new(0.0, 0.2, true, 6.0);
        assert!(a.major.len() >= 3, "{:?}", a.major);
        assert_eq!(fmt_sig(2e-5, 1), "2e-5");
        assert_eq!(fmt_sig(0.002, 1), "0.002");
        assert_eq!(clean_zero("-0.00".into()), "0.00");
    }
}
