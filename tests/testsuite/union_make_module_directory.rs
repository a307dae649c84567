//! `kmodtree make-module-directory`: the databases must be byte-identical
//! to kmod's depmod on the same union — the fixtures' references for one
//! tree, kmod 34's depmod (when present) for unions of three trees — and
//! Guix's own writers judge `--guix-databases`.

use crate::common;

use common::guix::{
    depmod34, guix_src, kernel_tree, make_extra_tree, make_updates_tree, run_guix_script,
    KERNEL_VERSION,
};
use common::{first_difference, fixtures_dir, read_fixture};
use kmodtree::union::{
    make_module_directory, union_build, LinkMode, ModuleDirectoryError, ModuleDirectoryOptions,
    UnionOptions, KERNEL_INPUT_FILES,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `modules.*` files of a directory, sorted.
fn databases(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("modules."))
        .collect();
    names.sort();
    names
}

fn assert_same_files(ours: &Path, theirs: &Path, names: &[String], what: &str) {
    for n in names {
        let a = fs::read(ours.join(n)).unwrap_or_else(|e| panic!("{what}: ours {n}: {e}"));
        let b = read_fixture(&theirs.join(n));
        assert!(a == b, "{what}: {n}: {}", first_difference(&a, &b));
    }
}

/// A tree holding stale databases, as an old build of an extra package
/// would: they must all go (but the kernel's inputs).
fn make_stale_tree(root: &Path) {
    let dir = root.join("lib/modules").join(KERNEL_VERSION);
    fs::create_dir_all(&dir).unwrap();
    for n in [
        "modules.dep",
        "modules.dep.bin",
        "modules.alias",
        "modules.symbols.bin",
        "modules.weird",
    ] {
        fs::write(dir.join(n), "stale\n").unwrap();
    }
}

#[test]
fn one_fixture_tree_gives_kmods_databases() {
    let tmp = tempfile::tempdir().unwrap();
    let stale = tmp.path().join("stale");
    make_stale_tree(&stale);
    for (tree, mode) in [
        ("amd64-6.1-ko", "eF"),
        ("amd64-6.12-xz", "eF"),
        ("amd64-6.12-zst", "plain"),
        ("amd64-6.12-gz", "plain"),
    ] {
        let root = fixtures_dir().join("trees").join(tree);
        let version = common::kernel_version_of(&root);
        let expected = fixtures_dir().join("expected/kmod34").join(tree).join(mode);
        let out = tmp.path().join(tree);
        let mut inputs = vec![root.clone()];
        if version == KERNEL_VERSION {
            inputs.push(stale.clone());
        }
        let report =
            make_module_directory(&out, &version, &inputs, &ModuleDirectoryOptions::default())
                .unwrap_or_else(|e| panic!("{tree}: {e}"));
        let dir = out.join("lib/modules").join(&version);
        let mut want = databases(&expected);
        want.extend(KERNEL_INPUT_FILES.iter().map(|s| s.to_string()));
        want.sort();
        assert_eq!(databases(&dir), want, "{tree}");
        assert_same_files(&dir, &expected, &databases(&expected), tree);
        if version == KERNEL_VERSION {
            assert_eq!(
                report.removed,
                [
                    "modules.alias",
                    "modules.dep",
                    "modules.dep.bin",
                    "modules.symbols.bin",
                    "modules.weird"
                ]
            );
        }
        // The databases are files of the output, not links into inputs.
        assert!(fs::symlink_metadata(dir.join("modules.dep"))
            .unwrap()
            .is_file());
    }
}

/// kmod 34's depmod on a copy of the same union, stale databases removed
/// the same way.
fn depmod34_reference(
    depmod: &Path,
    tmp: &Path,
    inputs: &[PathBuf],
    remove_modinfo: bool,
) -> PathBuf {
    let reference = tmp.join(format!("reference-{remove_modinfo}"));
    union_build(
        &reference,
        inputs,
        &UnionOptions {
            mode: LinkMode::Copy,
            ..Default::default()
        },
    )
    .unwrap();
    let dir = reference.join("lib/modules").join(KERNEL_VERSION);
    for n in databases(&dir) {
        let keep = KERNEL_INPUT_FILES.contains(&n.as_str())
            && !(remove_modinfo && n == "modules.builtin.modinfo");
        if !keep {
            fs::remove_file(dir.join(n)).unwrap();
        }
    }
    let status = Command::new(depmod)
        .args(["-C", "/dev/null", "-e", "-F"])
        .arg(reference.join("System.map"))
        .arg("-b")
        .arg(&reference)
        .arg(KERNEL_VERSION)
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

#[test]
fn three_trees_give_kmod34s_databases() {
    let Some(depmod) = depmod34("three_trees_give_kmod34s_databases") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let updates = tmp.path().join("updates-pkg");
    let extra = tmp.path().join("extra-pkg");
    let stale = tmp.path().join("stale-pkg");
    make_updates_tree(&updates);
    make_extra_tree(&extra);
    make_stale_tree(&stale);
    let inputs = vec![kernel_tree(), updates, extra, stale];
    for guix_compat in [false, true] {
        let out = tmp.path().join(format!("out-{guix_compat}"));
        let opts = ModuleDirectoryOptions {
            guix_compat,
            ..Default::default()
        };
        make_module_directory(&out, KERNEL_VERSION, &inputs, &opts).unwrap();
        let reference = depmod34_reference(&depmod, tmp.path(), &inputs, guix_compat);
        let dir = out.join("lib/modules").join(KERNEL_VERSION);
        assert_eq!(databases(&dir), databases(&reference));
        assert_same_files(&dir, &reference, &databases(&reference), "three trees");
        let dep = fs::read_to_string(dir.join("modules.dep")).unwrap();
        assert!(dep.contains("updates/loop.ko:"), "updates/ wins: {dep}");
        assert!(
            dep.contains("extra/kmt-extra.ko: kernel/fs/jbd2/jbd2.ko"),
            "{dep}"
        );
        assert_eq!(dir.join("modules.builtin.modinfo").exists(), !guix_compat);
    }
}

#[test]
fn inconsistent_kernel_versions_are_an_error_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other-kernel");
    fs::create_dir_all(other.join("lib/modules/9.9.9-other/extra")).unwrap();
    let out = tmp.path().join("out");
    let e = make_module_directory(
        &out,
        KERNEL_VERSION,
        &[kernel_tree(), other.clone()],
        &ModuleDirectoryOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ModuleDirectoryError::InconsistentVersions(_)));
    let text = e.to_string();
    assert!(text.starts_with("inconsistent kernel versions: "), "{text}");
    for needle in [KERNEL_VERSION, "9.9.9-other", &other.display().to_string()] {
        assert!(text.contains(needle), "{text} names {needle}");
    }
    assert!(!out.exists());
    // The version asked for must be the one the inputs hold.
    let e = make_module_directory(
        &out,
        "1.2.3",
        &[kernel_tree()],
        &ModuleDirectoryOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("1.2.3"), "{e}");
    assert!(!out.exists());
}

#[test]
fn a_failing_depmod_leaves_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    let cycle = fixtures_dir().join("edge/cycle");
    let out = tmp.path().join("out");
    let e = make_module_directory(&out, "0.0", &[cycle], &ModuleDirectoryOptions::default())
        .unwrap_err();
    assert!(matches!(e, ModuleDirectoryError::Depmod(_)), "{e}");
    assert!(e.to_string().contains("Cycle detected"), "{e}");
    assert!(!out.exists());
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "no temporary left"
    );
}

#[test]
fn guix_databases_match_guix_writers_on_the_output() {
    let tmp = tempfile::tempdir().unwrap();
    let extra = tmp.path().join("extra-pkg");
    make_extra_tree(&extra);
    let out = tmp.path().join("out");
    let opts = ModuleDirectoryOptions {
        guix_databases: true,
        ..Default::default()
    };
    make_module_directory(&out, KERNEL_VERSION, &[kernel_tree(), extra], &opts).unwrap();
    let dir = out.join("lib/modules").join(KERNEL_VERSION);
    let name = fs::read_to_string(dir.join("modules.name")).unwrap();
    let expected_line = format!(
        "(\"kmt_extra\"\n  .\n  \"{}/extra/kmt-extra.ko\")",
        dir.display()
    );
    assert!(name.contains(&expected_line), "{name}");
    let devname = fs::read_to_string(dir.join("modules.devname")).unwrap();
    assert!(devname.contains("kmt_extra kmt c10:99\n"), "{devname}");

    let Some(src) = guix_src("guix_databases_match_guix_writers_on_the_output") else {
        return;
    };
    let ours = tmp.path().join("ours");
    fs::create_dir(&ours).unwrap();
    for n in ["modules.name", "modules.alias", "modules.devname"] {
        fs::rename(dir.join(n), ours.join(n)).unwrap();
    }
    let (ok, err) = run_guix_script(&src, "guix-db.scm", &[dir.as_os_str()]);
    assert!(ok, "{err}");
    for n in ["modules.name", "modules.alias", "modules.devname"] {
        let a = fs::read(ours.join(n)).unwrap();
        let b = fs::read(dir.join(n)).unwrap();
        assert!(a == b, "{n}: {}", first_difference(&a, &b));
    }
}

#[test]
fn cli_make_module_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let r = Command::new(env!("CARGO_BIN_EXE_kmodtree"))
        .args(["make-module-directory", "--mode", "hardlink"])
        .arg(&out)
        .arg(KERNEL_VERSION)
        .arg(kernel_tree())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let dir = out.join("lib/modules").join(KERNEL_VERSION);
    let expected = fixtures_dir().join("expected/kmod34/amd64-6.1-ko/eF");
    assert_same_files(&dir, &expected, &databases(&expected), "cli");
}
