//! kmod's diagnostics: a level and a text, printed as `PROG: LEVEL: text`.

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
    pub fn new(level: Level, text: impl Into<String>) -> Self {
        Diagnostic {
            level,
            text: text.into(),
        }
    }
    pub fn fatal(text: impl Into<String>) -> Self {
        Diagnostic::new(Level::Fatal, text)
    }
    pub fn error(text: impl Into<String>) -> Self {
        Diagnostic::new(Level::Error, text)
    }
    pub fn warning(text: impl Into<String>) -> Self {
        Diagnostic::new(Level::Warning, text)
    }
    pub fn info(text: impl Into<String>) -> Self {
        Diagnostic::new(Level::Info, text)
    }
    /// The line as kmod prints it, for program name `prog`, ending in `\n`.
    pub fn render(&self, prog: &str) -> String {
        format!("{prog}: {}: {}\n", self.level.name(), self.text)
    }
}
