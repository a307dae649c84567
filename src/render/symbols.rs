//! `modules.symbols` and `modules.symbols.bin`.

use super::{CheckedIndex, RenderError, RenderInput, RenderOptions};
use crate::kmod::Diagnostic;

/// A header, then `alias symbol:NAME MODNAME` in symbol-hash order.
pub fn modules_symbols(input: &RenderInput) -> Vec<u8> {
    let mut out = b"# Aliases for symbols, used by symbol_request().\n".to_vec();
    for &(name, owner) in input.symbols {
        let owner = input.name_of(owner).as_bytes();
        for part in [b"alias symbol:", name, b" ", owner, b"\n"] {
            out.extend_from_slice(part);
        }
    }
    out
}

/// `symbol:NAME` → owner, priority = owner's array index.
pub fn modules_symbols_bin(
    input: &RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<u8>, RenderError> {
    let mut idx = CheckedIndex::new(
        "modules.symbols.bin",
        opts,
        Some(|k, v| format!("duplicate module syms:\n{k} {v}")),
    );
    for &(name, owner) in input.symbols {
        let key = [&b"symbol:"[..], name].concat();
        idx.insert(&key, input.name_of(owner).as_bytes(), owner)?;
    }
    idx.finish(diags)
}
