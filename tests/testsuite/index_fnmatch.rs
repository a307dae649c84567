//! Our `fnmatch` against the C library's `fnmatch(pattern, string, 0)` —
//! what libkmod calls — on random patterns built from the special
//! characters, plus bounded running time on pathological patterns.

use std::ffi::{c_char, c_int, CString};

use kmodtree::index::fnmatch;
use proptest::prelude::*;

extern "C" {
    #[link_name = "fnmatch"]
    fn libc_fnmatch(pattern: *const c_char, string: *const c_char, flags: c_int) -> c_int;
}

fn system(pattern: &[u8], string: &[u8]) -> bool {
    let p = CString::new(pattern).unwrap();
    let s = CString::new(string).unwrap();
    // SAFETY: both are valid NUL-terminated strings; fnmatch only reads them.
    unsafe { libc_fnmatch(p.as_ptr(), s.as_ptr(), 0) == 0 }
}

/// Pattern pieces: ordinary bytes, every special character, and class
/// forms (valid and broken). Equivalence (`[=x=]`) and collating (`[.x.]`)
/// forms are left out: glibc's handling of their malformed variants is
/// intricate, and no kmod alias uses them (see `fnmatch.rs`).
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::sample::select(b"ab-_]:!^*?[\\z0".to_vec()).prop_map(|c| vec![c]),
        1 => proptest::sample::select(vec![
            &b"[:alpha:]"[..], b"[:digit:]", b"[:punct:]", b"[:upper:]", b"[:space:]",
            b"[:nope:]", b"[:", b"[:a", b"[:z:]", b"[::]",
        ]).prop_map(<[u8]>::to_vec),
    ]
}

fn pattern() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(piece(), 0..10).prop_map(|v| v.concat())
}

fn string() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        proptest::sample::select(b"ab-_]:!^*?[\\.=z0 ".to_vec()),
        0..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_libc(p in pattern(), s in string()) {
        prop_assert_eq!(fnmatch(&p, &s), system(&p, &s),
            "pattern {:?} string {:?}", String::from_utf8_lossy(&p), String::from_utf8_lossy(&s));
    }

    /// Strings made to match: a pattern's literal bytes with `*` filled in.
    #[test]
    fn agrees_with_libc_on_near_matches(p in pattern(), fill in string()) {
        let s: Vec<u8> = p.iter().flat_map(|&c| match c {
            b'*' => fill.clone(),
            b'?' => vec![b'a'],
            c => vec![c],
        }).collect();
        prop_assert_eq!(fnmatch(&p, &s), system(&p, &s),
            "pattern {:?} string {:?}", String::from_utf8_lossy(&p), String::from_utf8_lossy(&s));
    }
}

#[test]
fn pathological_patterns_are_fast() {
    let s = vec![b'a'; 20_000];
    let p = b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
    let t = std::time::Instant::now();
    assert!(!fnmatch(p, &s));
    let mut p2 = b"*".repeat(200);
    p2.push(b'b');
    assert!(!fnmatch(&p2, &s));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}
