//! `modinfo NAME`: kmod's modinfo given a module name, alias or
//! `symbol:NAME` instead of a file. An argument is a file only when it
//! names an existing regular file ending in a module suffix (kmod's
//! `is_module_filename`); anything else is looked up through the tree's
//! indexes and modprobe.d aliases by libkmod's chain, and each module
//! found is shown: from its file, or, without one, from
//! `modules.builtin.modinfo` as a built-in module.

use crate::closure::modprobe_config::ModprobeConfig;
use crate::closure::{Message, ModprobeOptions, ModuleIndexes, Resolver};
use std::path::Path;

/// True when `arg` is shown as a file: it exists, is a regular file (after
/// symlinks) and ends in a module suffix.
pub fn is_module_filename(arg: &str) -> bool {
    crate::kmod::is_module_file_name(arg)
        && std::fs::metadata(Path::new(arg)).is_ok_and(|m| m.is_file())
}

/// One module a name resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// A module file: its path as modprobe spells it.
    File { name: Vec<u8>, path: Vec<u8> },
    /// No file: a built-in module and its `modules.builtin.modinfo`
    /// entries (`(key, value)` in file order).
    Builtin {
        name: Vec<u8>,
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    },
}

/// Why a name could not be shown (kmod's texts, after `modinfo: ERROR: `).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is not a valid alias (unmatched bracket).
    #[error("Module alias {0} not found.")]
    InvalidAlias(String),
    /// Nothing matched.
    #[error("Module {0} not found.")]
    NotFound(String),
}

/// A module tree opened for name lookups.
pub struct NameLookup {
    indexes: ModuleIndexes,
    config: ModprobeConfig,
    builtin_modinfo: Option<Vec<u8>>,
}

impl NameLookup {
    /// Opens the module directory of `tree` with its modprobe.d
    /// configuration (for its aliases), as modprobe reads them.
    pub fn open(tree: &ModprobeOptions) -> (NameLookup, Vec<Message>) {
        let mut messages = Vec::new();
        let (indexes, config) = tree.load(&mut messages);
        let builtin_modinfo =
            std::fs::read(indexes.dir_path().join("modules.builtin.modinfo")).ok();
        (
            NameLookup {
                indexes,
                config,
                builtin_modinfo,
            },
            messages,
        )
    }

    /// The modules `name` resolves to, in libkmod's order.
    pub fn find(&self, name: &str) -> Result<Vec<Found>, NameError> {
        let mut r = Resolver::new(&self.indexes, &self.config);
        let Some(found) = r.modules_with_paths(name.as_bytes()) else {
            return Err(NameError::InvalidAlias(name.to_string()));
        };
        if found.is_empty() {
            return Err(NameError::NotFound(name.to_string()));
        }
        Ok(found
            .into_iter()
            .map(|(name, path)| match path {
                Some(path) => Found::File { name, path },
                None => {
                    let entries = self
                        .builtin_modinfo
                        .as_deref()
                        .map(|d| builtin_entries(d, &name))
                        .unwrap_or_default();
                    Found::Builtin { name, entries }
                }
            })
            .collect())
    }
}

/// The entries of module `name` in a `modules.builtin.modinfo` (NUL
/// separated `NAME.KEY=VALUE` strings), in file order; a string without
/// `=` gives an empty value.
pub fn builtin_entries(data: &[u8], name: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let records = data.split(|&b| b == 0);
    let entries = records.filter_map(|s| s.strip_prefix(name)?.strip_prefix(b"."));
    let pairs = entries.map(crate::module::modinfo::split_entry);
    pairs.map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_entries_of_one_module() {
        let d = b"ext4.alias=fs-ext4\0ext4x.license=no\0ext4.license=GPL\0ext4.flag\0other.a=b\0";
        assert_eq!(
            builtin_entries(d, b"ext4"),
            vec![
                (b"alias".to_vec(), b"fs-ext4".to_vec()),
                (b"license".to_vec(), b"GPL".to_vec()),
                (b"flag".to_vec(), Vec::new()),
            ]
        );
    }
}
