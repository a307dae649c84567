//! `--progress auto|always|never`: progress on stderr only when it is a
//! terminal (checked in a pseudo-terminal made by util-linux's `script`),
//! and without a terminal stderr is the same bytes as with `never`.

use crate::common;

use std::path::Path;
use std::process::Command;

const VERSION: &str = "6.1.0-56-amd64";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kmodtree")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A copy of the 6.1 fixture tree with databases, under `root`.
fn tree(root: &Path) {
    let fixture = common::fixtures_dir().join("trees/amd64-6.1-ko");
    common::copy_tree(&fixture.join("lib"), &root.join("lib"));
    let out = Command::new(bin())
        .args(["depmod", "-C", "/dev/null", "-b", s(root), VERSION])
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// Each long command, with `{P}` where the progress flag goes.
fn commands(root: &Path, out: &Path) -> Vec<(Vec<String>, &'static str)> {
    let moddir = root.join("lib/modules").join(VERSION);
    let v = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    vec![
        (
            v(&["depmod", "-C", "/dev/null", "-b", s(root), "{P}", VERSION]),
            "reading modules",
        ),
        (v(&["audit", "{P}", s(&moddir)]), "hashing files"),
        (
            v(&["verify", "-b", s(root), "{P}", VERSION]),
            "reading modules",
        ),
        (
            v(&[
                "closure",
                "-b",
                s(root),
                "-o",
                s(out),
                "{P}",
                VERSION,
                "ext4",
            ]),
            "copying modules",
        ),
        (
            v(&["union", "--mode", "copy", "{P}", s(out), s(root)]),
            "copying files",
        ),
        (
            v(&["make-module-directory", "{P}", s(out), VERSION, s(root)]),
            "linking files",
        ),
        (
            v(&["flat", "-b", s(root), "{P}", s(out), VERSION, "ext4"]),
            "writing modules",
        ),
        (v(&["diff", "{P}", s(&moddir), s(&moddir)]), "hashing files"),
    ]
}

/// Regular files and symlinks below `dir`.
fn files_below(dir: &Path) -> usize {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter(|e| !e.as_ref().unwrap().file_type().is_dir())
        .count()
}

#[test]
fn always_into_a_pipe_gives_the_count_of_each_stage() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    tree(&root);
    let files = files_below(&root);
    let modules = files_below(&root.join("lib/modules").join(VERSION).join("kernel"));
    let out = t.path().join("out");
    let run = |args: &[&str]| {
        let _ = std::fs::remove_dir_all(&out);
        let o = Command::new(bin())
            .arg(args[0])
            .arg("--progress=always")
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}");
        String::from_utf8(o.stderr).unwrap()
    };
    for mode in ["copy", "symlink", "hardlink"] {
        let stage = if mode == "copy" { "copying" } else { "linking" };
        assert_eq!(
            run(&["union", "--mode", mode, s(&out), s(&root)]),
            format!("kmodtree: {stage} files: {files} done\n"),
            "{mode}"
        );
    }
    // The union, then depmod reading every module of it.
    let made = run(&["make-module-directory", s(&out), VERSION, s(&root)]);
    assert_eq!(
        made,
        format!(
            "kmodtree: linking files: {files} done\nkmodtree: reading modules: {modules} done\n"
        )
    );
    // Both trees hashed: every file but the databases' temporaries.
    let moddir = root.join("lib/modules").join(VERSION);
    let hashed = files_below(&moddir);
    assert_eq!(
        run(&["diff", s(&moddir), s(&moddir)]),
        format!("kmodtree: hashing files: {hashed} done\n").repeat(2)
    );
}

fn with(args: &[String], progress: Option<&str>) -> Vec<String> {
    args.iter()
        .filter_map(|a| match (a.as_str(), progress) {
            ("{P}", None) => None,
            ("{P}", Some(p)) => Some(format!("--progress={p}")),
            _ => Some(a.clone()),
        })
        .collect()
}

#[test]
fn without_a_terminal_stderr_is_unchanged_unless_always() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    tree(&root);
    let out = t.path().join("out");
    for (args, stage) in commands(&root, &out) {
        let mut stderrs = Vec::new();
        for p in [None, Some("auto"), Some("never"), Some("always")] {
            let _ = std::fs::remove_dir_all(&out);
            let o = Command::new(bin()).args(with(&args, p)).output().unwrap();
            assert!(o.status.success(), "{args:?} {p:?}");
            stderrs.push(o.stderr);
        }
        assert_eq!(stderrs[0], stderrs[1], "{args:?}: auto");
        assert_eq!(stderrs[0], stderrs[2], "{args:?}: never");
        // always, into a pipe: one line per stage.
        let always = String::from_utf8(stderrs[3].clone()).unwrap();
        assert!(
            always.contains(&format!("kmodtree: {stage}: ")),
            "{args:?}: {always}"
        );
    }
}

#[test]
fn in_a_terminal_progress_is_shown_unless_never() {
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_script {
        eprintln!("note: no util-linux script: progress in a terminal not checked");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    tree(&root);
    let out = t.path().join("out");
    for (args, stage) in commands(&root, &out) {
        for (p, shown) in [(None, true), (Some("never"), false)] {
            let _ = std::fs::remove_dir_all(&out);
            let line = std::iter::once(bin().to_string())
                .chain(with(&args, p))
                .collect::<Vec<_>>()
                .join(" ");
            // stdout goes to /dev/null: the terminal gets stderr only.
            let o = Command::new("script")
                .args(["-qec", &format!("{line} >/dev/null"), "/dev/null"])
                .output()
                .unwrap();
            assert!(o.status.success(), "{line}");
            let terminal = String::from_utf8_lossy(&o.stdout);
            assert_eq!(terminal.contains(stage), shown, "{line}: {terminal:?}");
        }
    }
}
