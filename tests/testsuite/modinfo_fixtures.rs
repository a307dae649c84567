//! `modinfo` output against kmod 34's, byte for byte, for every module file
//! of every fixture tree: the full text and `-F FIELD` for the five fields
//! the fixtures hold (`expected/kmod34/NAME/modinfo*.txt`).
//!
//! The gz tree's references come from a kmod built without OpenSSL, which
//! prints PKCS#7 signatures as `signer:`/`sig_key:`/`signature:` empty and
//! `sig_hashalgo: unknown`. kmodtree always decodes the signature, so for
//! that tree the test replaces the decoded signature by exactly what such a
//! build shows (id kept, other fields emptied, hash `unknown`) before
//! rendering, and separately checks the un-normalised output against the
//! zst tree's references (same modules, OpenSSL build).

use crate::common;

use kmodtree::modinfo::{render, Options};
use kmodtree::module::{read_module_file, Limits, ModuleMeta, SignatureInfo};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

const FIELDS: [&str; 5] = ["alias", "depends", "softdep", "firmware", "vermagic"];

/// `==> RELPATH <==` sections of a reference file.
fn sections(text: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, Vec<u8>)> = None;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"==> ") && line.ends_with(b" <==\n") {
            if let Some((k, v)) = current.take() {
                out.insert(k, v);
            }
            let name = &line[4..line.len() - 5];
            current = Some((String::from_utf8(name.to_vec()).unwrap(), Vec::new()));
        } else if let Some((_, v)) = current.as_mut() {
            v.extend_from_slice(line);
        } else {
            panic!("text before the first header");
        }
    }
    if let Some((k, v)) = current {
        out.insert(k, v);
    }
    out
}

fn no_openssl(meta: &mut ModuleMeta) {
    if let Some(sig) = &meta.signature {
        if sig.id == "PKCS#7" {
            meta.signature = Some(SignatureInfo {
                id: sig.id.clone(),
                signer: Vec::new(),
                key_id: Vec::new(),
                hash_algo: "unknown".to_string(),
                signature: Vec::new(),
            });
        }
    }
}

/// What `modinfo [-F field]` prints for one module (stderr first: kmod's
/// stdout goes to a file, fully buffered, so errors come out first).
fn run(path: &Path, shown: &str, field: Option<&str>, normalise_sig: bool) -> Vec<u8> {
    let utf8 = camino::Utf8Path::from_path(path).unwrap();
    let mut result = read_module_file(utf8, &Limits::default());
    if normalise_sig {
        if let Ok(meta) = result.as_mut() {
            no_openssl(meta);
        }
    }
    let opts = Options {
        field,
        ..Options::default()
    };
    let out = render(shown, result.as_ref(), &opts);
    let mut all = out.stderr;
    all.extend_from_slice(&out.stdout);
    all
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Compares every module of tree `name` with the references of tree
/// `expected_name` (normally the same), mapping file suffixes if needed.
fn check_tree(
    name: &str,
    expected_name: &str,
    normalise_sig: bool,
    map_suffix: Option<(&str, &str)>,
) {
    let fixtures = common::fixtures_dir();
    let tree = common::fixture_trees()
        .into_iter()
        .find(|t| t.0 == name)
        .unwrap_or_else(|| panic!("no fixture tree {name} in {}", fixtures.display()));
    let (_, _, moddir, version) = tree;
    let files = common::module_files(&moddir);
    assert!(!files.is_empty(), "no modules in {}", moddir.display());
    let exp_dir = fixtures.join("expected/kmod34").join(expected_name);

    let variants: Vec<(String, Option<&str>)> = std::iter::once(("modinfo.txt".to_string(), None))
        .chain(
            FIELDS
                .iter()
                .map(|f| (format!("modinfo-{f}.txt"), Some(*f))),
        )
        .collect();
    for (file, field) in variants {
        let expected = sections(&std::fs::read(exp_dir.join(&file)).unwrap());
        let expected: BTreeMap<String, Vec<u8>> = match map_suffix {
            Some((from, to)) => expected
                .into_iter()
                .map(|(k, v)| {
                    let k2 = k.replace(from, to);
                    let v2 = show(&v).replace(from, to).into_bytes();
                    (k2, v2)
                })
                .collect(),
            None => expected,
        };
        let keys: Vec<&String> = expected.keys().collect();
        assert_eq!(
            keys,
            files.iter().collect::<Vec<_>>(),
            "{name} {file}: module file set differs from the references"
        );
        let mismatches: Vec<(String, Vec<u8>, Vec<u8>)> = files
            .par_iter()
            .filter_map(|rel| {
                let shown = format!("@ROOT@/lib/modules/{version}/{rel}");
                let got = run(&moddir.join(rel), &shown, field, normalise_sig);
                let want = &expected[rel];
                (got != *want).then(|| (rel.clone(), got, want.clone()))
            })
            .collect();
        if let Some((rel, got, want)) = mismatches.iter().min_by(|a, b| a.0.cmp(&b.0)) {
            let got_s = show(got);
            let want_s = show(want);
            let line = got_s
                .lines()
                .zip(want_s.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(got_s.lines().count().min(want_s.lines().count()));
            panic!(
                "{name} {file}: {} of {} modules differ; first: {rel}, line {}:\n got: {:?}\nwant: {:?}",
                mismatches.len(),
                files.len(),
                line + 1,
                got_s.lines().nth(line),
                want_s.lines().nth(line),
            );
        }
    }
}

#[test]
fn amd64_6_1_ko() {
    check_tree("amd64-6.1-ko", "amd64-6.1-ko", false, None);
}

#[test]
fn amd64_6_12_xz() {
    check_tree("amd64-6.12-xz", "amd64-6.12-xz", false, None);
}

#[test]
fn amd64_6_12_zst() {
    check_tree("amd64-6.12-zst", "amd64-6.12-zst", false, None);
}

#[test]
fn amd64_6_12_gz_as_kmod_without_openssl() {
    check_tree("amd64-6.12-gz", "amd64-6.12-gz", true, None);
}

#[test]
fn amd64_6_12_gz_matches_openssl_build_on_same_modules() {
    check_tree(
        "amd64-6.12-gz",
        "amd64-6.12-zst",
        false,
        Some((".ko.zst", ".ko.gz")),
    );
}

#[test]
fn arm64_6_12_xz() {
    check_tree("arm64-6.12-xz", "arm64-6.12-xz", false, None);
}

#[test]
fn armhf_6_12_xz() {
    check_tree("armhf-6.12-xz", "armhf-6.12-xz", false, None);
}

#[test]
fn s390x_6_12_xz() {
    check_tree("s390x-6.12-xz", "s390x-6.12-xz", false, None);
}

#[test]
fn reference_parser_sees_every_header() {
    let s = sections(b"==> a.ko <==\nx\n==> b.ko <==\n==> c.ko <==\ny\nz\n");
    assert_eq!(s.len(), 3);
    assert_eq!(s["a.ko"], b"x\n");
    assert_eq!(s["b.ko"], b"");
    assert_eq!(s["c.ko"], b"y\nz\n");
}
