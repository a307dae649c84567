//! Messages that say what to do next: a closure of a tree without
//! databases, a copy that fails, --json with -F, a file name that is not
//! UTF-8, Guix's databases under verify.

use crate::common;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = "6.1.0-56-amd64";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kmodtree")
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Out {
    let o = cmd.output().unwrap();
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn kmodtree(args: &[&str]) -> Out {
    run(Command::new(bin()).args(args))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A copy of the 6.1 fixture tree under `root` (its module directory),
/// with databases if `depmod`.
fn tree(root: &Path, depmod: bool) -> PathBuf {
    let fixture = common::fixtures_dir().join("trees/amd64-6.1-ko");
    common::copy_tree(&fixture.join("lib"), &root.join("lib"));
    let dir = root.join("lib/modules").join(VERSION);
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name.as_bytes().ends_with(b".bin") || name == "modules.dep" {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    if depmod {
        let out = kmodtree(&["depmod", "-C", "/dev/null", "-b", s(root), VERSION]);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
    }
    dir
}

#[test]
fn a_closure_of_a_tree_without_databases_says_to_run_depmod() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    tree(&root, false);
    let out = kmodtree(&[
        "closure",
        "-b",
        s(&root),
        "-o",
        s(&t.path().join("out")),
        VERSION,
        "ext4",
    ]);
    assert_eq!(out.code, Some(1));
    let want = format!(
        "kmodtree closure: root module ext4: {}/lib/modules/{VERSION} has no modules.dep.bin, \
         so no module can be found: write the tree's databases first (kmodtree depmod -b {} \
         {VERSION})\n",
        s(&root),
        s(&root)
    );
    assert!(out.stderr.ends_with(&want), "{}", out.stderr);
    assert!(!t.path().join("out").exists());
}

#[test]
fn a_closure_that_cannot_write_a_copy_says_what_it_copied() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    let dir = tree(&root, true);
    // A file size limit of 2 blocks: the first module copied fails.
    let script = format!(
        "ulimit -f 2 && exec \"$0\" closure -b '{}' -o '{}' {VERSION} ext4",
        s(&root),
        s(&t.path().join("out"))
    );
    let out = run(Command::new("sh").arg("-c").arg(script).arg(bin()));
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let last = out.stderr.lines().last().unwrap();
    let first = "kernel/arch/x86/crypto/crc32c-intel.ko";
    assert_eq!(
        last,
        format!(
            "kmodtree closure: could not copy {}/{first} into the closure (as {first}): \
             File too large",
            s(&dir)
        )
    );
    assert!(!t.path().join("out").exists());
}

#[test]
fn modinfo_json_with_a_field_is_a_usage_error() {
    let t = tempfile::tempdir().unwrap();
    let dir = tree(t.path(), false);
    let module = dir.join("kernel/fs/mbcache.ko");
    for flag in [&["-F", "license"][..], &["-l"], &["-0"]] {
        let out = kmodtree(&[&["modinfo", "--json"], flag, &[s(&module)]].concat());
        assert_eq!(out.code, Some(1), "{flag:?}");
        assert!(out.stdout.is_empty());
        assert!(
            out.stderr
                .starts_with("error: the argument '--json' cannot be used with"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn audit_skips_a_non_module_file_whose_name_is_not_utf8() {
    let t = tempfile::tempdir().unwrap();
    let dir = tree(t.path(), true);
    let odd = std::ffi::OsStr::from_bytes(b"notes-\xff.txt");
    std::fs::write(dir.join(odd), b"x").unwrap();
    let out = kmodtree(&["audit", s(&dir)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "\n  skipped: 1 non-module files whose names are not UTF-8 (e.g. notes-%FF.txt)\n"
        ),
        "{}",
        out.stdout
    );
    let out = kmodtree(&["audit", "--json", s(&dir)]);
    assert_eq!(out.code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["skipped"], serde_json::json!(["notes-%FF.txt"]));
    // Without such files the manifest has no "skipped".
    std::fs::remove_file(dir.join(odd)).unwrap();
    let out = kmodtree(&["audit", "--json", s(&dir)]);
    assert!(!out.stdout.contains("\"skipped\""));
    // A module whose name is not UTF-8 is still an error.
    let odd = std::ffi::OsStr::from_bytes(b"extra-\xff.ko");
    std::fs::copy(dir.join("kernel/fs/mbcache.ko"), dir.join(odd)).unwrap();
    let out = kmodtree(&["audit", s(&dir)]);
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("not valid UTF-8"), "{}", out.stderr);
}

#[test]
fn verify_recognises_the_databases_guix_db_writes() {
    let t = tempfile::tempdir().unwrap();
    let dir = tree(t.path(), true);
    let out = kmodtree(&["guix-db", s(&dir)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let out = kmodtree(&["verify", "-b", s(t.path()), VERSION]);
    assert_eq!(out.code, Some(0), "{}", out.stdout);
    for name in ["modules.alias", "modules.devname"] {
        assert!(
            out.stdout.contains(&format!(
                "note: {name}: written by Guix (kmodtree guix-db or Guix's \
                 make-linux-module-directory: modules.name is there), fresh as Guix writes it\n"
            )),
            "{}",
            out.stdout
        );
    }
    // Changed afterwards: stale again.
    let alias = dir.join("modules.alias");
    let mut text = std::fs::read(&alias).unwrap();
    text.extend_from_slice(b"alias extra-alias mbcache\n");
    std::fs::write(&alias, text).unwrap();
    let out = kmodtree(&["verify", "-b", s(t.path()), VERSION]);
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stdout.contains("stale: modules.alias: "),
        "{}",
        out.stdout
    );
}
