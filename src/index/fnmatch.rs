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
    fn literals_and_question_mark() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(!m("a", ""));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abd"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("???", "a/."));
        assert!(m(".*", ".hidden"));
        assert!(m("*", ".hidden"));
        assert!(m("a*", "a/b/c"));
    }

    #[test]
    fn star_backtracking() {
        assert!(m("*", ""));
        assert!(m("**", "abc"));
        assert!(m("a*b*c", "aXbYc"));
        assert!(m("a*b*c", "abcbcbc"));
        assert!(!m("a*b*c", "abcbcbx"));
        assert!(m("*a*a*a*a*b", "aaaaaaaaab"));
        assert!(!m("*a*a*a*a*b", &"a".repeat(5000)));
        assert!(m(
            "pci:v00008086d000015B8sv*sd*bc*sc*i*",
            "pci:v00008086d000015B8sv00001028sd000007A1bc02sc00i00"
        ));
        assert!(m(
            "usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*",
            "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00"
        ));
    }

    #[test]
    fn brackets() {
        assert!(m("[abc]", "b"));
        assert!(!m("[abc]", "d"));
        assert!(m("[a-c]x", "cx"));
        assert!(!m("[a-c]x", "dx"));
        assert!(m("[!a-c]", "d"));
        assert!(!m("[!a-c]", "a"));
        assert!(m("[^a-c]", "d"));
        assert!(!m("[^a-c]", "b"));
        // ']' first is a member; '-' first or last is literal.
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
        assert!(!m("[!]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("[-a]", "-"));
        // Reversed range matches nothing.
        assert!(!m("[c-a]", "b"));
        // Unterminated bracket: '[' is literal.
        assert!(m("a[b", "a[b"));
        assert!(!m("a[b", "ab"));
        // Classes.
        assert!(m("[[:digit:]]x", "7x"));
        assert!(!m("[[:digit:]]x", "ax"));
        assert!(m("[![:upper:]]", "a"));
        assert!(!m("[[:nope:]]", "a"));
        assert!(m("[[:alpha:]0-9_]*", "_x"));
        // Dashes kept inside alias bracket groups.
        assert!(m("of:N*T*Cfsl,imx[-_]uart", "of:NuartTCfsl,imx-uart"));
        assert!(m("of:N*T*Cfsl,imx[-_]uart", "of:NuartTCfsl,imx_uart"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\?c", "a?c"));
        assert!(!m("a\\?c", "abc"));
        assert!(m("\\a", "a"));
        assert!(m("[\\]]", "]"));
        assert!(m("[a\\-z]", "-"));
        assert!(!m("[a\\-z]", "b"));
        // A trailing backslash never matches.
        assert!(!m("a\\", "a\\"));
        assert!(!m("a\\", "a"));
    }

    #[test]
    fn nul_ends_strings() {
        assert!(fnmatch(b"ab\0zz", b"ab"));
        assert!(fnmatch(b"a*", b"abc\0def"));
    }
}
