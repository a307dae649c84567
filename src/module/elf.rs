//! Bounds-checked ELF reading for any class and byte order (spec §5.2).

use super::{ModuleError, ModuleMeta};

/// Parses a plain (decompressed) module image.
pub fn parse_image(_image: &[u8]) -> Result<ModuleMeta, ModuleError> {
    Err(ModuleError::BadElf("not implemented".into()))
}
