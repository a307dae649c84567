//! Temporaries no other run can name or remove, and the process-wide list
//! of the ones this run holds.
//!
//! A temporary (a file, or a directory tree built beside its final place)
//! is named `.NAME.kmodtree-TAG.tmp`, TAG 16 random hex digits, created
//! exclusively (`O_EXCL`, `mkdir`), and holds an exclusive `flock` for its
//! whole life. Creating one first removes the leftovers of the same name
//! whose lock can be taken: their writer is gone (killed), whatever process
//! ids say — two runs that are both PID 1 of their own PID namespace never
//! touch each other's files.
//!
//! Every live temporary is in one registry; [`remove_all_and_hold`] (the
//! tool's signal handler) removes them all and keeps the registry locked
//! so that no new one appears and no rename completes afterwards. Creating
//! a temporary and renaming it into place happen under that lock, so a
//! signal finds each temporary either wholly registered or wholly renamed.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// What the registry holds for one live temporary. The id tells it apart
/// from a later temporary at the same path: once one is renamed, a
/// numbered temporary may take its name while its `Scratch` still lives.
#[derive(Clone, PartialEq)]
struct Entry {
    path: PathBuf,
    dir: bool,
    id: u64,
}

static LIVE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn live() -> MutexGuard<'static, Vec<Entry>> {
    // A panic while holding the lock leaves a valid list.
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The infix of every temporary's name.
const MARK: &str = ".kmodtree-";
const TAG_LEN: usize = 16;

/// 64 random bits as 16 hex digits: std's hasher, keyed from the OS's
/// randomness (each `RandomState` anew), over a counter.
fn random_tag() -> String {
    use std::{collections::hash_map::RandomState, hash::BuildHasher};
    let tag = RandomState::new().hash_one(NEXT_ID.fetch_add(1, Ordering::Relaxed));
    format!("{tag:016x}")
}

/// `.NAME.kmodtree-` : the start of every temporary of `name`.
fn prefix_of(name: &OsStr) -> OsString {
    let mut p = OsString::from(".");
    p.push(name);
    p.push(MARK);
    p
}

fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor this File owns.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Whether `path` still names the file `file` is open on.
fn still_names(path: &Path, file: &File) -> bool {
    match (fs::symlink_metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn remove(path: &Path, dir: bool) {
    let _ = if dir {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
}

/// A temporary file or directory of this run, locked while it lives.
/// Dropped without [`rename_to`](Scratch::rename_to), it is removed.
pub struct Scratch {
    entry: Entry,
    /// Holds the flock; closing it ends the lock.
    lock: File,
}

impl Scratch {
    /// Creates an empty temporary file for `dir/name` (mode 0644 minus the
    /// umask) and returns it with a handle to write it through.
    pub fn file(dir: &Path, name: &OsStr) -> io::Result<(Scratch, File)> {
        let s = Scratch::create(&dir.join(name), false, false)?;
        let f = s.lock.try_clone()?;
        Ok((s, f))
    }

    /// Creates an empty temporary directory beside `out`, to be renamed to
    /// `out` when complete.
    pub fn dir_beside(out: &Path) -> io::Result<Scratch> {
        Scratch::create(out, true, false)
    }

    /// Like [`dir_beside`](Scratch::dir_beside), but its TAG is the first
    /// free number (`0000000000000000`, then `…01`, …) rather than a random
    /// one: in a fresh build sandbox the path is the same on every run.
    /// For work whose results record where they were made (a kernel
    /// module built there keeps a build id that depends on its path).
    pub fn dir_beside_numbered(out: &Path) -> io::Result<Scratch> {
        Scratch::create(out, true, true)
    }

    /// Removes the abandoned temporaries beside `out`, then tries TAGs
    /// until one is free: random ones, or 0, 1, … if `numbered`.
    fn create(out: &Path, is_dir: bool, numbered: bool) -> io::Result<Scratch> {
        let name = out
            .file_name()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        let dir = out.parent().unwrap_or(Path::new("/"));
        remove_abandoned(dir, name);
        let mut registry = live();
        for n in 0u64.. {
            let mut file_name = prefix_of(name);
            file_name.push(match numbered {
                true => format!("{n:016x}"),
                false => random_tag(),
            });
            file_name.push(".tmp");
            let path = dir.join(file_name);
            let opened = if is_dir {
                fs::create_dir(&path).and_then(|()| File::open(&path))
            } else {
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .open(&path)
            };
            let file = match opened {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            flock(&file, libc::LOCK_EX)?;
            // Another run's sweep may have taken the lock between the
            // creation and ours, and removed the name: then try anew.
            if !still_names(&path, &file) {
                continue;
            }
            let entry = Entry {
                path,
                dir: is_dir,
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            };
            registry.push(entry.clone());
            return Ok(Scratch { entry, lock: file });
        }
        Err(io::ErrorKind::AlreadyExists.into())
    }

    /// The temporary's path.
    pub fn path(&self) -> &Path {
        &self.entry.path
    }

    /// Renames the temporary to `dest`; on failure it is removed.
    pub fn rename_to(self, dest: &Path) -> io::Result<()> {
        rename_all(vec![(self, dest.to_path_buf())], || {})
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mut registry = live();
        if let Some(i) = registry.iter().position(|e| *e == self.entry) {
            registry.swap_remove(i);
            remove(&self.entry.path, self.entry.dir);
        }
    }
}

/// Renames each temporary to its destination in order, calling `after`
/// after each rename. A signal's clean-up waits for all of them. On a
/// failure the error is returned and the temporaries not yet renamed are
/// removed.
pub fn rename_all(items: Vec<(Scratch, PathBuf)>, mut after: impl FnMut()) -> io::Result<()> {
    let mut registry = live();
    for (s, dest) in &items {
        // On an error the registry is released, then `items` dropped: the
        // ones not renamed are removed.
        fs::rename(s.path(), dest)?;
        registry.retain(|e| *e != s.entry);
        after();
    }
    Ok(())
}

/// Creates `path` and its missing parents below `root` (a temporary
/// directory), but never `root` itself: once a signal's clean-up has
/// removed the temporary, this fails rather than bring it back.
pub fn create_dir_all_in(root: &Path, path: &Path) -> io::Result<()> {
    let Ok(rel) = path.strip_prefix(root) else {
        return fs::create_dir_all(path);
    };
    let mut at = root.to_path_buf();
    for c in rel.components() {
        at.push(c);
        match fs::create_dir(&at) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && at.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes the leftovers of `dir/name` whose writers are gone: those whose
/// lock this process can take. Others' live temporaries stay.
fn remove_abandoned(dir: &Path, name: &OsStr) {
    use std::os::unix::ffi::OsStrExt;
    let prefix = prefix_of(name);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(tag) = file_name
            .as_bytes()
            .strip_prefix(prefix.as_bytes())
            .and_then(|t| t.strip_suffix(b".tmp"))
        else {
            continue;
        };
        if tag.len() != TAG_LEN || !tag.iter().all(u8::is_ascii_hexdigit) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() && !meta.is_file() {
            continue;
        }
        let Ok(file) = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
        else {
            continue;
        };
        if flock(&file, libc::LOCK_EX | libc::LOCK_NB).is_err() {
            continue; // its writer holds it
        }
        if still_names(&path, &file) {
            remove(&path, meta.is_dir());
        }
    }
}

/// Removes every live temporary of this run and returns with the registry
/// locked for good: no temporary is created and no rename completes after
/// it. For a process about to end (the tool's signal handling).
///
/// `quiesce` runs once the registry is locked, before anything is removed:
/// the tool stops its other threads there, so that none re-creates a
/// directory of a removed tree.
pub fn remove_all_and_hold(quiesce: impl FnOnce()) {
    let registry = live();
    quiesce();
    for e in registry.iter() {
        if !e.dir {
            remove(&e.path, false);
            continue;
        }
        // Other threads may still be filling the tree: move it away first
        // (their next paths fail), then remove until nothing is left.
        let mut gone = e.path.clone();
        gone.as_mut_os_string().push(".gone");
        let path = match fs::rename(&e.path, &gone) {
            Ok(()) => &gone,
            Err(_) => &e.path,
        };
        for _ in 0..100 {
            if fs::remove_dir_all(path).is_ok() || fs::symlink_metadata(path).is_err() {
                break;
            }
        }
    }
    std::mem::forget(registry);
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub fn names_in(dir: impl AsRef<Path>) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_live_temporary_is_kept_and_an_abandoned_one_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let (live, _f) = Scratch::file(tmp.path(), OsStr::new("modules.dep")).unwrap();
        let tree = Scratch::dir_beside(&tmp.path().join("out")).unwrap();
        fs::write(tree.path().join("x"), b"x").unwrap();
        // An abandoned one: same shape, nobody holds its lock.
        let gone = tmp
            .path()
            .join(".modules.dep.kmodtree-0123456789abcdef.tmp");
        fs::write(&gone, b"old").unwrap();
        // Names of other shapes (an old pid-named one) are not ours to judge.
        let pid_named = tmp.path().join(".modules.dep.kmodtree-42.tmp");
        fs::write(&pid_named, b"old").unwrap();
        remove_abandoned(tmp.path(), OsStr::new("modules.dep"));
        remove_abandoned(tmp.path(), OsStr::new("out"));
        assert!(live.path().exists() && tree.path().join("x").exists());
        assert!(!gone.exists() && pid_named.exists());
        let name = live.path().file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with(".modules.dep.kmodtree-") && name.len() == 42);
        let dest = tmp.path().join("out");
        tree.rename_to(&dest).unwrap();
        drop(live);
        assert_eq!(
            names_in(tmp.path()),
            [".modules.dep.kmodtree-42.tmp", "out"]
        );
    }

    #[test]
    fn numbered_temporaries_take_the_first_free_number() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let first = Scratch::dir_beside_numbered(&out).unwrap();
        let second = Scratch::dir_beside_numbered(&out).unwrap();
        assert_eq!(
            names_in(tmp.path()),
            [
                ".out.kmodtree-0000000000000000.tmp",
                ".out.kmodtree-0000000000000001.tmp"
            ]
        );
        drop(first);
        let again = Scratch::dir_beside_numbered(&out).unwrap();
        assert_eq!(
            again.path(),
            tmp.path().join(".out.kmodtree-0000000000000000.tmp")
        );
        drop((again, second));
        assert!(names_in(tmp.path()).is_empty());
    }
}
