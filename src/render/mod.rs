//! Rendering: pure functions from the resolved tree to the bytes of every
//! `modules.*` database, in kmod's formats and orders (spec §8), one file per
//! database family. Nothing here touches the disk.

pub mod alias;
pub mod builtin;
pub mod dep;
pub mod devname;
pub mod softdep;
pub mod symbols;

use crate::index::{BoundedIndexBuilder, BuiltIndex, Duplicate, Layout};
use crate::kmod::{Diagnostic, KmodVersion};
use crate::module::StringList;
use std::borrow::Cow;
use std::io::{self, Write};

/// Every database kmod 34 writes, in its writing order (kmod 30: all but
/// `modules.weakdep`).
pub const DATABASE_FILES: [&str; 11] = [
    "modules.dep",
    "modules.dep.bin",
    "modules.alias",
    "modules.alias.bin",
    "modules.softdep",
    "modules.weakdep",
    "modules.symbols",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
    "modules.devname",
];

/// One module as the renderers see it (array order); its `.modinfo`
/// lists come from [`ModuleSource::list`].
#[derive(Clone, Copy, Debug)]
pub struct RenderModule<'a> {
    pub name: &'a str,
    /// `P(m)`: path relative to the module directory, or absolute.
    pub db_path: &'a str,
    /// Transitive dependencies (indexes into the module array), in
    /// modules.dep order.
    pub deps: &'a [u32],
}

/// Which of a module's `.modinfo` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    Aliases,
    Softdeps,
    Weakdeps,
}

/// The modules in array order, as the renderers ask for them: nothing
/// per module needs to be held for rendering, and the tree may keep the
/// lists in memory or read them back from a spill file as they are asked
/// for (each renderer asks for each module's list once per database).
pub trait ModuleSource: Sync {
    /// Number of modules.
    fn len(&self) -> usize;
    /// True when there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The module at array position `pos` (below [`ModuleSource::len`]).
    fn module(&self, pos: usize) -> RenderModule<'_>;
    /// The `kind` list of the module at array position `pos`.
    fn list(&self, pos: usize, kind: ListKind) -> Cow<'_, StringList>;
}

/// A kernel-build input file: its content, or the reason it could not be
/// opened (the C library's text).
pub type InputFile = Result<Vec<u8>, String>;

/// Everything the renderers need.
#[derive(Clone, Copy)]
pub struct RenderInput<'a> {
    /// The modules in array order.
    pub modules: &'a dyn ModuleSource,
    /// Module-owned symbols in kmod's order, with the owner's index.
    pub symbols: &'a [(&'a [u8], u32)],
    /// The module directory as kmod prints it (for builtin warnings).
    pub dir: &'a str,
    pub builtin: &'a InputFile,
    pub builtin_modinfo: &'a InputFile,
}

impl<'a> RenderInput<'a> {
    /// The modules with their array positions, in array order.
    pub fn each_module(&self) -> impl Iterator<Item = (usize, RenderModule<'a>)> + 'a {
        let modules = self.modules;
        (0..modules.len()).map(move |pos| (pos, modules.module(pos)))
    }
}

/// Rendering options.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderOptions {
    pub kmod: KmodVersion,
    /// `-w`: warn about duplicate index values.
    pub warn_dups: bool,
}

/// Every database's bytes, in kmod's writing order, and the diagnostics
/// kmod prints while writing them.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    pub files: Vec<(&'static str, Vec<u8>)>,
    pub diags: Vec<Diagnostic>,
}

/// Index content kmod would reject (a byte ≥ 0x80).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Module index: bad character '{ch}'=0x{code:x} - only 7-bit ASCII is supported:\n{string}")]
pub struct BadCharacter {
    pub ch: char,
    pub code: u32,
    pub string: String,
}

/// An index builder that refuses non-ASCII content (kmod 34's check, which
/// kmodtree applies for every version: kmod 30 corrupts such indexes),
/// built in bounded memory in the layout of the kmod it reproduces.
pub(crate) struct CheckedIndex {
    builder: BoundedIndexBuilder,
    /// How a duplicate value is reported, when they are looked for.
    duplicates: Option<DuplicateWarning>,
    /// Warnings given while inserting, each with the number of entries
    /// inserted before it, to be put among the duplicate warnings.
    warnings: Vec<(u32, Diagnostic)>,
}

impl CheckedIndex {
    /// An empty index written as `kmod` writes it; with `duplicates`, a
    /// value already under its key is reported with that warning.
    pub(crate) fn new(kmod: KmodVersion, duplicates: Option<DuplicateWarning>) -> Self {
        CheckedIndex {
            builder: BoundedIndexBuilder::new(Layout::of(kmod))
                .find_duplicates(duplicates.is_some()),
            duplicates,
            warnings: Vec::new(),
        }
    }

    /// Inserts `value` under `key` with `prio`.
    pub(crate) fn insert(
        &mut self,
        key: &[u8],
        value: &[u8],
        prio: u32,
    ) -> Result<(), BadCharacter> {
        check_7bit(key)?;
        check_7bit(value)?;
        self.builder.insert(key, value, prio);
        Ok(())
    }

    /// Adds `warning` at this point of the insertions: before the
    /// duplicate warnings of later entries.
    pub(crate) fn warn(&mut self, warning: Diagnostic) {
        self.warnings.push((self.builder.len(), warning));
    }

    /// Builds the index. Appends to `diags` the warnings given while
    /// inserting and those for duplicate values, in the order of the
    /// insertions, as kmod gives them.
    pub(crate) fn finish(self, diags: &mut Vec<Diagnostic>) -> BuiltIndex {
        let mut built = self.builder.finish();
        let mut warnings = self.warnings.into_iter().peekable();
        if let Some(kind) = self.duplicates {
            for d in built.take_duplicates() {
                while let Some((_, w)) = warnings.next_if(|(before, _)| *before <= d.seq) {
                    diags.push(w);
                }
                diags.push(kind.warning(&d));
            }
        }
        diags.extend(warnings.map(|(_, w)| w));
        built
    }
}

/// The warning `depmod -w` gives for a value already under its key, by
/// index, in kmod's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DuplicateWarning {
    Alias,
    Syms,
    Deps,
}

impl DuplicateWarning {
    fn warning(self, d: &Duplicate) -> Diagnostic {
        let key = String::from_utf8_lossy(&d.key);
        let value = String::from_utf8_lossy(&d.value);
        Diagnostic::warning(match self {
            DuplicateWarning::Alias => format!("duplicate module alias:\n{key} {value}"),
            DuplicateWarning::Syms => format!("duplicate module syms:\n{key} {value}"),
            DuplicateWarning::Deps => format!("duplicate module deps:\n{value}"),
        })
    }
}

fn check_7bit(s: &[u8]) -> Result<(), BadCharacter> {
    match s.iter().find(|&&b| b >= 0x80) {
        None => Ok(()),
        Some(&b) => Err(BadCharacter {
            ch: char::from(b),
            // kmod prints (int)(char)ch: sign-extended.
            code: b as i8 as i32 as u32,
            string: String::from_utf8_lossy(s).into_owned(),
        }),
    }
}

/// Why [`render_all`] failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderAllError {
    /// A database would hold content kmod refuses.
    #[error(transparent)]
    BadCharacter(#[from] BadCharacter),
    /// An index could not be produced: too large for 28-bit offsets, or
    /// its temporary lost its bytes.
    #[error("Could not write index '{name}': {reason}")]
    Index { name: &'static str, reason: String },
}

/// Renders every database kmod writes, in its order (§8.1), into memory.
/// The independent databases are rendered in parallel; their diagnostics
/// are collected per file and appended in kmod's writing order.
pub fn render_all(input: &RenderInput, opts: RenderOptions) -> Result<Rendered, RenderAllError> {
    let files = std::sync::Mutex::new(Vec::new());
    let keep = |name: &'static str, produce: &Producer| -> Result<(), RenderAllError> {
        let mut bytes = Vec::new();
        produce(&mut bytes).map_err(|e| RenderAllError::Index {
            name,
            reason: crate::kmod::strerror(&e),
        })?;
        files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name, bytes));
        Ok(())
    };
    let diags = match render_each(input, opts, &keep) {
        Ok(diags) => diags,
        Err(RenderError::BadCharacter(b)) => return Err(b.into()),
        Err(RenderError::Sink { error, .. }) => return Err(error),
    };
    let mut files = files.into_inner().unwrap_or_else(|p| p.into_inner());
    files.sort_by_key(|(name, _)| writing_rank(name));
    Ok(Rendered { files, diags })
}

/// Where `name` comes in kmod's writing order ([`DATABASE_FILES`]).
pub fn writing_rank(name: &str) -> usize {
    DATABASE_FILES
        .iter()
        .position(|n| *n == name)
        .unwrap_or(DATABASE_FILES.len())
}

/// Writes one database's bytes to the writer it is given; fails as the
/// writer does, or (an index) with kind `InvalidData` when the file would
/// need offsets beyond 28 bits.
pub type Producer<'p> = dyn Fn(&mut dyn Write) -> io::Result<()> + 'p;

/// Where [`render_each`] hands each database: its name and the producer of
/// its bytes, which the sink runs (at most once) to write them where it
/// wants.
pub type Sink<'s, E> = dyn Fn(&'static str, &Producer) -> Result<(), E> + Sync + 's;

/// Why [`render_each`] failed.
#[derive(Debug)]
pub enum RenderError<E> {
    /// A database would hold content kmod refuses; reported before any
    /// error of the sink.
    BadCharacter(BadCharacter),
    /// The sink refused a database (the first failure of the first lane
    /// in writing order); with the diagnostics of the rendering, which
    /// came before.
    Sink { error: E, diags: Vec<Diagnostic> },
}

/// Renders every database kmod writes, as [`render_all`] does, but hands
/// each one to `sink` as a producer that writes its bytes, so that no
/// rendered database is held whole: a text database is rendered as it is
/// written, and a binary one is built as an index first (which is where
/// content kmod refuses is found, before anything of it reaches the sink)
/// and serialised as it is written. At most one index per rendering thread
/// is held at a time. `sink` is called from several threads, in no fixed
/// order; the diagnostics come back in kmod's writing order.
///
/// After the sink fails, the remaining databases are still rendered (into
/// nothing, not handed over), so that content kmod refuses is reported, and
/// the diagnostics are the same, whatever the sink did, as when everything
/// is rendered before anything is written.
pub fn render_each<E: Send>(
    input: &RenderInput,
    opts: RenderOptions,
    sink: &Sink<'_, E>,
) -> Result<Vec<Diagnostic>, RenderError<E>> {
    /// One thread's share: hands databases over until the sink fails.
    struct Lane<'s, E> {
        sink: &'s Sink<'s, E>,
        failed: Option<E>,
        diags: Vec<Diagnostic>,
    }
    impl<E> Lane<'_, E> {
        /// Hands `produce` to the sink unless it failed before; runs it
        /// into nothing if the sink did not (so its diagnostics are made).
        fn emit(&mut self, name: &'static str, produce: &Producer) {
            let ran = std::cell::Cell::new(false);
            if self.failed.is_none() {
                let tracked = |out: &mut dyn Write| {
                    ran.set(true);
                    produce(out)
                };
                if let Err(e) = (self.sink)(name, &tracked) {
                    self.failed = Some(e);
                }
            }
            if !ran.get() {
                let _ = produce(&mut io::sink());
            }
        }
    }
    type Part<'s, E> = Result<Lane<'s, E>, BadCharacter>;
    let lane = || Lane {
        sink,
        failed: None,
        diags: Vec::new(),
    };
    let deps = || -> Part<E> {
        let mut l = lane();
        let bin = dep::modules_dep_bin(input, opts, &mut l.diags)?;
        l.emit("modules.dep.bin", &|out| bin.write_to(out));
        drop(bin);
        l.emit("modules.dep", &|out| dep::modules_dep(input, out));
        Ok(l)
    };
    let aliases = || -> Part<E> {
        let mut l = lane();
        let bin = alias::modules_alias_bin(input, opts, &mut l.diags)?;
        l.emit("modules.alias.bin", &|out| bin.write_to(out));
        drop(bin);
        l.emit("modules.alias", &|out| alias::modules_alias(input, out));
        l.emit("modules.softdep", &|out| {
            softdep::modules_softdep(input, out)
        });
        if opts.kmod == KmodVersion::V34 {
            l.emit("modules.weakdep", &|out| {
                softdep::modules_weakdep(input, out)
            });
        }
        Ok(l)
    };
    let syms = || -> Part<E> {
        let mut l = lane();
        let bin = symbols::modules_symbols_bin(input, opts, &mut l.diags)?;
        l.emit("modules.symbols.bin", &|out| bin.write_to(out));
        drop(bin);
        l.emit("modules.symbols", &|out| {
            symbols::modules_symbols(input, out)
        });
        Ok(l)
    };
    let rest = || -> Part<E> {
        let mut l = lane();
        let b = builtin::modules_builtin_bin(input, opts, &mut l.diags)?;
        l.emit("modules.builtin.bin", &|out| {
            write_optional(b.as_ref(), out)
        });
        drop(b);
        let ba = builtin::modules_builtin_alias_bin(input, opts, &mut l.diags)?;
        l.emit("modules.builtin.alias.bin", &|out| {
            write_optional(ba.as_ref(), out)
        });
        drop(ba);
        let dev_diags = std::cell::RefCell::new(Vec::new());
        l.emit("modules.devname", &|out| {
            let mut d = dev_diags.borrow_mut();
            d.clear();
            devname::modules_devname(input, out, &mut d)
        });
        l.diags.extend(dev_diags.into_inner());
        Ok(l)
    };
    let ((p1, p2), (p3, p4)) =
        rayon::join(|| rayon::join(deps, aliases), || rayon::join(syms, rest));
    // The lanes hold consecutive stretches of kmod's writing order: the
    // first refused content, then the first sink failure, of the first
    // lane that has one is what kmod would have reported.
    let mut lanes = Vec::with_capacity(4);
    for part in [p1, p2, p3, p4] {
        lanes.push(part.map_err(RenderError::BadCharacter)?);
    }
    let mut diags = Vec::new();
    let mut failed = None;
    for l in lanes {
        diags.extend(l.diags);
        failed = failed.or(l.failed);
    }
    match failed {
        Some(error) => Err(RenderError::Sink { error, diags }),
        None => Ok(diags),
    }
}

/// Writes `index` to `out`; nothing (a 0-byte file) for None.
fn write_optional(index: Option<&BuiltIndex>, out: &mut dyn Write) -> io::Result<()> {
    match index {
        Some(i) => i.write_to(out),
        None => Ok(()),
    }
}

/// What `depmod -n` prints: the text databases concatenated (§8.4).
pub fn render_text_only(input: &RenderInput, opts: RenderOptions) -> (Vec<u8>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut diags = Vec::new();
    write_text_only(input, opts, &mut out, &mut diags).expect("writing into a Vec does not fail");
    (out, diags)
}

/// Writes the text databases to `out` one after the other.
fn write_text_only(
    input: &RenderInput,
    opts: RenderOptions,
    out: &mut dyn Write,
    diags: &mut Vec<Diagnostic>,
) -> io::Result<()> {
    dep::modules_dep(input, out)?;
    alias::modules_alias(input, out)?;
    softdep::modules_softdep(input, out)?;
    if opts.kmod == KmodVersion::V34 {
        softdep::modules_weakdep(input, out)?;
    }
    symbols::modules_symbols(input, out)?;
    devname::modules_devname(input, out, diags)
}
