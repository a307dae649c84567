//! Reproducibility audits (issue 8): manifests of module trees
//! ([`manifest`]), semantic differences between trees or manifests
//! ([`diff`](mod@diff)), checks that a tree's databases are fresh and its modules
//! loadable ([`verify`](mod@verify)), and the metadata cache behind
//! `depmod --manifest` ([`crate::depmod::cache`]).

pub mod diff;
pub mod manifest;
pub mod verify;

pub use diff::{diff, load_side, DiffKind, DiffOptions, DiffReport, Difference, Side};
pub use manifest::{audit_tree, Manifest};
pub use verify::{verify, VerifyOptions, VerifyReport};

use crate::kmod::IoError;
use std::path::PathBuf;

/// The first `limit` of `items` (all for 0), then `... and N more`.
fn at_most(mut items: Vec<String>, limit: usize) -> Vec<String> {
    if limit != 0 && items.len() > limit {
        let more = items.len() - limit;
        items.truncate(limit);
        items.push(format!("... and {more} more"));
    }
    items
}

/// Why an audit command failed (exit status 2), naming the file.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// `PATH: TEXT`.
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The tree walk failed (`PATH: walkdir's text`; PATH empty when
    /// walkdir names none).
    #[error("{}: {source}", .path.display())]
    Walk {
        path: PathBuf,
        #[source]
        source: walkdir::Error,
    },
    #[error("{}: path is not valid UTF-8 (kmodtree handles UTF-8 paths only)", .0.display())]
    NonUtf8(PathBuf),
    /// The manifest is not JSON of the expected shape.
    #[error("{}: not a manifest: {source}", .file.display())]
    BadManifest {
        file: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The manifest is JSON of another kind or format.
    #[error(
        "{}: not a manifest: kind {kind:?} format {format}: not a kmodtree audit manifest of format {}",
        .file.display(),
        manifest::MANIFEST_FORMAT
    )]
    WrongManifest {
        file: PathBuf,
        kind: String,
        format: u32,
    },
    /// Regenerating the databases failed (the failure keeps depmod's
    /// diagnostics).
    #[error("depmod failed: {0}")]
    Depmod(#[from] Box<crate::depmod::DepmodFailure>),
}
