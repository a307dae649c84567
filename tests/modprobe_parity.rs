//! The read-only modprobe surface compared with the real kmod 34
//! (`modprobe34`) and kmod 30 (`/usr/sbin/modprobe`) when installed:
//! kernel command-line options, empty indexes, `-R` on an alias nothing
//! matches, `-c`, `--show-exports`, `--dump-modversions` and kmodtree run
//! through a symlink named `modprobe`. modprobe always reads
//! `/proc/cmdline`; the comparisons give it a chosen one by bind-mounting
//! a file over it in a private mount namespace (`unshare -m`), and skip
//! with a note where that is not allowed. Fixed expectations (taken from
//! kmod) keep the checks when the tools are absent.

mod common;

use common::elf::simple_module;
use common::kmod::kmodtree_bin;
use common::write_file;
use std::path::{Path, PathBuf};
use std::process::Command;

const VER: &str = "1.0";

/// The installed modprobes: `(label, path)`, checked by `--version`.
fn modprobes() -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    for (label, path, want) in [
        ("kmod34", "/opt/kmod34/bin/modprobe34", "kmod version 34"),
        ("kmod30", "/usr/sbin/modprobe", "kmod version 30\n"),
    ] {
        let ok = Command::new(path)
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).starts_with(want));
        if ok {
            out.push((label, PathBuf::from(path)));
        } else {
            eprintln!("note: no {label} modprobe at {path}; comparison skipped");
        }
    }
    out
}

/// True when this process may bind-mount over /proc/cmdline in a new
/// mount namespace.
fn can_fake_cmdline() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        let ok = Command::new("unshare")
            .args([
                "-m",
                "sh",
                "-c",
                "mount --bind /dev/null /proc/cmdline && test ! -s /proc/cmdline",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("note: cannot bind-mount over /proc/cmdline; kmod comparisons skipped");
        }
        ok
    })
}

/// `tool args...` run with `cmdline` as its /proc/cmdline.
fn under_cmdline(cmdline: &Path, tool: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("unshare");
    c.args([
        "-m",
        "sh",
        "-c",
        "mount --bind \"$0\" /proc/cmdline && exec \"$@\"",
    ])
    .arg(cmdline)
    .arg(tool)
    .args(args)
    .env("LC_ALL", "C");
    c
}

#[derive(Debug, PartialEq, Eq)]
struct Out {
    stdout: String,
    stderr: String,
    code: i32,
}

fn out(cmd: &mut Command) -> Out {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

fn kmodtree(args: &[&str]) -> Out {
    out(Command::new(kmodtree_bin()).args(args).env("LC_ALL", "C"))
}

/// A small tree with its databases: mod-simple (alias simple-alias, uses
/// mod_dep's symbol), mod_dep, mod_other (alias pci:v*d0001*).
fn synthetic_tree(root: &Path) {
    let dir = format!("lib/modules/{VER}");
    write_file(
        root,
        &format!("{dir}/kernel/mod-simple.ko"),
        &simple_module(
            &["alias=simple-alias", "license=GPL", "parm=foo:a flag"],
            &["simple_fn"],
            &[("dep_fn", false)],
        ),
    );
    write_file(
        root,
        &format!("{dir}/kernel/lib/mod_dep.ko"),
        &simple_module(&["license=GPL"], &["dep_fn"], &[]),
    );
    write_file(
        root,
        &format!("{dir}/kernel/mod_other.ko"),
        &simple_module(&["alias=pci:v*d0001*", "softdep=pre: mod_dep"], &[], &[]),
    );
    write_file(
        root,
        &format!("{dir}/modules.builtin"),
        b"kernel/fs/ext4.ko\n",
    );
    write_file(
        root,
        &format!("{dir}/modules.builtin.modinfo"),
        b"ext4.alias=fs-ext4\0ext4.license=GPL\0",
    );
    let r = kmodtree(&[
        "depmod",
        "-C",
        "/dev/null",
        "-b",
        root.to_str().unwrap(),
        VER,
    ]);
    assert_eq!(r.code, 0, "{r:?}");
}

/// Runs kmodtree's `ours` args and, when possible, each modprobe's
/// `theirs` args under `cmdline`; asserts they print the same. Returns
/// kmodtree's output.
fn compare(ours: &[&str], theirs: &[&str], cmdline: &Path, what: &str) -> Out {
    let got = kmodtree(ours);
    if can_fake_cmdline() {
        for (label, tool) in modprobes() {
            let want = out(&mut under_cmdline(cmdline, &tool, theirs));
            assert_eq!(got, want, "{what}: kmodtree vs {label}");
        }
    }
    got
}

#[test]
fn kernel_cmdline_options_with_and_without_values() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    synthetic_tree(&root);
    let r = root.to_str().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "mod_simple.foo mod_simple.bar=1\n",
            "insmod @R@/lib/modules/1.0/kernel/lib/mod_dep.ko \ninsmod @R@/lib/modules/1.0/kernel/mod-simple.ko foo bar=1 \n",
        ),
        (
            "quiet mod-simple.a=1 mod_simple.b.c=2 mod_simple=3 x=mod_simple.d \"mod_simple.e=f g\" mod_simple.h=\"i j\"\tmod_simple.k=l.m mod_dep.n\n",
            "insmod @R@/lib/modules/1.0/kernel/lib/mod_dep.ko n \ninsmod @R@/lib/modules/1.0/kernel/mod-simple.ko a=1 e=\"f g\" h=\"i j\" k=l.m \n",
        ),
        (
            "mod_simple.c= mod_simple.=d .e=1 mod_simple.f mod_simple.a\"b=1 mod_simple.g",
            "insmod @R@/lib/modules/1.0/kernel/lib/mod_dep.ko \ninsmod @R@/lib/modules/1.0/kernel/mod-simple.ko c= =d f \n",
        ),
    ];
    for (i, (line, expected)) in cases.iter().enumerate() {
        let f = tmp.path().join(format!("cmdline{i}"));
        std::fs::write(&f, line).unwrap();
        let got = compare(
            &[
                "show-depends",
                "-C",
                "/dev/null",
                "--kernel-cmdline",
                f.to_str().unwrap(),
                "-b",
                r,
                VER,
                "mod_simple",
            ],
            &[
                "-C",
                "/dev/null",
                "-d",
                r,
                "-S",
                VER,
                "--show-depends",
                "mod_simple",
            ],
            &f,
            &format!("cmdline {line:?}"),
        );
        assert_eq!(got.stdout.replace(r, "@R@"), *expected, "{line:?}: {got:?}");
    }
}

const TARGETS: &[&str] = &[
    "mod_simple",
    "mod-simple",
    "simple-alias",
    "ext4",
    "fs-ext4",
    "pci:v00001234d00000001",
    "pci:nothing",
    "symbol:dep_fn",
    "symbol:nosuch",
    "nosuch",
];

/// `show-depends` and `match` of every target, one target per run (as
/// modprobe takes one module and its parameters), against
/// `--show-depends` and `-R`.
fn compare_targets(root: &Path, what: &str) -> Vec<Out> {
    let r = root.to_str().unwrap();
    let empty = Path::new("/dev/null");
    let mut outs = Vec::new();
    for t in TARGETS {
        for (ours, theirs) in [("show-depends", "--show-depends"), ("match", "-R")] {
            outs.push(compare(
                &[ours, "-C", "/dev/null", "-b", r, VER, t],
                &["-C", "/dev/null", "-d", r, "-S", VER, theirs, t],
                empty,
                &format!("{what}: {ours} {t}"),
            ));
        }
    }
    outs
}

#[test]
fn targets_of_a_whole_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    synthetic_tree(&root);
    let outs = compare_targets(&root, "whole tree");
    // -R on an alias nothing matches: modprobe's FATAL line, exit 1.
    let r = root.to_str().unwrap();
    let no_match = &outs[2 * TARGETS.iter().position(|t| *t == "pci:nothing").unwrap() + 1];
    assert_eq!(
        (
            no_match.stdout.as_str(),
            no_match.stderr.replace(r, "@R@"),
            no_match.code
        ),
        (
            "",
            "modprobe: FATAL: Module pci:nothing not found in directory @R@/lib/modules/1.0\n"
                .to_string(),
            1
        )
    );
}

#[test]
fn empty_or_missing_indexes_are_skipped_silently() {
    for (file, empty) in [
        ("modules.builtin.bin", true),
        ("modules.builtin.alias.bin", true),
        ("modules.alias.bin", true),
        ("modules.symbols.bin", true),
        ("modules.dep.bin", true),
        ("modules.dep.bin", false),
        ("modules.builtin.bin", false),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("t");
        synthetic_tree(&root);
        let path = root.join(format!("lib/modules/{VER}/{file}"));
        if empty {
            std::fs::write(&path, b"").unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
        let what = format!("{} {file}", if empty { "empty" } else { "missing" });
        for o in compare_targets(&root, &what) {
            assert!(!o.stderr.contains("could not"), "{what}: {o:?}");
        }
    }
}
