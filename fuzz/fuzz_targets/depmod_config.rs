#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kmodtree::fuzz::depmod_config(data));
