//! The appended module signature (modinfo's `sig_*` fields).
//!
//! Layout at the end of the (decompressed) image:
//!
//! ```text
//! [ module ][ signer ][ key id ][ signature ][ struct module_signature ]["~Module signature appended~\n"]
//! ```
//!
//! `struct module_signature` is 12 bytes: algo, hash, id_type, signer_len,
//! key_id_len, 3 pad bytes, big-endian u32 sig_len. kmod 34 accepts it when
//! algo < 2, hash < 9, id_type < 3, sig_len > 0 and the three lengths fit.
//!
//! * id_type 0/1 (PGP, X509): the fields are the raw bytes before the
//!   structure, the hash name comes from the kernel's table.
//! * id_type 2 (PKCS#7): what kmod 34 built with OpenSSL prints, from the
//!   first SignerInfo of the SignedData: `signer` = the issuer's commonName
//!   (or, as OpenSSL's loop leaves it, the last name entry when there is no
//!   CN), `sig_key` = the serial number's magnitude (BN_bn2bin: big-endian,
//!   no leading zeros), `sig_hashalgo` = OpenSSL's long name of the digest
//!   algorithm OID (dotted form if unknown), `signature` = the
//!   encryptedDigest octets. If the DER does not parse, kmod shows no
//!   signature fields at all, and neither do we.

use super::SignatureInfo;

const SIG_MAGIC: &[u8] = b"~Module signature appended~\n";
const MODSIG_SIZE: usize = 12;

const PKEY_HASH_ALGO: [&str; 9] = [
    "md4", "md5", "sha1", "rmd160", "sha256", "sha384", "sha512", "sha224", "sm3",
];
const PKEY_ID_TYPE: [&str; 3] = ["PGP", "X509", "PKCS#7"];
const PKEY_ID_PKCS7: u8 = 2;

/// How many bytes at an image's end say whether and how long a signature
/// is appended (the marker and the `module_signature` fields).
pub const TRAILER_LEN: u64 = (SIG_MAGIC.len() + MODSIG_SIZE) as u64;

/// How many bytes at the end of an image [`parse`] reads, from its last
/// [`TRAILER_LEN`] bytes (`trailer`; fewer when the image is shorter).
pub fn extent(trailer: &[u8]) -> u64 {
    match split(trailer) {
        Some((_, f, sig_len)) => TRAILER_LEN + sig_len + u64::from(f[3]) + u64::from(f[4]),
        None => trailer.len() as u64,
    }
}

/// An image ending in the marker, split: the bytes before its
/// `module_signature`, the structure's first five fields (algo, hash,
/// id_type, signer_len, key_id_len) and its sig_len.
fn split(image: &[u8]) -> Option<(&[u8], [u8; 5], u64)> {
    let body = image.strip_suffix(SIG_MAGIC)?;
    let (body, modsig) = body.split_at(body.len().checked_sub(MODSIG_SIZE)?);
    let [a, b, c, d, e, _, _, _, len @ ..] = <[u8; MODSIG_SIZE]>::try_from(modsig).ok()?;
    Some((body, [a, b, c, d, e], u64::from(u32::from_be_bytes(len))))
}

/// Reads the signature appended to a plain module image, if any.
pub fn parse(image: &[u8]) -> Option<SignatureInfo> {
    let (body, [algo, hash, id_type, signer_len, key_id_len], sig_len) = split(image)?;
    if algo >= 2 || usize::from(hash) >= PKEY_HASH_ALGO.len() || usize::from(id_type) >= 3 {
        return None;
    }
    let size = body.len() as u64;
    if sig_len == 0 || size < sig_len + u64::from(signer_len) + u64::from(key_id_len) {
        return None;
    }
    let sig_start = body.len() - sig_len as usize;
    let sig = &body[sig_start..];
    if id_type == PKEY_ID_PKCS7 {
        return pkcs7(sig);
    }
    let key_start = sig_start - usize::from(key_id_len);
    let signer_start = key_start - usize::from(signer_len);
    Some(SignatureInfo {
        id: PKEY_ID_TYPE[usize::from(id_type)].to_string(),
        signer: c_string(&body[signer_start..key_start]).to_vec(),
        key_id: body[key_start..sig_start].to_vec(),
        hash_algo: PKEY_HASH_ALGO[usize::from(hash)].to_string(),
        signature: sig.to_vec(),
    })
}

/// The bytes before the first NUL (kmod prints these fields with `%s`).
fn c_string(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or_default()
}

/// The PKCS#7 fields; `None` whenever OpenSSL's decoder would fail.
fn pkcs7(der: &[u8]) -> Option<SignatureInfo> {
    // ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }
    let mut ci = Tlv::parse(der, 0)?.expect(TAG_SEQUENCE)?.children();
    // Only signedData is accepted (a valid OID, so no other check).
    if ci.field(TAG_OID)?.content != OID_SIGNED_DATA {
        return None;
    }
    // SignedData ::= SEQUENCE { version, digestAlgorithms SET,
    //   contentInfo SEQUENCE, [0] certificates OPT, [1] crls OPT,
    //   signerInfos SET }
    let mut sd = ci.enter(TAG_CONTEXT_0)?.enter(TAG_SEQUENCE)?;
    check_integer(sd.field(TAG_INTEGER)?.content)?;
    sd.field(TAG_SET)?;
    sd.field(TAG_SEQUENCE)?;
    sd.skip_if(TAG_CONTEXT_0)?;
    sd.skip_if(TAG_CONTEXT_1)?;
    // SignerInfo ::= SEQUENCE { version, issuerAndSerialNumber SEQUENCE,
    //   digestAlgorithm, [0] authenticatedAttributes OPT,
    //   digestEncryptionAlgorithm, encryptedDigest OCTET STRING,
    //   [1] unauthenticatedAttributes OPT }
    let mut si = sd.enter(TAG_SET)?.enter(TAG_SEQUENCE)?;
    check_integer(si.field(TAG_INTEGER)?.content)?;
    let mut ias = si.enter(TAG_SEQUENCE)?;
    let issuer = ias.field(TAG_SEQUENCE)?;
    let serial = ias.field(TAG_INTEGER)?.content;
    check_integer(serial)?;
    let digest_alg = algorithm_oid(&mut si)?;
    si.skip_if(TAG_CONTEXT_0)?;
    algorithm_oid(&mut si)?;
    Some(SignatureInfo {
        id: PKEY_ID_TYPE[usize::from(PKEY_ID_PKCS7)].to_string(),
        signer: issuer_name(issuer)?,
        key_id: integer_magnitude(serial),
        hash_algo: oid_name(digest_alg),
        signature: si.field(TAG_OCTET_STRING)?.content.to_vec(),
    })
}

/// The OID of the next element, an AlgorithmIdentifier
/// `SEQUENCE { OID, ANY OPTIONAL }`.
fn algorithm_oid<'a>(c: &mut Children<'a>) -> Option<&'a [u8]> {
    let oid = c.enter(TAG_SEQUENCE)?.field(TAG_OID)?.content;
    check_oid(oid)?;
    Some(oid)
}

/// kmod's `x509_name_to_str`: the first commonName value, else the last
/// entry's value; empty for an empty name. The value stops at its first NUL
/// (`strlen`). `None` if the Name is malformed.
fn issuer_name(name: Tlv<'_>) -> Option<Vec<u8>> {
    let mut cn: Option<&[u8]> = None;
    let mut last: Option<&[u8]> = None;
    let mut rdns = name.children();
    while !rdns.rest.is_empty() {
        let mut avas = rdns.enter(TAG_SET)?;
        while !avas.rest.is_empty() {
            let mut parts = avas.enter(TAG_SEQUENCE)?;
            let oid = parts.field(TAG_OID)?.content;
            check_oid(oid)?;
            let value = parts.any()?;
            let data = if value.constructed {
                value.whole
            } else {
                value.content
            };
            if oid == OID_COMMON_NAME && cn.is_none() {
                cn = Some(data);
            }
            last = Some(data);
        }
    }
    Some(
        cn.or(last)
            .map(|d| c_string(d).to_vec())
            .unwrap_or_default(),
    )
}

/// BN_bn2bin of an INTEGER: the magnitude, big-endian, without leading
/// zero bytes (empty for zero).
fn integer_magnitude(content: &[u8]) -> Vec<u8> {
    let mut mag = content.to_vec();
    if content.first().is_some_and(|&b| b & 0x80 != 0) {
        // Two's complement negation: invert, add one.
        let mut carry = true;
        for b in mag.iter_mut().rev() {
            (*b, carry) = (!*b).overflowing_add(u8::from(carry));
        }
    }
    let lead = mag.iter().position(|&b| b != 0).unwrap_or(mag.len());
    mag.drain(..lead);
    mag
}

/// OpenSSL's INTEGER content rules (c2i_ibuf): not empty, no redundant
/// leading 0x00/0xFF octet.
fn check_integer(c: &[u8]) -> Option<()> {
    match c {
        [] => None,
        [0x00, b, ..] if b & 0x80 == 0 => None,
        // OpenSSL counts 0xFF as padding when a later octet is not zero,
        // which a second octet with its top bit set is.
        [0xFF, b, ..] if b & 0x80 != 0 => None,
        _ => Some(()),
    }
}

/// OpenSSL's OBJECT IDENTIFIER content rules: not empty, sub-identifiers
/// minimally encoded, last octet terminates a sub-identifier.
fn check_oid(c: &[u8]) -> Option<()> {
    if c.is_empty() || c[c.len() - 1] & 0x80 != 0 {
        return None;
    }
    let mut at_start = true;
    for &b in c {
        if at_start && b == 0x80 {
            return None;
        }
        at_start = b & 0x80 == 0;
    }
    Some(())
}

const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// OpenSSL long names of the digest (and a few signature) algorithms a
/// module can name, by OID content bytes in dotted form.
const OID_NAMES: &[(&str, &str)] = &[
    ("1.2.840.113549.2.2", "md2"),
    ("1.2.840.113549.2.4", "md4"),
    ("1.2.840.113549.2.5", "md5"),
    ("1.3.14.3.2.26", "sha1"),
    ("1.3.36.3.2.1", "ripemd160"),
    ("2.16.840.1.101.3.4.2.1", "sha256"),
    ("2.16.840.1.101.3.4.2.2", "sha384"),
    ("2.16.840.1.101.3.4.2.3", "sha512"),
    ("2.16.840.1.101.3.4.2.4", "sha224"),
    ("2.16.840.1.101.3.4.2.5", "sha512-224"),
    ("2.16.840.1.101.3.4.2.6", "sha512-256"),
    ("2.16.840.1.101.3.4.2.7", "sha3-224"),
    ("2.16.840.1.101.3.4.2.8", "sha3-256"),
    ("2.16.840.1.101.3.4.2.9", "sha3-384"),
    ("2.16.840.1.101.3.4.2.10", "sha3-512"),
    ("2.16.840.1.101.3.4.2.11", "shake128"),
    ("2.16.840.1.101.3.4.2.12", "shake256"),
    ("1.2.156.10197.1.401", "sm3"),
    ("1.2.643.7.1.1.2.2", "GOST R 34.11-2012 with 256 bit hash"),
    ("1.2.643.7.1.1.2.3", "GOST R 34.11-2012 with 512 bit hash"),
    ("1.2.840.113549.1.1.1", "rsaEncryption"),
    ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
    ("1.2.840.113549.1.1.11", "sha256WithRSAEncryption"),
    ("1.2.840.113549.1.1.12", "sha384WithRSAEncryption"),
    ("1.2.840.113549.1.1.13", "sha512WithRSAEncryption"),
    ("1.2.840.113549.1.1.14", "sha224WithRSAEncryption"),
    ("1.2.840.10045.2.1", "id-ecPublicKey"),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256"),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384"),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512"),
];

/// OBJ_obj2txt(no_name = 0) for the OIDs above, else the dotted form.
fn oid_name(content: &[u8]) -> String {
    let dotted = oid_dotted(content);
    OID_NAMES
        .iter()
        .find(|(d, _)| *d == dotted)
        .map(|(_, n)| n.to_string())
        .unwrap_or(dotted)
}

/// Dotted decimal form of (validated) OID content bytes.
fn oid_dotted(content: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut acc: u128 = 0;
    for &b in content {
        if acc > (u128::MAX >> 7) {
            // Arcs this large do not occur in module signatures.
            return String::from("unknown");
        }
        acc = (acc << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
        }
    }
    let Some((&first, rest)) = arcs.split_first() else {
        return String::from("unknown");
    };
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    [a, b]
        .iter()
        .chain(rest)
        .map(u128::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

// ---------------------------------------------------------------------
// A minimal BER/DER reader: definite and indefinite lengths, single-octet
// and multi-octet tags, every length checked against the data left.

const TAG_INTEGER: u32 = 0x02;
const TAG_OCTET_STRING: u32 = 0x04;
const TAG_OID: u32 = 0x06;
const TAG_SEQUENCE: u32 = 0x10;
const TAG_SET: u32 = 0x11;
/// Context-specific tags are kept apart from universal ones by this bit.
const CONTEXT: u32 = 1 << 31;
const TAG_CONTEXT_0: u32 = CONTEXT;
const TAG_CONTEXT_1: u32 = CONTEXT | 1;
/// Deepest nesting followed (indefinite lengths recurse).
const MAX_DEPTH: u32 = 32;

/// One TLV element.
#[derive(Clone, Copy, Debug)]
struct Tlv<'a> {
    /// Tag number; context-specific tags have [`CONTEXT`] set,
    /// application/private ones bit 30.
    tag: u32,
    constructed: bool,
    /// The content octets (for an indefinite length: without the
    /// end-of-contents octets).
    content: &'a [u8],
    /// The whole encoding.
    whole: &'a [u8],
    depth: u32,
}

impl<'a> Tlv<'a> {
    /// Parses the element at the start of `data` (it occupies
    /// `whole.len()` bytes).
    fn parse(data: &'a [u8], depth: u32) -> Option<Tlv<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        let first = *data.first()?;
        let class = first >> 6;
        let constructed = first & 0x20 != 0;
        let mut pos = 1;
        let mut number = u32::from(first & 0x1f);
        if number == 0x1f {
            number = 0;
            loop {
                let b = *data.get(pos)?;
                pos += 1;
                if number > (u32::MAX >> 9) {
                    return None;
                }
                number = (number << 7) | u32::from(b & 0x7f);
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        let tag = match class {
            0 => number,
            2 => CONTEXT | number,
            _ => (1 << 30) | number,
        };
        let len_byte = *data.get(pos)?;
        pos += 1;
        let (content, end) = if len_byte == 0x80 {
            // Indefinite: constructed only; children until 00 00.
            if !constructed {
                return None;
            }
            let mut at = pos;
            while !data.get(at..)?.starts_with(&[0, 0]) {
                at += Tlv::parse(&data[at..], depth + 1)?.whole.len();
            }
            (&data[pos..at], at + 2)
        } else {
            let len = if len_byte & 0x80 == 0 {
                u64::from(len_byte)
            } else {
                let n = usize::from(len_byte & 0x7f);
                if n > 8 {
                    return None;
                }
                let bytes = data.get(pos..pos + n)?;
                pos += n;
                bytes.iter().fold(0, |len, &b| len << 8 | u64::from(b))
            };
            let end = pos.checked_add(usize::try_from(len).ok()?)?;
            (data.get(pos..end)?, end)
        };
        Some(Tlv {
            tag,
            constructed,
            content,
            whole: &data[..end],
            depth,
        })
    }

    /// `Some(self)` if the tag matches (constructed for SEQUENCE, SET and
    /// explicit context tags, primitive for the others).
    fn expect(self, tag: u32) -> Option<Self> {
        let want_constructed = matches!(tag, TAG_SEQUENCE | TAG_SET) || tag & CONTEXT != 0;
        (self.tag == tag && self.constructed == want_constructed).then_some(self)
    }

    fn children(&self) -> Children<'a> {
        Children {
            rest: if self.constructed { self.content } else { &[] },
            depth: self.depth + 1,
        }
    }
}

/// The elements inside a constructed element.
struct Children<'a> {
    rest: &'a [u8],
    depth: u32,
}

impl<'a> Children<'a> {
    /// The next element; `None` at the end or on a malformed element.
    fn any(&mut self) -> Option<Tlv<'a>> {
        let t = Tlv::parse(self.rest, self.depth)?;
        self.rest = &self.rest[t.whole.len()..];
        Some(t)
    }

    /// The next element if it is there, well formed and tagged `tag`.
    fn field(&mut self, tag: u32) -> Option<Tlv<'a>> {
        self.any()?.expect(tag)
    }

    /// The elements inside the next element, [`Children::field`] `tag`.
    fn enter(&mut self, tag: u32) -> Option<Children<'a>> {
        Some(self.field(tag)?.children())
    }

    /// Skips the next element if it is tagged `tag` (an OPTIONAL field);
    /// `None` if there is no well-formed next element.
    fn skip_if(&mut self, tag: u32) -> Option<()> {
        if Tlv::parse(self.rest, self.depth)?.tag == tag {
            self.any();
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magnitude_like_bn2bin() {
        assert_eq!(integer_magnitude(&[0x00, 0x80]), vec![0x80]);
        assert_eq!(integer_magnitude(&[0x00]), Vec::<u8>::new());
        assert_eq!(integer_magnitude(&[0x15, 0xFD]), vec![0x15, 0xFD]);
        assert_eq!(integer_magnitude(&[0xFF]), vec![0x01]);
        assert_eq!(
            integer_magnitude(&[0xFF, 0x00, 0x00]),
            vec![0x01, 0x00, 0x00]
        );
        assert_eq!(integer_magnitude(&[0x80]), vec![0x80]);
    }

    #[test]
    fn integer_padding_rules() {
        assert!(check_integer(&[]).is_none());
        assert!(check_integer(&[0x00, 0x7f]).is_none());
        assert!(check_integer(&[0x00, 0x80]).is_some());
        assert!(check_integer(&[0xFF, 0x80, 0x01]).is_none());
        assert!(check_integer(&[0xFF, 0x7F]).is_some());
        assert!(check_integer(&[0xFF, 0x00, 0x00]).is_some());
    }

    #[test]
    fn oid_names() {
        assert_eq!(
            oid_name(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]),
            "sha256"
        );
        assert_eq!(oid_name(&[0x2b, 0x0e, 0x03, 0x02, 0x1a]), "sha1");
        assert_eq!(oid_name(&[0x2a, 0x03]), "1.2.3");
        assert_eq!(oid_name(&[0x88, 0x37, 0x01]), "2.999.1");
        assert!(check_oid(&[0x80, 0x01]).is_none());
        assert!(check_oid(&[0x2a, 0x81]).is_none());
    }

    #[test]
    fn default_signature_layout() {
        let mut img = b"MODULE".to_vec();
        img.extend_from_slice(b"me"); // signer
        img.extend_from_slice(&[0xAB, 0xCD]); // key id
        img.extend_from_slice(&[1, 2, 3]); // signature
        img.extend_from_slice(&[1, 4, 1, 2, 2, 0, 0, 0, 0, 0, 0, 3]);
        img.extend_from_slice(SIG_MAGIC);
        let s = parse(&img).unwrap();
        assert_eq!(s.id, "X509");
        assert_eq!(s.signer, b"me");
        assert_eq!(s.key_id, vec![0xAB, 0xCD]);
        assert_eq!(s.hash_algo, "sha256");
        assert_eq!(s.signature, vec![1, 2, 3]);
        // Lengths larger than the image: no signature.
        let n = img.len();
        img[n - SIG_MAGIC.len() - 1] = 200;
        assert!(parse(&img).is_none());
    }
}
