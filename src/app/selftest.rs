//! `balnet selftest`: the random-number generator's and samplers' checks on the backends
//! `backend` selects.

use crate::device::{BackendChoice, Device};
use crate::selftest::Check;

/// The checks and where they ran.
pub struct SelftestReport {
    pub checks: Vec<Check>,
    /// The GPU adapter's one-line description, when the GPU was checked.
    pub adapter: Option<String>,
    /// Why `auto` fell back to the CPU, if it did.
    pub note: Option<String>,
}

impl SelftestReport {
    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| !c.passed).count()
    }
}

/// Runs the checks: on the GPU if `backend` opens one, and on the CPU unless the GPU alone
/// was asked for.
pub fn selftest(backend: BackendChoice) -> anyhow::Result<SelftestReport> {
    let (device, note) = Device::open(backend)?;
    let gpu = device.gpu_context().cloned();
    let cpu = backend != BackendChoice::Gpu || gpu.is_some();
    let checks = crate::selftest::run(gpu.as_ref(), cpu);
    Ok(SelftestReport {
        checks,
        adapter: gpu.map(|g| g.report.summary()),
        note,
    })
}
