//! Every GPU kernel module the crate builds and every host struct with a WGSL twin, over all
//! models (the runtime and the portability and layout tests use these lists, so they cannot
//! drift). It sits above the models: `device` defines the types, each model its kernels.

use crate::device::kernels::KernelSource;
use crate::device::layout::HostLayout;

/// Every module the library can compile, in every specialisation its code can produce:
/// the sampler check kernel; model H with every prelude `HydroKernel::all` lists; model L's
/// step kernel with every combination of its override constants (`LifKernel::all`); the
/// connectivity kernels with every SORT_WG.
pub fn kernel_sources() -> Vec<KernelSource> {
    let mut v = vec![crate::rng::check::kernel_source()];
    v.extend(
        crate::hydro::gpu::HydroKernel::all()
            .iter()
            .map(|k| k.source()),
    );
    v.push(crate::lif::gpu::LifKernel::source(
        &crate::lif::gpu::LifKernel::all(),
    ));
    // A synapse array split over the most bindings (every split has the same shape).
    let fixed: Vec<_> = crate::lif::gpu::LifKernel::all()
        .into_iter()
        .filter(|k| k.connectivity == crate::lif::gpu::CONN_FIXED_INDEGREE)
        .collect();
    v.push(crate::lif::gpu::LifKernel::source_split(
        &fixed,
        crate::lif::gpu_connectivity::SYN_PARTS_MAX,
        1 << 20,
    ));
    for parts in [1, crate::lif::gpu_connectivity::SYN_PARTS_MAX] {
        v.push(crate::lif::gpu_connectivity::kernel_source(
            crate::lif::gpu_connectivity::SORT_WG_VALUES,
            parts,
            1 << 20,
        ));
    }
    v
}

/// Every host struct with a WGSL twin.
pub fn host_layouts() -> Vec<HostLayout> {
    let mut v = Vec::new();
    v.extend(crate::hydro::gpu::host_layouts());
    v.extend(crate::lif::gpu::host_layouts());
    v.extend(crate::lif::gpu_connectivity::host_layouts());
    v.extend(crate::rng::check::host_layouts());
    v
}
