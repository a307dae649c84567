//! `show-depends` against kmod: every `expected/kmod34/NAME/show-depends/
//! ROOT.txt` (made by `modprobe34 -C /dev/null --show-depends ROOT`) must be
//! reproduced byte for byte from the kmod 34 databases of the same tree;
//! builtin and missing roots of `trees/NAME.roots.tsv` must give `builtin
//! NAME` and kmod's error. Then, when a modprobe binary is installed, random
//! targets and random modprobe.d configurations are compared with it
//! (stdout, stderr and exit status).

use crate::common;

use common::{copy_tree, first_difference, fixtures_dir, read_fixture, unroot};
use kmodtree::closure::show_depends::{module_dirname, LookupError};
use kmodtree::closure::{ModprobeConfig, ModuleIndexes, Resolver};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use kmodtree::render::DATABASE_FILES as DATABASES;

use common::fixture_tree_names as tree_names;

use common::kernel_version_of as version_of;

/// The kmod 34 indexes of fixture tree `name`, read in place (the tree
/// itself holds no databases), and the configuration modprobe builds from
/// `-C /dev/null` plus the tree's modules.softdep/weakdep.
fn reference_databases(name: &str) -> (PathBuf, ModuleIndexes, ModprobeConfig) {
    let root = fixtures_dir().join("trees").join(name);
    let version = version_of(&root);
    let plain = fixtures_dir()
        .join("expected/kmod34")
        .join(name)
        .join("plain");
    let dirname = module_dirname(root.as_os_str().as_bytes(), version.as_bytes());
    let read = |f: &str| Some(read_fixture(&plain.join(f)));
    let indexes = ModuleIndexes {
        dirname,
        dep: read("modules.dep.bin"),
        alias: read("modules.alias.bin"),
        symbols: read("modules.symbols.bin"),
        builtin: read("modules.builtin.bin"),
        builtin_alias: read("modules.builtin.alias.bin"),
    };
    let mut config = ModprobeConfig::default();
    let mut messages = Vec::new();
    for f in ["modules.softdep", "modules.weakdep"] {
        config.parse_file(&read_fixture(&plain.join(f)), f, &mut messages);
    }
    assert!(messages.is_empty(), "{messages:?}");
    (root, indexes, config)
}

fn show_depends_text(indexes: &ModuleIndexes, config: &ModprobeConfig, target: &str) -> Vec<u8> {
    // A fresh pool per target, as each modprobe run has.
    let mut r = Resolver::new(indexes, config);
    let actions = r
        .module_load_actions(target.as_bytes(), false, None)
        .unwrap();
    assert!(r.take_messages().is_empty(), "{target}: messages");
    actions.iter().flat_map(|a| a.render()).collect()
}

#[test]
fn every_fixture_root_matches_kmod34_show_depends() {
    let mut matched = 0;
    let mut failures = Vec::new();
    for name in tree_names() {
        let (root, indexes, config) = reference_databases(&name);
        let root_text = root.to_str().unwrap().to_string();
        let dir = fixtures_dir()
            .join("expected/kmod34")
            .join(&name)
            .join("show-depends");
        let mut refs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .filter(|p| p.file_name().unwrap() != "cmd.txt")
            .collect();
        refs.sort();
        assert!(refs.len() > 30, "{name}: only {} references", refs.len());
        for r in refs {
            let target = r.file_stem().unwrap().to_str().unwrap().to_string();
            let expected = read_fixture(&r);
            let got = unroot(&show_depends_text(&indexes, &config, &target), &root_text);
            if got == expected {
                matched += 1;
            } else {
                failures.push(format!(
                    "{name}/{target}: {}",
                    first_difference(&got, &expected)
                ));
            }
        }
    }
    eprintln!("show-depends: {matched} references matched");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(matched >= 270, "only {matched} references");
}

#[test]
fn builtin_and_missing_roots_of_every_tree() {
    let (mut builtins, mut missing) = (0, 0);
    for name in tree_names() {
        let (_, indexes, config) = reference_databases(&name);
        let tsv = std::fs::read_to_string(
            fixtures_dir()
                .join("trees")
                .join(format!("{name}.roots.tsv")),
        )
        .unwrap();
        for line in tsv.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let (kind, root, status) = (f[0], f[1], f[2]);
            if kind == "group" {
                continue;
            }
            let mut r = Resolver::new(&indexes, &config);
            let res = r.module_load_actions(root.as_bytes(), false, None);
            match status {
                "builtin" => {
                    let text: Vec<u8> = res.unwrap().iter().flat_map(|a| a.render()).collect();
                    assert_eq!(
                        String::from_utf8(text).unwrap(),
                        format!("builtin {root}\n"),
                        "{name}/{root}"
                    );
                    builtins += 1;
                }
                "missing" => {
                    let e = res.unwrap_err();
                    assert!(
                        matches!(&e, LookupError::NotFound { target, .. } if target == root),
                        "{name}/{root}: {e}"
                    );
                    let text = e.to_string();
                    assert!(
                        text.starts_with(&format!("Module {root} not found in directory /")),
                        "{text}"
                    );
                    missing += 1;
                }
                _ => assert!(!res.unwrap().is_empty(), "{name}/{root}"),
            }
        }
    }
    assert!(builtins >= 19 && missing >= 56, "{builtins} {missing}");
}

#[test]
fn aliases_and_symbols_resolve_like_modprobe() {
    let (root, indexes, config) = reference_databases("amd64-6.12-xz");
    let root_text = root.to_str().unwrap().to_string();
    // fs-ext4 is ext4's alias: the same lines as the name.
    let by_name = show_depends_text(&indexes, &config, "ext4");
    assert_eq!(show_depends_text(&indexes, &config, "fs-ext4"), by_name);
    // Dashes and underscores are the same.
    assert_eq!(
        show_depends_text(&indexes, &config, "usb-storage"),
        show_depends_text(&indexes, &config, "usb_storage")
    );
    // A symbol resolves to its owner.
    let text = String::from_utf8(unroot(
        &show_depends_text(&indexes, &config, "symbol:jbd2_journal_start"),
        &root_text,
    ))
    .unwrap();
    assert!(
        text.ends_with("/kernel/fs/jbd2/jbd2.ko.xz \n"),
        "symbol lookup: {text}"
    );
    // A builtin module's alias (fuse is built in): builtin line.
    assert_eq!(
        show_depends_text(&indexes, &config, "fs-fuse"),
        b"builtin fuse\n"
    );
}

/// A modprobe binary to compare with: `$KMODTREE_MODPROBE`, kmod 34 from
/// `../shared/tools/kmod34-setup.sh`, or the system's.
fn installed_modprobe() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KMODTREE_MODPROBE") {
        return Some(PathBuf::from(p));
    }
    for p in [
        "/opt/kmod34/bin/modprobe34",
        "/usr/sbin/modprobe",
        "/sbin/modprobe",
        "/usr/bin/modprobe",
    ] {
        if Path::new(p).is_file() {
            return Some(PathBuf::from(p));
        }
    }
    None
}

/// Lines of a random modprobe.d file built from the tree's own names.
fn random_config(names: &[String], pick: &[usize]) -> String {
    let n = |i: usize| names[pick[i] % names.len()].as_str();
    let mut s = String::new();
    let kinds = pick[0] % 8;
    if kinds & 1 != 0 {
        s += &format!("softdep {} pre: {} post: {}\n", n(1), n(2), n(3));
    }
    if kinds & 2 != 0 {
        s += &format!("alias my-alias-{} {}\n", pick[4] % 3, n(5));
        s += &format!("options {} a=1\tb=2\n", n(6));
    }
    if kinds & 4 != 0 {
        s += &format!("blacklist {}\ninstall {} /bin/true\n", n(7), n(8));
        s += &format!("softdep {}* pre: no-such-module\nbad line\n", &n(9)[..1]);
    }
    s
}

#[test]
fn random_targets_and_configs_match_installed_modprobe() {
    let Some(modprobe) = installed_modprobe() else {
        eprintln!("note: no modprobe installed: comparison skipped");
        return;
    };
    // libkmod's own messages (bad configuration lines) carry source file
    // names and line numbers before kmod 34: compare them only with kmod 34.
    let version = Command::new(&modprobe).arg("--version").output().unwrap();
    let is_kmod34 = String::from_utf8_lossy(&version.stdout).contains("kmod version 34");
    let stderr_text = |b: &[u8]| -> String {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| is_kmod34 || !l.starts_with("libkmod:"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for name in ["amd64-6.12-xz", "arm64-6.12-xz"] {
        let src = fixtures_dir().join("trees").join(name);
        let root = tmp.path().join(name);
        copy_tree(&src.join("lib"), &root.join("lib"));
        let version = version_of(&root);
        let moddir = root.join("lib/modules").join(&version);
        let plain = fixtures_dir()
            .join("expected/kmod34")
            .join(name)
            .join("plain");
        for f in DATABASES {
            std::fs::write(moddir.join(f), read_fixture(&plain.join(f))).unwrap();
        }
        // Candidate targets: every module name, alias and symbol, builtin
        // names, and some that do not exist.
        let mut names: Vec<String> = Vec::new();
        let dep = String::from_utf8(read_fixture(&plain.join("modules.dep"))).unwrap();
        for l in dep.lines() {
            let path = l.split(':').next().unwrap();
            let base = path.rsplit('/').next().unwrap();
            names.push(base.split('.').next().unwrap().to_string());
        }
        let mut targets = names.clone();
        for f in ["modules.alias", "modules.symbols"] {
            let t = String::from_utf8(read_fixture(&plain.join(f))).unwrap();
            targets.extend(
                t.lines()
                    .skip(1)
                    .filter_map(|l| l.split(' ').nth(1).map(String::from)),
            );
        }
        let builtin = std::fs::read_to_string(moddir.join("modules.builtin")).unwrap();
        targets.extend(builtin.lines().take(200).map(|l| {
            let b = l.rsplit('/').next().unwrap();
            b.split('.').next().unwrap().to_string()
        }));
        targets.extend(
            [
                "nosuch",
                "bad]",
                "my-alias-0",
                "my_alias-1",
                "symbol:nosuch",
                "fs-fuse",
            ]
            .map(String::from),
        );
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        let strategy = (
            proptest::collection::vec(0..targets.len(), 1..3),
            proptest::collection::vec(0usize..10_000, 10),
        );
        // Fixed cases first (errors, several targets), then random ones.
        let fixed: Vec<Vec<usize>> = [
            vec!["nosuch"],
            vec!["ext4", "nosuch", "bad]"],
            vec!["fs-fuse", "symbol:nosuch"],
            vec!["my-alias-0"],
        ]
        .iter()
        .map(|v| {
            v.iter()
                .map(|t| targets.iter().position(|x| x == t).unwrap())
                .collect()
        })
        .collect();
        for case in 0..100 {
            let (random, pick) = strategy.new_tree(&mut runner).unwrap().current();
            let t = fixed.get(case).cloned().unwrap_or(random);
            let conf = tmp.path().join(format!("conf-{name}-{case}"));
            std::fs::create_dir_all(&conf).unwrap();
            std::fs::write(conf.join("test.conf"), random_config(&names, &pick)).unwrap();
            let chosen: Vec<&str> = t.iter().map(|&i| targets[i].as_str()).collect();
            // show-depends vs --show-depends, match vs -R.
            for (ours, theirs) in [("show-depends", "--show-depends"), ("match", "-R")] {
                let mut kmod = Command::new(&modprobe);
                kmod.arg("-C")
                    .arg(&conf)
                    .arg("-d")
                    .arg(&root)
                    .arg("-S")
                    .arg(&version);
                if chosen.len() > 1 {
                    kmod.arg("-a");
                }
                kmod.arg(theirs).args(&chosen);
                let want = kmod.output().unwrap();
                let got = Command::new(env!("CARGO_BIN_EXE_kmodtree"))
                    .arg(ours)
                    .arg("-C")
                    .arg(&conf)
                    .arg("-b")
                    .arg(&root)
                    .arg(&version)
                    .args(&chosen)
                    .output()
                    .unwrap();
                let what = format!(
                    "{ours} {name} {chosen:?} with config:\n{}",
                    random_config(&names, &pick)
                );
                assert_eq!(
                    String::from_utf8_lossy(&got.stdout),
                    String::from_utf8_lossy(&want.stdout),
                    "stdout, {what}"
                );
                assert_eq!(
                    stderr_text(&got.stderr),
                    stderr_text(&want.stderr),
                    "stderr, {what}"
                );
                assert_eq!(got.status.code(), want.status.code(), "status, {what}");
                compared += 1;
            }
        }
    }
    eprintln!("compared {compared} runs with {}", modprobe.display());
    assert!(compared > 0, "nothing compared with {}", modprobe.display());
}

#[test]
fn match_lists_the_modules_an_alias_resolves_to() {
    let (_, indexes, config) = reference_databases("amd64-6.12-xz");
    let mut r = Resolver::new(&indexes, &config);
    let alias = String::from_utf8(read_fixture(
        &fixtures_dir().join("expected/kmod34/amd64-6.12-xz/plain/modules.alias"),
    ))
    .unwrap();
    // A concrete PCI modalias for an e1000e device matches e1000e.
    let line = alias
        .lines()
        .find(|l| l.starts_with("alias pci:v00008086d") && l.ends_with(" e1000e"))
        .unwrap();
    let pattern = line.split(' ').nth(1).unwrap();
    let concrete = pattern
        .replace("sv*", "sv00001028")
        .replace("sd*", "sd000004A3")
        .replace("bc*", "bc02")
        .replace("sc*", "sc00")
        .replace("i*", "i00");
    assert!(!concrete.contains('*'), "{concrete}");
    let names = r.module_names_matching(concrete.as_bytes()).unwrap();
    assert_eq!(names, vec![b"e1000e".to_vec()]);
    assert!(r.module_names_matching(b"pci:v0000FFFFd0000FFFF").is_err());
}

#[test]
fn match_reads_a_modalias_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tree");
    let name = "amd64-6.12-xz";
    let src = fixtures_dir().join("trees").join(name);
    let version = version_of(&src);
    let moddir = root.join("lib/modules").join(&version);
    std::fs::create_dir_all(&moddir).unwrap();
    let plain = fixtures_dir()
        .join("expected/kmod34")
        .join(name)
        .join("plain");
    for f in DATABASES {
        std::fs::write(moddir.join(f), read_fixture(&plain.join(f))).unwrap();
    }
    let modalias = tmp.path().join("modalias");
    std::fs::write(
        &modalias,
        "pci:v000010ECd00008168sv00001043sd00008554bc02sc00i00\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_kmodtree"))
        .args(["match", "-C", "/dev/null", "--from-file", "-b"])
        .arg(&root)
        .arg(&version)
        .arg(&modalias)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "r8169\n");
    assert!(o.status.success());
}
