//! Fuzzes the operator primitives with arbitrary request bytes. Defends against: panics in
//! the validators, the byte-range check, IP parsing and libinjection on hostile input, and
//! disagreement between the UTF-8 validator and Rust's own for inputs both must accept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoa_waf::ops::{byte_range::ByteRanges, ip_match::IpMatcher, libinjection, validate, within};

fuzz_target!(|data: &[u8]| {
    let _ = validate::url_encoding_invalid(data);
    let invalid = validate::utf8_encoding_invalid(data);
    // Everything Rust accepts as UTF-8 ModSecurity accepts too (it is only more lenient
    // above U+10FFFF).
    if std::str::from_utf8(data).is_ok() {
        assert!(!invalid);
    }
    if let Ok(r) = ByteRanges::parse("1-255") {
        assert_eq!(r.violates(data), data.contains(&0));
    }
    if let Ok(m) = IpMatcher::parse("127.0.0.1,::1,10.0.0.0/8") {
        let _ = m.matches(data);
    }
    assert!(within::within(data, data));
    let _ = libinjection::detect_sqli(data);
    let _ = libinjection::detect_xss(data);
});
