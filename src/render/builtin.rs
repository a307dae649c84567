//! `modules.builtin.bin` and `modules.builtin.alias.bin`, from the kernel's
//! `modules.builtin` and `modules.builtin.modinfo`.

use super::alias::normalized_alias;
use super::{CheckedIndex, RenderError, RenderInput, RenderOptions};
use crate::kmod::{strerror, Diagnostic};
use crate::tree::builtin::{builtin_aliases, builtin_keys};

/// One key per valid `modules.builtin` line, empty value, priority 0; nothing
/// (a 0-byte file) for a missing input.
pub fn modules_builtin_bin(
    input: &RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<u8>, RenderError> {
    let data = match input.builtin {
        Ok(d) => d,
        Err(e) => return Ok(missing("modules.builtin", input.dir, e, diags)),
    };
    let (keys, errs) = builtin_keys(data);
    diags.extend(errs);
    let mut idx = CheckedIndex::new("modules.builtin.bin", opts, None);
    for k in keys {
        idx.insert(&k, b"", 0)?;
    }
    idx.finish(diags)
}

/// Normalised builtin alias → builtin module name, priority 0; nothing (a
/// 0-byte file) for a missing input.
pub fn modules_builtin_alias_bin(
    input: &RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<u8>, RenderError> {
    let data = match input.builtin_modinfo {
        Ok(d) => d,
        Err(e) => return Ok(missing("modules.builtin.modinfo", input.dir, e, diags)),
    };
    let mut idx = CheckedIndex::new("modules.builtin.alias.bin", opts, None);
    for (alias, module) in builtin_aliases(data) {
        match normalized_alias(&alias) {
            Ok(key) => idx.insert(&key, &module, 0)?,
            Err(w) => diags.push(w),
        }
    }
    idx.finish(diags)
}

/// kmod's warning for an input that could not be read; its index is a
/// 0-byte file.
fn missing(name: &str, dir: &str, e: &std::io::Error, diags: &mut Vec<Diagnostic>) -> Vec<u8> {
    let text = format!("could not open {name} at {dir}: {}", strerror(e));
    diags.push(Diagnostic::warning(text));
    Vec::new()
}
