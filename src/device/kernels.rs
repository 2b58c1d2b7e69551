//! Every WGSL module the library compiles, composed in one place: the runtime builds its
//! pipelines from these `KernelSource`s (`GpuContext::kernel_pipelines`), and
//! `crate::kernels::kernel_sources` lists every specialisation the code can produce, so that the
//! portability test (tests/naga_translate.rs) translates what the runtime compiles.
//!
//! A module is: the generated constants (`device::constants::common` and the kernel's own),
//! the kernel's prelude (model H's specialising constants and table binding), rng.wgsl,
//! math.wgsl, then the kernel file.

use crate::device::constants::{self, WgslConst};
use crate::device::shaders;

/// One compute pipeline of a module: its entry point and override constants.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineSpec {
    pub entry: &'static str,
    pub constants: Vec<(&'static str, f64)>,
}

impl PipelineSpec {
    pub fn new(entry: &'static str) -> Self {
        PipelineSpec {
            entry,
            constants: Vec::new(),
        }
    }

    pub fn with_constants(entry: &'static str, constants: Vec<(&'static str, f64)>) -> Self {
        PipelineSpec { entry, constants }
    }
}

/// A complete WGSL module and the pipelines built from it.
#[derive(Clone, Debug)]
pub struct KernelSource {
    /// The module and its specialisation, for error messages and labels.
    pub label: String,
    /// The whole module as the device compiles it.
    pub source: String,
    /// The constants generated from Rust that `source` declares.
    pub generated: Vec<WgslConst>,
    /// Whether the device zero-fills workgroup memory before each dispatch (false: the kernel
    /// initialises what it reads).
    pub zero_workgroup_memory: bool,
    pub pipelines: Vec<PipelineSpec>,
}

impl KernelSource {
    /// The module of kernel file `body`, after the common constants and `own` constants, the
    /// `prelude`, rng.wgsl and math.wgsl.
    pub fn compose(
        label: impl Into<String>,
        own: Vec<WgslConst>,
        prelude: &str,
        body: &str,
        zero_workgroup_memory: bool,
        pipelines: Vec<PipelineSpec>,
    ) -> Self {
        let mut generated = constants::common();
        generated.extend(own);
        let source = format!(
            "// Constants generated from Rust (src/device/constants.rs).\n{}\n{prelude}\n{}\n{}\n{body}",
            constants::declarations(&generated),
            shaders::RNG,
            shaders::MATH,
        );
        KernelSource {
            label: label.into(),
            source,
            generated,
            zero_workgroup_memory,
            pipelines,
        }
    }
}
