//! Arrays larger than one storage binding, split over several buffers (one binding each), and
//! the WGSL that declares the parts and indexes the whole array through them. Model L's
//! synapses (`lif::gpu_connectivity::SynSplit`) and model H's state x (`hydro::gpu`) use it.

use crate::device::buffers;
use crate::device::gpu::GpuContext;

/// How `total` elements of `elem_bytes` bytes are split: part p holds elements
/// [p * part_len, (p + 1) * part_len) (the last part fewer); one part (part_len = total) when
/// the array fits one binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    pub parts: u32,
    pub part_len: u64,
    pub total: u64,
    pub elem_bytes: u64,
}

impl Split {
    /// The split for bindings of at most `max_binding_bytes`, parts holding a multiple of
    /// `granule` elements.
    pub fn new(total: u64, elem_bytes: u64, granule: u64, max_binding_bytes: u64) -> Self {
        let granule = granule.max(1);
        let part_len = (max_binding_bytes / (elem_bytes * granule) * granule).max(granule);
        let parts = total.div_ceil(part_len).clamp(1, u32::MAX as u64) as u32;
        Split {
            parts,
            part_len: if parts == 1 { total } else { part_len },
            total,
            elem_bytes,
        }
    }

    /// Elements of part p.
    pub fn len(&self, p: u32) -> u64 {
        let start = p as u64 * self.part_len;
        self.total.saturating_sub(start).min(self.part_len)
    }

    /// Zeroed storage buffers for the parts.
    pub fn buffers(&self, ctx: &GpuContext, label: &str) -> Vec<wgpu::Buffer> {
        (0..self.parts)
            .map(|p| {
                buffers::storage_zeroed(ctx, &format!("{label} {p}"), self.len(p) * self.elem_bytes)
            })
            .collect()
    }

    /// The pieces (part, first element within it, count) of elements [start, start + count).
    pub fn pieces(&self, start: u64, count: u64) -> Vec<(u32, u64, u64)> {
        let mut out = Vec::new();
        let (mut at, end) = (start, start + count);
        while at < end {
            let p = (at / self.part_len.max(1)) as u32;
            let off = at - p as u64 * self.part_len;
            let n = (self.len(p) - off).min(end - at);
            if n == 0 {
                break;
            }
            out.push((p, off, n));
            at += n;
        }
        out
    }

    /// Elements [start, start + count) of the array in `bufs` (the parts), read back.
    pub fn read_back<T: bytemuck::Pod>(
        &self,
        ctx: &GpuContext,
        bufs: &[wgpu::Buffer],
        start: u64,
        count: u64,
    ) -> anyhow::Result<Vec<T>> {
        anyhow::ensure!(
            std::mem::size_of::<T>() as u64 == self.elem_bytes,
            "split read-back of {}-byte elements as {}-byte ones",
            self.elem_bytes,
            std::mem::size_of::<T>()
        );
        let mut out = Vec::with_capacity(count as usize);
        for (p, off, n) in self.pieces(start, count) {
            out.extend(buffers::read_back::<T>(
                ctx,
                &bufs[p as usize],
                off,
                n as usize,
            )?);
        }
        Ok(out)
    }

    /// Writes `bytes` (the whole array, `total * elem_bytes` bytes) into the parts.
    pub fn write_all(&self, ctx: &GpuContext, bufs: &[wgpu::Buffer], bytes: &[u8]) {
        let per = (self.part_len * self.elem_bytes) as usize;
        for (p, buf) in bufs.iter().enumerate() {
            let a = (p * per).min(bytes.len());
            let b = (a + per).min(bytes.len());
            ctx.queue.write_buffer(buf, 0, &bytes[a..b]);
        }
    }
}

/// WGSL for part `p >= 1` of a split array: `name_p` bound at @group(`group`) @binding(`first
/// + p - 1`).
pub fn part_decls(
    name: &str,
    access: &str,
    elem: &str,
    parts: u32,
    group: u32,
    first: u32,
) -> String {
    (1..parts)
        .map(|p| {
            format!(
                "@group({group}) @binding({}) var<storage, {access}> {name}_{p}: array<{elem}>;\n",
                first + p - 1
            )
        })
        .collect()
}

/// The WGSL switch over the parts of `name` at index `idx` (split into part `p` and rest `r`
/// by `per`): `body(array expression)` in each case, part 0 as the default.
pub fn part_switch(
    name: &str,
    parts: u32,
    per: &str,
    idx: &str,
    body: impl Fn(&str) -> String,
) -> String {
    if parts == 1 {
        return format!("    {};\n", body(&format!("{name}[{idx}]")));
    }
    let mut s =
        format!("    let p = {idx} / {per};\n    let r = {idx} - p * {per};\n    switch p {{\n");
    for p in 1..parts {
        s += &format!(
            "        case {p}u: {{ {}; }}\n",
            body(&format!("{name}_{p}[r]"))
        );
    }
    s += &format!(
        "        default: {{ {}; }}\n    }}\n",
        body(&format!("{name}[r]"))
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_a_range_across_parts() {
        // 10 elements of 4 bytes in bindings of 16 bytes, granule 2: parts of 4, 4, 2.
        let s = Split::new(10, 4, 2, 16);
        assert_eq!((s.parts, s.part_len), (3, 4));
        assert_eq!((s.len(0), s.len(1), s.len(2)), (4, 4, 2));
        assert_eq!(s.pieces(3, 6), vec![(0, 3, 1), (1, 0, 4), (2, 0, 1)]);
        assert_eq!(s.pieces(0, 10).iter().map(|p| p.2).sum::<u64>(), 10);
        // Fits one binding: one part of everything.
        let one = Split::new(10, 4, 2, 1 << 20);
        assert_eq!((one.parts, one.part_len), (1, 10));
        assert_eq!(one.pieces(2, 5), vec![(0, 2, 5)]);
    }
}
