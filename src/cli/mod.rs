//! The command line's presentation: progress and interruption.

pub mod progress;
