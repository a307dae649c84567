//! The shared vocabulary beneath every stage: kmod's diagnostics and log
//! levels, which kmod's output is reproduced, errno texts, I/O errors with
//! their path, and the one helper that makes a path absolute. Nothing here
//! imports any other module of the crate.

mod diagnostic;
mod errno;
pub mod esc;
mod io;
mod paths;
mod version;

pub use diagnostic::{Diagnostic, Level};
pub use errno::{strerror, Errno};
pub use io::{ActionError, IoError, IoResultExt, SharedIoError};
pub use paths::{
    absolute, absolute_bytes, absolute_clean, basename, is_module_file_name, is_version_number,
    modname_normalize, name_from_file_name,
};
pub use version::KmodVersion;
