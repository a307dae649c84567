//! Discovering a module tree: the walk of `lib/modules/VERSION` (and
//! external directories), depmod.d configuration, duplicate resolution, and
//! the kernel-build inputs `modules.order`, `modules.builtin`,
//! `modules.builtin.modinfo`, `System.map` and `Module.symvers`.

pub mod builtin;
pub mod config;
pub mod kernel_symbols;
pub mod order;
pub mod walk;

pub use config::Config;
pub use walk::{Candidate, Discovery};

/// One diagnostic line as kmod prints it: `depmod: LEVEL: text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub level: Level,
    /// The message without the `depmod: LEVEL: ` prefix; may contain
    /// newlines where kmod's does (e.g. an invalid line keeps its `\n`).
    pub text: String,
}

/// kmod's log levels, in decreasing severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Fatal,
    Error,
    Warning,
    Info,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Fatal => "FATAL",
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Info => "INFO",
        }
    }
}

impl Diagnostic {
    pub fn error(text: impl Into<String>) -> Self {
        Diagnostic {
            level: Level::Error,
            text: text.into(),
        }
    }
    pub fn warning(text: impl Into<String>) -> Self {
        Diagnostic {
            level: Level::Warning,
            text: text.into(),
        }
    }
    pub fn info(text: impl Into<String>) -> Self {
        Diagnostic {
            level: Level::Info,
            text: text.into(),
        }
    }
    /// The line as kmod prints it, for program name `prog`, ending in `\n`.
    pub fn render(&self, prog: &str) -> String {
        format!("{prog}: {}: {}\n", self.level.name(), self.text)
    }
}

/// The C library's text for an I/O error, as `%m` would print it.
pub fn strerror(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".into(),
        _ => match err.raw_os_error() {
            Some(20) => "Not a directory".into(),
            Some(21) => "Is a directory".into(),
            Some(40) => "Too many levels of symbolic links".into(),
            _ => {
                // std appends " (os error N)"; kmod prints only the text.
                let s = err.to_string();
                match s.find(" (os error") {
                    Some(i) => s[..i].to_string(),
                    None => s,
                }
            }
        },
    }
}
