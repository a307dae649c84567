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

#[cfg(not(feature = "failpoints"))]
fn fault_point() {}

/// A temporary being written: the fault point "part of the content
/// written" comes after the first write that reaches the file (so once per
/// file however many writes there are; [`StagedFiles::stage_with`] fires it
/// before syncing a file nothing was written to).
struct FaultAfterFirstWrite {
    file: fs::File,
    fired: bool,
}

impl Write for FaultAfterFirstWrite {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if !self.fired && n > 0 {
            self.fired = true;
            fault_point();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
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
    let staged = StagedFiles::new(dir);
    for (name, bytes) in files {
        staged.stage(name, bytes.as_ref())?;
    }
    staged.commit()
}

/// A set of files written in two phases, for writers that produce the
/// files one at a time and should not hold them all: each [`stage`] writes
/// one file's temporary at once (so its bytes can be dropped), or each
/// [`stage_with`] as its content is produced (so it is never held whole),
/// and [`commit`] renames every temporary over its final name, in the
/// order the files were staged. Dropped without a commit (an error, a later
/// file that failed to render), it removes its temporaries: nothing
/// changed.
///
/// `stage` and `stage_with` may be called from several threads.
///
/// [`stage`]: StagedFiles::stage
/// [`stage_with`]: StagedFiles::stage_with
/// [`commit`]: StagedFiles::commit
pub struct StagedFiles<'d> {
    dir: &'d Utf8Path,
    temps: std::sync::Mutex<Vec<(Scratch, String)>>,
}

impl<'d> StagedFiles<'d> {
    pub fn new(dir: &'d Utf8Path) -> Self {
        StagedFiles {
            dir,
            temps: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The directory the files go to.
    pub fn dir(&self) -> &'d Utf8Path {
        self.dir
    }

    fn temps(&self) -> std::sync::MutexGuard<'_, Vec<(Scratch, String)>> {
        // A panic while holding the lock leaves a valid list.
        self.temps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `bytes` to a temporary of `dir/name` and flushes it; on
    /// failure that temporary is removed (the others stay until the set is
    /// dropped).
    pub fn stage(&self, name: &str, bytes: &[u8]) -> Result<(), WriteError> {
        self.stage_with(name, |out| out.write_all(bytes))
    }

    /// Writes to a temporary of `dir/name` what `write` writes to the
    /// writer it is given (buffered: 64 KiB reach the file at a time) and
    /// flushes it; fails with `write`'s error, or the file's. On failure
    /// that temporary is removed (the others stay until the set is
    /// dropped).
    pub fn stage_with(
        &self,
        name: &str,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), WriteError> {
        scratch::remove_abandoned(self.dir.as_std_path(), name.as_ref());
        let fail = |path: Utf8PathBuf, source| WriteError {
            name: name.to_string(),
            path,
            source,
        };
        let (tmp, f) = Scratch::file(self.dir.as_std_path(), name.as_ref())
            .map_err(|e| fail(self.dir.join(name), e))?;
        let result = (|| {
            let file = FaultAfterFirstWrite {
                file: f,
                fired: false,
            };
            let mut out = io::BufWriter::with_capacity(64 * 1024, file);
            if let Err(e) = write(&mut out) {
                // Not flushed: the temporary goes anyway.
                let _ = out.into_parts();
                return Err(e);
            }
            let mut file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
            if !file.fired {
                // Nothing reached the file: the content is empty.
                file.fired = true;
                fault_point();
            }
            file.file.sync_data()?;
            fault_point();
            Ok(())
        })();
        if let Err(source) = result {
            let path = Utf8PathBuf::from_path_buf(tmp.path().to_path_buf())
                .unwrap_or_else(|_| self.dir.join(name));
            return Err(fail(path, source)); // dropping `tmp` removes it
        }
        self.temps().push((tmp, name.to_string()));
        Ok(())
    }

    /// Renames every staged temporary over its final name, in staging
    /// order, then flushes the directory. If a rename fails, the
    /// temporaries not yet renamed are removed.
    pub fn commit(self) -> Result<(), WriteError> {
        let temps = std::mem::take(&mut *self.temps());
        let names: Vec<String> = temps.iter().map(|(_, n)| n.clone()).collect();
        let items = temps
            .into_iter()
            .map(|(t, n)| (t, self.dir.join(n).into_std_path_buf()))
            .collect();
        let mut done = 0;
        if let Err(source) = scratch::rename_all(items, || {
            done += 1;
            fault_point();
        }) {
            let name = names[done.min(names.len() - 1)].clone();
            return Err(WriteError {
                path: self.dir.join(&name),
                name,
                source,
            });
        }
        if let Ok(d) = fs::File::open(self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Puts the staged files in the order `rank` gives (the order
    /// [`commit`](StagedFiles::commit) renames them in), for writers that
    /// stage from several threads.
    pub fn order_by_key<K: Ord>(&self, rank: impl Fn(&str) -> K) {
        self.temps().sort_by_key(|(_, name)| rank(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory holding an old `modules.dep`.
    fn dir_with_old_dep() -> (tempfile::TempDir, Utf8PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap().to_path_buf();
        fs::write(dir.join("modules.dep"), b"old").unwrap();
        (tmp, dir)
    }

    fn names_in(dir: &Utf8Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn staged_files_appear_only_on_commit() {
        let (_tmp, dir) = dir_with_old_dep();
        let dir = dir.as_path();
        let staged = StagedFiles::new(dir);
        staged.stage("modules.dep", b"new").unwrap();
        staged.stage("modules.alias", b"alias").unwrap();
        // Staged: the old file and two temporaries.
        assert_eq!(fs::read(dir.join("modules.dep")).unwrap(), b"old");
        assert_eq!(names_in(dir).len(), 3);
        staged.commit().unwrap();
        assert_eq!(names_in(dir), ["modules.alias", "modules.dep"]);
        assert_eq!(fs::read(dir.join("modules.dep")).unwrap(), b"new");
    }

    #[test]
    fn staged_files_dropped_without_commit_leave_nothing() {
        let (_tmp, dir) = dir_with_old_dep();
        let dir = dir.as_path();
        {
            let staged = StagedFiles::new(dir);
            staged.stage("modules.dep", b"new").unwrap();
            staged.stage("modules.alias", b"alias").unwrap();
        }
        assert_eq!(names_in(dir), ["modules.dep"]);
        assert_eq!(fs::read(dir.join("modules.dep")).unwrap(), b"old");
    }

    #[test]
    fn staged_content_can_be_written_in_pieces_or_not_at_all() {
        let (_tmp, dir) = dir_with_old_dep();
        let dir = dir.as_path();
        let staged = StagedFiles::new(dir);
        let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        staged
            .stage_with("modules.dep", |out| {
                out.write_all(b"new ")?;
                out.write_all(&big)
            })
            .unwrap();
        staged.stage_with("modules.devname", |_| Ok(())).unwrap();
        staged.commit().unwrap();
        let dep = fs::read(dir.join("modules.dep")).unwrap();
        assert_eq!(dep.len(), 4 + big.len());
        assert!(dep.starts_with(b"new ") && dep.ends_with(&big[big.len() - 10..]));
        assert_eq!(fs::read(dir.join("modules.devname")).unwrap(), b"");
    }

    #[test]
    fn a_failed_producer_leaves_no_temporary() {
        let (_tmp, dir) = dir_with_old_dep();
        let dir = dir.as_path();
        let staged = StagedFiles::new(dir);
        staged.stage("modules.alias", b"alias").unwrap();
        // Fails after writing more than the buffer holds, and before.
        for size in [100, 100_000] {
            let err = staged
                .stage_with("modules.dep", |out| {
                    out.write_all(&vec![b'x'; size])?;
                    Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "index too large",
                    ))
                })
                .unwrap_err();
            assert_eq!(err.name, "modules.dep");
            assert_eq!(err.source.to_string(), "index too large");
            assert_eq!(err.path.parent(), Some(dir));
            // The old file and the other file's temporary only.
            assert_eq!(names_in(dir).len(), 2, "{size}: {:?}", names_in(dir));
        }
        staged.commit().unwrap();
        assert_eq!(names_in(dir), ["modules.alias", "modules.dep"]);
        assert_eq!(fs::read(dir.join("modules.dep")).unwrap(), b"old");
    }

    #[test]
    fn staged_files_are_put_in_the_given_order() {
        let (_tmp, dir) = dir_with_old_dep();
        let dir = dir.as_path();
        let staged = StagedFiles::new(dir);
        for name in ["c", "a", "b"] {
            staged.stage(name, name.as_bytes()).unwrap();
        }
        staged.order_by_key(|n| n.to_string());
        let order: Vec<String> = staged.temps().iter().map(|(_, n)| n.clone()).collect();
        assert_eq!(order, ["a", "b", "c"]);
        staged.commit().unwrap();
        assert_eq!(names_in(dir), ["a", "b", "c", "modules.dep"]);
    }
}
