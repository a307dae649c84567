//! `kmodtree audit DIR`: a manifest of a module tree.
//!
//! Every file below DIR (symlinks followed, recorded with their target;
//! top-level `build` and `source` links recorded but not followed, as
//! depmod skips them) with its kind, size and sha256; every module with its
//! name, vermagic and digests of its extracted metadata; every database with
//! a digest of its decoded content (for `.bin` indexes: the sorted entries,
//! so a layout change does not change it). Everything is sorted by path and
//! nothing depends on where DIR is, so identical trees give identical
//! manifests.

use super::AuditError;
use crate::index::{detect_layout, dump_lines, Index, Layout};
use crate::kmod::esc::{encode, Esc};
use crate::kmod::IoResultExt;
use crate::module::{self, Limits};
use crate::tree::walk::Suffixes;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Value of the `kind` field.
pub const MANIFEST_KIND: &str = "kmodtree-audit";
/// Value of the `format` field.
pub const MANIFEST_FORMAT: u32 = 1;

/// What a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Module,
    Database,
    Input,
    Other,
    /// A symlink that is recorded but not followed (top-level `build`,
    /// `source`): its sha256 is that of the link target text.
    Link,
}

/// One file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub path: String,
    pub kind: FileKind,
    pub size: u64,
    pub sha256: String,
    /// The link target, when the path is a symlink (content is the target's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// One module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRecord {
    pub path: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vermagic: Option<Esc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// Digest of the three digests below: the module's extracted metadata,
    /// independent of compression and signature.
    pub meta_sha256: String,
    pub modinfo_sha256: String,
    pub exports_sha256: String,
    pub imports_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<bool>,
    /// Why the module could not be read (then the digests are of nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseRecord {
    pub path: String,
    /// `text` or `index`.
    pub format: String,
    /// For indexes: `pre-order` (kmod ≥ 34), `post-order` (kmod 30–33), or
    /// absent when the bytes do not tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Lines (text) or entries (index).
    pub entries: u64,
    /// sha256 of the decoded content (text: the bytes; index: its
    /// `kmodtree dump` lines).
    pub content_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub kind: String,
    pub kmodtree: String,
    pub files: Vec<FileRecord>,
    pub modules: Vec<ModuleRecord>,
    pub databases: Vec<DatabaseRecord>,
    /// Files that are not modules and whose path (or link target) is not
    /// UTF-8: left out of the manifest, their paths `%XX`-encoded
    /// ([`crate::kmod::esc`]). Absent from the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// sha256 of `data`, lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

fn put(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The record of module file `rel`, whose bytes are `data`.
fn module_record(rel: &str, data: &[u8], limits: &Limits) -> ModuleRecord {
    let parsed = module::parse_module(data, limits);
    let meta = parsed.as_ref().ok();
    // Digests of the metadata (of nothing when unreadable).
    let [mut mi, mut ex, mut im] = [(); 3].map(|()| Sha256::new());
    if let Some(m) = meta {
        for e in &m.modinfo {
            put(&mut mi, &e.key);
            put(&mut mi, &e.value);
        }
        for e in &m.exports {
            put(&mut ex, &e.name);
            ex.update(e.crc.to_le_bytes());
        }
        for i in &m.imports {
            put(&mut im, &i.name);
            im.update([u8::from(i.weak)]);
            im.update(i.crc.to_le_bytes());
        }
    }
    let [mi, ex, im] = [mi, ex, im].map(|h| format!("{:x}", h.finalize()));
    ModuleRecord {
        path: rel.to_string(),
        name: crate::kmod::name_from_file_name(rel.rsplit('/').next().unwrap_or(rel)),
        vermagic: meta
            .and_then(|m| m.values(b"vermagic").next())
            .map(|v| Esc(v.to_vec())),
        // serde's lowercase name of the variant.
        compression: meta.map(|m| format!("{:?}", m.compression).to_lowercase()),
        meta_sha256: sha256_hex(format!("{mi}{ex}{im}").as_bytes()),
        modinfo_sha256: mi,
        exports_sha256: ex,
        imports_sha256: im,
        signed: meta.map(|m| m.signature.is_some()),
        error: parsed.as_ref().err().map(|e| e.to_string()),
    }
}

/// Database `path` decoded: its format, layout, entries and digest, or an
/// error text for an unreadable index.
fn decode_database(path: &str, data: &[u8]) -> DatabaseRecord {
    let index = path.ends_with(".bin");
    let decoded = index.then(|| Index::parse(data).and_then(|i| dump_lines(&i)));
    let (content, error) = match &decoded {
        Some(Ok(lines)) => (Some(&lines[..]), None),
        Some(Err(e)) => (None, Some(e.to_string())),
        None => (Some(data), None),
    };
    DatabaseRecord {
        path: path.to_string(),
        format: if index { "index" } else { "text" }.into(),
        layout: index
            .then(|| detect_layout(data))
            .flatten()
            .map(|l| match l {
                Layout::PreOrder => "pre-order".into(),
                Layout::PostOrder => "post-order".into(),
            }),
        entries: content.map_or(0, |c| c.iter().filter(|&&b| b == b'\n').count() as u64),
        content_sha256: sha256_hex(content.unwrap_or(data)),
        error,
    }
}

/// A file's kind: at the top level, the databases kmod's depmod writes and
/// the build inputs it reads besides the modules.
fn classify(rel: &str, suffixes: Suffixes) -> FileKind {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    match rel {
        _ if crate::render::DATABASE_FILES.contains(&rel) => FileKind::Database,
        "modules.order" | "modules.builtin" | "modules.builtin.modinfo" => FileKind::Input,
        _ if suffixes.matches(base.as_bytes()) => FileKind::Module,
        _ => FileKind::Other,
    }
}

/// Audits DIR (usually `lib/modules/VERSION`), reporting each file hashed
/// to `progress`.
///
/// ```no_run
/// use kmodtree::audit::audit_tree;
/// use kmodtree::module::Limits;
/// use kmodtree::progress::Silent;
///
/// let m = audit_tree("/lib/modules/6.1.0".as_ref(), None, &Limits::default(), &Silent)?;
/// println!("{} modules, {} databases", m.modules.len(), m.databases.len());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn audit_tree(
    dir: &Path,
    jobs: Option<usize>,
    limits: &Limits,
    progress: &dyn crate::progress::Progress,
) -> Result<Manifest, AuditError> {
    let suffixes = Suffixes::default();
    if !std::fs::metadata(dir).at(dir)?.is_dir() {
        return Err(AuditError::NotADirectory(dir.to_path_buf()));
    }
    // (relative path, absolute path, link target)
    let mut found: Vec<(String, PathBuf, Option<String>)> = Vec::new();
    let mut skipped = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            !(e.depth() == 1
                && e.path_is_symlink()
                && matches!(e.file_name().to_str(), Some("build" | "source")))
        });
    for e in walker {
        let e = e.map_err(|err| AuditError::Walk {
            path: err.path().map(Path::to_path_buf).unwrap_or_default(),
            source: err,
        })?;
        if e.file_type().is_dir() {
            continue;
        }
        let rel_bytes = e.path().strip_prefix(dir).unwrap_or(e.path()).as_os_str();
        let link = match e.path_is_symlink() {
            true => Some(std::fs::read_link(e.path()).at(e.path())?.into_os_string()),
            false => None,
        };
        match (
            rel_bytes.to_str(),
            link.map(|t| t.into_string()).transpose(),
        ) {
            (Some(rel), Ok(link)) => found.push((rel.to_string(), e.path().to_path_buf(), link)),
            // Not UTF-8: a module is an error (the manifest cannot name
            // it), another file is skipped and reported.
            _ if suffixes.matches(rel_bytes.as_encoded_bytes()) => {
                return Err(AuditError::NonUtf8(e.path().to_path_buf()))
            }
            _ => skipped.push(encode(rel_bytes.as_encoded_bytes())),
        }
    }
    // The unfollowed links, whose content is their target's text.
    let mut files = Vec::new();
    for name in ["build", "source"] {
        let p = dir.join(name);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            let t = std::fs::read_link(&p)
                .at(&p)?
                .into_os_string()
                .into_string();
            let t = t.map_err(|_| AuditError::NonUtf8(p.clone()))?;
            files.push(FileRecord {
                path: name.to_string(),
                kind: FileKind::Link,
                size: 0,
                sha256: sha256_hex(t.as_bytes()),
                link: Some(t),
            });
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));

    let work = || {
        found
            .par_iter()
            .inspect(|_| progress.advance(1))
            .map(|(rel, abs, link)| -> Result<_, AuditError> {
                let kind = classify(rel, suffixes);
                let data = std::fs::read(abs).at(abs)?;
                let file = FileRecord {
                    path: rel.clone(),
                    kind,
                    size: data.len() as u64,
                    sha256: sha256_hex(&data),
                    link: link.clone(),
                };
                let module = (kind == FileKind::Module).then(|| module_record(rel, &data, limits));
                let database = (kind == FileKind::Database).then(|| decode_database(rel, &data));
                Ok((file, module, database))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    progress.start("hashing files", (found.len() + files.len()) as u64);
    progress.advance(files.len() as u64);
    let done = crate::jobs::run_with_jobs(jobs, work);
    progress.finish();
    let mut m = Manifest {
        format: MANIFEST_FORMAT,
        kind: MANIFEST_KIND.into(),
        kmodtree: env!("CARGO_PKG_VERSION").into(),
        files,
        modules: Vec::new(),
        databases: Vec::new(),
        skipped,
    };
    for (file, module, database) in done? {
        m.files.push(file);
        m.modules.extend(module);
        m.databases.extend(database);
    }
    m.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(m)
}

impl Manifest {
    /// Stable JSON (fields in declaration order, records sorted by path).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a manifest written by [`Manifest::to_json`].
    pub fn from_json(file: &Path, data: &[u8]) -> Result<Manifest, AuditError> {
        let m: Manifest =
            serde_json::from_slice(data).map_err(|source| AuditError::BadManifest {
                file: file.to_path_buf(),
                source,
            })?;
        if m.kind != MANIFEST_KIND || m.format != MANIFEST_FORMAT {
            return Err(AuditError::WrongManifest {
                file: file.to_path_buf(),
                kind: m.kind,
                format: m.format,
            });
        }
        Ok(m)
    }

    /// A readable summary.
    pub fn summary(&self, dir: &str) -> String {
        use std::collections::BTreeMap;
        use std::fmt::Write;
        let mut s = String::new();
        let count = |k: FileKind| self.files.iter().filter(|f| f.kind == k).count();
        let bytes: u64 = self.files.iter().map(|f| f.size).sum();
        let links = self.files.iter().filter(|f| f.link.is_some()).count();
        let _ = writeln!(s, "{dir}:");
        let _ = writeln!(
            s,
            "  files: {} ({} modules, {} databases, {} inputs, {} other, {} unfollowed links; {links} symlinks), {bytes} bytes",
            self.files.len(),
            count(FileKind::Module),
            count(FileKind::Database),
            count(FileKind::Input),
            count(FileKind::Other),
            count(FileKind::Link),
        );
        if let Some(first) = self.skipped.first() {
            let _ = writeln!(
                s,
                "  skipped: {} non-module files whose names are not UTF-8 (e.g. {first})",
                self.skipped.len()
            );
        }
        let mut vermagics: BTreeMap<String, usize> = BTreeMap::new();
        for m in &self.modules {
            let v = m
                .vermagic
                .as_ref()
                .map_or("(none)".into(), |v| encode(&v.0));
            *vermagics.entry(v).or_default() += 1;
        }
        for (v, n) in &vermagics {
            let _ = writeln!(s, "  vermagic {v:?}: {n} modules");
        }
        let errors = self.modules.iter().filter(|m| m.error.is_some()).count();
        if errors > 0 {
            let _ = writeln!(s, "  unreadable modules: {errors}");
        }
        for d in &self.databases {
            let _ = writeln!(
                s,
                "  {:<26} {:<5} {:<10} {:>7} entries  content {}{}",
                d.path,
                d.format,
                d.layout.as_deref().unwrap_or("-"),
                d.entries,
                &d.content_sha256[..16.min(d.content_sha256.len())],
                d.error
                    .as_ref()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default()
            );
        }
        let _ = writeln!(
            s,
            "  manifest sha256: {}",
            sha256_hex(self.to_json().as_bytes())
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_manifests_are_named() {
        let f = Path::new("m.json");
        let e = Manifest::from_json(f, b"[").unwrap_err();
        assert!(matches!(e, AuditError::BadManifest { .. }));
        assert!(e.to_string().starts_with("m.json: not a manifest: "), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        let json = br#"{"format": 9, "kind": "other", "kmodtree": "0", "files": [],
            "modules": [], "databases": []}"#;
        let e = Manifest::from_json(f, json).unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.json: not a manifest: kind \"other\" format 9: \
             not a kmodtree audit manifest of format 1"
        );
    }
}
