//! `modules.softdep` and `modules.weakdep` (kmod 34).

use super::{RenderInput, RenderModule};
use crate::module::StringList;

/// `header`, then `WORD MODNAME VALUE` per value of each module's `list`.
fn render<'a>(
    input: &RenderInput<'a>,
    header: &str,
    word: &str,
    list: impl Fn(&RenderModule<'a>) -> &'a StringList,
) -> Vec<u8> {
    let mut out = header.as_bytes().to_vec();
    for (_, m) in input.each_module() {
        for v in list(m).iter() {
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

/// A header, then `softdep MODNAME VALUE`.
pub fn modules_softdep(input: &RenderInput) -> Vec<u8> {
    render(
        input,
        "# Soft dependencies extracted from modules themselves.\n",
        "softdep",
        |m| m.softdeps,
    )
}

/// A header, then `weakdep MODNAME VALUE`.
pub fn modules_weakdep(input: &RenderInput) -> Vec<u8> {
    render(
        input,
        "# Weak dependencies extracted from modules themselves.\n",
        "weakdep",
        |m| m.weakdeps,
    )
}
