//! The C library's texts for errors, as kmod prints them with `%m` or
//! `strerror`.

use std::io;

/// The C library's text for an I/O error, as `%m` would print it: glibc's
/// `strerror` of the OS error, or the error's own text for one that did not
/// come from the system.
pub fn strerror(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => os_text(code),
        None => match err.kind() {
            io::ErrorKind::NotFound => os_text(libc::ENOENT),
            io::ErrorKind::PermissionDenied => os_text(libc::EACCES),
            _ => err.to_string(),
        },
    }
}

/// glibc's `strerror_r` text for `code` (the C locale's: kmodtree never
/// calls `setlocale`).
fn os_text(code: i32) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the XSI variant that the
    // libc crate binds writes a NUL-terminated string into it.
    let rc = unsafe { libc::strerror_r(code, buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return format!("Unknown error {code}");
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// The errno kmod would report for a failure that is not a system call's,
/// so its messages can be reproduced (`failed to load symbols from PATH:
/// Exec format error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// `EINVAL`, "Invalid argument".
    Inval,
    /// `ENOEXEC`, "Exec format error".
    NoExec,
    /// `EFBIG`, "File too large" (our decompression cap; kmod has none).
    FBig,
    /// `EIO`, "Input/output error".
    Io,
}

impl Errno {
    /// glibc's `strerror` text.
    pub fn strerror(self) -> String {
        os_text(match self {
            Errno::Inval => libc::EINVAL,
            Errno::NoExec => libc::ENOEXEC,
            Errno::FBig => libc::EFBIG,
            Errno::Io => libc::EIO,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_glibcs() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(strerror(&e), "No such file or directory");
        let e = io::Error::from_raw_os_error(libc::ELOOP);
        assert_eq!(strerror(&e), "Too many levels of symbolic links");
        assert_eq!(
            strerror(&io::ErrorKind::NotFound.into()),
            "No such file or directory"
        );
        assert_eq!(Errno::NoExec.strerror(), "Exec format error");
    }
}
