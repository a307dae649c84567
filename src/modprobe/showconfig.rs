//! `modprobe -c` / `--showconfig`: the effective configuration in kmod's
//! format, then the alias and symbol indexes (kmod's `show_config`).
//!
//! Configuration lines come by kind, each list in the order libkmod
//! collected it (files by base name, then the kernel command line):
//! `blacklist NAME`, `install NAME CMD`, `remove NAME CMD`, `alias
//! PATTERN NAME`, `options NAME OPTIONS`, `softdep NAME pre: A B` (with
//! `post: C` glued straight after the last `pre:` name, as libkmod's
//! string building does), and with kmod 34 `weakdep NAME A B`. Then
//! `\n# End of configuration files. Dumping indexes now:\n\n` and every
//! entry of `modules.alias.bin` and `modules.symbols.bin` as `alias KEY
//! VALUE`, in trie order. A missing, empty or unreadable index dumps
//! nothing.

use crate::closure::modprobe_config::{ConfigSoftdep, ModprobeConfig};
use crate::closure::ModuleIndexes;
use crate::index::Index;
use crate::kmod::KmodVersion;

/// One line: the words joined by spaces.
fn line(out: &mut Vec<u8>, words: &[&[u8]]) {
    out.extend_from_slice(&words.join(&b' '));
    out.push(b'\n');
}

/// libkmod's plain softdep text: `pre: A B` then `post: C D`, with no
/// separator between the two parts.
pub fn softdep_text(sd: &ConfigSoftdep) -> Vec<u8> {
    let parts = [(&b"pre: "[..], &sd.pre), (b"post: ", &sd.post)];
    let parts = parts.into_iter().filter(|(_, list)| !list.is_empty());
    parts
        .flat_map(|(label, list)| [label, &list.join(&b' ')].concat())
        .collect()
}

/// The configuration part of `modprobe -c`.
pub fn config_lines(config: &ModprobeConfig, kmod: KmodVersion) -> Vec<u8> {
    let mut out = Vec::new();
    for b in &config.blacklist {
        line(&mut out, &[b"blacklist", b]);
    }
    for c in &config.install {
        line(&mut out, &[b"install", &c.module, &c.command]);
    }
    for c in &config.remove {
        line(&mut out, &[b"remove", &c.module, &c.command]);
    }
    for a in &config.aliases {
        line(&mut out, &[b"alias", &a.pattern, &a.module]);
    }
    for o in &config.options {
        line(&mut out, &[b"options", &o.module, &o.options]);
    }
    for s in &config.softdeps {
        line(&mut out, &[b"softdep", &s.module, &softdep_text(s)]);
    }
    if kmod == KmodVersion::V34 {
        for w in &config.weakdeps {
            line(&mut out, &[b"weakdep", &w.module, &w.deps.join(&b' ')]);
        }
    }
    out
}

/// Every entry of an index as `alias KEY VALUE` lines (nothing for an
/// unreadable index).
fn dump_index(out: &mut Vec<u8>, data: Option<&[u8]>) {
    let Some(index) = data.and_then(|d| Index::parse(d).ok()) else {
        return;
    };
    let mut lines = Vec::new();
    let done = index.for_each_entry(|key, value, _| {
        line(&mut lines, &[b"alias", key, value]);
    });
    if done.is_ok() {
        out.extend_from_slice(&lines);
    }
}

/// Everything `modprobe -c` prints on stdout.
pub fn show_config(config: &ModprobeConfig, indexes: &ModuleIndexes, kmod: KmodVersion) -> Vec<u8> {
    let mut out = config_lines(config, kmod);
    out.extend_from_slice(b"\n# End of configuration files. Dumping indexes now:\n\n");
    dump_index(&mut out, indexes.alias.as_deref());
    dump_index(&mut out, indexes.symbols.as_deref());
    out
}
