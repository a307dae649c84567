//! Module closures and load order (the modprobe side of a module tree):
//!
//! * [`show_depends`](mod@show_depends) — `modprobe --show-depends` and `modprobe -R`, byte for
//!   byte, from depmod's `.bin` indexes and modprobe.d configuration;
//! * [`modprobe_config`] — modprobe.d parsing as libkmod does it;
//! * [`copy`] — nixpkgs' makeModulesClosure: copy the closure of some root
//!   modules (and their firmware) into a new, valid module tree, with
//!   liminix-style `load-order`, `load.sh` and `unload.sh` if asked.

pub mod copy;
pub mod modprobe_config;
pub mod show_depends;

pub use copy::{assemble_module_closure, ClosureError, ClosureOptions, ClosureReport};
pub use modprobe_config::ModprobeConfig;
pub use show_depends::{
    match_aliases, show_depends, LookupError, ModprobeOptions, ModuleIndexes, ProbeAction,
    Resolver, RunOutcome, TargetActions,
};

/// Message severities (kmod's log levels).
pub use crate::kmod::Level as MessageLevel;

/// One message as modprobe (or libkmod before modprobe sets up its logging)
/// prints it: `PROGRAM: LEVEL: TEXT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub program: &'static str,
    pub level: MessageLevel,
    pub text: String,
}

impl Message {
    /// A message modprobe prints (`modprobe: LEVEL: text`).
    pub fn modprobe(level: MessageLevel, text: impl Into<String>) -> Message {
        Message {
            program: "modprobe",
            level,
            text: text.into(),
        }
    }

    /// An error libkmod prints while reading the configuration:
    /// `libkmod: ERROR: FUNCTION: text`.
    pub fn libkmod_error(function: &str, text: impl AsRef<str>) -> Message {
        Message {
            program: "libkmod",
            level: MessageLevel::Error,
            text: format!("{function}: {}", text.as_ref()),
        }
    }

    /// The line with its newline.
    pub fn render(&self) -> String {
        format!("{}: {}: {}\n", self.program, self.level.name(), self.text)
    }
}

/// A path kmod holds as bytes (any but NUL), kept as they are.
pub(crate) fn path_of(b: &[u8]) -> &std::path::Path {
    use std::os::unix::ffi::OsStrExt;
    std::path::Path::new(std::ffi::OsStr::from_bytes(b))
}
