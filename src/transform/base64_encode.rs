//! `t:base64Encode`: standard base64 (RFC 4648 alphabet, `=` padding, no line breaks).
//!
//! Example: `SecRule ARGS "@streq QUJD" "id:1,t:base64Encode"`.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn sym(v: u32) -> u8 {
    ALPHABET[(v & 0x3f) as usize]
}

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = |k: usize| u32::from(chunk.get(k).copied().unwrap_or(0));
        let v = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(v >> 18));
        out.push(sym(v >> 12));
        out.push(if chunk.len() > 1 { sym(v >> 6) } else { b'=' });
        out.push(if chunk.len() > 2 { sym(v) } else { b'=' });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes() {
        let mut out = Vec::new();
        for (i, o) in [
            (&b""[..], &b""[..]),
            (b"A", b"QQ=="),
            (b"AB", b"QUI="),
            (b"ABC", b"QUJD"),
        ] {
            out.clear();
            super::apply(i, &mut out);
            assert_eq!(out, o);
        }
    }
}
