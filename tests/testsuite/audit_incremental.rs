//! `kmodtree depmod --manifest FILE`: the output is byte-identical to a
//! cold run (and to real kmod's on the unmodified fixture trees) whether
//! FILE is missing, fresh, stale (modules added, removed, changed, moved)
//! or corrupt, and FILE is reused where it should be.

use crate::common;

use common::{copy_tree, fixtures_dir, read_fixture};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `modules.*` files of `dir` (the databases depmod writes).
fn databases(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("modules.")
            && !matches!(
                n.as_str(),
                "modules.order" | "modules.builtin" | "modules.builtin.modinfo"
            )
        {
            out.insert(n, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

struct Run {
    code: i32,
    stderr: String,
    dbs: BTreeMap<String, Vec<u8>>,
}

fn depmod(root: &Path, version: &str, kmod: &str, extra: &[&str]) -> Run {
    let moddir = root.join("lib/modules").join(version);
    for name in databases(&moddir).keys() {
        std::fs::remove_file(moddir.join(name)).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kmodtree"))
        .args(["depmod", "--kmod-version", kmod, "-C", "/dev/null", "-b"])
        .arg(root)
        .args(extra)
        .args(if extra.contains(&"--manifest") {
            &["--manifest-stats"][..]
        } else {
            &[]
        })
        .arg(version)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        dbs: databases(&moddir),
    }
}

/// The `CacheStats` line printed with `--manifest-stats`: (stat, hash, read).
fn stats(stderr: &str) -> (usize, usize, usize) {
    let line = stderr
        .lines()
        .find(|l| l.contains("CacheStats"))
        .unwrap_or_else(|| panic!("no stats in {stderr}"));
    let num = |k: &str| -> usize {
        let rest = &line[line.find(k).unwrap() + k.len() + 2..];
        rest[..rest.find([',', ' ']).unwrap()].parse().unwrap()
    };
    (num("stat_hits"), num("hash_hits"), num("read"))
}

fn same(what: &str, got: &Run, want: &Run) {
    assert_eq!(got.code, want.code, "{what}: exit code");
    assert_eq!(
        got.dbs.keys().collect::<Vec<_>>(),
        want.dbs.keys().collect::<Vec<_>>(),
        "{what}: database names"
    );
    for (name, bytes) in &want.dbs {
        assert!(
            got.dbs[name] == *bytes,
            "{what}: {name} differs from the cold run"
        );
    }
}

fn modules_of(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = common::module_files(dir)
        .into_iter()
        .map(|r| dir.join(r))
        .collect();
    out.sort();
    out
}

#[test]
fn incremental_runs_are_byte_identical_to_cold_runs_on_every_fixture_tree() {
    let fx = fixtures_dir();
    let scratch = tempfile::tempdir().unwrap();
    for (name, tree, _, version) in common::fixture_trees() {
        for kmod in ["34", "30"] {
            let what = format!("{name} kmod {kmod}");
            let root = scratch.path().join(format!("{name}-{kmod}"));
            copy_tree(&tree.join("lib"), &root.join("lib"));
            let moddir = root.join("lib/modules").join(&version);
            let manifest = scratch.path().join(format!("{name}-{kmod}.json"));
            let m = manifest.to_str().unwrap();

            // Cold, then with a missing manifest, then warm.
            let cold = depmod(&root, &version, kmod, &[]);
            let expected = fx
                .join("expected")
                .join(format!("kmod{kmod}"))
                .join(&name)
                .join("plain");
            // (kmodtree without --without-zlib is kmod built with zlib:
            // the references of the .gz tree come from such a kmod.)
            if expected.is_dir() {
                for (db, bytes) in &cold.dbs {
                    let want = read_fixture(&expected.join(db));
                    assert!(*bytes == want, "{what}: {db} differs from kmod's");
                }
            }
            let first = depmod(&root, &version, kmod, &["--manifest", m]);
            same(&format!("{what}, new manifest"), &first, &cold);
            let n = modules_of(&moddir).len();
            assert_eq!(stats(&first.stderr), (0, 0, n), "{what}");
            let warm = depmod(&root, &version, kmod, &["--manifest", m]);
            same(&format!("{what}, warm"), &warm, &cold);
            assert_eq!(stats(&warm.stderr), (n, 0, 0), "{what}");
            let verified = depmod(
                &root,
                &version,
                kmod,
                &["--manifest", m, "--manifest-verify"],
            );
            same(&format!("{what}, --manifest-verify"), &verified, &cold);
            assert_eq!(stats(&verified.stderr), (0, n, 0), "{what}");

            // Add (a copy under a new name), remove, change (another
            // module's content under an existing name) and move modules.
            let mods = modules_of(&moddir);
            let suffix = |p: &Path| {
                let f = p.file_name().unwrap().to_str().unwrap();
                f[f.find('.').unwrap()..].to_string()
            };
            std::fs::create_dir_all(moddir.join("extra")).unwrap();
            std::fs::copy(
                &mods[0],
                moddir
                    .join("extra")
                    .join(format!("added_copy{}", suffix(&mods[0]))),
            )
            .unwrap();
            std::fs::remove_file(&mods[1]).unwrap();
            let changed_target = mods[2].clone();
            let source = mods
                .iter()
                .find(|p| {
                    suffix(p) == suffix(&changed_target) && **p != changed_target && **p != mods[1]
                })
                .unwrap();
            std::fs::copy(source, &changed_target).unwrap();
            std::fs::rename(
                &mods[3],
                moddir.join("extra").join(mods[3].file_name().unwrap()),
            )
            .unwrap();

            let cold2 = depmod(&root, &version, kmod, &[]);
            // --manifest-read-only: the same output, the file untouched.
            let before = std::fs::read(&manifest).unwrap();
            let ro = depmod(
                &root,
                &version,
                kmod,
                &["--manifest", m, "--manifest-read-only"],
            );
            same(&format!("{what}, read-only manifest"), &ro, &cold2);
            assert_eq!(stats(&ro.stderr), (n - 3, 3, 0), "{what}");
            assert!(std::fs::read(&manifest).unwrap() == before, "{what}");
            let warm2 = depmod(&root, &version, kmod, &["--manifest", m]);
            same(&format!("{what}, after changes"), &warm2, &cold2);
            let (stat, hash, read) = stats(&warm2.stderr);
            // The copy, the changed file and the moved file are found by
            // hash (their content is known); nothing is read.
            assert_eq!((stat, hash, read), (n - 3, 3, 0), "{what}");
            let warm3 = depmod(&root, &version, kmod, &["--manifest", m]);
            same(&format!("{what}, warm after changes"), &warm3, &cold2);
            assert_eq!(stats(&warm3.stderr), (n, 0, 0), "{what}");

            // A new module (content never seen) is read.
            let new_mod = moddir
                .join("extra")
                .join(format!("brand_new{}", suffix(&mods[1])));
            std::fs::write(&new_mod, b"\x7fELF but not a module").unwrap();
            let cold4 = depmod(&root, &version, kmod, &[]);
            let warm4 = depmod(&root, &version, kmod, &["--manifest", m]);
            same(&format!("{what}, unreadable new module"), &warm4, &cold4);
            assert_eq!(stats(&warm4.stderr), (n, 0, 1), "{what}");
            std::fs::remove_file(&new_mod).unwrap();

            // Corrupt manifests only cost speed.
            for bad in [&b"not json"[..], b"{\"format\":2}", b""] {
                std::fs::write(&manifest, bad).unwrap();
                let r = depmod(&root, &version, kmod, &["--manifest", m]);
                same(&format!("{what}, corrupt manifest"), &r, &cold2);
                assert!(
                    r.stderr.contains("kmodtree: warning: "),
                    "{what}: {}",
                    r.stderr
                );
                assert_eq!(stats(&r.stderr), (0, 0, n), "{what}");
            }
            std::fs::remove_dir_all(&root).unwrap();
        }
    }
}

#[test]
fn a_manifest_written_with_tampered_metadata_is_refused_when_hashes_are_verified() {
    // The fast path trusts the stat identity; --manifest-verify does not.
    let (name, tree, _, version) = common::fixture_trees()
        .into_iter()
        .find(|t| t.0 == "amd64-6.12-zst")
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join(&name);
    copy_tree(&tree.join("lib"), &root.join("lib"));
    let manifest = scratch.path().join("m.json");
    let m = manifest.to_str().unwrap();
    let cold = depmod(&root, &version, "34", &[]);
    depmod(&root, &version, "34", &["--manifest", m]);
    // Give every entry a wrong sha256: the stat fast path still matches.
    // (JSON Lines: a header, then one entry per line.)
    let text = std::fs::read_to_string(&manifest).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push_str(line);
        } else {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["sha256"] = serde_json::Value::String("0".repeat(64));
            out.push_str(&v.to_string());
        }
        out.push('\n');
    }
    std::fs::write(&manifest, out).unwrap();
    let n = modules_of(&root.join("lib/modules").join(&version)).len();
    let r = depmod(
        &root,
        &version,
        "34",
        &["--manifest", m, "--manifest-verify"],
    );
    same("verify", &r, &cold);
    assert_eq!(stats(&r.stderr), (0, 0, n));
}
