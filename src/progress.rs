//! Progress bars: shown on a terminal, silent otherwise (batch jobs, CI, pipes).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub fn bar(len: u64, enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} steps ({per_sec}, eta {eta})",
    ) {
        b.set_style(style.progress_chars("=> "));
    }
    b
}
