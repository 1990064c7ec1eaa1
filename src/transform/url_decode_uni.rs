//! `t:urlDecodeUni`: `t:urlDecode` plus IIS-style `%uXXXX` escapes.
//!
//! `%uXXXX` becomes one byte: the low byte of the code point, except that full-width ASCII
//! (`%uFF01`–`%uFF5E`) is mapped down to ASCII by adding 0x20 to the low byte. That is what
//! libmodsecurity3 does when no `SecUnicodeMapFile` is loaded (measured); with a map file it
//! would look code points up in the map first — not implemented, as CRS test setups and this
//! agent load no map. An invalid `%u` escape keeps both `%` and `u` literally.
//! Example: `SecRule ARGS "@rx <script" "id:1,t:urlDecodeUni"` (119 CRS 3.3 rules).

use super::{is_hex, x2c};

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        match input.get(i + 1) {
            Some(&(b'u' | b'U')) => {
                if let Some(&[_, _, a, b2, c, d]) = input.get(i..i + 6) {
                    if is_hex(a) && is_hex(b2) && is_hex(c) && is_hex(d) {
                        let mut v = x2c(c, d);
                        let full_width =
                            a.eq_ignore_ascii_case(&b'f') && b2.eq_ignore_ascii_case(&b'f');
                        if full_width && v > 0x00 && v < 0x5f {
                            v += 0x20;
                        }
                        out.push(v);
                        i += 6;
                        continue;
                    }
                }
                // Not a valid %u escape: keep "%u" and carry on after it.
                out.extend_from_slice(input.get(i..i + 2).unwrap_or_default());
                i += 2;
            }
            _ => match (input.get(i + 1), input.get(i + 2)) {
                (Some(&h), Some(&l)) if is_hex(h) && is_hex(l) => {
                    out.push(x2c(h, l));
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
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
    fn percent_u_low_byte_and_full_width() {
        assert_eq!(run(b"%u0041%uFF01%uff3c%u1234"), b"A!\\4");
        // 0xFF5F is past the full-width range: low byte 0x5f is kept.
        assert_eq!(run(b"%uff5f%uFF00"), b"\x5f\x00");
    }

    #[test]
    fn invalid_escapes_kept() {
        assert_eq!(run(b"%u004%uzzzz%"), b"%u004%uzzzz%");
        assert_eq!(run(b"%u"), b"%u");
        assert_eq!(run(b"+%2B"), b" +");
    }
}
