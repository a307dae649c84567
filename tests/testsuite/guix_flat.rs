//! `kmodtree flat`: Guix's initrd module folder. Guix's own
//! `flat-linux-module-directory` (run under Guile when `KMODTREE_GUIX_SRC`
//! is set) judges the module set, the files and `modules.name`; kmod's
//! `modprobe --show-depends` (the fixtures' references) judges the closure
//! with `--softdeps`.

use crate::common;

use common::guix::{guix_src, run_guix_script};
use common::{first_difference, fixtures_dir, read_fixture};
use kmodtree::guix::{flat_module_directory, pretty_printed_pairs, FlatOptions, GuixError};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

fn tree(name: &str) -> (PathBuf, String) {
    let root = fixtures_dir().join("trees").join(name);
    let version = common::kernel_version_of(&root);
    (root, version)
}

/// The roots of a kind from `trees/NAME.roots.tsv` that are modules there.
fn roots(name: &str, kinds: &[&str]) -> Vec<String> {
    let tsv = fs::read_to_string(
        fixtures_dir()
            .join("trees")
            .join(format!("{name}.roots.tsv")),
    )
    .unwrap();
    tsv.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 3 && kinds.contains(&f[0]) && f[2] == "module").then(|| f[1].to_string())
        })
        .collect()
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The `(KEY . VALUE)` pairs of a Guix `modules.name` file, in order.
fn name_database_pairs(text: &str) -> Vec<(String, String)> {
    let body = &text[text.find("((").expect("a list")..];
    let strings: Vec<String> = body
        .split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect();
    strings
        .chunks(2)
        .map(|c| (c[0].clone(), c[1].clone()))
        .collect()
}

const HEADER: &str = ";; Module name to file name mapping.\n;;\n;; This format is Guix-specific; it is not supported by upstream Linux tools.\n\n";

#[test]
fn flat_matches_guix_on_plain_gzip_and_zstd_trees() {
    let Some(src) = guix_src("flat_matches_guix_on_plain_gzip_and_zstd_trees") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for name in ["amd64-6.1-ko", "amd64-6.12-gz", "amd64-6.12-zst"] {
        let (root, version) = tree(name);
        let requested = roots(name, &["root", "devname"]);
        let mut requested = requested;
        if version.starts_with("6.12") {
            requested.push("fuse".into()); // builtin there
        }
        let out = tmp.path().join(name);
        flat_module_directory(&out, &root, &version, &requested, &FlatOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours_files = file_names(&out);
        let ours_name = fs::read_to_string(out.join("modules.name")).unwrap();
        let ours_bytes: Vec<(String, Vec<u8>)> = ours_files
            .iter()
            .map(|f| (f.clone(), fs::read(out.join(f)).unwrap()))
            .collect();
        fs::rename(&out, tmp.path().join(format!("{name}.ours"))).unwrap();

        // Guix, on the same output path.
        let mut args: Vec<&OsStr> = vec![root.as_os_str(), out.as_os_str()];
        args.extend(requested.iter().map(OsStr::new));
        let (ok, err) = run_guix_script(&src, "flat.scm", &args);
        assert!(ok, "{name}: Guix failed: {err}");
        let theirs_files: BTreeSet<String> = file_names(&out)
            .into_iter()
            .filter(|f| !f.ends_with(".ko.zst"))
            .collect();
        assert_eq!(ours_files, theirs_files, "{name}: module set");
        for (f, bytes) in &ours_bytes {
            if f != "modules.name" {
                assert!(
                    *bytes == fs::read(out.join(f)).unwrap(),
                    "{name}: {f} decompressed as Guix"
                );
            }
        }
        let theirs_name = fs::read_to_string(out.join("modules.name")).unwrap();
        if name.ends_with("zst") {
            // Guix keeps every .ko.zst next to its .ko and lists both.
            let pairs = name_database_pairs(&theirs_name);
            assert!(pairs.iter().any(|(_, v)| v.ends_with(".ko.zst")));
            let kept: Vec<(String, String)> = pairs
                .into_iter()
                .filter(|(_, v)| !v.ends_with(".ko.zst"))
                .collect();
            let fixed = format!("{HEADER}{}", pretty_printed_pairs(&kept));
            assert!(
                ours_name == fixed,
                "{name}: {}",
                first_difference(ours_name.as_bytes(), fixed.as_bytes())
            );
        } else {
            assert!(
                ours_name == theirs_name,
                "{name}: {}",
                first_difference(ours_name.as_bytes(), theirs_name.as_bytes())
            );
        }
        fs::remove_dir_all(&out).unwrap();
    }
}

/// The module files `modprobe --show-depends ROOT` inserts, by flat name.
fn show_depends_files(path: &Path) -> BTreeSet<String> {
    let text = String::from_utf8(read_fixture(path)).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("insmod "))
        .map(|p| {
            let base = p.trim_end().rsplit('/').next().unwrap().to_string();
            base.trim_end_matches(".xz")
                .trim_end_matches(".zst")
                .trim_end_matches(".gz")
                .to_string()
        })
        .collect()
}

#[test]
fn softdeps_closure_equals_modprobe_show_depends() {
    let tmp = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for (name, _, _, version) in common::fixture_trees() {
        let root = fixtures_dir().join("trees").join(&name);
        let dir = fixtures_dir()
            .join("expected/kmod34")
            .join(&name)
            .join("show-depends");
        let mut files: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let module = f.file_stem().unwrap().to_string_lossy().into_owned();
            if module == "cmd" {
                continue; // the command line, not a root
            }
            let out = tmp.path().join(format!("{name}-{module}"));
            let opts = FlatOptions {
                softdeps: true,
                ..Default::default()
            };
            flat_module_directory(&out, &root, &version, std::slice::from_ref(&module), &opts)
                .unwrap_or_else(|e| panic!("{name} {module}: {e}"));
            let mut ours = file_names(&out);
            assert!(ours.remove("modules.name"));
            assert_eq!(ours, show_depends_files(&f), "{name} {module}");
            fs::remove_dir_all(&out).unwrap();
            compared += 1;
        }
    }
    assert!(compared > 200, "{compared} closures compared");
}

#[test]
fn builtin_modules_are_recognised_in_either_spelling() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, version) = tree("amd64-6.12-zst");
    let out = tmp.path().join("out");
    let requested: Vec<String> = ["crc-t10dif", "crc64_rocksoft", "fuse", "ext4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let report =
        flat_module_directory(&out, &root, &version, &requested, &FlatOptions::default()).unwrap();
    assert_eq!(report.builtin, ["crc64_rocksoft", "crc_t10dif", "fuse"]);
    assert!(report.modules.contains(&"ext4".to_string()));

    // Guix itself fails on the dash spelling of a builtin module.
    if let Some(src) = guix_src("builtin_modules_are_recognised_in_either_spelling") {
        let g = tmp.path().join("guix");
        let args: Vec<&OsStr> = vec![root.as_os_str(), g.as_os_str(), OsStr::new("crc-t10dif")];
        let (ok, err) = run_guix_script(&src, "flat.scm", &args);
        assert!(!ok && err.contains("kernel module not found"), "{err}");
    }
}

#[test]
fn zstd_modules_leave_only_the_decompressed_ko() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, version) = tree("amd64-6.12-zst");
    let out = tmp.path().join("out");
    flat_module_directory(
        &out,
        &root,
        &version,
        &["ext4".to_string()],
        &FlatOptions::default(),
    )
    .unwrap();
    let files = file_names(&out);
    assert!(
        files
            .iter()
            .all(|f| f == "modules.name" || f.ends_with(".ko")),
        "{files:?}"
    );
    let pairs = name_database_pairs(&fs::read_to_string(out.join("modules.name")).unwrap());
    let keys: BTreeSet<&String> = pairs.iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), pairs.len(), "no duplicate keys");
    assert_eq!(pairs.len(), files.len() - 1);
    // Plain ELF.
    let ext4 = fs::read(out.join("ext4.ko")).unwrap();
    assert_eq!(&ext4[..4], b"\x7fELF");
}

#[test]
fn xz_modules_are_decompressed() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, version) = tree("amd64-6.12-xz");
    let out = tmp.path().join("out");
    flat_module_directory(
        &out,
        &root,
        &version,
        &["usb-storage".to_string()],
        &FlatOptions::default(),
    )
    .unwrap();
    let xz = fs::read(
        root.join("lib/modules")
            .join(&version)
            .join("kernel/drivers/usb/storage/usb-storage.ko.xz"),
    )
    .unwrap();
    let plain = liblzma::decode_all(&xz[..]).unwrap();
    assert_eq!(fs::read(out.join("usb-storage.ko")).unwrap(), plain);
}

#[test]
fn a_missing_module_is_a_clear_error_and_nothing_is_left() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, version) = tree("amd64-6.1-ko");
    let out = tmp.path().join("out");
    let e = flat_module_directory(
        &out,
        &root,
        &version,
        &["ext4".to_string(), "no-such-module".to_string()],
        &FlatOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, GuixError::ModuleNotFound { .. }));
    assert!(e.to_string().contains("'no-such-module'"), "{e}");
    assert!(!out.exists());
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    // The CLI says the same, without a backtrace.
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_kmodtree"))
        .arg("flat")
        .arg(&out)
        .arg("-b")
        .arg(&root)
        .args([version.as_str(), "no-such-module"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.starts_with("kmodtree: error: kernel module 'no-such-module' not found"),
        "{err}"
    );
    // A missing dependency names the module needing it.
    let broken = tmp.path().join("broken");
    common::copy_tree(&root, &broken);
    fs::remove_file(
        broken
            .join("lib/modules")
            .join(&version)
            .join("kernel/fs/jbd2/jbd2.ko"),
    )
    .unwrap();
    let e = flat_module_directory(
        &tmp.path().join("o2"),
        &broken,
        &version,
        &["ext4".to_string()],
        &FlatOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("'jbd2' (needed by ext4)"), "{e}");
}
