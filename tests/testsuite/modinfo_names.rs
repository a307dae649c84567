//! `kmodtree modinfo [-b BASE] [-k VERSION] NAME`: names, aliases and
//! `symbol:` names looked up through the tree, built-in modules shown
//! from modules.builtin.modinfo, compared with the real kmod 34
//! (`modinfo34`) and kmod 30 (`/usr/sbin/modinfo`) when installed, with
//! fixed expectations taken from them.

use crate::common;

use common::elf::simple_module;
use common::kmod::installed_kmod_tools;
use common::kmod::kmodtree_bin;
use common::write_file;
use std::path::Path;
use std::process::Command;

const VER: &str = "1.0";

#[derive(Debug, PartialEq, Eq)]
struct Out {
    stdout: Vec<u8>,
    stderr: String,
    code: i32,
}

fn run(cmd: &mut Command) -> Out {
    let o = cmd.env("LC_ALL", "C").output().unwrap();
    Out {
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

/// mod-simple (alias, parameters, uses mod_dep), mod_dep, mod_other
/// (wildcard alias), built-in ext4 (alias fs-ext4, a parameter).
fn synthetic_tree(root: &Path) {
    let dir = format!("lib/modules/{VER}");
    write_file(
        root,
        &format!("{dir}/kernel/mod-simple.ko"),
        &simple_module(
            &[
                "alias=simple-alias",
                "license=GPL",
                "parm=foo:a flag",
                "parmtype=foo:bool",
                "description=simple",
            ],
            &["simple_fn"],
            &[("dep_fn", false)],
        ),
    );
    write_file(
        root,
        &format!("{dir}/kernel/lib/mod_dep.ko"),
        &simple_module(&["license=GPL", "name=mod_dep"], &["dep_fn"], &[]),
    );
    write_file(
        root,
        &format!("{dir}/kernel/mod_other.ko"),
        &simple_module(&["alias=pci:v*d0001*", "license=MIT"], &[], &[]),
    );
    write_file(
        root,
        &format!("{dir}/modules.builtin"),
        b"kernel/fs/ext4.ko\n",
    );
    write_file(
        root,
        &format!("{dir}/modules.builtin.modinfo"),
        b"ext4.alias=fs-ext4\0ext4.license=GPL\0ext4.parm=debug:debug level\0ext4.parmtype=debug:int\0ext4.description=Fourth ext\0",
    );
    let o = run(Command::new(kmodtree_bin()).args([
        "depmod",
        "-C",
        "/dev/null",
        "-b",
        root.to_str().unwrap(),
        VER,
    ]));
    assert_eq!(o.code, 0, "{o:?}");
}

const TARGETS: &[&str] = &[
    "mod_simple",
    "mod-simple",
    "simple-alias",
    "mod_dep",
    "ext4",
    "fs-ext4",
    "pci:v00001234d00000001",
    "symbol:dep_fn",
    "nosuch",
    "bad]",
];

const FLAGS: &[&[&str]] = &[
    &[],
    &["-0"],
    &["-F", "name"],
    &["-F", "filename"],
    &["-F", "license"],
    &["-p"],
    &["-0", "-F", "parm"],
];

fn compare_all(root: &Path, version_args: &[&str]) -> Vec<(String, Out)> {
    let r = root.to_str().unwrap();
    let tools = installed_kmod_tools("modinfo");
    let mut outs = Vec::new();
    for t in TARGETS {
        for flags in FLAGS {
            let mut args: Vec<&str> = vec!["-b", r];
            args.extend_from_slice(version_args);
            args.extend_from_slice(flags);
            args.push(t);
            let got = run(Command::new(kmodtree_bin()).arg("modinfo").args(&args));
            for (label, tool) in &tools {
                let want = run(Command::new(tool).args(&args));
                assert_eq!(
                    got,
                    want,
                    "modinfo {args:?}: kmodtree vs {label}:\n{}\n---\n{}",
                    String::from_utf8_lossy(&got.stdout),
                    String::from_utf8_lossy(&want.stdout)
                );
            }
            outs.push((format!("{flags:?} {t}"), got));
        }
    }
    outs
}

#[test]
fn names_aliases_and_builtins_match_kmod() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    synthetic_tree(&root);
    let r = root.to_str().unwrap();
    let outs = compare_all(&root, &["-k", VER]);
    let get = |key: &str| &outs.iter().find(|(k, _)| k == key).unwrap().1;
    let text = |o: &Out| String::from_utf8_lossy(&o.stdout).replace(r, "@R@");
    assert_eq!(
        text(get("[] ext4")),
        "name:           ext4\nfilename:       (builtin)\nalias:          fs-ext4\nlicense:        GPL\n\
         description:    Fourth ext\nparm:           debug:debug level (int)\n"
    );
    assert_eq!(
        text(get("[\"-0\"] fs-ext4")),
        "name:           ext4\0filename:       (builtin)\0alias=fs-ext4\0license=GPL\0\
         description=Fourth ext\0parm:           debug:debug level (int)\0"
    );
    assert_eq!(text(get("[\"-F\", \"name\"] ext4")), "ext4\n");
    assert_eq!(
        text(get("[\"-F\", \"filename\"] simple-alias")),
        "@R@/lib/modules/1.0/kernel/mod-simple.ko\n"
    );
    assert_eq!(text(get("[\"-F\", \"license\"] symbol:dep_fn")), "GPL\n");
    let nosuch = get("[] nosuch");
    assert_eq!(
        (nosuch.stderr.as_str(), nosuch.code),
        ("modinfo: ERROR: Module nosuch not found.\n", 1)
    );
    assert_eq!(
        get("[] bad]").stderr,
        "modinfo: ERROR: Module alias bad] not found.\n"
    );
}

#[test]
fn real_tree_by_name() {
    let fixtures = common::fixtures_dir();
    let src = fixtures.join("trees/amd64-6.1-ko");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    common::copy_tree(&src.join("lib"), &root.join("lib"));
    let version = common::kernel_version_of(&root);
    let moddir = root.join("lib/modules").join(&version);
    let plain = fixtures.join("expected/kmod34/amd64-6.1-ko/plain");
    for e in std::fs::read_dir(&plain).unwrap() {
        let e = e.unwrap();
        std::fs::write(moddir.join(e.file_name()), common::read_fixture(&e.path())).unwrap();
    }
    let r = root.to_str().unwrap();
    let builtin = std::fs::read_to_string(moddir.join("modules.builtin")).unwrap();
    let mut targets: Vec<String> = ["crc16", "fs-fuse", "fuse", "symbol:jbd2_journal_start"]
        .map(String::from)
        .to_vec();
    targets.extend(builtin.lines().step_by(20).map(|l| {
        l.rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".ko")
            .to_string()
    }));
    let tools = installed_kmod_tools("modinfo");
    for t in &targets {
        let args = ["-b", r, "-k", version.as_str(), t.as_str()];
        let got = run(Command::new(kmodtree_bin()).arg("modinfo").args(args));
        assert_eq!(got.code, 0, "{t}: {got:?}");
        for (label, tool) in &tools {
            let want = run(Command::new(tool).args(args));
            assert_eq!(got, want, "modinfo {t}: kmodtree vs {label}");
        }
    }
}

#[test]
fn version_lines_parse_like_kmods() {
    let o = run(Command::new(kmodtree_bin()).args(["modinfo", "--version"]));
    assert_eq!(o.code, 0);
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    assert!(first.starts_with("kmod version "), "{text}");
    let n: f64 = first["kmod version ".len()..].parse().unwrap();
    assert!(n >= 30.0);
    assert!(lines.next().unwrap().contains("+XZ"), "{text}");
    for (_, tool) in installed_kmod_tools("modinfo") {
        let want = run(Command::new(tool).arg("-V"));
        let want = String::from_utf8(want.stdout).unwrap();
        assert_eq!(
            want.lines()
                .next()
                .unwrap()
                .split(' ')
                .take(2)
                .collect::<Vec<_>>(),
            first.split(' ').take(2).collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_module_whose_file_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    synthetic_tree(&root);
    // mod_other: no module depends on it (kmod reports a missing
    // dependency with a pointer value in the message).
    std::fs::remove_file(root.join(format!("lib/modules/{VER}/kernel/mod_other.ko"))).unwrap();
    compare_all(&root, &["-k", VER]);
    let r = root.to_str().unwrap();
    let tools = installed_kmod_tools("modinfo");
    let mut outs = Vec::new();
    for flags in FLAGS {
        let mut args = vec!["-b", r, "-k", VER];
        args.extend_from_slice(flags);
        args.push("mod_other");
        let got = run(Command::new(kmodtree_bin()).arg("modinfo").args(&args));
        for (label, tool) in &tools {
            assert_eq!(
                got,
                run(Command::new(tool).args(&args)),
                "{args:?} vs {label}"
            );
        }
        outs.push(got);
    }
    let o = &outs[0];
    assert_eq!(
        (
            String::from_utf8_lossy(&o.stdout).replace(r, "@R@"),
            o.stderr.as_str(),
            o.code
        ),
        (
            "filename:       @R@/lib/modules/1.0/kernel/mod_other.ko\n".to_string(),
            "modinfo: ERROR: could not get modinfo from 'mod_other': No such file or directory\n",
            1
        )
    );
}
