//! nix/: the builders of `nix/lib.nix` built by a real Nix (`nix-build`,
//! sandboxed, see `tests/nix/setup.sh`) on fixture trees imported into the
//! store, each result compared with what nixpkgs' (or liminix's) script
//! gives when it runs kmod 34 outside Nix on the same inputs, and rebuilt
//! with `nix-build --check` (bit for bit). Also: every .nix file parses, and
//! `nix/package.nix` hands buildRustPackage the expected arguments.
//!
//! Without `nix-build` (or kmod 34) the tests print a note and pass.

use crate::common;

use common::guix::{make_extra_tree, make_updates_tree, KERNEL_VERSION};
use common::{copy_tree, fixtures_dir};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const XZ_TREE: &str = "amd64-6.12-xz";
const XZ_VERSION: &str = "6.12.117+deb12-amd64";

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// `nix-build` and `nix-instantiate`, or None with a note.
fn nix(test: &str) -> Option<(PathBuf, PathBuf)> {
    match (on_path("nix-build"), on_path("nix-instantiate")) {
        (Some(b), Some(i)) => Some((b, i)),
        _ => {
            eprintln!("note: {test}: Nix tests skipped (no nix-build; run tests/nix/setup.sh)");
            None
        }
    }
}

/// kmod 34's depmod, modprobe and modinfo (`/opt/kmod34/bin`, or
/// `$KMODTREE_KMOD34_BIN`), or None with a note.
struct Kmod34 {
    depmod: PathBuf,
    modprobe: PathBuf,
    modinfo: PathBuf,
}

fn kmod34(test: &str) -> Option<Kmod34> {
    let dir = std::env::var_os("KMODTREE_KMOD34_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/kmod34/bin"));
    let k = Kmod34 {
        depmod: dir.join("depmod34"),
        modprobe: dir.join("modprobe34"),
        modinfo: dir.join("modinfo34"),
    };
    if k.depmod.is_file() && k.modprobe.is_file() && k.modinfo.is_file() {
        Some(k)
    } else {
        eprintln!("note: {test}: Nix builder comparison skipped (no kmod 34 in {dir:?})");
        None
    }
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn depmod(k: &Kmod34, base: &Path, version: &str) {
    depmod_with(k, base, version, &[]);
}

fn depmod_with(k: &Kmod34, base: &Path, version: &str, extra: &[&std::ffi::OsStr]) {
    let (ok, _, err) = run(Command::new(&k.depmod)
        .arg("-b")
        .arg(base)
        .args(extra)
        .arg("-a")
        .arg(version));
    assert!(ok, "depmod34 -b {}: {err}", base.display());
}

/// Every file below `dir`, following symlinks (into the store too): its
/// relative path and bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).follow_links(true).min_depth(1) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            out.insert(rel, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

fn assert_same_files(
    what: &str,
    ours: &BTreeMap<String, Vec<u8>>,
    reference: &BTreeMap<String, Vec<u8>>,
) {
    let a: BTreeSet<&String> = ours.keys().collect();
    let b: BTreeSet<&String> = reference.keys().collect();
    assert_eq!(
        a,
        b,
        "{what}: file sets differ (only in Nix's: {:?}; only in kmod's: {:?})",
        a.difference(&b).collect::<Vec<_>>(),
        b.difference(&a).collect::<Vec<_>>()
    );
    for (k, v) in ours {
        assert!(
            *v == reference[k],
            "{what}: {k} differs: {}",
            common::first_difference(v, &reference[k])
        );
    }
}

/// `nix-build tests/nix/builders.nix --argstr root ROOT -A ATTR [--check]`:
/// (success, output path, stderr, wall time).
fn nix_build(root: &Path, attr: &str, check: bool) -> (bool, Option<PathBuf>, String, Duration) {
    let mut cmd = Command::new("nix-build");
    cmd.arg(Path::new(REPO).join("tests/nix/builders.nix"))
        .arg("--argstr")
        .arg("root")
        .arg(root)
        .arg("-A")
        .arg(attr)
        .arg("--no-out-link");
    if check {
        cmd.arg("--check");
    }
    let t = Instant::now();
    let (ok, stdout, stderr) = run(&mut cmd);
    let took = t.elapsed();
    let path = stdout.lines().last().map(PathBuf::from);
    (ok, path, stderr, took)
}

/// `nix-instantiate --eval --strict --json tests/nix/builders.nix -A ATTR`.
fn nix_eval(root: &Path, attr: &str) -> serde_json::Value {
    let (ok, stdout, err) = run(Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json"])
        .arg(Path::new(REPO).join("tests/nix/builders.nix"))
        .arg("--argstr")
        .arg("root")
        .arg(root)
        .arg("-A")
        .arg(attr));
    assert!(ok, "nix-instantiate -A {attr}: {err}");
    serde_json::from_str(&stdout).unwrap()
}

/// Builds ATTR, then rebuilds it with `--check`; returns the output path.
fn build_and_check(root: &Path, attr: &str) -> PathBuf {
    let (ok, path, err, took) = nix_build(root, attr, false);
    assert!(ok, "nix-build -A {attr} failed:\n{err}");
    let path = path.unwrap();
    let (ok, _, err, took_check) = nix_build(root, attr, true);
    assert!(
        ok,
        "nix-build -A {attr} --check (bit-for-bit rebuild) failed:\n{err}"
    );
    eprintln!(
        "nix: {attr}: nix-build {:.2} s (less when already built), nix-build --check (a real rebuild) {:.2} s: {}",
        took.as_secs_f64(),
        took_check.as_secs_f64(),
        path.display()
    );
    path
}

/// The sandbox setting Nix reports (`nix show-config` is experimental in
/// some versions; nix.conf is read instead).
fn sandbox_setting() -> String {
    std::fs::read_to_string("/etc/nix/nix.conf")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "sandbox").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "default".into())
}

/// Builds `sandboxProbe` (then rebuilds it with --check so that it really
/// runs now); with `sandbox = true` in nix.conf it must not see the host.
fn probe_sandbox(r: &Path) {
    let sandbox = sandbox_setting();
    let (built, _, err1, _) = nix_build(r, "sandboxProbe", false);
    let (rebuilt, _, err2, _) = nix_build(r, "sandboxProbe", true);
    let probe_ok = built && rebuilt;
    let probe_err = format!("{err1}{err2}");
    eprintln!(
        "nix: sandbox = {sandbox} in nix.conf; probe build: {}",
        if probe_ok {
            "sandboxed"
        } else {
            "not sandboxed"
        }
    );
    if sandbox == "true" {
        assert!(
            probe_ok,
            "sandbox = true, yet the build saw the host:\n{probe_err}"
        );
    }
}

/// The inputs in ROOT, as `tests/nix/builders.nix` expects them.
struct Inputs {
    root: tempfile::TempDir,
    firmware_names: Vec<String>,
}

/// kmodtree itself in ROOT/kmodtree/bin, stripped (less to hash into the
/// store).
fn copy_kmodtree(r: &Path) {
    let bin = r.join("kmodtree/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_kmodtree"), bin.join("kmodtree")).unwrap();
    let _ = Command::new("strip").arg(bin.join("kmodtree")).status();
}

fn prepare(k: &Kmod34) -> Inputs {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    copy_kmodtree(r);

    // A kernel package: the fixture tree with kmod's databases, and two
    // module packages (an out-of-tree module, an updates/ override).
    let trees = fixtures_dir().join("trees");
    copy_tree(&trees.join(common::guix::KERNEL), &r.join("linux-6.1"));
    depmod(k, &r.join("linux-6.1"), KERNEL_VERSION);
    make_extra_tree(&r.join("extra-6.1"));
    make_updates_tree(&r.join("updates-6.1"));
    let other = r.join("other-version/lib/modules/9.9.9/extra");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(
        r.join("extra-6.1/lib/modules")
            .join(KERNEL_VERSION)
            .join("extra/kmt_leaf.ko"),
        other.join("kmt_leaf.ko"),
    )
    .unwrap();

    // The depmod configuration a module package may carry (nixpkgs reads
    // only the aggregate's etc/depmod.d).
    common::write_file(
        &r.join("updates-6.1/etc/depmod.d"),
        "kmt.conf",
        b"search extra updates built-in\n",
    );

    copy_tree(&trees.join(XZ_TREE), &r.join("linux-6.12"));
    let moddir612 = r.join("linux-6.12/lib/modules").join(XZ_VERSION);
    let r8169 = moddir612.join("kernel/drivers/net/ethernet/realtek/r8169.ko.xz");
    // r8169's firmware field with shell patterns, as some drivers now
    // give them (same lengths, so the module stays valid).
    patch_xz_module(
        &r8169,
        &[
            ("rtl_nic/rtl8168e-3.fw", "rtl_nic/rtl8168?-3.fw"),
            ("rtl_nic/rtl8168d-1.fw", "rtl_nic/rtl8168*-1.fw"),
            ("rtl_nic/rtl8411-1.fw", "rtl_nic/rtl8?11-9.fw"),
        ],
    );
    // A built-in module naming firmware (with a pattern).
    let mut builtin = std::fs::read(moddir612.join("modules.builtin.modinfo")).unwrap();
    builtin.extend_from_slice(b"kmt_builtin_fw.firmware=extra/builtin-*.bin\0");
    std::fs::write(moddir612.join("modules.builtin.modinfo"), builtin).unwrap();
    depmod(k, &r.join("linux-6.12"), XZ_VERSION);

    // Firmware: r8169's first three names as NAME, NAME.xz and NAME.zst;
    // files for its patterns: `?-3` matches two files and a directory (cp
    // copies the files and fails, so the name is missing too), `*-1` only
    // as .xz, `8?11-9` nothing; an extra path, an extra pattern; files
    // for the built-in module; an edid directory.
    let (ok, stdout, err) = run(Command::new(&k.modinfo)
        .args(["-F", "firmware"])
        .arg(&r8169));
    assert!(ok, "modinfo34: {err}");
    let firmware_names: Vec<String> = stdout.lines().map(str::to_string).collect();
    assert!(firmware_names.len() > 3, "r8169 names firmware");
    assert!(
        firmware_names.iter().any(|n| n == "rtl_nic/rtl8168*-1.fw"),
        "{firmware_names:?}"
    );
    let fw = r.join("firmware/lib/firmware");
    for (name, suffix) in firmware_names.iter().zip(["", ".xz", ".zst"]) {
        common::write_file(
            &fw,
            &format!("{name}{suffix}"),
            format!("{name}{suffix}\n").as_bytes(),
        );
    }
    for f in [
        "rtl_nic/rtl8168e-3.fw",
        "rtl_nic/rtl8168g-3.fw",
        "rtl_nic/rtl8168d-1.fw.xz",
        "rtl_nic/rtl8168f-1.fw.xz",
        "rtl_nic/rtl8168F-1.fw.xz",
        "extra/blob.bin",
        "extra/pat-a.bin",
        "extra/pat-b.bin.zst",
        "extra/builtin-1.bin",
        "extra/builtin-2.bin",
        "edid/1920x1080.bin",
    ] {
        common::write_file(&fw, f, format!("{f}\n").as_bytes());
    }
    std::fs::create_dir_all(fw.join("rtl_nic/rtl8168z-3.fw")).unwrap();
    let extra = ["extra/blob.bin", "extra/absent.bin", "extra/pat-?.bin"];
    std::fs::write(
        r.join("extra-firmware.json"),
        serde_json::to_string(&extra).unwrap(),
    )
    .unwrap();

    let roots = ["vcan", "ext4", "fuse", "r8169", "nf_nat", "usb_storage"];
    std::fs::write(r.join("roots.json"), serde_json::to_string(&roots).unwrap()).unwrap();
    let targets = ["nf_nat", "vcan", "ext4", "can_raw"];
    std::fs::write(
        r.join("targets.json"),
        serde_json::to_string(&targets).unwrap(),
    )
    .unwrap();
    Inputs {
        root,
        firmware_names,
    }
}

/// Replaces strings of equal length in an xz-compressed module.
fn patch_xz_module(path: &Path, pairs: &[(&str, &str)]) {
    let (ok, _, err) = run(Command::new("xz").arg("-d").arg("-k").arg(path));
    assert!(ok, "xz -d: {err}");
    let plain = path.with_extension("");
    let mut bytes = std::fs::read(&plain).unwrap();
    for (from, to) in pairs {
        assert_eq!(from.len(), to.len());
        let needle = format!("firmware={from}\0");
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap_or_else(|| panic!("{needle:?} in {}", path.display()));
        let start = at + "firmware=".len();
        bytes[start..start + to.len()].copy_from_slice(to.as_bytes());
    }
    std::fs::write(&plain, bytes).unwrap();
    std::fs::remove_file(path).unwrap();
    let (ok, _, err) = run(Command::new("xz")
        .args(["--check=crc32", "--lzma2=dict=1MiB"])
        .arg(&plain));
    assert!(ok, "xz: {err}");
}

/// nixpkgs' aggregator.nix with kmod outside Nix: buildEnv of the inputs
/// (copied here), `rm modules.!(builtin*|order*)`, `depmod -b OUT -C
/// OUT/etc/depmod.d -a VERSION` (or `-C CONFIG`, PR #426290's depmodConfig).
fn reference_aggregate(k: &Kmod34, inputs: &[PathBuf], out: &Path, version: &str) {
    reference_aggregate_with(k, inputs, out, version, None);
}

fn reference_aggregate_with(
    k: &Kmod34,
    inputs: &[PathBuf],
    out: &Path,
    version: &str,
    config: Option<&Path>,
) {
    for i in inputs {
        copy_tree(i, out);
    }
    let moddir = out.join("lib/modules").join(version);
    for e in std::fs::read_dir(&moddir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix("modules.") {
            if !rest.starts_with("builtin") && !rest.starts_with("order") {
                std::fs::remove_file(moddir.join(&name)).unwrap();
            }
        }
    }
    let default_config = out.join("etc/depmod.d");
    let config = config.unwrap_or(&default_config);
    depmod_with(k, out, version, &["-C".as_ref(), config.as_os_str()]);
}

/// Copies `src` to `dst`, creating parents.
fn copy_file(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    std::fs::copy(src, dst).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
}

/// nixpkgs' modules-closure.sh, as `tests/nix/modules-closure-reference.sh`
/// re-creates it, run by bash with kmod 34 outside Nix (so firmware names
/// are expanded by bash itself); insmod-list paths are written below `out`.
fn reference_closure(
    k: &Kmod34,
    kernel: &Path,
    firmware: &Path,
    roots: &[String],
    extra_firmware: &[String],
    out: &Path,
    allow_missing: bool,
) -> String {
    let bin = out.with_extension("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, tool) in [
        ("modprobe", &k.modprobe),
        ("modinfo", &k.modinfo),
        ("depmod", &k.depmod),
    ] {
        std::os::unix::fs::symlink(tool, bin.join(name)).unwrap();
    }
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let (ok, stdout, err) = run(Command::new("bash")
        .arg(Path::new(REPO).join("tests/nix/modules-closure-reference.sh"))
        .env("PATH", path)
        .env("kernel", kernel)
        .env("firmware", firmware)
        .env("out", out)
        .env("rootModules", roots.join(" "))
        .env("allowMissing", if allow_missing { "1" } else { "" })
        .env("extraFirmwarePaths", extra_firmware.join(" ")));
    assert!(ok, "modules-closure-reference.sh: {stdout}{err}");
    stdout
}

/// Replaces the output path in insmod-list with `@OUT@`.
fn unroot_insmod_list(files: &mut BTreeMap<String, Vec<u8>>, out: &Path) {
    if let Some(v) = files.get_mut("insmod-list") {
        *v = common::unroot(v, &out.display().to_string());
    }
}

#[test]
fn nix_builders_match_kmod_in_the_sandbox() {
    let test = "nix_builders_match_kmod_in_the_sandbox";
    let Some(_) = nix(test) else { return };
    let Some(k) = kmod34(test) else { return };
    let inputs = prepare(&k);
    let r = inputs.root.path();
    probe_sandbox(r);

    // What the call forms evaluate to.
    let checks = nix_eval(r, "evalChecks");
    assert_eq!(checks["modulesTreeName"], "linux-6.1-modules");
    assert_eq!(checks["defaultName"], "kernel-modules");
    assert_eq!(checks["target"], "kmodtree-target");
    assert_eq!(checks["targetInPassthru"], "kmodtree-target");
    assert_eq!(checks["targetOverridable"], "renamed");
    assert_eq!(checks["closureName"], "linux-6.12-modules-shrunk");
    assert_eq!(checks["closureOverride"], "linux-6.12-modules-shrunk");
    assert_eq!(checks["libHasOverride"], true);
    assert_eq!(checks["libOverrideName"], "x");
    assert_eq!(
        checks["missingPackage"], false,
        "override of a foreign package"
    );

    // aggregateModules [ kernel extra updates ]: lib.nix's, and NixOS's
    // `(pkgs.aggregateModules modules).override { name = ...; }`.
    let ref_agg = r.join("ref-aggregate");
    let agg_inputs: Vec<PathBuf> = ["linux-6.1", "extra-6.1", "updates-6.1"]
        .iter()
        .map(|n| r.join(n))
        .collect();
    reference_aggregate(&k, &agg_inputs, &ref_agg, KERNEL_VERSION);
    let reference = files(&ref_agg);
    for attr in ["aggregate", "nixosModulesTree", "warmModulesTree"] {
        let agg = build_and_check(r, attr);
        let ours = files(&agg);
        assert!(ours.contains_key(&format!("lib/modules/{KERNEL_VERSION}/extra/kmt-extra.ko")));
        assert!(ours.contains_key("etc/depmod.d/kmt.conf"));
        assert_same_files(attr, &ours, &reference);
        // The extra module's dependency, and the updates/ override, resolved.
        let dep =
            String::from_utf8(ours[&format!("lib/modules/{KERNEL_VERSION}/modules.dep")].clone())
                .unwrap();
        assert!(
            dep.contains("extra/kmt-extra.ko: kernel/fs/jbd2/jbd2.ko"),
            "{dep}"
        );
        assert!(dep.contains("updates/loop.ko:"), "{dep}");
        // buildEnv's shape: a directory one input alone holds is a link.
        let moddir = agg.join("lib/modules").join(KERNEL_VERSION);
        assert!(!moddir.is_symlink(), "{attr}: {}", moddir.display());
        assert!(moddir.join("kernel").is_symlink(), "{attr}: kernel/");
    }
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    let tree = build_and_check(r, "nixosModulesTree");
    assert!(
        name(&tree).ends_with("-linux-6.1-modules"),
        "{}",
        tree.display()
    );
    let with_target = build_and_check(r, "withTarget");
    assert!(name(&with_target).ends_with("-kernel-modules"));

    // The kernel alone: its own databases, not regenerated.
    let alone = build_and_check(r, "nixosKernelOnly");
    assert!(alone.join("lib").is_symlink(), "the kernel's lib/, linked");
    assert_same_files(
        "aggregateModules [ kernel ]",
        &files(&alone),
        &files(&r.join("linux-6.12")),
    );

    // PR #426290's depmodConfig: its overrides as depmod.conf, used
    // instead of etc/depmod.d.
    let with_config = build_and_check(r, "withDepmodConfig");
    let conf = r.join("depmod-override.conf");
    std::fs::write(&conf, "override loop * kernel/drivers/block").unwrap();
    let ref_config = r.join("ref-aggregate-config");
    reference_aggregate_with(&k, &agg_inputs, &ref_config, KERNEL_VERSION, Some(&conf));
    copy_file(
        &conf,
        &ref_config
            .join("lib/modules")
            .join(KERNEL_VERSION)
            .join("depmod.conf"),
    );
    let ours = files(&with_config);
    assert_same_files(
        "aggregateModules (depmodConfig)",
        &ours,
        &files(&ref_config),
    );
    let dep = String::from_utf8(ours[&format!("lib/modules/{KERNEL_VERSION}/modules.dep")].clone())
        .unwrap();
    assert!(dep.contains("kernel/drivers/block/loop.ko:"), "{dep}");

    let (ok, _, err, _) = nix_build(r, "aggregateMixed", false);
    assert!(!ok, "mixed kernel versions must fail");
    assert!(
        err.contains("inconsistent kernel versions: 6.1.0-56-amd64 9.9.9"),
        "{err}"
    );

    // makeModulesClosure, with firmware patterns: lib.nix's, and NixOS's
    // initrd form over the kernel-only modules tree.
    let roots: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(r.join("roots.json")).unwrap()).unwrap();
    let extra: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(r.join("extra-firmware.json")).unwrap())
            .unwrap();
    let ref_closure = r.join("ref-closure");
    let log = reference_closure(
        &k,
        &r.join("linux-6.12"),
        &r.join("firmware"),
        &roots,
        &extra,
        &ref_closure,
        false,
    );
    assert!(
        log.contains("WARNING: missing firmware rtl_nic/rtl8168?-3.fw"),
        "{log}"
    );
    let mut theirs = files(&ref_closure);
    unroot_insmod_list(&mut theirs, &ref_closure);
    for f in [
        "rtl_nic/rtl8168e-3.fw",
        "rtl_nic/rtl8168g-3.fw",
        "rtl_nic/rtl8168F-1.fw.xz",
        "rtl_nic/rtl8168d-1.fw.xz",
        "rtl_nic/rtl8168f-1.fw.xz",
        "extra/pat-a.bin",
        "extra/blob.bin",
        "edid/1920x1080.bin",
    ] {
        assert!(theirs.contains_key(&format!("lib/firmware/{f}")), "{f}");
    }
    // `pat-?.bin` matched, so `pat-?.bin.zst` was not tried.
    assert!(!theirs.contains_key("lib/firmware/extra/pat-b.bin.zst"));
    for (name, suffix) in inputs.firmware_names.iter().zip(["", ".xz", ".zst"]) {
        assert!(theirs.contains_key(&format!("lib/firmware/{name}{suffix}")));
    }
    for attr in ["closure", "nixosInitrd"] {
        let closure = build_and_check(r, attr);
        let mut ours = files(&closure);
        unroot_insmod_list(&mut ours, &closure);
        assert_same_files(attr, &ours, &theirs);
    }

    let closure_missing = build_and_check(r, "closureMissing");
    let ref_missing = r.join("ref-closure-missing");
    reference_closure(
        &k,
        &r.join("linux-6.12"),
        &r.join("firmware"),
        &["vcan".to_string(), "no_such_module".to_string()],
        &[],
        &ref_missing,
        true,
    );
    let mut ours = files(&closure_missing);
    let mut theirs = files(&ref_missing);
    unroot_insmod_list(&mut ours, &closure_missing);
    unroot_insmod_list(&mut theirs, &ref_missing);
    assert_same_files("makeModulesClosure (allowMissing)", &ours, &theirs);

    // builtinFirmware: the reference plus the built-in module's firmware.
    let with_builtin = build_and_check(r, "builtinFirmware");
    let mut ours = files(&with_builtin);
    unroot_insmod_list(&mut ours, &with_builtin);
    let mut theirs = files(&ref_missing);
    unroot_insmod_list(&mut theirs, &ref_missing);
    for f in ["extra/builtin-1.bin", "extra/builtin-2.bin"] {
        let path = format!("lib/firmware/{f}");
        theirs.insert(path, format!("{f}\n").into_bytes());
    }
    assert_same_files("makeModulesClosure (builtinFirmware)", &ours, &theirs);

    // Every root missing: empty, as nixpkgs; an error with allowEmpty = false.
    let empty = build_and_check(r, "closureEmptyAccepted");
    assert!(files(&empty).keys().all(|k| !k.ends_with(".ko.xz")));
    let (ok, _, err, _) = nix_build(r, "closureEmpty", false);
    assert!(!ok, "an empty closure with allowEmpty = false must fail");
    assert!(err.contains("allowEmpty"), "{err}");

    // kmodloader: liminix's load-order (modprobe --show-depends of each
    // target, insmod lines, first occurrences), scripts in that order, and
    // a valid tree of those modules.
    let loader = build_and_check(r, "loader");
    let targets: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(r.join("targets.json")).unwrap()).unwrap();
    let kernel = r.join("linux-6.12");
    let source_moddir = kernel.join("lib/modules").join(XZ_VERSION);
    let mut order: Vec<String> = Vec::new();
    for t in &targets {
        let (ok, stdout, err) = run(Command::new(&k.modprobe)
            .args(["--config", "no-config", "-S", XZ_VERSION, "-d"])
            .arg(&kernel)
            .args(["--show-depends", t]));
        assert!(ok, "modprobe34 {t}: {err}");
        for line in stdout.lines() {
            if let Some(p) = line.strip_prefix("insmod ") {
                let rel = p
                    .trim_end()
                    .strip_prefix(&format!("{}/", source_moddir.display()))
                    .unwrap()
                    .to_string();
                if !order.contains(&rel) {
                    order.push(rel);
                }
            }
        }
    }
    let load_order = std::fs::read_to_string(loader.join("load-order")).unwrap();
    assert_eq!(load_order.lines().collect::<Vec<_>>(), order, "load-order");
    let script_paths = |file: &str, verb: &str| -> Vec<String> {
        let text = std::fs::read_to_string(loader.join(file)).unwrap();
        let o = format!("O='{}/lib/modules/{XZ_VERSION}'", loader.display());
        assert!(text.lines().any(|l| l == o), "{file}: {o}");
        text.lines()
            .filter_map(|l| l.strip_prefix(&format!("{verb} \"$O\"/'")))
            .map(|l| l.strip_suffix('\'').unwrap().to_string())
            .collect()
    };
    assert_eq!(script_paths("load.sh", "insmod"), order, "load.sh");
    let mut reversed = order.clone();
    reversed.reverse();
    assert_eq!(script_paths("unload.sh", "rmmod"), reversed, "unload.sh");
    // The tree: those modules and kmod's databases for them.
    let ref_loader = r.join("ref-loader");
    let ref_moddir = ref_loader.join("lib/modules").join(XZ_VERSION);
    for rel in &order {
        copy_file(&source_moddir.join(rel), &ref_moddir.join(rel));
    }
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        copy_file(&source_moddir.join(f), &ref_moddir.join(f));
    }
    depmod(&k, &ref_loader, XZ_VERSION);
    assert_same_files(
        "kmodloader tree",
        &files(&loader.join("lib")),
        &files(&ref_loader.join("lib")),
    );
}

/// `buildDkmsModule` on a one-module dkms.conf source, built by Nix in its
/// sandbox against Debian's headers (seen through /usr), its vermagic
/// checked against the amd64-6.1-ko fixture tree's modules, and rebuilt bit
/// for bit with `--check`.
#[test]
fn nix_builds_a_dkms_module_in_the_sandbox() {
    let test = "nix_builds_a_dkms_module_in_the_sandbox";
    let Some(_) = nix(test) else { return };
    let Some((v, headers)) = common::dkms::kernel() else {
        return;
    };
    // builders.nix names this kernel and these headers.
    if v != KERNEL_VERSION
        || headers != Path::new("/usr/src").join(format!("linux-headers-{KERNEL_VERSION}"))
    {
        eprintln!("note: {test}: skipped (builders.nix builds for {KERNEL_VERSION}, not {v})");
        return;
    }
    let tree = fixtures_dir().join("trees").join(common::guix::KERNEL);
    let kmoddir = tree.join("lib/modules").join(KERNEL_VERSION);
    if !kmoddir.is_dir() {
        eprintln!("note: {test}: skipped (no fixture tree {})", tree.display());
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    copy_kmodtree(r);
    common::dkms::one_module(&r.join("dkms-hello"));
    copy_tree(&tree, &r.join("linux-6.1-ko"));
    probe_sandbox(r);

    let out = build_and_check(r, "dkms");
    let ko = out.join(format!("lib/modules/{KERNEL_VERSION}/updates/hello.ko.xz"));
    assert!(ko.is_file(), "{}: {:?}", ko.display(), files(&out).keys());
    let modinfo = |field: &str, path: &Path| -> String {
        let (ok, stdout, err) = run(Command::new(env!("CARGO_BIN_EXE_kmodtree"))
            .args(["modinfo", "-F", field])
            .arg(path));
        assert!(ok, "kmodtree modinfo -F {field} {}: {err}", path.display());
        stdout
    };
    let order = std::fs::read_to_string(kmoddir.join("modules.order")).unwrap();
    let first = kmoddir.join(order.lines().next().unwrap());
    let vermagic = modinfo("vermagic", &ko);
    assert!(
        vermagic.starts_with(&format!("{KERNEL_VERSION} ")),
        "{vermagic}"
    );
    assert_eq!(
        vermagic,
        modinfo("vermagic", &first),
        "vermagic equals that of {}",
        first.display()
    );
    assert_eq!(modinfo("name", &ko), "hello\n");
    assert_eq!(modinfo("description", &ko), "kmodtree dkms test\n");
    let logs = out.join("share/kmodtree/dkms/hello-1.0");
    assert!(logs.is_dir(), "{}", logs.display());
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(logs.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["status"], "built");
    // Only the module and the logs.
    let modules: Vec<String> = files(&out)
        .into_keys()
        .filter(|k| !k.starts_with("share/kmodtree/dkms/hello-1.0/"))
        .collect();
    assert_eq!(
        modules,
        [format!("lib/modules/{KERNEL_VERSION}/updates/hello.ko.xz")]
    );
}

#[test]
fn nix_files_parse() {
    let Some((_, instantiate)) = nix("nix_files_parse") else {
        return;
    };
    let mut n = 0;
    for dir in ["nix", "tests/nix"] {
        for e in std::fs::read_dir(Path::new(REPO).join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "nix") {
                let (ok, _, err) = run(Command::new(&instantiate).arg("--parse").arg(&p));
                assert!(ok, "{}: {err}", p.display());
                n += 1;
            }
        }
    }
    assert!(n >= 4, "found the .nix files");
}

/// `nix/package.nix` evaluated with a stub `rustPlatform` whose
/// buildRustPackage returns its arguments, which are then checked.
#[test]
fn package_nix_gives_build_rust_package_its_arguments() {
    let Some((_, instantiate)) = nix("package_nix_gives_build_rust_package_its_arguments") else {
        return;
    };
    let expr = |fixtures: &str| {
        format!(
            r#"let
  pkg = import {REPO}/nix/package.nix {{
    lib = {{ licenses.gpl2Plus = "gpl2Plus"; platforms.linux = [ "x86_64-linux" ]; }};
    rustPlatform.buildRustPackage = args: args;
    {fixtures}
  }};
in {{
  inherit (pkg) pname version doCheck cargoTestFlags checkFlags checkFeatures preCheck;
  lockFileIsCargoLock = builtins.readFile pkg.cargoLock.lockFile == builtins.readFile {REPO}/Cargo.lock;
  srcHas = map (f: builtins.pathExists "${{pkg.src}}/${{f}}") [ "Cargo.toml" "Cargo.lock" "src/main.rs" "tests/testsuite/main.rs" ];
  srcHasTarget = builtins.pathExists "${{pkg.src}}/target";
  inherit (pkg.meta) description license mainProgram platforms;
}}"#
        )
    };
    let eval = |fixtures: &str| -> serde_json::Value {
        let (ok, stdout, err) = run(Command::new(&instantiate)
            .args(["--eval", "--strict", "--json", "--read-write-mode", "-E"])
            .arg(expr(fixtures)));
        assert!(ok, "nix-instantiate: {err}");
        serde_json::from_str(&stdout).unwrap()
    };
    let v = eval("");
    let toml = std::fs::read_to_string(Path::new(REPO).join("Cargo.toml")).unwrap();
    assert_eq!(v["pname"], "kmodtree");
    assert!(
        toml.contains(&format!("version = {}", v["version"])),
        "{}",
        v["version"]
    );
    assert_eq!(v["doCheck"], true);
    assert_eq!(v["lockFileIsCargoLock"], true);
    assert_eq!(v["srcHas"], serde_json::json!([true, true, true, true]));
    assert_eq!(v["srcHasTarget"], false);
    assert_eq!(v["license"], "gpl2Plus");
    assert_eq!(v["mainProgram"], "kmodtree");
    assert!(v["description"].as_str().unwrap().contains("kmod"));
    assert_eq!(v["platforms"], serde_json::json!(["x86_64-linux"]));
    // Without fixtures: unit tests and the testsuite, skipping the
    // families that need fixtures, each of which exists; the others do not
    // read them.
    let flags: Vec<String> = serde_json::from_value(v["cargoTestFlags"].clone()).unwrap();
    assert_eq!(flags, ["--lib", "--bins", "--test", "testsuite"]);
    let flags: Vec<String> = serde_json::from_value(v["checkFlags"].clone()).unwrap();
    let skipped: Vec<&str> = flags
        .iter()
        .zip(flags.iter().skip(1))
        .filter(|(f, _)| *f == "--skip")
        .map(|(_, t)| t.strip_suffix("::").expect("a module path"))
        .collect();
    assert!(!skipped.is_empty());
    let suite = Path::new(REPO).join("tests/testsuite");
    for t in &skipped {
        let src = suite.join(format!("{t}.rs"));
        assert!(src.is_file(), "{}", src.display());
    }
    for e in std::fs::read_dir(&suite).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let Some(t) = name.strip_suffix(".rs") else {
            continue;
        };
        if !skipped.contains(&t) {
            let text = std::fs::read_to_string(suite.join(&name)).unwrap();
            assert!(!text.contains("fixtures_dir()"), "{t} needs fixtures");
        }
    }
    assert_eq!(v["checkFeatures"], serde_json::json!(["failpoints"]));
    assert_eq!(v["preCheck"], "");
    // With fixtures: every test, KMODTREE_FIXTURES set.
    let v = eval("fixtures = \"/nonexistent/fixtures\";");
    assert_eq!(v["cargoTestFlags"], serde_json::json!([]));
    assert_eq!(v["checkFlags"], serde_json::json!([]));
    assert!(v["preCheck"]
        .as_str()
        .unwrap()
        .contains("KMODTREE_FIXTURES="));
}

/// flake.nix's outputs (packages, overlays.default, nixosModules.default)
/// evaluated offline by `tests/nix/flake-eval.nix` with the minimal nixpkgs.
#[test]
fn flake_outputs_evaluate() {
    let Some((_, instantiate)) = nix("flake_outputs_evaluate") else {
        return;
    };
    let (ok, stdout, err) = run(Command::new(&instantiate)
        .args(["--eval", "--strict", "--json"])
        .arg(Path::new(REPO).join("tests/nix/flake-eval.nix")));
    assert!(ok, "nix-instantiate: {err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["packagePname"], "kmodtree");
    assert_eq!(v["defaultIsKmodtree"], "kmodtree");
    assert_eq!(
        v["overlayAttrs"],
        serde_json::json!([
            "aggregateModules",
            "kernelManifest",
            "kmodtree",
            "makeModulesClosure"
        ])
    );
    assert_eq!(v["option"], "option");
    assert_eq!(v["optionDefault"], false);
    assert_eq!(v["enabledWhen"], true);
    assert_eq!(v["offWhen"], false);
    assert_eq!(v["overlays"], 1);
    // nixpkgs' own argument names are all accepted, and kmodtree's added.
    let args = |k: &str| -> Vec<String> { serde_json::from_value(v[k].clone()).unwrap() };
    for a in [
        "modules",
        "name",
        "kmod",
        "stdenvNoCC",
        "buildEnv",
        "kernelVersion",
        "depmodConfig",
        "manifest",
    ] {
        assert!(args("aggregatorArgs").contains(&a.to_string()), "{a}");
    }
    for a in [
        "kernel",
        "firmware",
        "rootModules",
        "allowMissing",
        "extraFirmwarePaths",
        "nukeReferences",
        "kmod",
        "stdenvNoCC",
        "allowEmpty",
        "builtinFirmware",
    ] {
        assert!(args("closureArgs").contains(&a.to_string()), "{a}");
    }
}
