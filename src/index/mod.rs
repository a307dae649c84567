//! kmod's binary trie index (libkmod index v2.1, spec §9): a builder that
//! writes both layouts (pre-order for kmod 34, post-order for kmod 30) and a
//! bounds-checked reader with exact and wildcard lookups.
//!
//! * [`IndexBuilder`] — trie construction (§9.3, §9.4) and serialisation;
//! * [`Index`] — reader for untrusted bytes (never panics, refuses loops);
//! * [`fnmatch()`] — the pattern matcher used for wildcard (alias) lookups;
//! * [`dump_lines`], [`detect_layout`] — text rendering for `dump`/audits;
//! * [`normalize_alias`] — alias keys (§8.5).

mod dump;
mod fnmatch;
mod keys;
mod read;
mod write;

pub use dump::{detect_layout, dump_lines};
pub use fnmatch::fnmatch;
pub use keys::normalize_alias;
pub use read::{Entry, Index, IndexError, IndexValue, MAX_KEY_LEN};
pub use write::{IndexBuilder, IndexTooLarge};

/// File magic (`0xB007F457`, "BOOTFAST").
pub const INDEX_MAGIC: u32 = 0xB007_F457;
/// Version written by kmod: major 2 (high 16 bits), minor 1.
pub const INDEX_VERSION: u32 = 0x0002_0001;
/// Major version readers accept.
pub const INDEX_VERSION_MAJOR: u16 = 2;
/// Size of the header (magic, version, root reference).
pub const HEADER_LEN: usize = 12;

/// Node reference flag: the node starts with a NUL-terminated prefix.
pub(crate) const FLAG_PREFIX: u32 = 0x8000_0000;
/// Node reference flag: the node has a value list.
pub(crate) const FLAG_VALUES: u32 = 0x4000_0000;
/// Node reference flag: the node has a child table.
pub(crate) const FLAG_CHILDS: u32 = 0x2000_0000;
/// Low 28 bits of a node reference: absolute file offset.
pub(crate) const OFFSET_MASK: u32 = 0x0FFF_FFFF;

/// Order in which trie nodes are laid out in the file (both are readable by
/// every libkmod version; only the bytes differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// kmod ≥ 34: root at offset 12, each node followed by its children's
    /// subtrees in ascending character order (§9.5).
    PreOrder,
    /// kmod 30–33: children's subtrees first, then the node; the root is the
    /// last node in the file (§9.6).
    PostOrder,
}

impl Layout {
    /// The layout `kmod`'s depmod writes.
    pub fn of(kmod: crate::kmod::KmodVersion) -> Layout {
        match kmod {
            crate::kmod::KmodVersion::V30 => Layout::PostOrder,
            crate::kmod::KmodVersion::V34 => Layout::PreOrder,
        }
    }
}
