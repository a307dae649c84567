//! Shared test helpers: locating the fixtures, listing module files,
//! compressing, and (in [`elf`]) building synthetic modules.
#![allow(dead_code)]

pub mod elf;

use std::io::Write;
use std::path::{Path, PathBuf};

/// The fixture directory: `$KMODTREE_FIXTURES` if set, else
/// `CARGO_MANIFEST_DIR/../shared/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("KMODTREE_FIXTURES") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures")),
    }
}

/// True for the file names kmod treats as modules.
pub fn is_module_file(name: &str) -> bool {
    [".ko", ".ko.xz", ".ko.zst", ".ko.gz"]
        .iter()
        .any(|s| name.ends_with(s))
}

/// Every module file under `dir` (following symlinks), as paths relative
/// to `dir`, sorted bytewise (`LC_ALL=C`).
pub fn module_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).follow_links(true) {
        let entry = entry.expect("walk fixture tree");
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        if !is_module_file(&name) {
            continue;
        }
        let rel = entry.path().strip_prefix(dir).unwrap();
        out.push(rel.to_string_lossy().into_owned());
    }
    out.sort();
    out
}

/// The fixture trees: `(name, tree root, lib/modules/VERSION dir, VERSION)`.
pub fn fixture_trees() -> Vec<(String, PathBuf, PathBuf, String)> {
    let trees = fixtures_dir().join("trees");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&trees).unwrap_or_else(|e| panic!("{}: {e}", trees.display())) {
        let e = e.unwrap();
        if !e.file_type().unwrap().is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let modules = e.path().join("lib/modules");
        let mut versions: Vec<_> = std::fs::read_dir(&modules)
            .unwrap()
            .map(|v| v.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        versions.sort();
        for v in versions {
            out.push((name.clone(), e.path(), modules.join(&v), v));
        }
    }
    out.sort();
    out
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    liblzma::encode_all(data, 6).unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    // One-shot compression records the content size, as the zstd tool does
    // (kmod needs it).
    zstd::bulk::compress(data, 3).unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}
