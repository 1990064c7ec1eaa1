//! SecLang parser: any configuration text yields a `Config` or a `ParseError` with a location,
//! never a panic. `Include` is filtered out so the target never reads the fuzzing host's files.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use spoa_waf::seclang;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.to_ascii_lowercase().contains("include") {
        return;
    }
    let _ = seclang::parse_str(text, Path::new("fuzz.conf"));
});
