//! `modules.builtin` and `modules.builtin.modinfo` (spec §8.3).

use super::order::fgets_lines;
use crate::kmod::Diagnostic;

/// Keys of `modules.builtin.bin`, in file order, with kmod's errors for
/// lines not starting with an ASCII letter.
pub fn builtin_keys(data: &[u8]) -> (Vec<Vec<u8>>, Vec<Diagnostic>) {
    let mut keys = Vec::new();
    let mut diags = Vec::new();
    for line in fgets_lines(data, 4096) {
        if !line.first().is_some_and(u8::is_ascii_alphabetic) {
            diags.push(Diagnostic::error(format!(
                "Invalid modules.builtin line: {}",
                String::from_utf8_lossy(line)
            )));
            continue;
        }
        keys.push(crate::kmod::modname_normalize(crate::kmod::basename(line)));
    }
    (keys, diags)
}

/// `(alias, module)` pairs of `modules.builtin.modinfo`, in file order,
/// parsed as kmod's byte-stream reader does (malformed records dropped, a
/// key without `=` swallowing the following record).
pub fn builtin_aliases(data: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    fn cut(s: &[u8], at: u8) -> Option<(&[u8], &[u8])> {
        s.iter()
            .position(|&b| b == at)
            .map(|i| (&s[..i], &s[i + 1..]))
    }
    let mut out = Vec::new();
    // Records, each with its NUL (the last one may have none).
    let mut records = data.split_inclusive(|&b| b == 0);
    while let Some(record) = records.next() {
        let Some((modname, rest)) = cut(record, b'.') else {
            continue;
        };
        match cut(rest, b'=') {
            Some((b"alias", value)) => match value.strip_suffix(b"\0") {
                Some(value) if !value.is_empty() => out.push((value.to_vec(), modname.to_vec())),
                _ => {}
            },
            Some(_) => {}
            // The key ran into the NUL: skipping to the next NUL swallows
            // the following record.
            None => {
                records.next();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lines() {
        let (keys, diags) = builtin_keys(b"kernel/fs/ext-4.ko\n\n9p.ko\nkernel/nodot\nlast.ko");
        assert_eq!(
            keys,
            vec![b"ext_4".to_vec(), b"nodot\n".to_vec(), b"last".to_vec()]
        );
        assert_eq!(diags.len(), 2);
        assert_eq!(diags[0].text, "Invalid modules.builtin line: \n");
    }

    #[test]
    fn builtin_modinfo_records() {
        let data = b"m1.alias=a1\0m1.license=GPL\0m2.alias=a2\0bad\0m3.alias=\0m4.alias=a4";
        let got = builtin_aliases(data);
        assert_eq!(
            got,
            vec![
                (b"a1".to_vec(), b"m1".to_vec()),
                (b"a2".to_vec(), b"m2".to_vec())
            ]
        );
    }
}
