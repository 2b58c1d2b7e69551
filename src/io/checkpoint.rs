//! Checkpoints of a run (model H or model L): the backend's state blobs, the step counter and
//! the records taken so far, in one file written atomically (temporary name, then rename):
//!
//! `BALNETC2`, a little-endian u64 header length, the JSON header, the blobs in order, and a
//! little-endian u64 FNV-1a checksum of everything before it.
//!
//! The header names the model, the backend kind, the run's resolved config (and its FNV-1a
//! hash), the replica and the step. [`read`] refuses a file whose checksum, length or header
//! does not hold up, and [`Checkpoint::check_matches`] one written for another run; both as
//! one-line configuration errors (exit code 2), since the fix is to rerun without --resume.

use crate::Error;
use crate::device::DeviceKind;
use crate::hydro::record::RecordSample;
use crate::io as record;
use serde::{Deserialize, Serialize};
use std::path::Path;

const MAGIC: &[u8; 8] = b"BALNETC2";
/// The first format (PR 1-era), without checksum or config: refused with a clear message.
const MAGIC_V1: &[u8; 8] = b"BALNETCK";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Header {
    model: String,
    backend_kind: DeviceKind,
    config_hash: String,
    config: serde_json::Value,
    replica: u32,
    step: u64,
    samples: Vec<RecordSample>,
    blobs: Vec<(String, u64)>,
}

#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// "hydro" or "lif".
    pub model: String,
    /// "cpu" or "gpu": a checkpoint resumes on the same kind of backend.
    pub backend_kind: DeviceKind,
    /// The run's resolved config, as run.json holds it.
    pub config: serde_json::Value,
    /// The replica word of the network's counters.
    pub replica: u32,
    pub step: u64,
    /// Model H: the records so far (model L keeps its recording in the blobs).
    pub samples: Vec<RecordSample>,
    pub blobs: Vec<(String, Vec<u8>)>,
}

/// FNV-1a of a config's compact JSON, as 16 hex digits.
pub fn config_hash(config: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(config).unwrap_or_default();
    format!("{:016x}", record::fnv1a(record::FNV_OFFSET, &bytes))
}

/// A config as the JSON value a checkpoint stores.
pub fn config_value(config: &impl Serialize) -> crate::Result<serde_json::Value> {
    serde_json::to_value(config).map_err(|e| Error::Runtime(e.into()))
}

impl Checkpoint {
    /// Refuses (one line) a checkpoint of another model, another backend kind, another
    /// config or replica, or a step past the run's end.
    pub fn check_matches(
        &self,
        model: &str,
        kind: DeviceKind,
        config: &serde_json::Value,
        replica: u32,
        total_steps: u64,
    ) -> crate::Result<()> {
        let refuse = |why: String| Err(Error::Config(format!("checkpoint refused: {why}")));
        if self.model != model {
            return refuse(format!(
                "it was written by a model {} run, this is a model {} run",
                self.model, model
            ));
        }
        if self.backend_kind != kind {
            return refuse(format!(
                "it was written by the {0} backend; resume with --backend {0}",
                self.backend_kind.name()
            ));
        }
        if config_hash(&self.config) != config_hash(config) {
            return refuse(format!(
                "it was written for another configuration ({})",
                config_difference(&self.config, config)
            ));
        }
        if self.replica != replica {
            return refuse(format!(
                "it was written for replica {}, this run is replica {replica}",
                self.replica
            ));
        }
        if self.step > total_steps {
            return refuse(format!(
                "it is at step {} but the run has {total_steps} steps",
                self.step
            ));
        }
        Ok(())
    }
}

/// The first fields (at most three) where two configs differ, as `field: a in the
/// checkpoint, b here`.
fn config_difference(ck: &serde_json::Value, here: &serde_json::Value) -> String {
    let mut out = Vec::new();
    fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        if out.len() >= 3 || a == b {
            return;
        }
        match (a, b) {
            (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                let null = serde_json::Value::Null;
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(
                        &p,
                        x.get(k).unwrap_or(&null),
                        y.get(k).unwrap_or(&null),
                        out,
                    );
                }
            }
            _ => out.push(format!(
                "{path}: {} in the checkpoint, {} here",
                record::shorten(&a.to_string(), 40),
                record::shorten(&b.to_string(), 40)
            )),
        }
    }
    walk("", ck, here, &mut out);
    if out.is_empty() {
        "the same fields, another encoding".into()
    } else {
        out.join("; ")
    }
}

pub fn write(path: &Path, c: &Checkpoint) -> anyhow::Result<()> {
    let header = Header {
        model: c.model.clone(),
        backend_kind: c.backend_kind,
        config_hash: config_hash(&c.config),
        config: c.config.clone(),
        replica: c.replica,
        step: c.step,
        samples: c.samples.clone(),
        blobs: c
            .blobs
            .iter()
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect(),
    };
    let json = serde_json::to_vec(&header)?;
    let total: usize = c.blobs.iter().map(|(_, v)| v.len()).sum();
    let mut bytes = Vec::with_capacity(24 + json.len() + total);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    for (_, v) in &c.blobs {
        bytes.extend_from_slice(v);
    }
    let sum = record::fnv1a(record::FNV_OFFSET, &bytes);
    bytes.extend_from_slice(&sum.to_le_bytes());
    record::write_atomic(path, &bytes)
}

/// Reads and verifies a checkpoint: magic, lengths, checksum and header. Every refusal is a
/// one-line [`Error::Config`] naming the file.
pub fn read(path: &Path) -> crate::Result<Checkpoint> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Config(format!("{}: cannot read: {e}", path.display())))?;
    let refuse =
        |why: &str| Error::Config(format!("{}: {why}; rerun without --resume", path.display()));
    if bytes.len() >= 8 && &bytes[..8] == MAGIC_V1 {
        return Err(refuse(
            "checkpoint of an older balnet (no checksum, no config)",
        ));
    }
    if bytes.len() < 24 || &bytes[..8] != MAGIC {
        return Err(refuse("not a balnet checkpoint"));
    }
    let (body, tail) = bytes.split_at(bytes.len() - 8);
    let stored = u64::from_le_bytes(tail.try_into().expect("8 bytes"));
    if record::fnv1a(record::FNV_OFFSET, body) != stored {
        return Err(refuse("corrupt checkpoint (checksum mismatch)"));
    }
    let hlen = u64::from_le_bytes(body[8..16].try_into().expect("8 bytes"));
    let json = usize::try_from(hlen)
        .ok()
        .and_then(|h| body.get(16..16usize.checked_add(h)?))
        .ok_or_else(|| refuse("corrupt checkpoint (header length)"))?;
    let h: Header = serde_json::from_slice(json)
        .map_err(|e| refuse(&format!("corrupt checkpoint header ({e})")))?;
    if h.config_hash != config_hash(&h.config) {
        return Err(refuse("corrupt checkpoint (config hash)"));
    }
    let mut at = 16 + json.len();
    let mut blobs = Vec::new();
    for (k, len) in h.blobs {
        let v = usize::try_from(len)
            .ok()
            .and_then(|l| body.get(at..at.checked_add(l)?))
            .ok_or_else(|| refuse("corrupt checkpoint (blob lengths)"))?;
        blobs.push((k, v.to_vec()));
        at += v.len();
    }
    if at != body.len() {
        return Err(refuse("corrupt checkpoint (trailing bytes)"));
    }
    Ok(Checkpoint {
        model: h.model,
        backend_kind: h.backend_kind,
        config: h.config,
        replica: h.replica,
        step: h.step,
        samples: h.samples,
        blobs,
    })
}

/// The backend kind a checkpoint file was written by (header only, unverified), for picking
/// the backend of a resumed run; None when it cannot tell.
pub fn peek_backend_kind(path: &Path) -> Option<DeviceKind> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut head = [0u8; 16];
    f.read_exact(&mut head).ok()?;
    if &head[..8] != MAGIC {
        return None;
    }
    let hlen = u64::from_le_bytes(head[8..16].try_into().ok()?);
    let mut json = vec![0u8; usize::try_from(hlen).ok().filter(|&h| h < 1 << 31)?];
    f.read_exact(&mut json).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
    serde_json::from_value(v.get("backend_kind")?.clone()).ok()
}

/// The blob named `name` of a snapshot.
pub fn blob<'a>(blobs: &'a [(String, Vec<u8>)], name: &str) -> anyhow::Result<&'a [u8]> {
    blobs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| &v[..])
        .ok_or_else(|| anyhow::anyhow!("checkpoint has no `{name}`"))
}

/// The blob `name` as a vector of plain values, of exactly `len` elements when given.
pub fn blob_vec<T: bytemuck::Pod>(
    blobs: &[(String, Vec<u8>)],
    name: &str,
    len: Option<usize>,
) -> anyhow::Result<Vec<T>> {
    let b = blob(blobs, name)?;
    let size = std::mem::size_of::<T>();
    anyhow::ensure!(
        b.len().is_multiple_of(size),
        "checkpoint `{name}`: {} bytes is not a whole number of {size}-byte values",
        b.len()
    );
    let v: Vec<T> = bytemuck::pod_collect_to_vec(b);
    if let Some(l) = len {
        anyhow::ensure!(
            v.len() == l,
            "checkpoint `{name}` has {} values, this network {l}",
            v.len()
        );
    }
    Ok(v)
}

/// A slice of plain values as a blob.
pub fn to_blob<T: bytemuck::Pod>(name: &str, v: &[T]) -> (String, Vec<u8>) {
    (name.to_string(), bytemuck::cast_slice(v).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            model: "lif".into(),
            backend_kind: DeviceKind::Cpu,
            config: serde_json::json!({"model": "lif", "seed": 3, "dt": 0.1}),
            replica: 0,
            step: 500,
            samples: Vec::new(),
            blobs: vec![to_blob("a", &[1u32, 2, 3]), ("b".into(), vec![7u8; 5])],
        }
    }

    #[test]
    fn round_trip_and_every_flipped_byte_is_refused() {
        let dir = std::env::temp_dir().join(format!("balnet-ck-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("checkpoint.bin");
        let c = sample();
        write(&p, &c).unwrap();
        let r = read(&p).unwrap();
        assert_eq!((r.step, r.replica, &r.config), (500, 0, &c.config));
        assert_eq!(r.blobs, c.blobs);
        let bytes = std::fs::read(&p).unwrap();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            std::fs::write(&p, &b).unwrap();
            let e = read(&p).expect_err("a flipped byte must be refused");
            assert!(matches!(e, Error::Config(_)), "byte {i}: {e}");
            assert_eq!(e.to_string().lines().count(), 1);
        }
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_config_is_refused_naming_the_field() {
        let c = sample();
        let mut other = c.config.clone();
        other["seed"] = 4.into();
        let e = c
            .check_matches("lif", DeviceKind::Cpu, &other, 0, 1000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("seed: 3 in the checkpoint, 4 here"), "{e}");
        assert!(
            c.check_matches("lif", DeviceKind::Cpu, &c.config, 0, 1000)
                .is_ok()
        );
        assert!(
            c.check_matches("hydro", DeviceKind::Cpu, &c.config, 0, 1000)
                .is_err()
        );
        assert!(
            c.check_matches("lif", DeviceKind::Gpu, &c.config, 0, 1000)
                .is_err()
        );
        assert!(
            c.check_matches("lif", DeviceKind::Cpu, &c.config, 1, 1000)
                .is_err()
        );
        assert!(
            c.check_matches("lif", DeviceKind::Cpu, &c.config, 0, 400)
                .is_err()
        );
    }

    #[test]
    fn fnv1a_known_values() {
        assert_eq!(record::fnv1a(record::FNV_OFFSET, b""), 0xcbf29ce484222325);
        assert_eq!(record::fnv1a(record::FNV_OFFSET, b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(
            record::fnv1a(record::FNV_OFFSET, b"foobar"),
            0x85944171f73967e8
        );
    }
}
