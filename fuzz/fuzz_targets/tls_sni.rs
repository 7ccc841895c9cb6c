#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice_fuzz::tls_sni(data));
