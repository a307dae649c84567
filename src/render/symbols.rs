//! `modules.symbols` and `modules.symbols.bin`.

use super::{BadCharacter, CheckedIndex, RenderInput, RenderOptions};
use crate::tree::Diagnostic;

/// Header, then `alias symbol:NAME MODNAME` in symbol-hash order.
pub fn modules_symbols(input: &RenderInput) -> Vec<u8> {
    let mut out = b"# Aliases for symbols, used by symbol_request().\n".to_vec();
    for &(name, owner) in &input.symbols {
        out.extend_from_slice(b"alias symbol:");
        out.extend_from_slice(name);
        out.push(b' ');
        out.extend_from_slice(input.modules[owner as usize].name.as_bytes());
        out.push(b'\n');
    }
    out
}

/// `symbol:NAME` → owner, priority = owner's array index.
pub fn modules_symbols_bin(
    input: &RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<u8>, BadCharacter> {
    let mut idx = CheckedIndex::new();
    let mut key = Vec::new();
    for &(name, owner) in &input.symbols {
        key.clear();
        key.extend_from_slice(b"symbol:");
        key.extend_from_slice(name);
        let owner_name = input.modules[owner as usize].name;
        if idx.insert(&key, owner_name.as_bytes(), owner)? && opts.warn_dups {
            diags.push(Diagnostic::warning(format!(
                "duplicate module syms:\n{} {owner_name}",
                String::from_utf8_lossy(&key)
            )));
        }
    }
    Ok(idx.finish(opts.kmod))
}
