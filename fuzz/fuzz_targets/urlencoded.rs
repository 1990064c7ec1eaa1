//! URLENCODED / query-string parser: never panics; decoding never grows the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spoa_waf::body::urlencoded;

fuzz_target!(|data: &[u8]| {
    let (sep, input) = match data.split_first() {
        Some((&sep, rest)) => (sep, rest),
        None => (b'&', data),
    };
    let mut out = Vec::new();
    urlencoded::parse(input, sep, &mut out);
    let total: usize = out.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(total <= input.len());
});
