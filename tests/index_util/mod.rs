//! Fixture helpers for the index tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

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
