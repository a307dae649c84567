//! kmod's hash tables, reproduced for their iteration order (spec §4.1).
//!
//! kmod iterates its hash tables bucket by bucket, entries inside a bucket
//! sorted by `strcmp`. Module order and `modules.symbols` order follow from
//! that, so we reproduce Paul Hsieh's SuperFastHash exactly as kmod's
//! x86_64/glibc build computes it (16-bit loads little-endian, `char` signed).

/// kmod's SuperFastHash of `key`.
pub fn superfast_hash(key: &[u8]) -> u32 {
    let len = key.len();
    let mut h = len as u32;
    let u16le = |p: usize| u32::from(key[p]) | (u32::from(key[p + 1]) << 8);
    // C `char` on x86_64 is signed: bytes >= 0x80 are sign-extended.
    let sbyte = |p: usize| key[p] as i8 as i32 as u32;
    let mut p = 0;
    for _ in 0..len / 4 {
        h = h.wrapping_add(u16le(p));
        let t = (u16le(p + 2) << 11) ^ h;
        h = (h << 16) ^ t;
        p += 4;
        h = h.wrapping_add(h >> 11);
    }
    match len & 3 {
        3 => {
            h = h.wrapping_add(u16le(p));
            h ^= h << 16;
            h ^= sbyte(p + 2) << 18;
            h = h.wrapping_add(h >> 11);
        }
        2 => {
            h = h.wrapping_add(u16le(p));
            h ^= h << 11;
            h = h.wrapping_add(h >> 17);
        }
        1 => {
            h = h.wrapping_add(sbyte(p));
            h ^= h << 10;
            h = h.wrapping_add(h >> 1);
        }
        _ => {}
    }
    h ^= h << 3;
    h = h.wrapping_add(h >> 5);
    h ^= h << 4;
    h = h.wrapping_add(h >> 17);
    h ^= h << 25;
    h = h.wrapping_add(h >> 6);
    h
}

/// Buckets of kmod's module hash table.
pub const MODULE_BUCKETS: u32 = 512;
/// Buckets of kmod's symbol hash table.
pub const SYMBOL_BUCKETS: u32 = 2048;

/// Sort key giving kmod's iteration order for a table of `buckets` buckets.
pub fn iteration_key(key: &[u8], buckets: u32) -> (u32, &[u8]) {
    (superfast_hash(key) & (buckets - 1), key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_test_vectors() {
        // Vectors from the spec §4.1, verified there against kmod's function.
        let cases: &[(&str, u32)] = &[
            ("", 0x00000000),
            ("a", 0x115ea782),
            ("ab", 0x516b8b44),
            ("abc", 0xd2be198a),
            ("abcd", 0xdad8b8db),
            ("abcde", 0x51ed072e),
            ("ext4", 0xe679ab16),
            ("snd_hda_intel", 0x6e4028a1),
            ("usb_storage", 0x9f9b2fab),
            ("mod_loop_a", 0xbaa40adf),
            ("printk", 0x6a0863d1),
            ("symbol", 0x13257769),
        ];
        for (s, h) in cases {
            assert_eq!(superfast_hash(s.as_bytes()), *h, "hash of {s:?}");
        }
        assert_eq!(superfast_hash(b"ext4") & (MODULE_BUCKETS - 1), 278);
        assert_eq!(superfast_hash(b"snd_hda_intel") & (MODULE_BUCKETS - 1), 161);
        assert_eq!(superfast_hash(b"usb_storage") & (MODULE_BUCKETS - 1), 427);
        assert_eq!(superfast_hash(b"mod_loop_a") & (MODULE_BUCKETS - 1), 223);
        assert_eq!(superfast_hash(b"printk") & (SYMBOL_BUCKETS - 1), 977);
        assert_eq!(superfast_hash(b"symbol") & (SYMBOL_BUCKETS - 1), 1897);
    }
}
