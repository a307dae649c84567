//! Text rendering of an index (for `kmodtree dump` and audit diffs) and
//! layout detection.

use super::read::{Index, IndexError};
use super::{Layout, HEADER_LEN, OFFSET_MASK};

/// One line per entry, in trie order: `KEY\tVALUE\tPRIORITY\n`. Keys and
/// values are written as raw bytes (7-bit in any index kmod 34 writes; a key
/// or value containing a tab or newline makes the line ambiguous, which kmod
/// itself never produces except for a `modules.builtin` line without `.`).
pub fn dump_lines(index: &Index<'_>) -> Result<Vec<u8>, IndexError> {
    let mut out = Vec::new();
    index.for_each_entry(|key, value, priority| {
        let priority = priority.to_string();
        for part in [key, b"\t", value, b"\t", priority.as_bytes(), b"\n"] {
            out.extend_from_slice(part);
        }
    })?;
    Ok(out)
}

/// Which layout wrote `data`: the pre-order layout puts the root right after
/// the header (offset 12), the post-order layout puts it last in the file.
///
/// `None` when `data` is not a readable index, or when both layouts give the
/// same bytes (root at offset 12 *and* last — the empty index, or an index
/// whose only node is the root), or when neither rule holds.
pub fn detect_layout(data: &[u8]) -> Option<Layout> {
    let index = Index::parse(data).ok()?;
    let root = index.root_reference();
    let root_end = index.node(root, 8).ok()??.end;
    let root_offset = (root & OFFSET_MASK) as usize;
    match (root_offset == HEADER_LEN, root_end == data.len()) {
        (true, false) => Some(Layout::PreOrder),
        (false, true) => Some(Layout::PostOrder),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexBuilder;

    #[test]
    fn dump_and_layout() {
        let mut b = IndexBuilder::new();
        b.insert(b"ab", b"x", 3);
        b.insert(b"ab", b"w", 1);
        b.insert(b"b", b"z", 0);
        let pre = b.try_to_bytes(Layout::PreOrder).unwrap();
        let post = b.try_to_bytes(Layout::PostOrder).unwrap();
        let want = b"ab\tw\t1\nab\tx\t3\nb\tz\t0\n";
        assert_eq!(dump_lines(&Index::parse(&pre).unwrap()).unwrap(), want);
        assert_eq!(dump_lines(&Index::parse(&post).unwrap()).unwrap(), want);
        assert_eq!(detect_layout(&pre), Some(Layout::PreOrder));
        assert_eq!(detect_layout(&post), Some(Layout::PostOrder));

        let empty = IndexBuilder::new().try_to_bytes(Layout::PreOrder).unwrap();
        assert_eq!(detect_layout(&empty), None);
        assert_eq!(dump_lines(&Index::parse(&empty).unwrap()).unwrap(), b"");
        assert_eq!(detect_layout(b""), None);
        assert_eq!(detect_layout(b"not an index at all"), None);

        let mut root_only = IndexBuilder::new();
        root_only.insert(b"", b"v", 0);
        assert_eq!(
            detect_layout(&root_only.try_to_bytes(Layout::PreOrder).unwrap()),
            None
        );
    }
}
