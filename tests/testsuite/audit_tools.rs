//! `kmodtree audit`, `diff` and `verify` on copies of the fixture trees.

use crate::common;

use common::{copy_tree, fixture_trees};
use std::path::{Path, PathBuf};
use std::process::Command;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn kmodtree(args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_kmodtree"))
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A copy of fixture tree `name` under `to` with databases written by
/// kmodtree depmod (kmod 34): (root, moddir, version).
fn prepared(name: &str, to: &Path) -> (PathBuf, PathBuf, String) {
    let (_, tree, _, version) = fixture_trees().into_iter().find(|t| t.0 == name).unwrap();
    copy_tree(&tree.join("lib"), &to.join("lib"));
    let out = kmodtree(&["depmod", "-C", "/dev/null", "-b", s(to), &version]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    (
        to.to_path_buf(),
        to.join("lib/modules").join(&version),
        version,
    )
}

/// A symlink farm mirroring `from`: real directories, a link per file.
fn link_farm(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            link_farm(&e.path(), &to.join(e.file_name()));
        } else {
            std::os::unix::fs::symlink(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn identical_trees_give_identical_manifests_and_farms_record_their_links() {
    let t = tempfile::tempdir().unwrap();
    let (_, a, _) = prepared("amd64-6.12-zst", &t.path().join("a"));
    let (_, b, _) = prepared("amd64-6.12-zst", &t.path().join("b"));
    let ma = kmodtree(&["audit", "--json", s(&a)]);
    let mb = kmodtree(&["audit", "--json", s(&b)]);
    assert_eq!(ma.code, 0, "{}", ma.stderr);
    assert_eq!(ma.stdout, mb.stdout);
    let m: serde_json::Value = serde_json::from_str(&ma.stdout).unwrap();
    assert_eq!(m["format"], 1);
    assert_eq!(m["kind"], "kmodtree-audit");
    let modules = m["modules"].as_array().unwrap();
    assert_eq!(modules.len(), common::module_files(&a).len());
    assert!(modules
        .iter()
        .all(|x| x["vermagic"] == "6.12.117+deb12-amd64 SMP preempt mod_unload modversions "));
    let dbs: Vec<&str> = m["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(dbs.len(), 11, "{dbs:?}");
    let paths: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);

    // A symlink farm: same content digests, links recorded.
    let farm = t.path().join("farm");
    link_farm(&a, &farm);
    let mf = kmodtree(&["audit", "--json", s(&farm)]);
    assert_eq!(mf.code, 0, "{}", mf.stderr);
    let f: serde_json::Value = serde_json::from_str(&mf.stdout).unwrap();
    assert_eq!(f["modules"], m["modules"]);
    assert_eq!(f["databases"], m["databases"]);
    for (x, y) in f["files"]
        .as_array()
        .unwrap()
        .iter()
        .zip(m["files"].as_array().unwrap())
    {
        assert_eq!(x["sha256"], y["sha256"]);
        let link = x["link"].as_str().unwrap();
        assert!(link.starts_with(s(&a)), "{link}");
    }
    // Trees compared with each other or with their manifests: identical.
    assert_eq!(kmodtree(&["diff", s(&a), s(&b)]).code, 0);
    let ja = t.path().join("a.json");
    std::fs::write(&ja, &ma.stdout).unwrap();
    let d = kmodtree(&["diff", s(&ja), s(&b)]);
    assert_eq!(d.code, 0, "{}{}", d.stdout, d.stderr);
    // The farm differs only in its links.
    let d = kmodtree(&["diff", "--verbose", s(&a), s(&farm)]);
    assert_eq!(d.code, 1);
    assert!(
        d.stdout.lines().all(|l| l.contains("(same content)")),
        "{}",
        d.stdout
    );
    // Errors exit 2.
    let d = kmodtree(&["diff", s(&a), "/nonexistent/tree"]);
    assert_eq!(d.code, 2);
    assert!(d.stderr.contains("/nonexistent/tree"), "{}", d.stderr);
}

#[test]
fn diff_explains_a_replaced_module_an_added_alias_and_a_kmod30_regeneration() {
    let t = tempfile::tempdir().unwrap();
    let (_, a, _) = prepared("amd64-6.1-ko", &t.path().join("a"));
    let (root_b, b, version) = prepared("amd64-6.1-ko", &t.path().join("b"));
    let ma = t.path().join("a.json");
    std::fs::write(&ma, kmodtree(&["audit", "--json", s(&a)]).stdout).unwrap();

    // A module replaced by another module's content.
    let mods = common::module_files(&b);
    let (victim, donor) = (&mods[0], &mods[1]);
    std::fs::copy(b.join(donor), b.join(victim)).unwrap();
    // A new module with an alias.
    let spec = common::elf::ModuleSpec::with_modinfo(&[
        "alias=pci:v0000ABCDd00001234sv*sd*bc*sc*i*",
        "vermagic=6.1.0-56-amd64 SMP preempt mod_unload modversions ",
        "name=kmodtree_test",
    ]);
    common::write_file(&b, "extra/kmodtree_test.ko", &common::elf::build(&spec));
    let out = kmodtree(&["depmod", "-C", "/dev/null", "-b", s(&root_b), &version]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let d = kmodtree(&["diff", "--limit", "0", s(&a), s(&b)]);
    assert_eq!(d.code, 1, "{}", d.stderr);
    let text = &d.stdout;
    assert!(
        text.contains(&format!("module changed: {victim} (")),
        "{text}"
    );
    assert!(text.contains("modinfo name: now"), "{text}");
    assert!(
        text.contains("    export ") || text.contains("    import "),
        "{text}"
    );
    assert!(
        text.contains("module added: extra/kmodtree_test.ko (kmodtree_test)"),
        "{text}"
    );
    assert!(
        text.contains("modules.alias.bin")
            && text.contains("key `pci:v0000ABCDd00001234sv*sd*bc*sc*i*` added → kmodtree_test"),
        "{text}"
    );
    assert!(
        text.contains("+ alias pci:v0000ABCDd00001234sv*sd*bc*sc*i* kmodtree_test"),
        "{text}"
    );
    // Against the manifest of A: named, not itemised.
    let d = kmodtree(&["diff", s(&ma), s(&b)]);
    assert_eq!(d.code, 1);
    assert!(
        d.stdout.contains(&format!("module changed: {victim} (")),
        "{}",
        d.stdout
    );
    assert!(!d.stdout.contains("key `pci:v0000ABCD"), "{}", d.stdout);

    // The same tree regenerated with --kmod-version 30: every index
    // differs only in layout; text files are identical except weakdep,
    // which kmod 30 does not write (the old file stays).
    let before = t.path().join("before");
    copy_tree(&a, &before);
    let out = kmodtree(&[
        "depmod",
        "--kmod-version",
        "30",
        "-C",
        "/dev/null",
        "-b",
        s(&t.path().join("a")),
        &version,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let d = kmodtree(&["diff", "--verbose", s(&before), s(&a)]);
    assert_eq!(d.code, 1);
    let lines: Vec<&str> = d.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", d.stdout);
    for l in lines {
        assert!(
            l.ends_with("differs only in layout (pre-order, kmod ≥ 34 → post-order, kmod 30–33)"),
            "{l}"
        );
    }
}

#[test]
fn verify_passes_fresh_trees_and_flags_stale_databases_and_incompatible_modules() {
    let t = tempfile::tempdir().unwrap();
    let (root, dir, version) = prepared("amd64-6.1-ko", &t.path().join("t"));
    let symvers = fixture_trees()
        .into_iter()
        .find(|x| x.0 == "amd64-6.1-ko")
        .unwrap()
        .1
        .join("Module.symvers");
    let v = kmodtree(&["verify", "-b", s(&root), "-E", s(&symvers), &version]);
    assert_eq!(v.code, 0, "{}{}", v.stdout, v.stderr);
    assert!(v.stdout.contains("ok: databases fresh"), "{}", v.stdout);

    // An out-of-tree module with another vermagic, added without depmod.
    let mods = common::module_files(&dir);
    let src = mods.iter().find(|m| m.ends_with("/tun.ko")).unwrap();
    let mut data = std::fs::read(dir.join(src)).unwrap();
    let from = b"vermagic=6.1.0-56-amd64 ";
    let pos = data.windows(from.len()).position(|w| w == from).unwrap();
    data[pos..pos + from.len()].copy_from_slice(b"vermagic=6.1.0-99-amd64 ");
    common::write_file(&dir, "updates/tun_copy.ko", &data);
    let v = kmodtree(&["verify", "-b", s(&root), "-E", s(&symvers), &version]);
    assert_eq!(v.code, 1, "{}{}", v.stdout, v.stderr);
    let text = &v.stdout;
    assert!(text.contains("stale: modules.dep: differs"), "{text}");
    assert!(text.contains("stale: modules.alias: differs"), "{text}");
    assert!(
        text.contains("not in modules.dep: updates/tun_copy.ko"),
        "{text}"
    );
    assert!(
        text.contains("cannot load: updates/tun_copy.ko: vermagic \"6.1.0-99-amd64 SMP preempt mod_unload modversions \" differs from the kernel's \"6.1.0-56-amd64 SMP preempt mod_unload modversions \""),
        "{text}"
    );
    assert!(!text.contains(&format!("cannot load: {src}")), "{text}");

    // After depmod the databases are fresh; the module still cannot load.
    let out = kmodtree(&["depmod", "-C", "/dev/null", "-b", s(&root), &version]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = kmodtree(&["verify", "-b", s(&root), "-E", s(&symvers), &version]);
    assert_eq!(v.code, 1);
    assert!(!v.stdout.contains("stale:"), "{}", v.stdout);
    assert!(
        v.stdout
            .contains("cannot load: updates/tun_copy.ko: vermagic"),
        "{}",
        v.stdout
    );
    std::fs::remove_file(dir.join("updates/tun_copy.ko")).unwrap();
    let out = kmodtree(&["depmod", "-C", "/dev/null", "-b", s(&root), &version]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Databases written for kmod 30: stale for kmod 34 (layout only), fresh for 30.
    let out = kmodtree(&[
        "depmod",
        "--kmod-version",
        "30",
        "-C",
        "/dev/null",
        "-b",
        s(&root),
        &version,
    ]);
    assert_eq!(out.code, 0);
    let v = kmodtree(&["verify", "--kmod-version", "34", "-b", s(&root), &version]);
    assert_eq!(v.code, 1);
    assert!(
        v.stdout
            .contains("stale: modules.dep.bin: differs only in layout"),
        "{}",
        v.stdout
    );
    let v = kmodtree(&["verify", "--kmod-version", "30", "-b", s(&root), &version]);
    assert_eq!(v.code, 0, "{}", v.stdout);
    // Without --kmod-version, the layout on disk says which kmod wrote it.
    let v = kmodtree(&["verify", "-b", s(&root), &version]);
    assert_eq!(v.code, 0, "{}", v.stdout);
    assert!(
        v.stdout.contains(
            "note: databases written by kmod 30 to 33 (post-order indexes); compared with kmod 30 to 33's output"
        ),
        "{}",
        v.stdout
    );
    // A missing tree is an error.
    assert_eq!(
        kmodtree(&["verify", "-b", "/nonexistent", &version]).code,
        2
    );
}
