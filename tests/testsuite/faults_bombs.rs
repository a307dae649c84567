//! Decompression bombs (a tiny ELF header followed by 1.1 GiB of zeros,
//! gzip -9: 1.1 MB), four hard links of one: refused by the ratio cap, and
//! with one budget shared by all reading threads the peak memory stays
//! under 600 MB at --jobs 1, 4 and 16 (it was jobs x 1 GiB: 3.4-4 GB at 4).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kmodtree"))
}

/// Writes the bomb with the system's gzip (fast); false if there is none.
fn write_bomb(path: &Path) -> bool {
    let script = format!(
        "(printf '\\177ELF\\002\\001\\001'; head -c 1181116006 /dev/zero) | gzip -9 > '{}'",
        path.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn bombs_are_refused_within_a_shared_budget() {
    if !Path::new("/usr/bin/time").exists() {
        eprintln!("skipped: needs /usr/bin/time");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lib/modules/1.0/kernel");
    std::fs::create_dir_all(&dir).unwrap();
    if !write_bomb(&dir.join("b0.ko.gz")) {
        eprintln!("skipped: needs gzip");
        return;
    }
    for i in 1..4 {
        std::fs::hard_link(dir.join("b0.ko.gz"), dir.join(format!("b{i}.ko.gz"))).unwrap();
    }
    for jobs in ["1", "4", "16"] {
        let out = Command::new("/usr/bin/time")
            .args(["-f", "PEAK %M"])
            .arg(bin())
            .args(["depmod", "-b"])
            .arg(tmp.path())
            .args(["--jobs", jobs, "1.0"])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // kmod carries on past an unreadable module: status 0.
        assert!(out.status.success(), "{err}");
        for i in 0..4 {
            let name = format!("b{i}.ko.gz: image expands more than 128 times");
            assert!(err.contains(&name), "{err}");
        }
        let kb: u64 = err
            .lines()
            .find_map(|l| l.strip_prefix("PEAK "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        eprintln!("--jobs {jobs}: peak RSS {} MB", kb / 1024);
        assert!(kb < 600 * 1024, "--jobs {jobs}: {kb} kB");
    }
}
