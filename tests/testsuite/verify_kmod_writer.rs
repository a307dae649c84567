//! `kmodtree verify` on trees whose databases the real kmod 30
//! (`/usr/sbin/depmod`, Debian 12's) and kmod 34 (`depmod34`) wrote: the
//! layout on disk tells which kmod wrote them, verify says so and
//! compares with that kmod's output, so a fresh tree passes either way.
//! Skipped with a note when a depmod is not installed.

use crate::common;

use common::kmod::{kmodtree_bin, real_depmod_or_note, run_tool, Kmod};
use std::process::Command;

#[test]
fn trees_written_by_kmod_30_and_34_verify_fresh() {
    for (kmod, label) in [
        (Kmod::V30, "kmod 30 to 33"),
        (Kmod::V34, "kmod 34 or later"),
    ] {
        let Some(depmod) = real_depmod_or_note(kmod, "verify_kmod_writer") else {
            continue;
        };
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("t");
        let src = common::fixtures_dir().join("trees/amd64-6.1-ko");
        common::copy_tree(&src.join("lib"), &root.join("lib"));
        let version = common::kernel_version_of(&root);
        let r = root.to_str().unwrap();
        let w = run_tool(&depmod, &["-C", "/dev/null", "-b", r, &version]);
        assert_eq!(w.code, 0, "{}", w.describe());
        let v = Command::new(kmodtree_bin())
            .args(["verify", "-C", "/dev/null", "-b", r, &version])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&v.stdout);
        assert_eq!(v.status.code(), Some(0), "{}: {text}", kmod.label());
        assert!(
            text.contains(&format!("note: databases written by {label} (")),
            "{}: {text}",
            kmod.label()
        );
        assert!(text.contains("ok: databases fresh"), "{text}");
        // Asked for the other kmod: stale, in layout only.
        let other = if kmod == Kmod::V30 { "34" } else { "30" };
        let v = Command::new(kmodtree_bin())
            .args([
                "verify",
                "--kmod-version",
                other,
                "-C",
                "/dev/null",
                "-b",
                r,
                &version,
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&v.stdout);
        assert_eq!(v.status.code(), Some(1), "{text}");
        assert!(
            text.contains("stale: modules.dep.bin: differs only in layout"),
            "{text}"
        );
    }
}
