//! Two runs that are both PID 1 of their own PID namespace, writing one
//! module tree at once: each names its temporaries with a random part and
//! holds a lock on them, so neither removes the other's (as a process-id
//! check did: two PID-1 runs each took the other's files for abandoned).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TREE: &str = "../shared/fixtures/trees/amd64-6.1-ko";
const VERSION: &str = "6.1.0-56-amd64";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kmodtree"))
}

/// The databases of `dir`, by name, and any file that is not one.
fn databases(dir: &Path) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let mut dbs = Vec::new();
    let mut other = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.contains("kmodtree-") {
            other.push(name);
        } else if name.starts_with("modules.") {
            dbs.push((name.clone(), std::fs::read(dir.join(&name)).unwrap()));
        }
    }
    dbs.sort();
    (dbs, other)
}

fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["-fp", "--mount-proc", "true"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn two_pid_one_runs_on_one_tree_both_succeed() {
    let src = Path::new(TREE);
    if !src.exists() || !can_unshare() {
        eprintln!("skipped: needs {TREE} and unshare -p (root)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    let ok = Command::new("cp")
        .args(["-a", TREE])
        .arg(&root)
        .status()
        .unwrap();
    assert!(ok.success());
    let moddir = root.join("lib/modules").join(VERSION);
    let depmod = |ns: bool| {
        let mut c = if ns {
            let mut c = Command::new("unshare");
            c.args(["-fp", "--mount-proc"]).arg(bin());
            c
        } else {
            Command::new(bin())
        };
        c.args(["depmod", "-b"]).arg(&root).arg(VERSION);
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        c
    };
    assert!(depmod(false).status().unwrap().success());
    let (reference, other) = databases(&moddir);
    assert!(other.is_empty(), "{other:?}");
    assert!(reference.len() > 10);
    let rounds = 30;
    for round in 0..rounds {
        let a = depmod(true).spawn().unwrap();
        let b = depmod(true).spawn().unwrap();
        for (which, child) in [("a", a), ("b", b)] {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}, run {which}: {:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (dbs, other) = databases(&moddir);
        assert!(other.is_empty(), "round {round}: left {other:?}");
        assert!(dbs == reference, "round {round}: outputs differ");
    }
}
