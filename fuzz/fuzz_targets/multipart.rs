//! Multipart parser: the first line of the input is the Content-Type, the rest the body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use spoa_waf::body::multipart;

fuzz_target!(|data: &[u8]| {
    let (ct, body) = match data.iter().position(|&c| c == b'\n') {
        Some(n) => (&data[..n], &data[n + 1..]),
        None => (&b"multipart/form-data; boundary=XyZ"[..], data),
    };
    let m = multipart::parse(ct, body);
    assert!(m.files_combined_size() <= body.len());
    assert_eq!(m.flags.unmatched_boundary, m.flags.unmatched_boundary_level == 1);
});
