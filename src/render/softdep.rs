//! `modules.softdep` and `modules.weakdep` (kmod 34).

use super::{ListKind, RenderInput};
use std::io::{self, Write};

/// Writes `header`, then `WORD MODNAME VALUE` per value, to `out`.
fn render(
    input: &RenderInput,
    header: &str,
    word: &str,
    kind: ListKind,
    out: &mut dyn Write,
) -> io::Result<()> {
    out.write_all(header.as_bytes())?;
    let mut line = Vec::new();
    for (i, m) in input.each_module() {
        for v in input.modules.list(i, kind).iter() {
            line.clear();
            line.extend_from_slice(word.as_bytes());
            line.push(b' ');
            line.extend_from_slice(m.name.as_bytes());
            line.push(b' ');
            line.extend_from_slice(v);
            line.push(b'\n');
            out.write_all(&line)?;
        }
    }
    Ok(())
}

/// Writes a header, then `softdep MODNAME VALUE`, to `out`; fails only as
/// `out` does.
pub fn modules_softdep(input: &RenderInput, out: &mut dyn Write) -> io::Result<()> {
    render(
        input,
        "# Soft dependencies extracted from modules themselves.\n",
        "softdep",
        ListKind::Softdeps,
        out,
    )
}

/// Writes a header, then `weakdep MODNAME VALUE`, to `out`; fails only as
/// `out` does.
pub fn modules_weakdep(input: &RenderInput, out: &mut dyn Write) -> io::Result<()> {
    render(
        input,
        "# Weak dependencies extracted from modules themselves.\n",
        "weakdep",
        ListKind::Weakdeps,
        out,
    )
}
