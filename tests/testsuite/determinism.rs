//! Determinism of `union`, `make-module-directory`, `closure` and
//! `modinfo --json --tree` (depmod's own checks are in
//! `depmod_determinism.rs`): the output trees (every path, its kind, file
//! contents, link targets) and what is printed must not depend on
//!
//! * `--jobs 1`, `2`, `8` (where the command has it);
//! * the directory-read order of the inputs: two copies written in
//!   opposite file orders (one on `/dev/shm` when it exists, whose tmpfs
//!   lists the newest entry first);
//! * the umask (contents only: modes follow it, as with depmod), `TZ`,
//!   `LC_ALL`, `LANG`.
//!
//! Input paths differ between copies, so they are replaced by `@IN@` in
//! link targets and messages before comparing.

use crate::common;

use common::gen::{Entry, Tree};
use common::kmod::kmodtree_bin;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Two generated trees for the same kernel version (the second has
/// different modules, and files colliding with the first's), the second
/// with the real amd64-6.1-ko fixture modules added when present.
fn inputs() -> (Tree, Tree) {
    let a = Tree::generate(9001);
    let mut b = Tree::generate(9002);
    let (va, vb) = (
        format!("lib/modules/{}/", a.version),
        format!("lib/modules/{}/", b.version),
    );
    let rename = |p: &str| p.replacen(&vb, &va, 1);
    b.entries = b
        .entries
        .iter()
        .map(|e| match e {
            Entry::File(p, bytes) => Entry::File(rename(p), bytes.clone()),
            Entry::Symlink(p, t) => Entry::Symlink(rename(p), t.clone()),
            Entry::Dir(p) => Entry::Dir(rename(p)),
        })
        .collect();
    b.version = a.version.clone();
    let trees = common::fixtures_dir().join("trees/amd64-6.1-ko/lib/modules");
    if let Some(v) = std::fs::read_dir(&trees)
        .ok()
        .and_then(|mut rd| rd.next())
        .map(|e| e.unwrap().path())
    {
        for rel in common::module_files(&v) {
            b.entries.push(Entry::File(
                format!("{va}fixture/{rel}"),
                std::fs::read(v.join(&rel)).unwrap(),
            ));
        }
    } else {
        eprintln!("note: fixtures not found; generated trees only");
    }
    (a, b)
}

/// The inputs written under `dir` (as `dir/a`, `dir/b`), in forward or
/// reverse file order.
fn write_inputs(dir: &Path, trees: &(Tree, Tree), reverse: bool) -> [PathBuf; 2] {
    let (a, b) = (dir.join("a"), dir.join("b"));
    trees.0.write(&a, reverse);
    trees.1.write(&b, reverse);
    [a, b]
}

/// What a command produced: its output tree and what it printed, with
/// `replace` paths turned into `@IN@`.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    /// relative path → ("d" | "f" | "l", contents or link target)
    tree: BTreeMap<String, (char, Vec<u8>)>,
}

/// `bytes` as text with each of `replace` turned into `@IN@`, and the
/// process id in temporary directory names (`.NAME.kmodtree-PID.tmp`,
/// where make-module-directory runs depmod) turned into `PID`.
fn unroot(bytes: &[u8], replace: &[&Path]) -> String {
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    for r in replace {
        s = s.replace(r.to_str().unwrap(), "@IN@");
    }
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find(".kmodtree-") {
        let after = &rest[i + ".kmodtree-".len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..i]);
        out.push_str(".kmodtree-PID");
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The first line where `a` and `b` differ.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (la, lb): (Vec<&[u8]>, Vec<&[u8]>) = (
        a.split(|&c| c == b'\n').collect(),
        b.split(|&c| c == b'\n').collect(),
    );
    for i in 0..la.len().max(lb.len()) {
        let (x, y) = (la.get(i), lb.get(i));
        if x != y {
            let show = |l: Option<&&[u8]>| {
                l.map(|l| {
                    String::from_utf8_lossy(l)
                        .chars()
                        .take(300)
                        .collect::<String>()
                })
            };
            return format!("line {}: {:?} vs {:?}", i + 1, show(x), show(y));
        }
    }
    "no line differs".into()
}

fn tree_of(out: &Path, replace: &[&Path]) -> BTreeMap<String, (char, Vec<u8>)> {
    let mut tree = BTreeMap::new();
    if !out.exists() {
        return tree;
    }
    for e in walkdir::WalkDir::new(out).min_depth(1) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(out)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let ft = e.file_type();
        let v = if ft.is_symlink() {
            let t = std::fs::read_link(e.path()).unwrap();
            (
                'l',
                unroot(t.to_string_lossy().as_bytes(), replace).into_bytes(),
            )
        } else if ft.is_dir() {
            ('d', Vec::new())
        } else {
            let bytes = std::fs::read(e.path()).unwrap();
            match std::str::from_utf8(&bytes) {
                Ok(text) => ('f', unroot(text.as_bytes(), replace).into_bytes()),
                Err(_) => ('f', bytes),
            }
        };
        tree.insert(rel, v);
    }
    tree
}

/// Runs `kmodtree ARGS` (through `sh` to set the umask), with `env`.
fn run(args: &[&str], umask: &str, env: &[(&str, &str)], out: &Path, replace: &[&Path]) -> Outcome {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(kmodtree_bin())
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    Outcome {
        code: o.status.code().unwrap_or(-1),
        stdout: unroot(&o.stdout, replace),
        stderr: unroot(&o.stderr, replace),
        tree: tree_of(out, replace),
    }
}

fn assert_same(what: &str, a: &Outcome, b: &Outcome) {
    assert_eq!(a.code, b.code, "{what}: exit code");
    for (name, x, y) in [
        ("stdout", &a.stdout, &b.stdout),
        ("stderr", &a.stderr, &b.stderr),
    ] {
        assert!(
            x == y,
            "{what}: {name} differs: {}",
            first_difference(x.as_bytes(), y.as_bytes())
        );
    }
    assert_eq!(
        a.tree.keys().collect::<Vec<_>>(),
        b.tree.keys().collect::<Vec<_>>(),
        "{what}: paths"
    );
    for (k, v) in &a.tree {
        assert!(
            b.tree[k] == *v,
            "{what}: {k} differs: {}",
            first_difference(&v.1, &b.tree[k].1)
        );
    }
}

/// The variations every command is run under: (label, umask, env).
/// Environment variables set for a run.
type Env = &'static [(&'static str, &'static str)];

const ENVS: &[(&str, &str, Env)] = &[
    ("plain", "022", &[]),
    ("umask 077", "077", &[]),
    (
        "TZ, LC_ALL, LANG",
        "022",
        &[
            ("TZ", "Pacific/Chatham"),
            ("LC_ALL", "de_DE.UTF-8"),
            ("LANG", "tr_TR.UTF-8"),
        ],
    ),
    (
        "empty TZ and LC_ALL",
        "002",
        &[("TZ", ""), ("LC_ALL", ""), ("LANG", "ja_JP.eucJP")],
    ),
];

/// The scratch copies of the inputs: forward order, reverse order, and
/// forward order on /dev/shm if it exists.
struct Copies {
    _dirs: Vec<tempfile::TempDir>,
    copies: Vec<(String, [PathBuf; 2])>,
}

fn copies(trees: &(Tree, Tree)) -> Copies {
    let scratch = tempfile::tempdir().unwrap();
    let mut copies = vec![
        (
            "forward".to_string(),
            write_inputs(&scratch.path().join("fwd"), trees, false),
        ),
        (
            "reverse".to_string(),
            write_inputs(&scratch.path().join("rev"), trees, true),
        ),
    ];
    let mut dirs = vec![scratch];
    if let Ok(shm) = tempfile::tempdir_in("/dev/shm") {
        copies.push((
            "/dev/shm".to_string(),
            write_inputs(shm.path(), trees, false),
        ));
        dirs.push(shm);
    }
    Copies {
        _dirs: dirs,
        copies,
    }
}

#[test]
fn union_and_make_module_directory() {
    let trees = inputs();
    let c = copies(&trees);
    let outs = tempfile::tempdir().unwrap();
    let mut n = 0;
    // Each output in a directory of its own, replaced by `@IN@` as a whole
    // (it also holds the temporary sibling).
    let mut out = || {
        n += 1;
        let dir = outs.path().join(format!("run{n}"));
        std::fs::create_dir(&dir).unwrap();
        dir.join("out")
    };
    let version = trees.0.version.clone();
    for mode in ["copy", "symlink"] {
        let mut base: Option<Outcome> = None;
        for (label, [a, b]) in &c.copies {
            for (what, umask, env) in ENVS {
                let o = out();
                let r = run(
                    &[
                        "union",
                        "--mode",
                        mode,
                        o.to_str().unwrap(),
                        a.to_str().unwrap(),
                        b.to_str().unwrap(),
                    ],
                    umask,
                    env,
                    &o,
                    &[a, b, o.parent().unwrap()],
                );
                assert_eq!(r.code, 0, "{}", r.stderr);
                match &base {
                    None => base = Some(r),
                    Some(base) => {
                        assert_same(&format!("union --mode {mode}, {label}, {what}"), base, &r)
                    }
                }
            }
        }
        assert!(
            base.unwrap().stderr.contains("collision"),
            "the inputs collide"
        );
    }
    let mut base: Option<Outcome> = None;
    for (label, [a, b]) in &c.copies {
        for jobs in ["1", "2", "8"] {
            let o = out();
            let r = run(
                &[
                    "make-module-directory",
                    "--jobs",
                    jobs,
                    o.to_str().unwrap(),
                    &version,
                    a.to_str().unwrap(),
                    b.to_str().unwrap(),
                ],
                "022",
                &[],
                &o,
                &[a, b, o.parent().unwrap()],
            );
            assert_eq!(r.code, 0, "{}", r.stderr);
            assert!(r.tree.keys().any(|k| k.ends_with("/modules.dep.bin")));
            match &base {
                None => base = Some(r),
                Some(base) => assert_same(
                    &format!("make-module-directory {label} --jobs {jobs}"),
                    base,
                    &r,
                ),
            }
        }
    }
}

/// Runs `kmodtree depmod` on `root` so that `closure` has databases.
fn depmod(root: &Path, version: &str) {
    let st = Command::new(kmodtree_bin())
        .args(["depmod", "-C", "/dev/null", "-b"])
        .arg(root)
        .arg(version)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Module names of a tree with dependencies (the first few lines of its
/// modules.dep that have any), as closure roots.
fn roots_of(moddir: &Path) -> Vec<String> {
    let dep = std::fs::read_to_string(moddir.join("modules.dep")).unwrap();
    let mut lines: Vec<&str> = dep.lines().filter(|l| !l.ends_with(':')).collect();
    lines.sort();
    lines
        .iter()
        .take(6)
        .map(|l| kmodtree::module::name_from_file_name(l.split(':').next().unwrap()))
        .collect()
}

#[test]
fn closure_output() {
    let trees = inputs();
    let c = copies(&trees);
    let version = trees.1.version.clone();
    for (_, [_, b]) in &c.copies {
        depmod(b, &version);
    }
    let roots = roots_of(&trees.1.moddir(&c.copies[0].1[1]));
    assert!(roots.len() >= 3, "{roots:?}");
    let outs = tempfile::tempdir().unwrap();
    let mut base: Option<Outcome> = None;
    let mut n = 0;
    for (label, [_, b]) in &c.copies {
        for (what, umask, env) in ENVS {
            n += 1;
            let run_dir = outs.path().join(format!("run{n}"));
            std::fs::create_dir(&run_dir).unwrap();
            let o = run_dir.join("out");
            let mut args = vec![
                "closure",
                "--load-scripts",
                "-b",
                b.to_str().unwrap(),
                "-o",
                o.to_str().unwrap(),
                &version,
            ];
            args.extend(roots.iter().map(String::as_str));
            let r = run(&args, umask, env, &o, &[b, &run_dir]);
            assert_eq!(r.code, 0, "{}", r.stderr);
            match &base {
                None => base = Some(r),
                Some(base) => assert_same(&format!("closure, {label}, {what}"), base, &r),
            }
        }
    }
    let base = base.unwrap();
    assert!(base.tree.keys().filter(|k| k.contains(".ko")).count() >= 3);
}

#[test]
fn modinfo_json_tree() {
    let trees = inputs();
    let c = copies(&trees);
    let version = trees.1.version.clone();
    let mut base: Option<Outcome> = None;
    let none = PathBuf::from("/nonexistent");
    for (label, [_, b]) in &c.copies {
        let mut variants: Vec<(String, Vec<&str>, &str, Env)> = ["1", "2", "8"]
            .iter()
            .map(|j| (format!("--jobs {j}"), vec!["--jobs", j], "022", &[][..]))
            .collect();
        for (what, umask, env) in &ENVS[1..] {
            variants.push((what.to_string(), vec![], umask, env));
        }
        for (what, extra, umask, env) in variants {
            let mut args = vec!["modinfo", "--json", "--tree", "-b", b.to_str().unwrap()];
            args.extend(extra);
            args.push(&version);
            let r = run(&args, umask, env, &none, &[b]);
            assert!(r.stdout.lines().count() > 20);
            match &base {
                None => base = Some(r),
                Some(base) => {
                    assert_same(&format!("modinfo --json --tree, {label}, {what}"), base, &r)
                }
            }
        }
    }
}
