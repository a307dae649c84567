//! Rendering: pure functions from the resolved tree to the bytes of every
//! `modules.*` database, in kmod's formats and orders (spec §8), one file per
//! database family. Nothing here touches the disk.

pub mod alias;
pub mod builtin;
pub mod dep;
pub mod devname;
pub mod softdep;
pub mod symbols;

use crate::index::{IndexBuilder, Layout};
use crate::module::StringList;
use crate::tree::Diagnostic;
use std::borrow::Cow;

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

/// Lists held in memory, in array order (for callers that have them so).
impl ListSource for [ModuleLists] {
    fn list(&self, pos: usize, kind: ListKind) -> Cow<'_, StringList> {
        match self.get(pos) {
            Some(m) => Cow::Borrowed(m.get(kind)),
            None => Cow::Owned(StringList::new()),
        }
    }
}

/// A module's `.modinfo` lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleLists {
    pub aliases: StringList,
    pub softdeps: StringList,
    pub weakdeps: StringList,
}

impl ModuleLists {
    pub fn get(&self, kind: ListKind) -> &StringList {
        match kind {
            ListKind::Aliases => &self.aliases,
            ListKind::Softdeps => &self.softdeps,
            ListKind::Weakdeps => &self.weakdeps,
        }
    }
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

impl Rendered {
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b.as_slice())
    }
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
/// kmodtree applies for every version: kmod 30 corrupts such indexes).
pub(crate) struct CheckedIndex {
    builder: IndexBuilder,
}

impl CheckedIndex {
    pub(crate) fn new() -> Self {
        CheckedIndex {
            builder: IndexBuilder::new(),
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

    pub(crate) fn finish(&self, kmod: KmodVersion) -> Vec<u8> {
        self.builder.to_bytes(kmod.layout())
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
pub fn render_all(input: &RenderInput, opts: RenderOptions) -> Result<Rendered, BadCharacter> {
    let files = std::sync::Mutex::new(Vec::new());
    let keep = |name: &'static str, bytes: Vec<u8>| -> Result<(), std::convert::Infallible> {
        files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((name, bytes));
        Ok(())
    };
    let diags = render_each(input, opts, &keep).map_err(|e| match e {
        RenderError::BadCharacter(b) => b,
        RenderError::Sink { error, .. } => match error {},
    })?;
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
/// each one to `sink` as soon as it is rendered and keeps nothing: at most
/// one database per rendering thread is held at a time. `sink` is called from
/// several threads, in no fixed order; the diagnostics come back in
/// kmod's writing order.
///
/// After the sink fails, the remaining databases are still rendered (not
/// handed over), so that content kmod refuses is reported whatever the
/// sink did, as when everything is rendered before anything is written.
pub fn render_each<E: Send>(
    input: &RenderInput,
    opts: RenderOptions,
    sink: &(dyn Fn(&'static str, Vec<u8>) -> Result<(), E> + Sync),
) -> Result<Vec<Diagnostic>, RenderError<E>> {
    /// One thread's share: hands databases over until the sink fails.
    struct Lane<'s, E> {
        sink: &'s (dyn Fn(&'static str, Vec<u8>) -> Result<(), E> + Sync),
        failed: Option<E>,
        diags: Vec<Diagnostic>,
    }
    impl<E> Lane<'_, E> {
        fn emit(&mut self, name: &'static str, bytes: Vec<u8>) {
            if self.failed.is_none() {
                if let Err(e) = (self.sink)(name, bytes) {
                    self.failed = Some(e);
                }
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
        l.emit("modules.dep.bin", bin);
        l.emit("modules.dep", dep::modules_dep(input));
        Ok(l)
    };
    let aliases = || -> Part<E> {
        let mut l = lane();
        let bin = alias::modules_alias_bin(input, opts, &mut l.diags)?;
        l.emit("modules.alias.bin", bin);
        l.emit("modules.alias", alias::modules_alias(input));
        l.emit("modules.softdep", softdep::modules_softdep(input));
        if opts.kmod == KmodVersion::V34 {
            l.emit("modules.weakdep", softdep::modules_weakdep(input));
        }
        Ok(l)
    };
    let syms = || -> Part<E> {
        let mut l = lane();
        let bin = symbols::modules_symbols_bin(input, opts, &mut l.diags)?;
        l.emit("modules.symbols.bin", bin);
        l.emit("modules.symbols", symbols::modules_symbols(input));
        Ok(l)
    };
    let rest = || -> Part<E> {
        let mut l = lane();
        let b = builtin::modules_builtin_bin(input, opts, &mut l.diags)?;
        l.emit("modules.builtin.bin", b);
        let ba = builtin::modules_builtin_alias_bin(input, opts, &mut l.diags)?;
        l.emit("modules.builtin.alias.bin", ba);
        let dev = devname::modules_devname(input, &mut l.diags);
        l.emit("modules.devname", dev);
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

/// What `depmod -n` prints: the text databases concatenated (§8.4).
pub fn render_text_only(input: &RenderInput, opts: RenderOptions) -> (Vec<u8>, Vec<Diagnostic>) {
    let mut out = dep::modules_dep(input);
    let mut diags = Vec::new();
    out.extend(alias::modules_alias(input));
    out.extend(softdep::modules_softdep(input));
    if opts.kmod == KmodVersion::V34 {
        out.extend(softdep::modules_weakdep(input));
    }
    out.extend(symbols::modules_symbols(input));
    out.extend(devname::modules_devname(input, &mut diags));
    (out, diags)
}
