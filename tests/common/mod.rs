//! Shared test helpers.
#![allow(dead_code)]

use balnet::backend::gpu::GpuContext;
use std::sync::{Arc, OnceLock};

/// The GPU context, or None (test skipped, with a message) when no adapter exists. With
/// BALNET_REQUIRE_GPU=1 (CI) a missing adapter fails the test instead.
pub fn gpu() -> Option<Arc<GpuContext>> {
    static CTX: OnceLock<Result<Arc<GpuContext>, String>> = OnceLock::new();
    let ctx = CTX.get_or_init(|| GpuContext::new().map_err(|e| format!("{e:#}")));
    match ctx {
        Ok(c) => Some(c.clone()),
        Err(e) => {
            if std::env::var("BALNET_REQUIRE_GPU").as_deref() == Ok("1") {
                panic!("BALNET_REQUIRE_GPU=1 but no GPU adapter: {e}");
            }
            eprintln!("skipped: no GPU adapter ({e})");
            None
        }
    }
}
