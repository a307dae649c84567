//! `modules.dep` and `modules.dep.bin`.

use super::{BadCharacter, CheckedIndex, RenderInput, RenderOptions};
use crate::tree::Diagnostic;

/// `P(m): P(dep)...` per module in array order.
pub fn modules_dep(input: &RenderInput) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.modules.len() * 64);
    for m in &input.modules {
        out.extend_from_slice(m.db_path.as_bytes());
        out.push(b':');
        for &d in m.deps {
            out.push(b' ');
            out.extend_from_slice(input.modules[d as usize].db_path.as_bytes());
        }
        out.push(b'\n');
    }
    out
}

/// Module name → its modules.dep line, priority = array index. `text` is
/// the rendered modules.dep (its lines are the values).
pub fn modules_dep_bin(
    input: &RenderInput,
    opts: RenderOptions,
    text: &[u8],
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<u8>, BadCharacter> {
    let mut idx = CheckedIndex::new();
    for (i, (m, line)) in input
        .modules
        .iter()
        .zip(text.split(|&b| b == b'\n'))
        .enumerate()
    {
        if idx.insert(m.name.as_bytes(), line, i as u32)? && opts.warn_dups {
            diags.push(Diagnostic::warning(format!(
                "duplicate module deps:\n{}",
                String::from_utf8_lossy(line)
            )));
        }
    }
    Ok(idx.finish(opts.kmod))
}
