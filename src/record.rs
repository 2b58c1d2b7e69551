//! What a run measures and how it is reduced and written: population power sums, the
//! moments derived from them, and atomic CSV / NPY / JSON writers.

pub mod lif;

use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// Sums over one population of 1, d, d², d³, d⁴ with d = x - shift (the shift, the theory's
/// mean, keeps the raw sums from cancelling).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct PowerSums {
    pub count: f64,
    pub s1: f64,
    pub s2: f64,
    pub s3: f64,
    pub s4: f64,
}

impl PowerSums {
    #[inline(always)]
    pub fn add(&mut self, d: f64) {
        let d2 = d * d;
        self.count += 1.0;
        self.s1 += d;
        self.s2 += d2;
        self.s3 += d2 * d;
        self.s4 += d2 * d2;
    }

    pub fn merge(&mut self, o: &PowerSums) {
        self.count += o.count;
        self.s1 += o.s1;
        self.s2 += o.s2;
        self.s3 += o.s3;
        self.s4 += o.s4;
    }

    /// (mean, variance, skewness, excess kurtosis) of the population (1/count normalisation).
    pub fn moments(&self, shift: f64) -> (f64, f64, f64, f64) {
        let n = self.count;
        let m = self.s1 / n;
        let e2 = self.s2 / n;
        let e3 = self.s3 / n;
        let e4 = self.s4 / n;
        let var = e2 - m * m;
        let c3 = e3 - 3.0 * m * e2 + 2.0 * m * m * m;
        let c4 = e4 - 4.0 * m * e3 + 6.0 * m * m * e2 - 3.0 * m.powi(4);
        (m + shift, var, c3 / var.powf(1.5), c4 / (var * var) - 3.0)
    }
}

/// What a backend hands back at a record point.
#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize)]
pub struct RecordSample {
    /// Steps completed (the state is x(step)).
    pub step: u64,
    pub sums: [PowerSums; 2],
    /// Lambda_b = sum over population b of f_b(x_j) at this state.
    pub lambda: [f64; 2],
}

/// One row of moments.csv.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MomentRow {
    pub t: f64,
    pub step: u64,
    pub population: usize,
    pub mean: f64,
    pub var: f64,
    pub rate: f64,
    pub skewness: f64,
    pub excess_kurtosis: f64,
    pub drift: f64,
}

pub const POP_NAMES: [&str; 2] = ["E", "I"];

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash never leaves a
/// half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("cannot rename {} to {}: {e}", tmp.display(), path.display()))
}

pub fn write_json(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}

/// A CSV table: a header row and rows of numbers or labels.
pub struct Csv {
    text: String,
}

impl Csv {
    pub fn new(header: &[&str]) -> Self {
        Csv {
            text: format!("{}\n", header.join(",")),
        }
    }

    pub fn row(&mut self, cells: &[String]) {
        self.text.push_str(&cells.join(","));
        self.text.push('\n');
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        write_atomic(path, self.text.as_bytes())
    }
}

/// Formats a float for CSV with full round-trip precision.
pub fn num(x: f64) -> String {
    format!("{x:e}")
}

/// A 1-D little-endian f32 .npy file (NumPy format version 1.0).
pub fn write_npy_f32(path: &Path, data: &[f32]) -> anyhow::Result<()> {
    write_npy_f32_shape(path, &format!("({},)", data.len()), data)
}

/// A 2-D row-major [rows, cols] little-endian f32 .npy file.
pub fn write_npy_f32_2d(path: &Path, rows: usize, cols: usize, data: &[f32]) -> anyhow::Result<()> {
    anyhow::ensure!(
        data.len() == rows * cols,
        "npy: {} values for {rows} x {cols}",
        data.len()
    );
    write_npy_f32_shape(path, &format!("({rows}, {cols})"), data)
}

fn write_npy_f32_shape(path: &Path, shape: &str, data: &[f32]) -> anyhow::Result<()> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.div_ceil(64) * 64 - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + data.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(bytemuck::cast_slice(data));
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_sums_give_known_moments() {
        // The sample {1, 2, 3, 4, 10}: mean 4, variance 10 (1/n), third central moment 36.
        let xs = [1.0, 2.0, 3.0, 4.0, 10.0];
        let mut s = PowerSums::default();
        for x in xs {
            s.add(x - 3.5);
        }
        let (m, v, sk, ku) = s.moments(3.5);
        assert!((m - 4.0).abs() < 1e-12 && (v - 10.0).abs() < 1e-12);
        assert!((sk - 36.0 / 10f64.powf(1.5)).abs() < 1e-12);
        let c4 = xs.iter().map(|x| (x - 4.0f64).powi(4)).sum::<f64>() / 5.0;
        assert!((ku - (c4 / 100.0 - 3.0)).abs() < 1e-12);
    }

    #[test]
    fn npy_header_is_aligned() {
        let dir = std::env::temp_dir().join(format!("balnet-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.npy");
        write_npy_f32(&p, &[1.0, 2.0, 3.0]).unwrap();
        let b = std::fs::read(&p).unwrap();
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        assert_eq!(b.len(), 10 + hlen + 12);
        assert_eq!(
            f32::from_le_bytes([
                b[10 + hlen + 4],
                b[10 + hlen + 5],
                b[10 + hlen + 6],
                b[10 + hlen + 7]
            ]),
            2.0
        );
    }
}
