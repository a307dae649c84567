//! `modules.alias` and `modules.alias.bin`.

use super::{BadCharacter, CheckedIndex, DuplicateWarning, ListKind, RenderInput, RenderOptions};
use crate::index::{normalize_alias, BuiltIndex};
use crate::kmod::Diagnostic;
use std::io::{self, Write};

/// Writes a header, then `alias VALUE MODNAME` per alias (values
/// verbatim), to `out`; fails only as `out` does.
pub fn modules_alias(input: &RenderInput, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"# Aliases extracted from modules themselves.\n")?;
    let mut line = Vec::new();
    for (i, m) in input.each_module() {
        for a in input.modules.list(i, ListKind::Aliases).iter() {
            line.clear();
            line.extend_from_slice(b"alias ");
            line.extend_from_slice(a);
            line.push(b' ');
            line.extend_from_slice(m.name.as_bytes());
            line.push(b'\n');
            out.write_all(&line)?;
        }
    }
    Ok(())
}

/// Normalised alias → module name, priority = array index; aliases with
/// unmatched brackets are left out with kmod's warning.
pub fn modules_alias_bin(
    input: &RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<BuiltIndex, BadCharacter> {
    let mut idx = CheckedIndex::new(opts.kmod, opts.warn_dups.then_some(DuplicateWarning::Alias));
    for (i, m) in input.each_module() {
        for a in input.modules.list(i, ListKind::Aliases).iter() {
            match normalized_alias(a) {
                Ok(key) => idx.insert(&key, m.name.as_bytes(), i as u32)?,
                Err(w) => idx.warn(w),
            }
        }
    }
    Ok(idx.finish(diags))
}

/// The index key of an alias, or kmod's warning for an alias with
/// unmatched brackets.
pub(crate) fn normalized_alias(alias: &[u8]) -> Result<Vec<u8>, Diagnostic> {
    normalize_alias(alias).ok_or_else(|| {
        Diagnostic::warning(format!(
            "Unmatched bracket in {}",
            String::from_utf8_lossy(alias)
        ))
    })
}
