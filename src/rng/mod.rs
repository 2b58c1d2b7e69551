//! Counter-based random numbers: Philox4x32-10 (Salmon et al. 2011, Random123) and the
//! samplers balnet draws from it. This file is the Rust twin of `shaders/common/rng.wgsl`: the same
//! functions, in the same order, with the same f32 arithmetic, so that the same
//! (counter, key) gives the same bits on every backend.
//!
//! Counter layout: `[neuron, step, purpose | block << 24, replica]`, key = the run's 64-bit
//! seed split into two u32 words. `block` numbers the successive 4-word Philox outputs that
//! one sampler call may consume (rejection loops), so a draw never depends on how the work
//! is split across threads or workgroups.

/// Philox multipliers and Weyl key increments (Random123).
pub const PHILOX_M0: u32 = 0xD251_1F53;
pub const PHILOX_M1: u32 = 0xCD9E_8D57;
pub const PHILOX_W0: u32 = 0x9E37_79B9;
pub const PHILOX_W1: u32 = 0xBB67_AE85;

/// Number of 4-word blocks one `Stream` may draw (block index lives in the top 8 bits of
/// the purpose word). A sampler that would need more returns its sentinel.
pub const STREAM_MAX_BLOCKS: u32 = 256;
/// Purposes (`Purpose`) must fit below the block field.
pub const PURPOSE_LIMIT: u32 = 1 << 24;

/// Returned by `poisson` and `binomial` for invalid parameters (NaN, negative, infinite,
/// p outside [0, 1], lambda above `POISSON_LAMBDA_MAX`) or an exhausted stream.
pub const SAMPLE_INVALID: u32 = u32::MAX;
/// Largest Poisson mean accepted (f32 still represents every integer near it exactly).
pub const POISSON_LAMBDA_MAX: f32 = 1.0e7;
/// Below this mean Poisson uses inversion, at or above it PTRS (Hörmann 1993).
pub const POISSON_INVERSION_MAX: f32 = 10.0;
/// Below this m·min(p, 1-p) Binomial uses inversion, at or above it BTRS (Hörmann 1993).
pub const BINOMIAL_INVERSION_MAX: f32 = 10.0;
/// Largest number of Binomial trials accepted.
pub const BINOMIAL_M_MAX: u32 = 1 << 24;

pub mod alias;
pub mod check;
pub mod purpose;
mod rand_impl;

/// The `rand` version balnet's generator implements (its `Rng`, `SeedableRng`, distributions).
pub use rand;
pub use rand_impl::PhiloxRng;

pub use purpose::Purpose;

use crate::math::log1p_f32;

/// The three Random123 known-answer vectors of docs/models.md: (counter, key, expected output).
pub const PHILOX_KNOWN_ANSWERS: [([u32; 4], [u32; 2], [u32; 4]); 3] = [
    (
        [0; 4],
        [0; 2],
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ),
    (
        [u32::MAX; 4],
        [u32::MAX; 2],
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ),
    (
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ),
];

/// 32 x 32 -> 64-bit product as (hi, lo). The WGSL twin builds it from 16-bit halves.
#[inline(always)]
pub fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = (a as u64) * (b as u64);
    ((p >> 32) as u32, p as u32)
}

#[inline(always)]
fn philox_round(c: [u32; 4], k: [u32; 2]) -> [u32; 4] {
    let (hi0, lo0) = mulhilo(PHILOX_M0, c[0]);
    let (hi1, lo1) = mulhilo(PHILOX_M1, c[2]);
    [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0]
}

/// Philox4x32 with 10 rounds.
#[inline(always)]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = ctr;
    let mut k = key;
    c = philox_round(c, k);
    for _ in 0..9 {
        k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
        c = philox_round(c, k);
    }
    c
}

/// Counters per call of `philox4x32_10_lanes`.
pub const LANES: usize = 16;

/// `philox4x32_10` of LANES counters at once, struct-of-arrays (`ctr[word][lane]`), lane by lane
/// the same function; written as plain loops over lanes so that the compiler vectorises it.
#[inline(always)]
pub fn philox4x32_10_lanes(ctr: [[u32; LANES]; 4], key: [u32; 2]) -> [[u32; LANES]; 4] {
    let mut c = ctr;
    let mut k = key;
    for r in 0..10 {
        if r > 0 {
            k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
        }
        let mut next = [[0u32; LANES]; 4];
        for i in 0..LANES {
            let p0 = (PHILOX_M0 as u64) * (c[0][i] as u64);
            let p1 = (PHILOX_M1 as u64) * (c[2][i] as u64);
            next[0][i] = ((p1 >> 32) as u32) ^ c[1][i] ^ k[0];
            next[1][i] = p1 as u32;
            next[2][i] = ((p0 >> 32) as u32) ^ c[3][i] ^ k[1];
            next[3][i] = p0 as u32;
        }
        c = next;
    }
    c
}

/// `philox4x32_10_lanes` with AVX-512 intrinsics: each 32 x 32 -> 64 multiply of 16 lanes is
/// two `vpmuludq` (even and odd lanes) and two blends, about half of what the compiler emits
/// for the portable loop. Bitwise the same function.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub unsafe fn philox4x32_10_lanes_avx512(
    ctr: [[u32; LANES]; 4],
    key: [u32; 2],
) -> [[u32; LANES]; 4] {
    use core::arch::x86_64::*;
    const ODD: __mmask16 = 0xAAAA;
    // (hi, lo) of m * c per lane.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn mulhilo16(m: __m512i, c: __m512i) -> (__m512i, __m512i) {
        let even = _mm512_mul_epu32(c, m);
        let odd = _mm512_mul_epu32(_mm512_srli_epi64::<32>(c), m);
        let lo = _mm512_mask_blend_epi32(ODD, even, _mm512_slli_epi64::<32>(odd));
        let hi = _mm512_mask_blend_epi32(ODD, _mm512_srli_epi64::<32>(even), odd);
        (hi, lo)
    }
    // SAFETY: [u32; 16] and __m512i have the same size; every bit pattern is valid for both.
    let to = |a: [u32; LANES]| unsafe { core::mem::transmute::<[u32; LANES], __m512i>(a) };
    let from = |v: __m512i| unsafe { core::mem::transmute::<__m512i, [u32; LANES]>(v) };
    let m0 = _mm512_set1_epi32(PHILOX_M0 as i32);
    let m1 = _mm512_set1_epi32(PHILOX_M1 as i32);
    let mut c = [to(ctr[0]), to(ctr[1]), to(ctr[2]), to(ctr[3])];
    let mut k = key;
    for r in 0..10 {
        if r > 0 {
            k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
        }
        let (hi0, lo0) = mulhilo16(m0, c[0]);
        let (hi1, lo1) = mulhilo16(m1, c[2]);
        let k0 = _mm512_set1_epi32(k[0] as i32);
        let k1 = _mm512_set1_epi32(k[1] as i32);
        c = [
            _mm512_xor_si512(_mm512_xor_si512(hi1, c[1]), k0),
            lo1,
            _mm512_xor_si512(_mm512_xor_si512(hi0, c[3]), k1),
            lo0,
        ];
    }
    [from(c[0]), from(c[1]), from(c[2]), from(c[3])]
}

/// `philox4x32_10_lanes` from vectors of W u32 lanes (W = 4: SSE2, 8: AVX2), one source for
/// both widths: each 32 x 32 -> 64 multiply is two `pmuludq` (even and odd lanes), whose
/// halves are recombined with shifts, ands and ors (no blend before AVX2, none needed).
/// Bitwise the same function as `philox4x32_10`.
#[cfg(target_arch = "x86_64")]
macro_rules! philox_x86 {
    ($(#[$m:meta])* $name:ident, $feat:literal, $v:ty, $w:expr, $mul:ident, $srli:ident,
     $slli:ident, $and:ident, $or:ident, $xor:ident, $set1_32:ident, $set1_64:ident) => {
        $(#[$m])*
        #[target_feature(enable = $feat)]
        #[inline]
        pub fn $name(ctr: [[u32; LANES]; 4], key: [u32; 2]) -> [[u32; LANES]; 4] {
            use core::arch::x86_64::*;
            const V: usize = LANES / $w;
            // SAFETY: [u32; LANES] and [vector; V] have the same size; every bit pattern is
            // valid for both.
            let c: [[$v; V]; 4] = unsafe { core::mem::transmute(ctr) };
            let mut c = c;
            let lo_mask = $set1_64(0xFFFF_FFFF);
            let hi_mask = $set1_64(0xFFFF_FFFF_0000_0000u64 as i64);
            let m0 = $set1_32(PHILOX_M0 as i32);
            let m1 = $set1_32(PHILOX_M1 as i32);
            let mut k = key;
            for r in 0..10 {
                if r > 0 {
                    k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
                }
                let k0 = $set1_32(k[0] as i32);
                let k1 = $set1_32(k[1] as i32);
                for j in 0..V {
                    let e0 = $mul(c[0][j], m0);
                    let o0 = $mul($srli::<32>(c[0][j]), m0);
                    let e1 = $mul(c[2][j], m1);
                    let o1 = $mul($srli::<32>(c[2][j]), m1);
                    let lo0 = $or($and(e0, lo_mask), $slli::<32>(o0));
                    let hi0 = $or($srli::<32>(e0), $and(o0, hi_mask));
                    let lo1 = $or($and(e1, lo_mask), $slli::<32>(o1));
                    let hi1 = $or($srli::<32>(e1), $and(o1, hi_mask));
                    let n0 = $xor($xor(hi1, c[1][j]), k0);
                    let n2 = $xor($xor(hi0, c[3][j]), k1);
                    c[0][j] = n0;
                    c[1][j] = lo1;
                    c[2][j] = n2;
                    c[3][j] = lo0;
                }
            }
            // SAFETY: as above.
            unsafe { core::mem::transmute(c) }
        }
    };
}

/// `philox4x32_10_lanes` from vectors of W u32 lanes, a second form (used at SSE2, where it
/// is the faster one; at AVX2 `philox_x86!` is). Each vector of a word is split into its even
/// lanes (as they stand) and its odd lanes (shifted down 32 bits): each 64-bit element then
/// carries one lane's word in its low half, which is all that `pmuludq` reads, and the 64-bit
/// product holds the next round's lo in its low half and hi in its high half. A round is then
/// two multiplies, two shifts and four xors per half-vector (the high halves carry junk that
/// nothing reads), and the halves are merged once at the end. Bitwise the same function as
/// `philox4x32_10`.
#[cfg(target_arch = "x86_64")]
macro_rules! philox_x86_split {
    ($(#[$m:meta])* $name:ident, $v:ty, $w:expr, $mul:ident, $srli:ident,
     $slli:ident, $and:ident, $or:ident, $xor:ident, $set1_32:ident, $set1_64:ident) => {
        $(#[$m])*
        pub fn $name(ctr: [[u32; LANES]; 4], key: [u32; 2]) -> [[u32; LANES]; 4] {
            // SAFETY: the intrinsics need the level's feature, which the cfg of the
            // invocation guarantees; the transmutes are between types of the same size
            // for which every bit pattern is valid.
            unsafe {
                use core::arch::x86_64::*;
                const V: usize = LANES / $w;
                let c: [[$v; V]; 4] = core::mem::transmute(ctr);
                let lo_mask = $set1_64(0xFFFF_FFFF);
                let m0 = $set1_32(PHILOX_M0 as i32);
                let m1 = $set1_32(PHILOX_M1 as i32);
                let mut ks = [[m0; 2]; 10];
                let mut k = key;
                for (r, kr) in ks.iter_mut().enumerate() {
                    if r > 0 {
                        k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
                    }
                    *kr = [$set1_32(k[0] as i32), $set1_32(k[1] as i32)];
                }
                let mut out = c;
                for j in 0..V {
                    // Half 0: the even lanes; half 1: the odd lanes, moved to the low halves.
                    let mut half = [[c[0][j], c[1][j], c[2][j], c[3][j]]; 2];
                    for w in 0..4 {
                        half[1][w] = $srli::<32>(c[w][j]);
                    }
                    for h in half.iter_mut() {
                        let [mut c0, mut c1, mut c2, mut c3] = *h;
                        for kr in &ks {
                            let p0 = $mul(c0, m0);
                            let p1 = $mul(c2, m1);
                            c0 = $xor($xor($srli::<32>(p1), c1), kr[0]);
                            c1 = p1;
                            c2 = $xor($xor($srli::<32>(p0), c3), kr[1]);
                            c3 = p0;
                        }
                        *h = [c0, c1, c2, c3];
                    }
                    for w in 0..4 {
                        out[w][j] = $or($and(half[0][w], lo_mask), $slli::<32>(half[1][w]));
                    }
                }
                core::mem::transmute(out)
            }
        }
    };
}

// Without #[target_feature]: SSE2 is enabled for every x86-64 build, and a plain function can
// be inlined always into the baseline kernels (as a target-feature function it stayed a call,
// with its 256-byte arguments and result copied through memcpy).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
philox_x86_split!(
    /// `philox4x32_10_lanes` with SSE2 (every x86-64 CPU has it), 4 lanes per vector.
    ///
    /// Safe: the build enables SSE2 (every x86-64 CPU has it).
    #[inline(always)]
    philox4x32_10_lanes_sse2, __m128i, 4, _mm_mul_epu32, _mm_srli_epi64,
    _mm_slli_epi64, _mm_and_si128, _mm_or_si128, _mm_xor_si128, _mm_set1_epi32,
    _mm_set1_epi64x
);

#[cfg(target_arch = "x86_64")]
philox_x86!(
    /// `philox4x32_10_lanes` with AVX2, 8 lanes per vector.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    philox4x32_10_lanes_avx2, "avx2", __m256i, 8, _mm256_mul_epu32, _mm256_srli_epi64,
    _mm256_slli_epi64, _mm256_and_si256, _mm256_or_si256, _mm256_xor_si256, _mm256_set1_epi32,
    _mm256_set1_epi64x
);

/// A way to compute `philox4x32_10_lanes`; the lane kernels are generic over it.
pub trait PhiloxLanes: Copy {
    fn philox(self, ctr: [[u32; LANES]; 4], key: [u32; 2]) -> [[u32; LANES]; 4];

    /// `t.sample(w[l])` for every lane l (levels with a gather override it).
    #[inline(always)]
    fn alias_sample(self, t: &alias::AliasTable, w: &[u32; LANES]) -> [u32; LANES] {
        let mut out = [0u32; LANES];
        for (o, &wl) in out.iter_mut().zip(w) {
            *o = t.sample(wl);
        }
        out
    }
}

/// `alias::alias_sample` of LANES words with AVX2 gathers (8 lanes per `vpgatherdd`); bitwise
/// the same draws.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub fn alias_sample_lanes_avx2(t: &alias::AliasTable, w: &[u32; LANES]) -> [u32; LANES] {
    use core::arch::x86_64::*;
    let bits = t.bits;
    let shift = 32 - bits;
    let sh = _mm_cvtsi32_si128(shift as i32);
    let bv = _mm_cvtsi32_si128(bits as i32);
    let low_mask = _mm256_set1_epi32(((1u32 << shift) - 1) as i32);
    let alias_mask = _mm256_set1_epi32(((1u32 << bits) - 1) as i32);
    let cap_mask = _mm256_set1_epi32(alias::ALIAS_MASK as i32);
    let lo = _mm256_set1_epi32(t.lo as i32);
    // SAFETY: [u32; LANES] and [__m256i; LANES / 8] have the same size; every bit pattern is
    // valid for both.
    let wv: [__m256i; LANES / 8] = unsafe { core::mem::transmute(*w) };
    let mut out = [_mm256_setzero_si256(); LANES / 8];
    for (o, &wj) in out.iter_mut().zip(&wv) {
        let idx = _mm256_srl_epi32(wj, sh);
        // SAFETY: the indices are masked to the table's ALIAS_CAP entries.
        let e = unsafe {
            _mm256_i32gather_epi32::<4>(
                t.entries.as_ptr() as *const i32,
                _mm256_and_si256(idx, cap_mask),
            )
        };
        // Both sides are below 2^31 (bits >= 1), so the signed comparison is the unsigned one.
        let stay = _mm256_cmpgt_epi32(_mm256_srl_epi32(e, bv), _mm256_and_si256(wj, low_mask));
        let pick = _mm256_blendv_epi8(_mm256_and_si256(e, alias_mask), idx, stay);
        *o = _mm256_add_epi32(lo, pick);
    }
    // SAFETY: as above.
    unsafe { core::mem::transmute(out) }
}

/// `alias::alias_sample` of LANES words with SSE2 (4 lanes per vector): the slot and
/// threshold arithmetic on vectors, the table loads one by one (SSE2 has no gather); bitwise
/// the same draws.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub fn alias_sample_lanes_sse2(t: &alias::AliasTable, w: &[u32; LANES]) -> [u32; LANES] {
    use core::arch::x86_64::*;
    const V: usize = LANES / 4;
    let bits = t.bits;
    let shift = 32 - bits;
    let entries: &[u32; alias::ALIAS_CAP] = &t.entries;
    // SAFETY: SSE2 is enabled for every x86-64 build; [u32; LANES] and [__m128i; V] have the
    // same size and every bit pattern is valid for both.
    unsafe {
        let sh = _mm_cvtsi32_si128(shift as i32);
        let bv = _mm_cvtsi32_si128(bits as i32);
        let low_mask = _mm_set1_epi32(((1u32 << shift) - 1) as i32);
        let alias_mask = _mm_set1_epi32(((1u32 << bits) - 1) as i32);
        let lo = _mm_set1_epi32(t.lo as i32);
        let wv: [__m128i; V] = core::mem::transmute(*w);
        let mut idx = [_mm_setzero_si128(); V];
        for (i, &wj) in idx.iter_mut().zip(&wv) {
            *i = _mm_srl_epi32(wj, sh);
        }
        let idx_a: [u32; LANES] = core::mem::transmute(idx);
        let mut e_a = [0u32; LANES];
        for (e, &i) in e_a.iter_mut().zip(&idx_a) {
            *e = entries[i as usize & alias::ALIAS_MASK];
        }
        let ev: [__m128i; V] = core::mem::transmute(e_a);
        let mut out = [_mm_setzero_si128(); V];
        for j in 0..V {
            // Both sides are below 2^31 (bits >= 1): the signed comparison is the unsigned one.
            let stay = _mm_cmpgt_epi32(_mm_srl_epi32(ev[j], bv), _mm_and_si128(wv[j], low_mask));
            let alias_slot = _mm_and_si128(ev[j], alias_mask);
            let pick = _mm_or_si128(
                _mm_and_si128(stay, idx[j]),
                _mm_andnot_si128(stay, alias_slot),
            );
            out[j] = _mm_add_epi32(lo, pick);
        }
        core::mem::transmute(out)
    }
}

/// The portable loop (vectorised by the compiler for whatever the caller is compiled for).
#[derive(Clone, Copy, Debug)]
pub struct PortableLanes;

impl PhiloxLanes for PortableLanes {
    #[inline(always)]
    fn philox(self, ctr: [[u32; LANES]; 4], key: [u32; 2]) -> [[u32; LANES]; 4] {
        philox4x32_10_lanes(ctr, key)
    }
}

/// Proof that the CPU has AVX-512F: only `detect` makes one.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub struct Avx512Lanes(());

#[cfg(target_arch = "x86_64")]
impl Avx512Lanes {
    pub fn detect() -> Option<Self> {
        // AVX2 too (every AVX-512 CPU has it): the lane alias draws use its gathers.
        (std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx2"))
            .then_some(Avx512Lanes(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl PhiloxLanes for Avx512Lanes {
    #[inline(always)]
    fn philox(self, ctr: [[u32; LANES]; 4], key: [u32; 2]) -> [[u32; LANES]; 4] {
        // SAFETY: an Avx512Lanes exists only where AVX-512F was detected.
        unsafe { philox4x32_10_lanes_avx512(ctr, key) }
    }

    #[inline(always)]
    fn alias_sample(self, t: &alias::AliasTable, w: &[u32; LANES]) -> [u32; LANES] {
        // SAFETY: an Avx512Lanes exists only where AVX2 was detected too.
        unsafe { alias_sample_lanes_avx2(t, w) }
    }
}

/// Proof that the CPU has AVX2: only `detect` makes one.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub struct Avx2Lanes(());

#[cfg(target_arch = "x86_64")]
impl Avx2Lanes {
    pub fn detect() -> Option<Self> {
        std::is_x86_feature_detected!("avx2").then_some(Avx2Lanes(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl PhiloxLanes for Avx2Lanes {
    #[inline(always)]
    fn philox(self, ctr: [[u32; LANES]; 4], key: [u32; 2]) -> [[u32; LANES]; 4] {
        // SAFETY: an Avx2Lanes exists only where AVX2 was detected.
        unsafe { philox4x32_10_lanes_avx2(ctr, key) }
    }

    #[inline(always)]
    fn alias_sample(self, t: &alias::AliasTable, w: &[u32; LANES]) -> [u32; LANES] {
        // SAFETY: an Avx2Lanes exists only where AVX2 was detected.
        unsafe { alias_sample_lanes_avx2(t, w) }
    }
}

/// The baseline level's Philox: SSE2 on x86-64 (part of the architecture), else the portable
/// loop.
#[derive(Clone, Copy, Debug)]
pub struct BaselineLanes;

impl PhiloxLanes for BaselineLanes {
    #[inline(always)]
    fn philox(self, ctr: [[u32; LANES]; 4], key: [u32; 2]) -> [[u32; LANES]; 4] {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            philox4x32_10_lanes_sse2(ctr, key)
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            philox4x32_10_lanes(ctr, key)
        }
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline(always)]
    fn alias_sample(self, t: &alias::AliasTable, w: &[u32; LANES]) -> [u32; LANES] {
        alias_sample_lanes_sse2(t, w)
    }
}

/// The Philox key of a run's 64-bit seed: (low word, high word).
pub fn seed_key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The counter of one draw site.
#[inline(always)]
pub fn counter(neuron: u32, step: u32, purpose: u32, replica: u32) -> [u32; 4] {
    [neuron, step, purpose, replica]
}

/// Uniform in [0, 1) from the top 24 bits: exactly representable, never 1.
#[inline(always)]
pub fn u32_to_uniform(u: u32) -> f32 {
    (u >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Uniform in (0, 1]: never 0, for logarithms.
#[inline(always)]
pub fn u32_to_uniform_open0(u: u32) -> f32 {
    ((u >> 8) + 1) as f32 * (1.0 / 16_777_216.0)
}

/// A sequence of u32 words at one counter site: blocks 0, 1, ... of Philox output.
#[derive(Clone, Copy, Debug)]
pub struct Stream {
    pub ctr: [u32; 4],
    pub key: [u32; 2],
    pub block: u32,
    pub buf: [u32; 4],
    pub used: u32,
}

impl Stream {
    pub fn new(ctr: [u32; 4], key: [u32; 2]) -> Self {
        Stream {
            ctr,
            key,
            block: 0,
            buf: [0; 4],
            used: 4,
        }
    }

    /// The stream of `ctr` with its first block already computed (`first` =
    /// philox4x32_10(ctr, key), e.g. from `philox4x32_10_lanes`): the same words as `new`.
    #[inline(always)]
    pub fn with_first_block(ctr: [u32; 4], key: [u32; 2], first: [u32; 4]) -> Self {
        Stream {
            ctr,
            key,
            block: 1,
            buf: first,
            used: 0,
        }
    }

    /// True once the stream has handed out all `STREAM_MAX_BLOCKS` blocks.
    pub fn exhausted(&self) -> bool {
        self.used >= 4 && self.block >= STREAM_MAX_BLOCKS
    }

    /// The next word; 0 once exhausted (callers check `exhausted`).
    pub fn next_u32(&mut self) -> u32 {
        if self.used >= 4 {
            if self.block >= STREAM_MAX_BLOCKS {
                return 0;
            }
            let c = [
                self.ctr[0],
                self.ctr[1],
                self.ctr[2] | (self.block << 24),
                self.ctr[3],
            ];
            self.buf = philox4x32_10(c, self.key);
            self.block += 1;
            self.used = 0;
        }
        let w = self.buf[self.used as usize];
        self.used += 1;
        w
    }
}

pub fn uniform01(s: &mut Stream) -> f32 {
    u32_to_uniform(s.next_u32())
}

/// Standard normal by Box–Muller (one normal per two words).
pub fn normal(s: &mut Stream) -> f32 {
    let u1 = u32_to_uniform_open0(s.next_u32());
    let u2 = u32_to_uniform(s.next_u32());
    let r = (-2.0 * u1.ln()).sqrt();
    r * (std::f32::consts::TAU * u2).cos()
}

/// 1 with probability p (p clamped to [0, 1]; NaN gives 0).
pub fn bernoulli(s: &mut Stream, p: f32) -> u32 {
    let u = uniform01(s);
    if u < p { 1 } else { 0 }
}

/// stirlerr(k) = ln(k!) - (k + 1/2) ln k + k - ln(2 pi)/2, exact table below 16, series above.
#[allow(clippy::excessive_precision)] // the same literals as shaders/common/rng.wgsl
pub fn stirlerr(k: f32) -> f32 {
    const TABLE: [f32; 16] = [
        0.0, // k = 0 is never used (callers special-case it)
        8.106146680e-02,
        4.134069596e-02,
        2.767792568e-02,
        2.079067210e-02,
        1.664469119e-02,
        1.387612882e-02,
        1.189670995e-02,
        1.041126526e-02,
        9.255462183e-03,
        8.330563433e-03,
        7.573675488e-03,
        6.942840107e-03,
        6.408994188e-03,
        5.951370113e-03,
        5.554733552e-03,
    ];
    if k < 16.0 {
        return TABLE[k as usize];
    }
    let r = 1.0 / k;
    let r2 = r * r;
    r * (1.0 / 12.0 - r2 * (1.0 / 360.0 - r2 * (1.0 / 1260.0)))
}

/// bd0(k, np) = k ln(k / np) + np - k, without cancellation (Loader 2000).
pub fn bd0(k: f32, np: f32) -> f32 {
    let d = k - np;
    if d.abs() < 0.1 * (k + np) {
        let v = d / (k + np);
        let v2 = v * v;
        let mut s = d * v;
        let mut ej = 2.0 * k * v;
        let mut j = 1.0f32;
        for _ in 0..12 {
            ej *= v2;
            let s1 = s + ej / (2.0 * j + 1.0);
            if s1 == s {
                break;
            }
            s = s1;
            j += 1.0;
        }
        return s;
    }
    k * (k / np).ln() + np - k
}

/// ln P(K = k) for K ~ Poisson(lambda), lambda > 0, without catastrophic cancellation.
pub fn poisson_log_pmf(k: f32, lambda: f32) -> f32 {
    if k == 0.0 {
        return -lambda;
    }
    -stirlerr(k) - bd0(k, lambda) - 0.5 * (std::f32::consts::TAU * k).ln()
}

fn poisson_inversion(s: &mut Stream, lambda: f32) -> u32 {
    poisson_inversion_p0(s, lambda, (-lambda).exp())
}

/// Poisson inversion with P(0) = `p0` = `(-lambda).exp()` supplied (callers drawing many
/// variates of one lambda compute it once); the same draws as `poisson` for lambda < 10.
#[inline]
pub fn poisson_inversion_p0(s: &mut Stream, lambda: f32, p0: f32) -> u32 {
    poisson_inversion_u(uniform01(s), lambda, p0)
}

/// `poisson_inversion_p0` of the uniform u: the number of CDF values `inversion_cdf` gives
/// at or below u (the CDF rises, so they come first).
#[inline]
pub fn poisson_inversion_u(u: f32, lambda: f32, p0: f32) -> u32 {
    inversion_cdf(lambda, p0).take_while(|&f| u >= f).count() as u32
}

/// The CDF values the inversion compares u with, in the f32 operations that define its draws:
/// F_0 = p0, F_k = F_{k-1} + p_k with p_k = p_{k-1} lambda / k, computed one at a time as they
/// are asked for. It ends after F_199 (the inversion's 200-term cap) or before the first F_k
/// equal to F_{k-1}: the remaining mass is then below f32 resolution (< 2^-24), and a u in
/// that rounding gap of the CDF gets the tail value k instead of running on.
#[inline]
fn inversion_cdf(lambda: f32, p0: f32) -> impl Iterator<Item = f32> {
    let mut p = p0;
    let mut f = p0;
    let mut k = 0u32;
    std::iter::from_fn(move || {
        if k > 0 {
            if k >= 200 {
                return None;
            }
            p = p * lambda / k as f32;
            let f_next = f + p;
            if f_next == f {
                return None;
            }
            f = f_next;
        }
        k += 1;
        Some(f)
    })
}

/// The CDF values `poisson_inversion_p0` compares u with (`inversion_cdf`), written to `out`,
/// so that `poisson_inversion_p0` gives #{j : u >= `out[j]`} for the u it draws. Returns the
/// table's length, or None when it does not fit in `out`.
pub fn poisson_inversion_table(lambda: f32, p0: f32, out: &mut [f32]) -> Option<usize> {
    let mut len = 0;
    for f in inversion_cdf(lambda, p0) {
        *out.get_mut(len)? = f;
        len += 1;
    }
    Some(len)
}

/// PTRS: transformed rejection with squeeze (Hörmann 1993), for lambda >= 10.
fn poisson_ptrs(s: &mut Stream, lambda: f32) -> u32 {
    let slam = lambda.sqrt();
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.02483 * b;
    let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    let v_r = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        if s.exhausted() {
            return SAMPLE_INVALID;
        }
        let u = uniform01(s) - 0.5;
        let v = u32_to_uniform_open0(s.next_u32());
        let us = 0.5 - u.abs();
        let kf = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
        if us >= 0.07 && v <= v_r {
            return kf as u32;
        }
        if kf < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        let lhs = (v * inv_alpha / (a / (us * us) + b)).ln();
        if lhs <= poisson_log_pmf(kf, lambda) {
            return kf as u32;
        }
    }
}

/// Poisson(lambda), exact in distribution (up to the 2^-24 resolution of f32 uniforms) for
/// 0 <= lambda <= 1e7. Invalid lambda gives `SAMPLE_INVALID`.
pub fn poisson(s: &mut Stream, lambda: f32) -> u32 {
    if !(0.0..=POISSON_LAMBDA_MAX).contains(&lambda) {
        return SAMPLE_INVALID;
    }
    if lambda == 0.0 {
        return 0;
    }
    if lambda < POISSON_INVERSION_MAX {
        return poisson_inversion(s, lambda);
    }
    poisson_ptrs(s, lambda)
}

fn binomial_inversion(s: &mut Stream, m: u32, p: f32) -> u32 {
    let u = uniform01(s);
    let q = 1.0 - p;
    let ratio = p / q;
    let mut pk = (m as f32 * log1p_f32(-p)).exp();
    let mut f = pk;
    let mut k = 0u32;
    while u >= f && k < m && k < 400 {
        pk = pk * ratio * ((m - k) as f32 / (k + 1) as f32);
        k += 1;
        let f_next = f + pk;
        if f_next == f {
            break; // remaining mass below f32 resolution, as in poisson_inversion
        }
        f = f_next;
    }
    k
}

/// ln P(K = k) + ln sqrt(2 pi) for K ~ Binomial(m, p) (Loader's saddle-point form).
fn binomial_log_pmf_scaled(k: f32, m: f32, p: f32, q: f32) -> f32 {
    if k == 0.0 {
        return m * log1p_f32(-p) + 0.5 * std::f32::consts::TAU.ln();
    }
    if k == m {
        return m * p.ln() + 0.5 * std::f32::consts::TAU.ln();
    }
    let mk = m - k;
    stirlerr(m) - stirlerr(k) - stirlerr(mk) - bd0(k, m * p) - bd0(mk, m * q)
        + 0.5 * (m / (k * mk)).ln()
}

/// BTRS: transformed rejection with squeeze (Hörmann 1993), for m p q-ish >= 10, p <= 1/2.
fn binomial_btrs(s: &mut Stream, m: u32, p: f32) -> u32 {
    let mf = m as f32;
    let q = 1.0 - p;
    let spq = (mf * p * q).sqrt();
    let b = 1.15 + 2.53 * spq;
    let a = -0.0873 + 0.0248 * b + 0.01 * p;
    let c = mf * p + 0.5;
    let v_r = 0.92 - 4.2 / b;
    let alpha = (2.83 + 5.1 / b) * spq;
    let mode = ((mf + 1.0) * p).floor();
    let log_f_mode = binomial_log_pmf_scaled(mode, mf, p, q);
    loop {
        if s.exhausted() {
            return SAMPLE_INVALID;
        }
        let u = uniform01(s) - 0.5;
        let v = u32_to_uniform_open0(s.next_u32());
        let us = 0.5 - u.abs();
        let kf = ((2.0 * a / us + b) * u + c).floor();
        if kf < 0.0 || kf > mf {
            continue;
        }
        if us >= 0.07 && v <= v_r {
            return kf as u32;
        }
        let lhs = (v * alpha / (a / (us * us) + b)).ln();
        if lhs <= binomial_log_pmf_scaled(kf, mf, p, q) - log_f_mode {
            return kf as u32;
        }
    }
}

/// Binomial(m, p), exact in distribution (up to f32 uniform resolution) for m <= 2^24.
/// Invalid parameters give `SAMPLE_INVALID`.
pub fn binomial(s: &mut Stream, m: u32, p: f32) -> u32 {
    if !(0.0..=1.0).contains(&p) || m > BINOMIAL_M_MAX {
        return SAMPLE_INVALID;
    }
    if m == 0 || p == 0.0 {
        return 0;
    }
    if p == 1.0 {
        return m;
    }
    let flip = p > 0.5;
    let pp = if flip { 1.0 - p } else { p };
    let k = if (m as f32) * pp < BINOMIAL_INVERSION_MAX {
        binomial_inversion(s, m, pp)
    } else {
        binomial_btrs(s, m, pp)
    };
    if k == SAMPLE_INVALID {
        return k;
    }
    if flip { m - k } else { k }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_lanes_equal_scalar_philox() {
        crate::device::isa::Isa::available_as_required().expect("BALNET_REQUIRE_ISA");
        let edges = [0u32, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff];
        let mut ctr = [[0u32; LANES]; 4];
        for rep in 0..64u32 {
            for w in 0..4 {
                for l in 0..LANES {
                    let h = philox4x32_10([rep, w as u32, l as u32, 77], [1, 2])[0];
                    ctr[w][l] = if h.is_multiple_of(3) {
                        edges[(h as usize / 3) % 6]
                    } else {
                        h
                    };
                }
            }
            let key = [rep.wrapping_mul(0x9E37_79B9), !rep];
            let mut want = [[0u32; LANES]; 4];
            for l in 0..LANES {
                let o = philox4x32_10([ctr[0][l], ctr[1][l], ctr[2][l], ctr[3][l]], key);
                for w in 0..4 {
                    want[w][l] = o[w];
                }
            }
            assert_eq!(PortableLanes.philox(ctr, key), want);
            assert_eq!(BaselineLanes.philox(ctr, key), want);
            #[cfg(target_arch = "x86_64")]
            if let Some(p) = Avx512Lanes::detect() {
                assert_eq!(p.philox(ctr, key), want);
            }
            #[cfg(target_arch = "x86_64")]
            if let Some(p) = Avx2Lanes::detect() {
                assert_eq!(p.philox(ctr, key), want);
            }
        }
    }

    /// The lane alias draws of every level equal the scalar draw, at small and large tables
    /// and at words on the slot and threshold edges.
    #[test]
    fn alias_lanes_equal_scalar_draws() {
        crate::device::isa::Isa::available_as_required().expect("BALNET_REQUIRE_ISA");
        for &lambda in &[0.0, 0.02, 3.0, 450.0, 45000.0, 4.9e5] {
            let t = alias::AliasTable::build(lambda);
            for rep in 0..256u32 {
                let w: [u32; LANES] = std::array::from_fn(|l| {
                    let h = philox4x32_10([rep, l as u32, 5, 9], [3, 4])[1];
                    match h % 5 {
                        0 => h & !((1u32 << (32 - t.bits)) - 1),
                        1 => h | ((1u32 << (32 - t.bits)) - 1),
                        _ => h,
                    }
                });
                let want: [u32; LANES] = std::array::from_fn(|l| t.sample(w[l]));
                assert_eq!(PortableLanes.alias_sample(&t, &w), want, "lambda {lambda}");
                assert_eq!(BaselineLanes.alias_sample(&t, &w), want, "lambda {lambda}");
                #[cfg(target_arch = "x86_64")]
                if let Some(p) = Avx512Lanes::detect() {
                    assert_eq!(p.alias_sample(&t, &w), want, "lambda {lambda}");
                }
                #[cfg(target_arch = "x86_64")]
                if let Some(p) = Avx2Lanes::detect() {
                    assert_eq!(p.alias_sample(&t, &w), want, "lambda {lambda}");
                }
            }
        }
    }

    #[test]
    fn philox_known_answers() {
        for (ctr, key, want) in PHILOX_KNOWN_ANSWERS {
            assert_eq!(philox4x32_10(ctr, key), want);
        }
    }

    #[test]
    fn uniform_bounds() {
        assert_eq!(u32_to_uniform(0), 0.0);
        assert!(u32_to_uniform(u32::MAX) < 1.0);
        assert!(u32_to_uniform_open0(0) > 0.0);
        assert_eq!(u32_to_uniform_open0(u32::MAX), 1.0);
    }

    #[test]
    fn stirlerr_table_matches_lgamma() {
        for k in 1..40 {
            let kf = k as f64;
            let exact = statrs::function::gamma::ln_gamma(kf + 1.0) - (kf + 0.5) * kf.ln() + kf
                - 0.5 * (2.0 * std::f64::consts::PI).ln();
            let got = stirlerr(k as f32) as f64;
            assert!(
                (got - exact).abs() < 2e-7 * exact.abs().max(1e-3),
                "k={k} {got} {exact}"
            );
        }
    }

    #[test]
    fn poisson_inversion_table_counts_what_the_loop_gives() {
        // The inversion as a plain loop (how it was first written): iteration k + 1 runs
        // while u >= F_k and k < 200, and stops early where F no longer grows.
        fn loop_count(u: f32, lambda: f32, p0: f32) -> u32 {
            let mut p = p0;
            let mut f = p;
            let mut k = 0u32;
            while u >= f && k < 200 {
                k += 1;
                p = p * lambda / k as f32;
                let f_next = f + p;
                if f_next == f {
                    break;
                }
                f = f_next;
            }
            k
        }
        // Every u the 24-bit uniforms take, for small, middle and near-10 lambdas, and a
        // lambda whose table does not fit in 8 entries.
        for lambda in [0.01f32, 1.25, 4.0, 9.99] {
            let p0 = (-lambda).exp();
            let mut t = [0f32; 64];
            let len = poisson_inversion_table(lambda, p0, &mut t).expect("fits in 64");
            assert!(len >= 2 && t[..len].windows(2).all(|w| w[0] < w[1]));
            let mut max_k = 0;
            for w in 0..1u32 << 24 {
                let u = w as f32 * (1.0 / 16_777_216.0);
                let want = loop_count(u, lambda, p0);
                assert_eq!(
                    poisson_inversion_u(u, lambda, p0),
                    want,
                    "lambda {lambda} u {u}"
                );
                let got = t[..len].iter().filter(|&&f| u >= f).count() as u32;
                assert_eq!(want, got, "lambda {lambda} u {u}");
                max_k = max_k.max(want);
            }
            // u covers the table: the largest counts reach its end or the entry before
            assert!(
                max_k as usize + 1 >= len && max_k as usize <= len,
                "lambda {lambda}"
            );
        }
        assert_eq!(
            poisson_inversion_table(9.99, (-9.99f32).exp(), &mut [0f32; 8]),
            None
        );
    }

    #[test]
    fn poisson_log_pmf_matches_f64() {
        for &lam in &[10.0f64, 123.4, 1e4, 1e6, 1e7] {
            for dk in [-5.0, -1.0, 0.0, 1.0, 3.0, 5.0] {
                let k = (lam + dk * lam.sqrt()).round().max(1.0);
                let exact = k * lam.ln() - lam - statrs::function::gamma::ln_gamma(k + 1.0);
                let got = poisson_log_pmf(k as f32, lam as f32) as f64;
                assert!(
                    (got - exact).abs() < 1e-4 * (1.0 + exact.abs()),
                    "{lam} {k}: {got} {exact}"
                );
            }
        }
    }

    #[test]
    fn invalid_parameters_give_sentinel() {
        let mut s = Stream::new([0; 4], [0; 2]);
        for lam in [f32::NAN, -1.0, f32::INFINITY, 2e7] {
            assert_eq!(poisson(&mut s, lam), SAMPLE_INVALID);
        }
        for p in [f32::NAN, -0.1, 1.5] {
            assert_eq!(binomial(&mut s, 10, p), SAMPLE_INVALID);
        }
        assert_eq!(binomial(&mut s, BINOMIAL_M_MAX + 1, 0.5), SAMPLE_INVALID);
        assert_eq!(poisson(&mut s, 0.0), 0);
        assert_eq!(binomial(&mut s, 7, 1.0), 7);
    }
}
