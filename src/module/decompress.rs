//! Decompression of module images, detected by magic bytes (spec §5.1).
//!
//! * The format is chosen from the first bytes, never from the file name:
//!   zstd `28 B5 2F FD`, xz `FD 37 7A 58 5A 00`, gzip `1F 8B`, else plain.
//! * A file shorter than 6 bytes is refused ([`ModuleError::TooShort`],
//!   `EINVAL` as in kmod), whatever its content.
//! * Output is bounded by [`Limits::max_image_size`]: no decoder writes past
//!   `limit + 1` bytes, so a decompression bomb costs at most the limit in
//!   memory before it is refused with [`ModuleError::TooLarge`].
//! * Error texts follow kmod 34 where kmod has its own (xz: the message after
//!   `xz: `; zstd: `Failed to determine decompression size` or libzstd's
//!   error name); gzip errors use the decoder's own text.

use super::{Compression, Limits, ModuleError};
use std::borrow::Cow;
use std::io::Read;

const ZSTD_MAGIC: &[u8] = &[0x28, 0xB5, 0x2F, 0xFD];
const XZ_MAGIC: &[u8] = &[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];
const GZIP_MAGIC: &[u8] = &[0x1F, 0x8B];

/// The smallest file kmod accepts: it reads 6 magic bytes first.
const MIN_FILE_SIZE: usize = 6;

/// Detects the compression of a module file from its first bytes.
pub fn detect(data: &[u8]) -> Compression {
    if data.starts_with(ZSTD_MAGIC) {
        Compression::Zstd
    } else if data.starts_with(XZ_MAGIC) {
        Compression::Xz
    } else if data.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else {
        Compression::None
    }
}

/// Returns the compression found and the plain image. A plain file is
/// borrowed, not copied.
pub fn decompress<'a>(
    data: &'a [u8],
    limits: &Limits,
) -> Result<(Compression, Cow<'a, [u8]>), ModuleError> {
    let mut out = Vec::new();
    match decompress_into(data, limits, &mut out)? {
        Compression::None => Ok((Compression::None, Cow::Borrowed(data))),
        c => Ok((c, Cow::Owned(out))),
    }
}

/// Like [`decompress`], but a compressed image is written into `out`
/// (cleared first), so a caller reading many modules can reuse one buffer
/// instead of faulting in fresh pages for every image. For a plain image
/// `out` is left empty and `data` itself is the image.
pub fn decompress_into(
    data: &[u8],
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<Compression, ModuleError> {
    out.clear();
    if data.len() < MIN_FILE_SIZE {
        return Err(ModuleError::TooShort(data.len() as u64));
    }
    let limit = limits.max_image_size;
    let compression = detect(data);
    match compression {
        Compression::None => {
            if data.len() as u64 > limit {
                return Err(ModuleError::TooLarge { limit });
            }
        }
        Compression::Xz => decompress_xz(data, limit, out)?,
        Compression::Zstd => decompress_zstd(data, limit, out)?,
        Compression::Gzip => decompress_gzip(data, limit, out)?,
    }
    Ok(compression)
}

/// The capacity to allocate first for an image expected to expand by about
/// `ratio` over `input_len`, never more than the cap.
fn initial_capacity(input_len: usize, ratio: usize, cap: u64) -> usize {
    let guess = input_len.saturating_mul(ratio).max(64 * 1024) as u64;
    guess.min(cap) as usize
}

/// The largest output a decoder may produce: one byte past the limit, so
/// that "exactly at the limit" and "over the limit" can be told apart.
fn output_cap(limit: u64) -> u64 {
    limit.saturating_add(1).min(isize::MAX as u64)
}

/// kmod 34's text for a liblzma error (`xz_uncompress_belch`).
fn xz_error_text(err: liblzma::stream::Error) -> &'static str {
    use liblzma::stream::Error;
    match err {
        Error::Mem => "Cannot allocate memory",
        Error::Format => "File format not recognized",
        Error::Options => "Unsupported compression options",
        Error::Data => "File is corrupt",
        // kmod decodes without a memory limit, so it never sees this one;
        // ours guards against absurd dictionary sizes.
        Error::MemLimit => "Memory usage limit reached",
        _ => "Internal error (bug)",
    }
}

/// The same text kmod prints for `LZMA_BUF_ERROR`.
const XZ_TRUNCATED: &str = "Unexpected end of input";

fn xz_err(reason: &str) -> ModuleError {
    ModuleError::Decompress {
        format: Compression::Xz,
        reason: reason.to_string(),
    }
}

/// Decodes one or more concatenated .xz streams (kmod uses
/// `LZMA_CONCATENATED`), keeping the integrity check: a corrupt stream must
/// be reported, not silently decoded.
fn decompress_xz(data: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), ModuleError> {
    use liblzma::stream::{Action, Status, Stream, CONCATENATED};

    // Kernel modules use 1 MiB dictionaries (at most a few MiB); refuse
    // headers asking for far more memory than any sane module needs.
    let memlimit = limit.max(256 << 20);
    let mut stream =
        Stream::new_stream_decoder(memlimit, CONCATENATED).map_err(|e| xz_err(xz_error_text(e)))?;
    let cap = output_cap(limit);
    // Modules compress by about 3-4x with xz.
    out.reserve(initial_capacity(data.len(), 4, cap));
    loop {
        let consumed = stream.total_in() as usize;
        let input = data.get(consumed..).unwrap_or(&[]);
        if out.len() == out.capacity() {
            if out.len() as u64 >= cap {
                return Err(ModuleError::TooLarge { limit });
            }
            let room = (cap - out.len() as u64).min(out.len().max(64 * 1024) as u64);
            out.reserve_exact(room as usize);
        }
        let before_in = stream.total_in();
        let before_out = stream.total_out();
        match stream.process_vec(input, out, Action::Finish) {
            Ok(Status::StreamEnd) => break,
            Ok(Status::Ok) | Ok(Status::GetCheck) => {
                if stream.total_in() == before_in
                    && stream.total_out() == before_out
                    && out.len() < out.capacity()
                {
                    // No progress with room left and all input given:
                    // the stream ends early.
                    return Err(xz_err(XZ_TRUNCATED));
                }
            }
            // LZMA_BUF_ERROR: no progress possible.
            Ok(Status::MemNeeded) => {
                if out.len() < out.capacity() {
                    return Err(xz_err(XZ_TRUNCATED));
                }
            }
            Err(e) => return Err(xz_err(xz_error_text(e))),
        }
    }
    if out.len() as u64 > limit {
        return Err(ModuleError::TooLarge { limit });
    }
    Ok(())
}

fn zstd_err(reason: &str) -> ModuleError {
    ModuleError::Decompress {
        format: Compression::Zstd,
        reason: reason.to_string(),
    }
}

/// Decodes a zstd image the way kmod 34 does: the first frame must declare
/// its content size (non-zero), and the whole input is decoded into exactly
/// that many bytes.
fn decompress_zstd(data: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), ModuleError> {
    use zstd::zstd_safe;
    let size = match zstd_safe::get_frame_content_size(data) {
        Ok(Some(n)) if n > 0 => n,
        _ => return Err(zstd_err("Failed to determine decompression size")),
    };
    if size > limit {
        return Err(ModuleError::TooLarge { limit });
    }
    let size = usize::try_from(size).map_err(|_| ModuleError::TooLarge { limit })?;
    out.try_reserve_exact(size)
        .map_err(|_| zstd_err("Cannot allocate memory"))?;
    // Decode into exactly `size` bytes, not into whatever capacity a
    // reused buffer has: with more room, a frame holding more than it
    // declares would decode (or fail differently) depending on the module
    // read before it.
    out.resize(size, 0);
    match zstd_safe::decompress(&mut out[..], data) {
        Ok(n) => {
            out.truncate(n);
            Ok(())
        }
        Err(code) => {
            out.clear();
            Err(zstd_err(zstd_safe::get_error_name(code)))
        }
    }
}

/// Decodes gzip (several members are concatenated, as zlib's `gzread`
/// does), reading at most `limit + 1` bytes of output.
fn decompress_gzip(data: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), ModuleError> {
    let cap = output_cap(limit);
    let decoder = flate2::read::MultiGzDecoder::new(data);
    out.reserve(initial_capacity(data.len(), 4, cap));
    match decoder.take(cap).read_to_end(out) {
        Ok(_) => {}
        Err(e) => {
            let reason = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                // zlib's gzerror() text for a truncated member.
                "unexpected end of file".to_string()
            } else {
                e.to_string()
            };
            return Err(ModuleError::Decompress {
                format: Compression::Gzip,
                reason,
            });
        }
    }
    if out.len() as u64 > limit {
        return Err(ModuleError::TooLarge { limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_magic() {
        assert_eq!(detect(&[0x28, 0xB5, 0x2F, 0xFD, 0, 0]), Compression::Zstd);
        assert_eq!(detect(XZ_MAGIC), Compression::Xz);
        assert_eq!(detect(&[0x1F, 0x8B, 8, 0, 0, 0]), Compression::Gzip);
        assert_eq!(detect(b"\x7fELF\x02\x01"), Compression::None);
        // xz magic needs all six bytes.
        assert_eq!(
            detect(&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x01]),
            Compression::None
        );
    }

    #[test]
    fn short_files_fail_before_detection() {
        let l = Limits::default();
        assert_eq!(decompress(b"", &l).unwrap_err(), ModuleError::TooShort(0));
        assert_eq!(
            decompress(&[0x1F, 0x8B, 8], &l).unwrap_err(),
            ModuleError::TooShort(3)
        );
    }

    #[test]
    fn plain_is_borrowed_and_capped() {
        let data = b"\x7fELF\x02\x01 some bytes";
        let (c, img) = decompress(data, &Limits::default()).unwrap();
        assert_eq!(c, Compression::None);
        assert!(matches!(img, Cow::Borrowed(_)));
        let small = Limits { max_image_size: 8 };
        assert_eq!(
            decompress(data, &small).unwrap_err(),
            ModuleError::TooLarge { limit: 8 }
        );
    }
}
