//! `@validateUrlEncoding` and `@validateUtf8Encoding`: encoding checks that are true when the
//! input is **invalid** (a rule fires on bad encoding).
//!
//! URL: every `%` must be followed by two hex digits; an empty input is valid. UTF-8: as
//! libmodsecurity3 checks it — sequences of 1–4 bytes with `10xxxxxx` continuations, no
//! overlong forms, no surrogates (U+D800–U+DFFF), lead bytes 0xF5–0xFF and stray continuation
//! bytes rejected, truncated sequences rejected. Note that ModSecurity accepts 4-byte forms up
//! to lead byte 0xF4 without checking the U+10FFFF limit inside it (F4 90.. decodes to
//! U+110000 and is accepted); we follow it.
//! Example: `SecRule ARGS "@validateUtf8Encoding" "id:920250,…"`.

/// True when `input` contains a `%` not followed by two hex digits.
pub fn url_encoding_invalid(input: &[u8]) -> bool {
    let mut i = 0;
    while let Some(p) = input.get(i..).and_then(|rest| memchr::memchr(b'%', rest)) {
        let at = i + p;
        match (input.get(at + 1), input.get(at + 2)) {
            (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i = at + 3,
            _ => return true,
        }
    }
    false
}

/// Length of the valid UTF-8 character at the start of `s`, or `None` when it is invalid in
/// ModSecurity's sense.
fn utf8_char_len(s: &[u8]) -> Option<usize> {
    let c = *s.first()?;
    let cont = |k: usize| s.get(k).is_some_and(|&b| b & 0xc0 == 0x80);
    let low = |k: usize| u32::from(s.get(k).copied().unwrap_or(0) & 0x3f);
    let (len, d) = if c & 0x80 == 0 {
        return Some(1);
    } else if c & 0xe0 == 0xc0 {
        if !cont(1) {
            return None;
        }
        (2, (u32::from(c & 0x1f) << 6) | low(1))
    } else if c & 0xf0 == 0xe0 {
        if !(cont(1) && cont(2)) {
            return None;
        }
        (3, (u32::from(c & 0x0f) << 12) | (low(1) << 6) | low(2))
    } else if c & 0xf8 == 0xf0 {
        if c >= 0xf5 || !(cont(1) && cont(2) && cont(3)) {
            return None;
        }
        (
            4,
            (u32::from(c & 0x07) << 18) | (low(1) << 12) | (low(2) << 6) | low(3),
        )
    } else {
        return None;
    };
    let overlong = match len {
        2 => d < 0x80,
        3 => d < 0x800,
        _ => d < 0x1_0000,
    };
    if overlong || (0xd800..=0xdfff).contains(&d) {
        return None;
    }
    Some(len)
}

/// True when `input` is not valid UTF-8 by libmodsecurity3's rules.
pub fn utf8_encoding_invalid(input: &[u8]) -> bool {
    // Fast path: plain ASCII is the common case for request values.
    if input.is_ascii() {
        return false;
    }
    let mut i = 0;
    while let Some(rest) = input.get(i..).filter(|r| !r.is_empty()) {
        match utf8_char_len(rest) {
            Some(n) => i += n,
            None => return true,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding() {
        assert!(!url_encoding_invalid(b""));
        assert!(!url_encoding_invalid(b"a%20b%fF"));
        assert!(url_encoding_invalid(b"a%2"));
        assert!(url_encoding_invalid(b"%"));
        assert!(url_encoding_invalid(b"%zz"));
        assert!(url_encoding_invalid(b"%u0041"));
    }

    #[test]
    fn utf8_valid_forms() {
        assert!(!utf8_encoding_invalid(b""));
        assert!(!utf8_encoding_invalid("aé€😀".as_bytes()));
        assert!(!utf8_encoding_invalid(b"\xf4\x8f\xbf\xbf"));
        // ModSecurity does not check U+10FFFF inside F4 sequences.
        assert!(!utf8_encoding_invalid(b"\xf4\x90\x80\x80"));
    }

    #[test]
    fn utf8_invalid_forms() {
        for bad in [
            &b"\xc0\x80"[..],    // overlong NUL
            b"\xc1\xbf",         // overlong
            b"\xe0\x80\xaf",     // overlong '/'
            b"\xf0\x80\x80\xaf", // overlong
            b"\xed\xa0\x80",     // surrogate
            b"\xf5\x80\x80\x80", // > U+10FFFF lead
            b"\xff",
            b"\x80",
            b"a\xc3", // truncated
            b"\xe2\x82",
            b"\xc3A",
        ] {
            assert!(utf8_encoding_invalid(bad), "{bad:?}");
        }
    }
}
