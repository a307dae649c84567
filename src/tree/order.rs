//! `modules.order` (spec §4.2) and the resulting module array order.

use crate::kmod::{Diagnostic, KmodVersion};
use crate::kmod_hash::{iteration_key, MODULE_BUCKETS};

/// Splits `data` the way repeated `fgets` calls with a `size`-byte buffer
/// see it, each chunk cut at its first NUL as `strlen` would.
pub fn fgets_lines(data: &[u8], size: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        // fgets reads at most size - 1 bytes; a buffer of fewer than two
        // bytes would never advance (or underflow), so one byte is the least.
        let max = rest.len().min(size.max(2) - 1);
        let end = rest[..max]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(max, |p| p + 1);
        out.push(rest[..end].split(|&b| b == 0).next().unwrap_or_default());
        rest = &rest[end..];
    }
    out
}

/// The lines of a `modules.order` file without their newlines, or the
/// error kmod prints when a line lacks its `\n` (the whole file is then
/// ignored). `file` is the path as kmod prints it.
pub fn parse<'a>(data: &'a [u8], file: &str) -> Result<Vec<&'a [u8]>, Diagnostic> {
    fgets_lines(data, 4096)
        .into_iter()
        .enumerate()
        .map(|(i, line)| match line.strip_suffix(b"\n") {
            Some(l) => Ok(l),
            None if line.is_empty() => Ok(line),
            None => Err(Diagnostic::error(format!(
                "{file}:{} corrupted line misses '\\n'",
                i + 1
            ))),
        })
        .collect()
}

/// Computes the module array (§4): indexes into `names` in kmod's order.
/// `uncrelpaths[i]` is module i's `uncrelpath`; `order` the parsed
/// `modules.order` lines (None when missing or corrupted). A line listed
/// twice counts where kmod 34 counts it, at its first occurrence, or for
/// kmod 30–33 at its last.
pub fn array_order(
    names: &[&str],
    uncrelpaths: &[Option<&str>],
    order: Option<&[&[u8]]>,
    kmod: KmodVersion,
) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..names.len()).collect();
    idx.sort_by_cached_key(|&i| iteration_key(names[i].as_bytes(), MODULE_BUCKETS));
    let Some(lines) = order else { return idx };
    let by_path: rustc_hash::FxHashMap<&[u8], usize> = uncrelpaths
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (p.as_bytes(), i)))
        .collect();
    // kmod: matched modules get `lineno - total` (negative), others 1.
    let total = lines.len() as i64 + 1;
    let mut key = vec![1i64; names.len()];
    for (n, line) in lines.iter().enumerate() {
        if let Some(&m) = by_path.get(line) {
            if kmod == KmodVersion::V30 || key[m] == 1 {
                key[m] = n as i64 + 1 - total;
            }
        }
    }
    idx.sort_by_key(|&i| key[i]); // stable, like glibc's qsort (merge sort)
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_newline_is_an_error() {
        let e = parse(b"a.ko\nb.ko", "/m/modules.order").unwrap_err();
        assert_eq!(e.text, "/m/modules.order:2 corrupted line misses '\\n'");
        assert_eq!(parse(b"a.ko\n\nb.ko\n", "x").unwrap().len(), 3);
    }

    #[test]
    fn listed_first_then_hash_order_and_duplicates() {
        let names = ["a", "b", "c"];
        let paths = [Some("k/a.ko"), Some("k/b.ko"), Some("k/c.ko")];
        let lines: Vec<&[u8]> = vec![b"k/c.ko", b"k/b.ko", b"k/c.ko"];
        // Hash order of a, b, c: buckets 0x115ea782&511=386, b, c.
        let first = array_order(&names, &paths, Some(&lines), KmodVersion::V34);
        assert_eq!(first[..2], [2, 1]);
        let last = array_order(&names, &paths, Some(&lines), KmodVersion::V30);
        assert_eq!(last[..2], [1, 2]);
        assert_eq!(first[2], 0);
    }
}
