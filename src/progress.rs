//! Progress of the long stages (reading modules, hashing files, copying
//! files), reported to whoever runs them: the library only counts, the
//! tool decides whether and how to show it.

use std::fmt;
use std::sync::Arc;

/// Receives the progress of a stage. Called from worker threads.
pub trait Progress: Send + Sync {
    /// A stage of `total` items begins (`"reading modules"`); a `total` of
    /// 0 means the count is not known in advance (files found while
    /// walking, build steps of packages still being planned).
    fn start(&self, _stage: &'static str, _total: u64) {}
    /// `n` more items of the current stage are done.
    fn advance(&self, _n: u64) {}
    /// What the current stage works on now (`"hello-1.0: make"`), for
    /// slow items only: a build step, not a file.
    fn working_on(&self, _what: &str) {}
    /// The current stage is over.
    fn finish(&self) {}
}

/// Progress that goes nowhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}

/// An optional [`Progress`] receiver, for options structs (cloneable,
/// printable, silent by default).
#[derive(Clone, Default)]
pub struct ProgressHook(pub Option<Arc<dyn Progress>>);

impl ProgressHook {
    /// The receiver ([`Silent`] when none).
    pub fn get(&self) -> &dyn Progress {
        self.0.as_deref().unwrap_or(&Silent)
    }
}

impl fmt::Debug for ProgressHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "ProgressHook(Some)"
        } else {
            "ProgressHook(None)"
        })
    }
}

impl PartialEq for ProgressHook {
    /// Hooks do not change results: any two are equal.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
