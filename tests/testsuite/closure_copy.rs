//! `closure`: for every root of every fixture tree the copied modules are
//! exactly the `insmod` lines of kmod's `--show-depends` reference (in
//! their first-occurrence order, which is `insmod-list`'s), builtin roots
//! are reported and not copied, missing roots fail (or are skipped with
//! `allow_missing`), firmware is copied or warned about, the new tree's
//! databases are what depmod writes for it and resolve the same closures,
//! failures leave nothing behind, and the load scripts are valid `sh` in
//! dependency order.

use crate::common;

use common::{copy_tree, fixtures_dir, read_fixture};
use kmodtree::closure::show_depends::ModprobeOptions;
use kmodtree::closure::{
    assemble_module_closure, ClosureError, ClosureOptions, ClosureReport, ProbeAction, Resolver,
};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use kmodtree::render::DATABASE_FILES as DATABASES;

/// A copy of fixture tree `name` with kmod 34's databases in place.
struct Prepared {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    version: String,
    name: String,
}

impl Prepared {
    fn new(name: &str) -> Prepared {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("src");
        copy_tree(
            &fixtures_dir().join("trees").join(name).join("lib"),
            &root.join("lib"),
        );
        let version = common::kernel_version_of(&root);
        let plain = fixtures_dir()
            .join("expected/kmod34")
            .join(name)
            .join("plain");
        let moddir = root.join("lib/modules").join(&version);
        for f in DATABASES {
            std::fs::write(moddir.join(f), read_fixture(&plain.join(f))).unwrap();
        }
        Prepared {
            _tmp: tmp,
            root,
            version,
            name: name.to_string(),
        }
    }

    fn moddir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.version)
    }

    fn options(&self, out: &Path, roots: &[&str]) -> ClosureOptions {
        ClosureOptions {
            modprobe: ModprobeOptions {
                basedir: Some(self.root.clone()),
                version: self.version.clone(),
                config: vec![PathBuf::from("/dev/null")],
                ..Default::default()
            },
            out: out.to_path_buf(),
            link: true,
            roots: roots.iter().map(|r| r.as_bytes().to_vec()).collect(),
            ..Default::default()
        }
    }

    /// The reference show-depends output of `root`: insmod paths relative
    /// to the module directory and builtin names, in order.
    fn reference(&self, root: &str) -> (Vec<String>, Vec<String>) {
        let text = String::from_utf8(read_fixture(
            &fixtures_dir()
                .join("expected/kmod34")
                .join(&self.name)
                .join("show-depends")
                .join(format!("{root}.txt")),
        ))
        .unwrap();
        let prefix = format!("insmod @ROOT@/lib/modules/{}/", self.version);
        let (mut insmod, mut builtin) = (Vec::new(), Vec::new());
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix(&prefix) {
                insmod.push(rest.trim_end_matches(' ').to_string());
            } else if let Some(b) = l.strip_prefix("builtin ") {
                builtin.push(b.to_string());
            } else {
                panic!("unexpected line {l:?}");
            }
        }
        (insmod, builtin)
    }

    fn reference_roots(&self) -> Vec<String> {
        let dir = fixtures_dir()
            .join("expected/kmod34")
            .join(&self.name)
            .join("show-depends");
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".txt") && n != "cmd.txt")
            .map(|n| n.trim_end_matches(".txt").to_string())
            .collect();
        v.sort();
        v
    }

    /// `modules.dep` of the source: module relpath -> dependency relpaths.
    fn dependencies(&self) -> HashMap<String, Vec<String>> {
        let dep = std::fs::read_to_string(self.moddir().join("modules.dep")).unwrap();
        dep.lines()
            .map(|l| {
                let (m, d) = l.split_once(':').unwrap();
                (
                    m.to_string(),
                    d.split_whitespace().map(String::from).collect(),
                )
            })
            .collect()
    }
}

fn first_occurrences(v: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    v.iter()
        .filter(|x| seen.insert(x.to_string()))
        .cloned()
        .collect()
}

fn relpaths(report: &ClosureReport) -> Vec<String> {
    report
        .modules
        .iter()
        .map(|m| String::from_utf8(m.relpath.clone()).unwrap())
        .collect()
}

use common::fixture_tree_names as tree_names;

/// Checks every reference root of one tree; returns how many.
fn check_every_root_of(name: &str) -> usize {
    let p = Prepared::new(name);
    let outs = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (i, root) in p.reference_roots().iter().enumerate() {
        let out = outs.path().join(format!("out{i}"));
        let report = assemble_module_closure(&p.options(&out, &[root])).unwrap();
        let (insmod, builtin) = p.reference(root);
        let want = first_occurrences(&insmod);
        assert_eq!(relpaths(&report), want, "{name}/{root}");
        let builtin_got: Vec<String> = report
            .builtin
            .iter()
            .map(|b| String::from_utf8(b.clone()).unwrap())
            .collect();
        assert_eq!(builtin_got, first_occurrences(&builtin), "{name}/{root}");
        // insmod-list: the copies' absolute paths, in load order.
        let list = std::fs::read_to_string(out.join("insmod-list")).unwrap();
        let moddir = out.join("lib/modules").join(&p.version);
        let want_list: String = want
            .iter()
            .map(|r| format!("{}/{r}\n", moddir.display()))
            .collect();
        assert_eq!(list, want_list, "{name}/{root}");
        // Exactly those module files, plus depmod's inputs and outputs.
        let mut files = Vec::new();
        common::files_with_suffix(&moddir, "", &mut files);
        let modules: BTreeSet<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(&moddir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|f| !f.starts_with("modules."))
            .collect();
        assert_eq!(modules, want.iter().cloned().collect(), "{name}/{root}");
        for db in DATABASES {
            assert!(moddir.join(db).is_file(), "{name}/{root}: {db}");
        }
        for input in [
            "modules.order",
            "modules.builtin",
            "modules.builtin.modinfo",
        ] {
            assert_eq!(
                std::fs::read(moddir.join(input)).unwrap(),
                std::fs::read(p.moddir().join(input)).unwrap(),
                "{name}/{root}: {input}"
            );
        }
        std::fs::remove_dir_all(&out).unwrap();
        checked += 1;
    }
    checked
}

#[test]
fn closure_of_every_fixture_root_is_its_insmod_lines() {
    // One thread per tree: the run is dominated by fsync waits.
    let names = tree_names();
    let checked: usize = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|n| s.spawn(move || check_every_root_of(n)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(checked >= 270, "{checked}");
}

#[test]
fn builtin_root_is_reported_not_copied() {
    let p = Prepared::new("amd64-6.12-xz");
    let outs = tempfile::tempdir().unwrap();
    let out = outs.path().join("out");
    let report = assemble_module_closure(&p.options(&out, &["fuse"])).unwrap();
    assert_eq!(report.builtin, vec![b"fuse".to_vec()]);
    assert!(report.modules.is_empty());
    assert_eq!(std::fs::read(out.join("insmod-list")).unwrap(), b"");
    assert!(report.log.iter().any(|l| l == "  builtin dependency: fuse"));
}

#[test]
fn missing_root_fails_without_allow_missing_and_is_skipped_with_it() {
    let p = Prepared::new("amd64-6.12-xz");
    let outs = tempfile::tempdir().unwrap();
    let out = outs.path().join("out");
    let err = assemble_module_closure(&p.options(&out, &["loop", "no-such-module"])).unwrap_err();
    assert!(
        matches!(&err, ClosureError::RootNotFound { root, .. } if root == "no-such-module"),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("Module no-such-module not found in directory"));
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(outs.path()).unwrap().count(), 0);

    let mut opts = p.options(&out, &["loop", "no-such-module"]);
    opts.allow_missing = true;
    let report = assemble_module_closure(&opts).unwrap();
    assert_eq!(report.missing_roots, vec![b"no-such-module".to_vec()]);
    assert_eq!(relpaths(&report), ["kernel/drivers/block/loop.ko.xz"]);
}

#[test]
fn output_must_be_new_or_empty_and_failures_leave_nothing() {
    let p = Prepared::new("amd64-6.12-xz");
    let outs = tempfile::tempdir().unwrap();
    // Not empty: refused, untouched.
    let out = outs.path().join("full");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep"), b"x").unwrap();
    let err = assemble_module_closure(&p.options(&out, &["loop"])).unwrap_err();
    assert!(matches!(err, ClosureError::OutputNotEmpty { .. }), "{err}");
    assert_eq!(std::fs::read(out.join("keep")).unwrap(), b"x");
    // Empty: used.
    let empty = outs.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assemble_module_closure(&p.options(&empty, &["loop"])).unwrap();
    assert!(empty.join("insmod-list").is_file());
    // A failure after copying (modules.order unreadable: a directory):
    // no output, no temporary directory.
    std::fs::remove_file(p.moddir().join("modules.order")).unwrap();
    std::fs::create_dir(p.moddir().join("modules.order")).unwrap();
    let failed = outs.path().join("failed");
    let err = assemble_module_closure(&p.options(&failed, &["ext4"])).unwrap_err();
    assert!(matches!(err, ClosureError::Io { .. }), "{err}");
    assert!(!failed.exists());
    let left: Vec<_> = std::fs::read_dir(outs.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, ["empty", "full"]);
}

#[test]
fn missing_dependency_file_is_an_error() {
    let p = Prepared::new("amd64-6.12-xz");
    std::fs::remove_file(p.moddir().join("kernel/fs/jbd2/jbd2.ko.xz")).unwrap();
    let outs = tempfile::tempdir().unwrap();
    let out = outs.path().join("out");
    let err = assemble_module_closure(&p.options(&out, &["ext4"])).unwrap_err();
    assert!(
        matches!(&err, ClosureError::ModuleFileMissing { path } if path.ends_with("jbd2.ko.xz")),
        "{err}"
    );
    assert!(!out.exists());
}

/// The firmware names of a module, from kmod's `modinfo -F firmware`.
fn reference_firmware(tree: &str, relpath: &str) -> Vec<String> {
    let text = String::from_utf8(read_fixture(
        &fixtures_dir()
            .join("expected/kmod34")
            .join(tree)
            .join("modinfo-firmware.txt"),
    ))
    .unwrap();
    let header = format!("==> {relpath} <==");
    text.lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with("==> "))
        .map(String::from)
        .collect()
}

#[test]
fn firmware_is_copied_with_suffixes_and_missing_firmware_is_a_warning() {
    let p = Prepared::new("amd64-6.12-xz");
    let fw = reference_firmware(&p.name, "kernel/drivers/net/ethernet/realtek/r8169.ko.xz");
    assert!(fw.len() > 10, "{fw:?}");
    let tmp = tempfile::tempdir().unwrap();
    let (fw1, fw2) = (tmp.path().join("fw1"), tmp.path().join("fw2"));
    // fw[0] plain in fw1; fw[1] as .xz in fw2; fw[2] as .zst in fw1 and
    // plain in fw2 (fw1 wins); the rest missing.
    let put = |dir: &Path, name: &str, data: &[u8]| {
        let f = dir.join(name);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, data).unwrap();
    };
    put(&fw1, &fw[0], b"zero");
    put(&fw2, &format!("{}.xz", fw[1]), b"one");
    put(&fw1, &format!("{}.zst", fw[2]), b"two-zst");
    put(&fw2, &fw[2], b"two-plain");
    let out = tmp.path().join("out");
    let mut opts = p.options(&out, &["r8169"]);
    opts.firmware_dirs = vec![fw1, fw2];
    let report = assemble_module_closure(&opts).unwrap();
    let lib_fw = out.join("lib/firmware");
    assert_eq!(std::fs::read(lib_fw.join(&fw[0])).unwrap(), b"zero");
    assert_eq!(
        std::fs::read(lib_fw.join(format!("{}.xz", fw[1]))).unwrap(),
        b"one"
    );
    assert_eq!(
        std::fs::read(lib_fw.join(format!("{}.zst", fw[2]))).unwrap(),
        b"two-zst"
    );
    assert!(!lib_fw.join(&fw[2]).exists());
    let names: Vec<String> = report
        .firmware
        .iter()
        .filter(|f| f.module == b"r8169")
        .map(|f| String::from_utf8(f.name.clone()).unwrap())
        .collect();
    assert_eq!(names, fw);
    for f in &fw[3..] {
        let warning = format!("WARNING: missing firmware {f} for module r8169");
        assert!(report.log.contains(&warning), "{warning}");
        assert!(!lib_fw.join(f).exists());
    }
    let mut copied = Vec::new();
    common::files_with_suffix(&lib_fw, "", &mut copied);
    assert_eq!(copied.len(), 3, "{copied:?}");
}

/// The closure's databases are the ones depmod writes for the closure
/// (kmod's `depmod34` when installed, else the modules.dep lines of the
/// source restricted to the closure), and resolve every root to the same
/// module files as the source tree.
#[test]
fn depmod_on_the_closure_gives_consistent_databases() {
    let kmod_depmod = ["/opt/kmod34/bin/depmod34"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    for name in ["amd64-6.12-xz", "armhf-6.12-xz"] {
        let p = Prepared::new(name);
        let roots = p.reference_roots();
        let roots: Vec<&str> = roots.iter().map(String::as_str).collect();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let report = assemble_module_closure(&p.options(&out, &roots)).unwrap();
        let moddir = out.join("lib/modules").join(&p.version);
        // modules.dep of the closure: each module's line as in the source.
        let source_deps = p.dependencies();
        let dep = std::fs::read_to_string(moddir.join("modules.dep")).unwrap();
        let got: BTreeSet<(String, Vec<String>)> = dep
            .lines()
            .map(|l| {
                let (m, d) = l.split_once(':').unwrap();
                (
                    m.to_string(),
                    d.split_whitespace().map(String::from).collect(),
                )
            })
            .collect();
        let want: BTreeSet<(String, Vec<String>)> = relpaths(&report)
            .into_iter()
            .map(|m| {
                let d = source_deps[&m].clone();
                (m, d)
            })
            .collect();
        assert_eq!(got, want, "{name}: modules.dep of the closure");
        // Every root resolves to the same modules in the closure.
        let in_closure = ModprobeOptions {
            basedir: Some(out.clone()),
            version: p.version.clone(),
            config: vec![PathBuf::from("/dev/null")],
            ..Default::default()
        };
        let mut messages = Vec::new();
        let (indexes, config) = in_closure.load(&mut messages);
        let prefix = format!("{}/", moddir.display());
        for root in &roots {
            let mut r = Resolver::new(&indexes, &config);
            let got: Vec<String> = r
                .module_load_actions(root.as_bytes(), false, None)
                .unwrap()
                .iter()
                .filter_map(|a| match a {
                    ProbeAction::Insmod { path, .. } => Some(
                        String::from_utf8(path.clone())
                            .unwrap()
                            .strip_prefix(&prefix)
                            .unwrap()
                            .to_string(),
                    ),
                    _ => None,
                })
                .collect();
            assert_eq!(got, p.reference(root).0, "{name}/{root} in the closure");
        }
        // Byte for byte what kmod's depmod writes for the same directory.
        if let Some(depmod) = &kmod_depmod {
            let copy = tmp.path().join("kmod");
            copy_tree(&out.join("lib"), &copy.join("lib"));
            let st = Command::new(depmod)
                .args(["-C", "/dev/null", "-b"])
                .arg(&copy)
                .arg(&p.version)
                .status()
                .unwrap();
            assert!(st.success());
            let kmod_dir = copy.join("lib/modules").join(&p.version);
            for db in DATABASES {
                assert_eq!(
                    std::fs::read(moddir.join(db)).unwrap(),
                    std::fs::read(kmod_dir.join(db)).unwrap(),
                    "{name}: {db} differs from depmod34's"
                );
            }
        }
    }
}

#[test]
fn load_scripts_are_valid_sh_in_dependency_order() {
    let p = Prepared::new("amd64-6.12-xz");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let roots = [
        "ext4",
        "vfio",
        "nft_chain_nat",
        "fuse",
        "usb_storage",
        "uas",
    ];
    let mut opts = p.options(&out, &roots);
    opts.load_scripts = true;
    let report = assemble_module_closure(&opts).unwrap();
    let moddir = out.join("lib/modules").join(&p.version);
    for s in ["load.sh", "unload.sh"] {
        let st = Command::new("sh")
            .arg("-n")
            .arg(out.join(s))
            .status()
            .unwrap();
        assert!(st.success(), "{s} is not valid sh");
    }
    let order: Vec<String> = std::fs::read_to_string(out.join("load-order"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(order, relpaths(&report));
    // De-duplicated first occurrences of all roots' insmod lines.
    let mut all = Vec::new();
    for r in roots {
        all.extend(p.reference(r).0);
    }
    assert_eq!(order, first_occurrences(&all));
    // Every module after all of its dependencies.
    let deps = p.dependencies();
    for (i, m) in order.iter().enumerate() {
        for d in &deps[m] {
            let at = order.iter().position(|x| x == d).unwrap();
            assert!(at < i, "{m} loaded before its dependency {d}");
        }
    }
    let o_line = format!("O='{}'", moddir.display());
    let load = std::fs::read_to_string(out.join("load.sh")).unwrap();
    let unload = std::fs::read_to_string(out.join("unload.sh")).unwrap();
    assert!(load.lines().any(|l| l == o_line), "{load}");
    assert!(unload.lines().any(|l| l == o_line), "{unload}");
    let module_lines = |text: &str, cmd: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix(&format!("{cmd} \"$O\"/'")))
            .map(|l| l.trim_end_matches('\'').to_string())
            .collect()
    };
    assert_eq!(module_lines(&load, "insmod"), order);
    let mut rev = order.clone();
    rev.reverse();
    assert_eq!(module_lines(&unload, "rmmod"), rev);
    // The scripts name files that exist: run them with insmod/rmmod
    // replaced by a check.
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for cmd in ["insmod", "rmmod"] {
        let f = bin.join(cmd);
        std::fs::write(&f, "#!/bin/sh\ntest -f \"$1\" && echo \"$1\"\n").unwrap();
        let mut perm = std::fs::metadata(&f).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&f, perm).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for s in ["load.sh", "unload.sh"] {
        let o = Command::new("sh")
            .arg(out.join(s))
            .env("PATH", &path)
            .output()
            .unwrap();
        let printed = String::from_utf8(o.stdout).unwrap();
        assert_eq!(printed.lines().count(), order.len(), "{s}: {printed}");
    }
}

/// `builtin_firmware`: the firmware of every built-in module with
/// `firmware=` records in modules.builtin.modinfo is copied too (here a
/// pattern, expanded as bash expands it: sorted matches); without it only
/// that of the closure's members.
#[test]
fn builtin_firmware_copies_every_built_in_module_s_firmware() {
    let p = Prepared::new("amd64-6.12-xz");
    let modinfo = p.moddir().join("modules.builtin.modinfo");
    let mut data = std::fs::read(&modinfo).unwrap();
    data.extend_from_slice(
        b"kmt_builtin.firmware=kmt/fw-*.bin\0kmt_builtin.firmware=kmt/none-?.bin\0",
    );
    std::fs::remove_file(&modinfo).unwrap();
    std::fs::write(&modinfo, data).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fw = tmp.path().join("fw");
    for f in ["kmt/fw-b.bin", "kmt/fw-a.bin", "kmt/other.bin"] {
        common::write_file(&fw, f, f.as_bytes());
    }
    for (builtin, out) in [(false, "without"), (true, "with")] {
        let out = tmp.path().join(out);
        let mut opts = p.options(&out, &["vcan"]);
        opts.firmware_dirs = vec![fw.clone()];
        opts.builtin_firmware = builtin;
        let report = assemble_module_closure(&opts).unwrap();
        let mut copied = Vec::new();
        common::files_with_suffix(&out.join("lib/firmware"), "", &mut copied);
        if !builtin {
            assert!(copied.is_empty(), "{copied:?}");
            continue;
        }
        assert_eq!(copied.len(), 2, "{copied:?}");
        let entries: Vec<(String, Vec<String>)> = report
            .firmware
            .iter()
            .filter(|f| f.module == b"kmt_builtin")
            .map(|f| {
                (
                    String::from_utf8(f.name.clone()).unwrap(),
                    f.copied
                        .iter()
                        .map(|c| String::from_utf8(c.clone()).unwrap())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                (
                    "kmt/fw-*.bin".to_string(),
                    vec!["kmt/fw-a.bin".to_string(), "kmt/fw-b.bin".to_string()]
                ),
                ("kmt/none-?.bin".to_string(), vec![]),
            ]
        );
        assert!(report.log.contains(
            &"WARNING: missing firmware kmt/none-?.bin for module kmt_builtin".to_string()
        ));
        assert_eq!(
            std::fs::read(out.join("lib/firmware/kmt/fw-a.bin")).unwrap(),
            b"kmt/fw-a.bin"
        );
    }
}
