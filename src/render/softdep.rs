//! `modules.softdep` and `modules.weakdep` (kmod 34).

use super::{ListKind, RenderInput};

fn render(input: &RenderInput, header: &str, word: &str, kind: ListKind) -> Vec<u8> {
    let mut out = header.as_bytes().to_vec();
    for (i, m) in input.modules.iter().enumerate() {
        for v in input.lists.list(i, kind).iter() {
            out.extend_from_slice(word.as_bytes());
            out.push(b' ');
            out.extend_from_slice(m.name.as_bytes());
            out.push(b' ');
            out.extend_from_slice(v);
            out.push(b'\n');
        }
    }
    out
}

/// Header, then `softdep MODNAME VALUE`.
pub fn modules_softdep(input: &RenderInput) -> Vec<u8> {
    render(
        input,
        "# Soft dependencies extracted from modules themselves.\n",
        "softdep",
        ListKind::Softdeps,
    )
}

/// Header, then `weakdep MODNAME VALUE`.
pub fn modules_weakdep(input: &RenderInput) -> Vec<u8> {
    render(
        input,
        "# Weak dependencies extracted from modules themselves.\n",
        "weakdep",
        ListKind::Weakdeps,
    )
}
