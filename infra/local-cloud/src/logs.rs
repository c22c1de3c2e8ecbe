//! One terminal for everything: each line is prefixed with who wrote it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences the log (tests).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

fn write(prefix: &str, line: &str) {
    if QUIET.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{prefix} {line}");
}

/// A line a function instance printed.
pub fn function(name: &str, line: &str) {
    write(&format!("[{name}]"), line);
}

/// A line of the local cloud itself, about a function or component.
pub fn system(component: &str, line: &str) {
    write(&format!("[local-cloud:{component}]"), line);
}
