//! `t:base64DecodeExt`: forgiving base64 decoding (libmodsecurity3's `decode_forgiven`).
//!
//! Bytes outside the alphabet are skipped, `=` is skipped, and decoding carries on. Two
//! ModSecurity quirks are kept: the result is empty when a `=` that is not followed by another
//! `=` arrives after 4k+1 data characters, and when the value ends with 4k+1 data characters
//! whose last one is `9` (the C code confuses the sextet value 61 with the character `=`).
//! Example: `SecRule ARGS "@rx ..." "id:1,t:base64DecodeExt"`.

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

pub(super) fn apply(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(input.len() / 4 * 3);
    let mut i = 0usize; // data characters seen
    let mut cur = 0u8; // the partially filled output byte
                       // What the C code leaves in `ch` after the loop: `=` itself, or a sextet value.
    let mut last_is_pad_like = false;
    for (pos, &b) in input.iter().enumerate() {
        if b == b'=' {
            let next_is_pad = input.get(pos + 1) == Some(&b'=');
            if !next_is_pad && i % 4 == 1 {
                out.clear();
                return;
            }
            last_is_pad_like = true;
            continue;
        }
        let Some(v) = sextet(b) else {
            last_is_pad_like = false;
            continue;
        };
        last_is_pad_like = v == b'=';
        match i % 4 {
            0 => cur = v << 2,
            1 => {
                out.push(cur | (v >> 4));
                cur = (v & 0x0f) << 4;
            }
            2 => {
                out.push(cur | (v >> 2));
                cur = (v & 0x03) << 6;
            }
            _ => out.push(cur | v),
        }
        i += 1;
    }
    if last_is_pad_like && i % 4 == 1 {
        out.clear();
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
    fn forgiving() {
        assert_eq!(run(b"QU!JD"), b"ABC");
        assert_eq!(run(b"QUJDRA"), b"ABCD");
        assert_eq!(run(b"Q U J D"), b"ABC");
    }

    #[test]
    fn quirks() {
        assert_eq!(run(b"QUJDR="), b"");
        assert_eq!(run(b"QUJD9"), b"");
        assert_eq!(run(b"QUJDR=="), b"");
        assert_eq!(run(b"QUJDRA=="), b"ABCD");
    }
}
