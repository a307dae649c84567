//! guix/: `guild compile` of `(kmodtree linux-modules)` and of the package
//! definition `guix/kmodtree.scm` (with Guix's own modules on the load
//! path), and each procedure of `(kmodtree linux-modules)` run under Guile
//! with Guix's arguments against the same procedure of Guix's own
//! `(gnu build linux-modules)` on the same inputs and output paths
//! (`tests/guix/module.scm`; Guix's flat initrd folder: `tests/guix/flat.scm`).
//!
//! Needs `KMODTREE_GUIX_SRC` (`tests/guix/setup.sh`); Guix's
//! `make-linux-module-directory` runs kmod 34's depmod as `depmod`.
//! Without them the tests print a note and pass.

use crate::common;

use common::guix::{
    depmod34, guix_src, kernel_tree, make_extra_tree, make_updates_tree, tree_listing,
    KERNEL_VERSION,
};
use common::{first_difference, fixtures_dir};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `tests/guix/module.scm IMPL ARGS...` under Guile with Guix's
/// sources and `guix/` on the load path, kmodtree as `$KMODTREE`, and
/// `depmod` (for Guix's procedure) from `bin_dir`.
fn module_scm(src: &Path, bin_dir: &Path, impl_: &str, args: &[&Path]) -> (bool, String) {
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let out = Command::new("guile")
        .arg("--no-auto-compile")
        .arg("-L")
        .arg(src)
        .arg("-L")
        .arg(Path::new(REPO).join("guix"))
        .arg(Path::new(REPO).join("tests/guix/module.scm"))
        .arg(impl_)
        .args(args)
        .env("KMODTREE", env!("CARGO_BIN_EXE_kmodtree"))
        .env("PATH", path)
        .output()
        .expect("run guile");
    let stderr: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with(";;;"))
        .map(|l| format!("{l}\n"))
        .collect();
    (out.status.success(), stderr)
}

/// A directory with `depmod` → kmod 34's depmod (Guix runs `depmod`).
fn depmod_bin(tmp: &Path, depmod34: &Path) -> PathBuf {
    let bin = tmp.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(depmod34, bin.join("depmod")).unwrap();
    bin
}

/// Regular files below `dir` (not following links) and their bytes.
fn regular_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).min_depth(1) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            out.insert(rel, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn assert_same_tree(what: &str, ours: &Path, theirs: &Path) {
    let a: Vec<String> = tree_listing(ours);
    let b: Vec<String> = tree_listing(theirs);
    let only_ours: Vec<&String> = a.iter().filter(|l| !b.contains(l)).collect();
    let only_theirs: Vec<&String> = b.iter().filter(|l| !a.contains(l)).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{what}: entries, kinds, sizes, link targets differ: only kmodtree's: {only_ours:?}; only Guix's: {only_theirs:?}"
    );
    let a = regular_files(ours);
    let b = regular_files(theirs);
    for (k, v) in &a {
        assert!(*v == b[k], "{what}: {k}: {}", first_difference(v, &b[k]));
    }
}

#[test]
fn make_linux_module_directory_matches_guix() {
    let test = "make_linux_module_directory_matches_guix";
    let Some(src) = guix_src(test) else { return };
    let Some(depmod34) = depmod34(test) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let bin = depmod_bin(t, &depmod34);
    make_extra_tree(&t.join("extra"));
    make_updates_tree(&t.join("updates"));
    let kernel = kernel_tree();
    let inputs = [kernel.as_path(), &t.join("extra"), &t.join("updates")];
    let out = t.join("out");
    let version = Path::new(KERNEL_VERSION);

    let mut args: Vec<&Path> = vec![Path::new("make-linux-module-directory"), &out, version];
    args.extend(inputs);
    let (ok, err) = module_scm(&src, &bin, "kmodtree", &args);
    assert!(ok, "kmodtree's make-linux-module-directory: {err}");
    std::fs::rename(&out, t.join("ours")).unwrap();
    let (ok, err) = module_scm(&src, &bin, "guix", &args);
    assert!(ok, "Guix's make-linux-module-directory: {err}");
    assert!(out
        .join("lib/modules")
        .join(KERNEL_VERSION)
        .join("modules.dep.bin")
        .is_file());
    assert_same_tree("make-linux-module-directory", &t.join("ours"), &out);
}

#[test]
fn module_databases_match_guix() {
    let test = "module_databases_match_guix";
    let Some(src) = guix_src(test) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let bin = t.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // A kernel's modules plus the synthetic extra module (aliases, a
    // devname with char-major), and a zstd-compressed tree.
    let dir61 = t.join("linux-6.1");
    common::copy_tree(&kernel_tree(), &dir61);
    make_extra_tree(&dir61);
    let zst = fixtures_dir().join("trees/amd64-6.12-zst");
    let dir612 = t.join("linux-6.12");
    common::copy_tree(&zst, &dir612);
    let dirs = [
        dir61.join("lib/modules").join(KERNEL_VERSION),
        dir612.join("lib/modules/6.12.117+deb12-amd64"),
    ];
    for dir in &dirs {
        for (op, file) in [
            ("name", "modules.name"),
            ("alias", "modules.alias"),
            ("devname", "modules.devname"),
        ] {
            let target = dir.join(file);
            let before: Vec<String> = tree_listing(dir);
            let (ok, err) = module_scm(&src, &bin, "kmodtree", &[Path::new(op), dir]);
            assert!(ok, "kmodtree's {op} on {}: {err}", dir.display());
            let ours = std::fs::read(&target).unwrap();
            // Only that file was written.
            let mut after = tree_listing(dir);
            after.retain(|l| !l.starts_with(&format!("{file} ")));
            assert_eq!(before, after, "{op}: only {file} is written");
            std::fs::remove_file(&target).unwrap();
            let (ok, err) = module_scm(&src, &bin, "guix", &[Path::new(op), dir]);
            assert!(ok, "Guix's {op} on {}: {err}", dir.display());
            let theirs = std::fs::read(&target).unwrap();
            std::fs::remove_file(&target).unwrap();
            assert!(
                ours == theirs,
                "{op} on {}: {}",
                dir.display(),
                first_difference(&ours, &theirs)
            );
            assert!(ours.len() > 60, "{op}: not just a header");
        }
    }
}

#[test]
fn flat_initrd_directory_matches_guix() {
    let test = "flat_initrd_directory_matches_guix";
    let Some(src) = guix_src(test) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let bin = t.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let linux = kernel_tree();
    // Built-in names among them: current Guix drops them from the list
    // (what modules.builtin names, as file-name->module-name spells it).
    let builtin = std::fs::read_to_string(
        linux
            .join("lib/modules")
            .join(KERNEL_VERSION)
            .join("modules.builtin"),
    )
    .unwrap();
    let builtin_names: Vec<String> = builtin
        .split_whitespace()
        .take(2)
        .map(|p| {
            let base = p.rsplit('/').next().unwrap();
            base.split('.').next().unwrap().replace('-', "_")
        })
        .collect();
    let mut modules: Vec<&str> = vec!["ext4", "vcan", "can_raw", "loop", "nf_nat"];
    modules.extend(builtin_names.iter().map(String::as_str));
    let guix_initrd = std::fs::read_to_string(src.join("gnu/system/linux-initrd.scm")).unwrap();
    assert!(
        guix_initrd.contains("(lset-difference string=? '#$modules builtin-modules)"),
        "tests/guix/flat.scm follows the Guix whose sources are in {}",
        src.display()
    );
    let out = t.join("initrd-modules");
    let mut args: Vec<&Path> = vec![Path::new("flat"), &linux, &out];
    args.extend(modules.iter().map(Path::new));
    let (ok, err) = module_scm(&src, &bin, "kmodtree", &args);
    assert!(ok, "kmodtree's flat directory: {err}");
    std::fs::rename(&out, t.join("ours")).unwrap();
    let mut guix_args: Vec<OsString> = vec![linux.clone().into(), out.clone().into()];
    guix_args.extend(modules.iter().map(OsString::from));
    let refs: Vec<&std::ffi::OsStr> = guix_args.iter().map(|a| a.as_os_str()).collect();
    let (ok, err) = common::guix::run_guix_script(&src, "flat.scm", &refs);
    assert!(ok, "Guix's flat directory: {err}");
    assert!(out.join("ext4.ko").is_file());
    assert_same_tree("flat initrd directory", &t.join("ours"), &out);
}

/// Runs a command, returning (success, stdout, stderr without Guile's
/// compilation notes).
fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let stderr: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with(";;;"))
        .map(|l| format!("{l}\n"))
        .collect();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

/// `guild compile -L ... -o OUT FILE` (default warnings).
fn guild_compile(load_path: &[&Path], file: &Path, out: &Path) -> (bool, String) {
    let mut cmd = Command::new("guild");
    cmd.arg("compile");
    for p in load_path {
        cmd.arg("-L").arg(p);
    }
    cmd.arg("-o").arg(out).arg(file);
    let (ok, _, err) = run(&mut cmd);
    (ok, err)
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

#[test]
fn guile_compiles_the_module_and_the_package() {
    let test = "guile_compiles_the_module_and_the_package";
    let Some(src) = guix_src(test) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let guix_dir = Path::new(REPO).join("guix");
    if !on_path("guild") {
        eprintln!(
            "note: {test}: no guild (Debian's guile-3.0-dev; tests/guix/setup.sh installs it)"
        );
        return;
    }

    let (ok, err) = guild_compile(
        &[&guix_dir],
        &guix_dir.join("kmodtree/linux-modules.scm"),
        &tmp.path().join("linux-modules.go"),
    );
    assert!(ok, "guild compile (kmodtree linux-modules): {err}");
    assert!(!err.contains("warning"), "{err}");
    let (ok, err) = guild_compile(
        &[&guix_dir, &src],
        &guix_dir.join("kmodtree.scm"),
        &tmp.path().join("kmodtree.go"),
    );
    assert!(ok, "guild compile guix/kmodtree.scm: {err}");

    // The package: name, version, test flags, one crate per crates.io
    // package of Cargo.lock, each with the hash Cargo.lock records.
    let (ok, stdout, err) = run(Command::new("guile")
        .arg("--no-auto-compile")
        .arg("-L")
        .arg(&src)
        .arg("-L")
        .arg(&guix_dir)
        .arg(Path::new(REPO).join("tests/guix/package.scm")));
    assert!(ok, "loading guix/kmodtree.scm: {err}");
    let toml = std::fs::read_to_string(Path::new(REPO).join("Cargo.toml")).unwrap();
    let version = toml
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .unwrap()
        .trim_end_matches('"');
    assert!(
        stdout.starts_with(&format!("name kmodtree {version}\n")),
        "{stdout}"
    );
    assert!(stdout.contains("#:cargo-test-flags"), "{stdout}");
    let crates: BTreeMap<String, String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("crate "))
        .map(|l| {
            let (f, h) = l.split_once(' ').unwrap();
            (f.to_string(), h.to_string())
        })
        .collect();
    assert!(!stdout.contains("\nother "), "only crate origins: {stdout}");
    let lock = std::fs::read_to_string(Path::new(REPO).join("Cargo.lock")).unwrap();
    let registry = lock.matches("source = \"registry+").count();
    assert_eq!(crates.len(), registry, "one origin per crates.io package");
    // Guix's own crate list records some of the same crates: same hashes.
    let guix_crates =
        std::fs::read_to_string(src.join("gnu/packages/rust-crates.scm")).unwrap_or_default();
    let mut agreed = 0;
    for chunk in guix_crates.split("(crate-source \"").skip(1) {
        let fields: Vec<&str> = chunk.split('"').collect();
        if fields.len() < 5 {
            continue;
        }
        let (name, version, hash) = (fields[0], fields[2], fields[4]);
        let file = format!(
            "rust-{}-{version}.tar.gz",
            name.replace('_', "-").to_lowercase()
        );
        if let Some(ours) = crates.get(&file) {
            assert_eq!(ours, hash, "{file}: Guix's hash");
            agreed += 1;
        }
    }
    if !guix_crates.is_empty() {
        assert!(agreed > 0, "some crates shared with Guix's list");
        eprintln!("guix: {agreed} crate hashes agree with Guix's rust-crates.scm");
    }
}

/// The channel: `.guix-channel` names `guix/` as the module directory,
/// each module lives at its module path there. `guix/kmodtree-guix.patch`
/// (for what Guix offers no hook: the system profile's
/// `linux-module-database` and the initrd's `flat-linux-module-directory`)
/// applies to Guix's sources with `patch -p1`; the patched
/// `guix/profiles.scm` compiles with guild, and the kmodtree part of the
/// patched `gnu/system/linux-initrd.scm` gives a computed-file with the
/// channel's package (`tests/guix/patched-initrd.scm`; the whole file
/// needs guile-gcrypt and every (gnu packages ...) module).
#[test]
fn guix_channel_and_patch() {
    let test = "guix_channel_and_patch";
    let channel = std::fs::read_to_string(Path::new(REPO).join(".guix-channel")).unwrap();
    let code: String = channel
        .lines()
        .filter(|l| !l.trim_start().starts_with(";;"))
        .collect::<Vec<_>>()
        .join(" ");
    let words: Vec<&str> = code.split_whitespace().collect();
    assert_eq!(
        words,
        ["(channel", "(version", "0)", "(directory", "\"guix\"))"]
    );
    let guix_dir = Path::new(REPO).join("guix");
    for (module, file) in [
        ("(define-module (kmodtree)", "kmodtree.scm"),
        (
            "(define-module (kmodtree linux-modules)",
            "kmodtree/linux-modules.scm",
        ),
    ] {
        let text = std::fs::read_to_string(guix_dir.join(file)).unwrap();
        assert!(text.contains(module), "{file}: {module}");
    }

    let Some(src) = guix_src(test) else { return };
    if !on_path("guild") || !on_path("patch") {
        eprintln!("note: {test}: no guild or patch");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    for f in ["guix/profiles.scm", "gnu/system/linux-initrd.scm"] {
        common::write_file(t, f, &std::fs::read(src.join(f)).unwrap());
    }
    let patch = guix_dir.join("kmodtree-guix.patch");
    let (ok, stdout, err) = run(Command::new("patch")
        .args(["-p1", "--forward", "-i"])
        .arg(&patch)
        .current_dir(t));
    assert!(ok, "patch -p1 < guix/kmodtree-guix.patch:\n{stdout}{err}");
    assert!(
        !stdout.contains("offset") && !stdout.contains("fuzz"),
        "{stdout}"
    );
    let profiles = std::fs::read_to_string(t.join("guix/profiles.scm")).unwrap();
    assert!(profiles.contains("(resolve-interface '(kmodtree))"));

    let (ok, err) = guild_compile(
        &[t, &src, &guix_dir],
        &t.join("guix/profiles.scm"),
        &t.join("profiles.go"),
    );
    assert!(ok, "guild compile patched guix/profiles.scm: {err}");
    let (ok, stdout, err) = run(Command::new("guile")
        .arg("--no-auto-compile")
        .arg("-L")
        .arg(&src)
        .arg("-L")
        .arg(&guix_dir)
        .arg(Path::new(REPO).join("tests/guix/patched-initrd.scm"))
        .arg(t.join("gnu/system/linux-initrd.scm")));
    assert!(ok, "patched-initrd.scm: {err}");
    assert!(
        stdout.contains(
            "defines kmodtree-package kmodtree-flat-linux-module-directory \
             flat-linux-module-directory guix-flat-linux-module-directory"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("package kmodtree\n"), "{stdout}");
    assert!(
        stdout.contains("computed-file #t linux-modules\n"),
        "{stdout}"
    );
}
