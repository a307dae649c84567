//! `fnmatch(3)` with flags 0, as libkmod calls it for wildcard alias
//! lookups: the C library's own, so every bracket, class and escape form
//! (and every malformed one) means exactly what it means to kmod. kmodtree
//! never calls `setlocale`, so this is the C locale, where each byte is one
//! character; a program that sets a multibyte locale gets that locale's
//! matching, as libkmod in that program would.

/// Does `string` match the shell pattern `pattern` (`fnmatch(pattern,
/// string, 0) == 0`)? Both are byte strings; a NUL byte ends either, as in C.
pub fn fnmatch(pattern: &[u8], string: &[u8]) -> bool {
    let (pattern, string) = ([pattern, b"\0"].concat(), [string, b"\0"].concat());
    // SAFETY: both are NUL-terminated and outlive the call; fnmatch(3)
    // only reads them.
    unsafe { libc::fnmatch(pattern.as_ptr().cast(), string.as_ptr().cast(), 0) == 0 }
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    fn m(p: &str, s: &str) -> bool {
        fnmatch(p.as_bytes(), s.as_bytes())
    }

    #[test]
    fn patterns() {
        assert!(!m("*a*a*a*a*b", &"a".repeat(5000)));
        for (pattern, s, want) in [
            ("", "", true),
            ("", "a", false),
            ("a", "", false),
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("???", "a/.", true),
            (".*", ".hidden", true),
            ("*", ".hidden", true),
            ("a*", "a/b/c", true),
            ("*", "", true),
            ("**", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "abcbcbc", true),
            ("a*b*c", "abcbcbx", false),
            ("*a*a*a*a*b", "aaaaaaaaab", true),
            (
                "pci:v00008086d000015B8sv*sd*bc*sc*i*",
                "pci:v00008086d000015B8sv00001028sd000007A1bc02sc00i00",
                true,
            ),
            (
                "usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*",
                "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00",
                true,
            ),
            ("[abc]", "b", true),
            ("[abc]", "d", false),
            ("[a-c]x", "cx", true),
            ("[a-c]x", "dx", false),
            ("[!a-c]", "d", true),
            ("[!a-c]", "a", false),
            ("[^a-c]", "d", true),
            ("[^a-c]", "b", false),
            // ']' first is a member; '-' first or last is literal.
            ("[]]", "]", true),
            ("[!]]", "a", true),
            ("[!]]", "]", false),
            ("[a-]", "-", true),
            ("[-a]", "-", true),
            // Reversed range matches nothing.
            ("[c-a]", "b", false),
            // Unterminated bracket: '[' is literal.
            ("a[b", "a[b", true),
            ("a[b", "ab", false),
            // Classes.
            ("[[:digit:]]x", "7x", true),
            ("[[:digit:]]x", "ax", false),
            ("[![:upper:]]", "a", true),
            ("[[:nope:]]", "a", false),
            ("[[:alpha:]0-9_]*", "_x", true),
            // Dashes kept inside alias bracket groups.
            ("of:N*T*Cfsl,imx[-_]uart", "of:NuartTCfsl,imx-uart", true),
            ("of:N*T*Cfsl,imx[-_]uart", "of:NuartTCfsl,imx_uart", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("a\\?c", "a?c", true),
            ("a\\?c", "abc", false),
            ("\\a", "a", true),
            ("[\\]]", "]", true),
            ("[a\\-z]", "-", true),
            ("[a\\-z]", "b", false),
            // A trailing backslash never matches.
            ("a\\", "a\\", false),
            ("a\\", "a", false),
            // A NUL byte ends the pattern and the string.
            ("ab\0zz", "ab", true),
            ("a*", "abc\0def", true),
        ] {
            assert_eq!(m(pattern, s), want, "{pattern:?} {s:?}");
        }
    }
}
