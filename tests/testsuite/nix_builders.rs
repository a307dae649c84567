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
    let (ok, _, err) = run(Command::new(&k.depmod)
        .arg("-b")
        .arg(base)
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

    copy_tree(&trees.join(XZ_TREE), &r.join("linux-6.12"));
    depmod(k, &r.join("linux-6.12"), XZ_VERSION);

    // Firmware: r8169's first three names as NAME, NAME.xz and NAME.zst,
    // the others missing; an extra path; an edid directory.
    let r8169 = r
        .join("linux-6.12/lib/modules")
        .join(XZ_VERSION)
        .join("kernel/drivers/net/ethernet/realtek/r8169.ko.xz");
    let (ok, stdout, err) = run(Command::new(&k.modinfo)
        .args(["-F", "firmware"])
        .arg(&r8169));
    assert!(ok, "modinfo34: {err}");
    let firmware_names: Vec<String> = stdout.lines().map(str::to_string).collect();
    assert!(firmware_names.len() > 3, "r8169 names firmware");
    let fw = r.join("firmware/lib/firmware");
    for (name, suffix) in firmware_names.iter().zip(["", ".xz", ".zst"]) {
        common::write_file(
            &fw,
            &format!("{name}{suffix}"),
            format!("{name}{suffix}\n").as_bytes(),
        );
    }
    common::write_file(&fw, "extra/blob.bin", b"blob\n");
    common::write_file(&fw, "edid/1920x1080.bin", b"edid\n");

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

/// nixpkgs' aggregator.nix with kmod outside Nix: buildEnv of the inputs
/// (copied here), `rm modules.!(builtin*|order*)`, `depmod -b OUT -a VERSION`.
fn reference_aggregate(k: &Kmod34, inputs: &[PathBuf], out: &Path, version: &str) {
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
    depmod(k, out, version);
}

/// Copies `src` to `dst`, creating parents.
fn copy_file(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    std::fs::copy(src, dst).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
}

/// nixpkgs' modules-closure.sh with kmod 34 outside Nix; insmod-list paths
/// are written below `out`.
fn reference_closure(
    k: &Kmod34,
    kernel: &Path,
    firmware: &Path,
    version: &str,
    roots: &[String],
    extra_firmware: &[&str],
    out: &Path,
) {
    let moddir = out.join("lib/modules").join(version);
    std::fs::create_dir_all(&moddir).unwrap();
    let source_moddir = kernel.join("lib/modules").join(version);
    let mut closure: Vec<String> = Vec::new();
    let mut insmod_list = String::new();
    for root in roots {
        let (_, stdout, _) = run(Command::new(&k.modprobe)
            .args(["--config", "no-config", "-d"])
            .arg(kernel)
            .args(["--set-version", version, "--show-depends", root]));
        assert!(!stdout.is_empty(), "modprobe34 found {root}");
        for line in stdout.lines() {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("builtin"), Some(m)) => closure.push(m.to_string()),
                (Some("insmod"), Some(m)) => {
                    let rel = Path::new(m).strip_prefix(&source_moddir).unwrap();
                    let target = moddir.join(rel);
                    if target.exists() {
                        continue;
                    }
                    closure.push(m.to_string());
                    copy_file(Path::new(m), &target);
                    insmod_list.push_str(&format!("{}\n", target.display()));
                }
                other => panic!("unexpected modprobe output {other:?}"),
            }
        }
    }
    std::fs::write(out.join("insmod-list"), insmod_list).unwrap();
    let fw = firmware.join("lib/firmware");
    let copy_firmware = |name: &str| {
        for n in [
            name.to_string(),
            format!("{name}.xz"),
            format!("{name}.zst"),
        ] {
            if fw.join(&n).is_file() {
                copy_file(&fw.join(&n), &out.join("lib/firmware").join(&n));
                return;
            }
        }
    };
    for module in &closure {
        let (_, stdout, _) = run(Command::new(&k.modinfo).arg("-b").arg(kernel).args([
            "--set-version",
            version,
            "-F",
            "firmware",
            module,
        ]));
        for name in stdout.lines().filter(|l| !l.starts_with("name:")) {
            copy_firmware(name);
        }
    }
    for name in extra_firmware {
        copy_firmware(name);
    }
    if fw.join("edid").exists() {
        copy_tree(&fw.join("edid"), &out.join("lib/firmware/edid"));
    }
    for f in ["modules.order", "modules.builtin"] {
        copy_file(&source_moddir.join(f), &moddir.join(f));
    }
    depmod(k, out, version);
    for f in ["modules.order", "modules.builtin"] {
        std::fs::remove_file(moddir.join(f)).unwrap();
    }
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

    // aggregateModules [ kernel extra updates ].
    let agg = build_and_check(r, "aggregate");
    let ref_agg = r.join("ref-aggregate");
    let agg_inputs: Vec<PathBuf> = ["linux-6.1", "extra-6.1", "updates-6.1"]
        .iter()
        .map(|n| r.join(n))
        .collect();
    reference_aggregate(&k, &agg_inputs, &ref_agg, KERNEL_VERSION);
    let ours = files(&agg);
    assert!(ours.contains_key(&format!("lib/modules/{KERNEL_VERSION}/extra/kmt-extra.ko")));
    assert_same_files("aggregateModules", &ours, &files(&ref_agg));
    // The extra module's dependency, and the updates/ override, resolved.
    let dep = String::from_utf8(ours[&format!("lib/modules/{KERNEL_VERSION}/modules.dep")].clone())
        .unwrap();
    assert!(
        dep.contains("extra/kmt-extra.ko: kernel/fs/jbd2/jbd2.ko"),
        "{dep}"
    );
    assert!(dep.contains("updates/loop.ko:"), "{dep}");

    let (ok, _, err, _) = nix_build(r, "aggregateMixed", false);
    assert!(!ok, "mixed kernel versions must fail");
    assert!(
        err.contains("inconsistent kernel versions: 6.1.0-56-amd64 9.9.9"),
        "{err}"
    );

    // makeModulesClosure.
    let closure = build_and_check(r, "closure");
    let roots: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(r.join("roots.json")).unwrap()).unwrap();
    let ref_closure = r.join("ref-closure");
    reference_closure(
        &k,
        &r.join("linux-6.12"),
        &r.join("firmware"),
        XZ_VERSION,
        &roots,
        &["extra/blob.bin", "extra/absent.bin"],
        &ref_closure,
    );
    let mut ours = files(&closure);
    let mut theirs = files(&ref_closure);
    unroot_insmod_list(&mut ours, &closure);
    unroot_insmod_list(&mut theirs, &ref_closure);
    for (name, suffix) in inputs.firmware_names.iter().zip(["", ".xz", ".zst"]) {
        assert!(ours.contains_key(&format!("lib/firmware/{name}{suffix}")));
    }
    assert!(ours.contains_key("lib/firmware/edid/1920x1080.bin"));
    assert!(ours.contains_key("lib/firmware/extra/blob.bin"));
    assert_same_files("makeModulesClosure", &ours, &theirs);

    let closure_missing = build_and_check(r, "closureMissing");
    let ref_missing = r.join("ref-closure-missing");
    reference_closure(
        &k,
        &r.join("linux-6.12"),
        &r.join("firmware"),
        XZ_VERSION,
        &["vcan".to_string()],
        &[],
        &ref_missing,
    );
    let mut ours = files(&closure_missing);
    let mut theirs = files(&ref_missing);
    unroot_insmod_list(&mut ours, &closure_missing);
    unroot_insmod_list(&mut theirs, &ref_missing);
    assert_same_files("makeModulesClosure (allowMissing)", &ours, &theirs);

    let (ok, _, err, _) = nix_build(r, "closureEmpty", false);
    assert!(!ok, "an empty closure without allowEmpty must fail");
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
