//! `modules.symbols` and `modules.symbols.bin`.

use super::{CheckedIndex, DuplicateWarning, RenderError, RenderInput, RenderOptions};
use crate::kmod::Diagnostic;

/// A header, then `alias symbol:NAME MODNAME` in symbol-hash order.
pub fn modules_symbols(input: &RenderInput) -> Vec<u8> {
    let mut out = b"# Aliases for symbols, used by symbol_request().\n".to_vec();
    for &(name, owner) in input.symbols {
        out.extend_from_slice(b"alias symbol:");
        out.extend_from_slice(name);
        out.push(b' ');
        out.extend_from_slice(input.name_of(owner).as_bytes());
        out.push(b'\n');
    }
    out
}

/// `symbol:NAME` → owner, priority = owner's array index.
pub fn modules_symbols_bin(
    input: &RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<u8>, RenderError> {
    let mut idx = CheckedIndex::new("modules.symbols.bin", opts, Some(DuplicateWarning::Syms));
    let mut key = Vec::new();
    for &(name, owner) in input.symbols {
        key.clear();
        key.extend_from_slice(b"symbol:");
        key.extend_from_slice(name);
        idx.insert(&key, input.name_of(owner).as_bytes(), owner)?;
    }
    idx.finish(diags)
}
