//! `modules.devname`: device nodes for on-demand loading (spec §8.2).

use super::RenderInput;
use crate::kmod::Diagnostic;

/// `MODNAME DEVNAME TYPEMAJOR:MINOR` lines under a header printed only
/// before the first line (no entries: nothing); appends to `diags` the
/// error for each module with a devname but no node.
pub fn modules_devname(input: &RenderInput, diags: &mut Vec<Diagnostic>) -> Vec<u8> {
    let mut out = Vec::new();
    for m in input.modules {
        let mut devname: Option<&[u8]> = None;
        let mut node: Option<(char, u32, u32)> = None;
        for a in m.aliases.iter() {
            if let Some(d) = a.strip_prefix(b"devname:") {
                devname = Some(d);
            } else if let Some((maj, min)) = scan_major_minor(a, c"char-major-%u-%u") {
                node = Some(('c', maj, min));
            } else if let Some((maj, min)) = scan_major_minor(a, c"block-major-%u-%u") {
                node = Some(('b', maj, min));
            }
            if node.is_some() && devname.is_some() {
                break;
            }
        }
        let Some(dev) = devname else { continue };
        match node {
            Some((t, maj, min)) => {
                if out.is_empty() {
                    out.extend_from_slice(b"# Device nodes to trigger on-demand module loading.\n");
                }
                out.extend_from_slice(m.name.as_bytes());
                out.push(b' ');
                out.extend_from_slice(dev);
                out.extend_from_slice(format!(" {t}{maj}:{min}\n").as_bytes());
            }
            None => diags.push(Diagnostic::error(format!(
                "Module '{}' has devname ({}) but lacks major and minor information. Ignoring.",
                m.name,
                String::from_utf8_lossy(dev)
            ))),
        }
    }
    out
}

/// C `sscanf(s, format, &major, &minor) == 2`, as kmod calls it (the C
/// library's own: leading white space, a sign, wrap-around on overflow).
fn scan_major_minor(s: &[u8], format: &std::ffi::CStr) -> Option<(u32, u32)> {
    let s = [s, b"\0"].concat();
    let (mut maj, mut min): (libc::c_uint, libc::c_uint) = (0, 0);
    // SAFETY: the string and format are NUL-terminated; each `%u` gets a
    // valid `unsigned int`.
    let n = unsafe { libc::sscanf(s.as_ptr().cast(), format.as_ptr(), &mut maj, &mut min) };
    (n == 2).then_some((maj, min))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAR: &std::ffi::CStr = c"char-major-%u-%u";

    #[test]
    fn scanf_like_parsing() {
        assert_eq!(
            scan_major_minor(b"char-major-10-223", CHAR),
            Some((10, 223))
        );
        assert_eq!(scan_major_minor(b"char-major-010-07x", CHAR), Some((10, 7)));
        assert_eq!(scan_major_minor(b"char-major-10", CHAR), None);
        assert_eq!(scan_major_minor(b"char-major-10-*", CHAR), None);
        // C's white space includes the vertical tab; a negative number
        // wraps, and a too-large one saturates before it does (glibc).
        assert_eq!(
            scan_major_minor(b"char-major-\x0b10- 1", CHAR),
            Some((10, 1))
        );
        assert_eq!(
            scan_major_minor(b"char-major--1-+2", CHAR),
            Some((u32::MAX, 2))
        );
        assert_eq!(
            scan_major_minor(b"char-major--99999999999999999999-1", CHAR),
            Some((u32::MAX, 1))
        );
    }
}
