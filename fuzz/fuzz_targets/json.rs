//! JSON flattener: never panics (hostile nesting included); every name starts with `json`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spoa_waf::body::json;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    let _ = json::parse(data, 64, &mut out);
    assert!(out.iter().all(|(name, _)| name.starts_with(b"json")));
});
