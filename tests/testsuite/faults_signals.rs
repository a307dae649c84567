//! SIGTERM, SIGINT and SIGHUP at many moments of depmod, union and
//! closure: the run removes what it created (temporaries, the temporary
//! output tree) and ends by the signal (a shell's status 128 + N), or it
//! had already finished (status 0, complete output). A signal that comes
//! after the output tree's final rename, before the process exits, ends
//! the run by the signal with its output complete (as kmod's depmod leaves
//! its renamed files): either way the output is whole or absent.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const TREE: &str = "../shared/fixtures/trees/amd64-6.1-ko";
const VERSION: &str = "6.1.0-56-amd64";

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kmodtree"))
}

/// Every path below `dir` (and `dir`'s siblings) naming a temporary.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().to_string_lossy().contains(".kmodtree-"))
        .map(|e| e.path().to_path_buf())
        .collect()
}

/// Runs `cmd`, sends `sig` after `delay`; returns whether it was ended by
/// the signal (false: it finished first, successfully).
fn interrupt(mut cmd: Command, sig: libc::c_int, delay: Duration) -> bool {
    let what = format!("{cmd:?} after {delay:?}");
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    // SAFETY: sends a signal to our own child (not yet reaped).
    unsafe { libc::kill(child.id() as i32, sig) };
    let out = child.wait_with_output().unwrap();
    let status = out.status;
    match status.signal() {
        Some(s) => {
            assert_eq!(s, sig, "{what}: {status:?}");
            true
        }
        None => {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(status.success(), "{what}: {status:?} {err}");
            false
        }
    }
}

/// The output tree of a union or closure run is absent or whole: it is
/// renamed into place last, so present means it has its `modules.dep`.
fn absent_or_whole(out: &Path) -> bool {
    !out.exists()
        || out
            .join("lib/modules")
            .join(VERSION)
            .join("modules.dep")
            .is_file()
}

fn delays() -> impl Iterator<Item = Duration> {
    (0..40u64).map(|i| Duration::from_micros(i * i * 120))
}

#[test]
fn interrupted_runs_leave_nothing_behind() {
    if !Path::new(TREE).exists() {
        eprintln!("skipped: needs {TREE}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("t");
    assert!(Command::new("cp")
        .args(["-a", TREE])
        .arg(&root)
        .status()
        .unwrap()
        .success());
    // The databases closure reads; an interrupted depmod keeps them.
    assert!(Command::new(bin())
        .args(["depmod", "-b"])
        .arg(&root)
        .arg(VERSION)
        .status()
        .unwrap()
        .success());
    let signals = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];
    let mut ended = [0usize; 3];
    for (i, delay) in delays().enumerate() {
        let sig = signals[i % 3];
        // depmod in place.
        let mut c = Command::new(bin());
        c.args(["depmod", "-b"]).arg(&root).arg(VERSION);
        ended[0] += usize::from(interrupt(c, sig, delay));
        assert_eq!(
            temporaries(tmp.path()),
            Vec::<PathBuf>::new(),
            "depmod {delay:?}"
        );
        // union into a new tree.
        let out = tmp.path().join("u");
        let mut c = Command::new(bin());
        c.arg("union").arg(&out).arg(&root);
        if interrupt(c, sig, delay / 4) {
            ended[1] += 1;
            assert!(absent_or_whole(&out), "union {delay:?}");
        }
        assert_eq!(
            temporaries(tmp.path()),
            Vec::<PathBuf>::new(),
            "union {delay:?}"
        );
        let _ = std::fs::remove_dir_all(&out);
        // closure into a new tree.
        let out = tmp.path().join("c");
        let mut c = Command::new(bin());
        c.args(["closure", "-b"])
            .arg(&root)
            .arg("-o")
            .arg(&out)
            .args([VERSION, "can_raw", "can_bcm"]);
        if interrupt(c, sig, delay) {
            ended[2] += 1;
            assert!(absent_or_whole(&out), "closure {delay:?}");
        }
        assert_eq!(
            temporaries(tmp.path()),
            Vec::<PathBuf>::new(),
            "closure {delay:?}"
        );
        let _ = std::fs::remove_dir_all(&out);
    }
    // Most moments fall inside the runs.
    eprintln!("ended by the signal (depmod, union, closure): {ended:?} of 40 each");
    assert!(ended.iter().all(|&n| n >= 5), "{ended:?}");
}

/// Whether signal `sig` is set in the mask `field` (`SigCgt`, `ShdPnd`,
/// ...) of `/proc/PID/status`; false once the process is gone.
fn in_mask(pid: u32, field: &str, sig: libc::c_int) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(":\t"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & 1u64 << (sig - 1) != 0)
}

/// Polls `cond` every millisecond for at most 10 s.
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..10_000 {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// A second signal while the first one's clean-up runs ends the process at
/// once, by that signal (the clean-up is held for 20 s by a test hook).
/// The first signal is sent once the handlers are installed (`SigCgt`) and
/// the second once the first was taken (no longer pending), whatever the
/// machine's load.
#[test]
fn a_second_signal_ends_at_once() {
    if !Path::new(TREE).exists() {
        eprintln!("skipped: needs {TREE}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("u");
    for delay_ms in [0u64, 2, 5, 10, 20, 40, 80, 160, 320] {
        let mut child = Command::new(bin())
            .arg("union")
            .arg(&out)
            .arg(TREE)
            .env("KMODTREE_TEST_CLEANUP_DELAY_MS", "20000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let installed = wait_for(|| {
            in_mask(pid, "SigCgt", libc::SIGTERM) || child.try_wait().unwrap().is_some()
        });
        assert!(installed, "no handler after 10 s");
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            let _ = std::fs::remove_dir_all(&out);
            continue;
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SAFETY: signals our own child (not yet reaped).
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let taken =
            || !in_mask(pid, "ShdPnd", libc::SIGTERM) && !in_mask(pid, "SigPnd", libc::SIGTERM);
        assert!(wait_for(taken), "SIGTERM still pending after 10 s");
        std::thread::sleep(Duration::from_millis(50));
        if let Some(status) = child.try_wait().unwrap() {
            // It had finished before the signal came.
            assert!(status.success(), "{status:?}");
            let _ = std::fs::remove_dir_all(&out);
            continue;
        }
        // The first signal is being handled (held by the hook); a second
        // ends it now.
        let start = std::time::Instant::now();
        // SAFETY: as above.
        unsafe { libc::kill(pid as i32, libc::SIGINT) };
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
        return;
    }
    panic!("every run had finished before its first signal");
}
