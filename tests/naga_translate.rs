//! Portability of the kernels: every module the library can compile, in every specialisation
//! its code can produce (kernels::kernel_sources, the list the runtime builds its
//! pipelines from), parsed and validated by naga as wgpu does, its override constants
//! processed for each pipeline, then written for every wgpu backend: SPIR-V 1.0 (Vulkan),
//! MSL 2.0 (Metal), HLSL shader model 6.0 (DX12) and GLSL ES 3.10 compute (GLES), one entry
//! point at a time. A kernel that uses something a backend cannot express (f64, 64-bit
//! atomics, ...) fails here, on any machine, before it fails on that platform's device. No GPU
//! needed. (The written code is not compiled further: naga validates its own IR, not the
//! backends' output.)

use balnet::device::kernels::{KernelSource, PipelineSpec};
use balnet::kernels::kernel_sources;
use naga::back::{glsl, hlsl, msl, spv};
use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy};
use naga::valid::{Capabilities, ValidationFlags, Validator};
use rayon::prelude::*;

/// Bounds checks as wgpu asks for them where the device's robustness is not trusted.
fn policies() -> BoundsCheckPolicies {
    BoundsCheckPolicies {
        index: BoundsCheckPolicy::Restrict,
        buffer: BoundsCheckPolicy::Restrict,
        image_load: BoundsCheckPolicy::Restrict,
        binding_array: BoundsCheckPolicy::Restrict,
    }
}

/// `f()`, with a panic of the writer (naga has `unreachable!`s for some types a backend
/// lacks, e.g. f64 in MSL) turned into an error.
fn guarded(what: &str, f: impl FnOnce() -> Result<usize, String>) -> Result<usize, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("?");
        Err(format!("{what}: the writer panicked: {msg}"))
    })
}

/// What the four backends wrote (bytes), or why not.
fn write_backends(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    k: &KernelSource,
    p: &PipelineSpec,
) -> Vec<Result<usize, String>> {
    let stage = naga::ShaderStage::Compute;
    let entry = p.entry.to_string();
    let spv_out = guarded("SPIR-V 1.0", || {
        let options = spv::Options {
            lang_version: (1, 0),
            bounds_check_policies: policies(),
            zero_initialize_workgroup_memory: if k.zero_workgroup_memory {
                spv::ZeroInitializeWorkgroupMemoryMode::Polyfill
            } else {
                spv::ZeroInitializeWorkgroupMemoryMode::None
            },
            ..Default::default()
        };
        let po = spv::PipelineOptions {
            shader_stage: stage,
            entry_point: entry.clone(),
        };
        spv::write_vec(module, info, &options, Some(&po))
            .map(|w| w.len() * 4)
            .map_err(|e| format!("SPIR-V 1.0: {e}"))
    });
    let msl_out = guarded("MSL 2.0", || {
        let options = msl::Options {
            lang_version: (2, 0),
            bounds_check_policies: policies(),
            zero_initialize_workgroup_memory: k.zero_workgroup_memory,
            ..Default::default()
        };
        let po = msl::PipelineOptions {
            entry_point: Some((stage, entry.clone())),
            ..Default::default()
        };
        msl::write_string(module, info, &options, &po)
            .map(|(s, _)| s.len())
            .map_err(|e| format!("MSL 2.0: {e}"))
    });
    let hlsl_out = guarded("HLSL SM 6.0", || {
        let options = hlsl::Options {
            shader_model: hlsl::ShaderModel::V6_0,
            zero_initialize_workgroup_memory: k.zero_workgroup_memory,
            ..Default::default()
        };
        let po = hlsl::PipelineOptions {
            entry_point: Some((stage, entry.clone())),
        };
        let mut s = String::new();
        let r = hlsl::Writer::new(&mut s, &options, &po).write(module, info, None);
        r.map(|_| s.len()).map_err(|e| format!("HLSL SM 6.0: {e}"))
    });
    let glsl_out = guarded("GLSL ES 3.10", || {
        let options = glsl::Options {
            version: glsl::Version::new_gles(310),
            zero_initialize_workgroup_memory: k.zero_workgroup_memory,
            ..Default::default()
        };
        let po = glsl::PipelineOptions {
            shader_stage: stage,
            entry_point: entry.clone(),
            multiview: None,
        };
        let mut s = String::new();
        let r = glsl::Writer::new(&mut s, module, info, &options, &po, policies())
            .and_then(|mut w| w.write().map(|_| ()));
        r.map(|_| s.len()).map_err(|e| format!("GLSL ES 3.10: {e}"))
    });
    vec![spv_out, msl_out, hlsl_out, glsl_out]
}

/// Every failure of one module: "label [entry constants]: stage: error".
fn translate(k: &KernelSource) -> (usize, Vec<String>) {
    let module = match naga::front::wgsl::parse_str(&k.source) {
        Ok(m) => m,
        Err(e) => {
            return (
                0,
                vec![format!(
                    "{}: WGSL: {}",
                    k.label,
                    e.emit_to_string(&k.source)
                )],
            );
        }
    };
    let mut errs = Vec::new();
    // As wgpu validates a module on a device opened with balnet's features (none).
    if let Err(e) = Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&module)
    {
        errs.push(format!(
            "{}: validation without optional features: {}",
            k.label,
            e.emit_to_string(&k.source)
        ));
    }
    // The backends get a module validated with every capability, so that each reports what
    // it cannot express even where the validation above failed already.
    let info = match Validator::new(ValidationFlags::all(), Capabilities::all()).validate(&module) {
        Ok(i) => i,
        Err(e) => {
            errs.push(format!(
                "{}: validation: {}",
                k.label,
                e.emit_to_string(&k.source)
            ));
            return (0, errs);
        }
    };
    let mut written = 0;
    for p in &k.pipelines {
        let what = format!("{} [{} {:?}]", k.label, p.entry, p.constants);
        let constants: naga::back::PipelineConstants = p
            .constants
            .iter()
            .map(|(n, v)| (n.to_string(), *v))
            .collect();
        let (m, i) = match naga::back::pipeline_constants::process_overrides(
            &module,
            &info,
            Some((naga::ShaderStage::Compute, p.entry)),
            &constants,
        ) {
            Ok(x) => x,
            Err(e) => {
                errs.push(format!("{what}: override constants: {e}"));
                continue;
            }
        };
        for r in write_backends(&m, &i, k, p) {
            match r {
                Ok(_) => written += 1,
                Err(e) => errs.push(format!("{what}: {e}")),
            }
        }
    }
    (written, errs)
}

#[test]
fn every_kernel_translates_to_every_backend() {
    assert!(
        balnet::device::gpu::REQUIRED_FEATURES.is_empty(),
        "the device asks for features now: validate with their naga capabilities below"
    );
    let t0 = std::time::Instant::now();
    let sources = kernel_sources();
    let pipelines: usize = sources.iter().map(|k| k.pipelines.len()).sum();
    let results: Vec<(usize, Vec<String>)> = sources.par_iter().map(translate).collect();
    let written: usize = results.iter().map(|r| r.0).sum();
    let errs: Vec<&String> = results.iter().flat_map(|r| &r.1).collect();
    eprintln!(
        "{} modules, {pipelines} pipelines, {written} backend outputs written in {:.1} s",
        sources.len(),
        t0.elapsed().as_secs_f64()
    );
    // Many specialisations fail alike: show the first few.
    let shown: Vec<&str> = errs.iter().take(12).map(|e| e.as_str()).collect();
    assert!(
        errs.is_empty(),
        "{} failures, the first {}:\n{}",
        errs.len(),
        shown.len(),
        shown.join("\n")
    );
    assert_eq!(written, 4 * pipelines);
}
