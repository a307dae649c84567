//! `kmodtree diff A B`: what differs between two trees (or manifests), in
//! terms of modules and database entries.
//!
//! With two trees every difference is explained down to the modinfo key,
//! symbol or database entry. With a manifest on either side only digests
//! are known for that side, so a difference is named but not itemised.

use super::manifest::{audit_tree, FileKind, Manifest, ModuleRecord};
use super::AuditError;
use crate::index::{Index, IndexError};
use crate::kmod::esc::encode as show;
use crate::kmod::IoResultExt;
use crate::module::{self, Limits, ModuleMeta};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One side: a manifest, and the directory it was made from if it is a tree.
pub struct Side {
    pub manifest: Manifest,
    pub root: Option<PathBuf>,
}

/// Loads a directory (audited now, each file hashed reported to
/// `progress`) or a manifest file.
pub fn load_side(
    path: &Path,
    jobs: Option<usize>,
    limits: &Limits,
    progress: &dyn crate::progress::Progress,
) -> Result<Side, AuditError> {
    if std::fs::metadata(path).at(path)?.is_dir() {
        let manifest = audit_tree(path, jobs, limits, progress)?;
        return Ok(Side {
            manifest,
            root: Some(path.to_path_buf()),
        });
    }
    let data = std::fs::read(path).at(path)?;
    Ok(Side {
        manifest: Manifest::from_json(path, &data)?,
        root: None,
    })
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
/// in which [`DiffReport::lines`] lists them. JSON names it in kebab case
/// (`module-added`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
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

impl Difference {
    fn new(kind: DiffKind, path: &str, line: String) -> Difference {
        Difference {
            kind,
            path: path.to_owned(),
            line,
            details: Vec::new(),
        }
    }
}

/// Compares two sides.
///
/// ```no_run
/// use kmodtree::audit::{diff, load_side, DiffOptions};
/// use kmodtree::module::Limits;
/// use kmodtree::progress::Silent;
///
/// // A tree (audited now) against a manifest written earlier.
/// let old = load_side("manifest.json".as_ref(), None, &Limits::default(), &Silent)?;
/// let new = load_side("/lib/modules/6.1.0".as_ref(), None, &Limits::default(), &Silent)?;
/// for line in diff(&old, &new, &DiffOptions::default())?.lines(false) {
///     println!("{line}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn diff(a: &Side, b: &Side, opts: &DiffOptions) -> Result<DiffReport, AuditError> {
    let mut out = Vec::new();
    let [files_a, files_b] = [a, b].map(|s| by_path(&s.manifest.files, |f| &f.path));
    let [mods_a, mods_b] = [a, b].map(|s| by_path(&s.manifest.modules, |m| &m.path));
    let paths: BTreeSet<&str> = files_a.keys().chain(files_b.keys()).copied().collect();
    for p in paths {
        let (fa, fb) = (files_a.get(p), files_b.get(p));
        let kind = fa.or(fb).map_or(FileKind::Other, |f| f.kind);
        let kind_name = match kind {
            FileKind::Module => "module",
            FileKind::Database => "database",
            FileKind::Input => "input",
            FileKind::Other => "file",
            FileKind::Link => "link",
        };
        let (Some(fa), Some(fb)) = (fa, fb) else {
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
            let line = format!("{kind_name} {verb}: {p}{extra}");
            out.push(Difference::new(what, p, line));
            continue;
        };
        let same = fa.sha256 == fb.sha256;
        if fa.link != fb.link {
            let line = format!(
                "{p}: link → {}, was → {}{}",
                fb.link.as_deref().unwrap_or("(not a link)"),
                fa.link.as_deref().unwrap_or("(not a link)"),
                if same { " (same content)" } else { "" }
            );
            out.push(Difference::new(DiffKind::LinkOnly, p, line));
        }
        if same {
            continue;
        }
        out.push(match kind {
            FileKind::Module => diff_module(p, a, b, mods_a.get(p), mods_b.get(p), opts),
            FileKind::Database => diff_database(p, a, b, opts)?,
            _ => {
                let (from, to) = (fa.size, fb.size);
                let line = format!("{kind_name} changed: {p} ({from} → {to} bytes)");
                Difference::new(DiffKind::FileChanged, p, line)
            }
        });
    }
    Ok(DiffReport { entries: out })
}

/// A manifest's records by path.
fn by_path<T>(records: &[T], path: impl Fn(&T) -> &String) -> BTreeMap<&str, &T> {
    records.iter().map(|r| (path(r).as_str(), r)).collect()
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
    match std::fs::read(&path) {
        Ok(data) => Ok(module::parse_module(&data, limits)?),
        Err(source) => Err(Unreadable::Io { path, source }),
    }
}

fn diff_module(
    p: &str,
    a: &Side,
    b: &Side,
    ma: Option<&&ModuleRecord>,
    mb: Option<&&ModuleRecord>,
    opts: &DiffOptions,
) -> Difference {
    let (Some(ma), Some(mb)) = (ma, mb) else {
        return Difference::new(DiffKind::ModuleChanged, p, format!("module changed: {p}"));
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
        let line = format!("module changed: {p}: metadata identical ({how})");
        return Difference::new(DiffKind::ModuleRepacked, p, line);
    }
    let parts = [
        ("modinfo", &ma.modinfo_sha256, &mb.modinfo_sha256),
        ("exports", &ma.exports_sha256, &mb.exports_sha256),
        ("imports", &ma.imports_sha256, &mb.imports_sha256),
    ];
    let parts: Vec<&str> = parts.iter().filter(|p| p.1 != p.2).map(|p| p.0).collect();
    let line = format!("module changed: {p} ({}): {}", mb.name, parts.join(", "));
    let mut d = Difference::new(DiffKind::ModuleChanged, p, line);
    if ma.vermagic != mb.vermagic {
        let vm = |m: &ModuleRecord| m.vermagic.as_ref().map(|v| show(&v.0)).unwrap_or_default();
        let (now, was) = (vm(mb), vm(ma));
        d.details.push(format!("vermagic now {now:?}, was {was:?}"));
    }
    let (Some(ra), Some(rb)) = (&a.root, &b.root) else {
        return d;
    };
    let (xa, xb) = match (
        read_meta(ra, p, &opts.limits),
        read_meta(rb, p, &opts.limits),
    ) {
        (Ok(x), Ok(y)) => (x, y),
        (x, y) => {
            let errors = [x.err(), y.err()].into_iter().flatten();
            d.details.extend(errors.map(|e| format!("unreadable: {e}")));
            return d;
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
        let none = Vec::new();
        let (x, y) = (va.get(k).unwrap_or(&none), vb.get(k).unwrap_or(&none));
        if x == y || k.as_slice() == b"vermagic" {
            continue;
        }
        if let ([x], [y]) = (x.as_slice(), y.as_slice()) {
            let (k, y, x) = (show(k), show(y), show(x));
            items.push(format!("modinfo {k}: now {y:?}, was {x:?}"));
            continue;
        }
        let sx: BTreeSet<&Vec<u8>> = x.iter().collect();
        let sy: BTreeSet<&Vec<u8>> = y.iter().collect();
        let k = show(k);
        items.extend(
            sy.difference(&sx)
                .map(|v| format!("modinfo {k} added: {}", show(v))),
        );
        items.extend(
            sx.difference(&sy)
                .map(|v| format!("modinfo {k} removed: {}", show(v))),
        );
        if sx == sy {
            items.push(format!("modinfo {k}: same values, other order or count"));
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
    d.details.extend(super::at_most(items, opts.limit));
    d
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
    let removed = a.keys().filter(|n| !b.contains_key(*n));
    items.extend(removed.map(|n| format!("{what} removed: {}", show(n))));
}

fn diff_database(
    p: &str,
    a: &Side,
    b: &Side,
    opts: &DiffOptions,
) -> Result<Difference, AuditError> {
    let [Some(da), Some(db)] = [a, b].map(|s| s.manifest.databases.iter().find(|d| d.path == p))
    else {
        return Ok(Difference::new(
            DiffKind::DatabaseChanged,
            p,
            format!("database changed: {p}"),
        ));
    };
    if da.content_sha256 == db.content_sha256 && da.error.is_none() && db.error.is_none() {
        let line = format!(
            "database changed: {p}: differs only in layout ({} → {})",
            layout_label(da.layout.as_deref()),
            layout_label(db.layout.as_deref())
        );
        return Ok(Difference::new(DiffKind::LayoutOnly, p, line));
    }
    let line = format!(
        "database changed: {p} ({} → {} entries)",
        da.entries, db.entries
    );
    let mut d = Difference::new(DiffKind::DatabaseChanged, p, line);
    if let (Some(ra), Some(rb)) = (&a.root, &b.root) {
        let [xa, xb] = [ra, rb].map(|r| {
            let path = r.join(p);
            std::fs::read(&path).at(path)
        });
        d.details = super::at_most(database_changes(p, &xa?, &xb?), opts.limit);
    }
    Ok(d)
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
            let mut m = KeyValues::new();
            idx.for_each_entry(|k, v, p| m.entry(k.to_vec()).or_default().push((v.to_vec(), p)))?;
            Ok(m)
        };
        let (ea, eb) = match (entries(old), entries(new)) {
            (Ok(x), Ok(y)) => (x, y),
            (x, y) => {
                return [("old", x.err()), ("new", y.err())]
                    .into_iter()
                    .filter_map(|(which, e)| Some(format!("{which} index unreadable: {}", e?)))
                    .collect()
            }
        };
        let fmt = |vals: &[(Vec<u8>, u32)]| {
            let one = |(v, p): &(Vec<u8>, u32)| match p {
                0 => show(v),
                p => format!("{} (priority {p})", show(v)),
            };
            vals.iter().map(one).collect::<Vec<_>>().join(", ")
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
        // Lines added, then removed (more often on one side than the other).
        for (sign, from, to) in [('+', &la, &lb), ('-', &lb, &la)] {
            for (l, n) in to {
                if from.get(l).copied().unwrap_or(0) < *n {
                    items.push(format!("{sign} {}", show(l)));
                }
            }
        }
        if items.is_empty() {
            items.push("same lines in another order".to_string());
        }
        items
    }
}
