//! Every `.bin` kmod wrote for the fixtures: read it, rebuild it from its
//! entries, write it in the layout of the kmod version that made it, and
//! compare bytes.

use crate::common;

use std::path::Path;

use common::{files_with_suffix, read_fixture};

use kmodtree::index::{detect_layout, dump_lines, Index, IndexBuilder, IndexError, Layout};

/// The layout kmod wrote `path` with, from the `kmod34`/`kmod30` component.
fn layout_of(path: &Path) -> Layout {
    let kmod = path
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .find(|c| *c == "kmod34" || *c == "kmod30")
        .unwrap_or_else(|| panic!("no kmod version in {}", path.display()));
    if kmod == "kmod34" {
        Layout::PreOrder
    } else {
        Layout::PostOrder
    }
}

/// Rebuilds an index from its entries. Within a node the stored order is the
/// §9.4 order (ascending priority, newest first among equals); inserting the
/// values of each key in *reverse* stored order puts every new value before
/// all existing ones (their priorities are ≥ its own), which reproduces the
/// stored order exactly. Keys are independent, so reversing the whole list
/// is enough.
fn rebuild(index: &Index<'_>) -> IndexBuilder {
    let mut b = IndexBuilder::new();
    for e in index.entries().unwrap().iter().rev() {
        b.insert(&e.key, &e.value, e.priority);
    }
    b
}

#[test]
fn rebuild_every_fixture_index_byte_for_byte() {
    let root = common::fixtures_dir();
    let mut files = Vec::new();
    files_with_suffix(&root.join("expected"), ".bin", &mut files);
    files_with_suffix(&root.join("edge"), ".bin", &mut files);
    assert!(
        files.len() > 100,
        "expected the fixture indexes under {} (set KMODTREE_FIXTURES)",
        root.display()
    );
    let (mut checked, mut skipped, mut entries) = (0, 0, 0);
    // Adjacent distinct values with equal priority under one key: only these
    // make the re-insertion order matter (the fixtures have none; see
    // index_kmod.rs for such an index made by kmod).
    let mut equal_priority_pairs = 0;
    let mut seen_layouts = [0usize; 2];
    for path in &files {
        let data = read_fixture(path);
        if data.is_empty() {
            // A missing builtin input makes depmod write a 0-byte file.
            assert_eq!(Index::parse(&data).unwrap_err(), IndexError::Empty);
            skipped += 1;
            continue;
        }
        let index = Index::parse(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let layout = layout_of(path);
        let rebuilt = rebuild(&index).try_to_bytes(layout).unwrap();
        assert!(rebuilt == data, "{}: rebuilt index differs", path.display());

        // The other layout holds the same entries, in the same order.
        let other = match layout {
            Layout::PreOrder => Layout::PostOrder,
            Layout::PostOrder => Layout::PreOrder,
        };
        let flipped = rebuild(&index).try_to_bytes(other).unwrap();
        assert_eq!(flipped.len(), data.len());
        assert_eq!(
            dump_lines(&Index::parse(&flipped).unwrap()).unwrap(),
            dump_lines(&index).unwrap(),
            "{}",
            path.display()
        );
        match detect_layout(&data) {
            Some(l) => {
                assert_eq!(l, layout, "{}", path.display());
                seen_layouts[usize::from(l == Layout::PostOrder)] += 1;
            }
            // Layout-independent: empty, or the root is the only node.
            None => assert_eq!(flipped, data, "{}", path.display()),
        }
        let all = index.entries().unwrap();
        equal_priority_pairs += all
            .windows(2)
            .filter(|w| {
                w[0].key == w[1].key && w[0].priority == w[1].priority && w[0].value != w[1].value
            })
            .count();
        entries += all.len();
        checked += 1;
    }
    eprintln!(
        "{checked} indexes ({entries} entries, {equal_priority_pairs} equal-priority value \
         pairs) rebuilt, {skipped} 0-byte files skipped"
    );
    assert!(
        seen_layouts[0] > 20 && seen_layouts[1] > 20,
        "{seen_layouts:?}"
    );
}

/// The text databases and the binary ones agree: `modules.dep.bin` holds
/// each `modules.dep` line under the module's name; `modules.symbols.bin`
/// and `modules.alias.bin` hold the text files' entries.
#[test]
fn dep_bin_matches_text_for_every_module() {
    let root = common::fixtures_dir();
    let mut checked = 0;
    for kmod in ["kmod34", "kmod30"] {
        let dir = root.join("expected").join(kmod);
        let Ok(trees) = std::fs::read_dir(&dir) else {
            continue;
        };
        for tree in trees {
            let plain = tree.unwrap().path().join("plain");
            if !plain.join("modules.dep").exists() {
                continue;
            }
            let text = read_fixture(&plain.join("modules.dep"));
            let bin = read_fixture(&plain.join("modules.dep.bin"));
            let index = Index::parse(&bin).unwrap();
            let lines: Vec<&[u8]> = text
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            assert_eq!(index.entries().unwrap().len(), lines.len());
            for line in lines {
                let colon = line.iter().position(|&b| b == b':').unwrap();
                let path = &line[..colon];
                let file = path.rsplit(|&b| b == b'/').next().unwrap();
                let stem = &file[..file.iter().position(|&b| b == b'.').unwrap()];
                let name: Vec<u8> = stem
                    .iter()
                    .map(|&b| if b == b'-' { b'_' } else { b })
                    .collect();
                let found = index.lookup_exact(&name).unwrap();
                assert_eq!(
                    found.len(),
                    1,
                    "{}: {}",
                    plain.display(),
                    String::from_utf8_lossy(&name)
                );
                assert_eq!(found[0].value, line, "{}", plain.display());
                checked += 1;
            }
            assert!(index.lookup_exact(b"no_such_module").unwrap().is_empty());
        }
    }
    assert!(checked > 1000, "only {checked} modules checked");
}
