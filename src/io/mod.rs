//! Writers over in-memory results: atomic files, JSON, CSV and NPY; checkpoints.

pub mod checkpoint;
pub mod run_json;

use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// `path` with `.tmp` appended: where [`write_atomic`] writes before the rename.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash never leaves a
/// half-written file under the final name. On an error (a full disk, an unwritable directory)
/// the temporary file is removed and the message names the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = tmp_path(path);
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!("cannot write {}: {e}", tmp.display());
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("cannot rename {} to {}: {e}", tmp.display(), path.display())
    })
}

/// As [`write_atomic`]; when the disk is full, rewrites `path` in place instead (in the
/// blocks it already holds: run.json's final form is about the size of its first), so that a
/// run that filled the disk can still say so. Only for small files that are rewritten whole.
pub fn write_atomic_or_in_place(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    match write_atomic(path, bytes) {
        Ok(()) => Ok(()),
        Err(first) if path.exists() => {
            let in_place = (|| -> std::io::Result<()> {
                let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
                f.write_all(bytes)?;
                f.set_len(bytes.len() as u64)?;
                f.sync_all()
            })();
            in_place.map_err(|e| {
                anyhow::anyhow!("{first:#}; rewriting {} in place: {e}", path.display())
            })
        }
        Err(e) => Err(e),
    }
}

/// Creates a run directory (and its parents), with the path in the error.
pub fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))
}

pub fn write_json(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    write_atomic(path, &json_bytes(value)?)
}

/// Pretty JSON with a final newline, as run.json is written.
pub fn json_bytes(value: &impl Serialize) -> anyhow::Result<Vec<u8>> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s.into_bytes())
}

/// Marks the run.json at `path` `interrupted` (with `why` as its error) if it still says
/// `running`: for a process that must end before its run could write its directory (a second
/// Ctrl-C). Returns whether it changed the file.
pub fn mark_interrupted(path: &Path, why: &str) -> anyhow::Result<bool> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let status = serde_json::from_value::<run_json::Status>(v["status"].clone()).ok();
    if status != Some(run_json::Status::Running) {
        return Ok(false);
    }
    // The summaries are structs written by `json_bytes`: top-level fields at two spaces,
    // `status` first, `error` last; edit the text to keep their order.
    let why = serde_json::to_string(why)?;
    let mut out = text.replacen(
        "\n  \"status\": \"running\"",
        "\n  \"status\": \"interrupted\"",
        1,
    );
    if out.contains("\n  \"error\": null") {
        out = out.replacen("\n  \"error\": null", &format!("\n  \"error\": {why}"), 1);
    }
    anyhow::ensure!(out != text, "{}: no top-level status field", path.display());
    write_atomic_or_in_place(path, out.as_bytes())?;
    Ok(true)
}

/// 64-bit FNV-1a of `bytes`, continuing from `h` (start with [`FNV_OFFSET`]).
pub fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The FNV-1a offset basis.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Where and how a run (of either model) writes its directory.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub out: PathBuf,
    /// Write DIR/checkpoint.bin every this many steps (model L: warm-up included).
    pub checkpoint_every: Option<u64>,
    /// Continue from DIR/checkpoint.bin (same backend kind and config).
    pub resume: bool,
}

impl RunOptions {
    /// A run into `out` without checkpoints.
    pub fn new(out: PathBuf) -> Self {
        RunOptions {
            out,
            checkpoint_every: None,
            resume: false,
        }
    }
}

/// A run summary that can be marked failed (run.json's `status` and `error`).
pub trait RunStatus: Serialize + Clone {
    fn set_failed(&mut self, error: String);
}

/// A run's run.json while the run goes: written `running` at the start, rewritten at the
/// end; when the run ends in an error before its final form is written, [`fail`](Self::fail)
/// rewrites the last summary as `failed` with the error (in place if the disk is full).
pub struct RunJson<T> {
    path: PathBuf,
    last: Option<T>,
    finished: bool,
}

impl<T: RunStatus> RunJson<T> {
    pub fn new(path: PathBuf) -> Self {
        RunJson {
            path,
            last: None,
            finished: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes an intermediate summary (`running`).
    pub fn write(&mut self, summary: &T) -> anyhow::Result<()> {
        self.last = Some(summary.clone());
        write_atomic_or_in_place(&self.path, &json_bytes(summary)?)
    }

    /// Writes the final summary; `fail` leaves it alone afterwards.
    pub fn finish(&mut self, summary: &T) -> anyhow::Result<()> {
        self.write(summary)?;
        self.finished = true;
        Ok(())
    }

    /// Marks the run failed with `error` unless its final summary was written or none was
    /// ever written; best effort (the error that got here is what the caller reports).
    pub fn fail(&mut self, error: &anyhow::Error) {
        if self.finished {
            return;
        }
        if let Some(mut s) = self.last.take() {
            s.set_failed(format!("{error:#}"));
            if let Ok(bytes) = json_bytes(&s) {
                let _ = write_atomic_or_in_place(&self.path, &bytes);
            }
        }
    }
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

/// A CSV file written as a run goes: the header when created, then rows appended and
/// flushed to the operating system at every [`flush`](CsvAppender::flush) (after each chunk
/// of steps), so that a killed process leaves every row up to its last flush readable (a
/// `kill -9` during a flush can leave one partial last line: the rows that end in a newline
/// are complete). The finished file is byte for byte the [`Csv`] of the same rows.
pub struct CsvAppender {
    path: PathBuf,
    w: csv::Writer<std::fs::File>,
}

impl CsvAppender {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: &Path, header: &[&str]) -> anyhow::Result<Self> {
        let f = std::fs::File::create(path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        let w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(f);
        let mut a = CsvAppender {
            path: path.to_path_buf(),
            w,
        };
        a.row(header)?;
        a.flush()?;
        Ok(a)
    }

    pub fn row<S: AsRef<[u8]>>(&mut self, cells: &[S]) -> anyhow::Result<()> {
        self.w
            .write_record(cells)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))
    }

    /// Hands the buffered rows to the operating system.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.w
            .flush()
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))
    }

    /// Flushes and syncs the file to disk.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.flush()?;
        self.w
            .get_ref()
            .sync_all()
            .map_err(|e| anyhow::anyhow!("cannot sync {}: {e}", self.path.display()))
    }

    pub fn path(&self) -> &Path {
        &self.path
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

/// Bytes of an [`NpyAppender`]'s header (magic, version, length and the padded dict).
pub const NPY_APPEND_HEADER: usize = 128;

/// A 1-D little-endian u32 .npy file (format 1.0) written as a run goes: values are appended
/// at the end and the header's shape is rewritten in place after each append. The header has
/// a fixed size ([`NPY_APPEND_HEADER`] bytes, the dict padded with spaces), so a killed
/// process leaves a valid file holding every value up to its last completed append (a
/// `kill -9` between an append and its header update leaves the new values after the data
/// the header counts, which readers ignore).
pub struct NpyAppender {
    path: PathBuf,
    f: std::fs::File,
    len: u64,
}

fn npy_u32_header(len: u64) -> Vec<u8> {
    let mut header = format!("{{'descr': '<u4', 'fortran_order': False, 'shape': ({len},), }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(NPY_APPEND_HEADER - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(NPY_APPEND_HEADER);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes
}

impl NpyAppender {
    /// Creates (or truncates) `path` as an empty array.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        let mut a = NpyAppender {
            path: path.to_path_buf(),
            f,
            len: 0,
        };
        a.write_header()?;
        Ok(a)
    }

    /// Opens a file this type wrote and cuts it back to its first `len` values (a resumed
    /// run continues from its checkpoint); an error if it holds fewer or is not such a file.
    pub fn reopen_truncated(path: &Path, len: u64) -> anyhow::Result<Self> {
        let held = read_npy_u32_len(path)?;
        anyhow::ensure!(
            held >= len,
            "{} holds {held} values, the checkpoint counts {len}: it does not belong to this run",
            path.display()
        );
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        f.set_len(NPY_APPEND_HEADER as u64 + 4 * len)
            .map_err(|e| anyhow::anyhow!("cannot truncate {}: {e}", path.display()))?;
        let mut a = NpyAppender {
            path: path.to_path_buf(),
            f,
            len,
        };
        a.write_header()?;
        Ok(a)
    }

    fn write_header(&mut self) -> anyhow::Result<()> {
        use std::io::{Seek, SeekFrom};
        let h = npy_u32_header(self.len);
        (|| -> std::io::Result<()> {
            self.f.seek(SeekFrom::Start(0))?;
            self.f.write_all(&h)
        })()
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))
    }

    /// Appends `values` after the data (the header still counts the old length).
    pub fn append_data(&mut self, values: &[u32]) -> anyhow::Result<()> {
        use std::io::{Seek, SeekFrom};
        let at = NPY_APPEND_HEADER as u64 + 4 * self.len;
        (|| -> std::io::Result<()> {
            self.f.seek(SeekFrom::Start(at))?;
            let mut bytes = Vec::with_capacity(values.len() * 4);
            for v in values {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            self.f.write_all(&bytes)
        })()
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", self.path.display()))?;
        self.len += values.len() as u64;
        Ok(())
    }

    /// Rewrites the header's shape to count everything appended.
    pub fn commit(&mut self) -> anyhow::Result<()> {
        self.write_header()
    }

    /// Syncs the file to disk.
    pub fn sync(&self) -> anyhow::Result<()> {
        self.f
            .sync_all()
            .map_err(|e| anyhow::anyhow!("cannot sync {}: {e}", self.path.display()))
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the file.
    pub fn bytes(&self) -> u64 {
        NPY_APPEND_HEADER as u64 + 4 * self.len
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The length in the header of a 1-D `<u4` .npy file written by [`NpyAppender`], checked
/// against the file's size.
pub fn read_npy_u32_len(path: &Path) -> anyhow::Result<u64> {
    use std::io::Read;
    let mut head = [0u8; NPY_APPEND_HEADER];
    let size = (|| -> std::io::Result<u64> {
        let mut f = std::fs::File::open(path)?;
        f.read_exact(&mut head)?;
        Ok(f.metadata()?.len())
    })()
    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let bad = || {
        anyhow::anyhow!(
            "{}: not a 1-D uint32 .npy file written by balnet",
            path.display()
        )
    };
    if &head[..8] != b"\x93NUMPY\x01\x00"
        || u16::from_le_bytes([head[8], head[9]]) as usize != NPY_APPEND_HEADER - 10
    {
        return Err(bad());
    }
    let text = std::str::from_utf8(&head[10..]).map_err(|_| bad())?;
    let rest = text
        .strip_prefix("{'descr': '<u4', 'fortran_order': False, 'shape': (")
        .ok_or_else(bad)?;
    let len: u64 = rest
        .split_once(",)")
        .and_then(|(n, _)| n.parse().ok())
        .ok_or_else(bad)?;
    anyhow::ensure!(
        size >= NPY_APPEND_HEADER as u64 + 4 * len,
        "{}: its header counts {len} values but the file has {size} bytes",
        path.display()
    );
    Ok(len)
}

/// A byte count for people: "2.50 GB", "819.20 kB", "96 B" (decimal units).
pub fn human_bytes(b: f64) -> String {
    const UNITS: [(f64, &str); 4] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")];
    UNITS
        .iter()
        .find(|(scale, _)| b >= *scale)
        .map(|(scale, unit)| format!("{:.2} {unit}", b / scale))
        .unwrap_or_else(|| format!("{b:.0} B"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_appender_counts_what_it_holds_and_truncates() {
        let dir = std::env::temp_dir().join(format!("balnet-npya-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.npy");
        let mut a = NpyAppender::create(&p).unwrap();
        a.append_data(&[1, 2, 3]).unwrap();
        // Appended but not committed: the header still says 0.
        assert_eq!(read_npy_u32_len(&p).unwrap(), 0);
        a.commit().unwrap();
        a.append_data(&[u32::MAX]).unwrap();
        a.commit().unwrap();
        drop(a);
        let b = std::fs::read(&p).unwrap();
        assert_eq!(b.len(), NPY_APPEND_HEADER + 16);
        assert_eq!((10 + u16::from_le_bytes([b[8], b[9]]) as usize) % 64, 0);
        assert_eq!(b[NPY_APPEND_HEADER - 1], b'\n');
        assert_eq!(read_npy_u32_len(&p).unwrap(), 4);
        let mut a = NpyAppender::reopen_truncated(&p, 2).unwrap();
        a.append_data(&[7]).unwrap();
        a.commit().unwrap();
        drop(a);
        let b = std::fs::read(&p).unwrap();
        let vals: Vec<u32> = b[NPY_APPEND_HEADER..]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(vals, [1, 2, 7]);
        assert!(NpyAppender::reopen_truncated(&p, 4).is_err());
        // The widest count still fits the fixed header.
        assert_eq!(npy_u32_header(u64::MAX).len(), NPY_APPEND_HEADER);
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

#[cfg(test)]
mod human_bytes_tests {
    #[test]
    fn units() {
        assert_eq!(super::human_bytes(2.5e9), "2.50 GB");
        assert_eq!(super::human_bytes(819_200.0), "819.20 kB");
        assert_eq!(super::human_bytes(96.0), "96 B");
        assert_eq!(super::human_bytes(1e12), "1.00 TB");
    }
}
