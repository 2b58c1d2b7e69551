//! The CLI's observer: a progress bar on a terminal (silent otherwise: batch jobs, CI, pipes)
//! and the stop flag that Ctrl-C / SIGTERM set.

use balnet::progress::{CancelToken, Observer};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub struct Bar {
    bar: ProgressBar,
    stop: CancelToken,
}

impl Bar {
    pub fn new(stop: CancelToken) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let b = ProgressBar::new(0);
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} steps ({per_sec}, eta {eta})",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        } else {
            ProgressBar::hidden()
        };
        Bar { bar, stop }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Bar {
    fn progress(&mut self, done: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
    }
    fn cancelled(&self) -> bool {
        self.stop.is_cancelled()
    }
}
