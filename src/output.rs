//! The only stage that writes: every file goes to a temporary file in the
//! output directory, is flushed, and is renamed over its final name, so a
//! reader (or a crash) sees either the complete old file or the complete
//! new one. A set of files is written in two phases — all temporaries,
//! then all renames — so a failure while writing (a full disk, a file size
//! limit) leaves every previous file untouched.

use camino::{Utf8Path, Utf8PathBuf};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

/// A write that failed, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("Could not write index '{name}': {reason}")]
pub struct WriteError {
    pub name: String,
    pub reason: String,
}

fn temp_name(dir: &Utf8Path, name: &str) -> Utf8PathBuf {
    dir.join(format!(".{name}.kmodtree-{}.tmp", std::process::id()))
}

/// Removes temporaries of `name` left in `dir` by kmodtree processes that
/// no longer exist (killed while writing). A temporary of a live process
/// (another kmodtree writing the same directory) is left alone.
fn remove_stale_temps(dir: &Utf8Path, name: &str) {
    let prefix = format!(".{name}.kmodtree-");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.strip_suffix(".tmp"))
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let gone = pid > 0
            && unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Test hook for the kill tests: with `KMODTREE_TEST_KILL_AT=N` in the
/// environment, the process kills itself with SIGKILL at the Nth fault
/// point of the writing stage (half of a temporary written, a temporary
/// complete, a rename done). Without the variable this does nothing.
fn fault_point() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    static KILL_AT: OnceLock<Option<usize>> = OnceLock::new();
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    let Some(at) = *KILL_AT.get_or_init(|| {
        std::env::var("KMODTREE_TEST_KILL_AT")
            .ok()
            .and_then(|v| v.parse().ok())
    }) else {
        return;
    };
    if SEEN.fetch_add(1, Ordering::SeqCst) + 1 == at {
        // SAFETY: sends SIGKILL to this process; nothing runs after it.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Writes `bytes` to `dir/name` atomically, mode 0644 minus the umask.
pub fn write_atomic(dir: &Utf8Path, name: &str, bytes: &[u8]) -> Result<(), WriteError> {
    write_all_atomic(dir, &[(name, bytes)])
}

/// Writes every `(name, bytes)` into `dir`: all temporaries first; if any
/// fails, all are removed and nothing changed. Then each is renamed.
pub fn write_all_atomic<B: AsRef<[u8]>>(
    dir: &Utf8Path,
    files: &[(&str, B)],
) -> Result<(), WriteError> {
    let mut temps: Vec<(Utf8PathBuf, &str)> = Vec::with_capacity(files.len());
    let cleanup = |temps: &[(Utf8PathBuf, &str)]| {
        for (t, _) in temps {
            let _ = fs::remove_file(t);
        }
    };
    for (name, bytes) in files {
        let tmp = temp_name(dir, name);
        let _ = fs::remove_file(&tmp); // a leftover of a killed run with our pid
        remove_stale_temps(dir, name);
        let result = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .and_then(|mut f| {
                let bytes = bytes.as_ref();
                let (first, second) = bytes.split_at(bytes.len() / 2);
                f.write_all(first)?;
                fault_point();
                f.write_all(second)?;
                f.sync_data()?;
                fault_point();
                Ok(())
            });
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            cleanup(&temps);
            return Err(WriteError {
                name: name.to_string(),
                reason: crate::tree::strerror(&e),
            });
        }
        temps.push((tmp, name));
    }
    for (i, (tmp, name)) in temps.iter().enumerate() {
        if let Err(e) = fs::rename(tmp, dir.join(name)) {
            cleanup(&temps[i..]);
            return Err(WriteError {
                name: name.to_string(),
                reason: crate::tree::strerror(&e),
            });
        }
        fault_point();
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
