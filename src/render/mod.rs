//! Rendering: pure functions from the resolved tree to the bytes of every
//! `modules.*` database, in kmod's formats and orders (spec §8), one file per
//! database family. Nothing here touches the disk: [`crate::output`] writes
//! what [`render_all`] returns.

pub mod alias;
pub mod builtin;
pub mod dep;
pub mod devname;
pub mod softdep;
pub mod symbols;

use crate::index::{IndexBuilder, IndexTooLarge, Layout};
use crate::kmod::{Diagnostic, KmodVersion};
use crate::module::StringList;

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

/// One module as the renderers see it, at its place in kmod's module
/// array.
#[derive(Clone, Copy, Debug)]
pub struct RenderModule<'a> {
    pub name: &'a str,
    /// `P(m)`: path relative to the module directory, or absolute.
    pub db_path: &'a str,
    /// Transitive dependencies (indexes into the module array), in
    /// modules.dep order.
    pub deps: &'a [u32],
    /// The `.modinfo` lists.
    pub aliases: &'a StringList,
    pub softdeps: &'a StringList,
    pub weakdeps: &'a StringList,
}

/// A kernel-build input file: its content, or why it could not be read.
pub type InputFile = Result<Vec<u8>, std::io::Error>;

/// Everything the renderers need.
#[derive(Clone, Copy)]
pub struct RenderInput<'a> {
    /// The modules in array order.
    pub modules: &'a [RenderModule<'a>],
    /// Module-owned symbols in kmod's order, with the owner's index.
    pub symbols: &'a [(&'a [u8], u32)],
    /// The module directory as kmod prints it (for builtin warnings).
    pub dir: &'a str,
    pub builtin: &'a InputFile,
    pub builtin_modinfo: &'a InputFile,
}

impl<'a> RenderInput<'a> {
    /// `header`, then one line per value of each module's `list`, in
    /// array order: the three `words(module name, value)`.
    fn value_lines(
        &self,
        header: &str,
        list: impl Fn(&RenderModule<'a>) -> &'a StringList,
        words: impl Fn(&'a [u8], &'a [u8]) -> [&'a [u8]; 3],
    ) -> Vec<u8> {
        let mut out = header.as_bytes().to_vec();
        for m in self.modules {
            for v in list(m).iter() {
                let [a, b, c] = words(m.name.as_bytes(), v);
                for w in [a, b" ", b, b" ", c, b"\n"] {
                    out.extend_from_slice(w);
                }
            }
        }
        out
    }

    /// The name of the module at array position `pos` (empty past the
    /// end).
    fn name_of(&self, pos: u32) -> &'a str {
        self.modules.get(pos as usize).map_or("", |m| m.name)
    }
}

/// Rendering options.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderOptions {
    pub kmod: KmodVersion,
    /// `-w`: warn about duplicate index values.
    pub warn_dups: bool,
}

/// Why a database could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// An index would hold content kmod refuses (a byte ≥ 0x80).
    #[error(
        "Module index: bad character '{ch}'=0x{code:x} - only 7-bit ASCII is supported:\n{string}"
    )]
    BadCharacter { ch: char, code: u32, string: String },
    /// An index would need offsets beyond 28 bits.
    #[error("Could not write index '{name}': {source}")]
    IndexTooLarge {
        name: &'static str,
        #[source]
        source: IndexTooLarge,
    },
}

/// An index builder that refuses non-ASCII content (kmod 34's check, which
/// kmodtree applies for every version: kmod 30 corrupts such indexes) and
/// gives `-w`'s duplicate warnings in insertion order.
pub(crate) struct CheckedIndex {
    name: &'static str,
    builder: IndexBuilder,
    layout: Layout,
    /// `-w`'s words for a value already under its key (from the key and
    /// the value), when duplicates are looked for.
    duplicates: Option<fn(&str, &str) -> String>,
    /// Warnings in insertion order.
    diags: Vec<Diagnostic>,
}

impl CheckedIndex {
    /// An empty index `name` written as `opts.kmod` writes it; with
    /// `duplicates` and `-w`, a value already under its key is reported
    /// with that warning.
    pub(crate) fn new(
        name: &'static str,
        opts: RenderOptions,
        duplicates: Option<fn(&str, &str) -> String>,
    ) -> Self {
        CheckedIndex {
            name,
            builder: IndexBuilder::new(),
            layout: Layout::of(opts.kmod),
            duplicates: duplicates.filter(|_| opts.warn_dups),
            diags: Vec::new(),
        }
    }

    /// Inserts `value` under `key` with `prio`.
    pub(crate) fn insert(
        &mut self,
        key: &[u8],
        value: &[u8],
        prio: u32,
    ) -> Result<(), RenderError> {
        check_7bit(key)?;
        check_7bit(value)?;
        if self.builder.insert(key, value, prio) {
            if let Some(text) = self.duplicates {
                let lossy = String::from_utf8_lossy;
                let text = text(&lossy(key), &lossy(value));
                self.diags.push(Diagnostic::warning(text));
            }
        }
        Ok(())
    }

    /// Adds `warning` at this point of the insertions.
    pub(crate) fn warn(&mut self, warning: Diagnostic) {
        self.diags.push(warning);
    }

    /// The index's bytes; appends the warnings given while inserting to
    /// `diags`.
    pub(crate) fn finish(self, diags: &mut Vec<Diagnostic>) -> Result<Vec<u8>, RenderError> {
        diags.extend(self.diags);
        self.builder
            .try_to_bytes(self.layout)
            .map_err(|source| RenderError::IndexTooLarge {
                name: self.name,
                source,
            })
    }
}

fn check_7bit(s: &[u8]) -> Result<(), RenderError> {
    match s.iter().find(|&&b| b >= 0x80) {
        None => Ok(()),
        Some(&b) => Err(RenderError::BadCharacter {
            ch: char::from(b),
            // kmod prints (int)(char)ch: sign-extended.
            code: b as i8 as i32 as u32,
            string: String::from_utf8_lossy(s).into_owned(),
        }),
    }
}

/// A database's renderer: its bytes; its diagnostics are appended to the
/// vector.
type Renderer =
    fn(&RenderInput, RenderOptions, &mut Vec<Diagnostic>) -> Result<Vec<u8>, RenderError>;

/// Every database and its renderer, in four lanes rendered in parallel,
/// each lane's indexes first: their builders' peak then holds none of the
/// text databases. Within each lane this is kmod's order of the warnings.
const LANES: [&[(&str, Renderer)]; 4] = [
    &[
        ("modules.dep.bin", dep::modules_dep_bin),
        ("modules.dep", |i, _, _| Ok(dep::modules_dep(i))),
    ],
    &[
        ("modules.alias.bin", alias::modules_alias_bin),
        ("modules.alias", |i, _, _| Ok(alias::modules_alias(i))),
        ("modules.softdep", |i, _, _| Ok(softdep::modules_softdep(i))),
        ("modules.weakdep", |i, _, _| Ok(softdep::modules_weakdep(i))),
    ],
    &[
        ("modules.symbols.bin", symbols::modules_symbols_bin),
        ("modules.symbols", |i, _, _| Ok(symbols::modules_symbols(i))),
    ],
    &[
        ("modules.builtin.bin", builtin::modules_builtin_bin),
        (
            "modules.builtin.alias.bin",
            builtin::modules_builtin_alias_bin,
        ),
        ("modules.devname", |i, _, d| {
            Ok(devname::modules_devname(i, d))
        }),
    ],
];

/// Databases' names and bytes.
pub type Databases = Vec<(&'static str, Vec<u8>)>;

/// Every database kmod writes, in its order (§8.1, [`DATABASE_FILES`]), or
/// with `text_only` those `depmod -n` prints (§8.4), with the diagnostics
/// kmod prints while writing them, lane after lane: in kmod's order. The
/// first error in that order is the one kmod would report.
pub fn render_all(
    input: &RenderInput,
    opts: RenderOptions,
    text_only: bool,
) -> Result<(Databases, Vec<Diagnostic>), RenderError> {
    use rayon::prelude::*;
    let wanted = |name: &str| {
        (opts.kmod == KmodVersion::V34 || name != "modules.weakdep")
            && !(text_only && name.ends_with(".bin"))
    };
    let lanes: Vec<_> = (LANES.par_iter().with_max_len(1))
        .map(|lane| {
            let mut d = Vec::new();
            let files = (lane.iter().filter(|(name, _)| wanted(name)))
                .map(|&(name, render)| Ok((name, render(input, opts, &mut d)?)))
                .collect::<Result<Vec<_>, RenderError>>();
            files.map(|files| (files, d))
        })
        .collect();
    let (mut all_files, mut all_diags) = (Vec::new(), Vec::new());
    for lane in lanes {
        let (files, diags) = lane?;
        all_files.extend(files);
        all_diags.extend(diags);
    }
    all_files.sort_by_key(|&(name, _)| DATABASE_FILES.iter().position(|&n| n == name));
    Ok((all_files, all_diags))
}
