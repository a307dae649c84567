//! The only stage that writes: every file goes to a temporary file in the
//! output directory, is flushed, and is renamed over its final name, so a
//! reader (or a crash) sees either the complete old file or the complete
//! new one. A set of files is written in two phases — all temporaries,
//! then all renames — so a failure while writing (a full disk, a file size
//! limit) leaves every previous file untouched.

use camino::{Utf8Path, Utf8PathBuf};
use std::fs;
use std::io::{self, Write};

pub mod scratch;

use scratch::Scratch;

/// A write that failed, naming the file (kmod's words for a database).
#[derive(Debug, thiserror::Error)]
#[error("Could not write index '{name}': {}", crate::kmod::strerror(source))]
pub struct WriteError {
    /// The file's name in its directory.
    pub name: String,
    /// The file's path (the temporary's while writing).
    pub path: Utf8PathBuf,
    #[source]
    pub source: io::Error,
}

/// Test hook for the kill tests: with `KMODTREE_TEST_KILL_AT=N` in the
/// environment, the process kills itself with SIGKILL at the Nth fault
/// point of the writing stage (part of a temporary written, a temporary
/// complete, a rename done). Without the variable this does nothing.
/// Compiled only with the `failpoints` feature; without it, a no-op.
#[cfg(feature = "failpoints")]
fn fault_point() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    let seen = SEEN.fetch_add(1, Ordering::SeqCst) + 1;
    if std::env::var("KMODTREE_TEST_KILL_AT").is_ok_and(|at| at.parse() == Ok(seen)) {
        // SAFETY: sends SIGKILL to this process; nothing runs after it.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

#[cfg(not(feature = "failpoints"))]
fn fault_point() {}

/// Writes every `(name, bytes)` into `dir` atomically, mode 0644 minus the
/// umask, in two phases: each to a flushed temporary (if one fails, the
/// temporaries are removed and nothing changed), then each temporary
/// renamed over its final name, in order, and the directory flushed. If a
/// rename fails, the temporaries not yet renamed are removed.
pub fn write_all_atomic<B: AsRef<[u8]>>(
    dir: &Utf8Path,
    files: &[(&str, B)],
) -> Result<(), WriteError> {
    let mut temps = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let dest = dir.join(name).into_std_path_buf();
        temps.push((stage(dir, name, bytes.as_ref())?, dest));
    }
    let mut done = 0;
    if let Err(source) = scratch::rename_all(temps, || {
        done += 1;
        fault_point();
    }) {
        let name = files[done.min(files.len() - 1)].0;
        return Err(WriteError {
            path: dir.join(name),
            name: name.to_string(),
            source,
        });
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes `bytes` to a flushed temporary of `dir/name`, removed again on
/// failure.
fn stage(dir: &Utf8Path, name: &str, bytes: &[u8]) -> Result<Scratch, WriteError> {
    let fail = |path: Utf8PathBuf, source| WriteError {
        name: name.to_string(),
        path,
        source,
    };
    let (tmp, mut file) =
        Scratch::file(dir.as_std_path(), name.as_ref()).map_err(|e| fail(dir.join(name), e))?;
    // The fault point "part of the content written" comes after the first
    // write that reaches the file (before syncing an empty one).
    let result = file.write(bytes).and_then(|n| {
        fault_point();
        file.write_all(&bytes[n..])?;
        file.sync_data()
    });
    if let Err(source) = result {
        let path = Utf8Path::from_path(tmp.path()).map_or_else(|| dir.join(name), Into::into);
        return Err(fail(path, source)); // dropping `tmp` removes it
    }
    fault_point();
    Ok(tmp)
}

#[cfg(test)]
mod tests {
    use super::scratch::tests::names_in;
    use super::*;

    /// A scratch directory holding an old `modules.dep`.
    fn dir_with_old_dep() -> (tempfile::TempDir, Utf8PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap().to_path_buf();
        fs::write(dir.join("modules.dep"), b"old").unwrap();
        (tmp, dir)
    }

    #[test]
    fn files_appear_only_when_all_are_written() {
        let (_tmp, dir) = dir_with_old_dep();
        let dir = dir.as_path();
        let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        write_all_atomic(dir, &[("c", &b"c"[..]), ("modules.dep", &big), ("a", b"")]).unwrap();
        assert_eq!(names_in(dir), ["a", "c", "modules.dep"]);
        assert_eq!(fs::read(dir.join("modules.dep")).unwrap(), big);
        assert_eq!(fs::read(dir.join("a")).unwrap(), b"");
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let (_tmp, dir) = dir_with_old_dep();
        let dir = dir.as_path();
        // A name the temporary cannot be made for fails the second file.
        let err =
            write_all_atomic(dir, &[("modules.dep", &b"new"[..]), ("no/such", b"x")]).unwrap_err();
        assert_eq!(err.name, "no/such");
        assert_eq!(names_in(dir), ["modules.dep"]);
        assert_eq!(fs::read(dir.join("modules.dep")).unwrap(), b"old");
    }
}
