//! Paths as kmod spells them.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// `path` made absolute the way kmod's `path_make_absolute_cwd` does: the
/// working directory, `/`, then the path, nothing normalised or resolved.
/// An absolute path comes back unchanged; if the working directory cannot
/// be read, `/` stands for it.
pub fn absolute(path: &Path) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(&absolute_bytes(
        path.as_os_str().as_bytes(),
    )))
}

/// [`absolute`] without its `.` components: the names `union` and `flat`
/// write into links and `modules.name`, as Guix's `absolute-file-name`
/// gives them.
pub fn absolute_clean(path: &Path) -> PathBuf {
    absolute(path)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// [`absolute`] for a path held as bytes (kmod allows any name but NUL).
pub fn absolute_bytes(path: &[u8]) -> Vec<u8> {
    if path.first() == Some(&b'/') {
        return path.to_vec();
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut out = cwd.as_os_str().as_bytes().to_vec();
    out.push(b'/');
    out.extend_from_slice(path);
    out
}

/// kmod's module name for a file: the basename (after the last `/`) up to
/// its first `.`, with every `-` replaced by `_` (spec §3.2).
/// `kernel/sound/snd-hda-intel.ko.xz` → `snd_hda_intel`; `dot.ted.ko` → `dot`.
pub fn name_from_file_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.split('.').next().unwrap_or(base);
    stem.replace('-', "_")
}

/// libkmod's `modname_normalize`: dashes to underscores, cut at the first
/// `.`.
pub fn modname_normalize(name: &[u8]) -> Vec<u8> {
    name.iter()
        .take_while(|&&b| b != b'.')
        .map(|&b| if b == b'-' { b'_' } else { b })
        .collect()
}

/// What follows the last `/` of `path` (all of it without one).
pub fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// Whether a file name ends in a module suffix (kmod's
/// `path_ends_with_kmod_ext`; Guix's `module-regex`).
pub fn is_module_file_name(name: &str) -> bool {
    [".ko", ".ko.gz", ".ko.xz", ".ko.zst"]
        .iter()
        .any(|s| name.ends_with(s))
}

/// Whether `s` is a kernel version as depmod tells one from a module
/// file: C's `sscanf(s, "%u.%u") == 2`.
pub fn is_version_number(s: &str) -> bool {
    // What follows one `%u` (blanks, a sign, at least one digit).
    fn after_number(t: &str) -> Option<&str> {
        let t = t.trim_start();
        let t = t.strip_prefix(['+', '-']).unwrap_or(t);
        let n = t.bytes().take_while(u8::is_ascii_digit).count();
        (n > 0).then(|| &t[n..])
    }
    after_number(s)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(after_number)
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_as_sscanf_sees_them() {
        assert!(is_version_number("6.1.0-56-amd64"));
        assert!(is_version_number("0.0"));
        assert!(is_version_number("6.1"));
        assert!(!is_version_number("foo"));
        assert!(!is_version_number("6"));
        assert!(!is_version_number("6."));
    }

    #[test]
    fn absolute_paths_are_left_alone() {
        assert_eq!(absolute_bytes(b"/a/./b"), b"/a/./b");
        let rel = absolute_bytes(b"./x");
        assert!(rel.starts_with(b"/") && rel.ends_with(b"/./x"));
    }
}
