//! Rendering: pure functions from the resolved tree to the bytes of every
//! `modules.*` database, in kmod's formats and orders (spec §8), one file per
//! database family. Nothing here touches the disk.

pub mod alias;
pub mod builtin;
pub mod dep;
pub mod devname;
pub mod softdep;
pub mod symbols;

use crate::index::{ExternalValues, IndexBuilder, Layout};
use crate::module::StringList;
use crate::tree::Diagnostic;
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

/// Which kmod's output to reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KmodVersion {
    /// kmod 30–33: post-order indexes, no `modules.weakdep`.
    V30,
    /// kmod 34: pre-order indexes, `modules.weakdep`.
    #[default]
    V34,
}

impl KmodVersion {
    pub fn layout(self) -> Layout {
        match self {
            KmodVersion::V30 => Layout::PostOrder,
            KmodVersion::V34 => Layout::PreOrder,
        }
    }
}

/// One module as the renderers see it (array order); its `.modinfo`
/// lists come from [`RenderInput::lists`].
#[derive(Clone, Debug)]
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

/// Each module's `.modinfo` lists, by array position. The tree may keep
/// them in memory or read them back from a spill file as they are asked
/// for; each renderer asks for each module's list once per database.
pub trait ListSource: Sync {
    /// The `kind` list of the module at array position `pos`.
    fn list(&self, pos: usize, kind: ListKind) -> Cow<'_, StringList>;
}

/// A kernel-build input file: its content, or the reason it could not be
/// opened (the C library's text).
pub type InputFile = Result<Vec<u8>, String>;

/// Everything the renderers need.
#[derive(Clone)]
pub struct RenderInput<'a> {
    pub modules: Vec<RenderModule<'a>>,
    /// The modules' `.modinfo` lists, by array position.
    pub lists: &'a dyn ListSource,
    /// Module-owned symbols in kmod's order, with the owner's index.
    pub symbols: Vec<(&'a [u8], u32)>,
    /// The module directory as kmod prints it (for builtin warnings).
    pub dir: &'a str,
    pub builtin: &'a InputFile,
    pub builtin_modinfo: &'a InputFile,
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
/// kmodtree applies for every version: kmod 30 corrupts such indexes), and
/// the layout it is written in.
pub struct CheckedIndex<'a> {
    builder: IndexBuilder,
    kmod: KmodVersion,
    /// The bytes of the external values (None: there are none).
    external: Option<Box<ExternalValues<'a>>>,
}

impl<'a> CheckedIndex<'a> {
    /// An empty index written as `kmod` writes it, with byte values only.
    pub(crate) fn new(kmod: KmodVersion) -> Self {
        CheckedIndex {
            builder: IndexBuilder::new(),
            kmod,
            external: None,
        }
    }

    /// An empty index written as `kmod` writes it, whose external values
    /// (see [`CheckedIndex::insert_external`]) are produced by `external`.
    pub(crate) fn with_external(
        kmod: KmodVersion,
        external: impl Fn(u32, &mut Vec<u8>) + 'a,
    ) -> Self {
        CheckedIndex {
            builder: IndexBuilder::new(),
            kmod,
            external: Some(Box::new(external)),
        }
    }

    /// Inserts; returns whether the value was a duplicate.
    pub(crate) fn insert(
        &mut self,
        key: &[u8],
        value: &[u8],
        prio: u32,
    ) -> Result<bool, BadCharacter> {
        check_7bit(key)?;
        check_7bit(value)?;
        Ok(self.builder.insert(key, value, prio))
    }

    /// Inserts external value `id`, whose bytes are `value` (checked here,
    /// not kept: the index's external values produce them again when it is
    /// written); returns whether a value with the same id was already
    /// under `key` ([`IndexBuilder::insert_external`]).
    pub(crate) fn insert_external(
        &mut self,
        key: &[u8],
        id: u32,
        value: &[u8],
        prio: u32,
    ) -> Result<bool, BadCharacter> {
        check_7bit(key)?;
        check_7bit(value)?;
        Ok(self.builder.insert_external(key, id, prio))
    }

    /// Writes the index to `out`; fails as [`IndexBuilder::write_with`]
    /// does (an index too large for 28-bit offsets, or `out` failing).
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        let layout = self.kmod.layout();
        match &self.external {
            Some(external) => self.builder.write_with(layout, external, out),
            None => self.builder.write_to(layout, out),
        }
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

/// Renders every database kmod writes, in its order (§8.1). The
/// independent databases are rendered in parallel; their diagnostics are
/// collected per file and appended in kmod's writing order.
///
/// # Panics
/// If an index would need offsets beyond 28 bits (a file over 256 MiB).
pub fn render_all(input: &RenderInput, opts: RenderOptions) -> Result<Rendered, BadCharacter> {
    let files = std::sync::Mutex::new(Vec::new());
    let keep = |name: &'static str, produce: &Producer| -> io::Result<()> {
        let mut bytes = Vec::new();
        produce(&mut bytes)?;
        files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name, bytes));
        Ok(())
    };
    let diags = match render_each(input, opts, &keep) {
        Ok(diags) => diags,
        Err(RenderError::BadCharacter(b)) => return Err(b),
        Err(RenderError::Sink { error, .. }) => panic!("{error}"),
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
fn write_optional(index: Option<&CheckedIndex>, out: &mut dyn Write) -> io::Result<()> {
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
