//! `modules.dep` and `modules.dep.bin`.

use super::{BadCharacter, CheckedIndex, RenderInput, RenderModule, RenderOptions};
use crate::tree::Diagnostic;

/// `P(m): P(dep)...` per module in array order.
pub fn modules_dep(input: &RenderInput) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.modules.len() * 64);
    for m in &input.modules {
        push_dep_line(input, m, &mut out);
        out.push(b'\n');
    }
    out
}

/// `m`'s modules.dep line, without its newline.
fn push_dep_line(input: &RenderInput, m: &RenderModule, out: &mut Vec<u8>) {
    out.extend_from_slice(m.db_path.as_bytes());
    out.push(b':');
    for &d in m.deps {
        out.push(b' ');
        out.extend_from_slice(input.modules[d as usize].db_path.as_bytes());
    }
}

/// Module name → its modules.dep line, priority = array index. The lines
/// are rendered one at a time, not taken from a rendered modules.dep.
pub fn modules_dep_bin(
    input: &RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<u8>, BadCharacter> {
    let mut idx = CheckedIndex::new();
    let mut line = Vec::new();
    for (i, m) in input.modules.iter().enumerate() {
        line.clear();
        push_dep_line(input, m, &mut line);
        if idx.insert(m.name.as_bytes(), &line, i as u32)? && opts.warn_dups {
            diags.push(Diagnostic::warning(format!(
                "duplicate module deps:\n{}",
                String::from_utf8_lossy(&line)
            )));
        }
    }
    Ok(idx.finish(opts.kmod))
}
