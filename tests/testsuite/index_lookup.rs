//! Wildcard lookups in real `modules.alias.bin` files, compared with
//! `modprobe34 -R` (when installed) and with expectations recorded from it.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::read_fixture;
use kmodtree::index::{fnmatch, normalize_alias, Index};

const MODPROBE34: &str = "/opt/kmod34/bin/modprobe34";

/// Fixture trees and their kernel versions.
const TREES: &[(&str, &str)] = &[
    ("amd64-6.1-ko", "6.1.0-56-amd64"),
    ("amd64-6.12-xz", "6.12.117+deb12-amd64"),
    ("amd64-6.12-zst", "6.12.117+deb12-amd64"),
    ("amd64-6.12-gz", "6.12.117+deb12-amd64"),
    ("arm64-6.12-xz", "6.12.107+deb13-arm64"),
    ("armhf-6.12-xz", "6.12.107+deb13-armmp"),
    ("s390x-6.12-xz", "6.12.107+deb13-s390x"),
];

/// Recorded with `modprobe34 -C /dev/null -d ROOT -S VERSION -R QUERY` on
/// the kmod34 databases (ROOT holding only the `modules.*` files).
const RECORDED: &[(&str, &str, &str)] = &[
    (
        "amd64-6.12-xz",
        "pci:v00008086d000015B8sv00001028sd000007A1bc02sc00i00",
        "e1000e",
    ),
    (
        "amd64-6.12-xz",
        "usb:v13FDp3940d0150dc00dsc00dp00ic08isc06ip50in00",
        "uas uas usb_storage usb_storage",
    ),
    (
        "amd64-6.12-xz",
        "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00",
        "uas usb_storage",
    ),
];

fn plain_dir(tree: &str) -> PathBuf {
    common::fixtures_dir()
        .join("expected/kmod34")
        .join(tree)
        .join("plain")
}

fn values(index: &Index<'_>, query: &[u8]) -> Vec<String> {
    index
        .lookup_wildcard(query)
        .unwrap()
        .into_iter()
        .map(|v| String::from_utf8(v.value).unwrap())
        .collect()
}

/// A concrete string matching `pattern`: `*` becomes `star`, `?` a digit,
/// a bracket group the first printable byte it accepts.
fn instantiate(pattern: &[u8], star: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'*' => out.extend_from_slice(star),
            b'?' => out.push(b'0'),
            b'\\' if i + 1 < pattern.len() => {
                i += 1;
                out.push(pattern[i]);
            }
            b'[' => {
                let mut j = i + 1;
                if matches!(pattern.get(j), Some(b'!' | b'^')) {
                    j += 1;
                }
                j += 1; // a ']' right after '[' or '[!' is a member
                match pattern[j.min(pattern.len())..]
                    .iter()
                    .position(|&c| c == b']')
                {
                    Some(k) => {
                        let group = &pattern[i..j + k + 1];
                        let c = (0x21u8..0x7f).find(|&c| fnmatch(group, &[c])).unwrap();
                        out.push(c);
                        i = j + k;
                    }
                    None => out.push(b'['),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// A root directory with the kmod34 databases of `tree`, for modprobe.
fn modprobe_root(tree: &str, version: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lib/modules").join(version);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(plain_dir(tree)).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.starts_with("modules.") {
            std::fs::write(dir.join(&name), read_fixture(&path)).unwrap();
        }
    }
    tmp
}

fn modprobe_resolve(root: &Path, version: &str, query: &str) -> Vec<String> {
    let out = Command::new(MODPROBE34)
        .args(["-C", "/dev/null", "-d"])
        .arg(root)
        .args(["-S", version, "-R", query])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn recorded_modalias_lookups() {
    for (tree, query, want) in RECORDED {
        let data = read_fixture(&plain_dir(tree).join("modules.alias.bin"));
        let index = Index::parse(&data).unwrap();
        let key = normalize_alias(query.as_bytes()).unwrap();
        assert_eq!(values(&index, &key).join(" "), *want, "{tree}: {query}");
    }
}

/// For a sample of the aliases of every tree: make concrete strings the
/// alias matches, look them up, and check that the alias's module is among
/// the results and that the results (order included) are what modprobe
/// resolves the string to. The kmod 30 (post-order) file must answer the
/// same.
#[test]
fn sampled_alias_lookups_agree_with_modprobe() {
    let have_modprobe = Path::new(MODPROBE34).exists();
    if !have_modprobe {
        eprintln!("note: {MODPROBE34} not installed: checking membership only");
    }
    let mut compared = 0;
    for (tree, version) in TREES {
        let plain = plain_dir(tree);
        let alias_bin = read_fixture(&plain.join("modules.alias.bin"));
        let dep_bin = read_fixture(&plain.join("modules.dep.bin"));
        let index = Index::parse(&alias_bin).unwrap();
        // kmod 30 wrote the same entries in post-order: same answers.
        let alias_bin30 = read_fixture(
            &common::fixtures_dir()
                .join("expected/kmod30")
                .join(tree)
                .join("plain/modules.alias.bin"),
        );
        let index30 = Index::parse(&alias_bin30).unwrap();
        let deps = Index::parse(&dep_bin).unwrap();
        let text = read_fixture(&plain.join("modules.alias"));
        let aliases: Vec<(&[u8], &[u8])> = text
            .split(|&b| b == b'\n')
            .filter_map(|l| l.strip_prefix(b"alias "))
            .filter_map(|l| {
                let sp = l.iter().rposition(|&b| b == b' ')?;
                Some((&l[..sp], &l[sp + 1..]))
            })
            .collect();
        assert!(!aliases.is_empty(), "{tree}");
        let root = have_modprobe.then(|| modprobe_root(tree, version));
        let step = (aliases.len() / 40).max(1);
        for (pattern, module) in aliases.iter().step_by(step) {
            for star in [&b""[..], b"0A1"] {
                let Some(key) = normalize_alias(&instantiate(pattern, star)) else {
                    continue;
                };
                // modprobe resolves module names before aliases; skip those.
                if !deps.lookup_exact(&key).unwrap().is_empty() {
                    continue;
                }
                let got = values(&index, &key);
                assert_eq!(values(&index30, &key), got);
                let query = String::from_utf8(key).unwrap();
                assert!(
                    got.iter().any(|m| m.as_bytes() == *module),
                    "{tree}: {query} (from {}) gave {got:?}",
                    String::from_utf8_lossy(pattern)
                );
                if let Some(root) = &root {
                    let want = modprobe_resolve(root.path(), version, &query);
                    assert_eq!(got, want, "{tree}: modprobe34 -R {query}");
                    compared += 1;
                }
            }
        }
    }
    if have_modprobe {
        eprintln!("{compared} lookups compared with modprobe34");
        assert!(compared > 300);
    }
}
