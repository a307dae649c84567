//! Why a depmod run failed, and kmod's words for it.

use super::cache::CacheError;
use crate::kmod::{strerror, Diagnostic};
use crate::render::RenderError;
use crate::tree::walk::DiscoverError;
use std::path::PathBuf;

/// Why a run stopped before writing anything. [`DepmodError::diagnostics`]
/// gives kmod's lines for it.
#[derive(Debug, thiserror::Error)]
pub enum DepmodError {
    /// `-E`/`-F`: the kernel's symbol file could not be read.
    #[error("could not load {}: {}", path.display(), strerror(source))]
    KernelSymbols {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The module directory could not be walked.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// A listed module file is not an absolute path (checked where kmod
    /// checks it: after the kernel symbols are read).
    #[error("{path}: not absolute path.")]
    NotAbsolute { path: camino::Utf8PathBuf },
    /// Two listed module files have the same module name.
    #[error("could not add module {path}: File exists")]
    DuplicateModule { path: String },
    /// Modules depend on each other in cycles (each cycle is among the
    /// diagnostics before this).
    #[error("Found {modules} modules in dependency cycles!")]
    Cycles { modules: usize },
    /// A database could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The output directory could not be created.
    #[error("could not create directory {dir}: {}", strerror(source))]
    CreateDir {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    /// A database could not be written (nothing was replaced).
    #[error(transparent)]
    Write(#[from] crate::output::WriteError),
}

impl DepmodError {
    /// kmod's lines for this failure, in its order.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let text = self.to_string();
        match self {
            DepmodError::Discover(DiscoverError::ModuleDir { source, .. }) => vec![
                Diagnostic::error(text),
                Diagnostic::fatal(format!("could not search modules: {}", strerror(source))),
            ],
            DepmodError::Cycles { .. }
            | DepmodError::Render(RenderError::IndexTooLarge { .. })
            | DepmodError::Write(_) => vec![Diagnostic::error(text)],
            _ => vec![Diagnostic::fatal(text)],
        }
    }
}

/// A failed run: the error, with what the run reported before it.
/// Displayed as depmod prints it: every diagnostic, then the failure's
/// own lines, as `depmod: LEVEL: text` lines.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.all_diagnostics().iter().map(|d| d.render("depmod")).collect::<String>())]
pub struct DepmodFailure {
    #[source]
    pub error: Box<DepmodError>,
    /// kmod's diagnostics before the failure, in its order (the failure's
    /// own lines are [`DepmodError::diagnostics`]).
    pub diagnostics: Vec<Diagnostic>,
    /// `-v` lines computed before the failure (kmod prints them as it
    /// finds each dependency, before it finds a cycle).
    pub verbose: Vec<String>,
    /// Problems with the `--manifest` cache file (the run went on without
    /// it, or without updating it).
    pub manifest_problems: Vec<CacheError>,
}

impl DepmodFailure {
    /// Every diagnostic in kmod's order: those before the failure, then
    /// the failure's.
    pub fn all_diagnostics(&self) -> Vec<Diagnostic> {
        [self.diagnostics.clone(), self.error.diagnostics()].concat()
    }
}

/// Replaces `from` by `to` in every diagnostic's text (a run in a temporary
/// directory that is renamed into place names the final directory).
pub(crate) fn rename_in(diags: &mut [Diagnostic], from: &str, to: &str) {
    for d in diags {
        d.text = d.text.replace(from, to);
    }
}
