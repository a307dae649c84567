#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kmodtree::fuzz::module_file(data));
