//! `modules.symbols` and `modules.symbols.bin`.

use super::{BadCharacter, CheckedIndex, DuplicateWarning, RenderInput, RenderOptions};
use crate::index::BuiltIndex;
use crate::kmod::Diagnostic;
use std::io::{self, Write};

/// Writes a header, then `alias symbol:NAME MODNAME` in symbol-hash
/// order, to `out`; fails only as `out` does.
pub fn modules_symbols(input: &RenderInput, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"# Aliases for symbols, used by symbol_request().\n")?;
    let mut line = Vec::new();
    for &(name, owner) in input.symbols {
        line.clear();
        line.extend_from_slice(b"alias symbol:");
        line.extend_from_slice(name);
        line.push(b' ');
        line.extend_from_slice(input.modules.module(owner as usize).name.as_bytes());
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(())
}

/// `symbol:NAME` → owner, priority = owner's array index.
pub fn modules_symbols_bin(
    input: &RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<BuiltIndex, BadCharacter> {
    let mut idx = CheckedIndex::new(opts.kmod, opts.warn_dups.then_some(DuplicateWarning::Syms));
    let mut key = Vec::new();
    for &(name, owner) in input.symbols {
        key.clear();
        key.extend_from_slice(b"symbol:");
        key.extend_from_slice(name);
        let owner_name = input.modules.module(owner as usize).name;
        idx.insert(&key, owner_name.as_bytes(), owner)?;
    }
    Ok(idx.finish(diags))
}
