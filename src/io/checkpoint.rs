//! Checkpoints of a model H run: the backend's state blobs, the step counter and the records
//! taken so far, in one file written atomically (temporary name, then rename):
//! `BALNETCK`, a little-endian u64 header length, the JSON header, then the blobs in order.

use crate::device::DeviceKind;
use crate::hydro::record::RecordSample;
use crate::io as record;
use serde::{Deserialize, Serialize};
use std::path::Path;

const MAGIC: &[u8; 8] = b"BALNETCK";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Header {
    backend_kind: DeviceKind,
    step: u64,
    samples: Vec<RecordSample>,
    blobs: Vec<(String, u64)>,
}

#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// "cpu" or "gpu": a checkpoint resumes on the same kind of backend.
    pub backend_kind: DeviceKind,
    pub step: u64,
    pub samples: Vec<RecordSample>,
    pub blobs: Vec<(String, Vec<u8>)>,
}

pub fn write(path: &Path, c: &Checkpoint) -> anyhow::Result<()> {
    let header = Header {
        backend_kind: c.backend_kind,
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
    let mut bytes = Vec::with_capacity(16 + json.len() + total);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&json);
    for (_, v) in &c.blobs {
        bytes.extend_from_slice(v);
    }
    record::write_atomic(path, &bytes)
}

pub fn read(path: &Path) -> anyhow::Result<Checkpoint> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    let bad = || anyhow::anyhow!("{}: not a balnet checkpoint", path.display());
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad());
    }
    let hlen = u64::from_le_bytes(bytes[8..16].try_into()?) as usize;
    let json = bytes.get(16..16 + hlen).ok_or_else(bad)?;
    let h: Header = serde_json::from_slice(json)?;
    let mut at = 16 + hlen;
    let mut blobs = Vec::new();
    for (k, len) in h.blobs {
        let v = bytes.get(at..at + len as usize).ok_or_else(bad)?;
        blobs.push((k, v.to_vec()));
        at += len as usize;
    }
    Ok(Checkpoint {
        backend_kind: h.backend_kind,
        step: h.step,
        samples: h.samples,
        blobs,
    })
}

/// The blob named `name` of a snapshot.
pub fn blob<'a>(blobs: &'a [(String, Vec<u8>)], name: &str) -> anyhow::Result<&'a [u8]> {
    blobs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| &v[..])
        .ok_or_else(|| anyhow::anyhow!("checkpoint has no `{name}`"))
}
