//! Kernel (vmlinux) symbols from `System.map` (`depmod -F`) or
//! `Module.symvers` (`depmod -E`), spec §6.2–§6.3.

use super::order::fgets_lines;
use crate::kmod::Diagnostic;

/// A symbol provided by the kernel image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelSymbol {
    /// Name with the symbol prefix already stripped.
    pub name: Vec<u8>,
    pub crc: u64,
}

/// The `__ksymtab_` symbols of a System.map. `file` is the path as given.
pub fn parse_system_map(
    data: &[u8],
    file: &str,
    prefix: Option<u8>,
) -> (Vec<KernelSymbol>, Vec<Diagnostic>) {
    let mut syms = Vec::new();
    let mut diags = Vec::new();
    for (i, line) in fgets_lines(data, 10240).into_iter().enumerate() {
        let Some(p) = line.splitn(3, |&b| b == b' ').nth(2) else {
            diags.push(Diagnostic::error(format!(
                "{file}:{}: invalid line: {}",
                i + 1,
                String::from_utf8_lossy(line)
            )));
            continue;
        };
        let Some(sym) = strip_prefix(p, prefix).strip_prefix(b"__ksymtab_") else {
            continue;
        };
        let sym = sym.split(|&b| b == b'\n').next().unwrap_or(sym);
        syms.push(KernelSymbol {
            name: sym.to_vec(),
            crc: 0,
        });
    }
    (syms, diags)
}

/// The `vmlinux` symbols of a Module.symvers, with their CRCs.
/// `errno_text` ends the "Invalid symbol version" message: kmod prints
/// `%m`, i.e. whatever `errno` was left over (see [`symvers_errno_text`]).
pub fn parse_module_symvers(
    data: &[u8],
    file: &str,
    prefix: Option<u8>,
    errno_text: &str,
) -> (Vec<KernelSymbol>, Vec<Diagnostic>) {
    let mut syms = Vec::new();
    let mut diags = Vec::new();
    for (i, line) in fgets_lines(data, 10240).into_iter().enumerate() {
        let mut tokens = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|t| !t.is_empty());
        let (Some(ver), Some(sym), Some(where_)) = (tokens.next(), tokens.next(), tokens.next())
        else {
            continue;
        };
        if where_ != b"vmlinux" {
            continue;
        }
        let Some(crc) = strtoull_hex_whole(ver) else {
            diags.push(Diagnostic::error(format!(
                "{file}:{} Invalid symbol version {}: {errno_text}",
                i + 1,
                String::from_utf8_lossy(ver)
            )));
            continue;
        };
        syms.push(KernelSymbol {
            name: strip_prefix(sym, prefix).to_vec(),
            crc,
        });
    }
    (syms, diags)
}

/// `sym` without its first byte when that is the symbol prefix.
fn strip_prefix(sym: &[u8], prefix: Option<u8>) -> &[u8] {
    prefix.and_then(|p| sym.strip_prefix(&[p])).unwrap_or(sym)
}

/// The `errno` text kmod's "Invalid symbol version" message ends with.
///
/// Nothing resets `errno` before that message, so it shows the last
/// failure of libkmod's context set-up, which opens (in this order)
/// kmod 34: `/sys/module/compression`, `DIR/modules.softdep`,
/// `DIR/modules.weakdep`; kmod 30: `DIR/modules.softdep` only. With no
/// failure it is "Success". The `/sys` probe is taken as failing
/// (ENOENT), as in build sandboxes and containers, so that the result does
/// not depend on the host's kernel; on a host that has it, kmod 34 prints
/// "Success" where we print "No such file or directory" when both
/// `modules.softdep` and `modules.weakdep` exist.
pub fn symvers_errno_text(dir: &str, v34: bool) -> String {
    let mut last = v34.then(|| "No such file or directory".to_string());
    let files = ["modules.softdep", "modules.weakdep"];
    for f in &files[..if v34 { 2 } else { 1 }] {
        if let Err(e) = std::fs::File::open(format!("{dir}/{f}")) {
            last = Some(crate::kmod::strerror(&e));
        }
    }
    last.unwrap_or_else(|| "Success".to_string())
}

/// C `strtoull(tok, &end, 16)` that must consume the whole token.
fn strtoull_hex_whole(tok: &[u8]) -> Option<u64> {
    let (neg, mut s) = match tok.trim_ascii_start() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        s => (false, s),
    };
    if s.len() > 2 && s[0] == b'0' && (s[1] | 0x20) == b'x' && s[2].is_ascii_hexdigit() {
        s = &s[2..];
    }
    if s.is_empty() || !s.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    // Only hex digits are left: the one error is an overflow, ULLONG_MAX.
    let v = std::str::from_utf8(s)
        .ok()
        .and_then(|s| u64::from_str_radix(s, 16).ok());
    Some(v.map_or(u64::MAX, |v| if neg { v.wrapping_neg() } else { v }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_map_lines() {
        let map = b"ffff r __ksymtab_printk\nffff T other\nno-spaces-here\nffff r __ksymtab_kfree";
        let (syms, diags) = parse_system_map(map, "/S", None);
        let names: Vec<_> = syms.iter().map(|s| s.name.as_slice()).collect();
        assert_eq!(names, vec![&b"printk"[..], b"kfree"]);
        assert_eq!(diags[0].text, "/S:3: invalid line: no-spaces-here\n");
    }

    #[test]
    fn symvers_lines() {
        let sv = b"0x1234\tfoo\tvmlinux\tEXPORT_SYMBOL\t\n0xZZZZ\tbad\tvmlinux\tX\n\
                   0x1\tshort\n0x2\tmodsym\tdrivers/x\tEXPORT_SYMBOL\n0x3\tnl\tvmlinux\n";
        let (syms, diags) = parse_module_symvers(sv, "/M", None, "No such file or directory");
        assert_eq!(
            syms,
            vec![KernelSymbol {
                name: b"foo".to_vec(),
                crc: 0x1234
            }]
        );
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].text,
            "/M:2 Invalid symbol version 0xZZZZ: No such file or directory"
        );
    }
}
