//! `modules.dep` and `modules.dep.bin`.

use super::{
    BadCharacter, CheckedIndex, DuplicateWarning, RenderInput, RenderModule, RenderOptions,
};
use crate::index::BuiltIndex;
use crate::kmod::Diagnostic;
use std::io::{self, Write};

/// Writes `P(m): P(dep)...` per module in array order to `out`; fails only
/// as `out` does.
pub fn modules_dep(input: &RenderInput, out: &mut dyn Write) -> io::Result<()> {
    let mut line = Vec::new();
    for (_, m) in input.each_module() {
        line.clear();
        push_dep_line(input, &m, &mut line);
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(())
}

/// Appends `m`'s modules.dep line, without its newline, to `out`.
fn push_dep_line(input: &RenderInput, m: &RenderModule, out: &mut Vec<u8>) {
    out.extend_from_slice(m.db_path.as_bytes());
    out.push(b':');
    for &d in m.deps {
        out.push(b' ');
        out.extend_from_slice(input.modules.module(d as usize).db_path.as_bytes());
    }
}

/// Module name → its modules.dep line, priority = array index.
pub fn modules_dep_bin(
    input: &RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<BuiltIndex, BadCharacter> {
    let mut idx = CheckedIndex::new(opts.kmod, opts.warn_dups.then_some(DuplicateWarning::Deps));
    let mut line = Vec::new();
    for (i, m) in input.each_module() {
        line.clear();
        push_dep_line(input, &m, &mut line);
        idx.insert(m.name.as_bytes(), &line, i as u32)?;
    }
    Ok(idx.finish(diags))
}
