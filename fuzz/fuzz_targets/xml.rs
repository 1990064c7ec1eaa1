//! XML parser: never panics, bounded expansion; a parsed document has exactly one root text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spoa_waf::body::xml;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = xml::parse(data) {
        assert_eq!(doc.root_text.len(), 1);
    }
});
