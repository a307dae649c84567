//! `kmodtree depmod` against real kmod: every output file, stderr and the
//! exit code must equal what kmod 34 and kmod 30 wrote for every fixture
//! tree and edge case (`../shared/fixtures/expected`, `edge/*/expected`).

use crate::common;

use common::{copy_tree, first_difference, fixtures_dir, read_fixture, unroot};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One reference run: the command kmod ran and the folder of its outputs.
struct Case {
    name: String,
    /// The tree to copy (contains `lib/`).
    tree: PathBuf,
    cmd: String,
    expected: PathBuf,
}

fn cases() -> Vec<Case> {
    let fx = fixtures_dir();
    let mut cases = Vec::new();
    for kmod in ["kmod34", "kmod30"] {
        let base = fx.join("expected").join(kmod);
        let mut trees: Vec<_> = std::fs::read_dir(&base)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        trees.sort();
        for t in trees {
            let tree_name = t.file_name().unwrap().to_string_lossy().into_owned();
            for mode in ["plain", "eF", "eE"] {
                let exp = t.join(mode);
                if !exp.is_dir() {
                    continue;
                }
                let cmd = std::fs::read_to_string(exp.join("cmd.txt")).unwrap();
                cases.push(Case {
                    name: format!("{kmod}/{tree_name}/{mode}"),
                    tree: fx.join("trees").join(&tree_name),
                    cmd: cmd.trim().to_string(),
                    expected: exp,
                });
            }
        }
    }
    let mut edges: Vec<_> = std::fs::read_dir(fx.join("edge"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    edges.sort();
    for e in edges {
        let cmds = std::fs::read_to_string(e.join("cmd.txt")).unwrap();
        for line in cmds.lines() {
            // "kmod34 plain: depmod34 -C /dev/null -b @ROOT@ 0.0"
            let (head, cmd) = line.split_once(": ").unwrap();
            let (kmod, mode) = head.split_once(' ').unwrap();
            cases.push(Case {
                name: format!(
                    "edge/{}/{kmod}/{mode}",
                    e.file_name().unwrap().to_string_lossy()
                ),
                tree: e.clone(),
                cmd: cmd.to_string(),
                expected: e.join("expected").join(kmod).join(mode),
            });
        }
    }
    cases
}

/// Translates a kmod command line to kmodtree's.
fn kmodtree_args(cmd: &str, root: &str) -> Vec<String> {
    let mut words = cmd.split_whitespace();
    let tool = words.next().unwrap();
    let mut args = vec!["depmod".to_string()];
    args.push("--kmod-version".into());
    args.push(
        if tool.starts_with("depmod34") {
            "34"
        } else {
            "30"
        }
        .into(),
    );
    if !tool.ends_with('z') {
        // Debian's builds have no zlib: .ko.gz files are not modules.
        args.push("--without-zlib".into());
    }
    args.extend(words.map(|w| w.replace("@ROOT@", root)));
    args
}

fn run_case(case: &Case, scratch: &Path) -> Result<(), String> {
    let root = scratch.join("root");
    let _ = std::fs::remove_dir_all(&root);
    for part in ["lib", "System.map", "Module.symvers", "depmod.d"] {
        let src = case.tree.join(part);
        if src.is_dir() {
            copy_tree(&src, &root.join(part));
        } else if src.is_file() {
            std::fs::create_dir_all(&root).unwrap();
            std::fs::copy(&src, root.join(part)).unwrap();
        }
    }
    let root_s = root.to_str().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_kmodtree"))
        .args(kmodtree_args(&case.cmd, &root_s))
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    let mut problems = Vec::new();
    let rc = std::fs::read_to_string(case.expected.join("rc.txt")).unwrap();
    let code = out.status.code().unwrap_or(-1);
    if rc.trim() != code.to_string() {
        problems.push(format!("exit code {code}, expected {}", rc.trim()));
    }
    let stderr = unroot(&out.stderr, &root_s);
    let want_err = read_fixture(&case.expected.join("stderr.txt"));
    if stderr != want_err {
        problems.push(format!(
            "stderr differs:\n--- got\n{}--- expected\n{}",
            String::from_utf8_lossy(&stderr),
            String::from_utf8_lossy(&want_err)
        ));
    }
    let version = case.cmd.split_whitespace().last().unwrap();
    let moddir = root.join("lib/modules").join(version);
    let mut expected_files: Vec<String> = std::fs::read_dir(&case.expected)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("modules."))
        .collect();
    expected_files.sort();
    let mut written: Vec<String> = std::fs::read_dir(&moddir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with("modules.")
                && !case.tree.join("lib/modules").join(version).join(n).exists()
        })
        .collect();
    written.sort();
    if written != expected_files {
        problems.push(format!(
            "files written {written:?}, expected {expected_files:?}"
        ));
    }
    for f in &expected_files {
        let want = read_fixture(&case.expected.join(f));
        match std::fs::read(moddir.join(f)) {
            Ok(got) if got == want => {}
            Ok(got) => problems.push(format!("{f}: {}", first_difference(&got, &want))),
            Err(e) => problems.push(format!("{f}: not written ({e})")),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[test]
fn depmod_matches_kmod_on_every_fixture() {
    let scratch = tempfile::tempdir().unwrap();
    let all = cases();
    assert!(
        all.len() > 30,
        "fixtures not found at {}",
        fixtures_dir().display()
    );
    let mut failures = Vec::new();
    for case in &all {
        if let Err(e) = run_case(case, scratch.path()) {
            failures.push(format!("=== {} ({})\n{e}", case.name, case.cmd));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from kmod:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
