//! `kmodtree guix-db`: `modules.name`, `modules.alias` and `modules.devname`
//! byte-identical to Guix's `write-module-*-database` on the same directory
//! (Guix's code run under Guile when `KMODTREE_GUIX_SRC` is set), plus
//! fixed expectations that need no Guix.

use crate::common;

use common::guix::{guix_src, run_guix_script};
use common::{copy_tree, first_difference, fixtures_dir};
use std::fs;
use std::path::Path;

const DATABASES: [&str; 3] = ["modules.name", "modules.alias", "modules.devname"];

fn run_ours(dir: &Path) {
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_kmodtree"))
        .arg("guix-db")
        .arg(dir)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
}

/// Guix's output for `dir` (written in `dir`, then moved to `keep`).
fn run_guix(src: &Path, dir: &Path, keep: &Path) -> bool {
    let (ok, err) = run_guix_script(src, "guix-db.scm", &[dir.as_os_str()]);
    if !ok {
        eprintln!(
            "Guix failed on {}: {}",
            dir.display(),
            err.lines().last().unwrap_or("")
        );
        return false;
    }
    fs::create_dir_all(keep).unwrap();
    for n in DATABASES {
        fs::rename(dir.join(n), keep.join(n)).unwrap();
    }
    true
}

/// Every tree and edge case Guix can read: the plain, zstd and gzip trees
/// (Guix's reader cannot decompress xz) and the edge cases made of plain
/// modules that do not make Guix raise an exception.
#[test]
fn databases_match_guix_on_the_fixtures() {
    let Some(src) = guix_src("databases_match_guix_on_the_fixtures") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixtures_dir();
    let mut dirs = Vec::new();
    for tree in ["amd64-6.1-ko", "amd64-6.12-zst", "amd64-6.12-gz"] {
        let modules = fx.join("trees").join(tree).join("lib/modules");
        let version = fs::read_dir(&modules)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        dirs.push((tree.to_string(), version));
    }
    for edge in [
        "builtin-odd",
        "crc",
        "cycle",
        "elf32-be",
        "order-nonl",
        "weak",
    ] {
        dirs.push((
            edge.to_string(),
            fx.join("edge").join(edge).join("lib/modules/0.0"),
        ));
    }
    let mut compared = 0;
    for (name, from) in dirs {
        let dir = tmp.path().join(&name);
        copy_tree(&from, &dir);
        let theirs = tmp.path().join(format!("{name}.guix"));
        assert!(run_guix(&src, &dir, &theirs), "{name}: Guix ran");
        run_ours(&dir);
        for n in DATABASES {
            let a = fs::read(dir.join(n)).unwrap();
            let b = fs::read(theirs.join(n)).unwrap();
            assert!(a == b, "{name} {n}: {}", first_difference(&a, &b));
            compared += 1;
        }
    }
    assert_eq!(compared, 27);
}

/// A directory of symlinks (a union's lib/modules/VERSION): Guix lists the
/// links (find-files does not follow them) and reads through them.
#[test]
fn databases_of_a_symlink_union_match_guix() {
    let Some(src) = guix_src("databases_of_a_symlink_union_match_guix") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("union");
    let kernel = fixtures_dir().join("trees/amd64-6.12-zst");
    kmodtree::union::union_build(&out, &[kernel], &Default::default()).unwrap();
    let dir = fs::read_dir(out.join("lib/modules"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let theirs = tmp.path().join("guix");
    assert!(run_guix(&src, &dir, &theirs));
    run_ours(&dir);
    for n in DATABASES {
        let a = fs::read(dir.join(n)).unwrap();
        let b = fs::read(theirs.join(n)).unwrap();
        assert!(a == b, "{n}: {}", first_difference(&a, &b));
    }
}

/// Fixed expectations on the devname edge case (Guix raises a match error
/// there, on a `char-major-10` alias without minor): kmodtree refuses it
/// too, naming the module and the alias, and writes nothing.
#[test]
fn a_malformed_major_alias_is_an_error_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devname");
    copy_tree(&fixtures_dir().join("edge/devname/lib/modules/0.0"), &dir);
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_kmodtree"))
        .arg("guix-db")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("dnnomajor") && err.contains("'char-major-10'"),
        "{err}"
    );
    for n in DATABASES {
        assert!(!dir.join(n).exists(), "{n} not written");
    }
}

/// xz trees, which Guix cannot read, give the same databases as the same
/// modules decompressed (names aside).
#[test]
fn xz_modules_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let from = fixtures_dir().join("trees/amd64-6.12-xz/lib/modules/6.12.117+deb12-amd64");
    let dir = tmp.path().join("xz");
    copy_tree(&from, &dir);
    let dbs = kmodtree::guix::guix_databases(dir.to_str().unwrap(), "/X", None).unwrap();
    let alias = String::from_utf8(dbs.alias).unwrap();
    assert!(alias.contains("alias devname:fuse fuse\n") || alias.contains("alias fs-ext4 ext4\n"));
    let devname = String::from_utf8(dbs.devname).unwrap();
    assert!(devname.contains("cuse cuse c10:203\n"), "{devname}");
    let name = String::from_utf8(dbs.name).unwrap();
    assert!(name.contains("\"/X/kernel/fs/ext4/ext4.ko.xz\""), "{name}");
}
