//! `modules.devname`: device nodes for on-demand loading (spec §8.2).

use super::{ListKind, RenderInput};
use crate::kmod::Diagnostic;
use std::io::{self, Write};

/// Writes `MODNAME DEVNAME TYPEMAJOR:MINOR` lines under a header printed
/// only before the first line (no entries → nothing) to `out`, and appends
/// to `diags` the error for each module with a devname but no node. Fails
/// only as `out` does; the diagnostics are complete even then.
pub fn modules_devname(
    input: &RenderInput,
    out: &mut dyn Write,
    diags: &mut Vec<Diagnostic>,
) -> io::Result<()> {
    let mut written = Ok(());
    let mut any = false;
    let mut line = Vec::new();
    for (i, m) in input.each_module() {
        let aliases = input.modules.list(i, ListKind::Aliases);
        let mut devname: Option<&[u8]> = None;
        let mut node: Option<(char, u32, u32)> = None;
        for a in aliases.iter() {
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
                line.clear();
                if !any {
                    any = true;
                    line.extend_from_slice(
                        b"# Device nodes to trigger on-demand module loading.\n",
                    );
                }
                line.extend_from_slice(m.name.as_bytes());
                line.push(b' ');
                line.extend_from_slice(dev);
                line.extend_from_slice(format!(" {t}{maj}:{min}\n").as_bytes());
                if written.is_ok() {
                    written = out.write_all(&line);
                }
            }
            None => diags.push(Diagnostic::error(format!(
                "Module '{}' has devname ({}) but lacks major and minor information. Ignoring.",
                m.name,
                String::from_utf8_lossy(dev)
            ))),
        }
    }
    written
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
