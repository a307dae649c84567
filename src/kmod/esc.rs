//! A compact, reversible JSON encoding of byte strings.
//!
//! Symbol names, aliases and modinfo values are byte strings (nothing
//! guarantees UTF-8 inside a module), but almost all of them are printable
//! ASCII. They are written as JSON strings in which printable ASCII other
//! than `%` stands for itself and every other byte is `%XX` (two uppercase
//! hex digits). Compared with the alternatives this keeps manifests small
//! and readable (a JSON array of numbers is 3–4× larger and unreadable, hex
//! doubles the size, base64 would need a new dependency and hides the
//! names), and the decoder refuses anything the encoder cannot produce, so
//! a corrupt manifest is detected instead of misread.

use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Encodes `bytes` (see the module documentation).
pub fn encode(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            s.push(char::from(b));
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// Decodes what [`encode`] wrote; None for anything it cannot have written.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| match c {
                    b'0'..=b'9' => Some(c - b'0'),
                    b'A'..=b'F' => Some(c - b'A' + 10),
                    _ => None,
                };
                let hi = hex(*b.get(i + 1)?)?;
                let lo = hex(*b.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            c if (0x20..0x7f).contains(&c) => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

struct EscVisitor;

impl Visitor<'_> for EscVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a %-escaped byte string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        decode(v).ok_or_else(|| E::custom("invalid %-escaped byte string"))
    }
}

/// A byte string that (de)serialises escaped.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Esc(#[serde(with = "crate::kmod::esc")] pub Vec<u8>);

/// `#[serde(with = "esc")]` for `Vec<u8>`.
pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&encode(bytes))
}

/// `#[serde(with = "esc")]` for `Vec<u8>`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_str(EscVisitor)
}

/// `#[serde(with = "esc::opt")]` for `Option<Vec<u8>>`.
pub mod opt {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&v.as_deref().map(encode), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<Esc> = serde::Deserialize::deserialize(d)?;
        Ok(s.map(|e| e.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)).unwrap(), all);
        assert_eq!(encode(b"pci:v00008086d*"), "pci:v00008086d*");
        assert_eq!(encode(b"a%b\n\xff"), "a%25b%0A%FF");
        assert_eq!(decode("%0a"), None);
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("é"), None);
        assert_eq!(decode("\n"), None);
    }
}
