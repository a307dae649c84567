//! I/O failures together with the path they happened on: the one way every
//! stage turns a `std::io::Error` into an error of its own.
//!
//! The system's error is kept as the [`std::error::Error::source`]; its
//! text is rendered only when the message is printed, with glibc's wording
//! ([`strerror`]), as kmod prints `%m`.

use super::strerror;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An I/O error on `path`; printed `PATH: TEXT` (a path that is not UTF-8
/// lossily), TEXT being glibc's text for the error.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", .path.display(), strerror(.source))]
pub struct IoError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl IoError {
    pub fn new(path: impl Into<PathBuf>, source: io::Error) -> Self {
        IoError {
            path: path.into(),
            source,
        }
    }
}

/// A failed I/O call with what was being done; printed `ACTION 'PATH':
/// TEXT` (`cannot read '/x': No such file or directory`).
#[derive(Debug, thiserror::Error)]
#[error("{action} '{}': {}", .source.path.display(), strerror(&.source.source))]
pub struct ActionError {
    pub action: &'static str,
    pub source: IoError,
}

/// Names the path of a failed I/O call: `fs::read(p).at(p)?`, or with what
/// was being done: `fs::read(p).doing("cannot read", p)?`.
pub trait IoResultExt<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, IoError>;
    fn doing(self, action: &'static str, path: impl AsRef<Path>) -> Result<T, ActionError>;
}

impl<T> IoResultExt<T> for io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T, IoError> {
        self.map_err(|e| IoError::new(path.as_ref(), e))
    }

    fn doing(self, action: &'static str, path: impl AsRef<Path>) -> Result<T, ActionError> {
        self.at(path)
            .map_err(|source| ActionError { action, source })
    }
}

/// An `io::Error` that can be cloned, compared and hashed, for error types
/// that must be (a module's read error is kept per module and compared in
/// tests). Shared behind an [`Arc`]; two are equal when their kind, OS
/// error number and text are.
///
/// It displays as the `io::Error` itself does (`... (os error 2)`); use
/// [`strerror`] on [`SharedIoError::get`] for glibc's text alone.
#[derive(Clone, Debug)]
pub struct SharedIoError(Arc<io::Error>);

impl SharedIoError {
    pub fn get(&self) -> &io::Error {
        &self.0
    }
}

impl From<io::Error> for SharedIoError {
    fn from(e: io::Error) -> Self {
        SharedIoError(Arc::new(e))
    }
}

impl PartialEq for SharedIoError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.kind() == other.0.kind()
                && self.0.raw_os_error() == other.0.raw_os_error()
                && self.0.to_string() == other.0.to_string())
    }
}

impl Eq for SharedIoError {}

impl Hash for SharedIoError {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Kind and errno only: equal errors have equal ones.
        self.0.kind().hash(state);
        self.0.raw_os_error().hash(state);
    }
}

impl fmt::Display for SharedIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedIoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_use_glibcs_text_and_keep_the_source() {
        let e = std::fs::read("/nonexistent/kmodtree").at("/nonexistent/kmodtree");
        let e = e.unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/kmodtree: No such file or directory"
        );
        let source = std::error::Error::source(&e).unwrap();
        assert!(source.downcast_ref::<io::Error>().is_some());
        let u = Err::<(), _>(io::Error::from_raw_os_error(libc::EACCES)).at("a/b");
        assert_eq!(u.unwrap_err().to_string(), "a/b: Permission denied");
    }

    #[test]
    fn shared_errors_compare_by_value() {
        let a = SharedIoError::from(io::Error::from_raw_os_error(libc::ENOENT));
        let b = SharedIoError::from(io::Error::from_raw_os_error(libc::ENOENT));
        let c = SharedIoError::from(io::Error::from_raw_os_error(libc::EISDIR));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "No such file or directory (os error 2)");
    }
}
