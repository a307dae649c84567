//! `modules.devname`: device nodes for on-demand loading (spec §8.2).

use super::RenderInput;
use crate::kmod::Diagnostic;

/// `MODNAME DEVNAME TYPEMAJOR:MINOR` lines under a header printed only
/// before the first line (no entries: nothing); appends to `diags` the
/// error for each module with a devname but no node.
pub fn modules_devname(input: &RenderInput, diags: &mut Vec<Diagnostic>) -> Vec<u8> {
    let mut out = Vec::new();
    for (_, m) in input.each_module() {
        let mut devname: Option<&[u8]> = None;
        let mut node: Option<(char, u32, u32)> = None;
        for a in m.aliases.iter() {
            if let Some(d) = a.strip_prefix(b"devname:") {
                devname = Some(d);
            } else if let Some((maj, min)) = scan_major_minor(a, b"char-major-") {
                node = Some(('c', maj, min));
            } else if let Some((maj, min)) = scan_major_minor(a, b"block-major-") {
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

/// C `sscanf(s, "PREFIX%u-%u", ...) == 2`.
fn scan_major_minor(s: &[u8], prefix: &[u8]) -> Option<(u32, u32)> {
    let rest = s.strip_prefix(prefix)?;
    let (maj, rest) = scan_u(rest)?;
    let rest = rest.strip_prefix(b"-")?;
    let (min, _) = scan_u(rest)?;
    Some((maj, min))
}

/// C `%u`: leading white space, optional sign, decimal digits.
fn scan_u(s: &[u8]) -> Option<(u32, &[u8])> {
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while i < s.len() && s[i].is_ascii_digit() {
        match v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(s[i] - b'0')))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        return None;
    }
    let v = if overflow { u32::MAX } else { v as u32 };
    Some((if neg { v.wrapping_neg() } else { v }, &s[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanf_like_parsing() {
        assert_eq!(
            scan_major_minor(b"char-major-10-223", b"char-major-"),
            Some((10, 223))
        );
        assert_eq!(
            scan_major_minor(b"char-major-010-07x", b"char-major-"),
            Some((10, 7))
        );
        assert_eq!(scan_major_minor(b"char-major-10", b"char-major-"), None);
        assert_eq!(scan_major_minor(b"char-major-10-*", b"char-major-"), None);
    }
}
