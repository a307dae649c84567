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
        let result = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(bytes.as_ref())?;
                f.sync_data()
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
    }
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
