//! `modules.dep` and `modules.dep.bin`.

use super::{CheckedIndex, RenderError, RenderInput, RenderModule, RenderOptions};
use crate::kmod::Diagnostic;

/// `P(m): P(dep)...` per module in array order.
pub fn modules_dep(input: &RenderInput) -> Vec<u8> {
    let mut out = Vec::new();
    for m in input.modules {
        push_dep_line(input, m, &mut out);
        out.push(b'\n');
    }
    out
}

/// Appends `m`'s modules.dep line, without its newline, to `out`.
fn push_dep_line(input: &RenderInput, m: &RenderModule, out: &mut Vec<u8>) {
    out.extend_from_slice(m.db_path.as_bytes());
    out.push(b':');
    for &d in m.deps {
        out.push(b' ');
        let path = input.modules.get(d as usize).map_or("", |m| m.db_path);
        out.extend_from_slice(path.as_bytes());
    }
}

/// Module name → its modules.dep line, priority = array index.
pub fn modules_dep_bin(
    input: &RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<u8>, RenderError> {
    let mut idx = CheckedIndex::new(
        "modules.dep.bin",
        opts,
        Some(|_, v| format!("duplicate module deps:\n{v}")),
    );
    let mut line = Vec::new();
    for (i, m) in input.modules.iter().enumerate() {
        line.clear();
        push_dep_line(input, m, &mut line);
        idx.insert(m.name.as_bytes(), &line, i as u32)?;
    }
    idx.finish(diags)
}
