//! `kmodtree diff A B`: what differs between two trees (or manifests), in
//! terms of modules and database entries.
//!
//! With two trees every difference is explained down to the modinfo key,
//! symbol or database entry. With a manifest on either side only digests
//! are known for that side, so a difference is named but not itemised.

use super::manifest::{audit_tree_with_progress, FileKind, FileRecord, Manifest, ModuleRecord};
use super::AuditError;
use crate::index::{Index, IndexError};
use crate::kmod::IoResultExt;
use crate::module::{self, Limits, ModuleMeta};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One side: a manifest, and the directory it was made from if it is a tree.
pub struct Side {
    pub manifest: Manifest,
    pub root: Option<PathBuf>,
}

/// Loads a directory (audited now) or a manifest file.
pub fn load_side(path: &Path, jobs: Option<usize>, limits: &Limits) -> Result<Side, AuditError> {
    load_side_with_progress(path, jobs, limits, &crate::progress::Silent)
}

/// [`load_side`], reporting each file of a tree hashed to `progress`.
pub fn load_side_with_progress(
    path: &Path,
    jobs: Option<usize>,
    limits: &Limits,
    progress: &dyn crate::progress::Progress,
) -> Result<Side, AuditError> {
    let meta = std::fs::metadata(path).at(path)?;
    if meta.is_dir() {
        Ok(Side {
            manifest: audit_tree_with_progress(path, jobs, limits, progress)?,
            root: Some(path.to_path_buf()),
        })
    } else {
        let data = std::fs::read(path).at(path)?;
        Ok(Side {
            manifest: Manifest::from_json(path, &data)?,
            root: None,
        })
    }
}

/// Options of a comparison.
#[derive(Clone, Copy, Debug)]
pub struct DiffOptions {
    /// Most itemised lines per module or database (0: no limit).
    pub limit: usize,
    pub limits: Limits,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            limit: 20,
            limits: Limits::default(),
        }
    }
}

/// What kind of difference an entry is, most important first: the order
/// in which [`DiffReport::lines`] lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiffKind {
    /// A module file only in the new side.
    ModuleAdded,
    /// A module file only in the old side.
    ModuleRemoved,
    /// A module whose metadata (modinfo, exports, imports) changed.
    ModuleChanged,
    /// A database added, removed, or whose entries changed.
    DatabaseChanged,
    /// Another file (depmod's inputs, anything else) added, removed or
    /// changed.
    FileChanged,
    /// A module whose bytes changed but not its metadata (recompressed,
    /// re-signed).
    ModuleRepacked,
    /// A database whose entries are the same, written in another layout.
    LayoutOnly,
    /// A file that is a link to elsewhere (or no longer a link).
    LinkOnly,
}

impl DiffKind {
    /// The name JSON gives it.
    pub fn name(self) -> &'static str {
        match self {
            DiffKind::ModuleAdded => "module-added",
            DiffKind::ModuleRemoved => "module-removed",
            DiffKind::ModuleChanged => "module-changed",
            DiffKind::DatabaseChanged => "database-changed",
            DiffKind::FileChanged => "file-changed",
            DiffKind::ModuleRepacked => "module-repacked",
            DiffKind::LayoutOnly => "layout-only",
            DiffKind::LinkOnly => "link-only",
        }
    }
}

/// One difference: a file's, with its explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub kind: DiffKind,
    /// The file, relative to the tree.
    pub path: String,
    /// One line saying what differs (`module added: PATH (NAME)`).
    pub line: String,
    /// Its itemised changes (`modinfo name: now …`, `... and 3 more`).
    pub details: Vec<String>,
}

/// The differences, in path order (empty: identical).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiffReport {
    pub entries: Vec<Difference>,
}

impl DiffReport {
    pub fn identical(&self) -> bool {
        self.entries.is_empty()
    }

    /// Readable lines, most important kinds first (paths in order within
    /// a kind), details indented under their entry. Unless `verbose`,
    /// layout-only and link-only differences are one counted line each.
    pub fn lines(&self, verbose: bool) -> Vec<String> {
        let mut entries: Vec<&Difference> = self.entries.iter().collect();
        entries.sort_by_key(|e| e.kind);
        let mut out = Vec::new();
        for e in &entries {
            if !verbose && matches!(e.kind, DiffKind::LayoutOnly | DiffKind::LinkOnly) {
                continue;
            }
            out.push(e.line.clone());
            out.extend(e.details.iter().map(|d| format!("    {d}")));
        }
        if !verbose {
            let count = |kind| entries.iter().filter(|e| e.kind == kind).count();
            let layouts: BTreeSet<&str> = entries
                .iter()
                .filter(|e| e.kind == DiffKind::LayoutOnly)
                .filter_map(|e| e.line.rsplit_once(" layout (").map(|(_, l)| l))
                .collect();
            match (count(DiffKind::LayoutOnly), layouts.len()) {
                (0, _) => {}
                (n, 1) => out.push(format!(
                    "{n} database{} differ only in layout ({}; --verbose lists them",
                    plural(n),
                    layouts.first().copied().unwrap_or_default()
                )),
                (n, _) => out.push(format!(
                    "{n} database{} differ only in layout (--verbose lists them)",
                    plural(n)
                )),
            }
            let n = count(DiffKind::LinkOnly);
            if n > 0 {
                out.push(format!(
                    "{n} file{} differ only as links (--verbose lists them)",
                    plural(n)
                ));
            }
        }
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Adds an entry.
fn entry(out: &mut Vec<Difference>, kind: DiffKind, path: &str, line: String) {
    out.push(Difference {
        kind,
        path: path.to_owned(),
        line,
        details: Vec::new(),
    });
}

/// Adds `items` to the last entry's details, at most `limit` of them.
fn push_items(out: &mut [Difference], items: Vec<String>, limit: usize) {
    if let Some(last) = out.last_mut() {
        last.details.extend(super::at_most(items, limit));
    }
}

fn show(b: &[u8]) -> String {
    crate::kmod::esc::encode(b)
}

/// Compares two sides.
///
/// ```no_run
/// use kmodtree::audit::{diff, load_side, DiffOptions};
/// use kmodtree::module::Limits;
///
/// // A tree (audited now) against a manifest written earlier.
/// let old = load_side("manifest.json".as_ref(), None, &Limits::default())?;
/// let new = load_side("/lib/modules/6.1.0".as_ref(), None, &Limits::default())?;
/// for line in diff(&old, &new, &DiffOptions::default())?.lines(false) {
///     println!("{line}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn diff(a: &Side, b: &Side, opts: &DiffOptions) -> Result<DiffReport, AuditError> {
    let mut out = Vec::new();
    let (files_a, mods_a) = by_path(&a.manifest);
    let (files_b, mods_b) = by_path(&b.manifest);
    let paths: BTreeSet<&str> = files_a.keys().chain(files_b.keys()).copied().collect();
    for p in paths {
        let (fa, fb) = (files_a.get(p), files_b.get(p));
        let kind = fa.or(fb).map(|f| f.kind).unwrap_or(FileKind::Other);
        let kind_name = match kind {
            FileKind::Module => "module",
            FileKind::Database => "database",
            FileKind::Input => "input",
            FileKind::Other => "file",
            FileKind::Link => "link",
        };
        match (fa, fb) {
            (Some(_), None) | (None, Some(_)) => {
                let (mods, verb, module_kind) = match fa {
                    Some(_) => (&mods_a, "removed", DiffKind::ModuleRemoved),
                    None => (&mods_b, "added", DiffKind::ModuleAdded),
                };
                let extra = mods
                    .get(p)
                    .map(|m| format!(" ({})", m.name))
                    .unwrap_or_default();
                let what = match kind {
                    FileKind::Module => module_kind,
                    FileKind::Database => DiffKind::DatabaseChanged,
                    _ => DiffKind::FileChanged,
                };
                entry(&mut out, what, p, format!("{kind_name} {verb}: {p}{extra}"));
            }
            (Some(fa), Some(fb)) => {
                if fa.link != fb.link {
                    let line = format!(
                        "{p}: link → {}, was → {}{}",
                        fb.link.as_deref().unwrap_or("(not a link)"),
                        fa.link.as_deref().unwrap_or("(not a link)"),
                        if fa.sha256 == fb.sha256 {
                            " (same content)"
                        } else {
                            ""
                        }
                    );
                    entry(&mut out, DiffKind::LinkOnly, p, line);
                }
                if fa.sha256 == fb.sha256 {
                    continue;
                }
                match kind {
                    FileKind::Module => diff_module(p, a, b, &mods_a, &mods_b, opts, &mut out)?,
                    FileKind::Database => diff_database(p, a, b, opts, &mut out)?,
                    _ => entry(
                        &mut out,
                        DiffKind::FileChanged,
                        p,
                        format!("{kind_name} changed: {p} ({} → {} bytes)", fa.size, fb.size),
                    ),
                }
            }
            (None, None) => {}
        }
    }
    Ok(DiffReport { entries: out })
}

/// A manifest's files and modules by path.
fn by_path(m: &Manifest) -> (BTreeMap<&str, &FileRecord>, BTreeMap<&str, &ModuleRecord>) {
    let files = m.files.iter().map(|f| (f.path.as_str(), f)).collect();
    (
        files,
        m.modules.iter().map(|m| (m.path.as_str(), m)).collect(),
    )
}

/// Why a module of a tree could not be compared; printed under the
/// module's own line, so without its path.
#[derive(Debug, thiserror::Error)]
enum Unreadable {
    #[error("{source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Module(#[from] module::ModuleError),
}

fn read_meta(root: &Path, rel: &str, limits: &Limits) -> Result<ModuleMeta, Unreadable> {
    let path = root.join(rel);
    let data = match std::fs::read(&path) {
        Ok(data) => data,
        Err(source) => return Err(Unreadable::Io { path, source }),
    };
    Ok(module::parse_module(&data, limits)?)
}

fn diff_module(
    p: &str,
    a: &Side,
    b: &Side,
    mods_a: &BTreeMap<&str, &ModuleRecord>,
    mods_b: &BTreeMap<&str, &ModuleRecord>,
    opts: &DiffOptions,
    out: &mut Vec<Difference>,
) -> Result<(), AuditError> {
    let (Some(ma), Some(mb)) = (mods_a.get(p), mods_b.get(p)) else {
        entry(
            out,
            DiffKind::ModuleChanged,
            p,
            format!("module changed: {p}"),
        );
        return Ok(());
    };
    if ma.meta_sha256 == mb.meta_sha256 {
        let how = match (&ma.compression, &mb.compression) {
            (x, y) if x != y => format!(
                "recompressed {} → {}",
                x.as_deref().unwrap_or("?"),
                y.as_deref().unwrap_or("?")
            ),
            _ if ma.signed != mb.signed => "signature added or removed".to_string(),
            _ => "recompressed or re-signed".to_string(),
        };
        entry(
            out,
            DiffKind::ModuleRepacked,
            p,
            format!("module changed: {p}: metadata identical ({how})"),
        );
        return Ok(());
    }
    let mut parts = Vec::new();
    if ma.modinfo_sha256 != mb.modinfo_sha256 {
        parts.push("modinfo");
    }
    if ma.exports_sha256 != mb.exports_sha256 {
        parts.push("exports");
    }
    if ma.imports_sha256 != mb.imports_sha256 {
        parts.push("imports");
    }
    entry(
        out,
        DiffKind::ModuleChanged,
        p,
        format!("module changed: {p} ({}): {}", mb.name, parts.join(", ")),
    );
    if ma.vermagic != mb.vermagic {
        let line = format!(
            "vermagic now {:?}, was {:?}",
            mb.vermagic.as_ref().map(|v| show(&v.0)).unwrap_or_default(),
            ma.vermagic.as_ref().map(|v| show(&v.0)).unwrap_or_default()
        );
        push_items(out, vec![line], 0);
    }
    let (Some(ra), Some(rb)) = (&a.root, &b.root) else {
        return Ok(());
    };
    let (xa, xb) = match (
        read_meta(ra, p, &opts.limits),
        read_meta(rb, p, &opts.limits),
    ) {
        (Ok(x), Ok(y)) => (x, y),
        (x, y) => {
            let errors = [x.err(), y.err()].into_iter().flatten();
            push_items(out, errors.map(|e| format!("unreadable: {e}")).collect(), 0);
            return Ok(());
        }
    };
    let mut items = Vec::new();
    // modinfo: per key, the multiset of values.
    let values = |m: &ModuleMeta| {
        let mut v: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
        for e in &m.modinfo {
            v.entry(e.key.clone()).or_default().push(e.value.clone());
        }
        v
    };
    let (va, vb) = (values(&xa), values(&xb));
    let keys: BTreeSet<&Vec<u8>> = va.keys().chain(vb.keys()).collect();
    for k in keys {
        let (x, y) = (va.get(k), vb.get(k));
        if x == y || k.as_slice() == b"vermagic" {
            continue;
        }
        let (x, y) = (
            x.cloned().unwrap_or_default(),
            y.cloned().unwrap_or_default(),
        );
        let sx: BTreeSet<&Vec<u8>> = x.iter().collect();
        let sy: BTreeSet<&Vec<u8>> = y.iter().collect();
        if x.len() == 1 && y.len() == 1 {
            items.push(format!(
                "modinfo {}: now {:?}, was {:?}",
                show(k),
                show(&y[0]),
                show(&x[0])
            ));
            continue;
        }
        for v in sy.difference(&sx) {
            items.push(format!("modinfo {} added: {}", show(k), show(v)));
        }
        for v in sx.difference(&sy) {
            items.push(format!("modinfo {} removed: {}", show(k), show(v)));
        }
        if sx == sy {
            items.push(format!(
                "modinfo {}: same values, other order or count",
                show(k)
            ));
        }
    }
    let ex = |m: &ModuleMeta| -> BTreeMap<Vec<u8>, u64> {
        m.exports.iter().map(|e| (e.name.clone(), e.crc)).collect()
    };
    symbol_changes("export", &ex(&xa), &ex(&xb), &mut items);
    let im = |m: &ModuleMeta| -> BTreeMap<Vec<u8>, u64> {
        m.imports
            .iter()
            .map(|i| {
                let mut n = i.name.clone();
                if i.weak {
                    n.extend_from_slice(b" (weak)");
                }
                (n, i.crc)
            })
            .collect()
    };
    symbol_changes("import", &im(&xa), &im(&xb), &mut items);
    push_items(out, items, opts.limit);
    Ok(())
}

fn symbol_changes(
    what: &str,
    a: &BTreeMap<Vec<u8>, u64>,
    b: &BTreeMap<Vec<u8>, u64>,
    items: &mut Vec<String>,
) {
    for (n, crc) in b {
        match a.get(n) {
            None => items.push(format!("{what} added: {}", show(n))),
            Some(old) if old != crc => items.push(format!(
                "{what} {}: CRC now 0x{crc:08x}, was 0x{old:08x}",
                show(n)
            )),
            _ => {}
        }
    }
    for n in a.keys() {
        if !b.contains_key(n) {
            items.push(format!("{what} removed: {}", show(n)));
        }
    }
}

fn diff_database(
    p: &str,
    a: &Side,
    b: &Side,
    opts: &DiffOptions,
    out: &mut Vec<Difference>,
) -> Result<(), AuditError> {
    let da = a.manifest.databases.iter().find(|d| d.path == p);
    let db = b.manifest.databases.iter().find(|d| d.path == p);
    let (Some(da), Some(db)) = (da, db) else {
        entry(
            out,
            DiffKind::DatabaseChanged,
            p,
            format!("database changed: {p}"),
        );
        return Ok(());
    };
    if da.content_sha256 == db.content_sha256 && da.error.is_none() && db.error.is_none() {
        entry(
            out,
            DiffKind::LayoutOnly,
            p,
            format!(
                "database changed: {p}: differs only in layout ({} → {})",
                layout_label(da.layout.as_deref()),
                layout_label(db.layout.as_deref())
            ),
        );
        return Ok(());
    }
    entry(
        out,
        DiffKind::DatabaseChanged,
        p,
        format!(
            "database changed: {p} ({} → {} entries)",
            da.entries, db.entries
        ),
    );
    let (Some(ra), Some(rb)) = (&a.root, &b.root) else {
        return Ok(());
    };
    let read = |r: &Path| {
        let path = r.join(p);
        std::fs::read(&path).at(path)
    };
    let (xa, xb) = (read(ra)?, read(rb)?);
    push_items(out, database_changes(p, &xa, &xb), opts.limit);
    Ok(())
}

fn layout_label(l: Option<&str>) -> &'static str {
    match l {
        Some("pre-order") => "pre-order, kmod ≥ 34",
        Some("post-order") => "post-order, kmod 30–33",
        _ => "layout not identifiable",
    }
}

/// Index entries grouped by key: (value, priority) in stored order.
type KeyValues = BTreeMap<Vec<u8>, Vec<(Vec<u8>, u32)>>;

/// Itemised differences between two versions of database `name`: for
/// indexes, per key ("key `K` now → V, was → W"); for text, per line.
pub fn database_changes(name: &str, old: &[u8], new: &[u8]) -> Vec<String> {
    if name.ends_with(".bin") {
        let entries = |d: &[u8]| -> Result<KeyValues, IndexError> {
            let idx = Index::parse(d)?;
            let mut m: BTreeMap<Vec<u8>, Vec<(Vec<u8>, u32)>> = BTreeMap::new();
            idx.for_each_entry(|k, v, p| m.entry(k.to_vec()).or_default().push((v.to_vec(), p)))?;
            Ok(m)
        };
        let (ea, eb) = match (entries(old), entries(new)) {
            (Ok(x), Ok(y)) => (x, y),
            (x, y) => {
                let mut v = Vec::new();
                if let Err(e) = x {
                    v.push(format!("old index unreadable: {e}"));
                }
                if let Err(e) = y {
                    v.push(format!("new index unreadable: {e}"));
                }
                return v;
            }
        };
        let fmt = |vals: &[(Vec<u8>, u32)]| {
            vals.iter()
                .map(|(v, p)| {
                    if *p == 0 {
                        show(v)
                    } else {
                        format!("{} (priority {p})", show(v))
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut items = Vec::new();
        let keys: BTreeSet<&Vec<u8>> = ea.keys().chain(eb.keys()).collect();
        for k in keys {
            match (ea.get(k), eb.get(k)) {
                (Some(x), Some(y)) if x != y => items.push(format!(
                    "key `{}` now → {}, was → {}",
                    show(k),
                    fmt(y),
                    fmt(x)
                )),
                (None, Some(y)) => items.push(format!("key `{}` added → {}", show(k), fmt(y))),
                (Some(x), None) => {
                    items.push(format!("key `{}` removed (was → {})", show(k), fmt(x)))
                }
                _ => {}
            }
        }
        items
    } else {
        let lines = |d: &[u8]| -> BTreeMap<Vec<u8>, usize> {
            let mut m = BTreeMap::new();
            for l in d.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                *m.entry(l.to_vec()).or_insert(0) += 1;
            }
            m
        };
        let (la, lb) = (lines(old), lines(new));
        let mut items = Vec::new();
        for (l, n) in &lb {
            if la.get(l).copied().unwrap_or(0) < *n {
                items.push(format!("+ {}", show(l)));
            }
        }
        for (l, n) in &la {
            if lb.get(l).copied().unwrap_or(0) < *n {
                items.push(format!("- {}", show(l)));
            }
        }
        if items.is_empty() {
            items.push("same lines in another order".to_string());
        }
        items
    }
}
