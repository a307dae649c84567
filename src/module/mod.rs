//! Reading one kernel module file: decompression (by magic bytes), ELF of any
//! class and byte order, `.modinfo`, exported symbols with CRCs, undefined
//! symbols with weak flags and `__versions` CRCs, and the appended signature.
//!
//! Nothing here panics on hostile input: every offset and size taken from the
//! file is checked before use, and decompression is bounded by [`Limits`].

pub mod decompress;
pub mod elf;
pub mod modinfo;
mod parts;
pub mod signature;
pub mod sparse;
pub mod symbol_list;
pub mod symbols;

pub use crate::kmod::name_from_file_name;
pub use parts::Parts;
pub use symbol_list::{StringList, SymbolList, SymbolRef};

use crate::kmod::SharedIoError;
use serde::Serialize;

/// Compression of a module file, detected from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

/// ELF class (word size) of a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ElfClass {
    #[serde(rename = "ELF32")]
    Elf32,
    #[serde(rename = "ELF64")]
    Elf64,
}

/// Byte order of a module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endian {
    Little,
    Big,
}

/// The identification of a module's ELF image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ElfIdent {
    pub class: ElfClass,
    pub endian: Endian,
    /// `e_machine`.
    pub machine: u16,
}

/// One `.modinfo` entry, `key=value` split at the first `=` (spec §5.3).
/// Byte strings: nothing guarantees UTF-8 inside a module.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModinfoEntry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// A symbol the module exports, with its CRC (0 when none is known).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Export {
    pub name: Vec<u8>,
    pub crc: u64,
}

/// A symbol the module needs (spec §5.5 order).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct Import {
    #[serde(with = "crate::kmod::esc")]
    pub name: Vec<u8>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weak: bool,
    pub crc: u64,
}

/// What the appended module signature says (modinfo's `sig_*` fields).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SignatureInfo {
    /// `sig_id`, e.g. `PKCS#7`.
    pub id: String,
    /// `signer` (may be empty).
    pub signer: Vec<u8>,
    /// `sig_key`: key identifier bytes (printed as hex with colons).
    pub key_id: Vec<u8>,
    /// `sig_hashalgo`, e.g. `sha256` (or `unknown`).
    pub hash_algo: String,
    /// `signature`: raw signature bytes.
    pub signature: Vec<u8>,
}

/// Everything later stages need from one module file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleMeta {
    pub compression: Compression,
    pub ident: ElfIdent,
    pub modinfo: Vec<ModinfoEntry>,
    /// Whether the image has a `.modinfo` section at all. kmod's `modinfo`
    /// fails without one ("could not get modinfo from 'NAME': No data
    /// available"); depmod just sees no entries.
    pub has_modinfo: bool,
    pub exports: Vec<Export>,
    /// Set when the exports could not be read although the ELF image is
    /// valid (an unterminated `__ksymtab_strings`): kmod reports
    /// "failed to load symbols" but keeps the module's modinfo and imports.
    pub exports_error: Option<ModuleError>,
    pub imports: Vec<Import>,
    pub signature: Option<SignatureInfo>,
}

impl ModuleMeta {
    /// Values of every modinfo entry whose key is exactly `key`, in order.
    pub fn values<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.modinfo
            .iter()
            .filter(move |e| e.key == key)
            .map(|e| e.value.as_slice())
    }
}

/// Resource limits for reading untrusted modules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest decompressed (or plain) module image accepted, in bytes.
    pub max_image_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_image_size: 1 << 30,
        }
    }
}

/// Why a module file could not be read. The message names the reason; the
/// caller adds the file name.
///
/// Clone, compared and hashed (kept per module, compared in tests): an I/O
/// failure keeps its `io::Error` shared in a [`SharedIoError`], equal to
/// another when kind, errno and text are.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ModuleError {
    /// The file could not be opened or read (or is not a regular file).
    #[error("cannot read file: {source}")]
    Io {
        path: camino::Utf8PathBuf,
        #[source]
        source: SharedIoError,
    },
    #[error("file too short ({0} bytes)")]
    TooShort(u64),
    #[error("corrupt or truncated {format:?} stream: {reason}")]
    Decompress {
        format: Compression,
        /// The decoder's own message; kmod 34 prints xz's as
        /// `depmod: ERROR: xz: <reason>`.
        #[source]
        reason: DecodeReason,
    },
    #[error("image larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// A compressed image expanding more than `ratio` times its size (past
    /// the floor below which no image is refused for its ratio).
    #[error("image expands more than {ratio} times its compressed size (limit {limit} bytes)")]
    TooExpanded { ratio: u64, limit: u64 },
    #[error("not an ELF file")]
    NotElf,
    #[error("invalid ELF: {0}")]
    BadElf(&'static str),
    #[error("__ksymtab_strings is not NUL-terminated")]
    UnterminatedKsymtab,
}

/// Why a compressed stream could not be decoded, as the decoder says it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DecodeReason {
    /// The decoder's (or kmod's) fixed text for its error.
    #[error("{0}")]
    Text(&'static str),
    /// The error the gzip reader returned; its text is printed.
    #[error(transparent)]
    Io(SharedIoError),
}

impl From<&'static str> for DecodeReason {
    fn from(text: &'static str) -> Self {
        DecodeReason::Text(text)
    }
}

/// A list of a module's strings or symbols would pass its 4 GiB (or
/// 2^31-symbol) bound: reported as a module too large to hold.
impl From<symbol_list::ListFull> for ModuleError {
    fn from(_: symbol_list::ListFull) -> Self {
        ModuleError::TooLarge {
            limit: u64::from(u32::MAX),
        }
    }
}

impl ModuleError {
    /// The I/O error that stopped `path` from being read.
    pub fn io(path: impl Into<camino::Utf8PathBuf>, source: std::io::Error) -> Self {
        ModuleError::Io {
            path: path.into(),
            source: source.into(),
        }
    }

    /// The errno kmod reports for this failure.
    pub fn errno(&self) -> crate::kmod::Errno {
        use crate::kmod::Errno;
        match self {
            ModuleError::Io { .. } => Errno::Io,
            ModuleError::NotElf => Errno::NoExec,
            ModuleError::TooLarge { .. } | ModuleError::TooExpanded { .. } => Errno::FBig,
            _ => Errno::Inval,
        }
    }
}

/// Parses a module image held in memory (compressed or not).
pub fn parse_module(data: &[u8], limits: &Limits) -> Result<ModuleMeta, ModuleError> {
    let (compression, image) = decompress::decompress(data, limits)?;
    let parts = Parts::of(&elf::Elf::parse(&image)?);
    Ok(parts.into_meta(compression, Some(&image)))
}

/// Reads and parses one module file.
///
/// Each thread keeps two buffers (the file, the decompressed image) and
/// reuses them for the next module, so reading a tree touches little fresh
/// memory; buffers that grew past [`RETAINED_BUFFER`] are released after
/// use. Files of [`MAP_THRESHOLD`] bytes or more are memory-mapped, except
/// xz files, which are read a chunk at a time as they are decoded.
pub fn read_module_file(
    path: &camino::Utf8Path,
    limits: &Limits,
) -> Result<ModuleMeta, ModuleError> {
    read_module_file_with(path, limits, false, |compression, image, parts| {
        parts.into_meta(compression, Some(image))
    })
}

/// Like [`read_module_file`], but for depmod: of a plain module only the
/// sections depmod reads are loaded (see [`sparse`]), and the signature is
/// not read (`signature` is None).
pub fn read_module_file_for_depmod(
    path: &camino::Utf8Path,
    limits: &Limits,
) -> Result<ModuleMeta, ModuleError> {
    read_module_parts_for_depmod(path, limits, |compression, parts| {
        parts.into_meta(compression, None)
    })
}

/// Reads a module as [`read_module_file_for_depmod`] does and hands what
/// was parsed, still borrowing the thread's buffers, to `keep`, which takes
/// what it needs.
pub fn read_module_parts_for_depmod<T>(
    path: &camino::Utf8Path,
    limits: &Limits,
    keep: impl FnOnce(Compression, Parts<'_>) -> T,
) -> Result<T, ModuleError> {
    read_module_file_with(path, limits, true, |compression, _, parts| {
        keep(compression, parts)
    })
}

thread_local! {
    /// The calling thread's file and image buffers, kept between modules
    /// (up to [`RETAINED_BUFFER`] each).
    static BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new()))
    };
}

/// Frees the read buffers of every thread of the current rayon pool. A
/// tree reader calls it when every module is read: threads of a pool that
/// outlives the reading (rayon's global pool) would otherwise hold up to
/// twice [`RETAINED_BUFFER`] each while the databases are rendered.
pub fn release_pool_read_buffers() {
    rayon::broadcast(|_| {
        let _ = BUFFERS.try_with(|cell| {
            if let Ok(mut b) = cell.try_borrow_mut() {
                *b = (Vec::new(), Vec::new());
            }
        });
    });
}

fn read_module_file_with<T>(
    path: &camino::Utf8Path,
    limits: &Limits,
    sparse: bool,
    keep: impl FnOnce(Compression, &[u8], Parts<'_>) -> T,
) -> Result<T, ModuleError> {
    BUFFERS.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (file_buf, image_buf) = &mut *guard;
        let result = read_with_buffers(path, limits, sparse, file_buf, image_buf, keep);
        for buf in [file_buf, image_buf] {
            if buf.capacity() > RETAINED_BUFFER {
                *buf = Vec::new();
            }
        }
        result
    })
}

/// Opens a module file for reading, refusing anything but a regular file
/// (after following symlinks). The open does not block: a FIFO named like
/// a module would otherwise wait forever for a writer.
fn open_regular(path: &camino::Utf8Path) -> Result<(std::fs::File, u64), ModuleError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e| ModuleError::io(path, e);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        let e = if meta.is_dir() {
            std::io::Error::from_raw_os_error(libc::EISDIR)
        } else {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file")
        };
        return Err(io(e));
    }
    Ok((file, meta.len()))
}

/// Parses an image held in compressed chunks: into a fresh zero-filled
/// mapping, only the header, section tables, the sections the parser uses
/// and (unless `sparse`, for depmod) the appended signature are expanded;
/// untouched pages cost no memory. Should the parser use any other byte,
/// the whole image is expanded and parsed again.
fn read_chunked<T>(
    chunks: &decompress::Chunked,
    sparse: bool,
    keep: impl FnOnce(Compression, &[u8], Parts<'_>) -> T,
) -> std::io::Result<Result<T, ModuleError>> {
    let len = usize::try_from(chunks.len()).map_err(std::io::Error::other)?;
    let mut image = memmap2::MmapMut::map_anon(len.max(1))?;
    let image = &mut image[..len];
    if let Some(mut loaded) = sparse::read_elf_sparse(chunks, image)? {
        if !sparse {
            sparse::read_signature_sparse(chunks, image, &mut loaded)?;
        }
        let image: &[u8] = image;
        if let Some(parts) = Parts::of_sparse(image, &loaded) {
            return Ok(parts.map(|parts| keep(Compression::Xz, image, parts)));
        }
    }
    sparse::Source::read_exact_at(chunks, image, 0)?;
    let image: &[u8] = image;
    Ok(elf::Elf::parse(image).map(|e| keep(Compression::Xz, image, Parts::of(&e))))
}

/// Whether a file starts with the xz magic bytes.
fn starts_with_xz(file: &std::fs::File) -> std::io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let mut head = [0; 6];
    file.read_exact_at(&mut head, 0)?;
    Ok(decompress::detect(&head) == Compression::Xz)
}

/// Files at least this large are memory-mapped (only the pages holding the
/// sections we read are touched); smaller ones are read into the buffer.
pub const MAP_THRESHOLD: u64 = 64 * 1024;

/// Largest per-thread buffer kept between modules.
pub const RETAINED_BUFFER: usize = 8 << 20;

fn read_with_buffers<T>(
    path: &camino::Utf8Path,
    limits: &Limits,
    sparse: bool,
    file_buf: &mut Vec<u8>,
    image_buf: &mut Vec<u8>,
    keep: impl FnOnce(Compression, &[u8], Parts<'_>) -> T,
) -> Result<T, ModuleError> {
    let io = |e| ModuleError::io(path, e);
    let (file, len) = open_regular(path)?;
    if sparse && len >= 64 && len <= limits.max_image_size {
        // The buffer only grows, and grows zero-filled, so every byte in it
        // is initialised. Bytes the sparse reader skips keep whatever they
        // held; the parser reports any use of them.
        if file_buf.len() < len as usize {
            // Grow in powers of two: a few growths per thread, not one per
            // module larger than all before it.
            let size = (len as usize)
                .next_power_of_two()
                .min(RETAINED_BUFFER.max(len as usize));
            *file_buf = vec![0; size];
        }
        let image = &mut file_buf[..len as usize];
        if let Some(loaded) = sparse::read_elf_sparse(&file, image).map_err(io)? {
            if let Some(parts) = Parts::of_sparse(image, &loaded) {
                return Ok(keep(Compression::None, image, parts?));
            }
        }
    }
    if len >= MAP_THRESHOLD && starts_with_xz(&file).map_err(io)? {
        let Some(chunks) = decompress::decompress_xz_file(path, &file, len, limits, image_buf)?
        else {
            let parts = Parts::of(&elf::Elf::parse(image_buf)?);
            return Ok(keep(Compression::Xz, image_buf, parts));
        };
        return read_chunked(&chunks, sparse, keep).map_err(io)?;
    }
    let map;
    let data: &[u8] = if len >= MAP_THRESHOLD && !sparse {
        // SAFETY: a read-only private mapping. Module trees are inputs that
        // nobody modifies while kmodtree runs (build sandboxes, store
        // paths); a file truncated underneath us is outside the threat
        // model, as it is for kmod, which maps modules the same way.
        map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        &map
    } else {
        file_buf.clear();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&file, limits.max_image_size.saturating_add(1)),
            file_buf,
        )
        .map_err(io)?;
        file_buf
    };
    let compression = decompress::decompress_into(data, limits, image_buf)?;
    let image: &[u8] = match compression {
        Compression::None => data,
        _ => image_buf,
    };
    let parts = Parts::of(&elf::Elf::parse(image)?);
    Ok(keep(compression, image, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_errors_keep_the_io_error_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let dir = camino::Utf8Path::from_path(dir.path()).unwrap();
        let missing = dir.join("missing.ko");
        let err = read_module_file(&missing, &Limits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read file: No such file or directory (os error 2)"
        );
        assert!(matches!(&err, ModuleError::Io { path, .. } if *path == missing));
        let source = std::error::Error::source(&err).unwrap();
        assert!(source.downcast_ref::<SharedIoError>().is_some());
        assert_eq!(err.errno(), crate::kmod::Errno::Io);
        assert_eq!(err.clone(), err);

        let err = read_module_file(dir, &Limits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read file: Is a directory (os error 21)"
        );
        assert_ne!(
            err,
            read_module_file(&missing, &Limits::default()).unwrap_err()
        );
    }
}
