//! `fnmatch(3)` with flags 0 in the C locale, as libkmod calls it for
//! wildcard alias lookups: `*`, `?`, bracket expressions (ranges, `!`/`^`
//! negation, `[:class:]`), backslash escapes; `/` and leading `.` are not
//! special.
//!
//! Malformed brackets follow glibc (checked against it by a differential
//! test): unterminated → the `[` is literal; bad class name, or a range or
//! escape cut off by the end of the pattern → no match. Equivalence classes
//! and collating symbols are supported for single bytes only (`[=a=]`,
//! `[.a.]`), which is all the C locale has; glibc's handling of their
//! malformed forms is only approximated. No kmod alias uses any of these.
//!
//! Matching is the iterative single-backtrack-point algorithm: every token
//! other than `*` consumes exactly one byte, so on a mismatch only the most
//! recent `*` needs to absorb one more byte. Time is O(pattern × string), no
//! recursion, no allocation.

/// Outcome of a bracket expression at one string position.
enum Bracket {
    /// Well-formed; whether it matched, and the pattern index after `]`.
    Set(bool, usize),
    /// No closing `]`: the `[` is an ordinary character.
    Literal,
    /// Ill-formed (bad class name, escape or range at the end of the
    /// pattern): glibc returns FNM_NOMATCH, i.e. the token never matches.
    Invalid,
}

/// Does `string` match the shell pattern `pattern` (`fnmatch(pattern,
/// string, 0) == 0`)? Both are byte strings; a NUL byte ends either, as in C.
pub fn fnmatch(pattern: &[u8], string: &[u8]) -> bool {
    let pat = until_nul(pattern);
    let s = until_nul(string);
    let (mut p, mut i) = (0usize, 0usize);
    // Pattern index after the last `*`, and the string index it resumes at.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(&pc) = pat.get(p) {
            if pc == b'*' {
                p += 1;
                star = Some((p, i));
                continue;
            }
            if let Some(&c) = s.get(i) {
                let next = match pc {
                    b'?' => Some(p + 1),
                    b'\\' => match pat.get(p + 1) {
                        Some(&e) if e == c => Some(p + 2),
                        _ => None,
                    },
                    b'[' => match bracket(pat, p + 1, c) {
                        Bracket::Set(true, np) => Some(np),
                        Bracket::Literal if c == b'[' => Some(p + 1),
                        _ => None,
                    },
                    _ if pc == c => Some(p + 1),
                    _ => None,
                };
                if let Some(np) = next {
                    p = np;
                    i += 1;
                    continue;
                }
            }
        } else if i == s.len() {
            return true;
        }
        // Mismatch: let the last `*` absorb one more byte, if any is left.
        match star {
            Some((sp, si)) if si < s.len() => {
                star = Some((sp, si + 1));
                p = sp;
                i = si + 1;
            }
            _ => return false,
        }
    }
}

fn until_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// Evaluates the bracket expression starting at `pat[start]` (just after
/// `[`) against byte `c`.
///
/// Like glibc, members are parsed in order until one matches; the rest of
/// the expression is then only skipped (see [`skip_rest`]), so whether a
/// malformed tail makes the pattern fail can depend on `c`.
fn bracket(pat: &[u8], start: usize, c: u8) -> Bracket {
    let mut i = start;
    let negate = matches!(pat.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut first = true;
    loop {
        let Some(&b) = pat.get(i) else {
            return Bracket::Literal;
        };
        if b == b']' && !first {
            return Bracket::Set(negate, i + 1);
        }
        first = false;
        let lo = match b {
            b'\\' => {
                let Some(&e) = pat.get(i + 1) else {
                    return Bracket::Invalid;
                };
                i += 2;
                e
            }
            b'[' if matches!(pat.get(i + 1), Some(b':' | b'=' | b'.')) => match special(pat, i) {
                Special::Class(name, next) => {
                    let Some(m) = class_matches(name, c) else {
                        return Bracket::Invalid;
                    };
                    i = next;
                    if m {
                        return skip_rest(pat, i, negate);
                    }
                    continue;
                }
                Special::Char(ch, next) => {
                    i = next;
                    ch
                }
                Special::Ordinary => {
                    i += 1;
                    b'['
                }
                Special::Invalid => return Bracket::Invalid,
            },
            _ => {
                i += 1;
                b
            }
        };
        // A range `lo-hi`, unless the `-` is the last member (`[a-]`).
        let matched = if pat.get(i) == Some(&b'-') && pat.get(i + 1) != Some(&b']') {
            if i + 1 == pat.len() && lo == c {
                // glibc tests `lo` alone first when the `-` ends the pattern.
                return skip_rest(pat, i, negate);
            }
            let mut hi = pat.get(i + 1).copied();
            i += 2;
            if hi == Some(b'\\') {
                hi = pat.get(i).copied();
                i += 1;
            } else if hi == Some(b'[') && pat.get(i) == Some(&b'.') {
                // A collating symbol as the range end: `[a-[.z.]]`.
                match special(pat, i - 1) {
                    Special::Char(x, next) => {
                        hi = Some(x);
                        i = next;
                    }
                    _ => return Bracket::Invalid,
                }
            }
            // glibc: a range cut off by the end of the pattern fails.
            let Some(hi) = hi else {
                return Bracket::Invalid;
            };
            lo <= c && c <= hi
        } else {
            lo == c
        };
        if matched {
            return skip_rest(pat, i, negate);
        }
    }
}

/// After a member matched: finds the closing `]` from `pat[i]` on (escapes
/// and `[:class:]` forms are stepped over). No `]`: the `[` is literal.
fn skip_rest(pat: &[u8], mut i: usize, negate: bool) -> Bracket {
    loop {
        match pat.get(i) {
            None => return Bracket::Literal,
            Some(b']') => return Bracket::Set(!negate, i + 1),
            Some(b'\\') => {
                if i + 1 >= pat.len() {
                    return Bracket::Invalid;
                }
                i += 2;
            }
            Some(b'[') if pat.get(i + 1) == Some(&b':') => match special(pat, i) {
                Special::Class(_, next) => i = next,
                _ => i += 1,
            },
            Some(_) => i += 1,
        }
    }
}

enum Special<'a> {
    /// `[:name:]`, and the index after it.
    Class(&'a [u8], usize),
    /// `[.x.]` or `[=x=]` for a single byte x (C locale), and the index after.
    Char(u8, usize),
    /// Not a class/collating/equivalence form: `[` is an ordinary member.
    Ordinary,
    /// A malformed form glibc rejects.
    Invalid,
}

/// Parses `[:name:]`, `[.x.]` or `[=x=]` at `pat[i] == b'['`.
fn special(pat: &[u8], i: usize) -> Special<'_> {
    let delim = pat[i + 1];
    if delim == b':' {
        // glibc: lowercase letters (a..y) up to ":]" form a class name; any
        // other byte means this was not a class after all.
        let mut j = i + 2;
        loop {
            match pat.get(j) {
                Some(b':') if pat.get(j + 1) == Some(&b']') => {
                    return Special::Class(&pat[i + 2..j], j + 2);
                }
                // (sic: glibc stops at `c >= 'z'`, so no name contains 'z')
                Some(&b) if (b'a'..=b'y').contains(&b) => j += 1,
                _ => return Special::Ordinary,
            }
        }
    }
    // `[.x.]` / `[=x=]`: a single character in the C locale. glibc treats a
    // malformed `[=` as an ordinary `[`, but rejects a malformed `[.`.
    match (pat.get(i + 2), pat.get(i + 3), pat.get(i + 4)) {
        (Some(&x), Some(&d), Some(b']')) if d == delim => Special::Char(x, i + 5),
        _ if delim == b'=' => Special::Ordinary,
        _ => Special::Invalid,
    }
}

/// Membership of `c` in the POSIX class `name` (C locale); `None` for an
/// unknown class name.
fn class_matches(name: &[u8], c: u8) -> Option<bool> {
    Some(match name {
        b"alnum" => c.is_ascii_alphanumeric(),
        b"alpha" => c.is_ascii_alphabetic(),
        b"blank" => c == b' ' || c == b'\t',
        b"cntrl" => c.is_ascii_control(),
        b"digit" => c.is_ascii_digit(),
        b"graph" => c.is_ascii_graphic(),
        b"lower" => c.is_ascii_lowercase(),
        b"print" => c.is_ascii_graphic() || c == b' ',
        b"punct" => c.is_ascii_punctuation(),
        b"space" => matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'),
        b"upper" => c.is_ascii_uppercase(),
        b"xdigit" => c.is_ascii_hexdigit(),
        _ => return None,
    })
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
