//! The allocator of the `portcullis` binary: mimalloc (the token path allocates many small,
//! short-lived buffers; glibc's malloc showed up at ~7% of the CPU under load), set to give
//! freed memory back to the operating system at once.
//!
//! mimalloc purges freed pages only after `purge_delay` (1 s), and only when it next runs: an
//! idle node never gets there, so the garbage of building the User-Agent rule set at start
//! (regex compilation) stayed resident, ~10 MB of a 65 MB idle node. With the delay at 0 it
//! goes back at once; the token path reuses its pages rather than freeing them, so throughput
//! is unchanged (`crates/server/benches/load.sh memory`, decision 0015). Transparent huge pages
//! are off (`no_thp`): a 2 MiB page for a few live objects is resident memory for nothing.
//!
//! An operator's `MIMALLOC_PURGE_DELAY` wins.

use std::ffi::{c_int, c_long};

pub use mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the `mi_option_t` enum of the mimalloc v3 that
/// `libmimalloc-sys` bundles (the Rust bindings name no constant for it); the test pins it.
const PURGE_DELAY: c_int = 15;
/// `mi_option_os_tag`, whose default (100) identifies the enum's layout in the test.
#[cfg(test)]
const OS_TAG: c_int = 18;

/// Sets the process's allocator options, if the process has one thread yet (mimalloc's option
/// table is plain memory: setting it while another thread allocates would be a data race).
/// Call first thing in `main`; returns whether the options were set. An operator's
/// `MIMALLOC_PURGE_DELAY` (or its old name `MIMALLOC_RESET_DELAY`) wins.
pub fn give_memory_back_promptly() -> bool {
    if ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"].iter().any(|v| std::env::var_os(v).is_some()) {
        return false;
    }
    if threads() != Some(1) {
        return false;
    }
    #[allow(unsafe_code)]
    // SAFETY: `mi_option_set` writes one entry of mimalloc's option table, which is not thread
    // safe: the process has one thread (checked above), so nothing reads it meanwhile; the index
    // is in range (the test pins it).
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0)
    };
    true
}

/// The process's thread count, where the system tells it (Linux: `/proc/self/status`).
fn threads() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|n| n.trim().parse().ok())
}

/// The current value of mimalloc option `option`.
fn option(option: c_int) -> c_long {
    #[allow(unsafe_code)]
    // SAFETY: `mi_option_get` reads one entry of mimalloc's option table; out-of-range
    // indices are refused by mimalloc itself.
    unsafe {
        libmimalloc_sys::mi_option_get(option)
    }
}

/// The purge delay in force, in milliseconds.
pub fn purge_delay_ms() -> c_long {
    option(PURGE_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_indices_are_mimalloc_v3s() {
        // Defaults of mimalloc v3 (src/options.c): os_tag 100, purge_delay 1000 (unless this
        // process was told otherwise). A bundled mimalloc with another enum layout fails here.
        assert_eq!(option(OS_TAG), 100);
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay_ms(), 1000);
        }
    }

    #[test]
    fn options_are_left_alone_once_threads_run() {
        // The test harness runs this on one of its threads: more than one.
        assert!(threads().is_some_and(|n| n > 1));
        assert!(!give_memory_back_promptly());
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay_ms(), 1000);
        }
    }
}
