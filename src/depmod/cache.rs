//! The metadata cache behind `kmodtree depmod --manifest FILE`.
//!
//! FILE is JSON Lines: a header line (`format`, `kind`, `kmodtree`, ...),
//! then one line per module, parsed in parallel.
//!
//! FILE records, for every module of the last run, its path (relative to
//! the module directory when inside it), its sha256, the `stat` identity of
//! the file it was read from, and what depmod extracted from it (a
//! [`LoadedModule`], without errors). The next
//! run reuses an entry instead of opening the module:
//!
//! * **fast path** (default): the file's `(dev, ino, size, mtime_ns,
//!   ctime_ns)` equal the recorded ones. Content cannot change without
//!   changing `ctime` short of a deliberate `clock_settime` or a raw-disk
//!   edit, so this is taken as proof that the content (and its sha256) are
//!   unchanged; it costs one `stat` per module. `--manifest-verify` turns
//!   it off;
//! * **hash path**: otherwise the file is hashed, and any entry with the
//!   same sha256 (at any path: moved, copied, hard-linked trees) is reused;
//! * else the module is read.
//!
//! Modules that fail to read are never cached (their errors are reproduced
//! by reading them again). A missing, unreadable, corrupt, foreign or
//! other-version FILE is ignored with a warning: it only costs speed. The
//! output of a run does not depend on FILE.

use crate::depmod::LoadedModule;
use crate::module::Limits;
use crate::tree::walk::Candidate;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Value of the `kind` field.
pub const CACHE_KIND: &str = "kmodtree-depmod-manifest";
/// Value of the `format` field.
pub const CACHE_FORMAT: u32 = 1;

/// The identity of a file as `stat` sees it (following symlinks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl FileStamp {
    pub fn of(path: &Path) -> std::io::Result<FileStamp> {
        let m = std::fs::metadata(path)?;
        Ok(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec(),
            ctime_ns: m.ctime().saturating_mul(1_000_000_000) + m.ctime_nsec(),
        })
    }
}

/// One cached module (written with a borrowed `meta`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CacheEntry<M = LoadedModule> {
    pub path: String,
    pub sha256: String,
    pub stamp: FileStamp,
    pub meta: M,
}

/// The first line of the file. The file is JSON Lines: this header, then
/// one [`CacheEntry`] per line, so the entries are parsed in parallel.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    pub kind: String,
    /// The kmodtree version that extracted the metadata: another version
    /// may extract differently, so its file is not trusted.
    pub kmodtree: String,
    /// `--max-module-size` of the run (decides which modules read at all).
    pub max_image_size: u64,
    /// Number of entry lines that follow.
    pub modules: usize,
}

/// Why a cache file was not used (printed as a warning).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{}: cannot read manifest: {}", file.display(), crate::kmod::strerror(source))]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: corrupt manifest (ignored): {reason}")]
    Corrupt { file: String, reason: String },
    #[error("{file}: manifest {what} (ignored)")]
    Foreign { file: String, what: String },
    #[error("{}: cannot write manifest: {}", file.display(), .source)]
    Write {
        file: PathBuf,
        #[source]
        source: WriteProblem,
    },
}

/// Why the cache file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteProblem {
    #[error("not a UTF-8 path")]
    NotUtf8,
    #[error("{}", crate::kmod::strerror(&.0.source))]
    Write(#[from] crate::output::WriteError),
}

/// A loaded cache (possibly empty).
#[derive(Debug, Default)]
pub struct Cache {
    entries: Vec<CacheEntry>,
    by_path: HashMap<String, usize>,
    by_hash: HashMap<String, usize>,
}

impl Cache {
    /// Reads FILE. A missing file is an empty cache; every other problem
    /// is an error (the run goes on with an empty cache and a warning).
    pub fn load(file: &Path, limits: &Limits) -> Result<Cache, CacheError> {
        match std::fs::read(file) {
            Ok(data) => Cache::parse(&data, limits, &file.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cache::default()),
            Err(source) => Err(CacheError::Read {
                file: file.to_path_buf(),
                source,
            }),
        }
    }

    fn parse(data: &[u8], limits: &Limits, file: &str) -> Result<Cache, CacheError> {
        let corrupt = |reason| CacheError::Corrupt {
            file: file.to_string(),
            reason,
        };
        let foreign = |what| CacheError::Foreign {
            file: file.to_string(),
            what,
        };
        let mut lines = data.split(|&b| b == b'\n');
        let first = lines.next().unwrap_or_default();
        let h: Header =
            serde_json::from_slice(first).map_err(|e| corrupt(format!("header: {e}")))?;
        if h.kind != CACHE_KIND {
            return Err(foreign(format!("of kind {:?}", h.kind)));
        }
        if h.format != CACHE_FORMAT {
            return Err(foreign(format!("format {}", h.format)));
        }
        if h.kmodtree != env!("CARGO_PKG_VERSION") {
            return Err(foreign(format!("written by kmodtree {}", h.kmodtree)));
        }
        if h.max_image_size != limits.max_image_size {
            return Err(foreign("written with another --max-module-size".into()));
        }
        let rest: Vec<&[u8]> = lines.filter(|l| !l.is_empty()).collect();
        if rest.len() != h.modules {
            return Err(corrupt(format!(
                "{} module lines, the header says {}",
                rest.len(),
                h.modules
            )));
        }
        let modules = rest
            .par_iter()
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_slice::<CacheEntry>(l)
                    .map_err(|e| corrupt(format!("line {}: {e}", i + 2)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut cache = Cache::default();
        for e in modules {
            if e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(corrupt(format!("{}: bad sha256 {:?}", e.path, e.sha256)));
            }
            let i = cache.entries.len();
            cache.by_path.insert(e.path.clone(), i);
            cache.by_hash.entry(e.sha256.clone()).or_insert(i);
            cache.entries.push(e);
        }
        Ok(cache)
    }
}

/// Where one module's metadata came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reused because the stat identity was unchanged.
    pub stat_hits: usize,
    /// Reused after hashing (same sha256).
    pub hash_hits: usize,
    /// Read from the module file.
    pub read: usize,
}

/// The result of reading a tree's modules through the cache.
pub struct CachedRead {
    /// `tree[i]` belongs to `modules[i]`.
    pub tree: Vec<LoadedModule>,
    /// Per module: (cache path, sha256, stamp) when cacheable.
    records: Vec<Option<(String, String, FileStamp)>>,
    pub stats: CacheStats,
    /// Whether the file must be rewritten (anything differs from what it holds).
    pub changed: bool,
}

/// The sha256 of a file, in lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(format!("{:x}", h.finalize()))
}

enum Source {
    /// Index of a cache entry; whether the stat fast path found it.
    Cached(usize, bool),
    Read(Box<LoadedModule>),
}

/// Reads the modules as [`crate::depmod::read_modules_with_progress`] does, reusing the
/// cache's metadata where the file is unchanged (see the module docs).
/// `verify_hashes` disables the stat fast path.
pub fn read_modules_cached(
    modules: &[Candidate],
    limits: &Limits,
    jobs: Option<usize>,
    mut cache: Cache,
    verify_hashes: bool,
) -> CachedRead {
    crate::jobs::run_with_jobs(jobs, move || {
        let load = |c: &Candidate| LoadedModule::read(c.path(), limits);
        let read = |c: &Candidate| Source::Read(Box::new(load(c)));
        let (sources, records): (Vec<Source>, Vec<_>) = modules
            .par_iter()
            .map(|c| {
                let key = c.db_path();
                // Unreadable: read it for the error message.
                let Ok(stamp) = FileStamp::of(c.path().as_std_path()) else {
                    return (read(c), None);
                };
                let record = |sha| Some((key.to_string(), sha, stamp));
                if let Some(&i) = cache.by_path.get(key).filter(|_| !verify_hashes) {
                    if cache.entries[i].stamp == stamp {
                        let sha = cache.entries[i].sha256.clone();
                        return (Source::Cached(i, true), record(sha));
                    }
                }
                let Ok(sha) = sha256_file(c.path().as_std_path()) else {
                    return (read(c), None);
                };
                if let Some(&i) = cache.by_hash.get(&sha) {
                    return (Source::Cached(i, false), record(sha));
                }
                let m = load(c);
                let cacheable = m.error.is_none() && m.exports_error.is_none();
                let record = if cacheable { record(sha) } else { None };
                (Source::Read(Box::new(m)), record)
            })
            .unzip();
        crate::module::release_pool_read_buffers();
        let mut stats = CacheStats::default();
        // Rewritten when entries are left over or a module's record differs
        // from its entry (read anew, moved, copied, touched).
        let mut changed = records.iter().flatten().count() != cache.entries.len();
        let mut uses = vec![0u32; cache.entries.len()];
        for src in &sources {
            if let Source::Cached(i, _) = src {
                uses[*i] += 1;
            }
        }
        // Each module: read already, or the cache's record (moved out at its
        // last use).
        let tree = (sources.into_iter().zip(&records))
            .map(|(src, rec)| match src {
                Source::Cached(i, fast) => {
                    let e = &mut cache.entries[i];
                    *match fast {
                        true => &mut stats.stat_hits,
                        false => &mut stats.hash_hits,
                    } += 1;
                    changed |= !matches!(rec, Some((p, sha, st))
                        if *p == e.path && *st == e.stamp && *sha == e.sha256);
                    uses[i] -= 1;
                    match uses[i] {
                        0 => std::mem::take(&mut e.meta),
                        _ => e.meta.clone(),
                    }
                }
                Source::Read(m) => {
                    stats.read += 1;
                    changed = true;
                    *m
                }
            })
            .collect();
        CachedRead {
            tree,
            records,
            stats,
            changed,
        }
    })
}

impl CachedRead {
    /// The file's new content (JSON, modules in the run's discovery order).
    pub fn to_json(&self, limits: &Limits) -> Vec<u8> {
        let header = Header {
            format: CACHE_FORMAT,
            kind: CACHE_KIND.into(),
            kmodtree: env!("CARGO_PKG_VERSION").into(),
            max_image_size: limits.max_image_size,
            modules: self.records.iter().flatten().count(),
        };
        let mut out = serde_json::to_vec(&header).unwrap_or_default();
        out.push(b'\n');
        for (r, m) in self.records.iter().zip(&self.tree) {
            let Some((path, sha256, stamp)) = r else {
                continue;
            };
            let entry = CacheEntry {
                path: path.clone(),
                sha256: sha256.clone(),
                stamp: *stamp,
                meta: m,
            };
            if serde_json::to_writer(&mut out, &entry).is_ok() {
                out.push(b'\n');
            }
        }
        out
    }

    /// Writes the file atomically (temporary file, then rename).
    pub fn write(&self, file: &Path, limits: &Limits) -> Result<(), CacheError> {
        let werr = |source: WriteProblem| CacheError::Write {
            file: file.to_path_buf(),
            source,
        };
        let parent = file.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = camino::Utf8Path::from_path(parent.unwrap_or(Path::new(".")));
        let name = file.file_name().and_then(|n| n.to_str());
        let (Some(dir), Some(name)) = (dir, name) else {
            return Err(werr(WriteProblem::NotUtf8));
        };
        crate::output::write_all_atomic(dir, &[(name, self.to_json(limits))])
            .map_err(|e| werr(WriteProblem::Write(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON of a module record is the cache's format: it must not change
    /// with the in-memory representation.
    #[test]
    fn module_records_keep_their_format() {
        let mut m = LoadedModule::default();
        m.aliases.push(b"pci:v*d*").unwrap();
        m.exports
            .push(b"foo_init", 0x1234, false, usize::MAX)
            .unwrap();
        for (name, crc, weak) in [(&b"printk"[..], 7, false), (b"kfree\xff", 0, true)] {
            m.imports.push(name, crc, weak, usize::MAX).unwrap();
        }
        m.vermagic = Some(b"6.1.0 SMP".to_vec());
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"aliases":["pci:v*d*"],"softdeps":[],"weakdeps":[],"exports":[{"name":"foo_init","crc":4660}],"imports":[{"name":"printk","crc":7},{"name":"kfree%FF","weak":true,"crc":0}],"vermagic":"6.1.0 SMP"}"#
        );
        let back: LoadedModule = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }
}
