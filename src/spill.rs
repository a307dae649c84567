//! Records written once and read back later, kept outside the process's
//! memory: in an unlinked temporary file, or in memory where no temporary
//! can be written.
//!
//! depmod keeps what it read of every module (aliases, exported and
//! imported symbols) from the moment the module is read until the
//! databases are rendered: about 1 KB per module. Held in the heap, that
//! makes peak memory grow with the tree; spilled, only a 24-byte reference
//! per module stays in memory, and the page cache holds the rest (on a
//! tmpfs `TMPDIR`, that is memory too, but not the process's, and the
//! kernel may swap it out, as it does `sort`'s temporaries).
//!
//! Writing and reading never fail the caller: a write that fails (a full
//! `TMPDIR`) puts that record and every later one in memory instead; a read
//! that fails hands back nothing and is remembered, so the caller can
//! report it ([`Spill::failure`]) before it writes anything.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Memory records: the top bit of [`SpillRef::at`], then the chunk
/// index (31 bits) and the offset in the chunk (32 bits).
const IN_MEMORY: u64 = 1 << 63;
/// Size of a memory chunk; a larger record gets a chunk of its own.
const CHUNK: usize = 1 << 20;

/// Where a record is: an offset in the spill file, or a chunk and offset
/// in memory, and its length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpillRef {
    at: u64,
    len: u64,
}

impl SpillRef {
    /// The record's length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

/// A store of records (see the module documentation).
pub struct Spill {
    /// The temporary file, while writing to it works.
    file: Option<File>,
    file_works: AtomicBool,
    /// End of the records written to `file`.
    end: AtomicU64,
    chunks: Mutex<Vec<Vec<u8>>>,
    /// The first read that failed, with its reason.
    failure: Mutex<Option<String>>,
}

impl Spill {
    /// A store in an unlinked temporary file in `dir`; in memory if none
    /// can be created there.
    pub fn in_directory(dir: &std::path::Path) -> Spill {
        Spill::with_file(temporary_file(dir).ok())
    }

    /// A store in an unlinked temporary file in `$TMPDIR` (or `/tmp`); in
    /// memory if none can be created there.
    pub fn in_temp_dir() -> Spill {
        Spill::in_directory(&std::env::temp_dir())
    }

    /// A store in memory only.
    pub fn in_memory() -> Spill {
        Spill::with_file(None)
    }

    fn with_file(file: Option<File>) -> Spill {
        Spill {
            file_works: AtomicBool::new(file.is_some()),
            file,
            end: AtomicU64::new(0),
            chunks: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
        }
    }

    /// Whether records go to a file (false: in memory).
    pub fn is_on_disk(&self) -> bool {
        self.file_works.load(Ordering::Relaxed)
    }

    /// Stores `bytes`; may be called from several threads.
    pub fn put(&self, bytes: &[u8]) -> SpillRef {
        let len = bytes.len() as u64;
        if len == 0 {
            return SpillRef::default();
        }
        if let (Some(file), true) = (&self.file, self.is_on_disk()) {
            use std::os::unix::fs::FileExt;
            let at = self.end.fetch_add(len, Ordering::Relaxed);
            if at.checked_add(len).is_some_and(|e| e < IN_MEMORY)
                && file.write_all_at(bytes, at).is_ok()
            {
                return SpillRef { at, len };
            }
            // A full or failing disk: this record and the next ones stay
            // in memory (the bytes already written there are never read).
            self.file_works.store(false, Ordering::Relaxed);
        }
        let mut chunks = self.chunks.lock().unwrap_or_else(|p| p.into_inner());
        let fits = chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= bytes.len() && c.len() < CHUNK);
        if !fits {
            chunks.push(Vec::with_capacity(CHUNK.max(bytes.len())));
        }
        let index = chunks.len() - 1;
        let chunk = &mut chunks[index];
        let offset = chunk.len();
        chunk.extend_from_slice(bytes);
        SpillRef {
            // Chunks are at least 1 MiB: far fewer than 2^31 of them, and
            // an offset in one is below 2^32 unless the record starts it.
            at: IN_MEMORY | (index as u64) << 32 | offset as u64,
            len,
        }
    }

    /// Reads `len` bytes at `start` in the record `r` into `buf` (replacing
    /// its content). On failure `buf` is left empty, the failure is
    /// remembered, and false is returned.
    pub fn read(&self, r: SpillRef, start: u64, len: u64, buf: &mut Vec<u8>) -> bool {
        buf.clear();
        if len == 0 {
            return true;
        }
        let Some(end) = start.checked_add(len).filter(|&e| e <= r.len) else {
            self.fail(format!(
                "record range {start}+{len} beyond its {} bytes",
                r.len
            ));
            return false;
        };
        if r.at & IN_MEMORY != 0 {
            let index = ((r.at & !IN_MEMORY) >> 32) as usize;
            let offset = (r.at & 0xffff_ffff) as usize;
            let chunks = self.chunks.lock().unwrap_or_else(|p| p.into_inner());
            let got = chunks
                .get(index)
                .and_then(|c| c.get(offset + start as usize..offset + end as usize));
            return match got {
                Some(b) => {
                    buf.extend_from_slice(b);
                    true
                }
                None => {
                    self.fail("memory record out of range".into());
                    false
                }
            };
        }
        let Some(file) = &self.file else {
            self.fail("file record without a file".into());
            return false;
        };
        use std::os::unix::fs::FileExt;
        let Ok(n) = usize::try_from(len) else {
            self.fail(format!("record of {len} bytes"));
            return false;
        };
        buf.resize(n, 0);
        match file.read_exact_at(buf, r.at + start) {
            Ok(()) => true,
            Err(e) => {
                buf.clear();
                self.fail(crate::kmod::strerror(&e));
                false
            }
        }
    }

    fn fail(&self, reason: String) {
        let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        f.get_or_insert(reason);
    }

    /// Empties the file under the records written so far, so that reading
    /// them back fails (for tests of that failure; see also
    /// [`Spill::test_hook_lose_records`]).
    pub(crate) fn lose_file_records(&self) {
        if let Some(f) = &self.file {
            let _ = f.set_len(0);
        }
    }

    /// Test hook for the fault tests: with `KMODTREE_TEST_LOSE_SPILL` in
    /// the environment, the records written to the file so far are lost
    /// (as if the temporary had been truncated under the process). Without
    /// the variable this does nothing.
    pub fn test_hook_lose_records(&self) {
        if std::env::var_os("KMODTREE_TEST_LOSE_SPILL").is_some() {
            self.lose_file_records();
        }
    }

    /// The first read that failed, if any (the records it concerned were
    /// handed back empty).
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A new file in `dir` that no other process can open: `O_TMPFILE`, or,
/// where the file system lacks it, a fresh name removed at once.
fn temporary_file(dir: &std::path::Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut open = std::fs::OpenOptions::new();
    open.read(true).write(true).mode(0o600);
    if let Ok(f) = open.clone().custom_flags(libc::O_TMPFILE).open(dir) {
        return Ok(f);
    }
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let name = dir.join(format!(
        ".kmodtree-spill-{}-{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let f = open.create_new(true).open(&name)?;
    std::fs::remove_file(&name)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(spill: &Spill) {
        let big = vec![7u8; CHUNK + 5];
        let records: Vec<&[u8]> = vec![b"alias", b"", b"softdep", &big, b"x"];
        let refs: Vec<SpillRef> = records.iter().map(|r| spill.put(r)).collect();
        let mut buf = Vec::new();
        for (r, want) in refs.iter().zip(&records) {
            assert!(spill.read(*r, 0, r.len(), &mut buf));
            assert_eq!(&buf[..], *want);
        }
        assert!(spill.read(refs[2], 4, 3, &mut buf));
        assert_eq!(buf, b"dep");
        assert_eq!(spill.failure(), None);
    }

    #[test]
    fn records_read_back_from_a_file_and_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let on_disk = Spill::in_directory(dir.path());
        assert!(on_disk.is_on_disk());
        round_trip(&on_disk);
        // Unlinked: nothing is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        round_trip(&Spill::in_memory());
        // No such directory: memory.
        let nowhere = Spill::in_directory(&dir.path().join("missing"));
        assert!(!nowhere.is_on_disk());
        round_trip(&nowhere);
    }

    #[test]
    fn a_read_past_the_record_fails_and_is_remembered() {
        let spill = Spill::in_memory();
        let r = spill.put(b"abc");
        let mut buf = b"old".to_vec();
        assert!(!spill.read(r, 2, 2, &mut buf));
        assert!(buf.is_empty());
        assert!(spill.failure().unwrap().contains("beyond"));
    }

    #[test]
    fn a_failing_file_write_falls_back_to_memory() {
        // A read-only descriptor: every write fails.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro");
        std::fs::write(&path, b"").unwrap();
        let spill = Spill::with_file(Some(File::open(&path).unwrap()));
        let r = spill.put(b"kept");
        assert!(!spill.is_on_disk());
        let mut buf = Vec::new();
        assert!(spill.read(r, 0, 4, &mut buf));
        assert_eq!(buf, b"kept");
    }
}
