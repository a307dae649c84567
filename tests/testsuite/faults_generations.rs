//! What modprobe sees after a SIGKILL at every step of depmod's writing
//! stage (the KMODTREE_TEST_KILL_AT hook): each file is the complete old
//! or new one; modules.dep and modules.dep.bin (where every lookup of
//! modprobe ends) are renamed last, so once modules.dep.bin is new every
//! database is; and the next run repairs any mixed set and removes the
//! killed run's temporaries.

use crate::common;
use common::kmod::{databases, entries, kmodtree_bin};
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

type Dbs = BTreeMap<String, Vec<u8>>;

fn depmod(root: &Path, version: &str) -> Command {
    let mut c = Command::new(kmodtree_bin());
    c.args(["depmod", "-C", "/dev/null", "-b"])
        .arg(root)
        .arg(version)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn restore(dir: &Path, dbs: &Dbs) {
    for (name, bytes) in dbs {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn a_kill_at_any_step_leaves_the_dependency_index_last_and_is_repaired() {
    let trees = common::fixture_trees();
    let Some((_, _, moddir, version)) = trees.iter().find(|(n, ..)| n == "amd64-6.1-ko") else {
        eprintln!("skipped: no fixture amd64-6.1-ko");
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let dir = root.join("lib/modules").join(version);
    common::copy_tree(moddir, &dir);
    assert!(depmod(root, version).status().unwrap().success());
    let old = databases(&dir);
    // The new generation: without a module others depend on.
    let victim = common::module_files(&dir)
        .into_iter()
        .find(|m| m.ends_with("/libata.ko") || m.ends_with("/scsi_mod.ko"))
        .unwrap();
    std::fs::remove_file(dir.join(&victim)).unwrap();
    assert!(depmod(root, version).status().unwrap().success());
    let new = databases(&dir);
    assert_ne!(old["modules.dep.bin"], new["modules.dep.bin"]);
    let mut mixed = 0;
    for n in 1.. {
        restore(&dir, &old);
        let status = depmod(root, version)
            .env("KMODTREE_TEST_KILL_AT", n.to_string())
            .status()
            .unwrap();
        let now = databases(&dir);
        assert_eq!(now.len(), old.len(), "step {n}");
        let is_new = |name: &str| now[name] == new[name];
        for name in now.keys() {
            assert!(is_new(name) || now[name] == old[name], "step {n}: {name}");
        }
        if is_new("modules.dep.bin") {
            let stale: Vec<&String> = now.keys().filter(|k| !is_new(k)).collect();
            assert!(stale.is_empty(), "step {n}: dep.bin new but {stale:?} old");
        }
        let changed = now.keys().filter(|k| old[*k] != new[*k]);
        if changed.clone().any(|k| is_new(k)) && !changed.clone().all(|k| is_new(k)) {
            mixed += 1;
        }
        if status.success() {
            break;
        }
        assert_eq!(status.signal(), Some(9), "step {n}");
        // The next run repairs: all new, no temporary.
        assert!(depmod(root, version).status().unwrap().success());
        assert!(databases(&dir) == new, "step {n}: not repaired");
        let left: Vec<String> = entries(&dir)
            .into_iter()
            .filter(|e| e.contains(".kmodtree-"))
            .collect();
        assert!(left.is_empty(), "step {n}: {left:?}");
        assert!(n < 1000);
    }
    assert!(mixed > 0, "no kill fell between two renames");
}
