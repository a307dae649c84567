//! The reader on hostile bytes: never panics, always terminates, refuses
//! loops and out-of-range references with the right error.

use crate::common;

use common::read_fixture;
use kmodtree::index::{detect_layout, dump_lines, Index, IndexBuilder, IndexError, Layout};
use proptest::prelude::*;

const PREFIX: u32 = 0x8000_0000;
const VALUES: u32 = 0x4000_0000;
const CHILDS: u32 = 0x2000_0000;

fn header(root: u32) -> Vec<u8> {
    let mut v = vec![0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1];
    v.extend_from_slice(&root.to_be_bytes());
    v
}

/// Runs every read operation; only errors are allowed, no panics.
fn exercise(data: &[u8]) {
    let _ = detect_layout(data);
    let Ok(index) = Index::parse(data) else {
        return;
    };
    let entries = index.entries();
    let _ = dump_lines(&index);
    for q in [
        &b""[..],
        b"a",
        b"pci:v00008086d000015B8sv0sd0bc02sc00i00",
        b"*",
        b"usb:v1p2",
    ] {
        let _ = index.lookup_exact(q);
        let _ = index.lookup_wildcard(q);
    }
    // Every listed key can be found again.
    if let Ok(entries) = entries {
        for e in entries.iter().take(50) {
            let found = index.lookup_exact(&e.key);
            if !e.key.contains(&0) {
                assert!(found.unwrap().iter().any(|v| v.value == e.value));
            }
        }
    }
}

#[test]
fn reference_loop_is_refused() {
    // Root @12: children 'a'..'a', child 'a' -> @12 again.
    let mut data = header(12 | CHILDS);
    data.extend_from_slice(b"aa");
    data.extend_from_slice(&(12 | CHILDS).to_be_bytes());
    let index = Index::parse(&data).unwrap();
    assert_eq!(
        index.entries().unwrap_err(),
        IndexError::ReferenceLoop { offset: 12 }
    );
    assert_eq!(
        dump_lines(&index).unwrap_err(),
        IndexError::ReferenceLoop { offset: 12 }
    );
    // An exact lookup follows the key, so it ends without noticing.
    assert!(index.lookup_exact(b"aaaaaaaa").unwrap().is_empty());

    // A '*' child pointing back at the root: the wildcard walk sees the loop.
    let mut data = header(12 | CHILDS);
    data.extend_from_slice(b"**");
    data.extend_from_slice(&(12 | CHILDS).to_be_bytes());
    let index = Index::parse(&data).unwrap();
    assert_eq!(
        index.lookup_wildcard(b"x").unwrap_err(),
        IndexError::ReferenceLoop { offset: 12 }
    );

    // A two-node cycle below the root.
    let mut data = header(12 | CHILDS);
    data.extend_from_slice(b"aa");
    data.extend_from_slice(&(18 | CHILDS).to_be_bytes()); // @12: 'a' -> @18
    data.extend_from_slice(b"bb");
    data.extend_from_slice(&(24 | CHILDS).to_be_bytes()); // @18: 'b' -> @24
    data.extend_from_slice(b"cc");
    data.extend_from_slice(&(18 | CHILDS).to_be_bytes()); // @24: 'c' -> @18
    let index = Index::parse(&data).unwrap();
    assert_eq!(
        index.entries().unwrap_err(),
        IndexError::ReferenceLoop { offset: 18 }
    );
}

#[test]
fn malformed_nodes_give_precise_errors() {
    // Root reference beyond the end of the file.
    let data = header(1000 | VALUES);
    let index = Index::parse(&data).unwrap();
    assert_eq!(
        index.entries().unwrap_err(),
        IndexError::OffsetOutOfRange {
            at: 8,
            reference: 1000 | VALUES,
            target: 1000,
            len: 12
        }
    );
    assert!(matches!(
        index.lookup_exact(b"x"),
        Err(IndexError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        index.lookup_wildcard(b"x"),
        Err(IndexError::OffsetOutOfRange { .. })
    ));

    // A child reference beyond the end, read at offset 14.
    let mut data = header(12 | CHILDS);
    data.extend_from_slice(b"aa");
    data.extend_from_slice(&(0x0fff_ffff | VALUES).to_be_bytes());
    assert_eq!(
        Index::parse(&data).unwrap().entries().unwrap_err(),
        IndexError::OffsetOutOfRange {
            at: 14,
            reference: 0x0fff_ffff | VALUES,
            target: 0x0fff_ffff,
            len: 18
        }
    );

    // Prefix without NUL.
    let mut data = header(12 | PREFIX);
    data.extend_from_slice(b"abc");
    assert_eq!(
        Index::parse(&data).unwrap().entries().unwrap_err(),
        IndexError::UnterminatedString { offset: 12 }
    );

    // Value without NUL.
    let mut data = header(12 | VALUES);
    data.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 7, b'm']);
    assert_eq!(
        Index::parse(&data).unwrap().entries().unwrap_err(),
        IndexError::UnterminatedString { offset: 20 }
    );

    // Value count larger than the file holds.
    let mut data = header(12 | VALUES);
    data.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 7, b'm', 0]);
    assert_eq!(
        Index::parse(&data).unwrap().entries().unwrap_err(),
        IndexError::TruncatedNode {
            offset: 12,
            field: "value priority"
        }
    );

    // Child table cut short.
    let mut data = header(12 | CHILDS);
    data.extend_from_slice(&[b'a', b'z', 0, 0]);
    assert_eq!(
        Index::parse(&data).unwrap().entries().unwrap_err(),
        IndexError::TruncatedNode {
            offset: 12,
            field: "child table"
        }
    );

    // last < first.
    let mut data = header(12 | CHILDS);
    data.extend_from_slice(&[b'z', b'a', 0, 0, 0, 0]);
    assert_eq!(
        Index::parse(&data).unwrap().entries().unwrap_err(),
        IndexError::BadChildRange {
            offset: 12,
            first: b'z',
            last: b'a'
        }
    );

    // Error messages carry the offset.
    let msg = IndexError::ReferenceLoop { offset: 42 }.to_string();
    assert!(msg.contains("42"), "{msg}");
}

#[test]
fn deep_chain_has_key_cap_and_no_stack_overflow() {
    // 20000 nodes, each "a"-child of the previous: keys grow to 20000 bytes.
    let n = 20_000u32;
    let mut data = header(12 | CHILDS);
    for k in 0..n {
        let next = 12 + 6 * (k + 1);
        data.extend_from_slice(b"aa");
        let r = if k + 1 == n { 0 } else { next | CHILDS };
        data.extend_from_slice(&r.to_be_bytes());
    }
    let index = Index::parse(&data).unwrap();
    assert!(index.entries().unwrap().is_empty());
    assert!(index
        .lookup_wildcard(&vec![b'a'; 30_000])
        .unwrap()
        .is_empty());

    // Long prefixes push keys over the cap: refused, not exhausted.
    let mut data = header(12 | PREFIX | CHILDS);
    let mut at = 12u32;
    for _ in 0..3 {
        let next = at + 40_001 + 6;
        data.extend(std::iter::repeat_n(b'x', 40_000));
        data.push(0);
        data.extend_from_slice(b"aa");
        data.extend_from_slice(&(next | PREFIX | CHILDS).to_be_bytes());
        at = next;
    }
    data.extend(std::iter::repeat_n(b'x', 10));
    data.push(0);
    data.extend_from_slice(b"aa");
    data.extend_from_slice(&0u32.to_be_bytes());
    let index = Index::parse(&data).unwrap();
    assert!(matches!(
        index.entries(),
        Err(IndexError::KeyTooLong { .. })
    ));
}

#[test]
fn deep_trie_from_builder() {
    let mut b = IndexBuilder::new();
    for len in 1..=3000 {
        b.insert(&vec![b'a'; len], format!("v{len}").as_bytes(), 0);
    }
    for layout in [Layout::PreOrder, Layout::PostOrder] {
        let data = b.try_to_bytes(layout).unwrap();
        let index = Index::parse(&data).unwrap();
        let entries = index.entries().unwrap();
        assert_eq!(entries.len(), 3000);
        assert_eq!(entries[2999].key.len(), 3000);
        assert_eq!(
            index.lookup_exact(&[b'a'; 1234]).unwrap()[0].value,
            b"v1234"
        );
        assert_eq!(index.lookup_wildcard(&[b'a'; 77]).unwrap()[0].value, b"v77");
    }
}

/// Small real indexes, to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let edge = common::fixtures_dir().join("edge");
    [
        "hash-order/expected/kmod34/plain/modules.dep.bin",
        "hash-order/expected/kmod30/plain/modules.alias.bin",
        "devname/expected/kmod34/plain/modules.alias.bin",
        "builtin-odd/expected/kmod34/plain/modules.builtin.bin",
        "crc/expected/kmod30/plain/modules.symbols.bin",
    ]
    .iter()
    .map(|p| read_fixture(&edge.join(p)))
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400),
                                   root in any::<u32>(), with_header in any::<bool>()) {
        let data = if with_header {
            // Keep the root offset inside (or just past) the file half the time.
            let root = if root & 1 == 0 { (root & 0xf000_0000) | (12 + root % 64) } else { root };
            let mut d = header(root);
            d.extend_from_slice(&body);
            d
        } else {
            body
        };
        exercise(&data);
    }

    #[test]
    fn mutated_real_indexes_never_panic(seed in 0usize..5,
                                        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
                                        cut in any::<Option<usize>>()) {
        let mut data = seeds()[seed].clone();
        for (pos, byte) in edits {
            let n = data.len();
            data[pos % n] = byte;
        }
        if let Some(cut) = cut {
            let n = data.len();
            data.truncate(cut % (n + 1));
        }
        exercise(&data);
    }
}
