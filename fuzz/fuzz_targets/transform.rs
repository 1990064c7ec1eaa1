//! Fuzzes every transformation with arbitrary bytes. Defends against: panics and unbounded
//! growth on hostile request values, a wrong "changed" flag (multiMatch and caching rely on
//! it), and encoder/decoder pairs that stop round-tripping.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoa_waf::transform::Transformation as T;

fuzz_target!(|data: &[u8]| {
    let (mut out, mut back) = (Vec::new(), Vec::new());
    for t in T::ALL {
        let changed = t.apply(data, &mut out);
        assert_eq!(changed, out != data, "{t}");
        // No transformation grows a value by more than 8x (utf8toUnicode's worst case is
        // about 3.5x, hexEncode 2x, base64Encode 4/3x, urlEncode 3x; md5/sha1 are fixed size).
        assert!(
            out.len() <= data.len() * 8 + 40,
            "{t} grew {} -> {}",
            data.len(),
            out.len()
        );
    }
    for (e, d) in [
        (T::HexEncode, T::HexDecode),
        (T::Base64Encode, T::Base64Decode),
        (T::UrlEncode, T::UrlDecodeUni),
    ] {
        e.apply(data, &mut out);
        d.apply(&out, &mut back);
        assert_eq!(back, data, "{d}({e}(x))");
    }
});
