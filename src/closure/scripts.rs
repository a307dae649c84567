//! Load scripts in the manner of liminix's kmodloader: `load-order` (the
//! modules' paths relative to the module directory, de-duplicated keeping
//! first occurrences), `load.sh` (`insmod` in that order) and `unload.sh`
//! (`rmmod` in the reverse order). Both scripts set `O` to the module
//! directory first (liminix's unload.sh loses it: it overwrites the file).

/// One module to load: its path relative to the module directory and the
/// options modprobe would pass (from modprobe.d `options`; may be empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadEntry {
    pub relpath: Vec<u8>,
    pub options: Vec<u8>,
}

/// The entries in first-occurrence order, later duplicates (same path)
/// dropped — liminix's `awk '!a[$0]++'`.
pub fn unique_load_entries_in_order(entries: &[LoadEntry]) -> Vec<LoadEntry> {
    let mut seen = std::collections::HashSet::new();
    entries
        .iter()
        .filter(|e| seen.insert(e.relpath.clone()))
        .cloned()
        .collect()
}

/// Quotes bytes for a POSIX shell: inside single quotes, `'` as `'\''`.
pub fn shell_quote(s: &[u8]) -> Vec<u8> {
    let parts: Vec<&[u8]> = s.split(|&b| b == b'\'').collect();
    [&b"'"[..], &parts.join(&b"'\\''"[..]), b"'"].concat()
}

/// `COMMAND "$O"/'RELPATH'`, safe for any bytes in RELPATH.
fn module_command(command: &[u8], relpath: &[u8]) -> Vec<u8> {
    [command, b" \"$O\"/", &shell_quote(relpath)].concat()
}

/// The `load-order` file: one relative path per line.
pub fn load_order_text(entries: &[LoadEntry]) -> Vec<u8> {
    let unique = unique_load_entries_in_order(entries);
    unique
        .iter()
        .flat_map(|e| [&e.relpath[..], b"\n"].concat())
        .collect()
}

fn script_header(module_dir: &[u8], what: &str) -> Vec<u8> {
    let head = format!("#!/bin/sh\n# Written by kmodtree: {what}\nO=");
    [head.as_bytes(), &shell_quote(module_dir), b"\n"].concat()
}

/// `load.sh`: `O=MODULE_DIR`, then `insmod "$O"/'PATH' ['OPTIONS']` per
/// module in load order. The options go to insmod as one argument, which
/// it passes to the kernel as they are (as modprobe does).
pub fn load_script_text(module_dir: &[u8], entries: &[LoadEntry]) -> Vec<u8> {
    let mut out = script_header(module_dir, "insert the modules in dependency order.");
    for e in unique_load_entries_in_order(entries) {
        out.extend(module_command(b"insmod", &e.relpath));
        if !e.options.is_empty() {
            out.push(b' ');
            out.extend(shell_quote(&e.options));
        }
        out.push(b'\n');
    }
    out
}

/// `unload.sh`: `O=MODULE_DIR`, then `rmmod "$O"/'PATH'` per module in
/// reverse load order.
pub fn unload_script_text(module_dir: &[u8], entries: &[LoadEntry]) -> Vec<u8> {
    let mut out = script_header(
        module_dir,
        "remove the modules in reverse dependency order.",
    );
    for e in unique_load_entries_in_order(entries).iter().rev() {
        out.extend(module_command(b"rmmod", &e.relpath));
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(p: &str, o: &str) -> LoadEntry {
        LoadEntry {
            relpath: p.into(),
            options: o.into(),
        }
    }

    #[test]
    fn scripts_keep_first_occurrences_and_set_o() {
        let entries = [
            e("kernel/a.ko", ""),
            e("kernel/b.ko", "x=1 y=\"a b\""),
            e("kernel/a.ko", ""),
            e("kernel/it's.ko", ""),
        ];
        assert_eq!(
            load_order_text(&entries),
            b"kernel/a.ko\nkernel/b.ko\nkernel/it's.ko\n"
        );
        let load = String::from_utf8(load_script_text(b"/out/lib/modules/1.0", &entries)).unwrap();
        assert_eq!(
            load.lines().skip(2).collect::<Vec<_>>(),
            [
                "O='/out/lib/modules/1.0'",
                "insmod \"$O\"/'kernel/a.ko'",
                "insmod \"$O\"/'kernel/b.ko' 'x=1 y=\"a b\"'",
                "insmod \"$O\"/'kernel/it'\\''s.ko'",
            ]
        );
        let unload = String::from_utf8(unload_script_text(b"/o", &entries)).unwrap();
        assert_eq!(
            unload.lines().skip(2).collect::<Vec<_>>(),
            [
                "O='/o'",
                "rmmod \"$O\"/'kernel/it'\\''s.ko'",
                "rmmod \"$O\"/'kernel/b.ko'",
                "rmmod \"$O\"/'kernel/a.ko'",
            ]
        );
    }
}
