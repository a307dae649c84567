//! Helpers for the union and Guix tests: Guix's own Scheme code as the
//! reference (`KMODTREE_GUIX_SRC`, see `tests/guix/setup.sh`), kmod 34's
//! depmod, and the extra trees the tests build next to the fixture kernel.

use super::elf::{build, ModuleSpec};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The unpacked Guix sources (`usr/share/guile/site/3.0`), or None with a
/// note on stderr when `KMODTREE_GUIX_SRC` is not set up.
pub fn guix_src(test: &str) -> Option<PathBuf> {
    let src = std::env::var_os("KMODTREE_GUIX_SRC").map(PathBuf::from);
    match src {
        Some(s) if s.join("gnu/build/linux-modules.scm").is_file() => Some(s),
        _ => {
            eprintln!(
                "note: {test}: Guix comparison skipped (run tests/guix/setup.sh and set KMODTREE_GUIX_SRC)"
            );
            None
        }
    }
}

/// Runs one of `tests/guix/*.scm` under Guile with Guix's sources; returns
/// (success, stderr without Guile's compilation notes).
pub fn run_guix_script(src: &Path, script: &str, args: &[&OsStr]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/guix")
        .join(script);
    let out = Command::new("guile")
        .arg("-L")
        .arg(src)
        .arg(&script)
        .args(args)
        .output()
        .expect("run guile");
    let stderr: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with(";;;"))
        .map(|l| format!("{l}\n"))
        .collect();
    (out.status.success(), stderr)
}

/// kmod 34's depmod (`$KMODTREE_DEPMOD34`, else `/opt/kmod34/bin/depmod34`).
pub fn depmod34(test: &str) -> Option<PathBuf> {
    let p = std::env::var_os("KMODTREE_DEPMOD34")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/kmod34/bin/depmod34"));
    if p.exists() {
        Some(p)
    } else {
        eprintln!("note: {test}: kmod 34 comparison skipped (no depmod34)");
        None
    }
}

/// The fixture kernel used as the first input: amd64-6.1-ko (plain .ko,
/// with System.map).
pub const KERNEL: &str = "amd64-6.1-ko";
pub const KERNEL_VERSION: &str = "6.1.0-56-amd64";

pub fn kernel_tree() -> PathBuf {
    super::fixtures_dir().join("trees").join(KERNEL)
}

/// An `updates/` tree: a copy of the kernel's `loop.ko` under
/// `lib/modules/VERSION/updates/` (it takes precedence over the kernel's).
pub fn make_updates_tree(root: &Path) {
    let dir = root
        .join("lib/modules")
        .join(KERNEL_VERSION)
        .join("updates");
    std::fs::create_dir_all(&dir).unwrap();
    let src = kernel_tree()
        .join("lib/modules")
        .join(KERNEL_VERSION)
        .join("kernel/drivers/block/loop.ko");
    std::fs::copy(src, dir.join("loop.ko")).unwrap();
}

/// An `extra/` tree: a synthetic module `kmt-extra` that uses a symbol of
/// jbd2 (so depmod gives it a dependency), with aliases, a devname and a
/// soft dependency, and a second one, `kmt_leaf`, without any.
pub fn make_extra_tree(root: &Path) {
    let dir = root.join("lib/modules").join(KERNEL_VERSION).join("extra");
    std::fs::create_dir_all(&dir).unwrap();
    let mut spec = ModuleSpec::with_modinfo(&[
        "license=GPL",
        "alias=char-major-10-99",
        "alias=devname:kmt",
        "alias=pci:v00001234d*sv*sd*bc*sc*i*",
        "softdep=pre: loop",
        "depends=jbd2",
        "name=kmt_extra",
        "vermagic=6.1.0-56-amd64 SMP preempt mod_unload modversions ",
    ]);
    spec.undefined = vec![("jbd2__journal_restart".to_string(), false)];
    std::fs::write(dir.join("kmt-extra.ko"), build(&spec)).unwrap();
    let leaf = ModuleSpec::with_modinfo(&["license=GPL", "name=kmt_leaf"]);
    std::fs::write(dir.join("kmt_leaf.ko"), build(&leaf)).unwrap();
}

/// Every entry below `dir`, sorted: `RELPATH kind [target]` lines (`d`
/// directory, `l TARGET` symlink, `f SIZE` file), for comparing trees.
pub fn tree_listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name().min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
        let ft = e.file_type();
        if ft.is_symlink() {
            let t = std::fs::read_link(e.path()).unwrap();
            out.push(format!("{rel} l {}", t.display()));
        } else if ft.is_dir() {
            out.push(format!("{rel} d"));
        } else {
            out.push(format!("{rel} f {}", e.metadata().unwrap().len()));
        }
    }
    out
}
