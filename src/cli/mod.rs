//! The command line's presentation, one file per command: it builds the application layer's
//! requests (`balnet::app`) from the parsed flags and prints the reports.

pub mod info;
pub mod progress;
pub mod run;
pub mod sweep;
pub mod theory;

use balnet::progress::Status;
use std::path::PathBuf;
use std::process::ExitCode;

/// run.json of the run in progress, for the second-signal exit to mark `interrupted`.
static RUN_JSON: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

pub fn set_run_json(p: Option<PathBuf>) {
    if let Ok(mut g) = RUN_JSON.lock() {
        *g = p;
    }
}

/// The run.json of the run in progress, if one is.
pub fn running_run_json() -> Option<PathBuf> {
    RUN_JSON.lock().ok().and_then(|g| g.clone())
}

/// Exit status of a run that was interrupted (by SIGINT or SIGTERM) after writing its run
/// directory: 128 + SIGINT, as shells report a process stopped by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The process's exit status for a run that ended with `status`: 0 when complete, 1 when
/// failed (the error printed), 130 when interrupted.
pub fn exit_of(status: Status, error: Option<&str>) -> ExitCode {
    match status {
        Status::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
        Status::Failed => {
            eprintln!("error: the run failed: {}", error.unwrap_or("see run.json"));
            ExitCode::from(1)
        }
        Status::Complete | Status::Running => ExitCode::SUCCESS,
    }
}

/// "kernel times (timestamp queries): update 2.65 us, finalize 0.09 us" after a GPU run.
pub fn print_kernel_times(gpu: Option<&balnet::device::GpuRunInfo>) {
    if let Some(t) = gpu.and_then(|g| g.kernel_times.as_ref())
        && !t.kinds.is_empty()
    {
        println!(
            "kernel times ({}, mean per dispatch): {}",
            t.source,
            t.summary()
        );
    }
}
