//! An index of kernel size (~30k aliases + ~40k symbols) written in both
//! layouts reads back to the same entries. (Its speed is measured by the
//! benchmarks, not here.)

use kmodtree::index::{Index, IndexBuilder, Layout};

/// A deterministic pseudo-random sequence (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn kernel_sized_index() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut triples: Vec<(Vec<u8>, Vec<u8>, u32)> = Vec::new();
    for i in 0..30_000u32 {
        let r = rng.next();
        let module = format!("mod{}", r % 4000);
        let key = match i % 3 {
            0 => format!(
                "pci:v0000{:04X}d0000{:04X}sv*sd*bc*sc*i*",
                r & 0xffff,
                (r >> 16) & 0xffff
            ),
            1 => format!(
                "usb:v{:04X}p{:04X}d*dc*dsc*dp*ic*isc*ip*in*",
                r & 0xffff,
                (r >> 16) & 0xffff
            ),
            _ => format!("of:N*T*Cvendor{},device-{}", r % 97, r % 1009),
        };
        triples.push((key.into_bytes(), module.into_bytes(), (r % 4000) as u32));
    }
    for i in 0..40_000u32 {
        let r = rng.next();
        let key = format!(
            "symbol:{}_{:x}_{i}",
            ["drm", "snd", "usb", "nf", "__ksym"][(r % 5) as usize],
            r >> 40
        );
        triples.push((
            key.into_bytes(),
            format!("mod{}", r % 4000).into_bytes(),
            (r % 4000) as u32,
        ));
    }

    let mut b = IndexBuilder::new();
    for (k, v, p) in &triples {
        b.insert(k, v, *p);
    }
    let pre = b.try_to_bytes(Layout::PreOrder).unwrap();
    let post = b.try_to_bytes(Layout::PostOrder).unwrap();
    assert_eq!(pre.len(), post.len());
    let entries = Index::parse(&pre).unwrap().entries().unwrap();
    assert_eq!(entries.len(), triples.len());
    let mut want: Vec<&[u8]> = triples.iter().map(|t| &t.0[..]).collect();
    want.sort();
    let got: Vec<&[u8]> = entries.iter().map(|e| &e.key[..]).collect();
    assert_eq!(got, want);
}
