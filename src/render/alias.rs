//! `modules.alias` and `modules.alias.bin`.

use super::{CheckedIndex, RenderError, RenderInput, RenderOptions};
use crate::index::normalize_alias;
use crate::kmod::Diagnostic;

/// A header, then `alias VALUE MODNAME` per alias (values verbatim).
pub fn modules_alias(input: &RenderInput) -> Vec<u8> {
    let header = "# Aliases extracted from modules themselves.\n";
    input.value_lines(header, |m| m.aliases, |name, a| [b"alias", a, name])
}

/// Normalised alias → module name, priority = array index; aliases with
/// unmatched brackets are left out with kmod's warning.
pub fn modules_alias_bin(
    input: &RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<u8>, RenderError> {
    let mut idx = CheckedIndex::new(
        "modules.alias.bin",
        opts,
        Some(|k, v| format!("duplicate module alias:\n{k} {v}")),
    );
    for (i, m) in input.modules.iter().enumerate() {
        for a in m.aliases.iter() {
            match normalized_alias(a) {
                Ok(key) => idx.insert(&key, m.name.as_bytes(), i as u32)?,
                Err(w) => idx.warn(w),
            }
        }
    }
    idx.finish(diags)
}

/// The index key of an alias, or kmod's warning for an alias with
/// unmatched brackets.
pub(crate) fn normalized_alias(alias: &[u8]) -> Result<Vec<u8>, Diagnostic> {
    let text = || format!("Unmatched bracket in {}", String::from_utf8_lossy(alias));
    normalize_alias(alias).ok_or_else(|| Diagnostic::warning(text()))
}
