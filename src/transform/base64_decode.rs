//! `t:base64Decode`: strict base64 decoding as libmodsecurity3 does it with its bundled
//! mbedTLS decoder.
//!
//! The value is cut at its first NUL (the C string is measured with `strlen`). Line breaks
//! (`\n`, `\r\n`) are skipped, spaces are accepted only before a line break or at the end,
//! at most two `=` are allowed and only at the end. Any other byte outside the base64 alphabet
//! makes the whole result empty (ModSecurity returns an empty string, not the input). Only
//! complete 4-character groups produce output; a trailing partial group is dropped.
//! Example: `SecRule REQUEST_HEADERS:Authorization "@rx ..." "id:1,t:base64Decode"`.

/// Value of a base64 alphabet byte; 64 for `=`, `None` for anything else.
fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        b'=' => Some(64),
        _ => None,
    }
}

/// True when mbedTLS's validation pass accepts `src`.
fn valid(src: &[u8]) -> bool {
    let mut i = 0;
    let mut pads = 0;
    while i < src.len() {
        let mut spaces = 0;
        while src.get(i) == Some(&b' ') {
            i += 1;
            spaces += 1;
        }
        let Some(&b) = src.get(i) else { break };
        if (b == b'\r' && src.get(i + 1) == Some(&b'\n')) || b == b'\n' {
            i += 1;
            continue;
        }
        if spaces != 0 {
            return false;
        }
        if b == b'=' {
            pads += 1;
            if pads > 2 {
                return false;
            }
        }
        match sextet(b) {
            None => return false,
            Some(v) if v < 64 && pads != 0 => return false,
            Some(_) => {}
        }
        i += 1;
    }
    true
}

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    let src = match input.iter().position(|&b| b == 0) {
        Some(nul) => input.get(..nul).unwrap_or_default(),
        None => input,
    };
    if !valid(src) {
        return;
    }
    out.reserve(src.len() / 4 * 3);
    let mut keep = 3u32;
    let mut acc = 0u32;
    let mut n = 0;
    for &b in src {
        if matches!(b, b'\r' | b'\n' | b' ') {
            continue;
        }
        let v = sextet(b).unwrap_or(0);
        if v == 64 {
            keep = keep.saturating_sub(1);
        }
        acc = (acc << 6) | u32::from(v & 0x3f);
        n += 1;
        if n == 4 {
            n = 0;
            let bytes = acc.to_be_bytes();
            out.extend(bytes.iter().skip(1).take(keep as usize));
        }
    }
}

#[cfg(test)]
mod tests {
    fn run(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        super::apply(input, &mut out);
        out
    }

    #[test]
    fn decodes() {
        assert_eq!(run(b"QUJD"), b"ABC");
        assert_eq!(run(b"QUI="), b"AB");
        assert_eq!(run(b"QQ=="), b"A");
        assert_eq!(run(b"QUJD\r\nRA==  "), b"ABCD");
    }

    #[test]
    fn strict() {
        assert_eq!(run(b"QUJD!"), b"");
        assert_eq!(run(b"QU JD"), b"");
        assert_eq!(run(b"Q===="), b"");
        assert_eq!(run(b"QQ==QQ=="), b"");
        // A partial trailing group is dropped; a NUL ends the value.
        assert_eq!(run(b"QUJDRA"), b"ABC");
        assert_eq!(run(b"QUJD\0!!"), b"ABC");
    }
}
