//! `t:utf8toUnicode`: rewrites UTF-8 multi-byte sequences as `%uXXXX` (lowercase hex, at
//! least four digits; code points above U+FFFF get five or six digits, no surrogate pairs).
//!
//! libmodsecurity3 behaviour, reproduced byte for byte (measured): ASCII is copied; NUL bytes
//! disappear; a lead byte whose continuation bytes are missing or wrong is dropped; a stray
//! continuation byte or 0xF8–0xFF is copied; lead bytes 0xF5–0xF7 are copied *and* decoded;
//! overlong forms and surrogates are encoded and followed by a raw copy of their lead byte.
//! Example: the CRS XSS chain starts with `t:utf8toUnicode,t:urlDecodeUni`.

use super::HEX_LOWER;

fn push_code(out: &mut Vec<u8>, d: u32) {
    out.extend_from_slice(b"%u");
    let digits = (32 - d.leading_zeros()).div_ceil(4).max(4);
    for k in (0..digits).rev() {
        out.push(HEX_LOWER[((d >> (4 * k)) & 0xf) as usize]);
    }
}

/// Copies the run of non-NUL ASCII at `i`; returns the index after it. `is_ascii` on 32-byte
/// chunks is much faster than a byte-by-byte search on the usual all-ASCII values.
fn copy_ascii(input: &[u8], i: usize, out: &mut Vec<u8>) -> usize {
    let rest = input.get(i..).unwrap_or_default();
    let upto_nul = rest
        .get(..memchr::memchr(0, rest).unwrap_or(rest.len()))
        .unwrap_or_default();
    let mut n = 0;
    for chunk in upto_nul.chunks(32) {
        if chunk.is_ascii() {
            n += chunk.len();
        } else {
            n += chunk.iter().position(|&b| b >= 0x80).unwrap_or(chunk.len());
            break;
        }
    }
    out.extend_from_slice(rest.get(..n).unwrap_or_default());
    i + n
}

fn is_cont(b: Option<&u8>) -> bool {
    b.is_some_and(|&c| c & 0xc0 == 0x80)
}

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    let mut i = 0;
    loop {
        // Runs of non-NUL ASCII are copied as they are.
        i = copy_ascii(input, i, out);
        let Some(&c) = input.get(i) else { break };
        let next = |k: usize| u32::from(input.get(i + k).copied().unwrap_or(0) & 0x3f);
        // (sequence length, code point) when a multi-byte sequence decodes.
        let mut seq: Option<(usize, u32)> = None;
        if c & 0x80 == 0 {
            if c != 0 {
                out.push(c);
            }
        } else if c & 0xe0 == 0xc0 {
            if is_cont(input.get(i + 1)) {
                seq = Some((2, (u32::from(c & 0x1f) << 6) | next(1)));
            }
        } else if c & 0xf0 == 0xe0 {
            // The C code compares the *total* length (plus its terminator) with 3.
            if input.len() >= 2 && is_cont(input.get(i + 1)) && is_cont(input.get(i + 2)) {
                seq = Some((3, (u32::from(c & 0x0f) << 12) | (next(1) << 6) | next(2)));
            }
        } else if c & 0xf8 == 0xf0 {
            if c >= 0xf5 {
                out.push(c);
            }
            if input.len() >= 3
                && is_cont(input.get(i + 1))
                && is_cont(input.get(i + 2))
                && is_cont(input.get(i + 3))
            {
                seq = Some((
                    4,
                    (u32::from(c & 0x07) << 18) | (next(1) << 12) | (next(2) << 6) | next(3),
                ));
            }
        } else {
            out.push(c);
        }
        match seq {
            Some((n, d)) => {
                push_code(out, d);
                if (0xd800..=0xdfff).contains(&d) {
                    out.push(c);
                }
                let overlong = match n {
                    4 => d < 0x1_0000,
                    3 => d < 0x800,
                    _ => d < 0x80,
                };
                if overlong {
                    out.push(c);
                }
                i += n;
            }
            None => i += 1,
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
    fn encodes_sequences() {
        assert_eq!(run("aé€😀".as_bytes()), b"a%u00e9%u20ac%u1f600");
    }

    #[test]
    fn invalid_forms() {
        assert_eq!(run(b"a\0b"), b"ab");
        assert_eq!(run(b"\xc3A"), b"A");
        assert_eq!(run(b"\x80\xff"), b"\x80\xff");
        assert_eq!(run(b"\xc0\x80"), b"%u0000\xc0");
        assert_eq!(run(b"\xed\xa0\x80"), b"%ud800\xed");
    }
}
