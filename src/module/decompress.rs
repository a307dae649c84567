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

use super::{Compression, DecodeReason, Limits, ModuleError};
use std::borrow::Cow;
use std::io::Read;
use zstd::bulk::Compressor;

const ZSTD_MAGIC: &[u8] = &[0x28, 0xB5, 0x2F, 0xFD];
const XZ_MAGIC: &[u8] = &[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];
const GZIP_MAGIC: &[u8] = &[0x1F, 0x8B];

/// The smallest file kmod accepts: it reads 6 magic bytes first.
const MIN_FILE_SIZE: usize = 6;

/// Detects the compression of a module file from its first bytes.
pub fn detect(data: &[u8]) -> Compression {
    [
        (ZSTD_MAGIC, Compression::Zstd),
        (XZ_MAGIC, Compression::Xz),
        (GZIP_MAGIC, Compression::Gzip),
    ]
    .into_iter()
    .find(|(magic, _)| data.starts_with(magic))
    .map_or(Compression::None, |(_, c)| c)
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
    let compression = detect(data);
    if compression == Compression::None {
        let limit = limits.max_image_size;
        if data.len() as u64 > limit {
            return Err(ModuleError::TooLarge { limit });
        }
        return Ok(compression);
    }
    let len = data.len() as u64;
    decode_capped(len, limits, out, |cap, out| match compression {
        Compression::Xz => {
            let hint = xz_size_hint(data);
            // Input held in memory cannot fail to be read.
            let io = |e: std::io::Error| decode_err(Compression::Xz, DecodeReason::Io(e.into()));
            decompress_xz(&mut &data[..], len, hint, cap, out, None, &io)
        }
        Compression::Zstd => decompress_zstd(data, cap, out),
        _ => decompress_gzip(data, cap, out),
    })?;
    Ok(compression)
}

/// Like [`decompress_into`] for a file of `len` bytes that starts with the
/// xz magic, read from `file` a chunk at a time: the compressed bytes are
/// never all in memory next to the image (4 MB more for `amdgpu.ko.xz`,
/// the largest module of a Debian tree). I/O errors name `path`.
///
/// An image whose stream announces more than [`CHUNKED_IMAGE`] bytes is
/// not written to `out` but returned as [`Chunked`]; `out` is then only
/// used as scratch space.
pub fn decompress_xz_file(
    path: &camino::Utf8Path,
    file: &std::fs::File,
    len: u64,
    limits: &Limits,
    out: &mut Vec<u8>,
) -> Result<Option<Chunked>, ModuleError> {
    use std::os::unix::fs::FileExt;
    out.clear();
    let io = |e| ModuleError::io(path, e);
    // The stream's index (for the size hint) is in its last bytes.
    let tail_len = len.min(XZ_TAIL);
    let mut tail = vec![0; tail_len as usize];
    file.read_exact_at(&mut tail, len - tail_len).map_err(io)?;
    let hint = xz_size_hint(&tail);
    let mut input = std::io::BufReader::with_capacity(XZ_CHUNK, file.take(len));
    let mut chunks = hint
        .is_some_and(|h| h > CHUNKED_IMAGE && h <= len.saturating_mul(MAX_HINTED_RATIO))
        .then(Chunked::default);
    decode_capped(len, limits, out, |cap, out| {
        decompress_xz(&mut input, len, hint, cap, out, chunks.as_mut(), &io)
    })?;
    Ok(chunks)
}

/// Images announcing more than this many bytes are held compressed
/// ([`Chunked`]). Only `amdgpu.ko.xz` (29 MB) of the 4,230 modules of a
/// Debian 6.12 tree; the next largest image is 9.7 MB.
pub const CHUNKED_IMAGE: u64 = 16 << 20;

/// The size of a [`Chunked`] image's chunks.
const IMAGE_CHUNK: usize = 256 << 10;

/// A decompressed image held as zstd-compressed chunks (level 1: about a
/// fifth of a module's bytes, at 5-10% of the time xz took to decode
/// them), read back a range at a time ([`super::sparse::Source`]): the
/// sparse reader expands only the sections modinfo and depmod use, so the
/// largest module does not set the peak memory of a whole tree's read.
#[derive(Default)]
pub struct Chunked {
    chunks: Vec<Vec<u8>>,
    len: u64,
}

impl Chunked {
    /// The image's length.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Appends `bytes`, packed by `pack`, as the next chunk.
    fn push(&mut self, pack: &mut Compressor, bytes: &[u8]) -> std::io::Result<()> {
        self.chunks.push(pack.compress(bytes)?);
        self.len += bytes.len() as u64;
        Ok(())
    }
}

impl super::sparse::Source for Chunked {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let short = || std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(short)?;
        let mut unpack = zstd::bulk::Decompressor::new()?;
        let mut chunk = Vec::with_capacity(IMAGE_CHUNK);
        let mut pos = offset;
        while pos < end {
            let i = (pos / IMAGE_CHUNK as u64) as usize;
            chunk.clear();
            unpack.decompress_to_buffer(&self.chunks[i], &mut chunk)?;
            let from = (pos - (i * IMAGE_CHUNK) as u64) as usize;
            let n = ((end - pos) as usize).min(chunk.len().saturating_sub(from));
            if n == 0 {
                return Err(short());
            }
            let at = (pos - offset) as usize;
            buf[at..at + n].copy_from_slice(&chunk[from..from + n]);
            pos += n as u64;
        }
        Ok(())
    }
}

/// How many bytes of an xz file are read at a time.
const XZ_CHUNK: usize = 64 << 10;

/// How many bytes at the end of an xz file are searched for its index.
const XZ_TAIL: u64 = 4 << 10;

/// Runs `decode` with the image's output cap (the limit, or the ratio cap
/// for `input_len` compressed bytes) once the decompression budget grants
/// it: a refused image's memory is not kept in `out`, and an image over
/// the ratio cap is reported as too expanded.
fn decode_capped(
    input_len: u64,
    limits: &Limits,
    out: &mut Vec<u8>,
    decode: impl FnOnce(u64, &mut Vec<u8>) -> Result<(), ModuleError>,
) -> Result<(), ModuleError> {
    let limit = limits.max_image_size;
    // The ratio cap: a module may expand MAX_RATIO times (or to
    // RATIO_FLOOR), whatever --max-module-size allows.
    let by_ratio = input_len.saturating_mul(MAX_RATIO).max(RATIO_FLOOR);
    let cap = limit.min(by_ratio);
    let _grant = budget::Grant::wait_for(output_cap(cap));
    decode(cap, out).map_err(|e| {
        // A refused bomb's memory is not kept in a reused buffer.
        *out = Vec::new();
        match e {
            ModuleError::TooLarge { .. } if cap < limit => ModuleError::TooExpanded {
                ratio: MAX_RATIO,
                limit: cap,
            },
            e => e,
        }
    })
}

/// The largest expansion accepted (decompressed size over compressed
/// size) for an image larger than [`RATIO_FLOOR`]. Real modules: at most
/// 110 (Debian 6.12 amd64, 4230 .ko.xz: 4.9 MB from 45 kB; most 3-8).
/// Bombs of zeros: gzip about 1000, xz and zstd far more.
pub const MAX_RATIO: u64 = 128;

/// An image up to this size is never refused by [`MAX_RATIO`].
pub const RATIO_FLOOR: u64 = 16 << 20;

/// One decompression budget shared by every reading thread.
pub mod budget {
    use std::sync::{Condvar, Mutex};

    /// The budget: the bytes every thread's decompression may hold at
    /// once, at most.
    pub const TOTAL: u64 = 512 << 20;

    static USED: Mutex<u64> = Mutex::new(0);
    static FREED: Condvar = Condvar::new();

    /// A share of the budget, returned when dropped. Each module's share is
    /// its whole worst case (its output cap), taken at once: a module waits
    /// until that much is free, never while holding part of it (no
    /// deadlock), and whether a module is refused never depends on what
    /// other threads hold (the outputs stay deterministic).
    pub struct Grant(u64);

    impl Grant {
        /// Waits until `bytes` (at most the whole budget) are free.
        pub fn wait_for(bytes: u64) -> Grant {
            let want = bytes.min(TOTAL);
            let mut used = USED.lock().unwrap_or_else(|p| p.into_inner());
            while *used > 0 && used.saturating_add(want) > TOTAL {
                used = FREED.wait(used).unwrap_or_else(|p| p.into_inner());
            }
            *used += want;
            Grant(want)
        }
    }

    impl Drop for Grant {
        fn drop(&mut self) {
            let mut used = USED.lock().unwrap_or_else(|p| p.into_inner());
            *used -= self.0;
            FREED.notify_all();
        }
    }
}

/// Largest expansion a size hint may claim: beyond it the hint is ignored
/// (real modules expand 3-8 times; a hostile trailer could claim anything).
const MAX_HINTED_RATIO: u64 = 64;

/// The capacity to allocate first: the size the stream's trailer announces
/// when it is plausible (so a module is decoded into one allocation of the
/// right size, instead of doubling and copying), else a guess: modules
/// compress by about 3-4 times.
fn first_capacity(input_len: u64, hint: Option<u64>, cap: u64) -> usize {
    match hint {
        Some(h) if h > 0 && h <= input_len.saturating_mul(MAX_HINTED_RATIO) => {
            // One more byte than announced, so reaching the end of the
            // stream needs no growth to be noticed.
            h.saturating_add(1).min(cap) as usize
        }
        _ => input_len.saturating_mul(4).max(64 * 1024).min(cap) as usize,
    }
}

/// Makes room for `capacity` bytes in the empty buffer `out`. A buffer too
/// small is freed before the new one is allocated: growing it in place
/// would hold both at once for nothing (there is nothing to copy).
fn reserve_fresh(out: &mut Vec<u8>, capacity: usize) {
    debug_assert!(out.is_empty());
    if out.capacity() < capacity {
        *out = Vec::new();
        out.reserve_exact(capacity);
    }
}

/// An xz multibyte integer at `*pos` (at most 9 bytes), advancing `pos`.
fn xz_varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..9 {
        let b = *data.get(*pos)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The uncompressed size the last xz stream's index announces (the sum of
/// its blocks), read from the stream footer backwards. Only a hint: never
/// trusted beyond sizing the first allocation.
fn xz_size_hint(data: &[u8]) -> Option<u64> {
    // Stream padding: zero bytes after the footer, in multiples of four.
    let mut end = data.len();
    while end >= 4 && data[end - 4..end] == [0; 4] {
        end -= 4;
    }
    let footer = data.get(end.checked_sub(12)?..end)?;
    if &footer[10..12] != b"YZ" {
        return None;
    }
    let backward = (u64::from(u32::from_le_bytes(footer[4..8].try_into().ok()?)) + 1) * 4;
    let index_start = (end - 12).checked_sub(usize::try_from(backward).ok()?)?;
    let index = &data[index_start..end - 12];
    if index.first() != Some(&0) {
        return None;
    }
    let mut pos = 1;
    let records = xz_varint(index, &mut pos)?;
    let mut total = 0u64;
    for _ in 0..records {
        xz_varint(index, &mut pos)?;
        total = total.checked_add(xz_varint(index, &mut pos)?)?;
    }
    Some(total)
}

/// The size a gzip member's trailer announces (`ISIZE`, modulo 2^32).
fn gzip_size_hint(data: &[u8]) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes(*data.last_chunk()?)))
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

/// A stream in `format` that could not be decoded.
fn decode_err(format: Compression, reason: impl Into<DecodeReason>) -> ModuleError {
    let reason = reason.into();
    ModuleError::Decompress { format, reason }
}

/// Decodes one or more concatenated .xz streams (kmod uses
/// `LZMA_CONCATENATED`) of `input_len` bytes from `input`, keeping the
/// integrity check: a corrupt stream must be reported, not silently
/// decoded. The decoder is told the input ends (`LZMA_FINISH`) with the
/// chunk holding its last byte: all input held in memory is one such chunk.
///
/// The image is written into `out`, or, given `chunks`, into `chunks`
/// [`IMAGE_CHUNK`] bytes at a time through `out`: the same bytes and the
/// same errors either way, never more than `limit + 1` bytes decoded. `io`
/// names a failure to read the input or to pack a chunk.
fn decompress_xz(
    input: &mut impl std::io::BufRead,
    input_len: u64,
    hint: Option<u64>,
    limit: u64,
    out: &mut Vec<u8>,
    mut chunks: Option<&mut Chunked>,
    io: &dyn Fn(std::io::Error) -> ModuleError,
) -> Result<(), ModuleError> {
    use liblzma::stream::{Action, Status, Stream, CONCATENATED};
    let xz_err = |reason: &'static str| decode_err(Compression::Xz, reason);

    // Kernel modules use 1 MiB dictionaries (at most a few MiB); refuse
    // headers asking for far more memory than any sane module needs.
    let memlimit = limit.max(256 << 20);
    let mut stream =
        Stream::new_stream_decoder(memlimit, CONCATENATED).map_err(|e| xz_err(xz_error_text(e)))?;
    let cap = output_cap(limit);
    // Chunks are packed at level 1 by one compressor.
    let (window, mut pack) = match chunks {
        Some(_) => (IMAGE_CHUNK, Some(Compressor::new(1).map_err(io)?)),
        None => (first_capacity(input_len, hint, cap), None),
    };
    reserve_fresh(out, window);
    out.resize(window, 0);
    // The image is `out[..filled]` after what `chunks` holds.
    let mut filled = 0;
    let mut fed = 0u64;
    loop {
        let chunk = input.fill_buf().map_err(io)?;
        let last = chunk.is_empty() || fed + chunk.len() as u64 >= input_len;
        if let (Some(chunks), Some(pack), IMAGE_CHUNK) =
            (chunks.as_deref_mut(), pack.as_mut(), filled)
        {
            chunks.push(pack, &out[..filled]).map_err(io)?;
            filled = 0;
        }
        let total = chunks.as_ref().map_or(0, |c| c.len) + filled as u64;
        if total >= cap {
            return Err(ModuleError::TooLarge { limit });
        }
        if filled == out.len() {
            // Only an image not held in chunks grows: by at most its size,
            // never past the cap, and without the doubling of `resize`.
            let room = (cap - total).min(out.len().max(64 * 1024) as u64) as usize;
            out.reserve_exact(room);
            out.resize(filled + room, 0);
        }
        let room = (out.len() - filled).min((cap - total) as usize);
        let before_in = stream.total_in();
        let before_out = stream.total_out();
        let action = if last { Action::Finish } else { Action::Run };
        let status = stream.process(chunk, &mut out[filled..filled + room], action);
        let used = stream.total_in() - before_in;
        input.consume(used as usize);
        fed += used;
        let written = (stream.total_out() - before_out) as usize;
        filled += written;
        match status {
            Ok(Status::StreamEnd) => break,
            // No progress (with room left) and all input given: the stream
            // ends early.
            Ok(Status::Ok) | Ok(Status::GetCheck) if last && used == 0 && written == 0 => {
                return Err(xz_err(XZ_TRUNCATED));
            }
            Ok(Status::Ok) | Ok(Status::GetCheck) => {}
            // LZMA_BUF_ERROR: no progress possible.
            Ok(Status::MemNeeded) if written < room => return Err(xz_err(XZ_TRUNCATED)),
            Ok(Status::MemNeeded) => {}
            Err(e) => return Err(xz_err(xz_error_text(e))),
        }
    }
    out.truncate(filled);
    let mut total = filled as u64;
    if let (Some(chunks), Some(pack)) = (chunks, pack.as_mut()) {
        if filled > 0 {
            chunks.push(pack, out).map_err(io)?;
        }
        total = chunks.len;
    }
    if total > limit {
        return Err(ModuleError::TooLarge { limit });
    }
    Ok(())
}

/// Decodes a zstd image the way kmod 34 does: the first frame must declare
/// its content size (non-zero), and the whole input is decoded into exactly
/// that many bytes.
fn decompress_zstd(data: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<(), ModuleError> {
    use zstd::zstd_safe;
    let zstd_err = |reason: &'static str| decode_err(Compression::Zstd, reason);
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
    reserve_fresh(
        out,
        first_capacity(data.len() as u64, gzip_size_hint(data), cap),
    );
    decoder.take(cap).read_to_end(out).map_err(|e| {
        let reason = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            // zlib's gzerror() text for a truncated member.
            DecodeReason::Text("unexpected end of file")
        } else {
            DecodeReason::Io(e.into())
        };
        decode_err(Compression::Gzip, reason)
    })?;
    if out.len() as u64 > limit {
        return Err(ModuleError::TooLarge { limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_hints_come_from_the_trailers() {
        let image: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut xz = Vec::new();
        let mut enc = liblzma::write::XzEncoder::new(&mut xz, 6);
        std::io::Write::write_all(&mut enc, &image).unwrap();
        enc.finish().unwrap();
        assert_eq!(xz_size_hint(&xz), Some(image.len() as u64));
        // Stream padding after the footer is skipped.
        let mut padded = xz.clone();
        padded.extend_from_slice(&[0; 8]);
        assert_eq!(xz_size_hint(&padded), Some(image.len() as u64));
        // Damaged footers and indexes give no hint (never a panic).
        for cut in [1, 4, 12, 13, xz.len() - 1] {
            let _ = xz_size_hint(&xz[..xz.len() - cut]);
        }
        let mut bad = xz.clone();
        let n = bad.len();
        bad[n - 8..n - 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(xz_size_hint(&bad), None);

        let mut gz = Vec::new();
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        std::io::Write::write_all(&mut enc, &image).unwrap();
        enc.finish().unwrap();
        assert_eq!(gzip_size_hint(&gz), Some(image.len() as u64));

        // A hint claiming more than 64 times the input is ignored.
        let cap = 1 << 30;
        assert_eq!(first_capacity(100, Some(6400), cap), 6401);
        assert_eq!(first_capacity(100, Some(6401), cap), 64 * 1024);
        assert_eq!(first_capacity(100, Some(6400), 5000), 5000);
    }

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
