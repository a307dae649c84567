//! What depmod and modinfo take from a parsed image: its identification,
//! `.modinfo` and symbols.

use super::elf::Elf;
use super::sparse::Loaded;
use super::symbol_list::SymbolList;
use super::{ElfIdent, ModuleError, ModuleMeta};

/// What depmod and modinfo read from an image, its `.modinfo` still
/// borrowed (each caller keeps what it needs).
#[derive(Clone, Debug)]
pub struct Parts<'a> {
    pub ident: ElfIdent,
    /// The `.modinfo` section's bytes, if there is one.
    pub modinfo: Option<&'a [u8]>,
    /// The exports, or why they could not be read.
    pub exports: Result<SymbolList, ModuleError>,
    pub imports: SymbolList,
}

impl<'a> Parts<'a> {
    /// Parses a validated image.
    pub fn of(elf: &Elf<'a>) -> Parts<'a> {
        let tables = super::symbols::Tables::of(elf);
        Parts {
            ident: elf.ident(),
            modinfo: tables.modinfo.map(|s| s.data),
            exports: super::symbols::exports(elf, &tables),
            imports: super::symbols::imports(elf, &tables).unwrap_or_default(),
        }
    }

    /// Parses a sparsely read image whose file data is in `loaded`; `None`
    /// if the parser used other bytes (the result would not be the file's).
    pub(super) fn of_sparse(
        image: &'a [u8],
        loaded: &'a Loaded,
    ) -> Option<Result<Parts<'a>, ModuleError>> {
        let parts = Elf::parse_in(image, Some(loaded)).map(|e| Parts::of(&e));
        (!loaded.missed.get()).then_some(parts)
    }

    /// Everything, owned. The signature is decoded from `image` when it is
    /// given (the whole image: a sparse one has no signature).
    pub fn into_meta(self, compression: super::Compression, image: Option<&[u8]>) -> ModuleMeta {
        let (exports, exports_error) = match self.exports {
            Ok(e) => (e.to_exports(), None),
            Err(e) => (Vec::new(), Some(e)),
        };
        ModuleMeta {
            compression,
            ident: self.ident,
            modinfo: self.modinfo.map(super::modinfo::parse).unwrap_or_default(),
            has_modinfo: self.modinfo.is_some(),
            exports,
            exports_error,
            imports: self.imports.to_imports(),
            signature: image.and_then(super::signature::parse),
        }
    }
}
