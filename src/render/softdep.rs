//! `modules.softdep` and `modules.weakdep` (kmod 34).

use super::RenderInput;

/// A header, then `softdep MODNAME VALUE`.
pub fn modules_softdep(input: &RenderInput) -> Vec<u8> {
    let header = "# Soft dependencies extracted from modules themselves.\n";
    input.value_lines(header, |m| m.softdeps, |name, v| [b"softdep", name, v])
}

/// A header, then `weakdep MODNAME VALUE`.
pub fn modules_weakdep(input: &RenderInput) -> Vec<u8> {
    let header = "# Weak dependencies extracted from modules themselves.\n";
    input.value_lines(header, |m| m.weakdeps, |name, v| [b"weakdep", name, v])
}
