//! `modules.alias` and `modules.alias.bin`.

use super::{BadCharacter, CheckedIndex, ListKind, RenderInput, RenderOptions};
use crate::index::normalize_alias;
use crate::tree::Diagnostic;
use std::io::{self, Write};

/// Writes a header, then `alias VALUE MODNAME` per alias (values
/// verbatim), to `out`; fails only as `out` does.
pub fn modules_alias(input: &RenderInput, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"# Aliases extracted from modules themselves.\n")?;
    let mut line = Vec::new();
    for (i, m) in input.modules.iter().enumerate() {
        for a in input.lists.list(i, ListKind::Aliases).iter() {
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
) -> Result<CheckedIndex<'static>, BadCharacter> {
    let mut idx = CheckedIndex::new(opts.kmod);
    for (i, m) in input.modules.iter().enumerate() {
        for a in input.lists.list(i, ListKind::Aliases).iter() {
            let Some(key) = normalized_or_warn(a, diags) else {
                continue;
            };
            if idx.insert(&key, m.name.as_bytes(), i as u32)? && opts.warn_dups {
                diags.push(Diagnostic::warning(format!(
                    "duplicate module alias:\n{} {}",
                    String::from_utf8_lossy(&key),
                    m.name
                )));
            }
        }
    }
    Ok(idx)
}

/// The index key of an alias, or None with kmod's warning.
pub(crate) fn normalized_or_warn(alias: &[u8], diags: &mut Vec<Diagnostic>) -> Option<Vec<u8>> {
    let key = normalize_alias(alias);
    if key.is_none() {
        diags.push(Diagnostic::warning(format!(
            "Unmatched bracket in {}",
            String::from_utf8_lossy(alias)
        )));
    }
    key
}
