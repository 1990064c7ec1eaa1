//! Cookie header parser: never panics; every cookie has a name.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spoa_waf::body::cookies;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    cookies::parse(data, &mut out);
    assert!(out.iter().all(|(name, _)| !name.is_empty()));
});
