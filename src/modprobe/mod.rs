//! The read-only rest of kmod's modprobe and the version lines of kmod's
//! tools: `modprobe -c` ([`showconfig`]), `--show-exports` and
//! `--dump-modversions` ([`exports`]), `-V`.

use crate::kmod::KmodVersion;

/// What kmod's tools print for `-V`/`--version`, for the kmod kmodtree
/// reproduces: `kmod version N` and the feature line, which scripts
/// parse. `zlib`: whether `.ko.gz` modules are read.
pub fn version_text(kmod: KmodVersion, zlib: bool) -> String {
    let z = if zlib { '+' } else { '-' };
    match kmod {
        KmodVersion::V34 => format!("kmod version 34.2\n+ZSTD +XZ {z}ZLIB +OPENSSL\n"),
        KmodVersion::V30 => {
            format!("kmod version 30\n+ZSTD +XZ {z}ZLIB +LIBCRYPTO -EXPERIMENTAL\n")
        }
    }
}
