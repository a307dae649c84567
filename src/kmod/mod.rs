//! The shared vocabulary beneath every stage: kmod's diagnostics and log
//! levels, which kmod's output is reproduced, errno texts, I/O errors with
//! their path, and the one helper that makes a path absolute. Nothing here
//! imports any other module of the crate.

mod diagnostic;
mod errno;
mod io;
mod paths;
mod version;

pub use diagnostic::{Diagnostic, Level};
pub use errno::{strerror, Errno};
pub use io::{ErrorPath, IoError, IoResultExt, SharedIoError};
pub use paths::{absolute, absolute_bytes, is_version_number};
pub use version::KmodVersion;
