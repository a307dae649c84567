//! Reproducibility audits (issue 8): manifests of module trees
//! ([`manifest`]), semantic differences between trees or manifests
//! ([`diff`](mod@diff)), checks that a tree's databases are fresh and its modules
//! loadable ([`verify`](mod@verify)), and the metadata cache behind
//! `depmod --manifest` ([`cache`]).

pub mod cache;
pub mod diff;
pub mod esc;
pub mod manifest;
pub mod verify;

pub use diff::{diff, load_side, DiffOptions, DiffReport, Side};
pub use manifest::{audit_tree, Manifest};
pub use verify::{verify, VerifyOptions, VerifyReport};

/// Why an audit command failed (exit status 2), naming the file.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{0}: not a directory")]
    NotADirectory(String),
    #[error("{path}: {reason}")]
    Walk { path: String, reason: String },
    #[error("{0}: path is not valid UTF-8 (kmodtree handles UTF-8 paths only)")]
    NonUtf8(String),
    #[error("{file}: not a manifest: {reason}")]
    BadManifest { file: String, reason: String },
    /// Regenerating the databases failed (the failure keeps depmod's
    /// diagnostics).
    #[error("depmod failed: {0}")]
    Depmod(#[from] Box<crate::depmod::DepmodFailure>),
}

impl AuditError {
    pub(crate) fn io(path: &std::path::Path, e: &std::io::Error) -> AuditError {
        AuditError::Io {
            path: path.display().to_string(),
            reason: crate::kmod::strerror(e),
        }
    }
}
