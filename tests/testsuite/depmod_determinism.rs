//! Determinism of `kmodtree depmod`: the databases (and stdout, stderr,
//! exit code) must not depend on
//!
//! * the number of worker threads (`--jobs 1`, `2`, `8`);
//! * directory-read order: copies of a tree created in opposite file
//!   orders on the scratch file system, and in the same order on
//!   `/dev/shm` (tmpfs lists the newest entry first, ext4's small
//!   directories the oldest), with a duplicate module name whose winner
//!   kmod would take from readdir order. The test checks (and prints) that
//!   `read_dir` order really differs for some directory. (Seen on
//!   2026-11-21: ext4 with dir_index lists in name-hash order, so the
//!   reversed ext4 copy differs in 1 of 87 directories; the tmpfs copy in
//!   34 of 87, including the one that holds the tie.)
//! * the umask, except for the modes, which must be `0644 & ~umask` for
//!   files and `0755 & ~umask` for a directory created by `-o`, like kmod
//!   34 (compared with it when installed);
//! * `TZ`, `LC_ALL` and `LANG`, and `TMPDIR`, where the modules' lists
//!   wait to be rendered (a tmpfs, or none, so that they stay in memory);
//! * the host's depmod.d configuration: only the configuration under the
//!   base directory (`BASE/etc/depmod.d`, `BASE/lib/depmod.d`,
//!   `BASE/usr/lib/depmod.d`) is read unless `--host-config` is given. The
//!   host half runs in a private mount namespace (`unshare -m`) with a
//!   tmpfs over `/run`, so that `/run/depmod.d` can hold a configuration
//!   without touching the real system; without `unshare` it is skipped
//!   with a note.
//!
//! The tree is the `amd64-6.12-zst` fixture plus a generated tree when
//! the fixtures are present, else the generated tree alone.

use crate::common;

use common::gen::{Entry, Tree};
use common::kmod::{
    databases, kmodtree_cmd, real_depmod_or_note, run_command, run_kmodtree, Kmod, Run,
};
use common::{elf, fixtures_dir, write_file};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The tree every check uses: a generated tree, two files with the same
/// module name in different directories (kmod would keep the first one it
/// reads), and, when available, the real amd64-6.12-zst fixture's modules.
fn source_tree() -> Tree {
    let mut tree = Tree::generate(4242);
    let dir = format!("lib/modules/{}", tree.version);
    let tie_a = elf::build(&elf::ModuleSpec::with_modinfo(&["alias=tie-a"]));
    let tie_b = elf::build(&elf::ModuleSpec::with_modinfo(&["alias=tie-b"]));
    tree.entries
        .push(Entry::File(format!("{dir}/kernel/aaa/tie.ko"), tie_a));
    tree.entries
        .push(Entry::File(format!("{dir}/kernel/zzz/tie.ko"), tie_b));
    let fixture = fixtures_dir().join("trees/amd64-6.12-zst");
    if let Ok(rd) = std::fs::read_dir(fixture.join("lib/modules")) {
        let version_dir = rd.map(|e| e.unwrap().path()).next().unwrap();
        for e in walkdir::WalkDir::new(&version_dir).follow_links(true) {
            let e = e.unwrap();
            if e.file_type().is_file() {
                let rel = e.path().strip_prefix(&version_dir).unwrap();
                let rel = rel.to_str().unwrap();
                if rel.starts_with("modules.") {
                    continue; // keep the generated tree's inputs
                }
                tree.entries.push(Entry::File(
                    format!("{dir}/fixture/{rel}"),
                    std::fs::read(e.path()).unwrap(),
                ));
            }
        }
    } else {
        eprintln!("note: fixtures not found; determinism checked on the generated tree only");
    }
    tree
}

struct Result {
    run: Run,
    dbs: BTreeMap<String, Vec<u8>>,
}

fn depmod_in(root: &Path, tree: &Tree, extra: &[&str], env: &[(&str, &str)]) -> Result {
    let r = root.to_str().unwrap();
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["-C", "/dev/null", "-b", r, &tree.version]);
    let mut cmd = kmodtree_cmd(Kmod::V34, &args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = run_command(&mut cmd).unrooted(root);
    assert_eq!(run.code, 0, "{}", run.describe());
    Result {
        run,
        dbs: databases(&tree.moddir(root)),
    }
}

fn assert_same(what: &str, a: &Result, b: &Result) {
    assert_eq!(a.run, b.run, "{what}: output differs");
    assert_eq!(
        a.dbs.keys().collect::<Vec<_>>(),
        b.dbs.keys().collect::<Vec<_>>(),
        "{what}: different files"
    );
    for (name, bytes) in &a.dbs {
        assert!(bytes == &b.dbs[name], "{what}: {name} differs");
    }
}

/// Every directory below `root` with its entries in `read_dir` order.
fn readdir_orders(root: &Path) -> BTreeMap<PathBuf, Vec<String>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        if e.file_type().is_dir() {
            let names = std::fs::read_dir(e.path())
                .unwrap()
                .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            out.insert(e.path().strip_prefix(root).unwrap().to_path_buf(), names);
        }
    }
    out
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn jobs_and_directory_order_do_not_matter() {
    let tree = source_tree();
    let scratch = tempfile::tempdir().unwrap();
    let a = scratch.path().join("forward");
    tree.write(&a, false);
    let base = depmod_in(&a, &tree, &["--jobs", "1"], &[]);
    assert!(base.dbs["modules.dep"].len() > 100);
    for jobs in ["2", "8"] {
        let r = depmod_in(&a, &tree, &["--jobs", jobs], &[]);
        assert_same(&format!("--jobs {jobs}"), &base, &r);
    }

    // A copy written in reverse order on the same file system, and a
    // copy written in forward order on tmpfs (which lists the newest entry
    // first, where ext4's small directories list the oldest first).
    let b = scratch.path().join("reverse");
    tree.write(&b, true);
    let shm = tempfile::tempdir_in("/dev/shm").ok();
    let mut copies = vec![("reversed copy", b)];
    if let Some(shm) = &shm {
        let c = shm.path().join("forward");
        tree.write(&c, false);
        copies.push(("forward copy on /dev/shm", c));
    }
    let oa = readdir_orders(&a);
    let tie_dir = tree.moddir(Path::new("")).join("kernel");
    let mut any_difference = false;
    for (what, copy) in &copies {
        let ob = readdir_orders(copy);
        assert_eq!(oa.keys().collect::<Vec<_>>(), ob.keys().collect::<Vec<_>>());
        let differing: Vec<&PathBuf> = oa
            .iter()
            .filter(|(dir, names)| ob[*dir] != **names)
            .map(|(dir, _)| dir)
            .collect();
        eprintln!(
            "note: {what}: read_dir order differs from the first copy's in {} of {} \
             directories (kernel/, which holds the tie: {})",
            differing.len(),
            oa.len(),
            differing.contains(&&tie_dir)
        );
        any_difference |= !differing.is_empty();
        for jobs in ["1", "8"] {
            let r = depmod_in(copy, &tree, &["--jobs", jobs], &[]);
            assert_same(&format!("{what}, --jobs {jobs}"), &base, &r);
        }
    }
    assert!(
        any_difference,
        "every copy lists every directory in the same order: the check proves nothing here"
    );
    // The tie is decided the same way in every copy (sorted walk).
    let alias = String::from_utf8_lossy(&base.dbs["modules.alias"]).into_owned();
    assert!(alias.contains("alias tie-a tie\n") && !alias.contains("tie-b"));
}

#[test]
fn environment_does_not_matter() {
    let tree = source_tree();
    let scratch = tempfile::tempdir().unwrap();
    let a = scratch.path().join("t");
    tree.write(&a, false);
    let base = depmod_in(&a, &tree, &[], &[("TZ", "UTC"), ("LC_ALL", "C")]);
    for env in [
        [
            ("TZ", "Pacific/Chatham"),
            ("LC_ALL", "C.UTF-8"),
            ("LANG", "C.UTF-8"),
        ],
        [
            ("TZ", "EST5EDT"),
            ("LC_ALL", "de_DE.UTF-8"),
            ("LANG", "tr_TR.UTF-8"),
        ],
        [("TZ", ""), ("LC_ALL", ""), ("LANG", "ja_JP.eucJP")],
        // TMPDIR on a tmpfs, or missing: nothing depends on it.
        [("TMPDIR", "/dev/shm"), ("TZ", "UTC"), ("LC_ALL", "C")],
        [
            ("TMPDIR", "/nonexistent/kmodtree"),
            ("TZ", "UTC"),
            ("LC_ALL", "C"),
        ],
    ] {
        let r = depmod_in(&a, &tree, &[], &env);
        assert_same(&format!("{env:?}"), &base, &r);
    }
}

/// Runs `kmodtree depmod` (kmod 34 mode) under `umask`, through `sh`.
fn under_umask(umask: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(common::kmod::kmodtree_bin())
        .args(["depmod", "--kmod-version", "34", "--without-zlib"])
        .args(args);
    run_command(&mut cmd)
}

/// Modes of the databases in `dir` (name → mode).
fn db_modes(dir: &Path) -> BTreeMap<String, u32> {
    databases(dir)
        .keys()
        .map(|n| (n.clone(), mode(&dir.join(n))))
        .collect()
}

#[test]
fn umask_changes_modes_only() {
    let tree = source_tree();
    let scratch = tempfile::tempdir().unwrap();
    let a = scratch.path().join("t");
    tree.write(&a, false);
    let root = a.to_str().unwrap();
    let dir = tree.moddir(&a);
    let kmod34 = real_depmod_or_note(Kmod::V34, "depmod_determinism");
    let mut base: Option<BTreeMap<String, Vec<u8>>> = None;
    for (umask, file_mode, dir_mode) in [
        ("022", 0o644, 0o755),
        ("077", 0o600, 0o700),
        ("002", 0o644, 0o755),
        ("0277", 0o400, 0o500),
    ] {
        // Fresh output files: remove the previous run's.
        for n in databases(&dir).keys() {
            std::fs::remove_file(dir.join(n)).unwrap();
        }
        let r = under_umask(umask, &["-C", "/dev/null", "-b", root, &tree.version]);
        assert_eq!(r.code, 0, "umask {umask}: {}", r.describe());
        let dbs = databases(&dir);
        assert_eq!(dbs.len(), 11);
        for (n, m) in db_modes(&dir) {
            assert_eq!(m, file_mode, "umask {umask}: mode of {n} is {m:o}");
        }
        match &base {
            None => base = Some(dbs),
            Some(b) => assert!(b == &dbs, "umask {umask}: contents differ"),
        }

        // -o OUTDIR: created with mkdir -p, 0755 & ~umask.
        let out = scratch.path().join(format!("out{umask}"));
        let o = out.to_str().unwrap();
        let r = under_umask(
            umask,
            &["-C", "/dev/null", "-b", root, "-o", o, &tree.version],
        );
        assert_eq!(r.code, 0, "umask {umask} -o: {}", r.describe());
        let odir = out.join("lib/modules").join(&tree.version);
        assert_eq!(
            mode(&odir),
            dir_mode,
            "umask {umask}: mode of the -o directory"
        );
        assert_eq!(mode(&out.join("lib")), dir_mode);
        assert!(base.as_ref().unwrap() == &databases(&odir));

        if let Some(tool) = &kmod34 {
            let kout = scratch.path().join(format!("kout{umask}"));
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
                .arg(tool)
                .args(["-C", "/dev/null", "-b", root, "-o"])
                .arg(&kout)
                .arg(&tree.version);
            let k = run_command(&mut cmd);
            assert_eq!(k.code, 0, "{}", k.describe());
            let kdir = kout.join("lib/modules").join(&tree.version);
            assert_eq!(
                db_modes(&kdir),
                db_modes(&odir),
                "umask {umask}: modes vs kmod 34"
            );
            for d in [&kout, &kout.join("lib"), &kout.join("lib/modules"), &kdir] {
                let ours = out.join(d.strip_prefix(&kout).unwrap());
                assert_eq!(
                    mode(d),
                    mode(&ours),
                    "umask {umask}: mode of {}",
                    d.display()
                );
            }
        }
    }
}

/// A tree in which `exclude exdir` makes a visible difference.
fn config_tree(root: &Path) -> String {
    let version = "2.0".to_string();
    let m = elf::build(&elf::ModuleSpec::with_modinfo(&["alias=kept"]));
    let g = elf::build(&elf::ModuleSpec::with_modinfo(&["alias=gone"]));
    write_file(root, &format!("lib/modules/{version}/kernel/kept.ko"), &m);
    write_file(
        root,
        &format!("lib/modules/{version}/kernel/exdir/gone.ko"),
        &g,
    );
    version
}

const EXCLUDE: &[u8] = b"exclude exdir\n";

fn dep_of(root: &Path, version: &str, args: &[&str]) -> Vec<u8> {
    let r = root.to_str().unwrap();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-b", r, version]);
    let run = run_kmodtree(Kmod::V34, &all);
    assert_eq!(run.code, 0, "{}", run.describe());
    std::fs::read(root.join("lib/modules").join(version).join("modules.dep")).unwrap()
}

#[test]
fn only_configuration_under_the_base_is_read() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("base");
    let version = config_tree(&root);
    let both = b"kernel/kept.ko:\nkernel/exdir/gone.ko:\n".to_vec();
    let kept = b"kernel/kept.ko:\n".to_vec();
    // The order of the two lines is kmod's hash order: compare as sets.
    let sorted = |v: &[u8]| {
        let mut lines: Vec<&[u8]> = v.split_inclusive(|&b| b == b'\n').collect();
        lines.sort();
        lines.concat()
    };
    let dep = |args: &[&str]| sorted(&dep_of(&root, &version, args));
    assert_eq!(dep(&[]), sorted(&both), "no configuration anywhere");

    // Each hermetic default directory under the base is read.
    for sub in ["etc/depmod.d", "lib/depmod.d", "usr/lib/depmod.d"] {
        write_file(&root, &format!("{sub}/test.conf"), EXCLUDE);
        // A file without .conf is not configuration.
        write_file(&root, &format!("{sub}/ignored.txt"), b"exclude kernel\n");
        assert_eq!(dep(&[]), sorted(&kept), "config in BASE/{sub}");
        assert_eq!(
            dep(&["-C", "/dev/null"]),
            sorted(&both),
            "-C replaces BASE/{sub}"
        );
        std::fs::remove_dir_all(root.join(sub)).unwrap();
    }
    assert_eq!(dep(&[]), sorted(&both), "configuration removed again");

    // The host's configuration: /run/depmod.d is one of kmod's default
    // directories. Give it a configuration in a private mount namespace.
    let probe = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs kmodtree-test /run")
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!(
            "note: cannot mount in a private namespace (unshare -m); \
             the --host-config half of this test is skipped"
        );
        return;
    }
    let host = |args: &[&str]| -> Vec<u8> {
        let r = root.to_str().unwrap();
        let script = "mount -t tmpfs kmodtree-test /run && mkdir /run/depmod.d && \
                      printf 'exclude exdir\\n' > /run/depmod.d/test.conf && exec \"$0\" \"$@\"";
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "sh", "-c", script])
            .arg(common::kmod::kmodtree_bin())
            .args(["depmod", "--without-zlib"])
            .args(args)
            .args(["-b", r, &version]);
        let run = run_command(&mut cmd);
        assert_eq!(run.code, 0, "{}", run.describe());
        sorted(&std::fs::read(root.join("lib/modules").join(&version).join("modules.dep")).unwrap())
    };
    assert_eq!(
        host(&[]),
        sorted(&both),
        "host /run/depmod.d must not be read"
    );
    assert_eq!(
        host(&["--host-config"]),
        sorted(&kept),
        "--host-config must read /run/depmod.d"
    );
}
