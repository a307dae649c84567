//! Shared test helpers: locating the fixtures, listing module files,
//! compressing, and (in [`elf`]) building synthetic modules.

pub mod dkms;
pub mod elf;
pub mod gen;
pub mod guix;
pub mod kmod;

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

/// Copies a directory tree (following symlinks to files, keeping none).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if src.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
            let mut perm = std::fs::metadata(&dst).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o644);
            std::fs::set_permissions(&dst, perm).unwrap();
        }
    }
}

/// Replaces every occurrence of `root` with `@ROOT@`.
pub fn unroot(text: &[u8], root: &str) -> Vec<u8> {
    let s = String::from_utf8_lossy(text);
    s.replace(root, "@ROOT@").into_bytes()
}

/// A compact description of the first difference between two byte strings.
pub fn first_difference(a: &[u8], b: &[u8]) -> String {
    let pos = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let ctx = |s: &[u8]| {
        let lo = pos.saturating_sub(60);
        let hi = (pos + 60).min(s.len());
        String::from_utf8_lossy(&s[lo..hi]).into_owned()
    };
    format!(
        "lengths {} vs {}, first difference at byte {pos}:\n  got:      {:?}\n  expected: {:?}",
        a.len(),
        b.len(),
        ctx(a),
        ctx(b)
    )
}
/// Reads a fixture file, following symlinks — including symlinks that were
/// checked out as plain files holding their relative target (`../plain/…`),
/// which happens when git runs with `core.symlinks=false`.
pub fn read_fixture(path: &Path) -> Vec<u8> {
    let mut path = path.to_path_buf();
    for _ in 0..8 {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match link_target(&path, &data) {
            Some(target) => path = target,
            None => return data,
        }
    }
    panic!("{}: too many levels of links", path.display());
}

fn link_target(path: &Path, data: &[u8]) -> Option<PathBuf> {
    if data.is_empty() || data.len() > 1024 || !data.starts_with(b"../") && !data.starts_with(b"./")
    {
        return None;
    }
    let text = std::str::from_utf8(data).ok()?;
    if text.contains(['\n', '\0']) {
        return None;
    }
    let target = path.parent()?.join(text);
    target.is_file().then_some(target)
}

/// All files below `dir` whose name ends in `suffix`, sorted.
pub fn files_with_suffix(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files_with_suffix(&p, suffix, out);
        } else if p.to_str().is_some_and(|s| s.ends_with(suffix)) {
            out.push(p);
        }
    }
}

/// Writes `bytes` to `root/rel`, creating the parent directories.
pub fn write_file(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

/// The kernel version of a tree: the (first, in byte order) directory under
/// `root/lib/modules`.
pub fn kernel_version_of(root: &Path) -> String {
    let modules = root.join("lib/modules");
    let mut v: Vec<String> = std::fs::read_dir(&modules)
        .unwrap_or_else(|e| panic!("{}: {e}", modules.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v.remove(0)
}

/// The fixture trees that have kmod 34 references, sorted.
pub fn fixture_tree_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixtures_dir().join("expected/kmod34"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| fixtures_dir().join("trees").join(n).is_dir())
        .collect();
    v.sort();
    v
}
