//! Faults while `kmodtree depmod` writes: killed with SIGKILL at every step
//! of the writing stage and at spread moments of whole runs, a file size
//! limit without any signal handling by the caller, a full disk (a small
//! tmpfs), and an output file that cannot be replaced. Each time, every
//! `modules.*` file must be the complete old one or the complete new one.

use crate::common;

use common::kmod::{databases, entries, kmodtree_bin, run_command, Run};
use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

type Dbs = BTreeMap<String, Vec<u8>>;

/// A copy of a real fixture tree (plain .ko modules) under `root`; returns
/// the module directory and the version.
fn fixture_copy(root: &Path) -> (PathBuf, String) {
    let trees = common::fixture_trees();
    let (_, _, moddir, version) = trees
        .iter()
        .find(|(name, ..)| name == "amd64-6.1-ko")
        .expect("fixture tree amd64-6.1-ko");
    let dir = root.join("lib/modules").join(version);
    common::copy_tree(moddir, &dir);
    // Start without databases: the test makes its own old and new ones.
    for name in databases(&dir).keys() {
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    (dir, version.clone())
}

fn depmod(root: &Path, version: &str) -> Command {
    let mut c = Command::new(kmodtree_bin());
    c.args(["depmod", "-C", "/dev/null", "-b"])
        .arg(root)
        .arg(version);
    c
}

/// The old databases (of the full tree) and the new ones (after removing a
/// module several others depend on), both complete. The tree is left
/// without that module and with the old databases in place.
fn old_and_new(root: &Path, dir: &Path, version: &str) -> (Dbs, Dbs) {
    let run = run_command(&mut depmod(root, version));
    assert_eq!(run.code, 0, "{}", run.describe());
    let old = databases(dir);
    let victim = common::module_files(dir)
        .into_iter()
        .find(|m| m.ends_with("/libata.ko") || m.ends_with("/scsi_mod.ko"))
        .or_else(|| common::module_files(dir).into_iter().next())
        .unwrap();
    std::fs::remove_file(dir.join(&victim)).unwrap();
    let run = run_command(&mut depmod(root, version));
    assert_eq!(run.code, 0, "{}", run.describe());
    let new = databases(dir);
    let differing = old.keys().filter(|k| old[*k] != new[*k]).count();
    assert!(
        differing >= 3,
        "removing {victim} changes only {differing} databases"
    );
    restore(dir, &old);
    (old, new)
}

fn changed(old: &Dbs, new: &Dbs) -> usize {
    old.keys().filter(|k| old[*k] != new[*k]).count()
}

fn restore(dir: &Path, dbs: &Dbs) {
    for (name, bytes) in dbs {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// Every database is the complete old or the complete new one. Returns how
/// many of those that changed are new.
fn check_old_or_new(dir: &Path, old: &Dbs, new: &Dbs, when: &str) -> usize {
    let now = databases(dir);
    assert_eq!(
        now.keys().collect::<Vec<_>>(),
        old.keys().collect::<Vec<_>>(),
        "{when}: set of databases changed"
    );
    let mut n_new = 0;
    for (name, bytes) in &now {
        if *bytes == new[name] {
            n_new += usize::from(new[name] != old[name]);
        } else {
            assert!(
                *bytes == old[name],
                "{when}: {name} is neither the old nor the new file ({} bytes; old {}, new {})",
                bytes.len(),
                old[name].len(),
                new[name].len()
            );
        }
    }
    n_new
}

/// Entries of `dir` that are neither module-tree content nor databases:
/// temporaries of the writing stage.
fn temporaries(dir: &Path) -> Vec<String> {
    entries(dir)
        .into_iter()
        .filter(|e| e.contains(".kmodtree-"))
        .collect()
}

/// Needs the `failpoints` feature: the hook that makes the binary kill
/// itself at the Nth write step exists only there.
#[cfg(feature = "failpoints")]
#[test]
fn sigkill_at_every_write_step_leaves_each_file_old_or_new() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let (dir, version) = fixture_copy(root);
    let (old, new) = old_and_new(root, &dir, &version);
    let mut points = 0;
    let mut mixed = 0;
    for n in 1.. {
        restore(&dir, &old);
        let status = depmod(root, &version)
            .env("KMODTREE_TEST_KILL_AT", n.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        let when = format!("killed at write step {n}");
        let n_new = check_old_or_new(&dir, &old, &new, &when);
        if status.success() {
            // Past the last fault point: the run completed.
            assert_eq!(n_new, changed(&old, &new));
            break;
        }
        assert_eq!(status.signal(), Some(9), "{when}: {status:?}");
        points += 1;
        if n_new > 0 && n_new < changed(&old, &new) {
            mixed += 1;
        }
        assert!(n < 1000, "no end to the fault points");
    }
    // Three points per file (half written, written, renamed).
    assert_eq!(points, 3 * old.len(), "fault points seen");
    assert!(mixed > 0, "some kills fell between two renames");
    // The completed run removed the temporaries the killed ones left.
    assert_eq!(temporaries(&dir), Vec::<String>::new());
}

#[cfg(not(feature = "failpoints"))]
#[test]
fn sigkill_at_every_write_step_needs_the_failpoints_feature() {
    eprintln!(
        "note: sigkill_at_every_write_step: not built without the failpoints \
         feature (cargo test --features failpoints); skipped"
    );
}

#[test]
fn sigkill_at_spread_moments_of_whole_runs() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let (dir, version) = fixture_copy(root);
    let (old, new) = old_and_new(root, &dir, &version);
    // How long a run takes here; kills are spread over 0..1.2 times that.
    // The checks do not depend on where a kill lands.
    let start = std::time::Instant::now();
    restore(&dir, &old);
    assert!(depmod(root, &version).status().unwrap().success());
    let full = start.elapsed();
    let mut killed = 0;
    for i in 0..16u32 {
        restore(&dir, &old);
        let mut child = depmod(root, &version)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full * i * 3 / 40);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.signal() == Some(9) {
            killed += 1;
        }
        check_old_or_new(&dir, &old, &new, &format!("kill {i} ({status:?})"));
    }
    assert!(killed > 0, "no run was killed");
    assert!(depmod(root, &version).status().unwrap().success());
    assert_eq!(
        check_old_or_new(&dir, &old, &new, "after"),
        changed(&old, &new)
    );
    assert_eq!(temporaries(&dir), Vec::<String>::new());
}

/// A run with RLIMIT_FSIZE set to `bytes` and the default SIGXFSZ
/// disposition (as `prlimit --fsize` gives it).
fn run_with_fsize(root: &Path, version: &str, bytes: u64) -> Run {
    let mut cmd = depmod(root, version);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the
    // child before exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    run_command(&mut cmd)
}

#[test]
fn file_size_limit_fails_with_a_message_and_keeps_old_files() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let (dir, version) = fixture_copy(root);
    let (old, new) = old_and_new(root, &dir, &version);
    // Smaller than the largest database, larger than the smallest.
    let largest = new.values().map(Vec::len).max().unwrap() as u64;
    let run = run_with_fsize(root, &version, largest / 2);
    assert_eq!(run.code, 1, "{}", run.describe());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("Could not write index 'modules."), "{err}");
    assert!(err.contains("File too large"), "{err}");
    // Written in two phases: nothing was renamed.
    assert_eq!(check_old_or_new(&dir, &old, &new, "EFBIG"), 0);
    assert_eq!(temporaries(&dir), Vec::<String>::new());
}

#[test]
fn full_disk_fails_with_a_message_and_keeps_old_files() {
    // A small tmpfs in a private mount namespace (unshare -rm works as
    // root and for ordinary users with user namespaces).
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let (dir, version) = fixture_copy(root);
    let (old, new) = old_and_new(root, &dir, &version);
    let total: usize = old.values().map(Vec::len).sum::<usize>();
    // Room for the old databases and half of the new ones.
    let size_kib = (total + total / 2) / 1024 + 8;
    let out = root.join("out");
    let outdir = out.join("lib/modules").join(&version);
    let script = r#"
        set -e
        mount -t tmpfs -o size="$SIZE"k tmpfs "$OUT"
        mkdir -p "$OUTDIR"
        cp "$DIR"/modules.* "$OUTDIR"/
        set +e
        "$BIN" depmod -C /dev/null -b "$ROOT" -o "$OUT" "$VER" 2>"$SNAP/stderr"
        echo $? > "$SNAP/code"
        cp -r "$OUTDIR" "$SNAP/dir"
    "#;
    let snap = root.join("snap");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let status = Command::new("unshare")
        .args(["-rm", "sh", "-c", script])
        .env("SIZE", size_kib.to_string())
        .env("OUT", &out)
        .env("OUTDIR", &outdir)
        .env("DIR", &dir)
        .env("BIN", kmodtree_bin())
        .env("ROOT", root)
        .env("VER", &version)
        .env("SNAP", &snap)
        .status();
    let mounted = matches!(status, Ok(s) if s.success()) && snap.join("code").exists();
    if !mounted {
        eprintln!(
            "note: full_disk: cannot mount a tmpfs in a namespace here ({status:?}); skipped"
        );
        return;
    }
    let code = std::fs::read_to_string(snap.join("code")).unwrap();
    let err = std::fs::read_to_string(snap.join("stderr")).unwrap();
    assert_eq!(code.trim(), "1", "{err}");
    assert!(err.contains("Could not write index 'modules."), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let got = snap.join("dir");
    assert_eq!(check_old_or_new(&got, &old, &new, "ENOSPC"), 0);
    assert_eq!(temporaries(&got), Vec::<String>::new());
}

#[test]
fn database_replaced_by_a_directory_fails_with_its_name() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let (dir, version) = fixture_copy(root);
    let (old, new) = old_and_new(root, &dir, &version);
    // modules.symbols cannot be replaced: a non-empty directory is there.
    std::fs::remove_file(dir.join("modules.symbols")).unwrap();
    std::fs::create_dir_all(dir.join("modules.symbols/x")).unwrap();
    let run = run_command(&mut depmod(root, &version));
    assert_eq!(run.code, 1, "{}", run.describe());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("Could not write index 'modules.symbols': Is a directory"),
        "{err}"
    );
    std::fs::remove_dir_all(dir.join("modules.symbols")).unwrap();
    std::fs::write(dir.join("modules.symbols"), &old["modules.symbols"]).unwrap();
    check_old_or_new(&dir, &old, &new, "EISDIR");
    assert_eq!(temporaries(&dir), Vec::<String>::new());
}
