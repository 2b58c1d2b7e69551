//! Writers over in-memory results: atomic files, JSON, CSV and NPY; checkpoints.

pub mod checkpoint;
pub mod run_json;

use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// `text` cut to at most `max` characters (with an ellipsis), for messages that echo input.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(3)).collect();
        s.push_str("...");
        s
    }
}

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

/// A CSV table: a header row and rows of numbers or labels, written with the `csv` crate
/// (fields that need it are quoted).
pub struct Csv {
    w: csv::Writer<Vec<u8>>,
}

impl Csv {
    pub fn new(header: &[&str]) -> Self {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        // Writing to memory cannot fail.
        let _ = w.write_record(header);
        Csv { w }
    }

    pub fn row(&mut self, cells: &[String]) {
        let _ = self.w.write_record(cells);
    }

    pub fn write(self, path: &Path) -> anyhow::Result<()> {
        let bytes = self
            .w
            .into_inner()
            .map_err(|e| anyhow::anyhow!("CSV for {}: {e}", path.display()))?;
        write_atomic(path, &bytes)
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
