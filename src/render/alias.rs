//! `modules.alias` and `modules.alias.bin`.

use super::{BadCharacter, CheckedIndex, ListKind, RenderInput, RenderOptions};
use crate::index::normalize_alias;
use crate::tree::Diagnostic;

/// Header, then `alias VALUE MODNAME` per alias (values verbatim).
pub fn modules_alias(input: &RenderInput) -> Vec<u8> {
    let mut out = b"# Aliases extracted from modules themselves.\n".to_vec();
    for (i, m) in input.modules.iter().enumerate() {
        for a in input.lists.list(i, ListKind::Aliases).iter() {
            out.extend_from_slice(b"alias ");
            out.extend_from_slice(a);
            out.push(b' ');
            out.extend_from_slice(m.name.as_bytes());
            out.push(b'\n');
        }
    }
    out
}

/// Normalised alias → module name, priority = array index; aliases with
/// unmatched brackets are left out with kmod's warning.
pub fn modules_alias_bin(
    input: &RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<u8>, BadCharacter> {
    let mut idx = CheckedIndex::new();
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
    Ok(idx.finish(opts.kmod))
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
