//! Property test: random synthetic module trees (see `common/gen.rs` for
//! everything they contain) rendered by `kmodtree depmod` and by the real
//! kmod 34 / kmod 30 `depmod`, comparing every `modules.*` file, every
//! other entry of the module directory, stdout, stderr and the exit code.
//!
//! Each tree is written twice, one copy per tool, and run with
//! `-C /dev/null -b ROOT VERSION`, then with each of `-e -F System.map`,
//! `-e -E Module.symvers`, `-n`, `-v` and `-w` added (in the same copies,
//! so those runs also see the databases of the previous run).
//! 64 seeded trees per kmod version (`KMODTREE_PROPERTY_CASES` changes the
//! count, `KMODTREE_PROPERTY_SEED` runs a single seed). Without a real
//! depmod the comparison for that version is skipped with a note.
//! `KMODTREE_PROPERTY_KEEP=DIR` keeps every tree (and the outputs) in a
//! new directory under DIR.

use crate::common;

use common::gen::Tree;
use common::kmod::{
    compare_databases, compare_runs, databases, entries, real_depmod_or_note, run_kmodtree,
    run_tool, Kmod,
};
use std::path::Path;

const DEFAULT_CASES: u64 = 64;

/// The option sets; `{ROOT}` and `{VER}` are filled in.
const MODES: &[(&str, &[&str])] = &[
    ("eF", &["-e", "-F", "{ROOT}/System.map"]),
    ("eE", &["-e", "-E", "{ROOT}/Module.symvers"]),
    ("n", &["-n"]),
    ("v", &["-v"]),
    ("w", &["-w"]),
];

fn args(extra: &[&str], root: &Path, version: &str) -> Vec<String> {
    let r = root.to_str().unwrap();
    let mut v: Vec<String> = vec!["-C".into(), "/dev/null".into()];
    v.extend(extra.iter().map(|a| a.replace("{ROOT}", r)));
    v.extend(["-b".into(), r.to_string(), version.to_string()]);
    v
}

/// Runs one tree through both tools; returns the problems found.
fn check_tree(kmod: Kmod, tool: &Path, seed: u64, scratch: &Path) -> (Vec<String>, Vec<String>) {
    let tree = Tree::generate(seed);
    let ours = scratch.join(format!("t{seed}"));
    let theirs = scratch.join(format!("k{seed}"));
    tree.write(&ours, false);
    tree.write(&theirs, false);
    let mut modes: Vec<(&str, &[&str])> = vec![("plain", &[])];
    modes.extend_from_slice(MODES);

    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    for (label, extra) in modes {
        let a = args(extra, &ours, &tree.version);
        let b = args(extra, &theirs, &tree.version);
        let got = run_kmodtree(kmod, &a.iter().map(String::as_str).collect::<Vec<_>>());
        let want = run_tool(tool, &b.iter().map(String::as_str).collect::<Vec<_>>());
        if want.code < 0 {
            // kmod died of a signal (its cycle report asserts on some
            // multi-cycle graphs): nothing to compare.
            skipped.push(format!("seed {seed} [{label}]: {}", want.describe()));
            continue;
        }
        let mut p = compare_runs(&got.unrooted(&ours), &want.unrooted(&theirs));
        p.extend(compare_databases(
            &databases(&tree.moddir(&ours)),
            &databases(&tree.moddir(&theirs)),
        ));
        let (eo, et) = (entries(&tree.moddir(&ours)), entries(&tree.moddir(&theirs)));
        if eo != et {
            p.push(format!("directory entries {eo:?} vs kmod's {et:?}"));
        }
        for x in p {
            problems.push(format!("[{label}] {x}"));
        }
    }
    if problems.is_empty() && std::env::var_os("KMODTREE_PROPERTY_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&ours);
        let _ = std::fs::remove_dir_all(&theirs);
    } else {
        problems.insert(
            0,
            format!(
                "seed {seed} (version {}, cycle {}, duplicates {}), trees kept in {} and {}",
                tree.version,
                tree.cycle,
                tree.duplicates,
                ours.display(),
                theirs.display()
            ),
        );
    }
    (problems, skipped)
}

fn seeds(base: u64) -> Vec<u64> {
    if let Some(s) = std::env::var("KMODTREE_PROPERTY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![s];
    }
    let n = std::env::var("KMODTREE_PROPERTY_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    (base..base + n).collect()
}

fn property(kmod: Kmod, base: u64) {
    let Some(tool) = real_depmod_or_note(kmod, "depmod_property") else {
        return;
    };
    let scratch = match std::env::var_os("KMODTREE_PROPERTY_KEEP") {
        Some(dir) => {
            std::fs::create_dir_all(&dir).unwrap();
            tempfile::tempdir_in(dir).unwrap()
        }
        None => tempfile::tempdir().unwrap(),
    };
    let mut failures = Vec::new();
    let mut stats = (0, 0, 0, 0);
    let all = seeds(base);
    for &seed in &all {
        let t = Tree::generate(seed);
        stats.0 += usize::from(t.cycle);
        stats.1 += usize::from(t.duplicates);
        let (p, s) = check_tree(kmod, &tool, seed, scratch.path());
        for x in s {
            eprintln!("note: kmod crashed, comparison skipped: {x}");
            stats.3 += 1;
        }
        if !p.is_empty() {
            stats.2 += 1;
            failures.push(p.join("\n"));
        }
    }
    eprintln!(
        "{}: {} random trees compared ({} with a cycle, {} with duplicates), {} differ, {} runs skipped (kmod crashed)",
        kmod.label(),
        all.len(),
        stats.0,
        stats.1,
        stats.2,
        stats.3
    );
    assert!(
        stats.3 < all.len(),
        "kmod crashed on every tree: nothing compared"
    );
    if std::env::var_os("KMODTREE_PROPERTY_KEEP").is_some() {
        eprintln!("trees kept in {}", scratch.keep().display());
    } else if !failures.is_empty() {
        // Keep the trees for inspection.
        let kept = scratch.keep();
        panic!(
            "{} of {} random trees differ from {} (scratch {}):\n{}",
            failures.len(),
            all.len(),
            kmod.label(),
            kept.display(),
            failures.join("\n\n")
        );
    }
}

#[test]
fn random_trees_match_kmod34() {
    property(Kmod::V34, 1);
}

#[test]
fn random_trees_match_kmod30() {
    property(Kmod::V30, 100_001);
}
