//! The JSON documents of `verify`, `diff`, `closure` and `show-depends`
//! (`--json`) have the shape docs/json.md gives them, and `diff` lists the
//! important differences first.

use crate::common;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = "6.1.0-56-amd64";

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn kmodtree(args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_kmodtree"))
        .args(args)
        .output()
        .unwrap();
    Out {
        code: o.status.code(),
        stdout: String::from_utf8(o.stdout).unwrap(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A copy of the 6.1 fixture tree with databases under `root`.
fn tree(root: &Path) -> PathBuf {
    let fixture = common::fixtures_dir().join("trees/amd64-6.1-ko");
    common::copy_tree(&fixture.join("lib"), &root.join("lib"));
    let out = kmodtree(&["depmod", "-C", "/dev/null", "-b", s(root), VERSION]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    root.join("lib/modules").join(VERSION)
}

fn json(out: &Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap_or_else(|| panic!("not a string: {x}")))
        .collect()
}

/// `v` is an object with exactly `keys`.
fn keys(v: &Value, keys: &[&str]) {
    let mut have: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    have.sort();
    let mut want = keys.to_vec();
    want.sort();
    assert_eq!(have, want, "{v}");
}

/// A tree, and its make-module-directory union with one more module.
fn tree_and_union(t: &Path) -> (PathBuf, PathBuf) {
    let a = tree(&t.join("a"));
    let extra = t.join("extra/lib/modules").join(VERSION).join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::copy(a.join("kernel/fs/mbcache.ko"), extra.join("zz_extra.ko")).unwrap();
    let out = kmodtree(&[
        "make-module-directory",
        s(&t.join("u")),
        VERSION,
        s(&t.join("a")),
        s(&t.join("extra")),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    (a, t.join("u/lib/modules").join(VERSION))
}

#[test]
fn diff_puts_an_added_module_first_and_counts_link_only_differences() {
    let t = tempfile::tempdir().unwrap();
    let (a, u) = tree_and_union(t.path());
    let out = kmodtree(&["diff", s(&a), s(&u)]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "module added: extra/zz_extra.ko (zz_extra)");
    assert!(lines[1].starts_with("database changed: "), "{}", out.stdout);
    // Every other file of the union is a link: one counted line, last.
    let last = lines.last().unwrap();
    assert!(
        last.ends_with(" files differ only as links (--verbose lists them)"),
        "{last}"
    );
    assert!(!out.stdout.contains("(same content)"), "{}", out.stdout);
    // --verbose lists them, after everything else.
    let verbose = kmodtree(&["diff", "--verbose", s(&a), s(&u)]);
    let vlines: Vec<&str> = verbose.stdout.lines().collect();
    assert_eq!(vlines[0], lines[0]);
    let first_link = vlines.iter().position(|l| l.contains(": link → ")).unwrap();
    assert!(vlines[first_link..].iter().all(|l| l.contains(": link → ")));
    let n: usize = last.split(' ').next().unwrap().parse().unwrap();
    assert_eq!(vlines.len() - first_link, n);

    // The same as JSON.
    let out = kmodtree(&["diff", "--json", s(&a), s(&u)]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let v = json(&out);
    keys(&v, &["version", "identical", "counts", "differences"]);
    assert_eq!(v["version"], 1);
    assert_eq!(v["identical"], false);
    assert_eq!(v["counts"]["module-added"], 1);
    assert_eq!(v["counts"]["link-only"], n);
    let differences = v["differences"].as_array().unwrap();
    for d in differences {
        keys(d, &["kind", "path", "summary", "details"]);
        strings(&d["details"]);
    }
    assert_eq!(differences[0]["kind"], "module-added");
    assert_eq!(differences[0]["path"], "extra/zz_extra.ko");
    let total: u64 = v["counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, differences.len());

    // Identical: 0, and an empty list.
    let out = kmodtree(&["diff", "--json", s(&a), s(&a)]);
    assert_eq!(out.code, Some(0));
    let v = json(&out);
    assert_eq!(v["identical"], true);
    assert_eq!(v["differences"], serde_json::json!([]));
}

#[test]
fn verify_json_has_the_documented_shape() {
    let t = tempfile::tempdir().unwrap();
    let dir = tree(t.path());
    let out = kmodtree(&["verify", "--json", "-b", s(t.path()), VERSION]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v = json(&out);
    let all = [
        "version",
        "ok",
        "kernel_vermagic",
        "stale",
        "unindexed",
        "vanished",
        "incompatible",
        "notes",
    ];
    keys(&v, &all);
    assert_eq!(v["version"], 1);
    assert_eq!(v["ok"], true);
    assert!(v["kernel_vermagic"].is_string());
    // A stale database.
    std::fs::remove_file(dir.join("modules.alias")).unwrap();
    let out = kmodtree(&["verify", "--json", "-b", s(t.path()), VERSION]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let v = json(&out);
    keys(&v, &all);
    assert_eq!(v["ok"], false);
    let stale = v["stale"].as_array().unwrap();
    assert_eq!(stale[0]["name"], "modules.alias");
    keys(&stale[0], &["name", "problem", "details"]);
    strings(&stale[0]["details"]);
    strings(&v["notes"]);
    strings(&v["unindexed"]);
    strings(&v["vanished"]);
}

#[test]
fn closure_json_says_what_was_copied() {
    let t = tempfile::tempdir().unwrap();
    tree(&t.path().join("root"));
    let fw = t.path().join("firmware");
    std::fs::create_dir_all(&fw).unwrap();
    let out_dir = t.path().join("out");
    let root = t.path().join("root");
    let out = kmodtree(&[
        "closure",
        "--json",
        "-b",
        s(&root),
        "-o",
        s(&out_dir),
        "--firmware",
        s(&fw),
        VERSION,
        "ext4",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v = json(&out);
    keys(
        &v,
        &[
            "version",
            "out",
            "modules",
            "builtin",
            "missing_roots",
            "firmware",
            "firmware_missing",
        ],
    );
    assert_eq!(v["version"], 1);
    assert_eq!(v["out"], s(&out_dir));
    let modules = v["modules"].as_array().unwrap();
    assert_eq!(modules.last().unwrap()["name"], "ext4");
    for m in modules {
        keys(m, &["name", "path"]);
        let path = out_dir
            .join("lib/modules")
            .join(VERSION)
            .join(m["path"].as_str().unwrap());
        assert!(path.is_file(), "{}", path.display());
    }
    strings(&v["builtin"]);
    strings(&v["missing_roots"]);
    for f in v["firmware_missing"].as_array().unwrap() {
        keys(f, &["module", "name"]);
    }
    // The log stays on stderr.
    assert!(out.stderr.contains("root module: ext4"), "{}", out.stderr);
}

#[test]
fn show_depends_json_lists_each_targets_lines() {
    let t = tempfile::tempdir().unwrap();
    let dir = tree(t.path());
    let out = kmodtree(&["show-depends", "--json", "-b", s(t.path()), VERSION, "ext4"]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let v = json(&out);
    keys(&v, &["version", "exit_status", "targets"]);
    assert_eq!(v["version"], 1);
    assert_eq!(v["exit_status"], 0);
    let target = &v["targets"][0];
    keys(target, &["target", "found", "actions"]);
    assert_eq!(target["target"], "ext4");
    assert_eq!(target["found"], true);
    let actions = target["actions"].as_array().unwrap();
    let last = actions.last().unwrap();
    keys(last, &["action", "module", "path", "options"]);
    assert_eq!(last["action"], "insmod");
    assert_eq!(last["module"], "ext4");
    assert_eq!(last["path"], s(&dir.join("kernel/fs/ext4/ext4.ko")));
    // The lines are those of the text output.
    let text = kmodtree(&["show-depends", "-b", s(t.path()), VERSION, "ext4"]);
    assert_eq!(text.stdout.lines().count(), actions.len());

    // A missing target: found false, status 1, modprobe's message.
    let out = kmodtree(&[
        "show-depends",
        "--json",
        "-b",
        s(t.path()),
        VERSION,
        "ext4",
        "no_such_module",
    ]);
    assert_eq!(out.code, Some(1));
    let v = json(&out);
    assert_eq!(v["exit_status"], 1);
    assert_eq!(v["targets"][1]["found"], false);
    assert_eq!(v["targets"][1]["actions"], serde_json::json!([]));
    assert!(out.stderr.contains("no_such_module"), "{}", out.stderr);
}
