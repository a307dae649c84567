//! `.modinfo` parsing (spec §5.3).
//!
//! Leading NULs are skipped; if at most one byte remains there are no
//! entries. Entries are the strings separated by runs of NULs (a missing
//! final NUL is tolerated). Each splits at its first `=`; without `=` the
//! whole entry is the key and the value is empty. Order and repeats are
//! kept.

use super::ModinfoEntry;

/// Splits the strings of a `.modinfo` section into entries.
pub fn parse(section: &[u8]) -> Vec<ModinfoEntry> {
    strings(section)
        .map(|s| {
            let (key, value) = split_entry(s);
            ModinfoEntry {
                key: key.to_vec(),
                value: value.to_vec(),
            }
        })
        .collect()
}

/// An entry's key and value: split at its first `=`; without `=` the whole
/// entry is the key and the value is empty (kmod's `kmod_module_get_info`).
pub fn split_entry(entry: &[u8]) -> (&[u8], &[u8]) {
    match entry.iter().position(|&b| b == b'=') {
        Some(eq) => (&entry[..eq], &entry[eq + 1..]),
        None => (entry, &[]),
    }
}

/// The NUL-separated strings of a section, kmod's `kmod_elf_get_strings`:
/// none if at most one byte remains after the leading NULs.
pub fn strings(section: &[u8]) -> impl Iterator<Item = &[u8]> {
    strings_area(section)
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
}

/// What [`strings`] splits: the section after its leading NULs, empty if
/// at most one byte remains.
pub(super) fn strings_area(section: &[u8]) -> &[u8] {
    let start = section.iter().position(|&b| b != 0);
    let rest = start.map_or(&[][..], |start| &section[start..]);
    Some(rest).filter(|r| r.len() > 1).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(entries: &[ModinfoEntry]) -> Vec<(String, String)> {
        entries
            .iter()
            .map(|e| {
                (
                    String::from_utf8_lossy(&e.key).into_owned(),
                    String::from_utf8_lossy(&e.value).into_owned(),
                )
            })
            .collect()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn splits_like_kmod() {
        assert!(parse(b"").is_empty());
        assert!(parse(b"\0\0\0").is_empty());
        assert!(parse(b"\0\0x").is_empty(), "one byte left");
        assert!(parse(b"x").is_empty(), "one byte");
        assert_eq!(kv(&parse(b"ab")), vec![p("ab", "")]);
        assert_eq!(
            kv(&parse(b"\0\0a=1\0\0\0b=x=y\0noeq\0a=2")),
            vec![p("a", "1"), p("b", "x=y"), p("noeq", ""), p("a", "2")]
        );
        assert_eq!(kv(&parse(b"=v\0k=\0")), vec![p("", "v"), p("k", "")]);
    }
}
