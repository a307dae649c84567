//! The worked examples of spec §9.8 (bytes made by real kmod), both layouts.

use kmodtree::index::{detect_layout, Index, IndexBuilder, IndexError, IndexValue, Layout};

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

fn example1() -> IndexBuilder {
    let mut b = IndexBuilder::new();
    b.insert(b"ab", b"x", 0);
    b.insert(b"ac", b"y", 0);
    b.insert(b"b", b"z", 0);
    b
}

fn example2() -> IndexBuilder {
    let mut b = IndexBuilder::new();
    b.insert(b"usb:a", b"m1", 0);
    b.insert(b"usb:b", b"m2", 0);
    b.insert(b"pci", b"m3", 0);
    b
}

const EX1_PRE: &str = "b0 07 f4 57 00 02 00 01 20 00 00 0c
    61 62 20 00 00 16 40 00 00 34
    62 63 40 00 00 20 40 00 00 2a
    00 00 00 01 00 00 00 00 78 00
    00 00 00 01 00 00 00 00 79 00
    00 00 00 01 00 00 00 00 7a 00";

const EX1_POST: &str = "b0 07 f4 57 00 02 00 01 20 00 00 34
    00 00 00 01 00 00 00 00 78 00
    00 00 00 01 00 00 00 00 79 00
    62 63 40 00 00 0c 40 00 00 16
    00 00 00 01 00 00 00 00 7a 00
    61 62 20 00 00 20 40 00 00 2a";

const EX2_PRE: &str = "b0 07 f4 57 00 02 00 01 20 00 00 0c
    70 75 c0 00 00 26 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 a0 00 00 34
    63 69 00 00 00 00 01 00 00 00 00 6d 33 00
    73 62 3a 00 61 62 40 00 00 42 40 00 00 4d
    00 00 00 01 00 00 00 00 6d 31 00
    00 00 00 01 00 00 00 00 6d 32 00";

// Spelled out from the spec's summary: header with root @62 (0x3e), "ci\0" 1 0
// "m3\0" @12, 1 0 "m1\0" @26, 1 0 "m2\0" @37, "sb:\0" 61 62 4000001a 40000025
// @48, 70 75 c000000c 0 0 0 0 a0000030 @62.
const EX2_POST: &str = "b0 07 f4 57 00 02 00 01 20 00 00 3e
    63 69 00 00 00 00 01 00 00 00 00 6d 33 00
    00 00 00 01 00 00 00 00 6d 31 00
    00 00 00 01 00 00 00 00 6d 32 00
    73 62 3a 00 61 62 40 00 00 1a 40 00 00 25
    70 75 c0 00 00 0c 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 a0 00 00 30";

#[test]
fn example1_pre_order() {
    let bytes = example1().try_to_bytes(Layout::PreOrder).unwrap();
    assert_eq!(bytes.len(), 62);
    assert_eq!(bytes, hex(EX1_PRE));
    assert_eq!(detect_layout(&bytes), Some(Layout::PreOrder));
}

#[test]
fn example1_post_order() {
    let bytes = example1().try_to_bytes(Layout::PostOrder).unwrap();
    assert_eq!(bytes.len(), 62);
    assert_eq!(bytes, hex(EX1_POST));
    assert_eq!(detect_layout(&bytes), Some(Layout::PostOrder));
}

#[test]
fn example2_pre_order() {
    let bytes = example2().try_to_bytes(Layout::PreOrder).unwrap();
    assert_eq!(bytes.len(), 88);
    assert_eq!(bytes, hex(EX2_PRE));
}

#[test]
fn example2_post_order() {
    let bytes = example2().try_to_bytes(Layout::PostOrder).unwrap();
    assert_eq!(bytes.len(), 88);
    assert_eq!(bytes, hex(EX2_POST));
}

#[test]
fn examples_read_back_from_both_layouts() {
    for text in [EX1_PRE, EX1_POST] {
        let bytes = hex(text);
        let index = Index::parse(&bytes).unwrap();
        let got: Vec<(Vec<u8>, Vec<u8>, u32)> = index
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| (e.key, e.value, e.priority))
            .collect();
        let want = vec![
            (b"ab".to_vec(), b"x".to_vec(), 0),
            (b"ac".to_vec(), b"y".to_vec(), 0),
            (b"b".to_vec(), b"z".to_vec(), 0),
        ];
        assert_eq!(got, want);
        assert_eq!(
            index.lookup_exact(b"ac").unwrap(),
            vec![IndexValue {
                priority: 0,
                value: b"y".to_vec()
            }]
        );
        assert!(index.lookup_exact(b"a").unwrap().is_empty());
        assert!(index.lookup_exact(b"abc").unwrap().is_empty());
        assert!(index.lookup_exact(b"").unwrap().is_empty());
    }
    for text in [EX2_PRE, EX2_POST] {
        let bytes = hex(text);
        let index = Index::parse(&bytes).unwrap();
        let keys: Vec<Vec<u8>> = index
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(
            keys,
            vec![b"pci".to_vec(), b"usb:a".to_vec(), b"usb:b".to_vec()]
        );
        assert_eq!(index.lookup_exact(b"usb:b").unwrap()[0].value, b"m2");
        assert!(index.lookup_exact(b"usb:").unwrap().is_empty());
        assert!(index.lookup_exact(b"pc").unwrap().is_empty());
    }
}

#[test]
fn empty_index() {
    let want = hex("b0 07 f4 57 00 02 00 01 00 00 00 0c");
    assert_eq!(
        IndexBuilder::new().try_to_bytes(Layout::PreOrder).unwrap(),
        want
    );
    assert_eq!(
        IndexBuilder::new().try_to_bytes(Layout::PostOrder).unwrap(),
        want
    );
    let index = Index::parse(&want).unwrap();
    assert!(index.entries().unwrap().is_empty());
    assert!(index.lookup_exact(b"").unwrap().is_empty());
    assert!(index.lookup_wildcard(b"x").unwrap().is_empty());
}

#[test]
fn header_errors() {
    assert_eq!(Index::parse(b"").unwrap_err(), IndexError::Empty);
    assert_eq!(
        Index::parse(&hex("b0 07 f4 57 00 02")).unwrap_err(),
        IndexError::TruncatedHeader { len: 6 }
    );
    assert_eq!(
        Index::parse(&hex("b0 07 fa 57 00 02 00 01 00 00 00 0c")).unwrap_err(),
        IndexError::BadMagic { found: 0xb007fa57 }
    );
    assert_eq!(
        Index::parse(&hex("b0 07 f4 57 00 03 00 01 00 00 00 0c")).unwrap_err(),
        IndexError::UnsupportedVersion {
            version: 0x00030001
        }
    );
    // Only the major version is checked.
    assert!(Index::parse(&hex("b0 07 f4 57 00 02 00 07 00 00 00 0c")).is_ok());
}
