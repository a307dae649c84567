//! `modules.dep` and `modules.dep.bin`.

use super::{BadCharacter, CheckedIndex, RenderInput, RenderModule, RenderOptions};
use crate::tree::Diagnostic;
use std::io::{self, Write};

/// Writes `P(m): P(dep)...` per module in array order to `out`; fails only
/// as `out` does.
pub fn modules_dep(input: &RenderInput, out: &mut dyn Write) -> io::Result<()> {
    let mut line = Vec::new();
    for m in &input.modules {
        line.clear();
        push_dep_line(input, m, &mut line);
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
        out.extend_from_slice(input.modules[d as usize].db_path.as_bytes());
    }
}

/// Module name → its modules.dep line, priority = array index. The lines
/// are not kept in the index: each value is an external one, the module's
/// array index, whose line is rendered again when the index is written.
///
/// Comparing ids finds the same duplicates as comparing the lines: two
/// different modules never have the same line, as it starts with the
/// module's path and no two modules have the same path.
pub fn modules_dep_bin<'a>(
    input: &'a RenderInput,
    opts: RenderOptions,
    diags: &mut Vec<Diagnostic>,
) -> Result<CheckedIndex<'a>, BadCharacter> {
    let mut idx = CheckedIndex::with_external(opts.kmod, |id, out| {
        push_dep_line(input, &input.modules[id as usize], out)
    });
    let mut line = Vec::new();
    for (i, m) in input.modules.iter().enumerate() {
        line.clear();
        push_dep_line(input, m, &mut line);
        if idx.insert_external(m.name.as_bytes(), i as u32, &line, i as u32)? && opts.warn_dups {
            diags.push(Diagnostic::warning(format!(
                "duplicate module deps:\n{}",
                String::from_utf8_lossy(&line)
            )));
        }
    }
    Ok(idx)
}
