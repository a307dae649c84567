//! Alias normalisation for index keys (§8.5).

/// Normalises an alias for use as an index key (§8.5; libkmod's
/// `underscores`, also for modprobe.d names): `-` becomes `_` outside
/// bracket groups, a `[` group is copied verbatim up to and including
/// its `]`. Returns `None` for an unmatched `]` or a `[` without `]` (depmod
/// then warns "Unmatched bracket" and skips the alias).
pub fn normalize_alias(alias: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(alias.len());
    let mut i = 0;
    while i < alias.len() {
        match alias[i] {
            b'-' => out.push(b'_'),
            b']' => return None,
            b'[' => {
                let close = alias[i..].iter().position(|&b| b == b']')?;
                out.extend_from_slice(&alias[i..=i + close]);
                i += close;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_normalisation() {
        assert_eq!(normalize_alias(b"usb-storage").unwrap(), b"usb_storage");
        assert_eq!(
            normalize_alias(b"of:N*T*Cfsl,imx-uart[-_]x-y").unwrap(),
            b"of:N*T*Cfsl,imx_uart[-_]x_y"
        );
        assert_eq!(normalize_alias(b"a[b-c]-[-]").unwrap(), b"a[b-c]_[-]");
        // '[' inside a group is just copied; the group ends at the first ']'.
        assert_eq!(normalize_alias(b"[[-]-").unwrap(), b"[[-]_");
        assert_eq!(normalize_alias(b""), Some(Vec::new()));
        assert_eq!(normalize_alias(b"a]b"), None);
        assert_eq!(normalize_alias(b"a[b-c"), None);
        assert_eq!(normalize_alias(b"a[b]]"), None);
    }
}
