//! The `modinfo` command family: kmod-compatible text and JSON output.
//!
//! Everything here is a pure function from a read module to bytes; the
//! caller reads the file ([`crate::module::read_module_file`]) and writes
//! the bytes. The text output reproduces kmod 34's `modinfo FILE`,
//! `modinfo -F FIELD FILE`, `-p` (= `-F parm`) and `-0`, including its
//! error messages:
//!
//! * `filename:` and every `key:` are padded to 16 columns (`%-16s`; keys
//!   of 15 bytes or more get no padding at all);
//! * entries come in `.modinfo` order, then the signature pseudo-entries
//!   `sig_id`, `signer`, `sig_key`, `sig_hashalgo`, `signature` (byte
//!   strings as `AA:BB:…`, 20 bytes a line, continuation lines start with
//!   two tabs), then the `parm` lines: `parm` and `parmtype` entries merged
//!   per parameter name, newest name first, `NAME:DESC (TYPE)`;
//! * `-F FIELD` prints the value of every entry whose key is exactly FIELD
//!   (signature fields included), `-F parm` the merged parameters as
//!   `NAME:DESC (TYPE)`/`NAME: (TYPE)`/`NAME:DESC`, `-F filename` the file
//!   name only (without reading the module).
//!
//! ```no_run
//! use kmodtree::modinfo::{render, Options};
//! use kmodtree::module::{read_module_file, Limits};
//!
//! let path = "/lib/modules/6.1.0/kernel/fs/ext4/ext4.ko.xz";
//! let meta = read_module_file(camino::Utf8Path::new(path), &Limits::default());
//! // `modinfo -F license PATH`
//! let opts = Options { field: Some("license"), ..Options::default() };
//! let out = render(path, meta.as_ref(), &opts);
//! assert_eq!(out.stdout, b"GPL\n");
//! ```

use crate::module::{name_from_file_name, Compression, ElfClass, Endian, ModuleError, ModuleMeta};
use serde::Serialize;

/// How to render (`modinfo`'s options).
#[derive(Clone, Copy, Debug)]
pub struct Options<'a> {
    /// `-F FIELD` (`-a`/`-d`/`-l`/`-p`/`-n` are `author`, `description`,
    /// `license`, `parm`, `filename`). `None`: everything.
    pub field: Option<&'a str>,
    /// `\n`, or `\0` for `-0`.
    pub separator: u8,
    /// The program name in error messages (`modinfo: ERROR: …`).
    pub program: &'a str,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            field: None,
            separator: b'\n',
            program: "modinfo",
        }
    }
}

/// What one module's `modinfo` writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// False when kmod would exit with status 1 for this module.
    pub success: bool,
}

/// The entries kmod's `kmod_module_get_info` returns: `.modinfo` in order,
/// then the signature fields when a signature is appended.
pub fn info_entries(meta: &ModuleMeta) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = meta
        .modinfo
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    if let Some(sig) = &meta.signature {
        let fields: [(&[u8], Vec<u8>); 5] = [
            (b"sig_id", sig.id.as_bytes().to_vec()),
            (b"signer", sig.signer.clone()),
            (b"sig_key", hex_colon(&sig.key_id).into_bytes()),
            (b"sig_hashalgo", sig.hash_algo.as_bytes().to_vec()),
            (b"signature", hex_colon(&sig.signature).into_bytes()),
        ];
        out.extend(fields.map(|(k, v)| (k.to_vec(), v)));
    }
    out
}

/// kmod's `kmod_module_hex_to_str`: upper-case hex bytes joined by `:`,
/// with `\n\t\t` after every 20th byte's colon. Empty for no bytes.
pub fn hex_colon(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 3 + bytes.len() / 20 * 2);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push_str(if i % 20 == 0 { ":\n\t\t" } else { ":" });
        }
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// One parameter, merged from `parm=NAME:DESC` and `parmtype=NAME:TYPE`.
struct Param<'a> {
    name: &'a [u8],
    desc: Option<&'a [u8]>,
    kind: Option<&'a [u8]>,
}

impl Param<'_> {
    /// `NAME:DESC (TYPE)`, or `NAME:DESC` without a type. Without a
    /// description, `-F parm` (`field`) prints `NAME: (TYPE)`, the full
    /// listing `NAME:TYPE`.
    fn push(&self, o: &mut Vec<u8>, field: bool) {
        let kind = self.kind.unwrap_or_default();
        let text = match (self.desc, self.kind) {
            (Some(desc), Some(_)) => [desc, b" (", kind, b")"].concat(),
            (Some(desc), None) => desc.to_vec(),
            (None, _) if field => [&b" ("[..], kind, b")"].concat(),
            (None, _) => kind.to_vec(),
        };
        o.extend_from_slice(&[self.name, b":", &text].concat());
    }
}

/// kmod's `process_parm` over all entries: parameters in kmod's print
/// order (most recently first seen name first). Entries without `:` are
/// reported on `stderr` and skipped.
fn collect_params<'a>(
    entries: &'a [(Vec<u8>, Vec<u8>)],
    program: &str,
    stderr: &mut Vec<u8>,
) -> Vec<Param<'a>> {
    let mut params: Vec<Param<'a>> = Vec::new();
    for (key, value) in entries {
        let is_desc = key.as_slice() == b"parm";
        if !is_desc && key.as_slice() != b"parmtype" {
            continue;
        }
        let Some(colon) = value.iter().position(|&b| b == b':') else {
            let head = format!("{program}: ERROR: Found invalid \"");
            stderr.extend([head.as_bytes(), key, b"=", value, b"\": missing ':'\n"].concat());
            continue;
        };
        let (name, rest) = (&value[..colon], &value[colon + 1..]);
        let i = params.iter().position(|p| p.name == name);
        let i = i.unwrap_or_else(|| {
            let (desc, kind) = (None, None);
            params.push(Param { name, desc, kind });
            params.len() - 1
        });
        let p = &mut params[i];
        let slot = if is_desc { &mut p.desc } else { &mut p.kind };
        *slot = Some(rest);
    }
    params.reverse();
    params
}

fn push_padded(out: &mut Vec<u8>, label: &[u8]) {
    out.extend_from_slice(label);
    out.resize(out.len() + 16usize.saturating_sub(label.len()), b' ');
}

/// Appends the `filename:` line (or, with `-F filename`, the bare name)
/// to `out`: whether that was the one field asked for.
fn push_filename(out: &mut Vec<u8>, filename: &str, opts: &Options<'_>) -> bool {
    match opts.field {
        Some("filename") => {}
        None => push_padded(out, b"filename:"),
        Some(_) => return false,
    }
    out.extend_from_slice(filename.as_bytes());
    out.push(opts.separator);
    opts.field.is_some()
}

/// Renders `modinfo [-F FIELD] [-0] FILE` for a module that was read (or
/// failed to be read), exactly as kmod 34 would print it.
///
/// For [`ModuleError::Io`] (the file cannot be read at all) kmod would not
/// even accept the path: `Module FILE not found.`
pub fn render(
    filename: &str,
    module: Result<&ModuleMeta, &ModuleError>,
    opts: &Options<'_>,
) -> Output {
    let mut out = Output::default();
    if let Err(ModuleError::Io { .. }) = module {
        out.stderr =
            format!("{}: ERROR: Module {filename} not found.\n", opts.program).into_bytes();
        return out;
    }
    out.success = true;
    if push_filename(&mut out.stdout, filename, opts) {
        return out;
    }
    let reason = match module {
        Ok(meta) if meta.has_modinfo => {
            push_entries(&info_entries(meta), opts, &mut out);
            return out;
        }
        Ok(_) => "No data available".to_string(),
        Err(err) => {
            if let ModuleError::Decompress { format, reason } = err {
                let (func, tool) = match format {
                    Compression::Zstd => ("kmod_file_load_zstd", "zstd"),
                    Compression::Gzip => ("kmod_file_load_zlib", "gzip"),
                    _ => ("xz_uncompress_belch", "xz"),
                };
                let text = format!("libkmod: ERROR: {func}: {tool}: {reason}\n");
                out.stderr.extend_from_slice(text.as_bytes());
            }
            err.errno().strerror()
        }
    };
    let name = name_from_file_name(filename);
    out.stderr
        .extend(no_modinfo(opts, name.as_bytes(), &reason));
    out.success = false;
    out
}

/// kmod's `could not get modinfo from 'NAME': REASON` line.
fn no_modinfo(opts: &Options<'_>, name: &[u8], reason: &str) -> Vec<u8> {
    let name = String::from_utf8_lossy(name);
    let prog = opts.program;
    format!("{prog}: ERROR: could not get modinfo from '{name}': {reason}\n").into_bytes()
}

/// What `modinfo` prints after the `filename:` line: every entry but the
/// parameters (`key:` padded, or `key=` with `-0`), then the merged
/// parameters; or with `-F FIELD` the values of FIELD (`parm`: merged).
fn push_entries(entries: &[(Vec<u8>, Vec<u8>)], opts: &Options<'_>, out: &mut Output) {
    let sep = opts.separator;
    let prog = opts.program;
    match opts.field {
        Some("parm") => {
            for p in collect_params(entries, prog, &mut out.stderr) {
                p.push(&mut out.stdout, true);
                out.stdout.push(sep);
            }
        }
        Some(field) => {
            for (key, value) in entries {
                if key.as_slice() == field.as_bytes() {
                    out.stdout.extend_from_slice(value);
                    out.stdout.push(sep);
                }
            }
        }
        None => {
            for (key, value) in entries {
                if key.as_slice() == b"parm" || key.as_slice() == b"parmtype" {
                    continue;
                }
                let o = &mut out.stdout;
                if sep == 0 {
                    o.extend_from_slice(&[key, &b"="[..]].concat());
                } else {
                    push_padded(o, &[key, &b":"[..]].concat());
                }
                o.extend_from_slice(value);
                o.push(sep);
            }
            for p in collect_params(entries, prog, &mut out.stderr) {
                push_padded(&mut out.stdout, b"parm:");
                p.push(&mut out.stdout, false);
                out.stdout.push(sep);
            }
        }
    }
}

/// `modinfo NAME` for a built-in module (kmod's `modinfo_do` without a
/// path): `name:` and `filename: (builtin)` lines (padded even with
/// `-0`), then the entries of `modules.builtin.modinfo`; `-F name` prints
/// the name first, `-F filename` only `(builtin)`.
pub fn render_builtin(name: &[u8], entries: &[(Vec<u8>, Vec<u8>)], opts: &Options<'_>) -> Output {
    let sep = opts.separator;
    let mut out = Output {
        success: true,
        ..Output::default()
    };
    let o = &mut out.stdout;
    match opts.field {
        None => {
            for (label, value) in [(&b"name:"[..], name), (b"filename:", BUILTIN_FILENAME)] {
                push_padded(o, label);
                o.extend_from_slice(&[value, &[sep]].concat());
            }
        }
        Some("name") => o.extend_from_slice(&[name, &[sep]].concat()),
        Some("filename") => {
            o.extend_from_slice(&[BUILTIN_FILENAME, &[sep]].concat());
            return out;
        }
        Some(_) => {}
    }
    push_entries(entries, opts, &mut out);
    out
}

/// `modinfo NAME` for a module the indexes name whose file cannot be
/// opened (`reason`: the strerror text): kmod prints the `filename:` line,
/// then `could not get modinfo from 'NAME': REASON`; `-F filename` still
/// prints the path and succeeds.
pub fn render_unreadable(filename: &str, name: &[u8], reason: &str, opts: &Options<'_>) -> Output {
    let mut out = Output::default();
    out.success = push_filename(&mut out.stdout, filename, opts);
    if !out.success {
        out.stderr = no_modinfo(opts, name, reason);
    }
    out
}

/// What kmod prints as a built-in module's file name.
pub const BUILTIN_FILENAME: &[u8] = b"(builtin)";

/// A built-in module for `--json`: its name and its
/// `modules.builtin.modinfo` entries.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct JsonBuiltin {
    pub name: String,
    pub builtin: bool,
    pub modinfo: Vec<JsonModinfo>,
}

/// The JSON object of a built-in module.
pub fn builtin_to_json(name: &[u8], entries: &[(Vec<u8>, Vec<u8>)]) -> JsonBuiltin {
    JsonBuiltin {
        name: lossy(name),
        builtin: true,
        modinfo: entries.iter().map(|(k, v)| json_modinfo(k, v)).collect(),
    }
}

// ---------------------------------------------------------------------
// JSON

/// `modinfo --json`: one object per module. Byte strings from the module
/// (keys, values, symbol names, signer) are decoded as UTF-8 with invalid
/// sequences replaced by U+FFFD (lossy); CRCs are `0x%08x` strings;
/// key id and signature are `AA:BB:…` hex strings without line breaks.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct JsonModule {
    pub path: String,
    /// Module name from the file name (spec §3.2).
    pub name: String,
    pub compression: Compression,
    pub elf: JsonElf,
    pub modinfo: Vec<JsonModinfo>,
    pub exports: Vec<JsonExport>,
    /// Why the exports could not be read (the rest is still valid).
    pub exports_error: Option<String>,
    pub imports: Vec<JsonImport>,
    pub signature: Option<JsonSignature>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct JsonElf {
    pub class: ElfClass,
    pub byte_order: Endian,
    /// `e_machine`.
    pub machine: u16,
    /// Its name (`X86_64`, `AARCH64`, `S390`, …; see
    /// [`crate::module::elf::machine_name`]).
    pub machine_name: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct JsonModinfo {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct JsonExport {
    pub name: String,
    pub crc: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct JsonImport {
    pub name: String,
    pub weak: bool,
    pub crc: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct JsonSignature {
    pub id: String,
    pub signer: String,
    pub key_id: String,
    pub hash_algo: String,
    pub signature: String,
}

/// A module that could not be read, for `--json`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct JsonError {
    pub path: String,
    pub name: String,
    pub error: String,
    /// kmod's strerror text for it.
    pub errno: String,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json_modinfo(key: &[u8], value: &[u8]) -> JsonModinfo {
    JsonModinfo {
        key: lossy(key),
        value: lossy(value),
    }
}

fn crc_hex(crc: u64) -> String {
    format!("0x{crc:08x}")
}

/// The JSON object of a module that was read.
pub fn to_json(path: &str, meta: &ModuleMeta) -> JsonModule {
    JsonModule {
        path: path.to_string(),
        name: name_from_file_name(path),
        compression: meta.compression,
        elf: JsonElf {
            class: meta.ident.class,
            byte_order: meta.ident.endian,
            machine: meta.ident.machine,
            machine_name: crate::module::elf::machine_name(meta.ident.machine).to_string(),
        },
        modinfo: meta
            .modinfo
            .iter()
            .map(|e| json_modinfo(&e.key, &e.value))
            .collect(),
        exports: meta
            .exports
            .iter()
            .map(|e| JsonExport {
                name: lossy(&e.name),
                crc: crc_hex(e.crc),
            })
            .collect(),
        exports_error: meta.exports_error.as_ref().map(|e| e.to_string()),
        imports: meta
            .imports
            .iter()
            .map(|i| JsonImport {
                name: lossy(&i.name),
                weak: i.weak,
                crc: crc_hex(i.crc),
            })
            .collect(),
        signature: meta.signature.as_ref().map(|s| JsonSignature {
            id: s.id.clone(),
            signer: lossy(&s.signer),
            key_id: hex_colon(&s.key_id).replace("\n\t\t", ""),
            hash_algo: s.hash_algo.clone(),
            signature: hex_colon(&s.signature).replace("\n\t\t", ""),
        }),
    }
}

/// The JSON object of a module that could not be read.
pub fn json_error(path: &str, err: &ModuleError) -> JsonError {
    JsonError {
        path: path.to_string(),
        name: name_from_file_name(path),
        error: err.to_string(),
        errno: err.errno().strerror().to_string(),
    }
}

/// `modinfo --tree --json`: one JSON line per module of a tree, read in
/// parallel and handed to `emit` in discovery order as soon as it and every
/// earlier line are ready (a bounded window of modules is in flight, so
/// memory does not grow with the tree). Returns whether every module could
/// be read, or the first error `emit` returned.
pub fn tree_json_lines<E>(
    basedir: Option<&str>,
    version: &str,
    jobs: Option<usize>,
    limits: &crate::module::Limits,
    mut emit: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<Result<bool, E>, crate::tree::walk::DiscoverError> {
    use crate::tree::{walk, Config};
    let root = basedir.unwrap_or("");
    let dir = format!("{root}/lib/modules/{version}");
    let (modules, _) = walk::discover(&dir, &Config::empty(), walk::Suffixes::default())?;
    let render_one = |c: &walk::Candidate| -> (Vec<u8>, bool) {
        let path = c.path().as_str();
        let (line, ok) = match crate::module::read_module_file(c.path(), limits) {
            Ok(meta) => (serde_json::to_vec(&to_json(path, &meta)), true),
            Err(e) => (serde_json::to_vec(&json_error(path, &e)), false),
        };
        let mut line = line.unwrap_or_default();
        line.push(b'\n');
        (line, ok)
    };
    let mut all_ok = true;
    let emitted = crate::jobs::map_in_order(jobs, &modules, render_one, |(line, ok)| {
        all_ok &= ok;
        emit(&line)
    });
    Ok(emitted.map(|()| all_ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_wraps_after_20_bytes() {
        assert_eq!(hex_colon(&[]), "");
        assert_eq!(hex_colon(&[0x0a]), "0A");
        let b: Vec<u8> = (0..21).collect();
        let s = hex_colon(&b);
        assert!(s.starts_with("00:01:"));
        assert!(s.ends_with("12:13:\n\t\t14"));
        let b20: Vec<u8> = (0..20).collect();
        assert!(!hex_colon(&b20).contains('\n'));
    }
}
