//! `modprobe --show-exports FILE` and `--dump-modversions FILE`: a module
//! file's exported symbols (`kmod_module_get_symbols`) or its `__versions`
//! records (`kmod_module_get_versions`), one `0x%08x\tNAME` line each.

use crate::kmod::KmodVersion;
use crate::module::elf::Elf;
use crate::module::symbols::{self, Tables, MODVERSION_SIZE};
use crate::module::{decompress, Limits, ModuleError};

/// Why a file's symbols could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum ExportsError {
    /// The file cannot be read (kmod: `Module FILE not found.`).
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Not a usable module image.
    #[error("{path}: {source}")]
    Module {
        path: String,
        #[source]
        source: ModuleError,
    },
    /// A `__versions` section that is not a whole number of records.
    #[error("{path}: __versions is not a whole number of records")]
    BadVersions { path: String },
    /// Nothing to list: no exports, or no `__versions` records.
    #[error("{path}: no symbols")]
    NoSymbols { path: String },
}

impl ExportsError {
    /// kmod's strerror text for the failure (`could not get ... : TEXT`):
    /// an empty list is ENODATA for kmod 34, ENOENT for kmod 30.
    pub fn strerror(&self, kmod: KmodVersion) -> String {
        match self {
            ExportsError::NoSymbols { .. } if kmod == KmodVersion::V34 => {
                "No data available".into()
            }
            ExportsError::NoSymbols { .. } => "No such file or directory".into(),
            ExportsError::Read { source, .. } => crate::kmod::strerror(source),
            ExportsError::Module { source, .. } => source.errno().strerror().to_string(),
            ExportsError::BadVersions { .. } => "Invalid argument".into(),
        }
    }
}

fn crc_line(crc: u64, name: &[u8]) -> Vec<u8> {
    [format!("0x{crc:08x}\t").as_bytes(), name, b"\n"].concat()
}

fn module_error(path: &str) -> impl Fn(ModuleError) -> ExportsError + '_ {
    |source| ExportsError::Module {
        path: path.to_string(),
        source,
    }
}

/// The lines `f` gives for the module image at `path`; nothing is
/// [`ExportsError::NoSymbols`].
fn with_image(
    path: &str,
    limits: &Limits,
    f: impl FnOnce(&Elf<'_>) -> Result<Vec<u8>, ExportsError>,
) -> Result<Vec<u8>, ExportsError> {
    let data = std::fs::read(path).map_err(|source| ExportsError::Read {
        path: path.to_string(),
        source,
    })?;
    let (_, image) = decompress::decompress(&data, limits).map_err(module_error(path))?;
    let elf = Elf::parse(&image).map_err(module_error(path))?;
    let out = f(&elf)?;
    if out.is_empty() {
        let path = path.to_string();
        return Err(ExportsError::NoSymbols { path });
    }
    Ok(out)
}

/// `--show-exports FILE`: the exported symbols with their CRCs.
pub fn show_exports(path: &str, limits: &Limits) -> Result<Vec<u8>, ExportsError> {
    with_image(path, limits, |elf| {
        let list = symbols::exports(elf, &Tables::of(elf)).map_err(module_error(path))?;
        Ok(list.iter().flat_map(|s| crc_line(s.crc, s.name)).collect())
    })
}

/// `--dump-modversions FILE`: every `__versions` record, CRC and name (a
/// leading `.` dropped, as libkmod does), in file order.
pub fn dump_modversions(path: &str, limits: &Limits) -> Result<Vec<u8>, ExportsError> {
    with_image(path, limits, |elf| {
        let tables = Tables::of(elf);
        if tables
            .versions
            .is_some_and(|s| s.data.len() % MODVERSION_SIZE != 0)
        {
            return Err(ExportsError::BadVersions {
                path: path.to_string(),
            });
        }
        let mut out = Vec::new();
        for (crc, field) in symbols::versions(elf, &tables) {
            let name = &field[..field.iter().position(|&b| b == 0).unwrap_or(field.len())];
            let name = name.strip_prefix(b".").unwrap_or(name);
            out.extend(crc_line(crc, name));
        }
        Ok(out)
    })
}
